"""Supply, trafficking side: the engine's processes 7-9 as methods of `ReferenceModel`
(`TraffickingMixin`): Delivery (deliverers carry producers' product to wholesalers),
BorderSmuggling (wholesalers' export share, bribes and perceived risk, smugglers' crossings) and
Transit (lots arrive at home or abroad: interdiction, state revenue, onward legs), with `Lot`,
the product in transit, and the two ways private product is put in transit.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from narcoflow_reference.agents import (
    Deliverer,
    Producer,
    Seller,
    Smuggler,
    Wholesaler,
)


@dataclass(slots=True)
class Lot:
    """Product in transit: domestic (a deliverer carries it to a wholesaler) or abroad."""

    drug: int
    grams: float
    pure: float
    arrive: int                       # step of arrival
    foreign: bool
    dest: object = None               # Wholesaler (domestic; None once it is gone) or destination index
    dest_region: int = -1             # domestic: the wholesaler's region (fallback if it is gone)
    channel: int = -1                 # export channel index, or the private channel
    carrier: Deliverer | None = None  # domestic: the deliverer carrying it (seized with them)
    forced: bool = False              # seized on arrival for sure (S9)
    price_factor: float = 0.0         # state lots: revenue factor of the channel
    interdiction: float = 0.0         # probability of seizure on arrival


class TraffickingMixin:
    """Processes 7-9 (delivery, border smuggling, transit); mixed into `ReferenceModel`."""

    # ================================================================== shared operations
    def send_domestic_lot(self, carrier: Deliverer, dest: Wholesaler, drug: int, grams: float, pure: float) -> None:
        self.lots.append(Lot(drug, grams, pure, self.t + self.scenario.distribution.transit_weeks, False,
                             dest=dest, dest_region=dest.region, channel=self.private_channel, carrier=carrier))

    def send_abroad_private(self, smuggler: Smuggler, drug: int, grams: float, pure: float) -> None:
        china = self.scenario.border.destinations[self.china]
        self.lots.append(Lot(drug, grams, pure, self.t + china.transit_weeks, True, dest=self.china,
                             channel=self.private_channel, interdiction=china.interdiction_prob.value))
        self.recorder.add("exported_g", grams, drug=self.drugs[drug], region="China", channel="private")
        self.recorder.add("private_export_revenue_usd", grams * china.price_usd_per_g.value)

    # 7 --------------------------------------------------------------- Delivery (S11)
    def delivery(self) -> None:
        """Wholesalers' needs (target cover of their sellers' demand and their exports, less stock
        and lots on the way); each deliverer buys what its wholesalers lack from its producers and
        ships it to them pro rata to need."""
        dist = self.scenario.distribution
        sellers_demand: dict[Wholesaler, float] = defaultdict(float)
        for s in self.actors_of(Seller):
            if s.supplier is not None:
                sellers_demand[s.supplier] += s.demand_ema
        on_the_way: dict[Wholesaler, float] = defaultdict(float)
        for lot in self.lots:
            if not lot.foreign and lot.dest is not None:
                on_the_way[lot.dest] += lot.grams
        clients: dict[Deliverer, list[tuple[Wholesaler, float]]] = defaultdict(list)
        for w in self.actors_of(Wholesaler):
            if w.supplier is not None:
                need = w.need(sellers_demand[w], on_the_way[w], dist.wholesaler_target_cover_weeks.value)
                clients[w.supplier].append((w, need))
        need_d = {d: sum(n for _, n in ws) for d, ws in clients.items()}
        producers = self.actors_of(Producer).select(lambda p: p.supplier is not None)
        producers_of = producers.groupby("supplier", result_type="list").groups
        self.actors_of(Deliverer).do(lambda d: d.buy_from(producers_of.get(d, []), need_d.get(d, 0.0)))
        for d, ws in clients.items():
            d.ship_to(ws, need_d[d], dist.rewire_prob.value)

    # 8 --------------------------------------------------------------- BorderSmuggling (S10, S13)
    def border_smuggling(self) -> None:
        """Bribes asked and perceived risks are updated; wholesalers tied to a smuggler hand it
        their export share (expected export value after risk vs the wholesale price); each
        smuggler holding product then chooses a crossing and tries to cross (none if every
        crossing is closed)."""
        self.update_route_state()
        values, self.route_pr = self.route_values()
        wholesale = self.tier_price[1]
        for w in self.actors_of(Wholesaler):
            w.export_ema *= 0.8  # every wholesaler's memory of its exports decays
        if values is None:  # every crossing closed
            return
        self.actors_of(Wholesaler).select(
            lambda w: w.export_tie is not None
        ).shuffle_do(lambda w: w.allocate_exports(values[w.export_tie.region], wholesale))
        self.actors_of(Smuggler).select(lambda s: s.held() > 0).shuffle_do("cross_border")

    def update_route_state(self) -> None:
        """The bribe share asked at each crossing (E6, E8): up at once to its target with
        enforcement at the crossing, back down over bribe_relax_weeks; the perceived-risk counts
        (detections, tries) lose weight by risk_memory."""
        b = self.scenario.border
        lo, hi = b.bribe_share.value, max(b.bribe_share_max.value, b.bribe_share.value)
        if not hasattr(self, "bribe_now"):
            n = len(b.crossings)
            self.bribe_now = [lo] * n
            self.detections, self.attempts = [0.0] * n, [0.0] * n
        for c, r in enumerate(self.crossing_region):
            target = lo + (hi - lo) * (1 - math.exp(-b.bribe_response.value * max(self.enforcement_mult[r] - 1, 0)))
            now = self.bribe_now[c]
            self.bribe_now[c] = target if target >= now else now + (target - now) / max(b.bribe_relax_weeks.value, 1)
            self.detections[c] *= b.risk_memory.value
            self.attempts[c] *= b.risk_memory.value

    def route_values(self):
        """Per region h of a smuggler: the expected export value per gram over its choice of
        crossing, and the choice probabilities (softmax over the open crossings of the value per
        gram: (1 - perceived risk) x China price x (1 - bribe x share of corrupt guards) - perceived
        risk x the exposed wholesaler's sanction per gram of its lot - detour cost outside h).
        (None, None) if every crossing is closed."""
        b = self.scenario.border
        china = b.destinations[self.china].price_usd_per_g.value
        open_ = [c for c in range(len(b.crossings)) if self.crossing_open[c]]
        if not open_:
            return None, None
        per_g = {}
        for c in open_:
            risk = ((b.risk_prior_mean.value * b.risk_prior_weight.value + self.detections[c])
                    / (b.risk_prior_weight.value + self.attempts[c]))
            corrupt = float(np.mean(self.guard_corrupt[c])) if len(self.guard_corrupt[c]) else 0.0
            sanction = (self.scenario.enforcement.exposure_arrest_prob.value
                        * self.scenario.prices.sanction_usd["wholesaler"].value / b.export_lot_g.value)
            per_g[c] = (1 - risk) * china * (1 - self.bribe_now[c] * corrupt) - risk * sanction
        values, probs = [], []
        for h in range(self.n_regions):
            v = {c: per_g[c] - b.detour_cost_usd_per_g.value * (self.crossing_region[c] != h) for c in open_}
            top = max(v.values())
            w = {c: math.exp((v[c] - top) / (b.route_temperature.value * china)) for c in open_}
            total = sum(w.values())
            pr = {c: w[c] / total for c in open_}
            values.append(sum(pr[c] * v[c] for c in open_))
            probs.append(pr)
        return values, probs

    # 9 --------------------------------------------------------------- Transit (S8, S13, S14)
    def transit(self) -> None:
        """Lots due arrive: domestic lots join their wholesaler (another of its region if it is
        gone; none: wait a week); foreign lots are interdicted, or earn state revenue, are partly
        forwarded onward, and the rest is delivered."""
        due = [lot for lot in self.lots if lot.arrive <= self.t]
        if not due:
            return
        staying = [lot for lot in self.lots if lot.arrive > self.t]
        wholesalers_of_region = self.by_region(self.actors_of(Wholesaler))
        onward: list[Lot] = []
        for lot in due:
            if lot.foreign:
                onward += self.arrive_abroad(lot)
                continue
            w = lot.dest if lot.dest is not None and lot.dest.active else None
            if w is None:
                local = wholesalers_of_region[lot.dest_region]
                w = local[self.random.randrange(len(local))] if local else None
            if w is None:
                lot.arrive += 1
                staying.append(lot)
            else:
                w.stock[lot.drug] += lot.grams
                w.pure[lot.drug] += lot.pure
        self.lots = staying + onward

    def arrive_abroad(self, lot: Lot) -> list[Lot]:
        sc, rec = self.scenario, self.recorder
        dest = sc.border.destinations[lot.dest]
        dname, drug, chname = dest.name, self.drugs[lot.drug], self.channel_names[lot.channel]
        p = 1.0 if lot.forced else min(1.0, lot.interdiction * self.foreign_mult[lot.dest])
        if self.random.random() < p:
            self._seize_abroad(lot, dest.agency)
            return []
        if lot.channel != self.private_channel and lot.price_factor > 0:
            rec.add("state_revenue_usd", lot.grams * dest.price_usd_per_g.value * lot.price_factor,
                    region=dname, channel=chname)
        legs, rest = [], lot.grams
        purity = lot.pure / lot.grams if lot.grams > 0 else 0.0
        for oi, o, share in self.onward_shares(lot.dest):
            og = lot.grams * share
            rest -= og
            legs.append(Lot(lot.drug, og, og * purity, self.t + o.transit_weeks, True, dest=oi,
                            channel=lot.channel, interdiction=o.interdiction_prob.value))
        rec.add("delivered_abroad_g", rest, drug=drug, region=dname, channel=chname)
        self.ledger.delivered[lot.drug] += rest
        return legs

    def onward_shares(self, hub: int) -> list:
        """The onward legs from ``hub`` with this week's shares: base share x (price gap over the
        hub net of interdiction / reference gap) ^ elasticity, scaled down together to at most 1."""
        dests = self.scenario.border.destinations

        def net(i):
            return dests[i].price_usd_per_g.value * max(0.0, 1 - min(1.0, dests[i].interdiction_prob.value
                                                                       * self.foreign_mult[i]))

        legs = []
        for oi, o in self.onward.get(hub, []):
            if o.onward_share.value <= 0:
                continue
            gap = net(oi) / max(net(hub), 1e-9 * dests[hub].price_usd_per_g.value)
            share = o.onward_share.value * (gap / o.onward_reference_gap.value) ** \
                self.scenario.border.onward_price_elasticity.value
            legs.append((oi, o, share))
        total = sum(s for _, _, s in legs)
        return [(oi, o, s / total if total > 1 else s) for oi, o, s in legs]

    def _seize_abroad(self, lot: Lot, agency: str) -> None:
        self.recorder.add("seized_g", lot.grams, drug=self.drugs[lot.drug], region=self.dest_names[lot.dest],
                          channel=agency)
        self.ledger.seized[lot.drug] += lot.grams
