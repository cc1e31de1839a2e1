"""Parameter sweeps: a Latin hypercube over ranges and/or a full grid of values.

A swept name is either a scenario parameter as a dotted path (``state.siphon_rate``,
``regions[0].policing``, ``border.destinations[0].interdiction_prob``; see
``narcoflow.scenario.iter_params``) or a lever name (``crackdown``, ``initiation``; see
``narcoflow levers``). Every point runs ``replications`` times with seeds ``seed + i`` (common
random numbers across points).

Examples
--------
>>> from narcoflow.scenario import load
>>> sc = load("north-korea-2011")
>>> pts = sweep_points(sc, ranges={"state.siphon_rate": (0.0, 0.2)}, samples=4, seed=1)
>>> len(pts), sorted(pts.columns)
(4, ['state.siphon_rate'])
>>> bool(pts["state.siphon_rate"].between(0.0, 0.2).all())
True
"""

from __future__ import annotations

import difflib
import itertools
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from narcoflow.errors import NarcoflowError
from narcoflow.experiments import tables
from narcoflow.experiments.executors import Executor
from narcoflow.experiments.levers import scenario_at
from narcoflow.experiments.outcomes import outcomes_for
from narcoflow.experiments.runner import Plan, PlannedRun, RunSpec, n_steps, planned_run_id, run_plan
from narcoflow.scenario import Param, Scenario, iter_params
from narcoflow.scenario.policy import LEVERS


def is_lever(name: str) -> bool:
    return name in LEVERS


def check_name(scenario: Scenario, name: str, flag: str = "--param") -> Param | None:
    """The `Param` at dotted path ``name`` (None for a lever); a clear error if neither."""
    if is_lever(name):
        return None
    params = dict(iter_params(scenario))
    if name in params:
        return params[name]
    close = difflib.get_close_matches(name, list(params) + list(LEVERS), n=3, cutoff=0.6)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    raise NarcoflowError(f"{flag} {name!r} is neither a parameter of scenario {scenario.name!r} "
                         f"(a dotted path such as state.siphon_rate or regions[0].policing) nor a "
                         f"lever ({', '.join(LEVERS)}).{hint}")


def check_bounds(scenario: Scenario, name: str, low: float, high: float, flag: str = "--param") -> None:
    """``low..high`` must lie in the parameter's declared range (or the lever's range)."""
    if not (math.isfinite(low) and math.isfinite(high)):
        raise NarcoflowError(f"{flag} {name}={low:g}:{high:g}: bounds must be finite numbers.")
    if low > high:
        raise NarcoflowError(f"{flag} {name}={low:g}:{high:g}: LOW must not exceed HIGH.")
    param = check_name(scenario, name, flag)
    if param is None:
        spec = LEVERS[name]
        if low < spec.low or high > spec.high:
            raise NarcoflowError(f"{flag} {name}={low:g}:{high:g} is outside the lever's allowed range "
                                 f"{spec.allowed} ({spec.meaning}).")
    elif param.range is not None:
        lo, hi = param.range
        if low < lo or high > hi:
            raise NarcoflowError(
                f"{flag} {name}={low:g}:{high:g} is outside the parameter's range [{lo:g}, {hi:g}] "
                f"declared in scenario {scenario.name!r}. Sweep inside it, or widen the range in a "
                "scenario file with 'base:' (docs/scenarios.md).")


def sweep_points(scenario: Scenario, *, ranges: Mapping[str, tuple[float, float]] | None = None,
                 samples: int = 0, grid: Mapping[str, Sequence[float]] | None = None,
                 seed: int = 0) -> pd.DataFrame:
    """The points of a sweep, one row each: Latin-hypercube samples of ``ranges`` (``samples``
    rows, seeded) crossed with every combination of ``grid`` values."""
    ranges, grid = dict(ranges or {}), dict(grid or {})
    overlap = sorted(set(ranges) & set(grid))
    if overlap:
        raise NarcoflowError(f"{overlap} given both as --param and as --grid; use one.")
    for name, (lo, hi) in ranges.items():
        check_bounds(scenario, name, lo, hi)
    for name, values in grid.items():
        if not values:
            raise NarcoflowError(f"--grid {name}: give at least one value.")
        check_bounds(scenario, name, min(values), max(values), "--grid")
    if ranges and samples < 1:
        raise NarcoflowError("--samples must be at least 1 when --param ranges are given.")
    if not ranges and not grid:
        raise NarcoflowError("Nothing to sweep: give --param NAME=LOW:HIGH (with --samples) "
                             "and/or --grid NAME=V1,V2,...")
    if ranges:
        from SALib.sample import latin

        problem = {"num_vars": len(ranges), "names": list(ranges),
                   "bounds": [list(b) for b in ranges.values()]}
        lhs = pd.DataFrame(latin.sample(problem, samples, seed=seed), columns=list(ranges))
    else:
        lhs = pd.DataFrame(index=[0])
    if grid:
        combos = pd.DataFrame(list(itertools.product(*grid.values())), columns=list(grid), dtype=float)
        points = lhs.merge(combos, how="cross")
    else:
        points = lhs
    return points.reset_index(drop=True).astype("float64")


def plan_points(kind: str, scenario: Scenario, points: pd.DataFrame, *, replications: int = 1,
                seed: int = 0, scale: float, years: float | None = None,
                definition: dict | None = None) -> Plan:
    """A plan running each row of ``points`` ``replications`` times (seeds ``seed + i``)."""
    if replications < 1:
        raise NarcoflowError(f"--replications {replications} is out of range: it must be at least 1.")
    dests = tuple(d.name for d in scenario.border.destinations)
    rows, specs = [], {}
    names = list(points.columns)
    matrix = points.to_numpy(float)
    ids: dict[tuple, list[str]] = {}
    for point, x in enumerate(matrix):
        key = tuple(x.tolist())
        values = tuple(zip(names, key, strict=True))
        if key not in ids:
            # built only to compute the run ids; workers rebuild it from the values (memory)
            sc = scenario_at(scenario, dict(values))
            ids[key] = [planned_run_id(sc, seed=seed + rep, scale=scale, years=years)
                        for rep in range(replications)]
        for rep, rid in enumerate(ids[key]):
            rows.append(PlannedRun(point=point, policy=None, replication=rep, seed=seed + rep, run_id=rid))
            specs.setdefault(rid, RunSpec(scenario, seed + rep, scale, years, rid, dests, values=values))
    rows.sort(key=lambda r: (r.replication, r.point))
    values = pd.DataFrame({
        "point": np.repeat(np.arange(len(matrix)), len(names)).astype("int64"),
        "parameter": np.tile(np.array(names, dtype=object), len(matrix)),
        "value": matrix.reshape(-1),
    })
    definition = {**(definition or {}), "parameters": names, "replications": replications,
                  "seed": seed, "scale": scale, "years": years, "destinations": list(dests)}
    return Plan(kind=kind, scenario=scenario.name, scale=scale, steps=n_steps(scenario, years),
                rows=rows, specs=specs, definition=definition, values=values)


def plan_sweep(scenario: Scenario, *, ranges=None, samples: int = 0, grid=None, replications: int = 1,
               seed: int = 0, scale: float, years: float | None = None) -> Plan:
    """The plan of a sweep (see `sweep_points`)."""
    points = sweep_points(scenario, ranges=ranges, samples=samples, grid=grid, seed=seed)
    definition = {"ranges": {k: list(v) for k, v in (ranges or {}).items()}, "samples": samples,
                  "grid": {k: list(v) for k, v in (grid or {}).items()}}
    return plan_points("sweep", scenario, points, replications=replications, seed=seed, scale=scale,
                       years=years, definition=definition)


def sweep_table(db: str | Path, plan: Plan) -> pd.DataFrame:
    """One row per run: ``run_id, point, replication, seed``, the swept values, the outcomes."""
    out = tables.experiment_outcomes(db, plan.experiment_id)
    if out.empty:
        return out
    wide = out.pivot_table(index=["run_id", "point", "replication", "seed"], columns="metric",
                           values="value", aggfunc="first").reset_index()
    metrics = [m for m in outcomes_for(plan.definition["destinations"]) if m in wide.columns]
    vals = tables.experiment_values(db, plan.experiment_id)
    vals = vals.pivot_table(index="point", columns="parameter", values="value", aggfunc="first")
    vals = vals[plan.definition["parameters"]].reset_index()
    table = wide.merge(vals, on="point", how="left")
    cols = ["run_id", "point", "replication", "seed", *plan.definition["parameters"], *metrics]
    return table[cols].sort_values(["point", "replication"]).reset_index(drop=True)


def sweep(scenario: Scenario, *, db: str | Path, ranges=None, samples: int = 0, grid=None,
          replications: int = 1, seed: int = 0, scale: float, years: float | None = None,
          executor: Executor | None = None, keep_metrics: bool = True, progress=None
          ) -> tuple[Plan, pd.DataFrame]:
    """Run (or resume) a sweep; returns the plan and `sweep_table`."""
    plan = plan_sweep(scenario, ranges=ranges, samples=samples, grid=grid, replications=replications,
                      seed=seed, scale=scale, years=years)
    run_plan(plan, db, executor, keep_metrics=keep_metrics, progress=progress)
    return plan, sweep_table(db, plan)
