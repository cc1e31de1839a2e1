"""Optional record of every transfer of product between nodes (for network snapshots, S11-S13).

Nodes are actor uids (>= 0) or special nodes with negative ids: the production source, the
NSA's state stock, the users of each region, each foreign destination and each seizing agency.
For every actor, over any window: grams in - grams out = change of its stock (including lots it
carries). Disabled by default: it costs nothing unless `Simulation.enable_flow_log` is called.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

SOURCE = -1
STATE = -2
AGENCIES = ("mps", "nsa", "border_guard", "china", "japan", "south_korea")


class FlowLog:
    def __init__(self):
        self._chunks: list[tuple[np.ndarray, ...]] = []

    @staticmethod
    def users(region: int | np.ndarray):
        return -100 - np.asarray(region, dtype=np.int64)

    @staticmethod
    def foreign(dest: int | np.ndarray):
        return -200 - np.asarray(dest, dtype=np.int64)

    @staticmethod
    def seized(agency: str) -> int:
        return -300 - AGENCIES.index(agency)

    def add(self, step: int, src, dst, grams) -> None:
        grams = np.asarray(grams, dtype=np.float64)
        keep = grams > 0
        if not keep.any():
            return
        n = int(keep.sum())
        self._chunks.append((np.full(n, step, dtype=np.int32),
                             np.broadcast_to(np.asarray(src, dtype=np.int64), grams.shape)[keep],
                             np.broadcast_to(np.asarray(dst, dtype=np.int64), grams.shape)[keep],
                             grams[keep]))

    def to_frame(self) -> pd.DataFrame:
        """Columns ``step, src, dst, grams`` (one row per transfer)."""
        if not self._chunks:
            return pd.DataFrame({"step": np.empty(0, np.int32), "src": np.empty(0, np.int64),
                                 "dst": np.empty(0, np.int64), "grams": np.empty(0)})
        cols = [np.concatenate(c) for c in zip(*self._chunks, strict=True)]
        return pd.DataFrame(dict(zip(("step", "src", "dst", "grams"), cols, strict=True)))
