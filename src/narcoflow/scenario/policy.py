"""Policy levers and policies: what each lever changes, its unit, default and allowed range.

Kept apart from `narcoflow.scenario.schema` because levers are not model parameters: the engine
never reads them. A policy is applied to a scenario before a run (`narcoflow.experiments.
apply_policy`), and the transformed scenario, not this module, is what the engine fingerprint and
the run id cover. `Scenario.policies` holds `Policy` objects validated here; the schema re-exports
every name below, so ``from narcoflow.scenario.schema import LEVERS`` keeps working.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from pydantic import Field, model_validator

from narcoflow.scenario.values import Frozen, bare_number


@dataclass(frozen=True)
class LeverSpec:
    """A policy lever: what it changes, its unit, default and allowed range.

    Levers are applied to a scenario as pure transformations (see
    `narcoflow.experiments.apply_policy`); this declaration is the single source of their
    meaning and range, used by validation, the docs and ``narcoflow levers``.
    """

    name: str
    meaning: str
    unit: str
    default: float
    low: float
    high: float
    dated: bool = False     #: accepts ``start`` / ``end`` (a time window)
    regional: bool = False  #: accepts ``regions``

    @property
    def allowed(self) -> str:
        return f"[{self.low:g}, {self.high:g}]"


_X = "x scenario value"


def _arrest_lever(role: str, who: str) -> LeverSpec:
    return LeverSpec(f"enforcement_{role}",
                     f"domestic enforcement intensity against {who}: multiplies "
                     f"enforcement.weekly_arrest_prob.{role} (capped at 1)", _X, 1.0, 0.0, 10.0)


#: Every lever a policy can set, by name.
LEVERS: dict[str, LeverSpec] = {spec.name: spec for spec in (
    _arrest_lever("producer", "producers"),
    _arrest_lever("deliverer", "deliverers"),
    _arrest_lever("wholesaler", "provincial wholesalers"),
    _arrest_lever("seller", "sellers"),
    _arrest_lever("smuggler", "border smugglers"),
    _arrest_lever("user", "users"),
    LeverSpec("guard_corruption",
              "border-guard corruption: multiplies border.bribe_acceptance, the share of guards "
              "who take bribes (capped at 1)", _X, 1.0, 0.0, 2.0),
    LeverSpec("china_interdiction",
              "Chinese border interdiction: multiplies the interdiction probability of lots "
              "arriving in China (private and state); dated: a foreign_crackdown event",
              _X, 1.0, 0.0, 10.0, dated=True),
    LeverSpec("state_export_interdiction",
              "foreign interdiction of state exports: multiplies every export channel's "
              "interdiction_multiplier", _X, 1.0, 0.0, 10.0),
    LeverSpec("precursor_availability",
              "precursor control: multiplies private.precursor_availability (entry and "
              "output of private producers); dated: a precursor_control event",
              _X, 1.0, 0.0, 1.0, dated=True),
    LeverSpec("precursor_price",
              "precursor control: multiplies private.precursor_cost_usd_per_g", _X, 1.0, 0.0, 20.0),
    LeverSpec("initiation",
              "demand reduction (prevention): multiplies consumption.base_initiation_per_week "
              "and consumption.peer_initiation_per_week", _X, 1.0, 0.0, 2.0),
    LeverSpec("quitting",
              "demand reduction (treatment): multiplies consumption.quit_rate_per_week "
              "and consumption.quit_heavy_per_week (capped at 1)", _X, 1.0, 0.0, 10.0),
    LeverSpec("crackdown",
              "crackdown campaign: multiplies domestic arrest probabilities and honest guards' "
              "detection in `regions` (all if omitted) from `start` to `end` (whole run if "
              "omitted); a crackdown event", _X, 1.0, 1.0, 10.0, dated=True, regional=True),
)}

_POLICY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class LeverSetting(Frozen):
    """One lever's setting in a policy: a value, and where the lever allows it a window/regions.

    In YAML a bare number means ``{value: <number>}``.
    """

    value: float
    start: dt.date | None = None
    end: dt.date | None = None
    regions: list[str] | None = None
    lever: str = Field(default="", exclude=True, repr=False)  # set from the mapping key

    @model_validator(mode="before")
    @classmethod
    def _from_number(cls, data: Any) -> Any:
        return bare_number(data, "value, start, end, regions")

    @model_validator(mode="after")
    def _check(self) -> LeverSetting:
        spec = LEVERS.get(self.lever)
        if spec is None:
            raise ValueError(f"unknown lever {self.lever!r}; levers are: {', '.join(LEVERS)} "
                             "(`narcoflow levers` describes them)")
        if not spec.low <= self.value <= spec.high:
            raise ValueError(f"lever {spec.name!r}: value {self.value:g} is outside its allowed "
                             f"range {spec.allowed} ({spec.unit})")
        if not spec.dated and (self.start is not None or self.end is not None):
            raise ValueError(f"lever {spec.name!r} applies to the whole run: it takes no "
                             "start/end (dated levers: "
                             f"{', '.join(n for n, s in LEVERS.items() if s.dated)})")
        if not spec.regional and self.regions is not None:
            raise ValueError(f"lever {spec.name!r} is national: it takes no regions")
        if self.start is not None and self.end is not None and self.end < self.start:
            raise ValueError(f"lever {spec.name!r}: end {self.end} is before start {self.start}")
        return self


class Policy(Frozen):
    """A named intervention: lever settings, optionally on top of another policy (``base``)."""

    description: str = ""
    base: str | None = None
    levers: dict[str, LeverSetting] = {}

    @model_validator(mode="before")
    @classmethod
    def _name_levers(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("levers"), dict):
            named = {}
            for key, setting in data["levers"].items():
                if isinstance(setting, int | float) and not isinstance(setting, bool):
                    setting = {"value": setting}
                if isinstance(setting, dict):
                    setting = {**setting, "lever": str(key)}
                named[key] = setting
            data = {**data, "levers": named}
        return data


def check_policy_name(name: str) -> None:
    if not _POLICY_NAME.match(name):
        raise ValueError(f"policy name {name!r} must start with a letter or digit and use only "
                         "letters, digits, '-', '_' and '.'")
