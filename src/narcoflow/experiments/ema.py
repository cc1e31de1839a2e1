"""Exploratory modelling with EMA Workbench: a narcoflow scenario as an EMA ``Model``.

`ema_model` exposes a scenario to EMA Workbench (the ``ema`` extra,
``ema_workbench`` on PyPI): its uncertain parameters (all of them, or a subset, over their ranges or
narrower ones) become ``RealParameter`` uncertainties, the policy levers
(`narcoflow.scenario.policy.LEVERS`, optionally with a start year and regions) become levers,
and the headline outcomes (`narcoflow.experiments.outcomes`, over a window of calendar years)
and user-defined ones (`OutcomeDef`) become ``ScalarOutcome`` objects, with optional yearly
``TimeSeriesOutcome`` objects. ``perform_experiments`` (sequential or multiprocessing), scenario
discovery (``analysis.prim``) and robustness analysis then work on it as on any EMA model.

EMA names must be Python identifiers, so dotted paths and outcome names are spelled with ``_``
(``border.bribe_acceptance`` -> ``border_bribe_acceptance``, ``exports_arrived_kg:China`` ->
``exports_arrived_kg_China``); ``model.function.paths``, ``.levers`` and ``.outcomes`` map them
back. Every experiment runs with the same seed (common random numbers across scenarios and
policies); with ``replications=n`` each runs seeds ``seed .. seed+n-1`` and the outcomes are the
means over them. Same seeds and inputs give bit-identical outcomes.

Examples
--------
>>> from narcoflow.scenario import load
>>> model = ema_model(load("north-korea-2011"), uncertainties=["border.bribe_acceptance"],
...                   levers={"crackdown": {"range": (1, 3)}}, outcomes=["exports_arrived_kg:China"],
...                   scale=0.002, years=1)                                   # doctest: +SKIP
>>> [u.name for u in model.uncertainties], [o.name for o in model.outcomes]   # doctest: +SKIP
(['border_bribe_acceptance'], ['exports_arrived_kg_China'])
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import re
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from narcoflow.errors import NarcoflowError
from narcoflow.experiments.outcomes import _NEEDED, OutcomeDef, Window, check_outcome, outcomes_for
from narcoflow.scenario import Scenario, uncertain_parameters
from narcoflow.scenario.policy import LEVERS

_WHOLE_RUN = Window()

__all__ = ["NarcoflowFunction", "ema_model", "ema_name", "import_ema", "make_prim", "paired_change"]


def import_ema() -> Any:
    """Import ``ema_workbench`` (the ``ema`` extra) or raise `MissingExtraError` naming it.

    EMA Workbench warns on import about optional packages it can do without (ipyparallel,
    altair); those warnings are silenced here.
    """
    from narcoflow import extras

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*(ipyparallel|altair|mpi4py).*")
        warnings.filterwarnings("ignore", category=ImportWarning)
        ema = extras.require("ema_workbench")
        import ema_workbench.analysis.prim  # noqa: F401  (its altair warning, once)
    return ema


def ema_name(text: str) -> str:
    """An EMA name (a Python identifier) for a dotted path or an outcome name."""
    name = re.sub(r"\W+", "_", text).strip("_")
    return f"_{name}" if name[:1].isdigit() else name


def _years_of(scenario: Scenario, steps: int) -> list[int]:
    """The calendar years a run of ``steps`` weeks touches (the last one may be partial)."""
    return sorted({(scenario.start + dt.timedelta(weeks=k)).year for k in range(steps)})


@dataclasses.dataclass(frozen=True, eq=False)
class NarcoflowFunction:
    """The callable EMA runs for each experiment (picklable, so multiprocessing works).

    Keyword arguments: one per uncertainty and lever (EMA names), ``seed``; returns the outcomes
    by EMA name. Built by `ema_model`; its mappings say what each EMA name stands for.
    """

    scenario: Scenario
    scale: float
    years: float | None
    #: EMA name -> dotted parameter path
    paths: Mapping[str, str]
    #: EMA name -> (lever, "value" | "start")
    levers: Mapping[str, tuple[str, str]]
    #: fixed lever settings: lever -> {value, start, regions} (values overridden by lever inputs)
    lever_fixed: Mapping[str, Mapping[str, Any]]
    #: EMA name -> narcoflow outcome name (headline outcome, or an OutcomeDef's name)
    outcomes: Mapping[str, str]
    destinations: tuple[str, ...]
    window: Window
    custom: tuple[OutcomeDef, ...]
    #: EMA names of the outcomes also reported per calendar year
    yearly: tuple[str, ...] = ()

    @property
    def calendar_years(self) -> list[int]:
        """The years of the yearly time series (the ``TIME`` outcome)."""
        from narcoflow.experiments.runner import n_steps

        return _years_of(self.scenario, n_steps(self.scenario, self.years))

    def scenario_for(self, **inputs: float) -> Scenario:
        """The scenario of one experiment: parameters set, then levers applied."""
        from narcoflow.experiments.levers import apply_levers
        from narcoflow.experiments.runner import n_steps
        from narcoflow.scenario import with_values

        values = {path: float(inputs[name]) for name, path in self.paths.items() if name in inputs}
        sc = with_values(self.scenario, values) if values else self.scenario
        settings = {lever: dict(fixed) for lever, fixed in self.lever_fixed.items()}
        for name, (lever, what) in self.levers.items():
            if name not in inputs:
                continue
            if what == "start":
                settings[lever]["start"] = dt.date(int(inputs[name]), 1, 1)
            else:
                settings[lever]["value"] = float(inputs[name])
        if not settings:
            return sc
        until = sc.start + dt.timedelta(weeks=n_steps(sc, self.years))
        return apply_levers(sc, settings, policy="ema", until=until)

    def __call__(self, seed: int = 1, **inputs: float) -> dict[str, Any]:
        from narcoflow.engine import Simulation

        sc = self.scenario_for(**inputs)
        metrics = Simulation(sc, seed=int(seed), scale=self.scale, years=self.years).run().results.metrics
        return self.outcomes_from(metrics)

    def outcomes_from(self, metrics) -> dict[str, Any]:
        """The outcomes of one run's metrics table, by EMA name."""
        metrics = metrics[metrics["metric"].isin(set(_NEEDED) | {d.metric for d in self.custom})]
        return {**self._read(metrics, self.window, self.custom, list(self.outcomes)), **self._yearly(metrics)}

    def _read(self, metrics, window: Window, custom: Sequence[OutcomeDef], names: Sequence[str]):
        defs = outcomes_for(self.destinations, window, custom)
        base = list(outcomes_for(self.destinations, Window(), self.custom))  # names, same order
        by_name = dict(zip(base, defs.values(), strict=True))
        return {name: float(by_name[self.outcomes[name]].fn(metrics)) for name in names}

    def _yearly(self, metrics) -> dict[str, Any]:
        if not self.yearly:
            return {}
        years = self.calendar_years
        series = {name: np.empty(len(years)) for name in self.yearly}
        for i, year in enumerate(years):
            w = Window(year, year)
            custom = [dataclasses.replace(d, window=w) for d in self.custom]
            for name, value in self._read(metrics, w, custom, self.yearly).items():
                series[name][i] = value
        return {"TIME": np.asarray(years, dtype=float), **{f"{n}_yearly": s for n, s in series.items()}}


def _uncertainties(scenario: Scenario, spec) -> dict[str, tuple[str, float, float]]:
    """EMA name -> (path, low, high)."""
    known = uncertain_parameters(scenario)
    if spec is None:
        spec = list(known)
    items = spec.items() if isinstance(spec, Mapping) else ((p, None) for p in spec)
    out: dict[str, tuple[str, float, float]] = {}
    for path, bounds in items:
        if path not in known:
            raise NarcoflowError(
                f"uncertainty {path!r} is not an uncertain parameter of scenario "
                f"{scenario.name!r} (a parameter with a range; `narcoflow params "
                f"{scenario.name}` lists them)."
            )
        lo, hi = (float(v) for v in known[path].range)
        if bounds is not None:
            low, high = (float(v) for v in bounds)
            if not lo <= low < high <= hi:
                raise NarcoflowError(
                    f"uncertainty {path!r}: range [{low:g}, {high:g}] must be a "
                    f"non-empty part of the scenario's range [{lo:g}, {hi:g}]."
                )
            lo, hi = low, high
        if not lo < hi:
            continue  # a degenerate range: nothing to explore
        name = ema_name(path)
        if name in out:
            raise NarcoflowError(f"uncertainties {out[name][0]!r} and {path!r} share the EMA name {name!r}.")
        out[name] = (path, lo, hi)
    return out


def _levers(
    scenario: Scenario, spec
) -> tuple[dict[str, tuple[str, str, float, float, float]], dict[str, dict[str, Any]]]:
    """EMA lever name -> (lever, value|start, low, high, default); fixed settings per lever."""
    if spec is None:
        spec = {}
    items = spec.items() if isinstance(spec, Mapping) else ((name, {}) for name in spec)
    params: dict[str, tuple[str, str, float, float, float]] = {}
    fixed: dict[str, dict[str, Any]] = {}
    allowed = {"range", "regions", "start"}
    for lever, opts in items:
        if lever not in LEVERS:
            raise NarcoflowError(f"lever {lever!r} is unknown; levers are: {', '.join(LEVERS)}.")
        opts = dict(opts or {})
        unknown = sorted(set(opts) - allowed)
        if unknown:
            raise NarcoflowError(
                f"lever {lever!r}: option(s) {unknown} unknown; options are {', '.join(sorted(allowed))}."
            )
        spec_ = LEVERS[lever]
        low, high = (float(v) for v in opts.get("range", (spec_.low, spec_.high)))
        if not spec_.low <= low < high <= spec_.high:
            raise NarcoflowError(
                f"lever {lever!r}: range [{low:g}, {high:g}] must be a non-empty part "
                f"of its allowed range {spec_.allowed}."
            )
        default = min(max(spec_.default, low), high)
        params[lever] = (lever, "value", low, high, default)
        fixed[lever] = {"value": default}
        if opts.get("regions") is not None:
            if not spec_.regional:
                raise NarcoflowError(f"lever {lever!r} is national: it takes no regions.")
            fixed[lever]["regions"] = list(opts["regions"])
        start = opts.get("start")
        if start is not None:
            if not spec_.dated:
                raise NarcoflowError(
                    f"lever {lever!r} applies to the whole run: it takes no start "
                    f"(dated levers: {', '.join(n for n, s in LEVERS.items() if s.dated)})."
                )
            first, last = scenario.start.year, scenario.end.year
            years = (start, start) if isinstance(start, int) else tuple(int(y) for y in start)
            if not first <= years[0] <= years[1] <= last:
                raise NarcoflowError(
                    f"lever {lever!r}: start {start} must be a year, or a (first, last) "
                    f"pair of years, in [{first}, {last}]."
                )
            fixed[lever]["start"] = dt.date(years[0], 1, 1)
            if years[0] < years[1]:
                params[f"{lever}_start"] = (lever, "start", years[0], years[1], years[0])
    return params, fixed


def _outcomes(
    scenario: Scenario, spec, window: Window
) -> tuple[dict[str, str], tuple[OutcomeDef, ...], dict[str, str | None]]:
    """EMA name -> narcoflow outcome name; user-defined outcomes; intended sign per EMA name."""
    dests = tuple(d.name for d in scenario.border.destinations)
    custom: list[OutcomeDef] = []
    names: list[str] = []
    for item in spec if spec is not None else list(outcomes_for(dests)):
        if isinstance(item, OutcomeDef):
            custom.append(item)
            names.append(item.name)
        elif isinstance(item, str) and "=" in item:
            d = OutcomeDef.parse(item)
            custom.append(d)
            names.append(d.name)
        else:
            names.append(check_outcome(str(item), dests))
    defs = outcomes_for(dests, Window(), custom)  # checks custom names against the headline ones
    out: dict[str, str] = {}
    for name in names:
        key = ema_name(name)
        if key in out:
            raise NarcoflowError(f"outcomes {out[key]!r} and {name!r} share the EMA name {key!r}.")
        out[key] = name
    return out, tuple(custom), {key: defs[name].intended for key, name in out.items()}


def ema_model(
    scenario: Scenario,
    *,
    uncertainties: Sequence[str] | Mapping[str, tuple[float, float]] | None = None,
    levers: Sequence[str] | Mapping[str, Mapping[str, Any]] | None = None,
    outcomes: Sequence[str | OutcomeDef] | None = None,
    window: Window = _WHOLE_RUN,
    yearly: bool | Sequence[str] = False,
    scale: float = 0.01,
    years: float | None = None,
    seed: int = 1,
    replications: int = 1,
    name: str | None = None,
) -> Any:
    """An EMA Workbench ``Model`` that runs ``scenario``.

    Parameters
    ----------
    scenario : Scenario
        The scenario (e.g. ``narcoflow.scenario.load("north-korea-2011")``).
    uncertainties : list of paths, or mapping path -> (low, high), optional
        Uncertain parameters (`narcoflow.scenario.uncertain_parameters`) explored as
        ``RealParameter`` objects over their ranges (or the narrower ``(low, high)`` given). Default:
        all of them (parameters whose range is a single value are left out).
    levers : list of lever names, or mapping lever -> options, optional
        Levers (`narcoflow.scenario.policy.LEVERS`) as ``RealParameter`` objects over their allowed
        range. Options: ``range`` (a narrower (low, high)), ``regions`` (for a regional lever),
        ``start`` (a dated lever: a year it starts on 1 January, or a ``(first, last)`` pair of
        years explored as the ``IntegerParameter`` ``<lever>_start``). Default: no levers.
    outcomes : list, optional
        Headline outcome names (`narcoflow.experiments.outcomes.outcomes_for`, e.g.
        ``"exports_arrived_kg:China"``), user-defined `OutcomeDef` objects or their
        ``NAME=METRIC,...`` text. Default: every headline outcome. Each is a ``ScalarOutcome``
        (``MINIMIZE`` / ``MAXIMIZE`` where the outcome has an intended sign).
    window : Window
        Calendar years the outcomes are read over (a user-defined outcome with a window of its own
        keeps it).
    yearly : bool or list of EMA outcome names
        Also report these outcomes (True: all) per calendar year, as ``TimeSeriesOutcome`` objects
        ``<name>_yearly`` beside ``TIME`` (the years; each year replaces the outcome's window).
    scale, years : float
        Population scale and simulated years of each run (`narcoflow.engine.Simulation`).
    seed, replications : int
        Each experiment runs seeds ``seed`` .. ``seed + replications - 1``; outcomes are means.
    name : str, optional
        The model's name (letters and digits); default from the scenario's name.

    Raises
    ------
    MissingExtraError
        ``ema_workbench`` is not installed (``pip install 'narcoflow[ema]'``).
    NarcoflowError
        An unknown parameter, lever or outcome, or a range outside the allowed one.
    """
    from narcoflow.experiments.runner import n_steps

    import_ema()
    from ema_workbench import (
        Constant,
        IntegerParameter,
        RealParameter,
        ReplicatorModel,
        ScalarOutcome,
        TimeSeriesOutcome,
    )
    from ema_workbench import Model as EmaModel

    if not (isinstance(replications, int) and replications >= 1):
        raise NarcoflowError(f"replications={replications!r} must be a whole number >= 1.")
    if not (isinstance(scale, int | float) and 0 < scale <= 1):
        raise NarcoflowError(f"scale={scale!r} is out of range: it must be in (0, 1].")
    steps = n_steps(scenario, years)
    window.check(scenario.start, scenario.start + dt.timedelta(weeks=steps - 1))
    uncs = _uncertainties(scenario, uncertainties)
    lever_params, lever_fixed = _levers(scenario, levers)
    outs, custom, intended = _outcomes(scenario, outcomes, window)
    clash = set(uncs) & set(lever_params)
    if clash or {"seed", "TIME"} & (set(uncs) | set(lever_params) | set(outs)):
        raise NarcoflowError(f"names {sorted(clash | {'seed', 'TIME'})} are used twice or reserved.")
    series = tuple(outs) if yearly is True else tuple(yearly or ())
    unknown = [s for s in series if s not in outs]
    if unknown:
        raise NarcoflowError(f"yearly outcome(s) {unknown} are not outcomes of the model ({', '.join(outs)}).")
    function = NarcoflowFunction(
        scenario=scenario,
        scale=float(scale),
        years=years,
        paths={k: v[0] for k, v in uncs.items()},
        levers={k: (v[0], v[1]) for k, v in lever_params.items()},
        lever_fixed=lever_fixed,
        outcomes=outs,
        destinations=tuple(d.name for d in scenario.border.destinations),
        window=window,
        custom=custom,
        yearly=series,
    )

    model_name = name or re.sub(r"[^0-9A-Za-z]", "", scenario.name) or "narcoflow"
    if not model_name.isalnum():
        raise NarcoflowError(f"model name {model_name!r} must be letters and digits only (an EMA rule).")
    if replications == 1:
        model = EmaModel(model_name, function=function)
        model.constants = [Constant("seed", int(seed))]
        scalar_fn = series_fn = None
    else:
        model = ReplicatorModel(model_name, function=function)
        model.replications = [{"seed": int(seed) + i} for i in range(replications)]
        scalar_fn, series_fn = np.mean, functools.partial(np.mean, axis=0)
    model.uncertainties = [RealParameter(k, lo, hi, variable_name=k) for k, (_, lo, hi) in uncs.items()]
    model.levers = [
        IntegerParameter(k, int(lo), int(hi), default=int(d))
        if what == "start"
        else RealParameter(k, lo, hi, default=d)
        for k, (_, what, lo, hi, d) in lever_params.items()
    ]
    kinds = {"down": ScalarOutcome.MINIMIZE, "up": ScalarOutcome.MAXIMIZE, None: ScalarOutcome.INFO}
    model.outcomes = [ScalarOutcome(k, kind=kinds[intended[k]], function=scalar_fn) for k in outs]
    if series:
        model.outcomes += [TimeSeriesOutcome("TIME", function=series_fn)]
        model.outcomes += [TimeSeriesOutcome(f"{k}_yearly", function=series_fn) for k in series]
    return model


def paired_change(
    model: Any,
    experiments: pd.DataFrame,
    outcomes: Mapping[str, np.ndarray],
    outcome: str,
    policy: str,
    reference: str,
    *,
    relative: bool = True,
) -> pd.DataFrame:
    """The change of ``outcome`` under ``policy`` against ``reference``, per EMA scenario.

    ``experiments, outcomes`` are what ``perform_experiments(model, scenarios=..., policies=[...])``
    returned; every scenario ran under both policies with the same seeds, so the difference is
    paired. Returns one row per scenario: its uncertainties and ``change`` (``policy /
    reference - 1`` if ``relative``, NaN where the reference is 0; else ``policy - reference``).
    """
    if outcome not in outcomes:
        raise NarcoflowError(f"outcome {outcome!r} is not among the results ({', '.join(outcomes)}).")
    frame = experiments.assign(_value=np.asarray(outcomes[outcome], dtype=float))
    known = set(frame["policy"].astype(str))
    missing = [p for p in (policy, reference) if p not in known]
    if missing:
        raise NarcoflowError(
            f"policy {missing[0]!r} is not among the experiments' policies ({', '.join(sorted(known))})."
        )
    frame["policy"] = frame["policy"].astype(str)
    wide = frame.pivot_table(index="scenario", columns="policy", values="_value", aggfunc="first")
    new, old = wide[policy], wide[reference]
    change = (new / old.where(old != 0) - 1) if relative else new - old
    names = [u.name for u in model.uncertainties]
    x = frame[frame["policy"] == reference].set_index("scenario")[names]
    return x.assign(change=change.reindex(x.index))


def make_prim(x: pd.DataFrame, y: np.ndarray, threshold: float = 0.8, **kwargs: Any) -> Any:
    """``ema_workbench.analysis.prim.Prim(x, y, threshold, **kwargs)`` (scenario discovery).

    ``x``: the uncertainties of each case (e.g. `paired_change` without ``change``), ``y``: True
    for the cases of interest. EMA Workbench 2.5 calls ``DataFrame.drop(inplace=True)``, which
    pandas 3 deprecates; that warning is silenced here.
    """
    import_ema()
    from ema_workbench.analysis import prim

    y = np.asarray(y, dtype=bool)
    if y.all() or not y.any():
        raise NarcoflowError(f"PRIM needs cases of both kinds: {int(y.sum())} of {len(y)} are of interest.")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"The inplace keyword")
        return prim.Prim(x.reset_index(drop=True), y, threshold=threshold, **kwargs)
