"""Use by province: initiation and quitting (demand side of S11; P1-P6 for the pattern).

Initiation hazard for a non-user of region r (per week):
    (base + peer x prevalence_r x availability_r) x (reference price / retail price_r) ^ elasticity
where availability_r is the share of last week's demand that sellers could serve. New users are
drawn individually (rejection sampling among the region's non-users), tied to a random seller of
their region (S11: sellers contact consumers directly), and given a base weekly use (lognormal)
and a drug (heroin with ``heroin_share``, else meth). Users quit with ``quit_rate_per_week``
(a binomial count of distinct users: O(quitters)). Jailed users leave the table when jailed.

The initial users (``initial_prevalence`` of each region) are drawn at init, before the chain
exists (`Recruitment` comes later), so they start without a seller and look for one in their
first week (`Retail`).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from narcoflow.engine import bundles
from narcoflow.engine import state as st
from narcoflow.engine.draws import binomial, integer, next_double, normal, sample_rows
from narcoflow.engine.kernels.tables import role_by_region, sample_free_regions
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
        c = sim.scenario.consumption
        # The rule's parameters, as one bundle for the kernels.
        self.p = bundles.make(
            base=float(c.base_initiation_per_week.value), peer=float(c.peer_initiation_per_week.value),
            reference_price=float(c.reference_price_usd_per_g.value), elasticity=float(c.price_elasticity.value),
            use_g=float(c.use_g_per_week.value),  # mean base weekly use
            sigma=float(c.use_dispersion.value),  # of the lognormal use
            heroin_share=float(c.heroin_share.value), quit_rate=float(c.quit_rate_per_week.value))
        # The initial users. Only this process creates users, so users already in the table come
        # from an earlier call of init: they are removed and drawn again from the restarted
        # streams, the same ones (init is idempotent).
        u = sim.users
        if u.n:
            sim.persons.flags[u.view("person")] &= ~np.uint8(st.USER)
            u.remove_rows(np.arange(u.n))
        sim.restart_streams(self.name)
        prev = np.array([r.initial_prevalence.value for r in sim.scenario.regions])
        k = sim.rng(self.name).binomial(sim.persons.sizes, prev)
        no_sellers = role_by_region(np.empty(0, dtype=np.int64), sim.actors.region, sim.n_regions)
        self.add_users(sim, k, no_sellers, count=False)

    def add_users(self, sim, k_by_region, sellers, count: bool = True) -> None:
        person, region, seller, epoch, use, drug = new_users(
            sim.draws(self.name), np.asarray(k_by_region, dtype=np.int64), sim.persons.cols, sellers,
            sim.actors.epoch, self.p)
        if len(person) == 0:
            return
        sim.users.add(person, region, seller, use, drug, epoch)
        if count:
            sim.recorder.add_by("initiations", np.bincount(region, minlength=sim.n_regions),
                                sim.region_names, dim="region")

    def step(self, sim) -> None:
        u, p = sim.users, self.p
        # Quitting: each user quits with the weekly probability (drawn as a binomial count of
        # distinct users: O(quitters), not O(users)).
        state = sim.draws(self.name)
        rows = sample_rows(state, u.n, p.quit_rate)
        if len(rows):
            sim.persons.flags[u.person[rows]] &= ~np.uint8(st.USER)
            u.remove_rows(rows)
        k = initiation_counts(state, sim.persons.sizes, u.region_counts, sim.jail.by_region, sim.week_consumed,
                              sim.week_demand, sim.retail_price, p)
        if k.any():
            self.add_users(sim, k, sim.actors.by_region(st.SELLER, sim.n_regions))


# ---------------------------------------------------------------- kernels
@njit(cache=True)
def initiation_counts(state, sizes, users_r, jailed_r, consumed_r, demand_r, price_r, p):
    """New users per region this week: a binomial count of the free non-users at the weekly hazard
    ``(base + peer x prevalence x availability) x (reference price / price) ^ elasticity``."""
    k = np.zeros(len(sizes), dtype=np.int64)
    for r in range(len(sizes)):
        prevalence = users_r[r] / sizes[r]
        availability = consumed_r[r] / demand_r[r] if demand_r[r] > 0 else 0.0
        hazard = (p.base + p.peer * prevalence * availability) * (p.reference_price / price_r[r]) ** p.elasticity
        non_users = max(sizes[r] - users_r[r] - jailed_r[r], 0)
        k[r] = binomial(state, non_users, min(max(hazard, 0.0), 1.0))
    return k


@njit(cache=True)
def new_users(state, k_by_region, persons, sellers, epoch, p):
    """Draw ``k_by_region[r]`` new users among the free non-users of each region r (`sample_free`;
    fewer in a nearly exhausted region), flag them, and give each a random seller of its region
    (``sellers``: slots sorted by region, starts, counts; -1 if none) with that seller's
    ``epoch``, a base weekly use ``use_g x lognormal(-sigma^2 / 2, sigma)`` (mean ``use_g``) and a
    drug (heroin = 1 with ``heroin_share``, else meth = 0).
    Returns (person, region, seller, seller epoch, use, drug)."""
    sellers_sorted, starts, counts = sellers
    person, region = sample_free_regions(state, persons.flags, persons.start, persons.sizes, k_by_region,
                                         st.USER | st.JAILED, st.USER)
    n = len(person)
    seller = np.full(n, -1, dtype=np.int64)
    seller_epoch = np.zeros(n, dtype=np.int32)
    use = np.empty(n)
    drug = np.zeros(n, dtype=np.int8)
    sigma = p.sigma
    for i in range(n):
        c = counts[region[i]]
        if c > 0:
            s = sellers_sorted[starts[region[i]] + integer(state, c)]
            seller[i] = s
            seller_epoch[i] = epoch[s]
        use[i] = p.use_g * np.exp(-0.5 * sigma * sigma + sigma * normal(state))
        if next_double(state) < p.heroin_share:
            drug[i] = 1
    return person[:n], region[:n], seller, seller_epoch, use, drug
