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


class Delivery(Process):
    name = "delivery"
    claims = ("S11",)
    params = ("distribution.rewire_prob", "distribution.transit_weeks", "distribution.wholesaler_target_cover_weeks")
    writes = ("actors", "shipments")

    def step(self, sim) -> None:
        a, dist, sh = sim.actors, sim.scenario.distribution, sim.shipments
        if sh.n:  # grams on the way to each wholesaler (domestic lots)
            dest = sh.view("dest")
            dom = ~sh.view("foreign") & (dest >= 0)
            on_the_way = np.bincount(dest[dom], weights=sh.view("grams")[dom], minlength=a.cap)
        else:
            on_the_way = np.zeros(a.cap)
        tied, d_of_p, moved, src, dst, drug, g, p = kernels.delivery(
            sim.draws(self.name), a.of_role(st.SELLER), a.of_role(st.WHOLESALER), a.of_role(st.PRODUCER),
            a.supplier, a.demand_ema, a.export_ema, a.sell_ema, a.stock, a.pure, on_the_way,
            dist.wholesaler_target_cover_weeks.value, dist.rewire_prob.value)
        if sim.flow_log is not None and len(tied):  # (a lot is logged when it arrives, see Transit)
            sim.flow_log.add(sim.t, a.uid[tied], a.uid[d_of_p], moved.sum(axis=1))
        if len(g):
            sim.shipments.add(drug=drug, grams=g, pure=p, arrive=sim.t + dist.transit_weeks, dest=dst,
                              dest_region=a.region[dst], channel=sim.private_channel, carrier=src)
