"""How results depend on ``--scale``: the same scenario at several scales, several seeds each.

A scaled-down run keeps every per-person rate but has fewer people, so fewer sellers, producers
and deliverers per province. Where a quantity rests on a handful of actors (the first users and
sellers of an epidemic, a province's only deliverer) a small scale is not just noisier but biased.
This script measures that bias, so users can pick a scale whose answers have converged.

    python benchmarks/scale_convergence.py [--scales 0.002,0.005,0.02,0.05,0.1] [--seeds 3] [--write]

Prints one JSON line per scale (means and standard deviations over seeds) and, with ``--write``,
rewrites the ``<!-- bench:scale:start -->`` section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from datetime import date

import numpy as np
import pandas as pd
from bench_md import markers, replace_section

import narcoflow as nf
from narcoflow.scenario import load

START, END = markers("scale")
YEARS = (2000, 2005, 2010, 2015)


def outcomes(metrics: pd.DataFrame, population: float) -> dict[str, float]:
    """Prevalence at the end of chosen years, and 2015 consumption, production and price."""
    m = metrics.assign(year=pd.to_datetime(metrics["date"]).dt.year)
    users = m[m["metric"] == "users"].groupby(["year", "step"])["value"].sum().groupby("year").last()
    out = {f"prevalence_{y}_pct": float(users.get(y, np.nan)) / population * 100 for y in YEARS}
    last = m[m["year"] == YEARS[-1]]
    out["consumption_2015_t"] = float(last.loc[last["metric"] == "consumed_g", "value"].sum()) / 1e6
    out["private_production_2015_t"] = float(
        last.loc[(last["metric"] == "produced_g") & (last["channel"] == "private"), "value"].sum()) / 1e6
    price = last[(last["metric"] == "price_usd_per_g") & (last["drug"] == "methamphetamine")
                 & (last["channel"] == "retail")]
    out["retail_price_2015_usd_per_g"] = float(price["value"].mean())
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scales", default="0.002,0.005,0.02,0.05,0.1")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--write", action="store_true", help="rewrite the section of BENCHMARKS.md")
    args = ap.parse_args()
    scenario = load("north-korea-2011")
    population = float(sum(r.population for r in scenario.regions))
    rows = []
    for scale in (float(s) for s in args.scales.split(",")):
        per_seed, walls = [], []
        for seed in range(1, args.seeds + 1):
            t0 = time.perf_counter()
            res = nf.run(scenario, seed=seed, scale=scale)
            walls.append(time.perf_counter() - t0)
            per_seed.append(outcomes(res.metrics, population))
        df = pd.DataFrame(per_seed)
        row = {"scale": scale, "seeds": args.seeds, "wall_s_per_run": round(float(np.mean(walls)), 1)}
        for col in df:
            row[col] = round(float(df[col].mean()), 2)
            row[col + "_sd"] = round(float(df[col].std(ddof=1)), 2) if len(df) > 1 else 0.0
        print(json.dumps(row), flush=True)
        rows.append(row)
    if args.write:
        write_section(rows, args)


def write_section(rows: list[dict], args) -> None:
    cols = [("prevalence_2000_pct", "users % 2000"), ("prevalence_2005_pct", "users % 2005"),
            ("prevalence_2010_pct", "users % 2010"), ("prevalence_2015_pct", "users % 2015"),
            ("consumption_2015_t", "consumed 2015 (t)"),
            ("private_production_2015_t", "private output 2015 (t)"),
            ("retail_price_2015_usd_per_g", "retail USD/g 2015")]
    head = "| scale | s/run | " + " | ".join(c[1] for c in cols) + " |"
    lines = [START, "## Results by scale (granularity bias)", "",
             f"`python benchmarks/scale_convergence.py --scales {args.scales} --seeds {args.seeds} "
             f"--write`, north-korea-2011 over its whole period, measured {date.today()} on "
             f"{os.cpu_count()} cores, Python {platform.python_version()}, narcoflow "
             f"{nf.__version__}. Mean ± standard deviation over seeds 1-{args.seeds}; extensive "
             "quantities are in full-population units (divided by the scale).", "",
             head, "|" + "---:|" * (len(cols) + 2)]
    for r in rows:
        cells = [f"{r[c]:,.2f} ± {r[c + '_sd']:,.2f}" for c, _ in cols]
        lines.append(f"| {r['scale']:g} | {r['wall_s_per_run']:.1f} | " + " | ".join(cells) + " |")
    lines += ["", END]
    print(f"wrote {replace_section(chr(10).join(lines), START, END)}")


if __name__ == "__main__":
    main()
