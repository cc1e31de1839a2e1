"""The look shared by every plotly figure of narcoflow: font, series colours, layout, units.

Kept apart so that the report's figures (`narcoflow.viz.figures`, `.maps`, `.timeseries`) and
the dashboard's (`narcoflow.viz.runs`) look the same without importing each other.
"""

from __future__ import annotations

import plotly.graph_objects as go

FONT = "Helvetica, Arial, sans-serif"
SERIES_COLOURS = ["#b2182b", "#2166ac", "#1b7837", "#e08214", "#7570b3", "#8c510a", "#525252",
                  "#66c2a5", "#e7298a"]


def layout(fig: go.Figure, title: str, *, height: int) -> go.Figure:
    fig.update_layout(title={"text": title, "x": 0.01, "xanchor": "left"}, height=height,
                      font={"family": FONT, "size": 12}, template="plotly_white",
                      margin={"l": 60, "r": 30, "t": 70, "b": 40})
    return fig


def rgba(hex_colour: str, alpha: float) -> str:
    h = hex_colour.lstrip("#")
    r, g, b = (int(h[i:i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def kg_text(grams: float) -> str:
    kg = grams / 1e3
    return f"{kg / 1e3:,.1f} t" if kg >= 1e4 else f"{kg:,.0f} kg" if kg >= 10 else f"{kg:,.2f} kg"


def mass_unit(grams: float) -> tuple[str, float]:
    """One unit for every mass of a figure whose largest is ``grams``: ``("t", 1e-6)`` from 10 t
    on, else ``("kg", 1e-3)`` (the factor converts grams)."""
    return ("t", 1e-6) if grams >= 1e7 else ("kg", 1e-3)


def mass_text(grams: float, unit: str) -> str:
    """``grams`` in ``unit`` (``t`` or ``kg``), with enough digits to tell small flows from zero."""
    v = grams * (1e-6 if unit == "t" else 1e-3)
    if v == 0 or abs(v) >= 100:
        return f"{v:,.0f} {unit}"
    if abs(v) >= 10:
        return f"{v:,.1f} {unit}"
    return f"{v:,.2f} {unit}" if abs(v) >= 0.01 else f"{v:.1g} {unit}"
