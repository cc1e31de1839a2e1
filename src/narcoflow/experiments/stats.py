"""Intervals over replications, and paired effects under common random numbers.

Replication ``i`` of every policy runs with seed ``base_seed + i`` (and, when parameters vary,
parameter set ``i``), so the runs of two policies share their random streams and differ only by
the intervention. The effect of a policy is the difference of the means over the replications
both policies have, ``mean(y_policy) - mean(y_baseline)``, and its relative effect is
``mean(y_policy) / mean(y_baseline) - 1``.

Intervals are percentile intervals of the **Bayesian bootstrap** (Rubin 1981): each draw gives
the replications Dirichlet(1, ..., 1) weights, and a statistic is computed with the same weights
for every policy (the pairs stay paired). A weighted mean of values that are all >= 0 is >= 0,
so no interval of a non-negative outcome goes below zero, and a relative effect never goes
below -100 %. The share of draws in which the effect has the outcome's intended sign (down for
consumption, up for the retail price) is ``p_intended``, the posterior probability of the
intended sign under the Bayesian bootstrap.

When the replications also differ by their parameters (a comparison over parameter
uncertainty, `narcoflow.experiments.comparison`), the runs of one replication can be ten times
larger than those of another, and a ratio of means is dominated by the largest. There the
relative effect is ``relative="log_ratio"``: the geometric mean of the paired ratios,
``exp(mean(log(y_policy / y_baseline))) - 1``, with the Bayesian-bootstrap interval of the mean
log ratio mapped back through ``exp``, so its bounds stay above -100 % (the ratio stays
positive) however skewed the runs, and ``p_intended`` is then the share of draws whose mean log
ratio has the intended sign, the sign of the effect reported. It needs every paired value
positive; an outcome with a zero in some run falls back to the ratio of means.

The bootstrap cannot reach beyond the observed replications: with few of them every interval is
too narrow. `few_replications` says so below `MIN_REPLICATIONS`.

Examples
--------
>>> mean, lo, hi = bootstrap_interval([1.0, 2.0, 3.0])
>>> mean, 1.0 <= lo < hi <= 3.0
(2.0, True)
>>> few_replications(3)  # doctest: +ELLIPSIS
'Only 3 replications: ...'
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

CONFIDENCE = 0.95


class FewReplicationsWarning(UserWarning):
    """Too few replications for the intervals of a comparison (`few_replications`)."""

#: Bayesian-bootstrap draws per interval (fixed seed: the same replications give the same table)
DRAWS = 4000
#: Below this many replications, intervals are flagged as too narrow (`few_replications`).
MIN_REPLICATIONS = 10

#: How relative effects are computed: ratio of the means, or geometric mean of paired ratios.
RELATIVE = ("ratio_of_means", "log_ratio")

#: Columns of the ``comparisons`` rows (after ``experiment_id``).
COMPARISON_FIELDS = ("policy", "metric", "mean", "ci_low", "ci_high", "effect_vs_baseline",
                     "effect_ci_low", "effect_ci_high", "effect_rel", "effect_rel_ci_low",
                     "effect_rel_ci_high", "p_intended", "replications")


def _too_few(x: np.ndarray) -> tuple[float, float, float] | None:
    """(mean, NaN, NaN) when fewer than 2 values leave no interval (all NaN for none), else None."""
    if len(x) >= 2:
        return None
    return (float(x.mean()) if len(x) else float("nan")), float("nan"), float("nan")


def t_interval(values: Sequence[float] | np.ndarray, confidence: float = CONFIDENCE
               ) -> tuple[float, float, float]:
    """Mean and two-sided Student-t confidence interval; NaN bounds with fewer than 2 values.

    Kept for quantities that may be negative; `compare_table` uses `bootstrap_interval`."""
    x = np.asarray(values, dtype=float)
    if (few := _too_few(x)) is not None:
        return few
    mean = float(x.mean())
    from scipy import stats  # imported here: scipy.stats takes a second to import

    half = float(stats.t.ppf(0.5 + confidence / 2, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x)))
    return mean, mean - half, mean + half


def bootstrap_weights(n: int, draws: int = DRAWS, seed: int = 0) -> np.ndarray:
    """``draws x n`` Dirichlet(1, ..., 1) weights (rows sum to 1), the same for the same ``n``."""
    rng = np.random.default_rng(seed)
    w = rng.exponential(size=(draws, n))
    return w / w.sum(axis=1, keepdims=True)


def _bounds(draws: np.ndarray, confidence: float) -> tuple[float, float]:
    d = draws[np.isfinite(draws)]
    if len(d) == 0:
        return float("nan"), float("nan")
    a = (1 - confidence) / 2
    lo, hi = np.quantile(d, [a, 1 - a])
    return float(lo), float(hi)


def bootstrap_interval(values: Sequence[float] | np.ndarray, confidence: float = CONFIDENCE
                       ) -> tuple[float, float, float]:
    """Mean and Bayesian-bootstrap percentile interval of the mean; NaN bounds below 2 values.

    The bounds lie within [min, max] of ``values``: never below 0 for non-negative values."""
    x = np.asarray(values, dtype=float)
    if (few := _too_few(x)) is not None:
        return few
    mean = float(x.mean())
    lo, hi = _bounds(bootstrap_weights(len(x)) @ x, confidence)
    return mean, max(lo, float(x.min())), min(hi, float(x.max()))


def paired_effect(y: Sequence[float] | np.ndarray, base: Sequence[float] | np.ndarray, *,
                  intended: str | None = None, confidence: float = CONFIDENCE,
                  relative: str = "ratio_of_means") -> dict[str, float]:
    """Effect of a policy from paired replications ``y[i]`` (policy) and ``base[i]`` (baseline).

    Returns ``effect, effect_ci_low, effect_ci_high`` (absolute), ``effect_rel,
    effect_rel_ci_low, effect_rel_ci_high`` (``mean(y) / mean(base) - 1``, NaN when the baseline
    mean is 0; with ``relative="log_ratio"`` and every value positive, the geometric mean of
    the ratios ``y[i] / base[i]`` minus 1, see the module's text) and ``p_intended`` (share of
    bootstrap draws whose effect has the ``intended`` sign, ``"down"`` or ``"up"``: the relative
    effect's draws with log ratios, the difference's otherwise, so the probability always speaks of
    the effect reported; NaN without an intended sign or with one replication).
    """
    y, b = np.asarray(y, float), np.asarray(base, float)
    if len(y) != len(b):
        raise ValueError("paired_effect needs as many policy as baseline replications")
    nan = float("nan")
    out = dict.fromkeys(("effect", "effect_ci_low", "effect_ci_high", "effect_rel", "effect_rel_ci_low",
                         "effect_rel_ci_high", "p_intended"), nan)
    if len(y) == 0:
        return out
    my, mb = float(y.mean()), float(b.mean())
    if relative not in RELATIVE:
        raise ValueError(f"relative must be one of {RELATIVE}, not {relative!r}")
    log_ratio = relative == "log_ratio" and bool((y > 0).all() and (b > 0).all())
    lr = np.log(y) - np.log(b) if log_ratio else None
    out["effect"] = my - mb
    if log_ratio:
        out["effect_rel"] = float(np.expm1(lr.mean()))
    else:
        out["effect_rel"] = my / mb - 1 if mb != 0 else nan
    if len(y) < 2:
        return out
    w = bootstrap_weights(len(y))
    wy, wb = w @ y, w @ b
    diff = w @ (y - b)  # the paired differences, weighted alike
    if np.array_equal(y, b):  # identical runs: exactly no effect
        diff = np.zeros_like(diff)
    out["effect_ci_low"], out["effect_ci_high"] = _bounds(diff, confidence)
    if log_ratio:  # exp of the weighted mean log ratio: above -100 % by construction
        rel = np.zeros(len(w)) if np.array_equal(y, b) else np.expm1(w @ lr)
        out["effect_rel_ci_low"], out["effect_rel_ci_high"] = _bounds(rel, confidence)
    elif mb != 0:
        with np.errstate(divide="ignore", invalid="ignore"):
            rel = np.where(diff == 0, 0.0, wy / wb - 1)
        out["effect_rel_ci_low"], out["effect_rel_ci_high"] = _bounds(rel, confidence)
        if (y >= 0).all() and (b >= 0).all():
            out["effect_rel_ci_low"] = max(out["effect_rel_ci_low"], -1.0)
    if intended in ("down", "up"):
        # the sign of the statistic the relative effect reports: with log ratios the weighted mean
        # log ratio (a policy can cut most runs by half and raise one large run a little: its
        # geometric mean falls while the difference of means rises)
        sign = rel if log_ratio else diff
        out["p_intended"] = float(np.mean(sign < 0 if intended == "down" else sign > 0))
    return out


def few_replications(n: int, confidence: float = CONFIDENCE) -> str | None:
    """A warning when ``n`` replications are too few for the intervals shown, else None."""
    if n >= MIN_REPLICATIONS:
        return None
    if n < 2:
        return (f"Only {n} replication: no intervals and no probability of the intended sign; "
                f"use --replications {MIN_REPLICATIONS} or more.")
    reach = 1 - 2 * 0.5 ** n  # chance that [min, max] of n draws holds their median
    return (f"Only {n} replications: the {confidence:.0%} intervals cannot reach beyond the "
            f"{n} values observed, so they are too narrow (even [min, max] holds the median of "
            f"the runs with probability {reach:.0%} only) and p_intended is rough. Use "
            f"--replications {MIN_REPLICATIONS} or more before reading them as {confidence:.0%} "
            "intervals.")


def compare_table(frame: pd.DataFrame, *, policies: Sequence[str], metrics: Sequence[str],
                  baseline: str = "baseline", confidence: float = CONFIDENCE,
                  intended: Mapping[str, str | None] | None = None,
                  relative: str = "ratio_of_means") -> pd.DataFrame:
    """The ``comparisons`` rows from per-run outcomes.

    Parameters
    ----------
    frame : pandas.DataFrame
        ``policy, replication, metric, value`` (one row per run and metric).
    policies, metrics : sequence of str
        Row order of the result; ``baseline`` must be among ``policies``.
    intended : mapping, optional
        Outcome -> ``"down"`` / ``"up"``: the sign a policy aims at (for ``p_intended``).
    relative : {"ratio_of_means", "log_ratio"}
        How relative effects are computed (`paired_effect`).

    Returns
    -------
    pandas.DataFrame
        `COMPARISON_FIELDS`: per policy and outcome the mean and its interval, the absolute and
        relative effect against the baseline with their intervals (paired over the replications
        both policies have) and the probability that the effect has the intended sign. The
        baseline's own rows have effect 0.
    """
    intended = dict(intended or {})
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
            mean, lo, hi = bootstrap_interval(y, confidence)
            eff = dict.fromkeys(("effect", "effect_ci_low", "effect_ci_high", "effect_rel",
                                 "effect_rel_ci_low", "effect_rel_ci_high", "p_intended"), math.nan)
            if base is not None and metric in base.columns:
                common = block.index.intersection(base.index)
                eff = paired_effect(block.loc[common, metric].to_numpy(float),
                                    base.loc[common, metric].to_numpy(float),
                                    intended=intended.get(metric), confidence=confidence,
                                    relative=relative)
                if policy == baseline:
                    eff["p_intended"] = math.nan
            rows.append((policy, metric, mean, lo, hi, *eff.values(), len(y)))
    out = pd.DataFrame(rows, columns=list(COMPARISON_FIELDS))
    return out.astype({c: "float64" for c in COMPARISON_FIELDS[2:-1]} | {"replications": "int64"})
