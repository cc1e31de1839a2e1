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

from narcoflow.engine import kernels
from narcoflow.engine import state as st
from narcoflow.engine.processes.base import Process


class Demand(Process):
    name = "demand"
    claims = ("S11",)
    params = ("consumption.base_initiation_per_week", "consumption.heroin_share",
              "consumption.peer_initiation_per_week", "consumption.price_elasticity",
              "consumption.quit_rate_per_week", "consumption.reference_price_usd_per_g",
              "consumption.use_dispersion", "consumption.use_g_per_week", "regions[].initial_prevalence")
    reads = ("actors", "jail", "retail_price", "week_consumed", "week_demand")
    writes = ("persons", "users")
    records = ("initiations",)

    def init(self, sim) -> None:
        rng = sim.rng(self.name)
        prev = np.array([r.initial_prevalence.value for r in sim.scenario.regions])
        k = rng.binomial(sim.persons.sizes, prev)
        self.add_users(sim, k, count=False)

    def add_users(self, sim, k_by_region, count: bool = True) -> None:
        c, a = sim.scenario.consumption, sim.actors
        person, region, seller, epoch, use, drug = kernels.new_users(
            sim.draws(self.name), np.asarray(k_by_region, dtype=np.int64), sim.persons.flags, sim.persons.start,
            sim.persons.sizes, st.USER | st.JAILED, st.USER, *a.by_region(st.SELLER, sim.n_regions), a.epoch,
            c.use_g_per_week.value, c.use_dispersion.value, c.heroin_share.value)
        if len(person) == 0:
            return
        sim.users.add(person, region, seller, use, drug, epoch)
        if count:
            sim.recorder.add_by("initiations", np.bincount(region, minlength=sim.n_regions),
                                sim.region_names, dim="region")

    def step(self, sim) -> None:
        c, u = sim.scenario.consumption, sim.users
        # Quitting: each user quits with the weekly probability (drawn as a binomial count of
        # distinct users: O(quitters), not O(users)).
        state = sim.draws(self.name)
        rows = kernels.sample_rows(state, u.n, c.quit_rate_per_week.value)
        if len(rows):
            sim.persons.flags[u.person[rows]] &= ~np.uint8(st.USER)
            u.remove_rows(rows)
        k = kernels.initiation_counts(
            state, sim.persons.sizes, u.region_counts, sim.jail.by_region, sim.week_consumed,
            sim.week_demand, sim.retail_price, c.base_initiation_per_week.value,
            c.peer_initiation_per_week.value, c.reference_price_usd_per_g.value, c.price_elasticity.value)
        if k.any():
            self.add_users(sim, k)
