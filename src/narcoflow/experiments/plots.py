"""Plots of experiments: a static PNG (matplotlib, no display needed) and an interactive,
self-contained HTML file (plotly, works offline) of the same figure.

Examples
--------
>>> paths = write_comparison_plots(table, "nk-compare")    # doctest: +SKIP
>>> [p.name for p in paths]                                  # doctest: +SKIP
['nk-compare.png', 'nk-compare.html']
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from narcoflow.experiments.outcomes import outcome_title

MAX_PARAMETERS = 25


def _label(metric: str, labels: dict[str, str] | None = None) -> str:
    """The panel title of an outcome: its label and unit from the metric registry."""
    return (labels or {}).get(metric) or outcome_title(metric)


def _errors(mean: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    below = np.nan_to_num(mean - lo, nan=0.0)
    above = np.nan_to_num(hi - mean, nan=0.0)
    return np.maximum(below, 0.0), np.maximum(above, 0.0)


def write_comparison_plots(table: pd.DataFrame, stem: str | Path, *, title: str = "",
                           labels: dict[str, str] | None = None) -> list[Path]:
    """One panel per outcome: each policy's mean with its confidence interval.

    Parameters
    ----------
    table : pandas.DataFrame
        ``comparisons`` rows (``policy, metric, mean, ci_low, ci_high, ...``).
    stem : path
        Output path without suffix; ``.png`` and ``.html`` are written.
    labels : dict, optional
        Panel titles of user-defined outcomes (the others come from the metric registry).
    """
    from matplotlib.figure import Figure
    from plotly import graph_objects as go
    from plotly.subplots import make_subplots

    stem = Path(stem)
    metrics = list(dict.fromkeys(table["metric"]))
    policies = list(dict.fromkeys(table["policy"]))
    ncols = min(4, max(1, len(metrics)))
    nrows = math.ceil(len(metrics) / ncols)

    height = 3.4 * nrows + 0.8
    fig = Figure(figsize=(4.2 * ncols, height))  # fixed margins: constrained layout takes seconds
    axes = fig.subplots(nrows, ncols, squeeze=False)
    fig.subplots_adjust(left=0.07, right=0.98, top=1 - 0.7 / height, bottom=1.1 / height,
                        hspace=1.0, wspace=0.35)
    x = np.arange(len(policies))
    for ax, metric in zip(axes.flat, metrics, strict=False):
        d = table[table["metric"] == metric].set_index("policy").reindex(policies)
        mean = d["mean"].to_numpy(float)
        err = _errors(mean, d["ci_low"].to_numpy(float), d["ci_high"].to_numpy(float))
        ax.errorbar(x, mean, yerr=np.vstack(err), fmt="o", capsize=4)
        if "baseline" in policies:
            ax.axhline(mean[policies.index("baseline")], color="grey", lw=0.8, ls="--")
        ax.set_title(_label(metric, labels), fontsize=9)
        ax.set_xticks(x, policies, rotation=35, ha="right", fontsize=8)
        ax.tick_params(axis="y", labelsize=8)
    for ax in list(axes.flat)[len(metrics):]:
        ax.set_visible(False)
    fig.suptitle(title or "Outcomes by policy: mean and 95 % confidence interval")
    png = stem.with_suffix(".png")
    fig.savefig(png, dpi=110)

    pfig = make_subplots(rows=nrows, cols=ncols, subplot_titles=[_label(m, labels) for m in metrics])
    for i, metric in enumerate(metrics):
        d = table[table["metric"] == metric].set_index("policy").reindex(policies)
        mean = d["mean"].to_numpy(float)
        below, above = _errors(mean, d["ci_low"].to_numpy(float), d["ci_high"].to_numpy(float))
        pfig.add_trace(go.Scatter(
            x=policies, y=mean, mode="markers", name=metric, showlegend=False,
            error_y={"type": "data", "symmetric": False, "array": above, "arrayminus": below},
            customdata=np.stack([d["effect_vs_baseline"].to_numpy(float),
                                 d["effect_ci_low"].to_numpy(float),
                                 d["effect_ci_high"].to_numpy(float)], axis=1),
            hovertemplate="%{x}<br>mean %{y:.4g}<br>effect vs baseline %{customdata[0]:.4g} "
                          "[%{customdata[1]:.4g}, %{customdata[2]:.4g}]<extra></extra>"),
            row=i // ncols + 1, col=i % ncols + 1)
    pfig.update_layout(title=title or "Outcomes by policy: mean and 95 % confidence interval",
                       height=330 * nrows + 80, width=380 * ncols + 80)
    html = stem.with_suffix(".html")
    pfig.write_html(html, include_plotlyjs=True, full_html=True)
    return [png, html]


def write_sensitivity_plots(table: pd.DataFrame, stem: str | Path, *, title: str = "") -> list[Path]:
    """Horizontal bars of the main indices (Sobol S1 and ST, or Morris mu_star) with their CI,
    one panel per outcome, the most influential parameters first (at most 25)."""
    from matplotlib.figure import Figure
    from plotly import graph_objects as go
    from plotly.subplots import make_subplots

    stem = Path(stem)
    outcomes = list(dict.fromkeys(table["outcome"]))
    method = str(table["method"].iloc[0]) if len(table) else "sobol"
    stats = ["S1", "ST"] if method == "sobol" else ["mu_star"]
    key = stats[-1]
    panels = []
    for outcome in outcomes:
        d = table[(table["outcome"] == outcome) & table["statistic"].isin(stats)]
        order = (d[d["statistic"] == key].sort_values("value", ascending=False)["parameter"]
                 .head(MAX_PARAMETERS).tolist())
        panels.append((outcome, d, order))
    height = max(3.0, 0.28 * max((len(p[2]) for p in panels), default=1) + 1.2)

    fig = Figure(figsize=(7.5 * len(panels), height), layout="constrained")
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (outcome, d, order) in zip(axes, panels, strict=True):
        y = np.arange(len(order))
        width = 0.8 / len(stats)
        for k, stat in enumerate(stats):
            s = d[d["statistic"] == stat].set_index("parameter").reindex(order)
            v = s["value"].to_numpy(float)
            err = _errors(v, s["ci_low"].to_numpy(float), s["ci_high"].to_numpy(float))
            ax.barh(y + (k - (len(stats) - 1) / 2) * width, v, height=width, xerr=np.vstack(err),
                    label=stat, capsize=2)
        ax.set_yticks(y, order, fontsize=7)
        ax.invert_yaxis()
        ax.set_title(f"{method}: {_label(outcome)}", fontsize=9)
        ax.legend(fontsize=8)
    fig.suptitle(title or "Sensitivity indices with 95 % confidence intervals")
    png = stem.with_suffix(".png")
    fig.savefig(png, dpi=110)

    pfig = make_subplots(rows=1, cols=len(panels), subplot_titles=[_label(o) for o, _, _ in panels])
    for col, (_, d, order) in enumerate(panels, start=1):
        for stat in stats:
            s = d[d["statistic"] == stat].set_index("parameter").reindex(order)
            v = s["value"].to_numpy(float)
            below, above = _errors(v, s["ci_low"].to_numpy(float), s["ci_high"].to_numpy(float))
            pfig.add_trace(go.Bar(y=order, x=v, orientation="h", name=stat, showlegend=col == 1,
                                  error_x={"type": "data", "symmetric": False, "array": above,
                                           "arrayminus": below}), row=1, col=col)
        pfig.update_yaxes(autorange="reversed", row=1, col=col)
    pfig.update_layout(title=title or "Sensitivity indices with 95 % confidence intervals",
                       barmode="group", height=int(110 * height) + 100, width=700 * len(panels))
    html = stem.with_suffix(".html")
    pfig.write_html(html, include_plotlyjs=True, full_html=True)
    return [png, html]


def plot_stem(db: str | Path, kind: str, experiment_id: str) -> Path:
    """``<db folder>/<db stem>-<kind>-<first 8 characters of the experiment id>``."""
    db = Path(db)
    return db.with_name(f"{db.stem}-{kind}-{experiment_id[:8]}")


def write_fan_plots(quantiles: pd.DataFrame, stem: str | Path, *, title: str = "",
                    label: str = "") -> list[Path]:
    """Fan charts of a comparison, one panel per policy on a shared axis: per year the median of
    the replications and their 50 % and 90 % bands (``quantiles`` from
    `narcoflow.experiments.comparison.fan_quantiles`); ``.png`` and ``.html`` next to ``stem``."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    from narcoflow.viz.figures import policy_fan_figure
    from narcoflow.viz.style import SERIES_COLOURS

    stem = Path(stem)
    title = title or "Fan chart: median, 50 % and 90 % of the replications per year"
    policies = list(dict.fromkeys(quantiles["policy"].astype(str)))
    n = max(1, len(policies))
    fig = Figure(figsize=(3.6 * n + 0.8, 3.8))
    axes = fig.subplots(1, n, squeeze=False, sharey=True)[0]
    fig.subplots_adjust(left=0.8 / (3.6 * n + 0.8), right=0.98, top=0.8, bottom=0.15, wspace=0.08)
    for i, (ax, policy) in enumerate(zip(axes, policies, strict=True)):
        d = quantiles[quantiles["policy"].astype(str) == policy].sort_values("year")
        colour = SERIES_COLOURS[i % len(SERIES_COLOURS)]
        ax.fill_between(d["year"], d["q05"], d["q95"], color=colour, alpha=0.15, lw=0, label="90 %")
        ax.fill_between(d["year"], d["q25"], d["q75"], color=colour, alpha=0.35, lw=0, label="50 %")
        ax.plot(d["year"], d["median"], color=colour, marker="o", ms=3, label="median")
        ax.set_title(policy, fontsize=9)
        ax.tick_params(labelsize=8)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if i == 0:
            ax.set_ylabel(label, fontsize=8)
            ax.legend(fontsize=7, frameon=False)
    fig.suptitle(title, fontsize=10)
    png = stem.with_suffix(".png")
    fig.savefig(png, dpi=110)
    html = stem.with_suffix(".html")
    policy_fan_figure(quantiles, title=title, label=label).write_html(html, include_plotlyjs=True, full_html=True)
    return [png, html]
