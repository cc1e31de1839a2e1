"""Demand side: the engine's processes 10-12 as methods of `ReferenceModel` (`DemandMixin`):
Restock (wholesalers serve their sellers), Retail (users buy from their sellers) and Demand (the
use states never / light / heavy / former and their transitions), with what they share: a
person starting and stopping use, escalation, consumption, and the initial users.
"""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np

from narcoflow_reference.agents import (
    METH,
    Person,
    Seller,
    Wholesaler,
)


class DemandMixin:
    """Processes 10-12 (restock, retail, demand); mixed into `ReferenceModel`."""

    # ================================================================== shared operations
    def consume(self, region: int, drug: int, grams: float, pure: float) -> None:
        self.consumed[region, drug] += grams
        self.consumed_pure[region, drug] += pure

    def start_using(self, person: Person, *, counted: bool) -> None:
        """A person becomes a (light) user: base use (lognormal, mean ``use_g_per_week``), a drug,
        and a random seller of the region if there is one. ``counted``: an initiation (a
        never-user), else a relapse (a former user) or an initial user."""
        c = self.scenario.consumption
        sigma = c.use_dispersion.value
        person.is_user = True
        person.heavy = False
        if not person.ever:
            person.ever = True
            self.ever_by_region[person.region] += 1
        person.use_g = c.use_g_per_week.value * self.random.lognormvariate(-0.5 * sigma**2, sigma)
        person.drug = 1 if self.random.random() < c.heroin_share.value else METH
        local = self._sellers_of_region[person.region]
        person.seller = local[self.random.randrange(len(local))] if local else None
        self.users.add(person)
        self.users_by_region[person.region] += 1
        if counted:
            self.recorder.add("initiations", 1.0, region=self.region_names[person.region])

    def escalate(self, person: Person) -> None:
        person.heavy = True
        self.heavy_by_region[person.region] += 1

    def stop_using(self, person: Person) -> None:
        """A user stops (quits, or is jailed): a former user from now on."""
        person.is_user = False
        person.seller = None
        if person.heavy:
            person.heavy = False
            self.heavy_by_region[person.region] -= 1
        self.users.discard(person)
        self.users_by_region[person.region] -= 1

    # ================================================================== initialization
    def _init_users(self) -> None:
        """Initial users: each person uses with its region's initial prevalence (no seller yet)."""
        self._sellers_of_region = self.by_region(self.actors_of(Seller))
        prevalence = [r.initial_prevalence.value for r in self.scenario.regions]
        for r, people in enumerate(self.persons_by_region):
            for p in people:
                if self.random.random() < prevalence[r]:
                    self.start_using(p, counted=False)

    # 10 -------------------------------------------------------------- Restock (S11, S12)
    def restock(self) -> None:
        """Each wholesaler serves what its sellers want (target cover of their recent demand)."""
        dist = self.scenario.distribution
        orders: dict[Wholesaler, list[tuple[Seller, float]]] = defaultdict(list)
        for s in self.actors_of(Seller):
            if s.supplier is not None:
                orders[s.supplier].append((s, s.want(dist.seller_target_cover_weeks.value)))
        for w, wants in orders.items():
            w.restock(wants, dist.rewire_prob.value)

    # 11 -------------------------------------------------------------- Retail (S11)
    def retail(self) -> None:
        """Users place their demand with their seller (looking for one if they have none); each
        seller fills its orders pro rata to its stock; users left short may drop their seller."""
        c, rec = self.scenario.consumption, self.recorder
        rewire = self.scenario.distribution.rewire_prob.value
        self.week_demand[:] = 0.0
        self.week_consumed[:] = 0.0
        self.consumed[:] = 0.0
        self.consumed_pure[:] = 0.0
        sellers = self.actors_of(Seller)
        if len(self.users) == 0:
            for s in sellers:
                s.demand_ema *= 0.8
            return
        reference = np.array([c.heroin_reference_price_usd_per_g.value if d == "heroin"
                              else c.reference_price_usd_per_g.value for d in self.drugs])
        price_factor = (self.drug_retail_price / reference[:, None]) ** (-c.price_elasticity.value)
        sellers.do("open_shop")
        self.users.do("demand_from_seller", self.by_region(sellers), price_factor, rewire)
        sellers.do("set_fill")
        self.users.do("buy_from_seller", rewire)
        sellers.do("close_shop")
        for d in range(self.n_drugs):
            got = self.consumed[:, d]
            if got.sum() > 0:
                self.ledger.consumed[d] += got.sum()
                rec.add_by("consumed_g", got, self.region_names, dim="region", drug=self.drugs[d])
        self.week_consumed[:] = self.consumed.sum(axis=1)
        pure = self.consumed_pure.sum(axis=1)
        purity = np.divide(pure, self.week_consumed, out=np.zeros(self.n_regions), where=self.week_consumed > 0)
        rec.add_by("purity", purity, self.region_names, dim="region", channel="retail", level=True)

    # 12 -------------------------------------------------------------- Demand (S11)
    def demand(self) -> None:
        """Use states never / light / heavy / former (Behrens et al. 1999-2000), every transition
        from the counts at the start of the week: former users relapse to light use; users quit
        (light and heavy at their own rates) or, if light, escalate to heavy use; never-users
        start with the hazard of their region: innovators (weighted by border access) plus the
        contagion of light users damped by the harm of heavy use, own province and spillover
        from the others weighted by border access, times availability, times the price factor."""
        c, regions = self.scenario.consumption, self.scenario.regions
        light = (self.users_by_region - self.heavy_by_region).astype(float)
        heavy = self.heavy_by_region.astype(float)
        force = np.zeros(self.n_regions)
        has = light > 0
        force[has] = light[has] / self.sizes[has] * np.exp(-c.harm_deterrence.value * heavy[has] / light[has])
        contact = np.array([r.border_access.value for r in regions])
        mean_contact = (contact * self.sizes).sum() / self.sizes.sum()
        national = self.week_consumed.sum() / self.week_demand.sum() if self.week_demand.sum() > 0 else 0.0
        rate = np.zeros(self.n_regions)
        for r in range(self.n_regions):
            availability = self.week_consumed[r] / self.week_demand[r] if self.week_demand[r] > 0 else national
            others = [q for q in range(self.n_regions) if q != r]
            weight = contact[others].sum()
            spill = (contact[others] * force[others]).sum() / weight if weight > 0 else 0.0
            rel = contact[r] / contact.max() if contact.max() > 0 else 0.0
            innovators = contact[r] / mean_contact if mean_contact > 0 else 1.0
            peer = c.peer_initiation_per_week.value * availability * (force[r] + c.spillover_weight.value * rel * spill)
            rate[r] = ((c.base_initiation_per_week.value * innovators + peer)
                       * (c.reference_price_usd_per_g.value / self.retail_price[r]) ** c.price_elasticity.value)
        p_start = -np.expm1(-np.maximum(rate, 0.0))
        self._sellers_of_region = self.by_region(self.actors_of(Seller))
        week_users = list(self.users)  # the users of the start of the week
        self.persons.do("consider_relapse", -math.expm1(-c.relapse_per_week.value))
        for person in week_users:
            person.consider_quitting(-math.expm1(-c.quit_rate_per_week.value),
                                     -math.expm1(-c.quit_heavy_per_week.value),
                                     -math.expm1(-c.escalation_per_week.value))
        self.persons.do("consider_starting", np.minimum(p_start, 1.0))
        rec = self.recorder
        rec.add_by("ever_used", self.ever_by_region.astype(float), self.region_names, dim="region", level=True)
        rec.add_by("users_by_state", (self.users_by_region - self.heavy_by_region).astype(float), self.region_names,
                   dim="region", channel="light", level=True)
        rec.add_by("users_by_state", self.heavy_by_region.astype(float), self.region_names, dim="region",
                   channel="heavy", level=True)
        rec.add_by("users_by_state", (self.ever_by_region - self.users_by_region).astype(float), self.region_names,
                   dim="region", channel="former", level=True)
