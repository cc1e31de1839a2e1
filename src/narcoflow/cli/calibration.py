"""Commands ``narcoflow calibrate`` (ABC-SMC, issue 7), ``narcoflow screen`` (Morris screening) and
``narcoflow history-match`` (waves of Gaussian-process emulators, issue 14)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from narcoflow import DEFAULT_SCALE
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
    scale: Annotated[float, typer.Option(help=f"Population scale of each run, in {SCALE.allowed}.")] = DEFAULT_SCALE,
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
             "next to the DuckDB file); its posterior sample goes beside it as <stem>.posterior.csv.",
        show_default=False)] = None,
    within: Annotated[str | None, typer.Option(
        "--within", help="History match id (or unique prefix) in the --out file: fit its parameters with "
                         "uniform priors on the box of the points its last wave kept (default --params).",
        show_default=False)] = None,
    prior: Annotated[str, typer.Option(
        "--prior", help="With --within: 'box' (uniform on the box of the points the match kept) or 'region' "
                        "(uniform on the non-implausible space itself, from the match's emulators).")] = "box",
    min_epsilon_drop: Annotated[float, typer.Option(
        "--min-epsilon-drop",
        help="Stop early, converged, when epsilon fell by less than this share in the last generation "
             "(e.g. 0.05; 0: run all --populations).")] = 0.0,
    max_hours: Annotated[float | None, typer.Option(
        "--max-hours",
        help="Start no new generation after this many hours (the same command goes on later).",
        show_default=False)] = None,
) -> None:
    """Fit uncertain parameters to targets with ABC-SMC (pyabc); rerunning resumes. See docs/calibration.md.

    Stops after --populations generations, or earlier when epsilon stops falling
    (--min-epsilon-drop) or time runs out (--max-hours)."""
    import logging

    from narcoflow import extras

    with user_errors():
        extras.require("pyabc")  # creates its loggers, which set their own levels
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from narcoflow.calibration.calibrate import calibrate as run_calibration
    from narcoflow.calibration.calibrate import check_stopping, intervals, predictive_check, stop_reason, store_check
    from narcoflow.calibration.calibrate import write_scenario as write_calibrated
    from narcoflow.calibration.posterior import SUFFIX, export_posterior
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
        check_stopping(min_epsilon_drop, max_hours, label="--{}")  # before loading anything
        sc, tg = load(scenario), load_targets(targets)
        plist = [p.strip() for p in params.split(",") if p.strip()] if params else None
        bounds = None
        if within:
            from narcoflow.calibration.history import find_history, nroy_box

            hm = find_history(out, within)
            bounds = nroy_box(out, hm["history_id"])
            plist = plist or list(bounds)
        if prior not in ("box", "region"):
            raise NarcoflowError(f"--prior must be 'box' or 'region', not {prior!r}")
        region = None
        if prior == "region":
            if not within:
                raise NarcoflowError("--prior region needs --within HISTORY_ID (the match whose space it is)")
            from narcoflow.calibration.history import nroy_region

            region = nroy_region(out, hm["history_id"], tg)
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
                    labels={"scenario": scenario, "targets": targets}, seed=seed, bounds=bounds,
                    region=region, min_epsilon_drop=min_epsilon_drop, max_hours=max_hours)
        except KeyboardInterrupt:
            done = int(progress.tasks[gens].completed)
            console(stderr=True).print(
                f"Interrupted: {done} finished generation(s) are stored in {out}; run the same command "
                "again to continue.", style="yellow", markup=False)
            raise typer.Exit(EXIT_INTERRUPTED) from None
        why = stop_reason(list(diag["epsilon"]), populations, min_epsilon_drop, max_hours is not None)
        con.print(f"calibration {cid}: {len(diag)} generations stored in {out}; {why or 'stopped by pyabc'}",
                  markup=False)
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
        sample = export_posterior(post, Path(dest).with_name(Path(dest).stem + SUFFIX),
                                  header=f"Posterior sample of calibration {cid} ({scenario} against {targets}): "
                                         "the last generation's particles, weights normalised.")
        con.print(f"calibrated scenario written to {dest}, its posterior sample to {sample}", markup=False,
                  soft_wrap=True)
        con.print(f"report: narcoflow report {cid} --db {out}", markup=False, soft_wrap=True)
        con.print(f"calibration_id: {cid}", markup=False)


def _executor(workers: int, dask: str | None, dask_local: int | None):
    from narcoflow.errors import NarcoflowError
    from narcoflow.experiments.executors import make_executor

    if sum(x is not None for x in (dask, dask_local)) + (workers > 1) > 1:
        raise NarcoflowError("Give at most one of --workers N (N > 1), --dask ADDRESS, --dask-local N.")
    return make_executor(workers=workers if dask is None and dask_local is None else None, dask=dask,
                         dask_local=dask_local)


_WORKERS = Annotated[int, typer.Option(min=1, help="Local worker processes.")]
_DASK = Annotated[str | None, typer.Option(
    "--dask", help="Address of a running Dask scheduler (tcp://HOST:PORT).", show_default=False)]
_DASK_LOCAL = Annotated[int | None, typer.Option(
    "--dask-local", min=1, help="Start a local Dask cluster with this many workers.", show_default=False)]
_SCALE = Annotated[float, typer.Option(help=f"Population scale of each run, in {SCALE.allowed}.")]
_YEARS = Annotated[float | None, typer.Option(help=f"Years per run, in {YEARS.allowed} (default: the scenario's).")]
_OUT = Annotated[Path, typer.Option("--out", help="DuckDB file for the tables (rerunning resumes from it).")]


def screen(
    scenario: Annotated[str, typer.Argument(help="Built-in scenario name or YAML path.")],
    targets: Annotated[str, typer.Option("--targets", help="Targets YAML file or built-in name.")],
    trajectories: Annotated[int, typer.Option(min=2, help="Morris trajectories (trajectories x (D + 1) runs, "
                                                          "D = number of parameters).")] = 10,
    replicates: Annotated[int, typer.Option(min=0, help="Runs at the scenario's values with other seeds, "
                                                        "for the run-to-run variance.")] = 4,
    params: Annotated[str | None, typer.Option(help="Comma-separated parameters to screen (default: every "
                                                    "uncertain parameter of the scenario).")] = None,
    threshold: Annotated[float, typer.Option(min=0.0, help="Influential: moves some target by at least this "
                                                          "many total standard deviations.")] = 1.0,
    csv: Annotated[Path | None, typer.Option("--csv", dir_okay=False, help="Also write the tidy effects table "
                                                                       "to this CSV file.",
                                             show_default=False)] = None,
    out: _OUT = Path("calibration.duckdb"),
    workers: _WORKERS = 1,
    dask: _DASK = None,
    dask_local: _DASK_LOCAL = None,
    scale: _SCALE = 0.02,
    years: _YEARS = None,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the Morris design and of every run.")] = 0,
) -> None:
    """Screen uncertain parameters against targets (Morris elementary effects, SALib); rerunning resumes.

    Prints the parameters ranked by their largest effect on a target in total standard deviations
    of the measurement model, stores tables screening_effects and screening_ranking in --out, and
    ends with `screening_id: ID` (give it to `narcoflow history-match --screening`). See
    docs/calibration.md.
    """
    from narcoflow.calibration.screening import screen as run_screen
    from narcoflow.calibration.targets import load_targets
    from narcoflow.cli.common import progress_bar
    from narcoflow.scenario import load

    con = console()
    with user_errors():
        check_run_settings(seed=seed, scale=scale, years=years, label="--{}")
        sc, tg = load(scenario), load_targets(targets)
        plist = [p.strip() for p in params.split(",") if p.strip()] if params else None
        executor = _executor(workers, dask, dask_local)
        progress = progress_bar("runs", con)
        task = progress.add_task("screening runs", total=None)
        try:
            with executor, progress:
                sid, effects, ranking = run_screen(
                    sc, tg, out, params=plist, trajectories=trajectories, replicates=replicates, scale=scale,
                    years=years, seed=seed, threshold=threshold, executor=executor,
                    labels={"scenario": scenario, "targets": targets},
                    on_runs=lambda d, n: progress.update(task, completed=d, total=n))
        except KeyboardInterrupt:
            console(stderr=True).print(f"Interrupted: finished runs are stored in {out}; run the same command "
                                       "again to continue.", style="yellow", markup=False)
            raise typer.Exit(EXIT_INTERRUPTED) from None
        con.print(ranking.drop(columns="screening_id").to_string(index=False), markup=False, soft_wrap=True)
        n = int(ranking["influential"].sum())
        con.print(f"{n} of {len(ranking)} parameters influential (threshold {threshold:g} standard deviations); "
                  f"tables screening_effects, screening_ranking in {out}", markup=False, soft_wrap=True)
        if csv:
            effects.to_csv(csv, index=False)
            con.print(f"effects written to {csv}", markup=False, soft_wrap=True)
    typer.echo(f"screening_id: {sid}")


def history_match(
    scenario: Annotated[str, typer.Argument(help="Built-in scenario name or YAML path.")],
    targets: Annotated[str, typer.Option("--targets", help="Targets YAML file or built-in name.")],
    params: Annotated[str | None, typer.Option(help="Comma-separated parameters to match.",
                                               show_default=False)] = None,
    screening: Annotated[str | None, typer.Option(
        "--screening", help="Screening id (or prefix) in --out: match its influential parameters.",
        show_default=False)] = None,
    top: Annotated[int | None, typer.Option(min=1, help="With --screening: at most this many parameters, "
                                                        "most influential first.", show_default=False)] = None,
    waves: Annotated[int, typer.Option(min=1, help="Waves; a rerun with more extends the same match.")] = 3,
    points: Annotated[int, typer.Option(min=0, help="Design points per wave (0: 10 per parameter).")] = 0,
    cutoff: Annotated[float, typer.Option(min=0.0, help="Rule out points whose largest implausibility "
                                                        "exceeds this.")] = 3.0,
    replicate_points: Annotated[int, typer.Option(min=0, help="Design points per wave run with several "
                                                              "seeds.")] = 4,
    replicates: Annotated[int, typer.Option(min=1, help="Seeds per replicated point.")] = 3,
    candidates: Annotated[int, typer.Option(min=100, help="Candidate points per round to estimate what is "
                                                          "left.")] = 5000,
    out: _OUT = Path("calibration.duckdb"),
    workers: _WORKERS = 1,
    dask: _DASK = None,
    dask_local: _DASK_LOCAL = None,
    scale: _SCALE = DEFAULT_SCALE,
    years: _YEARS = None,
    seed: Annotated[int, typer.Option(min=0, help="Seeds the designs, the candidates and the runs.")] = 0,
) -> None:
    """History matching in waves with Gaussian-process emulators; rerunning resumes.

    Each wave runs the model on a design inside the space not yet ruled out, fits one emulator per
    target, and rules out points whose implausibility exceeds --cutoff. Prints per wave the runs,
    the non-implausible fraction of the space and the emulators' leave-one-out validation, and ends
    with `history_match_id: ID` (give it to `narcoflow calibrate --within`). See docs/calibration.md.
    """
    from narcoflow import extras
    from narcoflow.calibration.history import Settings
    from narcoflow.calibration.history import history_match as run_match
    from narcoflow.calibration.screening import screened_parameters
    from narcoflow.calibration.targets import load_targets
    from narcoflow.cli.common import progress_bar
    from narcoflow.errors import NarcoflowError
    from narcoflow.scenario import load

    con = console()
    with user_errors():
        check_run_settings(seed=seed, scale=scale, years=years, label="--{}")
        extras.require("sklearn")
        if (params is None) == (screening is None):
            raise NarcoflowError("Give the parameters to match: --params a,b or --screening ID.")
        sc, tg = load(scenario), load_targets(targets)
        plist = ([p.strip() for p in params.split(",") if p.strip()] if params
                 else screened_parameters(out, screening, top))
        executor = _executor(workers, dask, dask_local)
        st = Settings(points=points, cutoff=cutoff, replicate_points=replicate_points, replicates=replicates,
                      candidates=candidates, seed=seed)
        progress = progress_bar("runs", con)
        task = progress.add_task("wave 0", total=None)

        def on_wave(row: dict) -> None:
            progress.console.print(
                f"wave {row['wave']}: {row['runs']} runs, non-implausible fraction {row['nroy_fraction']:.3g}, "
                f"worst leave-one-out share outside 3 sd {row['worst_loo_outside_3']:.2f}", markup=False)

        try:
            with executor, progress:
                hid, wv, em = run_match(
                    sc, tg, out, params=plist, waves=waves, scale=scale, years=years, settings=st,
                    executor=executor, labels={"scenario": scenario, "targets": targets}, on_wave=on_wave,
                    on_runs=lambda w, d, n: progress.update(task, description=f"wave {w}", completed=d, total=n))
        except KeyboardInterrupt:
            console(stderr=True).print(f"Interrupted: finished runs and waves are stored in {out}; run the same "
                                       "command again to continue.", style="yellow", markup=False)
            raise typer.Exit(EXIT_INTERRUPTED) from None
        con.print(wv[["wave", "design_points", "runs", "kept", "nroy_fraction", "worst_loo_outside_3"]]
                  .to_string(index=False), markup=False, soft_wrap=True)
        last = em[em["wave"] == em["wave"].max()]
        con.print(last[["target", "role", "observation_variance", "discrepancy_variance", "model_variance",
                        "loo_rmse", "loo_outside_3", "ruled_out_alone", "min_implausibility"]]
                  .to_string(index=False), markup=False, soft_wrap=True)
        if int(wv["kept"].iloc[-1]) == 0:
            bad = last.loc[last["min_implausibility"] > cutoff, "target"]
            console(stderr=True).print(
                "WARNING: no parameter set is left: every point tried is implausible"
                + (f"; no point reaches {', '.join(bad)}" if len(bad) else ""), style="yellow", markup=False,
                soft_wrap=True)
        con.print(f"tables history_waves, history_emulators, history_nroy in {out}; posterior inside the "
                  f"remaining space: narcoflow calibrate {scenario} --targets {targets} --out {out} --within "
                  f"{hid}", markup=False, soft_wrap=True)
    typer.echo(f"history_match_id: {hid}")


COMMANDS = (calibrate, screen, history_match)
