"""Safe output files: checked before any work, written to a temporary file and renamed into place.

Every command that writes a file (``export``, ``report``, ``calibrate``'s scenario, plots) goes
through `check_output` before it computes anything and writes through `replacing`:

- a directory, a device, a pipe or a socket is never replaced;
- the command's own input database is never replaced;
- an existing file of another kind (a DuckDB database, a Parquet file where HTML is written,
  a file narcoflow does not recognise) is replaced only with ``force=True`` (``--force``);
- the new content goes to a temporary file beside the target and is renamed over it only when
  complete, so a crash, a full disk or Ctrl-C leaves the old file as it was.

Examples
--------
>>> out = check_output("report.html", kind="html", inputs=["narcoflow.duckdb"])  # doctest: +SKIP
>>> with replacing(out) as tmp:                                                 # doctest: +SKIP
...     tmp.write_text("<!DOCTYPE html>...")
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from narcoflow.errors import NarcoflowError, printable

#: What each kind of output looks like, to recognise an existing file of the same kind.
KINDS = ("html", "parquet", "png", "svg", "yaml", "duckdb", "pdf", "csv", "json")


class OutputError(NarcoflowError):
    """An output file cannot or must not be written (the message says why and what to do)."""


def sniff(path: str | os.PathLike) -> str | None:
    """The kind of an existing regular file from its first bytes: one of `KINDS`, ``"empty"``,
    ``"text"`` (other UTF-8 text) or None (unrecognised binary)."""
    with open(path, "rb") as fh:
        head = fh.read(2048)
    if not head:
        return "empty"
    if head[8:12] == b"DUCK":
        return "duckdb"
    if head[:4] == b"PAR1":
        return "parquet"
    if head[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if head[:5] == b"%PDF-":
        return "pdf"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not just a character cut at the 2 kB boundary
            return None
        text = head[: exc.start].decode("utf-8")
    if "\x00" in text:
        return None
    low = text.lstrip("\ufeff \t\r\n").lower()
    if low.startswith(("<!doctype html", "<html")):
        return "html"
    if "<svg" in low:
        return "svg"
    if low.startswith(("{", "[")):
        return "json"
    return "text"


_SAME = {"yaml": {"text", "json"}, "csv": {"text"}, "json": {"json"}}


def check_output(out: str | os.PathLike, *, kind: str, inputs: Iterable[str | os.PathLike] = (),
                 force: bool = False) -> Path:
    """Check that ``out`` may be written as a ``kind`` file; return it as a `Path`.

    Raises `OutputError` when the folder is missing, ``out`` is a directory, a device, a pipe
    or a socket, ``out`` is one of ``inputs`` (the same file, by any path), or an existing file of
    another kind would be replaced and ``force`` is false.
    """
    out = Path(out)
    shown = printable(str(out))
    parent = out.parent
    if not parent.is_dir():
        raise OutputError(f"Cannot write {shown}: the folder {printable(str(parent))} does not "
                          "exist. Create it first or choose another --out file.")
    try:
        st = os.stat(out)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise OutputError(f"Cannot write {shown} ({exc.strerror or exc}).") from None
    if st is None:
        return out
    if stat.S_ISDIR(st.st_mode):
        raise OutputError(f"Cannot write {shown}: it is a directory; give a file name.")
    if not stat.S_ISREG(st.st_mode):
        raise OutputError(f"Cannot write {shown}: it is not a regular file (a device, a pipe or "
                          "a socket); it was left untouched. Give a file name.")
    for src in inputs:
        try:
            same = os.path.samefile(out, src)
        except OSError:
            same = False
        if same:
            raise OutputError(f"Cannot write {shown}: it is the input database of this command; "
                              "writing it would destroy the stored runs. Choose another --out file.")
    try:
        found = sniff(out)
    except OSError as exc:
        raise OutputError(f"Cannot write {shown}: cannot read the existing file "
                          f"({exc.strerror or exc}).") from None
    if found in ("empty", kind) or found in _SAME.get(kind, ()):
        return out
    if force:
        return out
    what = {"duckdb": "a DuckDB database (it may hold stored runs)", None: "a binary file",
            "text": "a text file"}.get(found, f"a {found} file")
    raise OutputError(f"Cannot write {shown}: it exists and is {what}, not a {kind} file; it was "
                      "left untouched. Choose another --out file, or pass --force to replace it.")


def disk_message(exc: OSError, what: str) -> str:
    """A message for an OSError while writing ``what``; a full disk is said so plainly."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return (f"Cannot write {what}: the disk is full. Free some space or choose another "
                "folder; nothing was replaced.")
    return f"Cannot write {what} ({exc.strerror or exc})."


@contextmanager
def replacing(out: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``out``; when the block ends without error, the file is
    flushed to disk and renamed over ``out``, keeping the mode of the file it replaces. On any
    error (or Ctrl-C) the temporary file is removed and ``out`` is untouched."""
    out = Path(out)
    fd, name = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        try:
            mode = stat.S_IMODE(os.stat(out).st_mode)
        except OSError:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        os.chmod(tmp, mode)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, out)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise OutputError(disk_message(exc, printable(str(out)))) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
