"""Baseline north-korea-2011 against the same scenario with the border closed 2009-2011.

Run from anywhere:

    python examples/border-closure/run.py                 # scale 0.002, 14 years, seed 1
    python examples/border-closure/run.py --scale 0.001   # smaller and faster

Both runs use the same seed, so they share their random streams (common random numbers): they are
identical until the closure starts on 2009-01-01, and the difference between the two columns
comes from the closure, not from different draws. A run of ``years`` < 18 simply ends early.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

import narcoflow as nf
from narcoflow.results.results import Results

HERE = Path(__file__).resolve().parent
VARIANT = HERE / "scenario.yaml"


def summarize(res: Results) -> dict[str, float]:
    """The handful of outcomes compared here, in tonnes and USD/g for the full population."""
    retail = res.to_df("price_usd_per_g")
    retail = retail[retail["channel"] == "retail"]
    n_regions = retail["region"].nunique()
    return {
        "private exports to China (t)": res.total("exported_g", channel="private", region="China") / 1e6,
        "domestic consumption (t)": res.total("consumed_g") / 1e6,
        "seized by border guards (t)": res.total("seized_g", channel="border_guard") / 1e6,
        "mean retail price (USD/g)": float(retail["value"].mean()),
        "retail price at the end (USD/g)": res.final("price_usd_per_g", channel="retail") / n_regions,
        "users at the end": res.final("users"),
    }


def compare(*, scale: float = 0.002, years: float = 14, seed: int = 1) -> pd.DataFrame:
    """Run baseline and variant; one row per outcome, columns baseline, border closure, change %."""
    runs = {
        "baseline": nf.run("north-korea-2011", seed=seed, scale=scale, years=years),
        "border closure": nf.run(VARIANT, seed=seed, scale=scale, years=years),
    }
    table = pd.DataFrame({name: summarize(res) for name, res in runs.items()})
    table["change %"] = 100 * (table["border closure"] / table["baseline"] - 1)
    return table


def main(argv: list[str] | None = None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.002, help="share of the population simulated")
    parser.add_argument("--years", type=float, default=14, help="years simulated from 1998-01-05")
    parser.add_argument("--seed", type=int, default=1, help="run seed (same for both runs)")
    parser.add_argument("--csv", type=Path, default=None, help="also write the table to this CSV file")
    args = parser.parse_args(argv)
    table = compare(scale=args.scale, years=args.years, seed=args.seed)
    with pd.option_context("display.float_format", "{:,.2f}".format, "display.width", 120):
        print(f"north-korea-2011 vs border closure 2009-2011 (seed {args.seed}, scale {args.scale}, "
              f"{args.years:g} years; totals over the run, full-population units)")
        print(table)
    if args.csv is not None:
        table.to_csv(args.csv)
    return table


if __name__ == "__main__":
    main()
