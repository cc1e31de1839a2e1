"""Does a prior on the non-implausible space pay? (`narcoflow calibrate --within ID --prior region`)

Draws N parameter sets from the box of what a history match kept (the `box` prior) and N from the
non-implausible set itself (the `region` prior, `narcoflow.calibration.nroy_prior`), runs each once
at the calibration scale and prints the ABC distance (root-mean-square implausibility of one run)
of both samples side by side: ABC-SMC's first generation starts from these.

    .venv/bin/python benchmarks/prior_region.py --db cal.duckdb --history 11821b80 --draws 40 --workers 2
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", required=True)
    ap.add_argument("--history", required=True, help="history match id or prefix in --db")
    ap.add_argument("--scenario", default="north-korea-2011")
    ap.add_argument("--targets", default="north-korea-2011")
    ap.add_argument("--draws", type=int, default=40)
    ap.add_argument("--scale", type=float, default=0.02)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()

    from narcoflow.calibration.batch import run_jobs
    from narcoflow.calibration.history import find_history, nroy_box, nroy_region
    from narcoflow.calibration.model import Model
    from narcoflow.calibration.targets import distance, load_targets
    from narcoflow.experiments.executors import make_executor
    from narcoflow.scenario import load

    sc, tg = load(a.scenario), load_targets(a.targets)
    hid = find_history(a.db, a.history)["history_id"]
    t0 = time.perf_counter()
    region = nroy_region(a.db, hid, tg)
    box = nroy_box(a.db, hid)
    names = region.names
    lo = np.array([box[n][0] for n in names])
    hi = np.array([box[n][1] for n in names])
    rng = np.random.default_rng(a.seed)
    box_draws = lo + rng.random((a.draws, len(names))) * (hi - lo)
    inside = []
    tried = 0
    while sum(len(x) for x in inside) < a.draws:
        cand = lo + rng.random((2000, len(names))) * (hi - lo)
        inside.append(cand[region.contains(cand)])
        tried += 2000
    region_draws = np.concatenate(inside)[: a.draws]
    share = sum(len(x) for x in inside) / tried
    print(f"emulators refit and region sampled in {time.perf_counter() - t0:.0f} s; "
          f"{share:.1%} of the box is non-implausible")
    model = Model(sc, tg, names, a.scale, None)
    jobs = [(("box", i), dict(zip(names, map(float, x), strict=True)), a.seed + i) for i, x in enumerate(box_draws)]
    jobs += [(("region", i), dict(zip(names, map(float, x), strict=True)), a.seed + i)
             for i, x in enumerate(region_draws)]
    out: dict[str, list[float]] = {"box": [], "region": []}
    t1 = time.perf_counter()
    with make_executor(workers=a.workers) as ex:
        run_jobs(model.run, jobs, ex, lambda key, res: out[key[0]].append(distance(tg.targets, res)))
    print(f"{len(jobs)} runs in {time.perf_counter() - t1:.0f} s (scale {a.scale}, {a.workers} workers)")
    print("prior   | distance median | 25 % | 75 % | share below 2.95 (generation 0's epsilon) | below 2.26")
    for k in ("box", "region"):
        d = np.array(out[k])
        print(f"{k:7s} | {np.median(d):15.2f} | {np.quantile(d, .25):4.2f} | {np.quantile(d, .75):4.2f} | "
              f"{np.mean(d < 2.95):42.2f} | {np.mean(d < 2.26):.2f}")


if __name__ == "__main__":
    main()
