"""Experiments: interventions (levers, policies), comparisons, sweeps and sensitivity analysis,
on this machine or a Dask cluster, resumable and stored in the results database.

Vocabulary (as in EMA Workbench and SALib): a *lever* is an intervention's knob
(`narcoflow.scenario.policy.LEVERS`); a *policy* is a named set of lever settings; an *uncertain
parameter* is a scenario parameter with a ``range``; an *outcome* is a scalar read from a run
(`OUTCOMES`). See docs/experiments.md.

Examples
--------
>>> from narcoflow.scenario import load
>>> from narcoflow.experiments import apply_policy, plan_compare
>>> sc = apply_policy(load("north-korea-2011"), "demand-reduction")
>>> sc.consumption.quit_rate_per_week.value
0.012
"""

import importlib
from typing import Any

#: public name -> module that defines it (imported on first use: `import narcoflow.cli` stays fast)
_EXPORTS = {
    "compare": "comparison", "comparison_table": "comparison", "plan_compare": "comparison",
    "comparison_parameter_sets": "comparison", "fan_series": "comparison", "fan_quantiles": "comparison",
    "DaskExecutor": "executors", "Executor": "executors", "LocalExecutor": "executors",
    "ProcessExecutor": "executors", "default_workers": "executors", "make_executor": "executors",
    "BASELINE": "levers", "TRANSFORMS": "levers", "apply_levers": "levers", "apply_policy": "levers",
    "load_policy_file": "levers", "resolve_policy": "levers",
    "OUTCOMES": "outcomes", "Outcome": "outcomes", "outcomes_for": "outcomes", "outcomes_of": "outcomes",
    "Plan": "runner", "RunSpec": "runner", "execute_spec": "runner", "planned_run_id": "runner",
    "run_plan": "runner",
    "plan_sensitivity": "sensitivity_analysis", "sensitivity": "sensitivity_analysis",
    "compare_table": "stats", "t_interval": "stats", "bootstrap_interval": "stats",
    "paired_effect": "stats", "few_replications": "stats", "FewReplicationsWarning": "stats",
    "OutcomeDef": "outcomes", "Window": "outcomes", "outcome_title": "outcomes",
    "estimate": "estimates", "estimate_table": "estimates", "plan_estimate": "estimates",
    "decompose": "estimates",
    "plan_sweep": "sweeps", "sweep": "sweeps", "sweep_points": "sweeps", "sweep_table": "sweeps",
}
_SCHEMA_EXPORTS = ("LEVERS", "LeverSpec", "Policy")


def __getattr__(name: str) -> Any:
    if name in _SCHEMA_EXPORTS:
        return getattr(importlib.import_module("narcoflow.scenario.policy"), name)
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"narcoflow.experiments.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'narcoflow.experiments' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "BASELINE",
    "LEVERS",
    "OUTCOMES",
    "TRANSFORMS",
    "DaskExecutor",
    "FewReplicationsWarning",
    "Executor",
    "LeverSpec",
    "LocalExecutor",
    "Outcome",
    "OutcomeDef",
    "Plan",
    "Policy",
    "ProcessExecutor",
    "RunSpec",
    "Window",
    "apply_levers",
    "apply_policy",
    "bootstrap_interval",
    "compare",
    "compare_table",
    "comparison_parameter_sets",
    "comparison_table",
    "decompose",
    "default_workers",
    "estimate",
    "estimate_table",
    "execute_spec",
    "fan_quantiles",
    "fan_series",
    "few_replications",
    "load_policy_file",
    "make_executor",
    "outcome_title",
    "outcomes_for",
    "outcomes_of",
    "paired_effect",
    "plan_compare",
    "plan_estimate",
    "plan_sensitivity",
    "plan_sweep",
    "planned_run_id",
    "resolve_policy",
    "run_plan",
    "sensitivity",
    "sweep",
    "sweep_points",
    "sweep_table",
    "t_interval",
]
