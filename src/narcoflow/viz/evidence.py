"""Evidence beside the model: the calibration targets' bands drawn on the report's time series.

A target (`narcoflow.calibration.targets.Target`: a metric, filters, whole years, an aggregation
and a band, prices already converted to USD per gram with the dated exchange rates) is drawn on
the panel of `narcoflow.viz.timeseries.PANELS` that shows its metric, in the panel's unit, when its
aggregation means the same thing there:

- a flow panel (monthly totals per average month of 365.25 / 12 days): ``sum`` over whole years,
  divided by the days of those years and multiplied by the days of an average month (the mean
  of the monthly line over the target's years); ``mean_per_year`` the same per year; ``mean`` (the
  mean weekly total) times the days of an average month over 7. Drawn at the middle of its years.
- a level panel (the level at each month's end): ``last`` at the end of the target's last year
  (the December point); ``mean`` at the middle of its years.
- the price panel (each month's mean over weeks and provinces, weighted by population):
  ``mean_value`` (the target's mean over weeks and provinces, weighted as the target says) at the
  middle of its years.

A band is a marker with error bars from its low to its high end (an "at least" band: an upward
triangle at its low end), named "evidence (targets file)" in the panel's legend, with the
target's name, band, years, source and evidence rows in its hover text. When no line of the panel
is the target's exact quantity (one province, one drug, people who ever used, a mean with equal
weights), a dashed line of that quantity is drawn beside it, so the band is always compared with
what it measures.

Not drawn (`plan` says why; the report lists them under the figure): waiting targets; targets
whose years the run does not cover whole; a metric no panel shows (state revenue, exports that
arrived abroad, arrests: the report has no such panel; ``ever_used`` goes on the users panel,
`Panel.also`); filters a panel cannot show (another
drug or tier than the price panel's); an aggregation that means something else on the panel (a
sum of a level, a single week of a flow, a mean over provinces of a count). For the shipped
north-korea-2011 targets that leaves out state_revenue_2000_2005 and state_revenue_1998
(state_revenue_usd), japan_delivered_1999 and japan_delivered_2002 (delivered_abroad_g: the
exports panel shows what is dispatched, not what arrives) and hamhung_crackdown_arrests_2008
(arrests).

Which targets file: `targets_for` finds the built-in file of a scenario (north-korea-2011 for
every scenario whose name starts with ``north-korea``); ``narcoflow report --targets`` names
another file, or ``none``.
"""

from __future__ import annotations

import math
import textwrap
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from narcoflow.calibration.targets import Target, Targets, load_targets
from narcoflow.errors import NarcoflowError
from narcoflow.metrics import METRICS
from narcoflow.viz.timeseries import DAYS_PER_MONTH, PANELS, Panel, panel_table

#: the legend entry of every evidence marker
LEGEND = "evidence (targets file)"
#: built-in targets file for scenarios whose name starts with the key
DEFAULT_TARGETS = {"north-korea": "north-korea-2011"}
_COLOUR = "#000000"
_TARGETS_DIR = Path(__file__).resolve().parent.parent / "scenario" / "targets"


def targets_for(scenario_name: str) -> str | None:
    """The built-in targets file of a scenario: the file of that name, else the one of the longest
    `DEFAULT_TARGETS` prefix of the name; None when there is none."""
    name = str(scenario_name or "")
    if (_TARGETS_DIR / f"{name}.yaml").is_file():
        return name
    hits = [k for k in DEFAULT_TARGETS if name.startswith(k)]
    return DEFAULT_TARGETS[max(hits, key=len)] if hits else None


def resolve_targets(spec: str | None, scenario_name: str) -> Targets | None:
    """The targets whose evidence a run report draws: ``spec`` None or ``auto`` (`targets_for` the
    scenario), ``none`` (no evidence), else a targets YAML file or a built-in targets name."""
    if spec is None or spec == "auto":
        name = targets_for(scenario_name)
        return load_targets(name) if name else None
    if spec == "none":
        return None
    try:
        return load_targets(spec)
    except NarcoflowError as exc:
        raise NarcoflowError(f"--targets {spec}: {exc} (give a targets YAML file, a built-in name such as "
                             "north-korea-2011, 'auto' or 'none')") from None


@dataclass(frozen=True)
class Placement:
    """Where and how one target's band is drawn: panel index, x, band in the panel's unit."""

    target: Target
    panel: int
    x: pd.Timestamp
    low: float
    high: float
    value: float        # the marker: the observed value, else the band's middle (its low end if open)
    how: str            # how the band was converted, for the hover text


def _covered(t: Target, metrics: pd.DataFrame) -> bool:
    dates = pd.to_datetime(metrics["date"])
    if not len(dates):
        return False
    try:
        t.check_period(dates.min().date(), dates.max().date())
    except NarcoflowError:
        return False
    return True


def _filters_fit(t: Target, panel: Panel) -> bool:
    """Whether the panel's own filters keep every row the target counts."""
    for col, allowed in panel.filters:
        want = t.filters.get(col)
        if want is None:
            return False
        want = [want] if isinstance(want, str) else list(want)
        if not set(want) <= set(allowed):
            return False
    return True


def _middle(y0: int, y1: int) -> pd.Timestamp:
    a, b = pd.Timestamp(y0, 1, 1), pd.Timestamp(y1 + 1, 1, 1)
    return a + (b - a) / 2


def place(t: Target, metrics: pd.DataFrame) -> Placement | str:
    """The `Placement` of a target on the time series, or why it is not drawn."""
    if t.waiting:
        return f"waiting for a model quantity ({t.waiting})"
    if t.metric not in METRICS:
        return f"metric {t.metric} is not recorded"
    if t.divided_by is not None:
        return "a ratio of two of its values (no figure shows ratios)"
    idx = [i for i, p in enumerate(PANELS) if p.metric == t.metric] or \
        [i for i, p in enumerate(PANELS) if t.metric in p.also]
    if not idx:
        return f"no figure of the report shows {METRICS[t.metric].label.lower()}, metric {t.metric}"
    i = idx[0]
    panel = PANELS[i]
    if not _filters_fit(t, panel):
        shown = "; ".join(f"{c} {'/'.join(v)}" for c, v in panel.filters)
        return f"its filters fall outside the panel's rows ({shown})"
    if not _covered(t, metrics):
        return f"the run does not cover {t.years[0]}-{t.years[1]} whole"
    lo, hi, _ = t.band()
    y0, y1 = t.years
    kind = METRICS[t.metric].kind
    if panel.how == "sum" and kind == "flow" and t.aggregation in ("sum", "mean_per_year", "mean"):
        days = (pd.Timestamp(y1 + 1, 1, 1) - pd.Timestamp(y0, 1, 1)).days
        if t.aggregation == "sum":
            f = DAYS_PER_MONTH / days
            how = f"{t.aggregation} over {y0}-{y1} per average month of those years"
        elif t.aggregation == "mean_per_year":
            f = DAYS_PER_MONTH * (y1 - y0 + 1) / days
            how = "yearly mean per average month"
        else:
            f = DAYS_PER_MONTH / 7
            how = "mean weekly total per average month"
        f *= panel.factor
        x = _middle(y0, y1)
    elif panel.how == "last" and kind == "level" and t.aggregation in ("last", "mean"):
        f = panel.factor
        if t.aggregation == "last":
            x, how = pd.Timestamp(y1, 12, 1), f"level at the end of {y1} (the December point)"
        else:
            x, how = _middle(y0, y1), f"mean level over {y0}-{y1}"
    elif panel.how == "wmean" and t.aggregation == "mean_value":
        f, x, how = panel.factor, _middle(y0, y1), f"mean over the weeks of {y0}-{y1} and the provinces"
    else:
        return f"aggregation {t.aggregation} of {t.metric} has no counterpart on the {panel.key} panel"
    low, high = lo * f, hi * f if math.isfinite(hi) else math.inf
    if t.observed is not None:
        value = t.observed * f
    elif not math.isfinite(high):
        value = low
    elif panel.how == "wmean" and low > 0:  # log axis: the geometric middle
        value = math.sqrt(low * high)
    else:
        value = (low + high) / 2
    return Placement(t, i, x, low, high, value, how)


def plan(targets: Targets | None, metrics: pd.DataFrame) -> tuple[list[Placement], list[tuple[str, str]]]:
    """(placements of the targets drawn, [(name, why not drawn)])."""
    drawn, skipped = [], []
    for t in targets.targets if targets is not None else []:
        p = place(t, metrics)
        if isinstance(p, str):
            skipped.append((t.name, p))
        else:
            drawn.append(p)
    return drawn, skipped


def _exact_rows(t: Target, metrics: pd.DataFrame) -> pd.DataFrame:
    d = metrics[metrics["metric"] == t.metric]
    for col, val in t.filters.items():
        allowed = [val] if isinstance(val, str) else list(val)
        d = d[d[col].astype(str).isin(allowed)]
    return d


def _same(a: pd.Series, b: pd.Series) -> bool:
    a, b = a.align(b, join="outer")
    x, y = a.to_numpy(float), b.to_numpy(float)
    return bool(np.allclose(np.nan_to_num(x), np.nan_to_num(y), rtol=1e-9, atol=1e-12))


def quantity_label(t: Target) -> str:
    """What a target counts, in words: 'Seizures: methamphetamine, Japan'."""
    parts = [v if isinstance(v, str) else "/".join(v) for v in t.filters.values()]
    extra = ", equal weights" if t.aggregation == "mean_value" and t.weights == "equal" else ""
    return METRICS[t.metric].label + (": " + ", ".join(parts) if parts else "") + extra


def _line_colour(t: Target) -> str:
    """The colour of the panel's line the target's quantity belongs to (retail: red), else grey."""
    from narcoflow.viz.timeseries import _SERIES_FIXED

    for col in ("channel", "region", "drug"):
        val = t.filters.get(col)
        key = val.lower().replace(" ", "_") if isinstance(val, str) else None
        if key in _SERIES_FIXED:
            return _SERIES_FIXED[key]
    return "#404040"


def legend_label(t: Target, panel: Panel) -> str:
    """The legend entry of the line of a target's exact quantity on ``panel``: 'model: Japan,
    methamphetamine', 'model: ever used'."""
    parts = [v if isinstance(v, str) else "/".join(v) for v in t.filters.values()
             if not any(v == allowed[0] and len(allowed) == 1 for _, allowed in panel.filters)]
    if t.metric != panel.metric:
        parts.insert(0, METRICS[t.metric].label.lower())
    if t.aggregation == "mean_value" and t.weights == "equal":
        parts.append("equal weights")
    return "model: " + (", ".join(parts) or METRICS[t.metric].label.lower())


def quantity_line(t: Target, metrics: pd.DataFrame, panel: Panel, table: pd.DataFrame,
                  weights: dict[str, float] | None) -> pd.Series | None:
    """The monthly series of the target's exact quantity in the panel's unit, or None when one of
    the panel's lines already is that quantity."""
    w = weights if t.weights == "population" else None
    exact = panel_table(panel, _exact_rows(t, metrics), w, by=None)
    if exact.empty:
        return None
    series = exact.iloc[:, 0]
    for col in table.columns if len(table) else []:
        if _same(series, table[col]):
            return None
    return series


def _hover(p: Placement, unit: str) -> str:
    t = p.target
    years = f"{t.years[0]}" if t.years[0] == t.years[1] else f"{t.years[0]}-{t.years[1]}"
    high = "no upper bound" if not math.isfinite(p.high) else f"{p.high:,.4g}"
    role = {"floor": "floor: a lower bound any run is expected to meet", "fitted": "fitted"}[t.role]
    source = "<br>".join(textwrap.wrap(t.source, 90))
    return (f"<b>{t.name}</b> ({role})<br>{quantity_label(t)}, {years}: {t.observed_text()} {t.unit}"
            f" ({t.aggregation})<br>drawn as {p.low:,.4g} to {high} {unit} ({p.how})"
            f"<br>evidence rows: {', '.join(t.rows) or '-'}<br>{source}")


def add_evidence(fig: go.Figure, metrics: pd.DataFrame, targets: Targets,
                 panels: list[tuple[Panel, pd.DataFrame]], weights: dict[str, float] | None) -> list[Placement]:
    """Draw the targets' bands (and the lines of their exact quantities where the panels lack
    them) on the time series ``fig`` whose rows are ``panels`` (panel, the table it draws)."""
    drawn, _ = plan(targets, metrics)
    legend_done: set[int] = set()
    lines_done: set[tuple[int, str]] = set()
    for p in drawn:
        panel, table = panels[p.panel]
        row = p.panel + 1
        legend = "legend" if row == 1 else f"legend{row}"
        line = quantity_line(p.target, metrics, panel, table, weights)
        label = legend_label(p.target, panel)
        if line is not None and (p.panel, label) not in lines_done:
            lines_done.add((p.panel, label))
            fig.add_trace(go.Scatter(
                x=line.index, y=line.to_numpy(), mode="lines", name=label,
                legend=legend, line={"color": _line_colour(p.target), "width": 1.4, "dash": "dash"},
                meta={"evidence_for": p.target.name},
                hovertemplate=f"{quantity_label(p.target)} (as target {p.target.name} counts it): "
                              "%{y:,.4g}<extra></extra>"), row=row, col=1)
        open_top = not math.isfinite(p.high)
        fig.add_trace(go.Scatter(
            x=[p.x], y=[p.value], mode="markers", name=LEGEND, legend=legend,
            legendgroup=f"evidence{row}", showlegend=p.panel not in legend_done,
            marker={"symbol": "triangle-up" if open_top else "diamond", "size": 9, "color": _COLOUR,
                    "line": {"color": "white", "width": 1}},
            error_y={"type": "data", "symmetric": False, "array": [0.0 if open_top else p.high - p.value],
                     "arrayminus": [p.value - p.low], "color": _COLOUR, "thickness": 1.5, "width": 5},
            hovertext=[_hover(p, panel.unit)], hoverinfo="text",
            meta={"target": p.target.name, "low": p.low, "high": p.high, "rows": p.target.rows}),
            row=row, col=1)
        legend_done.add(p.panel)
    return drawn


def caption(targets: Targets | None, metrics: pd.DataFrame, label: str) -> str:
    """Plain text for under the figure: which targets are drawn and which not, and why."""
    if targets is None:
        return ""
    drawn, skipped = plan(targets, metrics)
    text = (f"Black markers with error bars ({LEGEND} in the legend) are the evidence of targets file "
            f"{label}: {len(drawn)} of its {len(targets.targets)} targets, each band converted to its panel's "
            "unit (a yearly total to a monthly mean); an upward triangle is a lower bound. A dashed line is "
            "the model's value of a target's exact quantity (one province, one drug, ever used) where no "
            "line of the panel is that quantity. Hover a marker for the target, its source and evidence rows.")
    if skipped:
        text += " Not drawn: " + "; ".join(f"{n} ({why})" for n, why in skipped) + "."
    return text



# ---------------------------------------------------------------------------- yearly fan charts
def place_yearly(t: Target, quantity, years: list[int]) -> tuple[float, float, float, float, float, str] | str:
    """Where a target goes on the yearly fan chart of an estimate's total of ``quantity`` (a
    `narcoflow.experiments.estimates.Quantity`, in its display unit per year for a flow):
    (x, half-width of its years, low, high, marker value, how) or why not.

    A flow's ``sum`` over whole years is divided by the number of years (a yearly mean), its
    ``mean_per_year`` drawn as it is; a level's ``last`` at its last year; ``mean`` of a level
    over its years. Only targets of the total (no filter beyond the quantity's own) are drawn.
    """
    if t.waiting or t.metric != quantity.metric:
        return "another metric"
    if t.divided_by is not None:
        return "a ratio, not the fan chart's quantity"
    own = {dim: set(vals) for dim, vals in quantity.where}
    for col, val in t.filters.items():
        want = {val} if isinstance(val, str) else set(val)
        if own.get(col) != want:
            return f"its filter on {col} is not the fan chart's total"
    if any(col not in t.filters for col in own):
        return "the fan chart counts fewer rows than the target"
    y0, y1 = t.years
    if not all(y in years for y in range(y0, y1 + 1)):
        return f"the estimate does not report {y0}-{y1}"
    meta = METRICS[t.metric]
    f = meta.display_factor
    if meta.kind == "flow" and t.aggregation in ("sum", "mean_per_year"):
        if t.aggregation == "sum":
            f /= (y1 - y0 + 1)
        how = "yearly mean over its years" if y1 > y0 or t.aggregation == "mean_per_year" else "the year's total"
        x, half = (y0 + y1) / 2, (y1 - y0) / 2
    elif meta.kind == "level" and t.aggregation in ("last", "mean"):
        x, half = ((float(y1), 0.0) if t.aggregation == "last" else ((y0 + y1) / 2, (y1 - y0) / 2))
        how = f"level at the end of {y1}" if t.aggregation == "last" else f"mean level over {y0}-{y1}"
    else:
        return f"aggregation {t.aggregation} has no counterpart on a yearly chart of {t.metric}"
    lo, hi, _ = t.band()
    low, high = lo * f, hi * f if math.isfinite(hi) else math.inf
    value = (t.observed * f if t.observed is not None else low if not math.isfinite(high)
             else (low + high) / 2)
    return x, half, low, high, value, how


def add_fan_evidence(fig: go.Figure, quantity: str, targets: Targets | None, years: list[int]) -> list[str]:
    """Draw on an estimate's fan chart of ``quantity`` (its total series) the bands of the
    targets that measure that total; returns their names. The markers show with the total only
    (the chart's menu hides them for the other series)."""
    from narcoflow.experiments.estimates import QUANTITIES

    q = next((x for x in QUANTITIES if x.name == quantity), None)
    if q is None or targets is None:
        return []
    unit = q.unit
    drawn = []
    for t in targets.targets:
        p = place_yearly(t, q, years)
        if isinstance(p, str):
            continue
        x, half, low, high, value, how = p
        open_top = not math.isfinite(high)
        years_text = f"{t.years[0]}" if t.years[0] == t.years[1] else f"{t.years[0]}-{t.years[1]}"
        hover = (f"<b>{t.name}</b> ({t.role})<br>{quantity_label(t)}, {years_text}: {t.observed_text()} {t.unit}"
                 f" ({t.aggregation})<br>drawn as {low:,.4g} to "
                 f"{'no upper bound' if open_top else f'{high:,.4g}'} {unit} ({how})"
                 f"<br>evidence rows: {', '.join(t.rows) or '-'}<br>" + "<br>".join(textwrap.wrap(t.source, 90)))
        fig.add_trace(go.Scatter(
            x=[x], y=[value], mode="markers", name=LEGEND, legendgroup="evidence", showlegend=not drawn,
            marker={"symbol": "triangle-up" if open_top else "diamond", "size": 10, "color": _COLOUR,
                    "line": {"color": "white", "width": 1}},
            error_y={"type": "data", "symmetric": False, "array": [0.0 if open_top else high - value],
                     "arrayminus": [value - low], "color": _COLOUR, "thickness": 1.5, "width": 5},
            error_x={"type": "data", "array": [half], "color": _COLOUR, "thickness": 1, "width": 0,
                     "visible": half > 0},
            hovertext=[hover], hoverinfo="text", meta={"target": t.name, "low": low, "high": high, "rows": t.rows}))
        drawn.append(t.name)
    menus = fig.layout.updatemenus
    if drawn and menus:
        buttons = list(menus[0].buttons)
        for i, b in enumerate(buttons):
            args = list(b.args)
            args[0] = {**args[0], "visible": list(args[0]["visible"]) + [i == 0] * len(drawn)}
            b.args = args
        fig.layout.updatemenus[0].buttons = buttons
    return drawn
