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

from narcoflow.engine import kernels
from narcoflow.engine import state as st
from narcoflow.engine.processes.base import Process


def wholesaler_need(sim, wh: np.ndarray, include_transit: bool = False) -> np.ndarray:
    """Grams each wholesaler lacks to hold its target cover of weekly outflow (its sellers' demand
    plus its exports), optionally counting what is already on the way to it."""
    a, dist = sim.actors, sim.scenario.distribution
    demand = kernels.supplier_totals(a.of_role(st.SELLER), a.supplier, a.demand_ema, a.cap)
    held = kernels.row_totals_of(a.stock, wh)
    if include_transit and sim.shipments.n:
        sh = sim.shipments
        dom = ~sh.view("foreign") & (sh.view("dest") >= 0)
        held = held + np.bincount(sh.view("dest")[dom], weights=sh.view("grams")[dom], minlength=a.cap)[wh]
    outflow = demand[wh] + a.export_ema[wh]
    return np.maximum(0.0, dist.wholesaler_target_cover_weeks.value * outflow - held)


def positions(base, per: float) -> np.ndarray:
    """Positions a tier needs: ``base / per``, but at least one wherever ``base > 0``.

    Why the floor: at a reduced scale a province may need 0.3 sellers; stochastic rounding keeps
    that mean but leaves the province without any seller most weeks, so its users cannot buy and
    the epidemic starts years late (BENCHMARKS.md, "Results by scale"). At full scale
    ``base / per`` is far above one and the floor changes nothing.
    """
    base = np.asarray(base, dtype=float)
    return np.where(base > 0, np.maximum(base / per, 1.0), 0.0)


def _round(rng, missing: np.ndarray) -> np.ndarray:
    """Stochastic rounding of missing positions (>= 0): unbiased at any scale (0.3 -> 1 w.p. 0.3)."""
    m = np.maximum(np.asarray(missing, dtype=float), 0.0)
    base = np.floor(m)
    return (base + (rng.random(m.shape) < m - base)).astype(np.int64)


class Recruitment(Process):
    name = "recruitment"
    claims = ("S11", "S12", "S13")

    def init(self, sim) -> None:
        sc = sim.scenario
        self.border_access = np.array([r.border_access.value for r in sc.regions])
        self.crossing_region = np.array([sim.region_index[c.region] for c in sc.border.crossings])
        # Start with a full chain for the initial users and producers.
        self.fill(sim, sim.rng(self.name), rate=1.0)
        self.rewire(sim, sim.rng(self.name), prob=1.0)

    def step(self, sim) -> None:
        rng = sim.rng(self.name)
        self.fill(sim, rng, rate=sim.scenario.distribution.recruitment_rate.value)
        self.rewire(sim, rng, prob=sim.scenario.distribution.rewire_prob.value)

    # ---------------------------------------------------------------- helpers
    def _recruit(self, sim, rng, role, missing, rate) -> np.ndarray:
        k = rng.binomial(_round(rng, missing), rate)
        slots = []
        for r in k.nonzero()[0].tolist():
            persons = sim.persons.sample_free(rng, int(r), int(k[r]), st.ACTOR | st.JAILED)
            if len(persons):
                sim.persons.flags[persons] |= st.ACTOR
                slots.append(sim.actors.add(role, np.full(len(persons), r), persons, sim.t))
        return np.concatenate(slots) if slots else np.empty(0, dtype=np.int64)

    def fill(self, sim, rng, rate: float) -> None:
        a, dist, b = sim.actors, sim.scenario.distribution, sim.scenario.border
        count = a.count  # active actors per role and region, kept up to date as actors are added
        self._recruit(sim, rng, st.SELLER, positions(sim.users.region_counts, dist.users_per_seller.value)
                      - count[st.SELLER], rate)
        self._recruit(sim, rng, st.WHOLESALER, positions(count[st.SELLER], dist.sellers_per_wholesaler.value)
                      - count[st.WHOLESALER], rate)
        self._recruit(sim, rng, st.DELIVERER, positions(count[st.PRODUCER], dist.producers_per_deliverer.value)
                      - count[st.DELIVERER], rate)
        # Smugglers per crossing (several crossings may share a region).
        target = float(positions(b.smugglers_per_crossing_per_million.value * sim.persons.n / 1e6, 1.0))
        sm = a.of_role(st.SMUGGLER)
        have = np.bincount(a.crossing[sm], minlength=len(b.crossings))
        k = rng.binomial(_round(rng, target - have), rate)
        for ci in k.nonzero()[0].tolist():
            r = self.crossing_region[ci]
            persons = sim.persons.sample_free(rng, int(r), int(k[ci]), st.ACTOR | st.JAILED)
            sim.persons.flags[persons] |= st.ACTOR
            slots = a.add(st.SMUGGLER, np.full(len(persons), r), persons, sim.t)
            a.crossing[slots] = ci

    def rewire(self, sim, rng, prob: float) -> None:
        a = sim.actors
        wh = a.of_role(st.WHOLESALER)

        def orphans(role):
            s = a.of_role(role)
            s = s[a.supplier[s] < 0]
            return s[rng.random(len(s)) < prob]

        # Sellers -> a wholesaler of their region.
        s = orphans(st.SELLER)
        a.supplier[s] = a.pick_in_region(rng, st.WHOLESALER, sim.n_regions, a.region[s])
        # Producers -> a deliverer of their region.
        dl = a.of_role(st.DELIVERER)
        p = orphans(st.PRODUCER)
        a.supplier[p] = a.pick_in_region(rng, st.DELIVERER, sim.n_regions, a.region[p])
        # Wholesalers -> a deliverer with product to sell: of their region with
        # deliverer_same_region_prob, else of any region; weighted by the supply behind it.
        w = orphans(st.WHOLESALER)
        if len(w) and len(dl):
            a.supplier[w] = self._pick_deliverers(sim, rng, w)
        # Wholesalers -> a smuggler (S13), with the region's border access.
        sm = a.of_role(st.SMUGGLER)
        w = wh[a.export_tie[wh] < 0]
        if len(w) and len(sm):
            p_tie = prob * self.border_access[a.region[w]]
            w = w[rng.random(len(w)) < p_tie]
            own = a.pick_in_region(rng, st.SMUGGLER, sim.n_regions, a.region[w])
            anywhere = sm[rng.integers(len(sm), size=len(w))]
            a.export_tie[w] = np.where(own >= 0, own, anywhere)

    def _pick_deliverers(self, sim, rng, w: np.ndarray) -> np.ndarray:
        """A deliverer for each wholesaler of ``w``, picked with a weight equal to the product
        available behind it (its stock and its producers'): of the wholesaler's region with
        ``deliverer_same_region_prob`` (if the region has one), else of any region."""
        a = sim.actors
        dl, starts, counts = a.by_region(st.DELIVERER, sim.n_regions)
        supply = kernels.row_totals(a.stock)
        prod = a.of_role(st.PRODUCER)
        prod = prod[a.supplier[prod] >= 0]
        supply = supply + np.bincount(a.supplier[prod], weights=kernels.row_totals_of(a.stock, prod), minlength=a.cap)
        cum = np.cumsum(supply[dl] + 1e-9)  # deliverers sorted by region: regions are segments
        region = a.region[w].astype(np.int64)
        local = rng.random(len(w)) < sim.scenario.distribution.deliverer_same_region_prob.value
        local &= counts[region] > 0
        lo = np.where(local, starts[region], 0)
        hi = np.where(local, starts[region] + counts[region], len(dl))
        base = np.where(lo > 0, cum[lo - 1], 0.0)
        x = base + rng.random(len(w)) * (cum[hi - 1] - base)
        pick = np.minimum(np.maximum(np.searchsorted(cum, x), lo), hi - 1)
        return dl[pick]
