"""Figures of a calibration: posterior predictive check and posterior vs prior intervals.

Both put quantities of different units on one axis by normalising them: the predictive check
divides every target's band and prediction by the target's reference value (its observed value,
the midpoint of its range, or the finite end of a one-sided range), on a log axis; the posterior
figure maps each parameter's prior range to [0, 1].
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go

#: ratios below this are drawn at this value on the log axis (a prediction of 0)
FLOOR = 1e-3
_BAND, _INSIDE, _OUTSIDE = "rgba(33,102,172,0.35)", "#1a9850", "#d73027"
_TOLERANCE = "rgba(33,102,172,0.12)"


def reference(band_low: float, band_high: float) -> float:
    """The value a target's band and prediction are divided by."""
    if math.isinf(band_high):
        ref = band_low
    elif math.isinf(band_low):
        ref = band_high
    else:
        ref = (band_low + band_high) / 2
    return ref if ref > 0 else max(abs(band_high), abs(band_low), 1.0)


def normalised_check(check: pd.DataFrame) -> pd.DataFrame:
    """The predictive check with columns ``ref`` and band/prediction ratios (``*_ratio``)."""
    d = check.copy()
    d["ref"] = [reference(lo, hi) for lo, hi in zip(d["band_low"], d["band_high"], strict=True)]
    for col in ("band_low", "band_high", "predicted_low", "predicted_median", "predicted_high"):
        d[f"{col}_ratio"] = d[col] / d["ref"]
    return d


def ppc_figure(check: pd.DataFrame, *, title: str = "Posterior predictive check") -> go.Figure:
    """One row per target: the observed band (shaded; one-sided bands run to the edge), the band
    widened by one tolerance (lighter; a median there counts as inside) and the predicted median
    (green: inside, red: not) with its 90 % interval, all divided by the target's reference value."""
    d = normalised_check(check)
    ratios = d[["band_low_ratio", "predicted_low_ratio", "predicted_high_ratio", "predicted_median_ratio"]]
    finite = ratios.to_numpy()[np.isfinite(ratios.to_numpy())]
    top = max(10.0, float(np.nanmax(finite)) * 2 if finite.size else 10.0)
    fig = go.Figure()
    names = list(d["target"])
    for i, r in enumerate(d.itertuples(index=False)):
        lo = max(r.band_low_ratio, FLOOR)
        hi = top if math.isinf(r.band_high_ratio) else max(r.band_high_ratio, FLOOR)
        tol = getattr(r, "tolerance", None)
        if tol is not None and tol == tol:  # the band widened by one tolerance: where "inside" ends
            fig.add_shape(
                type="rect",
                x0=max(lo / (1 + tol), FLOOR),
                x1=min(hi * (1 + tol), top),
                y0=i - 0.2,
                y1=i + 0.2,
                fillcolor=_TOLERANCE,
                line_width=0,
                layer="below",
            )
        if hi / lo < 1.02:  # a point target: give the band a visible width
            lo, hi = lo / 1.02, hi * 1.02
        fig.add_shape(type="rect", x0=lo, x1=hi, y0=i - 0.35, y1=i + 0.35, fillcolor=_BAND, line_width=0, layer="below")
    colour = [_INSIDE if ok else _OUTSIDE for ok in d["inside"]]
    med = d["predicted_median_ratio"].clip(lower=FLOOR)
    fig.add_trace(
        go.Scatter(
            x=med,
            y=list(range(len(d))),
            mode="markers",
            marker={"color": colour, "size": 10},
            error_x={
                "type": "data",
                "symmetric": False,
                "array": (d["predicted_high_ratio"].clip(lower=FLOOR) - med).tolist(),
                "arrayminus": (med - d["predicted_low_ratio"].clip(lower=FLOOR)).tolist(),
                "color": "#444",
                "thickness": 1.5,
            },
            customdata=np.stack(
                [
                    d["observed"].astype(str),
                    d["predicted_median"],
                    d["predicted_low"],
                    d["predicted_high"],
                    d["unit"].astype(str),
                    d["source"].astype(str),
                ],
                axis=-1,
            ),
            hovertemplate=(
                "%{text}<br>observed %{customdata[0]} %{customdata[4]}<br>predicted "
                "%{customdata[1]:.4g} (90 %: %{customdata[2]:.4g} to %{customdata[3]:.4g})"
                "<br>source: %{customdata[5]}<extra></extra>"
            ),
            text=names,
            name="predicted median and 90 % interval",
            showlegend=True,
        )
    )
    fig.add_trace(
        go.Scatter(
            x=[None],
            y=[None],
            mode="markers",
            marker={"color": _BAND, "size": 12, "symbol": "square"},
            name="observed band",
        )
    )
    if "tolerance" in d:
        fig.add_trace(
            go.Scatter(
                x=[None],
                y=[None],
                mode="markers",
                name="within one tolerance (H x1.1, M x1.3, L x2)",
                marker={"color": _TOLERANCE, "size": 12, "symbol": "square"},
            )
        )
    fig.add_vline(x=1.0, line_dash="dot", line_color="#777")
    fig.update_layout(
        title=title,
        height=max(320, 40 * len(d) + 140),
        template="plotly_white",
        margin={"l": 10, "r": 10, "t": 90, "b": 50},
        legend={"orientation": "h", "y": 1.0, "yanchor": "bottom", "x": 1, "xanchor": "right"},
        xaxis={"type": "log", "title": "ratio to the target's reference value (observed value or band midpoint)"},
        yaxis={
            "tickmode": "array",
            "tickvals": list(range(len(d))),
            "ticktext": names,
            "autorange": "reversed",
            "automargin": True,
        },
    )
    return fig


def posterior_figure(
    table: pd.DataFrame, *, title: str = "Posterior 90 % intervals within the prior ranges"
) -> go.Figure:
    """``table`` has parameter, prior_low, prior_high, low, median, high; each prior range is [0, 1]."""
    d = table.copy()
    width = (d["prior_high"] - d["prior_low"]).replace(0, np.nan)
    for col in ("low", "median", "high"):
        d[f"{col}_u"] = ((d[col] - d["prior_low"]) / width).fillna(0.5)
    fig = go.Figure()
    y = list(range(len(d)))
    fig.add_trace(
        go.Bar(
            x=[1.0] * len(d),
            y=y,
            orientation="h",
            marker_color="rgba(150,150,150,0.25)",
            name="prior range",
            hoverinfo="skip",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=d["median_u"],
            y=y,
            mode="markers",
            marker={"color": "#2166ac", "size": 10},
            error_x={
                "type": "data",
                "symmetric": False,
                "array": (d["high_u"] - d["median_u"]).tolist(),
                "arrayminus": (d["median_u"] - d["low_u"]).tolist(),
                "thickness": 2,
            },
            customdata=np.stack([d["median"], d["low"], d["high"], d["prior_low"], d["prior_high"]], axis=-1),
            text=list(d["parameter"]),
            hovertemplate=(
                "%{text}<br>median %{customdata[0]:.4g} (90 %: %{customdata[1]:.4g} to "
                "%{customdata[2]:.4g})<br>prior %{customdata[3]:.4g} to %{customdata[4]:.4g}"
                "<extra></extra>"
            ),
            name="posterior median and 90 % interval",
        )
    )
    fig.update_layout(
        title=title,
        height=max(260, 40 * len(d) + 140),
        template="plotly_white",
        barmode="overlay",
        margin={"l": 10, "r": 10, "t": 90, "b": 50},
        legend={"orientation": "h", "y": 1.0, "yanchor": "bottom", "x": 1, "xanchor": "right"},
        xaxis={"range": [-0.02, 1.02], "title": "position within the prior range (0 = low end, 1 = high end)"},
        yaxis={
            "tickmode": "array",
            "tickvals": y,
            "ticktext": list(d["parameter"]),
            "autorange": "reversed",
            "automargin": True,
        },
    )
    return fig


# ---------------------------------------------------------------------------- prior and posterior
#: the legend of the per-parameter grids: under the panels, clear of their titles
_BOTTOM_LEGEND = {"orientation": "h", "yref": "container", "y": 0.0, "yanchor": "bottom", "x": 0.0,
                  "xanchor": "left"}

def _grid(n: int, titles: list[str], *, cols: int = 3, vertical: float = 0.12):
    from plotly.subplots import make_subplots

    cols = max(1, min(cols, n))
    rows = max(1, math.ceil(n / cols))
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=titles, horizontal_spacing=0.08,
                        vertical_spacing=min(vertical, 0.6 / rows))
    return fig, rows, cols


def weighted_density(values: np.ndarray, weights: np.ndarray, low: float, high: float,
                     bins: int | None = None) -> tuple[np.ndarray, np.ndarray, float]:
    """(bin centres, density, bin width) of a weighted sample over [low, high] (a density: its
    bars' areas add up to the share of the weight inside the range)."""
    values, weights = np.asarray(values, float), np.asarray(weights, float)
    bins = bins or int(min(30, max(8, 2 * math.sqrt(max(len(values), 1)))))
    if not high > low:
        low, high = float(np.min(values)) - 0.5, float(np.max(values)) + 0.5
    total = weights.sum() or 1.0
    counts, edges = np.histogram(values, bins=bins, range=(low, high), weights=weights)
    width = float(edges[1] - edges[0])
    return (edges[:-1] + edges[1:]) / 2, counts / total / width, width


def prior_posterior_figure(posterior: pd.DataFrame, priors: dict[str, tuple[float, float]], *,
                           ranges: dict[str, tuple[float, float]] | None = None,
                           title: str = "Prior and posterior of each fitted parameter") -> go.Figure:
    """One panel per parameter: the uniform prior over its range (grey) and the weighted histogram
    of the last generation's particles (blue, a density), with the weighted median (line).

    ``posterior``: table ``posterior`` (generation, particle, parameter, value, weight);
    ``priors``: parameter -> (low, high) of the uniform prior; ``ranges``: a wider range to show
    around it, as the uniform density over it (dotted; e.g. the scenario's range when the prior is
    the box a history match left).
    """
    params = list(priors)
    last = posterior[posterior["generation"] == posterior["generation"].max()] if len(posterior) else posterior
    med = intervals_by_parameter(last)
    fig, _, cols = _grid(len(params), params)
    for k, p in enumerate(params):
        row, col = k // cols + 1, k % cols + 1
        lo, hi = (float(x) for x in priors[p])
        dens = 1.0 / (hi - lo) if hi > lo else 1.0
        first = k == 0
        if ranges and p in ranges and tuple(ranges[p]) != (lo, hi):
            rlo, rhi = (float(x) for x in ranges[p])
            wide = 1.0 / (rhi - rlo) if rhi > rlo else dens
            fig.add_trace(go.Scatter(x=[rlo, rlo, rhi, rhi], y=[0, wide, wide, 0], mode="lines",
                                     line={"color": "#999999", "dash": "dot", "width": 1},
                                     name="uniform over the scenario range", legendgroup="range", showlegend=first,
                                     meta={"parameter": p, "kind": "range"}, hoverinfo="skip"),
                          row=row, col=col)
        fig.add_trace(go.Scatter(x=[lo, lo, hi, hi], y=[0, dens, dens, 0], mode="lines", fill="toself",
                                 fillcolor="rgba(150,150,150,0.25)", line={"color": "#777777", "width": 1},
                                 name="prior (uniform)", legendgroup="prior", showlegend=first,
                                 meta={"parameter": p, "kind": "prior"},
                                 hovertemplate=f"prior: uniform on {lo:.4g} to {hi:.4g}<extra></extra>"),
                      row=row, col=col)
        d = last[last["parameter"] == p]
        if len(d):
            x, y, width = weighted_density(d["value"].to_numpy(), d["weight"].to_numpy(), lo, hi)
            fig.add_trace(go.Bar(x=x, y=y, width=width, marker_color="rgba(33,102,172,0.65)",
                                 name="posterior (last generation, weighted)", legendgroup="post",
                                 showlegend=first, meta={"parameter": p, "kind": "posterior"},
                                 hovertemplate="%{x:.4g}: density %{y:.3g}<extra></extra>"),
                          row=row, col=col)
            if p in med:
                m = med[p]
                fig.add_trace(go.Scatter(
                    x=[m["median"]] * 2, y=[0, float(y.max()) * 1.05 if len(y) else dens],
                    mode="lines", line={"color": "#08306b", "width": 2}, name="posterior median",
                    legendgroup="median", showlegend=first, meta={"parameter": p, "kind": "median"},
                    hovertemplate=(f"median {m['median']:.4g} (90 %: {m['low']:.4g} to {m['high']:.4g})"
                                   "<extra></extra>")), row=row, col=col)
    rows = math.ceil(len(params) / cols) if params else 1
    fig.update_layout(title=title, height=max(320, 260 * rows + 150), template="plotly_white", bargap=0,
                      margin={"l": 10, "r": 10, "t": 90, "b": 90}, legend=_BOTTOM_LEGEND)
    fig.update_yaxes(title_text="density", col=1)
    return fig


def intervals_by_parameter(posterior: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Parameter -> {low, median, high}: weighted 5 %, 50 %, 95 % of one generation's particles."""
    from narcoflow.calibration.outputs import intervals

    if not len(posterior):
        return {}
    return {r.parameter: {"low": r.low, "median": r.median, "high": r.high}
            for r in intervals(posterior).itertuples(index=False)}


def generations_figure(posterior: pd.DataFrame, priors: dict[str, tuple[float, float]], *,
                       title: str = "Posterior by generation") -> go.Figure:
    """One panel per parameter: the weighted median and 90 % interval of every generation, between
    the prior's ends (dotted): how the fit narrowed the parameter generation by generation."""
    from narcoflow.calibration.outputs import intervals

    params = list(priors)
    gens = sorted(int(g) for g in posterior["generation"].unique()) if len(posterior) else []
    iv = pd.concat([intervals(posterior, g).assign(generation=g) for g in gens], ignore_index=True) \
        if gens else pd.DataFrame(columns=["parameter", "low", "median", "high", "generation"])
    fig, _, cols = _grid(len(params), params)
    for k, p in enumerate(params):
        row, col = k // cols + 1, k % cols + 1
        d = iv[iv["parameter"] == p]
        lo, hi = (float(x) for x in priors[p])
        fig.add_trace(go.Scatter(
            x=d["generation"], y=d["median"], mode="markers+lines", line={"color": "#2166ac", "width": 1},
            marker={"size": 7}, name="weighted median and 90 % interval", legendgroup="gen", showlegend=k == 0,
            error_y={"type": "data", "symmetric": False, "array": (d["high"] - d["median"]).tolist(),
                     "arrayminus": (d["median"] - d["low"]).tolist(), "thickness": 1.5},
            meta={"parameter": p}, hovertemplate="generation %{x}: %{y:.4g}<extra></extra>"), row=row, col=col)
        for edge in (lo, hi):
            fig.add_trace(go.Scatter(x=[-0.3, max(gens or [0]) + 0.3], y=[edge, edge], mode="lines",
                                     line={"color": "#999999", "dash": "dot", "width": 1}, name="prior range",
                                     legendgroup="prior", showlegend=k == 0 and edge == lo, hoverinfo="skip",
                                     meta={"parameter": p, "kind": "prior"}), row=row, col=col)
    rows = math.ceil(len(params) / cols) if params else 1
    fig.update_layout(title=title, height=max(300, 230 * rows + 150), template="plotly_white",
                      margin={"l": 10, "r": 10, "t": 90, "b": 110}, legend=_BOTTOM_LEGEND)
    fig.update_xaxes(dtick=1, title_text="generation")
    return fig


# ---------------------------------------------------------------------------- history matching
def waves_figure(waves: pd.DataFrame, *, title: str = "History matching: the space not ruled out") -> go.Figure:
    """The non-implausible fraction of the parameter space after each wave (log scale), with the
    runs each wave made."""
    d = waves.sort_values("wave")
    fig = go.Figure(go.Scatter(
        x=d["wave"], y=d["nroy_fraction"].clip(lower=1e-12), mode="markers+lines+text",
        text=[f"{int(r)} runs" for r in d["runs"]], textposition="top center", marker={"size": 9, "color": "#2166ac"},
        name="non-implausible fraction", hovertemplate="wave %{x}: %{y:.3g} of the space (%{text})<extra></extra>"))
    fig.update_layout(title=title, height=340, template="plotly_white", margin={"l": 10, "r": 10, "t": 70, "b": 40},
                      xaxis={"dtick": 1, "title": "wave"},
                      yaxis={"type": "log", "title": "share of the prior box not ruled out"})
    return fig
