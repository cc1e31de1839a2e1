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
        # Start with a full chain for the initial users and producers.
        self.fill(sim, rate=1.0)
        self.rewire(sim, prob=1.0)

    def step(self, sim) -> None:
        dist = sim.scenario.distribution
        self.fill(sim, rate=dist.recruitment_rate.value)
        self.rewire(sim, prob=dist.rewire_prob.value)

    # ---------------------------------------------------------------- helpers
    def fill(self, sim, rate: float) -> None:
        """Fill missing positions, tier by tier (each tier's positions count the tier below
        after its own recruits): `kernels.recruit_counts` draws how many per region, and the
        rare recruits are then drawn among the region's free persons."""
        a, dist, state = sim.actors, sim.scenario.distribution, sim.draws(self.name)
        count = a.count  # active actors per role and region, kept up to date as actors are added
        for role, base, per in ((st.SELLER, sim.users.region_counts, dist.users_per_seller.value),
                                (st.WHOLESALER, count[st.SELLER], dist.sellers_per_wholesaler.value),
                                (st.DELIVERER, count[st.PRODUCER], dist.producers_per_deliverer.value)):
            k = kernels.recruit_counts(state, base, per, count[role], rate)
            if k.any():
                persons, regions = kernels.sample_free_regions(state, sim.persons.flags, sim.persons.start,
                                                               sim.persons.sizes, k, st.ACTOR | st.JAILED, st.ACTOR)
                a.add(role, regions, persons, sim.t)
        # Smugglers per crossing (several crossings may share a region).
        have = np.bincount(a.crossing[a.of_role(st.SMUGGLER)], minlength=len(self.smuggler_base))
        k = kernels.recruit_counts(state, self.smuggler_base, 1.0, have, rate)
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
        kernels.rewire_in_region(state, a.of_role(st.SELLER), a.supplier, a.region,
                                 *a.by_region(st.WHOLESALER, n_r), prob)
        kernels.rewire_in_region(state, a.of_role(st.PRODUCER), a.supplier, a.region,
                                 *a.by_region(st.DELIVERER, n_r), prob)
        # Wholesalers -> a deliverer with product to sell: of their region with
        # deliverer_same_region_prob, else of any region; weighted by the supply behind it.
        wh = a.of_role(st.WHOLESALER)
        w = kernels.orphans(state, wh, a.supplier, prob)
        if len(w) and len(a.of_role(st.DELIVERER)):
            a.supplier[w] = self._pick_deliverers(sim, w)
        # Wholesalers -> a smuggler (S13), with the region's border access.
        sm = a.of_role(st.SMUGGLER)
        if len(sm):
            kernels.tie_smugglers(state, wh, a.export_tie, a.region, prob * self.border_access,
                                  *a.by_region(st.SMUGGLER, n_r), sm)

    def _pick_deliverers(self, sim, w: np.ndarray) -> np.ndarray:
        """A deliverer for each wholesaler of ``w``, picked with a weight equal to the product
        available behind it (its stock and its producers'): of the wholesaler's region with
        ``deliverer_same_region_prob`` (if the region has one), else of any region."""
        a = sim.actors
        return kernels.pick_deliverers(sim.draws(self.name), w, a.region, *a.by_region(st.DELIVERER, sim.n_regions),
                                       a.of_role(st.PRODUCER), a.supplier, a.stock,
                                       sim.scenario.distribution.deliverer_same_region_prob.value)
