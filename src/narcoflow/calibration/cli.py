"""`narcoflow calibrate` (issue 7)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    @app.command()
    def calibrate(
        scenario: Annotated[str, typer.Argument(help="Built-in scenario name or YAML path.")],
        targets: Annotated[str, typer.Option("--targets", help="Targets YAML file or built-in name.")],
        populations: Annotated[int, typer.Option(min=1, help="ABC-SMC generations.")] = 4,
        particles: Annotated[int, typer.Option(min=2, help="Particles per generation.")] = 50,
        out: Annotated[Path, typer.Option("--out", help="DuckDB file for posterior and diagnostics.")]
            = Path("calibration.duckdb"),
        workers: Annotated[int, typer.Option(min=1, help="Local worker processes.")] = 1,
        scale: Annotated[float, typer.Option(help="Population scale of each run.")] = 0.002,
        years: Annotated[float | None, typer.Option(help="Years per run (default: the scenario's).")] = None,
        params: Annotated[str | None, typer.Option(help="Comma-separated parameters to fit "
                                                         "(default: the targets file's list).")] = None,
        draws: Annotated[int, typer.Option(min=1, help="Posterior predictive runs.")] = 10,
    ) -> None:
        """Fit uncertain parameters to targets with ABC-SMC (pyabc); rerunning resumes. See docs/calibration.md."""
        from narcoflow.calibration.calibrate import calibrate as run_calibration
        from narcoflow.calibration.calibrate import intervals, predictive_check
        from narcoflow.calibration.targets import load_targets
        from narcoflow.cli import _console, _user_errors
        from narcoflow.scenario import load

        con = _console()
        with _user_errors():
            sc, tg = load(scenario), load_targets(targets)
            plist = [p.strip() for p in params.split(",")] if params else None
            cid, post, diag = run_calibration(sc, tg, out, params=plist, populations=populations,
                                              particles=particles, scale=scale, years=years, workers=workers)
            con.print(f"calibration {cid}: {len(diag)} generations stored in {out}", markup=False)
            con.print(diag.to_string(index=False), markup=False)
            con.print(intervals(post).to_string(index=False), markup=False)
            ppc = predictive_check(sc, tg, post, draws=draws, scale=scale, years=years)
            con.print(ppc.drop(columns="message").to_string(index=False), markup=False)
            for msg in ppc.loc[ppc["unreachable"], "message"]:
                _console(stderr=True).print(f"WARNING: {msg}", style="yellow", markup=False)
