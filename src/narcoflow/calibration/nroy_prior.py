"""The prior of a calibration inside a history match: uniform on the non-implausible space.

History matching (`narcoflow.calibration.history`) leaves a region where the emulators cannot rule
the targets out; its bounding box is nearly the whole prior box when that region is a thin,
curved set in many dimensions (north-korea-2011: 2.4 % of the space, box about 100 % of it). A
uniform prior on the box would make ABC-SMC spend its first generations where history matching
has already said the model cannot match. This prior is uniform on the region itself (Andrianakis
et al. 2015; Vernon, Goldstein & Bower 2010: the posterior is sought inside the space not ruled
out): draws are the box's uniform draws that the region contains, and the density is zero
outside it, so pyabc proposes again instead of running the model there. The constant of the
density is left out: pyabc normalises the weights.

With ``priors`` (one (low, high) per parameter) the RVs are pyabc's unit-scaled ones (u in [0, 1],
`narcoflow.calibration.model.to_original`): the region, which lives in original units, is asked
about ``low + u (high - low)``.

Imported only when pyabc is (the `calibration` extra).
"""

from __future__ import annotations

import numpy as np
import pyabc

from narcoflow.calibration.history import NroyRegion
from narcoflow.calibration.model import to_original


class NroyPrior(pyabc.Distribution):
    """Uniform on ``region`` within the box of the given uniform RVs (``p0..p{d-1}`` in the order of
    ``names``, the calibration's parameters; ``names`` must be the region's parameters). ``priors``
    (one (low, high) per name): the RVs are unit-scaled, a row u is the point low + u (high - low);
    None: the RVs are in original units."""

    def __init__(self, *args, region: NroyRegion | None = None, names: list[str] | None = None,
                 batch: int = 2000, priors: list[tuple[float, float]] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.region, self.names, self.batch = region, list(names or []), batch
        self.priors = None if priors is None else [(float(lo), float(hi)) for lo, hi in priors]
        if region is not None:
            self._order = [self.names.index(n) for n in region.names]
        self._cache: list = []

    def copy(self) -> NroyPrior:
        return self.__class__(**{k: v.copy() for k, v in self.items()}, region=self.region, names=self.names,
                              batch=self.batch, priors=self.priors)

    def _inside(self, rows: np.ndarray) -> np.ndarray:
        if self.priors is not None:
            rows = np.column_stack([to_original(rows[:, i], lo, hi) for i, (lo, hi) in enumerate(self.priors)])
        return self.region.contains(rows[:, self._order])

    def rvs(self, *args, **kwargs) -> pyabc.Parameter:
        if self.region is None:
            return super().rvs(*args, **kwargs)
        keys = [f"p{i}" for i in range(len(self.names))]
        tries = 0
        while not self._cache:
            # numpy's global generator, as pyabc's own RVs: pyabc seeds it in every worker process
            draws = np.column_stack([self[k].distribution.rvs(size=self.batch) for k in keys])
            self._cache = list(draws[self._inside(draws)])
            tries += 1
            if tries > 200:
                raise RuntimeError("The history match's non-implausible space is too small to draw from "
                                   f"({200 * self.batch} uniform draws, none inside)")
        row = self._cache.pop()
        return pyabc.Parameter(**{k: float(v) for k, v in zip(keys, row, strict=True)})

    def pdf(self, x) -> float:
        base = super().pdf(x)
        if self.region is None or base <= 0:
            return base
        row = np.array([[float(x[f"p{i}"]) for i in range(len(self.names))]])
        return base if bool(self._inside(row)[0]) else 0.0
