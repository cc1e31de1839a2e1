"""Issue 13's figures and its controlled diagnoses, with scenario overrides and levers only.

    python benchmarks/diagnose_issue13.py [--seeds 8] [--scale 0.02] [--workers 2] [--out FILE.md] [--write]

Variants of the default scenario (north-korea-2011), each over the same seeds (common random
numbers), none of which touches the engine:

- ``baseline``: the scenario as shipped.
- ``no-private-supply-before-2004`` (diagnosis 1): no private producers at the start
  (``private.initial_producers_per_million = 0``) and no entry or output of private producers
  before 2004 (lever ``precursor_availability`` = 0 from the start to 2003-12-31, a
  ``precursor_control`` event).
- ``no-domestic-supply-before-2004`` (diagnosis 1): the same, and no NSA siphon
  (``state.siphon_rate = 0``; the siphon has no date window, so it is off for the whole run:
  the state's only domestic channel is closed throughout).
- ``wholesale-frozen-1.5`` (diagnosis 2): ``prices.adjustment_speed = 0`` (its range widened to
  admit 0). Before issue 13 this froze the national wholesale price at $1.5/g; since prices are
  anchored on costs and risks it removes the scarcity/glut signal, so every tier sits on its
  anchor (the name is kept for comparison with earlier reports).
- Diagnosis 3 (cumulative initiations / population by 2015) is read from every variant.

Prints a markdown report; ``--write`` replaces the ``issue13`` section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from pathlib import Path

from bench_md import markers, replace_section
from evidence import comparison_rows, counts, fmt, run_seeds, summarise
from patterns import commit, headline_table

from narcoflow.calibration.targets import load_targets
from narcoflow.experiments.levers import apply_levers
from narcoflow.scenario import Scenario, load, with_values

START, END = markers("issue13")


def variants(base: Scenario) -> dict[str, tuple[Scenario, str]]:
    """name -> (scenario, what was changed)."""
    hold = apply_levers(
        with_values(base, {"private.initial_producers_per_million": 0.0}),
        {"precursor_availability": {"value": 0.0, "end": dt.date(2003, 12, 31)}}, policy="diagnosis-1")
    no_siphon = with_values(hold, {"state.siphon_rate": 0.0})
    frozen = with_values(with_values(base, {"prices.adjustment_speed.range": [0.0, 0.2]}),
                         {"prices.adjustment_speed": 0.0})
    return {
        "baseline": (base, "as shipped"),
        "no-private-supply-before-2004": (
            hold, "initial_producers_per_million = 0; precursor_availability x0 until 2003-12-31"),
        "no-domestic-supply-before-2004": (no_siphon, "as above, and state.siphon_rate = 0 (whole run)"),
        "wholesale-frozen-1.5": (frozen, "prices.adjustment_speed = 0 (prices on their cost anchors)"),
    }


COLUMNS = (
    ("users_2003", "users 2003"), ("prevalence_2005_pct", "users % 2005"),
    ("users_2015", "users 2015"), ("prevalence_2015_pct", "users % 2015"),
    ("onset_year", "first year >= 1 %"),
    ("retail_2011_2015", "retail 2011-15 USD/g"),
    ("target:producer_price_north_hamgyong_2006", "producer NH 2006 USD/g"),
    ("initiations_cum_2015_pct", "cum. initiations / pop. %"), ("ever_used_2015_pct", "ever-used 2015 %"),
    ("north_hamgyong_rank_2010", "NH rank 2010"),
    ("private_output_2015_t", "private output 2015 t"),
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=8, help="seeds 1..N (default 8)")
    ap.add_argument("--scale", type=float, default=0.02, help="population scale (default 0.02, the issue's)")
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--only", nargs="*", help="run only these variants")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--write", action="store_true", help="replace the issue13 section of BENCHMARKS.md")
    args = ap.parse_args()

    base = load("north-korea-2011")
    targets = load_targets("north-korea-2011")
    seeds = range(1, args.seeds + 1)
    frames, changes, t0 = {}, {}, time.perf_counter()
    for name, (sc, change) in variants(base).items():
        if args.only and name not in args.only:
            continue
        print(f"running {name} ({len(seeds)} seeds, scale {args.scale:g})", flush=True)
        frames[name], changes[name] = run_seeds(sc, seeds, args.scale, workers=args.workers), change
    wall = time.perf_counter() - t0

    lines = [START, "### Issue 13: today's figures and the controlled diagnoses", "",
             f"`python benchmarks/diagnose_issue13.py --seeds {args.seeds} --scale {args.scale:g}"
             f"{' --write' if args.write else ''}`: north-korea-2011, seeds 1-{args.seeds}, scale "
             f"{args.scale:g}, full period, at commit {commit()}, measured {dt.date.today()} "
             f"({wall:.0f} s wall for {len(frames) * len(seeds)} runs). Median over seeds, 90 % "
             "interval in brackets. Every variant is the shipped scenario changed through "
             "`narcoflow.scenario.with_values` and `narcoflow.experiments.levers.apply_levers` only.", ""]
    if "baseline" in frames:
        rows = comparison_rows(frames["baseline"], targets)
        ct = counts(rows, "target")
        lines += ["**Baseline, what a user sees today** "
                  f"(targets inside: {ct['inside']} of {ct['total']}, {ct['within_tol']} inside or within "
                  "one tolerance):", "", *headline_table(frames["baseline"]), ""]
    lines += ["**Diagnoses** (1: supply in place from week 1; 2: prices with no cost anchor; 3: SIS "
              "demand, cumulative initiations):", "",
              "| variant | change | " + " | ".join(c[1] for c in COLUMNS) + " | targets inside |",
              "|---|---|" + "---:|" * (len(COLUMNS) + 1)]
    for name, frame in frames.items():
        st = summarise(frame)
        ct = counts(comparison_rows(frame, targets), "target")
        cells = [f"{fmt(st.loc[k, 'median'])} [{fmt(st.loc[k, 'q05'])}-{fmt(st.loc[k, 'q95'])}]"
                 for k, _ in COLUMNS]
        lines.append(f"| {name} | {changes[name]} | " + " | ".join(cells) + f" | {ct['inside']}/{ct['total']} |")
    lines += ["", END]
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.write_text(text, "utf-8")
    if args.write:
        print(f"wrote {replace_section(text, START, END)}")


if __name__ == "__main__":
    main()
