"""The model as pyabc sees it: parameter values -> the value of every target, one run each.

Shared by the fitting (`narcoflow.calibration.calibrate`) and the predictive check
(`narcoflow.calibration.outputs`); picklable, so that pyabc's worker processes and Dask can run it.
"""

from __future__ import annotations

import json
import zlib

import numpy as np

from narcoflow.calibration.targets import Targets, evaluate_targets, populations
from narcoflow.scenario.loader import with_values


def to_original(u, low: float, high: float):
    """A unit-scaled value (u in [0, 1], a float or an array) -> ``low + u (high - low)``, clipped to
    [low, high] (rounding must not step outside the prior)."""
    x = np.clip(low + np.asarray(u, dtype=float) * (high - low), low, high)
    return x if x.ndim else float(x)


class Model:
    """Picklable pyabc model: parameters -> {target name: model value} (compared targets: not
    waiting ones; price means over provinces weighted by the scenario's populations).

    Each run's seed is ``seed`` (common random numbers: every particle alike) or, when ``seed`` is
    None, derived from the particle's values. With ``counter`` (a file path), each finished run
    appends one byte to it, so that a progress bar in the parent process can count runs made by
    worker processes. ``simulator`` (a picklable ``(values, seed) -> {target: value}``,
    `narcoflow.calibration.batch.Simulator`) replaces the engine, e.g. a cheap analytic model that
    checks the method (`narcoflow.calibration.coverage`); None (default): the engine.

    ``priors`` (one ``(low, high)`` per parameter, in the order of ``params``): pyabc's particles
    are unit-scaled, ``p{i}`` = u in [0, 1], and the model runs at `to_original` (u, low, high);
    None: the particles are the parameters' values (calibrations made before unit scaling).
    `run` always takes values in original units.
    """

    def __init__(self, scenario, targets: Targets, params: list[str], scale: float, years: float | None,
                 counter: str | None = None, seed: int | None = None, simulator=None,
                 priors: list[tuple[float, float]] | None = None):
        self.scenario, self.targets, self.params = scenario, targets, params
        self.scale, self.years, self.counter, self.seed = scale, years, counter, seed
        self.simulator, self.priors = simulator, priors

    def values(self, par) -> dict[str, float]:
        """A pyabc particle -> {parameter: value in original units}."""
        if self.priors is None:
            return {p: float(par[f"p{i}"]) for i, p in enumerate(self.params)}
        return {p: to_original(float(par[f"p{i}"]), lo, hi)
                for i, (p, (lo, hi)) in enumerate(zip(self.params, self.priors, strict=True))}

    def __call__(self, par) -> dict[str, float]:
        values = self.values(par)
        seed = (self.seed if self.seed is not None
                else zlib.crc32(json.dumps(values, sort_keys=True).encode()) % (2**31))
        if self.simulator is not None:
            res = self.simulator(values, seed)
            self._count()
            return res
        return self.run(values, seed)

    def run(self, values: dict[str, float], seed: int) -> dict[str, float]:
        """The targets' values (not waiting ones) in one run at ``values`` (original units).

        Only what the targets need: no experiment outcomes, no run id or provenance (nothing of
        the run is stored), and only the targets' metrics' rows (`Simulation.metrics_of`)."""
        from narcoflow.engine import Simulation

        sc = with_values(self.scenario, values)
        sim = Simulation(sc, seed=seed, scale=self.scale, years=self.years).run()
        metrics = sim.metrics_of({t.metric for t in self.targets.targets})
        res = evaluate_targets(self.targets, metrics, populations(sc))
        self._count()
        return res

    def _count(self) -> None:
        if self.counter:
            try:
                with open(self.counter, "ab") as fh:
                    fh.write(b".")
            except OSError:
                pass
