"""Targets: model quantities with an observed value or range, unit, years, source, reliability.

A target is *fitted* (it counts towards the fit and the "inside" count), a *floor* (``floor:
true``: a lower bound so far below the model's scale that any run meets it; reported apart, it
adds to the distance only when a run misses it) or *waiting* (``waiting: reason``: the quantity
the evidence means is not a model output yet; the target is kept, evaluates to NaN and is
compared with nothing). A price quoted in won or yuan is given as ``quote`` and converted to USD
with the dated rates of `narcoflow.calibration.exchange`. Price means over provinces
(``aggregation: mean_value``) are weighted by population (``weights``). A ratio of two values of
one metric (a markup: retail over wholesale price, C18) is a target with ``divided_by``: the
filters that replace the numerator's to give the denominator (same metric, years, aggregation).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from narcoflow.calibration import exchange
from narcoflow.errors import NarcoflowError

#: relative tolerance of a point target by reliability (share of the observed value)
TOLERANCE = {"H": 0.10, "M": 0.30, "L": 1.00}

#: an evidence row id of /work/shared/evidence-north-korea.md (P, C, Q, T, E rows)
EVIDENCE_ROW = re.compile(r"\b[PCQTE]\d+\b")


class Quote(BaseModel):
    """A price as the evidence quotes it: ``amount`` (or [low, high]) of ``currency`` for
    ``grams`` grams, dated ``date``; converted to USD per gram with the dated rates of
    `narcoflow.calibration.exchange` (old won before the 30 Nov 2009 redenomination)."""

    model_config = ConfigDict(extra="forbid")
    amount: float | tuple[float, float]
    currency: Literal["KPW", "CNY", "USD"]
    grams: float = 1.0
    date: dt.date

    def usd_per_g(self) -> tuple[float, float]:
        lo, hi = (self.amount, self.amount) if isinstance(self.amount, float | int) else self.amount
        if not (0 <= lo <= hi) or self.grams <= 0:
            raise ValueError("quote: amount must be [low, high] with 0 <= low <= high, grams > 0")
        return (exchange.to_usd(lo, self.currency, self.date)[0] / self.grams,
                exchange.to_usd(hi, self.currency, self.date)[1] / self.grams)


class Target(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    metric: str
    filters: dict[str, str | list[str]] = {}
    years: tuple[int, int]
    aggregation: Literal["sum", "mean_per_year", "mean", "last", "mean_value"] = "sum"
    #: mean_value over several provinces: weighted by population (default) or equal weights
    weights: Literal["population", "equal"] = "population"
    observed: float | None = None
    range: tuple[float, float] | None = None
    quote: Quote | None = None
    unit: str = ""
    source: str = ""
    reliability: Literal["H", "M", "L"] = "M"
    floor: bool = False
    waiting: str | None = None
    #: a ratio target: the filters that, replacing ``filters``' values, select the denominator
    #: (same metric, years, aggregation and weights); e.g. ``{channel: wholesale}`` for a markup
    divided_by: dict[str, str | list[str]] | None = None
    #: model discrepancy as a relative error (one standard deviation of log(model / reality) is
    #: log(1 + discrepancy)); None: the targets file's ``discrepancy`` (docs/calibration.md,
    #: "Measurement model")
    discrepancy: float | None = None

    @property
    def role(self) -> Literal["fitted", "floor", "waiting"]:
        """``waiting`` (compared with nothing yet), ``floor`` (reported apart) or ``fitted``."""
        return "waiting" if self.waiting else "floor" if self.floor else "fitted"

    @property
    def rows(self) -> list[str]:
        """The evidence rows the target cites in ``source`` (P1, C8, Q4, ...), in order."""
        return list(dict.fromkeys(EVIDENCE_ROW.findall(self.source)))

    @model_validator(mode="after")
    def _check(self) -> Target:
        from narcoflow.metrics import METRICS

        if self.metric not in METRICS and not self.waiting:
            raise ValueError(f"metric {self.metric!r} is not a metric of docs/model.md; allowed: "
                             + ", ".join(METRICS) + " (a target on a metric the model lacks needs "
                             "'waiting: <why>')")
        dims = METRICS[self.metric].dims if self.metric in METRICS else None

        def unknown(names) -> list[str]:
            return sorted(set(names) - set(dims)) if dims is not None else []

        bad = unknown(self.filters)
        if bad:
            raise ValueError(f"filters may only name the dimensions of {self.metric} "
                             f"({', '.join(dims) or 'none'}); not {', '.join(bad)}")
        if self.divided_by is not None:
            bad = unknown(self.divided_by)
            if bad or not self.divided_by:
                raise ValueError(f"divided_by must name filters of the dimensions of {self.metric} "
                                 f"({', '.join(dims or ()) or 'none'})" + (f"; not {', '.join(bad)}" if bad else ""))
            if {**self.filters, **self.divided_by} == self.filters:
                raise ValueError("divided_by selects the same rows as filters (the ratio would be 1)")
        if self.quote is not None:
            if self.observed is not None:
                raise ValueError("give 'quote' or 'observed', not both")
            try:
                lo, hi = self.quote.usd_per_g()
            except NarcoflowError as exc:
                raise ValueError(f"quote: {exc}") from None
            if self.range is not None and not all(math.isclose(a, b, rel_tol=1e-9)
                                                  for a, b in zip(self.range, (lo, hi), strict=True)):
                raise ValueError(f"range {list(self.range)} is not the quote converted ({lo:.6g}, {hi:.6g}); "
                                 "give the quote alone")
            self.range = (lo, hi)
        if (self.observed is None) == (self.range is None):
            raise ValueError("give exactly one of 'observed', 'range' or 'quote'")
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
        if self.floor and (self.range is None or not math.isinf(self.range[1])):
            raise ValueError("floor: true needs a range [low, .inf] (a lower bound)")
        if self.discrepancy is not None and not (math.isfinite(self.discrepancy) and self.discrepancy >= 0):
            raise ValueError("discrepancy must be a finite number >= 0 (a relative error, e.g. 0.2)")
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

    def log_band(self) -> tuple[float, float]:
        """The band on the log scale of `transform`: (log low or -inf, log high or +inf)."""
        lo, hi, _ = self.band()
        return (math.log(lo) if lo > 0 else -math.inf, math.log(hi) if math.isfinite(hi) else math.inf)

    def transform(self, value: float) -> float:
        """The scale the measurement model works on: log(value), a value of 0 or less counting as
        a millionth of the band's low end (of its high end when the low end is 0), as in `distance`."""
        lo, hi, _ = self.band()
        floor = lo * 1e-6 if lo > 0 else hi * 1e-6 if math.isfinite(hi) and hi > 0 else 1e-12
        return math.log(max(value, floor))

    def measurement_variance(self) -> float:
        """Observation error plus model discrepancy, on the log scale: log(1 + tolerance)^2 +
        log(1 + discrepancy)^2 (docs/calibration.md, "Measurement model")."""
        return math.log1p(self.band()[2]) ** 2 + math.log1p(self.discrepancy or 0.0) ** 2

    def observed_text(self) -> str:
        if self.observed is not None:
            return f"{self.observed:g}"
        lo, hi = self.range
        if lo == hi:
            return f"{lo:g}"
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

    def evaluate(self, metrics: pd.DataFrame, population: Mapping[str, float] | None = None, *,
                 period: tuple[dt.date, dt.date] | None = None) -> float:
        """The model's value of this quantity in one run's metrics frame (NaN for a waiting target).

        ``population`` (province -> persons, `populations`) weights price means over several
        provinces (``mean_value`` with ``weights: population``). ``period`` (first and last date
        of the run) is read from ``metrics`` unless given (`evaluate_targets` passes it, with only
        the target's metric's rows). Raises `NarcoflowError` if the target's years lie (partly)
        outside the run's period, or if the weights are needed and missing.
        """
        if self.waiting:
            return math.nan
        if period is None and len(metrics):
            dates = pd.to_datetime(metrics["date"])
            period = (dates.min().date(), dates.max().date())
        if period is not None:
            self.check_period(*period)
        if self.divided_by is not None:
            top = self._aggregate(metrics, self.filters, population)
            bottom = self._aggregate(metrics, {**self.filters, **self.divided_by}, population)
            return top / bottom if bottom > 0 else 0.0  # no denominator rows: nothing to compare
        return self._aggregate(metrics, self.filters, population)

    def _aggregate(self, metrics: pd.DataFrame, filters: Mapping[str, str | list[str]],
                   population: Mapping[str, float] | None) -> float:
        """The target's aggregation over the rows of its metric and years that ``filters`` keep."""
        # One mask, one selection (each selection copies the frame's text columns).
        keep = (metrics["metric"] == self.metric).to_numpy(dtype=bool, na_value=False).copy()
        for col, val in filters.items():
            allowed = [val] if isinstance(val, str) else list(val)
            keep &= metrics[col].astype(str).isin(allowed).to_numpy()
        yr = pd.to_datetime(metrics["date"]).dt.year
        keep &= ((yr >= self.years[0]) & (yr <= self.years[1])).to_numpy()
        d = metrics[keep]
        if self.aggregation == "sum":
            return float(d["value"].sum())
        if self.aggregation == "mean_per_year":
            return float(d["value"].sum()) / (self.years[1] - self.years[0] + 1)
        if self.aggregation == "mean_value":  # intensive metrics (prices): mean over rows
            if not len(d):
                return 0.0
            if self.weights == "equal" or d["region"].nunique() < 2:
                return float(d["value"].mean())
            w = d["region"].astype(str).map(dict(population or {}))
            if w.isna().any():
                missing = sorted(set(d.loc[w.isna(), "region"].astype(str)))
                raise NarcoflowError(f"Target {self.name!r} weights its mean over provinces by population; "
                                     f"no population for {', '.join(missing)} (pass population=, e.g. "
                                     "narcoflow.calibration.targets.populations(scenario))")
            return float((d["value"].to_numpy() * w.to_numpy()).sum() / w.sum())
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


class Unused(BaseModel):
    """Evidence rows no target uses, and why."""

    model_config = ConfigDict(extra="forbid")
    rows: list[str]
    why: str


class Targets(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = ""
    parameters: list[str] = []
    #: model discrepancy of every target that gives none (a relative error; docs/calibration.md)
    discrepancy: float = 0.0
    targets: list[Target]
    unused: list[Unused] = []

    @model_validator(mode="after")
    def _unique(self) -> Targets:
        if not (math.isfinite(self.discrepancy) and self.discrepancy >= 0):
            raise ValueError("discrepancy must be a finite number >= 0 (a relative error, e.g. 0.2)")
        for t in self.targets:
            if t.discrepancy is None:
                t.discrepancy = self.discrepancy
        names = [t.name for t in self.targets]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"target names must be unique; repeated: {', '.join(dup)}")
        if not names:
            raise ValueError("give at least one target")
        listed = [r for u in self.unused for r in u.rows]
        twice = sorted({r for r in listed if listed.count(r) > 1})
        if twice:
            raise ValueError(f"unused: rows listed more than once: {', '.join(twice)}")
        cited = sorted(set(listed) & {r for t in self.targets for r in t.rows})
        if cited:
            raise ValueError(f"unused: rows cited by a target: {', '.join(cited)}")
        return self

    def of_role(self, role: str) -> list[Target]:
        """The targets whose `Target.role` is ``role`` (fitted, floor or waiting)."""
        return [t for t in self.targets if t.role == role]

    @property
    def compared(self) -> list[Target]:
        """The targets compared with the model (fitted and floors; not waiting ones)."""
        return [t for t in self.targets if not t.waiting]

    @property
    def unused_rows(self) -> dict[str, str]:
        """Evidence row -> why no target uses it."""
        return {r: u.why for u in self.unused for r in u.rows}


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


def populations(scenario) -> dict[str, float]:
    """Province -> population of a scenario: the weights of price means over provinces."""
    return {r.name: float(r.population) for r in scenario.regions}


def evaluate_targets(targets: Targets | list[Target], metrics: pd.DataFrame,
                     population: Mapping[str, float] | None = None) -> dict[str, float]:
    """Target name -> model value in one run, for the compared targets (waiting ones are left out).

    The rows of each target's metric are selected once and the run's period read once, so each target reads only
    its metric's rows (in their order: the same sums as `Target.evaluate` on the whole frame); a
    calibration evaluates every run this way."""
    ts = [t for t in (targets.targets if isinstance(targets, Targets) else targets) if not t.waiting]
    if not len(metrics):
        return {t.name: t.evaluate(metrics, population) for t in ts}
    dates = metrics["date"]
    period = (pd.to_datetime(dates.min()).date(), pd.to_datetime(dates.max()).date())
    names = metrics["metric"]
    rows = {name: metrics[names == name] for name in {t.metric for t in ts}}
    return {t.name: t.evaluate(rows[t.metric], population, period=period) for t in ts}


def distance(targets: list[Target], values: dict[str, float]) -> float:
    """Root-mean-square of per-target distances over the fitted targets (0 when every one is
    inside its band). Waiting targets are left out; a floor adds its distance (0 when met) but
    does not count in the mean, so floors that every run meets do not dilute the distance.

    A target's distance is the log-distance to its band over the measurement standard deviation
    (`Target.measurement_variance`: observation error and model discrepancy; the run-to-run
    variance is left out because each particle is itself one random run): with no discrepancy,
    `Target.distance`. It is the implausibility of one run (`narcoflow.calibration.measurement`)."""
    from narcoflow.calibration.measurement import band_gap

    ds = [band_gap(t, t.transform(values[t.name])) / math.sqrt(t.measurement_variance())
          for t in targets if not t.waiting]
    n = sum(1 for t in targets if t.role == "fitted") or len(ds)
    return (sum(d * d for d in ds) / n) ** 0.5 if n else 0.0


def role_counts(targets: Targets | list[Target], inside: Mapping[str, bool]) -> dict[str, int]:
    """Counts for a summary line: fitted targets and how many are ``inside`` (name -> bool),
    floors and how many are met, waiting targets."""
    ts = targets.targets if isinstance(targets, Targets) else targets
    fitted = [t for t in ts if t.role == "fitted"]
    floors = [t for t in ts if t.role == "floor"]
    return {"fitted": len(fitted), "fitted_inside": sum(bool(inside.get(t.name)) for t in fitted),
            "floors": len(floors), "floors_met": sum(bool(inside.get(t.name)) for t in floors),
            "waiting": sum(t.role == "waiting" for t in ts)}


def role_summary(counts: Mapping[str, int]) -> str:
    """One line from `role_counts`: '5 of 14 fitted targets inside; floors met apart: 2 of 2; waiting: 1'."""
    return (f"{counts['fitted_inside']} of {counts['fitted']} fitted targets inside; floors met apart: "
            f"{counts['floors_met']} of {counts['floors']}; waiting for a model quantity: {counts['waiting']}")
