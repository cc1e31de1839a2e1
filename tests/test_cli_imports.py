"""The light commands do not import the heavy libraries (issue 17: `narcoflow --help` took 5-7 s
importing pandas, scipy, networkx and numba). Checked on the set of imported modules, in a fresh
interpreter each time, never on a time."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("pandas", "numba", "scipy", "networkx", "plotly", "duckdb")

PROBE = """
import sys
{body}
print(sorted(m for m in {heavy!r} if m in sys.modules))
"""

RUN_APP = """
sys.argv = ["narcoflow", *{args!r}]
from narcoflow.cli import app
try:
    app()
except SystemExit:
    pass
"""


def imported_heavy(body: str) -> list[str]:
    out = subprocess.run([sys.executable, "-c", PROBE.format(body=body, heavy=HEAVY)],
                         capture_output=True, text=True, check=True).stdout
    return eval(out.strip().splitlines()[-1])


def test_importing_the_cli_imports_no_heavy_library():
    assert imported_heavy("import narcoflow.cli") == []


@pytest.mark.parametrize("args", [["--help"], ["run", "--help"], ["scenarios"],
                                  ["validate", "north-korea-2011"], ["levers"]])
def test_light_commands_import_no_heavy_library(args):
    assert imported_heavy(RUN_APP.format(args=args)) == []


def test_runs_imports_only_what_reading_the_store_needs(tmp_path):
    heavy = imported_heavy(RUN_APP.format(args=["runs", "--db", str(tmp_path / "none.duckdb")]))
    assert set(heavy) <= {"duckdb", "pandas"}
