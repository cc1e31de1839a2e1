"""Does a cheap run answer like a large one? The default scenario at a small and a large scale.

Calibration runs at small scales (0.002-0.005) because they are cheap; issue 13 asks that the
quantities it fits do not depend on that choice: 2005 and 2015 prevalence, ever-used 2015, the
retail price 2011-2015 and private exports at scale 0.005 within 10 % of scale 0.1. A scaled-down
run keeps every per-person rate but has fewer people, so fewer sellers, producers and deliverers
per province; where a quantity rests on a handful of actors (the first users of an epidemic, a
province's only deliverer) a small scale is not just noisier but biased. This script measures it:

    python benchmarks/scale_convergence.py [--scales 0.005,0.1] [--seeds 3] [--workers 2] [--write]
        [--scenario NAME_OR_YAML] [--set enforcement.exposure_arrest_prob=0.1 ...]

``--set PATH=VALUE`` (repeatable) sets a parameter's value for every run, for controlled
experiments on what makes a small scale differ (`narcoflow.scenario.loader.with_values`: any
parameter path, e.g. ``border.destinations[1].interdiction_prob``; the value must lie inside the
parameter's range).

For each quantity: the median over seeds at every scale, and the relative difference of the first
scale (the cheap one) against the last (the reference), |small - large| / |large|, PASS when
<= 10 %. Extensive quantities are in full-population units (divided by the scale). Ever-used
needs the ``ever_used`` metric (demand redesign); without it the row says "no metric" and does not
count. Prints a table, then one JSON line (what `make bench` stores); ``--write`` rewrites the
``<!-- bench:scale:start -->`` section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import time
from datetime import date

import numpy as np
import pandas as pd
from bench_md import markers, replace_section

import narcoflow as nf
from narcoflow.errors import ScenarioError
from narcoflow.scenario import load
from narcoflow.scenario.loader import with_values

START, END = markers("scale")
TOLERANCE = 0.10
SCENARIO = "north-korea-2011"

#: (key, label): the quantities issue 13 asks to converge
QUANTITIES = (
    ("prevalence_2005_pct", "users / population, end of 2005 (%)"),
    ("prevalence_2015_pct", "users / population, end of 2015 (%)"),
    ("ever_used_2015_pct", "ever used / population, end of 2015 (%)"),
    ("retail_2011_2015", "retail price 2011-2015, mean of provinces (USD/g)"),
    ("private_exports_2011_2015_t", "private exports per year 2011-2015 (t)"),
)


def outcomes(metrics: pd.DataFrame, population: float) -> dict[str, float]:
    """The `QUANTITIES` of one run (NaN for ever-used when the model has no such metric)."""
    m = metrics.assign(year=pd.to_datetime(metrics["date"]).dt.year)

    def end_of_year(metric: str, year: int) -> float:
        d = m[(m["metric"] == metric) & (m["year"] == year)]
        if d.empty:
            return math.nan
        return float(d[d["step"] == d["step"].max()]["value"].sum())

    out = {f"prevalence_{y}_pct": end_of_year("users", y) / population * 100 for y in (2005, 2015)}
    out["ever_used_2015_pct"] = end_of_year("ever_used", 2015) / population * 100
    price = m[(m["metric"] == "price_usd_per_g") & (m["drug"] == "methamphetamine") & (m["channel"] == "retail")
              & m["year"].between(2011, 2015)]
    out["retail_2011_2015"] = float(price["value"].mean())
    exp = m[(m["metric"] == "exported_g") & (m["channel"] == "private") & m["year"].between(2011, 2015)]
    out["private_exports_2011_2015_t"] = float(exp["value"].sum()) / 5 / 1e6
    return out


def values_of(settings: list[str]) -> dict[str, float]:
    """``["a.b=0.1", ...]`` -> ``{"a.b": 0.1, ...}`` (the parameter values `with_values` sets).

    >>> values_of(["private.demand_pull=0", "enforcement.exposure_arrest_prob=0.1"])
    {'private.demand_pull': 0.0, 'enforcement.exposure_arrest_prob': 0.1}
    """
    out: dict[str, float] = {}
    for item in settings:
        path, sep, value = item.partition("=")
        if not sep or not all(path.strip().split(".")):
            raise ValueError(f"--set {item!r}: expected PATH=VALUE, e.g. private.demand_pull=0")
        try:
            out[path.strip()] = float(value)
        except ValueError:
            raise ValueError(f"--set {item!r}: the value {value!r} is not a number") from None
    return out


def scenario_with(name: str, values: dict[str, float]):
    """Scenario ``name`` with ``values`` set; a path it does not have is a `ValueError` naming it."""
    try:
        return with_values(load(name), values)
    except (KeyError, IndexError, TypeError):
        raise ValueError(f"{name}: no parameter at one of {', '.join(map(repr, values))}") from None


def run_one(job: tuple[str, int, float, dict]) -> dict[str, float]:
    """Worker: one run, its outcomes and wall time."""
    scenario_name, seed, scale, values = job
    scenario = scenario_with(scenario_name, values)
    population = float(sum(r.population for r in scenario.regions))
    t0 = time.perf_counter()
    res = nf.run(scenario, seed=seed, scale=scale)
    row = outcomes(res.metrics, population)
    row.update(seed=seed, scale=scale, wall_s=time.perf_counter() - t0)
    return row


def compare(frame: pd.DataFrame, scales: list[float]) -> list[dict]:
    """Per quantity: medians by scale, relative difference of the first scale against the last,
    PASS/FAIL at `TOLERANCE` (``None`` when the quantity is missing)."""
    rows = []
    for key, label in QUANTITIES:
        med = {s: float(frame.loc[frame["scale"] == s, key].median()) for s in scales}
        small, large = med[scales[0]], med[scales[-1]]
        if math.isnan(small) or math.isnan(large):
            rel, verdict = math.nan, "no metric" if frame[key].isna().all() else "n/a"
        else:
            rel = abs(small - large) / abs(large) if large else (0.0 if small == 0 else math.inf)
            verdict = "PASS" if rel <= TOLERANCE else "FAIL"
        rows.append({"quantity": key, "label": label, "medians": med, "rel_diff": rel, "verdict": verdict})
    return rows


def table(rows: list[dict], scales: list[float]) -> list[str]:
    head = "| quantity | " + " | ".join(f"median, scale {s:g}" for s in scales)
    lines = [head + f" | |{scales[0]:g} - {scales[-1]:g}| / {scales[-1]:g} | within 10 % |",
             "|---|" + "---:|" * (len(scales) + 1) + "---|"]
    for r in rows:
        cells = " | ".join(f"{r['medians'][s]:,.3g}" for s in scales)
        rel = "-" if math.isnan(r["rel_diff"]) else f"{100 * r['rel_diff']:.1f} %"
        lines.append(f"| {r['label']} | {cells} | {rel} | {r['verdict']} |")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scales", default="0.005,0.1", help="comma-separated; the first is compared with the last")
    ap.add_argument("--seeds", type=int, default=3, help="seeds 1..N at every scale (default 3)")
    ap.add_argument("--workers", type=int, default=None, help="processes (default: one per core)")
    ap.add_argument("--scenario", default=SCENARIO, help=f"built-in name or YAML path (default {SCENARIO})")
    ap.add_argument("--set", action="append", default=[], metavar="PATH=VALUE",
                    help="set a parameter's value in every run (repeatable), e.g. private.demand_pull=0")
    ap.add_argument("--write", action="store_true", help="rewrite the section of BENCHMARKS.md (default scenario only)")
    args = ap.parse_args()
    if args.write and (args.scenario != SCENARIO or args.set):
        ap.error(f"--write rewrites the section measured on {SCENARIO} as shipped; drop --write")
    try:
        values = values_of(args.set)
        scenario_with(args.scenario, values)  # a bad path or value fails here, with its message
    except (ValueError, ScenarioError) as exc:
        ap.error(str(exc))
    scales = [float(s) for s in args.scales.split(",")]
    if len(scales) < 2:
        ap.error("--scales needs at least two scales")
    from narcoflow.experiments.executors import make_executor

    jobs = [(args.scenario, seed, scale, values)
            for scale in sorted(scales, reverse=True) for seed in range(1, args.seeds + 1)]
    t0 = time.perf_counter()
    with make_executor(workers=args.workers) as ex:
        frame = pd.DataFrame(list(ex.imap_unordered(run_one, jobs)))
    wall = time.perf_counter() - t0
    rows = compare(frame, scales)
    lines = table(rows, scales)
    per_run = {f"{s:g}": round(float(frame.loc[frame["scale"] == s, "wall_s"].mean()), 1) for s in scales}
    print("\n".join(lines))
    settings = f" with {', '.join(args.set)}" if args.set else ""
    print(f"\n{args.scenario}{settings}: {len(jobs)} runs in {wall:.0f} s wall ({os.cpu_count()} cores); "
          f"mean s per run by scale: {per_run}")
    judged = [r for r in rows if r["verdict"] in ("PASS", "FAIL")]
    summary = {"scales": scales, "seeds": args.seeds, "set": args.set, "wall_s": round(wall, 1),
               "wall_s_per_run": per_run,
               "passed": sum(r["verdict"] == "PASS" for r in judged), "judged": len(judged),
               "rel_diff_pct": {r["quantity"]: (None if math.isnan(r["rel_diff"]) else round(100 * r["rel_diff"], 1))
                                for r in rows}}
    if args.write:
        write_section(lines, args, wall, per_run)
    print(json.dumps(summary), flush=True)


def write_section(lines: list[str], args, wall: float, per_run: dict) -> None:
    text = [START, "## Results by scale (does a cheap run answer like a large one?)", "",
            f"`python benchmarks/scale_convergence.py --scales {args.scales} --seeds {args.seeds} --write`, "
            f"{SCENARIO} over its whole period, measured {date.today()} on {os.cpu_count()} cores, Python "
            f"{platform.python_version()}, narcoflow {nf.__version__}: {wall:.0f} s wall, mean s per run by "
            f"scale {per_run}. Medians over seeds 1-{args.seeds}; extensive quantities in full-population "
            "units (divided by the scale). Issue 13 asks for every row within 10 %.", "",
            *lines, "", END]
    print(f"wrote {replace_section(chr(10).join(text), START, END)}")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
