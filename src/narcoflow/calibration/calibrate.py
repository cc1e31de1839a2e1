"""ABC-SMC calibration with pyabc; each particle is one run through the experiments runner."""

from __future__ import annotations

import hashlib
import json
import zlib
from pathlib import Path

import numpy as np
import pandas as pd

from narcoflow.calibration.targets import Targets, distance
from narcoflow.errors import NarcoflowError
from narcoflow.experiments.runner import RunSpec, execute_spec, planned_run_id
from narcoflow.scenario import uncertain_parameters
from narcoflow.scenario.loader import with_values


def calibration_id(scenario, targets: Targets, params: list[str], settings: dict) -> str:
    blob = json.dumps([scenario.model_dump(mode="json"), targets.model_dump(mode="json"), params, settings],
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


class _Model:
    """Picklable pyabc model: parameters -> {target name: model value}."""

    def __init__(self, scenario, targets: Targets, params: list[str], scale: float, years: float | None):
        self.scenario, self.targets, self.params = scenario, targets, params
        self.scale, self.years = scale, years

    def __call__(self, par) -> dict[str, float]:
        values = {p: float(par[f"p{i}"]) for i, p in enumerate(self.params)}
        sc = with_values(self.scenario, values)
        seed = zlib.crc32(json.dumps(values, sort_keys=True).encode()) % (2**31)
        spec = RunSpec(scenario=sc, seed=seed, scale=self.scale, years=self.years,
                       run_id=planned_run_id(sc, seed=seed, scale=self.scale, years=self.years))
        out = execute_spec(spec)
        return {t.name: t.evaluate(out.results.metrics) for t in self.targets.targets}


def calibrate(scenario, targets: Targets, db: str | Path, *, params: list[str] | None = None,
              populations: int = 4, particles: int = 50, scale: float = 0.002, years: float | None = None,
              workers: int = 1) -> tuple[str, pd.DataFrame, pd.DataFrame]:
    """Run (or resume) ABC-SMC; store `posterior` and `calibration_diagnostics` in the DuckDB file.

    Returns (calibration_id, posterior frame, diagnostics frame).
    """
    import duckdb
    import pyabc

    params = list(params or targets.parameters)
    unc = uncertain_parameters(scenario)
    missing = [p for p in params if p not in unc]
    if not params or missing:
        raise NarcoflowError(f"Parameters to fit must be uncertain parameters of the scenario; not: {missing}"
                             if missing else "Name the parameters to fit (targets 'parameters:' or params=)")
    settings = {"populations": populations, "particles": particles, "scale": scale, "years": years}
    cid = calibration_id(scenario, targets, params, settings)
    db = Path(db).resolve()
    sqlite = f"sqlite:///{db.with_suffix('')}-{cid}.abc.sqlite"
    prior = pyabc.Distribution(**{f"p{i}": pyabc.RV("uniform", unc[p].range[0], unc[p].range[1] - unc[p].range[0])
                                  for i, p in enumerate(params)})
    sampler = (pyabc.sampler.SingleCoreSampler() if workers <= 1
               else pyabc.sampler.MulticoreEvalParallelSampler(n_procs=workers))
    abc = pyabc.ABCSMC(_Model(scenario, targets, params, scale, years), prior,
                       lambda x, _x0: distance(targets.targets, x), population_size=particles, sampler=sampler)
    observed = {t.name: 0.0 for t in targets.targets}  # distance ignores x0: the bands live in the targets
    done = 0
    if Path(sqlite[len("sqlite:///"):]).exists():
        existing = pyabc.History(sqlite)
        last = existing.max_t if existing.id is not None else None
        done = 0 if last is None else int(last) + 1
    if done:
        abc.load(sqlite, existing.id)
    else:
        Path(sqlite[len("sqlite:///"):]).unlink(missing_ok=True)  # restart cleanly: no usable population
        abc.new(sqlite, observed)
    if done < populations:
        abc.run(max_nr_populations=populations - done)
    hist = abc.history
    post, diag = [], []
    pops = hist.get_all_populations()
    for t in range(hist.max_t + 1):
        df, w = hist.get_distribution(t=t)
        for j, (_, row) in enumerate(df.iterrows()):
            for i, p in enumerate(params):
                post.append((cid, t, j, p, float(row[f"p{i}"]), float(w[j])))
        prow = pops[pops["t"] == t].iloc[0]
        ess = float(1.0 / np.sum(np.asarray(w) ** 2))
        diag.append((cid, t, float(prow["epsilon"]), len(df) / max(int(prow["samples"]), 1), ess))
    posterior = pd.DataFrame(post, columns=["calibration_id", "generation", "particle", "parameter", "value",
                                            "weight"])
    diagnostics = pd.DataFrame(diag, columns=["calibration_id", "generation", "epsilon", "acceptance_rate",
                                              "ess"])
    with duckdb.connect(str(db)) as con:
        for name, frame in (("posterior", posterior), ("calibration_diagnostics", diagnostics)):
            con.register("frame_view", frame)
            con.execute(f"CREATE TABLE IF NOT EXISTS {name} AS SELECT * FROM frame_view LIMIT 0")
            con.execute(f"DELETE FROM {name} WHERE calibration_id = ?", [cid])
            con.execute(f"INSERT INTO {name} SELECT * FROM frame_view")
            con.unregister("frame_view")
    return cid, posterior, diagnostics


def intervals(posterior: pd.DataFrame, generation: int | None = None) -> pd.DataFrame:
    """Weighted median and 90 % interval per parameter of the last (or given) generation."""
    g = posterior["generation"].max() if generation is None else generation
    rows = []
    for p, d in posterior[posterior["generation"] == g].groupby("parameter"):
        d = d.sort_values("value")
        cw = np.cumsum(d["weight"].to_numpy()) / d["weight"].sum()
        v = d["value"].to_numpy()
        q = [float(v[min(np.searchsorted(cw, x), len(v) - 1)]) for x in (0.05, 0.5, 0.95)]
        rows.append({"parameter": p, "low": q[0], "median": q[1], "high": q[2]})
    return pd.DataFrame(rows)


def predictive_check(scenario, targets: Targets, posterior: pd.DataFrame, *, draws: int = 10,
                     scale: float = 0.002, years: float | None = None, seed: int = 0) -> pd.DataFrame:
    """Posterior predictive check: runs at weighted posterior draws, one row per target.

    Columns: target, observed, predicted_median, predicted_low, predicted_high (90 %), inside, unreachable
    (the whole predictive interval lies outside the target's tolerance band), message.
    """
    g = posterior[posterior["generation"] == posterior["generation"].max()]
    wide = g.pivot_table(index="particle", columns="parameter", values="value")
    w = g.groupby("particle")["weight"].first().reindex(wide.index).to_numpy()
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(wide), size=draws, p=w / w.sum())
    params = list(wide.columns)
    model = _Model(scenario, targets, params, scale, years)
    sims = [model({f"p{i}": wide.iloc[k][p] for i, p in enumerate(params)}) for k in picks]
    rows = []
    for t in targets.targets:
        vals = np.array([s[t.name] for s in sims])
        lo, med, hi = np.quantile(vals, [0.05, 0.5, 0.95])
        blo, bhi, tol = t.band()
        unreachable = bool(lo > bhi + tol or hi < blo - tol)
        obs = f"{t.observed:g}" if t.observed is not None else f"{t.range[0]:g}-{t.range[1]:g}"
        msg = (f"Target {t.name!r} is not reached: observed {obs} {t.unit}, the model produces "
               f"{med:.4g} (90 % {lo:.4g}-{hi:.4g})") if unreachable else ""
        rows.append({"target": t.name, "observed": obs, "predicted_median": med, "predicted_low": lo,
                     "predicted_high": hi, "inside": bool(blo <= med <= bhi) or t.distance(med) <= 1,
                     "unreachable": unreachable, "message": msg})
    return pd.DataFrame(rows)
