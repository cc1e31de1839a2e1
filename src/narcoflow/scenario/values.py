"""The kinds of value a scenario holds, and their allowed ranges.

A `Param` is a number with an optional uncertainty ``range`` and the ``source`` it rests on; the
bounded kinds (`Prob`, `NonNeg`, `Positive`, `Mult`, `Sigma`, `Weeks`, `Ratio`) and the plain
ones (`Text`, `Date`, `Int`) declare each allowed range once, and the error messages are derived
from them. `narcoflow.scenario.schema` builds the scenario's structure from these; they are
kept apart because they say what a valid number, text or date is, not what a scenario contains.
The engine fingerprint (`narcoflow.engine.simulation.ENGINE_VERSION`) covers this module with
the schema.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator


class Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _no_control(text: str) -> str:
    if _CONTROL.search(text):
        raise ValueError("text must not contain control characters (terminal escape codes, "
                         "carriage returns, ...)")
    if len(text) > 2000:
        raise ValueError(f"text of {len(text):,} characters; at most 2,000 are allowed")
    return text


def no_bool(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError(f"expected a number, got a boolean ({str(value).lower()})")
    return value


def whole(value: Any) -> Any:
    """A whole number: a boolean or a number with a fraction is refused (not silently cut)."""
    value = no_bool(value)
    if isinstance(value, float) and not value.is_integer():
        raise ValueError(f"expected a whole number, got {value!r}")
    return value


def _date_in_range(value: dt.date) -> dt.date:
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise ValueError(f"date {value} is outside the allowed range: years {FIRST_YEAR} to "
                         f"{LAST_YEAR}")
    return value


#: Dates a scenario may use (a run of up to 100 years must end before year 9999 overflows).
FIRST_YEAR, LAST_YEAR = 1900, 2100
#: Free text (names, sources, descriptions): no control characters, at most 2,000 characters.
Text = Annotated[str, AfterValidator(_no_control)]
#: A date between `FIRST_YEAR` and `LAST_YEAR`.
Date = Annotated[dt.date, AfterValidator(_date_in_range)]


def Int(lo: int, hi: int):  # noqa: N802 - a type factory
    """A whole number in [lo, hi]: booleans and fractions are refused."""
    return Annotated[int, BeforeValidator(whole), Field(ge=lo, le=hi)]


def bare_number(data: Any, fields: str) -> Any:
    """In a scenario file a bare number means ``{value: <number>}``; a boolean is refused
    (``fields`` names the mapping's keys in the message)."""
    if isinstance(data, bool):
        raise ValueError(f"expected a number or {{{fields}}}, got a boolean")
    if isinstance(data, int | float):
        return {"value": data}
    return data


class Param(Frozen):
    """A number with its uncertainty range and its source.

    ``range`` (low, high) marks the parameter as uncertain: sweeps, sensitivity analysis and
    calibration draw from it. The value must lie inside its range.
    """

    value: Annotated[float, BeforeValidator(no_bool)]
    range: tuple[Annotated[float, BeforeValidator(no_bool)],
                 Annotated[float, BeforeValidator(no_bool)]] | None = None
    source: Text = ""

    @model_validator(mode="before")
    @classmethod
    def _from_number(cls, data: Any) -> Any:
        return bare_number(data, "value, range, source")

    @model_validator(mode="after")
    def _value_in_range(self) -> Param:
        for v in (self.value, *(self.range or ())):
            if not math.isfinite(v):
                raise ValueError(f"value {v} is not a finite number")
        if self.range is not None:
            lo, hi = self.range
            if lo > hi:
                raise ValueError(f"range [{lo}, {hi}] has low > high")
            if not lo <= self.value <= hi:
                raise ValueError(f"value {self.value} lies outside its own range [{lo}, {hi}]")
        return self

    def __float__(self) -> float:
        return float(self.value)


def _num(v: float) -> str:
    """``1e+09`` as ``1e9``: bounds read as they would be typed in a scenario file."""
    return f"{v:g}".replace("e+0", "e").replace("e+", "e")


def bounded(lo: float, hi: float, *, open_lo: bool = False):
    if hi == float("inf"):
        allowed = f"> {_num(lo)}" if open_lo else f">= {_num(lo)}"
    else:
        allowed = f"{'(' if open_lo else '['}{_num(lo)}, {_num(hi)}]"

    def check(p: Param) -> Param:
        values = [p.value] + (list(p.range) if p.range else [])
        for v in values:
            if v < lo or v > hi or (open_lo and v <= lo):
                raise ValueError(f"value {v:g} is outside the allowed range: {allowed}")
        return p

    return AfterValidator(check)


INF = float("inf")
#: Upper bound of grams, prices, costs and counts: far above any real value, far below where
#: products of parameters overflow.
BIG = 1e9
Prob = Annotated[Param, bounded(0.0, 1.0)]
NonNeg = Annotated[Param, bounded(0.0, BIG)]
Positive = Annotated[Param, bounded(0.0, BIG, open_lo=True)]
#: A multiplier of a rate or an intensity.
Mult = Annotated[Param, bounded(0.0, 1000.0)]
#: A lognormal sigma (exp(sigma^2) stays finite and meaningful).
Sigma = Annotated[Param, bounded(0.0, 5.0)]
#: A duration in weeks: positive, at most 100 years.
Weeks = Annotated[Param, bounded(0.0, 5218.0, open_lo=True)]
#: A ratio of actors (users per seller, ...): at least 0.1 (fewer would create more actors than
#: persons), at most a million.
Ratio = Annotated[Param, bounded(0.1, 1e6)]
