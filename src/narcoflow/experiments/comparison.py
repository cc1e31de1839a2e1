"""Policy comparison: every policy R times on common random numbers, with intervals and effects.

Examples
--------
>>> from narcoflow.scenario import load
>>> plan = plan_compare(load("north-korea-2011"), ["baseline", "demand-reduction"],
...                     replications=2, scale=0.002, years=1)
>>> [(r.policy, r.replication, r.seed) for r in plan.rows]   # replication-major: seeds shared
[('baseline', 0, 0), ('demand-reduction', 0, 0), ('baseline', 1, 1), ('demand-reduction', 1, 1)]
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from narcoflow.errors import NarcoflowError
from narcoflow.experiments import tables
from narcoflow.experiments.executors import Executor
from narcoflow.experiments.levers import BASELINE, apply_policy, resolve_policy
from narcoflow.experiments.outcomes import outcomes_for
from narcoflow.experiments.runner import (
    Plan,
    PlannedRun,
    RunSpec,
    check_complete,
    distinct,
    n_steps,
    planned_run_id,
    run_plan,
)
from narcoflow.experiments.stats import compare_table
from narcoflow.scenario import Scenario
from narcoflow.scenario.policy import Policy


def plan_compare(scenario: Scenario, policies: Sequence[str], *, replications: int, seed: int = 0,
                 scale: float, years: float | None = None,
                 extra_policies: Mapping[str, Policy] | None = None) -> Plan:
    """The runs of a comparison: ``baseline`` (added first if missing) and each policy, each
    ``replications`` times; replication ``i`` of every policy uses seed ``seed + i``."""
    if replications < 1:
        raise NarcoflowError(f"--replications {replications} is out of range: it must be at least 1.")
    names = distinct([BASELINE, *policies])
    pols = {**scenario.policies, **(extra_policies or {})}
    until = scenario.start + dt.timedelta(weeks=n_steps(scenario, years))
    scenarios = {}
    for name in names:
        resolve_policy(name, pols)  # a clear error for an unknown policy before anything runs
        scenarios[name] = apply_policy(scenario, name, extra_policies, until=until)
    dests = tuple(d.name for d in scenario.border.destinations)
    rows, specs = [], {}
    for rep in range(replications):
        for point, name in enumerate(names):
            sc = scenarios[name]
            rid = planned_run_id(sc, seed=seed + rep, scale=scale, years=years)
            rows.append(PlannedRun(point=point, policy=name, replication=rep, seed=seed + rep, run_id=rid))
            specs.setdefault(rid, RunSpec(sc, seed + rep, scale, years, rid, dests))
    definition = {"policies": names, "replications": replications, "seed": seed, "scale": scale,
                  "years": years, "destinations": list(dests),
                  "levers": {n: {k: v.model_dump(mode="json") for k, v in resolve_policy(n, pols).items()}
                             for n in names}}
    return Plan(kind="compare", scenario=scenario.name, scale=scale, steps=n_steps(scenario, years),
                rows=rows, specs=specs, definition=definition)


def comparison_table(db: str | Path, plan: Plan) -> pd.DataFrame:
    """Compute the ``comparisons`` rows of a finished comparison from its stored outcomes."""
    frame = tables.experiment_outcomes(db, plan.experiment_id)
    check_complete(frame, plan)
    metrics = list(outcomes_for(plan.definition["destinations"]))
    return compare_table(frame, policies=plan.definition["policies"], metrics=metrics, baseline=BASELINE)


def compare(scenario: Scenario, policies: Sequence[str], *, replications: int, db: str | Path,
            seed: int = 0, scale: float, years: float | None = None,
            extra_policies: Mapping[str, Policy] | None = None, executor: Executor | None = None,
            keep_metrics: bool = True, progress=None) -> tuple[Plan, pd.DataFrame]:
    """Run (or resume) a comparison and write its ``comparisons`` table.

    Returns
    -------
    (Plan, pandas.DataFrame)
        The plan (``plan.experiment_id`` keys the tables) and the comparison rows.

    Examples
    --------
    >>> plan, table = compare(load("north-korea-2011"), ["demand-reduction"],   # doctest: +SKIP
    ...                       replications=5, db="nk.duckdb", scale=0.002, years=3)
    """
    plan = plan_compare(scenario, policies, replications=replications, seed=seed, scale=scale,
                        years=years, extra_policies=extra_policies)
    run_plan(plan, db, executor, keep_metrics=keep_metrics, progress=progress)
    table = comparison_table(db, plan)
    tables.write_comparisons(db, plan.experiment_id, table)
    return plan, table
