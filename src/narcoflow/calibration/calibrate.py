"""ABC-SMC calibration with pyabc; each particle is one run through the experiments runner."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import threading
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from narcoflow import extras
from narcoflow.calibration.targets import Targets, check_period, distance
from narcoflow.errors import NarcoflowError
from narcoflow.experiments.runner import RunSpec, execute_spec, planned_run_id
from narcoflow.scenario import uncertain_parameters
from narcoflow.scenario.loader import with_values

#: DuckDB tables written by a calibration (all keyed by calibration_id)
TABLES = ("calibrations", "posterior", "calibration_diagnostics", "calibration_check")


def calibration_id(scenario, targets: Targets, params: list[str], settings: dict) -> str:
    blob = json.dumps([scenario.model_dump(mode="json"), targets.model_dump(mode="json"), params, settings],
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


class _Model:
    """Picklable pyabc model: parameters -> {target name: model value}.

    Each run's seed is ``seed`` (common random numbers: every particle alike) or, when ``seed`` is
    None, derived from the particle's values. With ``counter`` (a file path), each finished run
    appends one byte to it, so that a progress bar in the parent process can count runs made by
    worker processes.
    """

    def __init__(self, scenario, targets: Targets, params: list[str], scale: float, years: float | None,
                 counter: str | None = None, seed: int | None = None):
        self.scenario, self.targets, self.params = scenario, targets, params
        self.scale, self.years, self.counter, self.seed = scale, years, counter, seed

    def __call__(self, par) -> dict[str, float]:
        values = {p: float(par[f"p{i}"]) for i, p in enumerate(self.params)}
        seed = (self.seed if self.seed is not None
                else zlib.crc32(json.dumps(values, sort_keys=True).encode()) % (2**31))
        return self.run(values, seed)

    def run(self, values: dict[str, float], seed: int) -> dict[str, float]:
        sc = with_values(self.scenario, values)
        spec = RunSpec(scenario=sc, seed=seed, scale=self.scale, years=self.years,
                       run_id=planned_run_id(sc, seed=seed, scale=self.scale, years=self.years))
        out = execute_spec(spec)
        res = {t.name: t.evaluate(out.results.metrics) for t in self.targets.targets}
        if self.counter:
            try:
                with open(self.counter, "ab") as fh:
                    fh.write(b".")
            except OSError:
                pass
        return res


def _replace_rows(con, table: str, frame: pd.DataFrame, where: str, params: list) -> None:
    """Idempotent write: delete the rows matching ``where`` and insert ``frame``."""
    con.register("frame_view", frame)
    try:
        con.execute(f"CREATE TABLE IF NOT EXISTS {table} AS SELECT * FROM frame_view LIMIT 0")
        con.execute("BEGIN TRANSACTION")
        con.execute(f"DELETE FROM {table} WHERE {where}", params)
        con.execute(f"INSERT INTO {table} SELECT * FROM frame_view")
        con.execute("COMMIT")
    finally:
        con.unregister("frame_view")


def _connect(db: Path, tries: int = 20):
    """Open the DuckDB file for writing; waits up to ~10 s while another process holds it (e.g. a
    `narcoflow report` reading it between two generations)."""
    import time

    import duckdb

    for i in range(tries):
        try:
            return duckdb.connect(str(db))
        except duckdb.IOException as exc:
            if i == tries - 1:
                raise NarcoflowError(f"Cannot open {db} ({exc}); is another command using it?") from None
            time.sleep(0.5)


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


def _store_generation(db: Path, cid: str, post: pd.DataFrame, diag: dict) -> None:
    t = int(diag["generation"])
    with _connect(db) as con:
        _replace_rows(con, "posterior", post, "calibration_id = ? AND generation = ?", [cid, t])
        _replace_rows(con, "calibration_diagnostics", pd.DataFrame([diag]),
                      "calibration_id = ? AND generation = ?", [cid, t])


def _drop_generations(db: Path, cid: str, after: int) -> None:
    """Delete stored generations of ``cid`` beyond ``after`` (-1: all), e.g. after a clean restart."""
    with _connect(db) as con:
        tables = {r[0] for r in con.sql("SELECT table_name FROM information_schema.tables").fetchall()}
        for table in ("posterior", "calibration_diagnostics"):
            if table in tables:
                con.execute(f"DELETE FROM {table} WHERE calibration_id = ? AND generation > ?", [cid, after])


def _store_calibration(db: Path, cid: str, scenario, targets: Targets, params: list[str], priors: dict,
                       settings: dict, labels: dict) -> None:
    row = {"calibration_id": cid, "scenario": scenario.name, "scenario_ref": labels.get("scenario", ""),
           "targets_ref": labels.get("targets", ""), "parameters": json.dumps(params),
           "priors": json.dumps(priors), "settings": json.dumps(settings, default=str),
           "scenario_json": json.dumps(scenario.model_dump(mode="json"), default=str),
           "targets_json": json.dumps(targets.model_dump(mode="json"), default=str),
           "created_at": dt.datetime.now(dt.UTC).replace(tzinfo=None)}
    with _connect(db) as con:
        _replace_rows(con, "calibrations", pd.DataFrame([row]), "calibration_id = ?", [cid])


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
            _store_generation(db, cid, post, diag)
            if on_generation:
                on_generation(t, diag)
            if abc.check_terminate(t=t, acceptance_rate=ret["acceptance_rate"]):
                break
            t += 1
    finally:
        abc.history.done(end_time=dt.datetime.now())
        abc.sampler.stop()


def calibrate(scenario, targets: Targets, db: str | Path, *, params: list[str] | None = None,
              populations: int = 4, particles: int = 50, scale: float = 0.002, years: float | None = None,
              workers: int = 1, dask_address: str | None = None, dask_local: int | None = None,
              on_generation: Callable[[int, dict], None] | None = None,
              on_runs: Callable[[int, int], None] | None = None,
              labels: dict[str, str] | None = None, seed: int | None = None
              ) -> tuple[str, pd.DataFrame, pd.DataFrame]:
    """Run (or resume) ABC-SMC; store `posterior` and `calibration_diagnostics` in the DuckDB file.

    Each finished generation is stored at once (delete + insert for that calibration id and
    generation), so an interrupted calibration keeps its finished generations and a rerun goes on
    from pyabc's history. ``on_generation(t, diagnostics row)`` is called after each generation
    is stored (also for generations found already done); ``on_runs(t, runs so far)`` about twice
    a second while generation t is sampled. ``labels`` (``scenario``, ``targets``: how the user
    named them) are stored in table ``calibrations`` for the report. ``seed``: every run uses this
    seed (common random numbers); None (default): each particle's seed derives from its values.

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
    cid = calibration_id(scenario, targets, params, settings)  # not populations: more of them extend it
    settings["populations"] = populations
    db = Path(db).resolve()
    stem = db.with_suffix("")
    sqlite_path = Path(f"{stem}-{cid}.abc.sqlite")
    sqlite = f"sqlite:///{sqlite_path}"
    counter = Path(f"{stem}-{cid}.runs")
    priors = {p: list(unc[p].range) for p in params}
    _store_calibration(db, cid, scenario, targets, params, priors, settings, labels or {})
    prior = pyabc.Distribution(**{f"p{i}": pyabc.RV("uniform", unc[p].range[0], unc[p].range[1] - unc[p].range[0])
                                  for i, p in enumerate(params)})
    sampler, executor = _sampler(workers, dask_address, dask_local)
    try:
        model = _Model(scenario, targets, params, scale, years, counter=str(counter) if on_runs else None,
                       seed=seed)
        abc = pyabc.ABCSMC(model, prior, lambda x, _x0: distance(targets.targets, x),
                           population_size=particles, sampler=sampler)
        observed = {t.name: 0.0 for t in targets.targets}  # distance ignores x0: the bands live in the targets
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
        _drop_generations(db, cid, done - 1)
        # generations pyabc finished before an interruption: (re)store them (idempotent)
        pops = abc.history.get_all_populations()
        for t in range(done):
            post, diag = _generation(abc.history, t, cid, params, pops)
            _store_generation(db, cid, post, diag)
            if on_generation:
                on_generation(t, diag)
        if done < populations:
            _run_generations(abc, populations - done, cid, params, db, counter, on_generation, on_runs)
    finally:
        counter.unlink(missing_ok=True)
        if executor is not None:
            executor.__exit__(None, None, None)
    return (cid, *load_calibration(db, cid)[1:3])


def load_calibration(db: str | Path, cid: str) -> tuple[dict[str, Any], pd.DataFrame, pd.DataFrame,
                                                        pd.DataFrame | None]:
    """(calibrations row, posterior, diagnostics, predictive check or None) of a stored calibration."""
    import duckdb

    db = Path(db)
    if not db.exists():
        raise NarcoflowError(f"No database {db}")
    with duckdb.connect(str(db), read_only=True) as con:
        tables = {r[0] for r in con.sql("SELECT table_name FROM information_schema.tables").fetchall()}
        if "calibrations" not in tables:
            raise NarcoflowError(f"{db} holds no calibration (no table 'calibrations')")
        info = con.execute("SELECT * FROM calibrations WHERE calibration_id = ?", [cid]).df()
        if info.empty:
            raise NarcoflowError(f"No calibration {cid!r} in {db}")
        q = "SELECT * FROM {} WHERE calibration_id = ? ORDER BY generation{}"
        post = con.execute(q.format("posterior", ", particle, parameter"), [cid]).df()
        diag = con.execute(q.format("calibration_diagnostics", ""), [cid]).df()
        check = (con.execute("SELECT * FROM calibration_check WHERE calibration_id = ? ORDER BY position",
                             [cid]).df() if "calibration_check" in tables else None)
    if check is not None and check.empty:
        check = None
    return info.iloc[0].to_dict(), post, diag, check


def intervals(posterior: pd.DataFrame, generation: int | None = None) -> pd.DataFrame:
    """Weighted median and 90 % interval per parameter of the last (or given) generation."""
    g = posterior["generation"].max() if generation is None else generation
    rows = []
    for p, d in posterior[posterior["generation"] == g].groupby("parameter", sort=False):
        d = d.sort_values("value")
        cw = np.cumsum(d["weight"].to_numpy()) / d["weight"].sum()
        v = d["value"].to_numpy()
        q = [float(v[min(np.searchsorted(cw, x), len(v) - 1)]) for x in (0.05, 0.5, 0.95)]
        rows.append({"parameter": p, "low": q[0], "median": q[1], "high": q[2]})
    return pd.DataFrame(rows, columns=["parameter", "low", "median", "high"])


def predictive_check(scenario, targets: Targets, posterior: pd.DataFrame, *, draws: int = 10,
                     scale: float = 0.002, years: float | None = None, seed: int = 0) -> pd.DataFrame:
    """Posterior predictive check: runs at weighted posterior draws, one row per target.

    Draw k runs with seed ``seed + k``, so repeated draws of one particle differ: the interval
    includes the model's own randomness. Columns: target, observed, predicted_median, predicted_low,
    predicted_high (90 %), inside (the median is within one tolerance of the band), unreachable
    (the whole predictive interval lies more than one tolerance outside it), message, and the
    target's band_low, band_high, tolerance (relative), unit, years, source, reliability, draws.
    """
    check_period(targets, scenario, years)
    g = posterior[posterior["generation"] == posterior["generation"].max()]
    wide = g.pivot_table(index="particle", columns="parameter", values="value")
    w = g.groupby("particle")["weight"].first().reindex(wide.index).to_numpy()
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(wide), size=draws, p=w / w.sum())
    params = list(wide.columns)
    model = _Model(scenario, targets, params, scale, years)
    sims = [model.run({p: float(wide.iloc[k][p]) for p in params}, seed + j) for j, k in enumerate(picks)]
    rows = []
    for t in targets.targets:
        vals = np.array([s[t.name] for s in sims])
        lo, med, hi = (float(x) for x in np.quantile(vals, [0.05, 0.5, 0.95]))
        blo, bhi, tol = t.band()
        tlo, thi = t.tolerance_band()
        unreachable = bool(lo > thi or hi < tlo)
        obs = t.observed_text()
        msg = (f"Target {t.name!r} is not reached: observed {obs} {t.unit}, the model produces "
               f"{med:.4g} (90 % {lo:.4g}-{hi:.4g})") if unreachable else ""
        yrs = f"{t.years[0]}" if t.years[0] == t.years[1] else f"{t.years[0]}-{t.years[1]}"
        rows.append({"target": t.name, "observed": obs, "predicted_median": med, "predicted_low": lo,
                     "predicted_high": hi, "inside": t.distance(med) <= 1,
                     "unreachable": unreachable, "message": msg, "band_low": float(blo),
                     "band_high": float(bhi), "tolerance": float(tol), "unit": t.unit, "years": yrs,
                     "source": t.source, "reliability": t.reliability, "draws": int(draws)})
    return pd.DataFrame(rows)


def store_check(db: str | Path, cid: str, check: pd.DataFrame) -> None:
    """Store a predictive check as table ``calibration_check`` (replacing that calibration's rows)."""
    frame = check.copy()
    frame.insert(0, "position", range(len(frame)))
    frame.insert(0, "calibration_id", cid)
    with _connect(Path(db)) as con:
        _replace_rows(con, "calibration_check", frame, "calibration_id = ?", [cid])


def _flow_style_numbers(dumper, data: list):
    flow = bool(data) and len(data) <= 4 and all(isinstance(x, int | float | str) for x in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


def _flow_ranges_dumper():
    import yaml

    class FlowRanges(yaml.SafeDumper):
        """Short lists of scalars (ranges, region lists) on one line."""

    FlowRanges.add_representer(list, _flow_style_numbers)
    return FlowRanges


def write_scenario(scenario, posterior: pd.DataFrame, path: str | Path, *, base: str, calibration_id: str,
                   targets_label: str) -> Path:
    """Write a calibrated scenario: ``base:`` the original, posterior medians, 90 % intervals as ranges.

    ``base`` is how the original is named: a built-in name, or a path (written relative to the new
    file's folder). A parameter inside a list (``events[1].multiplier``) is written as the whole
    list, because ``base:`` merging replaces lists wholesale; each list element keeps every other
    field of the original. The file is loaded back and validated before this returns.
    """
    import copy

    import yaml

    from narcoflow.scenario import load
    from narcoflow.scenario.loader import _split_path, builtin_names

    _FlowRanges = _flow_ranges_dumper()
    path = Path(path)
    iv = intervals(posterior)
    if iv.empty:
        raise NarcoflowError("The posterior is empty: nothing to write")
    raw = scenario.model_dump(mode="json")
    work = copy.deepcopy(raw)
    unc = uncertain_parameters(scenario)
    tops: list[list] = []
    for r in iv.itertuples(index=False):
        parts = _split_path(r.parameter)
        node = work
        for part in parts[:-1]:
            node = node[part]
        source = unc[r.parameter].source if r.parameter in unc else ""
        note = f"calibrated {calibration_id} against {targets_label}"
        node[parts[-1]] = {"value": float(r.median), "range": [float(r.low), float(r.high)],
                           "source": f"{source}; {note}" if source else note}
        first_index = next((i for i, p in enumerate(parts) if isinstance(p, int)), None)
        tops.append(parts if first_index is None else parts[:first_index])
    override: dict[str, Any] = {}
    for top in tops:
        src, dst = work, override
        for part in top[:-1]:
            src = src[part]
            dst = dst.setdefault(part, {})
        dst[top[-1]] = copy.deepcopy(src[top[-1]])
    if base in builtin_names() and not Path(base).is_file():
        base_ref = base
    else:
        base_ref = os.path.relpath(Path(base).resolve(), path.resolve().parent)
    doc = {"base": base_ref, "name": f"{scenario.name}-calibrated",
           "description": f"{scenario.name} with {len(iv)} parameters calibrated ({calibration_id}, targets "
                          f"{targets_label}): posterior medians as values, 90 % intervals as ranges.",
           **override}
    header = (f"# Calibrated scenario written by narcoflow calibrate ({calibration_id}).\n"
              "# Values: weighted posterior medians of the last generation; ranges: posterior 90 % intervals.\n"
              "# Lists are repeated whole (base: merging replaces lists).\n")
    try:
        path.write_text(header + yaml.dump(doc, Dumper=_FlowRanges, sort_keys=False, allow_unicode=True, width=120))
    except OSError as exc:
        raise NarcoflowError(f"Cannot write the calibrated scenario {path} ({exc.strerror or exc})") from None
    load(path)  # raises a ScenarioError naming the field if the file does not validate
    return path
