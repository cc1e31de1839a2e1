"""Time the engine against the Mesa reference on the same scenario and seed; print one JSON line.

    python benchmarks/vs_mesa.py --persons 100000 --years 1 [--seed 1] [--repeat 3]
                                 [--scenario north-korea-2011]

Both run back to back in this process, engine first, each timed from construction to the end of
its last step (the metrics table is built afterwards, untimed), ``--repeat`` times alternating;
the best time of each is reported (and the medians). An engine run with another seed first
calls the Numba kernels, so loading them from the cache (once per process) is not counted.
``--persons`` sets the scale (persons / the scenario's population); ``persons`` in the output is
the simulated count after rounding each province. Prints ``{"persons", "steps",
"engine_s", "mesa_s", "ratio", "engine_person_steps_per_s", "repeat", "engine_median_s",
"mesa_median_s"}`` with ``ratio = mesa_s / engine_s`` (best over best).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "reference"))

from narcoflow_reference import ReferenceModel  # noqa: E402

from narcoflow.engine import Simulation  # noqa: E402
from narcoflow.scenario import load  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--persons", type=int, default=100_000)
    ap.add_argument("--years", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--scenario", default="north-korea-2011")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs of each; the best is reported")
    args = ap.parse_args()
    scenario = load(args.scenario)
    scale = min(1.0, args.persons / sum(r.population for r in scenario.regions))
    # Warm-up: the same run with another seed calls the Numba kernels the timed run calls, so
    # loading them from the cache (a few ms each, once per process) is not counted in it. (A run
    # at a tiny scale, the warm-up before, left the kernels of rarer events cold: 20 ms of 55.)
    Simulation(scenario, seed=args.seed + 1, scale=scale, years=args.years).run()

    # Each implementation is timed --repeat times, alternating, and its best time is kept (as
    # timeit does): on a shared machine the other jobs only ever add time, so the minimum is the
    # closest to the code's own cost; the median is printed too.
    engine_t, mesa_t = [], []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        sim = Simulation(scenario, seed=args.seed, scale=scale, years=args.years).run()
        engine_t.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        model = ReferenceModel(scenario, seed=args.seed, scale=scale, years=args.years).run()
        mesa_t.append(time.perf_counter() - t0)
    engine_s, mesa_s = min(engine_t), min(mesa_t)

    assert model.n_persons == sim.persons.n and model.n_steps == sim.n_steps
    print(json.dumps({
        "persons": sim.persons.n,
        "steps": sim.n_steps,
        "engine_s": round(engine_s, 3),
        "mesa_s": round(mesa_s, 3),
        "ratio": round(mesa_s / engine_s, 1),
        "engine_person_steps_per_s": round(sim.persons.n * sim.n_steps / engine_s),
        "repeat": args.repeat,
        "engine_median_s": round(statistics.median(engine_t), 3),
        "mesa_median_s": round(statistics.median(mesa_t), 3),
    }))


if __name__ == "__main__":
    main()
