"""Outcomes: the scalars an experiment reads from each run's metrics, defined once.

Flows are totals over the run (grams as kg, USD as USD million: each metric's display unit
in `narcoflow.metrics`); levels are taken at the last step, both computed by
`narcoflow.results.results.run_total` / `last_value`. ``exports_arrived_kg:<destination>`` is
added for each foreign market of the scenario.

Examples
--------
>>> import narcoflow as nf
>>> res = nf.run("north-korea-2011", seed=1, scale=0.002, years=1)
>>> out = outcomes_of(res.metrics, destinations=["China", "Japan", "South Korea"])
>>> sorted(out)[:3]
['arrests', 'consumption_kg', 'exports_arrived_kg']
>>> out["consumption_kg"] == res.total("consumed_g") / 1000
True
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from narcoflow.errors import NarcoflowError
from narcoflow.metrics import metric
from narcoflow.results.results import last_rows, last_value, run_total, select_rows

_DOMESTIC_AGENCIES = ("mps", "nsa", "border_guard")


@dataclass(frozen=True)
class Outcome:
    """A scalar read from one run's metrics table."""

    name: str
    meaning: str
    unit: str
    fn: Callable[[pd.DataFrame], float]
    #: the sign a policy aims at: "down" (consumption), "up" (retail price) or None (either)
    intended: str | None = None
    #: human title for tables and figures, from the metric registry (`narcoflow.metrics`)
    label: str = ""

    @property
    def title(self) -> str:
        """``label (unit)``, e.g. ``Domestic consumption (kg)``."""
        return f"{self.label or self.meaning} ({self.unit})"


def _total(name: str, **where: object) -> Callable[[pd.DataFrame], float]:
    """Run total of flow ``name`` (`narcoflow.results.results.run_total`) in its display unit."""
    factor = metric(name).display_factor

    def fn(m: pd.DataFrame) -> float:
        return run_total(m, name, check_labels=False, **where) * factor
    return fn


def _final_sum(name: str) -> Callable[[pd.DataFrame], float]:
    def fn(m: pd.DataFrame) -> float:
        return last_value(m, name)
    return fn


def _retail_price(m: pd.DataFrame) -> float:
    d = last_rows(m, "price_usd_per_g", drug="methamphetamine", channel="retail", check_labels=False)
    if d.empty:
        return float("nan")
    return float(d["value"].astype("float64").mean())


def _outcome(name: str, meaning: str, metric_name: str, fn: Callable[[pd.DataFrame], float],
             intended: str | None = None, label: str | None = None) -> Outcome:
    m = metric(metric_name)
    return Outcome(name, meaning, m.display_unit, fn, intended, label or m.label)


#: The headline outcomes, in display order (per-destination exports are added per scenario).
OUTCOMES: dict[str, Outcome] = {o.name: o for o in (
    _outcome("production_kg", "state and private production", "produced_g", _total("produced_g"), "down"),
    _outcome("consumption_kg", "domestic consumption", "consumed_g", _total("consumed_g"), "down"),
    _outcome("users_end", "users at the end of the run", "users", _final_sum("users"), "down",
             "Users at the end"),
    _outcome("seizures_kg", "seizures at home and abroad", "seized_g", _total("seized_g"), None,
             "Seizures at home and abroad"),
    _outcome("seizures_domestic_kg", "seizures by MPS, NSA, border guards", "seized_g",
             _total("seized_g", channel=_DOMESTIC_AGENCIES), None, "Seizures in North Korea"),
    _outcome("arrests", "arrests of actors and users", "arrests", _total("arrests")),
    _outcome("exports_arrived_kg", "exports delivered abroad", "delivered_abroad_g",
             _total("delivered_abroad_g"), "down"),
    _outcome("state_revenue_musd", "state export revenue", "state_revenue_usd",
             _total("state_revenue_usd"), "down"),
    _outcome("retail_price_usd_per_g", "meth retail price at the end (provincial mean)",
             "price_usd_per_g", _retail_price, "up", "Retail price of meth at the end"),
)}

#: The metrics the outcomes read.
_NEEDED = ("produced_g", "consumed_g", "users", "seized_g", "arrests", "delivered_abroad_g",
           "state_revenue_usd", "price_usd_per_g")

DESTINATION_PREFIX = "exports_arrived_kg:"


def destination_outcome(destination: str) -> Outcome:
    """``exports_arrived_kg:<destination>``: grams delivered in that market, as kg."""
    return _outcome(f"{DESTINATION_PREFIX}{destination}", f"exports delivered in {destination}",
                    "delivered_abroad_g", _total("delivered_abroad_g", region=destination), "down",
                    f"Exports arrived in {destination}")


@dataclass(frozen=True)
class Window:
    """Calendar years an outcome is read over: ``first`` to ``last`` inclusive (None: the run's
    start or end). Flows are summed over the window; levels are read at its last step."""

    first: int | None = None
    last: int | None = None

    def __post_init__(self) -> None:
        for flag, year in (("--from", self.first), ("--to", self.last)):
            if year is not None and not (isinstance(year, int) and 1900 <= year <= 2200):
                raise NarcoflowError(f"{flag} {year} is out of range: it must be a calendar year in "
                                     "[1900, 2200].")
        if self.first is not None and self.last is not None and self.first > self.last:
            raise NarcoflowError(f"--from {self.first} is after --to {self.last}: the window must be "
                                 "[first year, last year].")

    @property
    def whole(self) -> bool:
        return self.first is None and self.last is None

    @property
    def suffix(self) -> str:
        """``[2010-]``, ``[2010-2013]``, ``[-2013]``; empty for the whole run."""
        if self.whole:
            return ""
        return f"[{self.first or ''}-{self.last or ''}]"

    @property
    def text(self) -> str:
        """``2010 to the end``, ``2010-2013``, ``start to 2013``."""
        if self.whole:
            return "whole run"
        if self.last is None:
            return f"{self.first} to the end"
        if self.first is None:
            return f"start to {self.last}"
        return f"{self.first}" if self.first == self.last else f"{self.first}-{self.last}"

    def select(self, metrics: pd.DataFrame) -> pd.DataFrame:
        """The rows of ``metrics`` dated in the window."""
        if self.whole or not len(metrics):
            return metrics
        year = pd.to_datetime(metrics["date"]).dt.year
        keep = pd.Series(True, index=metrics.index)
        if self.first is not None:
            keep &= year >= self.first
        if self.last is not None:
            keep &= year <= self.last
        return metrics[keep]

    def check(self, start: dt.date, end: dt.date) -> None:
        """Raise unless the window overlaps the simulated period ``start`` to ``end``."""
        if self.first is not None and self.first > end.year:
            raise NarcoflowError(f"--from {self.first} is after the run ends ({end.isoformat()}); choose a "
                                 f"year in [{start.year}, {end.year}] or run more --years.")
        if self.last is not None and self.last < start.year:
            raise NarcoflowError(f"--to {self.last} is before the run starts ({start.isoformat()}); choose "
                                 f"a year in [{start.year}, {end.year}].")


def _windowed(o: Outcome, window: Window) -> Outcome:
    if window.whole:
        return o

    def fn(m: pd.DataFrame) -> float:
        return o.fn(window.select(m))
    meaning, label = o.meaning, o.label
    if o.name in ("users_end", "retail_price_usd_per_g"):  # levels: read at the window's end
        if window.last is not None:
            meaning = meaning.replace("at the end of the run", "at the end").replace(
                "at the end", f"at the end of {window.last}")
            label = label.replace("at the end", f"at the end of {window.last}")
    else:
        meaning, label = f"{meaning}, {window.text}", f"{label}, {window.text}"
    return dataclasses.replace(o, name=o.name + window.suffix, meaning=meaning, fn=fn, label=label)


AGGREGATIONS = ("sum", "mean_per_year", "mean", "last", "mean_value")
_FIELDS = ("agg", "from", "to", "intended", "label")
#: weeks per year, as `narcoflow.experiments.runner.WEEKS_PER_YEAR`
WEEKS_PER_YEAR = 52.1775


@dataclass(frozen=True)
class OutcomeDef:
    """A user-defined outcome: a metric, filters on its dimensions, a window and an aggregation
    (the vocabulary of calibration targets, `narcoflow.calibration.targets.Target`).

    Aggregations: ``sum`` (a flow over the window, in its display unit: kg, USD million),
    ``mean_per_year`` (that sum per simulated year), ``last`` (a level at the window's last
    step, summed over keys), ``mean`` (the mean over steps of the sum over keys), ``mean_value``
    (the mean over rows, for prices and purity; provinces weigh equally). Default: ``sum`` for a
    flow, ``last`` for a level.

    Examples
    --------
    >>> d = OutcomeDef.parse("china=delivered_abroad_g,region=China,from=2010,intended=down")
    >>> d.name, d.metric, d.filters, d.aggregation, d.window
    ('china', 'delivered_abroad_g', (('region', ('China',)),), 'sum', Window(first=2010, last=None))
    """

    name: str
    metric: str
    filters: tuple[tuple[str, tuple[str, ...]], ...] = ()
    aggregation: str = ""
    window: Window = Window()
    intended: str | None = None
    label: str = ""

    def __post_init__(self) -> None:
        where = f"outcome {self.name!r}"
        if not self.name or not all(c.isalnum() or c in "_-:." for c in self.name):
            raise NarcoflowError(f"{where}: a name needs letters, digits or _-:. only.")
        try:
            m = metric(self.metric)
        except NarcoflowError as exc:
            raise NarcoflowError(f"{where}: {exc}") from None
        for dim, labels in self.filters:
            if dim not in m.dims:
                raise NarcoflowError(f"{where}: {self.metric} has no dimension {dim!r}; its dimensions: "
                                     f"{', '.join(m.dims) or 'none'}.")
            if not labels or not all(labels):
                raise NarcoflowError(f"{where}: filter {dim}= needs a label (several: A|B).")
        agg = self.aggregation or ("sum" if m.kind == "flow" else "last")
        object.__setattr__(self, "aggregation", agg)
        if agg not in AGGREGATIONS:
            raise NarcoflowError(f"{where}: agg={agg!r} is not an aggregation; choose one of: "
                                 f"{', '.join(AGGREGATIONS)}.")
        if agg in ("sum", "mean_per_year") and m.kind != "flow":
            raise NarcoflowError(f"{where}: {self.metric} is a level (a snapshot each week); its sum "
                                 "over weeks means nothing: use agg=last, mean or mean_value.")
        if self.intended not in (None, "down", "up"):
            raise NarcoflowError(f"{where}: intended={self.intended!r} must be down or up.")

    @classmethod
    def parse(cls, text: str) -> OutcomeDef:
        """``NAME=METRIC[,DIM=LABEL[|LABEL...]][,agg=AGG][,from=YEAR][,to=YEAR][,intended=down|up]
        [,label=TEXT]`` (the form of ``narcoflow compare --define``)."""
        head, _, rest = text.partition(",")
        name, eq, metric_name = head.partition("=")
        if not eq or not name.strip() or not metric_name.strip():
            raise NarcoflowError(f"--define {text!r} must start NAME=METRIC, e.g. "
                                 "china=delivered_abroad_g,region=China,from=2010.")
        filters, opts = [], {}
        for part in filter(None, (p.strip() for p in rest.split(","))):
            key, eq, value = part.partition("=")
            key = key.strip()
            if not eq or not key:
                raise NarcoflowError(f"--define {text!r}: {part!r} must be KEY=VALUE.")
            if key in _FIELDS:
                opts[key] = value.strip()
            elif key in ("drug", "region", "channel"):
                filters.append((key, tuple(v.strip() for v in value.split("|"))))
            else:
                raise NarcoflowError(f"--define {text!r}: unknown key {key!r}; keys are drug, region, "
                                     f"channel (filters) and {', '.join(_FIELDS)}.")
        years = {}
        for key in ("from", "to"):
            if key in opts:
                try:
                    years[key] = int(opts[key])
                except ValueError:
                    raise NarcoflowError(f"--define {text!r}: {key}={opts[key]!r} is not a year.") from None
        return cls(name=name.strip(), metric=metric_name.strip(), filters=tuple(filters),
                   aggregation=opts.get("agg", ""), window=Window(years.get("from"), years.get("to")),
                   intended=opts.get("intended") or None, label=opts.get("label", ""))

    def check_labels(self, scenario) -> None:
        """Raise, naming the label and the allowed ones, unless every filter label is one that
        ``scenario``'s runs can record for this metric (`known_labels`): a misspelt label would
        otherwise select no rows and read as 0."""
        m = metric(self.metric)
        vocab = known_labels(scenario)
        for dim, labels in self.filters:
            allowed = vocab[m.dim_name(dim)]
            bad = [v for v in labels if v not in allowed]
            if bad:
                raise NarcoflowError(f"outcome {self.name!r}: {dim}={bad[0]!r} is not one of the "
                                     f"{m.dim_name(dim)} labels of {self.metric} in scenario "
                                     f"{scenario.name!r}: {', '.join(allowed)}.")

    def with_window(self, window: Window) -> OutcomeDef:
        """This outcome with ``window`` where it has none of its own."""
        return self if not self.window.whole else dataclasses.replace(self, window=window)

    def outcome(self) -> Outcome:
        """The `Outcome` that computes it."""
        m = metric(self.metric)
        where = {dim: labels[0] if len(labels) == 1 else labels for dim, labels in self.filters}
        agg, window = self.aggregation, self.window
        factor = m.display_factor if agg != "mean_value" else 1.0

        def fn(metrics: pd.DataFrame) -> float:
            d = select_rows(window.select(metrics), self.metric, check_labels=False, **where)
            if not len(d):
                return 0.0
            if agg == "sum":
                return float(d["value"].sum()) * factor
            if agg == "mean_per_year":
                return float(d["value"].sum()) * factor / (d["step"].nunique() / WEEKS_PER_YEAR)
            if agg == "mean_value":
                return float(d["value"].mean())
            per_step = d.groupby("step")["value"].sum()
            return float(per_step.iloc[-1] if agg == "last" else per_step.mean()) * factor

        filt = ", ".join(f"{m.dim_name(d)} {'|'.join(v)}" for d, v in self.filters)
        label = self.label or (f"{m.label}{f' ({filt})' if filt else ''}, {agg.replace('_', ' ')}"
                               f"{'' if window.whole else ', ' + window.text}")
        unit = m.display_unit if agg != "mean_per_year" else f"{m.display_unit}/year"
        return Outcome(self.name, label, unit, fn, self.intended, label)


def known_labels(scenario) -> dict[str, tuple[str, ...]]:
    """The labels a run of ``scenario`` can record, by the name a metric gives each dimension
    (`narcoflow.metrics.Metric.dim_names`: ``drug``, ``region``, ``destination``, ``agency``,
    ``sector``, ``channel``, ``role``, ``tier``...). Flows record only their non-zero keys, so
    a run's own labels are not enough to tell a misspelt label from one without flow."""
    from narcoflow.engine.flowlog import AGENCIES
    from narcoflow.engine.state import ROLE_NAMES, TIERS
    from narcoflow.scenario.schema import DRUGS

    provinces, dests = tuple(scenario.region_names), tuple(d.name for d in scenario.border.destinations)
    agencies = tuple(dict.fromkeys([*AGENCIES[:3], *(d.agency for d in scenario.border.destinations)]))
    by_name = {
        "sector": ("state", "private"), "agency": agencies, "destination": dests,
        "channel": (*(c.name for c in scenario.state.export_channels), "private"),
        "role": (*ROLE_NAMES, "user"), "holder": ("state", *ROLE_NAMES), "state": ("light", "heavy", "former"),
        "market": (*provinces, *dests), "tier": (*TIERS, "import"),
    }
    return {"drug": tuple(DRUGS), "region": (*provinces, *dests), **by_name}


def outcomes_for(destinations: Sequence[str] = (), window: Window = Window(),
                 custom: Sequence[OutcomeDef] = ()) -> dict[str, Outcome]:
    """The headline outcomes plus one per destination, in display order, read over ``window``;
    then the user-defined outcomes ``custom`` (over their own window, else ``window``)."""
    out = dict(OUTCOMES)
    names = list(out)
    pos = names.index("exports_arrived_kg") + 1
    per_dest = {f"{DESTINATION_PREFIX}{d}": destination_outcome(d) for d in destinations}
    ordered = [{**out, **per_dest}[k] for k in names[:pos] + list(per_dest) + names[pos:]]
    result = {o.name: o for o in (_windowed(o, window) for o in ordered)}
    for d in custom:
        o = d.with_window(window).outcome()
        if o.name in result:
            raise NarcoflowError(f"outcome {o.name!r} is already a headline outcome; choose another name.")
        result[o.name] = o
    return result


def outcome_title(name: str) -> str:
    """A human title ``Label (unit)`` for a headline outcome's name (windowed or per
    destination); the name itself when it is not one."""
    base, _, rest = name.partition("[")
    window = Window()
    if rest.endswith("]"):
        first, _, last = rest[:-1].partition("-")
        try:
            window = Window(int(first) if first else None, int(last) if last else None)
        except (ValueError, NarcoflowError):
            return name
    if base.startswith(DESTINATION_PREFIX):
        o = destination_outcome(base[len(DESTINATION_PREFIX):])
    elif base in OUTCOMES:
        o = OUTCOMES[base]
    else:
        return name
    return _windowed(o, window).title


def outcomes_of(metrics: pd.DataFrame, *, destinations: Sequence[str] = (), window: Window = Window(),
                custom: Sequence[OutcomeDef] = ()) -> dict[str, float]:
    """Every headline outcome of one run (over ``window``) and the ``custom`` ones, ``name -> value``."""
    needed = set(_NEEDED) | {d.metric for d in custom}
    m = metrics[metrics["metric"].isin(needed)]
    return {name: o.fn(m) for name, o in outcomes_for(destinations, window, custom).items()}


def check_outcome(name: str, destinations: Sequence[str] = ()) -> str:
    """``name`` if it is an outcome of this scenario, else a `NarcoflowError` listing them."""
    known = outcomes_for(destinations)
    if name not in known:
        raise NarcoflowError(f"--outcome {name!r} is not an outcome; choose one of: "
                             f"{', '.join(known)}.")
    return name


def outcome_table(values: dict[str, float]) -> pd.DataFrame:
    """``metric, value`` rows (float64), in the order given."""
    return pd.DataFrame({"metric": list(values), "value": np.asarray(list(values.values()), float)})
