"""The experiment tables of a results database, next to ``runs`` and ``metrics``.

=====================  =========================================================================
table                  one row per
=====================  =========================================================================
``experiment_info``    experiment: id, kind (compare/sweep/sensitivity), scenario, definition
``experiments``        run of an experiment: point (policy or sample), replication, seed, run id
``experiment_values``  parameter value of a sweep or sensitivity point
``outcomes``           headline outcome of a run (`narcoflow.experiments.outcomes`)
``comparisons``        policy x outcome of a comparison: mean, CI, paired effect vs. baseline
                       (absolute, relative) with CIs, probability of the intended sign
``sensitivity``        parameter x statistic of a sensitivity analysis, with its CI
``estimates``          quantity x filters x calendar year of an estimate: median, 50 % and 90 %
                       intervals, shares of parameter and run-to-run variance
=====================  =========================================================================

A run is *done* once its ``outcomes`` rows are committed (after its ``runs``/``metrics`` rows,
when those are kept), so an interrupted experiment resumes by skipping done runs. The parent
process is the only writer; each write is one short transaction, retried while another process
holds the database, and reported as "database is busy" after ``busy_timeout`` seconds.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import pandas as pd

from narcoflow.errors import StoreError
from narcoflow.results import store

T = TypeVar("T")

#: Seconds a write waits for another process to release the database.
BUSY_TIMEOUT = 60.0

SCHEMA = """
CREATE TABLE IF NOT EXISTS experiment_info (
    experiment_id VARCHAR PRIMARY KEY,
    kind VARCHAR NOT NULL,
    scenario VARCHAR NOT NULL,
    runs INTEGER NOT NULL,
    version VARCHAR NOT NULL,
    created_at TIMESTAMP NOT NULL,
    definition JSON
);
CREATE TABLE IF NOT EXISTS experiments (
    experiment_id VARCHAR NOT NULL,
    kind VARCHAR NOT NULL,
    point INTEGER NOT NULL,
    policy VARCHAR,
    replication INTEGER NOT NULL,
    seed BIGINT NOT NULL,
    scale DOUBLE NOT NULL,
    steps INTEGER NOT NULL,
    run_id VARCHAR NOT NULL,
    PRIMARY KEY (experiment_id, point, replication)
);
CREATE TABLE IF NOT EXISTS experiment_values (
    experiment_id VARCHAR NOT NULL,
    point INTEGER NOT NULL,
    parameter VARCHAR NOT NULL,
    value DOUBLE,
    PRIMARY KEY (experiment_id, point, parameter)
);
CREATE TABLE IF NOT EXISTS outcomes (
    run_id VARCHAR NOT NULL,
    metric VARCHAR NOT NULL,
    value DOUBLE,
    PRIMARY KEY (run_id, metric)
);
CREATE TABLE IF NOT EXISTS comparisons (
    experiment_id VARCHAR NOT NULL,
    policy VARCHAR NOT NULL,
    metric VARCHAR NOT NULL,
    mean DOUBLE,
    ci_low DOUBLE,
    ci_high DOUBLE,
    effect_vs_baseline DOUBLE,
    effect_ci_low DOUBLE,
    effect_ci_high DOUBLE,
    replications INTEGER NOT NULL,
    PRIMARY KEY (experiment_id, policy, metric)
);
ALTER TABLE comparisons ADD COLUMN IF NOT EXISTS effect_rel DOUBLE;
ALTER TABLE comparisons ADD COLUMN IF NOT EXISTS effect_rel_ci_low DOUBLE;
ALTER TABLE comparisons ADD COLUMN IF NOT EXISTS effect_rel_ci_high DOUBLE;
ALTER TABLE comparisons ADD COLUMN IF NOT EXISTS p_intended DOUBLE;
CREATE TABLE IF NOT EXISTS sensitivity (
    experiment_id VARCHAR NOT NULL,
    method VARCHAR NOT NULL,
    outcome VARCHAR NOT NULL,
    parameter VARCHAR NOT NULL,
    statistic VARCHAR NOT NULL,
    value DOUBLE,
    ci_low DOUBLE,
    ci_high DOUBLE,
    PRIMARY KEY (experiment_id, outcome, parameter, statistic)
);
CREATE TABLE IF NOT EXISTS estimates (
    estimate_id VARCHAR NOT NULL,
    quantity VARCHAR NOT NULL,
    unit VARCHAR,
    drug VARCHAR,
    region VARCHAR,
    destination VARCHAR,
    role VARCHAR,
    year INTEGER NOT NULL,
    median DOUBLE,
    q05 DOUBLE,
    q25 DOUBLE,
    q75 DOUBLE,
    q95 DOUBLE,
    mean DOUBLE,
    share_parameters DOUBLE,
    share_randomness DOUBLE,
    draws INTEGER NOT NULL,
    seeds INTEGER NOT NULL
);
"""

EXPERIMENT_COLUMNS = ("experiment_id", "kind", "point", "policy", "replication", "seed", "scale",
                      "steps", "run_id")
COMPARISON_COLUMNS = ("experiment_id", "policy", "metric", "mean", "ci_low", "ci_high",
                      "effect_vs_baseline", "effect_ci_low", "effect_ci_high", "effect_rel",
                      "effect_rel_ci_low", "effect_rel_ci_high", "p_intended", "replications")
SENSITIVITY_COLUMNS = ("experiment_id", "method", "outcome", "parameter", "statistic", "value",
                       "ci_low", "ci_high")

ESTIMATE_COLUMNS = ("estimate_id", "quantity", "unit", "drug", "region", "destination", "role", "year",
                    "median", "q05", "q25", "q75", "q95", "mean", "share_parameters",
                    "share_randomness", "draws", "seeds")


_is_busy = store.is_busy


def _busy_error(path: Path) -> StoreError:
    return StoreError(f"The database {path} is busy: another process (another narcoflow "
                      "experiment or run, a notebook or the duckdb shell) has kept it open for "
                      f"more than {BUSY_TIMEOUT:g} s. Runs finished so far are saved; close that "
                      "process or choose another --out file, then run the same command again "
                      "to resume.")


def retry_busy(fn: Callable[[], T], path: str | os.PathLike, *,
               timeout: float | None = None) -> T:
    """Call ``fn`` until it does not fail because ``path`` is locked, for up to ``timeout`` s
    (`narcoflow.results.store.retry_busy` with the experiments' message)."""
    return store.retry_busy(fn, path, timeout=BUSY_TIMEOUT if timeout is None else timeout,
                            busy_error=_busy_error)


@contextmanager
def _connect(path: Path, *, read_only: bool) -> Iterator[duckdb.DuckDBPyConnection]:
    con = duckdb.connect(str(path), read_only=read_only)
    try:
        yield con
    finally:
        con.close()


def _write(path: str | os.PathLike, body: Callable[[duckdb.DuckDBPyConnection], None]) -> None:
    """Run ``body`` in one transaction on a fresh read-write connection (retried while busy)."""
    path = Path(path)

    def attempt() -> None:
        with _connect(path, read_only=False) as con:
            con.execute("BEGIN TRANSACTION")
            try:
                con.execute(SCHEMA)
                body(con)
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise

    retry_busy(attempt, path)


def _read(path: str | os.PathLike, query: Callable[[duckdb.DuckDBPyConnection], T], default: T) -> T:
    """Run ``query`` on a read-only connection; ``default`` if the file or a table is missing."""
    path = Path(path)
    if not path.exists():
        return default

    def attempt() -> T:
        with _connect(path, read_only=True) as con:
            try:
                return query(con)
            except duckdb.CatalogException:
                return default

    return retry_busy(attempt, path)


def check_writable(path: str | os.PathLike) -> None:
    """`narcoflow.results.store.check_writable`, waiting while another process writes."""
    retry_busy(lambda: store.check_writable(path), path)


def save_run(results: Any, path: str | os.PathLike) -> str:
    """`narcoflow.results.store.save` (one transaction), waiting while another process writes."""
    return retry_busy(lambda: store.save(results, path), path)


# ---------------------------------------------------------------------------- writes
def write_experiment(path: str | os.PathLike, *, experiment_id: str, kind: str, scenario: str,
                     runs: int, version: str, definition: dict[str, Any],
                     values: pd.DataFrame | None) -> None:
    """Record an experiment's definition and its points' parameter values (idempotent)."""
    created = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    frame = None
    if values is not None and len(values):
        frame = values[["point", "parameter", "value"]].copy()
        frame.insert(0, "experiment_id", experiment_id)

    def body(con: duckdb.DuckDBPyConnection) -> None:
        exists = con.execute("SELECT 1 FROM experiment_info WHERE experiment_id = ?",
                             [experiment_id]).fetchone()
        if exists is None:
            con.execute("INSERT INTO experiment_info VALUES (?, ?, ?, ?, ?, ?, ?)",
                        [experiment_id, kind, scenario, runs, version, created,
                         json.dumps(definition, sort_keys=True, default=str)])
        con.execute("DELETE FROM experiment_values WHERE experiment_id = ?", [experiment_id])
        if frame is not None:
            con.append("experiment_values", frame, by_name=True)

    _write(path, body)


def record_runs(path: str | os.PathLike, outcomes: dict[str, dict[str, float]],
                rows: Sequence[dict[str, Any]]) -> None:
    """Commit the outcomes of finished runs and their ``experiments`` rows in one transaction."""
    out = pd.DataFrame(
        [(rid, metric, float(value)) for rid, values in outcomes.items() for metric, value in values.items()],
        columns=["run_id", "metric", "value"])
    exp = pd.DataFrame(list(rows), columns=list(EXPERIMENT_COLUMNS))

    def body(con: duckdb.DuckDBPyConnection) -> None:
        if len(out):
            con.register("new_outcomes", out)
            con.execute("INSERT OR REPLACE INTO outcomes SELECT run_id, metric, value FROM new_outcomes")
            con.unregister("new_outcomes")
        if len(exp):
            con.register("new_rows", exp)
            con.execute(f"INSERT OR REPLACE INTO experiments SELECT {', '.join(EXPERIMENT_COLUMNS)} "
                        "FROM new_rows")
            con.unregister("new_rows")

    _write(path, body)


def _replace(path: str | os.PathLike, table: str, experiment_id: str, frame: pd.DataFrame,
             columns: Sequence[str]) -> None:
    frame = frame.copy()
    frame.insert(0, "experiment_id", experiment_id)
    frame = frame[list(columns)]

    def body(con: duckdb.DuckDBPyConnection) -> None:
        con.execute(f"DELETE FROM {table} WHERE experiment_id = ?", [experiment_id])
        if len(frame):
            con.append(table, frame, by_name=True)

    _write(path, body)


def write_comparisons(path: str | os.PathLike, experiment_id: str, frame: pd.DataFrame) -> None:
    """Replace the ``comparisons`` rows of one experiment."""
    _replace(path, "comparisons", experiment_id, frame, COMPARISON_COLUMNS)


def write_sensitivity(path: str | os.PathLike, experiment_id: str, frame: pd.DataFrame) -> None:
    """Replace the ``sensitivity`` rows of one experiment for the outcomes in ``frame``."""
    frame = frame.copy()
    frame.insert(0, "experiment_id", experiment_id)
    frame = frame[list(SENSITIVITY_COLUMNS)]
    outcomes = sorted(set(frame["outcome"]))

    def body(con: duckdb.DuckDBPyConnection) -> None:
        for outcome in outcomes:
            con.execute("DELETE FROM sensitivity WHERE experiment_id = ? AND outcome = ?",
                        [experiment_id, outcome])
        if len(frame):
            con.append("sensitivity", frame, by_name=True)

    _write(path, body)


def write_estimates(path: str | os.PathLike, estimate_id: str, frame: pd.DataFrame) -> None:
    """Replace the ``estimates`` rows of one estimate (`narcoflow.experiments.estimates`)."""
    frame = frame.copy()
    frame.insert(0, "estimate_id", estimate_id)
    frame = frame[list(ESTIMATE_COLUMNS)]

    def body(con: duckdb.DuckDBPyConnection) -> None:
        con.execute("DELETE FROM estimates WHERE estimate_id = ?", [estimate_id])
        if len(frame):
            con.append("estimates", frame, by_name=True)

    _write(path, body)


def read_estimates(path: str | os.PathLike, estimate_id: str) -> pd.DataFrame:
    """The ``estimates`` rows of one estimate, in table order (empty if none)."""
    def query(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
        return con.execute("SELECT * EXCLUDE (estimate_id) FROM estimates WHERE estimate_id = ? "
                           "ORDER BY rowid", [estimate_id]).df()

    return _read(path, query, pd.DataFrame(columns=list(ESTIMATE_COLUMNS[1:])))


# ---------------------------------------------------------------------------- reads
def done_runs(path: str | os.PathLike, run_ids: Sequence[str], *, with_metrics: bool,
              outcomes: Sequence[str] | None = None, need_outcomes: bool = True) -> set[str]:
    """The ids among ``run_ids`` whose outcomes (all of ``outcomes`` when given; any without)
    and, if asked, stored run are committed. ``need_outcomes=False``: the stored runs alone."""
    if not run_ids:
        return set()
    ids = pd.DataFrame({"run_id": list(run_ids)})
    names = pd.DataFrame({"metric": list(outcomes or [])}, dtype="object")

    def query(con: duckdb.DuckDBPyConnection) -> set[str]:
        con.register("wanted", ids)
        if not need_outcomes:
            return {r[0] for r in con.execute(
                "SELECT DISTINCT r.run_id FROM runs r JOIN wanted w USING (run_id)").fetchall()}
        if outcomes:
            con.register("wanted_outcomes", names)
            sql = ("SELECT o.run_id FROM outcomes o JOIN wanted w USING (run_id) "
                   "JOIN wanted_outcomes n ON o.metric = n.metric GROUP BY o.run_id "
                   f"HAVING count(DISTINCT o.metric) = {len(set(outcomes))}")
            sql = f"SELECT DISTINCT d.run_id FROM ({sql}) d"
        else:
            sql = "SELECT DISTINCT o.run_id FROM outcomes o JOIN wanted w USING (run_id)"
            sql = f"SELECT DISTINCT d.run_id FROM ({sql}) d"
        if with_metrics:
            sql += " JOIN runs r USING (run_id)"
        return {r[0] for r in con.execute(sql).fetchall()}

    return _read(path, query, set())


def experiment_outcomes(path: str | os.PathLike, experiment_id: str) -> pd.DataFrame:
    """``point, policy, replication, seed, run_id, metric, value`` of one experiment's finished
    runs, ordered by point, replication and metric name (never by completion order)."""
    empty = pd.DataFrame(columns=["point", "policy", "replication", "seed", "run_id", "metric", "value"])

    def query(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
        return con.execute("""
            SELECT e.point, e.policy, e.replication, e.seed, e.run_id, o.metric, o.value
            FROM experiments e JOIN outcomes o USING (run_id)
            WHERE e.experiment_id = ?
            ORDER BY e.point, e.replication, o.metric
        """, [experiment_id]).df()

    return _read(path, query, empty)


def experiment_values(path: str | os.PathLike, experiment_id: str) -> pd.DataFrame:
    """``point, parameter, value`` of one experiment, ordered by point and parameter."""
    empty = pd.DataFrame(columns=["point", "parameter", "value"])

    def query(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
        return con.execute("SELECT point, parameter, value FROM experiment_values "
                           "WHERE experiment_id = ? ORDER BY point, parameter", [experiment_id]).df()

    return _read(path, query, empty)


def read_table(path: str | os.PathLike, table: str, experiment_id: str | None = None) -> pd.DataFrame:
    """A whole experiment table, or the rows of one experiment."""
    if table not in {"experiment_info", "experiments", "experiment_values", "outcomes",
                     "comparisons", "sensitivity", "estimates"}:
        raise StoreError(f"{table!r} is not an experiment table.")

    def query(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
        if experiment_id is None:
            return con.execute(f"SELECT * FROM {table}").df()
        key = "estimate_id" if table == "estimates" else "experiment_id"
        return con.execute(f"SELECT * FROM {table} WHERE {key} = ?", [experiment_id]).df()

    return _read(path, query, pd.DataFrame())
