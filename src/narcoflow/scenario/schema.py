"""The scenario schema: the single source of truth for every parameter and its allowed range.

A scenario is plain data (YAML) validated into a frozen pydantic `Scenario`. Every numeric
parameter is a `Param`: a value, an optional uncertainty `range` and the `source` it rests on
(a report claim S1-S14 or a public source from the evidence file). In a user file a bare
number is accepted and means ``{value: <number>}``.

Allowed ranges are declared once, in `narcoflow.scenario.values`, through `Prob`, `NonNeg`,
`Positive`, ... and the error messages are derived from them. Policy levers and policies live in
`narcoflow.scenario.policy`; both are re-exported here.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, model_validator

from narcoflow.scenario.policy import (  # noqa: F401  (re-exported: imported from here elsewhere)
    LEVERS,
    LeverSetting,
    LeverSpec,
    Policy,
    check_policy_name,
)
from narcoflow.scenario.values import (
    BIG,
    Date,
    Frozen,
    Int,
    Mult,
    NonNeg,
    Param,
    Positive,
    Prob,
    Ratio,
    Sigma,
    Text,
    Weeks,
    bounded,
    no_bool,
)

DRUGS = ("methamphetamine", "heroin", "cocaine")
ROLES = ("producer", "deliverer", "wholesaler", "seller", "smuggler")
Drug = Literal["methamphetamine", "heroin", "cocaine"]
Role = Literal["producer", "deliverer", "wholesaler", "seller", "smuggler", "user"]
Agency = Literal["mps", "nsa", "border_guard", "china", "japan", "south_korea"]


def _unique(kind: str, names: list[str]) -> None:
    dups = sorted({n for n in names if n and names.count(n) > 1})
    if dups:
        raise ValueError(f"{kind} names must be unique; repeated: {', '.join(map(repr, dups))}")


class Region(Frozen):
    """A North Korean province or directly administered city (2008 census)."""

    name: Text
    population: Int(1, 100_000_000)
    source: Text = ""
    initial_prevalence: Prob = Param(value=0.0)
    border_access: Prob = Param(value=0.0)
    policing: Mult = Param(value=1.0)


class Facility(Frozen):
    """A state pharmaceutical factory (S3) with a dated location history (S4)."""

    name: Text
    region: Text
    capacity_g_per_week: dict[Drug, NonNeg]
    purity: Prob
    relocated_from: Text | None = None
    relocated_from_name: Text | None = None
    relocation_date: Date | None = None
    source: Text = ""


class ScheduleStep(Frozen):
    start: Date
    multiplier: Mult


class ExportChannel(Frozen):
    """A state export channel (S8): diplomats or foreign-currency-earning enterprises."""

    name: Text
    share_of_stock_per_week: Prob
    lot_g: Annotated[Param, bounded(1.0, BIG)]
    destinations: dict[Text, NonNeg]
    price_factor: Annotated[Param, bounded(0.0, 1000.0, open_lo=True)]
    transit_weeks: Int(1, 52) = 2
    interdiction_multiplier: Mult = Param(value=1.0)
    source: Text = ""


class StateSector(Frozen):
    """State production controlled by the NSA (S1-S5, S8, S9)."""

    facilities: list[Facility]
    production_schedule: list[ScheduleStep] = []
    siphon_rate: Prob
    export_channels: list[ExportChannel]


class ChemicalCity(Frozen):
    """A city with a chemical factory whose former workers can produce (S6)."""

    name: Text
    region: Text
    population: Int(1, 100_000_000)
    skilled_share: Prob


class PrivateSector(Frozen):
    """Private producers: skilled people entering on economics (S6, S7, S10)."""

    chemical_cities: Annotated[list[ChemicalCity], Field(min_length=1)]
    setup_cost_usd: Positive
    precursor_availability: Prob
    precursor_cost_usd_per_g: NonNeg
    legal_income_usd_per_week: Positive
    output_g_per_week: Positive
    output_dispersion: Sigma
    purity: Prob
    max_entry_rate: Prob
    base_exit_rate: Prob
    max_exit_rate: Prob
    planning_horizon_weeks: Weeks
    penalty_cost_usd: NonNeg
    initial_producers_per_million: Annotated[Param, bounded(0.0, 1e6)]
    released_skilled_per_kg_week: NonNeg = Param(value=0.0)
    demand_pull: NonNeg = Param(value=0.0)
    expectation_weeks: Annotated[Param, bounded(1.0, 520.0)] = Param(value=1.0)


class Distribution(Frozen):
    """The private chain producer -> deliverer -> wholesaler -> seller -> consumer (S11, S12)."""

    producers_per_deliverer: Ratio
    deliverer_same_region_prob: Prob
    sellers_per_wholesaler: Ratio
    users_per_seller: Ratio
    seller_target_cover_weeks: Weeks
    wholesaler_target_cover_weeks: Weeks
    recruitment_rate: Prob
    rewire_prob: Prob
    transit_weeks: Int(1, 12) = 1


Trader = Literal["deliverer", "wholesaler", "seller"]
TRADERS = ("deliverer", "wholesaler", "seller")


class Prices(Frozen):
    """Prices by tier from costs and risks (S11): each tier's anchor adds handling cost and risk
    compensation (sanction x arrest hazard per gram handled) to what it pays upstream; scarcity
    and glut move prices around the anchors in the short run."""

    initial_retail_usd_per_g: Positive
    grams_handled_per_week: dict[Trader, Annotated[Param, bounded(0.0, 1e6, open_lo=True)]]
    sanction_usd: dict[Trader, Annotated[Param, bounded(0.0, 1e9)]]
    anchor_return_per_week: Annotated[Param, bounded(0.0, 1.0)]
    adjustment_speed: Annotated[Param, bounded(0.0, 1.0)]
    normal_fill: Annotated[Param, bounded(0.0, 1.0, open_lo=True)]
    glut_weight: Annotated[Param, bounded(0.0, 100.0)]
    min_retail_usd_per_g: Positive
    max_retail_usd_per_g: Positive
    #: Heroin's own chain (C4, Q18): the source price per gram of the state heroin the NSA leaks is
    #: the opium it embodies, ``opium USD/kg x kg of opium per kg of heroin / 1000``.
    heroin_opium_usd_per_kg: Positive
    heroin_opium_kg_per_kg: Annotated[Param, bounded(1.0, 100.0)]

    @model_validator(mode="after")
    def _order(self) -> Prices:
        if self.min_retail_usd_per_g.value > self.max_retail_usd_per_g.value:
            raise ValueError("min_retail_usd_per_g must not exceed max_retail_usd_per_g")
        for field in ("grams_handled_per_week", "sanction_usd"):
            missing = [t for t in TRADERS if t not in getattr(self, field)]
            if missing:
                raise ValueError(f"{field} misses tiers {missing}")
        return self


class Consumption(Frozen):
    """Use by province with states never / light / heavy / former (demand side; the LH model of
    Behrens et al. 1999-2000): initiation, escalation, quitting, relapse; use per user by state.
    Rates are weekly (a transition's probability is ``1 - exp(-rate)``)."""

    use_g_per_week: Annotated[Param, bounded(0.0, 1e6, open_lo=True)]
    use_dispersion: Sigma
    heavy_use_ratio: Annotated[Param, bounded(1.0, 100.0)]
    price_elasticity: Annotated[Param, bounded(0.0, 10.0)]
    base_initiation_per_week: Prob
    peer_initiation_per_week: Annotated[Param, bounded(0.0, 100.0)]
    harm_deterrence: Annotated[Param, bounded(0.0, 100.0)]
    spillover_weight: Annotated[Param, bounded(0.0, 10.0)]
    escalation_per_week: Prob
    quit_rate_per_week: Prob
    quit_heavy_per_week: Prob
    relapse_per_week: Prob
    heroin_share: Prob
    reference_price_usd_per_g: Positive
    #: The heroin price at which a heroin user uses its base amount (heroin users face the heroin
    #: chain's price, `Prices`).
    heroin_reference_price_usd_per_g: Positive


class Crossing(Frozen):
    """A border crossing to China with its guards (S13)."""

    name: Text
    region: Text
    guards: Int(1, 100_000)
    chinese_side: Text = ""


class Destination(Frozen):
    """A foreign market: China directly, Japan and South Korea via China (S13, S14)."""

    name: Text
    agency: Agency
    via: Text | None = None
    onward_share: Prob = Param(value=0.0)
    price_usd_per_g: Positive
    interdiction_prob: Prob
    transit_weeks: Int(1, 52) = 1
    onward_reference_gap: Positive = Param(value=1.0)


class Border(Frozen):
    """Border smuggling with smugglers, corruptible guards and Chinese counterparts (S13)."""

    crossings: Annotated[list[Crossing], Field(min_length=1)]
    destinations: Annotated[list[Destination], Field(min_length=1)]
    max_export_share: Prob
    export_sensitivity: Annotated[Param, bounded(0.0, 1000.0)]
    bribe_acceptance: Prob
    bribe_share: Prob
    bribe_share_max: Prob = Param(value=0.0)
    bribe_response: NonNeg = Param(value=0.0)
    bribe_relax_weeks: Weeks = Param(value=1.0)
    detection_prob: Prob
    detection_if_bribed: Prob
    smugglers_per_crossing_per_million: Annotated[Param, bounded(0.0, 1e6)]
    risk_prior_mean: Prob = Param(value=0.1)
    risk_prior_weight: Positive = Param(value=10.0)
    risk_memory: Prob = Param(value=0.9)
    route_temperature: Positive = Param(value=0.1)
    detour_cost_usd_per_g: NonNeg = Param(value=0.0)
    export_lot_g: Positive = Param(value=1000.0)
    onward_price_elasticity: NonNeg = Param(value=0.0)

    @model_validator(mode="after")
    def _bribes(self) -> Border:
        if self.bribe_share_max.value and self.bribe_share_max.value < self.bribe_share.value:
            raise ValueError("border.bribe_share_max must not be below border.bribe_share")
        return self


class Enforcement(Frozen):
    """Domestic agencies, border guards and exposure along ties (S12)."""

    weekly_arrest_prob: dict[Role, Prob]
    agency: dict[Role, Agency]
    capacity_per_million_per_week: dict[Agency, Annotated[Param, bounded(0.0, 1e9)]]
    exposure_arrest_prob: Prob
    sentence_weeks: dict[Role, Weeks]


EventType = Literal[
    "crackdown", "border_closure", "state_shipment_seizure", "foreign_crackdown", "precursor_control"
]


class Event(Frozen):
    """A dated event on the scenario timeline (S4 relocations live on the facility; S9 here)."""

    type: EventType
    start: Date
    end: Date | None = None
    name: Text = ""
    source: Text = ""
    regions: list[Text] | None = None
    multiplier: Mult = Param(value=1.0)
    grams: NonNeg = Param(value=0.0)
    drug: Drug = "methamphetamine"
    destination: Text = "China"
    channel: Text | None = None

    @model_validator(mode="after")
    def _dates(self) -> Event:
        if self.end is not None and self.end < self.start:
            raise ValueError(f"end {self.end} is before start {self.start}")
        return self


class Scenario(Frozen):
    """A complete, validated scenario. Build it with `narcoflow.scenario.load`."""

    name: Text
    description: Text = ""
    start: Date
    years: Annotated[float, BeforeValidator(no_bool), Field(gt=0, le=100)]
    regions: Annotated[list[Region], Field(min_length=1)]
    state: StateSector
    private: PrivateSector
    distribution: Distribution
    prices: Prices
    consumption: Consumption
    border: Border
    enforcement: Enforcement
    events: list[Event] = []
    policies: dict[Text, Policy] = {}

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
        if self.n_steps < 1:
            raise ValueError(f"years {self.years:g} is less than one week: a run needs at least "
                             f"one weekly step (years >= {1 / 52.1775:.4f})")
        names = set(self.region_names)
        if len(names) != len(self.regions):
            raise ValueError("regions: region names must be unique")
        dest = {d.name for d in self.border.destinations}
        problems = []
        for kind, listed in (("state.facilities", [f.name for f in self.state.facilities]),
                             ("state.export_channels", [c.name for c in self.state.export_channels]),
                             ("private.chemical_cities", [c.name for c in self.private.chemical_cities]),
                             ("border.crossings", [c.name for c in self.border.crossings]),
                             ("border.destinations", [d.name for d in self.border.destinations]),
                             ("events", [e.name for e in self.events])):
            try:
                _unique(kind, listed)
            except ValueError as exc:
                problems.append(f"{kind}: {exc}")

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
        missing = [r for r in ROLES + ("user",) if r not in self.enforcement.sentence_weeks]
        if missing:
            problems.append(f"enforcement.sentence_weeks misses roles {missing}")
        missing = sorted({a for a in self.enforcement.agency.values()}
                         - set(self.enforcement.capacity_per_million_per_week))
        if missing:
            problems.append(f"enforcement.capacity_per_million_per_week misses agencies {missing}")
        if problems:
            raise ValueError("\n".join(problems))
        return self
