"""Global sensitivity analysis with SALib over a scenario's uncertain parameters.

The inputs are the parameters that carry a ``range`` in the scenario file
(`narcoflow.scenario.uncertain_parameters`), or a chosen subset. Samples come from SALib
(Sobol: Saltelli/Sobol' sequence, ``samples x (D + 2)`` runs; Morris: ``samples`` trajectories,
``samples x (D + 1)`` runs), each run with the same seed (common random numbers, so the indices
measure the parameters and not the noise between seeds). Indices come with SALib's bootstrap
95 % confidence intervals (seeded): Sobol ``S1`` and ``ST``; Morris ``mu_star`` (with CI),
``mu`` and ``sigma``.

References
----------
Saltelli, A. et al. (2010). Variance based sensitivity analysis of model output. Computer
Physics Communications 181, 259-270. https://doi.org/10.1016/j.cpc.2009.09.018
Campolongo, F., Cariboni, J., Saltelli, A. (2007). An effective screening design for
sensitivity analysis of large models. Environ. Model. Softw. 22, 1509-1518.
https://doi.org/10.1016/j.envsoft.2006.10.004

Examples
--------
>>> from narcoflow.scenario import load
>>> problem = sensitivity_problem(load("north-korea-2011"), ["state.siphon_rate", "private.purity"])
>>> problem["names"], problem["bounds"]
(['state.siphon_rate', 'private.purity'], [[0.0, 0.25], [0.3, 0.8]])
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from narcoflow.errors import NarcoflowError
from narcoflow.experiments import tables
from narcoflow.experiments.executors import Executor
from narcoflow.experiments.outcomes import check_outcome
from narcoflow.experiments.runner import Plan, check_complete, run_plan
from narcoflow.experiments.sweeps import check_name, plan_points
from narcoflow.scenario import Scenario, uncertain_parameters

METHODS = ("sobol", "morris")
MORRIS_LEVELS = 4
RESAMPLES = 200


def sensitivity_problem(scenario: Scenario, names: Sequence[str] | None = None) -> dict:
    """SALib ``problem`` for the uncertain parameters (all, or ``names``), bounds from their ranges.

    Parameters whose range has zero width are left out.
    """
    uncertain = uncertain_parameters(scenario)
    if names:
        for n in names:
            check_name(scenario, n)
            if n not in uncertain:
                raise NarcoflowError(f"--param {n!r} has no range in scenario {scenario.name!r}; "
                                     "sensitivity analysis needs one (add `range: [LOW, HIGH]` in a "
                                     "scenario file with 'base:').")
        chosen = {n: uncertain[n] for n in dict.fromkeys(names)}
    else:
        chosen = uncertain
    chosen = {n: p for n, p in chosen.items() if p.range[1] > p.range[0]}
    if not chosen:
        raise NarcoflowError(f"Scenario {scenario.name!r} has no uncertain parameter (with a range of "
                             "non-zero width) to analyse.")
    return {"num_vars": len(chosen), "names": list(chosen),
            "bounds": [[float(p.range[0]), float(p.range[1])] for p in chosen.values()]}


def sample(method: str, problem: dict, samples: int, *, seed: int = 0) -> np.ndarray:
    """The SALib sample matrix (rows: runs, columns: ``problem["names"]``)."""
    if method == "sobol":
        if samples < 2 or samples & (samples - 1):
            raise NarcoflowError(f"--samples {samples}: Sobol sampling needs a power of 2 "
                                 "(2, 4, 8, 16, ...).")
        from SALib.sample import sobol

        return sobol.sample(problem, samples, calc_second_order=False, seed=seed)
    if method == "morris":
        if samples < 2:
            raise NarcoflowError(f"--samples {samples}: Morris needs at least 2 trajectories.")
        from SALib.sample import morris

        return morris.sample(problem, samples, num_levels=MORRIS_LEVELS, seed=seed)
    raise NarcoflowError(f"--method {method!r} is not one of {', '.join(METHODS)}.")


def analyze(method: str, problem: dict, X: np.ndarray, Y: np.ndarray, *, seed: int = 0) -> pd.DataFrame:
    """Indices with 95 % confidence intervals: ``parameter, statistic, value, ci_low, ci_high``."""
    Y = np.asarray(Y, dtype=float)
    rows = []
    if not np.isfinite(Y).all():
        raise NarcoflowError("The outcome is not finite in every run; choose another --outcome.")
    constant = np.ptp(Y) == 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        if method == "sobol":
            from SALib.analyze import sobol

            res = None if constant else sobol.analyze(problem, Y, calc_second_order=False,
                                                      num_resamples=RESAMPLES, seed=seed)
            for i, name in enumerate(problem["names"]):
                for stat in ("S1", "ST"):
                    v = float(res[stat][i]) if res is not None else 0.0
                    c = float(res[f"{stat}_conf"][i]) if res is not None else 0.0
                    rows.append((name, stat, v, v - c, v + c))
        else:
            from SALib.analyze import morris

            res = morris.analyze(problem, X, Y, num_resamples=RESAMPLES, num_levels=MORRIS_LEVELS,
                                 seed=seed)
            for i, name in enumerate(problem["names"]):
                v, c = float(res["mu_star"][i]), float(res["mu_star_conf"][i])
                rows.append((name, "mu_star", v, v - c, v + c))
                rows.append((name, "mu", float(res["mu"][i]), np.nan, np.nan))
                rows.append((name, "sigma", float(res["sigma"][i]), np.nan, np.nan))
    return pd.DataFrame(rows, columns=["parameter", "statistic", "value", "ci_low", "ci_high"])


def plan_sensitivity(scenario: Scenario, *, method: str, samples: int, names: Sequence[str] | None = None,
                     seed: int = 0, scale: float, years: float | None = None) -> tuple[Plan, dict, np.ndarray]:
    """The plan (one run per sample row, all with ``seed``), the SALib problem and the samples."""
    problem = sensitivity_problem(scenario, names)
    X = sample(method, problem, samples, seed=seed)
    points = pd.DataFrame(X, columns=problem["names"])
    definition = {"method": method, "samples": samples, "problem": problem}
    plan = plan_points("sensitivity", scenario, points, replications=1, seed=seed, scale=scale,
                       years=years, definition=definition)
    return plan, problem, X


def sensitivity_table(db: str | Path, plan: Plan, problem: dict, X: np.ndarray,
                      outcomes: Sequence[str]) -> pd.DataFrame:
    """Indices for each outcome from the stored outcomes of a finished analysis."""
    frame = tables.experiment_outcomes(db, plan.experiment_id)
    check_complete(frame, plan)
    method = plan.definition["method"]
    parts = []
    for outcome in outcomes:
        y = (frame[frame["metric"] == outcome].set_index("point")["value"]
             .reindex(range(len(X))).to_numpy(float))
        part = analyze(method, problem, X, y, seed=plan.definition["seed"])
        part.insert(0, "outcome", outcome)
        part.insert(0, "method", method)
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def sensitivity(scenario: Scenario, *, method: str, samples: int, outcomes: Sequence[str],
                db: str | Path, names: Sequence[str] | None = None, seed: int = 0, scale: float,
                years: float | None = None, executor: Executor | None = None,
                keep_metrics: bool = False, progress=None) -> tuple[Plan, pd.DataFrame]:
    """Run (or resume) a sensitivity analysis and write table ``sensitivity``."""
    dests = [d.name for d in scenario.border.destinations]
    for o in outcomes:
        check_outcome(o, dests)
    plan, problem, X = plan_sensitivity(scenario, method=method, samples=samples, names=names,
                                        seed=seed, scale=scale, years=years)
    run_plan(plan, db, executor, keep_metrics=keep_metrics, progress=progress)
    table = sensitivity_table(db, plan, problem, X, outcomes)
    tables.write_sensitivity(db, plan.experiment_id, table)
    return plan, table
