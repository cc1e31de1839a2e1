"""The first hour with the command line (issue 17): run --policy/--lever, export to CSV, the
note while kernels compile, piped tables, and the message naming a missing extra."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from rich.table import Table

from fake_results import make_results
from narcoflow.cli import common
from narcoflow.experiments.levers import apply_policy
from narcoflow.experiments.runner import n_steps, planned_run_id
from narcoflow.results import store
from narcoflow.scenario import load, with_values
from test_cli import assert_clean_failure, invoke, stored_db  # noqa: F401  (fixture)

SMALL = ("--scale", "0.002", "--years", "1", "--seed", "1")


def _run_id(output: str) -> str:
    return output.strip().splitlines()[-1].removeprefix("run_id: ")


def test_run_policy_is_the_run_compare_makes(tmp_path: Path):
    out = tmp_path / "p.duckdb"
    result = invoke("run", "north-korea-2011", *SMALL, "--policy", "demand-reduction", "--out", out)
    assert result.exit_code == 0, result.output
    sc = load("north-korea-2011")
    import datetime as dt

    policy_sc = apply_policy(sc, "demand-reduction", until=sc.start + dt.timedelta(weeks=n_steps(sc, 1)))
    assert policy_sc != sc
    assert _run_id(result.output) == planned_run_id(policy_sc, seed=1, scale=0.002, years=1)


def test_run_lever_sets_a_parameter_or_a_lever(tmp_path: Path):
    out = tmp_path / "l.duckdb"
    result = invoke("run", "north-korea-2011", *SMALL, "--lever", "state.siphon_rate=0", "--out", out)
    assert result.exit_code == 0, result.output
    expected = with_values(load("north-korea-2011"), {"state.siphon_rate": 0.0})
    assert _run_id(result.output) == planned_run_id(expected, seed=1, scale=0.002, years=1)
    stored = store.load_results(out, _run_id(result.output))
    assert stored.total("siphoned_g") == 0


@pytest.mark.parametrize(("args", "needles"), [
    (["--lever", "crackdownn=2"], ["not a lever", "did you mean crackdown"]),
    (["--lever", "state.sipon_rate=0"], ["did you mean state.siphon_rate"]),
    (["--lever", "crackdown"], ["expected NAME=VALUE"]),
    (["--lever", "crackdown=99"], ["crackdown", "outside its allowed range"]),
    (["--policy", "nope"], ["'nope' is not defined", "border-crackdown"]),
])
def test_run_refuses_bad_policy_or_lever_before_running(tmp_path: Path, args, needles):
    out = tmp_path / "x.duckdb"
    assert_clean_failure(invoke("run", "north-korea-2011", *args, "--out", out), *needles)
    assert not out.exists()


def test_run_says_once_that_kernels_compile(tmp_path: Path, monkeypatch):
    from narcoflow.engine import compiled

    monkeypatch.setattr(compiled, "needs_compiling", lambda: True)
    result = invoke("run", "north-korea-2011", *SMALL, "--out", tmp_path / "c.duckdb")
    assert result.exit_code == 0, result.output
    assert result.output.count(compiled.COMPILE_NOTE) == 1
    monkeypatch.setattr(compiled, "needs_compiling", lambda: False)
    result = invoke("run", "north-korea-2011", *SMALL, "--out", tmp_path / "c.duckdb")
    assert compiled.COMPILE_NOTE not in result.output


def test_compile_check_reads_numba_cache_without_compiling(tmp_path: Path):
    """An empty NUMBA_CACHE_DIR: every kernel is to compile; after a run here, most are cached."""
    import narcoflow as nf
    from narcoflow.engine.compiled import kernels_to_compile, needs_compiling

    code = ("from narcoflow.engine.compiled import kernels_to_compile, needs_compiling\n"
            "m, n = kernels_to_compile(); print(m, n, needs_compiling())")
    env = {**__import__("os").environ, "NUMBA_CACHE_DIR": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          timeout=300)
    missing, total, needs = proc.stdout.split()
    assert int(total) > 20 and missing == total and needs == "True", proc.stderr
    assert not [f for f in tmp_path.rglob("*") if f.is_file()]  # nothing compiled or written
    nf.run("north-korea-2011", seed=1, scale=0.002, years=1)  # compiles here, or loads the cache
    missing, total = kernels_to_compile()
    assert missing * 2 < total and not needs_compiling()


def test_export_writes_csv_or_parquet_by_name_and_refuses_others(tmp_path: Path, stored_db):  # noqa: F811
    run_id = make_results().run_id
    csv = tmp_path / "quick.csv"
    result = invoke("export", run_id, "--db", stored_db, "--out", csv)
    assert result.exit_code == 0, result.output
    df = pd.read_csv(csv)
    assert list(df.columns) == ["run_id", "policy", "levers", "draw", "step", "date", "metric", "drug", "region",
                                "channel", "value"]
    assert len(df) == len(make_results().metrics) and set(df["run_id"]) == {run_id}
    assert csv.read_text()[:6] == "run_id"  # text, not Parquet's PAR1
    pq = tmp_path / "quick.parquet"
    assert invoke("export", run_id, "--db", stored_db, "--out", pq).exit_code == 0
    assert pq.read_bytes()[:4] == b"PAR1"
    assert_clean_failure(invoke("export", run_id, "--db", stored_db, "--out", tmp_path / "quick.xlsx"),
                         "*.parquet or *.csv")
    assert not (tmp_path / "quick.xlsx").exists()


def test_piped_tables_keep_their_column_names(monkeypatch):
    monkeypatch.delenv("COLUMNS", raising=False)
    con = common.console()
    assert not con.is_terminal and con.width == common.PIPED_WIDTH
    names = [f"a_rather_long_column_name_{i}" for i in range(7)]
    table = Table()
    for name in names:
        table.add_column(name)
    table.add_row(*["12,345.6"] * len(names))
    with con.capture() as cap:
        con.print(table)
    header = cap.get().splitlines()[1]
    assert all(name in header for name in names)


def _cli_without(module: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    code = (f"import sys\nsys.modules[{module!r}] = None\nfrom narcoflow.cli import app\n"
            f"app({list(args)!r})")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          cwd=cwd)


@pytest.mark.parametrize(("module", "args", "extra"), [
    ("solara", ["dashboard", "--port", "1"], "dashboard"),
    ("pyabc", ["calibrate", "north-korea-2011", "--targets", "north-korea-2011", "--out", "never.duckdb"],
     "calibration"),
    ("kaleido", ["report", "abc", "--db", "never.duckdb", "--format", "png"], "images"),
])
def test_command_without_its_extra_names_it(tmp_path: Path, module, args, extra):
    proc = _cli_without(module, *args, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert f"pip install 'narcoflow[{extra}]'" in " ".join(proc.stderr.split())
    assert "http://" not in proc.stdout  # the dashboard did not announce a server it cannot start
