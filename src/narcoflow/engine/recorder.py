"""Per-step metric recording into preallocated arrays, turned into one tidy frame at the end."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection

import numpy as np
import pandas as pd
import pyarrow as pa

from narcoflow.engine import kernels
from narcoflow.errors import MetricError
from narcoflow.metrics import DIMENSIONS, metric
from narcoflow.results.results import METRIC_COLUMNS

Key = tuple[str, str | None, str | None, str | None]


def _check_key(key: Key, level: bool) -> None:
    """Raise `MetricError` unless ``key`` is a registered metric (`narcoflow.metrics`) carrying
    exactly its registered dimensions, recorded as its kind (a level set, a flow added). Checked
    once per key, when it is registered."""
    m = metric(key[0])
    dims = tuple(d for d, label in zip(DIMENSIONS, key[1:], strict=True) if label is not None)
    if dims != m.dims:
        raise MetricError(f"recorded key {key!r}: {m.name} has dimensions {m.dims!r}, the key "
                          f"carries {dims!r}")
    if level != (m.kind == "level"):
        how = "set (level=True)" if m.kind == "level" else "added (level=False)"
        raise MetricError(f"recorded key {key!r}: {m.name} is a {m.kind}, so it is {how}")


class _Block:
    """Cached columns of one call site of `Recorder.add_by` or `Recorder.record`: ``cols[i]`` is
    the column of ``keys[i]`` (-1: not registered yet)."""

    __slots__ = ("keys", "keys_of", "cols")

    def __init__(self, keys: list[Key], keys_of):
        self.keys = keys
        self.keys_of = keys_of  # the caller's list, kept alive so its id cannot be reused
        self.cols = np.full(len(keys), -1, dtype=np.int64)


class Recorder:
    """Accumulates ``(metric, drug, region, channel) -> value`` for each step.

    Keys are registered the first time they are touched; earlier steps read zero. Flows are
    added (``add``), levels are set (``set``). Each key is checked against the metric registry
    (`narcoflow.metrics`) when it is registered: its metric, dimensions and kind.
    """

    def __init__(self, n_steps: int, start: dt.date, initial_keys: int = 512):
        self.n_steps = n_steps
        self.start = start
        self.index: dict[Key, int] = {}
        self.keys: list[Key] = []
        self.values = np.zeros((n_steps, initial_keys))
        self._blocks: dict[tuple, _Block] = {}
        self.step = 0

    @property
    def step(self) -> int:
        return self._step

    @step.setter
    def step(self, step: int) -> None:
        self._step = step
        # This step's row: 1-D indexing is cheaper per call (a run of 0 steps has no row).
        self._row = self.values[step] if step < self.n_steps else None

    def _col(self, key: Key, level: bool) -> int:
        col = self.index.get(key)
        if col is None:
            _check_key(key, level)
            col = len(self.keys)
            self.index[key] = col
            self.keys.append(key)
            if col >= self.values.shape[1]:
                grown = np.zeros((self.n_steps, 2 * self.values.shape[1]))
                grown[:, : self.values.shape[1]] = self.values
                self.values = grown
                self.step = self._step
        return col

    def add(self, metric: str, value: float, drug=None, region=None, channel=None) -> None:
        col = self.index.get((metric, drug, region, channel))
        if col is None:
            col = self._col((metric, drug, region, channel), False)
        self._row[col] += value

    def set(self, metric: str, value: float, drug=None, region=None, channel=None) -> None:
        col = self.index.get((metric, drug, region, channel))
        if col is None:
            col = self._col((metric, drug, region, channel), True)
        self._row[col] = value

    def add_by(self, metric: str, values: np.ndarray, labels, *, dim: str, drug=None,
               region=None, channel=None, skip_zero: bool = True, level: bool = False) -> None:
        """Record ``values[i]`` under label ``labels[i]`` in dimension ``dim``.

        Flows (``level=False``) are added and only non-zero values register a key; levels are set
        and always register. The keys are built once per call site (found by the identity of
        ``labels``, which the cache keeps alive); see `record`.
        """
        block = (metric, drug, region, channel, dim, id(labels))
        entry = self._blocks.get(block)
        if entry is None or entry.keys_of is not labels:
            keys = []
            for label in labels:
                kw = {"drug": drug, "region": region, "channel": channel, dim: label}
                keys.append((metric, kw["drug"], kw["region"], kw["channel"]))
            entry = self._blocks[block] = _Block(keys, labels)
        self._record(entry, values, level, skip_zero)

    def record(self, keys: list[Key], values: np.ndarray, *, level: bool = False) -> None:
        """Record ``values[i]`` under the full key ``keys[i]`` (a list built once by the caller
        and kept: its identity finds the cached columns), e.g. a flattened drug x destination grid.
        Flows are added and only non-zero values register a key; levels are set and always
        register. Once a call site's keys exist, a call costs one compiled update
        (`kernels.record_block`)."""
        entry = self._blocks.get(id(keys))
        if entry is None or entry.keys_of is not keys:
            entry = self._blocks[id(keys)] = _Block(keys, keys)
        self._record(entry, values, level, True)

    def _record(self, entry: _Block, values, level: bool, skip_zero: bool) -> None:
        values = np.asarray(values)
        if values.dtype != np.float64:
            values = values.astype(np.float64)
        cols = entry.cols
        if not kernels.record_block(self._row, cols, values, level, skip_zero):
            return
        for i in range(len(cols)):  # register the keys still missing, then record their values
            if cols[i] < 0 and (level or not skip_zero or values[i] != 0):
                cols[i] = c = self._col(entry.keys[i], level)
                if level:
                    self._row[c] = values[i]
                else:
                    self._row[c] += values[i]

    def to_frame(self, scale: float, steps_done: int, metrics: Collection[str] | None = None) -> pd.DataFrame:
        """Long table; metrics registered as scaled are divided by ``scale`` (full-population
        units), the others (prices, purity) are kept. With ``metrics`` (names), only their rows:
        the rows of each in the same order and with the same values as in the whole table."""
        cols = range(len(self.keys)) if metrics is None else [i for i, k in enumerate(self.keys) if k[0] in metrics]
        order = sorted(cols, key=lambda i: tuple("" if x is None else x for x in self.keys[i]))
        n_keys = len(order)
        vals = self.values[:steps_done, order]
        vals *= np.array([1.0 / scale if metric(self.keys[i][0]).scaled else 1.0 for i in order])
        keys = [self.keys[i] for i in order]
        steps = np.repeat(np.arange(steps_done, dtype=np.int32), n_keys)
        dates = pd.to_datetime(self.start) + pd.to_timedelta(steps.astype(np.int64) * 7, unit="D")
        cols = list(zip(*keys, strict=True)) if keys else [(), (), (), ()]
        # Label columns: one step's labels repeated by an Arrow take (no Python string per row:
        # building them from object arrays was most of the frame's cost).
        repeat = pa.array(np.tile(np.arange(n_keys, dtype=np.int32), steps_done))

        def labels(values) -> pd.api.extensions.ExtensionArray:
            return pd.array(pa.array(list(values), type=pa.large_string()).take(repeat),
                            dtype=pd.StringDtype("pyarrow"))

        df = pd.DataFrame({
            "step": steps,
            "date": dates.astype("datetime64[ns]"),
            "metric": labels(cols[0]),
            "drug": labels(cols[1]),
            "region": labels(cols[2]),
            "channel": labels(cols[3]),
            "value": vals.reshape(-1),
        })
        return df[METRIC_COLUMNS]
