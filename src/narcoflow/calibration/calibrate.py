"""ABC-SMC calibration with pyabc; each particle is one run through the experiments runner.

This module runs (or resumes) the fit. The model pyabc calls is `narcoflow.calibration.model`,
the tables it writes `narcoflow.calibration.storage`, and what is made of the posterior
(intervals, predictive check, calibrated scenario) `narcoflow.calibration.outputs`; their
public names are re-exported here.

With ``unit_scaled=True`` (opt-in, see `calibrate`) pyabc works on unit-scaled parameters: each
parameter's prior (its range, narrowed by ``bounds``) [low, high] is seen as u in [0, 1] with a
uniform(0, 1) prior, and the model, the NROY prior and everything stored map back to
x = low + u (high - low). On the raw scales (probabilities next to
lot sizes in grams, ranges from 2e-05 to 6e+05) the covariance of pyabc's multivariate normal
proposal had a condition number of about 1e21 and numpy warned that it was not positive
semidefinite at every generation (benchmarks/abc_scaling.py). Users only ever see original units.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from narcoflow import DEFAULT_SCALE, extras
from narcoflow.calibration.model import Model, to_original
from narcoflow.calibration.outputs import intervals, predictive_check, write_scenario
from narcoflow.calibration.storage import (
    TABLES,
    drop_generations,
    load_calibration,
    store_calibration,
    store_check,
    store_generation,
)
from narcoflow.calibration.targets import Targets, check_period, distance
from narcoflow.errors import NarcoflowError
from narcoflow.scenario import uncertain_parameters

__all__ = ["TABLES", "Model", "calibrate", "calibration_id", "intervals", "load_calibration",
           "predictive_check", "store_check", "write_scenario"]


def calibration_id(scenario, targets: Targets, params: list[str], settings: dict) -> str:
    blob = json.dumps([scenario.model_dump(mode="json"), targets.model_dump(mode="json"), params, settings],
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _qualified_name(fn) -> str:
    """``module.qualname`` of a simulator (a function, a bound method or a callable object)."""
    obj = fn if hasattr(fn, "__qualname__") else type(fn)
    return f"{getattr(obj, '__module__', '')}.{getattr(obj, '__qualname__', repr(obj))}"


def _generation(hist, t: int, cid: str, params: list[str], pops: pd.DataFrame,
                priors: list[tuple[float, float]] | None = None) -> tuple[pd.DataFrame, dict]:
    """(posterior rows, diagnostics row) of generation t, values in original units: pyabc's
    unit-scaled particles mapped through ``priors`` (one (low, high) per parameter; None: pyabc's
    particles are already in original units)."""
    df, w = hist.get_distribution(t=t)
    w = np.asarray(w, dtype=float)
    cols = [df[f"p{i}"].to_numpy(dtype=float) for i in range(len(params))]
    if priors is not None:
        cols = [to_original(c, lo, hi) for c, (lo, hi) in zip(cols, priors, strict=True)]
    rows = [(cid, t, j, p, float(cols[i][j]), float(w[j]))
            for j in range(len(df)) for i, p in enumerate(params)]
    post = pd.DataFrame(rows, columns=["calibration_id", "generation", "particle", "parameter", "value",
                                       "weight"])
    prow = pops[pops["t"] == t].iloc[0]
    diag = {"calibration_id": cid, "generation": t, "epsilon": float(prow["epsilon"]),
            "acceptance_rate": len(df) / max(int(prow["samples"]), 1),
            "ess": float(1.0 / np.sum((w / w.sum()) ** 2)), "runs": int(prow["samples"])}
    return post, diag


def _sampler(workers: int, dask_address: str | None, dask_local: int | None):
    """(pyabc sampler, executor to close or None)."""
    pyabc = extras.require("pyabc")

    if dask_address or dask_local:
        from narcoflow.experiments.executors import DaskExecutor

        ex = DaskExecutor(dask_address, n_workers=dask_local).__enter__()
        n = max(int(ex.n_workers), 1)
        return pyabc.sampler.DaskDistributedSampler(dask_client=ex._client, client_max_jobs=n, batch_size=1), ex
    if workers <= 1:
        return pyabc.sampler.SingleCoreSampler(), None
    return pyabc.sampler.MulticoreEvalParallelSampler(n_procs=workers), None


@contextlib.contextmanager
def _counting_runs(counter: Path, on_runs, t: int):
    """While the block runs, call ``on_runs(t, runs finished)`` twice a second (runs append to ``counter``)."""
    counter.write_bytes(b"")
    if not on_runs:
        yield
        return
    stop = threading.Event()

    def poll():
        while not stop.wait(0.5):
            on_runs(t, counter.stat().st_size if counter.exists() else 0)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    try:
        yield
    finally:
        stop.set()
        poller.join()


def epsilon_drop(epsilons: list[float]) -> float | None:
    """Relative fall of epsilon in the last generation, ``(eps[-2] - eps[-1]) / eps[-2]``; None
    with fewer than two generations (or a non-positive or infinite previous epsilon).

    >>> epsilon_drop([2.0, 1.8])
    0.1
    >>> epsilon_drop([2.0]) is None
    True
    """
    if len(epsilons) < 2 or not 0 < epsilons[-2] < np.inf:
        return None
    return round((epsilons[-2] - epsilons[-1]) / epsilons[-2], 12)


def check_stopping(min_epsilon_drop: float, max_hours: float | None, label: str = "{}") -> None:
    """Refuse stopping settings out of range, naming each as ``label`` formats its name (the CLI
    passes ``"--{}"`` and dashes: ``--min-epsilon-drop``)."""
    def name(n: str) -> str:
        return label.format(n.replace("_", "-") if label.startswith("--") else n)

    if not 0.0 <= min_epsilon_drop < 1.0:
        raise NarcoflowError(f"{name('min_epsilon_drop')} {min_epsilon_drop:g} is out of range: it must be "
                             "in [0, 1) (a share of the previous epsilon, e.g. 0.05; 0 never stops early).")
    if max_hours is not None and not 0 < max_hours < np.inf:
        raise NarcoflowError(f"{name('max_hours')} {max_hours:g} is out of range: it must be > 0 "
                             "(hours of wall time).")


def stop_reason(epsilons: list[float], populations: int, min_epsilon_drop: float = 0.0,
                out_of_time: bool = False) -> str | None:
    """Why ABC-SMC stops after the generations whose epsilons are ``epsilons`` (None: go on).

    Converged when epsilon fell by less than ``min_epsilon_drop`` (a share) in the last
    generation: the tolerance no longer tightens, so more generations buy little (the criterion of
    "run until epsilon stops falling"; pyabc's own ``min_eps_diff`` is an absolute difference).
    """
    drop = epsilon_drop(epsilons)
    if min_epsilon_drop > 0 and drop is not None and drop < min_epsilon_drop:
        return (f"converged: epsilon fell {100 * drop:.1f} % in generation {len(epsilons) - 1} "
                f"(less than {100 * min_epsilon_drop:g} %)")
    if len(epsilons) >= populations:
        return f"{populations} generations done (the maximum asked)"
    if out_of_time:
        return f"time limit reached after generation {len(epsilons) - 1}; rerun to go on"
    return None


def _run_generations(abc, n: int, cid: str, params: list[str], db: Path, counter: Path,
                     on_generation, on_runs, priors: list[tuple[float, float]] | None = None,
                     should_stop: Callable[[float], bool] = lambda eps: False) -> None:
    """pyabc's ``ABCSMC.run`` loop, storing each generation as soon as it is done.

    (Calling ``run(max_nr_populations=1)`` repeatedly would keep the first epsilon: pyabc only
    adapts epsilon within one run or after ``load``.) ``on_runs`` gets t = -1 during pyabc's
    calibration sample (prior draws that set the first epsilon; none when resuming).
    ``should_stop(epsilon)`` is asked after each stored generation (convergence, time limit).
    """
    try:
        with _counting_runs(counter, on_runs, -1):
            t = abc.initialize_components_before_run(
                minimum_epsilon=None, max_nr_populations=n, min_acceptance_rate=0.0,
                max_total_nr_simulations=np.inf, max_walltime=None, min_eps_diff=0.0)
        while True:
            with _counting_runs(counter, on_runs, t):
                ret = abc.run_generation(t=t)
            if not ret["successful"]:
                break
            post, diag = _generation(abc.history, t, cid, params, abc.history.get_all_populations(), priors)
            store_generation(db, cid, post, diag)
            if on_generation:
                on_generation(t, diag)
            if should_stop(diag["epsilon"]):
                break
            if abc.check_terminate(t=t, acceptance_rate=ret["acceptance_rate"]):
                break
            t += 1
    finally:
        abc.history.done(end_time=dt.datetime.now())
        abc.sampler.stop()


def _finished(sqlite_path: Path) -> tuple[int, int | None]:
    """(generations pyabc finished in this history file, its run id); (0, None) when none."""
    if not sqlite_path.exists():
        return 0, None
    pyabc = extras.require("pyabc")
    existing = pyabc.History(f"sqlite:///{sqlite_path}")
    last = existing.max_t if existing.id is not None else None
    return (0, None) if last is None or last < 0 else (int(last) + 1, existing.id)


def calibrate(scenario, targets: Targets, db: str | Path, *, params: list[str] | None = None,
              populations: int = 4, particles: int = 50, scale: float = DEFAULT_SCALE, years: float | None = None,
              workers: int = 1, dask_address: str | None = None, dask_local: int | None = None,
              on_generation: Callable[[int, dict], None] | None = None,
              on_runs: Callable[[int, int], None] | None = None,
              labels: dict[str, str] | None = None, seed: int | None = None,
              bounds: dict[str, tuple[float, float]] | None = None,
              simulator: Callable[[dict[str, float], int], dict[str, float]] | None = None,
              region=None, unit_scaled: bool = False, min_epsilon_drop: float = 0.0,
              max_hours: float | None = None) -> tuple[str, pd.DataFrame, pd.DataFrame]:
    """Run (or resume) ABC-SMC; store `posterior` and `calibration_diagnostics` in the DuckDB file.

    Each finished generation is stored at once (delete + insert for that calibration id and
    generation), so an interrupted calibration keeps its finished generations and a rerun goes on
    from pyabc's history. ``on_generation(t, diagnostics row)`` is called after each generation
    is stored (also for generations found already done); ``on_runs(t, runs so far)`` about twice
    a second while generation t is sampled. ``labels`` (``scenario``, ``targets``: how the user
    named them) are stored in table ``calibrations`` for the report. ``seed``: every run uses this
    seed (common random numbers); None (default): each particle's seed derives from its values.
    ``bounds`` (parameter -> (low, high) inside its range, e.g. `narcoflow.calibration.history.nroy_box`
    of a history match) narrows the uniform prior of those parameters: the posterior inside the
    space that history matching left. ``simulator`` (a picklable ``(values, seed) -> {target:
    value}``, `narcoflow.calibration.batch.Simulator`) replaces the engine: the scenario then only
    gives the parameters' ranges (the priors); its qualified name is part of the calibration id.
    ``targets`` may be built in memory (`Targets(...)`), e.g. synthetic ones
    (`narcoflow.calibration.coverage.synthetic_targets`). ``region`` (a
    `narcoflow.calibration.history.NroyRegion`, `nroy_region` of a history match over the same
    parameters) makes the prior uniform on the space the match left instead of on the box
    (`narcoflow.calibration.nroy_prior`); its history id is part of the calibration id.

    ``unit_scaled``: pyabc fits each parameter's position u in its prior (module doc); the setting
    is part of the calibration id. False (default): pyabc fits the raw values. Unit scaling removes
    the ill-conditioned proposal covariance, but on north-korea-2011 (15 parameters, `--prior
    region`, scale 0.1) its importance weights collapsed: effective sample size 3.6 of 150 in the
    second generation, against 113-128 on raw scales (docs/calibration.md, "Unit-scaled
    parameters"); so it is opt-in until the weights are fixed. A unit-scaled call that finds
    pyabc's history of the same calibration on raw scales, and none of its own, goes on with that
    one (on raw scales, under its old id): resuming or extending an older calibration does not
    start it again.

    Stopping (`stop_reason`; none of it is part of the calibration id, so a rerun with other
    settings goes on from the same history): after ``populations`` generations; earlier when epsilon
    fell by less than ``min_epsilon_drop`` (a share, e.g. 0.05) in the last generation, converged
    (a rerun then starts no new generation unless the setting is lowered); or when ``max_hours``
    have passed since this call, checked after each generation (a rerun goes on).

    Returns (calibration_id, posterior frame, diagnostics frame).
    """
    pyabc = extras.require("pyabc")
    check_stopping(min_epsilon_drop, max_hours)
    started = dt.datetime.now()

    params = list(params or targets.parameters)
    unc = uncertain_parameters(scenario)
    missing = [p for p in params if p not in unc]
    if not params or missing:
        raise NarcoflowError(f"Parameters to fit must be uncertain parameters of the scenario (with a range); "
                             f"not: {', '.join(missing)}" if missing
                             else "Name the parameters to fit (targets 'parameters:' or params=)")
    check_period(targets, scenario, years)
    settings = {"particles": particles, "scale": scale, "years": years, "seed": seed}
    priors = {p: [float(x) for x in unc[p].range] for p in params}
    for p, (lo, hi) in (bounds or {}).items():
        if p not in priors:
            raise NarcoflowError(f"bounds: {p!r} is not a parameter of this calibration ({', '.join(params)})")
        if not priors[p][0] <= lo < hi <= priors[p][1]:
            raise NarcoflowError(f"bounds: {p!r} [{lo:g}, {hi:g}] must be a non-empty part of its range "
                                 f"[{priors[p][0]:g}, {priors[p][1]:g}]")
        priors[p] = [float(lo), float(hi)]
    if bounds:
        settings["bounds"] = {p: priors[p] for p in params if p in bounds}
    if simulator is not None:
        settings["simulator"] = _qualified_name(simulator)
    if region is not None:
        if sorted(region.names) != sorted(params):
            raise NarcoflowError(f"region: history match {region.history_id} matched {', '.join(region.names)}; "
                                 f"this calibration fits {', '.join(params)} (they must be the same)")
        settings["region"] = region.history_id
    db = Path(db).resolve()
    stem = db.with_suffix("")
    # calibrations made before unit scaling have no "unit_scaled" key, hence their own ids
    raw_cid = calibration_id(scenario, targets, params, settings)  # not populations: more of them extend it
    cid = calibration_id(scenario, targets, params, {**settings, "unit_scaled": True})
    if not unit_scaled or (not _finished(Path(f"{stem}-{cid}.abc.sqlite"))[0]
                           and _finished(Path(f"{stem}-{raw_cid}.abc.sqlite"))[0]):
        unit_scaled, cid = False, raw_cid
    else:
        settings["unit_scaled"] = True
    settings["populations"] = populations
    sqlite_path = Path(f"{stem}-{cid}.abc.sqlite")
    sqlite = f"sqlite:///{sqlite_path}"
    counter = Path(f"{stem}-{cid}.runs")
    store_calibration(db, cid, scenario, targets, params, priors, settings, labels or {})
    # pyabc's view: u in [0, 1] mapped through box (None: the raw values, older calibrations)
    box = [(priors[p][0], priors[p][1]) for p in params] if unit_scaled else None
    rvs = ({f"p{i}": pyabc.RV("uniform", 0.0, 1.0) for i in range(len(params))} if unit_scaled else
           {f"p{i}": pyabc.RV("uniform", priors[p][0], priors[p][1] - priors[p][0]) for i, p in enumerate(params)})
    if region is None:
        prior = pyabc.Distribution(**rvs)
    else:
        from narcoflow.calibration.nroy_prior import NroyPrior

        prior = NroyPrior(**rvs, region=region, names=params, priors=box)
    sampler, executor = _sampler(workers, dask_address, dask_local)
    try:
        model = Model(scenario, targets, params, scale, years, counter=str(counter) if on_runs else None,
                      seed=seed, simulator=simulator, priors=box)
        abc = pyabc.ABCSMC(model, prior, lambda x, _x0: distance(targets.targets, x),
                           population_size=particles, sampler=sampler)
        observed = {t.name: 0.0 for t in targets.compared}  # distance ignores x0: the bands live in the targets
        done, history_id = _finished(sqlite_path)
        if done:
            abc.load(sqlite, history_id)
        else:
            sqlite_path.unlink(missing_ok=True)  # restart cleanly: no usable population
            abc.new(sqlite, observed)
        drop_generations(db, cid, done - 1)
        # generations pyabc finished before an interruption: (re)store them (idempotent)
        pops = abc.history.get_all_populations()
        epsilons: list[float] = []
        for t in range(done):
            post, diag = _generation(abc.history, t, cid, params, pops, box)
            store_generation(db, cid, post, diag)
            epsilons.append(diag["epsilon"])
            if on_generation:
                on_generation(t, diag)

        def should_stop(eps: float) -> bool:
            epsilons.append(eps)
            late = max_hours is not None and (dt.datetime.now() - started).total_seconds() > 3600 * max_hours
            return stop_reason(epsilons, populations, min_epsilon_drop, late) is not None

        if done < populations and stop_reason(epsilons, populations, min_epsilon_drop) is None:
            _run_generations(abc, populations - done, cid, params, db, counter, on_generation, on_runs, box,
                             should_stop)
    finally:
        counter.unlink(missing_ok=True)
        if executor is not None:
            executor.__exit__(None, None, None)
    return (cid, *load_calibration(db, cid)[1:3])


