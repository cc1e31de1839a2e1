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
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from narcoflow.errors import NarcoflowError
from narcoflow.experiments import tables
from narcoflow.experiments.executors import Executor
from narcoflow.experiments.levers import BASELINE, apply_policy, resolve_policy
from narcoflow.experiments.outcomes import OutcomeDef, Window, outcomes_for
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
from narcoflow.experiments.stats import FewReplicationsWarning, compare_table, few_replications
from narcoflow.scenario import Scenario
from narcoflow.scenario.policy import Policy


def plan_compare(scenario: Scenario, policies: Sequence[str], *, replications: int, seed: int = 0,
                 scale: float, years: float | None = None,
                 extra_policies: Mapping[str, Policy] | None = None,
                 window: Window | tuple[int | None, int | None] | None = None,
                 outcomes: Sequence[OutcomeDef | str] = ()) -> Plan:
    """The runs of a comparison: ``baseline`` (added first if missing) and each policy, each
    ``replications`` times; replication ``i`` of every policy uses seed ``seed + i``.

    ``window`` (a `Window` or ``(first year, last year)``, None for an open end) restricts the
    headline outcomes to those calendar years, e.g. ``(2010, None)`` from a policy's start;
    ``outcomes`` adds user-defined outcomes (`OutcomeDef`, or its text form
    ``NAME=METRIC,region=China,from=2010,agg=sum``)."""
    if not isinstance(replications, int) or replications < 1:
        raise NarcoflowError(f"--replications {replications} is out of range: it must be at least 1.")
    window = window if isinstance(window, Window) else Window(*(window or (None, None)))
    custom = tuple(OutcomeDef.parse(o) if isinstance(o, str) else o for o in outcomes)
    if len({d.name for d in custom}) != len(custom):
        raise NarcoflowError("--define: two user-defined outcomes have the same name.")
    names = distinct([BASELINE, *policies])
    pols = {**scenario.policies, **(extra_policies or {})}
    until = scenario.start + dt.timedelta(weeks=n_steps(scenario, years))
    last_day = until - dt.timedelta(days=1)
    window.check(scenario.start, last_day)
    for d in custom:
        d.window.check(scenario.start, last_day)
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
            specs.setdefault(rid, RunSpec(sc, seed + rep, scale, years, rid, dests,
                                          window=window, custom=custom))
    outs = outcomes_for(dests, window, custom)
    definition = {"policies": names, "replications": replications, "seed": seed, "scale": scale,
                  "years": years, "destinations": list(dests),
                  **({} if window.whole else {"window": [window.first, window.last]}),
                  **({"outcomes": [_def_json(d) for d in custom]} if custom else {}),
                  "metrics": list(outs), "intended": {k: o.intended for k, o in outs.items()},
                  "levers": {n: {k: v.model_dump(mode="json") for k, v in resolve_policy(n, pols).items()}
                             for n in names}}
    return Plan(kind="compare", scenario=scenario.name, scale=scale, steps=n_steps(scenario, years),
                rows=rows, specs=specs, definition=definition)


def _def_json(d: OutcomeDef) -> dict:
    return {"name": d.name, "metric": d.metric, "filters": {k: list(v) for k, v in d.filters},
            "aggregation": d.aggregation, "window": [d.window.first, d.window.last],
            "intended": d.intended, "label": d.label, "title": d.outcome().title}


def comparison_table(db: str | Path, plan: Plan) -> pd.DataFrame:
    """Compute the ``comparisons`` rows of a finished comparison from its stored outcomes."""
    frame = tables.experiment_outcomes(db, plan.experiment_id)
    check_complete(frame, plan)
    d = plan.definition
    return compare_table(frame, policies=d["policies"], metrics=d["metrics"], baseline=BASELINE,
                         intended=d["intended"])


def comparison_warning(plan: Plan) -> str | None:
    """`narcoflow.experiments.stats.few_replications` for this plan's replications."""
    return few_replications(plan.definition["replications"])


def compare(scenario: Scenario, policies: Sequence[str], *, replications: int, db: str | Path,
            seed: int = 0, scale: float, years: float | None = None,
            extra_policies: Mapping[str, Policy] | None = None, executor: Executor | None = None,
            keep_metrics: bool = True, progress=None,
            window: Window | tuple[int | None, int | None] | None = None,
            outcomes: Sequence[OutcomeDef | str] = ()) -> tuple[Plan, pd.DataFrame]:
    """Run (or resume) a comparison and write its ``comparisons`` table.

    ``window`` and ``outcomes`` as in `plan_compare`. Warns (`FewReplicationsWarning`) when the
    replications are too few for the intervals shown (`narcoflow.experiments.stats.few_replications`).

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
                        years=years, extra_policies=extra_policies, window=window, outcomes=outcomes)
    run_plan(plan, db, executor, keep_metrics=keep_metrics, progress=progress)
    table = comparison_table(db, plan)
    tables.write_comparisons(db, plan.experiment_id, table)
    note = comparison_warning(plan)
    if note:
        warnings.warn(note, FewReplicationsWarning, stacklevel=2)
    return plan, table
