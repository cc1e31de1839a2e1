"""The report's time series: monthly production, consumption, users, seizures, exports and
prices by tier, with the scenario's dated events (campaigns shaded, dates dotted and numbered).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from narcoflow.metrics import metric
from narcoflow.viz import flows as fl
from narcoflow.viz.style import SERIES_COLOURS, layout

#: days in the average calendar month: flows are shown per month of this length
DAYS_PER_MONTH = 365.25 / 12


def _daily_weighted(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    """Each weekly row split between the calendar months its seven days fall in (a week that
    starts on 29 March gives 3/7 of its value to March, 4/7 to April), and the days of the run
    each month holds."""
    start = pd.to_datetime(df["date"])
    month = start.dt.to_period("M").dt.to_timestamp()
    nxt = month + pd.offsets.MonthBegin(1)
    k = (nxt - start).dt.days.clip(upper=7)           # days of the week in the first month
    first = df.assign(month=month, value=df["value"] * k / 7)
    second = df.assign(month=nxt, value=df["value"] * (7 - k) / 7)[k < 7]
    steps = pd.DataFrame({"step": df["step"], "month": month, "nxt": nxt, "k": k}).drop_duplicates("step")
    days = pd.concat([steps.groupby("month")["k"].sum(),
                      (7 - steps["k"]).groupby(steps["nxt"]).sum()]).groupby(level=0).sum()
    return pd.concat([first, second]), days[days > 0]


def monthly(df: pd.DataFrame, by: str | None, *, how: str) -> pd.DataFrame:
    """One row per calendar month, one column per ``by`` value.

    ``how="sum"`` (flows): the weekly values split over the days of each week, summed per
    calendar month and shown per average month (365.25 / 12 days) of the days the run covers,
    so a constant weekly flow gives a flat line (adding 4 or 5 whole weeks per month made it
    zigzag by a quarter) and a month the run covers only in part is not shown as a dip.
    ``how="mean"``: the mean of the weekly values; otherwise the month's last value of the
    summed level.
    """
    if df.empty:
        return pd.DataFrame()
    key = df[by].astype("object").fillna("-") if by else "total"
    df = df.assign(key=key)
    if how == "sum":
        split, days = _daily_weighted(df)
        out = split.groupby(["month", "key"])["value"].sum().unstack("key").sort_index()
        out = out.loc[out.index.isin(days.index)]
        return out.mul(DAYS_PER_MONTH / days.reindex(out.index), axis=0)
    df = df.assign(month=pd.to_datetime(df["date"]).dt.to_period("M").dt.to_timestamp())
    if how == "mean":
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


@dataclass(frozen=True)
class Panel:
    """One panel of the time series: which rows of which metric, grouped how, in which unit.

    ``how`` is ``sum`` (a flow: monthly totals per average month), ``last`` (a level at each
    month's end) or ``wmean`` (an intensive level: the month's mean over weeks and provinces,
    weighted by population when every province has one); ``factor`` converts the stored unit to
    the shown one; ``filters`` (dimension -> allowed values) restrict the rows drawn.
    """

    key: str
    metric: str
    by: str | None
    how: str
    factor: float = 1.0
    filters: tuple[tuple[str, tuple[str, ...]], ...] = ()
    #: other metrics of the same unit and kind whose targets this panel may show (as a line of
    #: their own beside the evidence, `narcoflow.viz.evidence`)
    also: tuple[str, ...] = ()

    def rows(self, metrics: pd.DataFrame) -> pd.DataFrame:
        d = metrics[metrics["metric"] == self.metric]
        for col, allowed in self.filters:
            d = d[d[col].astype(str).isin(allowed)]
        return d

    @property
    def unit(self) -> str:
        """The unit of the panel's y axis (``kg/month``, ``people``, ``USD/g``)."""
        return metric(self.metric).series_unit()


#: the panels of `timeseries_figure`, top to bottom
PANELS = (
    Panel("production", "produced_g", "channel", "sum", 1e-3),
    Panel("consumption", "consumed_g", "drug", "sum", 1e-3),
    Panel("users", "users", None, "last", also=("ever_used",)),
    Panel("seizures", "seized_g", "channel", "sum", 1e-3),
    Panel("exports", "exported_g", "channel", "sum", 1e-3),
    Panel("price", "price_usd_per_g", "channel", "wmean",
          filters=(("drug", ("methamphetamine",)), ("channel", ("producer", "wholesale", "retail")))),
)


def population_weights(scenario: dict[str, Any]) -> dict[str, float]:
    """Province -> population of a scenario (as a plain dict): the weights of price means."""
    return {str(r["name"]): float(r["population"]) for r in scenario.get("regions", [])
            if r.get("population")}


def weighted_monthly(df: pd.DataFrame, by: str | None, weights: dict[str, float] | None) -> pd.DataFrame:
    """The month's mean of the weekly values over weeks and provinces, each row weighted by its
    province's population (plain mean where a province has no population or ``weights`` is empty),
    one column per ``by`` value."""
    if df.empty:
        return pd.DataFrame()
    w = df["region"].astype("object").map(weights or {}) if weights else None
    if w is None or w.isna().any():
        return monthly(df, by, how="mean")
    key = df[by].astype("object").fillna("-") if by else "total"
    month = pd.to_datetime(df["date"]).dt.to_period("M").dt.to_timestamp()
    d = pd.DataFrame({"month": month, "key": key, "vw": df["value"].to_numpy() * w.to_numpy(),
                      "w": w.to_numpy()})
    g = d.groupby(["month", "key"])[["vw", "w"]].sum()
    return (g["vw"] / g["w"]).unstack("key").sort_index()


def panel_table(panel: Panel, rows: pd.DataFrame, weights: dict[str, float] | None = None,
                *, by: str | None | bool = True) -> pd.DataFrame:
    """The monthly table a panel draws from ``rows`` of its metric (``by=None``: one total column)."""
    by = panel.by if by is True else by
    if panel.how == "wmean":
        return weighted_monthly(rows, by, weights)
    return monthly(rows, by, how=panel.how) * panel.factor


def timeseries_figure(metrics: pd.DataFrame, scenario: dict[str, Any], *,
                      title: str = "Over time", targets=None) -> go.Figure:
    """Monthly production, consumption, users, seizures, exports and prices by tier, with the
    scenario's dated events (numbered at the top, listed under the plot).

    ``targets`` (a `narcoflow.calibration.targets.Targets`, optional): their evidence bands are
    drawn beside the model where a panel shows the target's quantity (`narcoflow.viz.evidence`).
    """
    def unit(name):  # the registry's unit of a monthly series (narcoflow.metrics)
        return metric(name).series_unit()

    weights = population_weights(scenario)
    price_mean = "mean over provinces, weighted by population" if weights else "mean over provinces"
    titles = {
        "production": f"Production ({unit('produced_g')})",
        "consumption": f"Consumption in North Korea ({unit('consumed_g')})",
        "users": f"Users ({unit('users')})",
        "seizures": f"Seizures by agency ({unit('seized_g')})",
        "exports": f"Exports dispatched by channel ({unit('exported_g')})",
        "price": f"Methamphetamine price by tier ({unit('price_usd_per_g')}, {price_mean})",
    }
    panels = [(titles[p.key], panel_table(p, p.rows(metrics), weights)) for p in PANELS]
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
    if targets is not None:
        from narcoflow.viz.evidence import add_evidence

        add_evidence(fig, metrics, targets, [(p, t) for p, (_, t) in zip(PANELS, panels, strict=True)], weights)
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
    # each panel tall enough for its legend (the evidence adds entries to some)
    entries = max((sum(1 for tr in fig.data if tr.legend == (f"legend{i}" if i > 1 else "legend")
                       and tr.showlegend is not False) for i in range(1, n + 1)), default=0)
    height = max(170, 19 * entries + 40) * n + 120 + 15 * len(lines)
    if lines:
        fig.add_annotation(text="<br>".join(lines), xref="paper", yref="paper", x=0, y=0,
                           yshift=-40, yanchor="top", xanchor="left", align="left", showarrow=False,
                           font={"size": 10, "color": "#404040"})
    layout(fig, title, height=height)
    fig.update_layout(margin={"t": 110, "b": 60 + 15 * len(lines)}, hovermode="x unified")
    return fig
