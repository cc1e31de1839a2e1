"""Is the method honest? Coverage of the posterior intervals on synthetic truth (issue 14, item 5).

For each of R synthetic data sets:

1. a *truth* is drawn from the prior (a Latin hypercube over the parameters' ranges,
   `narcoflow.calibration.posterior.sample_ranges`);
2. the model runs once at the truth (its own seed) and its value of every compared target becomes a
   synthetic observation: `synthetic_targets` makes each fitted target a point target at that value
   with the target's own measurement model (reliability, hence tolerance, and discrepancy);
   floors, waiting targets, targets outside the simulated years and targets the truth gives 0 are
   left out (named in ``dropped``);
3. the calibration runs on it exactly as on the evidence: ABC-SMC (`narcoflow.calibration.calibrate`),
   optionally inside the box a history match of the synthetic targets leaves (``within``);
4. per parameter: does the posterior 90 % interval (`narcoflow.calibration.outputs.intervals`)
   cover the truth, and how wide is it relative to the prior's 90 % interval.

`coverage_table` summarises per parameter: data sets, covered, coverage, the median width relative
to the prior, and whether the parameter is *identifiable* (median width below
``identifiable_below`` of the prior's). A parameter whose posterior is about as wide as its prior is
not identified by the targets; its coverage says nothing about the method (any interval as wide as
the prior covers), so it is reported but not counted in `overall`. For an honest method the
coverage of the identifiable parameters is about the nominal 90 % (ABC with a tolerance above zero
errs on the wide side, so somewhat more is expected; much less means overconfident intervals).

Everything is stored in one DuckDB file (one calibration per data set; rerun to resume: the truths,
seeds and synthetic targets are reproducible, so each data set has the same calibration id).
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from narcoflow.calibration.batch import Simulator
from narcoflow.calibration.targets import Target, Targets
from narcoflow.errors import NarcoflowError

#: a parameter whose median posterior interval is at least this share of its prior's is reported
#: as not identifiable (the targets leave it about where the prior had it)
IDENTIFIABLE_BELOW = 0.8


def dataset_seed(seed: int, dataset: int) -> int:
    """The seed of data set ``dataset``'s truth run (and of pyabc's generator for its fit)."""
    return int(np.random.SeedSequence([int(seed), 0xC0, int(dataset)]).generate_state(1)[0] % (2**31))


def in_period(targets: Targets, scenario, years: float | None) -> tuple[list[Target], dict[str, str]]:
    """(compared targets whose years are simulated whole, {name: why left out} for the others)."""
    from narcoflow.experiments.runner import n_steps

    steps = n_steps(scenario, years)
    first, last = scenario.start, scenario.start + dt.timedelta(weeks=max(steps - 1, 0))
    kept, dropped = [], {}
    for t in targets.targets:
        if t.waiting:
            dropped[t.name] = "waiting: not a model quantity yet"
            continue
        try:
            t.check_period(first, last)
        except NarcoflowError:
            yrs = f"{t.years[0]}" if t.years[0] == t.years[1] else f"{t.years[0]}-{t.years[1]}"
            dropped[t.name] = f"{yrs} not simulated"
            continue
        kept.append(t)
    return kept, dropped


def synthetic_targets(targets: Sequence[Target], observed: Mapping[str, float], *, name: str = "synthetic",
                      parameters: Sequence[str] = (), discrepancy: float = 0.0
                      ) -> tuple[Targets, dict[str, str]]:
    """Synthetic targets: each fitted target of ``targets`` becomes a point target whose observed
    value is ``observed[name]`` (the model's value at the truth), with the target's own
    reliability (tolerance) and discrepancy. Returns (targets, {name: why left out}).

    Left out: floors (lower bounds any run meets, by design uninformative), waiting targets, and
    targets whose value is missing, not finite or not above 0 (a point at 0 has no place on the
    log scale of the measurement model).
    """
    out, dropped = [], {}
    for t in targets:
        if t.role != "fitted":
            dropped[t.name] = "floor: uninformative by design" if t.role == "floor" else "waiting"
            continue
        v = observed.get(t.name, math.nan)
        if not (math.isfinite(v) and v > 0):
            dropped[t.name] = f"value {v:g} at the truth (a point target needs a value > 0)"
            continue
        raw = t.model_dump(exclude={"observed", "range", "quote", "floor", "waiting"})
        raw["source"] = f"synthetic: the model at the truth ({t.source})" if t.source else "synthetic"
        out.append(Target.model_validate({**raw, "observed": float(v)}))
    if not out:
        raise NarcoflowError("No synthetic target left: every target is a floor, waiting, outside the simulated "
                             f"years or 0 at the truth ({'; '.join(f'{k}: {v}' for k, v in dropped.items())})")
    return Targets(name=name, parameters=list(parameters), discrepancy=discrepancy, targets=out), dropped


def with_measurement_error(targets: Sequence[Target], observed: Mapping[str, float],
                           rng: np.random.Generator) -> dict[str, float]:
    """``observed`` with each target's value multiplied by exp(e), e ~ N(0, V_obs + V_disc)
    (`Target.measurement_variance`): data as the measurement model says the evidence arises from
    the model's output (reality within the discrepancy of the model, observed with the target's
    reliability). Values of targets not in ``targets`` are returned unchanged."""
    out = dict(observed)
    for t in targets:
        if t.name in out and math.isfinite(out[t.name]):
            out[t.name] = float(out[t.name] * math.exp(rng.normal(0.0, math.sqrt(t.measurement_variance()))))
    return out


def interval_rows(posterior: pd.DataFrame, truth: Mapping[str, float],
                  priors: Mapping[str, tuple[float, float]], level: float = 0.9) -> pd.DataFrame:
    """Per parameter: truth, the posterior's weighted median and central ``level`` interval (last
    generation), covered (low <= truth <= high), and width_ratio = interval width over the prior's
    central ``level`` width (uniform prior: level x range)."""
    from narcoflow.calibration.outputs import intervals

    iv = intervals(posterior, level=level).set_index("parameter")
    rows = []
    for p, (lo, hi) in priors.items():
        low, med, high = (float(iv.loc[p, c]) for c in ("low", "median", "high"))
        rows.append({"parameter": p, "truth": float(truth[p]), "low": low, "median": med, "high": high,
                     "covered": bool(low <= truth[p] <= high),
                     "width_ratio": (high - low) / (level * (hi - lo)) if hi > lo else math.nan})
    return pd.DataFrame(rows)


def coverage_table(rows: pd.DataFrame, identifiable_below: float = IDENTIFIABLE_BELOW) -> pd.DataFrame:
    """Per parameter (``rows``: `interval_rows` of every data set): datasets, covered, coverage,
    median_width_ratio, identifiable (median width ratio < ``identifiable_below``)."""
    out = []
    for p, d in rows.groupby("parameter", sort=False):
        ratio = float(d["width_ratio"].median())
        out.append({"parameter": p, "datasets": int(len(d)), "covered": int(d["covered"].sum()),
                    "coverage": float(d["covered"].mean()), "median_width_ratio": ratio,
                    "identifiable": bool(ratio < identifiable_below)})
    return pd.DataFrame(out, columns=["parameter", "datasets", "covered", "coverage", "median_width_ratio",
                                      "identifiable"])


def overall(table: pd.DataFrame) -> dict:
    """Pooled coverage of the identifiable parameters of a `coverage_table`: covered, cases,
    coverage (NaN when no parameter is identifiable), and the parameters left out."""
    ident = table[table["identifiable"]]
    n = int(ident["datasets"].sum())
    return {"covered": int(ident["covered"].sum()), "cases": n,
            "coverage": float(ident["covered"].sum() / n) if n else math.nan,
            "parameters": list(ident["parameter"]),
            "not_identifiable": list(table.loc[~table["identifiable"], "parameter"])}


@dataclass
class Coverage:
    """What `check_coverage` found: the truths, each data set's last-generation posterior and the
    targets it left out; `rows` and `table` re-score them at any interval level."""

    params: list[str]
    priors: dict[str, tuple[float, float]]
    truths: pd.DataFrame  # dataset, seed, calibration_id, one column per parameter
    #: None for a data set whose history match kept no point (the truth counts as not covered)
    posteriors: dict[int, pd.DataFrame | None] = field(default_factory=dict)
    dropped: dict[int, dict[str, str]] = field(default_factory=dict)
    targets: dict[int, list[str]] = field(default_factory=dict)

    def rows(self, level: float = 0.9) -> pd.DataFrame:
        """`interval_rows` of every data set, with a ``dataset`` column."""
        frames = []
        for _, tr in self.truths.iterrows():
            k = int(tr["dataset"])
            truth = {p: float(tr[p]) for p in self.params}
            if self.posteriors.get(k) is None:  # ruled out by the history match: nothing covers the truth
                r = pd.DataFrame([{"parameter": p, "truth": truth[p], "low": math.nan, "median": math.nan,
                                   "high": math.nan, "covered": False, "width_ratio": math.nan}
                                  for p in self.params])
            else:
                r = interval_rows(self.posteriors[k], truth, self.priors, level)
            frames.append(r.assign(dataset=k))
        return pd.concat(frames, ignore_index=True)

    def table(self, level: float = 0.9, identifiable_below: float = IDENTIFIABLE_BELOW) -> pd.DataFrame:
        return coverage_table(self.rows(level), identifiable_below)


@dataclass(frozen=True)
class Within:
    """History-match each synthetic data set first and fit inside the box its last wave keeps
    (`narcoflow.calibration.history`): ``settings`` of the waves and how many."""

    settings: object = None  # narcoflow.calibration.history.Settings; None: its defaults
    waves: int = 2


def check_coverage(scenario, targets: Targets, params: Sequence[str], db: str | Path, *, datasets: int = 10,
                   scale: float = 0.005, years: float | None = None, particles: int = 30,
                   populations: int = 3, workers: int = 1, seed: int = 0,
                   simulator: Simulator | None = None, within: Within | None = None, noise: bool = False,
                   on_dataset: Callable[[int, dict], None] | None = None,
                   on_generation: Callable[[int, int, dict], None] | None = None) -> Coverage:
    """Coverage of ABC-SMC's posterior intervals over ``datasets`` synthetic data sets (module doc).

    ``params``: uncertain parameters of ``scenario`` to fit (their ranges are the uniform priors and
    where the truths are drawn); the others keep the scenario's values. The truth of data set k is
    row k of a Latin hypercube (`sample_ranges(scenario, datasets, seed, params)`), run once with
    seed `dataset_seed(seed, k)`; the fit runs every particle with its own seed (not the truth's:
    common random numbers would make the truth's run reproducible exactly). ``simulator`` replaces
    the engine (a picklable ``(values, seed) -> {target: value}``). ``within``: history-match each
    data set first (`Within`). ``noise``: add observation error and discrepancy drawn from the
    measurement model to the synthetic observations (`with_measurement_error`; default: the
    truth's run as it comes, with only the model's own run-to-run noise). ``on_dataset(k, info)``
    after each data set (truth, calibration id, targets kept and left out); ``on_generation(k, t,
    diagnostics)`` after each generation.
    """
    from narcoflow.calibration.calibrate import calibrate
    from narcoflow.calibration.model import Model
    from narcoflow.calibration.posterior import sample_ranges
    from narcoflow.scenario import uncertain_parameters

    if datasets < 1:
        raise NarcoflowError(f"Number of synthetic data sets must be >= 1, not {datasets}")
    params = list(dict.fromkeys(params))
    unc = uncertain_parameters(scenario)
    missing = [p for p in params if p not in unc]
    if not params or missing:
        raise NarcoflowError("Parameters to check must be uncertain parameters of the scenario (with a range); "
                             f"not: {', '.join(missing) or '(none given)'}")
    priors = {p: (float(unc[p].range[0]), float(unc[p].range[1])) for p in params}
    kept, out_of_period = in_period(targets, scenario, years)
    if not kept:
        raise NarcoflowError("No target lies in the simulated years: " + "; ".join(out_of_period))
    base = Targets(name=targets.name, discrepancy=targets.discrepancy, targets=kept)
    truth_sim = simulator or Model(scenario, base, params, scale, years).run
    draws = sample_ranges(scenario, datasets, seed, params)
    result = Coverage(params, priors, pd.DataFrame())
    truth_rows = []
    for k in range(datasets):
        truth = {p: float(draws.iloc[k][p]) for p in params}
        s = dataset_seed(seed, k)
        observed = truth_sim(truth, s)
        if noise:
            observed = with_measurement_error(kept, observed, np.random.default_rng([int(seed), 0x0B5, k]))
        synth, dropped = synthetic_targets(kept, observed, name=f"{targets.name or 'targets'}-synthetic-{k}",
                                           parameters=params, discrepancy=targets.discrepancy)
        dropped = {**out_of_period, **dropped}
        bounds = None
        hid = None
        if within is not None:
            hid, bounds = _history_box(scenario, synth, params, db, scale, years, workers, simulator, within)
            if bounds is None:  # the history match ruled the truth out with everything else
                result.posteriors[k], result.dropped[k], result.targets[k] = None, dropped, [
                    t.name for t in synth.targets]
                truth_rows.append({"dataset": k, "seed": s, "calibration_id": None, "history_id": hid, **truth})
                if on_dataset:
                    on_dataset(k, {"truth": truth, "calibration_id": None, "history_id": hid,
                                   "targets": result.targets[k], "dropped": dropped, "bounds": None,
                                   "ruled_out": True})
                continue
        np.random.seed(s)  # noqa: NPY002 - pyabc samples with numpy's global generator
        gen_cb = (lambda t, d, k=k: on_generation(k, t, d)) if on_generation else None
        cid, post, _ = calibrate(scenario, synth, db, params=params, populations=populations, particles=particles,
                                 scale=scale, years=years, workers=workers, simulator=simulator,
                                 bounds=bounds or None, on_generation=gen_cb,
                                 labels={"scenario": getattr(scenario, "name", ""),
                                         "targets": f"synthetic truth {k} (seed {seed})"})
        last = post[post["generation"] == post["generation"].max()]
        result.posteriors[k] = last
        result.dropped[k] = dropped
        result.targets[k] = [t.name for t in synth.targets]
        truth_rows.append({"dataset": k, "seed": s, "calibration_id": cid, "history_id": hid, **truth})
        if on_dataset:
            on_dataset(k, {"truth": truth, "calibration_id": cid, "history_id": hid,
                           "targets": result.targets[k], "dropped": dropped, "bounds": bounds})
    result.truths = pd.DataFrame(truth_rows)
    return result


def _history_box(scenario, synth: Targets, params: list[str], db, scale, years, workers, simulator,
                 within: Within) -> tuple[str, dict[str, tuple[float, float]] | None]:
    """History-match ``synth`` and return (history id, box its last wave keeps); a parameter whose
    box has no width keeps its whole range. None when the last wave kept no point (the truth was
    ruled out with everything else)."""
    from narcoflow.calibration.history import Settings, history_id, match, nroy_box, problem_for
    from narcoflow.experiments.executors import make_executor

    st = within.settings or Settings()
    st = Settings(**{**asdict(st), "extra": {**st.extra, "scale": scale, "years": years,
                                             "simulator": _name(simulator)}})
    problem = problem_for(scenario, synth, params, scale, years, simulator=simulator)
    hid = history_id({"scenario": scenario.model_dump(mode="json"), "targets": synth.model_dump(mode="json"),
                      "params": problem.names, "settings": asdict(st)})
    executor = make_executor(workers=workers) if workers > 1 else None
    try:
        match(problem, db, hid, st, waves=within.waves, executor=executor,
              info={"scenario": scenario.name, "targets_ref": synth.name})
    finally:
        if executor is not None:
            executor.close()
    try:
        box = nroy_box(db, hid)
    except NarcoflowError:
        return hid, None
    return hid, {p: (lo, hi) for p, (lo, hi) in box.items() if hi > lo}


def _name(simulator) -> str | None:
    if simulator is None:
        return None
    from narcoflow.calibration.calibrate import _qualified_name

    return _qualified_name(simulator)


def to_json(cov: Coverage, level: float = 0.9, identifiable_below: float = IDENTIFIABLE_BELOW) -> str:
    """The coverage table, the overall figure and every data set's intervals as JSON."""
    table = cov.table(level, identifiable_below)
    return json.dumps({"level": level, "identifiable_below": identifiable_below,
                       "table": table.to_dict("records"), "overall": overall(table),
                       "rows": cov.rows(level).to_dict("records"),
                       "truths": cov.truths.to_dict("records"),
                       "dropped": {str(k): v for k, v in cov.dropped.items()}}, default=str)
