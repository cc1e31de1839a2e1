"""Where a calibration is kept: its DuckDB tables, written per generation so a rerun resumes.

Every write replaces the rows of one calibration id (and generation), so storing twice is
harmless; ``load_calibration`` reads everything back for the report and the CLI.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pandas as pd

from narcoflow.calibration.targets import Targets
from narcoflow.errors import NarcoflowError

#: DuckDB tables written by a calibration (all keyed by calibration_id)
TABLES = ("calibrations", "posterior", "calibration_diagnostics", "calibration_check")


def _replace_rows(con, table: str, frame: pd.DataFrame, where: str, params: list) -> None:
    """Idempotent write: delete the rows matching ``where`` and insert ``frame`` (by column name)."""
    con.register("frame_view", frame)
    try:
        con.execute(f"CREATE TABLE IF NOT EXISTS {table} AS SELECT * FROM frame_view LIMIT 0")
        con.execute("BEGIN TRANSACTION")
        con.execute(f"DELETE FROM {table} WHERE {where}", params)
        con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM frame_view")
        con.execute("COMMIT")
    finally:
        con.unregister("frame_view")


def _connect(db: Path, tries: int = 20):
    """Open the DuckDB file for writing; waits up to ~10 s while another process holds it (e.g. a
    `narcoflow report` reading it between two generations)."""
    import time

    import duckdb

    for i in range(tries):
        try:
            return duckdb.connect(str(db))
        except duckdb.IOException as exc:
            if i == tries - 1:
                raise NarcoflowError(f"Cannot open {db} ({exc}); is another command using it?") from None
            time.sleep(0.5)


def store_generation(db: Path, cid: str, post: pd.DataFrame, diag: dict) -> None:
    t = int(diag["generation"])
    with _connect(db) as con:
        _replace_rows(con, "posterior", post, "calibration_id = ? AND generation = ?", [cid, t])
        _replace_rows(con, "calibration_diagnostics", pd.DataFrame([diag]),
                      "calibration_id = ? AND generation = ?", [cid, t])


def drop_generations(db: Path, cid: str, after: int) -> None:
    """Delete stored generations of ``cid`` beyond ``after`` (-1: all), e.g. after a clean restart."""
    with _connect(db) as con:
        tables = {r[0] for r in con.sql("SELECT table_name FROM information_schema.tables").fetchall()}
        for table in ("posterior", "calibration_diagnostics"):
            if table in tables:
                con.execute(f"DELETE FROM {table} WHERE calibration_id = ? AND generation > ?", [cid, after])


def store_calibration(db: Path, cid: str, scenario, targets: Targets, params: list[str], priors: dict,
                       settings: dict, labels: dict) -> None:
    row = {"calibration_id": cid, "scenario": scenario.name, "scenario_ref": labels.get("scenario", ""),
           "targets_ref": labels.get("targets", ""), "parameters": json.dumps(params),
           "priors": json.dumps(priors), "settings": json.dumps(settings, default=str),
           "scenario_json": json.dumps(scenario.model_dump(mode="json"), default=str),
           "targets_json": json.dumps(targets.model_dump(mode="json"), default=str),
           "created_at": dt.datetime.now(dt.UTC).replace(tzinfo=None)}
    with _connect(db) as con:
        _replace_rows(con, "calibrations", pd.DataFrame([row]), "calibration_id = ?", [cid])


def store_check(db: str | Path, cid: str, check: pd.DataFrame) -> None:
    """Store a predictive check as table ``calibration_check`` (replacing that calibration's rows)."""
    frame = check.copy()
    frame.insert(0, "position", range(len(frame)))
    frame.insert(0, "calibration_id", cid)
    with _connect(Path(db)) as con:
        tables = {r[0] for r in con.sql("SELECT table_name FROM information_schema.tables").fetchall()}
        if "calibration_check" in tables and "role" in frame.columns:  # a file written before roles
            con.execute("ALTER TABLE calibration_check ADD COLUMN IF NOT EXISTS role VARCHAR")
        _replace_rows(con, "calibration_check", frame, "calibration_id = ?", [cid])


def load_calibration(db: str | Path, cid: str) -> tuple[dict[str, Any], pd.DataFrame, pd.DataFrame,
                                                        pd.DataFrame | None]:
    """(calibrations row, posterior, diagnostics, predictive check or None) of a stored calibration."""
    import duckdb

    db = Path(db)
    if not db.exists():
        raise NarcoflowError(f"No database {db}")
    with duckdb.connect(str(db), read_only=True) as con:
        tables = {r[0] for r in con.sql("SELECT table_name FROM information_schema.tables").fetchall()}
        if "calibrations" not in tables:
            raise NarcoflowError(f"{db} holds no calibration (no table 'calibrations')")
        info = con.execute("SELECT * FROM calibrations WHERE calibration_id = ?", [cid]).df()
        if info.empty:
            raise NarcoflowError(f"No calibration {cid!r} in {db}")
        q = "SELECT * FROM {} WHERE calibration_id = ? ORDER BY generation{}"
        post = con.execute(q.format("posterior", ", particle, parameter"), [cid]).df()
        diag = con.execute(q.format("calibration_diagnostics", ""), [cid]).df()
        check = (con.execute("SELECT * FROM calibration_check WHERE calibration_id = ? ORDER BY position",
                             [cid]).df() if "calibration_check" in tables else None)
    if check is not None and check.empty:
        check = None
    return info.iloc[0].to_dict(), post, diag, check
