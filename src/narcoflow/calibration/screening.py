"""Screening: which uncertain parameters move the targets (Morris elementary effects, SALib).

Every uncertain parameter of the scenario (or a chosen list) is varied over its range along
``trajectories`` Morris trajectories (Campolongo, Cariboni & Saltelli 2007; ``trajectories x
(D + 1)`` runs, 4 levels), every run with the same seed (common random numbers). The output of
each compared target is its log value (`Target.transform`), so effects on grams, dollars and
persons are comparable. ``replicates`` more runs at the scenario's own values with other seeds
estimate the run-to-run variance (`narcoflow.calibration.measurement.model_variance`).

Per parameter and target, SALib's ``mu_star`` (mean absolute elementary effect: about the change
of the log output when the parameter goes over its range) is divided by the target's total
standard deviation sqrt(V_obs + V_disc + V_model) (`narcoflow.calibration.measurement`):
``scaled`` = how many standard deviations of the comparison the parameter moves the target. A
parameter is *influential* if, for some target, ``scaled >= threshold`` (default 1) and
``mu_star`` is at least `NOISE_FACTOR` (8) times the effect that seed noise alone would give
(``noise_mu_star = sqrt(2 V_model) sqrt(2 / pi) / delta``; common random numbers do not remove
it in an agent-based model, whose random streams diverge when a parameter changes). `rank`
orders parameters by their best rank within a target, then by their largest ``scaled``. A lumpy
target (a year's seizures abroad, made of a few lots) can have no parameter above its noise: the
ranking then names none of its levers, and they must be added by hand (the shipped
calibration adds Japan's interdiction for ``japan_seized_1999``).

Reference: Campolongo, F., Cariboni, J., Saltelli, A. (2007). An effective screening design for
sensitivity analysis of large models. Environ. Model. Softw. 22, 1509-1518.
https://doi.org/10.1016/j.envsoft.2006.10.004
"""

from __future__ import annotations

import datetime as dt
import json
import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from narcoflow.calibration.batch import Buffer, Simulator, read_table, run_jobs
from narcoflow.calibration.history import Problem, history_id
from narcoflow.calibration.measurement import model_variance, variances
from narcoflow.calibration.storage import _connect, _replace_rows
from narcoflow.calibration.targets import Targets
from narcoflow.errors import NarcoflowError
from narcoflow.experiments.executors import Executor

#: DuckDB tables of a screening
TABLES = ("screenings", "screening_runs", "screening_effects", "screening_ranking")
LEVELS = 4
DELTA = LEVELS / (2 * (LEVELS - 1))  # SALib's step in the unit cube


def morris_sample(problem: Problem, trajectories: int, seed: int) -> np.ndarray:
    """The Morris design in the unit cube (rows: runs)."""
    from SALib.sample import morris

    if trajectories < 2:
        raise NarcoflowError(f"--trajectories {trajectories}: Morris needs at least 2 trajectories.")
    p = {"num_vars": len(problem.names), "names": list(problem.names), "bounds": [[0.0, 1.0]] * len(problem.names)}
    return morris.sample(p, trajectories, num_levels=LEVELS, seed=seed)


def screen_problem(problem: Problem, db: str | Path, sid: str, *, trajectories: int = 10, replicates: int = 4,
                   seed: int = 0, threshold: float = 1.0, base: Mapping[str, float] | None = None,
                   executor: Executor | None = None, info: dict | None = None,
                   on_runs: Callable[[int, int], None] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Run (or resume) a screening; returns (effects, ranking) and stores them.

    ``base``: the values of the replicated runs (default: the middle of every range).
    """
    from SALib.analyze import morris

    db = Path(db).resolve()
    U = morris_sample(problem, trajectories, seed)
    base_u = np.array([0.5] * len(problem.names)) if base is None else np.array(
        [(base[n] - lo) / (hi - lo) for n, (lo, hi) in zip(problem.names, problem.bounds, strict=True)])
    jobs = [(i, problem.values(u), seed) for i, u in enumerate(U)]
    jobs += [(-1 - k, problem.values(base_u), seed + 1 + k) for k in range(replicates)]
    with _connect(db) as con:
        _replace_rows(con, "screenings", pd.DataFrame([{
            "screening_id": sid, "parameters": json.dumps(problem.names),
            "bounds": json.dumps(problem.bounds.tolist()), "trajectories": trajectories, "replicates": replicates,
            "seed": seed, "threshold": threshold,
            **{k: (v if isinstance(v, str) else json.dumps(v, default=str)) for k, v in (info or {}).items()},
            "created_at": dt.datetime.now(dt.UTC).replace(tzinfo=None)}]), "screening_id = ?", [sid])
    have = read_table(db, "screening_runs", "screening_id = ?", [sid])
    done = set(have["row"]) if not have.empty else set()
    todo = [j for j in jobs if j[0] not in done]
    names = [t.name for t in problem.targets]
    buf = Buffer(db, "screening_runs", ["screening_id", "row"])
    count = [len(jobs) - len(todo)]

    def on_result(key, out):
        buf.add([{"screening_id": sid, "row": int(key), "target": n, "value": float(out[n])} for n in names])
        count[0] += 1
        if on_runs:
            on_runs(count[0], len(jobs))

    if on_runs:
        on_runs(count[0], len(jobs))
    try:
        run_jobs(problem.simulator, todo, executor, on_result)
    finally:
        buf.flush()
    runs = read_table(db, "screening_runs", "screening_id = ?", [sid])
    tmap = {t.name: t for t in problem.targets}
    runs = runs[runs["target"].isin(names)].copy()
    runs["z"] = [tmap[n].transform(v) for n, v in zip(runs["target"], runs["value"], strict=True)]
    reps = runs[runs["row"] < 0].rename(columns={"row": "point"}).assign(point=0)
    mvar = model_variance(reps[["point", "target", "z"]]) if len(reps) else {}
    sal = {"num_vars": len(problem.names), "names": list(problem.names), "bounds": [[0.0, 1.0]] * len(problem.names)}
    rows = []
    for t in problem.targets:
        y = runs[(runs["target"] == t.name) & (runs["row"] >= 0)].set_index("row")["z"].reindex(range(len(U)))
        y = y.to_numpy(float)
        v = variances(t, mvar.get(t.name, 0.0))
        sd = math.sqrt(float(v["total"]))
        noise = math.sqrt(2 * v["model"]) * math.sqrt(2 / math.pi) / DELTA
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            res = morris.analyze(sal, U, y, num_resamples=200, num_levels=LEVELS, seed=seed)
        for i, p in enumerate(problem.names):
            ms = float(res["mu_star"][i])
            rows.append({"screening_id": sid, "parameter": p, "target": t.name, "role": t.role, "mu_star": ms,
                         "mu_star_conf": float(res["mu_star_conf"][i]), "mu": float(res["mu"][i]),
                         "sigma": float(res["sigma"][i]), "total_sd": sd, "noise_mu_star": noise,
                         "scaled": ms / sd, "above_noise": bool(ms >= NOISE_FACTOR * noise)})
    effects = pd.DataFrame(rows)
    ranking = rank(effects, threshold)
    with _connect(db) as con:
        _replace_rows(con, "screening_effects", effects, "screening_id = ?", [sid])
        _replace_rows(con, "screening_ranking", ranking, "screening_id = ?", [sid])
    return effects, ranking


#: an effect counts only when its mu_star is at least this many times what seed noise alone gives.
#: With D parameters x T targets effects from few trajectories, a factor of 2 lets hundreds of
#: noise-only effects through: north-korea-2011 at scale 0.02 (6 trajectories, 152 parameters,
#: 14 fitted targets) had 121 parameters "influential", heroin's share of users among the
#: strongest levers of Japan's 1999 deliveries; at 8 the levers left are the mechanistic ones
#: (40 parameters; BENCHMARKS.md, "Calibration of north-korea-2011")
NOISE_FACTOR = 8.0


def rank(effects: pd.DataFrame, threshold: float = 1.0, noise_factor: float = NOISE_FACTOR) -> pd.DataFrame:
    """One row per parameter, most useful for calibration first.

    An effect *moves* a target when ``scaled >= threshold`` and ``mu_star >= noise_factor *
    noise_mu_star``; floors (targets any run meets) are not counted. Within each target the
    parameters that move it are ranked by scaled effect (``target_rank`` 1 = the strongest lever
    of that target); a parameter's ``best_target_rank`` is its best such rank over the targets.
    Parameters are ordered by that, then by their largest scaled effect, so that the first K hold
    the strongest levers of every target rather than K levers of the one most sensitive target.
    Columns: rank, parameter, max_scaled, target (where it is largest), targets_moved,
    best_target_rank, best_target (the target where it ranks best), influential.
    """
    e = effects
    if "role" in e:
        e = e[e["role"] != "floor"]
    e = e.assign(moves=(e["scaled"] >= threshold) & (e["mu_star"] >= noise_factor * e["noise_mu_star"]))
    top = e.sort_values("scaled", ascending=False, kind="stable").groupby("parameter", sort=False).first()
    moved = e.groupby("parameter")["moves"].sum()
    m = e[e["moves"]].copy()
    m["target_rank"] = m.groupby("target")["scaled"].rank(ascending=False, method="first")
    best = m.sort_values(["target_rank", "scaled"], ascending=[True, False], kind="stable").groupby("parameter").first()
    out = pd.DataFrame({"parameter": top.index, "max_scaled": top["scaled"].to_numpy(),
                        "target": top["target"].to_numpy(),
                        "targets_moved": moved.reindex(top.index).to_numpy().astype(int),
                        "best_target_rank": best["target_rank"].reindex(top.index).to_numpy(),
                        "best_target": best["target"].reindex(top.index).to_numpy()})
    out["influential"] = out["targets_moved"] > 0
    out = out.sort_values(["influential", "best_target_rank", "max_scaled"], ascending=[False, True, False],
                          kind="stable", ignore_index=True, na_position="last")
    out.insert(0, "rank", range(1, len(out) + 1))
    if "screening_id" in effects:
        out.insert(0, "screening_id", effects["screening_id"].iloc[0])
    return out


def screen(scenario, targets: Targets, db: str | Path, *, params: Sequence[str] | None = None,
           trajectories: int = 10, replicates: int = 4, scale: float = 0.02, years: float | None = None,
           seed: int = 0, threshold: float = 1.0, executor: Executor | None = None, labels: dict | None = None,
           on_runs: Callable[[int, int], None] | None = None,
           simulator: Simulator | None = None) -> tuple[str, pd.DataFrame, pd.DataFrame]:
    """Screen ``params`` (default: every uncertain parameter of ``scenario`` with a range of non-zero
    width) against the compared targets with the engine; rerun to resume. Returns (screening id,
    effects, ranking)."""
    from narcoflow.calibration.history import problem_for
    from narcoflow.calibration.targets import check_period
    from narcoflow.scenario import uncertain_parameters

    check_period(targets, scenario, years)
    unc = uncertain_parameters(scenario)
    names = list(params) if params else [p for p, v in unc.items() if v.range[1] > v.range[0]]
    if not names:
        raise NarcoflowError(f"Scenario {scenario.name!r} has no uncertain parameter (with a range) to screen.")
    problem = problem_for(scenario, targets, names, scale, years, simulator)
    base = {p: float(unc[p].value) for p in names}
    sid = history_id({"scenario": scenario.model_dump(mode="json"), "targets": targets.model_dump(mode="json"),
                      "params": names, "trajectories": trajectories, "replicates": replicates, "scale": scale,
                      "years": years, "seed": seed, "screening": True})
    info = {"scenario": scenario.name, "scenario_ref": (labels or {}).get("scenario", scenario.name),
            "targets_ref": (labels or {}).get("targets", targets.name), "scale": scale, "years": years}
    eff, rk = screen_problem(problem, db, sid, trajectories=trajectories, replicates=replicates, seed=seed,
                             threshold=threshold, base=base, executor=executor, info=info, on_runs=on_runs)
    return sid, eff, rk


def screened_parameters(db: str | Path, prefix: str, top: int | None = None) -> list[str]:
    """The influential parameters of a stored screening (id or unique prefix), best first (`rank`,
    recomputed from the stored effects, so a screening stored before a change of the rule ranks by
    today's rule); ``top``: at most that many."""
    effects = read_table(Path(db), "screening_effects", "screening_id LIKE ?", [f"{prefix}%"])
    if effects.empty:
        raise NarcoflowError(f"No screening {prefix!r} in {db}")
    if effects["screening_id"].nunique() > 1:
        raise NarcoflowError(f"Screening prefix {prefix!r} is ambiguous in {db}")
    info = read_table(Path(db), "screenings", "screening_id = ?", [effects["screening_id"].iloc[0]])
    threshold = float(info["threshold"].iloc[0]) if len(info) and "threshold" in info else 1.0
    rows = rank(effects, threshold)
    chosen = list(rows.loc[rows["influential"], "parameter"])
    if not chosen:
        raise NarcoflowError(f"Screening {prefix!r} found no influential parameter; name them with --params")
    return chosen[:top] if top else chosen
