"""The report's plotly figures: Sankey of flows, province map, time series, policy comparison.

Each function takes tidy tables (a run's metrics, the scenario as a plain dict) and returns a
`plotly.graph_objects.Figure` that needs no network: the map is drawn on plain axes from the
shipped polygons (`narcoflow.viz.geography`), never on a plotly geo base map.

Examples
--------
>>> fig = sankey_figure(results.metrics)                 # doctest: +SKIP
>>> fig.write_html("flows.html", include_plotlyjs=True)   # doctest: +SKIP
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import sample_colorscale
from plotly.subplots import make_subplots

from narcoflow.metrics import metric
from narcoflow.results.results import last_value, run_total
from narcoflow.viz import flows as fl
from narcoflow.viz.geography import load_geography

FONT = "Helvetica, Arial, sans-serif"
#: node colours of the Sankey, by the first word(s) of the label
_NODE_COLOURS = [
    (fl.STATE, "#b2182b"), (fl.SIPHON, "#d6604d"), ("Diplomats", "#f4a582"),
    ("Trading companies", "#e08214"), (fl.PRIVATE, "#2166ac"), (fl.DOMESTIC, "#4393c3"),
    ("Border crossings", "#7570b3"), (fl.CONSUMED, "#1b7837"), ("Seized", "#525252"),
    ("Delivered", "#8c510a"), (fl.UNDELIVERED, "#bf812d"), (fl.STOCK, "#969696"),
    (fl.TRANSIT, "#bdbdbd"),
]
SERIES_COLOURS = ["#b2182b", "#2166ac", "#1b7837", "#e08214", "#7570b3", "#8c510a", "#525252",
                  "#66c2a5", "#e7298a"]


def _layout(fig: go.Figure, title: str, *, height: int) -> go.Figure:
    fig.update_layout(title={"text": title, "x": 0.01, "xanchor": "left"}, height=height,
                      font={"family": FONT, "size": 12}, template="plotly_white",
                      margin={"l": 60, "r": 30, "t": 70, "b": 40})
    return fig


def _node_colour(label: str) -> str:
    for prefix, colour in _NODE_COLOURS:
        if label.startswith(prefix):
            return colour
    return "#737373"


def _rgba(hex_colour: str, alpha: float) -> str:
    h = hex_colour.lstrip("#")
    r, g, b = (int(h[i:i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def _kg_text(grams: float) -> str:
    kg = grams / 1e3
    return f"{kg / 1e3:,.1f} t" if kg >= 1e4 else f"{kg:,.0f} kg" if kg >= 10 else f"{kg:,.2f} kg"


def _column(label: str) -> int:
    """Stage of a Sankey node, left to right."""
    if label in (fl.STATE, fl.PRIVATE):
        return 0
    if label == fl.DOMESTIC:
        return 2
    if label == fl.channel_label("private"):
        return 3
    if label == fl.UNDELIVERED:
        return 4
    if label.startswith(("Seized", "Delivered", "Consumed")) or label in (fl.STOCK, fl.TRANSIT):
        return 5
    return 1  # siphon and the state export channels


def _order(label: str) -> tuple[int, str]:
    """Top-to-bottom order inside a column: domestic ends first, then abroad."""
    ranks = [fl.PRIVATE, fl.STATE, fl.SIPHON, fl.CONSUMED, "Seized by MPS", "Seized by NSA",
             "Seized by border", fl.STOCK, fl.TRANSIT, "Seized by", "Delivered"]
    for i, prefix in enumerate(ranks):
        if label.startswith(prefix):
            return i, label
    return len(ranks), label


_SANKEY_X = (0.001, 0.2, 0.4, 0.58, 0.76, 0.999)


def _sankey_trace(links: pd.DataFrame, *, visible: bool = True) -> go.Sankey:
    nodes = sorted(dict.fromkeys([*links["source"], *links["target"]]),
                   key=lambda n: (_column(n), _order(n)))
    index = {n: i for i, n in enumerate(nodes)}
    totals = fl.node_totals(links)
    through = totals[["in", "out"]].max(axis=1)
    # initial positions: each column stacked top-down in proportion to its flows
    cols: dict[int, list[str]] = {}
    for n in nodes:
        cols.setdefault(_column(n), []).append(n)
    biggest = max(sum(through[n] for n in members) for members in cols.values()) or 1.0
    most = max(len(m) for m in cols.values())
    gap = 0.25 / max(most, 1)
    ys: dict[str, float] = {}
    tops: dict[str, float] = {}
    for c in sorted(cols):
        top = 0.02
        for n in cols[c]:
            h = 0.7 * through[n] / biggest
            feed = links[(links["target"] == n) & links["source"].isin(list(tops))]
            if len(feed) and c < 5:  # start level with where the product comes from
                top = max(top, float((feed["source"].map(tops) * feed["grams"]).sum()
                                     / feed["grams"].sum()))
            tops[n] = top
            ys[n] = min(0.99, top + h / 2)
            top += h + gap
    labels = [f"{n}: {_kg_text(through[n])}" for n in nodes]
    colours = [_node_colour(n) for n in nodes]
    return go.Sankey(
        visible=visible, arrangement="snap", valueformat=",.1f", valuesuffix=" kg",
        node={"label": labels, "color": colours, "pad": 12, "thickness": 16,
              "x": [_SANKEY_X[_column(n)] for n in nodes], "y": [ys[n] for n in nodes],
              "line": {"color": "white", "width": 0.5},
              "hovertemplate": "%{label}<extra></extra>"},
        link={"source": [index[s] for s in links["source"]],
              "target": [index[t] for t in links["target"]],
              "value": (links["grams"] / 1e3).tolist(),
              "color": [_rgba(_node_colour(s), 0.35) for s in links["source"]],
              "hovertemplate": "%{source.label}<br>-> %{target.label}<br>%{value:,.1f} kg"
                               "<extra></extra>"},
    )


def sankey_figure(metrics: pd.DataFrame, *, destinations=None, drugs=None,
                  title: str = "Where the product went") -> go.Figure:
    """Sankey of all grams produced over the run, all drugs pooled, with a menu per drug.

    Parameters
    ----------
    metrics : pandas.DataFrame
        A run's metrics.
    destinations : iterable of str, optional
        Foreign market names (see `narcoflow.viz.flows.product_flows`).
    drugs : list of str, optional
        Drugs offered in the menu; by default those produced in the run.
    """
    produced = metrics[metrics["metric"] == "produced_g"]
    if drugs is None:
        by_drug = produced.groupby("drug")["value"].sum()
        drugs = [str(d) for d, v in by_drug.sort_values(ascending=False).items() if v > 0]
    choices: list[tuple[str, str | None]] = [("All drugs", None)] + [(d, d) for d in drugs]
    metrics = fl.compact(metrics)
    fig = go.Figure()
    for i, (_, drug) in enumerate(choices):
        links = fl.product_flows(metrics, drug=drug, destinations=destinations)
        fig.add_trace(_sankey_trace(links, visible=i == 0))
    if len(choices) > 2:
        buttons = [{"label": name, "method": "update",
                    "args": [{"visible": [j == i for j in range(len(choices))]}]}
                   for i, (name, _) in enumerate(choices)]
        fig.update_layout(updatemenus=[{"buttons": buttons, "x": 1.0, "xanchor": "right",
                                        "y": 1.08, "yanchor": "bottom", "direction": "down"}])
    return _layout(fig, title, height=640)


# ---------------------------------------------------------------------------- map
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
    _layout(fig, title, height=620)
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


# ---------------------------------------------------------------------------- time series
def _monthly(df: pd.DataFrame, by: str | None, *, how: str) -> pd.DataFrame:
    """Monthly sums (flows) or month-end values (levels), one column per ``by`` value."""
    if df.empty:
        return pd.DataFrame()
    df = df.assign(month=pd.to_datetime(df["date"]).dt.to_period("M").dt.to_timestamp())
    key = df[by].astype("object").fillna("-") if by else "total"
    df = df.assign(key=key)
    if how == "sum":
        out = df.groupby(["month", "key"])["value"].sum()
    elif how == "mean":
        out = df.groupby(["month", "key"])["value"].mean()
    else:  # last value in the month of the summed level
        steps = df.groupby(["step", "month", "key"], as_index=False)["value"].sum()
        out = steps.sort_values("step").groupby(["month", "key"])["value"].last()
    return out.unstack("key").sort_index()


def event_markers(scenario: dict[str, Any], start, end) -> list[dict]:
    """Dated events inside [start, end]: relocations, campaigns, seizures, output cuts.

    Each is ``{"start", "end" (None for a date), "label", "kind"}``, sorted by start.
    """
    start, end = pd.Timestamp(start), pd.Timestamp(end)
    out = []
    for fac in scenario.get("state", {}).get("facilities", []):
        if fac.get("relocation_date"):
            old = fac.get("relocated_from_name") or fac.get("relocated_from")
            out.append({"start": fac["relocation_date"], "end": None, "kind": "relocation",
                        "label": f"{old} moved to {fac['name']} (S4)"})
    schedule = scenario.get("state", {}).get("production_schedule", [])
    for step in schedule[1:]:
        mult = step["multiplier"]["value"] if isinstance(step["multiplier"], dict) else step["multiplier"]
        src = step["multiplier"].get("source", "") if isinstance(step["multiplier"], dict) else ""
        out.append({"start": step["start"], "end": None, "kind": "schedule",
                    "label": f"state output set to {mult:g} x capacity" + (f" ({src})" if src else "")})
    for ev in scenario.get("events", []):
        name = ev.get("name") or ev["type"].replace("_", " ")
        what = {"crackdown": "crackdown", "border_closure": "border closure",
                "state_shipment_seizure": "seizure", "foreign_crackdown": "crackdown abroad",
                "precursor_control": "precursor control"}.get(ev["type"], ev["type"])
        detail = ""
        mult = ev.get("multiplier")
        if ev["type"] == "state_shipment_seizure":
            grams = ev.get("grams", {})
            grams = grams.get("value", 0) if isinstance(grams, dict) else grams
            detail = f", {grams / 1e3:,.0f} kg seized in {ev.get('destination', 'China')}"
        elif isinstance(mult, dict) and mult.get("value", 1) != 1:
            detail = f", x{mult['value']:g}"
        where = f" in {', '.join(ev['regions'])}" if ev.get("regions") else ""
        src = ev.get("source") or (mult.get("source") if isinstance(mult, dict) else "") or ""
        out.append({"start": ev["start"], "end": ev.get("end"), "kind": ev["type"],
                    "label": f"{name} ({what}{where}{detail})" + (f" [{src}]" if src else "")})
    kept = []
    for ev in out:
        s = pd.Timestamp(ev["start"])
        e = pd.Timestamp(ev["end"]) if ev.get("end") else None
        if s <= end and (e or s) >= start:
            kept.append({**ev, "start": max(s, start), "end": min(e, end) if e is not None else None})
    return sorted(kept, key=lambda e: e["start"])


_SERIES_FIXED = {"state": "#b2182b", "private": "#2166ac", "methamphetamine": "#e08214",
                 "heroin": "#542788", "cocaine": "#1b7837", "mps": "#2166ac", "nsa": "#b2182b",
                 "border_guard": "#01665e", "china": "#e08214", "japan": "#542788",
                 "south_korea": "#1b7837", "diplomatic": "#f4a582", "trading_company": "#8c510a",
                 "retail": "#b2182b", "wholesale": "#e08214", "producer": "#2166ac",
                 "total": "#252525"}


def _series_label(key: str) -> str:
    if key in fl.AGENCY_LABELS:
        return fl.AGENCY_LABELS[key]
    if key == "private":
        return "private"
    if key in fl.CHANNEL_LABELS:
        return fl.CHANNEL_LABELS[key].lower()
    return {"total": "all", "-": "unknown"}.get(key, key.replace("_", " "))


_EVENT_COLOURS = {"crackdown": "rgba(178,24,43,0.10)", "foreign_crackdown": "rgba(33,102,172,0.10)",
                  "border_closure": "rgba(118,42,131,0.12)", "precursor_control": "rgba(27,120,55,0.10)"}


def timeseries_figure(metrics: pd.DataFrame, scenario: dict[str, Any], *,
                      title: str = "Over time") -> go.Figure:
    """Monthly production, consumption, users, seizures, exports and prices by tier, with the
    scenario's dated events (numbered at the top, listed under the plot)."""
    def rows(metric):
        return metrics[metrics["metric"] == metric]

    def unit(name):  # the registry's unit of a monthly series (narcoflow.metrics)
        return metric(name).series_unit()

    panels = [
        (f"Production ({unit('produced_g')})", _monthly(rows("produced_g"), "channel", how="sum") / 1e3),
        (f"Consumption in North Korea ({unit('consumed_g')})",
         _monthly(rows("consumed_g"), "drug", how="sum") / 1e3),
        (f"Users ({unit('users')})", _monthly(rows("users"), None, how="last")),
        (f"Seizures by agency ({unit('seized_g')})", _monthly(rows("seized_g"), "channel", how="sum") / 1e3),
        (f"Exports dispatched by channel ({unit('exported_g')})",
         _monthly(rows("exported_g"), "channel", how="sum") / 1e3),
    ]
    price = rows("price_usd_per_g")
    price = price[price["channel"].isin(["producer", "wholesale", "retail"])]
    panels.append((f"Methamphetamine price by tier ({unit('price_usd_per_g')}, mean over provinces)",
                   _monthly(price, "channel", how="mean")))
    n = len(panels)
    fig = make_subplots(rows=n, cols=1, shared_xaxes=True, vertical_spacing=0.035,
                        subplot_titles=[p[0] for p in panels])
    for i, (_, table) in enumerate(panels, start=1):
        legend = "legend" if i == 1 else f"legend{i}"
        domain = fig.layout[f"yaxis{'' if i == 1 else i}"].domain
        fig.update_layout({legend: {"x": 1.01, "xanchor": "left", "y": domain[1], "yanchor": "top",
                                    "font": {"size": 11}, "tracegroupgap": 0,
                                    "bgcolor": "rgba(255,255,255,0)"}})
        for j, key in enumerate(table.columns if len(table) else []):
            label = _series_label(str(key))
            colour = _SERIES_FIXED.get(str(key), SERIES_COLOURS[j % len(SERIES_COLOURS)])
            fig.add_trace(go.Scatter(x=table.index, y=table[key], mode="lines", name=label,
                                     legend=legend, line={"color": colour, "width": 1.6},
                                     hovertemplate=f"{label}: %{{y:,.1f}}<extra></extra>"),
                          row=i, col=1)
    fig.update_yaxes(type="log", dtick=1, row=n, col=1)
    dates = pd.to_datetime(metrics["date"]) if len(metrics) else pd.Series(dtype="datetime64[ns]")
    events = event_markers(scenario, dates.min(), dates.max()) if len(dates) else []
    lines, shapes, notes = [], [], []
    for k, ev in enumerate(events, start=1):
        # one shape spanning every panel (shared x axis; y in paper units): far faster than
        # add_vrect(row="all"), which makes one shape per panel
        if ev["end"] is not None:
            shapes.append({"type": "rect", "xref": "x", "yref": "paper", "x0": ev["start"],
                           "x1": ev["end"], "y0": 0, "y1": 1, "line": {"width": 0}, "layer": "below",
                           "fillcolor": _EVENT_COLOURS.get(ev["kind"], "rgba(0,0,0,0.06)")})
        else:
            colour = "#999999" if ev["kind"] == "schedule" else "#67001f"
            shapes.append({"type": "line", "xref": "x", "yref": "paper", "x0": ev["start"],
                           "x1": ev["start"], "y0": 0, "y1": 1,
                           "line": {"color": colour, "width": 1, "dash": "dot"}})
        notes.append({"x": ev["start"], "xref": "x", "y": 1.0, "yref": "paper",
                      "yshift": 26 + 11 * (k % 3), "text": str(k), "showarrow": False,
                      "font": {"size": 10, "color": "#67001f"},
                      "hovertext": f"{ev['start']:%Y-%m-%d}: {ev['label']}"})
        when = f"{ev['start']:%b %Y}" + (f"-{ev['end']:%b %Y}" if ev["end"] is not None else "")
        lines.append(f"{k}. {when}: {ev['label']}")
    fig.update_layout(shapes=shapes, annotations=[*fig.layout.annotations, *notes])
    height = 170 * n + 120 + 15 * len(lines)
    if lines:
        fig.add_annotation(text="<br>".join(lines), xref="paper", yref="paper", x=0, y=0,
                           yshift=-40, yanchor="top", xanchor="left", align="left", showarrow=False,
                           font={"size": 10, "color": "#404040"})
    _layout(fig, title, height=height)
    fig.update_layout(margin={"t": 110, "b": 60 + 15 * len(lines)}, hovermode="x unified")
    return fig


# ---------------------------------------------------------------------------- experiments
def comparison_figure(comparisons: pd.DataFrame, *, title: str = "Policy comparison") -> go.Figure:
    """Each outcome (row): mean and interval by policy (left), effect vs. the baseline (right).

    ``comparisons`` has columns ``policy, metric, mean, ci_low, ci_high, effect_vs_baseline,
    effect_ci_low, effect_ci_high`` (the ``comparisons`` table of one experiment).
    """
    metrics = list(dict.fromkeys(comparisons["metric"]))
    titles = []
    for m in metrics:
        titles += [f"{m}: mean and interval", f"{m}: effect vs. baseline"]
    fig = make_subplots(rows=len(metrics), cols=2, subplot_titles=titles, horizontal_spacing=0.18,
                        vertical_spacing=min(0.12, 0.5 / max(len(metrics), 1)))
    shapes = []
    for i, m in enumerate(metrics, start=1):
        df = comparisons[comparisons["metric"] == m]
        pol = df["policy"].astype(str).tolist()
        for col, (val, lo, hi) in enumerate((("mean", "ci_low", "ci_high"),
                                             ("effect_vs_baseline", "effect_ci_low", "effect_ci_high")),
                                            start=1):
            x = pd.to_numeric(df[val], errors="coerce")
            err_hi = (pd.to_numeric(df[hi], errors="coerce") - x).clip(lower=0)
            err_lo = (x - pd.to_numeric(df[lo], errors="coerce")).clip(lower=0)
            fig.add_trace(go.Scatter(
                x=x, y=pol, mode="markers", showlegend=False,
                marker={"color": SERIES_COLOURS[col - 1], "size": 8},
                error_x={"type": "data", "symmetric": False, "array": err_hi.fillna(0).tolist(),
                         "arrayminus": err_lo.fillna(0).tolist(), "thickness": 1.5, "width": 4},
                hovertemplate="%{y}: %{x:,.4g}<extra></extra>"), row=i, col=col)
        shapes.append({"type": "line", "xref": f"x{2 * i}", "yref": f"y{2 * i} domain",
                       "x0": 0, "x1": 0, "y0": 0, "y1": 1,
                       "line": {"color": "#999999", "width": 1, "dash": "dot"}})
    fig.update_layout(shapes=shapes)
    fig.update_yaxes(autorange="reversed")  # policies top-down in the table's order
    _layout(fig, title, height=max(300, 60 + 190 * len(metrics)))
    return fig
