"""Replaying a stored run: the engine re-simulated to a step, with the flow log on for a window.

A stored run keeps its full scenario, seed, scale and step count, and runs are deterministic, so
re-simulating it reproduces it bit for bit (`check_replay` refuses a replay that does not, e.g.
after an engine change). `narcoflow.network.snapshot` turns the window's flows into a graph and
`narcoflow.network.dynamic` runs the replay on past the step to test removal plans.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from narcoflow.engine import Simulation, default_processes
from narcoflow.engine.processes.base import Process
from narcoflow.errors import NetworkError
from narcoflow.results.results import Results
from narcoflow.scenario import Scenario


class ActorCatalog(Process):
    """Remembers the role and region of every actor uid (inserted after each process while on).

    Draws no random numbers and changes no state, so a replay with catalogues is bit-identical
    to one without. An actor can enter and leave within one step (a producer arrested the week
    it entered), hence a look after every process, not only at the end of the step.
    """

    name = "network_catalog"

    def __init__(self, book: dict[str, np.ndarray]):
        self.book = book

    def step(self, sim) -> None:
        if not self.book["on"][0]:
            return
        a = sim.actors
        n = a.next_uid
        if len(self.book["role"]) < n:
            for key, fill in (("role", -1), ("region", -1), ("since", -1)):
                grown = np.full(max(n, 2 * len(self.book[key])), fill, dtype=np.int64)
                grown[: len(self.book[key])] = self.book[key]
                self.book[key] = grown
        act = np.flatnonzero(a.active)
        uid = a.uid[act]
        self.book["role"][uid] = a.role[act]
        self.book["region"][uid] = a.region[act]
        self.book["since"][uid] = a.since[act]


def run_info(source, db) -> tuple[dict[str, Any], pd.DataFrame | None]:
    """The run identity (and stored metrics, to check the replay) of a snapshot source."""
    if isinstance(source, Results):
        return dict(source.info), source.metrics
    if isinstance(source, Simulation):
        if source.initialized:
            raise NetworkError("snapshot() needs a Simulation that has not started yet (it is "
                               "replayed from step 0); pass a new Simulation, a Results or a run id.")
        sc = source.scenario
        info = {"run_id": None, "scenario": sc.name, "seed": source.seed, "scale": source.scale,
                "steps": source.n_steps, "version": None,
                "parameters": json.dumps(sc.model_dump(mode="json"), sort_keys=True)}
        return info, None
    if isinstance(source, dict):
        missing = [k for k in ("parameters", "seed", "scale", "steps") if k not in source]
        if missing:
            raise NetworkError(f"a run given as a dict needs the keys parameters, seed, scale and "
                               f"steps (a `runs` row); {', '.join(missing)} missing.")
        return dict(source), None
    if isinstance(source, str):
        from narcoflow.results import store

        res = store.load_results(db if db is not None else store.DEFAULT_DB, source)
        return dict(res.info), res.metrics
    raise NetworkError(f"cannot take a network snapshot of {type(source).__name__}: give a run id "
                       "(with db=), a Results, a `runs` row or a new Simulation.")


def check_step(step: int | None, steps: int, *, flag: str = "step") -> int:
    """``step`` (default: the last) as an int in [1, steps], or a `NetworkError`."""
    if step is None:
        return int(steps)
    if isinstance(step, bool) or not isinstance(step, int | np.integer):
        raise NetworkError(f"{flag} {step!r} must be a whole number of weeks in [1, {steps}].")
    if not 1 <= step <= steps:
        raise NetworkError(f"{flag} {step} is outside the run: it must be in [1, {steps}] (the run "
                           f"has {steps} weekly steps; step N is the network after N weeks).")
    return int(step)


def replay(info: dict[str, Any], *, extra_steps: int = 0, catalog: bool = False
           ) -> tuple[Simulation, dict[str, np.ndarray] | None]:
    """A fresh `Simulation` of a stored run, able to run ``extra_steps`` past its end.

    The step count only sizes the recorder, so the first ``steps`` steps are bit-identical to
    the stored run. With ``catalog``, actor catalogues are interleaved with the processes (see
    `ActorCatalog`; switched on by setting ``book["on"][0] = True``).
    """
    params = info["parameters"]
    scenario = Scenario.model_validate(json.loads(params) if isinstance(params, str) else params)
    book = None
    procs = default_processes()
    if catalog:
        book = {"on": np.zeros(1, dtype=bool), "role": np.full(256, -1, dtype=np.int64),
                "region": np.full(256, -1, dtype=np.int64), "since": np.full(256, -1, dtype=np.int64)}
        procs = [q for p in procs for q in (p, ActorCatalog(book))]
    sim = Simulation(scenario, seed=int(info["seed"]), scale=float(info["scale"]), processes=procs)
    sim.n_steps = int(info["steps"]) + int(extra_steps)
    return sim, book


def check_replay(sim: Simulation, metrics: pd.DataFrame | None, step: int, info: dict) -> None:
    """Raise if the replay's flows up to ``step`` differ from the stored run's (engine changed)."""
    if metrics is None or metrics.empty:
        return
    rec = sim.recorder
    for metric in ("produced_g", "consumed_g", "seized_g"):
        cols = [i for i, k in enumerate(rec.keys) if k[0] == metric]
        mine = float(rec.values[:step, cols].sum()) / sim.scale
        m = metrics[(metrics["metric"] == metric) & (metrics["step"] < step)]
        stored = float(m["value"].sum())
        if not math.isclose(mine, stored, rel_tol=1e-9, abs_tol=1e-9):
            made, now = info.get("version"), _version()
            why = (f"the engine has changed since the run was stored (both say version {now}: a "
                   "development change)" if made == now else
                   f"the run was made with narcoflow {made} and this is {now}")
            raise NetworkError(
                f"re-simulating run {info.get('run_id')} does not reproduce it: {metric} up to step "
                f"{step} is {mine:.6g} g, the stored run has {stored:.6g} g; {why}. Re-run the "
                "scenario with this version and take the snapshot of the new run.")


def _version() -> str:
    from narcoflow.engine.simulation import ENGINE_VERSION

    return ENGINE_VERSION


def _holdings(sim: Simulation) -> np.ndarray:
    """Grams held per actor slot: stock of every drug plus the domestic lots it carries."""
    a = sim.actors
    held = a.stock.sum(axis=1)
    sh = sim.shipments
    if sh.n:
        dom = ~sh.view("foreign") & (sh.view("carrier") >= 0)
        held = held + np.bincount(sh.view("carrier")[dom], weights=sh.view("grams")[dom], minlength=a.cap)
    return held


def _by_uid(sim: Simulation, per_slot: np.ndarray) -> dict[int, float]:
    a = sim.actors
    act = np.flatnonzero(a.active)
    return dict(zip(a.uid[act].tolist(), per_slot[act].tolist(), strict=True))


@dataclass
class Window:
    """A replay stopped at ``step`` with what happened over the window before it."""

    sim: Simulation              #: the replay, at ``step`` (catalogues off)
    book: dict[str, np.ndarray]  #: role, region and since of every actor uid seen (`ActorCatalog`)
    flows: pd.DataFrame          #: the flow log of the window (``src, dst, grams``, simulated grams)
    held0: dict[int, float]      #: grams held per actor uid at the start of the window
    held1: dict[int, float]      #: ... and at its end
    state0: float                #: the state's stock at the start of the window (simulated grams)


def replay_window(info: dict[str, Any], metrics: pd.DataFrame | None, step: int, window: int,
                  *, horizon: int) -> Window:
    """Re-simulate a run to ``step`` with the flow log and actor catalogues on for the last
    ``window`` weeks, checked against the stored ``metrics``; the replay can run ``horizon``
    weeks past ``step``."""
    steps = int(info["steps"])
    sim, book = replay(info, extra_steps=max(0, step + horizon - steps), catalog=True)
    sim.init()
    start = step - window
    sim.run(until=start)
    held0 = _by_uid(sim, _holdings(sim))
    state0 = float(sim.state_stock.sum())
    book["on"][0] = True
    book_proc = next(p for p in sim.processes if isinstance(p, ActorCatalog))
    book_proc.step(sim)  # actors alive at the start of the window
    log = sim.enable_flow_log()
    sim.run(until=step)
    book["on"][0] = False
    check_replay(sim, metrics, step, info)
    return Window(sim=sim, book=book, flows=log.to_frame(), held0=held0,
                  held1=_by_uid(sim, _holdings(sim)), state0=state0)
