"""Which of two posterior samples fits the targets better at one scale? (issue 14)

Draws N weighted parameter sets from each posterior sample (`narcoflow.calibration.posterior`),
runs set i of both with the same seed, and prints side by side the ABC distance of one run
(root-mean-square implausibility over the fitted targets, what ABC-SMC minimises) and, per target,
the median and the share of runs inside one tolerance of its band. Used to decide whether the refit
at scale 0.1 replaces the posterior fitted at 0.02 (BENCHMARKS.md, "Calibration of north-korea-2011").

    git show 22f78a6:src/narcoflow/scenario/builtin/north-korea-2011-calibrated.posterior.csv > old.csv
    .venv/bin/python benchmarks/compare_posteriors.py old.csv \\
        src/narcoflow/scenario/builtin/north-korea-2011-calibrated.posterior.csv --draws 40 --workers 2
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ProcessPoolExecutor

import pandas as pd

from narcoflow.calibration.model import Model
from narcoflow.calibration.posterior import draw_parameter_sets, read_posterior
from narcoflow.calibration.targets import distance, load_targets
from narcoflow.scenario import load


def _one(job: tuple) -> tuple[str, float, dict[str, float]]:
    label, model, values, seed = job
    out = model.run(values, seed)
    return label, distance(model.targets.targets, out), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("posteriors", nargs=2, help="two posterior sample CSV files")
    ap.add_argument("--scenario", default="north-korea-2011")
    ap.add_argument("--targets", default="north-korea-2011")
    ap.add_argument("--draws", type=int, default=40)
    ap.add_argument("--scale", type=float, default=0.1)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=7, help="seed of the weighted draws; runs use 100 + i")
    a = ap.parse_args()
    sc, tg = load(a.scenario), load_targets(a.targets)
    jobs = []
    for label, path in zip("AB", a.posteriors, strict=True):
        print(f"{label}: {path}")
        sets = draw_parameter_sets(read_posterior(path, sc), a.draws, seed=a.seed)
        params = [c for c in sets.columns if c != "source_draw"]
        model = Model(sc, tg, params, a.scale, None)  # loaded once, not in every job
        jobs += [(label, model, {p: float(row[p]) for p in params}, 100 + i)
                 for i, row in sets.reset_index(drop=True).iterrows()]
    t0 = time.time()
    with ProcessPoolExecutor(a.workers) as ex:
        res = list(ex.map(_one, jobs))
    print(f"{len(jobs)} runs at scale {a.scale} in {time.time() - t0:.0f} s ({a.workers} workers)\n")
    dist = pd.DataFrame([(label, d) for label, d, _ in res], columns=["posterior", "distance"])
    print(dist.groupby("posterior", sort=False)["distance"].describe(percentiles=[0.05, 0.5, 0.95])
          .round(3).to_string(), "\n")
    runs = pd.DataFrame([{"posterior": label, **out} for label, _, out in res])
    rows = []
    for t in tg.compared:
        lo, hi = t.tolerance_band()
        for label, g in runs.groupby("posterior", sort=False):
            v = g[t.name]
            rows.append({"target": t.name, "posterior": label, "median": v.median(),
                         "inside one tolerance": ((v >= lo) & (v <= hi)).mean()})
    table = pd.DataFrame(rows).pivot(index="target", columns="posterior", values=["median", "inside one tolerance"])
    print(table.to_string(float_format=lambda v: f"{v:.3g}"))


if __name__ == "__main__":
    main()
