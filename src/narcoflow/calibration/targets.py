"""Targets: model quantities with an observed value or range, unit, years, source, reliability."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from narcoflow.errors import NarcoflowError

#: relative tolerance of a point target by reliability (share of the observed value)
TOLERANCE = {"H": 0.10, "M": 0.30, "L": 1.00}


class Target(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    metric: str
    filters: dict[str, str | list[str]] = {}
    years: tuple[int, int]
    aggregation: Literal["sum", "mean_per_year", "mean", "last", "mean_value"] = "sum"
    observed: float | None = None
    range: tuple[float, float] | None = None
    unit: str = ""
    source: str = ""
    reliability: Literal["H", "M", "L"] = "M"

    @model_validator(mode="after")
    def _check(self) -> Target:
        from narcoflow.metrics import METRICS

        if self.metric not in METRICS:
            raise ValueError(f"metric {self.metric!r} is not a metric of docs/model.md; allowed: "
                             + ", ".join(METRICS))
        m = METRICS[self.metric]
        bad = sorted(set(self.filters) - set(m.dims))
        if bad:
            raise ValueError(f"filters may only name the dimensions of {self.metric} "
                             f"({', '.join(m.dims) or 'none'}); not {', '.join(bad)}")
        if (self.observed is None) == (self.range is None):
            raise ValueError("give exactly one of 'observed' or 'range'")
        if self.range is not None:
            lo, hi = self.range
            if math.isnan(lo) or math.isnan(hi) or lo > hi or math.isinf(lo) and math.isinf(hi):
                raise ValueError("range must be [low, high] with low <= high and at most one of them "
                                 "infinite (.inf for 'at least low')")
        if self.observed is not None and not (math.isfinite(self.observed) and self.observed >= 0):
            raise ValueError("observed must be a finite number >= 0 (metrics are not negative)")
        if self.range is not None and self.range[0] < 0:
            raise ValueError("range must not start below 0 (metrics are not negative)")
        if self.years[0] > self.years[1]:
            raise ValueError("years must be [first, last]")
        return self

    def band(self) -> tuple[float, float, float]:
        """(low, high, tolerance): zero distance inside [low, high]; tolerance is the relative
        error allowed by the reliability (a factor of 1 + tolerance either side of the band)."""
        lo, hi = self.range if self.range is not None else (float(self.observed), float(self.observed))
        return lo, hi, TOLERANCE[self.reliability]

    def tolerance_band(self) -> tuple[float, float]:
        """The band widened by one tolerance: [low / (1 + tol), high * (1 + tol)]."""
        lo, hi, tol = self.band()
        return lo / (1 + tol), hi * (1 + tol)

    def observed_text(self) -> str:
        if self.observed is not None:
            return f"{self.observed:g}"
        lo, hi = self.range
        return f">= {lo:g}" if math.isinf(hi) else f"<= {hi:g}" if math.isinf(lo) else f"{lo:g}-{hi:g}"

    def check_period(self, first: dt.date, last: dt.date) -> None:
        """Raise unless every year of the target is simulated whole.

        ``first`` and ``last`` are the dates of the first and last weekly steps; a year counts as
        simulated when the run covers it up to a week at either end (runs start on a Monday).
        """
        end = last + dt.timedelta(days=6)
        y0 = first.year if first <= dt.date(first.year, 1, 8) else first.year + 1
        y1 = end.year if end >= dt.date(end.year, 12, 24) else end.year - 1
        if self.years[0] < y0 or self.years[1] > y1:
            yrs = f"{self.years[0]}" if self.years[0] == self.years[1] else f"{self.years[0]}-{self.years[1]}"
            whole = f"{y0}" if y0 == y1 else f"{y0}-{y1}" if y0 < y1 else "none"
            raise NarcoflowError(
                f"Target {self.name!r} covers {yrs}, outside the simulated period {first.isoformat()} to "
                f"{end.isoformat()} (whole years: {whole}); run more years (--years) or drop the target.")

    def evaluate(self, metrics: pd.DataFrame) -> float:
        """The model's value of this quantity in one run's metrics frame.

        Raises `NarcoflowError` if the target's years lie (partly) outside the run's period.
        """
        dates = pd.to_datetime(metrics["date"])
        if len(dates):
            self.check_period(dates.min().date(), dates.max().date())
        d = metrics[metrics["metric"] == self.metric]
        for col, val in self.filters.items():
            allowed = [val] if isinstance(val, str) else list(val)
            d = d[d[col].astype(str).isin(allowed)]
        yr = pd.to_datetime(d["date"]).dt.year
        d = d[(yr >= self.years[0]) & (yr <= self.years[1])]
        if self.aggregation == "sum":
            return float(d["value"].sum())
        if self.aggregation == "mean_per_year":
            return float(d["value"].sum()) / (self.years[1] - self.years[0] + 1)
        if self.aggregation == "mean_value":  # intensive metrics (prices): mean over rows
            return float(d["value"].mean()) if len(d) else 0.0
        per_step = d.groupby("step")["value"].sum()
        if not len(per_step):
            return 0.0
        return float(per_step.mean() if self.aggregation == "mean" else per_step.iloc[-1])

    def distance(self, value: float) -> float:
        """How many tolerances ``value`` lies outside the band, on a log scale: 1 at a factor of
        1 + tolerance above the high end or below the low end (a value of 0 or less counts as a
        millionth of the low end), 0 inside."""
        lo, hi, tol = self.band()
        k = math.log1p(tol)
        if value > hi:
            return math.log(value / max(hi, 1e-12)) / k
        if value < lo:
            return math.log(lo / max(value, lo * 1e-6)) / k
        return 0.0


class Targets(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = ""
    parameters: list[str] = []
    targets: list[Target]

    @model_validator(mode="after")
    def _unique(self) -> Targets:
        names = [t.name for t in self.targets]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"target names must be unique; repeated: {', '.join(dup)}")
        if not names:
            raise ValueError("give at least one target")
        return self


def load_targets(path: str | Path) -> Targets:
    """Read and validate a targets YAML file; errors name the file and the offending field."""
    p = Path(path)
    if not p.exists():
        builtin = Path(__file__).parent.parent / "scenario" / "targets" / f"{path}.yaml"
        if not builtin.exists():
            raise NarcoflowError(f"Targets file {path} not found")
        p = builtin
    from narcoflow.scenario.loader import read_yaml_file

    raw = read_yaml_file(p, "targets file")
    try:
        return Targets.model_validate(raw)
    except ValidationError as exc:
        lines = []
        for e in exc.errors():
            loc = "".join(f"[{x}]" if isinstance(x, int) else f".{x}" for x in e["loc"]).lstrip(".")
            if len(e["loc"]) >= 2 and e["loc"][0] == "targets" and isinstance(e["loc"][1], int):
                try:
                    loc += f" (target {raw['targets'][e['loc'][1]]['name']!r})"
                except (KeyError, IndexError, TypeError):
                    pass
            msg = e["msg"].removeprefix("Value error, ")
            lines.append(f"{p}: field '{loc}': {msg}" if loc else f"{p}: {msg}")
        raise NarcoflowError("\n".join(lines)) from exc


def check_period(targets: Targets, scenario, years: float | None) -> None:
    """Raise a clear error naming every target whose years lie outside the simulated period."""
    from narcoflow.experiments.runner import n_steps

    steps = n_steps(scenario, years)
    first, last = scenario.start, scenario.start + dt.timedelta(weeks=max(steps - 1, 0))
    problems = []
    for t in targets.targets:
        try:
            t.check_period(first, last)
        except NarcoflowError as exc:
            problems.append(str(exc))
    if problems:
        raise NarcoflowError("\n".join(problems))


def distance(targets: list[Target], values: dict[str, float]) -> float:
    """Root-mean-square of per-target distances (0 when every target is inside its band)."""
    ds = [t.distance(values[t.name]) for t in targets]
    return (sum(d * d for d in ds) / len(ds)) ** 0.5
