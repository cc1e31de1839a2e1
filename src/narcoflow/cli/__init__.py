"""Command line: ``narcoflow`` and its commands, one module per group.

=====================  ==================================================
module                 commands
=====================  ==================================================
`cli.run`              ``scenarios``, ``validate``, ``run``
`cli.runs`             ``show``, ``runs``, ``export``, ``report``
`cli.dashboard`        ``dashboard``
`cli.experiments`      ``levers``, ``compare``, ``sweep``, ``sensitivity``, ``estimate``
`cli.network`          ``network``, ``interdict``
`cli.calibration`      ``calibrate``, ``screen``, ``history-match``
=====================  ==================================================

`cli.common` holds what they share: the console, the error handling (every error a user can
cause is one red paragraph on stderr and exit code 2, never a traceback) and the options used by
several groups. Dependencies go one way: these modules import the library, the library never
imports them. The entry point is ``narcoflow = "narcoflow.cli:app"``.
"""

from __future__ import annotations

import typer

from narcoflow.cli import calibration, dashboard, experiments, network, run, runs

app = typer.Typer(
    name="narcoflow",
    help="Simulate illicit drug production and circulation, store runs in DuckDB, "
         "and summarise them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

for _group in (run, runs, dashboard, experiments, network, calibration):
    for _command in _group.COMMANDS:
        app.command()(_command)
del _group, _command

__all__ = ["app"]
