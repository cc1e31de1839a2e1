"""Supply, production side: the engine's processes 2-6 as methods of `ReferenceModel`
(`ProductionMixin`): StateProduction, NsaSiphon, StateExports (the state sector: factories, the
NSA's stock, export channels), ProducerEntryExit and PrivateProduction (private producers of the
chemical cities' skilled pools), with what they share: booking production, a producer's expected
net gain, shipping a state lot abroad, the skilled pools' initialization and producers' entry.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from narcoflow_reference.agents import (
    Person,
    Producer,
    Wholesaler,
    logistic,
)
from narcoflow_reference.trafficking import Lot


class ProductionMixin:
    """Processes 2-6 (state production to private production); mixed into `ReferenceModel`."""

    # ================================================================== shared operations
    def book_production(self, drug: int, grams: float, region: int, channel: str) -> None:
        self.ledger.produced[drug] += grams
        self.recorder.add("produced_g", grams, drug=self.drugs[drug], region=self.region_names[region],
                          channel=channel)

    def producer_net(self, output: float, region: int, availability: float, price: float | None = None) -> float:
        """ProducerEntryExit: expected weekly net gain of producing ``output`` grams over legal
        work, net of the expected penalty (USD): at ``price``, or last week's producer price,
        precursor cost / availability, last week's arrest hazard x penalty cost."""
        sc = self.scenario
        pv = sc.private
        price = self.tier_price[0, region] if price is None else price
        margin = output * (price - pv.precursor_cost_usd_per_g.value / max(availability, 1e-9))
        risk = self.arrest_hazard[0, region] * pv.penalty_cost_usd.value
        return margin - pv.legal_income_usd_per_week.value - risk

    def ship_state_lot(self, drug: int, grams: float, dest: int, channel: int, transit: int,
                       price_factor: float, interdiction: float, forced: bool = False) -> None:
        purity = self.state_pure[drug] / self.state_stock[drug]
        self.state_stock[drug] -= grams
        self.state_pure[drug] -= grams * purity
        self.lots.append(Lot(drug, grams, grams * purity, self.t + transit, True, dest=dest, channel=channel,
                             forced=forced, price_factor=price_factor, interdiction=interdiction))
        self.recorder.add("exported_g", grams, drug=self.drugs[drug], region=self.dest_names[dest],
                          channel=self.channel_names[channel])

    # ================================================================== initialization
    def _init_producers(self) -> None:
        """Skilled pools of the chemical cities (S6) and the initial producers (T3, T4)."""
        sc = self.scenario
        pv = sc.private
        self.city_region = [self.region_index[c.region] for c in pv.chemical_cities]
        self.skilled_pools: list[list[Person]] = []
        for c, r in zip(pv.chemical_cities, self.city_region, strict=True):
            x = c.population * self.scale * c.skilled_share.value  # stochastically rounded (scale-free)
            k = min(int(x) + int(self.rng.random() < x - int(x)), int(self.sizes[r]))
            people = self.persons_by_region[r]
            pool = [people[i] for i in sorted(self.rng.choice(len(people), size=k, replace=False))]
            for p in pool:
                p.skilled = True
            self.skilled_pools.append(pool)
        # Would-be producers' expectations (adaptive, Nerlove 1958): exponential averages of the
        # national demand and consumption and of the producer price by region.
        self.demand_seen = self.consumed_seen = 0.0
        self.price_seen = None
        self.pool_base = [float(len(p)) for p in self.skilled_pools]
        self.pool_target = list(self.pool_base)
        self.city_of_region = {}
        for ci in range(len(self.city_region) - 1, -1, -1):
            self.city_of_region[self.city_region[ci]] = ci
        n0 = pv.initial_producers_per_million.value * self.n_persons / 1e6
        sizes = np.array([len(p) for p in self.skilled_pools], dtype=float)
        if sizes.sum() > 0 and n0 > 0:
            per_city = self.rng.multinomial(int(self.rng.poisson(n0)), sizes / sizes.sum())
            for ci, k in enumerate(per_city):
                self.enter_producers(ci, int(k))

    def enter_producers(self, city: int, k: int) -> None:
        """Up to ``k`` free skilled persons of the city's pool become producers (S6)."""
        r = self.city_region[city]
        for person in self.sample_free(self.skilled_pools[city], k, self.free_for_role):
            Producer(self, person, r, city)

    # 2 --------------------------------------------------------------- StateProduction (S1-S4)
    def state_production(self) -> None:
        """The state factories produce capacity x schedule multiplier x scale into the NSA's stock,
        booked in the former region before a relocation (S4)."""
        m = 1.0
        for s in sorted(self.scenario.state.production_schedule, key=lambda s: s.start):
            if s.start <= self.date:
                m = s.multiplier.value
        self.state_output[:] = self.capacity * m * self.scale
        for i, f in enumerate(self.scenario.state.facilities):
            before = f.relocated_from is not None and self.date < f.relocation_date
            r = self.region_index[f.relocated_from if before else f.region]
            self.state_output_region[i] = r
            for d in range(self.n_drugs):
                g = self.state_output[i, d]
                if g > 0:
                    self.state_stock[d] += g
                    self.state_pure[d] += g * f.purity.value
                    self.book_production(d, g, r, "state")

    # 3 --------------------------------------------------------------- NsaSiphon (S5)
    def nsa_siphon(self) -> None:
        """A share of each facility's output leaks to a random wholesaler of its region (of any
        region if it has none)."""
        rate = self.scenario.state.siphon_rate.value
        wholesalers = list(self.actors_of(Wholesaler))
        if rate <= 0 or not wholesalers:
            return
        for i, r in enumerate(self.state_output_region):
            pool = [w for w in wholesalers if w.region == r] or wholesalers
            w = pool[self.random.randrange(len(pool))]
            for d in range(self.n_drugs):
                g = min(self.state_output[i, d] * rate, self.state_stock[d])
                if g <= 0:
                    continue
                purity = self.state_pure[d] / self.state_stock[d]
                self.state_stock[d] -= g
                self.state_pure[d] -= g * purity
                w.stock[d] += g
                w.pure[d] += g * purity
                self.recorder.add("siphoned_g", g, drug=self.drugs[d], region=self.region_names[r])

    # 4 --------------------------------------------------------------- StateExports (S8, S9)
    def state_exports(self) -> None:
        """The dated S9 shipment (seized on arrival), then each channel ships lots of a share of
        the NSA's stock to destinations drawn by the channel's weights."""
        sc = self.scenario
        channels = sc.state.export_channels
        names = [c.name for c in channels]
        for ev in sc.events:
            if ev.type == "state_shipment_seizure" and self.date <= ev.start < self.date + dt.timedelta(days=7):
                d = self.drugs.index(ev.drug)
                grams = min(ev.grams.value * self.scale, self.state_stock[d])
                ch = names.index(ev.channel) if ev.channel in names else 0
                if grams > 0:
                    self.ship_state_lot(d, grams, self.dest_index[ev.destination], ch, channels[ch].transit_weeks,
                                        channels[ch].price_factor.value, 1.0, forced=True)
        for ci, c in enumerate(channels):
            lot = c.lot_g.value * self.scale
            for d in range(self.n_drugs):
                expected = self.state_stock[d] * c.share_of_stock_per_week.value / lot
                n_lots = int(expected) + int(self.random.random() < expected - int(expected))
                n_lots = min(n_lots, int(self.state_stock[d] // lot))
                if n_lots == 0 or self.export_weights[ci].sum() == 0:
                    continue
                for dest in self.rng.choice(len(self.dest_names), size=n_lots, p=self.export_weights[ci]):
                    prob = sc.border.destinations[dest].interdiction_prob.value
                    self.ship_state_lot(d, lot, int(dest), ci, c.transit_weeks, c.price_factor.value,
                                        prob * c.interdiction_multiplier.value)

    # 5 --------------------------------------------------------------- ProducerEntryExit (S6, S7)
    def producer_entry_exit(self) -> None:
        """Skilled pools grow with released state workers; producers leave on poor economics;
        then, per chemical city, k ~ Binomial(pool size, p_entry) free skilled persons enter on
        expected profit vs. risk vs. legal income, x the demand pull of the expected shortage;
        entry reads the market averaged over ``expectation_weeks`` (adaptive expectations)."""
        pv = self.scenario.private
        availability = pv.precursor_availability.value * self.precursor_mult
        self.grow_pools()
        m = 1.0 / pv.expectation_weeks.value
        self.demand_seen = (1.0 - m) * self.demand_seen + m * float(self.week_demand.sum())
        self.consumed_seen = (1.0 - m) * self.consumed_seen + m * float(self.week_consumed.sum())
        price = self.tier_price[0].copy()
        self.price_seen = price if self.price_seen is None else (1.0 - m) * self.price_seen + m * price
        self.actors_of(Producer).shuffle_do("consider_exit", availability)
        if availability <= 0:
            return
        producers = list(self.actors_of(Producer))
        # Demand pull: the expected national shortage below the normal fill draws entrants.
        demand, normal = self.demand_seen, self.scenario.prices.normal_fill.value
        shortage = max(0.0, normal - self.consumed_seen / demand) / normal if demand > 0 else 0.0
        pull = 1.0 + pv.demand_pull.value * shortage
        national = sum(p.sell_ema for p in producers) / len(producers) if producers else 1.0
        for ci, pool in enumerate(self.skilled_pools):
            local = [p.sell_ema for p in producers if p.city == ci]
            sell = sum(local) / len(local) if local else national
            value = (pv.planning_horizon_weeks.value
                     * self.producer_net(pv.output_g_per_week.value * availability * sell, self.city_region[ci],
                                         availability, price=float(self.price_seen[self.city_region[ci]]))
                     - pv.setup_cost_usd.value)
            p_entry = pv.max_entry_rate.value * availability * logistic(value / pv.setup_cost_usd.value) * pull
            self.enter_producers(ci, int(self.rng.binomial(len(pool), min(1.0, p_entry))))

    def grow_pools(self) -> None:
        """Former state workers join the skilled pool of the chemical city where state capacity
        stands idle (T8): capacity - this week's output where the facility is, the whole capacity
        at the former site of a facility that moved (S4, T5); a pool rises to its base +
        released_skilled_per_kg_week x idle kg/week x scale (stochastically rounded), never falls."""
        sc = self.scenario
        idle = [0.0] * len(self.skilled_pools)
        for i, f in enumerate(sc.state.facilities):
            cap = float(self.capacity[i].sum())
            here = self.state_output_region[i]
            if here in self.city_of_region:
                idle[self.city_of_region[here]] += max(0.0, cap - float(self.state_output[i].sum()) / self.scale)
            if f.relocated_from is not None:
                old = self.region_index[f.relocated_from]
                if old != here and old in self.city_of_region:
                    idle[self.city_of_region[old]] += cap
        per_g = sc.private.released_skilled_per_kg_week.value / 1000.0
        for ci, pool in enumerate(self.skilled_pools):
            target = self.pool_base[ci] + per_g * idle[ci] * self.scale
            if target <= self.pool_target[ci] + 1e-12:
                continue
            self.pool_target[ci] = target
            k = self.round_s(target) - len(pool)
            people = self.persons_by_region[self.city_region[ci]]
            if k <= 0 or len(pool) + k > len(people):
                continue
            candidates = [p for p in people if not p.skilled]
            for i in sorted(self.rng.choice(len(candidates), size=k, replace=False)):
                candidates[i].skilled = True
                pool.append(candidates[i])

    # 6 --------------------------------------------------------------- PrivateProduction (S6, S7, S10)
    def private_production(self) -> None:
        """Each producer makes its output x precursor availability (not while holding a month of it)."""
        availability = self.scenario.private.precursor_availability.value * self.precursor_mult
        if availability > 0:
            self.actors_of(Producer).do("produce", availability)
