"""Recruitment of distribution actors and rewiring of broken ties (S11, S12, S13).

The chain replaces its losses, which is what makes arrests and targeted removals (issue: network
interdiction) meaningful. Each week, per region, the positions are
    sellers:     users / users_per_seller
    wholesalers: sellers / sellers_per_wholesaler
    deliverers:  producers / producers_per_deliverer
    smugglers:   smugglers_per_crossing_per_million x simulated population (millions), per crossing
but at least one wherever the tier below has anyone (`positions`), and each missing one is
filled with probability ``recruitment_rate`` by an uninvolved, free person of the region.
Ties: a seller buys from a wholesaler of its region; a wholesaler sources from a
deliverer of its region with ``deliverer_same_region_prob``, else of any region, picked with a
weight equal to the product available behind it (its stock and its producers' stock): product
flows from where it is abundant; a wholesaler also ties to a smuggler with the region's
``border_access`` (own-region crossings first); a producer sells to a deliverer of its region.
Orphans (their tie was arrested, or they left a supplier that could not serve them) find a new one
with ``rewire_prob`` a week. (Users without a seller do the same, at the start of `Retail`.)
"""

from __future__ import annotations

import numpy as np
from numba import njit

from narcoflow.engine import state as st
from narcoflow.engine.draws import binomial, integer, next_double
from narcoflow.engine.kernels.tables import row_totals, sample_free_regions
from narcoflow.engine.processes.base import Process


class Recruitment(Process):
    name = "recruitment"
    claims = ("S11", "S12", "S13")
    params = ("border.crossings[].region", "border.smugglers_per_crossing_per_million",
              "distribution.deliverer_same_region_prob", "distribution.producers_per_deliverer",
              "distribution.recruitment_rate", "distribution.rewire_prob", "distribution.sellers_per_wholesaler",
              "distribution.users_per_seller", "regions[].border_access")
    reads = ("users",)
    writes = ("actors", "persons")

    def init(self, sim) -> None:
        sc = sim.scenario
        self.border_access = np.array([r.border_access.value for r in sc.regions])
        self.crossing_region = np.array([sim.region_index[c.region] for c in sc.border.crossings])
        # Smuggler positions per crossing: per million simulated persons (at least one).
        per_million = sc.border.smugglers_per_crossing_per_million.value
        self.smuggler_base = np.full(len(sc.border.crossings), per_million * sim.persons.n / 1e6)
        # Start with a full chain for the initial users and producers. Only this process creates
        # the chain's deliverers, wholesalers, sellers and smugglers, so if there are any, an
        # earlier call of init built it: it is kept as it is (init is idempotent).
        if sim.actors.count[[st.DELIVERER, st.WHOLESALER, st.SELLER, st.SMUGGLER]].any():
            return
        self.fill(sim, rate=1.0)
        self.rewire(sim, prob=1.0)

    def step(self, sim) -> None:
        dist = sim.scenario.distribution
        self.fill(sim, rate=dist.recruitment_rate.value)
        self.rewire(sim, prob=dist.rewire_prob.value)

    # ---------------------------------------------------------------- helpers
    def fill(self, sim, rate: float) -> None:
        """Fill missing positions, tier by tier (each tier's positions count the tier below
        after its own recruits): `recruit_counts` draws how many per region, and the
        rare recruits are then drawn among the region's free persons."""
        a, dist, state = sim.actors, sim.scenario.distribution, sim.draws(self.name)
        count = a.count  # active actors per role and region, kept up to date as actors are added
        for role, base, per in ((st.SELLER, sim.users.region_counts, dist.users_per_seller.value),
                                (st.WHOLESALER, count[st.SELLER], dist.sellers_per_wholesaler.value),
                                (st.DELIVERER, count[st.PRODUCER], dist.producers_per_deliverer.value)):
            k = recruit_counts(state, base, per, count[role], rate, 1.0)
            if k.any():
                persons, regions = sample_free_regions(state, sim.persons.flags, sim.persons.start,
                                                               sim.persons.sizes, k, st.ACTOR | st.JAILED, st.ACTOR)
                a.add(role, regions, persons, sim.t)
        # Smugglers per crossing (several crossings may share a region).
        have = np.bincount(a.crossing[a.of_role(st.SMUGGLER)], minlength=len(self.smuggler_base))
        k = recruit_counts(state, self.smuggler_base, 1.0, have, rate, rate)
        for ci in k.nonzero()[0].tolist():
            slots = self._recruit(sim, st.SMUGGLER, int(self.crossing_region[ci]), int(k[ci]))
            a.crossing[slots] = ci

    def _recruit(self, sim, role: int, region: int, k: int) -> np.ndarray:
        """Up to ``k`` free persons of ``region`` take up ``role``; returns their slots."""
        persons = sim.persons.sample_free(sim.draws(self.name), region, k, st.ACTOR | st.JAILED)
        sim.persons.flags[persons] |= st.ACTOR
        return sim.actors.add(role, np.full(len(persons), region), persons, sim.t)

    def rewire(self, sim, prob: float) -> None:
        a, state, n_r = sim.actors, sim.draws(self.name), sim.n_regions
        # Sellers -> a wholesaler of their region; producers -> a deliverer of theirs.
        rewire_in_region(state, a.of_role(st.SELLER), a.cols, a.by_region(st.WHOLESALER, n_r), prob)
        rewire_in_region(state, a.of_role(st.PRODUCER), a.cols, a.by_region(st.DELIVERER, n_r), prob)
        # Wholesalers -> a deliverer with product to sell: of their region with
        # deliverer_same_region_prob, else of any region; weighted by the supply behind it.
        wh = a.of_role(st.WHOLESALER)
        w = orphans(state, wh, a.supplier, prob)
        if len(w) and len(a.of_role(st.DELIVERER)):
            a.supplier[w] = self._pick_deliverers(sim, w)
        # Wholesalers -> a smuggler (S13), with the region's border access.
        sm = a.of_role(st.SMUGGLER)
        if len(sm):
            tie_smugglers(state, wh, a.cols, prob * self.border_access, a.by_region(st.SMUGGLER, n_r), sm)

    def _pick_deliverers(self, sim, w: np.ndarray) -> np.ndarray:
        """A deliverer for each wholesaler of ``w``, picked with a weight equal to the product
        available behind it (its stock and its producers'): of the wholesaler's region with
        ``deliverer_same_region_prob`` (if the region has one), else of any region."""
        a = sim.actors
        return pick_deliverers(sim.draws(self.name), w, a.cols, a.by_region(st.DELIVERER, sim.n_regions),
                               a.of_role(st.PRODUCER), sim.scenario.distribution.deliverer_same_region_prob.value)


# ---------------------------------------------------------------- kernels
@njit(cache=True)
def recruit_counts(state, base, per, have, rate, empty_rate):
    """Recruits per region (or crossing) this week: the missing positions
    ``max(base / per, 1) - have`` (none where ``base`` is 0), stochastically rounded (0.3 -> 1 with
    probability 0.3), each filled with probability ``rate``, or ``empty_rate`` where the region has
    none of the role left (a binomial count).

    ``empty_rate`` is a numerical fix for small scales, not a mechanism: where a tier has several
    actors in a region (large scales), the customers of one that leaves find one of the others at
    ``rewire_prob``; at small scales a region's tier is often a single actor, and losing it cut
    every tie of the region until a recruit came (1 / rate weeks more), which made the market of a
    scale-0.005 run structurally less available than that of a scale-0.1 run (issue 13). With
    ``empty_rate`` = 1 an emptied tier is manned again at once and its orphans' search takes the
    same ``rewire_prob`` delay as at large scales."""
    k = np.zeros(len(base), dtype=np.int64)
    for r in range(len(base)):
        if base[r] <= 0:
            continue
        missing = max(base[r] / per, 1.0) - have[r]
        if missing <= 0:
            continue
        whole = np.floor(missing)
        n = int(whole) + (1 if next_double(state) < missing - whole else 0)
        k[r] = binomial(state, n, empty_rate if have[r] == 0 else rate)
    return k


@njit(cache=True)
def rewire_in_region(state, slots, actors, targets, prob):
    """Each of ``slots`` without a supplier looks with probability ``prob`` and ties to a random
    actor of its region among ``targets`` (slots sorted by region, starts, counts), if there is
    one."""
    tie, region = actors.supplier, actors.region
    sorted_slots, starts, counts = targets
    for s in slots:
        if tie[s] < 0 and next_double(state) < prob:
            r = region[s]
            c = counts[r]
            if c > 0:
                tie[s] = sorted_slots[starts[r] + integer(state, c)]


@njit(cache=True)
def orphans(state, slots, tie, prob):
    """The entries of ``slots`` without a tie that look for one this week (probability ``prob``)."""
    out = np.empty(len(slots), dtype=np.int64)
    n = 0
    for s in slots:
        if tie[s] < 0 and next_double(state) < prob:
            out[n] = s
            n += 1
    return out[:n]


@njit(cache=True)
def tie_smugglers(state, wholesalers, actors, p_region, by_region, smugglers):
    """Wholesalers without a smuggler tie to one with their region's probability: of their own
    region if it has any (``by_region``: smugglers sorted by region, starts, counts; S13:
    own-region crossings first), else any of ``smugglers``."""
    export_tie, region = actors.export_tie, actors.region
    sm_sorted, starts, counts = by_region
    for w in wholesalers:
        if export_tie[w] >= 0:
            continue
        r = region[w]
        if next_double(state) < p_region[r]:
            c = counts[r]
            if c > 0:
                export_tie[w] = sm_sorted[starts[r] + integer(state, c)]
            else:
                export_tie[w] = smugglers[integer(state, len(smugglers))]


@njit(cache=True)
def pick_deliverers(state, wholesalers, actors, by_region, producers, same_region_prob):
    """A deliverer for each of ``wholesalers``, weighted by the product available behind it (its
    stock and its tied producers'): of the wholesaler's region with ``same_region_prob`` (if the
    region has one), else of any region (S11: product flows from where it is abundant).
    ``by_region``: the deliverers sorted by region, starts, counts."""
    region, supplier, stock = actors.region, actors.supplier, actors.stock
    dl_sorted, starts, counts = by_region
    supply = row_totals(stock)
    for p in producers:
        if supplier[p] >= 0:
            for d in range(stock.shape[1]):
                supply[supplier[p]] += stock[p, d]
    n_dl = len(dl_sorted)
    cum = np.empty(n_dl)  # deliverers sorted by region: each region is a segment
    acc = 0.0
    for j in range(n_dl):
        acc += supply[dl_sorted[j]] + 1e-9
        cum[j] = acc
    out = np.empty(len(wholesalers), dtype=np.int64)
    for i in range(len(wholesalers)):
        r = region[wholesalers[i]]
        lo, hi = 0, n_dl
        if next_double(state) < same_region_prob and counts[r] > 0:
            lo, hi = starts[r], starts[r] + counts[r]
        base = cum[lo - 1] if lo > 0 else 0.0
        x = base + next_double(state) * (cum[hi - 1] - base)
        j = np.searchsorted(cum[lo:hi], x) + lo
        out[i] = dl_sorted[min(max(j, lo), hi - 1)]
    return out
