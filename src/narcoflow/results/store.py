"""DuckDB store of runs: one file holds table ``runs`` (one row per run) and ``metrics``.

Run ids are deterministic (`narcoflow.results.results.run_id_for`), so saving the same run
again replaces its rows instead of duplicating them. Every failure raises `StoreError` with
the path and what to do; an existing file is never deleted, and a file that is not a DuckDB
database is never opened by DuckDB. Reads open the database read-only.

Examples
--------
>>> run_id = save(results, "narcoflow.duckdb")                    # doctest: +SKIP
>>> list_runs("narcoflow.duckdb")[["run_id", "scenario", "seed"]]  # doctest: +SKIP
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from narcoflow.errors import StoreError
from narcoflow.results.results import METRIC_COLUMNS, Results
from narcoflow.settings import DEFAULT_DB

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id VARCHAR PRIMARY KEY,
    scenario VARCHAR NOT NULL,
    seed BIGINT NOT NULL,
    scale DOUBLE NOT NULL,
    start DATE NOT NULL,
    steps INTEGER NOT NULL,
    version VARCHAR NOT NULL,
    created_at TIMESTAMP NOT NULL,
    parameters JSON
);
CREATE TABLE IF NOT EXISTS metrics (
    run_id VARCHAR NOT NULL,
    step INTEGER NOT NULL,
    date DATE NOT NULL,
    metric VARCHAR NOT NULL,
    drug VARCHAR,
    region VARCHAR,
    channel VARCHAR,
    value DOUBLE
);
"""
_RUN_COLUMNS = ("run_id", "scenario", "seed", "scale", "start", "steps", "version",
                "created_at", "parameters")
_STRING_COLUMNS = ("metric", "drug", "region", "channel")
_DUCKDB_MAGIC = b"DUCK"  # bytes 8..12 of every DuckDB database file


# ---------------------------------------------------------------------------- connections
def _check_is_duckdb(path: Path, *, writing: bool) -> None:
    """Raise unless ``path`` (which exists) starts like a DuckDB database file."""
    hint = " Choose another file name (for example narcoflow.duckdb)." if writing else ""
    if path.is_dir():
        raise StoreError(f"{path} is a directory, not a results database file.{hint}")
    try:
        with path.open("rb") as fh:
            head = fh.read(12)
    except OSError as exc:
        raise StoreError(f"Cannot read {path} ({exc.strerror}).") from None
    if head[8:12] != _DUCKDB_MAGIC:
        raise StoreError(f"{path} exists but is not a DuckDB database; it was left "
                         f"untouched.{hint}")


def _store_error(exc: duckdb.Error, path: Path) -> StoreError:
    msg = str(exc)
    if "lock" in msg.lower():
        return StoreError(f"The database {path} is busy: another process (another narcoflow "
                          "run, a notebook or the duckdb shell) has it open. Close that "
                          "process or choose another file, then try again.")
    if "different configuration" in msg:
        return StoreError(f"The database {path} is already open in this process with other "
                          "settings; close that connection first.")
    return StoreError(f"Cannot use the results database {path}: {msg}")


@contextmanager
def _connect(path: str | os.PathLike, *, read_only: bool) -> Iterator[duckdb.DuckDBPyConnection]:
    path = Path(path)
    if read_only and not path.exists():
        raise StoreError(f"No results database at {path}. Create one with "
                         f"`narcoflow run SCENARIO --out {path}`, or pass the right --db file.")
    if path.exists():
        _check_is_duckdb(path, writing=not read_only)
    try:
        con = duckdb.connect(str(path), read_only=read_only)
    except duckdb.Error as exc:
        raise _store_error(exc, path) from None
    try:
        yield con
    finally:
        con.close()


def _require_tables(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    names = {r[0] for r in con.sql(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'"
    ).fetchall()}
    if not {"runs", "metrics"} <= names:
        raise StoreError(f"{path} is a DuckDB database but holds no narcoflow runs "
                         "(tables `runs` and `metrics` are missing).")


def check_writable(path: str | os.PathLike = DEFAULT_DB) -> None:
    """Check that results can be saved to ``path``; call it before a long simulation.

    Nothing is created or changed: an existing database is opened for writing and closed.

    Parameters
    ----------
    path : str or path-like
        The DuckDB file; it may not exist yet.

    Raises
    ------
    StoreError
        The directory does not exist or is not writable, the file exists but is not a DuckDB
        database, or another process holds the database ("database is busy").
    """
    path = Path(path)
    parent = path.parent
    if not parent.exists():
        raise StoreError(f"Cannot save results to {path}: the directory {parent} does not "
                         "exist. Create it first or choose another --out file.")
    if not parent.is_dir():
        raise StoreError(f"Cannot save results to {path}: {parent} is not a directory.")
    if path.exists():
        _check_is_duckdb(path, writing=True)
        if not os.access(path, os.W_OK):
            raise StoreError(f"Cannot save results to {path}: the file is not writable.")
        with _connect(path, read_only=False):
            pass
        return
    try:
        with tempfile.NamedTemporaryFile(dir=parent, prefix=".narcoflow-", suffix=".tmp"):
            pass
    except OSError as exc:
        raise StoreError(f"Cannot save results to {path}: cannot create files in the "
                         f"directory {parent} ({exc.strerror}). Choose another --out file."
                         ) from None


# ---------------------------------------------------------------------------- write
def _metrics_for_store(results: Results) -> pd.DataFrame:
    missing = [c for c in METRIC_COLUMNS if c not in results.metrics.columns]
    if missing:
        raise StoreError(f"Cannot save run {results.info.get('run_id')!r}: its metrics table "
                         f"lacks columns {missing}.")
    frame = results.metrics[METRIC_COLUMNS].copy()
    frame.insert(0, "run_id", results.info["run_id"])
    return frame


def _run_row(info: dict[str, Any]) -> list[Any]:
    missing = [k for k in _RUN_COLUMNS if k not in info and k != "created_at"]
    if missing:
        raise StoreError(f"Cannot save the run: its info lacks {missing}.")
    params = info["parameters"]
    if not isinstance(params, str):
        params = json.dumps(params, sort_keys=True, default=str)
    created = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    return [str(info["run_id"]), str(info["scenario"]), int(info["seed"]), float(info["scale"]),
            pd.Timestamp(info["start"]).date(), int(info["steps"]), str(info["version"]),
            created, params]


def save(results: Results, path: str | os.PathLike = DEFAULT_DB) -> str:
    """Store one run (its ``runs`` row and all metric rows) in one transaction.

    A run with the same id already in the database is replaced, not duplicated. Metric rows
    are appended from the DataFrame in bulk.

    Parameters
    ----------
    results : Results
        A finished run (``Simulation(...).run().results``).
    path : str or path-like
        The DuckDB file; created with the tables if missing.

    Returns
    -------
    str
        The run id.

    Raises
    ------
    StoreError
        See `check_writable`; on any failure the database is left as it was (a file this call
        created is removed again).
    """
    path = Path(path)
    row = _run_row(results.info)
    frame = _metrics_for_store(results)
    run_id = row[0]
    created_file = not path.exists()
    if created_file:
        check_writable(path)
    try:
        with _connect(path, read_only=False) as con:
            try:
                con.execute("BEGIN TRANSACTION")
                con.execute(_SCHEMA)
                con.execute("DELETE FROM metrics WHERE run_id = ?", [run_id])
                con.execute("DELETE FROM runs WHERE run_id = ?", [run_id])
                con.execute(f"INSERT INTO runs ({', '.join(_RUN_COLUMNS)}) "
                            f"VALUES ({', '.join('?' * len(_RUN_COLUMNS))})", row)
                con.append("metrics", frame, by_name=True)
                con.execute("COMMIT")
            except (duckdb.Error, ValueError, TypeError) as exc:
                con.execute("ROLLBACK")
                raise StoreError(f"Could not save run {run_id} to {path}: {exc}") from None
    except StoreError:
        if created_file:
            for p in (path, path.with_name(path.name + ".wal")):
                p.unlink(missing_ok=True)
        raise
    return run_id


# ---------------------------------------------------------------------------- read
def _resolve_run_id(con: duckdb.DuckDBPyConnection, path: Path, run_id: str) -> str:
    """The stored id equal to ``run_id``, or the only one starting with it."""
    _require_tables(con, path)
    ids = [r[0] for r in con.sql("SELECT run_id FROM runs ORDER BY created_at DESC").fetchall()]
    if run_id in ids:
        return run_id
    matches = [i for i in ids if run_id and i.startswith(run_id)]
    if len(matches) == 1:
        return matches[0]
    if not ids:
        raise StoreError(f"No run {run_id!r} in {path}: the database holds no runs yet.")
    known = ", ".join(matches[:5] or ids[:5])
    more = f" and {len(ids) - 5} more" if len(ids) > 5 and not matches else ""
    what = "is ambiguous; it starts" if len(matches) > 1 else "is not in"
    hint = f"runs starting with it: {known}" if matches else f"known runs: {known}{more}"
    raise StoreError(f"Run id {run_id!r} {what} {path}; {hint}. "
                     f"`narcoflow runs --db {path}` lists them all.")


def list_runs(path: str | os.PathLike = DEFAULT_DB) -> pd.DataFrame:
    """All stored runs, newest first, without the parameters.

    Returns
    -------
    pandas.DataFrame
        Columns ``run_id, scenario, seed, scale, start, steps, version, created_at, rows``.
    """
    path = Path(path)
    with _connect(path, read_only=True) as con:
        _require_tables(con, path)
        return con.sql("""
            SELECT r.run_id, r.scenario, r.seed, r.scale, r.start, r.steps, r.version,
                   r.created_at, coalesce(m.n, 0) AS rows
            FROM runs r
            LEFT JOIN (SELECT run_id, count(*) AS n FROM metrics GROUP BY run_id) m USING (run_id)
            ORDER BY r.created_at DESC, r.run_id
        """).df()


def load_run(path: str | os.PathLike, run_id: str) -> dict[str, Any]:
    """The ``runs`` row of one run as a dict (the run's ``info`` plus ``created_at``).

    ``run_id`` may be a unique prefix of the stored id.
    """
    path = Path(path)
    with _connect(path, read_only=True) as con:
        rid = _resolve_run_id(con, path, run_id)
        cur = con.execute(f"SELECT {', '.join(_RUN_COLUMNS)} FROM runs WHERE run_id = ?", [rid])
        values = cur.fetchone()
    return dict(zip(_RUN_COLUMNS, values, strict=True))


def _normalize(df: pd.DataFrame) -> pd.DataFrame:
    """Give a metrics frame read from DuckDB the dtypes the engine produces."""
    df = df.astype({"step": "int32", "value": "float64"})
    df["date"] = pd.to_datetime(df["date"]).astype("datetime64[ns]")
    for col in _STRING_COLUMNS:
        df[col] = df[col].astype("string")
    return df


def load_metrics(path: str | os.PathLike, run_id: str) -> pd.DataFrame:
    """The metrics of one run, with the columns, dtypes and row order of ``Results.metrics``."""
    path = Path(path)
    with _connect(path, read_only=True) as con:
        rid = _resolve_run_id(con, path, run_id)
        df = con.sql(f"SELECT {', '.join(METRIC_COLUMNS)} FROM metrics WHERE run_id = $rid",
                     params={"rid": rid}).df()
    return _normalize(df)


def load_results(path: str | os.PathLike, run_id: str) -> Results:
    """A stored run as `Results` (``timings`` are not stored and come back empty)."""
    info = load_run(path, run_id)
    return Results(metrics=load_metrics(path, info["run_id"]), info=info)


#: File name endings `export_metrics` writes, and the format of each.
EXPORT_FORMATS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv"}


def export_metrics(path: str | os.PathLike, run_id: str, out: str | os.PathLike,
                   fmt: str | None = None) -> Path:
    """Write one run's metrics (with a leading ``run_id`` column) to a Parquet or CSV file.

    The format is ``fmt`` (``"parquet"`` or ``"csv"``), else read from the name's ending
    (``.parquet``, ``.pq``, ``.csv``); any other ending is refused rather than guessed. The file
    is written next to ``out`` first and moved into place, so an existing ``out`` is only
    replaced by a complete file.

    Returns
    -------
    pathlib.Path
        ``out``.
    """
    out = Path(out)
    if fmt is None:
        fmt = EXPORT_FORMATS.get(out.suffix.lower())
        if fmt is None:
            raise StoreError(f"Cannot tell which format to write {out} in: name it *.parquet or *.csv.")
    if fmt not in ("parquet", "csv"):
        raise StoreError(f"Unknown export format {fmt!r}: parquet or csv.")
    if not out.parent.is_dir():
        raise StoreError(f"Cannot write {out}: the directory {out.parent} does not exist.")
    if out.is_dir():
        raise StoreError(f"Cannot write {out}: it is a directory; give a file name.")
    info = load_run(path, run_id)
    df = load_metrics(path, info["run_id"])
    df.insert(0, "run_id", pd.array([info["run_id"]] * len(df), dtype="string"))
    tmp = out.with_name(f".{out.name}.tmp")
    try:
        if fmt == "csv":
            df.to_csv(tmp, index=False, date_format="%Y-%m-%d")
        else:
            df.to_parquet(tmp, index=False)
        os.replace(tmp, out)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise StoreError(f"Cannot write {out} ({exc.strerror or exc}).") from None
    return out


def export_parquet(path: str | os.PathLike, run_id: str, out: str | os.PathLike) -> Path:
    """Write one run's metrics (with a leading ``run_id`` column) to a Parquet file, whatever
    the name of ``out``; see `export_metrics`."""
    return export_metrics(path, run_id, out, "parquet")
