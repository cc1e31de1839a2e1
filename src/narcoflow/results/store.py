"""DuckDB store of runs: one file holds table ``runs`` (one row per run) and ``metrics``.

Run ids are deterministic (`narcoflow.results.results.run_id_for`), so saving the same run
again replaces its rows instead of duplicating them. Every failure raises `StoreError` with
the path and what to do; an existing file is never deleted, and a file that is not a DuckDB
database is never opened by DuckDB (`narcoflow.results.database`). Reads open the database
read-only.

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
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from narcoflow.errors import StoreError, printable
from narcoflow.outputs import OutputError, check_output, replacing
from narcoflow.results.database import (  # noqa: F401  (BUSY_TIMEOUT and retry_busy: re-exported)
    BUSY_TIMEOUT,
    check_is_duckdb,
    connect,
    is_busy,
    is_corrupt,
    is_disk_full,
    retry_busy,
    store_error,
)
from narcoflow.results.results import METRIC_COLUMNS, Results
from narcoflow.settings import DEFAULT_DB

#: Largest seed a run may have: seeds are stored as signed 64-bit integers.
MAX_SEED = 2**63 - 1

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
ALTER TABLE runs ADD COLUMN IF NOT EXISTS policy VARCHAR;
ALTER TABLE runs ADD COLUMN IF NOT EXISTS levers JSON;
ALTER TABLE runs ADD COLUMN IF NOT EXISTS draw JSON;
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
#: How the run was made (`narcoflow.results.provenance`): columns added to ``runs`` by the first
#: save after they were introduced; files written before read them as NULL (unknown).
_PROVENANCE_COLUMNS = ("policy", "levers", "draw")
_STRING_COLUMNS = ("metric", "drug", "region", "channel")


# ---------------------------------------------------------------------------- checks
def _require_tables(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    names = {r[0] for r in con.sql(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'"
    ).fetchall()}
    if not {"runs", "metrics"} <= names:
        raise StoreError(f"{path} is a DuckDB database but holds no narcoflow runs "
                         "(tables `runs` and `metrics` are missing).")


def _check_schema(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """Raise unless the ``runs`` and ``metrics`` tables, where they exist, have our columns."""
    rows = con.sql("SELECT table_name, column_name FROM information_schema.columns "
                   "WHERE table_schema = 'main' AND table_name IN ('runs', 'metrics')").fetchall()
    found: dict[str, set[str]] = {}
    for table, column in rows:
        found.setdefault(table, set()).add(column)
    need = {"runs": set(_RUN_COLUMNS), "metrics": {"run_id", *METRIC_COLUMNS}}
    for table, columns in found.items():
        missing = sorted(need[table] - columns)
        if missing:
            raise StoreError(f"{printable(str(path))} holds a table `{table}` that narcoflow did "
                             f"not make (it lacks the columns {', '.join(missing)}); it was left "
                             "untouched. Choose another --out file.")


def check_seed(seed: int) -> None:
    """Raise unless ``seed`` can be stored (0 to 2^63 - 1)."""
    if not 0 <= int(seed) <= MAX_SEED:
        raise StoreError(f"--seed {seed} is out of range: it must be in [0, {MAX_SEED}] "
                         "(seeds are stored as 64-bit integers).")


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
        check_is_duckdb(path, writing=True)
        if not os.access(path, os.W_OK):
            raise StoreError(f"Cannot save results to {path}: the file is not writable.")
        with connect(path, read_only=False) as con:
            try:
                _check_schema(con, path)
            except duckdb.Error as exc:
                raise store_error(exc, path) from None
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
    check_seed(info["seed"])
    params = info["parameters"]
    if not isinstance(params, str):
        params = json.dumps(params, sort_keys=True, default=str)
    created = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    policy = info.get("policy")
    levers, draw = info.get("levers"), info.get("draw")
    return [str(info["run_id"]), str(info["scenario"]), int(info["seed"]), float(info["scale"]),
            pd.Timestamp(info["start"]).date(), int(info["steps"]), str(info["version"]),
            created, params, None if policy is None else str(policy),
            None if levers is None else _json(levers), None if draw is None else _json(draw)]


def _json(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)


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
        with connect(path, read_only=False) as con:
            try:
                _check_schema(con, path)
                con.execute("BEGIN TRANSACTION")
                con.execute(_SCHEMA)
                con.execute("DELETE FROM metrics WHERE run_id = ?", [run_id])
                con.execute("DELETE FROM runs WHERE run_id = ?", [run_id])
                cols = (*_RUN_COLUMNS, *_PROVENANCE_COLUMNS)
                con.execute(f"INSERT INTO runs ({', '.join(cols)}) "
                            f"VALUES ({', '.join('?' * len(cols))})", row)
                con.append("metrics", frame, by_name=True)
                con.execute("COMMIT")
            except (duckdb.Error, ValueError, TypeError, OSError) as exc:
                try:
                    con.execute("ROLLBACK")
                except duckdb.Error:
                    pass  # the failed commit already ended the transaction: report its cause
                if isinstance(exc, duckdb.Error | OSError) and (
                        is_busy(exc) or is_disk_full(exc) or is_corrupt(exc)):
                    raise store_error(exc, path, doing="save to") from None
                raise StoreError(f"Could not save run {run_id} to {printable(str(path))}: "
                                 f"{printable(str(exc))}") from None
    except StoreError:
        if created_file:
            for p in (path, path.with_name(path.name + ".wal")):
                p.unlink(missing_ok=True)
        raise
    return run_id


def save_or_beside(results: Results, path: str | os.PathLike = DEFAULT_DB, *,
                   timeout: float | None = None) -> tuple[str, Path, str | None]:
    """Save a finished run to ``path``, waiting up to ``timeout`` s while another process holds
    it; if it still cannot be saved there, save it to a new file beside it (or, failing that,
    in the temporary folder) rather than lose it.

    Returns
    -------
    (run_id, saved_to, why)
        ``why`` is None when the run went to ``path``, else the reason it did not.
    """
    path = Path(path)
    try:
        return retry_busy(lambda: save(results, path), path, timeout=timeout), path, None
    except StoreError as exc:
        why = str(exc)
    rid = str(results.info.get("run_id", "run"))[:12]
    stem = path.stem or "narcoflow"
    for folder in (path.parent, Path(tempfile.gettempdir())):
        for n in range(100):
            other = folder / f"{stem}-unsaved-{rid}{f'-{n}' if n else ''}.duckdb"
            if not other.exists():
                break
        else:
            continue
        try:
            return save(results, other), other, why
        except StoreError:
            continue
    raise StoreError(f"{why} The run could not be saved beside it either (in {path.parent} or "
                     f"{tempfile.gettempdir()}).")


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


def _provenance_select(con: duckdb.DuckDBPyConnection, alias: str = "") -> str:
    """``policy, levers, draw`` of table ``runs``: the columns, or NULLs in a file written before
    they existed (opened read-only, so it is not changed)."""
    have = {r[0] for r in con.sql("SELECT column_name FROM information_schema.columns "
                                  "WHERE table_schema = 'main' AND table_name = 'runs'").fetchall()}
    pre = f"{alias}." if alias else ""
    return ", ".join(f"CAST({pre}{c} AS VARCHAR) AS {c}" if c in have else f"CAST(NULL AS VARCHAR) AS {c}"
                     for c in _PROVENANCE_COLUMNS)


def list_runs(path: str | os.PathLike = DEFAULT_DB) -> pd.DataFrame:
    """All stored runs, newest first, without the parameters.

    Returns
    -------
    pandas.DataFrame
        Columns ``run_id, scenario, seed, scale, start, steps, version, created_at, rows,
        policy, levers, draw``: how each run was made (`narcoflow.results.provenance`; levers
        and draw as JSON text, NULL when unknown, e.g. runs stored before provenance was kept).
    """
    path = Path(path)
    with connect(path, read_only=True) as con:
        _require_tables(con, path)
        return con.sql(f"""
            SELECT r.run_id, r.scenario, r.seed, r.scale, r.start, r.steps, r.version,
                   r.created_at, coalesce(m.n, 0) AS rows, {_provenance_select(con, "r")}
            FROM runs r
            LEFT JOIN (SELECT run_id, count(*) AS n FROM metrics GROUP BY run_id) m USING (run_id)
            ORDER BY r.created_at DESC, r.run_id
        """).df()


def load_run(path: str | os.PathLike, run_id: str) -> dict[str, Any]:
    """The ``runs`` row of one run as a dict (the run's ``info`` plus ``created_at``), with its
    provenance ``policy``, ``levers`` and ``draw`` (decoded; None when unknown).

    ``run_id`` may be a unique prefix of the stored id.
    """
    path = Path(path)
    with connect(path, read_only=True) as con:
        rid = _resolve_run_id(con, path, run_id)
        cols = (*_RUN_COLUMNS, *_PROVENANCE_COLUMNS)
        cur = con.execute(f"SELECT {', '.join(_RUN_COLUMNS)}, {_provenance_select(con)} "
                          "FROM runs WHERE run_id = ?", [rid])
        values = cur.fetchone()
    info = dict(zip(cols, values, strict=True))
    for key in ("levers", "draw"):
        info[key] = json.loads(info[key]) if info[key] is not None else None
    return info


def _normalize(df: pd.DataFrame) -> pd.DataFrame:
    """Give a metrics frame read from DuckDB the dtypes the engine produces."""
    df = df.astype({"step": "int32", "value": "float64"})
    df["date"] = pd.to_datetime(df["date"]).astype("datetime64[ns]")
    for col in _STRING_COLUMNS:
        df[col] = df[col].astype("string")
    return df


def load_metrics(path: str | os.PathLike, run_id: str, names: Sequence[str] | None = None) -> pd.DataFrame:
    """The metrics of one run, with the columns, dtypes and row order of ``Results.metrics``;
    only the metrics ``names`` when given."""
    path = Path(path)
    with connect(path, read_only=True) as con:
        rid = _resolve_run_id(con, path, run_id)
        only = "" if names is None else " AND list_contains($names, metric)"
        params = {"rid": rid} if names is None else {"rid": rid, "names": list(names)}
        df = con.sql(f"SELECT {', '.join(METRIC_COLUMNS)} FROM metrics WHERE run_id = $rid{only}",
                     params=params).df()
    return _normalize(df)


def load_results(path: str | os.PathLike, run_id: str) -> Results:
    """A stored run as `Results` (``timings`` are not stored and come back empty)."""
    info = load_run(path, run_id)
    return Results(metrics=load_metrics(path, info["run_id"]), info=info)


#: File name endings `export_metrics` writes, and the format of each.
EXPORT_FORMATS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv"}


def export_metrics(path: str | os.PathLike, run_id: str, out: str | os.PathLike,
                   fmt: str | None = None, *, force: bool = False) -> Path:
    """Write one run's metrics to a Parquet or CSV file, with leading columns ``run_id`` and its
    provenance ``policy``, ``levers``, ``draw`` (text; empty when unknown). A Parquet file also
    holds the run's identity and full provenance as JSON in its metadata (key ``narcoflow``).

    The format is ``fmt`` (``"parquet"`` or ``"csv"``), else read from the name's ending
    (``.parquet``, ``.pq``, ``.csv``); any other ending is refused rather than guessed. ``out``
    is checked before anything is read (`narcoflow.outputs.check_output`: never the database
    itself, a directory or a device; an existing file of another kind only with ``force``), and
    written to a temporary file renamed into place, so an existing ``out`` is only replaced by a
    complete file.

    Returns
    -------
    pathlib.Path
        ``out``.
    """
    out = Path(out)
    if fmt is None:
        fmt = EXPORT_FORMATS.get(out.suffix.lower())
        if fmt is None:
            raise StoreError(f"Cannot tell which format to write {printable(str(out))} in: name it "
                             "*.parquet or *.csv.")
    if fmt not in ("parquet", "csv"):
        raise StoreError(f"Unknown export format {fmt!r}: parquet or csv.")
    try:
        out = check_output(out, kind=fmt, inputs=(path,), force=force)
        info = load_run(path, run_id)
        df = load_metrics(path, info["run_id"])
        df.insert(0, "run_id", pd.array([info["run_id"]] * len(df), dtype="string"))
        for i, (col, text) in enumerate(_provenance_columns(info).items(), start=1):
            df.insert(i, col, pd.array([text] * len(df), dtype="string"))
        with replacing(out) as tmp:
            if fmt == "csv":
                df.to_csv(tmp, index=False, date_format="%Y-%m-%d")
            else:
                _write_parquet(df, tmp, info)
    except OutputError as exc:
        raise StoreError(str(exc)) from None
    return out


def _provenance_columns(info: dict[str, Any]) -> dict[str, str | None]:
    """The columns `export_metrics` adds after ``run_id``: policy, levers and draw as text."""
    from narcoflow.results.provenance import draw_text, levers_text

    return {"policy": info.get("policy"), "levers": levers_text(info.get("levers")) or None,
            "draw": draw_text(info.get("draw")) or None}


def _write_parquet(df: pd.DataFrame, out: Path, info: dict[str, Any]) -> None:
    """``df`` as Parquet, with the run's identity and full provenance (levers and drawn parameter
    values) as JSON in the file's key-value metadata under ``narcoflow``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(df, preserve_index=False)
    meta = {k: info.get(k) for k in ("run_id", "scenario", "seed", "scale", "start", "steps", "version",
                                      "policy", "levers", "draw")}
    table = table.replace_schema_metadata({**(table.schema.metadata or {}),
                                           b"narcoflow": json.dumps(meta, default=str).encode()})
    pq.write_table(table, out)


def export_parquet(path: str | os.PathLike, run_id: str, out: str | os.PathLike, *,
                   force: bool = False) -> Path:
    """Write one run's metrics (with a leading ``run_id`` column) to a Parquet file, whatever
    the name of ``out``; see `export_metrics`."""
    return export_metrics(path, run_id, out, "parquet", force=force)
