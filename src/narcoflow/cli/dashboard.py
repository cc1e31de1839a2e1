"""Command ``narcoflow dashboard``: start the Solara web dashboard in a child process."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from narcoflow.cli.common import DEFAULT_DB_PATH, DbOption, console, user_errors
from narcoflow.errors import NarcoflowError, printable


def dashboard(
    db: DbOption = DEFAULT_DB_PATH,
    host: Annotated[str, typer.Option(
        help="Address to bind (local only by default). Any other address (0.0.0.0, a LAN "
             "address) prints a warning and requires a token: open the printed address.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8765,
    production: Annotated[bool, typer.Option(help="Solara production mode (no reload).")] = True,
    token: Annotated[str | None, typer.Option(
        help="Token every request must carry (default on a non-loopback --host: a random one, "
             "printed in the address).", show_default=False)] = None,
    scenarios: Annotated[Path | None, typer.Option(
        help="Folder the page may open scenario files from (default: the database's folder); "
             "no other file on the server is ever read.", file_okay=False,
        show_default=False)] = None,
) -> None:
    """Start the Solara web dashboard (see docs/dashboard.md)."""
    import subprocess

    from narcoflow import extras

    with user_errors():
        extras.check("solara", "anywidget")
        from narcoflow.app.server import launch

        if not 0 < port < 65536:
            raise NarcoflowError(f"--port {port} is out of range: it must be in [1, 65535].")
        if scenarios is not None and not scenarios.is_dir():
            raise NarcoflowError(f"--scenarios {printable(str(scenarios))}: no such folder.")
        cmd, env, url, warning = launch(db, host, port, production=production, token=token,
                                        scenarios=scenarios)
    if warning:
        console(stderr=True).print(warning, style="bold yellow", markup=False, soft_wrap=True)
    console().print(f"narcoflow dashboard on {url} (results in {printable(str(db))})", markup=False,
                    soft_wrap=True)
    try:
        raise typer.Exit(subprocess.call(cmd, env=env))
    except KeyboardInterrupt:
        raise typer.Exit(0) from None


COMMANDS = (dashboard,)
