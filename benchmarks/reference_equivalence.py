"""The engine against the Mesa reference, outcome by outcome (docs/reference.md's table).

    python benchmarks/reference_equivalence.py [--engine-seeds 40] [--seeds 20] [--broken-seeds 10]

Runs what tests/test_reference.py runs (the dense comparison scenario, engine seeds 0..N-1,
reference seeds 0..M-1, the reference with exposure along ties switched off) and prints, per
headline outcome, both means, their relative difference, the CV of one engine run and the
Mann-Whitney p-value, then the same for the broken reference. A benchmark: it measures, the test
asserts.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "reference"))

from narcoflow_reference import ReferenceModel  # noqa: E402
from narcoflow_reference.compare import compare_samples, sample_outcomes  # noqa: E402


class NoExposure(ReferenceModel):
    """The reference with exposure along ties (S12) switched off (as tests/test_reference.py)."""

    def exposed_by(self, arrested):
        return []


def table(cmp) -> str:
    lines = ["| outcome | engine mean | reference mean | difference | CV of one engine run | Mann-Whitney p | ok |",
             "|---|---:|---:|---:|---:|---:|---|"]
    for name, r in cmp.table.iterrows():
        lines.append(f"| {name} | {r.mean_a:,.4g} | {r.mean_b:,.4g} | {100 * r.rel_diff:+.1f} % | "
                     f"{100 * r.cv_a:.1f} % | {r.p_value:.2g} | {'yes' if r.ok else 'no'} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--engine-seeds", type=int, default=40)
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--broken-seeds", type=int, default=10)
    args = ap.parse_args()
    t0 = time.perf_counter()
    s = sample_outcomes({"engine": "engine", "mesa": "mesa", "broken": NoExposure},
                        {"engine": range(args.engine_seeds), "mesa": range(args.seeds),
                         "broken": range(args.broken_seeds)})
    same = compare_samples(s["engine"], s["mesa"], alpha=0.01, rel_tol=0.05)
    broken = compare_samples(s["engine"], s["broken"], alpha=0.01, rel_tol=0.05)
    print(f"engine seeds 0-{args.engine_seeds - 1} vs reference seeds 0-{args.seeds - 1}: "
          f"{'all outcomes agree' if same.same else 'DIFFERENCES'} ({same})\n")
    print(table(same))
    print(f"\nreference with exposure off (seeds 0-{args.broken_seeds - 1}): "
          f"{'no difference found (the check is blind)' if broken.same else 'differences found, as it should'}\n")
    print(table(broken))
    print(f"\n{time.perf_counter() - t0:.0f} s wall")


if __name__ == "__main__":
    main()
