"""Does ABC-SMC's proposal stay well conditioned when the parameters' ranges differ by 1e10? (issue 14)

A closed-form simulator (each target's log moves with one parameter's position u in its range,
plus N(0, 0.1^2) noise; the last target with the sum of the two first positions, a ridge) fits
four parameters of north-korea-2011 whose ranges are 2e-05 (a weekly probability), 0.0029,
75,000 g and 580,000 g. Per generation it prints epsilon, acceptance rate, ESS, the condition
number of the particles' weighted covariance in original units and in unit-scaled ones (the
covariance pyabc's MultivariateNormalTransition scales comes from the particles in the units
pyabc sees), and counts numpy's "covariance is not symmetric positive-semidefinite" warnings,
once with pyabc on the raw scales (``calibrate(unit_scaled=False)``, as before 2026-12-07) and
once unit-scaled (the default), same numpy seeds. One process (pyabc's single-core sampler),
about a minute:

    .venv/bin/python benchmarks/abc_scaling.py --seeds 3
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

PARAMS = ["consumption.base_initiation_per_week",  # range 2e-05
          "consumption.escalation_per_week",  # 0.0029
          "state.facilities[0].capacity_g_per_week.methamphetamine",  # 75,000 g
          "state.export_channels[1].lot_g"]  # 580,000 g
TRUTH_U = [0.3, 0.6, 0.45, 0.7]
SD = 0.1


class Scaled:
    """log y_k = 1 + 2 u_k + e_k for each parameter, log y_ridge = 1 + u_0 + u_1 + e (picklable)."""

    def __init__(self, ranges: dict[str, tuple[float, float]]):
        self.ranges = ranges

    def u(self, values, p):
        lo, hi = self.ranges[p]
        return (values[p] - lo) / (hi - lo)

    def __call__(self, values: dict[str, float], seed: int) -> dict[str, float]:
        rng = np.random.default_rng(seed)
        u = [self.u(values, p) for p in PARAMS]
        out = {f"y{k}": math.exp(1 + 2 * u[k] + rng.normal(0, SD)) for k in range(len(PARAMS))}
        out["ridge"] = math.exp(1 + u[0] + u[1] + rng.normal(0, SD))
        return out


def condition(post, params, ranges, unit: bool) -> float:
    wide = post.pivot(index="particle", columns="parameter", values="value")[params].to_numpy()
    w = post.groupby("particle")["weight"].first().to_numpy()
    if unit:
        lo = np.array([ranges[p][0] for p in params])
        span = np.array([ranges[p][1] - ranges[p][0] for p in params])
        wide = (wide - lo) / span
    cov = np.cov(wide.T, aweights=w)
    return float(np.linalg.cond(cov))


def kernel_rank(post, params, ranges) -> int:
    """Rank scipy gives the particles' covariance in original units (pyabc's proposal density:
    ``multivariate_normal(cov, allow_singular=True)``); below the number of parameters, the
    importance weights ignore the small-range ones."""
    from scipy import stats

    wide = post.pivot(index="particle", columns="parameter", values="value")[params].to_numpy()
    w = post.groupby("particle")["weight"].first().to_numpy()
    return int(stats.multivariate_normal(cov=np.cov(wide.T, aweights=w), allow_singular=True).cov_object.rank)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3, help="calibrations (numpy seeds 0..n-1)")
    ap.add_argument("--particles", type=int, default=100)
    ap.add_argument("--populations", type=int, default=6)
    a = ap.parse_args()

    from narcoflow.calibration.calibrate import calibrate
    from narcoflow.calibration.targets import Target, Targets
    from narcoflow.scenario import load, uncertain_parameters

    sc = load("north-korea-2011")
    unc = uncertain_parameters(sc)
    ranges = {p: tuple(float(x) for x in unc[p].range) for p in PARAMS}
    sim = Scaled(ranges)
    truth = {p: lo + u * (hi - lo) for (p, (lo, hi)), u in zip(ranges.items(), TRUTH_U, strict=True)}
    observed = sim(truth, 12345)
    targets = Targets(name="scaled", targets=[
        Target(name=n, metric="consumed_g", years=(1998, 1998), observed=v, reliability="H")
        for n, v in observed.items()])
    with tempfile.TemporaryDirectory() as tmp:
        for unit in (False, True):
            print(f"=== pyabc on {'unit-scaled' if unit else 'raw'} parameters ===")
            run_mode(calibrate, sc, targets, sim, ranges, a, Path(tmp) / ("unit" if unit else "raw"), unit)


def run_mode(calibrate, sc, targets, sim, ranges, a, tmp: Path, unit: bool) -> None:
    tmp.mkdir()
    totals = {"psd": 0, "runs": 0, "wall": 0.0}
    last_eps, accs = [], []
    for s in range(a.seeds):
        np.random.seed(s)  # noqa: NPY002 - pyabc samples with numpy's global generator
        t0 = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            cid, post, diag = calibrate(sc, targets, Path(tmp) / f"s{s}.duckdb", params=PARAMS,
                                        populations=a.populations, particles=a.particles, simulator=sim,
                                        unit_scaled=unit)
        wall = time.perf_counter() - t0
        psd = sum("positive-semidefinite" in str(w.message) for w in caught)
        totals["psd"] += psd
        totals["runs"] += int(diag["runs"].sum())
        totals["wall"] += wall
        print(f"seed {s} (calibration {cid}): {psd} PSD warnings, {int(diag['runs'].sum())} runs, {wall:.1f} s")
        print("  gen  epsilon  acceptance   ESS   cond(cov) original   cond(cov) unit   scipy rank original")
        for r in diag.sort_values("generation").itertuples():
            g = post[post["generation"] == r.generation]
            print(f"  {r.generation:3d}  {r.epsilon:7.3f}  {r.acceptance_rate:10.3f}  {r.ess:5.1f}"
                  f"  {condition(g, PARAMS, ranges, False):19.3g}  {condition(g, PARAMS, ranges, True):15.3g}"
                  f"  {kernel_rank(g, PARAMS, ranges):20d}")
        last = post[post["generation"] == post["generation"].max()]
        med = {p: float(np.median(last[last["parameter"] == p]["value"])) for p in PARAMS}
        print("  last generation's median u vs truth: " + ", ".join(
            f"{(med[p] - ranges[p][0]) / (ranges[p][1] - ranges[p][0]):.2f}/{u}"
            for p, u in zip(PARAMS, TRUTH_U, strict=True)))
        last_eps.append(float(diag["epsilon"].iloc[-1]))
        accs.append(float(diag["acceptance_rate"].iloc[1:].mean()))
    print(f"total: {totals['psd']} PSD warnings, {totals['runs']} runs, {totals['wall']:.0f} s; final epsilon "
          + ", ".join(f"{e:.3f}" for e in last_eps) + "; mean acceptance after generation 0 "
          + ", ".join(f"{x:.3f}" for x in accs))


if __name__ == "__main__":
    main()
