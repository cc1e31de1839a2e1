"""The province map of the report: use per 1,000 people and grams consumed, by province.

Drawn on plain axes from the shipped polygons (`narcoflow.viz.geography`), never on a plotly
geo base map, so it needs no network; chemical-factory cities, state factories (and a factory's
former site) and border crossings are marked on it.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import sample_colorscale
from plotly.subplots import make_subplots

from narcoflow.results.results import last_value, run_total
from narcoflow.viz.geography import load_geography
from narcoflow.viz.style import layout


def _ring_xy(rings: list) -> tuple[list, list]:
    xs: list = []
    ys: list = []
    for ring in rings:
        xs += [p[0] for p in ring] + [None]
        ys += [p[1] for p in ring] + [None]
    return xs[:-1], ys[:-1]


def _colour(value: float, vmax: float, scale: str) -> str:
    if not np.isfinite(value):
        return "#f0f0f0"
    return sample_colorscale(scale, [min(max(value / vmax, 0.0), 1.0) if vmax > 0 else 0.0])[0]


def map_values(metrics: pd.DataFrame, regions: list[dict]) -> pd.DataFrame:
    """Per province: population, users at the end, users per 1,000, consumption (kg, g/person)."""
    users = last_value(metrics, "users", by=("region",)).set_index("region")["value"]
    consumed = run_total(metrics, "consumed_g", by=("region",)).set_index("region")["value"]
    rows = []
    for reg in regions:
        name, pop = reg["name"], float(reg["population"])
        u, c = float(users.get(name, 0.0)), float(consumed.get(name, 0.0))
        rows.append({"region": name, "population": pop, "users": u,
                     "users_per_1000": 1e3 * u / pop if pop else float("nan"),
                     "consumed_kg": c / 1e3, "consumed_g_per_person": c / pop if pop else math.nan})
    return pd.DataFrame(rows)


def map_figure(metrics: pd.DataFrame, scenario: dict[str, Any], *,
               title: str = "Drug use by province") -> go.Figure:
    """Two maps of North Korea's provinces: users per 1,000 people at the end of the run and
    grams consumed over the run, with chemical-factory cities, state factories and crossings.

    Regions that the shipped geography draws as points (Nampo, and any region of a custom
    scenario that is not a province polygon but is a known place) are drawn as discs.
    """
    geo = load_geography()
    values = map_values(metrics, scenario.get("regions", []))
    panels = [("users_per_1000", "Users per 1,000 people (end of run)", "YlOrRd"),
              ("consumed_kg", "Consumption over the run (kg)", "PuBu")]
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.09,
                        subplot_titles=[p[1] for p in panels])
    lon0, lat0, lon1, lat1 = geo.bbox
    undrawn: list[str] = []
    for col, (field, _label, scale) in enumerate(panels, start=1):
        vmax = float(values[field].max()) if len(values) else 0.0
        vmax = vmax if vmax > 0 else 1.0
        for nb in geo.neighbours:
            xs, ys = _ring_xy(nb["rings"])
            fig.add_trace(go.Scatter(x=xs, y=ys, fill="toself", fillcolor="#f2f0eb", mode="lines",
                                     line={"color": "#c9c6bd", "width": 0.6}, hoverinfo="skip",
                                     showlegend=False), row=1, col=col)
        discs = []
        for row in values.itertuples(index=False):
            v = getattr(row, field)
            text = (f"<b>{row.region}</b><br>population {row.population:,.0f}<br>"
                    f"users {row.users:,.0f} ({row.users_per_1000:,.1f} per 1,000)<br>"
                    f"consumed {row.consumed_kg:,.1f} kg ({row.consumed_g_per_person:,.3f} g/person)")
            prov = geo.province(row.region)
            if prov is None:
                place = geo.place(row.region)
                if place is None:
                    if col == 1:
                        undrawn.append(row.region)
                else:
                    discs.append((place, v, text))
                continue
            xs, ys = _ring_xy(prov["rings"])
            fig.add_trace(go.Scatter(x=xs, y=ys, fill="toself", mode="lines",
                                     fillcolor=_colour(v, vmax, scale), name=row.region,
                                     line={"color": "white", "width": 1}, hoveron="fills",
                                     hoverinfo="text", text=text, showlegend=False),
                          row=1, col=col)
        for place, v, text in discs:
            fig.add_trace(go.Scatter(x=[place["lon"]], y=[place["lat"]], mode="markers",
                                     marker={"size": 16, "color": _colour(v, vmax, scale),
                                             "line": {"color": "#404040", "width": 1}},
                                     hoverinfo="text", text=[text], showlegend=False),
                          row=1, col=col)
        # colour bar: an invisible marker carrying the colour scale
        fig.add_trace(go.Scatter(
            x=[None], y=[None], mode="markers", showlegend=False, hoverinfo="skip",
            marker={"color": [0, vmax], "cmin": 0, "cmax": vmax, "colorscale": scale,
                    "showscale": True,
                    "colorbar": {"x": 0.455 if col == 1 else 1.0, "len": 0.8, "thickness": 12,
                                 "title": {"text": "per 1,000" if col == 1 else "kg",
                                           "side": "right"}}}), row=1, col=col)
        _add_places(fig, scenario, geo, col=col)
        for name, x, y in (("CHINA", 125.6, 42.5), ("RUSSIA", 131.05, 43.15),
                           ("SOUTH KOREA", 128.3, 37.55), ("Yellow Sea", 124.0, 38.9),
                           ("East Sea / Sea of Japan", 130.0, 39.6)):
            fig.add_annotation(x=x, y=y, text=name, showarrow=False, row=1, col=col,
                               font={"size": 10, "color": "#8a8780"})
    scaleratio = 1 / math.cos(math.radians((lat0 + lat1) / 2))
    for col in (1, 2):
        suffix = "" if col == 1 else "2"
        fig.update_xaxes(range=[lon0, lon1], visible=False, row=1, col=col)
        fig.update_yaxes(range=[lat0, lat1], visible=False, scaleanchor=f"x{suffix}",
                         scaleratio=scaleratio, row=1, col=col)
    note = geo.data["sources"]["provinces"].split(",")[0] + " (public domain); places: GeoNames (CC BY 4.0)"
    if undrawn:
        note += "; not drawn (no shape or place known): " + ", ".join(undrawn)
    fig.add_annotation(text=note, xref="paper", yref="paper", x=0, y=-0.06, showarrow=False,
                       xanchor="left", font={"size": 9, "color": "#737373"})
    layout(fig, title, height=620)
    fig.update_layout(legend={"orientation": "h", "x": 0, "y": -0.1, "yanchor": "top"},
                      margin={"b": 90}, plot_bgcolor="#dfe9f2")
    return fig


def _add_places(fig: go.Figure, scenario: dict[str, Any], geo, *, col: int) -> None:
    """Markers for chemical-factory cities, state factories (and former sites), crossings."""
    groups: dict[str, list[tuple[float, float, str, str]]] = {
        "Chemical-factory city": [], "State factory": [], "Former state factory": [],
        "Border crossing": []}

    def locate(name: str, region: str) -> tuple[float, float, str] | None:
        place = geo.place(name)
        if place is not None:
            return place["lon"], place["lat"], ""
        prov = geo.province(region) if region else None
        if prov is not None:
            return prov["label"][0], prov["label"][1], " (location approximate: province centre)"
        return None

    for city in scenario.get("private", {}).get("chemical_cities", []):
        loc = locate(city["name"], city.get("region", ""))
        if loc:
            groups["Chemical-factory city"].append(
                (loc[0], loc[1], city["name"],
                 f"<b>{city['name']}</b>: chemical-factory city (S6){loc[2]}<br>"
                 f"population {city.get('population', 0):,}"))
    for fac in scenario.get("state", {}).get("facilities", []):
        loc = locate(fac["name"], fac.get("region", ""))
        if loc:
            groups["State factory"].append(
                (loc[0], loc[1], "", f"<b>{fac['name']}</b> (S3){loc[2]}<br>{fac.get('region', '')}"))
        if fac.get("relocated_from"):
            old = fac.get("relocated_from_name") or fac["relocated_from"]
            oloc = locate(old, fac["relocated_from"])
            if oloc:
                groups["Former state factory"].append(
                    (oloc[0], oloc[1], "", f"<b>{old}</b>{oloc[2]}<br>moved to {fac['name']} "
                                           f"on {fac.get('relocation_date', '?')} (S4)"))
                if loc:
                    fig.add_annotation(x=loc[0], y=loc[1], ax=oloc[0], ay=oloc[1], axref=f"x{_suffix(col)}",
                                       ayref=f"y{_suffix(col)}", showarrow=True, arrowhead=2,
                                       arrowwidth=1, arrowcolor="#67001f", opacity=0.6, text="",
                                       row=1, col=col)
    for cr in scenario.get("border", {}).get("crossings", []):
        loc = locate(cr["name"], cr.get("region", ""))
        if loc:
            side = f"<br>Chinese side: {cr['chinese_side']}" if cr.get("chinese_side") else ""
            groups["Border crossing"].append(
                (loc[0], loc[1], cr["name"], f"<b>{cr['name']}</b> crossing (S13){loc[2]}"
                                             f"<br>{cr.get('guards', '?')} guards{side}"))
    styles = {"Chemical-factory city": ("diamond", "#542788", 9, "top left"),
              "State factory": ("square", "#67001f", 10, "top center"),
              "Former state factory": ("square-open", "#67001f", 10, "top center"),
              "Border crossing": ("triangle-up", "#01665e", 10, "top right")}
    for name, pts in groups.items():
        if not pts:
            continue
        symbol, colour, size, pos = styles[name]
        fig.add_trace(go.Scatter(
            x=[p[0] for p in pts], y=[p[1] for p in pts], mode="markers+text", name=name,
            text=[p[2] for p in pts], textposition=pos, textfont={"size": 9, "color": "#252525"},
            hovertext=[p[3] for p in pts], hoverinfo="text", legendgroup=name,
            showlegend=col == 1,
            marker={"symbol": symbol, "color": colour, "size": size,
                    "line": {"color": "white", "width": 1}}), row=1, col=col)


def _suffix(col: int) -> str:
    return "" if col == 1 else str(col)
