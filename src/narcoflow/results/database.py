"""Opening a DuckDB results file safely, shared by every table narcoflow keeps in it.

A file that is not a DuckDB database is never opened by DuckDB; DuckDB's failures become a
`StoreError` that says what happened (busy, disk full, damaged) and what to do; `retry_busy`
waits while another process holds the file's lock. `narcoflow.results.store` (runs and
metrics) and the experiment and report tables build on these.
"""

from __future__ import annotations

import errno
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import duckdb

from narcoflow.errors import StoreError, printable

#: Seconds a write waits for another process to release the database (as experiments do).
BUSY_TIMEOUT = 60.0
T = TypeVar("T")
_DUCKDB_MAGIC = b"DUCK"  # bytes 8..12 of every DuckDB database file


def check_is_duckdb(path: Path, *, writing: bool) -> None:
    """Raise unless ``path`` (which exists) starts like a DuckDB database file."""
    hint = " Choose another file name (for example narcoflow.duckdb)." if writing else ""
    if path.is_dir():
        raise StoreError(f"{path} is a directory, not a results database file.{hint}")
    if not path.is_file():  # a pipe or a device: opening it could block or read forever
        raise StoreError(f"{printable(str(path))} is not a regular file (a device, a pipe or a "
                         f"socket), not a results database file; it was left untouched.{hint}")
    try:
        with path.open("rb") as fh:
            head = fh.read(12)
    except OSError as exc:
        raise StoreError(f"Cannot read {path} ({exc.strerror}).") from None
    if head[8:12] != _DUCKDB_MAGIC:
        raise StoreError(f"{path} exists but is not a DuckDB database; it was left "
                         f"untouched.{hint}")


def is_busy(exc: BaseException) -> bool:
    """Whether ``exc`` says that another process holds the database's lock."""
    text = str(exc).lower()
    return "is busy" in text or "could not set lock" in text or "conflicting lock" in text


def is_disk_full(exc: BaseException) -> bool:
    text = str(exc).lower()
    return (getattr(exc, "errno", None) in (errno.ENOSPC, errno.EDQUOT)
            or "no space left" in text or "disk quota" in text or "disk is full" in text)


def is_corrupt(exc: BaseException) -> bool:
    text = str(exc).lower()
    return any(word in text for word in (
        "corrupt", "not a valid duckdb", "checksum", "serialization error", "failed to read",
        "could not read enough bytes", "invalid database", "the file is not a valid"))


def store_error(exc: BaseException, path: Path, *, doing: str = "use") -> StoreError:
    shown = printable(str(path))
    msg = printable(str(exc))
    if is_busy(exc):
        return StoreError(f"The database {shown} is busy: another process (another narcoflow "
                          "run, a notebook or the duckdb shell) has it open. Close that "
                          "process or choose another file, then try again.")
    if is_disk_full(exc):
        return StoreError(f"Cannot {doing} the results database {shown}: the disk is full. Free "
                          "some space or choose another file; the runs stored before are intact.")
    if is_corrupt(exc):
        return StoreError(f"The results database {shown} is damaged (not a complete DuckDB "
                          f"database: {msg}). It was left untouched; save to another file, or "
                          "restore it from a copy.")
    if "different configuration" in msg:
        return StoreError(f"The database {shown} is already open in this process with other "
                          "settings; close that connection first.")
    return StoreError(f"Cannot {doing} the results database {shown}: {msg}")


def retry_busy(fn: Callable[[], T], path: str | os.PathLike, *, timeout: float | None = None,
               busy_error: Callable[[Path], StoreError] | None = None) -> T:
    """Call ``fn`` until it does not fail because ``path`` is locked by another process, for up
    to ``timeout`` seconds (default `BUSY_TIMEOUT`), then raise ``busy_error(path)``."""
    path = Path(path)
    timeout = BUSY_TIMEOUT if timeout is None else timeout
    deadline = time.monotonic() + timeout
    delay = 0.02 + (os.getpid() % 10) * 0.003  # processes do not retry in lock step
    while True:
        try:
            return fn()
        except (StoreError, duckdb.Error) as exc:
            if not is_busy(exc):
                if isinstance(exc, duckdb.Error):
                    raise store_error(exc, path) from None
                raise
            if time.monotonic() + delay > deadline:
                if busy_error is not None:
                    raise busy_error(path) from None
                raise StoreError(f"The database {printable(str(path))} is busy: another process "
                                 "(another narcoflow run, a notebook or the duckdb shell) has kept "
                                 f"it open for more than {timeout:g} s. Close that process or "
                                 "choose another file, then try again.") from None
        time.sleep(delay)
        delay = min(delay * 1.6, 0.5)


@contextmanager
def connect(path: str | os.PathLike, *, read_only: bool) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection to the DuckDB file at ``path`` (checked to be one), closed on exit."""
    path = Path(path)
    if read_only and not path.exists():
        raise StoreError(f"No results database at {path}. Create one with "
                         f"`narcoflow run SCENARIO --out {path}`, or pass the right --db file.")
    if path.exists():
        check_is_duckdb(path, writing=not read_only)
    try:
        con = duckdb.connect(str(path), read_only=read_only)
    except (duckdb.Error, OSError) as exc:
        raise store_error(exc, path) from None
    try:
        yield con
    finally:
        con.close()
