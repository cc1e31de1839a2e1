"""Commands ``narcoflow levers | compare | sweep | sensitivity | estimate``.

They share ``--scale --years --seed --out`` with ``narcoflow run`` and choose where runs execute
with ``--workers N`` (default: one process per core; 1 = in this process), ``--dask ADDRESS``
or ``--dask-local N``. Each prints ``experiment_id: ID`` last. Ctrl-C stops after saving the
finished runs; the same command resumes. The tables they print are in `cli.experiment_tables`.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer

import narcoflow
from narcoflow.cli.common import (
    DEFAULT_DB_PATH,
    EXIT_INTERRUPTED,
    YearsOpt,
    console,
    progress_bar,
    user_errors,
)
from narcoflow.cli.experiment_tables import (
    parse_grid,
    parse_range,
    print_comparison,
    print_estimate,
    print_sensitivity,
    print_sweep,
    setting_text,
)
from narcoflow.errors import NarcoflowError
from narcoflow.settings import SCALE, check_run_settings

ScaleOpt = Annotated[float, typer.Option(
    help=f"Share of the real population simulated, in {SCALE.allowed}.")]
OutOpt = Annotated[Path, typer.Option(
    help="DuckDB file the runs and experiment tables are saved to (created if missing); "
         "finished runs found there are not run again.", dir_okay=False)]
WorkersOpt = Annotated[int | None, typer.Option(
    help="Local worker processes (default: one per core; 1 runs in this process).",
    show_default=False)]
DaskOpt = Annotated[str | None, typer.Option(
    "--dask", help="Address of a running Dask scheduler (tcp://HOST:PORT), e.g. one started by "
                   "dask-jobqueue on a SLURM or PBS cluster.", show_default=False)]
DaskLocalOpt = Annotated[int | None, typer.Option(
    "--dask-local", help="Start a local Dask cluster with this many workers.", show_default=False)]
StoreOpt = Annotated[bool, typer.Option(
    "--store-metrics/--outcomes-only",
    help="Keep every run's full metrics (runs/metrics tables) or only its outcomes.")]
PlotOpt = Annotated[bool, typer.Option(
    "--plot/--no-plot", help="Write PNG and HTML plots next to the database.")]


def _execute(plan, out: Path, executor, *, keep_metrics: bool, what: str) -> None:
    """Run the plan with one progress bar; Ctrl-C leaves the finished runs saved."""
    from concurrent.futures.process import BrokenProcessPool

    from narcoflow.experiments.runner import run_plan

    err = console(stderr=True)
    n_rows, n_runs = len(plan.rows), len(plan.run_ids)
    err.print(f"Experiment {plan.experiment_id} ({plan.kind}, {plan.scenario}): {what} = "
              f"{n_rows} runs{f' ({n_runs} distinct)' if n_runs != n_rows else ''}, "
              f"on {executor.description}; results in {out}.", markup=False, soft_wrap=True)
    state = {}
    with progress_bar("runs", err) as bar:
        task = bar.add_task(f"{plan.kind} {plan.scenario}", total=n_runs)

        def progress(p) -> None:
            if not state:
                state["first"] = p.skipped
                if p.skipped:
                    err.print(f"{p.skipped} run(s) already stored: skipped.", markup=False)
            bar.update(task, completed=p.completed)
            state["p"] = p

        try:
            run_plan(plan, out, executor, keep_metrics=keep_metrics, progress=progress)
        except BrokenProcessPool:
            bar.stop()
            p = state.get("p")
            raise NarcoflowError(
                f"A worker process died (out of memory, or killed); {p.completed if p else 0} of "
                f"{n_runs} runs are saved in {out}. Run the same command again to resume, with "
                "fewer --workers if memory is short.") from None
        except KeyboardInterrupt:
            bar.stop()
            p = state.get("p")
            saved = p.completed if p is not None else 0
            err.print(f"Interrupted: {saved} of {n_runs} runs of experiment {plan.experiment_id} "
                      f"are saved in {out}; run the same command again to resume.",
                      style="bold red", markup=False, soft_wrap=True)
            raise typer.Exit(EXIT_INTERRUPTED) from None


# ------------------------------------------------------------------------ levers
def levers(
    scenario: Annotated[str | None, typer.Argument(
        help="Also list this scenario's named policies (built-in name or YAML file).",
        show_default=False)] = None,
) -> None:
    """List the policy levers (meaning, unit, default, range) and a scenario's policies."""
    from rich.table import Table

    from narcoflow.scenario import load
    from narcoflow.scenario.schema import LEVERS

    with user_errors():
        con = console()
        table = Table(title="Levers", title_justify="left", show_edge=False)
        for col in ("lever", "default", "range", "dated", "regions", "meaning"):
            table.add_column(col, overflow="fold")
        for spec in LEVERS.values():
            table.add_row(spec.name, f"{spec.default:g}", spec.allowed, "yes" if spec.dated else "",
                          "yes" if spec.regional else "", f"{spec.meaning} [{spec.unit}]")
        con.print(table)
        if scenario is not None:
            sc = load(scenario)
            pt = Table(title=f"Policies of {sc.name}", title_justify="left", show_edge=False)
            for col in ("policy", "levers", "description"):
                pt.add_column(col, overflow="fold")
            from narcoflow.experiments.levers import resolve_policy

            for name, pol in sc.policies.items():
                settings = resolve_policy(name, sc.policies)
                shown = ", ".join(setting_text(k, s) for k, s in settings.items()) or "(none)"
                pt.add_row(name, shown, pol.description)
            con.print()
            con.print(pt)


# ------------------------------------------------------------------------ compare
def compare(
    scenario: Annotated[str, typer.Argument(
        help="Built-in scenario name or scenario YAML file.", show_default=False)],
    policy: Annotated[list[str], typer.Option(
        "--policy", help="A policy to compare (repeat the option); `baseline` is always "
                         "included. `narcoflow levers SCENARIO` lists the scenario's policies.",
        show_default=False)],
    replications: Annotated[int, typer.Option(
        help="Runs per policy; replication i of every policy uses seed SEED + i.")] = 10,
    policy_file: Annotated[list[Path] | None, typer.Option(
        "--policy-file", help="YAML file with more policies (`policies:` mapping or list).",
        dir_okay=False, show_default=False)] = None,
    scale: ScaleOpt = narcoflow.DEFAULT_SCALE,
    years: YearsOpt = None,
    seed: Annotated[int, typer.Option(help="Seed of replication 0, >= 0.")] = 0,
    out: OutOpt = DEFAULT_DB_PATH,
    workers: WorkersOpt = None,
    dask: DaskOpt = None,
    dask_local: DaskLocalOpt = None,
    store_metrics: StoreOpt = True,
    plot: PlotOpt = True,
    from_year: Annotated[int | None, typer.Option(
        "--from", help="Read the outcomes from this calendar year on (e.g. the year a policy "
                       "starts): flows summed from 1 January, levels still at the end.",
        show_default=False)] = None,
    to_year: Annotated[int | None, typer.Option(
        "--to", help="Read the outcomes up to this calendar year (inclusive): flows summed to "
                     "31 December, levels at its last week.", show_default=False)] = None,
    define: Annotated[list[str] | None, typer.Option(
        "--define", help="A user-defined outcome (repeat the option): NAME=METRIC[,DIM=LABEL"
                         "[|LABEL]][,agg=sum|mean_per_year|mean|last|mean_value][,from=YEAR]"
                         "[,to=YEAR][,intended=down|up][,label=TEXT], e.g. "
                         "china=delivered_abroad_g,region=China,from=2010,intended=down. "
                         "Metrics and their dimensions: docs/experiments.md, \"User-defined outcomes\".",
        show_default=False)] = None,
    uncertainty: Annotated[str, typer.Option(
        "--uncertainty", help="What varies between replications: seeds (the scenario's parameter "
                              "values, only the seed varies), posterior (replication i of every "
                              "policy uses parameter set i drawn from the scenario's posterior "
                              "sample, or --posterior FILE, and seed SEED + i) or ranges (parameter "
                              "sets from a Latin hypercube over the scenario's ranges, taken as a "
                              "uniform prior).")] = "seeds",
    posterior: Annotated[Path | None, typer.Option(
        "--posterior", help="Posterior sample CSV to draw the replications' parameter sets from "
                            "(columns draw, weight and one per parameter); implies --uncertainty "
                            "posterior.", dir_okay=False, show_default=False)] = None,
    fan: Annotated[str | None, typer.Option(
        "--fan", help="Outcome of the fan chart (per policy and year: median and 50 %/90 % bands "
                      "over the replications), e.g. consumption_kg or a --define name; default "
                      "consumption_kg. Needs --store-metrics.", show_default=False)] = None,
) -> None:
    """Compare policies over replications on common random numbers.

    Stores every run, writes table `comparisons` (for each outcome: mean and 95 % interval;
    the effect vs. baseline, absolute and relative, with 95 % intervals from the paired
    replications; the probability that the effect has the intended sign) and prints it.
    Intervals are Bayesian-bootstrap percentiles, so no interval of a quantity that cannot be
    negative goes below zero; with fewer than 10 replications a warning says they are too
    narrow. With --uncertainty posterior or ranges the replications also vary the uncertain
    parameters (the same parameter set for every policy within a replication), and relative
    effects are geometric means of the paired ratios.
    """
    from narcoflow.experiments.comparison import comparison_table, fan_outcome, plan_compare
    from narcoflow.experiments.executors import make_executor
    from narcoflow.experiments.levers import inactive_windows, load_policy_file
    from narcoflow.experiments.runner import n_steps
    from narcoflow.scenario import load

    with user_errors():
        check_run_settings(seed=seed, scale=scale, years=years, label="--{}")
        sc = load(scenario)
        extra = {}
        for f in policy_file or []:
            extra.update(load_policy_file(f))
        if posterior is None and uncertainty == "posterior":
            from narcoflow.calibration.posterior import posterior_file

            posterior = posterior_file(scenario)  # beside a YAML file too; None: plan_compare says so
        plan = plan_compare(sc, policy, replications=replications, seed=seed, scale=scale,
                            years=years, extra_policies=extra, window=(from_year, to_year),
                            outcomes=define or (), uncertainty=uncertainty, posterior=posterior)
        fan = fan_outcome(plan.definition, fan)
        executor = make_executor(workers=workers, dask=dask, dask_local=dask_local)
        err = console(stderr=True)
        sets = plan.definition.get("parameter_sets")
        if sets is not None:
            where = (f"drawn by weight from the posterior sample {posterior}" if sets["source"] == "posterior"
                     else "from a Latin hypercube over the scenario's ranges (taken as a uniform prior, "
                          "not a calibrated posterior)")
            err.print(f"Parameters: replication i of every policy uses parameter set i of {len(sets['parameters'])} "
                      f"uncertain parameters, {where}, and seed {seed} + i.", markup=False, soft_wrap=True)
        end = sc.start + dt.timedelta(weeks=n_steps(sc, years))
        for name in plan.definition["policies"]:
            for note in inactive_windows(sc, name, extra, end=end):
                err.print(f"Note: policy {name!r}: {note}, so it has no effect in this run.",
                          style="yellow", markup=False, soft_wrap=True)
        names = plan.definition["policies"]
        _execute(plan, out, executor, keep_metrics=store_metrics,
                what=f"{len(names)} policies x {replications} replications")
        from narcoflow.experiments import tables

        table = comparison_table(out, plan)
        tables.write_comparisons(out, plan.experiment_id, table)
        print_comparison(table, plan, out)
        if plot:
            from narcoflow.experiments.plots import plot_stem, write_comparison_plots

            paths = write_comparison_plots(
                table, plot_stem(out, "compare", plan.experiment_id),
                title=f"{sc.name}: outcomes by policy ({replications} replications, scale "
                      f"{scale:g}), mean and 95 % interval",
                labels={o["name"]: o.get("title") or o["name"]
                        for o in plan.definition.get("outcomes", [])})
            if store_metrics:
                from narcoflow.experiments.comparison import fan_quantiles, fan_series
                from narcoflow.experiments.outcomes import outcome_title
                from narcoflow.experiments.plots import write_fan_plots

                label = next((o.get("title") or o["name"] for o in plan.definition.get("outcomes", [])
                              if o["name"] == fan), None) or outcome_title(fan)
                series = fan_series(out, plan.experiment_id, fan)
                if len(series):
                    paths += write_fan_plots(
                        fan_quantiles(series), plot_stem(out, "fan", plan.experiment_id), label=label,
                        title=f"{sc.name}: {label} per year, median with 50 % and 90 % of {replications} "
                              "replications")
            console().print("Plots: " + ", ".join(str(p) for p in paths), markup=False,
                                  soft_wrap=True)
    typer.echo(f"experiment_id: {plan.experiment_id}")


# ------------------------------------------------------------------------ sweep
def sweep(
    scenario: Annotated[str, typer.Argument(
        help="Built-in scenario name or scenario YAML file.", show_default=False)],
    param: Annotated[list[str] | None, typer.Option(
        "--param", help="NAME=LOW:HIGH, sampled by Latin hypercube (repeat the option). NAME "
                        "is a parameter's dotted path (state.siphon_rate) or a lever.",
        show_default=False)] = None,
    samples: Annotated[int, typer.Option(
        help="Latin-hypercube samples of the --param ranges.")] = 10,
    grid: Annotated[list[str] | None, typer.Option(
        "--grid", help="NAME=V1,V2,...: every value, crossed with the other grids and the "
                       "samples (repeat the option).", show_default=False)] = None,
    replications: Annotated[int, typer.Option(
        help="Runs per point; replication i uses seed SEED + i.")] = 1,
    scale: ScaleOpt = narcoflow.DEFAULT_SCALE,
    years: YearsOpt = None,
    seed: Annotated[int, typer.Option(
        help="Seed of replication 0 and of the Latin hypercube, >= 0.")] = 0,
    out: OutOpt = DEFAULT_DB_PATH,
    workers: WorkersOpt = None,
    dask: DaskOpt = None,
    dask_local: DaskLocalOpt = None,
    store_metrics: StoreOpt = True,
) -> None:
    """Sweep parameters or levers: Latin hypercube (--param) and/or grid (--grid).

    Writes one row per run to table `experiments` (values in `experiment_values`, outcomes
    in `outcomes`) and prints the runs with their values and outcomes.
    """
    from narcoflow.experiments.executors import make_executor
    from narcoflow.experiments.sweeps import plan_sweep, sweep_table
    from narcoflow.scenario import load

    with user_errors():
        check_run_settings(seed=seed, scale=scale, years=years, label="--{}")
        ranges = {}
        for text in param or []:
            name, lo, hi = parse_range(text)
            ranges[name] = (lo, hi)
        grids = dict(parse_grid(text) for text in grid or [])
        if ranges and samples < 1:
            raise NarcoflowError(f"--samples {samples} is out of range: it must be at least 1.")
        sc = load(scenario)
        plan = plan_sweep(sc, ranges=ranges, samples=samples if ranges else 0, grid=grids,
                          replications=replications, seed=seed, scale=scale, years=years)
        executor = make_executor(workers=workers, dask=dask, dask_local=dask_local)
        n_points = len(plan.values) // max(1, len(plan.definition["parameters"]))
        _execute(plan, out, executor, keep_metrics=store_metrics,
                what=f"{n_points} points x {replications} replications")
        table = sweep_table(out, plan)
        print_sweep(table, plan, out)
    typer.echo(f"experiment_id: {plan.experiment_id}")


# ------------------------------------------------------------------------ sensitivity
def sensitivity(
    scenario: Annotated[str, typer.Argument(
        help="Built-in scenario name or scenario YAML file.", show_default=False)],
    method: Annotated[str, typer.Option(help="sobol or morris.")] = "sobol",
    samples: Annotated[int, typer.Option(
        help="Sobol: base samples N (a power of 2; N x (D + 2) runs). Morris: trajectories "
             "(N x (D + 1) runs). D = number of parameters.")] = 8,
    outcome: Annotated[list[str] | None, typer.Option(
        "--outcome", help="Outcome to analyse (repeat the option); default consumption_kg.",
        show_default=False)] = None,
    param: Annotated[list[str] | None, typer.Option(
        "--param", help="Analyse only this uncertain parameter (repeat the option); "
                        "default: every parameter with a range in the scenario.",
        show_default=False)] = None,
    scale: ScaleOpt = narcoflow.DEFAULT_SCALE,
    years: YearsOpt = None,
    seed: Annotated[int, typer.Option(help="Seed of every run and of the sampler, >= 0.")] = 0,
    out: OutOpt = DEFAULT_DB_PATH,
    workers: WorkersOpt = None,
    dask: DaskOpt = None,
    dask_local: DaskLocalOpt = None,
    store_metrics: Annotated[bool, typer.Option(
        "--store-metrics/--outcomes-only",
        help="Keep every run's full metrics, or (default) only its outcomes.")] = False,
    plot: PlotOpt = True,
) -> None:
    """Global sensitivity analysis (SALib) over the scenario's uncertain parameters.

    Writes the indices with 95 % confidence intervals to table `sensitivity` and prints
    them, most influential first.
    """
    from narcoflow.experiments import tables
    from narcoflow.experiments.executors import make_executor
    from narcoflow.experiments.outcomes import check_outcome
    from narcoflow.experiments.sensitivity_analysis import METHODS, plan_sensitivity, sensitivity_table
    from narcoflow.scenario import load

    with user_errors():
        check_run_settings(seed=seed, scale=scale, years=years, label="--{}")
        if method not in METHODS:
            raise NarcoflowError(f"--method {method!r} is not one of: {', '.join(METHODS)}.")
        sc = load(scenario)
        outcomes = list(dict.fromkeys(outcome or ["consumption_kg"]))
        for o in outcomes:
            check_outcome(o, [d.name for d in sc.border.destinations])
        plan, problem, X = plan_sensitivity(sc, method=method, samples=samples, names=param,
                                            seed=seed, scale=scale, years=years)
        executor = make_executor(workers=workers, dask=dask, dask_local=dask_local)
        _execute(plan, out, executor, keep_metrics=store_metrics,
                what=f"{method} with {problem['num_vars']} parameters and {samples} samples")
        table = sensitivity_table(out, plan, problem, X, outcomes)
        tables.write_sensitivity(out, plan.experiment_id, table)
        print_sensitivity(table, out)
        if plot:
            from narcoflow.experiments.plots import plot_stem, write_sensitivity_plots

            paths = write_sensitivity_plots(
                table, plot_stem(out, "sensitivity", plan.experiment_id),
                title=f"{sc.name}: {method} indices ({len(plan.run_ids)} runs, scale {scale:g})")
            console().print("Plots: " + ", ".join(str(p) for p in paths), markup=False,
                                  soft_wrap=True)
    typer.echo(f"experiment_id: {plan.experiment_id}")


# ------------------------------------------------------------------------ estimate
def estimate(
    scenario: Annotated[str, typer.Argument(
        help="Built-in scenario name or scenario YAML file; its posterior sample "
             "(<scenario>.posterior.csv beside it) is used if it has one.", show_default=False)],
    draws: Annotated[int, typer.Option(
        help="Parameter sets drawn (>= 1): from the posterior sample by weight, or, without one, a "
             "Latin hypercube over the scenario's ranges (the prior, said so in the output).")] = 50,
    seeds: Annotated[int, typer.Option(
        help="Runs (seeds) per parameter set (>= 1); 2 or more separate parameter from "
             "run-to-run variance.")] = 2,
    posterior: Annotated[Path | None, typer.Option(
        "--posterior", help="Posterior sample CSV to draw from instead of the scenario's (columns "
                            "draw, weight and one per parameter; docs/calibration.md).",
        dir_okay=False, show_default=False)] = None,
    scale: ScaleOpt = narcoflow.DEFAULT_SCALE,
    years: YearsOpt = None,
    seed: Annotated[int, typer.Option(
        help="Seed of the draws; set i runs with seeds SEED + i x SEEDS + k, >= 0.")] = 0,
    out: OutOpt = DEFAULT_DB_PATH,
    csv: Annotated[Path | None, typer.Option(
        "--csv", help="Also write the whole table to this CSV file.", dir_okay=False,
        show_default=False)] = None,
    workers: WorkersOpt = None,
    dask: DaskOpt = None,
    dask_local: DaskLocalOpt = None,
    store_metrics: Annotated[bool, typer.Option(
        "--store-metrics/--outcomes-only",
        help="Keep every run's full metrics, or (default) only its yearly quantities.")] = False,
) -> None:
    """Estimate the quantities nobody observes, per calendar year, over parameter uncertainty.

    Runs each of DRAWS parameter sets with SEEDS seeds and writes table `estimates`: for
    private exports arrived abroad (by destination and drug), grams siphoned from the state,
    state revenue, active producers and sellers (by role), users and ever-used (by province),
    arrests (by role) and bribes, per year: the median, the 50 % and 90 % intervals over all
    runs, and the shares of their variance due to the parameters and to randomness. Prints the
    last year's totals; `narcoflow report ESTIMATE_ID --db OUT` draws the fan charts.
    """
    from narcoflow.experiments.estimates import estimate_table, plan_estimate, write_estimates
    from narcoflow.experiments.executors import make_executor
    from narcoflow.outputs import check_output, replacing
    from narcoflow.scenario import load

    with user_errors():
        check_run_settings(seed=seed, scale=scale, years=years, label="--{}")
        if draws < 1:
            raise NarcoflowError(f"--draws {draws} is out of range: it must be at least 1.")
        if seeds < 1:
            raise NarcoflowError(f"--seeds {seeds} is out of range: it must be at least 1.")
        if csv is not None:
            check_output(csv, kind="csv", inputs=(out,))
        sc = load(scenario)
        plan = plan_estimate(sc, draws=draws, seeds=seeds, seed=seed, scale=scale, years=years,
                             posterior=posterior, ref=scenario)
        executor = make_executor(workers=workers, dask=dask, dask_local=dask_local)
        if plan.definition["source"] == "prior ranges":
            console(stderr=True).print(
                f"Note: {sc.name} has no posterior sample: drawing {draws} parameter sets from its "
                "prior ranges (Latin hypercube), not from a posterior.", style="yellow", markup=False,
                soft_wrap=True)
        _execute(plan, out, executor, keep_metrics=store_metrics,
                 what=f"{draws} parameter sets x {seeds} seeds")
        table = estimate_table(out, plan)
        write_estimates(out, plan.experiment_id, table)
        print_estimate(table, plan, out)
        if csv is not None:
            with replacing(csv) as tmp:
                table.to_csv(tmp, index=False)
            console().print(f"Wrote {csv}", markup=False, soft_wrap=True)
        console().print(f"Fan charts: narcoflow report {plan.experiment_id} --db {out}", markup=False,
                        soft_wrap=True)
    typer.echo(f"estimate_id: {plan.experiment_id}")


COMMANDS = (levers, compare, sweep, sensitivity, estimate)
