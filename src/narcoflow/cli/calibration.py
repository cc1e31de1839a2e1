"""Command ``narcoflow calibrate``: fit uncertain parameters to targets with ABC-SMC (issue 7)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from narcoflow.cli.common import EXIT_INTERRUPTED, console, user_errors
from narcoflow.settings import SCALE, YEARS, check_run_settings


def calibrate(
    scenario: Annotated[str, typer.Argument(help="Built-in scenario name or YAML path.")],
    targets: Annotated[str, typer.Option("--targets", help="Targets YAML file or built-in name.")],
    populations: Annotated[int, typer.Option(min=1, help="ABC-SMC generations.")] = 4,
    particles: Annotated[int, typer.Option(min=2, help="Particles per generation.")] = 50,
    out: Annotated[Path, typer.Option("--out", help="DuckDB file for posterior and diagnostics.")]
        = Path("calibration.duckdb"),
    workers: Annotated[int, typer.Option(min=1, help="Local worker processes.")] = 1,
    dask: Annotated[str | None, typer.Option(
        "--dask", help="Address of a running Dask scheduler (tcp://HOST:PORT).", show_default=False)] = None,
    dask_local: Annotated[int | None, typer.Option(
        "--dask-local", min=1, help="Start a local Dask cluster with this many workers.",
        show_default=False)] = None,
    scale: Annotated[float, typer.Option(help=f"Population scale of each run, in {SCALE.allowed}.")] = 0.002,
    years: Annotated[float | None, typer.Option(
        help=f"Years per run, in {YEARS.allowed} (default: the scenario's).")] = None,
    params: Annotated[str | None, typer.Option(help="Comma-separated parameters to fit "
                                                     "(default: the targets file's list).")] = None,
    draws: Annotated[int, typer.Option(min=1, help="Posterior predictive runs.")] = 10,
    seed: Annotated[int | None, typer.Option(
        min=0, help="Common random numbers: every run of the fit uses this seed (default: a seed "
                    "derived from each particle's values).", show_default=False)] = None,
    write_scenario: Annotated[Path | None, typer.Option(
        "--write-scenario", dir_okay=False,
        help="Calibrated scenario YAML to write (default: <out>-<calibration id>.scenario.yaml "
             "next to the DuckDB file).", show_default=False)] = None,
) -> None:
    """Fit uncertain parameters to targets with ABC-SMC (pyabc); rerunning resumes. See docs/calibration.md."""
    import logging

    from narcoflow import extras

    with user_errors():
        extras.require("pyabc")  # creates its loggers, which set their own levels
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from narcoflow.calibration.calibrate import calibrate as run_calibration
    from narcoflow.calibration.calibrate import intervals, predictive_check, store_check
    from narcoflow.calibration.calibrate import write_scenario as write_calibrated
    from narcoflow.calibration.targets import load_targets, role_counts, role_summary
    from narcoflow.errors import NarcoflowError
    from narcoflow.scenario import load

    for name in [n for n in logging.root.manager.loggerDict if n == "ABC" or n.startswith("ABC.")]:
        logging.getLogger(name).setLevel(logging.WARNING)  # pyabc's per-generation log: the bar shows it
    con = console()
    with user_errors():
        if sum(x is not None for x in (dask, dask_local)) + (workers > 1) > 1:
            raise NarcoflowError("Give at most one of --workers N (N > 1), --dask ADDRESS, --dask-local N.")
        check_run_settings(seed=seed, scale=scale, years=years, label="--{}")
        sc, tg = load(scenario), load_targets(targets)
        plist = [p.strip() for p in params.split(",") if p.strip()] if params else None
        progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                            TextColumn("{task.fields[extra]}"), TimeElapsedColumn(), console=con,
                            transient=False)
        gens = progress.add_task("generations", total=populations, extra="")
        runs = progress.add_task("runs in generation 0", total=None, extra="", visible=False)

        def on_generation(t: int, diag: dict) -> None:
            progress.update(gens, completed=t + 1, extra=f"epsilon {diag['epsilon']:.3g}, acceptance "
                                                         f"{diag['acceptance_rate']:.2f}, ESS {diag['ess']:.1f}")

        def on_runs(t: int, n: int) -> None:
            if t < 0:
                progress.update(runs, completed=n, description="runs in pyabc's calibration sample",
                                visible=True, extra="(prior draws that set the first epsilon)")
            else:
                progress.update(runs, completed=n, description=f"runs in generation {t}", visible=True,
                                extra=f"({particles} particles to accept)")

        try:
            with progress:
                cid, post, diag = run_calibration(
                    sc, tg, out, params=plist, populations=populations, particles=particles, scale=scale,
                    years=years, workers=workers, dask_address=dask, dask_local=dask_local,
                    on_generation=on_generation, on_runs=on_runs,
                    labels={"scenario": scenario, "targets": targets}, seed=seed)
        except KeyboardInterrupt:
            done = int(progress.tasks[gens].completed)
            console(stderr=True).print(
                f"Interrupted: {done} finished generation(s) are stored in {out}; run the same command "
                "again to continue.", style="yellow", markup=False)
            raise typer.Exit(EXIT_INTERRUPTED) from None
        con.print(f"calibration {cid}: {len(diag)} generations stored in {out}", markup=False)
        con.print(diag.drop(columns="calibration_id").to_string(index=False), markup=False, soft_wrap=True)
        con.print(intervals(post).to_string(index=False), markup=False, soft_wrap=True)
        ppc = predictive_check(sc, tg, post, draws=draws, scale=scale, years=years, seed=seed or 0)
        store_check(out, cid, ppc)
        con.print(ppc[["target", "role", "observed", "predicted_median", "predicted_low", "predicted_high",
                       "inside", "unreachable"]].to_string(index=False), markup=False, soft_wrap=True)
        con.print(role_summary(role_counts(tg, dict(zip(ppc["target"], ppc["inside"], strict=True)))),
                  markup=False, soft_wrap=True)
        for t in tg.of_role("waiting"):
            con.print(f"not compared: {t.name} (waiting: {t.waiting})", markup=False, soft_wrap=True)
        for msg in ppc.loc[ppc["unreachable"], "message"]:
            console(stderr=True).print(f"WARNING: {msg}", style="yellow", markup=False, soft_wrap=True)
        dest = write_scenario or out.with_name(f"{out.stem}-{cid}.scenario.yaml")
        write_calibrated(sc, post, dest, base=scenario, calibration_id=cid, targets_label=targets)
        con.print(f"calibrated scenario written to {dest}", markup=False, soft_wrap=True)
        con.print(f"report: narcoflow report {cid} --db {out}", markup=False, soft_wrap=True)
        con.print(f"calibration_id: {cid}", markup=False)


COMMANDS = (calibrate,)
