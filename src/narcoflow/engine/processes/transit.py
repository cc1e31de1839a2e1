"""Product in transit arrives, is interdicted abroad, or is forwarded onward (S8, S13, S14).

- Domestic lots (deliverer -> provincial wholesaler, S11) join the wholesaler's stock; if the
  wholesaler is gone they go to another wholesaler of that region, else wait a week.
- Foreign lots are seized on arrival with the lot's interdiction probability x this week's
  foreign-crackdown multiplier, by the destination's agency. A state lot that arrives earns the
  state its value (grams x destination price x channel price factor, S8).
- Product arriving in a hub (China) is partly forwarded to the markets reached via it (Japan,
  South Korea, S14), each leg with its own transit time and interdiction; the rest is delivered.
  The share sent on along leg j responds to the price gap it offers over the hub, net of this
  week's interdiction risk at both ends (C12-C16; NarcoLogic: flows follow profit net of risk):
      gap_j   = price_j x (1 - interdiction_j x foreign_mult_j)
                / (price_hub x (1 - interdiction_hub x foreign_mult_hub))
      share_j = onward_share_j x (gap_j / onward_reference_gap_j) ^ onward_price_elasticity
  (the legs of one hub together at most 1): a crackdown in China sends more on, one in Japan less.

Lots are handled in lot order, so the draws (a wholesaler of the region for a redirected domestic
lot, interdiction for a foreign one) come from the process's kernel stream in that order.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from narcoflow.engine import bundles
from narcoflow.engine.draws import integer, next_double
from narcoflow.engine.flowlog import FlowLog
from narcoflow.engine.processes.base import Process
from narcoflow.engine.state import WHOLESALER


class Transit(Process):
    name = "transit"
    claims = ("S8", "S13", "S14")
    params = ("border.destinations[].agency", "border.destinations[].interdiction_prob",
              "border.destinations[].onward_reference_gap", "border.destinations[].onward_share",
              "border.destinations[].price_usd_per_g", "border.destinations[].transit_weeks",
              "border.destinations[].via", "border.onward_price_elasticity")
    reads = ("foreign_mult",)
    writes = ("actors", "ledger", "shipments")
    records = ("delivered_abroad_g", "seized_g", "state_revenue_usd")

    def init(self, sim) -> None:
        dests = sim.scenario.border.destinations
        onward = [[o for o in dests if o.via == d.name and o.onward_share.value > 0] for d in dests]
        legs = [o for per_dest in onward for o in per_dest]
        hub = [sim.dest_index[o.via] for o in legs]
        # The routes (kernel parameters): each destination's price, and the onward legs as flat
        # arrays, destination d's legs being leg_first[d]:leg_first[d + 1].
        self.route = bundles.make(
            price=np.array([d.price_usd_per_g.value for d in dests], dtype=float),
            leg_first=np.concatenate([[0], np.cumsum([len(x) for x in onward])]).astype(np.int64),
            leg_dest=np.array([sim.dest_index[o.name] for o in legs], dtype=np.int64),
            leg_share=np.array([o.onward_share.value for o in legs], dtype=float),
            leg_hub=np.array(hub, dtype=np.int64),
            leg_reference_gap=np.array([o.onward_reference_gap.value for o in legs], dtype=float),
            elasticity=float(sim.scenario.border.onward_price_elasticity.value),
            interdiction=np.array([d.interdiction_prob.value for d in dests], dtype=float),
            share_now=np.array([o.onward_share.value for o in legs], dtype=float),
            leg_weeks=np.array([o.transit_weeks for o in legs], dtype=np.int64),
            leg_interdiction=np.array([o.interdiction_prob.value for o in legs], dtype=float),
            n_channels=len(sim.channel_names), private_channel=sim.private_channel,
        )
        self.agency = [d.agency for d in dests]
        self.seized_node = np.array([FlowLog.seized(a) for a in self.agency], dtype=np.int64)
        # Recorder keys of the flattened grids drug x destination (x channel).
        dn, cn = sim.dest_names, sim.channel_names
        self.seized_keys = [("seized_g", drug, dn[i], self.agency[i]) for drug in sim.drugs for i in range(len(dn))]
        self.revenue_keys = [("state_revenue_usd", None, d, c) for d in dn for c in cn]
        self.delivered_keys = [("delivered_abroad_g", drug, d, c) for drug in sim.drugs for d in dn for c in cn]

    def step(self, sim) -> None:
        sh, a, rec = sim.shipments, sim.actors, sim.recorder
        if sh.n == 0:
            return
        onward_shares(self.route, sim.foreign_mult)
        wholesalers = a.by_region(WHOLESALER, sim.n_regions)
        keep, dom_lot, dom_dest, leg_lot, leg_of, leg_g, lost, seized, revenue, delivered = _arrive(
            sim.draws(self.name), sim.t, sh.n, sh.cols, a.cols, wholesalers, self.route, sim.foreign_mult,
            sim.ledger.cols)
        if keep.all():
            return
        rec.record(self.seized_keys, seized.ravel())
        rec.record(self.revenue_keys, revenue.ravel())
        rec.record(self.delivered_keys, delivered.ravel())
        if sim.flow_log is not None:
            self._log(sim, dom_lot, dom_dest, leg_lot, leg_of, leg_g, lost)
        if len(leg_g):  # onward legs leave from the arrived lots (read before the table shrinks)
            r = self.route
            d_ = sh.drug[leg_lot]
            purity = np.divide(sh.pure[leg_lot], sh.grams[leg_lot], out=np.zeros(len(leg_lot)),
                               where=sh.grams[leg_lot] > 0)
            legs = dict(drug=d_, grams=leg_g, pure=leg_g * purity, arrive=sim.t + r.leg_weeks[leg_of],
                        foreign=True, dest=r.leg_dest[leg_of], dest_region=-1, channel=sh.channel[leg_lot],
                        carrier=-1, interdiction=r.leg_interdiction[leg_of])
        sh.keep(keep)
        if len(leg_g):
            sh.add(**legs)

    def _log(self, sim, dom_lot, dom_dest, leg_lot, leg_of, leg_g, lost) -> None:
        """Flow-log this week's arrivals: carrier -> wholesaler, destination -> onward market,
        destination -> the seizing agency."""
        sh, a, log = sim.shipments, sim.actors, sim.flow_log
        log.add(sim.t, a.uid[sh.carrier[dom_lot]], a.uid[dom_dest], sh.grams[dom_lot])
        log.add(sim.t, FlowLog.foreign(sh.dest[leg_lot]), FlowLog.foreign(self.route.leg_dest[leg_of]), leg_g)
        log.add(sim.t, FlowLog.foreign(sh.dest[lost]), self.seized_node[sh.dest[lost]], sh.grams[lost])


@njit(cache=True)
def onward_shares(route, foreign_mult):
    """This week's share of each onward leg (``route.share_now``): the leg's base share x (its
    price gap over the hub net of interdiction / the reference gap) ^ elasticity, the legs of
    one hub scaled down together if they would exceed 1."""
    price, risk, hub, dest = route.price, route.interdiction, route.leg_hub, route.leg_dest
    share = route.share_now
    for j in range(len(share)):
        h, d = hub[j], dest[j]
        home = price[h] * max(1e-9, 1.0 - min(1.0, risk[h] * foreign_mult[h]))
        gap = price[d] * max(0.0, 1.0 - min(1.0, risk[d] * foreign_mult[d])) / home
        share[j] = route.leg_share[j] * (gap / route.leg_reference_gap[j]) ** route.elasticity
    leg_first = route.leg_first
    for h in range(len(leg_first) - 1):
        total = 0.0
        for j in range(leg_first[h], leg_first[h + 1]):
            total += share[j]
        if total > 1.0:
            for j in range(leg_first[h], leg_first[h + 1]):
                share[j] /= total


@njit(cache=True)
def _arrive(state, t, n, lots, a, wholesalers, route, foreign_mult, ledger):
    """The first ``n`` lots in transit that are due at step ``t`` arrive, in lot order.

    A domestic lot joins its wholesaler's stock, or that of a wholesaler of its region drawn at
    random (``wholesalers``: slots sorted by region, starts, counts) if its own is gone, or waits a
    week. A foreign lot is interdicted with its probability x the destination's ``foreign_mult``
    (always, if forced), or delivered, a share of it going on along the destination's onward legs.
    Returns the mask of the lots still in transit, the domestic deliveries (lot, wholesaler), the
    onward legs (lot, leg, grams), the interdicted lots, and the week's sums: grams seized by
    drug and destination, the state's revenue by destination and channel, grams delivered by
    drug, destination and channel (also added to the ledger)."""
    drug, grams, pure, arrive, foreign = lots.drug, lots.grams, lots.pure, lots.arrive, lots.foreign
    dest, dest_region, channel, forced = lots.dest, lots.dest_region, lots.channel, lots.forced
    interdiction, price_factor = lots.interdiction, lots.price_factor
    active, role, stock, a_pure = a.active, a.role, a.stock, a.pure
    wh_sorted, wh_starts, wh_counts = wholesalers
    price, leg_first, leg_share = route.price, route.leg_first, route.share_now
    private_channel = route.private_channel
    ledger_seized, ledger_delivered = ledger.seized, ledger.delivered
    n_dest = len(price)
    seized = np.zeros((stock.shape[1], n_dest))
    revenue = np.zeros((n_dest, route.n_channels))
    delivered = np.zeros((stock.shape[1], n_dest, route.n_channels))
    keep = np.ones(n, dtype=np.bool_)
    dom_lot = np.empty(n, dtype=np.int64)
    dom_dest = np.empty(n, dtype=np.int64)
    max_legs = max(1, np.max(leg_first[1:] - leg_first[:-1])) if len(leg_first) > 1 else 1
    leg_lot = np.empty(n * max_legs, dtype=np.int64)
    leg_of = np.empty(n * max_legs, dtype=np.int64)
    leg_g = np.empty(n * max_legs)
    lost_lot = np.empty(n, dtype=np.int64)
    n_dom = 0
    n_leg = 0
    n_lost = 0
    for i in range(n):
        if arrive[i] > t:
            continue
        d, g = drug[i], grams[i]
        if not foreign[i]:
            w = dest[i]
            if not (w >= 0 and active[w] and role[w] == WHOLESALER):
                r = dest_region[i]
                c = wh_counts[r]
                w = wh_sorted[wh_starts[r] + integer(state, c)] if c > 0 else -1
            if w < 0:
                arrive[i] += 1  # no wholesaler in the region: the lot waits a week
                continue
            stock[w, d] += g
            a_pure[w, d] += pure[i]
            dom_lot[n_dom], dom_dest[n_dom] = i, w
            n_dom += 1
            keep[i] = False
            continue
        keep[i] = False
        de, ch = dest[i], channel[i]
        p = 1.0 if forced[i] else min(1.0, interdiction[i] * foreign_mult[de])
        if next_double(state) < p:
            seized[d, de] += g
            ledger_seized[d] += g
            lost_lot[n_lost] = i
            n_lost += 1
            continue
        if ch != private_channel and price_factor[i] > 0:  # the state earns the lot's value (S8)
            revenue[de, ch] += g * price[de] * price_factor[i]
        rest = g
        for j in range(leg_first[de], leg_first[de + 1]):  # S14: a share goes on to markets via de
            og = g * leg_share[j]
            rest -= og
            leg_lot[n_leg], leg_of[n_leg], leg_g[n_leg] = i, j, og
            n_leg += 1
        delivered[d, de, ch] += rest
        ledger_delivered[d] += rest
    return (keep, dom_lot[:n_dom], dom_dest[:n_dom], leg_lot[:n_leg], leg_of[:n_leg], leg_g[:n_leg],
            lost_lot[:n_lost], seized, revenue, delivered)
