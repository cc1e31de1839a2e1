"""The report's plotly figures: Sankey of flows, province map, time series, policy comparison.

Each function takes tidy tables (a run's metrics, the scenario as a plain dict) and returns a
`plotly.graph_objects.Figure` that needs no network. The Sankey and the policy comparison are
drawn here; the map (`narcoflow.viz.maps`) and the time series (`narcoflow.viz.timeseries`)
have their own modules and are re-exported here.

Examples
--------
>>> fig = sankey_figure(results.metrics)                 # doctest: +SKIP
>>> fig.write_html("flows.html", include_plotlyjs=True)   # doctest: +SKIP
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from narcoflow.viz import flows as fl
from narcoflow.viz.maps import map_figure, map_values
from narcoflow.viz.style import FONT, SERIES_COLOURS, layout, mass_text, mass_unit, rgba
from narcoflow.viz.timeseries import event_markers, timeseries_figure

__all__ = ["FONT", "SERIES_COLOURS", "comparison_figure", "event_markers", "map_figure", "map_values",
           "sankey_figure", "timeseries_figure"]

#: node colours of the Sankey, by the first word(s) of the label
_NODE_COLOURS = [
    (fl.STATE, "#b2182b"), (fl.SIPHON, "#d6604d"), ("Diplomats", "#f4a582"),
    ("Trading companies", "#e08214"), (fl.PRIVATE, "#2166ac"), (fl.DOMESTIC, "#4393c3"),
    ("Border crossings", "#7570b3"), (fl.CONSUMED, "#1b7837"), ("Seized", "#525252"),
    ("Delivered", "#8c510a"), (fl.UNDELIVERED, "#bf812d"), (fl.STOCK, "#969696"),
    (fl.TRANSIT, "#bdbdbd"),
]

def _node_colour(label: str) -> str:
    for prefix, colour in _NODE_COLOURS:
        if label.startswith(prefix):
            return colour
    return "#737373"


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


#: x of each column; the inner columns leave room for the end column's labels, drawn to its left
_SANKEY_X = (0.001, 0.18, 0.36, 0.5, 0.62, 0.999)


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
    # One unit for the whole figure (the largest node's). Inner nodes put name and amount on two
    # lines, narrow enough not to run into the next column; the end column (labels to the left
    # of its nodes, many small nodes stacked) keeps one line each.
    unit, factor = mass_unit(float(through.max()) if len(through) else 0.0)
    labels = [f"{n}{': ' if _column(n) == 5 else '<br>'}{mass_text(through[n], unit)}" for n in nodes]
    colours = [_node_colour(n) for n in nodes]
    return go.Sankey(
        visible=visible, arrangement="snap", valueformat=",.2f", valuesuffix=f" {unit}",
        node={"label": labels, "color": colours, "pad": 12, "thickness": 16,
              "x": [_SANKEY_X[_column(n)] for n in nodes], "y": [ys[n] for n in nodes],
              "line": {"color": "white", "width": 0.5},
              "hovertemplate": "%{label}<extra></extra>"},
        link={"source": [index[s] for s in links["source"]],
              "target": [index[t] for t in links["target"]],
              "value": (links["grams"] * factor).tolist(),
              "color": [rgba(_node_colour(s), 0.35) for s in links["source"]],
              "hovertemplate": "%{source.label}<br>-> %{target.label}<br>%{value:,.2f}"
                               f" {unit}<extra></extra>"},
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
    return layout(fig, title, height=640)


# ---------------------------------------------------------------------------- experiments
def comparison_figure(comparisons: pd.DataFrame, *, title: str = "Policy comparison",
                      baseline: str | None = None, labels: dict[str, str] | None = None) -> go.Figure:
    """Each outcome (row): mean and interval by policy (left), effect vs. the baseline (right).

    ``comparisons`` has columns ``policy, metric, mean, ci_low, ci_high, effect_vs_baseline,
    effect_ci_low, effect_ci_high`` (the ``comparisons`` table of one experiment). Panels are
    titled with the outcome's label and unit (`narcoflow.experiments.outcomes.outcome_title`,
    or ``labels``); the effect panel leaves out the baseline (its effect is 0 by definition).
    """
    from narcoflow.experiments.outcomes import outcome_title
    from narcoflow.results.report_data import baseline_policy

    base = baseline if baseline is not None else baseline_policy(comparisons)
    metrics = list(dict.fromkeys(comparisons["metric"]))
    titles = []
    for m in metrics:
        name = (labels or {}).get(m) or outcome_title(str(m))
        titles += [f"{name}: mean and interval", f"{name}: effect vs. {base}"]
    fig = make_subplots(rows=len(metrics), cols=2, subplot_titles=titles, horizontal_spacing=0.18,
                        vertical_spacing=min(0.12, 0.5 / max(len(metrics), 1)))
    shapes = []
    for i, m in enumerate(metrics, start=1):
        df = comparisons[comparisons["metric"] == m]
        for col, (val, lo, hi) in enumerate((("mean", "ci_low", "ci_high"),
                                             ("effect_vs_baseline", "effect_ci_low", "effect_ci_high")),
                                            start=1):
            d = df if col == 1 else df[df["policy"].astype(str) != str(base)]
            pol = d["policy"].astype(str).tolist()
            x = pd.to_numeric(d[val], errors="coerce")
            err_hi = (pd.to_numeric(d[hi], errors="coerce") - x).clip(lower=0)
            err_lo = (x - pd.to_numeric(d[lo], errors="coerce")).clip(lower=0)
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
    layout(fig, title, height=max(300, 60 + 190 * len(metrics)))
    return fig


def policy_fan_figure(quantiles: pd.DataFrame, *, title: str = "Fan chart", label: str = "") -> go.Figure:
    """One panel per policy (same y axis): per year the median of the replications (line) with
    their 50 % (dark band) and 90 % (light band) ranges.

    ``quantiles``: ``policy, year, q05, q25, median, q75, q95`` (`narcoflow.experiments.
    comparison.fan_quantiles`); ``label`` titles the y axis (the outcome and its unit).
    """
    policies = list(dict.fromkeys(quantiles["policy"].astype(str)))
    fig = make_subplots(rows=1, cols=max(1, len(policies)), shared_yaxes=True, subplot_titles=policies,
                        horizontal_spacing=0.03)
    for col, policy in enumerate(policies, start=1):
        d = quantiles[quantiles["policy"].astype(str) == policy].sort_values("year")
        colour = SERIES_COLOURS[(col - 1) % len(SERIES_COLOURS)]
        x = d["year"].tolist()
        for lo, hi, alpha, name in (("q05", "q95", 0.15, "90 %"), ("q25", "q75", 0.35, "50 %")):
            fig.add_trace(go.Scatter(x=x + x[::-1], y=d[hi].tolist() + d[lo].tolist()[::-1], fill="toself",
                                     fillcolor=rgba(colour, alpha), line={"width": 0}, hoverinfo="skip",
                                     name=f"{policy}: {name} of runs", showlegend=False), row=1, col=col)
        fig.add_trace(go.Scatter(x=x, y=d["median"], mode="lines+markers", line={"color": colour, "width": 2},
                                 name=f"{policy}: median", showlegend=False,
                                 hovertemplate=f"{policy} %{{x}}: median %{{y:,.4g}}<extra></extra>"),
                      row=1, col=col)
    fig.update_yaxes(title_text=label, row=1, col=1)
    fig.update_xaxes(tickformat="d", dtick=1 if quantiles["year"].nunique() <= 12 else None)
    layout(fig, title, height=380)
    return fig
