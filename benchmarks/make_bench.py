"""`make bench`: run the engine benchmarks at sizes that finish in a few minutes and rewrite the
"make bench" section of BENCHMARKS.md with the figures, the machine and the commands (the
full-population section is measured by hand: it takes several minutes).

Other sections of BENCHMARKS.md (experiments, network, ...) are left as they are; their scripts
rewrite them with ``--write``. The model-vs-evidence benchmark (`benchmarks/patterns.py`, issue 13:
every pattern of docs/model.md section 1 and every calibration target, median and 90 % interval
over 8 seeds against the evidence band) is not part of `make bench`: run `make patterns`. Its
controlled diagnoses are `benchmarks/diagnose_issue13.py --write`.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from datetime import date
from pathlib import Path

from bench_md import machine, markers, replace_section

ROOT = Path(__file__).resolve().parents[1]
START, END = markers("make")

RUNS = [
    ("full_scale", [sys.executable, "benchmarks/full_scale.py", "--scale", "0.1", "--years", "18"]),
    ("vs_mesa", [sys.executable, "benchmarks/vs_mesa.py", "--persons", "20000", "--years", "1"]),
    # issue 13: scale 0.005 against 0.1, 3 seeds (medians, PASS within 10 %); a few minutes on 2 cores
    ("scale_convergence", [sys.executable, "benchmarks/scale_convergence.py", "--scales", "0.005,0.1",
                           "--seeds", "3"]),
]


def run(cmd: list[str]) -> dict | str:
    if not (ROOT / cmd[1]).exists():
        return f"not run: {cmd[1]} is missing"
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        return f"failed (exit {proc.returncode}): {proc.stderr.strip().splitlines()[-1:]}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()  # --help, no options
    lines = [START, "## Engine speed at reduced sizes (`make bench`)", "",
             f"Measured {date.today()} on {machine()}.", ""]
    for name, cmd in RUNS:
        print(f"running {name}: {' '.join(cmd[1:])}", flush=True)
        result = run(cmd)
        print(json.dumps(result) if isinstance(result, dict) else result, flush=True)
        lines += [f"### {name}", "", f"`python {' '.join(cmd[1:])}`", "", "```json",
                  json.dumps(result, indent=1) if isinstance(result, dict) else result, "```", ""]
    lines.append(END)
    print(f"wrote {replace_section(chr(10).join(lines), START, END)}")


if __name__ == "__main__":
    main()
