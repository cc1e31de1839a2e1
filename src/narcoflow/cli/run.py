"""Commands ``narcoflow scenarios | validate | run``: check a scenario, run it, save and summarise it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

import narcoflow
from narcoflow.cli.common import (
    DEFAULT_DB_PATH,
    EXIT_ERROR,
    YearsOpt,
    console,
    fail,
    user_errors,
)
from narcoflow.settings import SCALE, check_run_settings


def scenarios() -> None:
    """List the built-in scenarios."""
    from narcoflow.scenario import builtin_descriptions

    with user_errors():
        con = console()
        for name, description in builtin_descriptions().items():
            con.print(f"{name}  {description}", markup=False, soft_wrap=True)


def validate(
    file: Annotated[str, typer.Argument(
        help="Scenario YAML file (or built-in scenario name) to check.", show_default=False)],
) -> None:
    """Check a scenario file.

    Prints OK, or every problem one per line and exits with code 2.
    """
    from narcoflow.scenario import load, validate_file

    with user_errors():
        problems = validate_file(file)
        if problems:
            err = console(stderr=True)
            err.print(f"{file}: {len(problems)} problem(s)", style="bold red", markup=False,
                      soft_wrap=True)
            for line in problems:
                err.print(line, style="red", markup=False, soft_wrap=True)
            raise typer.Exit(EXIT_ERROR)
        sc = load(file)
        console().print(f"OK: {file} (scenario {sc.name}, {sc.start} to {sc.end}, "
                        f"{sc.n_steps} weekly steps, {len(sc.regions)} regions)",
                        markup=False, soft_wrap=True)


def run(
    scenario: Annotated[str, typer.Argument(
        help="Built-in scenario name (see `narcoflow scenarios`) or scenario YAML file.",
        show_default=False)],
    seed: Annotated[int, typer.Option(
        help="Random seed, >= 0; the same scenario, seed, scale and version give the same "
             "results and run id.")] = 0,
    scale: Annotated[float, typer.Option(
        help=f"Share of the real population simulated, in {SCALE.allowed}; outputs are scaled back "
             "to the full population.")] = narcoflow.DEFAULT_SCALE,
    years: YearsOpt = None,
    out: Annotated[Path, typer.Option(
        help="DuckDB file the run is saved to (created if missing; a run with the same id "
             "is replaced).", dir_okay=False)] = DEFAULT_DB_PATH,
    profile: Annotated[bool, typer.Option(
        "--profile", help="Also print the CPU seconds spent in each process (all threads together).")] = False,
) -> None:
    """Run a scenario, save it and print its summary.

    The output file is checked before the simulation starts. The run is saved to the DuckDB
    file given by --out; the last line printed is `run_id: ID`.
    """
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from narcoflow.results import store
    from narcoflow.results.summary import print_summary, summarize
    from narcoflow.scenario import load

    with user_errors():
        check_run_settings(seed=seed, scale=scale, years=years, label="--{}")
        sc = load(scenario)
        store.check_writable(out)

        from narcoflow.engine import Simulation

        sim = Simulation(sc, seed=seed, scale=scale, years=years, profile=profile)
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("steps"), TimeElapsedColumn(), TextColumn("ETA"),
                   TimeRemainingColumn())
        with Progress(*columns, console=console(stderr=True)) as bar:
            task = bar.add_task(f"{sc.name} seed {seed}", total=None)
            try:
                sim.run(progress=lambda step, n: bar.update(task, completed=step, total=n))
            except KeyboardInterrupt:
                raise fail("interrupted; nothing was saved.") from None
        res = sim.results
        run_id = store.save(res, out)
        con = console()
        print_summary(res.info, summarize(res.metrics), con)
        if profile:
            con.print()
            con.print(_timings_table(res.timings))
        con.print(f"\nSaved to {out}", markup=False, soft_wrap=True)
    typer.echo(f"run_id: {run_id}")


def _timings_table(timings: dict[str, float]):
    from rich.table import Table

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


COMMANDS = (scenarios, validate, run)
