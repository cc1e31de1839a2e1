"""Issue 16: bad input never crashes, hangs, stores NaN or destroys data.

Property-based tests (Hypothesis) over the scenario schema and loader: random types, non-finite
and huge numbers, booleans, control characters, duplicate names and keys, impossible dates and
deep nesting always end in a `ScenarioError` naming the file and field (exit 2 through the CLI),
never another exception; Hypothesis's deadline bounds each example. Then one test per
data-destroying case the issue found.
"""

from __future__ import annotations

import copy
import datetime as dt
import errno
import hashlib
import math
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from fake_results import make_results
from narcoflow.cli import app
from narcoflow.engine.draws import binomial
from narcoflow.engine.ledger import Ledger
from narcoflow.errors import ConservationError, ScenarioError, StoreError
from narcoflow.outputs import OutputError, check_output, replacing
from narcoflow.results import store
from narcoflow.scenario import loader

runner = CliRunner()
RAW = loader._resolve_raw("north-korea-2011")[0]
FUZZ = settings(max_examples=60, deadline=dt.timedelta(seconds=5), derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


def _paths(obj, path=()):
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths(v, path + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _paths(v, path + (i,))
    if path:
        yield path


PATHS = sorted(set(_paths(RAW)), key=str)
LISTS = sorted({p for p in PATHS if isinstance(loader._lookup(RAW, p), list) and loader._lookup(RAW, p)}, key=str)
NAMED_LISTS = [("state", "facilities"), ("state", "export_channels"), ("private", "chemical_cities"),
               ("border", "crossings"), ("border", "destinations"), ("events",)]

nasty = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([math.nan, math.inf, -math.inf, 1e308, -1e308]),
    st.integers(min_value=-(2**70), max_value=2**70), st.booleans(), st.none(),
    st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x30F), max_size=20),
    st.dates(), st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
)


def _set(data, path, value):
    node = data
    for p in path[:-1]:
        node = node[p]
    node[path[-1]] = value


def _check_message(exc: ScenarioError) -> str:
    msg = str(exc)
    assert msg.strip(), "empty message"
    assert "\x1b" not in msg and "\r" not in msg, repr(msg[:200])
    assert "Traceback" not in msg
    return msg


def _validate_or_clear_error(raw: dict) -> None:
    """A scenario, every number finite, or a ScenarioError with a clean message: nothing else."""
    try:
        sc = loader._validate(raw, "fuzz.yaml")
    except ScenarioError as exc:
        msg = _check_message(exc)
        assert msg.startswith("fuzz.yaml"), msg[:200]
        return
    for path, p in loader.iter_params(sc):
        assert math.isfinite(p.value), path
    assert sc.n_steps >= 1 and sc.end.year <= 2300


@FUZZ
@given(path=st.sampled_from(PATHS), value=nasty)
def test_any_value_anywhere_is_valid_or_a_clear_error(path, value):
    raw = copy.deepcopy(RAW)
    _set(raw, path, value)
    _validate_or_clear_error(raw)


@FUZZ
@given(path=st.sampled_from(LISTS), op=st.sampled_from(["empty", "dup", "drop"]), data=st.data())
def test_list_edits_are_valid_or_a_clear_error(path, op, data):
    raw = copy.deepcopy(RAW)
    items = loader._lookup(raw, path)
    if op == "empty":
        items.clear()
    elif op == "dup":
        items.append(copy.deepcopy(items[data.draw(st.integers(0, len(items) - 1))]))
    else:
        del items[data.draw(st.integers(0, len(items) - 1))]
    _validate_or_clear_error(raw)


@pytest.mark.parametrize("path", NAMED_LISTS, ids=".".join)
def test_duplicate_names_are_rejected(path):
    raw = copy.deepcopy(RAW)
    items = loader._lookup(raw, path)
    items.append(copy.deepcopy(items[-1]))
    with pytest.raises(ScenarioError, match="names must be unique"):
        loader._validate(raw, "dup.yaml")


@FUZZ
@given(year=st.integers(0, 12000), month=st.integers(0, 14), day=st.integers(0, 40),
       depth=st.integers(1, 3000), dup=st.booleans())
def test_yaml_dates_nesting_and_duplicate_keys(tmp_path_factory, year, month, day, depth, dup):
    folder = tmp_path_factory.mktemp("yaml")
    text = (f"base: north-korea-2011\nstart: {year:04d}-{month:02d}-{day:02d}\n"
            + ("years: 2\nyears: 3\n" if dup else "")
            + "description: " + "[" * depth + "]" * depth + "\n")
    f = folder / "s.yaml"
    f.write_text(text)
    try:
        loader.load(f)
    except ScenarioError as exc:
        _check_message(exc)
        return
    assert not dup and depth < loader.MAX_DEPTH and 1900 <= year <= 2100


def test_base_chains_and_loops_by_resolved_path(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.yaml").write_text("base: sub/../a.yaml\n")
    with pytest.raises(ScenarioError, match="loops back"):
        loader.load(tmp_path / "a.yaml")
    for i in range(40):
        (tmp_path / f"c{i}.yaml").write_text(f"base: c{i + 1}.yaml\n")
    (tmp_path / "c40.yaml").write_text("base: north-korea-2011\n")
    with pytest.raises(ScenarioError, match="chain longer than"):
        loader.load(tmp_path / "c0.yaml")


def test_big_files_and_alias_bombs_are_refused_before_parsing(tmp_path):
    big = tmp_path / "big.yaml"
    big.write_text("base: north-korea-2011\n" + "# padding\n" * 200_000)
    with pytest.raises(ScenarioError, match="at most 1,000,000 bytes"):
        loader.load(big)
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
        for p, c in zip("abcdefgh", "bcdefghi", strict=True))
    (tmp_path / "bomb.yaml").write_text(bomb)
    with pytest.raises(ScenarioError, match="too many values"):
        loader.load(tmp_path / "bomb.yaml")


def test_control_characters_never_reach_the_terminal(tmp_path):
    f = tmp_path / "ansi.yaml"
    f.write_text('base: north-korea-2011\nname: "\\e[31mred"\n"\\e[2Jkey": 1\n')
    res = runner.invoke(app, ["validate", str(f)])
    assert res.exit_code == 2 and "\x1b" not in res.output and "Traceback" not in res.output
    assert "control characters" in res.output


# ---------------------------------------------------------------------------- through the CLI
@pytest.fixture
def db(tmp_path):
    path = tmp_path / "runs.duckdb"
    store.save(make_results(seed=0), path)
    store.save(make_results(seed=1), path)
    return path


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@settings(max_examples=8, deadline=dt.timedelta(seconds=30), derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(path=st.sampled_from(PATHS), value=st.sampled_from([math.nan, math.inf, 1e308, True, "x", None, -1]))
def test_cli_exits_2_and_the_database_is_untouched(tmp_path_factory, path, value):
    folder = tmp_path_factory.mktemp("cli")
    db = folder / "runs.duckdb"
    store.save(make_results(seed=0), db)
    before = _digest(db)
    raw = copy.deepcopy(RAW)
    _set(raw, path, value)
    f = folder / "s.yaml"
    f.write_text(yaml.safe_dump(raw))
    try:
        loader.load(f)
    except ScenarioError:
        res = runner.invoke(app, ["run", str(f), "--out", str(db), "--scale", "0.0005"])
        assert res.exit_code == 2, res.output
        assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
        assert "Traceback" not in res.output
    assert _digest(db) == before


# ---------------------------------------------------------------------------- data destroyed
def test_export_over_its_own_database_is_refused(db):
    before = _digest(db)
    rid = store.list_runs(db).run_id[0]
    res = runner.invoke(app, ["export", rid, "--db", str(db), "--out", str(db)])
    assert res.exit_code == 2  # not named *.parquet: refused anyway
    link = db.with_name("runs.parquet")
    link.symlink_to(db)  # the database under a Parquet name
    res = runner.invoke(app, ["export", rid, "--db", str(db), "--out", str(link), "--force"])
    assert res.exit_code == 2 and "input database" in res.output, res.output
    assert _digest(db) == before


def test_report_over_another_duckdb_file_is_refused(db, tmp_path):
    other = tmp_path / "other.duckdb"
    store.save(make_results(seed=3), other)
    before = _digest(other)
    rid = store.list_runs(db).run_id[0]
    res = runner.invoke(app, ["report", rid, "--db", str(db), "--out", str(other)])
    assert res.exit_code == 2 and "DuckDB database" in res.output and "--force" in res.output
    assert _digest(other) == before
    with pytest.raises(OutputError, match="input database"):  # not even with force
        check_output(db, kind="html", inputs=[db], force=True)


def test_outputs_never_replace_a_device_a_pipe_or_a_directory(db, tmp_path):
    fifo = tmp_path / "fifo.parquet"
    os.mkfifo(fifo)
    (tmp_path / "dir.parquet").mkdir()
    rid = store.list_runs(db).run_id[0]
    for out in (fifo, tmp_path / "dir.parquet"):
        res = runner.invoke(app, ["export", rid, "--db", str(db), "--out", str(out)])
        assert res.exit_code == 2 and ("Cannot write" in res.output or "is a directory" in res.output), res.output
    assert fifo.exists() and not fifo.is_file() and (tmp_path / "dir.parquet").is_dir()
    with pytest.raises(OutputError, match="not a regular file"):
        check_output("/dev/null", kind="html", force=True)
    with pytest.raises(StoreError, match="not a regular file"):  # opening a fifo would block
        store.check_writable(fifo)
    with pytest.raises(StoreError, match="not a regular file"):
        store.list_runs(fifo)


def test_a_failed_write_leaves_the_old_file(tmp_path):
    out = tmp_path / "report.html"
    out.write_text("<!DOCTYPE html><p>old</p>")
    with pytest.raises(OutputError, match="disk is full"):
        with replacing(out) as tmp:
            tmp.write_text("<!DOCTYPE html><p>half")
            raise OSError(errno.ENOSPC, "No space left on device")
    assert out.read_text() == "<!DOCTYPE html><p>old</p>"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]


@pytest.mark.parametrize("args", [["--years", "0.001"], ["--seed", str(2**63)], ["--years", "nan"]],
                         ids=["zero-steps", "seed-2^63", "years-nan"])
def test_bad_run_settings_fail_before_simulating(db, args):
    before = _digest(db)
    res = runner.invoke(app, ["run", "north-korea-2011", "--out", str(db), *args])
    assert res.exit_code == 2 and "Traceback" not in res.output, res.output
    assert _digest(db) == before


def test_foreign_runs_table_is_refused_before_simulating(tmp_path):
    foreign = tmp_path / "foreign.duckdb"
    con = duckdb.connect(str(foreign))
    con.execute("CREATE TABLE runs (id INTEGER, note VARCHAR)")
    con.close()
    before = _digest(foreign)
    with pytest.raises(StoreError, match="narcoflow did not make"):
        store.check_writable(foreign)
    with pytest.raises(StoreError, match="narcoflow did not make"):
        store.save(make_results(), foreign)
    assert _digest(foreign) == before


def test_corrupt_and_full_are_not_called_busy(db, tmp_path):
    corrupt = tmp_path / "corrupt.duckdb"
    corrupt.write_bytes(db.read_bytes()[:5000])
    with pytest.raises(StoreError) as err:
        store.list_runs(corrupt)
    assert "busy" not in str(err.value)
    full = store.store_error(duckdb.IOException("Could not write file: No space left on device"), db)
    assert "disk is full" in str(full) and "busy" not in str(full)
    busy = store.store_error(duckdb.IOException('Could not set lock on file "x": Conflicting lock'), db)
    assert "busy" in str(busy)


def test_a_busy_database_never_loses_the_run(db, tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import duckdb, sys, time
        con = duckdb.connect({str(db)!r})
        print("locked", flush=True)
        time.sleep(60)
    """)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        res = make_results(seed=7)
        run_id, where, why = store.save_or_beside(res, db, timeout=0.5)
        assert run_id == res.run_id and where != db and "busy" in why
        assert store.load_results(where, run_id).run_id == run_id
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()


# ---------------------------------------------------------------------------- engine
def test_ledger_treats_nan_and_infinity_as_violations():
    ledger = Ledger(1)
    ledger.produced[:] = 5.0
    with pytest.raises(ConservationError, match="non-finite"):
        ledger.check(3, np.array([np.nan]), np.zeros(1))
    with pytest.raises(ConservationError, match="non-finite"):
        ledger.check(3, np.array([5.0]), np.array([np.inf]))
    ledger.check(3, np.array([5.0]), np.zeros(1))


def test_binomial_rejects_a_nan_probability_instead_of_looping():
    state = np.array([12345], dtype=np.uint64)
    with pytest.raises(ValueError, match="NaN probability"):
        binomial(state, 1000, math.nan)
    assert binomial(state, 10, -0.5) == 0 and binomial(state, 10, 1.5) == 10


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="forkserver and pidfd: Linux")
def test_pool_workers_die_with_their_parent(tmp_path):
    script = textwrap.dedent("""
        import os, sys
        from narcoflow.experiments.executors import ProcessExecutor

        def pid(_):
            return os.getpid()

        if __name__ == "__main__":
            with ProcessExecutor(2) as ex:
                pids = sorted(set(ex.imap_unordered(pid, list(range(8)))))
                print(" ".join(map(str, pids)), flush=True)
                sys.stdin.readline()
    """)
    (tmp_path / "pool.py").write_text(script)
    parent = subprocess.Popen([sys.executable, str(tmp_path / "pool.py")], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    pids = [int(p) for p in parent.stdout.readline().split()]
    assert pids
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    parent.stdout.close()
    parent.stdin.close()

    def alive(pid):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        with open(f"/proc/{pid}/stat") as fh:  # a zombie waiting for its reaper is gone
            return fh.read().split(") ")[1][0] != "Z"

    for _ in range(100):  # a bound on the polling, not a timing assertion
        if not any(alive(p) for p in pids):
            break
        time.sleep(0.1)
    assert not any(alive(p) for p in pids)
