"""Many runs of a simulator on the local pool or Dask, stored as they finish (for resume).

A *simulator* is any picklable callable ``(values: {parameter: value}, seed) -> {target: value}``;
for the engine it is `narcoflow.calibration.model.Model.run`. Screening and history matching
both send their runs through `run_jobs`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Iterable
from pathlib import Path

import pandas as pd

from narcoflow.calibration.storage import _connect, _replace_rows
from narcoflow.experiments.executors import Executor, LocalExecutor

Simulator = Callable[[dict[str, float], int], dict[str, float]]


def _job(args):
    simulator, key, values, seed = args
    return key, simulator(values, seed)


def run_jobs(simulator: Simulator, jobs: Iterable[tuple[Hashable, dict[str, float], int]],
             executor: Executor | None, on_result: Callable[[Hashable, dict[str, float]], None]) -> None:
    """Run ``(key, values, seed)`` jobs on ``executor`` (this process when None) and call
    ``on_result(key, outputs)`` as each finishes (in the order they finish)."""
    ex = executor or LocalExecutor()
    for key, out in ex.imap_unordered(_job, [(simulator, k, v, s) for k, v, s in jobs]):
        on_result(key, out)


class Buffer:
    """Rows collected in memory and appended to a DuckDB table at most every ``every`` seconds
    and on `flush` (call it in a ``finally``: an interruption keeps every finished run)."""

    def __init__(self, db: Path, table: str, key_columns: list[str], every: float = 2.0):
        self.db, self.table, self.keys, self.every = db, table, key_columns, every
        self.rows: list[dict] = []
        self.last = time.monotonic()

    def add(self, rows: list[dict]) -> None:
        self.rows.extend(rows)
        if time.monotonic() - self.last >= self.every:
            self.flush()

    def flush(self) -> None:
        self.last = time.monotonic()
        if not self.rows:
            return
        frame = pd.DataFrame(self.rows)
        self.rows = []
        with _connect(self.db) as con:
            # delete + insert of exactly these keys: storing a run twice is harmless
            tables = {r[0] for r in con.sql("SELECT table_name FROM information_schema.tables").fetchall()}
            if self.table in tables:
                on = " AND ".join(f"{self.table}.{k} = keys_view.{k}" for k in self.keys)
                con.register("keys_view", frame[self.keys].drop_duplicates())
                try:
                    con.execute(f"DELETE FROM {self.table} WHERE EXISTS (SELECT 1 FROM keys_view WHERE {on})")
                finally:
                    con.unregister("keys_view")
            _replace_rows(con, self.table, frame, "FALSE", [])


def read_table(db: Path, table: str, where: str, params: list) -> pd.DataFrame:
    """Rows of ``table`` matching ``where`` (an empty frame when the file or the table is missing)."""
    import duckdb

    if not Path(db).exists():
        return pd.DataFrame()
    with duckdb.connect(str(db), read_only=True) as con:
        tables = {r[0] for r in con.sql("SELECT table_name FROM information_schema.tables").fetchall()}
        if table not in tables:
            return pd.DataFrame()
        return con.execute(f"SELECT * FROM {table} WHERE {where}", params).df()
