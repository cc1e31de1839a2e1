"""Confidence intervals over replications, and paired effects under common random numbers.

Replication ``i`` of every policy runs with seed ``base_seed + i``, so the runs of two policies
share their random streams and differ only by the intervention. The effect of a policy is the
mean of the paired differences ``y_policy[i] - y_baseline[i]``; its interval is the Student-t
interval of those differences, much narrower than the difference of two independent means.

Examples
--------
>>> mean, lo, hi = t_interval([1.0, 2.0, 3.0])
>>> round(mean, 3), round(lo, 3), round(hi, 3)
(2.0, -0.484, 4.484)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

CONFIDENCE = 0.95


def t_interval(values: Sequence[float] | np.ndarray, confidence: float = CONFIDENCE
               ) -> tuple[float, float, float]:
    """Mean and two-sided Student-t confidence interval; NaN bounds with fewer than 2 values."""
    x = np.asarray(values, dtype=float)
    if len(x) == 0:
        return float("nan"), float("nan"), float("nan")
    mean = float(x.mean())
    if len(x) < 2:
        return mean, float("nan"), float("nan")
    from scipy import stats  # imported here: scipy.stats takes a second to import

    half = float(stats.t.ppf(0.5 + confidence / 2, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x)))
    return mean, mean - half, mean + half


def compare_table(frame: pd.DataFrame, *, policies: Sequence[str], metrics: Sequence[str],
                  baseline: str = "baseline", confidence: float = CONFIDENCE) -> pd.DataFrame:
    """The ``comparisons`` rows from per-run outcomes.

    Parameters
    ----------
    frame : pandas.DataFrame
        ``policy, replication, metric, value`` (one row per run and metric).
    policies, metrics : sequence of str
        Row order of the result; ``baseline`` must be among ``policies``.

    Returns
    -------
    pandas.DataFrame
        ``policy, metric, mean, ci_low, ci_high, effect_vs_baseline, effect_ci_low,
        effect_ci_high, replications``; effects are paired over the replications both policies
        have.
    """
    wide = frame.pivot_table(index=["policy", "replication"], columns="metric", values="value",
                             aggfunc="first", dropna=False)
    rows = []
    base = wide.loc[baseline] if baseline in wide.index.get_level_values(0) else None
    for policy in policies:
        if policy not in wide.index.get_level_values(0):
            continue
        block = wide.loc[policy].sort_index()
        for metric in metrics:
            if metric not in block.columns:
                continue
            y = block[metric].to_numpy(float)
            mean, lo, hi = t_interval(y, confidence)
            eff = (float("nan"),) * 3
            if base is not None and metric in base.columns:
                common = block.index.intersection(base.index)
                d = block.loc[common, metric].to_numpy(float) - base.loc[common, metric].to_numpy(float)
                eff = t_interval(d, confidence)
            rows.append((policy, metric, mean, lo, hi, *eff, len(y)))
    cols = ["policy", "metric", "mean", "ci_low", "ci_high", "effect_vs_baseline", "effect_ci_low",
            "effect_ci_high", "replications"]
    out = pd.DataFrame(rows, columns=cols)
    return out.astype({c: "float64" for c in cols[2:-1]} | {"replications": "int64"})
