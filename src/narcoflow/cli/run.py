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
    progress_bar,
    user_errors,
)
from narcoflow.errors import printable
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
    policy: Annotated[str | None, typer.Option(
        "--policy", help="Run the scenario under this policy (`narcoflow levers SCENARIO` lists "
                         "them); the same as one replication of `narcoflow compare`.",
        show_default=False)] = None,
    lever: Annotated[list[str] | None, typer.Option(
        "--lever", help="NAME=VALUE: set a lever (crackdown=2) or a parameter by its dotted path "
                        "(state.siphon_rate=0); repeat the option; applied after --policy.",
        show_default=False)] = None,
) -> None:
    """Run a scenario, save it and print its summary.

    The output file is checked before the simulation starts. The run is saved to the DuckDB
    file given by --out; the last line printed is `run_id: ID`. The first run after an install
    compiles the engine's kernels (about 40 s, said once); later runs reuse them.
    """
    from narcoflow.results import store
    from narcoflow.results.summary import print_summary, summarize
    from narcoflow.scenario import load

    with user_errors():
        check_run_settings(seed=seed, scale=scale, years=years, label="--{}")
        sc, made = _with_policy(load(scenario), policy, lever or [], years)
        store.retry_busy(lambda: store.check_writable(out), out)  # waits while another run writes

        from narcoflow.engine import Simulation
        from narcoflow.engine.compiled import COMPILE_NOTE, needs_compiling

        sim = Simulation(sc, seed=seed, scale=scale, years=years, profile=profile)
        if needs_compiling():
            console(stderr=True).print(COMPILE_NOTE, markup=False, soft_wrap=True)
        with progress_bar("steps", console(stderr=True)) as bar:
            task = bar.add_task(f"{sc.name} seed {seed}", total=None)
            try:
                sim.run(progress=lambda step, n: bar.update(task, completed=step, total=n))
            except KeyboardInterrupt:
                raise fail("interrupted; nothing was saved.") from None
        res = sim.results
        from narcoflow.results.provenance import attach

        attach(res.info, **made)  # policy, lever settings and parameters set: `narcoflow runs` shows them
        # waits up to store.BUSY_TIMEOUT s while another process writes; never loses the run
        run_id, saved_to, why = store.save_or_beside(res, out)
        if why is not None:
            console(stderr=True).print(f"Warning: {printable(why)}\nThe run was saved to "
                                       f"{printable(str(saved_to))} instead.", style="bold yellow",
                                       markup=False, soft_wrap=True)
        out = saved_to
        con = console()
        print_summary(res.info, summarize(res.metrics, res.info), con)
        if profile:
            con.print()
            con.print(_timings_table(res.timings))
        con.print(f"\nSaved to {printable(str(out))}", markup=False, soft_wrap=True)
    typer.echo(f"run_id: {run_id}")


def parse_setting(text: str) -> tuple[str, float]:
    """``NAME=VALUE`` of a --lever option."""
    from narcoflow.errors import NarcoflowError

    name, sep, value = text.partition("=")
    try:
        if not (sep and name.strip()):
            raise ValueError
        return name.strip(), float(value)
    except ValueError:
        raise NarcoflowError(f"--lever {text!r}: expected NAME=VALUE, for example crackdown=2 or "
                             "state.siphon_rate=0 (`narcoflow levers` lists the levers).") from None


def _with_policy(sc, policy: str | None, levers: list[str], years: float | None):
    """The scenario with the policy (cut to the run's period) and then the --lever settings
    applied, and the run's provenance (`narcoflow.results.provenance.attach` keywords)."""
    import datetime as dt
    import difflib

    from narcoflow.errors import NarcoflowError
    from narcoflow.experiments.levers import apply_policy, resolve_policy, scenario_at
    from narcoflow.experiments.runner import n_steps
    from narcoflow.results.provenance import with_extra
    from narcoflow.scenario.loader import iter_params
    from narcoflow.scenario.policy import LEVERS

    values = dict(parse_setting(text) for text in levers)
    paths = {path for path, _ in iter_params(sc)}
    for name in values:
        if name not in LEVERS and name not in paths:
            near = difflib.get_close_matches(name, [*LEVERS, *paths], n=4, cutoff=0.6)
            raise NarcoflowError(
                f"--lever {name}: not a lever (`narcoflow levers` lists them) nor a parameter path "
                f"of scenario {sc.name!r} (docs/scenarios.md)"
                + (f"; did you mean {', '.join(near)}?" if near else "."))
    settings = resolve_policy(policy, sc.policies) if policy is not None else {}
    if policy is not None:
        until = sc.start + dt.timedelta(weeks=n_steps(sc, years))
        sc = apply_policy(sc, policy, until=until)
    name, used = with_extra(policy, settings, {k: v for k, v in values.items() if k in LEVERS})
    params = {k: v for k, v in values.items() if k not in LEVERS}
    made = {"policy": name, "levers": used, "draw": {"source": "set", "values": params} if params else None}
    return (scenario_at(sc, values) if values else sc), made


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
