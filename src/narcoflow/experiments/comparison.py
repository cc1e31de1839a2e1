"""Policy comparison: every policy R times on common random numbers, with intervals and effects.

By default replications differ only by their seed: the intervals say how much the outcome
varies from run to run with the scenario's parameters fixed. With ``uncertainty="posterior"``
(a calibration's posterior sample, `narcoflow.calibration.posterior`) or ``"ranges"`` (a Latin
hypercube over the scenario's ranges, taken as a uniform prior), replication ``i`` of *every*
policy also uses parameter set ``i``: the policies are compared on common random numbers and
common parameters, so an effect is a paired comparison under one plausible state of the world,
and its interval spans what is not known about the parameters as well as run-to-run noise.
Relative effects are then geometric means of the paired ratios (`narcoflow.experiments.stats`).

Examples
--------
>>> from narcoflow.scenario import load
>>> plan = plan_compare(load("north-korea-2011"), ["baseline", "demand-reduction"],
...                     replications=2, scale=0.002, years=1)
>>> [(r.policy, r.replication, r.seed) for r in plan.rows]   # replication-major: seeds shared
[('baseline', 0, 0), ('demand-reduction', 0, 0), ('baseline', 1, 1), ('demand-reduction', 1, 1)]
"""

from __future__ import annotations

import dataclasses
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
from narcoflow.results.provenance import lever_json
from narcoflow.scenario import Scenario
from narcoflow.scenario.policy import Policy

#: Where the replications' parameters come from: ``seeds`` (the scenario's values; only the
#: seed varies), ``posterior`` (draws from a posterior sample) or ``ranges`` (Latin hypercube
#: over the scenario's ranges).
UNCERTAINTY = ("seeds", "posterior", "ranges")


def comparison_parameter_sets(scenario: Scenario, n: int, *, uncertainty: str = "seeds",
                   posterior: str | Path | None = None, seed: int = 0) -> tuple[pd.DataFrame | None, dict]:
    """The ``n`` parameter sets of a comparison's replications and where they come from.

    ``uncertainty="posterior"`` resamples ``posterior`` (a posterior sample file; default: the
    one shipped with the scenario, `narcoflow.calibration.posterior.posterior_file`) by weight;
    ``"ranges"`` draws a Latin hypercube over every uncertain parameter's range; ``"seeds"``
    (with no ``posterior``) returns ``(None, {})``. A ``posterior`` file implies ``"posterior"``.

    Returns
    -------
    (pandas.DataFrame or None, dict)
        One row per replication (parameter columns by dotted path, plus ``source_draw`` for a
        posterior: its row in the file), and ``{"source": ..., "file": ...}``.
    """
    from narcoflow.calibration.posterior import (
        draw_parameter_sets,
        posterior_file,
        read_posterior,
        sample_ranges,
    )

    if uncertainty not in UNCERTAINTY:
        raise NarcoflowError(f"--uncertainty {uncertainty!r} is not one of: {', '.join(UNCERTAINTY)}.")
    if posterior is not None and uncertainty == "ranges":
        raise NarcoflowError("--posterior FILE and --uncertainty ranges exclude each other: draw the "
                             "parameters from the posterior sample or from the scenario's ranges.")
    if posterior is None and uncertainty == "seeds":
        return None, {}
    if uncertainty == "ranges":
        return sample_ranges(scenario, n, seed), {"source": "ranges"}
    path = Path(posterior) if posterior is not None else posterior_file(scenario.name)
    if path is None:
        raise NarcoflowError(
            f"Scenario {scenario.name!r} has no posterior sample ({scenario.name}.posterior.csv beside "
            "it): give one with --posterior FILE (a calibration's, written by "
            "narcoflow.calibration.posterior.export_posterior), or use --uncertainty ranges to draw "
            "the parameters uniformly from the scenario's ranges.")
    sets = draw_parameter_sets(read_posterior(path, scenario), n, seed)
    return sets, {"source": "posterior", "file": path.name}


def plan_compare(scenario: Scenario, policies: Sequence[str], *, replications: int, seed: int = 0,
                 scale: float, years: float | None = None,
                 extra_policies: Mapping[str, Policy] | None = None,
                 window: Window | tuple[int | None, int | None] | None = None,
                 outcomes: Sequence[OutcomeDef | str] = (), uncertainty: str = "seeds",
                 posterior: str | Path | None = None) -> Plan:
    """The runs of a comparison: ``baseline`` (added first if missing) and each policy, each
    ``replications`` times; replication ``i`` of every policy uses seed ``seed + i``.

    ``window`` (a `Window` or ``(first year, last year)``, None for an open end) restricts the
    headline outcomes to those calendar years, e.g. ``(2010, None)`` from a policy's start;
    ``outcomes`` adds user-defined outcomes (`OutcomeDef`, or its text form
    ``NAME=METRIC,region=China,from=2010,agg=sum``). ``uncertainty`` and ``posterior`` (see
    `comparison_parameter_sets`): replication ``i`` of every policy also uses parameter set ``i`` (applied
    with `narcoflow.calibration.posterior.with_draw`, then the policy's levers on top)."""
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
        d.check_labels(scenario)
    resolved = {name: resolve_policy(name, pols) for name in names}  # unknown policy: error before any run
    settings = {name: {k: lever_json(v) for k, v in levers.items()} for name, levers in resolved.items()}
    sets, source = comparison_parameter_sets(scenario, replications, uncertainty=uncertainty, posterior=posterior,
                                  seed=seed)
    params = [c for c in sets.columns if c != "source_draw"] if sets is not None else []
    fixed = {name: apply_policy(scenario, name, extra_policies, until=until) for name in names} if sets is None else {}
    dests = tuple(d.name for d in scenario.border.destinations)
    rows, specs = [], {}
    for rep in range(replications):
        draw = None
        if sets is not None:
            from narcoflow.calibration.posterior import with_draw

            values = {p: float(sets.at[rep, p]) for p in params}
            drawn = with_draw(scenario, values)
            draw = {**source, "index": rep, "values": values}
            if "source_draw" in sets.columns:
                draw["source_draw"] = int(sets.at[rep, "source_draw"])
        for point, name in enumerate(names):
            sc = fixed[name] if sets is None else apply_policy(drawn, name, extra_policies, until=until)
            rid = planned_run_id(sc, seed=seed + rep, scale=scale, years=years)
            rows.append(PlannedRun(point=point, policy=name, replication=rep, seed=seed + rep, run_id=rid))
            specs.setdefault(rid, RunSpec(sc, seed + rep, scale, years, rid, dests, window=window, custom=custom,
                                          provenance={"policy": name, "levers": settings[name], "draw": draw}))
    outs = outcomes_for(dests, window, custom)
    definition = {"policies": names, "replications": replications, "seed": seed, "scale": scale,
                  "years": years, "destinations": list(dests),
                  **({} if window.whole else {"window": [window.first, window.last]}),
                  **({"outcomes": [_def_json(d) for d in custom]} if custom else {}),
                  "metrics": list(outs), "intended": {k: o.intended for k, o in outs.items()},
                  "levers": {n: {k: v.model_dump(mode="json") for k, v in levers.items()}
                             for n, levers in resolved.items()}}
    if sets is not None:
        definition["parameter_sets"] = {**source, "parameters": params,
                                        "values": sets[params].to_numpy(float).tolist(),
                                        **({"source_draw": sets["source_draw"].astype(int).tolist()}
                                           if "source_draw" in sets.columns else {})}
        definition["relative"] = "log_ratio"
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
                         intended=d["intended"], relative=d.get("relative", "ratio_of_means"))


def comparison_warning(plan: Plan) -> str | None:
    """`narcoflow.experiments.stats.few_replications` for this plan's replications."""
    return few_replications(plan.definition["replications"])


def compare(scenario: Scenario, policies: Sequence[str], *, replications: int, db: str | Path,
            seed: int = 0, scale: float, years: float | None = None,
            extra_policies: Mapping[str, Policy] | None = None, executor: Executor | None = None,
            keep_metrics: bool = True, progress=None,
            window: Window | tuple[int | None, int | None] | None = None,
            outcomes: Sequence[OutcomeDef | str] = (), uncertainty: str = "seeds",
            posterior: str | Path | None = None) -> tuple[Plan, pd.DataFrame]:
    """Run (or resume) a comparison and write its ``comparisons`` table.

    ``window``, ``outcomes``, ``uncertainty`` and ``posterior`` as in `plan_compare`. Warns
    (`FewReplicationsWarning`) when the replications are too few for the intervals shown
    (`narcoflow.experiments.stats.few_replications`).

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
                        years=years, extra_policies=extra_policies, window=window, outcomes=outcomes,
                        uncertainty=uncertainty, posterior=posterior)
    run_plan(plan, db, executor, keep_metrics=keep_metrics, progress=progress)
    table = comparison_table(db, plan)
    tables.write_comparisons(db, plan.experiment_id, table)
    note = comparison_warning(plan)
    if note:
        warnings.warn(note, FewReplicationsWarning, stacklevel=2)
    return plan, table


#: The outcome of a comparison's fan chart unless one is chosen.
FAN_OUTCOME = "consumption_kg"


def _custom_defs(definition: Mapping) -> dict[str, OutcomeDef]:
    return {o["name"]: OutcomeDef(name=o["name"], metric=o["metric"],
                                  filters=tuple((k, tuple(v)) for k, v in o["filters"].items()),
                                  aggregation=o["aggregation"], window=Window(*o["window"]),
                                  intended=o.get("intended"), label=o.get("label", ""))
            for o in definition.get("outcomes", [])}


def fan_outcome(definition: Mapping, name: str | None = None) -> str:
    """``name`` (default `FAN_OUTCOME`) if a comparison with this definition can chart it per
    year: a headline outcome (without a window suffix) or one of its user-defined outcomes."""
    from narcoflow.experiments.outcomes import outcomes_for

    name = name or FAN_OUTCOME
    known = [*outcomes_for(definition.get("destinations", ())), *_custom_defs(definition)]
    if name not in known:
        raise NarcoflowError(f"--fan {name!r} is not an outcome of this comparison; choose one of: "
                             f"{', '.join(known)}.")
    return name


def fan_series(db: str | Path, experiment_id: str, outcome: str | None = None) -> pd.DataFrame:
    """An outcome per calendar year of every stored run of a comparison: ``policy, replication,
    year, value`` (flows summed over the year, levels at its last week), for the fan chart.

    Only the years the runs cover whole are kept (all years when none is whole). Runs stored
    with ``--outcomes-only`` have no metrics: they are left out (an empty frame when none has).
    """
    from narcoflow.experiments.outcomes import _NEEDED, _windowed, outcomes_for
    from narcoflow.results.store import load_metrics

    info = tables.read_table(db, "experiment_info", experiment_id)
    if not len(info):
        raise NarcoflowError(f"No experiment {experiment_id!r} in {db}.")
    definition = _json_dict(info["definition"].iloc[0])
    name = fan_outcome(definition, outcome)
    custom = _custom_defs(definition)
    runs = tables.read_table(db, "experiments", experiment_id)
    stored = tables.done_runs(db, sorted(set(runs["run_id"])), with_metrics=True, need_outcomes=False)
    rows = []
    for rid, group in runs[runs["run_id"].isin(stored)].groupby("run_id", sort=True):
        m = load_metrics(db, rid, names=[custom[name].metric] if name in custom else _NEEDED)
        dates = pd.to_datetime(m["date"])
        first, last = dates.min(), dates.max() + pd.Timedelta(days=6)
        years = list(range(first.year, last.year + 1))
        whole = [y for y in years if first <= pd.Timestamp(y, 1, 8) and last >= pd.Timestamp(y, 12, 24)]
        for year in whole or years:
            w = Window(year, year)
            if name in custom:
                value = dataclasses.replace(custom[name], window=w).outcome().fn(m)
            else:
                value = _windowed(outcomes_for(definition.get("destinations", ()))[name], w).fn(m)
            rows += [(r.policy, int(r.replication), year, float(value)) for r in group.itertuples()]
    out = pd.DataFrame(rows, columns=["policy", "replication", "year", "value"])
    order = {p: i for i, p in enumerate(definition.get("policies", []))}
    return out.sort_values(["policy", "replication", "year"], key=lambda c: c.map(order) if c.name == "policy"
                           else c, kind="stable").reset_index(drop=True)


def _json_dict(value) -> dict:
    import json

    return value if isinstance(value, dict) else json.loads(value)


def fan_quantiles(series: pd.DataFrame) -> pd.DataFrame:
    """Per policy and year: the median and the 50 % and 90 % bands over the replications
    (``policy, year, q05, q25, median, q75, q95, replications``)."""
    g = series.groupby(["policy", "year"], sort=False)["value"]
    q = g.quantile([0.05, 0.25, 0.5, 0.75, 0.95]).unstack()
    q.columns = ["q05", "q25", "median", "q75", "q95"]
    q["replications"] = g.size()
    return q.reset_index()
