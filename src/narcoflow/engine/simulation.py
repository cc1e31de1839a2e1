"""`Simulation`: state arrays + the ordered processes + the ledger, stepping one week at a time.

Data flow: `Scenario` -> `Simulation(scenario, seed=, scale=)` -> ``.run()`` -> ``.results``
(`Results`, tidy tables) -> store / analysis / plots.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable

import numpy as np
import pandas as pd

import narcoflow
from narcoflow.engine import arrests, kernels
from narcoflow.engine import state as st
from narcoflow.engine.draws import kernel_stream
from narcoflow.engine.flowlog import FlowLog
from narcoflow.engine.ledger import Ledger
from narcoflow.engine.processes import default_processes
from narcoflow.engine.processes.prices import initial_drug_retail_prices, initial_tier_prices
from narcoflow.engine.recorder import Recorder
from narcoflow.engine.rng import stream
from narcoflow.errors import NarcoflowError
from narcoflow.results.results import Results, run_id_for
from narcoflow.scenario import DRUGS, Scenario, load
from narcoflow.settings import check_run_settings


def _engine_fingerprint() -> str:
    """Short hash of the engine's and the schema's source (the scenario's structure and its kinds
    of value): any change to what the engine computes changes the version stored with runs (and
    so their run ids). Levers and policies (`scenario/policy.py`) are left out: they transform a
    scenario before the engine sees it, and the transformed scenario is in the run id."""
    import hashlib
    from pathlib import Path

    root = Path(__file__).resolve().parent
    files = sorted(root.rglob("*.py")) + [root.parent / "scenario" / n for n in ("schema.py", "values.py")]
    h = hashlib.sha256()
    for f in files:
        h.update(f.relative_to(root.parent).as_posix().encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:8]


#: Version stored with every run: the package version + the engine fingerprint.
ENGINE_VERSION = f"{narcoflow.__version__}+{_engine_fingerprint()}"


class AlreadyRunError(NarcoflowError):
    """`run()` was called on a finished simulation."""


class Simulation:
    """One run of a scenario.

    Parameters
    ----------
    scenario : Scenario or str
        A validated scenario, a built-in name or a YAML path.
    seed : int
        Run seed; the same scenario, seed, scale and version give bit-identical results.
    scale : float
        Share of the real population simulated, in (0, 1]. Extensive outputs are divided by it.
    years : float, optional
        Override the scenario's length.
    profile : bool
        Measure the CPU seconds of each process (all threads together) into ``timings`` and
        ``results.timings``; off by default, as the clock reads cost about 2 % of a small run.

    Examples
    --------
    >>> sim = Simulation("north-korea-2011", seed=1, scale=0.002, years=1).run()
    >>> sim.results.metrics.columns.tolist()
    ['step', 'date', 'metric', 'drug', 'region', 'channel', 'value']
    """

    #: The state shared between processes, by name: what a process declares in its ``reads`` and
    #: ``writes`` (`narcoflow.engine.processes.base.Process`); `state` returns it.
    STATE = (
        "persons", "users", "actors", "shipments", "state_stock", "state_pure", "state_output",
        "state_output_region", "jail", "ledger", "retail_price", "fill", "week_demand",
        "week_consumed", "enforcement_mult", "crossing_open", "foreign_mult", "precursor_mult",
        "arrest_requests", "tier_price", "arrest_hazard", "drug_retail_price",
    )

    def __init__(self, scenario: Scenario | str, *, seed: int = 0, scale: float = narcoflow.DEFAULT_SCALE,
                 years: float | None = None, processes=None, profile: bool = False):
        if not isinstance(scenario, Scenario):
            scenario = load(scenario)
        check_run_settings(seed=seed, scale=scale, years=years)
        self.scenario = scenario
        self.seed = int(seed)
        self.scale = float(scale)
        # A shorter run than the scenario's period simply ends early (later events never happen).
        self.n_steps = scenario.n_steps if years is None else int(round(years * 52.1775))
        self.processes = list(processes) if processes is not None else default_processes()
        self.initialized = False
        self.finished = False
        self.t = 0
        self._date = (-1, scenario.start)
        self.steps_done = 0
        self.flow_log: FlowLog | None = None
        self.profile = bool(profile)
        self.timings = {p.name: 0.0 for p in self.processes} if self.profile else {}
        self._results: Results | None = None

    # ------------------------------------------------------------------ setup
    def rng(self, name: str) -> np.random.Generator:
        """The random stream of process ``name`` (created once per run)."""
        gen = self._rngs.get(name)
        if gen is None:
            gen = self._rngs[name] = stream(self.seed, name)
        return gen

    def draws(self, name: str) -> np.ndarray:
        """The kernel stream of process ``name`` (`narcoflow.engine.draws`; created once per run):
        the state its compiled kernels draw from."""
        state = self._draws.get(name)
        if state is None:
            state = self._draws[name] = kernel_stream(self.seed, name)
        return state

    def restart_streams(self, name: str) -> None:
        """Start the streams of process ``name`` (`rng` and `draws`) again from the run seed, as if
        nothing had been drawn from them: a process whose ``init`` draws calls it first, so that a
        second ``init`` draws the same numbers."""
        self._rngs.pop(name, None)
        self._draws.pop(name, None)

    def init(self) -> Simulation:
        sc = self.scenario
        self._rngs: dict[str, np.random.Generator] = {}
        self._draws: dict[str, np.ndarray] = {}
        self.drugs = DRUGS
        self.n_drugs = len(DRUGS)
        self.region_names = sc.region_names
        self.n_regions = len(self.region_names)
        self.region_index = {n: i for i, n in enumerate(self.region_names)}
        self.dest_names = [d.name for d in sc.border.destinations]
        self.dest_index = {n: i for i, n in enumerate(self.dest_names)}
        self.channel_names = [c.name for c in sc.state.export_channels] + ["private"]
        self.private_channel = len(self.channel_names) - 1
        sizes = np.array([max(1, round(r.population * self.scale)) for r in sc.regions])
        self.persons = st.Persons(sizes)
        self.users = st.Users(self.persons.n, self.n_regions)
        self.actors = st.Actors(self.n_drugs, self.n_regions)
        self.shipments = st.Shipments()
        self.state_stock = np.zeros(self.n_drugs)
        self.state_pure = np.zeros(self.n_drugs)
        # This week's state output by facility and drug, and each facility's region (StateProduction).
        self.state_output = np.zeros((len(sc.state.facilities), self.n_drugs))
        self.state_output_region = np.zeros(len(sc.state.facilities), dtype=np.int64)
        # Who is in jail until when, and per region (`arrests`).
        self.jail = arrests.Jail(self.n_regions)
        self.ledger = Ledger(self.n_drugs)
        self.recorder = Recorder(self.n_steps, sc.start)
        # Market state shared by processes (prices S11; availability for initiation).
        self.retail_price = np.full(self.n_regions, sc.prices.initial_retail_usd_per_g.value)
        # Prices by tier (`TIERS`: producer, wholesale, retail) and region, written by `Prices` at
        # the end of each week and read by the next week's supply-side decisions.
        self.tier_price = initial_tier_prices(sc, self.n_regions)
        # Retail price by drug (`DRUGS` rows) and region, what each drug's users pay (`Retail`):
        # meth's is ``retail_price``, heroin's from its own chain (`Prices`).
        self.drug_retail_price = initial_drug_retail_prices(sc, self.n_regions)
        # Weekly arrest probability of one participant by role (`state.ROLE_NAMES`, then users) and
        # region, written by `Enforcement` each week (what prices and entry price risk with); until
        # then the scenario's probabilities (no capacity limit, no policing).
        enf = sc.enforcement
        base = [enf.weekly_arrest_prob[r].value for r in (*st.ROLE_NAMES, "user")]
        self.arrest_hazard = np.repeat(np.array(base)[:, None], self.n_regions, axis=1)
        self.fill = np.zeros(self.n_regions)
        self.week_demand = np.zeros(self.n_regions)
        self.week_consumed = np.zeros(self.n_regions)
        # Per-step modifiers set by the timeline (events process).
        self.enforcement_mult = np.ones(self.n_regions)
        self.crossing_open = np.ones(len(sc.border.crossings), dtype=bool)
        self.foreign_mult = np.ones(len(self.dest_names))
        self.precursor_mult = 1.0
        # Arrests decided by one process and carried out by `Enforcement` (`arrests`).
        self.arrest_requests = arrests.ArrestRequests()
        for p in self.processes:
            p.init(self)
            p.populate(self)
        self.initialized = True
        return self

    def state(self, name: str):
        """The piece of shared state called ``name`` (one of `STATE`)."""
        if name not in self.STATE:
            raise NarcoflowError(f"unknown state {name!r}; the shared state is {', '.join(self.STATE)}")
        return getattr(self, name)

    # ------------------------------------------------------------------ time
    @property
    def date(self) -> dt.date:
        if self._date[0] != self.t:  # computed once per step (several processes read it)
            self._date = (self.t, self.scenario.start + dt.timedelta(weeks=self.t))
        return self._date[1]

    def date_of(self, step: int) -> dt.date:
        return self.scenario.start + dt.timedelta(weeks=step)

    # ------------------------------------------------------------------ run
    def run(self, *, until: int | None = None,
            progress: Callable[[int, int], None] | None = None) -> Simulation:
        """Run the steps up to ``until`` (default: the end); ``progress(step, n_steps)`` is called
        after each. Can be called again to continue (e.g. after `arrest_actors`). Returns ``self``.
        """
        if self.finished:
            raise AlreadyRunError("Simulation is already complete (create a new Simulation to re-run)")
        if not self.initialized:
            self.init()
        until = self.n_steps if until is None else int(until)
        if not self.steps_done <= until <= self.n_steps:
            raise NarcoflowError(f"until={until}: must be in [{self.steps_done}, {self.n_steps}]")
        for t in range(self.steps_done, until):
            self.t = t
            self.recorder.step = t
            if self.profile:
                for p in self.processes:
                    t0 = time.process_time()
                    p.step(self)
                    self.timings[p.name] += time.process_time() - t0
            else:
                for p in self.processes:
                    p.step(self)
            self.check_ledger()
            self.steps_done = t + 1
            if progress is not None:
                progress(t + 1, self.n_steps)
        self.finished = self.steps_done == self.n_steps
        return self

    def check_ledger(self) -> None:
        a = self.actors
        stocks = self.state_stock + kernels.active_stock(a.stock, a.active)
        sh = self.shipments
        transit = np.bincount(sh.view("drug"), weights=sh.view("grams"), minlength=self.n_drugs)
        self.ledger.check(self.t, stocks, transit)

    def reseed(self, seed: int) -> Simulation:
        """Draw every stream from ``seed`` from now on: branch a running simulation (e.g. to
        replicate what follows an intervention). Deterministic: same state + same seed, same branch.
        """
        self.seed = int(seed)
        self._rngs = {}
        self._draws = {}
        return self

    def enable_flow_log(self) -> FlowLog:
        """Record every transfer of product between nodes from now on (for network snapshots)."""
        if self.flow_log is None:
            self.flow_log = FlowLog()
        return self.flow_log

    @property
    def results(self) -> Results:
        if not self.finished:
            raise NarcoflowError("No results yet: run() has not reached the last step")
        if self._results is None:
            info = {
                "scenario": self.scenario.name,
                "seed": self.seed,
                "scale": self.scale,
                "start": self.scenario.start,
                "steps": self.n_steps,
                "version": ENGINE_VERSION,
                "parameters": json.dumps(self.scenario.model_dump(mode="json"), sort_keys=True),
            }
            info["run_id"] = run_id_for(info)
            df = self.recorder.to_frame(self.scale, self.n_steps)
            self._results = Results(metrics=df, info=info, timings=dict(self.timings))
        return self._results

    def metrics_of(self, names) -> pd.DataFrame:
        """The rows of the metrics ``names`` only, as `results` holds them (same order, same
        values), without building the whole table: what a calibration run reads its targets from."""
        if not self.finished:
            raise NarcoflowError("No results yet: run() has not reached the last step")
        return self.recorder.to_frame(self.scale, self.n_steps, metrics=set(names))

    @property
    def status(self) -> str:
        """``new``, ``initialized`` (no step yet), ``paused at step k of n`` or ``finished``."""
        if self.finished:
            return "finished"
        if self.steps_done:
            return f"paused at step {self.steps_done} of {self.n_steps}"
        return "initialized" if self.initialized else "new"

    def __repr__(self) -> str:
        return (f"Simulation({self.scenario.name!r}; seed={self.seed}; scale={self.scale}; "
                f"{self.scenario.start}..{self.date_of(self.n_steps)}; {self.n_steps} weekly steps; "
                f"{len(self.processes)} processes; {self.status})")

    def _repr_html_(self) -> str:
        from narcoflow.results.display import simulation_html

        return simulation_html(self)

    # ------------------------------------------------------------------ interventions
    def arrest_actors(self, slots: np.ndarray, *, count_role: bool = True) -> None:
        """Arrest the actors in ``slots`` now (stock seized, slots freed, persons jailed; see
        `narcoflow.engine.arrests.arrest_actors`), e.g. between two calls of `run`."""
        arrests.arrest_actors(self, np.asarray(slots, dtype=np.int64), count_role=count_role)

    def region_mask(self, names: list[str] | None) -> np.ndarray:
        if names is None:
            return np.ones(self.n_regions, dtype=bool)
        m = np.zeros(self.n_regions, dtype=bool)
        m[[self.region_index[n] for n in names]] = True
        return m

