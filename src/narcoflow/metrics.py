"""The metric registry: what each recorded metric is, declared once.

Every metric the engine records is a key ``(metric, drug, region, channel)``; the registry says,
for each metric name, whether it is a *flow* (a per-step quantity whose sum over the run is
meaningful: grams produced, arrests) or a *level* (an end-of-step snapshot: users, stocks,
prices), whether the recorder divides it by the run's ``scale`` (extensive quantities, expressed
for the full population) or not (intensive ones: prices, purity), its unit, a label for tables and
figures, and which of the dimensions ``drug, region, channel`` its keys carry (the others are
always missing). The recorder, `narcoflow.results.Results`, the printed summary, the outcomes of
experiments and the report read it from here.

This module imports nothing heavy (no pandas, no numba).

Examples
--------
>>> metric("users").kind
'level'
>>> metric("consumed_g").dims
('drug', 'region')
>>> metric("price_usd_per_g").scaled
False
>>> metric("consumd_g")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
narcoflow.errors.MetricError: unknown metric 'consumd_g'; the metrics are: ...
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from narcoflow.errors import MetricError

#: The dimensions of a metric key, in key order.
DIMENSIONS: tuple[str, ...] = ("drug", "region", "channel")

#: How a unit is shown in summaries and outcomes: unit -> (display unit, factor).
DISPLAY_UNITS: dict[str, tuple[str, float]] = {
    "g": ("kg", 1e-3),
    "USD": ("USD million", 1e-6),
}


@dataclass(frozen=True)
class Metric:
    """One recorded metric.

    Attributes
    ----------
    name : str
        The name in the ``metric`` column.
    kind : {"flow", "level"}
        A flow is recorded per step and summed over the run (`Results.total`); a level is a
        snapshot at the end of each step, read at the last step (`Results.final`).
    scaled : bool
        Whether the recorder divides the value by the run's scale (extensive quantities:
        grams, people, USD) so that runs at different scales are comparable.
    unit : str
        Unit of the stored values (``g``, ``USD``, ``people``, ``USD/g``, ``fraction``).
    label : str
        Short human label for tables and figures.
    dims : tuple of str
        The dimensions its keys carry, a subset of `DIMENSIONS` in that order.
    dim_names : tuple of str
        What each of ``dims`` stands for in this metric (e.g. ``region`` is a ``destination``
        for exports, ``channel`` an ``agency`` for seizures); same length as ``dims``.
    """

    name: str
    kind: Literal["flow", "level"]
    scaled: bool
    unit: str
    label: str
    dims: tuple[str, ...]
    dim_names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in ("flow", "level"):
            raise ValueError(f"metric {self.name!r}: kind must be 'flow' or 'level', not {self.kind!r}")
        if tuple(d for d in DIMENSIONS if d in self.dims) != tuple(self.dims):
            raise ValueError(f"metric {self.name!r}: dims {self.dims!r} must be a subset of "
                             f"{DIMENSIONS!r} in that order")
        if not self.dim_names:
            object.__setattr__(self, "dim_names", tuple(self.dims))
        if len(self.dim_names) != len(self.dims):
            raise ValueError(f"metric {self.name!r}: dim_names must name each of {self.dims!r}")

    @property
    def display_unit(self) -> str:
        """Unit in which summaries and outcomes show totals (kg for g, USD million for USD)."""
        return DISPLAY_UNITS.get(self.unit, (self.unit, 1.0))[0]

    @property
    def display_factor(self) -> float:
        """Factor from the stored unit to `display_unit`."""
        return DISPLAY_UNITS.get(self.unit, (self.unit, 1.0))[1]

    def series_unit(self, period: str = "month") -> str:
        """Unit of a time series of this metric: ``kg/month`` for a flow in grams summed per
        month, the display unit for a level."""
        return f"{self.display_unit}/{period}" if self.kind == "flow" else self.display_unit

    def dim_name(self, dim: str) -> str:
        """What dimension ``dim`` stands for in this metric (``region`` -> ``destination``)."""
        return self.dim_names[self.dims.index(dim)]


def _flow(name: str, unit: str, label: str, dims: tuple[str, ...],
          dim_names: tuple[str, ...] = ()) -> Metric:
    return Metric(name, "flow", True, unit, label, dims, dim_names)


def _level(name: str, unit: str, label: str, dims: tuple[str, ...], dim_names: tuple[str, ...] = (),
           *, scaled: bool = True) -> Metric:
    return Metric(name, "level", scaled, unit, label, dims, dim_names)


_DRC = ("drug", "region", "channel")
_ACTIVE = ("region",)

#: Every metric the engine records, by name, flows first.
METRICS: dict[str, Metric] = {m.name: m for m in (
    # flows: per-step quantities, summed over the run
    _flow("produced_g", "g", "Production", _DRC, ("drug", "region", "sector")),
    _flow("siphoned_g", "g", "Siphoned from state factories", ("drug", "region")),
    _flow("consumed_g", "g", "Domestic consumption", ("drug", "region")),
    _flow("seized_g", "g", "Seizures", _DRC, ("drug", "region", "agency")),
    _flow("exported_g", "g", "Exports dispatched", _DRC, ("drug", "destination", "channel")),
    _flow("delivered_abroad_g", "g", "Exports arrived abroad", _DRC,
          ("drug", "destination", "channel")),
    _flow("arrests", "people", "Arrests", ("region", "channel"), ("region", "role")),
    _flow("bribes_usd", "USD", "Bribes paid at the border", ("region",)),
    _flow("state_revenue_usd", "USD", "State export revenue", ("region", "channel"),
          ("destination", "channel")),
    _flow("initiations", "people", "New users", ("region",)),
    _flow("private_export_revenue_usd", "USD", "Private export revenue", ()),
    # levels: end-of-step snapshots
    _level("stock_g", "g", "Stock held", ("drug", "channel"), ("drug", "holder")),
    _level("in_transit_g", "g", "In transit abroad", ("drug",)),
    _level("users", "people", "Users", ("region",)),
    _level("users_by_state", "people", "Users by use state", ("region", "channel"), ("region", "state")),
    _level("ever_used", "people", "Ever used", ("region",)),
    _level("active_producers", "people", "Active private producers", _ACTIVE),
    _level("active_deliverers", "people", "Active deliverers", _ACTIVE),
    _level("active_wholesalers", "people", "Active wholesalers", _ACTIVE),
    _level("active_sellers", "people", "Active sellers", _ACTIVE),
    _level("active_smugglers", "people", "Active smugglers", _ACTIVE),
    _level("price_usd_per_g", "USD/g", "Price", _DRC, ("drug", "market", "tier"), scaled=False),
    _level("price_usd_per_pure_g", "USD/g", "Price per pure gram", _DRC, ("drug", "market", "tier"),
           scaled=False),
    _level("purity", "fraction", "Retail purity", ("region", "channel"), ("region", "tier"),
           scaled=False),
)}

#: Names of the flow metrics and of the level metrics, in registry order.
FLOW_METRICS: tuple[str, ...] = tuple(n for n, m in METRICS.items() if m.kind == "flow")
LEVEL_METRICS: tuple[str, ...] = tuple(n for n, m in METRICS.items() if m.kind == "level")


def metric(name: str) -> Metric:
    """The registered metric ``name``; a `MetricError` listing the metrics if there is none."""
    try:
        return METRICS[name]
    except (KeyError, TypeError):
        raise MetricError(f"unknown metric {name!r}; the metrics are: "
                          f"{', '.join(METRICS)}") from None
