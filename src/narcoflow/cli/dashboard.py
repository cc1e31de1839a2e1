"""Command ``narcoflow dashboard``: start the Solara web dashboard in a child process."""

from __future__ import annotations

from typing import Annotated

import typer

from narcoflow.cli.common import DEFAULT_DB_PATH, DbOption, console, user_errors


def dashboard(
    db: DbOption = DEFAULT_DB_PATH,
    host: Annotated[str, typer.Option(help="Address to bind (local only by default).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8765,
    production: Annotated[bool, typer.Option(help="Solara production mode (no reload).")] = True,
) -> None:
    """Start the Solara web dashboard (see docs/dashboard.md)."""
    import os
    import subprocess
    import sys

    from narcoflow import extras

    with user_errors():
        extras.check("solara", "anywidget")
    env = dict(os.environ, SOLARA_TELEMETRY_MIXPANEL_ENABLE="false",
               NARCOFLOW_DASHBOARD_DB=str(db.resolve()))
    cmd = [sys.executable, "-m", "solara", "run", "narcoflow.app.dashboard", "--host", host,
           "--port", str(port), "--no-open", *(["--production"] if production else [])]
    console().print(f"narcoflow dashboard on http://{host}:{port} (results in {db})", markup=False)
    try:
        raise typer.Exit(subprocess.call(cmd, env=env))
    except KeyboardInterrupt:
        raise typer.Exit(0) from None


COMMANDS = (dashboard,)
