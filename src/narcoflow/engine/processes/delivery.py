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
from numba import njit

from narcoflow.engine import bundles
from narcoflow.engine import state as st
from narcoflow.engine.draws import next_double
from narcoflow.engine.kernels.tables import move_stock, row_totals
from narcoflow.engine.processes.base import Process


class Delivery(Process):
    name = "delivery"
    claims = ("S11",)
    params = ("distribution.rewire_prob", "distribution.transit_weeks", "distribution.wholesaler_target_cover_weeks")
    writes = ("actors", "shipments")

    def init(self, sim) -> None:
        dist = sim.scenario.distribution
        self.p = bundles.make(cover=float(dist.wholesaler_target_cover_weeks.value),
                              rewire_prob=float(dist.rewire_prob.value))
        self.transit_weeks = dist.transit_weeks

    def step(self, sim) -> None:
        a, sh = sim.actors, sim.shipments
        if sh.n:  # grams on the way to each wholesaler (domestic lots)
            dest = sh.view("dest")
            dom = ~sh.view("foreign") & (dest >= 0)
            on_the_way = np.bincount(dest[dom], weights=sh.view("grams")[dom], minlength=a.cap)
        else:
            on_the_way = np.zeros(a.cap)
        roles = (a.of_role(st.SELLER), a.of_role(st.WHOLESALER), a.of_role(st.PRODUCER))
        tied, d_of_p, moved, src, dst, drug, g, p = _week(sim.draws(self.name), a.cols, roles, on_the_way, self.p)
        if sim.flow_log is not None and len(tied):  # (a lot is logged when it arrives, see Transit)
            sim.flow_log.add(sim.t, a.uid[tied], a.uid[d_of_p], moved.sum(axis=1))
        if len(g):
            sim.shipments.add(drug=drug, grams=g, pure=p, arrive=sim.t + self.transit_weeks, dest=dst,
                              dest_region=a.region[dst], channel=sim.private_channel, carrier=src)


@njit(cache=True)
def _supplier_totals(slots, supplier, value, cap):
    """``value`` summed per supplier over the ``slots`` tied to one (``np.bincount`` of
    ``supplier[slots]`` with weights ``value[slots]``, in slot order, without the temporaries)."""
    out = np.zeros(cap)
    for j in range(len(slots)):
        s = slots[j]
        w = supplier[s]
        if w >= 0:
            out[w] += value[s]
    return out


@njit(cache=True)
def _tied(slots, supplier):
    """The entries of ``slots`` with a supplier."""
    out = np.empty(len(slots), dtype=np.int64)
    n = 0
    for s in slots:
        if supplier[s] >= 0:
            out[n] = s
            n += 1
    return out[:n]


@njit(cache=True)
def _week(state, a, roles, on_the_way, params):
    """The upper chain's week: wholesalers' needs, deliverers' buying from their producers, then
    lots from deliverers to wholesalers pro rata to need; a wholesaler served less than half its
    need leaves its deliverer with ``params.rewire_prob``. ``roles``: the (seller, wholesaler, producer)
    slots; ``on_the_way[slot]``: grams in transit to each wholesaler. Returns the producers' moves
    (producer, deliverer, grams per drug: the flow log's) and the lots (deliverer, wholesaler,
    drug, grams, pure grams), whose product has left the deliverers' stocks."""
    sellers, wholesalers, producers = roles
    supplier, stock, pure, sell_ema = a.supplier, a.stock, a.pure, a.sell_ema
    export_ema = a.export_ema
    cover, rewire_prob = params.cover, params.rewire_prob
    cap, n_drugs = stock.shape
    # Wholesalers' needs: target cover x (their sellers' demand + their exports) - held - on the way.
    demand = _supplier_totals(sellers, supplier, a.demand_ema, cap)
    wh = _tied(wholesalers, supplier)
    n_wh = len(wh)
    need_w = np.empty(n_wh)
    need_d = np.zeros(cap)
    for j in range(n_wh):
        w = wh[j]
        held = 0.0
        for d in range(n_drugs):
            held += stock[w, d]
        need_w[j] = max(0.0, cover * (demand[w] + export_ema[w]) - (held + on_the_way[w]))
        need_d[supplier[w]] += need_w[j]
    # Deliverers buy from their producers what their wholesalers lack.
    held_d = row_totals(stock)
    tied = _tied(producers, supplier)
    n_p = len(tied)
    offered = np.zeros(cap)
    for p in tied:
        offered[supplier[p]] += held_d[p]
    frac = np.empty(n_p)
    d_of_p = np.empty(n_p, dtype=np.int64)
    for j in range(n_p):
        p = tied[j]
        dl = supplier[p]
        d_of_p[j] = dl
        o = offered[dl]
        frac[j] = min(1.0, max(0.0, need_d[dl] - held_d[dl]) / o) if o > 0 else 0.0
        if held_d[p] > 0:  # sell-through memory of the producers with product (S7)
            sell_ema[p] = 0.9 * sell_ema[p] + 0.1 * frac[j]
    moved = move_stock(tied, d_of_p, frac, stock, pure)
    # Deliverers ship to their wholesalers pro rata to need.
    held_d = row_totals(stock)
    share = np.zeros(n_wh)
    for j in range(n_wh):
        if need_w[j] > 0:
            dl = supplier[wh[j]]
            share[j] = need_w[j] / max(need_d[dl], held_d[dl])
    lot_src = np.empty(n_wh * n_drugs, dtype=np.int64)
    lot_dst = np.empty(n_wh * n_drugs, dtype=np.int64)
    lot_drug = np.empty(n_wh * n_drugs, dtype=np.int64)
    lot_g = np.empty(n_wh * n_drugs)
    lot_p = np.empty(n_wh * n_drugs)
    k = 0
    for d in range(n_drugs):
        first = k
        for j in range(n_wh):  # shares of the stock held before this drug's lots leave
            dl = supplier[wh[j]]
            g = stock[dl, d] * share[j]
            if g > 0:
                lot_src[k], lot_dst[k], lot_drug[k] = dl, wh[j], d
                lot_g[k], lot_p[k] = g, pure[dl, d] * share[j]
                k += 1
        for i in range(first, k):
            stock[lot_src[i], d] -= lot_g[i]
            pure[lot_src[i], d] -= lot_p[i]
    for j in range(n_wh):  # rounding can leave -1e-17 where a whole stock left
        dl = supplier[wh[j]]
        for d in range(n_drugs):
            stock[dl, d] = max(stock[dl, d], 0.0)
            pure[dl, d] = max(pure[dl, d], 0.0)
    # Search: a wholesaler left short looks for another deliverer.
    for j in range(n_wh):
        if need_w[j] > 0:
            served = share[j] * held_d[supplier[wh[j]]] / need_w[j]
            if served < 0.5 and next_double(state) < rewire_prob:
                supplier[wh[j]] = -1
    return (tied, d_of_p, moved, lot_src[:k], lot_dst[:k], lot_drug[:k], lot_g[:k], lot_p[:k])
