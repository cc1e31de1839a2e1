"""Private producers (S6, S7, S10): skilled people in the chemical-factory cities enter and leave
production on expected profit against risk against legal income, and produce low-purity meth.
Private supply grows into the market (issue 13, mechanism 3): few famine-era producers at the
start (T3, T4), skilled pools that grow as state production withdraws (T8), and entry and exit
on economics that bind at evidence-level prices (C1: ~$0.4-0.5/g at the producer).

Skilled pool of chemical city c (S6, T8):
    pool_c(t) = skilled_share_c x population_c + released_skilled_per_kg_week x released_c(t)
    released_c(t) = kg/week of state capacity idle in c's region: capacity - this week's output
                    (`StateProduction`), and the whole capacity of a factory that moved away,
                    at its former site (S4, T5: Ranam's workers stay in Chongjin)
The pool only grows: newly skilled persons of the city's region are drawn when it rises.
Entry (per skilled, uninvolved person, per week):
    margin  = expected output x (expected producer price - precursor cost / precursor availability)
    risk    = this week's arrest hazard of a producer in the region (`Simulation.arrest_hazard`,
              written by `Enforcement`) x penalty cost (USD value of the sanction)
    value   = horizon x (margin - legal income - risk) - set-up cost          (S7: 200-1,500 USD)
    pull    = 1 + demand_pull x shortage,  shortage = max(0, normal fill - expected national
              share of demand served) / normal fill  (`prices.normal_fill`: search frictions)
    p_entry = min(1, max entry rate x precursor availability x logistic(value / set-up cost) x pull)
Unmet demand draws entrants (S7: "anyone with basic chemistry" can start when buyers wait), so
supply grows into a market whose prices sit at their cost anchor (mechanism 1: zero profit for
the average producer), where the price alone hardly moves entry.
Would-be producers judge the market of about a year (adaptive expectations, Nerlove 1958): the
producer price and the share of demand served that entry reads are exponential averages with a
memory of ``expectation_weeks`` (the served share as averaged consumption over averaged demand).
Entry is an investment (S7: set-up cost), and the average removes a bias of scale: last week's
shortage is noisier in a small run, the pull is convex in it (max(0, .)) and moves with the
price, so with a one-week memory a run at 0.1 drew more entrants than the full population and
overstated its users in 2015 by ~38 % in the calibrated region (BENCHMARKS.md, "At full
population").
The producer price is the producer tier price (`Simulation.tier_price`, `Prices`), the price a
deliverer pays; exit reads last week's, entry its average; scarce precursor (availability < 1) is
dearer per gram (S7).
Exit (per producer, per week): base rate + max rate x logistic(-(own margin - legal income - risk)
/ legal income), where the margin counts only the share of output the producer actually sells
(its sell-through, see `Delivery`); entrants expect their city's sell-through, or the national
one where their city has no producer (at small scales most cities are empty, and expecting a
sell-through of 1 there drew more producers per capita than a large run has: scale 0.02 overstated
users in 2015 by ~44 % against 0.1 in the calibrated region; since, ~20-28 % depending on the
point of the posterior, BENCHMARKS.md "Another scale"). A producer holding
more than four weeks of unsold output makes nothing that week. Production only where the skills
are (S6); with no precursor there is neither entry nor output (S7). Private product is meth of low purity (S10).
Output is made whatever its buyers do with it: sold at home or exported (`BorderSmuggling`).

The skilled pools and the initial producers (T3, T4: famine-era private production) are the
population this process creates, in ``populate``; ``init`` only reads the scenario.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from narcoflow.engine import arrests, bundles
from narcoflow.engine import state as st
from narcoflow.engine.draws import binomial, next_double
from narcoflow.engine.flowlog import SOURCE
from narcoflow.engine.kernels.tables import row_totals_of
from narcoflow.engine.processes.base import Process
from narcoflow.engine.rng import stream


def producer_price(sim) -> np.ndarray:
    """Price a deliverer pays a producer, by region (last week's, `Prices`)."""
    return sim.tier_price[st.TIER_PRODUCER]


class ProducerEntryExit(Process):
    name = "producer_entry_exit"
    claims = ("S6", "S7")
    params = (
        "private.base_exit_rate",
        "private.chemical_cities[].population",
        "private.chemical_cities[].region",
        "private.chemical_cities[].skilled_share",
        "private.demand_pull",
        "private.expectation_weeks",
        "private.initial_producers_per_million",
        "private.legal_income_usd_per_week",
        "private.max_entry_rate",
        "private.max_exit_rate",
        "private.output_dispersion",
        "private.output_g_per_week",
        "private.penalty_cost_usd",
        "private.planning_horizon_weeks",
        "private.precursor_availability",
        "private.precursor_cost_usd_per_g",
        "private.purity",
        "private.released_skilled_per_kg_week",
        "private.setup_cost_usd",
        "state.facilities[].capacity_g_per_week",
        "state.facilities[].relocated_from",
        "prices.normal_fill",
    )
    reads = (
        "arrest_hazard",
        "precursor_mult",
        "shipments",
        "state_output",
        "state_output_region",
        "tier_price",
        "week_consumed",
        "week_demand",
    )
    writes = ("actors", "persons")

    def init(self, sim) -> None:
        pv = sim.scenario.private
        city_region = np.array([sim.region_index[c.region] for c in pv.chemical_cities], dtype=np.int64)
        # Skilled pool of each city: its skilled share of the city's population, at most the
        # region's, stochastically rounded (a numerical fix: at scale 0.005 a pool is 1-4 persons,
        # and rounding biased it by up to 35 %; the expected pool is now the scaled one at every
        # scale). Drawn from a stream of its own so that the process's other draws are unchanged.
        rng = stream(sim.seed, f"{self.name}.pools")
        expected = np.array([c.population * sim.scale * c.skilled_share.value for c in pv.chemical_cities])
        whole = np.floor(expected)
        pool_sizes = np.minimum(
            whole.astype(np.int64) + (rng.random(len(expected)) < expected - whole),
            sim.persons.sizes[city_region].astype(np.int64),
        ).astype(np.int64)
        self.p = bundles.make(  # the kernels' parameters
            city_region=city_region,
            pool_sizes=pool_sizes,
            output_per_week=float(pv.output_g_per_week.value),
            precursor_cost=float(pv.precursor_cost_usd_per_g.value),
            legal_income=float(pv.legal_income_usd_per_week.value),
            penalty=float(pv.penalty_cost_usd.value),  # x this week's arrest hazard: the risk
            horizon=float(pv.planning_horizon_weeks.value),
            setup_cost=float(pv.setup_cost_usd.value),
            max_entry=float(pv.max_entry_rate.value),
            base_exit=float(pv.base_exit_rate.value),
            max_exit=float(pv.max_exit_rate.value),
        )
        # Former state workers (T8): each facility's capacity (all drugs, g/week at full
        # population), its former region (-1 if it never moved), the chemical city of each region
        # (the first listed there; -1 if none).
        facilities = sim.scenario.state.facilities
        self.capacity = np.array([sum(p.value for p in f.capacity_g_per_week.values()) for f in facilities])
        self.relocated_from = np.array(
            [sim.region_index[f.relocated_from] if f.relocated_from is not None else -1 for f in facilities],
            dtype=np.int64,
        )
        self.city_of_region = np.full(sim.n_regions, -1, dtype=np.int64)
        for ci in range(len(city_region) - 1, -1, -1):
            self.city_of_region[city_region[ci]] = ci
        self.released_per_g = float(pv.released_skilled_per_kg_week.value) / 1000.0
        self.demand_pull = float(pv.demand_pull.value)
        self.normal_fill = float(sim.scenario.prices.normal_fill.value)
        # Would-be producers' expectations (adaptive, Nerlove 1958): exponential averages of the
        # national demand and consumption and of the producer price, weight 1 / expectation_weeks.
        self.memory = 1.0 / float(pv.expectation_weeks.value)
        self.demand_seen = self.consumed_seen = 0.0
        self.price_seen: np.ndarray | None = None

    def populate(self, sim) -> None:
        """Draw each city's skilled persons, then the initial producers, spread by pool size."""
        rng, pv, persons = sim.rng(self.name), sim.scenario.private, sim.persons
        self.skilled = []
        for r, k in zip(self.p.city_region, self.p.pool_sizes, strict=True):
            ids = persons.start[r] + rng.choice(int(persons.sizes[r]), size=int(k), replace=False)
            persons.flags[ids] |= st.SKILLED
            self.skilled.append(np.sort(ids))
        self.pool_target = self.p.pool_sizes.astype(float)  # rises with released state workers
        n0 = pv.initial_producers_per_million.value * persons.n / 1e6
        sizes = self.p.pool_sizes.astype(float)
        if sizes.sum() > 0 and n0 > 0:
            per_city = rng.multinomial(int(rng.poisson(n0)), sizes / sizes.sum())
            for ci, k in enumerate(per_city):
                self.enter(sim, rng, ci, int(k))

    def enter(self, sim, rng, city: int, k: int) -> np.ndarray:
        pv = sim.scenario.private
        r = int(self.p.city_region[city])
        persons = sim.persons.sample_free(sim.draws(self.name), r, k, st.ACTOR | st.JAILED, pool=self.skilled[city])
        if len(persons) == 0:
            return persons
        a = sim.actors
        slots = a.add(st.PRODUCER, np.full(len(persons), r), persons, sim.t)
        sim.persons.flags[persons] |= st.ACTOR
        sigma = pv.output_dispersion.value
        a.output_g[slots] = pv.output_g_per_week.value * rng.lognormal(-0.5 * sigma**2, sigma, len(slots))
        a.purity[slots] = np.clip(rng.normal(pv.purity.value, 0.05, len(slots)), 0.01, 1.0)
        a.city[slots] = city
        a.sell_ema[slots] = 1.0
        return slots

    def released(self, sim) -> np.ndarray:
        """Grams per week of state capacity idle in each chemical city this week (full-population
        units): capacity not used under the production schedule where the facility is, and the
        whole capacity of a facility that moved away, at its former site (S4, T5)."""
        out = np.zeros(len(self.p.city_region))
        used = sim.state_output.sum(axis=1) / sim.scale
        for f in range(len(self.capacity)):
            where = int(sim.state_output_region[f])
            c = self.city_of_region[where]
            if c >= 0:
                out[c] += max(0.0, self.capacity[f] - used[f])
            old = self.relocated_from[f]
            if old >= 0 and old != where and self.city_of_region[old] >= 0:
                out[self.city_of_region[old]] += self.capacity[f]
        return out

    def expect(self, sim) -> tuple[float, np.ndarray]:
        """Update the expectations with last week's market; return the expected national shortage
        (how far the averaged share of demand served falls below the normal fill of a supplied
        market, as a share of it; 0 without demand) and the expected producer price by region."""
        m = self.memory
        self.demand_seen = (1.0 - m) * self.demand_seen + m * float(sim.week_demand.sum())
        self.consumed_seen = (1.0 - m) * self.consumed_seen + m * float(sim.week_consumed.sum())
        price = producer_price(sim)
        self.price_seen = price.copy() if self.price_seen is None else (1.0 - m) * self.price_seen + m * price
        if self.demand_seen <= 0:
            return 0.0, self.price_seen
        served = self.consumed_seen / self.demand_seen
        return max(0.0, self.normal_fill - served) / self.normal_fill, self.price_seen

    def grow_pools(self, sim, rng) -> None:
        """Former state workers join their city's skilled pool (T8): the pool's size rises to its
        base + ``released_skilled_per_kg_week`` x idle kg/week x scale (stochastically rounded)
        and never falls; the newly skilled are drawn among the region's persons not yet skilled."""
        target = self.p.pool_sizes + self.released_per_g * self.released(sim) * sim.scale
        persons = sim.persons
        for c in np.flatnonzero(target > self.pool_target + 1e-12).tolist():
            self.pool_target[c] = target[c]
            whole = np.floor(target[c])
            k = int(whole) + int(rng.random() < target[c] - whole) - len(self.skilled[c])
            r = int(self.p.city_region[c])
            size = int(persons.sizes[r])
            if k <= 0 or len(self.skilled[c]) + k > size:
                continue
            new = np.empty(0, dtype=np.int64)
            while len(new) < k:
                ids = persons.start[r] + rng.integers(0, size, size=2 * (k - len(new)))
                ids = ids[(persons.flags[ids] & st.SKILLED) == 0]
                ids = ids[np.sort(np.unique(ids, return_index=True)[1])][: k - len(new)]
                persons.flags[ids] |= st.SKILLED
                new = np.concatenate([new, ids])
            self.skilled[c] = np.sort(np.concatenate([self.skilled[c], new]))

    def step(self, sim) -> None:
        rng, a, pv, state = sim.rng(self.name), sim.actors, sim.scenario.private, sim.draws(self.name)
        availability = pv.precursor_availability.value * sim.precursor_mult
        price = producer_price(sim)
        risk = sim.arrest_hazard[st.PRODUCER] * self.p.penalty  # expected sanction, USD a week
        self.grow_pools(sim, rng)
        shortage, expected_price = self.expect(sim)
        # Exit first (decided on last week's prices), then entry.
        leaving = _exits(state, a.of_role(st.PRODUCER), a.cols, price, risk, availability, self.p)
        if len(leaving):
            arrests.move_stock(sim, leaving, a.supplier[leaving].astype(np.int64), np.ones(len(leaving)))
            sim.persons.flags[a.person[leaving]] &= ~np.uint8(st.ACTOR)
            arrests.remove_actors(sim, leaving)
        if availability <= 0:
            return
        pools = np.array([len(x) for x in self.skilled], dtype=np.int64)
        pull = 1.0 + self.demand_pull * shortage
        k = _entries(
            state, a.of_role(st.PRODUCER), a.cols, expected_price, risk, availability * pull, pools, self.p,
            availability,
        )
        for ci in k.nonzero()[0].tolist():
            self.enter(sim, rng, int(ci), int(k[ci]))


@njit(cache=True, inline="always")
def _logistic(x):
    return 1.0 / (1.0 + np.exp(-min(max(x, -50.0), 50.0)))


@njit(cache=True, inline="always")
def _net_gain(output, price, precursor_cost, legal_income, risk):
    """Expected weekly gain of producing over legal work, net of risk (USD)."""
    return output * (price - precursor_cost) - legal_income - risk


@njit(cache=True)
def _exits(state, producers, a, price_r, risk_r, availability, p):
    """Producers leaving this week: each with ``base_exit + max_exit x logistic(-net / legal
    income)``, its net gain counting only what it sells; only those with a buyer (a leaver hands
    its stock to its deliverer; without one it stays on a week)."""
    output, sell_ema, region, supplier = a.output_g, a.sell_ema, a.region, a.supplier
    out = np.empty(len(producers), dtype=np.int64)
    n = 0
    for s in producers:
        r = region[s]
        net = _net_gain(
            output[s] * availability * sell_ema[s],
            price_r[r],
            p.precursor_cost / max(availability, 1e-9),
            p.legal_income,
            risk_r[r],
        )
        p_exit = min(p.base_exit + p.max_exit * _logistic(-net / p.legal_income), 1.0)
        if next_double(state) < p_exit and supplier[s] >= 0:
            out[n] = s
            n += 1
    return out[:n]


@njit(cache=True)
def _entries(state, producers, a, price_r, risk_r, rate_mult, pools, p, availability):
    """Entrants per chemical city this week: a binomial count of its skilled pool (``pools``) at
    ``max_entry x rate_mult x logistic(value / set-up cost)`` (rate_mult: precursor availability
    x demand pull), value = horizon x net gain - set-up cost, entrants expecting their city's
    mean sell-through, or the national mean where their city has no producer (1 if none has)."""
    city, sell_ema, city_region = a.city, a.sell_ema, p.city_region
    n_cities = len(city_region)
    n_local = np.zeros(n_cities)
    sold = np.zeros(n_cities)
    for s in producers:
        n_local[city[s]] += 1
        sold[city[s]] += sell_ema[s]
    n_all = len(producers)
    national = sold.sum() / n_all if n_all > 0 else 1.0
    k = np.zeros(n_cities, dtype=np.int64)
    for c in range(n_cities):
        r = city_region[c]
        sell = sold[c] / n_local[c] if n_local[c] > 0 else national
        net = _net_gain(
            p.output_per_week * availability * sell,
            price_r[r],
            p.precursor_cost / max(availability, 1e-9),
            p.legal_income,
            risk_r[r],
        )
        value = p.horizon * net - p.setup_cost
        p_entry = p.max_entry * rate_mult * _logistic(value / p.setup_cost)
        k[c] = binomial(state, pools[c], min(1.0, p_entry))
    return k


class PrivateProduction(Process):
    name = "private_production"
    claims = ("S6", "S7", "S10")
    params = ("private.precursor_availability",)
    reads = ("precursor_mult",)
    writes = ("actors", "ledger")
    records = ("produced_g",)

    def step(self, sim) -> None:
        a, pv = sim.actors, sim.scenario.private
        availability = pv.precursor_availability.value * sim.precursor_mult
        prod = a.of_role(st.PRODUCER)
        # A producer whose unsold stock exceeds a month of output waits for buyers.
        prod = prod[row_totals_of(a.stock, prod) < 4 * a.output_g[prod]]
        if len(prod) == 0 or availability <= 0:
            return
        g = a.output_g[prod] * availability
        meth = 0
        a.stock[prod, meth] += g
        a.pure[prod, meth] += g * a.purity[prod]
        sim.ledger.produced[meth] += g.sum()
        if sim.flow_log is not None:
            sim.flow_log.add(sim.t, SOURCE, a.uid[prod], g)
        by_region = np.bincount(a.region[prod], weights=g, minlength=sim.n_regions)
        sim.recorder.add_by(
            "produced_g", by_region, sim.region_names, dim="region", drug=sim.drugs[meth], channel="private"
        )
