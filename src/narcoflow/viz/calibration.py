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
