"""ABC-SMC calibration with pyabc; each particle is one run through the experiments runner.

This module runs (or resumes) the fit. The model pyabc calls is `narcoflow.calibration.model`,
the tables it writes `narcoflow.calibration.storage`, and what is made of the posterior
(intervals, predictive check, calibrated scenario) `narcoflow.calibration.outputs`; their
public names are re-exported here.
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

from narcoflow import extras
from narcoflow.calibration.model import Model
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


def _generation(hist, t: int, cid: str, params: list[str], pops: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    df, w = hist.get_distribution(t=t)
    w = np.asarray(w, dtype=float)
    rows = [(cid, t, j, p, float(df.iloc[j][f"p{i}"]), float(w[j]))
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


def _run_generations(abc, n: int, cid: str, params: list[str], db: Path, counter: Path,
                     on_generation, on_runs) -> None:
    """pyabc's ``ABCSMC.run`` loop, storing each generation as soon as it is done.

    (Calling ``run(max_nr_populations=1)`` repeatedly would keep the first epsilon: pyabc only
    adapts epsilon within one run or after ``load``.) ``on_runs`` gets t = -1 during pyabc's
    calibration sample (prior draws that set the first epsilon; none when resuming).
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
            post, diag = _generation(abc.history, t, cid, params, abc.history.get_all_populations())
            store_generation(db, cid, post, diag)
            if on_generation:
                on_generation(t, diag)
            if abc.check_terminate(t=t, acceptance_rate=ret["acceptance_rate"]):
                break
            t += 1
    finally:
        abc.history.done(end_time=dt.datetime.now())
        abc.sampler.stop()


def calibrate(scenario, targets: Targets, db: str | Path, *, params: list[str] | None = None,
              populations: int = 4, particles: int = 50, scale: float = 0.02, years: float | None = None,
              workers: int = 1, dask_address: str | None = None, dask_local: int | None = None,
              on_generation: Callable[[int, dict], None] | None = None,
              on_runs: Callable[[int, int], None] | None = None,
              labels: dict[str, str] | None = None, seed: int | None = None,
              bounds: dict[str, tuple[float, float]] | None = None,
              simulator: Callable[[dict[str, float], int], dict[str, float]] | None = None,
              region=None) -> tuple[str, pd.DataFrame, pd.DataFrame]:
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

    Returns (calibration_id, posterior frame, diagnostics frame).
    """
    pyabc = extras.require("pyabc")

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
    cid = calibration_id(scenario, targets, params, settings)  # not populations: more of them extend it
    settings["populations"] = populations
    db = Path(db).resolve()
    stem = db.with_suffix("")
    sqlite_path = Path(f"{stem}-{cid}.abc.sqlite")
    sqlite = f"sqlite:///{sqlite_path}"
    counter = Path(f"{stem}-{cid}.runs")
    store_calibration(db, cid, scenario, targets, params, priors, settings, labels or {})
    rvs = {f"p{i}": pyabc.RV("uniform", priors[p][0], priors[p][1] - priors[p][0]) for i, p in enumerate(params)}
    if region is None:
        prior = pyabc.Distribution(**rvs)
    else:
        from narcoflow.calibration.nroy_prior import NroyPrior

        prior = NroyPrior(**rvs, region=region, names=params)
    sampler, executor = _sampler(workers, dask_address, dask_local)
    try:
        model = Model(scenario, targets, params, scale, years, counter=str(counter) if on_runs else None,
                      seed=seed, simulator=simulator)
        abc = pyabc.ABCSMC(model, prior, lambda x, _x0: distance(targets.targets, x),
                           population_size=particles, sampler=sampler)
        observed = {t.name: 0.0 for t in targets.compared}  # distance ignores x0: the bands live in the targets
        done = 0
        if sqlite_path.exists():
            existing = pyabc.History(sqlite)
            last = existing.max_t if existing.id is not None else None
            done = 0 if last is None or last < 0 else int(last) + 1
        if done:
            abc.load(sqlite, existing.id)
        else:
            sqlite_path.unlink(missing_ok=True)  # restart cleanly: no usable population
            abc.new(sqlite, observed)
        drop_generations(db, cid, done - 1)
        # generations pyabc finished before an interruption: (re)store them (idempotent)
        pops = abc.history.get_all_populations()
        for t in range(done):
            post, diag = _generation(abc.history, t, cid, params, pops)
            store_generation(db, cid, post, diag)
            if on_generation:
                on_generation(t, diag)
        if done < populations:
            _run_generations(abc, populations - done, cid, params, db, counter, on_generation, on_runs)
    finally:
        counter.unlink(missing_ok=True)
        if executor is not None:
            executor.__exit__(None, None, None)
    return (cid, *load_calibration(db, cid)[1:3])


