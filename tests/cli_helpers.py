"""Shared by the CLI tests: invoke a command, flatten wrapped output, assert a clean failure."""

from __future__ import annotations

import os
import re

from typer.testing import CliRunner

from narcoflow.cli import app

runner = CliRunner()


def invoke(*args: str | os.PathLike):
    return runner.invoke(app, [str(a) for a in args])


def flat(text: str) -> str:
    """Output with whitespace runs collapsed, so wrapped lines still match."""
    return re.sub(r"\s+", " ", text)


def assert_clean_failure(result, *needles: str) -> str:
    """Exit code 2, no traceback, and every needle in the (flattened) output."""
    out = flat(result.output)
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    for needle in needles:
        assert needle in out, f"{needle!r} not in {out!r}"
    return out
