"""Why does a small run overstate users and exports? The supply chain by scale (issue 13).

`benchmarks/scale_convergence.py` says how far a small scale is from a large one; this says
through what. For each scale and seed it steps a run week by week and reads, per two-year period:
producers per million simulated persons, the population-weighted retail price, and the share of
the users' demand that sellers served. Medians over seeds. If small runs have more producers per
capita and cheaper product at the same service level, the excess reaches users through the price
(initiation falls with it), not through availability (BENCHMARKS.md, "Another scale").

    .venv/bin/python benchmarks/scale_chain.py --scenario north-korea-2011-calibrated \\
        --scales 0.005,0.02,0.1 --seeds 8
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from narcoflow.engine import state as st
from narcoflow.engine.simulation import Simulation
from narcoflow.scenario import load

PERIOD_WEEKS = 104


def weekly(job: tuple[str, float, int]) -> tuple[float, np.ndarray]:
    """One run: per week, producers per million persons, retail price, demand and consumption."""
    scenario, scale, seed = job
    sim = Simulation(load(scenario), seed=seed, scale=scale).init()
    rows = []
    while sim.steps_done < sim.n_steps:
        sim.run(until=sim.steps_done + 1)
        rows.append((sim.actors.count[st.PRODUCER].sum() / sim.persons.n * 1e6,
                     np.average(sim.retail_price, weights=sim.persons.sizes),
                     sim.week_demand.sum(), sim.week_consumed.sum()))
    return scale, np.array(rows)


def period(weeks: np.ndarray) -> tuple[float, float, float]:
    """One run's weeks of a period -> mean producers per million, mean retail price, share served."""
    return weeks[:, 0].mean(), weeks[:, 1].mean(), weeks[:, 3].sum() / max(weeks[:, 2].sum(), 1e-12)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", default="north-korea-2011-calibrated")
    ap.add_argument("--scales", default="0.005,0.02,0.1", help="comma-separated")
    ap.add_argument("--seeds", type=int, default=8, help="seeds 1..N at every scale")
    ap.add_argument("--workers", type=int, default=2)
    a = ap.parse_args()
    scales = [float(s) for s in a.scales.split(",")]
    t0 = time.time()
    with ProcessPoolExecutor(a.workers) as ex:
        runs = list(ex.map(weekly, [(a.scenario, s, k) for s in scales for k in range(1, a.seeds + 1)]))
    start = load(a.scenario).start.year
    n_weeks = len(runs[0][1])
    cols = " / ".join(str(s) for s in scales)
    print(f"{a.scenario}, {a.seeds} seeds per scale, medians over seeds of two-year means "
          f"({time.time() - t0:.0f} s)\n")
    print(f"| years | producers per million, {cols} | retail USD/g, {cols} | share of demand served, {cols} |")
    print("|---|---|---|---|")
    for w in range(0, n_weeks, PERIOD_WEEKS):
        sl = slice(w, w + PERIOD_WEEKS)
        # per scale: the medians over seeds of (producers per million, retail price, share served)
        med = [np.median([period(r[sl]) for scale, r in runs if scale == s], axis=0) for s in scales]
        cells = [" / ".join(f"{m[j]:{fmt}}" for m in med) for j, fmt in enumerate((".1f", ".1f", ".2f"))]
        y0 = start + w // 52
        print(f"| {y0}-{str(y0 + 1)[-2:]} | " + " | ".join(cells) + " |")

if __name__ == "__main__":
    main()
