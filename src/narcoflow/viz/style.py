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
