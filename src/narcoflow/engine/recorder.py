"""Per-step metric recording into preallocated arrays, turned into one tidy frame at the end."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from narcoflow.results.results import FLOW_METRICS, LEVEL_METRICS, METRIC_COLUMNS

Key = tuple[str, str | None, str | None, str | None]


class Recorder:
    """Accumulates ``(metric, drug, region, channel) -> value`` for each step.

    Keys are registered the first time they are touched; earlier steps read zero. Flows are
    added (``add``), levels are set (``set``).
    """

    def __init__(self, n_steps: int, start: dt.date, initial_keys: int = 512):
        self.n_steps = n_steps
        self.start = start
        self.index: dict[Key, int] = {}
        self.keys: list[Key] = []
        self.values = np.zeros((n_steps, initial_keys))
        self.step = 0
        self._blocks: dict[tuple, list] = {}  # block -> [column per label, all columns exist]

    def _col(self, key: Key) -> int:
        col = self.index.get(key)
        if col is None:
            col = len(self.keys)
            self.index[key] = col
            self.keys.append(key)
            if col >= self.values.shape[1]:
                grown = np.zeros((self.n_steps, 2 * self.values.shape[1]))
                grown[:, : self.values.shape[1]] = self.values
                self.values = grown
        return col

    def add(self, metric: str, value: float, drug=None, region=None, channel=None) -> None:
        self.values[self.step, self._col((metric, drug, region, channel))] += value

    def set(self, metric: str, value: float, drug=None, region=None, channel=None) -> None:
        self.values[self.step, self._col((metric, drug, region, channel))] = value

    def add_by(self, metric: str, values: np.ndarray, labels, *, dim: str, drug=None,
               region=None, channel=None, skip_zero: bool = True, level: bool = False) -> None:
        """Record ``values[i]`` under label ``labels[i]`` in dimension ``dim``.

        Flows (``level=False``) are added and only non-zero values register a key; levels are set
        and always register. Column indices are cached per block, so a call costs one vectorised
        update once its keys exist.
        """
        block = (metric, drug, region, channel, dim, tuple(labels))
        entry = self._blocks.get(block)
        if entry is not None and entry[1]:  # every key of the block exists: one vectorised update
            if level:
                self.values[self.step, entry[0]] = values
            else:
                self.values[self.step, entry[0]] += values
            return
        if entry is None:
            entry = self._blocks[block] = [np.full(len(labels), -1, dtype=np.int64), False]
        cols = entry[0]
        values = np.asarray(values, dtype=float)
        new = cols < 0
        if not level and skip_zero:
            new &= values != 0
        for i in np.flatnonzero(new):
            kw = {"drug": drug, "region": region, "channel": channel, dim: labels[i]}
            cols[i] = self._col((metric, kw["drug"], kw["region"], kw["channel"]))
        known = cols >= 0
        entry[1] = bool(known.all())
        if level:
            self.values[self.step, cols[known]] = values[known]
        else:
            self.values[self.step, cols[known]] += values[known]

    def to_frame(self, scale: float, steps_done: int) -> pd.DataFrame:
        """Long table; extensive metrics divided by ``scale`` (full-population units)."""
        n_keys = len(self.keys)
        vals = self.values[:steps_done, :n_keys].copy()
        intensive = {"price_usd_per_g", "purity"}
        factor = np.array([1.0 if k[0] in intensive else 1.0 / scale for k in self.keys])
        vals *= factor
        order = sorted(range(n_keys), key=lambda i: tuple("" if x is None else x for x in self.keys[i]))
        vals = vals[:, order]
        keys = [self.keys[i] for i in order]
        steps = np.repeat(np.arange(steps_done, dtype=np.int32), n_keys)
        dates = pd.to_datetime(self.start) + pd.to_timedelta(steps.astype(np.int64) * 7, unit="D")
        cols = list(zip(*keys, strict=True)) if keys else [(), (), (), ()]
        df = pd.DataFrame({
            "step": steps,
            "date": dates.astype("datetime64[ns]"),
            "metric": np.tile(np.array(cols[0], dtype=object), steps_done),
            "drug": np.tile(np.array(cols[1], dtype=object), steps_done),
            "region": np.tile(np.array(cols[2], dtype=object), steps_done),
            "channel": np.tile(np.array(cols[3], dtype=object), steps_done),
            "value": vals.reshape(-1),
        })
        for c in ("metric", "drug", "region", "channel"):
            df[c] = df[c].astype("string")
        assert set(df["metric"].unique()) <= set(FLOW_METRICS) | set(LEVEL_METRICS), "unknown metric"
        return df[METRIC_COLUMNS]
