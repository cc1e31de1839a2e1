"""Commands ``narcoflow show | runs | export | report``: read what the results database holds."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from narcoflow.cli.common import DEFAULT_DB_PATH, DbOption, RunIdArg, console, user_errors


def show(run_id: RunIdArg, db: DbOption = DEFAULT_DB_PATH) -> None:
    """Print the summary of a stored run."""
    from narcoflow.results import store
    from narcoflow.results.summary import print_summary, summarize

    with user_errors():
        res = store.load_results(db, run_id)
        print_summary(res.info, summarize(res.metrics, res.info), console())
    typer.echo(f"run_id: {res.run_id}")


def runs(db: DbOption = DEFAULT_DB_PATH) -> None:
    """List the stored runs, newest first, with the policy, lever settings and parameter draw
    that made each (`-` for runs stored without them)."""
    from rich.table import Table

    from narcoflow.results import store
    from narcoflow.results.provenance import draw_text, levers_text

    with user_errors():
        df = store.list_runs(db)
        con = console()
        if df.empty:
            con.print(f"No runs stored in {db}.", markup=False, soft_wrap=True)
            return
        table = Table(title=f"Runs in {db}", title_justify="left", show_edge=False)
        for col in ("run_id", "scenario", "policy", "seed", "scale", "start", "steps", "created (UTC)",
                    "rows"):
            table.add_column(col, no_wrap=True)
        for col in ("levers", "parameter draw"):
            table.add_column(col, overflow="fold")
        for r in df.itertuples(index=False):
            table.add_row(r.run_id, r.scenario, r.policy if isinstance(r.policy, str) else "-", str(r.seed),
                          f"{r.scale:g}", str(r.start.date()), str(r.steps),
                          f"{r.created_at:%Y-%m-%d %H:%M}", f"{r.rows:,}",
                          levers_text(r.levers) or ("" if isinstance(r.policy, str) else "-"),
                          draw_text(r.draw))
        con.print(table)


ForceOpt = Annotated[bool, typer.Option(
    "--force", help="Replace an existing --out file of another kind (never the input database, "
                    "a directory or a device).")]


def export(
    run_id: RunIdArg,
    out: Annotated[Path, typer.Option(
        help="File to write: *.parquet (or *.pq) for Parquet, *.csv for CSV; any other name is "
             "refused. A file of that kind there is replaced; the input database, a directory or "
             "a device never; another kind of file only with --force.", dir_okay=False,
        show_default=False)],
    db: DbOption = DEFAULT_DB_PATH,
    force: ForceOpt = False,
) -> None:
    """Export a stored run's metrics to Parquet or CSV (chosen by the name of --out).

    The file holds the metrics table of the run with leading columns run_id, policy, levers and
    draw (how the run was made; empty when unknown); a Parquet file also holds the full provenance
    as JSON in its metadata (key `narcoflow`).
    """
    from narcoflow.results import store

    with user_errors():
        path = store.export_metrics(db, run_id, out, force=force)
        console().print(f"Wrote {path}", markup=False, soft_wrap=True)


def report(
    ident: Annotated[str, typer.Argument(
        metavar="RUN_ID|EXPERIMENT_ID|ESTIMATE_ID|CALIBRATION_ID", show_default=False,
        help="Run id (or unique prefix) from `narcoflow runs`, or an experiment id from "
             "`narcoflow compare`, or an estimate id from `narcoflow estimate`, or a calibration "
             "id from `narcoflow calibrate`.")],
    db: DbOption = DEFAULT_DB_PATH,
    out: Annotated[Path, typer.Option(
        help="HTML file to write (an HTML file there is replaced; the input database, a directory "
             "or a device never; another kind of file only with --force); with --format png|svg, "
             "the images "
             "are written next to it as <name>-<figure>.<format>.", dir_okay=False)
    ] = Path("report.html"),
    fmt: Annotated[str, typer.Option(
        "--format", help="html: one self-contained page that opens with no network; png or "
                         "svg: one static image per figure (needs Chromium).")] = "html",
    force: ForceOpt = False,
    targets: Annotated[str, typer.Option(
        "--targets", help="Calibration targets whose evidence bands the run's time series shows beside the "
                          "model: auto (the scenario's built-in file: north-korea-2011 for the north-korea "
                          "scenarios), none, a targets YAML file or a built-in targets name.")] = "auto",
) -> None:
    """Write a report of a stored run, experiment, estimate or calibration: flows, map, time series,
    fan charts, parameters.

    See docs/report.md for what each figure shows.
    """
    from narcoflow.viz.report import make_report

    with user_errors():
        for path in make_report(db, ident, out, fmt=fmt, force=force, targets=targets):
            console().print(f"Wrote {path}", markup=False, soft_wrap=True)


COMMANDS = (show, runs, export, report)
