"""Issue 13, mechanisms 3 and 5: private supply and the border, measured over seeds.

    python benchmarks/supply_issue13.py [--seeds 8] [--scale 0.002] [--workers 2]

For the default scenario (``baseline``) and policies that act on the border (``anti-corruption``:
guard corruption cut to a third; ``border-closed``: every crossing closed for the whole run), over
the same seeds (common random numbers): private producers at the end of chosen years, the first
year with prevalence >= 1 %, private output and exports 1998-2015, the export share, private export
revenue 2015, domestic consumption 1998-2015, the mean retail and producer prices 2011-2015, and
each policy's change against the baseline (median of the per-seed differences).
"""

from __future__ import annotations

import argparse
import math

import numpy as np
import pandas as pd

from narcoflow.experiments.levers import apply_policy
from narcoflow.scenario import Scenario, load

YEARS = (1998, 2001, 2003, 2005, 2008, 2010, 2015)


def closed(base: Scenario) -> Scenario:
    raw = base.model_dump(mode="json")
    raw["events"].append({"type": "border_closure", "start": str(base.start), "name": "closed"})
    return Scenario.model_validate(raw)


def quantities(metrics: pd.DataFrame, pop: float) -> dict[str, float]:
    m = metrics.assign(year=pd.to_datetime(metrics["date"]).dt.year)

    def total(metric, years=(1998, 2015), **where):
        x = m[(m["metric"] == metric) & (m["year"] >= years[0]) & (m["year"] <= years[1])]
        for k, v in where.items():
            x = x[x[k] == v]
        return float(x["value"].sum())

    def end_of_year(metric):
        x = m[m["metric"] == metric]
        last = x.groupby("year")["step"].max()
        x = x[x["step"].isin(last.values)]
        return x.groupby("year")["value"].sum()

    out = {}
    prod = end_of_year("active_producers")
    for y in YEARS:
        out[f"producers_{y}"] = float(prod.get(y, math.nan))
    users = end_of_year("users")
    above = users[users / pop >= 0.01]
    out["onset_year"] = float(above.index.min()) if len(above) else math.nan
    out["prevalence_2003_pct"] = float(users.get(2003, math.nan) / pop * 100)
    out["prevalence_2015_pct"] = float(users.get(2015, math.nan) / pop * 100)
    out["private_output_t"] = total("produced_g", channel="private") / 1e6
    out["private_exports_t"] = total("exported_g", channel="private") / 1e6
    out["export_share_2006_2015_pct"] = (total("exported_g", (2006, 2015), channel="private")
                                         / max(total("produced_g", (2006, 2015), channel="private"), 1e-9) * 100)
    out["export_revenue_2015_musd"] = total("private_export_revenue_usd", (2015, 2015)) / 1e6
    out["consumed_t"] = total("consumed_g") / 1e6
    price = m[(m["metric"] == "price_usd_per_g") & (m["drug"] == "methamphetamine") & (m["year"] >= 2011)
              & (m["year"] <= 2015)]
    out["retail_2011_2015"] = float(price[price["channel"] == "retail"]["value"].mean())
    out["producer_2011_2015"] = float(price[price["channel"] == "producer"]["value"].mean())
    return out


def run_one(job):
    import narcoflow as nf

    name, scenario, seed, scale = job
    res = nf.run(scenario, seed=seed, scale=scale)
    pop = sum(r.population for r in scenario.regions)
    q = quantities(res.metrics, pop)
    q["variant"], q["seed"] = name, seed
    return q


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--scale", type=float, default=0.002)
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--variants", nargs="*", default=["baseline", "anti-corruption", "border-closed"])
    args = ap.parse_args(argv)
    from narcoflow.experiments.executors import make_executor

    base = load("north-korea-2011")
    make = {"baseline": lambda: base, "anti-corruption": lambda: apply_policy(base, "anti-corruption"),
            "border-closed": lambda: closed(base)}
    jobs = [(v, make[v](), s, args.scale) for v in args.variants for s in range(1, args.seeds + 1)]
    with make_executor(workers=args.workers) as ex:
        rows = list(ex.imap_unordered(run_one, jobs))
    df = pd.DataFrame(rows).sort_values(["variant", "seed"])
    cols = [c for c in df.columns if c not in ("variant", "seed")]
    med = df.groupby("variant")[cols].median().T
    print(f"scale {args.scale}, seeds 1-{args.seeds}: median over seeds")
    print(med.reindex(columns=args.variants).to_string(float_format=lambda x: f"{x:.4g}"))
    b = df[df["variant"] == "baseline"].set_index("seed")[cols]
    for v in args.variants[1:]:
        d = df[df["variant"] == v].set_index("seed")[cols] - b
        print(f"\n{v} - baseline (median of per-seed differences; 5-95 %):")
        for c in ("private_exports_t", "consumed_t", "private_output_t", "retail_2011_2015", "producer_2011_2015"):
            x = d[c].to_numpy()
            print(f"  {c:22s} {np.median(x):+.3f}  [{np.quantile(x, 0.05):+.3f}, {np.quantile(x, 0.95):+.3f}]")


if __name__ == "__main__":
    main()
