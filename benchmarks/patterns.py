"""The model against the evidence: every pattern of docs/model.md section 1 and every target of
the shipped targets file, as the model's median and 90 % interval over seeds against the band.

    python benchmarks/patterns.py [--seeds 8] [--scale 0.1] [--workers 2] [--out FILE.md] [--json FILE] [--write]

Defaults: the default scenario (north-korea-2011) and its targets, seeds 1-8, at the scale the
calibration uses (`narcoflow calibrate --scale`, default 0.1), full 18-year runs. Status is that
of the median: "inside" the band, "within 1 tol" (inside the band widened by one tolerance of
the target's reliability, the calibration's own rule), or "outside"; "(one-sided)" marks bands
that are only a floor or a ceiling. "seeds inside" counts the seeds whose value is inside.
A benchmark, not a test: it measures, it does not assert. ``--write`` (`make patterns`) replaces
the ``patterns`` section of BENCHMARKS.md ("Model vs evidence").
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import platform
import subprocess
import time
from datetime import date
from pathlib import Path

from bench_md import markers, replace_section
from evidence import comparison_rows, counts, fmt, markdown_table, run_seeds, summarise

import narcoflow as nf
from narcoflow.calibration.calibrate import calibrate
from narcoflow.calibration.targets import load_targets
from narcoflow.scenario import load

ROOT = Path(__file__).resolve().parents[1]
START, END = markers("patterns")

#: the scale `narcoflow calibrate` runs at by default (src/narcoflow/cli/calibration.py; 0.002 is
#: biased, BENCHMARKS.md "Results by scale")
CALIBRATION_SCALE = inspect.signature(calibrate).parameters["scale"].default

HEADLINE = (
    ("users_2015", "users, end of 2015"), ("prevalence_2015_pct", "users / population 2015 (%)"),
    ("users_2003", "users, end of 2003"), ("users_2003_mean", "users, mean over 2003"),
    ("prevalence_2005_pct", "users / population 2005 (%)"),
    ("initiations_cum_2015_pct", "cumulative initiations 1998-2015 / population (%)"),
    ("ever_used_2015_pct", "ever-used / population 2015 (%)"),
    ("heavy_share_2015_pct", "heavy users / users, end of 2015 (%)"),
    ("retail_2011_2015", "retail price 2011-2015, mean of provinces (USD/g)"),
    ("retail_2011_2015_min_province", "  cheapest province (USD/g)"),
    ("retail_2011_2015_max_province", "  dearest province (USD/g)"),
    ("provinces_at_cap_2011_2015", "  provinces at the retail cap"),
    ("target:producer_price_north_hamgyong_2006", "producer price North Hamgyong 2006 (USD/g)"),
    ("arrests_per_year_2006_2015", "drug arrests per year 2006-2015"),
    ("user_arrests_per_year_2006_2015", "  of which users"),
    ("domestic_seized_2015_pct_of_private_output", "domestic seizures 2015 / private output 2015 (%)"),
    ("sellers_2015", "sellers, end of 2015"), ("sellers_2015_pct", "sellers / population (%)"),
    ("producers_2015", "private producers, end of 2015"),
    ("private_output_2015_t", "private output 2015 (t)"), ("consumed_2015_t", "consumption 2015 (t)"),
    ("private_exported_2015_t", "private exports 2015 (t)"),
    ("private_export_revenue_2015", "private export revenue 2015 (USD)"),
)


def headline_table(frame) -> list[str]:
    stats = summarise(frame)
    lines = ["| quantity | median | 90 % interval |", "|---|---:|---:|"]
    for key, label in HEADLINE:
        s = stats.loc[key]
        lines.append(f"| {label} | {fmt(s['median'])} | {fmt(s['q05'])} to {fmt(s['q95'])} |")
    return lines


def commit() -> str:
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                             text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "src"], cwd=ROOT, capture_output=True,
                               text=True).stdout.strip()
        return sha + (" (+ uncommitted changes in src/)" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def report(frame, targets, args, wall: float) -> str:
    rows = comparison_rows(frame, targets)
    cp, ct = counts(rows, "pattern"), counts(rows, "target")
    n = len(frame)
    lines = [
        f"Scenario {args.scenario}, targets {args.targets}, seeds {int(frame['seed'].min())}-"
        f"{int(frame['seed'].max())} ({n} runs), scale {args.scale:g}, full period; narcoflow "
        f"{nf.__version__} at commit {commit()}; measured {date.today()} on {os.cpu_count()} cores, "
        f"Python {platform.python_version()}; {wall:.0f} s wall, {frame['wall_s'].mean():.1f} s per run.",
        "",
        f"**Targets: {ct['inside']} of {ct['total']} fitted targets inside** (median; {ct['inside_two_sided']} "
        f"of them with a two-sided band), {ct['within_tol']} inside or within one tolerance; {ct['one_sided']} "
        f"fitted targets have a one-sided band. Floors met apart: {ct['floors_met']} of {ct['floors']} "
        f"(lower bounds any run meets; not counted above). Waiting for a model quantity, not compared: "
        f"{ct['waiting']}. **Patterns: {cp['inside']} of {cp['total']} inside**, "
        f"{cp['within_tol']} inside or within one tolerance.",
        "",
        "### Patterns (docs/model.md section 1)", "",
        *markdown_table(rows, "pattern"), "",
        f"### Targets ({args.targets})", "",
        *markdown_table(rows, "target"), "",
        "### Headline figures (issue 13, 'What a user sees today')", "",
        *headline_table(frame), "",
    ]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", default="north-korea-2011")
    ap.add_argument("--targets", default="north-korea-2011")
    ap.add_argument("--seeds", type=int, default=8, help="seeds 1..N (default 8)")
    ap.add_argument("--scale", type=float, default=CALIBRATION_SCALE,
                    help=f"population scale (default {CALIBRATION_SCALE:g}, the calibration's)")
    ap.add_argument("--workers", type=int, default=None, help="processes (default: one per core)")
    ap.add_argument("--out", type=Path, help="also write the markdown report to this file")
    ap.add_argument("--json", type=Path, help="write the per-seed quantities (JSON records) here")
    ap.add_argument("--write", action="store_true", help="replace the patterns section of BENCHMARKS.md")
    args = ap.parse_args()

    scenario, targets = load(args.scenario), load_targets(args.targets)
    t0 = time.perf_counter()
    frame = run_seeds(scenario, range(1, args.seeds + 1), args.scale, targets=args.targets,
                      workers=args.workers)
    text = report(frame, targets, args, time.perf_counter() - t0)
    print(text)
    if args.out:
        args.out.write_text(text, "utf-8")
    if args.json:
        args.json.write_text(json.dumps(frame.to_dict(orient="records"), indent=0), "utf-8")
    if args.write:
        cmd = (f"`python benchmarks/patterns.py --seeds {args.seeds} --scale {args.scale:g} --write` "
               "(`make patterns`)")
        block = "\n".join([START, "## Model vs evidence (issue 13 baseline)", "", cmd + ":", text, END])
        print(f"wrote {replace_section(block, START, END)}")


if __name__ == "__main__":
    main()
