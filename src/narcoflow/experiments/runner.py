"""Plans of runs, the worker function, and the resumable execution of a plan.

An experiment is a `Plan`: rows ``(point, policy, replication, seed, run_id)`` (one per run of
the experiment; ``point`` is a policy's or a sample's index) and one `RunSpec` per distinct run
id. `run_plan` skips the runs already committed to the database, hands the others to an
executor, and commits each run in the parent process as it finishes (the only writer), so an
interrupted experiment loses at most the runs in flight and resumes where it stopped.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from narcoflow.engine.simulation import ENGINE_VERSION
from narcoflow.errors import NarcoflowError
from narcoflow.experiments import tables
from narcoflow.experiments.executors import Executor, LocalExecutor
from narcoflow.experiments.levers import scenario_at
from narcoflow.experiments.outcomes import OutcomeDef, Window, outcomes_for, outcomes_of
from narcoflow.results.results import Results, run_id_for
from narcoflow.scenario import Scenario

WEEKS_PER_YEAR = 52.1775


def n_steps(scenario: Scenario, years: float | None) -> int:
    """The number of weekly steps of a run (as `narcoflow.engine.Simulation` counts them)."""
    if years is None:
        return scenario.n_steps
    if not (isinstance(years, int | float) and 0 < years <= 100):  # also NaN and infinity
        raise NarcoflowError(f"--years {years:g} is out of range: it must be in (0, 100] (the "
                             "simulated years).")
    steps = int(round(years * WEEKS_PER_YEAR))
    if steps < 1:
        raise NarcoflowError(f"--years {years:g} is less than one week: a run needs at least one "
                             f"weekly step (years >= {1 / WEEKS_PER_YEAR:.4f}).")
    return steps


def planned_run_id(scenario: Scenario, *, seed: int, scale: float, years: float | None) -> str:
    """The id the run will have once it has run (`narcoflow.results.results.run_id_for`)."""
    info = {
        "scenario": scenario.name, "seed": int(seed), "scale": float(scale), "start": scenario.start,
        "steps": n_steps(scenario, years), "version": ENGINE_VERSION,
        "parameters": json.dumps(scenario.model_dump(mode="json"), sort_keys=True),
    }
    return run_id_for(info)


@dataclass(frozen=True)
class RunSpec:
    """Everything a worker needs for one run; ``run_id`` is the planned id.

    ``values`` (dotted parameter paths or lever names) are applied to ``scenario`` in the
    worker (`narcoflow.experiments.levers.scenario_at`), so the many points of a sweep share one
    scenario object instead of each holding its own.
    """

    scenario: Scenario
    seed: int
    scale: float
    years: float | None
    run_id: str
    destinations: tuple[str, ...] = ()
    keep_metrics: bool = True
    values: tuple[tuple[str, float], ...] = ()
    #: the calendar years the headline outcomes are read over, and user-defined outcomes
    window: Window = Window()
    custom: tuple[OutcomeDef, ...] = ()
    #: how the run is made, stored with it (`narcoflow.results.provenance.attach` keywords:
    #: policy, levers, draw); ``values`` are added to its levers and drawn parameters
    provenance: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def outcome_names(self) -> list[str]:
        """The outcomes this run records (`narcoflow.experiments.outcomes.outcomes_for`)."""
        return list(outcomes_for(self.destinations, self.window, self.custom))

    def outcomes(self, metrics: pd.DataFrame) -> dict[str, float]:
        """This run's outcomes from its metrics table."""
        return outcomes_of(metrics, destinations=self.destinations, window=self.window,
                           custom=self.custom)


@dataclass
class RunOutput:
    """What a worker sends back: the outcomes, and the full results when they are kept."""

    run_id: str
    outcomes: dict[str, float]
    results: Results | None
    seconds: float       #: wall time of the run in the worker
    cpu_seconds: float   #: CPU time of the run in the worker


def execute_spec(spec: RunSpec) -> RunOutput:
    """Run one simulation (in a worker) and return its outcomes (and results)."""
    from narcoflow.engine import Simulation

    t0, c0 = time.perf_counter(), time.process_time()
    scenario = scenario_at(spec.scenario, dict(spec.values)) if spec.values else spec.scenario
    sim = Simulation(scenario, seed=spec.seed, scale=spec.scale, years=spec.years).run()
    res = sim.results
    if res.run_id != spec.run_id:
        raise NarcoflowError(f"Run {spec.run_id} came back with id {res.run_id}: the engine's source "
                             "changed while the experiment ran (run ids include an engine fingerprint), "
                             "or planned_run_id no longer mirrors the engine. Run the command again.")
    _attach_provenance(res.info, spec)
    out = spec.outcomes(res.metrics)
    kept = None
    if spec.keep_metrics:  # categorical keys: a third of the bytes to send back; stored the same
        metrics = res.metrics.astype({c: "category" for c in ("metric", "drug", "region", "channel")})
        kept = Results(metrics=metrics, info=res.info)
    return RunOutput(run_id=res.run_id, outcomes=out, results=kept, seconds=time.perf_counter() - t0,
                     cpu_seconds=time.process_time() - c0)


def _attach_provenance(info: dict[str, Any], spec: RunSpec) -> None:
    """Write the spec's policy, levers and draw into the run's info. A sweep's or sensitivity
    analysis's ``values`` join them: levers on top of the scenario's (``baseline+custom``, as
    `narcoflow run --lever` names it), parameters as a draw of source ``set``."""
    from narcoflow.experiments.levers import LEVERS
    from narcoflow.results.provenance import attach, with_extra

    prov = dict(spec.provenance)
    policy, levers = prov.get("policy"), dict(prov.get("levers") or {})
    draw = dict(prov["draw"]) if prov.get("draw") else None
    values = dict(spec.values)
    if values:
        policy, levers = with_extra(policy, levers, {k: v for k, v in values.items() if k in LEVERS})
    params = {k: float(v) for k, v in values.items() if k not in LEVERS}
    if params:
        draw = {**(draw or {"source": "set"}), "values": {**((draw or {}).get("values") or {}), **params}}
    attach(info, policy=policy, levers=levers, draw=draw)


@dataclass(frozen=True)
class PlannedRun:
    """One row of table ``experiments``."""

    point: int
    policy: str | None
    replication: int
    seed: int
    run_id: str


@dataclass
class Plan:
    """The runs of one experiment, in the order they are handed out."""

    kind: str
    scenario: str
    scale: float
    steps: int
    rows: list[PlannedRun]
    specs: dict[str, RunSpec]
    definition: dict[str, Any] = field(default_factory=dict)
    values: pd.DataFrame | None = None  # point, parameter, value

    @property
    def experiment_id(self) -> str:
        """A hash of what the experiment computes: the same command gives the same id."""
        key = {"kind": self.kind,
               "rows": [(r.point, r.policy, r.replication, r.seed, r.run_id) for r in self.rows],
               "definition": self.definition}
        return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:16]

    @property
    def run_ids(self) -> list[str]:
        """Distinct run ids in plan order."""
        return list(dict.fromkeys(r.run_id for r in self.rows))

    def experiment_rows(self, run_id: str, experiment_id: str) -> list[dict[str, Any]]:
        return [{"experiment_id": experiment_id, "kind": self.kind, "point": r.point,
                 "policy": r.policy, "replication": r.replication, "seed": r.seed,
                 "scale": self.scale, "steps": self.steps, "run_id": r.run_id}
                for r in self.rows if r.run_id == run_id]


@dataclass
class Progress:
    """Counts of an experiment's execution, passed to the progress callback."""

    total: int
    skipped: int
    done: int = 0
    seconds: list[float] = field(default_factory=list)      #: wall time of each run in its worker
    cpu_seconds: list[float] = field(default_factory=list)  #: CPU time of each run in its worker

    @property
    def completed(self) -> int:
        return self.skipped + self.done


def run_plan(plan: Plan, db: str | Path, executor: Executor | None = None, *,
             keep_metrics: bool = True,
             progress: Callable[[Progress], None] | None = None) -> Progress:
    """Execute the runs of ``plan`` not yet committed to ``db``; commit each as it finishes.

    Parameters
    ----------
    plan : Plan
        From `plan_compare`, `plan_sweep` or `plan_sensitivity`.
    db : path
        DuckDB results file (created if missing).
    executor : Executor, optional
        Default: `LocalExecutor` (this process).
    keep_metrics : bool
        Store every run's ``runs`` row and metrics (`narcoflow.results.store.save`) as well as
        its outcomes.
    progress : callable, optional
        Called with a `Progress` once before the first run and after each run.

    Returns
    -------
    Progress
        How many runs were skipped (already stored) and run.
    """
    eid = plan.experiment_id
    tables.check_writable(db)
    ids = plan.run_ids
    names = sorted({n for rid in ids for n in plan.specs[rid].outcome_names})
    done = tables.done_runs(db, ids, with_metrics=keep_metrics, outcomes=names)
    stored = tables.done_runs(db, [rid for rid in ids if rid not in done], with_metrics=True,
                              outcomes=None, need_outcomes=False)
    if stored:  # runs kept earlier without some of these outcomes (another window): no re-run
        from narcoflow.results.store import load_metrics

        for rid in stored:
            tables.record_runs(db, {rid: plan.specs[rid].outcomes(load_metrics(db, rid))}, [])
        done = tables.done_runs(db, ids, with_metrics=keep_metrics, outcomes=names)
    pending = [dataclasses.replace(plan.specs[rid], keep_metrics=keep_metrics) for rid in ids if rid not in done]
    state = Progress(total=len(ids), skipped=len(ids) - len(pending))
    executor = executor or LocalExecutor()
    with executor if pending else contextlib.nullcontext():  # connect before writing anything
        tables.write_experiment(db, experiment_id=eid, kind=plan.kind, scenario=plan.scenario,
                                runs=len(plan.rows), version=ENGINE_VERSION,
                                definition=plan.definition, values=plan.values)
        if done:  # runs stored earlier (by this or another experiment) join this experiment now
            tables.record_runs(db, {}, [row for rid in ids if rid in done
                                        for row in plan.experiment_rows(rid, eid)])
        if progress is not None:
            progress(state)
        if pending:
            for out in executor.imap_unordered(execute_spec, pending):
                if out.results is not None:
                    tables.save_run(out.results, db)
                tables.record_runs(db, {out.run_id: out.outcomes}, plan.experiment_rows(out.run_id, eid))
                state.done += 1
                state.seconds.append(out.seconds)
                state.cpu_seconds.append(out.cpu_seconds)
                del out
                if progress is not None:
                    progress(state)
    return state


def check_complete(frame: pd.DataFrame, plan: Plan) -> None:
    """Raise if some run of ``plan`` has no stored outcomes."""
    have = set(frame["run_id"]) if len(frame) else set()
    missing = [rid for rid in plan.run_ids if rid not in have]
    if missing:
        raise NarcoflowError(f"{len(missing)} run(s) of experiment {plan.experiment_id} have no stored "
                             "outcomes; run the same command again to finish it.")


def distinct(values: Sequence[str]) -> list[str]:
    """``values`` without repeats, first occurrence kept."""
    return list(dict.fromkeys(values))
