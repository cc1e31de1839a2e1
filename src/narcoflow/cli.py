"""Command line: ``narcoflow scenarios | validate | run | show | runs | export``.

Every error a user can cause (`NarcoflowError`, and pydantic, YAML, OS or DuckDB errors that
leak out) is printed as one red paragraph on stderr with exit code 2, never as a traceback.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import duckdb
import pydantic
import typer
import yaml
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

import narcoflow
from narcoflow.errors import NarcoflowError
from narcoflow.results import store
from narcoflow.results.summary import print_summary, summarize

EXIT_ERROR = 2

app = typer.Typer(
    name="narcoflow",
    help="Simulate illicit drug production and circulation, store runs in DuckDB, "
         "and summarise them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

DbOption = Annotated[Path, typer.Option(
    "--db", help="DuckDB results file to read.", show_default=True,
    dir_okay=False)]
RunIdArg = Annotated[str, typer.Argument(
    help="Run id as printed by `narcoflow run` or listed by `narcoflow runs` "
         "(a unique prefix is enough).", show_default=False)]


def _console(*, stderr: bool = False) -> Console:
    console = Console(stderr=stderr, highlight=False)
    if not console.is_terminal:
        console.width = 120  # piped or captured output: avoid squeezing tables into 80 columns
    return console


def _fail(message: str) -> typer.Exit:
    _console(stderr=True).print(f"Error: {message}", style="bold red", markup=False,
                                soft_wrap=True)
    return typer.Exit(EXIT_ERROR)


def _os_message(exc: OSError) -> str:
    where = f": {exc.filename}" if exc.filename else ""
    return f"{exc.strerror or exc}{where}"


@contextmanager
def _user_errors() -> Iterator[None]:
    """Turn the errors a user can cause into a red message and exit code 2."""
    try:
        yield
    except NarcoflowError as exc:
        raise _fail(str(exc)) from None
    except pydantic.ValidationError as exc:
        raise _fail(f"invalid input: {exc}") from None
    except yaml.YAMLError as exc:
        raise _fail(f"malformed YAML: {exc}") from None
    except duckdb.Error as exc:
        raise _fail(f"results database error: {exc}") from None
    except OSError as exc:
        raise _fail(_os_message(exc)) from None


def _check_range(flag: str, value: float | None, lo: float, hi: float, *, lo_open: bool,
                 meaning: str) -> None:
    if value is None:
        return
    ok = (lo < value if lo_open else lo <= value) and value <= hi and not math.isnan(value)
    if not ok:
        left = "(" if lo_open else "["
        right = f"{hi:g}]" if math.isfinite(hi) else "inf)"
        raise NarcoflowError(f"{flag} {value:g} is out of range: it must be in "
                             f"{left}{lo:g}, {right} ({meaning}).")


# ---------------------------------------------------------------------------- commands
@app.command()
def scenarios() -> None:
    """List the built-in scenarios."""
    from narcoflow.scenario import builtin_descriptions

    with _user_errors():
        console = _console()
        for name, description in builtin_descriptions().items():
            console.print(f"{name}  {description}", markup=False, soft_wrap=True)


@app.command()
def validate(
    file: Annotated[str, typer.Argument(
        help="Scenario YAML file (or built-in scenario name) to check.", show_default=False)],
) -> None:
    """Check a scenario file.

    Prints OK, or every problem one per line and exits with code 2.
    """
    from narcoflow.scenario import load, validate_file

    with _user_errors():
        problems = validate_file(file)
        if problems:
            err = _console(stderr=True)
            err.print(f"{file}: {len(problems)} problem(s)", style="bold red", markup=False,
                      soft_wrap=True)
            for line in problems:
                err.print(line, style="red", markup=False, soft_wrap=True)
            raise typer.Exit(EXIT_ERROR)
        sc = load(file)
        _console().print(f"OK: {file} (scenario {sc.name}, {sc.start} to {sc.end}, "
                         f"{sc.n_steps} weekly steps, {len(sc.regions)} regions)",
                         markup=False, soft_wrap=True)


@app.command()
def run(
    scenario: Annotated[str, typer.Argument(
        help="Built-in scenario name (see `narcoflow scenarios`) or scenario YAML file.",
        show_default=False)],
    seed: Annotated[int, typer.Option(
        help="Random seed, >= 0; the same scenario, seed, scale and version give the same "
             "results and run id.")] = 0,
    scale: Annotated[float, typer.Option(
        help="Share of the real population simulated, in (0, 1]; outputs are scaled back "
             "to the full population.")] = narcoflow.DEFAULT_SCALE,
    years: Annotated[float | None, typer.Option(
        help="Simulate this many years, in (0, 100], instead of the scenario's length.",
        show_default="the scenario's")] = None,
    out: Annotated[Path, typer.Option(
        help="DuckDB file the run is saved to (created if missing; a run with the same id "
             "is replaced).", dir_okay=False)] = Path(store.DEFAULT_DB),
    profile: Annotated[bool, typer.Option(
        "--profile", help="Also print the CPU seconds spent in each process (all threads together).")] = False,
) -> None:
    """Run a scenario, save it and print its summary.

    The output file is checked before the simulation starts. The run is saved to the DuckDB
    file given by --out; the last line printed is `run_id: ID`.
    """
    from narcoflow.scenario import load

    with _user_errors():
        _check_range("--seed", seed, 0, math.inf, lo_open=False, meaning="the random seed")
        _check_range("--scale", scale, 0, 1, lo_open=True,
                     meaning="the share of the real population simulated")
        _check_range("--years", years, 0, 100, lo_open=True, meaning="the simulated years")
        sc = load(scenario)
        store.check_writable(out)

        from narcoflow.engine import Simulation

        sim = Simulation(sc, seed=seed, scale=scale, years=years, profile=profile)
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("steps"), TimeElapsedColumn(), TextColumn("ETA"),
                   TimeRemainingColumn())
        with Progress(*columns, console=_console(stderr=True)) as bar:
            task = bar.add_task(f"{sc.name} seed {seed}", total=None)
            try:
                sim.run(progress=lambda step, n: bar.update(task, completed=step, total=n))
            except KeyboardInterrupt:
                raise _fail("interrupted; nothing was saved.") from None
        res = sim.results
        run_id = store.save(res, out)
        console = _console()
        print_summary(res.info, summarize(res.metrics), console)
        if profile:
            console.print()
            console.print(_timings_table(res.timings))
        console.print(f"\nSaved to {out}", markup=False, soft_wrap=True)
    typer.echo(f"run_id: {run_id}")


def _timings_table(timings: dict[str, float]) -> Table:
    total = sum(timings.values())
    table = Table(title="CPU time by process", title_justify="left", show_edge=False,
                  min_width=30)
    table.add_column("process")
    table.add_column("CPU s", justify="right")
    table.add_column("share", justify="right")
    for name, sec in sorted(timings.items(), key=lambda kv: -kv[1]):
        share = sec / total if total > 0 else 0.0
        table.add_row(name, f"{sec:.3f}", f"{share:.1%}")
    table.add_row("total", f"{total:.3f}", "100.0%" if total > 0 else "-")
    return table


@app.command()
def show(run_id: RunIdArg, db: DbOption = Path(store.DEFAULT_DB)) -> None:
    """Print the summary of a stored run."""
    with _user_errors():
        res = store.load_results(db, run_id)
        print_summary(res.info, summarize(res.metrics), _console())
    typer.echo(f"run_id: {res.run_id}")


@app.command()
def runs(db: DbOption = Path(store.DEFAULT_DB)) -> None:
    """List the stored runs, newest first."""
    with _user_errors():
        df = store.list_runs(db)
        console = _console()
        if df.empty:
            console.print(f"No runs stored in {db}.", markup=False, soft_wrap=True)
            return
        table = Table(title=f"Runs in {db}", title_justify="left", show_edge=False)
        for col in ("run_id", "scenario", "seed", "scale", "start", "steps", "created (UTC)",
                    "rows"):
            table.add_column(col, no_wrap=True)
        for r in df.itertuples(index=False):
            table.add_row(r.run_id, r.scenario, str(r.seed), f"{r.scale:g}",
                          str(r.start.date()), str(r.steps), f"{r.created_at:%Y-%m-%d %H:%M}",
                          f"{r.rows:,}")
        console.print(table)


@app.command()
def export(
    run_id: RunIdArg,
    out: Annotated[Path, typer.Option(
        help="Parquet file to write (replaced if it exists).", dir_okay=False,
        show_default=False)],
    db: DbOption = Path(store.DEFAULT_DB),
) -> None:
    """Export a stored run's metrics to Parquet.

    The file holds the metrics table of the run with a leading run_id column.
    """
    with _user_errors():
        path = store.export_parquet(db, run_id, out)
        _console().print(f"Wrote {path}", markup=False, soft_wrap=True)


@app.command()
def report(
    ident: Annotated[str, typer.Argument(
        metavar="RUN_ID|EXPERIMENT_ID|CALIBRATION_ID", show_default=False,
        help="Run id (or unique prefix) from `narcoflow runs`, or an experiment id from "
             "`narcoflow compare`, or a calibration id from `narcoflow calibrate`.")],
    db: DbOption = Path(store.DEFAULT_DB),
    out: Annotated[Path, typer.Option(
        help="HTML file to write (replaced if it exists); with --format png|svg, the images "
             "are written next to it as <name>-<figure>.<format>.", dir_okay=False)
    ] = Path("report.html"),
    fmt: Annotated[str, typer.Option(
        "--format", help="html: one self-contained page that opens with no network; png or "
                         "svg: one static image per figure (needs Chromium).")] = "html",
) -> None:
    """Write a report of a stored run, experiment or calibration: flows, map, time series, parameters.

    See docs/report.md for what each figure shows.
    """
    from narcoflow.viz.report import make_report

    with _user_errors():
        for path in make_report(db, ident, out, fmt=fmt):
            _console().print(f"Wrote {path}", markup=False, soft_wrap=True)


# ---------------------------------------------------------------------------- dashboard
@app.command()
def dashboard(
    db: DbOption = Path(store.DEFAULT_DB),
    host: Annotated[str, typer.Option(help="Address to bind (local only by default).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8765,
    production: Annotated[bool, typer.Option(help="Solara production mode (no reload).")] = True,
) -> None:
    """Start the Solara web dashboard (see docs/dashboard.md)."""
    import os
    import subprocess
    import sys

    env = dict(os.environ, SOLARA_TELEMETRY_MIXPANEL_ENABLE="false",
               NARCOFLOW_DASHBOARD_DB=str(db.resolve()))
    cmd = [sys.executable, "-m", "solara", "run", "narcoflow.app.dashboard", "--host", host,
           "--port", str(port), "--no-open", *(["--production"] if production else [])]
    _console().print(f"narcoflow dashboard on http://{host}:{port} (results in {db})", markup=False)
    try:
        raise typer.Exit(subprocess.call(cmd, env=env))
    except KeyboardInterrupt:
        raise typer.Exit(0) from None


# ---------------------------------------------------------------------------- experiments
# `levers`, `compare`, `sweep`, `sensitivity` live in narcoflow/experiments/cli.py (issue 4).
from narcoflow.experiments.cli import register as _register_experiments  # noqa: E402

_register_experiments(app)

# ---------------------------------------------------------------------------- network
# `network`, `interdict` live in narcoflow/network/cli.py (issue 5).
from narcoflow.network.cli import register as _register_network  # noqa: E402

_register_network(app)

# ---------------------------------------------------------------------------- calibration
# `calibrate` lives in narcoflow/calibration/cli.py (issue 7).
from narcoflow.calibration.cli import register as _register_calibration  # noqa: E402

_register_calibration(app)
