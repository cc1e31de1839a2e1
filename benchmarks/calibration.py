"""Time `narcoflow calibrate` (ABC-SMC with pyabc) on the shipped north-korea-2011 targets.

Each configuration runs in a fresh process (`calibrate()` with a new DuckDB file), so pyabc's
import, Numba's cached kernels and the sampler's start-up are counted as a user would see them.
Prints one JSON line per configuration; ``--write`` replaces the calibration section of
BENCHMARKS.md (between ``<!-- bench:calibration:start -->`` and ``end``).

    .venv/bin/python benchmarks/calibration.py --workers 1 2 --populations 1 --particles 8 --write
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from bench_md import markers, replace_section

ROOT = Path(__file__).resolve().parents[1]
START, END = markers("calibration")

CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
from narcoflow.calibration.calibrate import calibrate
from narcoflow.calibration.targets import load_targets
from narcoflow.scenario import load
a = json.loads(sys.argv[1])
gens = []
def on_generation(t, diag):
    gens.append({"generation": t, "runs": diag["runs"], "acceptance_rate": round(diag["acceptance_rate"], 3),
                 "seconds": round(time.perf_counter() - t0, 1)})
t1 = time.perf_counter()
cid, post, diag = calibrate(load("north-korea-2011"), load_targets("north-korea-2011"), a["db"],
                            populations=a["populations"], particles=a["particles"], scale=a["scale"],
                            workers=a["workers"], on_generation=on_generation)
print(json.dumps({"generations": gens, "setup_s": round(t1 - t0, 2)}))
"""


def cpu_busy() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine."""
    f = [float(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = f[3] + f[4]
    return sum(f) - idle, sum(f)


def measure(workers: int, populations: int, particles: int, scale: float) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        args = {"db": str(Path(tmp) / "bench.duckdb"), "populations": populations, "particles": particles,
                "scale": scale, "workers": workers}
        b0, t0 = cpu_busy()
        w0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", CHILD, json.dumps(args)], cwd=ROOT, capture_output=True,
                              text=True)
        wall = time.perf_counter() - w0
        b1, t1 = cpu_busy()
    if proc.returncode != 0:
        raise SystemExit(f"calibration failed: {proc.stderr.strip().splitlines()[-3:]}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    runs = sum(g["runs"] for g in out["generations"]) + particles  # + pyabc's calibration sample
    ncpu = os.cpu_count() or 1
    busy_cores = (b1 - b0) / max(t1 - t0, 1) * ncpu
    return {"workers": workers, "populations": populations, "particles": particles, "scale": scale,
            "wall_s": round(wall, 1), "runs": runs, "wall_per_run_s": round(wall / runs, 2),
            "generations": out["generations"], "machine_busy_cores": round(busy_cores, 2),
            "load_avg_after": round(os.getloadavg()[0], 2)}


def section(results: list[dict], cmd: str) -> str:
    mem_kb = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                  if line.startswith("MemTotal"))
    lines = [START, "## Calibration", "",
             f"Measured {date.today()} on {os.cpu_count()} cores, {mem_kb / 1024**2:.0f} GiB RAM, Python "
             f"{platform.python_version()}: `calibrate()` on north-korea-2011 with the shipped targets "
             "(17 targets, 5 parameters), full 939-week runs, each configuration in a fresh process. "
             "Reproduce with", "", f"    {cmd}", "",
             "| workers | generations x particles | scale | wall s | runs (incl. pyabc's calibration sample) "
             "| wall s per run | machine cores busy meanwhile |",
             "|---:|---|---:|---:|---:|---:|---:|"]
    for r in results:
        lines.append(f"| {r['workers']} | {r['populations']} x {r['particles']} | {r['scale']} | {r['wall_s']} | "
                     f"{r['runs']} | {r['wall_per_run_s']} | {r['machine_busy_cores']} |")
    lines += ["", "Cores busy = the whole machine's busy CPU time per second during the measurement (this "
              "benchmark's own work included); on 2 cores, more than the workers used means other "
              "processes competed and the wall times are upper bounds.", "",
              "A default calibration (4 generations x 50 particles) makes pyabc's calibration sample (50 "
              "runs) plus 50 / acceptance rate runs per generation; at the acceptance rates of the short "
              "runs above and below (typically 0.1-0.5, falling with each generation) that is several "
              "hundred to about 1,000 runs, so wall time = runs x the per-run figure above divided by the "
              "workers' speedup. Smaller scales for early generations are not implemented.", END]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--populations", type=int, default=1)
    ap.add_argument("--particles", type=int, default=8)
    ap.add_argument("--scale", type=float, default=0.002)
    ap.add_argument("--write", action="store_true", help="replace the calibration section of BENCHMARKS.md")
    a = ap.parse_args()
    results = []
    for w in a.workers:
        r = measure(w, a.populations, a.particles, a.scale)
        print(json.dumps(r), flush=True)
        results.append(r)
    if a.write:
        cmd = (f".venv/bin/python benchmarks/calibration.py --workers {' '.join(map(str, a.workers))} "
               f"--populations {a.populations} --particles {a.particles} --scale {a.scale} --write")
        replace_section(section(results, cmd), START, END)


if __name__ == "__main__":
    main()
