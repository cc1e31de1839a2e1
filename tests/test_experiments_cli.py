"""Experiments from the command line, across executors and processes.

- ``compare`` / ``sweep`` / ``sensitivity`` / ``levers`` print their tables, write their plots, and
  refuse bad input with one paragraph and exit code 2;
- results are bit-identical in this process, in a local process pool and on a local Dask
  cluster of 2 workers;
- killing ``narcoflow compare`` with SIGKILL mid-experiment loses no finished run; the same
  command resumes it and leaves no duplicate;
- two experiments writing to one database at the same time both succeed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from cli_helpers import assert_clean_failure, flat, invoke
from narcoflow.errors import NarcoflowError
from narcoflow.experiments import DaskExecutor, LocalExecutor, ProcessExecutor, plan_compare, run_plan
from narcoflow.scenario import load

EXE = str(Path(sys.executable).with_name("narcoflow"))
TINY = ["--scale", "0.001", "--years", "1"]


def query(db, sql, *, tries: int = 200):
    """Read while another process may be writing (it holds the file only during a commit)."""
    for _ in range(tries):
        try:
            con = duckdb.connect(str(db), read_only=True)
        except duckdb.Error:
            time.sleep(0.05)
            continue
        try:
            return con.execute(sql).fetchall()
        except duckdb.CatalogException:
            return None
        finally:
            con.close()
    raise AssertionError(f"{db} stayed locked")


# ---------------------------------------------------------------------------- commands
def test_help_lists_the_experiment_commands():
    result = invoke("--help")
    for command in ("levers", "compare", "sweep", "sensitivity"):
        assert command in result.output
    out = flat(invoke("compare", "--help").output)
    for option in ("--policy", "--replications", "--scale", "--years", "--seed", "--out", "--workers",
                   "--dask", "--dask-local", "--policy-file"):
        assert option in out


def test_levers_lists_levers_and_policies():
    result = invoke("levers", "north-korea-2011")
    assert result.exit_code == 0, result.output
    for word in ("crackdown", "guard_corruption", "precursor_price", "[0, 10]", "border-crackdown",
                 "demand-reduction", "crackdown-2013", "2013-01-01"):
        assert word in result.output


def test_compare_prints_table_and_writes_plots(tmp_path):
    db = tmp_path / "c.duckdb"
    result = invoke("compare", "north-korea-2011", "--policy", "demand-reduction", "--replications", "2",
                    *TINY, "--seed", "5", "--out", db, "--workers", "1")
    assert result.exit_code == 0, result.output
    out = flat(result.output)
    for needle in ("consumption_kg", "users_end", "exports_arrived_kg:China", "state_revenue_musd",
                   "retail_price_usd_per_g", "demand-reduction", "effect", "95 % interval", "relative",
                   "P(intended)", "Domestic consumption (kg)", "Only 2 replications"):
        assert needle in out, needle
    eid = result.output.strip().splitlines()[-1].removeprefix("experiment_id: ")
    assert len(eid) == 16
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix in (".png", ".html")) == [
        f"c-compare-{eid[:8]}.html", f"c-compare-{eid[:8]}.png", f"c-fan-{eid[:8]}.html", f"c-fan-{eid[:8]}.png"]
    assert query(db, f"SELECT count(DISTINCT policy) FROM comparisons WHERE experiment_id = '{eid}'") == [(2,)]
    assert query(db, "SELECT DISTINCT seed FROM experiments ORDER BY seed") == [(5,), (6,)]


def test_compare_policy_file(tmp_path):
    pol = tmp_path / "pol.yaml"
    pol.write_text("policies:\n  - name: harsh\n    base: border-crackdown\n    levers: {crackdown: 5}\n")
    result = invoke("compare", "north-korea-2011", "--policy", "harsh", "--policy-file", pol,
                    "--replications", "1", *TINY, "--out", tmp_path / "p.duckdb", "--workers", "1",
                    "--no-plot")
    assert result.exit_code == 0, result.output
    assert "harsh" in result.output and "Only 1 replication: no intervals" in flat(result.output)


def test_sweep_and_sensitivity_commands(tmp_path):
    db = tmp_path / "s.duckdb"
    result = invoke("sweep", "north-korea-2011", "--param", "state.siphon_rate=0:0.2", "--samples", "2",
                    "--grid", "quitting=1,2", *TINY, "--out", db, "--workers", "1", "--outcomes-only")
    assert result.exit_code == 0, result.output
    assert "state.siphon_rate" in result.output and "quitting" in result.output
    assert query(db, "SELECT count(*) FROM experiments") == [(4,)]
    result = invoke("sensitivity", "north-korea-2011", "--method", "morris", "--samples", "2",
                    "--param", "state.siphon_rate", "--param", "consumption.quit_rate_per_week",
                    "--outcome", "users_end", *TINY, "--out", db, "--workers", "1")
    assert result.exit_code == 0, result.output
    assert "mu_star" in result.output and "consumption.quit_rate_per_week" in result.output
    assert query(db, "SELECT count(*) FROM sensitivity WHERE statistic = 'mu_star'") == [(2,)]
    assert any(p.name.startswith("s-sensitivity-") and p.suffix == ".png" for p in tmp_path.iterdir())


@pytest.mark.parametrize("args, needles", [
    (["compare", "north-korea-2011", "--policy", "free-lunch"], ["free-lunch", "known policies"]),
    (["compare", "north-korea-2011", "--policy", "baseline", "--replications", "0"], ["--replications 0"]),
    (["compare", "north-korea-2011", "--policy", "baseline", "--workers", "0"], ["--workers 0"]),
    (["compare", "north-korea-2011", "--policy", "baseline", "--workers", "2", "--dask-local", "2"],
     ["--workers and --dask-local exclude each other"]),
    (["compare", "north-korea-2011", "--policy", "baseline", "--scale", "3"], ["--scale", "(0, 1]"]),
    (["sweep", "north-korea-2011", "--param", "state.siphon_rate=0-0.2"], ["NAME=LOW:HIGH"]),
    (["sweep", "north-korea-2011", "--param", "state.siphon_rate=0:0.9"], ["[0, 0.25]"]),
    (["sweep", "north-korea-2011", "--grid", "bogus.field=1,2"], ["bogus.field", "neither a parameter"]),
    (["sweep", "north-korea-2011"], ["Nothing to sweep"]),
    (["sensitivity", "north-korea-2011", "--samples", "3"], ["power of 2"]),
    (["sensitivity", "north-korea-2011", "--method", "fast"], ["sobol, morris"]),
    (["sensitivity", "north-korea-2011", "--outcome", "happiness"], ["happiness", "consumption_kg"]),
])
def test_bad_input_is_one_clean_paragraph(tmp_path, args, needles):
    db = tmp_path / "keep.duckdb"
    result = invoke(*args[:2], *TINY, "--out", db, *args[2:])  # the case's own options win
    assert_clean_failure(result, *needles)
    assert not db.exists()


def test_bad_policy_file_names_file_and_field(tmp_path):
    pol = tmp_path / "pol.yaml"
    pol.write_text("policies:\n  p:\n    levers: {crackdown: 50}\n")
    result = invoke("compare", "north-korea-2011", "--policy", "p", "--policy-file", pol, *TINY,
                    "--out", tmp_path / "x.duckdb")
    assert result.exit_code == 2
    assert str(pol) in flat(result.output) and "policies.p.levers.crackdown" in result.output
    assert not (tmp_path / "x.duckdb").exists()


# ---------------------------------------------------------------------------- executors
def test_unreachable_dask_scheduler(tmp_path):
    plan = plan_compare(load("north-korea-2011"), [], replications=1, scale=0.001, years=1)
    db = tmp_path / "d.duckdb"
    with pytest.raises(NarcoflowError, match="Cannot reach the Dask scheduler at tcp://127.0.0.1:9"):
        run_plan(plan, db, DaskExecutor("tcp://127.0.0.1:9", connect_timeout=0.5))
    assert not db.exists()


def test_bit_identical_in_process_pool_and_dask(tmp_path):
    sc = load("north-korea-2011")
    plan = plan_compare(sc, ["border-crackdown"], replications=1, scale=0.001, years=1)
    dbs = {}
    for name, executor in (("local", LocalExecutor()), ("pool", ProcessExecutor(2)),
                           ("dask", DaskExecutor(n_workers=2))):
        dbs[name] = tmp_path / f"{name}.duckdb"
        assert run_plan(plan, dbs[name], executor).done == 2

    def frames(db):
        con = duckdb.connect(str(db), read_only=True)
        try:
            out = con.execute("SELECT run_id, metric, value FROM outcomes ORDER BY run_id, metric").df()
            met = con.execute("SELECT * FROM metrics ORDER BY run_id, step, metric, drug, region, channel").df()
            return out, met
        finally:
            con.close()

    local = frames(dbs["local"])
    for name in ("pool", "dask"):
        other = frames(dbs[name])
        pd.testing.assert_frame_equal(local[0], other[0], check_exact=True)
        pd.testing.assert_frame_equal(local[1], other[1], check_exact=True)


# ---------------------------------------------------------------------------- interruption
def _compare_cmd(db: Path) -> list[str]:
    return [EXE, "compare", "north-korea-2011", "--policy", "anti-corruption", "--policy", "demand-reduction",
            "--replications", "6", "--scale", "0.001", "--years", "2", "--out", str(db), "--workers", "1",
            "--no-plot"]


def test_sigkill_then_resume_leaves_no_duplicates(tmp_path):
    db = tmp_path / "k.duckdb"
    proc = subprocess.Popen(_compare_cmd(db), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            n = query(db, "SELECT count(*) FROM experiments") if db.exists() else None
            if n and n[0][0] >= 2:
                break
            time.sleep(0.02)
        assert proc.poll() is None, "the experiment finished before it could be killed"
        os.killpg(proc.pid, signal.SIGKILL)  # the command (and any worker process it started)
    finally:
        proc.wait()
    done_before = query(db, "SELECT count(*) FROM experiments")[0][0]
    assert 2 <= done_before < 18
    again = subprocess.run(_compare_cmd(db), capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert "already stored: skipped" in again.stderr
    assert query(db, "SELECT count(*), count(DISTINCT run_id) FROM runs") == [(18, 18)]
    assert query(db, "SELECT count(*), count(DISTINCT run_id) FROM experiments") == [(18, 18)]
    assert query(db, "SELECT count(*) FROM (SELECT run_id, metric FROM outcomes GROUP BY ALL "
                     "HAVING count(*) > 1)") == [(0,)]
    assert query(db, "SELECT count(*) FROM metrics WHERE run_id NOT IN (SELECT run_id FROM runs)") == [(0,)]
    assert query(db, "SELECT count(DISTINCT policy) FROM comparisons") == [(3,)]


def test_two_experiments_on_one_database_at_once(tmp_path):
    db = tmp_path / "two.duckdb"
    base = [EXE, "compare", "north-korea-2011", "--replications", "2", *TINY, "--out", str(db),
            "--workers", "1", "--no-plot"]
    procs = [subprocess.Popen(base + ["--policy", p], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for p in ("anti-corruption", "precursor-control")]
    results = [p.communicate(timeout=300) for p in procs]
    # each write waits while the other process commits, so both finish
    assert [p.returncode for p in procs] == [0, 0], [err for _, err in results]
    # the baseline runs are shared: 2 baseline + 2 + 2 policy runs, each stored once
    assert query(db, "SELECT count(*), count(DISTINCT run_id) FROM runs") == [(6, 6)]
    assert query(db, "SELECT count(DISTINCT experiment_id) FROM comparisons") == [(2,)]
