"""The agents of the Mesa reference model: one `Person` per inhabitant and one actor agent per
trafficking role held (`Producer`, `Deliverer`, `Wholesaler`, `Seller`, `Smuggler`).

Each agent carries its own state as plain attributes and decides for itself with the model's
random generators (``self.random`` for single draws, ``self.model.rng`` for distributions). The
rules are those of the engine's processes (``src/narcoflow/engine/processes/``); each method names
the process it belongs to. Quantities that several agents share (prices, enforcement
multipliers, the hazard of starting to use) are computed once a week by the model and passed in.
"""

from __future__ import annotations

import math

import numpy as np
from mesa import Agent

METH = 0  # drug index of methamphetamine (narcoflow.scenario.DRUGS order)


class Person(Agent):
    """An inhabitant of a region: may use drugs, may hold a trafficking role, may be in jail.

    As a user (S11, the consumers) a person has a base weekly use ``use_g`` of one ``drug``, a use
    state (``heavy`` or light) and at most one ``seller`` (an agent, or None); ``ever`` marks a
    person who has ever used (a former user when not using now).
    """

    def __init__(self, model, region: int):
        super().__init__(model)
        self.region = region
        self.skilled = False        # a former chemical worker of a chemical city (S6)
        self.is_actor = False       # holds a trafficking role
        self.jailed = False
        self.is_user = False
        self.ever = False           # has ever used (never cleared)
        self.heavy = False          # use state of a user: heavy or light
        self.seller: Seller | None = None
        self.use_g = 0.0
        self.drug = METH
        self.demand_g = 0.0         # this week's demand (Retail)

    # ------------------------------------------------------------------ Demand
    def consider_relapse(self, p_relapse: float) -> None:
        """Demand: a former user (has used, does not use now) who is not in jail starts again, as
        a light user, with the weekly relapse probability (not an initiation)."""
        if self.ever and not self.is_user and not self.jailed and self.random.random() < p_relapse:
            self.model.start_using(self, counted=False)

    def consider_quitting(self, p_quit_light: float, p_quit_heavy: float, p_escalate: float) -> None:
        """Demand: a user quits (becomes a former user) with its use state's weekly probability;
        a light user who stays escalates to heavy use with ``p_escalate``."""
        if self.random.random() < (p_quit_heavy if self.heavy else p_quit_light):
            self.model.stop_using(self)
        elif not self.heavy and self.random.random() < p_escalate:
            self.model.escalate(self)

    def consider_starting(self, p_start: np.ndarray) -> None:
        """Demand: a never-user who is not in jail starts using with its region's weekly
        probability (the initiation hazard, see `ReferenceModel.demand`)."""
        if not self.ever and not self.jailed and self.random.random() < p_start[self.region]:
            self.model.start_using(self, counted=True)

    # ------------------------------------------------------------------ Retail
    def demand_from_seller(self, sellers_of_region: list[list[Seller]], price_factor: np.ndarray,
                           rewire_prob: float) -> None:
        """Retail, first pass: drop a seller who left; without one, look for a seller of the region
        (with ``rewire_prob``); then place this week's demand (base use x price response)."""
        if self.seller is not None and not self.seller.active:
            self.seller = None  # the tie was cut when the seller was removed
        local = sellers_of_region[self.region]
        if self.seller is None and local and self.random.random() < rewire_prob:
            self.seller = local[self.random.randrange(len(local))]
        use = self.use_g * (self.model.heavy_use_ratio if self.heavy else 1.0)
        self.demand_g = use * price_factor[self.drug, self.region]  # at its own drug's price
        self.model.week_demand[self.region] += self.demand_g
        if self.seller is not None:
            self.seller.orders[self.drug] += self.demand_g

    def buy_from_seller(self, rewire_prob: float) -> None:
        """Retail, second pass: get the seller's fill rate of the demand, at the seller's purity,
        and drop a seller who served less than half of it (with ``rewire_prob``)."""
        s = self.seller
        if s is None:
            return
        fill = s.fill[self.drug]
        got = self.demand_g * fill
        s.sold[self.drug] += got
        self.model.consume(self.region, self.drug, got, got * s.purity[self.drug])
        if fill < 0.5 and self.random.random() < rewire_prob:
            self.seller = None

    # ------------------------------------------------------------------ Enforcement
    def face_arrest(self, p_user: np.ndarray) -> None:
        """Enforcement: a user is arrested with its region's weekly probability (E1)."""
        if self.random.random() < p_user[self.region]:
            self.model.record_arrests("user", self.region, 1)
            self.model.jail(self)


#: Row of each role in the model's arrest hazard.
ROLE_ROWS = {"producer": 0, "deliverer": 1, "wholesaler": 2, "seller": 3, "smuggler": 4}


class Actor(Agent):
    """A trafficking role held by a person, with a stock (grams and pure grams per drug, so purity
    travels with the product, S2) and at most one upstream tie ``supplier`` (S12)."""

    role = "actor"

    def __init__(self, model, person: Person, region: int):
        super().__init__(model)
        self.person = person
        self.region = region
        self.active = True          # False once arrested or exited (every tie to it is cut)
        self.supplier: Actor | None = None
        self.stock = np.zeros(model.n_drugs)
        self.pure = np.zeros(model.n_drugs)
        self.since = model.t
        person.is_actor = True

    def held(self) -> float:
        return float(self.stock.sum())

    def give_share(self, other: Actor, share: float) -> np.ndarray:
        """Move ``share`` of every drug held (grams and pure grams) to ``other``; returns grams moved."""
        g, p = self.stock * share, self.pure * share
        self.stock = np.maximum(self.stock - g, 0.0)
        self.pure = np.maximum(self.pure - p, 0.0)
        other.stock = other.stock + g
        other.pure = other.pure + p
        return g

    def face_arrest(self, hazard: np.ndarray) -> None:
        """Enforcement: arrested with this week's hazard of its role in its region."""
        if self.random.random() < hazard[ROLE_ROWS[self.role], self.region]:
            self.model.arrested[self] = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.unique_id}, region={self.region}, held={self.held():.1f} g)"


class Producer(Actor):
    """A private producer (S6, S7, S10): low-purity meth, sells to one deliverer (``supplier``)."""

    role = "producer"

    def __init__(self, model, person: Person, region: int, city: int):
        super().__init__(model, person, region)
        pv = model.scenario.private
        sigma = pv.output_dispersion.value
        self.city = city
        self.output_g = pv.output_g_per_week.value * model.rng.lognormal(-0.5 * sigma**2, sigma)
        self.purity = float(np.clip(model.rng.normal(pv.purity.value, 0.05), 0.01, 1.0))
        self.sell_ema = 1.0         # smoothed share of its stock its deliverer bought

    def consider_exit(self, availability: float) -> None:
        """ProducerEntryExit: leave on poor economics at its own sell-through; the remaining stock
        goes to the deliverer (without one the producer stays another week)."""
        pv = self.model.scenario.private
        net = self.model.producer_net(self.output_g * availability * self.sell_ema, self.region, availability)
        p_exit = pv.base_exit_rate.value + pv.max_exit_rate.value * logistic(-net / pv.legal_income_usd_per_week.value)
        if self.random.random() < min(p_exit, 1.0) and self.supplier is not None:
            self.give_share(self.supplier, 1.0)
            self.person.is_actor = False
            self.model.remove_actors([self])

    def find_deliverer(self, deliverers_of_region: list[list[Deliverer]]) -> None:
        """Recruitment (rewire): an orphan producer ties to a random deliverer of its region."""
        local = deliverers_of_region[self.region]
        if local:
            self.supplier = local[self.random.randrange(len(local))]

    def produce(self, availability: float) -> None:
        """PrivateProduction: make ``output x availability`` grams, unless holding a month of output."""
        if self.held() < 4 * self.output_g:
            g = self.output_g * availability
            self.stock[METH] += g
            self.pure[METH] += g * self.purity
            self.model.book_production(METH, g, self.region, "private")


class Deliverer(Actor):
    """A deliverer (S11): buys from the producers tied to it what the wholesalers it serves lack,
    and carries it to them as lots in transit."""

    role = "deliverer"

    def buy_from(self, producers: list[Producer], need: float) -> None:
        """Delivery: buy ``need`` less what it holds, as the same share of each producer's stock."""
        buy = max(0.0, need - self.held())
        offered = sum(p.held() for p in producers)
        take = min(1.0, buy / offered) if offered > 0 else 0.0
        for p in producers:
            if p.held() > 0:
                p.sell_ema = 0.9 * p.sell_ema + 0.1 * take
            p.give_share(self, take)

    def ship_to(self, wholesalers: list[tuple[Wholesaler, float]], need: float, rewire_prob: float) -> None:
        """Delivery: each wholesaler with a need gets ``need_w / max(need, held)`` of the stock as a
        lot; one served less than half its need leaves this deliverer (with ``rewire_prob``)."""
        held = self.held()
        snapshot, snapshot_pure = self.stock.copy(), self.pure.copy()
        for w, need_w in wholesalers:
            if need_w <= 0:
                continue
            share = need_w / max(need, held)
            for d in np.flatnonzero(snapshot * share > 0):
                self.model.send_domestic_lot(self, w, int(d), snapshot[d] * share, snapshot_pure[d] * share)
            self.stock = np.maximum(self.stock - snapshot * share, 0.0)
            self.pure = np.maximum(self.pure - snapshot_pure * share, 0.0)
            if share * held / need_w < 0.5 and self.random.random() < rewire_prob:
                w.supplier = None


class Wholesaler(Actor):
    """A provincial wholesaler (S11): sources from one deliverer (``supplier``), restocks its
    sellers, and may export through one smuggler (``export_tie``, S10, S13)."""

    role = "wholesaler"

    def __init__(self, model, person: Person, region: int):
        super().__init__(model, person, region)
        self.export_tie: Smuggler | None = None
        self.export_ema = 0.0       # smoothed weekly exports (it restocks for them)

    def find_deliverer(self, deliverers: list[Deliverer], supply: list[float], same_region_prob: float) -> None:
        """Recruitment (rewire): an orphan wholesaler picks a deliverer with a weight equal to the
        product available behind it (``supply + 1e-9``), among those of its own region with
        ``same_region_prob`` (among all if its region has none), else among all."""
        pool = range(len(deliverers))
        if self.random.random() < same_region_prob:
            local = [i for i in pool if deliverers[i].region == self.region]
            pool = local or pool
        weights = [supply[i] + 1e-9 for i in pool]
        self.supplier = deliverers[self.random.choices(pool, weights=weights)[0]]

    def find_smuggler(self, smugglers: list[Smuggler], p_tie: float) -> None:
        """Recruitment (rewire): with ``p_tie`` (rewire_prob x the region's border access) a
        wholesaler without a smuggler ties to one of its region, else to one anywhere (S13)."""
        if self.random.random() < p_tie:
            local = [s for s in smugglers if s.region == self.region]
            pool = local or smugglers
            self.export_tie = pool[self.random.randrange(len(pool))]

    def need(self, sellers_demand: float, in_transit: float, cover_weeks: float) -> float:
        """Delivery: grams lacking to hold ``cover_weeks`` of outflow (sellers' demand + exports)."""
        return max(0.0, cover_weeks * (sellers_demand + self.export_ema) - self.held() - in_transit)

    def allocate_exports(self, export_value: float, wholesale_price: np.ndarray) -> None:
        """BorderSmuggling: send the export share of the stock to the smuggler, driven by the
        expected export value per gram after risk (its smuggler's choice of crossing) against the
        regional wholesale price (S10)."""
        b = self.model.scenario.border
        ratio = export_value / wholesale_price[self.region]
        share = b.max_export_share.value / (1 + math.exp(-b.export_sensitivity.value * (ratio - 1)))
        sent = self.held() * share
        self.give_share(self.export_tie, share)
        self.export_ema += 0.2 * sent  # decayed for every wholesaler in border_smuggling

    def restock(self, orders: list[tuple[Seller, float]], rewire_prob: float) -> None:
        """Restock: serve the sellers' wants, pro rata when short; a seller that wanted product and
        got less than half of it drops this wholesaler (with ``rewire_prob``)."""
        total_want = sum(want for _, want in orders)
        held = self.held()
        served = min(1.0, held / total_want) if total_want > 0 else 0.0
        leaving = [s for s, want in orders
                   if want > 0 and served < 0.5 and self.random.random() < rewire_prob]
        snapshot, snapshot_pure = self.stock.copy(), self.pure.copy()
        for s, want in orders:
            give = want * served
            if give > 0:
                share = give / held
                self.stock = np.maximum(self.stock - snapshot * share, 0.0)
                self.pure = np.maximum(self.pure - snapshot_pure * share, 0.0)
                s.stock = s.stock + snapshot * share
                s.pure = s.pure + snapshot_pure * share
        for s in leaving:
            s.supplier = None


class Seller(Actor):
    """A seller (S11): buys from one wholesaler (``supplier``), serves the users tied to it."""

    role = "seller"

    def __init__(self, model, person: Person, region: int):
        super().__init__(model, person, region)
        self.demand_ema = 0.0       # smoothed weekly demand of its users (what it restocks for)
        self.orders = np.zeros(model.n_drugs)
        self.sold = np.zeros(model.n_drugs)
        self.fill = np.zeros(model.n_drugs)
        self.purity = np.zeros(model.n_drugs)

    def find_wholesaler(self, wholesalers_of_region: list[list[Wholesaler]]) -> None:
        """Recruitment (rewire): an orphan seller ties to a random wholesaler of its region."""
        local = wholesalers_of_region[self.region]
        if local:
            self.supplier = local[self.random.randrange(len(local))]

    def want(self, cover_weeks: float) -> float:
        """Restock: grams lacking to cover ``cover_weeks`` of recent demand."""
        return max(0.0, cover_weeks * self.demand_ema - self.held())

    def open_shop(self) -> None:
        """Retail: a new week of orders."""
        self.orders[:] = 0.0
        self.sold[:] = 0.0

    def set_fill(self) -> None:
        """Retail: the share of each drug's orders the stock can fill, and remember the demand."""
        orders, stock = self.orders, self.stock
        self.fill = np.divide(np.minimum(stock, orders), orders, out=np.zeros_like(orders), where=orders > 0)
        self.purity = np.divide(self.pure, stock, out=np.zeros_like(stock), where=stock > 0)
        self.demand_ema = 0.8 * self.demand_ema + 0.2 * float(self.orders.sum())

    def close_shop(self) -> None:
        """Retail: what was sold leaves the stock, at its purity."""
        self.stock = np.maximum(self.stock - self.sold, 0.0)
        self.pure = np.maximum(self.pure - self.sold * self.purity, 0.0)


class Smuggler(Actor):
    """A border smuggler at one crossing (S13): takes one lot a week past a guard to China."""

    role = "smuggler"

    def __init__(self, model, person: Person, region: int, crossing: int):
        super().__init__(model, person, region)
        self.crossing = crossing

    def cross_border(self) -> None:
        """BorderSmuggling: cross with probability min(1, held / export_lot_g); choose a crossing
        (softmax of its value after risk, `route_values`),
        meet a random guard there; a corrupt one takes the bribe asked there and rarely detects;
        a detected lot is seized and the smuggler queued for arrest (S12). Every try and every
        detection counts in the crossing's perceived risk."""
        m, b = self.model, self.model.scenario.border
        lot = b.export_lot_g.value
        if self.held() < lot and self.random.random() >= self.held() / lot:
            return  # waits to fill a lot: crosses with probability held / export_lot_g
        pr = m.route_pr[self.region]  # the choice of crossing (softmax of values after risk)
        x, crossings = self.random.random(), list(pr)
        c = crossings[-1]
        for option in crossings:
            x -= pr[option]
            if x < 0:
                c = option
                break
        guards = m.guard_corrupt[c]
        corrupt = bool(guards[self.random.randrange(len(guards))])
        grams = self.held()
        region = m.crossing_region[c]
        bribe = m.bribe_now[c] * grams * b.destinations[m.china].price_usd_per_g.value
        if corrupt:
            if bribe > 0:
                m.recorder.add("bribes_usd", bribe, region=m.region_names[region])
            p_detect = b.detection_if_bribed.value
        else:
            p_detect = min(1.0, b.detection_prob.value * m.enforcement_mult[region])
        m.attempts[c] += 1.0
        if self.random.random() < p_detect:
            m.detections[c] += 1.0
            m.seize_stock(self, "border_guard")
            m.pending_arrests[self] = None
            return
        for d in np.flatnonzero(self.stock > 0):
            m.send_abroad_private(self, int(d), float(self.stock[d]), float(self.pure[d]))
        self.stock = np.zeros(m.n_drugs)
        self.pure = np.zeros(m.n_drugs)


ACTOR_TYPES = (Producer, Deliverer, Wholesaler, Seller, Smuggler)  # engine role order


def logistic(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-min(50.0, max(-50.0, x))))
