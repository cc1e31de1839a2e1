"""What every command shares: the console, the error handling and the options used by several groups.

Every error a user can cause (`NarcoflowError`, and pydantic, YAML, OS or DuckDB errors that
leak out) is printed as one red paragraph on stderr with exit code 2, never as a traceback.

Nothing heavy is imported here or at the top of the command modules (`narcoflow --help`,
``scenarios``, ``validate`` and ``runs`` stay fast): each command imports what it needs when it
runs, and `user_errors` recognises a library's errors only once that library has been imported.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from narcoflow.errors import NarcoflowError, printable
from narcoflow.settings import DEFAULT_DB, YEARS

#: Exit code of every error a user can cause.
EXIT_ERROR = 2
#: Exit code after Ctrl-C in the commands that keep what they finished (experiments, calibration).
EXIT_INTERRUPTED = 130

# ---------------------------------------------------------------------------- shared options
DbOption = Annotated[Path, typer.Option(
    "--db", help="DuckDB results file to read.", show_default=True,
    dir_okay=False)]
RunIdArg = Annotated[str, typer.Argument(
    help="Run id as printed by `narcoflow run` or listed by `narcoflow runs` "
         "(a unique prefix is enough).", show_default=False)]
YearsOpt = Annotated[float | None, typer.Option(
    help=f"Simulate this many years, in {YEARS.allowed}, instead of the scenario's length.",
    show_default="the scenario's")]
#: Default of every --db / --out option naming the results database.
DEFAULT_DB_PATH = Path(DEFAULT_DB)


# ---------------------------------------------------------------------------- output and errors
#: Width of piped or captured output (unless COLUMNS says otherwise): wide enough that no
#: table squeezes its columns and cuts or wraps their names.
PIPED_WIDTH = 240


def console(*, stderr: bool = False):
    """A Rich console; piped or captured output is `PIPED_WIDTH` columns wide instead of 80
    (``COLUMNS`` in the environment wins), so tables keep their column names whole."""
    import os

    from rich.console import Console

    con = Console(stderr=stderr, highlight=False)
    if not con.is_terminal and not os.environ.get("COLUMNS"):
        con.width = PIPED_WIDTH
    return con


def progress_bar(unit: str, con):
    """A Rich progress bar on ``con``: description, bar, done/total ``unit``, elapsed, ETA."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn(unit),
                    TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), console=con)


def fail(message: str) -> typer.Exit:
    """Print ``Error: message`` in red on stderr; returns the exit to raise (code 2)."""
    console(stderr=True).print(f"Error: {printable(message)}", style="bold red", markup=False,
                               soft_wrap=True)
    return typer.Exit(EXIT_ERROR)


def _os_message(exc: OSError) -> str:
    where = f": {exc.filename}" if exc.filename else ""
    return f"{exc.strerror or exc}{where}"


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn the errors a user can cause into a red message and exit code 2."""
    try:
        yield
    except NarcoflowError as exc:
        raise fail(str(exc)) from None
    except Exception as exc:
        message = _library_message(exc)
        if message is None:
            raise
        raise fail(message) from None


def _library_message(exc: Exception) -> str | None:
    """The message of a pydantic, YAML, DuckDB or OS error; None for any other error (a bug).

    A library that was never imported cannot have raised, so none is imported here.
    """
    for module, name, prefix in (("pydantic", "ValidationError", "invalid input"),
                                 ("yaml", "YAMLError", "malformed YAML"),
                                 ("duckdb", "Error", "results database error")):
        if module in sys.modules and isinstance(exc, getattr(sys.modules[module], name)):
            return f"{prefix}: {exc}"
    if isinstance(exc, OSError):
        return _os_message(exc)
    return None


def fmt_number(v) -> str:
    """A number for a table cell: thousands separators, 2 decimals from 1, 3 digits below; '-' if missing."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if isinstance(v, int):
        return f"{v:,}"
    a = abs(v)
    if a >= 1000:
        return f"{v:,.0f}"
    if a >= 1 or a == 0:
        return f"{v:,.2f}"
    return f"{v:.3g}"
