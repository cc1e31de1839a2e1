"""Command line: help, scenarios, validate, run, show, runs, export, and clean failures."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from cli_helpers import assert_clean_failure, invoke
from fake_results import make_results
from narcoflow.results import store

BUILTIN_FILE = (Path(__file__).resolve().parents[1]
                / "src/narcoflow/scenario/builtin/north-korea-2011.yaml")


@pytest.fixture
def stored_db(tmp_path: Path) -> Path:
    """A results database holding one (hand-made) run."""
    path = tmp_path / "keep.duckdb"
    store.save(make_results(seed=0), path)
    return path


def _snapshot(path: Path) -> tuple[str, list]:
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    runs = store.list_runs(path)
    return digest, runs[["run_id", "rows"]].values.tolist()


def scenario_file(tmp_path: Path, body: str, name: str = "scenario.yaml") -> Path:
    path = tmp_path / name
    path.write_text(body)
    return path


# ---------------------------------------------------------------------------- help
def test_help_subprocess():
    exe = Path(sys.executable).with_name("narcoflow")
    proc = subprocess.run([str(exe), "--help"], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    for command in ("scenarios", "validate", "run", "show", "runs", "export"):
        assert command in proc.stdout


@pytest.mark.parametrize("command, options", [
    ("scenarios", []),
    ("validate", []),
    ("run", ["--seed", "--scale", "--years", "--out", "--profile"]),
    ("show", ["--db"]),
    ("runs", ["--db"]),
    ("export", ["--db", "--out"]),
])
def test_command_help(command: str, options: list[str]):
    result = invoke(command, "--help")
    assert result.exit_code == 0, result.output
    for option in options:
        assert option in result.output


# ---------------------------------------------------------------------------- scenarios, validate
def test_scenarios_lists_builtin():
    result = invoke("scenarios")
    assert result.exit_code == 0, result.output
    assert "north-korea-2011" in result.output
    assert "North Korea" in result.output


def test_validate_builtin_file_ok():
    result = invoke("validate", BUILTIN_FILE)
    assert result.exit_code == 0, result.output
    assert result.output.startswith("OK")


@pytest.mark.parametrize("body, needles", [
    pytest.param("base: north-korea-2011\nstate: [unclosed\n",
                 ["malformed YAML", "line"], id="malformed-yaml"),
    pytest.param("base: north-korea-2011\nprivate:\n  bogus_rate: 0.1\n",
                 ["private.bogus_rate", "unknown field"], id="unknown-key"),
    pytest.param("base: north-korea-2011\nstate:\n  siphon_rate: 1.5\n",
                 ["state.siphon_rate", "1.5", "[0, 1]"], id="probability-above-1"),
    pytest.param("base: north-korea-2011\nprivate:\n  output_g_per_week: -3\n",
                 ["private.output_g_per_week", "-3", "(0, 1e9]"], id="negative-quantity"),
    pytest.param("base: north-korea-2011\nevents:\n"
                 "  - {type: crackdown, name: late raid, start: 2030-01-01}\n",
                 ["late raid", "2030-01-01", "outside the period"], id="event-outside-period"),
    pytest.param("base: no-such-scenario\nyears: 2\n",
                 ["no-such-scenario", "narcoflow scenarios"], id="missing-base"),
])
def test_validate_reports_problems(tmp_path: Path, body: str, needles: list[str]):
    path = scenario_file(tmp_path, body)
    out = assert_clean_failure(invoke("validate", path), *needles)
    assert "problem" in out


def test_validate_lists_every_problem_one_per_line(tmp_path: Path):
    path = scenario_file(tmp_path, "base: north-korea-2011\nstate:\n  siphon_rate: 1.5\n"
                                   "private:\n  output_g_per_week: -3\n")
    result = invoke("validate", path)
    assert_clean_failure(result)
    lines = result.output.splitlines()
    assert any("state.siphon_rate" in line for line in lines)
    assert any("private.output_g_per_week" in line for line in lines)
    assert not any("state.siphon_rate" in line and "output_g_per_week" in line for line in lines)


# ---------------------------------------------------------------------------- run: failures
def test_run_unknown_scenario(tmp_path: Path):
    assert_clean_failure(invoke("run", "atlantis-1999", "--out", tmp_path / "x.duckdb"),
                         "Unknown scenario", "atlantis-1999")
    assert list(tmp_path.iterdir()) == []


def test_run_out_in_missing_directory(tmp_path: Path):
    target = tmp_path / "missing" / "runs.duckdb"
    assert_clean_failure(invoke("run", "north-korea-2011", "--out", target),
                         str(target.parent), "does not exist")
    assert not target.parent.exists()


def test_run_out_in_unwritable_directory(tmp_path: Path):
    if os.geteuid() == 0:  # root writes anywhere a mode allows; /sys refuses new files
        parent = Path("/sys")
    else:
        parent = tmp_path / "locked"
        parent.mkdir()
        parent.chmod(0o555)
    try:
        assert_clean_failure(invoke("run", "north-korea-2011", "--out", parent / "r.duckdb"),
                             "Cannot save results", str(parent))
    finally:
        if parent != Path("/sys"):
            parent.chmod(0o755)


@pytest.mark.parametrize("args, needles", [
    (["--scale", "0"], ["--scale", "(0, 1]"]),
    (["--scale", "5"], ["--scale", "(0, 1]"]),
    (["--scale", "nan"], ["--scale", "(0, 1]"]),
    (["--seed", "-1"], ["--seed", "[0, 9223372036854775807]"]),
    (["--years", "0"], ["--years", "(0, 100]"]),
    (["--years", "250"], ["--years", "(0, 100]"]),
])
def test_run_flag_ranges(stored_db: Path, args: list[str], needles: list[str]):
    before = _snapshot(stored_db)
    assert_clean_failure(invoke("run", "north-korea-2011", *args, "--out", stored_db), *needles)
    assert _snapshot(stored_db) == before


def test_run_out_not_a_database(tmp_path: Path):
    path = tmp_path / "notes.duckdb"
    path.write_text("my notes\n")
    assert_clean_failure(invoke("run", "north-korea-2011", "--out", path),
                         "not a DuckDB database")
    assert path.read_text() == "my notes\n"


def test_failing_commands_leave_database_intact(tmp_path: Path, stored_db: Path):
    before = _snapshot(stored_db)
    bad = scenario_file(tmp_path, "base: north-korea-2011\nstate:\n  siphon_rate: 1.5\n")
    failing = [
        ["run", "atlantis-1999", "--out", stored_db],
        ["run", bad, "--out", stored_db],
        ["run", "north-korea-2011", "--scale", "0", "--out", stored_db],
        ["show", "ffffffffffffffff", "--db", stored_db],
        ["export", "ffffffffffffffff", "--db", stored_db, "--out", tmp_path / "x.parquet"],
        ["export", make_results().run_id, "--db", stored_db,
         "--out", tmp_path / "nodir" / "x.parquet"],
    ]
    for args in failing:
        assert_clean_failure(invoke(*args))
        assert _snapshot(stored_db) == before, args
    assert not (tmp_path / "x.parquet").exists()


# ---------------------------------------------------------------------------- show, runs, export
def test_show_runs_export_on_stored_run(tmp_path: Path, stored_db: Path):
    run_id = make_results().run_id

    shown = invoke("show", run_id[:8], "--db", stored_db)
    assert shown.exit_code == 0, shown.output
    assert shown.output.splitlines()[-1] == f"run_id: {run_id}"
    for title in ("Production by sector", "Seizures by agency", "Seizures abroad", "Exports arrived abroad"):
        assert title in shown.output

    listed = invoke("runs", "--db", stored_db)
    assert listed.exit_code == 0, listed.output
    assert run_id in listed.output

    out = tmp_path / "run.parquet"
    exported = invoke("export", run_id, "--db", stored_db, "--out", out)
    assert exported.exit_code == 0, exported.output
    assert len(pd.read_parquet(out)) == len(make_results().metrics)


def test_show_unknown_run_lists_known(stored_db: Path):
    assert_clean_failure(invoke("show", "deadbeef", "--db", stored_db),
                         "deadbeef", make_results().run_id)


def test_runs_without_database(tmp_path: Path):
    assert_clean_failure(invoke("runs", "--db", tmp_path / "none.duckdb"),
                         "No results database")


# ---------------------------------------------------------------------------- end to end (engine)
def test_run_then_show_end_to_end(tmp_path: Path):
    """Needs the engine: a tiny real run saved, listed and shown."""
    db = tmp_path / "e2e.duckdb"
    # no dated events, so that one year is a valid period whatever the events' dates
    scenario = scenario_file(tmp_path, "base: north-korea-2011\nevents: []\n")
    result = invoke("run", scenario, "--scale", "0.002", "--years", "1",
                    "--seed", "1", "--out", db, "--profile")
    assert result.exit_code == 0, result.output
    last = result.stdout.strip().splitlines()[-1]
    assert last.startswith("run_id: ")
    run_id = last.removeprefix("run_id: ")
    assert "CPU time by process" in result.stdout
    assert "Production by sector" in result.stdout

    assert store.list_runs(db)["run_id"].tolist() == [run_id]
    shown = invoke("show", run_id, "--db", db)
    assert shown.exit_code == 0, shown.output
    assert shown.output.splitlines()[-1] == f"run_id: {run_id}"
    assert "Production by sector" in shown.output
