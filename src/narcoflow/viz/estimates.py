"""Fan charts of an estimate (`narcoflow.experiments.estimates`): per calendar year, the median
line and the 50 % and 90 % bands over every run of the estimate, one figure per quantity with a
menu of its series (a destination, a drug, a province, a role); the first series shown is the
total.

Examples
--------
>>> import pandas as pd
>>> t = pd.DataFrame({"quantity": "users", "unit": "people", "drug": None, "region": "all",
...                   "destination": None, "role": None, "year": [2010, 2011], "median": [5.0, 6.0],
...                   "q05": [1.0, 2.0], "q25": [4.0, 5.0], "q75": [6.0, 7.0], "q95": [9.0, 9.5]})
>>> fig = fan_figure(t, "users")
>>> [tr.name for tr in fig.data]
['90 % interval', '50 % interval', 'median']
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from narcoflow.viz.style import layout, rgba

_COLOUR = "#2166ac"
_FILTERS = ("drug", "region", "destination", "role")
_ALL_TEXT = {"drug": "all drugs", "region": "all provinces", "destination": "all destinations",
             "role": "all roles"}


def series_label(row: pd.Series | dict) -> str:
    """``methamphetamine, China`` from a row's filter columns; ``total`` when it has none."""
    parts = []
    for col in _FILTERS:
        v = row.get(col)
        if isinstance(v, str) and v:
            parts.append(_ALL_TEXT[col] if v == "all" else v)
    return ", ".join(parts) or "total"


def _series(table: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """The series of one quantity, totals first, then in table order."""
    keys = table[list(_FILTERS)].astype("object").where(table[list(_FILTERS)].notna(), None)
    labels = [series_label(r) for r in keys.to_dict("records")]
    d = table.assign(_label=labels)
    order = list(dict.fromkeys(labels))
    n_all = {lab: lab.count("all ") for lab in order}
    order.sort(key=lambda lab: -n_all[lab])  # stable: the most summed series first
    return [(lab, d[d["_label"] == lab].sort_values("year")) for lab in order]


def fan_figure(table: pd.DataFrame, quantity: str, *, title: str | None = None) -> go.Figure:
    """A fan chart of ``quantity`` (rows of table ``estimates``): 90 % band, 50 % band, median.

    With several series (filters), a menu picks one; the traces of the others are hidden.
    """
    d = table[table["quantity"] == quantity]
    if d.empty:
        raise ValueError(f"no rows of quantity {quantity!r}")
    unit = str(d["unit"].iloc[0])
    series = _series(d)
    fig = go.Figure()
    for i, (label, s) in enumerate(series):
        visible = i == 0
        years = s["year"].tolist()
        fig.add_trace(go.Scatter(x=years + years[::-1], y=s["q95"].tolist() + s["q05"].tolist()[::-1],
                                 mode="lines", fill="toself", fillcolor=rgba(_COLOUR, 0.15), line={"width": 0},
                                 name="90 % interval", hoverinfo="skip", visible=visible,
                                 legendgroup="q90", showlegend=True))
        fig.add_trace(go.Scatter(x=years + years[::-1], y=s["q75"].tolist() + s["q25"].tolist()[::-1],
                                 mode="lines", fill="toself", fillcolor=rgba(_COLOUR, 0.35), line={"width": 0},
                                 name="50 % interval", hoverinfo="skip", visible=visible,
                                 legendgroup="q50", showlegend=True))
        fig.add_trace(go.Scatter(
            x=years, y=s["median"].tolist(), mode="lines+markers", line={"color": _COLOUR, "width": 2},
            name="median", visible=visible,
            customdata=list(zip(s["q05"], s["q25"], s["q75"], s["q95"], strict=True)),
            hovertemplate=(f"{label}<br>%{{x}}: median %{{y:,.4g}} {unit}<br>50 %: "
                           "[%{customdata[1]:,.4g}, %{customdata[2]:,.4g}]<br>90 %: "
                           "[%{customdata[0]:,.4g}, %{customdata[3]:,.4g}]<extra></extra>")))
    if len(series) > 1:
        buttons = []
        for i, (label, _) in enumerate(series):
            vis = [j // 3 == i for j in range(3 * len(series))]
            buttons.append({"label": label, "method": "update",
                            "args": [{"visible": vis}, {"title.text": f"{title or quantity}: {label}"}]})
        fig.update_layout(updatemenus=[{"buttons": buttons, "x": 1.0, "xanchor": "right", "y": 1.14,
                                        "yanchor": "top", "showactive": True}])
    layout(fig, f"{title or quantity}: {series[0][0]}" if len(series) > 1 else (title or quantity),
           height=420)
    fig.update_xaxes(title_text="year", dtick=1 if d["year"].nunique() <= 20 else None)
    fig.update_yaxes(title_text=unit, rangemode="tozero")
    return fig
