"""`ReferenceModel`: narcoflow's model written as a plain Mesa 3 model, one agent per person and
per actor. It is slow on purpose: it is the readable specification the fast engine
(`narcoflow.engine.Simulation`) is checked against, in distribution (``tests/test_reference.py``).

Each week the model calls the engine's 16 processes in the engine's order (``PROCESSES`` below,
the same as ``narcoflow.engine.processes.PROCESS_ORDER``). Agent-level rules live in the agents
(``agents.py``); the model holds what is aggregate by nature: the scenario, the calendar and its
events, the state sector (factories, the NSA's stock, export channels), prices, lots in transit,
the jail, the conservation `Ledger` and the metrics `Recorder` (both reused from the engine, so
the metrics table has the engine's contract and the same outcome functions apply).

This module holds the model's construction, its helpers, the weekly step and run loop, Timeline
(process 1), RecordLevels (16) and the results. The other processes are methods mixed in from one
module per part of the chain, in the engine's order: ``production.py`` (2-6: state production,
siphon, state exports, producers), ``trafficking.py`` (7-9: delivery, border smuggling, transit;
`Lot`), ``demand.py`` (10-12: restock, retail, demand), ``enforcement.py`` (13-14: enforcement,
recruitment; `HAZARD_ROWS`) and ``prices.py`` (15).

Example
-------
>>> from narcoflow_reference import ReferenceModel
>>> res = ReferenceModel("north-korea-2011", seed=1, scale=0.0002, years=0.2).run().results
>>> res.metrics.columns.tolist()
['step', 'date', 'metric', 'drug', 'region', 'channel', 'value']
"""

from __future__ import annotations

import datetime as dt
import json
import math

import numpy as np
from mesa import Model
from mesa.agent import AgentSet

import narcoflow
from narcoflow.engine.ledger import Ledger
from narcoflow.engine.recorder import Recorder
from narcoflow.errors import NarcoflowError, ScenarioError
from narcoflow.results.results import Results, run_id_for
from narcoflow.scenario import DRUGS, Scenario, load
from narcoflow_reference.agents import ACTOR_TYPES, Actor, Person
from narcoflow_reference.demand import DemandMixin
from narcoflow_reference.enforcement import HAZARD_ROWS, EnforcementMixin, positions
from narcoflow_reference.prices import PricesMixin
from narcoflow_reference.production import ProductionMixin
from narcoflow_reference.trafficking import Lot, TraffickingMixin

__all__ = ["HAZARD_ROWS", "PROCESSES", "Lot", "ReferenceModel", "positions", "run_reference"]

#: The weekly processes, in the engine's order (narcoflow.engine.processes.PROCESS_ORDER).
PROCESSES = (
    "timeline", "state_production", "nsa_siphon", "state_exports", "producer_entry_exit",
    "private_production", "delivery", "border_smuggling", "transit", "restock", "retail", "demand",
    "enforcement", "recruitment", "prices", "record_levels",
)


class ReferenceModel(ProductionMixin, TraffickingMixin, DemandMixin, EnforcementMixin, PricesMixin,
                     Model):
    """narcoflow's model as a Mesa 3 model (``Model``, ``Agent``, ``AgentSet``); the processes
    2-15 are the mixins' methods (one module per part of the chain, see the module docstring).

    Parameters
    ----------
    scenario : Scenario or str
        A validated scenario, a built-in name or a YAML path (as for `Simulation`).
    seed : int
        Seed of the model's generators (``self.random`` and ``self.rng``).
    scale : float
        Share of the real population simulated, in (0, 1]; extensive outputs are divided by it.
    years : float, optional
        Override the scenario's length.
    """

    def __init__(self, scenario: Scenario | str = "north-korea-2011", *, seed: int = 0,
                 scale: float = narcoflow.DEFAULT_SCALE, years: float | None = None):
        if not isinstance(scenario, Scenario):
            scenario = load(scenario)
        if years is not None and not (isinstance(years, int | float) and 0 < years <= 100):
            raise ScenarioError(f"years={years}: must be in (0, 100]")
        if not (isinstance(scale, int | float) and 0 < scale <= 1):
            raise ScenarioError(f"scale={scale}: must be in (0, 1] (1.0 = the real population)")
        if not (isinstance(seed, int | np.integer) and seed >= 0):
            raise ScenarioError(f"seed={seed}: must be an integer >= 0")
        super().__init__(seed=int(seed))
        sc = self.scenario = scenario
        self.seed, self.scale = int(seed), float(scale)
        self.n_steps = sc.n_steps if years is None else int(round(years * 52.1775))
        self.t = 0

        # Names and indices (as in the engine).
        self.drugs, self.n_drugs = DRUGS, len(DRUGS)
        self.region_names = sc.region_names
        self.n_regions = len(self.region_names)
        self.region_index = {n: i for i, n in enumerate(self.region_names)}
        self.dest_names = [d.name for d in sc.border.destinations]
        self.dest_index = {n: i for i, n in enumerate(self.dest_names)}
        self.channel_names = [c.name for c in sc.state.export_channels] + ["private"]
        self.private_channel = len(self.channel_names) - 1
        self.china = self.dest_index["China"]
        self.crossing_region = [self.region_index[c.region] for c in sc.border.crossings]

        # Observation and accounting: the engine's own recorder and ledger.
        self.ledger = Ledger(self.n_drugs)
        self.recorder = Recorder(self.n_steps, sc.start)

        # Markets and this week's modifiers.
        self.retail_price = np.full(self.n_regions, sc.prices.initial_retail_usd_per_g.value)
        # Prices by tier (producer, wholesale, retail) and region; arrest hazard of one participant
        # by role (then users) and region (written by Enforcement, read by Prices).
        self.tier_price = np.zeros((3, self.n_regions))
        self.arrest_hazard = np.zeros((len(HAZARD_ROWS), self.n_regions))
        self.week_demand = np.zeros(self.n_regions)
        self.week_consumed = np.zeros(self.n_regions)
        self.consumed = np.zeros((self.n_regions, self.n_drugs))
        self.consumed_pure = np.zeros((self.n_regions, self.n_drugs))
        self.enforcement_mult = np.ones(self.n_regions)
        self.crossing_open = np.ones(len(sc.border.crossings), dtype=bool)
        self.foreign_mult = np.ones(len(self.dest_names))
        self.precursor_mult = 1.0

        # The state sector (not agentised: facilities are data, the NSA's stock is one stock).
        self.state_stock = np.zeros(self.n_drugs)
        self.state_pure = np.zeros(self.n_drugs)
        self.capacity = np.zeros((len(sc.state.facilities), self.n_drugs))
        for i, f in enumerate(sc.state.facilities):
            for drug, p in f.capacity_g_per_week.items():
                self.capacity[i, DRUGS.index(drug)] = p.value
        self.state_output = np.zeros_like(self.capacity)
        self.state_output_region = [0] * len(sc.state.facilities)
        self.export_weights = []
        for c in sc.state.export_channels:
            w = np.array([c.destinations[n].value if n in c.destinations else 0.0 for n in self.dest_names])
            self.export_weights.append(w / w.sum() if w.sum() > 0 else w)
        self.onward = {i: [(self.dest_index[o.name], o) for o in sc.border.destinations if o.via == d.name]
                       for i, d in enumerate(sc.border.destinations)}

        self.lots: list[Lot] = []
        self.jail_book: list[tuple[int, Person]] = []   # (release step, person)
        self.pending_arrests: dict[Actor, None] = {}    # smugglers caught at the border this week
        self.arrested: dict[Actor, None] = {}

        # One agent per inhabitant, contiguous by region.
        self.sizes = np.array([max(1, round(r.population * self.scale)) for r in sc.regions])
        self.n_persons = int(self.sizes.sum())
        self.persons_by_region = [[Person(self, r) for _ in range(int(n))] for r, n in enumerate(self.sizes)]
        self.users = AgentSet([], random=self.random)
        self.users_by_region = np.zeros(self.n_regions, dtype=np.int64)
        self.heavy_by_region = np.zeros(self.n_regions, dtype=np.int64)
        self.ever_by_region = np.zeros(self.n_regions, dtype=np.int64)
        self.heavy_use_ratio = sc.consumption.heavy_use_ratio.value
        self.jailed_by_region = np.zeros(self.n_regions, dtype=np.int64)

        # Initialization, in the engine's order (docs/model.md, 5).
        self._init_producers()
        self.guard_corrupt = [self.rng.random(c.guards) < sc.border.bribe_acceptance.value
                              for c in sc.border.crossings]
        self._init_users()
        self.fill(rate=1.0)
        self.rewire(prob=1.0)
        enf = sc.enforcement
        base = np.array([enf.weekly_arrest_prob[r].value for r in HAZARD_ROWS])
        self.arrest_hazard[:] = base[:, None]
        self.tier_price[:2] = self.anchors(self.arrest_hazard)[:2]
        self.tier_price[2] = sc.prices.initial_retail_usd_per_g.value
        # Heroin's own chain (source, wholesale, retail by region) and each drug's retail price
        # (what its users pay; cocaine, which nobody uses, at meth's).
        self.heroin_price = self.heroin_anchors(self.arrest_hazard)
        self.drug_retail_price = np.tile(self.tier_price[2], (self.n_drugs, 1))
        self.drug_retail_price[DRUGS.index("heroin")] = self.heroin_price[2]
        self.running = True

    # ================================================================== helpers
    @property
    def persons(self) -> AgentSet:
        return self.agents_by_type[Person]

    def actors_of(self, cls: type[Actor]) -> AgentSet:
        """The active agents of one role (an empty set if none was ever created)."""
        return self.agents_by_type.get(cls) or AgentSet([], random=self.random)

    def all_actors(self) -> list[Actor]:
        return [a for cls in ACTOR_TYPES for a in self.actors_of(cls)]

    def by_region(self, agents) -> list[list]:
        out: list[list] = [[] for _ in range(self.n_regions)]
        for a in agents:
            out[a.region].append(a)
        return out

    def count_by_region(self, cls: type[Actor]) -> np.ndarray:
        return np.array([len(g) for g in self.by_region(self.actors_of(cls))], dtype=float)

    def sample_free(self, pool: list[Person], k: int, eligible) -> list[Person]:
        """Up to ``k`` distinct persons of ``pool`` for whom ``eligible(person)`` holds, uniformly."""
        chosen: dict[Person, None] = {}
        if not pool:
            return []
        tries = 0
        while len(chosen) < k and tries < 10 * k + 50:
            p = pool[self.random.randrange(len(pool))]
            tries += 1
            if eligible(p):
                chosen[p] = None
        if len(chosen) < k:  # few eligible persons left: take from all of them
            rest = [p for p in pool if eligible(p) and p not in chosen]
            self.random.shuffle(rest)
            chosen.update(dict.fromkeys(rest[: k - len(chosen)]))
        return list(chosen)

    @staticmethod
    def free_for_role(p: Person) -> bool:
        return not p.is_actor and not p.jailed

    def round_s(self, x: float) -> int:
        """Stochastic rounding of a missing number of positions (0.3 -> 1 with probability 0.3)."""
        if x <= 0:
            return 0
        base = math.floor(x)
        return base + int(self.random.random() < x - base)

    @property
    def date(self) -> dt.date:
        return self.scenario.start + dt.timedelta(weeks=self.t)


    # ================================================================== the weekly step
    def step(self) -> None:
        """One week: the processes in the engine's order, then the conservation check."""
        self.t = self.steps - 1  # Mesa has already counted this step
        self.recorder.step = self.t
        for name in PROCESSES:
            getattr(self, name)()
        self.check_ledger()
        if self.steps >= self.n_steps:
            self.running = False

    def run(self) -> ReferenceModel:
        """Run to the end; returns ``self``."""
        if self.steps >= self.n_steps:
            raise NarcoflowError("ReferenceModel is already complete (create a new one to re-run)")
        while self.running:
            self.step()
        return self

    # 1 --------------------------------------------------------------- Timeline (S9)
    def timeline(self) -> None:
        """Release prisoners whose sentence is over; regional policing and dated events set this
        week's modifiers (crackdowns, border closures, foreign crackdowns, precursor control)."""
        for release, person in self.jail_book:
            if release <= self.t and person.jailed:
                person.jailed = False
                self.jailed_by_region[person.region] -= 1
        self.jail_book = [(release, p) for release, p in self.jail_book if release > self.t]
        self.enforcement_mult[:] = [r.policing.value for r in self.scenario.regions]
        self.crossing_open[:] = True
        self.foreign_mult[:] = 1.0
        self.precursor_mult = 1.0
        today = self.date
        week_end = today + dt.timedelta(days=7)
        for ev in self.scenario.events:
            if ev.type == "state_shipment_seizure":
                continue
            if not (ev.start < week_end and today <= (ev.end or dt.date.max)):
                continue
            regions = [self.region_index[n] for n in ev.regions] if ev.regions is not None \
                else list(range(self.n_regions))
            if ev.type == "crackdown":
                self.enforcement_mult[regions] *= ev.multiplier.value
            elif ev.type == "border_closure":
                for c, r in enumerate(self.crossing_region):
                    if r in regions:
                        self.crossing_open[c] = False
            elif ev.type == "foreign_crackdown":
                self.foreign_mult[self.dest_index[ev.destination]] *= ev.multiplier.value
            elif ev.type == "precursor_control":
                self.precursor_mult *= ev.multiplier.value


    # 16 -------------------------------------------------------------- RecordLevels
    def record_levels(self) -> None:
        """End-of-step levels: stocks by holder, lots in transit, users and actors by region."""
        rec = self.recorder
        for d, drug in enumerate(self.drugs):
            rec.set("stock_g", self.state_stock[d], drug=drug, channel="state")
        for cls in ACTOR_TYPES:
            actors = list(self.actors_of(cls))
            stock = sum((a.stock for a in actors), np.zeros(self.n_drugs))
            for d, drug in enumerate(self.drugs):
                rec.set("stock_g", stock[d], drug=drug, channel=cls.role)
            rec.add_by(f"active_{cls.role}s", self.count_by_region(cls), self.region_names, dim="region",
                       level=True)
        transit = self.in_transit()
        for d, drug in enumerate(self.drugs):
            rec.set("in_transit_g", transit[d], drug=drug)
        rec.add_by("users", self.users_by_region.astype(float), self.region_names, dim="region", level=True)

    def in_transit(self) -> np.ndarray:
        out = np.zeros(self.n_drugs)
        for lot in self.lots:
            out[lot.drug] += lot.grams
        return out

    def check_ledger(self) -> None:
        stocks = self.state_stock + sum((a.stock for a in self.all_actors()), np.zeros(self.n_drugs))
        self.ledger.check(self.t, stocks, self.in_transit())

    # ================================================================== results
    @property
    def results(self) -> Results:
        """The metrics table with the engine's contract (extensive values divided by ``scale``)."""
        if self.running:
            raise NarcoflowError("No results yet: run() has not reached the last step")
        info = {
            "scenario": self.scenario.name,
            "seed": self.seed,
            "scale": self.scale,
            "start": self.scenario.start,
            "steps": self.n_steps,
            "version": f"{narcoflow.__version__}+mesa-reference",
            "parameters": json.dumps(self.scenario.model_dump(mode="json"), sort_keys=True),
        }
        info["run_id"] = run_id_for(info)
        return Results(metrics=self.recorder.to_frame(self.scale, self.n_steps), info=info)

    def __repr__(self) -> str:
        return (f"ReferenceModel({self.scenario.name!r}; seed={self.seed}; scale={self.scale}; "
                f"{self.n_persons} persons; {self.n_steps} weekly steps; step {self.steps})")


def run_reference(scenario: Scenario | str = "north-korea-2011", *, seed: int = 0,
                  scale: float = narcoflow.DEFAULT_SCALE, years: float | None = None) -> Results:
    """Run the Mesa reference model and return its `Results` (the counterpart of `narcoflow.run`)."""
    return ReferenceModel(scenario, seed=seed, scale=scale, years=years).run().results
