"""What one calibration run costs, phase by phase, for one or several source trees side by side.

A calibration's throughput (issue 14: runs of 18 years per hour at the calibration scale) is the
cost of one `Model.run` (what every ABC-SMC particle and history-matching point costs): the
simulation's steps, then the rest (the metrics frame built from the recorder, the targets'
values read from it, and whatever else `Model.run` does). This times both on the same weighted
draws of the shipped posterior (`north-korea-2011-calibrated.posterior.csv`), same seeds, in a fresh process
per source tree, the trees taking turns draw by draw so that the machine's noise falls on all of
them alike. Prints the median seconds per phase and tree, and each tree's total against the first.

    git worktree add /tmp/base main        # the tree to compare with
    .venv/bin/python benchmarks/run_cost.py --src /tmp/base/src --src src --draws 8

With one ``--src`` (default: this checkout's ``src``) it profiles that tree alone.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
POSTERIOR = ROOT / "src" / "narcoflow" / "scenario" / "builtin" / "north-korea-2011-calibrated.posterior.csv"

CHILD = r"""
import json, sys, time
from narcoflow.calibration.model import Model
from narcoflow.calibration.posterior import draw_parameter_sets, read_posterior
from narcoflow.calibration.targets import load_targets
from narcoflow.engine.simulation import Simulation
from narcoflow.scenario import load

posterior, draw, scale, seed = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
sc, tg = load("north-korea-2011"), load_targets("north-korea-2011")
sets = draw_parameter_sets(read_posterior(posterior, sc), draw + 1, seed=seed)
params = [c for c in sets.columns if c != "source_draw"]
Simulation(sc, seed=99, scale=0.01, years=1).init().run()  # load the compiled kernels first
spent = []
stepping = Simulation.run
def timed_run(self, *args, **kwargs):  # the simulation's own share of Model.run
    t = time.perf_counter()
    try:
        return stepping(self, *args, **kwargs)
    finally:
        spent.append(time.perf_counter() - t)
Simulation.run = timed_run
model = Model(sc, tg, params, scale, None)
t0 = time.perf_counter()
out = model.run({p: float(sets.iloc[draw][p]) for p in params}, 100 + draw)
total = time.perf_counter() - t0
print(json.dumps({"simulation": sum(spent), "the rest": total - sum(spent), "values": out}))
"""

PHASES = ("simulation", "the rest")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--src", action="append", help="a source tree's src folder (repeat to compare)")
    ap.add_argument("--draws", type=int, default=6, help="posterior draws, each run once per tree")
    ap.add_argument("--scale", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=7, help="seed of the weighted draws; draw i runs with seed 100 + i")
    ap.add_argument("--posterior", default=str(POSTERIOR))
    a = ap.parse_args()
    srcs = [str(Path(s).resolve()) for s in (a.src or [str(ROOT / "src")])]
    times = {s: {p: [] for p in PHASES} for s in srcs}
    values = {s: [] for s in srcs}
    for i in range(a.draws):
        for s in srcs:
            env = {**os.environ, "PYTHONPATH": s}
            res = subprocess.run([sys.executable, "-c", CHILD, a.posterior, str(i), str(a.scale), str(a.seed)],
                                 env=env, capture_output=True, text=True, check=True)
            row = json.loads(res.stdout.strip().splitlines()[-1])
            for p in PHASES:
                times[s][p].append(row[p])
            values[s].append(row["values"])
        print(f"draw {i + 1}/{a.draws} done", file=sys.stderr)
    print(f"scale {a.scale}, {a.draws} posterior draws, median seconds per Model.run")
    print("| tree | " + " | ".join(PHASES) + " | total | total vs first |")
    print("|---|" + "---:|" * (len(PHASES) + 2))
    first = None
    for s in srcs:
        med = {p: statistics.median(times[s][p]) for p in PHASES}
        total = statistics.median([sum(times[s][p][i] for p in PHASES) for i in range(a.draws)])
        first = first or total
        print(f"| {s} | " + " | ".join(f"{med[p]:.3f}" for p in PHASES) + f" | {total:.2f} | {total / first:.2f} |")
    same = all(values[s] == values[srcs[0]] for s in srcs[1:])
    if len(srcs) > 1:
        print(f"target values identical across trees: {same}")


if __name__ == "__main__":
    main()
