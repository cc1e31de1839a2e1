"""The upper private chain (S11): producers sell to a deliverer, who carries the product to the
provincial wholesalers that source from it.

Ties: each producer sells to one deliverer (of its region); each wholesaler sources from one
deliverer (of its own region with ``deliverer_same_region_prob``, else of any region); a deliverer
serves several wholesalers. The chain is demand-driven:
    need_w   = target cover x (w's sellers' weekly demand + w's weekly exports) - w's stock
               - what is already on the way to w
    need_d   = sum of need_w over the wholesalers sourcing from d
    d buys   min(1, (need_d - d's stock) / its producers' stock) of each producer's stock
    w gets   need_w / max(need_d, d's stock) of d's stock, as a lot in transit
A producer's sell-through (share of its stock sold, averaged over weeks) feeds its economics
(S7). A wholesaler served less than half its need leaves its deliverer with ``rewire_prob`` (it
searches for another, see `Recruitment`). A lot is in transit for ``distribution.transit_weeks``;
if the deliverer is arrested on the way, the lot is seized with them (E4: checkpoint busts).
"""

from __future__ import annotations

import numpy as np

from narcoflow.engine import kernels
from narcoflow.engine import state as st
from narcoflow.engine.processes.base import Process
from narcoflow.engine.processes.recruitment import wholesaler_need


class Delivery(Process):
    name = "delivery"
    claims = ("S11",)

    def step(self, sim) -> None:
        a, dist = sim.actors, sim.scenario.distribution
        rng = sim.rng(self.name)
        wh = a.of_role(st.WHOLESALER)
        wh = wh[a.supplier[wh] >= 0]
        d_of_w = a.supplier[wh].astype(np.int64)
        need_w = wholesaler_need(sim, wh, include_transit=True) if len(wh) else np.empty(0)
        need_d = np.bincount(d_of_w, weights=need_w, minlength=a.cap)
        # Deliverers buy from their producers what their wholesalers lack.
        prod = a.of_role(st.PRODUCER)
        tied = prod[a.supplier[prod] >= 0]
        d_of_p = a.supplier[tied].astype(np.int64)
        held_d = kernels.row_totals(a.stock)
        buy = np.maximum(0.0, need_d - held_d)
        offered = np.bincount(d_of_p, weights=kernels.row_totals_of(a.stock, tied), minlength=a.cap)
        take = np.minimum(1.0, np.divide(buy, offered, out=np.zeros(a.cap), where=offered > 0))
        frac = take[d_of_p]
        had = kernels.row_totals_of(a.stock, tied) > 0
        a.sell_ema[tied[had]] = 0.9 * a.sell_ema[tied[had]] + 0.1 * frac[had]
        sim.move_stock(tied, d_of_p, frac)
        if len(wh) == 0:
            return
        # Deliverers ship to their wholesalers pro rata to need.
        held_d = kernels.row_totals(a.stock)
        share = np.divide(need_w, np.maximum(need_d[d_of_w], held_d[d_of_w]),
                          out=np.zeros(len(wh)), where=need_w > 0)
        served = np.divide(share * held_d[d_of_w], need_w, out=np.ones(len(wh)), where=need_w > 0)
        transit = dist.transit_weeks
        for d in range(sim.n_drugs):
            g = a.stock[d_of_w, d] * share
            m = g > 0
            if not m.any():
                continue
            src, dest = d_of_w[m], wh[m]
            p = a.pure[src, d] * share[m]
            n = len(src)
            sim.shipments.add(n=n, drug=d, grams=g[m], pure=p, arrive=sim.t + transit, dest=dest,
                              dest_region=a.region[dest], channel=sim.private_channel, carrier=src)
            kernels.add_to_stock(src, np.full(n, d), -g[m], -p, a.stock, a.pure)
        rows = np.unique(d_of_w)
        a.stock[rows] = np.maximum(a.stock[rows], 0.0)
        a.pure[rows] = np.maximum(a.pure[rows], 0.0)
        # Search: a wholesaler left short looks for another deliverer.
        short = (need_w > 0) & (served < 0.5) & (rng.random(len(wh)) < dist.rewire_prob.value)
        a.supplier[wh[short]] = -1
