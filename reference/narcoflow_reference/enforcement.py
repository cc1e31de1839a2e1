"""Who holds the trafficking roles: the engine's processes 13-14 as methods of `ReferenceModel`
(`EnforcementMixin`): Enforcement (the arrest hazard under each agency's capacity, arrests,
one-link exposure, users' arrests) and Recruitment (missing positions filled by free persons,
ties rewired), with what arrests share: seizing stock, jailing, removing actors and their ties.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from narcoflow_reference.agents import (
    ACTOR_TYPES,
    Actor,
    Deliverer,
    Person,
    Producer,
    Seller,
    Smuggler,
    Wholesaler,
)

#: The rows of the arrest hazard: the roles, then users.
HAZARD_ROWS = ("producer", "deliverer", "wholesaler", "seller", "smuggler", "user")


def positions(base, per: float) -> np.ndarray:
    """Positions a tier needs in each region: ``base / per``, but at least one where ``base > 0``
    (a province with users has a seller to buy from, whatever the scale)."""
    return np.array([max(b / per, 1.0) if b > 0 else 0.0 for b in base])


class EnforcementMixin:
    """Processes 13-14 (enforcement, recruitment); mixed into `ReferenceModel`."""

    # ================================================================== shared operations
    def jail(self, person: Person, role: str = "user") -> None:
        """An arrested person stops using, leaves its role and is jailed for ``role``'s sentence
        (E1, E2). A person arrested as a user who also holds a role is arrested in that role too
        (stock seized, removed, no exposure) and serves that role's sentence: nobody trades from jail."""
        if person.is_actor:
            roles = [a for a in self.all_actors() if a.person is person]
            if roles:
                self.arrest_actors(roles)  # removes them first, then jails the person in its role
                return
        if person.is_user:
            self.stop_using(person)
        person.is_actor = False
        if not person.jailed:
            self.jailed_by_region[person.region] += 1
        person.jailed = True
        self.jail_book.append((self.t + int(round(self.scenario.enforcement.sentence_weeks[role].value)), person))

    def record_arrests(self, role: str, region: int, n: int) -> None:
        self.recorder.add("arrests", float(n), region=self.region_names[region], channel=role)

    def seize_stock(self, actor: Actor, agency: str) -> None:
        """Seize what ``actor`` holds and the domestic lots it carries (S12)."""
        for d in np.flatnonzero(actor.stock > 0):
            self._seize(int(d), float(actor.stock[d]), actor.region, agency)
        actor.stock = np.zeros(self.n_drugs)
        actor.pure = np.zeros(self.n_drugs)
        carried = [lot for lot in self.lots if not lot.foreign and lot.carrier is actor]
        for lot in carried:
            self._seize(lot.drug, lot.grams, actor.region, agency)
        if carried:
            self.lots = [lot for lot in self.lots if not (not lot.foreign and lot.carrier is actor)]

    def _seize(self, drug: int, grams: float, region: int, agency: str) -> None:
        self.recorder.add("seized_g", grams, drug=self.drugs[drug], region=self.region_names[region], channel=agency)
        self.ledger.seized[drug] += grams

    def arrest_actors(self, actors: list[Actor]) -> None:
        """Arrest actors: seize their stock by their role's agency, jail them, remove them."""
        agency = self.scenario.enforcement.agency
        for a in actors:
            self.seize_stock(a, agency[a.role])
            self.record_arrests(a.role, a.region, 1)
        self.remove_actors(actors)
        for a in actors:
            self.jail(a.person, a.role)

    def remove_actors(self, gone: list[Actor]) -> None:
        """Remove actors from the model and cut every tie to them at once: other actors' supplier
        and export tie, and the destination of domestic lots heading to them (users drop a tie to
        a removed seller when they next look at it, in Retail)."""
        gone_set = dict.fromkeys(gone)
        for a in gone:
            a.active = False
            a.remove()
        for a in self.all_actors():
            if a.supplier in gone_set:
                a.supplier = None
            if isinstance(a, Wholesaler) and a.export_tie in gone_set:
                a.export_tie = None
        for lot in self.lots:
            if not lot.foreign and lot.dest in gone_set:
                lot.dest = None

    # 13 -------------------------------------------------------------- Enforcement (S12)
    def enforcement(self) -> None:
        """Actors are arrested with their role's probability (plus smugglers caught at the border);
        actors tied to an arrested one are arrested with ``exposure_arrest_prob``; then users."""
        enf = self.scenario.enforcement
        self.arrest_hazard[:] = self.hazard()
        self.arrested = {}
        for cls in ACTOR_TYPES:
            self.actors_of(cls).shuffle_do("face_arrest", self.arrest_hazard)
        for a in self.pending_arrests:
            if a.active:
                self.arrested[a] = None
        self.pending_arrests = {}
        for a in self.exposed_by(self.arrested):
            if self.random.random() < enf.exposure_arrest_prob.value:
                self.arrested[a] = None
        self.arrest_actors(list(self.arrested))
        self.users.do("face_arrest", self.arrest_hazard[-1])

    def hazard(self) -> np.ndarray:
        """Weekly arrest hazard of one participant by role (then users) and region under each
        agency's capacity (Kleiman 1993): the role's probability x the region's multiplier, cut in
        proportion where the agency's participants would call for more arrests than its capacity
        (per million inhabitants x the multiplier) allows."""
        enf = self.scenario.enforcement
        h = np.zeros((len(HAZARD_ROWS), self.n_regions))
        counts = [self.count_by_region(cls) for cls in ACTOR_TYPES] + [np.asarray(self.users_by_region, float)]
        for r in range(self.n_regions):
            m = self.enforcement_mult[r]
            wanted: dict[str, float] = defaultdict(float)
            for k, role in enumerate(HAZARD_ROWS):
                wanted[enf.agency[role]] += enf.weekly_arrest_prob[role].value * m * counts[k][r]
            for k, role in enumerate(HAZARD_ROWS):
                agency = enf.agency[role]
                cap = enf.capacity_per_million_per_week[agency].value * self.sizes[r] / 1e6 * m
                share = cap / wanted[agency] if wanted[agency] > cap else 1.0
                h[k, r] = min(1.0, enf.weekly_arrest_prob[role].value * m * share)
        return h

    def exposed_by(self, arrested: dict[Actor, None]) -> list[Actor]:
        """Active actors tied to an arrested one, one link deep (S12): the arrested actor's
        supplier and smuggler, and the actors whose supplier or smuggler it is."""
        hit: dict[Actor, None] = {}
        for a in arrested:
            for tie in (a.supplier, getattr(a, "export_tie", None)):
                if tie is not None:
                    hit[tie] = None
        for a in self.all_actors():
            if a.supplier in arrested or getattr(a, "export_tie", None) in arrested:
                hit[a] = None
        return [a for a in hit if a.active and a not in arrested]

    # 14 -------------------------------------------------------------- Recruitment (S11-S13)
    def recruitment(self) -> None:
        dist = self.scenario.distribution
        self.fill(rate=dist.recruitment_rate.value)
        self.rewire(prob=dist.rewire_prob.value)

    def fill(self, rate: float) -> None:
        """Missing positions per region (then per crossing for smugglers), stochastically rounded,
        are each filled with probability ``rate`` by a free person of the region."""
        dist, b = self.scenario.distribution, self.scenario.border
        self.recruit(Seller, positions(self.users_by_region, dist.users_per_seller.value)
                     - self.count_by_region(Seller), rate)
        self.recruit(Wholesaler, positions(self.count_by_region(Seller), dist.sellers_per_wholesaler.value)
                     - self.count_by_region(Wholesaler), rate)
        self.recruit(Deliverer, positions(self.count_by_region(Producer), dist.producers_per_deliverer.value)
                     - self.count_by_region(Deliverer), rate)
        target = positions([b.smugglers_per_crossing_per_million.value * self.n_persons / 1e6], 1.0)[0]
        have = [0] * len(self.crossing_region)
        for s in self.actors_of(Smuggler):
            have[s.crossing] += 1
        for ci, r in enumerate(self.crossing_region):
            k = int(self.rng.binomial(self.round_s(target - have[ci]), rate))
            for person in self.sample_free(self.persons_by_region[r], k, self.free_for_role):
                Smuggler(self, person, r, ci)

    def recruit(self, cls: type[Actor], missing: np.ndarray, rate: float) -> None:
        """Chain tiers: a region with none of ``cls`` left fills its positions at once (the
        engine's numerical fix for small scales, `recruit_counts`)."""
        have = self.count_by_region(cls)
        for r, x in enumerate(missing):
            k = int(self.rng.binomial(self.round_s(x), 1.0 if have[r] == 0 else rate))
            for person in self.sample_free(self.persons_by_region[r], k, self.free_for_role):
                cls(self, person, r)

    def rewire(self, prob: float) -> None:
        """Actors without a tie look for one with ``prob``: sellers -> a wholesaler of the region,
        producers -> a deliverer of the region, wholesalers -> a deliverer weighted by the product
        behind it, and wholesalers without a smuggler -> a smuggler (x border access)."""
        dist = self.scenario.distribution
        wholesalers = list(self.actors_of(Wholesaler))
        orphans = self.actors_of(Seller).select(lambda s: s.supplier is None and self.random.random() < prob)
        orphans.shuffle_do("find_wholesaler", self.by_region(wholesalers))
        deliverers = list(self.actors_of(Deliverer))
        orphans = self.actors_of(Producer).select(lambda p: p.supplier is None and self.random.random() < prob)
        orphans.shuffle_do("find_deliverer", self.by_region(deliverers))
        orphans = self.actors_of(Wholesaler).select(lambda w: w.supplier is None and self.random.random() < prob)
        if len(orphans) and deliverers:
            behind: dict[Deliverer, float] = defaultdict(float)
            for p in self.actors_of(Producer):
                if p.supplier is not None:
                    behind[p.supplier] += p.held()
            supply = [d.held() + behind[d] for d in deliverers]
            orphans.shuffle_do("find_deliverer", deliverers, supply, dist.deliverer_same_region_prob.value)
        smugglers = list(self.actors_of(Smuggler))
        if smugglers:
            access = [r.border_access.value for r in self.scenario.regions]
            for w in wholesalers:
                if w.export_tie is None:
                    w.find_smuggler(smugglers, prob * access[w.region])
