"""Estimates of the quantities nobody observes, per calendar year, with honest uncertainty (issue 15).

``narcoflow estimate`` / `estimate` draws ``N`` parameter sets from a scenario's posterior sample
(`narcoflow.calibration.posterior`; without one, a Latin hypercube over the scenario's own ranges,
which are then a prior, not a posterior), runs each set with ``K`` seeds through the experiments
machinery (resumable, local pool or Dask), and reports per calendar year the median and the 50 %
and 90 % intervals of each quantity in `QUANTITIES` over the ``N x K`` runs. The intervals
combine parameter and run-to-run uncertainty; `decompose` splits the variance between them by the
law of total variance.

Per year: a flow (grams, USD, arrests) is the year's total, each weekly value split between the
calendar years its seven days fall in, and scaled up to the whole year when the run covers only
part of it; a year is reported when the run covers at least `MIN_COVERAGE` of its days. A level
(users, active sellers) is its value at the end of the last week that starts in the year.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> sets = rng.normal(0, 2.0, size=(400, 1))          # parameter effect: variance 4
>>> noise = rng.normal(0, 1.0, size=(400, 4))         # run-to-run noise: variance 1
>>> d = decompose(10 + sets + noise)
>>> round(float(d["share_parameters"]), 1), round(float(d["share_randomness"]), 1)
(0.8, 0.2)
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from narcoflow.errors import NarcoflowError
from narcoflow.experiments import tables
from narcoflow.experiments.executors import Executor
from narcoflow.experiments.runner import Plan, PlannedRun, RunSpec, n_steps, planned_run_id, run_plan
from narcoflow.metrics import metric
from narcoflow.scenario import Scenario

#: A calendar year is reported when the run covers at least this share of its days.
MIN_COVERAGE = 0.9
#: The quantiles of the table: column -> probability.
QUANTILES = {"q05": 0.05, "q25": 0.25, "median": 0.5, "q75": 0.75, "q95": 0.95}
#: The filter columns of the table, in order; a filter is a label, ``all`` (summed over that
#: dimension) or missing (the quantity has no such dimension).
FILTERS = ("drug", "region", "destination", "role")
#: The columns of the table, in order (table ``estimates`` adds ``estimate_id`` first).
COLUMNS = ("quantity", "unit", *FILTERS, "year", "median", "q05", "q25", "q75", "q95", "mean",
           "share_parameters", "share_randomness", "draws", "seeds")
ALL = "all"
#: Prefix of the per-run outcome names that hold the yearly values (table ``outcomes``).
PREFIX = "estimate|"


@dataclass(frozen=True)
class Quantity:
    """One estimated quantity: a metric, fixed filters, and the dimensions it is split by.

    ``by`` are metric dimensions (``drug``, ``region``, ``channel``); each is reported per label
    and summed (``all``). ``fixed`` sets a filter column to a constant (the role of an
    ``active_*`` metric).
    """

    name: str
    metric: str
    label: str
    where: tuple[tuple[str, tuple[str, ...]], ...] = ()
    by: tuple[str, ...] = ()
    fixed: tuple[tuple[str, str], ...] = ()

    @property
    def unit(self) -> str:
        m = metric(self.metric)
        return m.display_unit if m.kind == "level" else f"{m.display_unit}/year"

    def column(self, dim: str) -> str:
        """The filter column a metric dimension fills (``region`` of exports is a destination)."""
        name = metric(self.metric).dim_name(dim)
        return {"drug": "drug", "destination": "destination", "role": "role"}.get(name, "region")


#: The estimated quantities, in table order. Private exports are the lots that arrived in each
#: foreign market by the private channel (smugglers to China, and onward from there).
QUANTITIES: tuple[Quantity, ...] = (
    Quantity("private_exports_kg", "delivered_abroad_g", "Private exports arrived abroad",
             where=(("channel", ("private",)),), by=("region", "drug")),
    Quantity("siphoned_kg", "siphoned_g", "Siphoned from state factories", by=("drug",)),
    Quantity("state_revenue_musd", "state_revenue_usd", "State export revenue", by=("region",)),
    *(Quantity("active_actors", f"active_{role}s", "Active private actors", fixed=(("role", role),))
      for role in ("producer", "deliverer", "wholesaler", "seller", "smuggler")),
    Quantity("users", "users", "Users", by=("region",)),
    Quantity("ever_used", "ever_used", "Ever used", by=("region",)),
    Quantity("arrests", "arrests", "Arrests", by=("channel",)),
    Quantity("bribes_musd", "bribes_usd", "Bribes paid at the border"),
)
#: Human labels of the quantities, by name.
LABELS = {q.name: q.label for q in QUANTITIES}


# ---------------------------------------------------------------------------- calendar years
def _run_dates(start: dt.date, steps: int) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(pd.Timestamp(start) + pd.to_timedelta(np.arange(steps) * 7, unit="D"))


def _first_year_days(dates: pd.Series | pd.DatetimeIndex) -> np.ndarray:
    """Days of each week (starting on ``dates``) that fall in the calendar year it starts in."""
    d = pd.DatetimeIndex(dates)
    next_year = pd.to_datetime({"year": d.year + 1, "month": 1, "day": 1})
    return np.minimum(7, (pd.DatetimeIndex(next_year) - d).days.to_numpy())


def year_coverage(start: dt.date, steps: int) -> pd.Series:
    """Days of each calendar year the run's ``steps`` weeks cover, by year."""
    dates = _run_dates(start, steps)
    k = _first_year_days(dates)
    days = pd.concat([pd.Series(k, index=dates.year), pd.Series(7 - k, index=dates.year + 1)])
    days = days.groupby(level=0).sum()
    return days[days > 0]


def _days_in(year: int) -> int:
    return 366 if pd.Timestamp(year=year, month=1, day=1).is_leap_year else 365


def reported_years(start: dt.date, steps: int) -> list[int]:
    """The calendar years the run covers for at least `MIN_COVERAGE` of their days."""
    cov = year_coverage(start, steps)
    return [int(y) for y, d in cov.items() if d >= MIN_COVERAGE * _days_in(int(y))]


# ---------------------------------------------------------------------------- per run
def _places(scenario: Scenario) -> tuple[tuple[str, ...], tuple[str, ...]]:
    return tuple(r.name for r in scenario.regions), tuple(d.name for d in scenario.border.destinations)


def _labels(q: Quantity, dim: str, regions: Sequence[str], destinations: Sequence[str]) -> list[str]:
    from narcoflow.engine.state import ROLE_NAMES
    from narcoflow.scenario.schema import DRUGS

    if dim == "drug":
        return list(DRUGS)
    if dim == "channel":  # arrests by role
        return [*ROLE_NAMES, "user"]
    return list(destinations) if q.column(dim) == "destination" else list(regions)


def series_keys(scenario: Scenario) -> list[tuple[str, dict[str, str | None]]]:
    """Every series of the table: ``(quantity, filters)``, each split dimension per label and ``all``."""
    return _series_keys(*_places(scenario))


def _series_keys(regions: Sequence[str], destinations: Sequence[str]) -> list[tuple[str, dict[str, str | None]]]:
    out = []
    for q in QUANTITIES:
        choices = [_labels(q, dim, regions, destinations) + [ALL] for dim in q.by]
        for combo in itertools.product(*choices):
            filt: dict[str, str | None] = dict.fromkeys(FILTERS)
            filt.update(dict(q.fixed))
            filt.update({q.column(dim): label for dim, label in zip(q.by, combo, strict=True)})
            out.append((q.name, filt))
    return out


def outcome_name(quantity: str, filters: dict[str, str | None], year: int) -> str:
    """The per-run outcome name of one series and year: ``estimate|users|||Pyongyang||2010``."""
    parts = [quantity, *("" if filters.get(f) is None else str(filters[f]) for f in FILTERS), str(year)]
    return PREFIX + "|".join(parts)


def parse_outcome_name(name: str) -> tuple[str, dict[str, str | None], int]:
    """The inverse of `outcome_name`."""
    parts = name[len(PREFIX):].split("|")
    filters = {f: (v or None) for f, v in zip(FILTERS, parts[1:-1], strict=True)}
    return parts[0], filters, int(parts[-1])


def outcome_names(scenario: Scenario, years: Sequence[int]) -> list[str]:
    """The per-run outcome names of every series and year, in table order."""
    return list(_outcome_names(*_places(scenario), tuple(int(y) for y in years)))


@functools.lru_cache(maxsize=16)
def _outcome_names(regions: tuple[str, ...], destinations: tuple[str, ...],
                   years: tuple[int, ...]) -> tuple[str, ...]:
    # cached: every run of an estimate asks (run_plan reads each run's outcome names)
    return tuple(outcome_name(q, f, y) for q, f in _series_keys(regions, destinations) for y in years)


def yearly_values(metrics: pd.DataFrame, scenario: Scenario, years: Sequence[int],
                  steps: int) -> dict[str, float]:
    """Every quantity of one run per calendar year in ``years``, keyed by `outcome_name`
    (0 where the run recorded nothing)."""
    years = [int(y) for y in years]
    cov = year_coverage(scenario.start, steps)
    needed = {q.metric for q in QUANTITIES}
    m = metrics[metrics["metric"].isin(needed)]
    values: dict[str, float] = {}
    # levels: the last step that starts in each year
    dates = _run_dates(scenario.start, steps)
    last_step = pd.Series(np.arange(steps), index=dates.year).groupby(level=0).max()
    level_steps = {int(last_step[y]): y for y in years if y in last_step.index}
    for q in QUANTITIES:
        meta = metric(q.metric)
        d = m[m["metric"] == q.metric]
        for dim, labels in q.where:
            d = d[d[dim].isin(labels)]
        factor = meta.display_factor
        if meta.kind == "flow":
            start = pd.to_datetime(d["date"])
            k = _first_year_days(start)
            v = d["value"].to_numpy(float)
            y0 = start.dt.year.to_numpy()
            parts = [d[list(q.by)].assign(year=y0, value=v * k / 7),
                     d[list(q.by)].assign(year=y0 + 1, value=v * (7 - k) / 7)]
            frame = pd.concat(parts, ignore_index=True)
            frame = frame[frame["year"].isin(years)]
            scale = {y: _days_in(y) / cov[y] for y in years if y in cov.index}
            frame["value"] = frame["value"] * frame["year"].map(scale) * factor
        else:
            d = d[d["step"].isin(level_steps)]
            frame = d[list(q.by)].assign(year=d["step"].map(level_steps).to_numpy(),
                                         value=d["value"].to_numpy(float) * factor)
        for subset in itertools.chain.from_iterable(
                itertools.combinations(q.by, r) for r in range(len(q.by) + 1)):
            sums = frame.groupby(["year", *subset], observed=True)["value"].sum()
            for key, value in sums.items():
                key = key if isinstance(key, tuple) else (key,)
                filt: dict[str, str | None] = dict.fromkeys(FILTERS)
                filt.update(dict(q.fixed))
                for dim in q.by:
                    filt[q.column(dim)] = ALL
                filt.update({q.column(dim): str(lab) for dim, lab in zip(subset, key[1:], strict=True)})
                values[outcome_name(q.name, filt, int(key[0]))] = float(value)
    return {name: values.get(name, 0.0) for name in outcome_names(scenario, years)}


@dataclass(frozen=True)
class EstimateSpec(RunSpec):
    """A `RunSpec` whose run also records every quantity of `QUANTITIES` per calendar year."""

    years_reported: tuple[int, ...] = ()

    @property
    def outcome_names(self) -> list[str]:
        return [*super().outcome_names, *outcome_names(self.scenario, self.years_reported)]

    def outcomes(self, metrics: pd.DataFrame) -> dict[str, float]:
        steps = n_steps(self.scenario, self.years)
        return {**super().outcomes(metrics),
                **yearly_values(metrics, self.scenario, self.years_reported, steps)}


# ---------------------------------------------------------------------------- variance
def decompose(values: np.ndarray) -> dict[str, np.ndarray]:
    """Split the variance of ``values[..., set, seed]`` between parameters and randomness.

    By the law of total variance, Var(Y) = E[Var(Y | set)] + Var(E[Y | set]). The first term,
    *randomness*, is estimated by the mean over sets of the variance over a set's seeds; the
    second, *parameters*, by the variance of the set means minus randomness / seeds (a set's mean
    over K seeds still carries 1/K of the run-to-run variance). That difference can come out
    negative by chance when parameters matter little: it is clipped at 0, so the shares lie in
    [0, 1] and add up to 1. NaN with fewer than 2 sets or 2 seeds, or when nothing varies.

    Returns
    -------
    dict of arrays (the shape of ``values`` without its last two axes)
        ``var_parameters`` (clipped), ``var_randomness``, ``share_parameters``,
        ``share_randomness``, and ``clipped`` (True where the parameter term was negative).
    """
    v = np.asarray(values, dtype=float)
    if v.ndim < 2:
        raise ValueError("values must have at least two axes: parameter set and seed")
    n_sets, n_seeds = v.shape[-2], v.shape[-1]
    shape = v.shape[:-2]
    if n_sets < 2 or n_seeds < 2:
        nan = np.full(shape, np.nan)
        return {"var_parameters": nan, "var_randomness": nan, "share_parameters": nan,
                "share_randomness": nan, "clipped": np.zeros(shape, bool)}
    within = v.var(axis=-1, ddof=1).mean(axis=-1)
    between = v.mean(axis=-1).var(axis=-1, ddof=1)
    raw = between - within / n_seeds
    params = np.maximum(raw, 0.0)
    total = params + within
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(total > 0, params / np.where(total > 0, total, 1.0), np.nan)
    return {"var_parameters": params, "var_randomness": within, "share_parameters": share,
            "share_randomness": 1.0 - share, "clipped": raw < 0}


# ---------------------------------------------------------------------------- plan
def parameter_sets(scenario: Scenario, draws: int, *, seed: int = 0, posterior: str | Path | None = None,
                   ref: str | Path | None = None) -> tuple[pd.DataFrame, str]:
    """``draws`` parameter sets and where they come from.

    From the posterior sample ``posterior`` (a file), else the one shipped with the scenario
    ``ref`` (`narcoflow.calibration.posterior.posterior_file`), resampled by weight; else a Latin
    hypercube over the scenario's ranges. Returns ``(sets, source)``: one row per set with a column
    per parameter, and ``posterior FILE`` or ``prior ranges``.
    """
    from narcoflow.calibration.posterior import (
        draw_parameter_sets,
        posterior_file,
        read_posterior,
        sample_ranges,
    )

    if not isinstance(draws, int | np.integer) or isinstance(draws, bool) or draws < 1:
        raise NarcoflowError(f"--draws {draws} is out of range: it must be an integer >= 1 (parameter sets).")
    path = Path(posterior) if posterior is not None else (posterior_file(ref) if ref is not None else None)
    if path is not None:
        post = read_posterior(path, scenario)
        sets = draw_parameter_sets(post, int(draws), seed=seed)
        return sets.drop(columns=["source_draw"]), f"posterior {path}"
    return sample_ranges(scenario, int(draws), seed=seed), "prior ranges"


def plan_estimate(scenario: Scenario, *, draws: int, seeds: int = 2, seed: int = 0, scale: float,
                  years: float | None = None, posterior: str | Path | None = None,
                  ref: str | Path | None = None) -> Plan:
    """The runs of an estimate: parameter set ``i`` (`parameter_sets`, applied with
    `narcoflow.calibration.posterior.with_draw`) with seeds ``seed + i * seeds + k`` for
    ``k < seeds``: independent seeds, so that `decompose` can separate the two variances."""
    from narcoflow.calibration.posterior import with_draw

    if not isinstance(seeds, int | np.integer) or isinstance(seeds, bool) or seeds < 1:
        raise NarcoflowError(f"--seeds {seeds} is out of range: it must be an integer >= 1 (runs per "
                             "parameter set; 2 or more separate parameter from run-to-run variance).")
    steps = n_steps(scenario, years)
    reported = tuple(reported_years(scenario.start, steps))
    if not reported:
        raise NarcoflowError(f"--years {years:g} covers no whole calendar year (from {scenario.start}); "
                             "an estimate reports calendar years: run at least one year.")
    sets, source = parameter_sets(scenario, draws, seed=seed, posterior=posterior, ref=ref)
    dests = tuple(d.name for d in scenario.border.destinations)
    rows, specs = [], {}
    names = list(sets.columns)
    for i, values in enumerate(sets.to_dict("records")):
        sc = with_draw(scenario, values)
        for k in range(seeds):
            s = seed + i * seeds + k
            rid = planned_run_id(sc, seed=s, scale=scale, years=years)
            rows.append(PlannedRun(point=i, policy=None, replication=k, seed=s, run_id=rid))
            specs.setdefault(rid, EstimateSpec(sc, s, scale, years, rid, dests, keep_metrics=False,
                                               years_reported=reported))
    values = pd.DataFrame({
        "point": np.repeat(np.arange(len(sets)), len(names)).astype("int64"),
        "parameter": np.tile(np.array(names, dtype=object), len(sets)),
        "value": sets.to_numpy(float).reshape(-1),
    })
    definition = {"draws": int(draws), "seeds": int(seeds), "seed": int(seed), "scale": float(scale),
                  "years": None if years is None else float(years), "source": source, "parameters": names,
                  "years_reported": list(reported),
                  "quantities": [q.name for q in QUANTITIES]}
    return Plan(kind="estimate", scenario=scenario.name, scale=scale, steps=steps, rows=rows,
                specs=specs, definition=definition, values=values)


# ---------------------------------------------------------------------------- table
def estimate_table(db: str | Path, plan: Plan) -> pd.DataFrame:
    """The ``estimates`` rows of a finished estimate, from its stored outcomes (`COLUMNS`)."""
    frame = tables.experiment_outcomes(db, plan.experiment_id)
    frame = frame[frame["metric"].str.startswith(PREFIX)]
    return summarize_values(frame, plan)


def summarize_values(frame: pd.DataFrame, plan: Plan) -> pd.DataFrame:
    """`COLUMNS` from ``point, replication, metric, value`` rows (one per run and outcome)."""
    d = plan.definition
    n_sets, n_seeds = int(d["draws"]), int(d["seeds"])
    any_spec = next(iter(plan.specs.values()))
    names = outcome_names(any_spec.scenario, d["years_reported"])
    have = frame.drop_duplicates(["point", "replication", "metric"])
    missing = len(names) * n_sets * n_seeds - len(have[have["metric"].isin(names)])
    if missing:
        raise NarcoflowError(f"{missing} value(s) of estimate {plan.experiment_id} are not stored; run the "
                             "same command again to finish it.")
    index = {n: j for j, n in enumerate(names)}
    cube = np.full((len(names), n_sets, n_seeds), np.nan)
    have = have[have["metric"].isin(index)]
    cube[have["metric"].map(index).to_numpy(), have["point"].to_numpy(int),
         have["replication"].to_numpy(int)] = have["value"].to_numpy(float)
    flat = cube.reshape(len(names), -1)
    qs = np.quantile(flat, list(QUANTILES.values()), axis=1)
    dec = decompose(cube)
    units = {q.name: q.unit for q in QUANTITIES}
    records = []
    for name in names:
        quantity, filters, year = parse_outcome_name(name)
        records.append({"quantity": quantity, "unit": units[quantity], **filters, "year": year})
    table = pd.DataFrame.from_records(records, columns=["quantity", "unit", *FILTERS, "year"])
    for c, row in zip(QUANTILES, qs, strict=True):
        table[c] = row
    table["mean"] = flat.mean(axis=1)
    table["share_parameters"] = dec["share_parameters"]
    table["share_randomness"] = dec["share_randomness"]
    table["draws"] = n_sets
    table["seeds"] = n_seeds
    table = table[list(COLUMNS)]
    table.attrs["clipped"] = int(dec["clipped"].sum())
    for col in FILTERS:
        table[col] = table[col].astype("object")
    table["year"] = table["year"].astype("int64")
    return table


def clipped_note(table: pd.DataFrame) -> str | None:
    """A sentence on the rows whose parameter variance came out negative and was set to 0."""
    n = int(table.attrs.get("clipped", 0))
    if not n:
        return None
    return (f"In {n} of {len(table)} rows the variance of the set means was below what the seeds alone "
            "explain (between < within / seeds): the parameters' share is clipped to 0 there, and the "
            "shares of every row are clipped to [0, 1].")


def source_note(plan: Plan) -> str:
    """What the parameter sets are: a posterior sample, or (said plainly) the prior ranges."""
    d = plan.definition
    if d["source"] == "prior ranges":
        return (f"Scenario {plan.scenario!r} has no posterior sample: the {d['draws']} parameter sets are a "
                f"Latin hypercube over its {len(d['parameters'])} parameter ranges, the PRIOR ranges, "
                "not a posterior. These intervals say what the ranges allow, not what the evidence "
                "supports; calibrate first (docs/calibration.md) or pass --posterior FILE.")
    return (f"Parameter sets: {d['draws']} draws (by weight, with replacement) from the {d['source']} "
            f"over {len(d['parameters'])} parameters.")


def estimate(scenario: Scenario | str | Path, *, db: str | Path, draws: int = 50, seeds: int = 2,
             seed: int = 0, scale: float | None = None, years: float | None = None,
             posterior: str | Path | None = None, executor: Executor | None = None,
             keep_metrics: bool = False, progress=None) -> tuple[Plan, pd.DataFrame]:
    """Run (or resume) an estimate and write its ``estimates`` table (`write_estimates`).

    Parameters
    ----------
    scenario : Scenario, str or path
        A built-in name or YAML file (whose shipped posterior sample is used, if any) or a
        `Scenario` (then give ``posterior``, or its ranges are used).
    db : path
        DuckDB file the runs' outcomes and table ``estimates`` are written to.
    draws, seeds : int
        Parameter sets, and runs (seeds) per set.
    seed : int
        Seed of the draws and of the first run.
    scale, years : float
        As in `narcoflow.run` (default scale: `narcoflow.DEFAULT_SCALE`).
    posterior : path, optional
        A posterior sample file (`narcoflow.calibration.posterior.read_posterior`).

    Returns
    -------
    (Plan, pandas.DataFrame)
        The plan (``plan.experiment_id`` is the estimate id) and the table (`COLUMNS`).

    Examples
    --------
    >>> plan, table = estimate("north-korea-2011", db="est.duckdb", draws=2, seeds=2,  # doctest: +SKIP
    ...                        scale=0.002, years=3)
    """
    import narcoflow
    from narcoflow.scenario import load
    from narcoflow.settings import check_run_settings

    scale = narcoflow.DEFAULT_SCALE if scale is None else scale
    check_run_settings(seed=seed, scale=scale, years=years)
    ref = None if isinstance(scenario, Scenario) else scenario
    sc = scenario if isinstance(scenario, Scenario) else load(scenario)
    plan = plan_estimate(sc, draws=draws, seeds=seeds, seed=seed, scale=scale, years=years,
                         posterior=posterior, ref=ref)
    run_plan(plan, db, executor, keep_metrics=keep_metrics, progress=progress)
    table = estimate_table(db, plan)
    write_estimates(db, plan.experiment_id, table)
    return plan, table


def write_estimates(db: str | Path, estimate_id: str, table: pd.DataFrame) -> None:
    """Replace the rows of ``estimate_id`` in table ``estimates``."""
    tables.write_estimates(db, estimate_id, table)


def headline_rows(table: pd.DataFrame, year: int | None = None) -> pd.DataFrame:
    """A handful of rows to print: every quantity's total, private exports to China (all drugs and
    methamphetamine) and active producers and sellers in ``year`` (default: the table's last)."""
    if table.empty:
        return table
    year = int(table["year"].max()) if year is None else year
    t = table[table["year"] == year]
    filt = t[list(FILTERS)]
    total = ((filt.isna()) | (filt == ALL)).all(axis=1)
    china = ((t["quantity"] == "private_exports_kg") & (t["destination"] == "China")
             & t["drug"].isin([ALL, "methamphetamine"]))
    actors = (t["quantity"] == "active_actors") & t["role"].isin(["producer", "seller"])
    return t[total | china | actors].reset_index(drop=True)


__all__ = ["ALL", "COLUMNS", "FILTERS", "MIN_COVERAGE", "QUANTILES", "QUANTITIES", "EstimateSpec",
           "Quantity", "clipped_note", "decompose", "estimate", "estimate_table", "headline_rows",
           "outcome_name", "parameter_sets", "plan_estimate", "reported_years", "series_keys",
           "source_note", "summarize_values", "write_estimates", "year_coverage", "yearly_values"]
