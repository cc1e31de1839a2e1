"""The measurement model: how far a model value may lie from a target, and the implausibility.

Every target is compared on a log scale (`Target.transform`: log of the value, 0 counting as a
millionth of the band's low end), where one unit is a factor of e whatever the target's unit.
The variance of the difference between the model's mean output and the evidence is the sum of
three terms (Vernon, Goldstein & Bower 2010, sec. 3; Andrianakis et al. 2015, eq. 2):

- observation error ``V_obs = log(1 + tolerance)^2``: the target's reliability (H 10 %, M 30 %,
  L 100 %, `narcoflow.calibration.targets.TOLERANCE`) read as one standard deviation;
- model discrepancy ``V_disc = log(1 + discrepancy)^2``: how far the best run of the model may
  be from reality, a relative error given per target or for the whole targets file
  (``discrepancy:``, default 0);
- the model's run-to-run variance ``V_model``: the variance of the log output between seeds at
  the same parameters, pooled over points run with several seeds (`model_variance`).

An emulator adds its own predictive variance ``V_emulator``. The implausibility of a mean output
``m`` (log scale) is

    I = gap(m) / sqrt(V_obs + V_disc + V_model + V_emulator)

where ``gap`` is the distance from m to the target's band [log low, log high] (0 inside; for a
point target |m - log observed|; a one-sided band has one end). Points with I > 3 for some
target are ruled out (Pukelsheim's three-sigma rule: for any unimodal distribution, 95 % of its
mass lies within 3 standard deviations).

References
----------
Vernon, I., Goldstein, M., Bower, R. G. (2010). Galaxy formation: a Bayesian uncertainty analysis.
Bayesian Analysis 5, 619-669. https://doi.org/10.1214/10-BA524
Andrianakis, I. et al. (2015). Bayesian history matching of complex infectious disease models
using emulation: a tutorial and a case study on HIV in Uganda. PLoS Comput. Biol. 11, e1003968.
https://doi.org/10.1371/journal.pcbi.1003968

Examples
--------
>>> from narcoflow.calibration.targets import Target
>>> t = Target(name="p", metric="consumed_g", years=(1998, 1998), observed=100, reliability="M",
...            discrepancy=0.1)
>>> round(implausibility(t, math.log(200), model_var=0.05), 3)
1.938
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from narcoflow.calibration.targets import Target

#: implausibility above which a point is ruled out (the three-sigma rule)
CUTOFF = 3.0


def band_gap(target: Target, z: float | np.ndarray) -> float | np.ndarray:
    """Distance on the log scale from ``z`` (`Target.transform` of a value) to the target's band;
    0 inside it."""
    lo, hi = target.log_band()
    gap = np.maximum(np.maximum(lo - np.asarray(z, dtype=float), np.asarray(z, dtype=float) - hi), 0.0)
    return float(gap) if np.ndim(gap) == 0 else gap


def variances(target: Target, model_var: float = 0.0, emulator_var: float | np.ndarray = 0.0) -> dict:
    """The terms of the total variance of a target: observation, discrepancy, model, emulator, total."""
    obs = math.log1p(target.band()[2]) ** 2
    disc = math.log1p(target.discrepancy or 0.0) ** 2
    return {"observation": obs, "discrepancy": disc, "model": float(model_var), "emulator": emulator_var,
            "total": obs + disc + float(model_var) + np.asarray(emulator_var, dtype=float)}


def implausibility(target: Target, mean: float | np.ndarray, model_var: float = 0.0,
                   emulator_var: float | np.ndarray = 0.0) -> float | np.ndarray:
    """``gap(mean) / sqrt(V_obs + V_disc + V_model + V_emulator)`` (module docstring); ``mean`` is
    on the log scale (`Target.transform`)."""
    total = variances(target, model_var, emulator_var)["total"]
    out = band_gap(target, mean) / np.sqrt(total)
    return float(out) if np.ndim(out) == 0 else out


def model_variance(runs: pd.DataFrame) -> dict[str, float]:
    """Run-to-run variance per target on the log scale, pooled over the points run with several seeds.

    ``runs`` has columns point, target, z (`Target.transform` of the value); the pooled variance is
    ``sum over points of (n - 1) s^2 / sum of (n - 1)``. Targets with no replicated point get 0.
    """
    out = {}
    for name, d in runs.groupby("target", sort=False):
        g = d.groupby("point")["z"]
        n = g.count()
        dof = float((n - 1).clip(lower=0).sum())
        out[str(name)] = float((g.var(ddof=1).fillna(0.0) * (n - 1)).sum() / dof) if dof > 0 else 0.0
    return out


def transform_values(targets: Sequence[Target], values: Mapping[str, float]) -> dict[str, float]:
    """Target name -> `Target.transform` of its value."""
    return {t.name: t.transform(values[t.name]) for t in targets}


def table(targets: Sequence[Target], means: Mapping[str, float],
          model_var: Mapping[str, float] | None = None) -> pd.DataFrame:
    """Per target: the variance terms and the implausibility of ``means`` (log scale) without an
    emulator: target, role, observation, discrepancy, model, total, gap, implausibility."""
    rows = []
    for t in targets:
        v = variances(t, (model_var or {}).get(t.name, 0.0))
        gap = band_gap(t, means[t.name])
        rows.append({"target": t.name, "role": t.role, "observation": v["observation"],
                     "discrepancy": v["discrepancy"], "model": v["model"], "total": float(v["total"]),
                     "gap": gap, "implausibility": gap / math.sqrt(float(v["total"]))})
    return pd.DataFrame(rows)
