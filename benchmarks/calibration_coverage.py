"""Is the calibration honest? Coverage of ABC-SMC's 90 % intervals on synthetic truth (issue 14, item 5).

R truths are drawn from the prior (a Latin hypercube over the parameters' ranges); the model runs once
at each (its own seed) and its target values become synthetic observations with the targets' own
measurement model; ABC-SMC fits them as it fits the evidence; per parameter the table counts how
often the posterior 90 % interval covers the truth and how wide it is relative to the prior's.
Parameters whose posterior stays about as wide as the prior are not identifiable: reported, not
counted. An honest method covers the identifiable parameters' truths about 90 % of the time
(`narcoflow.calibration.coverage`, docs/calibration.md "Is the method honest?").

The quick default (8 years, so the seven targets of 1998-2005; 4 parameters, each the main lever of
some of them; 6 data sets x 3 generations x 30 particles at scale 0.005) is sized for about 15
minutes on 2 free cores. ``--write`` replaces the coverage section of BENCHMARKS.md.

    .venv/bin/python benchmarks/calibration_coverage.py --workers 2 --write
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from bench_md import machine, markers, replace_section

START, END = markers("coverage")

#: the quick default: one main lever per group of the 1998-2005 targets (one-at-a-time runs at scale
#: 0.005, 8 years, ends of each range, seed 1; docs/calibration.md "Is the method honest?")
PARAMS = ["state.facilities[0].capacity_g_per_week.methamphetamine",  # state revenue, Japan and SK flows x2-40
          "consumption.peer_initiation_per_week",  # users in 2003: 24,000 -> 6.0 M
          "border.destinations[1].interdiction_prob",  # Japan's 1999 seizures: 42 -> 368 kg
          "state.export_channels[0].price_factor"]  # state revenue: $67 M -> $157 M a year


def positive(kind):
    def parse(text: str):
        try:
            v = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if v <= 0:
            raise argparse.ArgumentTypeError(f"must be > 0, not {text}")
        return v
    return parse


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", default="north-korea-2011")
    ap.add_argument("--targets", default="north-korea-2011", help="targets file or shipped name")
    ap.add_argument("--scale", type=positive(float), default=0.005)
    ap.add_argument("--years", type=positive(float), default=8.0,
                    help="years simulated (targets after them are left out; default 8: 1998-2005)")
    ap.add_argument("--datasets", type=positive(int), default=6, help="synthetic data sets (truths)")
    ap.add_argument("--particles", type=positive(int), default=30)
    ap.add_argument("--populations", type=positive(int), default=3)
    ap.add_argument("--params", default=",".join(PARAMS), help="comma-separated uncertain parameters")
    ap.add_argument("--workers", type=positive(int), default=2)
    ap.add_argument("--seed", type=int, default=0, help="seeds the truths and their runs")
    ap.add_argument("--level", type=float, default=0.9, help="interval level (default 0.9)")
    ap.add_argument("--identifiable-below", type=float, default=None,
                    help="median posterior/prior width under which a parameter counts as identifiable "
                         "(default narcoflow.calibration.coverage.IDENTIFIABLE_BELOW)")
    ap.add_argument("--within-waves", type=int, default=0,
                    help="history-match each data set with this many waves first and fit inside its box (0: no)")
    ap.add_argument("--noise", action="store_true",
                    help="add observation error and discrepancy drawn from the measurement model to the synthetic "
                         "observations (default: the truth's run as it comes)")
    ap.add_argument("--out", default=None, help="DuckDB file (rerun with the same file to resume; default: temporary)")
    ap.add_argument("--json", default=None, help="also write the table and every data set's intervals here")
    ap.add_argument("--write", action="store_true", help="replace the coverage section of BENCHMARKS.md")
    a = ap.parse_args()
    if not 0 < a.level < 1:
        ap.error(f"--level must lie in (0, 1), not {a.level}")

    from narcoflow.calibration import coverage as cv
    from narcoflow.calibration.targets import load_targets
    from narcoflow.errors import NarcoflowError
    from narcoflow.scenario import load

    below = cv.IDENTIFIABLE_BELOW if a.identifiable_below is None else a.identifiable_below
    params = [p.strip() for p in a.params.split(",") if p.strip()]
    runs = {"n": 0}
    t0 = time.perf_counter()

    def on_generation(k, t, diag):
        runs["n"] += diag["runs"]
        print(f"  data set {k} generation {t}: epsilon {diag['epsilon']:.3g}, acceptance "
              f"{diag['acceptance_rate']:.2f}, runs {diag['runs']}", flush=True)

    def on_dataset(k, info):
        runs["n"] += a.particles + 1  # pyabc's calibration sample and the truth's run
        truth = ", ".join(f"{p.rsplit('.', 1)[-1]}={v:.4g}" for p, v in info["truth"].items())
        print(f"data set {k} done at {time.perf_counter() - t0:.0f} s: truth {truth}; "
              f"{len(info['targets'])} targets", flush=True)

    tmp = None
    if a.out is None:
        tmp = tempfile.TemporaryDirectory()
        db = Path(tmp.name) / "coverage.duckdb"
    else:
        db = Path(a.out)
    try:
        sc, tg = load(a.scenario), load_targets(a.targets)
        within = cv.Within(waves=a.within_waves) if a.within_waves > 0 else None
        cov = cv.check_coverage(sc, tg, params, db, datasets=a.datasets, scale=a.scale, years=a.years,
                                particles=a.particles, populations=a.populations, workers=a.workers, seed=a.seed,
                                within=within, noise=a.noise, on_dataset=on_dataset, on_generation=on_generation)
    except NarcoflowError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    finally:
        wall = time.perf_counter() - t0
    table = cov.table(a.level, below)
    tot = cv.overall(table)
    left: dict[str, list] = {}  # target -> [why, data sets]
    for d in cov.dropped.values():
        for name, why in d.items():
            left.setdefault(name, [why, 0])[1] += 1
    dropped = "; ".join(f"{k} ({why}; {n} of {a.datasets} data sets)" if n < a.datasets else f"{k} ({why})"
                        for k, (why, n) in left.items()) or "none"
    print()
    print(table.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    print(f"\nidentifiable parameters: {tot['covered']} of {tot['cases']} intervals cover the truth "
          f"(coverage {tot['coverage']:.2f}, nominal {a.level:.2f}); not identifiable (width >= {below:g} of the "
          f"prior's): {', '.join(tot['not_identifiable']) or 'none'}")
    print(f"targets fitted: {', '.join(cov.targets[0])}; left out: {dropped}")
    print(f"wall {wall:.0f} s, about {runs['n']} runs")
    if a.json:
        Path(a.json).write_text(cv.to_json(cov, a.level, below))
    if a.write:
        cmd = ("python benchmarks/calibration_coverage.py " + " ".join(
            f"--{k.replace('_', '-')} {v}" for k, v in [("scale", a.scale), ("years", a.years),
                                                        ("datasets", a.datasets), ("particles", a.particles),
                                                        ("populations", a.populations), ("workers", a.workers),
                                                        ("seed", a.seed), ("within_waves", a.within_waves)])
            + f" --params {shlex.quote(','.join(params))}" + (" --noise" if a.noise else "") + " --write")
        lines = [START, "## Coverage on synthetic truth", "",
                 f"Measured {date.today()} on {machine()}; {a.scenario} with the {a.targets} targets in the first "
                 f"{a.years:g} years, scale {a.scale}, {a.datasets} synthetic data set{'s' if a.datasets > 1 else ''} "
                 "(truths: a Latin hypercube "
                 f"over the prior), ABC-SMC {a.populations} x {a.particles}"
                 + (f" inside a {a.within_waves}-wave history match" if within else "")
                 + (", observations with measurement error drawn from the measurement model" if a.noise else "")
                 + f"; {wall / 60:.1f} min wall, about {runs['n']} runs. Reproduce with", "", f"    {cmd}", "",
                 "| parameter | data sets | covered | coverage | median width / prior | identifiable |",
                 "|---|---:|---:|---:|---:|---|"]
        for r in table.itertuples():
            lines.append(f"| `{r.parameter}` | {r.datasets} | {r.covered} | {r.coverage:.2f} | "
                         f"{r.median_width_ratio:.2f} | {'yes' if r.identifiable else 'no'} |")
        lines += ["", f"Identifiable parameters (median 90 % width under {below:g} of the prior's): {tot['covered']} "
                  f"of {tot['cases']} intervals cover the truth, coverage {tot['coverage']:.2f} (nominal "
                  f"{a.level:.2f}). Targets fitted: {', '.join(cov.targets[0])}; left out: {dropped}.", END]
        replace_section("\n".join(lines), START, END)
    print(json.dumps({"coverage": tot["coverage"], "cases": tot["cases"], "wall_s": round(wall, 1),
                      "runs": runs["n"]}))
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
