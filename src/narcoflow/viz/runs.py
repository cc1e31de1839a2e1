"""Stored runs side by side: a table of headline outcomes and one quantity over time.

Used by the dashboard's "Compare runs" view; works on any metrics frames, so a script can use
it too.

Examples
--------
>>> import narcoflow as nf
>>> a = nf.run("north-korea-2011", seed=1, scale=0.002, years=1)
>>> b = nf.run("north-korea-2011", seed=2, scale=0.002, years=1)
>>> table = outcomes_side_by_side({"seed 1": a.metrics, "seed 2": b.metrics})
>>> list(table.columns)
['outcome', 'unit', 'seed 1', 'seed 2']
>>> fig = overlay_figure({"seed 1": a.metrics, "seed 2": b.metrics}, "users")
>>> [t.name for t in fig.data]
['seed 1', 'seed 2']
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
import plotly.graph_objects as go

from narcoflow.experiments.outcomes import outcomes_for, outcomes_of
from narcoflow.metrics import metric
from narcoflow.viz.style import SERIES_COLOURS, layout
from narcoflow.viz.timeseries import monthly


def _quantity(title: str, name: str, how: str | None = None,
              where: dict[str, str] | None = None) -> tuple[str, str, str, float, dict[str, str]]:
    """A quantity over time of registered metric ``name`` (`narcoflow.metrics`) in its display
    unit: a flow is summed per month, a level taken at the month's last step unless ``how``."""
    m = metric(name)
    how = how or ("sum" if m.kind == "flow" else "last")
    return (title.format(unit=m.series_unit()), name, how, m.display_factor, where or {})


#: quantity key -> (title, metric, how the monthly value is formed, scale factor, row filter)
QUANTITIES: dict[str, tuple[str, str, str, float, dict[str, str]]] = {
    "users": _quantity("Users ({unit})", "users"),
    "consumption": _quantity("Consumption in North Korea ({unit})", "consumed_g"),
    "production": _quantity("Production ({unit})", "produced_g"),
    "seizures": _quantity("Seizures, all agencies ({unit})", "seized_g"),
    "exports": _quantity("Exports delivered abroad ({unit})", "delivered_abroad_g"),
    "retail_price": _quantity("Methamphetamine retail price ({unit}, mean over provinces)",
                              "price_usd_per_g", "mean",
                              {"drug": "methamphetamine", "channel": "retail"}),
}


def _destinations(metrics: pd.DataFrame) -> list[str]:
    d = metrics.loc[metrics["metric"] == "delivered_abroad_g", "region"].dropna()
    return sorted(str(x) for x in d.unique())


def outcomes_side_by_side(runs: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Headline outcomes (`narcoflow.experiments.outcomes`) of each run, one column per run.

    Parameters
    ----------
    runs : mapping of str to pandas.DataFrame
        Column label -> that run's metrics, in display order.

    Returns
    -------
    pandas.DataFrame
        Columns ``outcome, unit`` then one float column per run.
    """
    dests = sorted({d for m in runs.values() for d in _destinations(m)})
    known = outcomes_for(dests)
    table = pd.DataFrame({"outcome": [o.meaning for o in known.values()],
                          "unit": [o.unit for o in known.values()]})
    for label, metrics in runs.items():
        values = outcomes_of(metrics, destinations=dests)
        table[label] = [float(values[name]) for name in known]
    return table


def overlay_figure(runs: Mapping[str, pd.DataFrame], quantity: str) -> go.Figure:
    """One monthly line per run for a quantity of `QUANTITIES`."""
    if quantity not in QUANTITIES:
        raise ValueError(f"quantity {quantity!r} is not one of: {', '.join(QUANTITIES)}")
    title, metric, how, factor, where = QUANTITIES[quantity]
    fig = go.Figure()
    for i, (label, metrics) in enumerate(runs.items()):
        rows = metrics[metrics["metric"] == metric]
        for col, val in where.items():
            rows = rows[rows[col] == val]
        series = monthly(rows, None, how=how)
        y = series["total"] * factor if len(series) else pd.Series(dtype=float)
        fig.add_trace(go.Scatter(x=series.index, y=y, mode="lines", name=label,
                                 line={"color": SERIES_COLOURS[i % len(SERIES_COLOURS)], "width": 1.8},
                                 hovertemplate=f"{label}: %{{y:,.1f}}<extra></extra>"))
    layout(fig, title, height=380)
    fig.update_layout(hovermode="x unified")
    return fig
