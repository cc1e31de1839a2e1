"""Run settings (seed, scale, years): declared once with their ranges and checked by one function.

The engine (`Simulation`), the command line (``run``, ``compare``, ``sweep``, ``sensitivity``,
``calibrate``) and the dashboard all check them here, so a value is refused with the same
message everywhere: the setting (as the caller names it), the value and the allowed range.
This module imports nothing heavy: the command line reads it before it loads the engine.

>>> check_run_settings(seed=1, scale=0.002, years=2)
>>> check_run_settings(years=0, label="--{}")
Traceback (most recent call last):
...
narcoflow.settings.SettingError: --years 0 is out of range: it must be in (0, 100] (the simulated years).
>>> YEARS.allowed
'(0, 100]'
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

from narcoflow.errors import ScenarioError

#: Results database used when none is named (``--db``, ``--out``, `narcoflow.results.store`).
DEFAULT_DB = "narcoflow.duckdb"
#: Weeks per year, as the engine counts steps (``round(years * WEEKS_PER_YEAR)``).
WEEKS_PER_YEAR = 52.1775


class SettingError(ScenarioError, ValueError):
    """A run setting is not a number or is out of its range; the message names it and the range."""


@dataclass(frozen=True)
class RunSetting:
    """A run setting and its allowed interval: ``(low, high]`` when ``low_open``, else ``[low, high]``."""

    name: str
    low: float
    high: float
    low_open: bool
    meaning: str
    integer: bool = False

    @property
    def allowed(self) -> str:
        """The interval as printed in messages and help texts, e.g. ``(0, 1]`` or ``[0, inf)``."""
        left = "(" if self.low_open else "["
        right = f"{self._fmt(self.high)}]" if math.isfinite(self.high) else "inf)"
        return f"{left}{self._fmt(self.low)}, {right}"

    def _fmt(self, v) -> str:
        return str(int(v)) if self.integer and math.isfinite(v) else f"{v:g}"

    def check(self, value, label: str | None = None):
        """Return ``value`` if allowed (None always is: not given); raise `SettingError` if not.

        ``label`` is how the caller names the setting (``--scale``, ``Scale``); default: its name.
        """
        if value is None:
            return None
        label = label or self.name
        kind = numbers.Integral if self.integer else numbers.Real
        if isinstance(value, bool) or not isinstance(value, kind):
            what = "an integer" if self.integer else "a number"
            raise SettingError(f"{label} {value!r} is not {what} ({self.meaning}).")
        inside = (self.low < value if self.low_open else self.low <= value) and value <= self.high
        if not inside:  # also NaN
            raise SettingError(f"{label} {self._fmt(value)} is out of range: it must be in {self.allowed} "
                               f"({self.meaning}).")
        return value


SEED = RunSetting("seed", 0, 2**63 - 1, low_open=False, integer=True,
                  meaning="the random seed; seeds are stored as 64-bit integers")
SCALE = RunSetting("scale", 0, 1, low_open=True, meaning="the share of the real population simulated")
YEARS = RunSetting("years", 0, 100, low_open=True, meaning="the simulated years")

#: Every run setting by name.
RUN_SETTINGS = {s.name: s for s in (SEED, SCALE, YEARS)}


def check_run_settings(*, seed=None, scale=None, years=None, label: str = "{}") -> None:
    """Check the run settings given (None = not given), in the order seed, scale, years.

    ``label`` formats each setting's name for the message: ``"{}"`` (``scale``) for the API,
    ``"--{}"`` (``--scale``) for the command line.
    """
    for setting, value in ((SEED, seed), (SCALE, scale), (YEARS, years)):
        setting.check(value, label.format(setting.name))
    if years is not None and round(years * WEEKS_PER_YEAR) < 1:
        raise SettingError(f"{label.format('years')} {years:g} is less than one week: a run needs "
                           f"at least one weekly step ({label.format('years')} >= "
                           f"{1 / WEEKS_PER_YEAR:.4f}).")
