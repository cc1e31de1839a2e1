"""History matching in waves with Gaussian-process emulators (issue 14).

Each wave (Vernon, Goldstein & Bower 2010; Andrianakis et al. 2015):

1. runs the model at a space-filling design inside the space not yet ruled out (wave 0: a Latin
   hypercube over the parameters' ranges; later: points drawn from what the previous waves left),
   the first ``replicate_points`` points with ``replicates`` seeds each, to estimate the run-to-run
   variance (`narcoflow.calibration.measurement.model_variance`);
2. fits one emulator per compared target (scikit-learn ``GaussianProcessRegressor`` on the
   target's log output, inputs scaled to the unit cube; noise per point = run-to-run variance over
   its number of seeds, plus a fitted white-noise term) and validates it by leave-one-out;
3. draws ``candidates`` points (Latin hypercube) in the box that holds what the previous wave left,
   computes each target's implausibility with the emulator's mean and variance
   (`narcoflow.calibration.measurement.implausibility`), and keeps the points whose largest
   implausibility is at most ``cutoff`` under the emulators of this and every earlier wave; the
   non-implausible fraction of the space is the box's share of the prior box times the share of
   candidates kept;
4. picks the next wave's design among the kept points.

Everything is stored in the DuckDB file as it is made (design before its runs, runs as they
finish, the wave's results at its end), so a rerun of the same history match (same id) reads what
is there, runs only the missing runs, refits the earlier waves' emulators from their stored runs
(deterministic) and goes on; asking for more waves extends it. Tables (all keyed by
``history_id``): `TABLES`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from narcoflow import DEFAULT_SCALE
from narcoflow.calibration.batch import Buffer, Simulator, read_table, run_jobs
from narcoflow.calibration.emulators import Wave, fit_wave, validate
from narcoflow.calibration.measurement import CUTOFF
from narcoflow.calibration.storage import _connect, _replace_rows
from narcoflow.calibration.targets import Target, Targets
from narcoflow.errors import NarcoflowError
from narcoflow.experiments.executors import Executor

#: DuckDB tables of a history match
TABLES = ("history_matches", "history_design", "history_runs", "history_waves", "history_emulators",
          "history_nroy")

#: the box of the next wave is the kept points' bounding box widened by this share of its width
#: on each side (clipped to the ranges), so that the space not ruled out stays inside it
WIDEN = 0.1


@dataclass(frozen=True)
class Settings:
    """How the waves are made (all part of the history id, except ``waves``)."""

    points: int = 0  #: design points per wave (0: 10 per parameter)
    cutoff: float = CUTOFF  #: implausibility above which a point is ruled out
    replicate_points: int = 4  #: design points of each wave run with several seeds
    replicates: int = 3  #: seeds per replicated point
    candidates: int = 5000  #: candidate points per round when estimating what is left
    max_rounds: int = 20  #: rounds of candidates to find a design in a small remaining space
    keep: int = 500  #: kept (non-implausible) points stored per wave
    restarts: int = 2  #: optimizer restarts of each Gaussian process fit
    seed: int = 0  #: seeds the designs, the candidates and every run
    extra: dict = field(default_factory=dict)  #: what the caller adds to the id (scale, years, ...)

    def n_points(self, d: int) -> int:
        return self.points or 10 * d


def history_id(blob: dict) -> str:
    return hashlib.sha256(json.dumps(blob, sort_keys=True, default=str).encode()).hexdigest()[:16]


def run_seed(seed: int, wave: int, point: int, replicate: int) -> int:
    """The seed of one run: distinct for every (wave, point, replicate), reproducible."""
    return int(np.random.SeedSequence([seed, wave, point, replicate]).generate_state(1)[0] % (2**31))


def _lhs(n: int, box: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    from scipy.stats import qmc

    u = qmc.LatinHypercube(d=len(box), seed=rng).random(n)
    return box[:, 0] + u * (box[:, 1] - box[:, 0])


# ---------------------------------------------------------------------------- storage
def _store(db: Path, table: str, frame: pd.DataFrame, where: str, params: list) -> None:
    with _connect(db) as con:
        _replace_rows(con, table, frame, where, params)


def _read(db: Path, table: str, hid: str, wave: int | None = None) -> pd.DataFrame:
    if wave is None:
        return read_table(db, table, "history_id = ?", [hid])
    return read_table(db, table, "history_id = ? AND wave = ?", [hid, wave])


# ---------------------------------------------------------------------------- the waves
@dataclass
class Problem:
    """What is matched: parameter names and ranges, the compared targets, and the simulator."""

    names: list[str]
    bounds: np.ndarray  # (d, 2)
    targets: list[Target]
    simulator: Simulator

    def values(self, u: np.ndarray) -> dict[str, float]:
        x = self.bounds[:, 0] + np.asarray(u) * (self.bounds[:, 1] - self.bounds[:, 0])
        return {n: float(v) for n, v in zip(self.names, x, strict=True)}


def match(problem: Problem, db: str | Path, hid: str, settings: Settings, *, waves: int,
          executor: Executor | None = None, info: dict | None = None,
          on_wave: Callable[[dict], None] | None = None,
          on_runs: Callable[[int, int, int], None] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Run (or resume) ``waves`` waves of history match ``hid``; returns (waves, emulators) tables.

    ``on_wave(wave row)`` is called after each wave (also for waves found done); ``on_runs(wave,
    finished, total)`` after each run. Stops early when no point is left.
    """
    db = Path(db).resolve()
    d, targets, st = len(problem.names), problem.targets, settings
    if d == 0:
        raise NarcoflowError("History matching needs at least one parameter.")
    if not targets:
        raise NarcoflowError("History matching needs at least one compared target (not waiting).")
    _store(db, "history_matches", pd.DataFrame([{
        "history_id": hid, "parameters": json.dumps(problem.names),
        "bounds": json.dumps(problem.bounds.tolist()), "settings": json.dumps(asdict(st), default=str),
        "targets": json.dumps([t.name for t in targets]),
        **{k: (v if isinstance(v, str) else json.dumps(v, default=str)) for k, v in (info or {}).items()},
        "created_at": dt.datetime.now(dt.UTC).replace(tzinfo=None)}]), "history_id = ?", [hid])
    n_pts = st.n_points(d)
    fitted: list[Wave] = []
    box = np.array([[0.0, 1.0]] * d)
    for w in range(waves):
        done = _read(db, "history_waves", hid, w)
        design = _read(db, "history_design", hid, w)
        if design.empty:
            if w > 0:
                break  # the previous wave left no point (or was the last of an earlier invocation)
            rng = np.random.default_rng([st.seed, 0])
            U = _lhs(n_pts, box, rng)
            design = _design_frame(problem, hid, w, U)
            _store(db, "history_design", design, "history_id = ? AND wave = ?", [hid, w])
        U = _design_units(design)
        runs = _run_wave(problem, db, hid, w, U, st, executor, on_runs)
        wave = fit_wave(targets, runs, d, seed=st.seed, restarts=st.restarts)
        fitted.append(wave)
        if not done.empty:
            row = done.iloc[0].to_dict()
            box = np.array(json.loads(row["next_box"]))
            if on_wave:
                on_wave(row)
            continue
        row, ems, box = _evaluate(problem, hid, w, fitted, box, runs, st)
        _store(db, "history_emulators", ems, "history_id = ? AND wave = ?", [hid, w])
        kept = row.pop("_kept")
        _store(db, "history_nroy", _design_frame(problem, hid, w, kept[: st.keep], column="sample"),
               "history_id = ? AND wave = ?", [hid, w])
        if len(kept):
            nxt = _design_frame(problem, hid, w + 1, kept[:n_pts])
            _store(db, "history_design", nxt, "history_id = ? AND wave = ?", [hid, w + 1])
        _store(db, "history_waves", pd.DataFrame([row]), "history_id = ? AND wave = ?", [hid, w])
        if on_wave:
            on_wave(row)
        if not len(kept):
            break
    return _read(db, "history_waves", hid).sort_values("wave", ignore_index=True), \
        _read(db, "history_emulators", hid).sort_values(["wave", "position"], ignore_index=True)


def _design_frame(problem: Problem, hid: str, wave: int, U: np.ndarray, column: str = "point") -> pd.DataFrame:
    rows = []
    for i, u in enumerate(np.asarray(U).reshape(-1, len(problem.names))):
        vals = problem.values(u)
        for j, name in enumerate(problem.names):
            rows.append({"history_id": hid, "wave": wave, column: i, "parameter_index": j, "parameter": name,
                         "unit": float(u[j]), "value": vals[name]})
    return pd.DataFrame(rows, columns=["history_id", "wave", column, "parameter_index", "parameter", "unit",
                                       "value"])


def _run_wave(problem: Problem, db: Path, hid: str, w: int, U: np.ndarray, st: Settings,
              executor: Executor | None, on_runs) -> pd.DataFrame:
    """The wave's runs (stored ones read back, missing ones run and stored): one row per run and target."""
    plan = [(p, r) for p in range(len(U)) for r in range(st.replicates if p < st.replicate_points else 1)]
    have = _read(db, "history_runs", hid, w)
    done = set(zip(have["point"], have["replicate"], strict=True)) if not have.empty else set()
    todo = [(p, r) for p, r in plan if (p, r) not in done]
    buf = Buffer(db, "history_runs", ["history_id", "wave", "point", "replicate"])
    names = {t.name: t for t in problem.targets}
    count = [len(plan) - len(todo)]

    def on_result(key, out):
        p, r = key
        missing = sorted(set(names) - set(out))
        if missing:
            raise NarcoflowError(f"The simulator gave no value for target(s) {', '.join(missing)}")
        buf.add([{"history_id": hid, "wave": w, "point": p, "replicate": r, "seed": run_seed(st.seed, w, p, r),
                  "target": n, "value": float(out[n])} for n in names])
        count[0] += 1
        if on_runs:
            on_runs(w, count[0], len(plan))

    if on_runs:
        on_runs(w, count[0], len(plan))
    try:
        run_jobs(problem.simulator, [((p, r), problem.values(U[p]), run_seed(st.seed, w, p, r)) for p, r in todo],
                 executor, on_result)
    finally:
        buf.flush()
    return _wave_runs(db, hid, w, U, names)


def _design_units(design: pd.DataFrame) -> np.ndarray:
    """A stored design as (points x parameters) unit-cube coordinates."""
    return design.sort_values(["point", "parameter_index"]).pivot(
        index="point", columns="parameter_index", values="unit").to_numpy()


def _wave_runs(db: Path, hid: str, w: int, U: np.ndarray, targets: dict[str, Target]) -> pd.DataFrame:
    """Wave ``w``'s stored runs of ``targets`` (name -> target) with the log output ``z`` and the
    design point's unit-cube coordinates ``u0..`` per row: what `fit_wave` takes."""
    runs = _read(db, "history_runs", hid, w)
    runs = runs[runs["target"].isin(list(targets))].copy()
    runs["z"] = [targets[n].transform(v) for n, v in zip(runs["target"], runs["value"], strict=True)]
    for i in range(U.shape[1]):
        runs[f"u{i}"] = U[runs["point"].to_numpy(), i]
    return runs


def _evaluate(problem: Problem, hid: str, w: int, fitted: list[Wave], box: np.ndarray, runs: pd.DataFrame,
              st: Settings) -> tuple[dict, pd.DataFrame, np.ndarray]:
    """Implausibility over candidates in ``box``: the wave row, the emulator table, the next box."""
    targets, d, n_pts = problem.targets, len(problem.names), st.n_points(len(problem.names))
    rng = np.random.default_rng([st.seed, w + 1])
    kept, tried, rounds = [], 0, 0
    this_alone = this_min = None
    # more rounds while too few points are kept for the next design (give up after 3 empty rounds)
    while rounds < st.max_rounds and (rounds == 0 or sum(len(k) for k in kept) < n_pts) \
            and not (rounds >= 3 and not sum(len(k) for k in kept)):
        C = _lhs(st.candidates, box, rng)
        imp_now = fitted[-1].implausibilities(targets, C)
        ok = imp_now.max(axis=1) <= st.cutoff
        for earlier in fitted[:-1]:
            ok &= earlier.implausibilities(targets, C).max(axis=1) <= st.cutoff
        if rounds == 0:
            this_alone = (imp_now > st.cutoff).mean(axis=0)
            this_min = imp_now.min(axis=0)
        kept.append(C[ok])
        tried += len(C)
        rounds += 1
    kept_u = np.concatenate(kept) if kept else np.empty((0, d))
    volume = float(np.prod(box[:, 1] - box[:, 0]))
    frac = volume * len(kept_u) / tried
    if len(kept_u):
        lo, hi = kept_u.min(axis=0), kept_u.max(axis=0)
        pad = WIDEN * (hi - lo)
        nxt = np.column_stack([np.clip(lo - pad, 0, 1), np.clip(hi + pad, 0, 1)])
    else:
        nxt = box
    ems = []
    for j, t in enumerate(targets):
        em = fitted[-1].emulators[t.name]
        v = validate(em)
        ems.append({"history_id": hid, "wave": w, "position": j, "target": t.name, "role": t.role,
                    "observation_variance": math.log1p(t.band()[2]) ** 2,
                    "discrepancy_variance": math.log1p(t.discrepancy or 0.0) ** 2,
                    "model_variance": fitted[-1].model_var[t.name], **v,
                    "ruled_out_alone": float(this_alone[j]), "min_implausibility": float(this_min[j]),
                    "kernel": em.kernel})
    n_runs = int(runs.groupby(["point", "replicate"]).ngroups)
    row = {"history_id": hid, "wave": w, "design_points": int(runs["point"].nunique()), "runs": n_runs,
           "candidates": tried, "kept": int(len(kept_u)), "nroy_fraction": frac,
           "box": json.dumps(box.tolist()), "next_box": json.dumps(nxt.tolist()),
           "worst_loo_outside_3": max(e["loo_outside_3"] for e in ems), "_kept": kept_u}
    return row, pd.DataFrame(ems), nxt


# ---------------------------------------------------------------------------- engine front end
def problem_for(scenario, targets: Targets, params: Sequence[str], scale: float, years: float | None,
                simulator: Simulator | None = None) -> Problem:
    """A `Problem` over uncertain parameters ``params`` of ``scenario`` (bounds: their ranges), the
    compared targets, and the engine (`narcoflow.calibration.model.Model.run`) unless ``simulator``."""
    from narcoflow.calibration.model import Model
    from narcoflow.scenario import uncertain_parameters

    unc = uncertain_parameters(scenario)
    params = list(dict.fromkeys(params))
    missing = [p for p in params if p not in unc]
    if missing:
        raise NarcoflowError("Parameters to screen or match must be uncertain parameters of the scenario "
                             f"(with a range); not: {', '.join(missing)}")
    flat = [p for p in params if unc[p].range[1] <= unc[p].range[0]]
    if flat:
        raise NarcoflowError(f"Parameters with a range of zero width cannot be matched: {', '.join(flat)}")
    bounds = np.array([[float(unc[p].range[0]), float(unc[p].range[1])] for p in params])
    sim = simulator or Model(scenario, targets, params, scale, years).run
    return Problem(params, bounds, list(targets.compared), sim)


def history_match(scenario, targets: Targets, db: str | Path, *, params: Sequence[str], waves: int = 3,
                  scale: float = DEFAULT_SCALE, years: float | None = None, settings: Settings | None = None,
                  executor: Executor | None = None, labels: dict | None = None,
                  on_wave: Callable[[dict], None] | None = None,
                  on_runs: Callable[[int, int, int], None] | None = None) -> tuple[str, pd.DataFrame, pd.DataFrame]:
    """History-match ``params`` of ``scenario`` against ``targets`` with the engine; rerun to resume.

    Returns (history id, waves table, emulators table). The id hashes the scenario, the targets, the
    parameters, scale, years and `Settings` (not the number of waves: more waves extend it).
    """
    from narcoflow.calibration.targets import check_period

    check_period(targets, scenario, years)
    st = settings or Settings()
    st = Settings(**{**asdict(st), "extra": {**st.extra, "scale": scale, "years": years}})
    problem = problem_for(scenario, targets, params, scale, years)
    hid = history_id({"scenario": scenario.model_dump(mode="json"), "targets": targets.model_dump(mode="json"),
                      "params": problem.names, "settings": asdict(st)})
    info = {"scenario": scenario.name, "scenario_ref": (labels or {}).get("scenario", scenario.name),
            "targets_ref": (labels or {}).get("targets", targets.name)}
    w, e = match(problem, db, hid, st, waves=waves, executor=executor, info=info, on_wave=on_wave,
                 on_runs=on_runs)
    return hid, w, e


def nroy_box(db: str | Path, hid: str) -> dict[str, tuple[float, float]]:
    """Parameter -> (low, high): the bounding box of the points kept by the last wave of ``hid``
    (in the parameters' units), the prior box for a posterior inside the remaining space."""
    kept = _read(Path(db), "history_nroy", hid)
    waves = _read(Path(db), "history_waves", hid)
    if waves.empty:
        raise NarcoflowError(f"No finished wave of history match {hid!r} in {db}")
    last = int(waves["wave"].max())
    k = kept[kept["wave"] == last] if not kept.empty else kept
    if k.empty:
        raise NarcoflowError(f"The last wave ({last}) of history match {hid!r} left no point: every parameter "
                             "set tried is implausible (see the targets' min_implausibility in "
                             "history_emulators)")
    g = k.groupby("parameter", sort=False)["value"]
    return {p: (float(lo), float(hi)) for p, lo, hi in zip(g.min().index, g.min(), g.max(), strict=True)}


def find_history(db: str | Path, prefix: str) -> dict:
    """The `history_matches` row whose id starts with ``prefix`` (unique)."""
    rows = read_table(Path(db), "history_matches", "history_id LIKE ?", [f"{prefix}%"])
    if rows.empty:
        raise NarcoflowError(f"No history match {prefix!r} in {db}")
    if len(rows) > 1:
        raise NarcoflowError(f"History match prefix {prefix!r} is ambiguous in {db}: "
                             + ", ".join(rows["history_id"]))
    return rows.iloc[0].to_dict()


# ---------------------------------------------------------------------------- the space that remains
@dataclass
class NroyRegion:
    """The non-implausible space a history match left: a point is in it when every wave's
    emulators give it an implausibility of at most ``cutoff`` on every target (the same test that
    kept points during the match). ``names`` and ``bounds`` (d x 2, parameter units) are the match's."""

    names: list[str]
    bounds: np.ndarray
    targets: list[Target]
    waves: list[Wave]
    cutoff: float
    history_id: str = ""

    def contains(self, X: np.ndarray) -> np.ndarray:
        """Boolean per row of ``X`` (points x d, parameter units, columns in the order of ``names``)."""
        X = np.atleast_2d(np.asarray(X, dtype=float))
        U = (X - self.bounds[:, 0]) / (self.bounds[:, 1] - self.bounds[:, 0])
        ok = ((U >= 0) & (U <= 1)).all(axis=1)
        for wave in self.waves:
            if ok.any():
                ok[ok] = wave.implausibilities(self.targets, U[ok]).max(axis=1) <= self.cutoff
        return ok


def nroy_region(db: str | Path, hid: str, targets: Targets) -> NroyRegion:
    """Refit every finished wave's emulators of history match ``hid`` from its stored runs (the fit
    is deterministic: the same emulators the match used) and return the space they leave."""
    db = Path(db)
    hm = find_history(db, hid)
    hid = hm["history_id"]
    names = json.loads(hm["parameters"])
    bounds = np.array(json.loads(hm["bounds"]), dtype=float)
    st = json.loads(hm["settings"])
    by_name = {t.name: t for t in targets.compared}
    missing = [n for n in json.loads(hm["targets"]) if n not in by_name]
    if missing:
        raise NarcoflowError(f"History match {hid} was made with target(s) {', '.join(missing)} that these "
                             "targets do not have")
    tlist = [by_name[n] for n in json.loads(hm["targets"])]
    waves_done = _read(db, "history_waves", hid)
    if waves_done.empty:
        raise NarcoflowError(f"No finished wave of history match {hid!r} in {db}")
    fitted = []
    for w in sorted(int(x) for x in waves_done["wave"]):
        design = _read(db, "history_design", hid, w)
        U = _design_units(design)
        runs = _wave_runs(db, hid, w, U, {t.name: t for t in tlist})
        fitted.append(fit_wave(tlist, runs, len(names), seed=int(st["seed"]), restarts=int(st["restarts"])))
    return NroyRegion(names, bounds, tlist, fitted, float(st["cutoff"]), hid)
