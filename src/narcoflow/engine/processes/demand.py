"""Use by province: never / light / heavy / former users (the LH model of Behrens, Caulkins,
Tragler et al. 1999-2000, after Everingham & Rydell 1994), demand side of S11; P1-P6 for the
pattern.

Every person is in one use state: *never* (no `EVER` flag), *light* or *heavy* (a row of the user
table, its ``heavy`` column) or *former* (`EVER` without `USER`: quit, or arrested as a user).
Each week, from the counts at the start of the week (``L_r`` light, ``H_r`` heavy, ``P_r``
population of province r), every transition is a per-person probability ``1 - exp(-rate)``:

- *initiation* of a never-user (not in jail) of province r, at the rate
  ``[tau x c_r / c_mean + s x A_r x (f_r + kappa x (c_r / c_max) x sum_{r' != r} c_r' f_r' /
  sum_{r' != r} c_r')] x (p_ref / p_r) ^ eps``, where ``f_r = (L_r / P_r) x exp(-q H_r / L_r)``
  is the contagion of light users damped by the visible harm of heavy use (Behrens et al.
  1999), ``tau`` the innovators' rate, ``s`` the contagion rate, ``q`` the deterrence of heavy
  use, ``kappa`` the weight of the other provinces (spillover by contact), ``c_r`` the province's
  ``border_access`` (its contact through cross-border trade and the smuggling routes, so the
  northern border provinces lead, P1-P3; ``c_mean`` its population-weighted mean), ``A_r`` the
  share of last week's demand that sellers served (availability; the national share where the
  province had no demand) and ``p_r`` the retail price (innovators are not scaled by
  availability: they find the drug through trade, not through a local seller);
- *escalation* light -> heavy at ``escalation_per_week``;
- *quitting* light -> former at ``quit_rate_per_week``, heavy -> former at
  ``quit_heavy_per_week``;
- *relapse* former -> light at ``relapse_per_week`` (a former user never counts as a never-user
  again, and a relapse is not an initiation). Former users in jail do not relapse while there.

A user arrested (`Enforcement`) leaves the table and is a former user from then on, light or heavy
(forced abstinence in a labour-training camp, E1); released, it may relapse (as a light user).
Ever-used (``ever_used``: light + heavy + former) never decreases. New and relapsing users are
drawn individually, tied to a random seller of their province (S11: sellers contact consumers
directly), and given a base weekly use (lognormal; `Retail` multiplies a heavy user's by
``heavy_use_ratio``) and a drug (heroin with ``heroin_share``, else meth).

The initial users (``initial_prevalence`` of each region, all light) are drawn at init, before
the chain exists (`Recruitment` comes later), so they start without a seller and look for one in
their first week (`Retail`). Recorded: ``initiations`` (flow), ``ever_used`` and
``users_by_state`` (light, heavy, former: levels after this process; `Enforcement` may still jail
users later in the week, so light + heavy can exceed the end-of-week ``users`` by those arrests).
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
    params = ("consumption.base_initiation_per_week", "consumption.escalation_per_week",
              "consumption.harm_deterrence", "consumption.heroin_share",
              "consumption.peer_initiation_per_week", "consumption.price_elasticity",
              "consumption.quit_heavy_per_week", "consumption.quit_rate_per_week",
              "consumption.reference_price_usd_per_g", "consumption.relapse_per_week",
              "consumption.spillover_weight", "consumption.use_dispersion", "consumption.use_g_per_week",
              "regions[].border_access", "regions[].initial_prevalence")
    reads = ("actors", "jail", "retail_price", "week_consumed", "week_demand")
    writes = ("persons", "users")
    records = ("ever_used", "initiations", "users_by_state")

    def init(self, sim) -> None:
        c = sim.scenario.consumption
        contact = np.array([r.border_access.value for r in sim.scenario.regions], dtype=np.float64)
        sizes = sim.persons.sizes.astype(np.float64)
        mean_contact = float((contact * sizes).sum() / sizes.sum())
        # The rule's parameters, as one bundle for the kernels.
        self.p = bundles.make(
            base=float(c.base_initiation_per_week.value), peer=float(c.peer_initiation_per_week.value),
            deterrence=float(c.harm_deterrence.value), spillover=float(c.spillover_weight.value),
            # innovators by province (mean tau over the population) and the spillover weights
            innovators=(contact / mean_contact if mean_contact > 0 else np.ones_like(contact)),
            contact=contact, max_contact=float(contact.max()),
            escalation=float(c.escalation_per_week.value), quit_light=float(c.quit_rate_per_week.value),
            quit_heavy=float(c.quit_heavy_per_week.value), relapse=float(c.relapse_per_week.value),
            reference_price=float(c.reference_price_usd_per_g.value), elasticity=float(c.price_elasticity.value),
            use_g=float(c.use_g_per_week.value),  # mean base weekly use (of a light user)
            sigma=float(c.use_dispersion.value),  # of the lognormal use
            heroin_share=float(c.heroin_share.value))
        # The initial users. Only this process creates users, so users already in the table come
        # from an earlier call of init: they (and every ever-used mark) are removed and drawn again
        # from the restarted streams, the same ones (init is idempotent).
        u = sim.users
        flags = sim.persons.flags
        for r in range(sim.n_regions):
            flags[u.ever.of_region(r)] &= ~np.uint8(st.EVER)
        u.ever = st.EverUsed(sim.n_regions)
        if u.n:
            flags[u.view("person")] &= ~np.uint8(st.USER)
            u.remove_rows(np.arange(u.n))
        sim.restart_streams(self.name)
        prev = np.array([r.initial_prevalence.value for r in sim.scenario.regions])
        k = sim.rng(self.name).binomial(sim.persons.sizes, prev)
        no_sellers = role_by_region(np.empty(0, dtype=np.int64), sim.actors.region, sim.n_regions)
        person, region = draw_never_users(sim.draws(self.name), flags, sim.persons.start, sim.persons.sizes,
                                          k.astype(np.int64))
        self.add_users(sim, person, region, no_sellers)
        u.ever.add(person, region)

    def add_users(self, sim, person, region, sellers) -> None:
        """Give the (already flagged) new users a seller, a use and a drug, and add them, light."""
        if len(person) == 0:
            return
        seller, epoch, use, drug = user_traits(sim.draws(self.name), region, sellers, sim.actors.epoch, self.p)
        sim.users.add(person, region, seller, use, drug, epoch)

    def step(self, sim) -> None:
        u, p, flags = sim.users, self.p, sim.persons.flags
        state = sim.draws(self.name)
        # Counts at the start of the week: every transition below reads these.
        users_r = u.region_counts.copy()
        heavy_r = u.heavy_counts.copy()
        ever_r = u.ever.counts.copy()
        n0 = u.n
        sellers = sim.actors.by_region(st.SELLER, sim.n_regions)
        # Relapse: former users (ever used, not using now) become light users again.
        k_relapse = relapse_counts(state, ever_r - users_r, p.relapse)
        if k_relapse.any():
            person, region = draw_former_users(state, flags, tuple(u.ever.of_region(r) for r in range(sim.n_regions)),
                                               k_relapse)
            self.add_users(sim, person, region, sellers)
        # Quitting and escalation among the users of the start of the week (rows below n0; the
        # relapsed users were appended after them).
        quit_rows, up_rows = quit_and_escalate(state, n0, u.heavy, p)
        u.escalate(up_rows)
        if len(quit_rows):
            flags[u.person[quit_rows]] &= ~np.uint8(st.USER)
            u.remove_rows(quit_rows)
        # Initiation of never-users.
        k = initiation_counts(state, sim.persons.sizes, users_r, heavy_r, ever_r, sim.week_consumed,
                              sim.week_demand, sim.retail_price, p)
        if k.any():
            person, region = draw_never_users(state, flags, sim.persons.start, sim.persons.sizes, k)
            self.add_users(sim, person, region, sellers)
            u.ever.add(person, region)
            sim.recorder.add_by("initiations", np.bincount(region, minlength=sim.n_regions), sim.region_names,
                                dim="region")
        rec = sim.recorder
        heavy = u.heavy_counts
        rec.add_by("ever_used", u.ever.counts, sim.region_names, dim="region", level=True)
        rec.add_by("users_by_state", u.region_counts - heavy, sim.region_names, dim="region", channel="light",
                   level=True)
        rec.add_by("users_by_state", heavy, sim.region_names, dim="region", channel="heavy", level=True)
        rec.add_by("users_by_state", u.ever.counts - u.region_counts, sim.region_names, dim="region",
                   channel="former", level=True)


# ---------------------------------------------------------------- kernels
@njit(cache=True)
def _prob(rate):
    """Weekly probability of a transition at a weekly ``rate``: ``1 - exp(-rate)``."""
    return -np.expm1(-max(rate, 0.0))


@njit(cache=True)
def initiation_rates(sizes, users_r, heavy_r, consumed_r, demand_r, price_r, p):
    """Weekly initiation rate of one never-user, by province (see the module docstring)."""
    n = len(sizes)
    force = np.zeros(n)  # contagion of light users damped by the harm of heavy use
    for r in range(n):
        light = users_r[r] - heavy_r[r]
        if light > 0:
            force[r] = light / sizes[r] * np.exp(-p.deterrence * heavy_r[r] / light)
    total_consumed, total_demand = 0.0, 0.0
    for r in range(n):
        total_consumed += consumed_r[r]
        total_demand += demand_r[r]
    national = total_consumed / total_demand if total_demand > 0 else 0.0
    rate = np.zeros(n)
    for r in range(n):
        availability = consumed_r[r] / demand_r[r] if demand_r[r] > 0 else national
        spill, weight = 0.0, 0.0
        for q in range(n):
            if q != r:
                spill += p.contact[q] * force[q]
                weight += p.contact[q]
        spill = spill / weight if weight > 0 else 0.0
        rel = p.contact[r] / p.max_contact if p.max_contact > 0 else 0.0
        peer = p.peer * availability * (force[r] + p.spillover * rel * spill)
        rate[r] = (p.base * p.innovators[r] + peer) * (p.reference_price / price_r[r]) ** p.elasticity
    return rate


@njit(cache=True)
def initiation_counts(state, sizes, users_r, heavy_r, ever_r, consumed_r, demand_r, price_r, p):
    """New users per province this week: a binomial count of the never-users (jailed ones
    included: `draw_never_users` drops those, so each free never-user starts with the weekly
    probability ``1 - exp(-rate)``)."""
    rate = initiation_rates(sizes, users_r, heavy_r, consumed_r, demand_r, price_r, p)
    k = np.zeros(len(sizes), dtype=np.int64)
    for r in range(len(sizes)):
        never = max(sizes[r] - ever_r[r], 0)
        k[r] = binomial(state, never, min(_prob(rate[r]), 1.0))
    return k


@njit(cache=True)
def relapse_counts(state, former_r, relapse):
    """Relapses per province: a binomial count of the former users (jailed ones included:
    `draw_former_users` drops those)."""
    k = np.zeros(len(former_r), dtype=np.int64)
    pr = _prob(relapse)
    for r in range(len(former_r)):
        if former_r[r] > 0:
            k[r] = binomial(state, former_r[r], pr)
    return k


@njit(cache=True)
def draw_never_users(state, flags, person_start, sizes, k_by_region):
    """``k_by_region[r]`` distinct never-users of each province r (no `EVER` flag; fewer in a
    nearly exhausted province, `sample_free_regions`); those in jail are dropped (they cannot
    start), the others are flagged `USER` and `EVER`. Returns (person, region)."""
    person, region = sample_free_regions(state, flags, person_start, sizes, k_by_region, st.EVER, 0)
    keep = np.empty(len(person), dtype=np.bool_)
    for i in range(len(person)):
        keep[i] = not (flags[person[i]] & st.JAILED)
        if keep[i]:
            flags[person[i]] |= np.uint8(st.USER | st.EVER)
    return person[keep], region[keep]


@njit(cache=True)
def draw_former_users(state, flags, ever_lists, k_by_region):
    """``k_by_region[r]`` distinct former users of each province r (`EVER` without `USER`), drawn
    uniformly from its ever-used list by rejection (``k`` is at most the number of former users,
    so this ends); those in jail are dropped (no relapse in jail), the others are flagged `USER`.
    Returns (person, region)."""
    total = 0
    for k in k_by_region:
        total += k
    person = np.empty(total, dtype=np.int64)
    region = np.empty(total, dtype=np.int64)
    picked = np.empty(total, dtype=np.int64)
    n, m = 0, 0
    for r in range(len(k_by_region)):
        lst = ever_lists[r]
        got, tries = 0, 0
        while got < k_by_region[r] and tries < 1000 + 64 * len(lst):  # the bound only guards a bug
            tries += 1
            pid = lst[integer(state, len(lst))]
            if flags[pid] & np.uint8(st.USER | 128):
                continue
            flags[pid] |= np.uint8(128)  # scratch: taken this week
            picked[m] = pid
            m += 1
            got += 1
            if flags[pid] & st.JAILED:
                continue
            person[n] = pid
            region[n] = r
            n += 1
    for i in range(m):
        flags[picked[i]] &= np.uint8(~128 & 0xFF)
    for i in range(n):
        flags[person[i]] |= np.uint8(st.USER)
    return person[:n], region[:n]


@njit(cache=True)
def quit_and_escalate(state, n_users, heavy, p):
    """Rows (of the first ``n_users``) that quit this week (light with ``quit_light``, heavy with
    ``quit_heavy``: a binomial count at the larger probability, thinned) and the light rows that
    escalate to heavy (with ``escalation``, among those who do not quit). Quit rows are distinct."""
    p_light, p_heavy, p_up = _prob(p.quit_light), _prob(p.quit_heavy), _prob(p.escalation)
    p_max = max(p_light, p_heavy)
    cand = sample_rows(state, n_users, p_max) if p_max > 0 else np.empty(0, dtype=np.int64)
    quit = np.empty(len(cand), dtype=np.int64)
    n_quit = 0
    quitting = set()
    for i in cand:
        pq = p_heavy if heavy[i] else p_light
        if next_double(state) * p_max < pq:
            quit[n_quit] = i
            n_quit += 1
            quitting.add(i)
    ups = sample_rows(state, n_users, p_up) if p_up > 0 else np.empty(0, dtype=np.int64)
    up = np.empty(len(ups), dtype=np.int64)
    n_up = 0
    for i in ups:
        if heavy[i] == 0 and i not in quitting:
            up[n_up] = i
            n_up += 1
    return quit[:n_quit], up[:n_up]


@njit(cache=True)
def user_traits(state, region, sellers, epoch, p):
    """For new (or relapsing) users of ``region``: a random seller of their region (``sellers``:
    slots sorted by region, starts, counts; -1 if none) with that seller's ``epoch``, a base weekly
    use ``use_g x lognormal(-sigma^2 / 2, sigma)`` (mean ``use_g``) and a drug (heroin = 1 with
    ``heroin_share``, else meth = 0). Returns (seller, seller epoch, use, drug)."""
    sellers_sorted, starts, counts = sellers
    n = len(region)
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
    return seller, seller_epoch, use, drug
