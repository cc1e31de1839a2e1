"""Use by province: initiation and quitting (demand side of S11; P1-P6 for the pattern).

Initiation hazard for a non-user of region r (per week):
    (base + peer x prevalence_r x availability_r) x (reference price / retail price_r) ^ elasticity
where availability_r is the share of last week's demand that sellers could serve. New users are
drawn individually (rejection sampling among the region's non-users), tied to a random seller of
their region (S11: sellers contact consumers directly), and given a base weekly use (lognormal)
and a drug (heroin with ``heroin_share``, else meth). Users quit with ``quit_rate_per_week``
(a binomial count of distinct users: O(quitters)). Jailed users leave the table when jailed.
"""

from __future__ import annotations

import numpy as np

from narcoflow.engine import state as st
from narcoflow.engine.processes.base import Process


class Demand(Process):
    name = "demand"
    claims = ("S11",)

    def init(self, sim) -> None:
        rng = sim.rng(self.name)
        prev = np.array([r.initial_prevalence.value for r in sim.scenario.regions])
        k = rng.binomial(sim.persons.sizes, prev)
        self.add_users(sim, rng, k, count=False)

    def add_users(self, sim, rng, k_by_region, count: bool = True) -> None:
        c, a = sim.scenario.consumption, sim.actors
        persons, regions = [], []
        for r in k_by_region.nonzero()[0].tolist():
            p = sim.persons.sample_free(rng, int(r), int(k_by_region[r]), st.USER | st.JAILED)
            persons.append(p)
            regions.append(np.full(len(p), r, dtype=np.int64))
        if not persons:
            return
        persons = np.concatenate(persons)
        if len(persons) == 0:
            return
        regions = np.concatenate(regions)
        seller = a.pick_in_region(rng, st.SELLER, sim.n_regions, regions)
        sigma = c.use_dispersion.value
        use = c.use_g_per_week.value * rng.lognormal(-0.5 * sigma**2, sigma, len(persons))
        drug = np.where(rng.random(len(persons)) < c.heroin_share.value, 1, 0)
        sim.persons.flags[persons] |= st.USER
        epoch = np.where(seller >= 0, a.epoch[np.maximum(seller, 0)], 0)
        sim.users.add(persons, regions, seller, use, drug, epoch)
        if count:
            sim.recorder.add_by("initiations", np.bincount(regions, minlength=sim.n_regions).astype(float),
                                sim.region_names, dim="region")

    def step(self, sim) -> None:
        rng, c, u = sim.rng(self.name), sim.scenario.consumption, sim.users
        # Quitting: each user quits with the weekly probability (drawn as a binomial count of
        # distinct users: O(quitters), not O(users)).
        k = rng.binomial(u.n, c.quit_rate_per_week.value)
        if k:
            rows = rng.choice(u.n, size=k, replace=False)
            sim.persons.flags[u.person[rows]] &= ~np.uint8(st.USER)
            u.remove_rows(rows)
        users_r = u.count_by_region()
        prevalence = users_r / sim.persons.sizes
        availability = np.divide(sim.week_consumed, sim.week_demand, out=np.zeros(sim.n_regions),
                                 where=sim.week_demand > 0)
        price_factor = (c.reference_price_usd_per_g.value / sim.retail_price) ** c.price_elasticity.value
        hazard = (c.base_initiation_per_week.value
                  + c.peer_initiation_per_week.value * prevalence * availability) * price_factor
        non_users = np.maximum(sim.persons.sizes - users_r - sim.jailed_r, 0)  # free non-users
        k = rng.binomial(non_users, np.minimum(np.maximum(hazard, 0.0), 1.0))
        self.add_users(sim, rng, k)
