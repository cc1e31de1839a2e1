"""DuckDB store: round trips, replace-not-duplicate, and errors that leave files intact."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from fake_results import make_results
from narcoflow.errors import StoreError
from narcoflow.results import store
from narcoflow.results.results import METRIC_COLUMNS
from narcoflow.results.summary import summarize


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _count(path: Path, table: str) -> int:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.sql(f"SELECT count(*) FROM {table}").fetchall()[0][0]


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "runs.duckdb"
    store.save(make_results(seed=0), path)
    return path


def test_round_trip_metrics_equal(tmp_path: Path):
    res = make_results()
    path = tmp_path / "rt.duckdb"
    run_id = store.save(res, path)
    assert run_id == res.run_id
    loaded = store.load_metrics(path, run_id)
    assert list(loaded.columns) == METRIC_COLUMNS
    pd.testing.assert_frame_equal(loaded, res.metrics)
    back = store.load_results(path, run_id)
    pd.testing.assert_frame_equal(back.metrics, res.metrics)
    for key in ("run_id", "scenario", "seed", "scale", "start", "steps", "version", "parameters"):
        assert back.info[key] == res.info[key], key
    assert back.total("produced_g") == pytest.approx(res.total("produced_g"))


def test_identical_run_replaces_instead_of_duplicating(db: Path):
    res = make_results(seed=0)
    n_rows = len(res.metrics)
    assert store.save(res, db) == res.run_id  # saved a second time
    runs = store.list_runs(db)
    assert runs["run_id"].tolist() == [res.run_id]
    assert runs["rows"].tolist() == [n_rows]
    assert _count(db, "metrics") == n_rows

    other = make_results(seed=5)
    store.save(other, db)
    assert set(store.list_runs(db)["run_id"]) == {res.run_id, other.run_id}
    assert _count(db, "metrics") == n_rows + len(other.metrics)


def test_load_run_info_and_prefix(db: Path):
    res = make_results(seed=0)
    info = store.load_run(db, res.run_id[:6])
    assert info["run_id"] == res.run_id
    assert info["start"] == res.info["start"]
    assert info["seed"] == 0 and info["steps"] == res.info["steps"]
    assert "created_at" in info


def test_unknown_run_id_lists_known_ids(db: Path):
    known = make_results(seed=0).run_id
    for call in (store.load_run, store.load_metrics, store.load_results):
        with pytest.raises(StoreError) as err:
            call(db, "no-such-run")
        assert "no-such-run" in str(err.value) and known in str(err.value)


def test_export_parquet(db: Path, tmp_path: Path):
    res = make_results(seed=0)
    out = store.export_parquet(db, res.run_id, tmp_path / "run.parquet")
    df = pd.read_parquet(out)
    assert (df["run_id"] == res.run_id).all()
    assert list(df.columns[:4]) == ["run_id", "policy", "levers", "draw"]  # provenance (unknown here)
    assert df[["policy", "levers", "draw"]].isna().all().all()
    pd.testing.assert_frame_equal(df.drop(columns=["run_id", "policy", "levers", "draw"]), res.metrics)
    with pytest.raises(StoreError, match="does not exist"):
        store.export_parquet(db, res.run_id, tmp_path / "missing" / "run.parquet")


def test_non_duckdb_file_left_byte_identical(tmp_path: Path):
    path = tmp_path / "notes.duckdb"
    path.write_text("these are my notes, not a database\n" * 20)
    before = _digest(path)
    with pytest.raises(StoreError, match="not a DuckDB database"):
        store.check_writable(path)
    with pytest.raises(StoreError, match="not a DuckDB database"):
        store.save(make_results(), path)
    with pytest.raises(StoreError, match="not a DuckDB database"):
        store.list_runs(path)
    assert _digest(path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.duckdb"]


def test_missing_directory(tmp_path: Path):
    target = tmp_path / "nope" / "runs.duckdb"
    with pytest.raises(StoreError, match="does not exist"):
        store.check_writable(target)
    with pytest.raises(StoreError, match="does not exist"):
        store.save(make_results(), target)
    assert not target.parent.exists()


def test_missing_database_for_reading(tmp_path: Path):
    with pytest.raises(StoreError, match="No results database"):
        store.list_runs(tmp_path / "absent.duckdb")
    assert not (tmp_path / "absent.duckdb").exists()


def test_check_writable_creates_nothing(tmp_path: Path):
    store.check_writable(tmp_path / "new.duckdb")
    assert list(tmp_path.iterdir()) == []


def test_busy_database(db: Path):
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, duckdb; con = duckdb.connect(sys.argv[1]); "
         "print('ready', flush=True); sys.stdin.read()", str(db)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(StoreError, match="busy"):
            store.check_writable(db)
        with pytest.raises(StoreError, match="busy"):
            store.save(make_results(seed=9), db)
        with pytest.raises(StoreError, match="busy"):
            store.list_runs(db)
    finally:
        holder.stdin.close()
        holder.wait(timeout=60)
        holder.stdout.close()
    assert store.list_runs(db)["run_id"].tolist() == [make_results(seed=0).run_id]


def test_summary_tables_from_stored_run(db: Path):
    tables = summarize(store.load_metrics(db, make_results().run_id))
    prod = tables["production"].set_index(["sector", "drug"])["kg"]
    assert prod[("state", "methamphetamine")] == pytest.approx(75.0)
    assert prod[("state", "heroin")] == pytest.approx(30.0)
    assert tables["users"]["users"].sum() == pytest.approx(2 * 30400.0)
    assert set(tables["seizures"]["agency"]) == {"mps", "china"}
    assert set(tables["exports"]["destination"]) == {"China", "Japan"}
    overview = tables["overview"].set_index("quantity")["value"]
    assert overview["State export revenue"] == pytest.approx(0.48)
    assert overview["Retail price at the end (mean over provinces)"] == pytest.approx(21.5)
    # Seizures are split: the provinces' (mps) in the country, China's abroad.
    assert overview["Seizures in the country"] == pytest.approx(0.6)
    assert overview["Seizures abroad"] == pytest.approx(0.9)
    where = tables["seizures"].set_index("agency")["where"]
    assert where["mps"] == "in the country" and where["china"] == "abroad"


def test_summary_price_mean_is_weighted_by_population(db: Path):
    """With the run's info, each province's final retail price weighs by its population."""
    info = {"parameters": json.dumps({"regions": [{"name": "Pyongyang", "population": 3_000_000},
                                                  {"name": "North Hamgyong", "population": 1_000_000}]})}
    tables = summarize(store.load_metrics(db, make_results().run_id), info)
    overview = tables["overview"].set_index("quantity")["value"]
    # final prices 21 (Pyongyang) and 22 (North Hamgyong): (3 * 21 + 1 * 22) / 4
    assert overview["Retail price at the end (mean over provinces, weighted by population)"] == \
        pytest.approx(21.25)


def test_engine_results_round_trip(tmp_path: Path):
    """Needs the engine: a real run stored and loaded back unchanged."""
    from narcoflow.engine import Simulation
    from narcoflow.scenario import load

    scenario = load("north-korea-2011", years=1, events=[])
    res = Simulation(scenario, seed=2, scale=0.002).run().results
    path = tmp_path / "engine.duckdb"
    run_id = store.save(res, path)
    pd.testing.assert_frame_equal(store.load_metrics(path, run_id), res.metrics)
    assert store.load_run(path, run_id)["parameters"] == res.info["parameters"]
