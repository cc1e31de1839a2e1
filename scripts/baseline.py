"""The bit-identity safety net: a SHA-256 per metric of short runs of the built-in scenario.

A refactor that should not change results must leave every digest unchanged; the test
``tests/test_baseline.py`` compares the committed file ``tests/baseline/north-korea-2011.json``
with fresh runs. A change that is meant to change results regenerates the file with

    python scripts/baseline.py update

which prints which metrics of which runs changed (commit the file in the same commit, and say
so in the message). ``python scripts/baseline.py check`` prints the same comparison without
writing anything (exit 1 on a difference).

The digest of a metric hashes its rows in a canonical order (step, drug, region, channel), each
key as text and each value as its 8 IEEE-754 bytes, so it is sensitive to the last bit of every
value and to every row added or lost, but not to the order in which the engine recorded rows.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
BASELINE_FILE = ROOT / "tests" / "baseline" / "north-korea-2011.json"
SCENARIO = "north-korea-2011"
#: (seed, scale, years): 18-year runs at two small scales and three seeds, about 8 s in all.
CASES = ((1, 0.002, 18), (2, 0.002, 18), (3, 0.002, 18), (1, 0.01, 18), (2, 0.01, 18))
#: One run whose flow log (who passed how many grams to whom, each week) is hashed too.
FLOW_LOG_CASE = (1, 0.002, 6)


def case_key(seed: int, scale: float, years: float) -> str:
    return f"seed={seed} scale={scale} years={years}"


def metric_digests(metrics) -> dict[str, str]:
    """SHA-256 of each metric's rows, in canonical key order."""
    out = {}
    for name, df in metrics.groupby("metric", sort=True):
        keys = df[["drug", "region", "channel"]].astype(object).where(df[["drug", "region", "channel"]].notna(), "")
        frame = keys.assign(step=df["step"].to_numpy(), value=df["value"].to_numpy(dtype=np.float64))
        frame = frame.sort_values(["step", "drug", "region", "channel"], kind="mergesort")
        h = hashlib.sha256()
        h.update(str(len(frame)).encode())
        for col in ("step", "drug", "region", "channel"):
            h.update("\x1f".join(map(str, frame[col].tolist())).encode())
        h.update(np.ascontiguousarray(frame["value"].to_numpy(dtype="<f8")).tobytes())
        out[str(name)] = h.hexdigest()
    return out


def flow_log_digest(flows) -> str:
    h = hashlib.sha256()
    for col in flows.columns:
        h.update(col.encode())
        h.update(np.ascontiguousarray(flows[col].to_numpy()).tobytes())
    return h.hexdigest()


def compute() -> dict:
    """Digests of every case (runs the simulations)."""
    from narcoflow.engine.simulation import Simulation

    runs = {}
    for seed, scale, years in CASES:
        sim = Simulation(SCENARIO, seed=seed, scale=scale, years=years).run()
        runs[case_key(seed, scale, years)] = metric_digests(sim.results.metrics)
    seed, scale, years = FLOW_LOG_CASE
    sim = Simulation(SCENARIO, seed=seed, scale=scale, years=years)
    sim.init()
    log = sim.enable_flow_log()
    sim.run()
    flows = {case_key(seed, scale, years): flow_log_digest(log.to_frame())}
    return {"scenario": SCENARIO, "runs": runs, "flow_log": flows}


def load() -> dict:
    return json.loads(BASELINE_FILE.read_text())


def differences(old: dict, new: dict) -> list[str]:
    """Human-readable lines, one per changed, added or removed digest."""
    lines = []
    for section in ("runs", "flow_log"):
        a, b = old.get(section, {}), new.get(section, {})
        for case in sorted(set(a) | set(b)):
            if case not in a or case not in b:
                lines.append(f"{section}: case {case} {'added' if case in b else 'removed'}")
                continue
            if section == "flow_log":
                if a[case] != b[case]:
                    lines.append(f"flow_log {case}: changed")
                continue
            for metric in sorted(set(a[case]) | set(b[case])):
                if metric not in a[case]:
                    lines.append(f"{case}: metric {metric} added")
                elif metric not in b[case]:
                    lines.append(f"{case}: metric {metric} removed")
                elif a[case][metric] != b[case][metric]:
                    lines.append(f"{case}: metric {metric} changed")
    return lines


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in ("check", "update"):
        print(__doc__)
        print("usage: python scripts/baseline.py check|update")
        return 2
    new = compute()
    old = load() if BASELINE_FILE.exists() else {}
    diff = differences(old, new)
    if argv[0] == "check":
        print("\n".join(diff) if diff else "baseline: identical")
        return 1 if diff else 0
    BASELINE_FILE.parent.mkdir(parents=True, exist_ok=True)
    BASELINE_FILE.write_text(json.dumps(new, indent=1, sort_keys=True) + "\n")
    print("\n".join(diff) if diff else "baseline: identical (file rewritten)")
    print(f"wrote {BASELINE_FILE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
