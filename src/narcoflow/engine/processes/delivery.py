"""The upper private chain (S11): producers sell to their deliverer, who carries the product to a
provincial wholesaler. The chain is demand-driven: a wholesaler takes what it lacks to hold its
target cover of (its sellers' demand + its exports), less what is already on the way; the
deliverers tied to it share that need and buy pro rata from their producers. A producer's
sell-through (share of its stock sold, averaged over weeks) feeds its economics (S7).
The carried lot is in transit for ``distribution.transit_weeks``; if the deliverer is arrested on
the way, the lot is seized with them (E4: checkpoint busts). Actors without a tie keep their
stock until `Recruitment` rewires them.
"""

from __future__ import annotations

import numpy as np

from narcoflow.engine import state as st
from narcoflow.engine.processes.base import Process
from narcoflow.engine.processes.recruitment import wholesaler_need


class Delivery(Process):
    name = "delivery"
    claims = ("S11",)

    def step(self, sim) -> None:
        a = sim.actors
        prod = a.of_role(st.PRODUCER)
        deliv = a.of_role(st.DELIVERER)
        deliv_tied = deliv[a.supplier[deliv] >= 0]
        # Need of each wholesaler, shared by the deliverers tied to it.
        w_of_d = a.supplier[deliv_tied].astype(np.int64)
        need = np.zeros(a.cap)
        if len(w_of_d):
            wh = np.unique(w_of_d)
            need[wh] = wholesaler_need(sim, wh, include_transit=True)
        n_deliv = np.bincount(w_of_d, minlength=a.cap)
        cap_d = np.zeros(a.cap)
        cap_d[deliv_tied] = need[w_of_d] / np.maximum(n_deliv[w_of_d], 1)
        # Deliverers buy from their producers pro rata to what they can place.
        tied = prod[a.supplier[prod] >= 0]
        d_of_p = a.supplier[tied].astype(np.int64)
        offered = np.bincount(d_of_p, weights=a.stock[tied].sum(axis=1), minlength=a.cap)
        take = np.minimum(1.0, np.divide(cap_d, offered, out=np.zeros(a.cap), where=offered > 0))
        frac = take[d_of_p]
        had = a.stock[tied].sum(axis=1) > 0
        a.sell_ema[tied[had]] = 0.9 * a.sell_ema[tied[had]] + 0.1 * frac[had]
        sim.move_stock(tied, d_of_p, frac)
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
