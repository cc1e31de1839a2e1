"""The upper private chain (S11): producers hand their output to their deliverer, who carries it to
a provincial wholesaler. The carried lot is in transit for ``distribution.transit_weeks``; if
the deliverer is arrested on the way, the lot is seized with them (E4: checkpoint busts).
Actors without a tie keep their stock until `Recruitment` rewires them.
"""

from __future__ import annotations

import numpy as np

from narcoflow.engine import state as st
from narcoflow.engine.processes.base import Process


class Delivery(Process):
    name = "delivery"
    claims = ("S11",)

    def step(self, sim) -> None:
        a = sim.actors
        prod = a.of_role(st.PRODUCER)
        tied = prod[a.supplier[prod] >= 0]
        sim.move_stock(tied, a.supplier[tied].astype(np.int64), np.ones(len(tied)))
        deliv = a.of_role(st.DELIVERER)
        deliv = deliv[(a.supplier[deliv] >= 0) & (a.stock[deliv].sum(axis=1) > 0)]
        if len(deliv) == 0:
            return
        transit = sim.scenario.distribution.transit_weeks
        for d in range(sim.n_drugs):
            g = a.stock[deliv, d]
            m = g > 0
            if not m.any():
                continue
            src = deliv[m]
            dest = a.supplier[src]
            sim.shipments.add(drug=np.full(len(src), d), grams=g[m], pure=a.pure[src, d],
                              arrive=np.full(len(src), sim.t + transit), foreign=np.zeros(len(src), bool),
                              dest=dest, dest_region=a.region[dest], channel=np.full(len(src), sim.private_channel),
                              carrier=src, forced=np.zeros(len(src), bool), price_factor=np.zeros(len(src)),
                              interdiction=np.zeros(len(src)))
            a.stock[src, d] = 0.0
            a.pure[src, d] = 0.0
