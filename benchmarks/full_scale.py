"""Run north-korea-2011 at the real population for the whole default period; print one JSON line.

    python benchmarks/full_scale.py [--scale 1.0] [--years 18] [--seed 1]

Prints {"persons", "steps", "wall_s", "peak_rss_gb", "person_steps_per_s", "users_end",
"actors_end", "conservation_ok", "profile_cpu_s": {process: seconds}}.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time

from narcoflow.engine import Simulation


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--years", type=float, default=18.0)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    t0 = time.perf_counter()
    sim = Simulation("north-korea-2011", seed=args.seed, scale=args.scale, years=args.years, profile=True)
    def progress(step: int, n: int) -> None:  # one line a simulated year, on stderr
        if step % 52 == 0 or step == n:
            print(f"step {step}/{n}  wall {time.perf_counter() - t0:7.1f}s  cpu {time.process_time():7.1f}s  "
                  f"users {sim.users.n:,}  actors {int(sim.actors.active.sum()):,}", file=sys.stderr, flush=True)

    sim.run(progress=progress)  # the conservation ledger is checked after every step; a violation raises
    wall = time.perf_counter() - t0
    results = sim.results  # builds the tidy metrics table (counted in peak memory, not in wall_s)
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    print(json.dumps({
        "persons": sim.persons.n,
        "steps": sim.n_steps,
        "wall_s": round(wall, 1),
        "cpu_s": round(time.process_time(), 1),
        "peak_rss_gb": round(peak_gb, 2),
        "person_steps_per_s": round(sim.persons.n * sim.n_steps / wall),
        "users_end": int(sim.users.n),
        "actors_end": int(sim.actors.active.sum()),
        "metric_rows": len(results.metrics),
        "conservation_ok": True,
        "profile_cpu_s": {k: round(v, 1) for k, v in sorted(sim.timings.items(), key=lambda kv: -kv[1])},
    }))


if __name__ == "__main__":
    main()
