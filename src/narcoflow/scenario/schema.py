"""The scenario schema: the single source of truth for every parameter and its allowed range.

A scenario is plain data (YAML) validated into a frozen pydantic `Scenario`. Every numeric
parameter is a `Param`: a value, an optional uncertainty `range` and the `source` it rests on
(a report claim S1-S14 or a public source from the evidence file). In a user file a bare
number is accepted and means ``{value: <number>}``.

Allowed ranges are declared once, here, through `Prob`, `NonNeg`, `Positive`, ... and the
error messages are derived from them. Policy levers and policies live in
`narcoflow.scenario.policy` and are re-exported here.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from narcoflow.scenario.policy import (  # noqa: F401  (re-exported: imported from here elsewhere)
    LEVERS,
    LeverSetting,
    LeverSpec,
    Policy,
    check_policy_name,
)

DRUGS = ("methamphetamine", "heroin", "cocaine")
ROLES = ("producer", "deliverer", "wholesaler", "seller", "smuggler")
Drug = Literal["methamphetamine", "heroin", "cocaine"]
Role = Literal["producer", "deliverer", "wholesaler", "seller", "smuggler", "user"]
Agency = Literal["mps", "nsa", "border_guard", "china", "japan", "south_korea"]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Param(_Frozen):
    """A number with its uncertainty range and its source.

    ``range`` (low, high) marks the parameter as uncertain: sweeps, sensitivity analysis and
    calibration draw from it. The value must lie inside its range.
    """

    value: float
    range: tuple[float, float] | None = None
    source: str = ""

    @model_validator(mode="before")
    @classmethod
    def _from_number(cls, data: Any) -> Any:
        if isinstance(data, bool):
            raise ValueError("expected a number or {value, range, source}, got a boolean")
        if isinstance(data, int | float):
            return {"value": data}
        return data

    @model_validator(mode="after")
    def _value_in_range(self) -> Param:
        if self.range is not None:
            lo, hi = self.range
            if lo > hi:
                raise ValueError(f"range [{lo}, {hi}] has low > high")
            if not lo <= self.value <= hi:
                raise ValueError(f"value {self.value} lies outside its own range [{lo}, {hi}]")
        return self

    def __float__(self) -> float:
        return float(self.value)


def _bounded(lo: float, hi: float, *, open_lo: bool = False):
    if hi == float("inf"):
        allowed = f"> {lo:g}" if open_lo else f">= {lo:g}"
    else:
        allowed = f"{'(' if open_lo else '['}{lo:g}, {hi:g}]"

    def check(p: Param) -> Param:
        values = [p.value] + (list(p.range) if p.range else [])
        for v in values:
            if v < lo or v > hi or (open_lo and v <= lo):
                raise ValueError(f"value {v:g} is outside the allowed range: {allowed}")
        return p

    return AfterValidator(check)


INF = float("inf")
Prob = Annotated[Param, _bounded(0.0, 1.0)]
NonNeg = Annotated[Param, _bounded(0.0, INF)]
Positive = Annotated[Param, _bounded(0.0, INF, open_lo=True)]
Share = Prob


class Region(_Frozen):
    """A North Korean province or directly administered city (2008 census)."""

    name: str
    population: Annotated[int, Field(gt=0, le=100_000_000)]
    source: str = ""
    initial_prevalence: Prob = Param(value=0.0)
    border_access: Prob = Param(value=0.0)
    policing: NonNeg = Param(value=1.0)


class Facility(_Frozen):
    """A state pharmaceutical factory (S3) with a dated location history (S4)."""

    name: str
    region: str
    capacity_g_per_week: dict[Drug, NonNeg]
    purity: Prob
    relocated_from: str | None = None
    relocated_from_name: str | None = None
    relocation_date: dt.date | None = None
    source: str = ""


class ScheduleStep(_Frozen):
    start: dt.date
    multiplier: NonNeg


class ExportChannel(_Frozen):
    """A state export channel (S8): diplomats or foreign-currency-earning enterprises."""

    name: str
    share_of_stock_per_week: Prob
    lot_g: Positive
    destinations: dict[str, NonNeg]
    price_factor: Positive
    transit_weeks: Annotated[int, Field(ge=1, le=52)] = 2
    interdiction_multiplier: NonNeg = Param(value=1.0)
    source: str = ""


class StateSector(_Frozen):
    """State production controlled by the NSA (S1-S5, S8, S9)."""

    facilities: list[Facility]
    production_schedule: list[ScheduleStep] = []
    siphon_rate: Prob
    export_channels: list[ExportChannel]


class ChemicalCity(_Frozen):
    """A city with a chemical factory whose former workers can produce (S6)."""

    name: str
    region: str
    population: Annotated[int, Field(gt=0)]
    skilled_share: Prob


class PrivateSector(_Frozen):
    """Private producers: skilled people entering on economics (S6, S7, S10)."""

    chemical_cities: list[ChemicalCity]
    setup_cost_usd: Positive
    precursor_availability: Prob
    precursor_cost_usd_per_g: NonNeg
    legal_income_usd_per_week: Positive
    output_g_per_week: Positive
    output_dispersion: NonNeg
    purity: Prob
    max_entry_rate: Prob
    base_exit_rate: Prob
    max_exit_rate: Prob
    planning_horizon_weeks: Positive
    penalty_cost_usd: NonNeg
    initial_producers_per_million: NonNeg


class Distribution(_Frozen):
    """The private chain producer -> deliverer -> wholesaler -> seller -> consumer (S11, S12)."""

    producers_per_deliverer: Positive
    deliverer_same_region_prob: Prob
    sellers_per_wholesaler: Positive
    users_per_seller: Positive
    seller_target_cover_weeks: Positive
    wholesaler_target_cover_weeks: Positive
    recruitment_rate: Prob
    rewire_prob: Prob
    transit_weeks: Annotated[int, Field(ge=1, le=12)] = 1


class Prices(_Frozen):
    """Prices and markups by tier (S11); retail prices move with shortage and glut."""

    initial_retail_usd_per_g: Positive
    retail_markup: Positive
    wholesale_markup: Positive
    adjustment_speed: NonNeg
    normal_fill: Annotated[Param, _bounded(0.0, 1.0, open_lo=True)]
    glut_weight: NonNeg
    min_retail_usd_per_g: Positive
    max_retail_usd_per_g: Positive

    @model_validator(mode="after")
    def _order(self) -> Prices:
        if self.min_retail_usd_per_g.value > self.max_retail_usd_per_g.value:
            raise ValueError("min_retail_usd_per_g must not exceed max_retail_usd_per_g")
        return self


class Consumption(_Frozen):
    """Use, initiation and quitting by province (demand side)."""

    use_g_per_week: Positive
    use_dispersion: NonNeg
    price_elasticity: NonNeg
    base_initiation_per_week: Prob
    peer_initiation_per_week: NonNeg
    quit_rate_per_week: Prob
    heroin_share: Prob
    reference_price_usd_per_g: Positive


class Crossing(_Frozen):
    """A border crossing to China with its guards (S13)."""

    name: str
    region: str
    guards: Annotated[int, Field(ge=1, le=100_000)]
    chinese_side: str = ""


class Destination(_Frozen):
    """A foreign market: China directly, Japan and South Korea via China (S13, S14)."""

    name: str
    agency: Agency
    via: str | None = None
    onward_share: Prob = Param(value=0.0)
    price_usd_per_g: Positive
    interdiction_prob: Prob
    transit_weeks: Annotated[int, Field(ge=1, le=52)] = 1


class Border(_Frozen):
    """Border smuggling with smugglers, corruptible guards and Chinese counterparts (S13)."""

    crossings: list[Crossing]
    destinations: list[Destination]
    max_export_share: Prob
    export_sensitivity: NonNeg
    bribe_acceptance: Prob
    bribe_share: Prob
    detection_prob: Prob
    detection_if_bribed: Prob
    smugglers_per_crossing_per_million: NonNeg


class Enforcement(_Frozen):
    """Domestic agencies, border guards and exposure along ties (S12)."""

    weekly_arrest_prob: dict[Role, Prob]
    agency: dict[Role, Agency]
    exposure_arrest_prob: Prob
    sentence_weeks: Positive


EventType = Literal[
    "crackdown", "border_closure", "state_shipment_seizure", "foreign_crackdown", "precursor_control"
]


class Event(_Frozen):
    """A dated event on the scenario timeline (S4 relocations live on the facility; S9 here)."""

    type: EventType
    start: dt.date
    end: dt.date | None = None
    name: str = ""
    source: str = ""
    regions: list[str] | None = None
    multiplier: NonNeg = Param(value=1.0)
    grams: NonNeg = Param(value=0.0)
    drug: Drug = "methamphetamine"
    destination: str = "China"
    channel: str | None = None

    @model_validator(mode="after")
    def _dates(self) -> Event:
        if self.end is not None and self.end < self.start:
            raise ValueError(f"end {self.end} is before start {self.start}")
        return self


class Scenario(_Frozen):
    """A complete, validated scenario. Build it with `narcoflow.scenario.load`."""

    name: str
    description: str = ""
    start: dt.date
    years: Annotated[float, Field(gt=0, le=100)]
    regions: list[Region]
    state: StateSector
    private: PrivateSector
    distribution: Distribution
    prices: Prices
    consumption: Consumption
    border: Border
    enforcement: Enforcement
    events: list[Event] = []
    policies: dict[str, Policy] = {}

    @property
    def end(self) -> dt.date:
        return self.start + dt.timedelta(weeks=self.n_steps)

    @property
    def n_steps(self) -> int:
        return int(round(self.years * 52.1775))

    @property
    def region_names(self) -> list[str]:
        return [r.name for r in self.regions]

    @model_validator(mode="after")
    def _cross_references(self) -> Scenario:
        names = set(self.region_names)
        if len(names) != len(self.regions):
            raise ValueError("regions: region names must be unique")
        dest = {d.name for d in self.border.destinations}
        problems = []

        def need(kind: str, value: str, allowed: set[str]):
            if value not in allowed:
                problems.append(f"{kind} {value!r} is not one of {sorted(allowed)}")

        for f in self.state.facilities:
            need(f"state.facilities[{f.name}].region", f.region, names)
            if f.relocated_from is not None:
                need(f"state.facilities[{f.name}].relocated_from", f.relocated_from, names)
                if f.relocation_date is None:
                    problems.append(f"state.facilities[{f.name}]: relocated_from needs relocation_date")
        for c in self.state.export_channels:
            for d in c.destinations:
                need(f"state.export_channels[{c.name}].destinations", d, dest)
        for c in self.private.chemical_cities:
            need(f"private.chemical_cities[{c.name}].region", c.region, names)
        for c in self.border.crossings:
            need(f"border.crossings[{c.name}].region", c.region, names)
        if "China" not in dest:
            problems.append("border.destinations must include 'China' (the first foreign market)")
        by_name = {d.name: d for d in self.border.destinations}
        for d in self.border.destinations:
            if d.via is not None:
                need(f"border.destinations[{d.name}].via", d.via, dest)
                hub = by_name.get(d.via)
                if hub is not None and hub.via is not None:
                    problems.append(f"border.destinations[{d.name}].via {d.via!r} is itself reached "
                                    "via another market; only one onward leg is modelled")
        for hub in dest:
            total = sum(d.onward_share.value for d in self.border.destinations if d.via == hub)
            if total > 1:
                problems.append(f"border.destinations: onward_share via {hub!r} sums to {total:g}, "
                                "above 1")
        for e in self.events:
            for r in e.regions or []:
                need(f"events[{e.name or e.type}].regions", r, names)
            if e.type in ("state_shipment_seizure", "foreign_crackdown"):
                need(f"events[{e.name or e.type}].destination", e.destination, dest)
            if e.type == "state_shipment_seizure" and e.channel is not None:
                need(f"events[{e.name or e.type}].channel", e.channel,
                     {c.name for c in self.state.export_channels})
            if e.type in ("precursor_control", "foreign_crackdown", "state_shipment_seizure") and e.regions:
                problems.append(f"events[{e.name or e.type}].regions: a {e.type} event is national "
                                "or foreign; remove 'regions'")
            if e.start < self.start or e.start > self.end:
                problems.append(
                    f"events[{e.name or e.type}].start {e.start} is outside the period "
                    f"[{self.start}, {self.end}]"
                )
        for pname, pol in self.policies.items():
            try:
                check_policy_name(pname)
            except ValueError as exc:
                problems.append(f"policies: {exc}")
            if pol.base is not None and pol.base not in self.policies:
                problems.append(f"policies[{pname}].base {pol.base!r} is not one of "
                                f"{sorted(self.policies)}")
            for lname, lev in pol.levers.items():
                for r in lev.regions or []:
                    need(f"policies[{pname}].levers[{lname}].regions", r, names)
        for pname in self.policies:
            seen, cur = [pname], self.policies[pname].base
            while cur is not None and cur in self.policies:
                if cur in seen:
                    problems.append(f"policies[{pname}].base: the chain loops "
                                    f"({' -> '.join(seen + [cur])})")
                    break
                seen.append(cur)
                cur = self.policies[cur].base
        missing = [r for r in ROLES + ("user",) if r not in self.enforcement.weekly_arrest_prob]
        if missing:
            problems.append(f"enforcement.weekly_arrest_prob misses roles {missing}")
        missing = [r for r in ROLES + ("user",) if r not in self.enforcement.agency]
        if missing:
            problems.append(f"enforcement.agency misses roles {missing}")
        if problems:
            raise ValueError("; ".join(problems))
        return self
