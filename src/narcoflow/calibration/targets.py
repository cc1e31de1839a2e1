"""Targets: model quantities with an observed value or range, unit, years, source, reliability."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from narcoflow.errors import NarcoflowError

#: relative tolerance of a point target by reliability (share of the observed value)
TOLERANCE = {"H": 0.10, "M": 0.30, "L": 1.00}


class Target(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    metric: str
    filters: dict[str, str] = {}
    years: tuple[int, int]
    aggregation: Literal["sum", "mean_per_year", "mean", "last", "mean_value"] = "sum"
    observed: float | None = None
    range: tuple[float, float] | None = None
    unit: str = ""
    source: str = ""
    reliability: Literal["H", "M", "L"] = "M"

    @model_validator(mode="after")
    def _check(self) -> Target:
        if (self.observed is None) == (self.range is None):
            raise ValueError("give exactly one of 'observed' or 'range'")
        if self.range is not None and self.range[0] > self.range[1]:
            raise ValueError("range must be [low, high]")
        if self.years[0] > self.years[1]:
            raise ValueError("years must be [first, last]")
        return self

    def band(self) -> tuple[float, float, float]:
        """(low, high, tolerance): zero distance inside [low, high], one unit per tolerance outside."""
        if self.range is not None:
            lo, hi = self.range
            return lo, hi, max(TOLERANCE[self.reliability] * (hi + lo) / 2, 1e-12)
        v = float(self.observed)
        return v, v, max(TOLERANCE[self.reliability] * abs(v), 1e-12)

    def evaluate(self, metrics: pd.DataFrame) -> float:
        """The model's value of this quantity in one run's metrics frame."""
        d = metrics[metrics["metric"] == self.metric]
        for col, val in self.filters.items():
            d = d[d[col].astype(str) == val]
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
        lo, hi, tol = self.band()
        return max(lo - value, value - hi, 0.0) / tol


class Targets(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = ""
    parameters: list[str] = []
    targets: list[Target]


def load_targets(path: str | Path) -> Targets:
    """Read and validate a targets YAML file; errors name the file and the offending field."""
    p = Path(path)
    if not p.exists():
        builtin = Path(__file__).parent.parent / "scenario" / "targets" / f"{path}.yaml"
        if not builtin.exists():
            raise NarcoflowError(f"Targets file {path} not found")
        p = builtin
    try:
        raw = yaml.safe_load(p.read_text())
    except yaml.YAMLError as exc:
        raise NarcoflowError(f"{p}: not valid YAML: {exc}") from exc
    try:
        return Targets.model_validate(raw)
    except ValidationError as exc:
        lines = [f"{p}: " + ".".join(str(x) for x in e["loc"]) + f": {e['msg']}" for e in exc.errors()]
        raise NarcoflowError("\n".join(lines)) from exc


def distance(targets: list[Target], values: dict[str, float]) -> float:
    """Root-mean-square of per-target distances (0 when every target is inside its band)."""
    ds = [t.distance(values[t.name]) for t in targets]
    return (sum(d * d for d in ds) / len(ds)) ** 0.5
