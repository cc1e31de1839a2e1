"""Gaussian-process emulators of the targets' log outputs, one wave at a time (issue 14; used by
`narcoflow.calibration.history`).

An emulator stands in for the model between design points: its mean and variance at a point give
the implausibility of that point (Vernon, Goldstein & Bower 2010) without running the model there;
`validate` checks it by leave-one-out before its verdicts are trusted.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from narcoflow.calibration.measurement import implausibility, model_variance
from narcoflow.calibration.targets import Target


class Emulator:
    """A Gaussian process of one target's log output over the unit cube of the parameters.

    Kernel: constant x RBF (one length scale per parameter) + white noise; each design point's
    own noise is ``alpha`` = run-to-run variance / its number of seeds. `predict` gives the mean
    and the variance of the latent mean output (without the noise terms): the emulator variance of
    the implausibility. Outputs that do not vary over the design get a constant emulator.
    """

    def __init__(self, U: np.ndarray, y: np.ndarray, noise: np.ndarray, *, seed: int = 0, restarts: int = 2):
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.gaussian_process import GaussianProcessRegressor
        from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel

        self.U, self.y = np.asarray(U, dtype=float), np.asarray(y, dtype=float)
        self.mean, self.scale = float(self.y.mean()), float(self.y.std())
        self.gp = self.latent = None
        if not (self.scale > 1e-12 * max(1.0, abs(self.mean))):
            self.scale = 1.0
            return
        d = self.U.shape[1]
        kernel = (ConstantKernel(1.0, (1e-2, 1e2)) * RBF(np.full(d, 0.3), (1e-2, 1e2))
                  + WhiteKernel(1e-3, (1e-8, 1.0)))
        alpha = np.asarray(noise, dtype=float) / self.scale**2 + 1e-8
        self.gp = GaussianProcessRegressor(kernel, alpha=alpha, normalize_y=False,
                                           n_restarts_optimizer=restarts, random_state=seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            self.gp.fit(self.U, (self.y - self.mean) / self.scale)
        self.latent = copy.copy(self.gp)
        self.latent.kernel_ = self.gp.kernel_.k1  # without the white noise: the latent mean's variance

    @property
    def kernel(self) -> str:
        return "constant" if self.gp is None else str(self.gp.kernel_)

    def predict(self, U: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(mean, variance) of the target's log output at the unit-cube points ``U``."""
        if self.gp is None:
            return np.full(len(U), self.mean), np.zeros(len(U))
        mu, sd = self.latent.predict(np.asarray(U, dtype=float), return_std=True)
        return self.mean + self.scale * mu, (self.scale * sd) ** 2

    def leave_one_out(self) -> tuple[np.ndarray, np.ndarray]:
        """(mean, variance) of each design point's output predicted without that point (closed form
        with the fitted hyperparameters; the variance includes the point's noise)."""
        if self.gp is None:
            return np.full(len(self.y), self.mean), np.zeros(len(self.y))
        from scipy.linalg import cho_solve

        kinv = cho_solve((self.gp.L_, True), np.eye(len(self.y)))
        diag = np.diag(kinv)
        resid = self.gp.alpha_.ravel() / diag
        return self.y - self.scale * resid, self.scale**2 / diag


def validate(em: Emulator) -> dict[str, float]:
    """Leave-one-out validation: RMSE (log units), largest |standardised error| and the share of
    points with |standardised error| > 3 (about 0 for a well calibrated emulator)."""
    mu, var = em.leave_one_out()
    err = em.y - mu
    std = np.divide(err, np.sqrt(var), out=np.zeros_like(err), where=var > 0)
    return {"loo_rmse": float(np.sqrt(np.mean(err**2))), "loo_max_abs_std_error": float(np.max(np.abs(std))),
            "loo_outside_3": float(np.mean(np.abs(std) > 3))}


@dataclass
class Wave:
    """One wave's emulators (target -> `Emulator`) and run-to-run variances (target -> variance)."""

    emulators: dict[str, Emulator]
    model_var: dict[str, float]

    def implausibilities(self, targets: Sequence[Target], U: np.ndarray) -> np.ndarray:
        """(points x targets) implausibility of the unit-cube points ``U``."""
        out = np.empty((len(U), len(targets)))
        for j, t in enumerate(targets):
            mu, var = self.emulators[t.name].predict(U)
            out[:, j] = implausibility(t, mu, self.model_var[t.name], var)
        return out


def fit_wave(targets: Sequence[Target], runs: pd.DataFrame, d: int, *, seed: int, restarts: int) -> Wave:
    """Emulators of one wave from its runs (columns point, replicate, target, z, and u0..u{d-1})."""
    runs = runs.sort_values(["point", "replicate", "target"], kind="stable")
    mvar = model_variance(runs[["point", "target", "z"]])
    ems = {}
    for t in targets:
        r = runs[runs["target"] == t.name]
        g = r.groupby("point", sort=True)
        y = g["z"].mean().to_numpy()
        n = g["z"].count().to_numpy()
        U = g[[f"u{i}" for i in range(d)]].first().to_numpy()
        ems[t.name] = Emulator(U, y, mvar.get(t.name, 0.0) / n, seed=seed, restarts=restarts)
    return Wave(ems, {t.name: mvar.get(t.name, 0.0) for t in targets})
