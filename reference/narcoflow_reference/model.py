"""`ReferenceModel`: narcoflow's model written as a plain Mesa 3 model, one agent per person and
per actor. It is slow on purpose: it is the readable specification the fast engine
(`narcoflow.engine.Simulation`) is checked against, in distribution (``tests/test_reference.py``).

Each week the model calls the engine's 16 processes in the engine's order (``PROCESS`` below,
the same as ``narcoflow.engine.processes.PROCESS_ORDER``). Agent-level rules live in the agents
(``agents.py``); the model holds what is aggregate by nature: the scenario, the calendar and its
events, the state sector (factories, the NSA's stock, export channels), prices, lots in transit,
the jail, the conservation `Ledger` and the metrics `Recorder` (both reused from the engine, so
the metrics table has the engine's contract and the same outcome functions apply).

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
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
from mesa import Model
from mesa.agent import AgentSet

import narcoflow
from narcoflow.engine.ledger import Ledger
from narcoflow.engine.recorder import Recorder
from narcoflow.errors import NarcoflowError, ScenarioError
from narcoflow.results.results import Results, run_id_for
from narcoflow.scenario import DRUGS, Scenario, load
from narcoflow_reference.agents import (
    ACTOR_TYPES,
    METH,
    Actor,
    Deliverer,
    Person,
    Producer,
    Seller,
    Smuggler,
    Wholesaler,
    logistic,
)

#: The rows of the arrest hazard: the roles, then users.
HAZARD_ROWS = ("producer", "deliverer", "wholesaler", "seller", "smuggler", "user")

#: The weekly processes, in the engine's order (narcoflow.engine.processes.PROCESS_ORDER).
PROCESSES = (
    "timeline", "state_production", "nsa_siphon", "state_exports", "producer_entry_exit",
    "private_production", "delivery", "border_smuggling", "transit", "restock", "retail", "demand",
    "enforcement", "recruitment", "prices", "record_levels",
)


def positions(base, per: float) -> np.ndarray:
    """Positions a tier needs in each region: ``base / per``, but at least one where ``base > 0``
    (a province with users has a seller to buy from, whatever the scale)."""
    return np.array([max(b / per, 1.0) if b > 0 else 0.0 for b in base])


@dataclass(slots=True)
class Lot:
    """Product in transit: domestic (a deliverer carries it to a wholesaler) or abroad."""

    drug: int
    grams: float
    pure: float
    arrive: int                       # step of arrival
    foreign: bool
    dest: object = None               # Wholesaler (domestic; None once it is gone) or destination index
    dest_region: int = -1             # domestic: the wholesaler's region (fallback if it is gone)
    channel: int = -1                 # export channel index, or the private channel
    carrier: Deliverer | None = None  # domestic: the deliverer carrying it (seized with them)
    forced: bool = False              # seized on arrival for sure (S9)
    price_factor: float = 0.0         # state lots: revenue factor of the channel
    interdiction: float = 0.0         # probability of seizure on arrival


class ReferenceModel(Model):
    """narcoflow's model as a Mesa 3 model (``Model``, ``Agent``, ``AgentSet``).

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

    # ================================================================== shared operations
    def book_production(self, drug: int, grams: float, region: int, channel: str) -> None:
        self.ledger.produced[drug] += grams
        self.recorder.add("produced_g", grams, drug=self.drugs[drug], region=self.region_names[region],
                          channel=channel)

    def producer_net(self, output: float, region: int, availability: float) -> float:
        """ProducerEntryExit: expected weekly net gain of producing ``output`` grams over legal
        work, net of the expected penalty (USD): last week's producer price, precursor cost /
        availability, last week's arrest hazard x penalty cost."""
        sc = self.scenario
        pv = sc.private
        price = self.tier_price[0, region]
        margin = output * (price - pv.precursor_cost_usd_per_g.value / max(availability, 1e-9))
        risk = self.arrest_hazard[0, region] * pv.penalty_cost_usd.value
        return margin - pv.legal_income_usd_per_week.value - risk

    def consume(self, region: int, drug: int, grams: float, pure: float) -> None:
        self.consumed[region, drug] += grams
        self.consumed_pure[region, drug] += pure

    def send_domestic_lot(self, carrier: Deliverer, dest: Wholesaler, drug: int, grams: float, pure: float) -> None:
        self.lots.append(Lot(drug, grams, pure, self.t + self.scenario.distribution.transit_weeks, False,
                             dest=dest, dest_region=dest.region, channel=self.private_channel, carrier=carrier))

    def send_abroad_private(self, smuggler: Smuggler, drug: int, grams: float, pure: float) -> None:
        china = self.scenario.border.destinations[self.china]
        self.lots.append(Lot(drug, grams, pure, self.t + china.transit_weeks, True, dest=self.china,
                             channel=self.private_channel, interdiction=china.interdiction_prob.value))
        self.recorder.add("exported_g", grams, drug=self.drugs[drug], region="China", channel="private")
        self.recorder.add("private_export_revenue_usd", grams * china.price_usd_per_g.value)

    def ship_state_lot(self, drug: int, grams: float, dest: int, channel: int, transit: int,
                       price_factor: float, interdiction: float, forced: bool = False) -> None:
        purity = self.state_pure[drug] / self.state_stock[drug]
        self.state_stock[drug] -= grams
        self.state_pure[drug] -= grams * purity
        self.lots.append(Lot(drug, grams, grams * purity, self.t + transit, True, dest=dest, channel=channel,
                             forced=forced, price_factor=price_factor, interdiction=interdiction))
        self.recorder.add("exported_g", grams, drug=self.drugs[drug], region=self.dest_names[dest],
                          channel=self.channel_names[channel])

    def start_using(self, person: Person, *, counted: bool) -> None:
        """A person becomes a (light) user: base use (lognormal, mean ``use_g_per_week``), a drug,
        and a random seller of the region if there is one. ``counted``: an initiation (a
        never-user), else a relapse (a former user) or an initial user."""
        c = self.scenario.consumption
        sigma = c.use_dispersion.value
        person.is_user = True
        person.heavy = False
        if not person.ever:
            person.ever = True
            self.ever_by_region[person.region] += 1
        person.use_g = c.use_g_per_week.value * self.random.lognormvariate(-0.5 * sigma**2, sigma)
        person.drug = 1 if self.random.random() < c.heroin_share.value else METH
        local = self._sellers_of_region[person.region]
        person.seller = local[self.random.randrange(len(local))] if local else None
        self.users.add(person)
        self.users_by_region[person.region] += 1
        if counted:
            self.recorder.add("initiations", 1.0, region=self.region_names[person.region])

    def escalate(self, person: Person) -> None:
        person.heavy = True
        self.heavy_by_region[person.region] += 1

    def stop_using(self, person: Person) -> None:
        """A user stops (quits, or is jailed): a former user from now on."""
        person.is_user = False
        person.seller = None
        if person.heavy:
            person.heavy = False
            self.heavy_by_region[person.region] -= 1
        self.users.discard(person)
        self.users_by_region[person.region] -= 1

    def jail(self, person: Person, role: str = "user") -> None:
        """An arrested person stops using, leaves its role and is jailed for ``role``'s sentence
        (E1, E2). A person arrested as a user who also holds a role is arrested in that role too
        (stock seized, removed, no exposure) and serves that role's sentence: nobody trades from jail."""
        if person.is_actor:
            roles = [a for a in self.all_actors() if a.person is person]
            if roles:
                self.arrest_actors(roles)  # removes them first, then jails the person in its role
                return
        if person.is_user:
            self.stop_using(person)
        person.is_actor = False
        if not person.jailed:
            self.jailed_by_region[person.region] += 1
        person.jailed = True
        self.jail_book.append((self.t + int(round(self.scenario.enforcement.sentence_weeks[role].value)), person))

    def record_arrests(self, role: str, region: int, n: int) -> None:
        self.recorder.add("arrests", float(n), region=self.region_names[region], channel=role)

    def seize_stock(self, actor: Actor, agency: str) -> None:
        """Seize what ``actor`` holds and the domestic lots it carries (S12)."""
        for d in np.flatnonzero(actor.stock > 0):
            self._seize(int(d), float(actor.stock[d]), actor.region, agency)
        actor.stock = np.zeros(self.n_drugs)
        actor.pure = np.zeros(self.n_drugs)
        carried = [lot for lot in self.lots if not lot.foreign and lot.carrier is actor]
        for lot in carried:
            self._seize(lot.drug, lot.grams, actor.region, agency)
        if carried:
            self.lots = [lot for lot in self.lots if not (not lot.foreign and lot.carrier is actor)]

    def _seize(self, drug: int, grams: float, region: int, agency: str) -> None:
        self.recorder.add("seized_g", grams, drug=self.drugs[drug], region=self.region_names[region], channel=agency)
        self.ledger.seized[drug] += grams

    def arrest_actors(self, actors: list[Actor]) -> None:
        """Arrest actors: seize their stock by their role's agency, jail them, remove them."""
        agency = self.scenario.enforcement.agency
        for a in actors:
            self.seize_stock(a, agency[a.role])
            self.record_arrests(a.role, a.region, 1)
        self.remove_actors(actors)
        for a in actors:
            self.jail(a.person, a.role)

    def remove_actors(self, gone: list[Actor]) -> None:
        """Remove actors from the model and cut every tie to them at once: other actors' supplier
        and export tie, and the destination of domestic lots heading to them (users drop a tie to
        a removed seller when they next look at it, in Retail)."""
        gone_set = dict.fromkeys(gone)
        for a in gone:
            a.active = False
            a.remove()
        for a in self.all_actors():
            if a.supplier in gone_set:
                a.supplier = None
            if isinstance(a, Wholesaler) and a.export_tie in gone_set:
                a.export_tie = None
        for lot in self.lots:
            if not lot.foreign and lot.dest in gone_set:
                lot.dest = None

    # ================================================================== initialization
    def _init_producers(self) -> None:
        """Skilled pools of the chemical cities (S6) and the initial producers (T3, T4)."""
        sc = self.scenario
        pv = sc.private
        self.city_region = [self.region_index[c.region] for c in pv.chemical_cities]
        self.skilled_pools: list[list[Person]] = []
        for c, r in zip(pv.chemical_cities, self.city_region, strict=True):
            x = c.population * self.scale * c.skilled_share.value  # stochastically rounded (scale-free)
            k = min(int(x) + int(self.rng.random() < x - int(x)), int(self.sizes[r]))
            people = self.persons_by_region[r]
            pool = [people[i] for i in sorted(self.rng.choice(len(people), size=k, replace=False))]
            for p in pool:
                p.skilled = True
            self.skilled_pools.append(pool)
        self.pool_base = [float(len(p)) for p in self.skilled_pools]
        self.pool_target = list(self.pool_base)
        self.city_of_region = {}
        for ci in range(len(self.city_region) - 1, -1, -1):
            self.city_of_region[self.city_region[ci]] = ci
        n0 = pv.initial_producers_per_million.value * self.n_persons / 1e6
        sizes = np.array([len(p) for p in self.skilled_pools], dtype=float)
        if sizes.sum() > 0 and n0 > 0:
            per_city = self.rng.multinomial(int(self.rng.poisson(n0)), sizes / sizes.sum())
            for ci, k in enumerate(per_city):
                self.enter_producers(ci, int(k))

    def enter_producers(self, city: int, k: int) -> None:
        """Up to ``k`` free skilled persons of the city's pool become producers (S6)."""
        r = self.city_region[city]
        for person in self.sample_free(self.skilled_pools[city], k, self.free_for_role):
            Producer(self, person, r, city)

    def _init_users(self) -> None:
        """Initial users: each person uses with its region's initial prevalence (no seller yet)."""
        self._sellers_of_region = self.by_region(self.actors_of(Seller))
        prevalence = [r.initial_prevalence.value for r in self.scenario.regions]
        for r, people in enumerate(self.persons_by_region):
            for p in people:
                if self.random.random() < prevalence[r]:
                    self.start_using(p, counted=False)

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

    # 2 --------------------------------------------------------------- StateProduction (S1-S4)
    def state_production(self) -> None:
        """The state factories produce capacity x schedule multiplier x scale into the NSA's stock,
        booked in the former region before a relocation (S4)."""
        m = 1.0
        for s in sorted(self.scenario.state.production_schedule, key=lambda s: s.start):
            if s.start <= self.date:
                m = s.multiplier.value
        self.state_output[:] = self.capacity * m * self.scale
        for i, f in enumerate(self.scenario.state.facilities):
            before = f.relocated_from is not None and self.date < f.relocation_date
            r = self.region_index[f.relocated_from if before else f.region]
            self.state_output_region[i] = r
            for d in range(self.n_drugs):
                g = self.state_output[i, d]
                if g > 0:
                    self.state_stock[d] += g
                    self.state_pure[d] += g * f.purity.value
                    self.book_production(d, g, r, "state")

    # 3 --------------------------------------------------------------- NsaSiphon (S5)
    def nsa_siphon(self) -> None:
        """A share of each facility's output leaks to a random wholesaler of its region (of any
        region if it has none)."""
        rate = self.scenario.state.siphon_rate.value
        wholesalers = list(self.actors_of(Wholesaler))
        if rate <= 0 or not wholesalers:
            return
        for i, r in enumerate(self.state_output_region):
            pool = [w for w in wholesalers if w.region == r] or wholesalers
            w = pool[self.random.randrange(len(pool))]
            for d in range(self.n_drugs):
                g = min(self.state_output[i, d] * rate, self.state_stock[d])
                if g <= 0:
                    continue
                purity = self.state_pure[d] / self.state_stock[d]
                self.state_stock[d] -= g
                self.state_pure[d] -= g * purity
                w.stock[d] += g
                w.pure[d] += g * purity
                self.recorder.add("siphoned_g", g, drug=self.drugs[d], region=self.region_names[r])

    # 4 --------------------------------------------------------------- StateExports (S8, S9)
    def state_exports(self) -> None:
        """The dated S9 shipment (seized on arrival), then each channel ships lots of a share of
        the NSA's stock to destinations drawn by the channel's weights."""
        sc = self.scenario
        channels = sc.state.export_channels
        names = [c.name for c in channels]
        for ev in sc.events:
            if ev.type == "state_shipment_seizure" and self.date <= ev.start < self.date + dt.timedelta(days=7):
                d = self.drugs.index(ev.drug)
                grams = min(ev.grams.value * self.scale, self.state_stock[d])
                ch = names.index(ev.channel) if ev.channel in names else 0
                if grams > 0:
                    self.ship_state_lot(d, grams, self.dest_index[ev.destination], ch, channels[ch].transit_weeks,
                                        channels[ch].price_factor.value, 1.0, forced=True)
        for ci, c in enumerate(channels):
            lot = c.lot_g.value * self.scale
            for d in range(self.n_drugs):
                expected = self.state_stock[d] * c.share_of_stock_per_week.value / lot
                n_lots = int(expected) + int(self.random.random() < expected - int(expected))
                n_lots = min(n_lots, int(self.state_stock[d] // lot))
                if n_lots == 0 or self.export_weights[ci].sum() == 0:
                    continue
                for dest in self.rng.choice(len(self.dest_names), size=n_lots, p=self.export_weights[ci]):
                    prob = sc.border.destinations[dest].interdiction_prob.value
                    self.ship_state_lot(d, lot, int(dest), ci, c.transit_weeks, c.price_factor.value,
                                        prob * c.interdiction_multiplier.value)

    # 5 --------------------------------------------------------------- ProducerEntryExit (S6, S7)
    def producer_entry_exit(self) -> None:
        """Skilled pools grow with released state workers; producers leave on poor economics;
        then, per chemical city, k ~ Binomial(pool size, p_entry) free skilled persons enter on
        expected profit vs. risk vs. legal income, x the demand pull of last week's shortage."""
        pv = self.scenario.private
        availability = pv.precursor_availability.value * self.precursor_mult
        self.grow_pools()
        self.actors_of(Producer).shuffle_do("consider_exit", availability)
        if availability <= 0:
            return
        producers = list(self.actors_of(Producer))
        # Demand pull: last week's national shortage below the normal fill draws entrants.
        demand, normal = self.week_demand.sum(), self.scenario.prices.normal_fill.value
        shortage = max(0.0, normal - self.week_consumed.sum() / demand) / normal if demand > 0 else 0.0
        pull = 1.0 + pv.demand_pull.value * shortage
        for ci, pool in enumerate(self.skilled_pools):
            local = [p.sell_ema for p in producers if p.city == ci]
            sell = sum(local) / len(local) if local else 1.0
            value = (pv.planning_horizon_weeks.value
                     * self.producer_net(pv.output_g_per_week.value * availability * sell, self.city_region[ci],
                                         availability)
                     - pv.setup_cost_usd.value)
            p_entry = pv.max_entry_rate.value * availability * logistic(value / pv.setup_cost_usd.value) * pull
            self.enter_producers(ci, int(self.rng.binomial(len(pool), min(1.0, p_entry))))

    def grow_pools(self) -> None:
        """Former state workers join the skilled pool of the chemical city where state capacity
        stands idle (T8): capacity - this week's output where the facility is, the whole capacity
        at the former site of a facility that moved (S4, T5); a pool rises to its base +
        released_skilled_per_kg_week x idle kg/week x scale (stochastically rounded), never falls."""
        sc = self.scenario
        idle = [0.0] * len(self.skilled_pools)
        for i, f in enumerate(sc.state.facilities):
            cap = float(self.capacity[i].sum())
            here = self.state_output_region[i]
            if here in self.city_of_region:
                idle[self.city_of_region[here]] += max(0.0, cap - float(self.state_output[i].sum()) / self.scale)
            if f.relocated_from is not None:
                old = self.region_index[f.relocated_from]
                if old != here and old in self.city_of_region:
                    idle[self.city_of_region[old]] += cap
        per_g = sc.private.released_skilled_per_kg_week.value / 1000.0
        for ci, pool in enumerate(self.skilled_pools):
            target = self.pool_base[ci] + per_g * idle[ci] * self.scale
            if target <= self.pool_target[ci] + 1e-12:
                continue
            self.pool_target[ci] = target
            k = self.round_s(target) - len(pool)
            people = self.persons_by_region[self.city_region[ci]]
            if k <= 0 or len(pool) + k > len(people):
                continue
            candidates = [p for p in people if not p.skilled]
            for i in sorted(self.rng.choice(len(candidates), size=k, replace=False)):
                candidates[i].skilled = True
                pool.append(candidates[i])

    # 6 --------------------------------------------------------------- PrivateProduction (S6, S7, S10)
    def private_production(self) -> None:
        """Each producer makes its output x precursor availability (not while holding a month of it)."""
        availability = self.scenario.private.precursor_availability.value * self.precursor_mult
        if availability > 0:
            self.actors_of(Producer).do("produce", availability)

    # 7 --------------------------------------------------------------- Delivery (S11)
    def delivery(self) -> None:
        """Wholesalers' needs (target cover of their sellers' demand and their exports, less stock
        and lots on the way); each deliverer buys what its wholesalers lack from its producers and
        ships it to them pro rata to need."""
        dist = self.scenario.distribution
        sellers_demand: dict[Wholesaler, float] = defaultdict(float)
        for s in self.actors_of(Seller):
            if s.supplier is not None:
                sellers_demand[s.supplier] += s.demand_ema
        on_the_way: dict[Wholesaler, float] = defaultdict(float)
        for lot in self.lots:
            if not lot.foreign and lot.dest is not None:
                on_the_way[lot.dest] += lot.grams
        clients: dict[Deliverer, list[tuple[Wholesaler, float]]] = defaultdict(list)
        for w in self.actors_of(Wholesaler):
            if w.supplier is not None:
                need = w.need(sellers_demand[w], on_the_way[w], dist.wholesaler_target_cover_weeks.value)
                clients[w.supplier].append((w, need))
        need_d = {d: sum(n for _, n in ws) for d, ws in clients.items()}
        producers = self.actors_of(Producer).select(lambda p: p.supplier is not None)
        producers_of = producers.groupby("supplier", result_type="list").groups
        self.actors_of(Deliverer).do(lambda d: d.buy_from(producers_of.get(d, []), need_d.get(d, 0.0)))
        for d, ws in clients.items():
            d.ship_to(ws, need_d[d], dist.rewire_prob.value)

    # 8 --------------------------------------------------------------- BorderSmuggling (S10, S13)
    def border_smuggling(self) -> None:
        """Bribes asked and perceived risks are updated; wholesalers tied to a smuggler hand it
        their export share (expected export value after risk vs the wholesale price); each
        smuggler holding product then chooses a crossing and tries to cross (none if every
        crossing is closed)."""
        self.update_route_state()
        values, self.route_pr = self.route_values()
        wholesale = self.tier_price[1]
        for w in self.actors_of(Wholesaler):
            w.export_ema *= 0.8  # every wholesaler's memory of its exports decays
        if values is None:  # every crossing closed
            return
        self.actors_of(Wholesaler).select(
            lambda w: w.export_tie is not None
        ).shuffle_do(lambda w: w.allocate_exports(values[w.export_tie.region], wholesale))
        self.actors_of(Smuggler).select(lambda s: s.held() > 0).shuffle_do("cross_border")

    def update_route_state(self) -> None:
        """The bribe share asked at each crossing (E6, E8): up at once to its target with
        enforcement at the crossing, back down over bribe_relax_weeks; the perceived-risk counts
        (detections, tries) lose weight by risk_memory."""
        b = self.scenario.border
        lo, hi = b.bribe_share.value, max(b.bribe_share_max.value, b.bribe_share.value)
        if not hasattr(self, "bribe_now"):
            n = len(b.crossings)
            self.bribe_now = [lo] * n
            self.detections, self.attempts = [0.0] * n, [0.0] * n
        for c, r in enumerate(self.crossing_region):
            target = lo + (hi - lo) * (1 - math.exp(-b.bribe_response.value * max(self.enforcement_mult[r] - 1, 0)))
            now = self.bribe_now[c]
            self.bribe_now[c] = target if target >= now else now + (target - now) / max(b.bribe_relax_weeks.value, 1)
            self.detections[c] *= b.risk_memory.value
            self.attempts[c] *= b.risk_memory.value

    def route_values(self):
        """Per region h of a smuggler: the expected export value per gram over its choice of
        crossing, and the choice probabilities (softmax over the open crossings of the value per
        gram: (1 - perceived risk) x China price x (1 - bribe x share of corrupt guards) - perceived
        risk x the exposed wholesaler's sanction per gram of its lot - detour cost outside h).
        (None, None) if every crossing is closed."""
        b = self.scenario.border
        china = b.destinations[self.china].price_usd_per_g.value
        open_ = [c for c in range(len(b.crossings)) if self.crossing_open[c]]
        if not open_:
            return None, None
        per_g = {}
        for c in open_:
            risk = ((b.risk_prior_mean.value * b.risk_prior_weight.value + self.detections[c])
                    / (b.risk_prior_weight.value + self.attempts[c]))
            corrupt = float(np.mean(self.guard_corrupt[c])) if len(self.guard_corrupt[c]) else 0.0
            sanction = (self.scenario.enforcement.exposure_arrest_prob.value
                        * self.scenario.prices.sanction_usd["wholesaler"].value / b.export_lot_g.value)
            per_g[c] = (1 - risk) * china * (1 - self.bribe_now[c] * corrupt) - risk * sanction
        values, probs = [], []
        for h in range(self.n_regions):
            v = {c: per_g[c] - b.detour_cost_usd_per_g.value * (self.crossing_region[c] != h) for c in open_}
            top = max(v.values())
            w = {c: math.exp((v[c] - top) / (b.route_temperature.value * china)) for c in open_}
            total = sum(w.values())
            pr = {c: w[c] / total for c in open_}
            values.append(sum(pr[c] * v[c] for c in open_))
            probs.append(pr)
        return values, probs

    # 9 --------------------------------------------------------------- Transit (S8, S13, S14)
    def transit(self) -> None:
        """Lots due arrive: domestic lots join their wholesaler (another of its region if it is
        gone; none: wait a week); foreign lots are interdicted, or earn state revenue, are partly
        forwarded onward, and the rest is delivered."""
        due = [lot for lot in self.lots if lot.arrive <= self.t]
        if not due:
            return
        staying = [lot for lot in self.lots if lot.arrive > self.t]
        wholesalers_of_region = self.by_region(self.actors_of(Wholesaler))
        onward: list[Lot] = []
        for lot in due:
            if lot.foreign:
                onward += self.arrive_abroad(lot)
                continue
            w = lot.dest if lot.dest is not None and lot.dest.active else None
            if w is None:
                local = wholesalers_of_region[lot.dest_region]
                w = local[self.random.randrange(len(local))] if local else None
            if w is None:
                lot.arrive += 1
                staying.append(lot)
            else:
                w.stock[lot.drug] += lot.grams
                w.pure[lot.drug] += lot.pure
        self.lots = staying + onward

    def arrive_abroad(self, lot: Lot) -> list[Lot]:
        sc, rec = self.scenario, self.recorder
        dest = sc.border.destinations[lot.dest]
        dname, drug, chname = dest.name, self.drugs[lot.drug], self.channel_names[lot.channel]
        p = 1.0 if lot.forced else min(1.0, lot.interdiction * self.foreign_mult[lot.dest])
        if self.random.random() < p:
            self._seize_abroad(lot, dest.agency)
            return []
        if lot.channel != self.private_channel and lot.price_factor > 0:
            rec.add("state_revenue_usd", lot.grams * dest.price_usd_per_g.value * lot.price_factor,
                    region=dname, channel=chname)
        legs, rest = [], lot.grams
        purity = lot.pure / lot.grams if lot.grams > 0 else 0.0
        for oi, o, share in self.onward_shares(lot.dest):
            og = lot.grams * share
            rest -= og
            legs.append(Lot(lot.drug, og, og * purity, self.t + o.transit_weeks, True, dest=oi,
                            channel=lot.channel, interdiction=o.interdiction_prob.value))
        rec.add("delivered_abroad_g", rest, drug=drug, region=dname, channel=chname)
        self.ledger.delivered[lot.drug] += rest
        return legs

    def onward_shares(self, hub: int) -> list:
        """The onward legs from ``hub`` with this week's shares: base share x (price gap over the
        hub net of interdiction / reference gap) ^ elasticity, scaled down together to at most 1."""
        dests = self.scenario.border.destinations

        def net(i):
            return dests[i].price_usd_per_g.value * max(0.0, 1 - min(1.0, dests[i].interdiction_prob.value
                                                                       * self.foreign_mult[i]))

        legs = []
        for oi, o in self.onward.get(hub, []):
            if o.onward_share.value <= 0:
                continue
            gap = net(oi) / max(net(hub), 1e-9 * dests[hub].price_usd_per_g.value)
            share = o.onward_share.value * (gap / o.onward_reference_gap.value) ** \
                self.scenario.border.onward_price_elasticity.value
            legs.append((oi, o, share))
        total = sum(s for _, _, s in legs)
        return [(oi, o, s / total if total > 1 else s) for oi, o, s in legs]

    def _seize_abroad(self, lot: Lot, agency: str) -> None:
        self.recorder.add("seized_g", lot.grams, drug=self.drugs[lot.drug], region=self.dest_names[lot.dest],
                          channel=agency)
        self.ledger.seized[lot.drug] += lot.grams

    # 10 -------------------------------------------------------------- Restock (S11, S12)
    def restock(self) -> None:
        """Each wholesaler serves what its sellers want (target cover of their recent demand)."""
        dist = self.scenario.distribution
        orders: dict[Wholesaler, list[tuple[Seller, float]]] = defaultdict(list)
        for s in self.actors_of(Seller):
            if s.supplier is not None:
                orders[s.supplier].append((s, s.want(dist.seller_target_cover_weeks.value)))
        for w, wants in orders.items():
            w.restock(wants, dist.rewire_prob.value)

    # 11 -------------------------------------------------------------- Retail (S11)
    def retail(self) -> None:
        """Users place their demand with their seller (looking for one if they have none); each
        seller fills its orders pro rata to its stock; users left short may drop their seller."""
        c, rec = self.scenario.consumption, self.recorder
        rewire = self.scenario.distribution.rewire_prob.value
        self.week_demand[:] = 0.0
        self.week_consumed[:] = 0.0
        self.consumed[:] = 0.0
        self.consumed_pure[:] = 0.0
        sellers = self.actors_of(Seller)
        if len(self.users) == 0:
            for s in sellers:
                s.demand_ema *= 0.8
            return
        reference = np.array([c.heroin_reference_price_usd_per_g.value if d == "heroin"
                              else c.reference_price_usd_per_g.value for d in self.drugs])
        price_factor = (self.drug_retail_price / reference[:, None]) ** (-c.price_elasticity.value)
        sellers.do("open_shop")
        self.users.do("demand_from_seller", self.by_region(sellers), price_factor, rewire)
        sellers.do("set_fill")
        self.users.do("buy_from_seller", rewire)
        sellers.do("close_shop")
        for d in range(self.n_drugs):
            got = self.consumed[:, d]
            if got.sum() > 0:
                self.ledger.consumed[d] += got.sum()
                rec.add_by("consumed_g", got, self.region_names, dim="region", drug=self.drugs[d])
        self.week_consumed[:] = self.consumed.sum(axis=1)
        pure = self.consumed_pure.sum(axis=1)
        purity = np.divide(pure, self.week_consumed, out=np.zeros(self.n_regions), where=self.week_consumed > 0)
        rec.add_by("purity", purity, self.region_names, dim="region", channel="retail", level=True)

    # 12 -------------------------------------------------------------- Demand (S11)
    def demand(self) -> None:
        """Use states never / light / heavy / former (Behrens et al. 1999-2000), every transition
        from the counts at the start of the week: former users relapse to light use; users quit
        (light and heavy at their own rates) or, if light, escalate to heavy use; never-users
        start with the hazard of their region: innovators (weighted by border access) plus the
        contagion of light users damped by the harm of heavy use, own province and spillover
        from the others weighted by border access, times availability, times the price factor."""
        c, regions = self.scenario.consumption, self.scenario.regions
        light = (self.users_by_region - self.heavy_by_region).astype(float)
        heavy = self.heavy_by_region.astype(float)
        force = np.zeros(self.n_regions)
        has = light > 0
        force[has] = light[has] / self.sizes[has] * np.exp(-c.harm_deterrence.value * heavy[has] / light[has])
        contact = np.array([r.border_access.value for r in regions])
        mean_contact = (contact * self.sizes).sum() / self.sizes.sum()
        national = self.week_consumed.sum() / self.week_demand.sum() if self.week_demand.sum() > 0 else 0.0
        rate = np.zeros(self.n_regions)
        for r in range(self.n_regions):
            availability = self.week_consumed[r] / self.week_demand[r] if self.week_demand[r] > 0 else national
            others = [q for q in range(self.n_regions) if q != r]
            weight = contact[others].sum()
            spill = (contact[others] * force[others]).sum() / weight if weight > 0 else 0.0
            rel = contact[r] / contact.max() if contact.max() > 0 else 0.0
            innovators = contact[r] / mean_contact if mean_contact > 0 else 1.0
            peer = c.peer_initiation_per_week.value * availability * (force[r] + c.spillover_weight.value * rel * spill)
            rate[r] = ((c.base_initiation_per_week.value * innovators + peer)
                       * (c.reference_price_usd_per_g.value / self.retail_price[r]) ** c.price_elasticity.value)
        p_start = -np.expm1(-np.maximum(rate, 0.0))
        self._sellers_of_region = self.by_region(self.actors_of(Seller))
        week_users = list(self.users)  # the users of the start of the week
        self.persons.do("consider_relapse", -math.expm1(-c.relapse_per_week.value))
        for person in week_users:
            person.consider_quitting(-math.expm1(-c.quit_rate_per_week.value),
                                     -math.expm1(-c.quit_heavy_per_week.value),
                                     -math.expm1(-c.escalation_per_week.value))
        self.persons.do("consider_starting", np.minimum(p_start, 1.0))
        rec = self.recorder
        rec.add_by("ever_used", self.ever_by_region.astype(float), self.region_names, dim="region", level=True)
        rec.add_by("users_by_state", (self.users_by_region - self.heavy_by_region).astype(float), self.region_names,
                   dim="region", channel="light", level=True)
        rec.add_by("users_by_state", self.heavy_by_region.astype(float), self.region_names, dim="region",
                   channel="heavy", level=True)
        rec.add_by("users_by_state", (self.ever_by_region - self.users_by_region).astype(float), self.region_names,
                   dim="region", channel="former", level=True)

    # 13 -------------------------------------------------------------- Enforcement (S12)
    def enforcement(self) -> None:
        """Actors are arrested with their role's probability (plus smugglers caught at the border);
        actors tied to an arrested one are arrested with ``exposure_arrest_prob``; then users."""
        enf = self.scenario.enforcement
        self.arrest_hazard[:] = self.hazard()
        self.arrested = {}
        for cls in ACTOR_TYPES:
            self.actors_of(cls).shuffle_do("face_arrest", self.arrest_hazard)
        for a in self.pending_arrests:
            if a.active:
                self.arrested[a] = None
        self.pending_arrests = {}
        for a in self.exposed_by(self.arrested):
            if self.random.random() < enf.exposure_arrest_prob.value:
                self.arrested[a] = None
        self.arrest_actors(list(self.arrested))
        self.users.do("face_arrest", self.arrest_hazard[-1])

    def hazard(self) -> np.ndarray:
        """Weekly arrest hazard of one participant by role (then users) and region under each
        agency's capacity (Kleiman 1993): the role's probability x the region's multiplier, cut in
        proportion where the agency's participants would call for more arrests than its capacity
        (per million inhabitants x the multiplier) allows."""
        enf = self.scenario.enforcement
        h = np.zeros((len(HAZARD_ROWS), self.n_regions))
        counts = [self.count_by_region(cls) for cls in ACTOR_TYPES] + [np.asarray(self.users_by_region, float)]
        for r in range(self.n_regions):
            m = self.enforcement_mult[r]
            wanted: dict[str, float] = defaultdict(float)
            for k, role in enumerate(HAZARD_ROWS):
                wanted[enf.agency[role]] += enf.weekly_arrest_prob[role].value * m * counts[k][r]
            for k, role in enumerate(HAZARD_ROWS):
                agency = enf.agency[role]
                cap = enf.capacity_per_million_per_week[agency].value * self.sizes[r] / 1e6 * m
                share = cap / wanted[agency] if wanted[agency] > cap else 1.0
                h[k, r] = min(1.0, enf.weekly_arrest_prob[role].value * m * share)
        return h

    def exposed_by(self, arrested: dict[Actor, None]) -> list[Actor]:
        """Active actors tied to an arrested one, one link deep (S12): the arrested actor's
        supplier and smuggler, and the actors whose supplier or smuggler it is."""
        hit: dict[Actor, None] = {}
        for a in arrested:
            for tie in (a.supplier, getattr(a, "export_tie", None)):
                if tie is not None:
                    hit[tie] = None
        for a in self.all_actors():
            if a.supplier in arrested or getattr(a, "export_tie", None) in arrested:
                hit[a] = None
        return [a for a in hit if a.active and a not in arrested]

    # 14 -------------------------------------------------------------- Recruitment (S11-S13)
    def recruitment(self) -> None:
        dist = self.scenario.distribution
        self.fill(rate=dist.recruitment_rate.value)
        self.rewire(prob=dist.rewire_prob.value)

    def fill(self, rate: float) -> None:
        """Missing positions per region (then per crossing for smugglers), stochastically rounded,
        are each filled with probability ``rate`` by a free person of the region."""
        dist, b = self.scenario.distribution, self.scenario.border
        self.recruit(Seller, positions(self.users_by_region, dist.users_per_seller.value)
                     - self.count_by_region(Seller), rate)
        self.recruit(Wholesaler, positions(self.count_by_region(Seller), dist.sellers_per_wholesaler.value)
                     - self.count_by_region(Wholesaler), rate)
        self.recruit(Deliverer, positions(self.count_by_region(Producer), dist.producers_per_deliverer.value)
                     - self.count_by_region(Deliverer), rate)
        target = positions([b.smugglers_per_crossing_per_million.value * self.n_persons / 1e6], 1.0)[0]
        have = [0] * len(self.crossing_region)
        for s in self.actors_of(Smuggler):
            have[s.crossing] += 1
        for ci, r in enumerate(self.crossing_region):
            k = int(self.rng.binomial(self.round_s(target - have[ci]), rate))
            for person in self.sample_free(self.persons_by_region[r], k, self.free_for_role):
                Smuggler(self, person, r, ci)

    def recruit(self, cls: type[Actor], missing: np.ndarray, rate: float) -> None:
        """Chain tiers: a region with none of ``cls`` left fills its positions at once (the
        engine's numerical fix for small scales, `recruit_counts`)."""
        have = self.count_by_region(cls)
        for r, x in enumerate(missing):
            k = int(self.rng.binomial(self.round_s(x), 1.0 if have[r] == 0 else rate))
            for person in self.sample_free(self.persons_by_region[r], k, self.free_for_role):
                cls(self, person, r)

    def rewire(self, prob: float) -> None:
        """Actors without a tie look for one with ``prob``: sellers -> a wholesaler of the region,
        producers -> a deliverer of the region, wholesalers -> a deliverer weighted by the product
        behind it, and wholesalers without a smuggler -> a smuggler (x border access)."""
        dist = self.scenario.distribution
        wholesalers = list(self.actors_of(Wholesaler))
        orphans = self.actors_of(Seller).select(lambda s: s.supplier is None and self.random.random() < prob)
        orphans.shuffle_do("find_wholesaler", self.by_region(wholesalers))
        deliverers = list(self.actors_of(Deliverer))
        orphans = self.actors_of(Producer).select(lambda p: p.supplier is None and self.random.random() < prob)
        orphans.shuffle_do("find_deliverer", self.by_region(deliverers))
        orphans = self.actors_of(Wholesaler).select(lambda w: w.supplier is None and self.random.random() < prob)
        if len(orphans) and deliverers:
            behind: dict[Deliverer, float] = defaultdict(float)
            for p in self.actors_of(Producer):
                if p.supplier is not None:
                    behind[p.supplier] += p.held()
            supply = [d.held() + behind[d] for d in deliverers]
            orphans.shuffle_do("find_deliverer", deliverers, supply, dist.deliverer_same_region_prob.value)
        smugglers = list(self.actors_of(Smuggler))
        if smugglers:
            access = [r.border_access.value for r in self.scenario.regions]
            for w in wholesalers:
                if w.export_tie is None:
                    w.find_smuggler(smugglers, prob * access[w.region])

    # 15 -------------------------------------------------------------- Prices (S11)
    def anchors(self, hazard: np.ndarray, upstream: np.ndarray | None = None) -> np.ndarray:
        """Long-run anchor prices (producer, wholesale, retail) by region: each tier adds to what it
        pays upstream (``upstream``: this week's producer and wholesale prices, or the upstream
        anchors) the replacement of what is seized, the legal income forgone per gram handled and
        the sanction x arrest hazard per gram handled (Reuter & Kleiman 1986)."""
        sc = self.scenario
        pv, pr, dist = sc.private, sc.prices, sc.distribution
        legal = pv.legal_income_usd_per_week.value
        out = np.zeros((3, self.n_regions))
        for r in range(self.n_regions):
            def margin(role, q, sanction, cover, r=r):
                h = hazard[HAZARD_ROWS.index(role), r]
                return 1.0 / (1.0 - min(0.5, h * cover)), (legal + h * sanction) / q
            producer = pv.precursor_cost_usd_per_g.value + margin(
                "producer", pv.output_g_per_week.value, pv.penalty_cost_usd.value, 0.0)[1]
            out[0, r] = producer
            if upstream is not None:
                producer = upstream[0, r]
            tiers = {t: margin(t, pr.grams_handled_per_week[t].value, pr.sanction_usd[t].value, cover)
                     for t, cover in (("deliverer", float(dist.transit_weeks)),
                                      ("wholesaler", dist.wholesaler_target_cover_weeks.value),
                                      ("seller", dist.seller_target_cover_weeks.value))}
            deliverer = producer * tiers["deliverer"][0] + tiers["deliverer"][1]
            out[1, r] = deliverer * tiers["wholesaler"][0] + tiers["wholesaler"][1]
            wholesale = out[1, r] if upstream is None else upstream[1, r]
            out[2, r] = wholesale * tiers["seller"][0] + tiers["seller"][1]
        return out

    def heroin_anchors(self, hazard: np.ndarray, wholesale: np.ndarray | None = None) -> np.ndarray:
        """Heroin's anchors (source, wholesale, retail) by region: the NSA's leaked state heroin at
        the value of the opium it embodies (C4, Q18), then the wholesaler's and the seller's
        margins, as for meth; retail on ``wholesale`` (this week's heroin wholesale price) if given."""
        sc = self.scenario
        pv, pr, dist = sc.private, sc.prices, sc.distribution
        legal = pv.legal_income_usd_per_week.value
        source = pr.heroin_opium_usd_per_kg.value * pr.heroin_opium_kg_per_kg.value / 1000.0
        out = np.zeros((3, self.n_regions))
        for r in range(self.n_regions):
            terms = {}
            for t, cover in (("wholesaler", dist.wholesaler_target_cover_weeks.value),
                             ("seller", dist.seller_target_cover_weeks.value)):
                h = hazard[HAZARD_ROWS.index(t), r]
                terms[t] = (1.0 / (1.0 - min(0.5, h * cover)),
                            (legal + h * pr.sanction_usd[t].value) / pr.grams_handled_per_week[t].value)
            out[0, r] = source
            out[1, r] = source * terms["wholesaler"][0] + terms["wholesaler"][1]
            w = out[1, r] if wholesale is None else wholesale[r]
            out[2, r] = w * terms["seller"][0] + terms["seller"][1]
        return out

    def tier_purity(self, drug: int, cls: type[Actor] | None) -> np.ndarray:
        """Pure share of what the active actors of ``cls`` (None: the state) hold of ``drug`` by
        region; where they hold none in a region, their national purity, else the source's
        (``private.purity`` for meth, the state facilities' mean for heroin)."""
        g, p = np.zeros(self.n_regions), np.zeros(self.n_regions)
        if cls is None:
            nat_g, nat_p = self.state_stock[drug], self.state_pure[drug]
        else:
            for a in self.actors_of(cls):
                g[a.region] += a.stock[drug]
                p[a.region] += a.pure[drug]
            nat_g, nat_p = g.sum(), p.sum()
        if nat_g > 1e-6 and nat_p > 0:  # below a microgram: a rounding residue, as held none
            fallback = min(nat_p / nat_g, 1.0)
        elif self.drugs[drug] == "heroin":
            fallback = float(np.mean([f.purity.value for f in self.scenario.state.facilities]))
        else:
            fallback = self.scenario.private.purity.value
        return np.array([min(p[r] / g[r], 1.0) if g[r] > 1e-6 and p[r] > 0 else fallback
                         for r in range(self.n_regions)])

    def prices(self) -> None:
        """Each tier's price returns to its anchor (costs and risks, this week's arrest hazard) at
        ``anchor_return_per_week`` and moves with scarcity and glut at ``adjustment_speed``: national
        shortage and glut for the producer and wholesale tiers, the region's for retail."""
        pr, dist, rec = self.scenario.prices, self.scenario.distribution, self.recorder
        normal = pr.normal_fill.value
        kappa, eta = pr.anchor_return_per_week.value, pr.adjustment_speed.value
        demand = self.week_demand
        served = np.divide(self.week_consumed, demand, out=np.ones(self.n_regions), where=demand > 0)
        shortage_r = (normal - served) / normal
        total = demand.sum()
        signal, glut = 0.0, 0.0
        if total > 0:
            shortage = (normal - self.week_consumed.sum() / total) / normal
            held = sum(a.held() for a in self.all_actors())
            held += sum(lot.grams for lot in self.lots if not lot.foreign)
            target = dist.seller_target_cover_weeks.value + dist.wholesaler_target_cover_weeks.value
            glut = min(5.0, held / total / target - 1.0)
            signal = shortage - pr.glut_weight.value * glut
        tp, h = self.tier_price, self.arrest_hazard
        tp[0] = tp[0] * np.exp(kappa * np.log(self.anchors(h)[0] / tp[0]) + eta * signal)
        tp[1] = tp[1] * np.exp(kappa * np.log(self.anchors(h, tp)[1] / tp[1]) + eta * signal)
        retail = tp[2] * np.exp(kappa * np.log(self.anchors(h, tp)[2] / tp[2])
                                + eta * (shortage_r - pr.glut_weight.value * glut))
        tp[2] = np.clip(retail, pr.min_retail_usd_per_g.value, pr.max_retail_usd_per_g.value)
        self.retail_price[:] = tp[2]
        hp = self.heroin_price  # heroin: each tier returns to its anchor at kappa
        hp[0] = self.heroin_anchors(h)[0]
        hp[1] = hp[1] * np.exp(kappa * np.log(self.heroin_anchors(h)[1] / hp[1]))
        hp[2] = hp[2] * np.exp(kappa * np.log(self.heroin_anchors(h, hp[1])[2] / hp[2]))
        heroin = DRUGS.index("heroin")
        self.drug_retail_price[:] = tp[2]
        self.drug_retail_price[heroin] = hp[2]
        for drug, d, p in (("methamphetamine", DRUGS.index("methamphetamine"), tp), ("heroin", heroin, hp)):
            for tier, values, cls in (("retail", p[2], Seller), ("wholesale", p[1], Wholesaler),
                                      ("producer", p[0], Producer if drug == "methamphetamine" else None)):
                rec.add_by("price_usd_per_g", values, self.region_names, dim="region", drug=drug,
                           channel=tier, level=True)
                rec.add_by("price_usd_per_pure_g", values / self.tier_purity(d, cls), self.region_names,
                           dim="region", drug=drug, channel=tier, level=True)
        for d in self.scenario.border.destinations:
            rec.set("price_usd_per_g", d.price_usd_per_g.value, drug="methamphetamine", region=d.name,
                    channel="import")

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
