"""Private producers (S6, S7, S10): skilled people in the chemical-factory cities enter and leave
production on expected profit against risk against legal income, and produce low-purity meth.

Entry (per skilled, uninvolved person, per week):
    margin  = expected output x (producer price in the region - precursor cost)
    risk    = weekly arrest probability x penalty cost (USD value of the sanction)
    value   = horizon x (margin - legal income - risk) - set-up cost          (S7: 200-1,500 USD)
    p_entry = max entry rate x precursor availability x logistic(value / set-up cost)
Exit (per producer, per week): base rate + max rate x logistic(-(own margin - legal income - risk)
/ legal income), where the margin counts only the share of output the producer actually sells
(its sell-through, see `Delivery`); entrants expect their city's sell-through. A producer holding
more than four weeks of unsold output makes nothing that week. Production only where the skills
are (S6); with no precursor there is neither entry nor output (S7). Private product is meth of low purity (S10).
"""

from __future__ import annotations

import numpy as np

from narcoflow.engine import arrests, kernels
from narcoflow.engine import state as st
from narcoflow.engine.flowlog import SOURCE
from narcoflow.engine.processes.base import Process


def producer_price(sim) -> np.ndarray:
    """Price a deliverer pays a producer, by region (retail / retail markup / wholesale markup)."""
    p = sim.scenario.prices
    return sim.retail_price / p.retail_markup.value / p.wholesale_markup.value


class ProducerEntryExit(Process):
    name = "producer_entry_exit"
    claims = ("S6", "S7")
    params = ("enforcement.weekly_arrest_prob", "prices.retail_markup", "prices.wholesale_markup",
              "private.base_exit_rate", "private.chemical_cities[].population", "private.chemical_cities[].region",
              "private.chemical_cities[].skilled_share", "private.initial_producers_per_million",
              "private.legal_income_usd_per_week", "private.max_entry_rate", "private.max_exit_rate",
              "private.output_dispersion", "private.output_g_per_week", "private.penalty_cost_usd",
              "private.planning_horizon_weeks", "private.precursor_availability", "private.precursor_cost_usd_per_g",
              "private.purity", "private.setup_cost_usd")
    reads = ("enforcement_mult", "precursor_mult", "retail_price", "shipments")
    writes = ("actors", "persons")

    def init(self, sim) -> None:
        sc, rng = sim.scenario, sim.rng(self.name)
        pv = sc.private
        self.city_region = np.array([sim.region_index[c.region] for c in pv.chemical_cities])
        self.skilled = []
        for c, r in zip(pv.chemical_cities, self.city_region, strict=True):
            k = int(round(c.population * sim.scale * c.skilled_share.value))
            k = min(k, int(sim.persons.sizes[r]))
            ids = sim.persons.start[r] + rng.choice(int(sim.persons.sizes[r]), size=k, replace=False)
            sim.persons.flags[ids] |= st.SKILLED
            self.skilled.append(np.sort(ids))
        self.pool_sizes = np.array([len(s) for s in self.skilled], dtype=np.int64)
        # Initial producers (T3, T4: famine-era private production), spread by skilled pool size.
        n0 = pv.initial_producers_per_million.value * sim.persons.n / 1e6
        sizes = np.array([len(s) for s in self.skilled], dtype=float)
        if sizes.sum() > 0 and n0 > 0:
            per_city = rng.multinomial(int(rng.poisson(n0)), sizes / sizes.sum())
            for ci, k in enumerate(per_city):
                self.enter(sim, rng, ci, int(k))

    def enter(self, sim, rng, city: int, k: int) -> np.ndarray:
        pv = sim.scenario.private
        r = int(self.city_region[city])
        persons = sim.persons.sample_free(sim.draws(self.name), r, k, st.ACTOR | st.JAILED, pool=self.skilled[city])
        if len(persons) == 0:
            return persons
        a = sim.actors
        slots = a.add(st.PRODUCER, np.full(len(persons), r), persons, sim.t)
        sim.persons.flags[persons] |= st.ACTOR
        sigma = pv.output_dispersion.value
        a.output_g[slots] = pv.output_g_per_week.value * rng.lognormal(
            -0.5 * sigma**2, sigma, len(slots))
        a.purity[slots] = np.clip(rng.normal(pv.purity.value, 0.05, len(slots)), 0.01, 1.0)
        a.city[slots] = city
        a.sell_ema[slots] = 1.0
        return slots

    def step(self, sim) -> None:
        rng, a, pv, state = sim.rng(self.name), sim.actors, sim.scenario.private, sim.draws(self.name)
        enf = sim.scenario.enforcement
        availability = pv.precursor_availability.value * sim.precursor_mult
        price = producer_price(sim)
        risk = enf.weekly_arrest_prob["producer"].value * pv.penalty_cost_usd.value  # x enforcement_mult
        legal = pv.legal_income_usd_per_week.value
        # Exit first (decided on last week's prices), then entry.
        leaving = kernels.producer_exits(state, a.of_role(st.PRODUCER), a.output_g, a.sell_ema, a.region,
                                         a.supplier, price, sim.enforcement_mult, availability,
                                         pv.precursor_cost_usd_per_g.value, legal, risk, pv.base_exit_rate.value,
                                         pv.max_exit_rate.value)
        if len(leaving):
            arrests.move_stock(sim, leaving, a.supplier[leaving].astype(np.int64), np.ones(len(leaving)))
            sim.persons.flags[a.person[leaving]] &= ~np.uint8(st.ACTOR)
            arrests.remove_actors(sim, leaving)
        if availability <= 0:
            return
        k = kernels.producer_entries(state, a.of_role(st.PRODUCER), a.city, a.sell_ema, self.city_region,
                                     self.pool_sizes, price, sim.enforcement_mult, availability,
                                     pv.output_g_per_week.value, pv.precursor_cost_usd_per_g.value, legal, risk,
                                     pv.planning_horizon_weeks.value, pv.setup_cost_usd.value,
                                     pv.max_entry_rate.value)
        for ci in k.nonzero()[0].tolist():
            self.enter(sim, rng, int(ci), int(k[ci]))


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
        prod = prod[kernels.row_totals_of(a.stock, prod) < 4 * a.output_g[prod]]
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
        sim.recorder.add_by("produced_g", by_region, sim.region_names, dim="region",
                            drug=sim.drugs[meth], channel="private")
