"""Demand alone: the Demand process's rule (never / light / heavy / former, issue 13) as expected
weekly flows by province, with the market held at a fixed availability and the reference price.

    python benchmarks/demand_alone.py [--availability 0.6] [--set consumption.harm_deterrence=2 ...]

No supply, prices or enforcement: it shows what the demand parameters alone give (onset from the
contagion and the initial users, plateau from the deterrence of heavy use and quitting), so the
separate roles of the parameters can be read without the market's noise. It uses the engine's own
initiation kernel (`narcoflow.engine.processes.demand.initiation_rates`) and the same transition
probabilities ``1 - exp(-rate)``; the engine draws the same flows at random, limited by what the
market serves. Prints one line per year and the figures of the issue (users 2003, first year >= 1 %,
ever-used and users 2015, rank of North Hamgyong in 2010).
"""

from __future__ import annotations

import argparse

import numpy as np

from narcoflow.engine import bundles
from narcoflow.engine.processes.demand import initiation_rates
from narcoflow.scenario import load, with_values

WEEKS_PER_YEAR = 52.1775


def prob(rate: float) -> float:
    return -np.expm1(-rate)


def run(scenario, availability: float) -> dict[int, dict[str, np.ndarray]]:
    c, regions = scenario.consumption, scenario.regions
    P = np.array([r.population for r in regions], dtype=np.float64)
    contact = np.array([r.border_access.value for r in regions])
    p = bundles.make(
        base=float(c.base_initiation_per_week.value), peer=float(c.peer_initiation_per_week.value),
        deterrence=float(c.harm_deterrence.value), spillover=float(c.spillover_weight.value),
        innovators=contact / ((contact * P).sum() / P.sum()), contact=contact, max_contact=float(contact.max()),
        reference_price=float(c.reference_price_usd_per_g.value), elasticity=float(c.price_elasticity.value))
    L = P * np.array([r.initial_prevalence.value for r in regions])
    H, F, E = np.zeros_like(L), np.zeros_like(L), L.copy()
    a, g = prob(c.quit_rate_per_week.value), prob(c.quit_heavy_per_week.value)
    b, rho = prob(c.escalation_per_week.value), prob(c.relapse_per_week.value)
    ones, price = np.ones_like(L), np.full_like(L, c.reference_price_usd_per_g.value)
    start = scenario.start.year
    out = {}
    for t in range(scenario.n_steps):
        # The kernel reads integer-like counts; expected values are floats, which it accepts.
        rate = initiation_rates(P, L + H, H, availability * ones, ones, price, p)
        new = -np.expm1(-rate) * (P - E)
        relapse, quit_l, quit_h = rho * F, a * L, g * H
        up = b * (1 - a) * L
        L, H, F = L + new + relapse - quit_l - up, H + up - quit_h, F + quit_l + quit_h - relapse
        E = E + new
        year = start + int((t + 1) / WEEKS_PER_YEAR - 1e-9)
        out[year] = {"users": L + H, "heavy": H, "ever": E.copy(), "pop": P}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", default="north-korea-2011")
    ap.add_argument("--availability", type=float, default=0.6,
                    help="share of demand served (default 0.6: what the default market serves at scale 0.02, "
                         "0.55-0.7 from 2003 on)")
    ap.add_argument("--set", nargs="*", default=[], help="PATH=VALUE overrides (ranges dropped)")
    args = ap.parse_args()
    sc = load(args.scenario)
    values: dict = {}
    for item in args.set:
        path, value = item.split("=")
        values[f"{path}.range"] = None
        values[path] = float(value)
    if values:
        sc = with_values(sc, values)
    out = run(sc, args.availability)
    names = sc.region_names
    print("year  users %  heavy/users %  ever-used %")
    for y, d in sorted(out.items()):
        pop = d["pop"].sum()
        print(f"{y}  {d['users'].sum() / pop * 100:6.2f}  {d['heavy'].sum() / d['users'].sum() * 100:6.1f}"
              f"  {d['ever'].sum() / pop * 100:6.1f}")
    prev = {y: d["users"].sum() / d["pop"].sum() for y, d in out.items()}
    onset = min((y for y, v in prev.items() if v >= 0.01), default=None)
    p10 = out[2010]["users"] / out[2010]["pop"]
    nh = names.index("North Hamgyong")
    print(f"users 2003 {prev[2003] * 100:.2f} %; first year >= 1 %: {onset}; users 2015 {prev[2015] * 100:.1f} %; "
          f"ever-used 2015 {out[2015]['ever'].sum() / out[2015]['pop'].sum() * 100:.1f} %; "
          f"North Hamgyong rank 2010: {int((p10 > p10[nh]).sum()) + 1}")


if __name__ == "__main__":
    main()
