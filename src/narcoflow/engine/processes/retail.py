"""The lower private chain (S11): wholesalers restock their sellers; sellers sell to the users
tied to them, who consume.

Restocking: each seller asks for ``seller_target_cover_weeks`` x its recent weekly sales minus its
stock; a wholesaler short of product serves its sellers pro rata, each drug in proportion to its
stock; a seller served less than half of what it asked drops its wholesaler with ``rewire_prob``
(it searches for another, see `Recruitment`).
Retail: a user's weekly demand is its base use x (retail price / reference price) ^ (-elasticity),
for its drug; each seller serves its users pro rata to its stock. Purity travels
with every gram (S2). Users without a seller go without; a user served less than half of its
demand looks for another seller with ``rewire_prob``.
"""

from __future__ import annotations

import numpy as np

from narcoflow.engine import state as st
from narcoflow.engine.flowlog import FlowLog
from narcoflow.engine.processes.base import Process


class Restock(Process):
    name = "restock"
    claims = ("S11", "S12")

    def step(self, sim) -> None:
        a, dist = sim.actors, sim.scenario.distribution
        sellers = a.of_role(st.SELLER)
        sellers = sellers[a.supplier[sellers] >= 0]
        if len(sellers) == 0:
            return
        w = a.supplier[sellers].astype(np.int64)
        want = np.maximum(0.0, dist.seller_target_cover_weeks.value * a.demand_ema[sellers]
                          - a.stock[sellers].sum(axis=1))
        total_want = np.bincount(w, weights=want, minlength=a.cap)
        w_stock = a.stock.sum(axis=1)
        frac_w = np.divide(w_stock, total_want, out=np.zeros(a.cap), where=total_want > 0)
        served = np.minimum(1.0, frac_w[w])
        give = want * served
        # Search (S11): a seller its wholesaler leaves short looks for another one.
        short = (want > 0) & (served < 0.5)
        rng = sim.rng(self.name)
        leave = sellers[short & (rng.random(len(sellers)) < dist.rewire_prob.value)]
        m = give > 0
        if not m.any():
            a.supplier[leave] = -1
            return
        sellers, w, give = sellers[m], w[m], give[m]
        share = give / w_stock[w]  # share of each wholesaler's stock going to this seller
        sim.move_stock(w, sellers, share)
        a.supplier[leave] = -1


class Retail(Process):
    name = "retail"
    claims = ("S11",)

    def step(self, sim) -> None:
        a, u, c, rec = sim.actors, sim.users, sim.scenario.consumption, sim.recorder
        n = u.n
        sim.week_demand[:] = 0.0
        sim.week_consumed[:] = 0.0
        # Sellers remember the weekly demand of their customers (what they restock for).
        a.demand_ema *= 0.8
        if n == 0:
            return
        region = u.view("region").astype(np.int64)
        seller = u.view("seller").astype(np.int64)
        drug = u.view("drug").astype(np.int64)
        demand = u.view("use_g") * (sim.retail_price[region] / c.reference_price_usd_per_g.value) ** (
            -c.price_elasticity.value)
        has = seller >= 0
        consumed = np.zeros(n)
        pure_consumed = np.zeros(n)
        for d in range(sim.n_drugs):
            m = has & (drug == d)
            if not m.any():
                continue
            s = seller[m]
            dem_s = np.bincount(s, weights=demand[m], minlength=a.cap)
            stock = a.stock[:, d]
            fill_s = np.divide(stock, dem_s, out=np.zeros(a.cap), where=dem_s > 0)
            fill_s = np.minimum(fill_s, 1.0)
            got = demand[m] * fill_s[s]
            purity_s = np.divide(a.pure[:, d], stock, out=np.zeros(a.cap), where=stock > 0)
            consumed[m] = got
            pure_consumed[m] = got * purity_s[s]
            sold = np.bincount(s, weights=got, minlength=a.cap)
            if sim.flow_log is not None:
                who = np.flatnonzero(sold > 0)
                sim.flow_log.add(sim.t, a.uid[who], FlowLog.users(a.region[who]), sold[who])
            sold_pure = sold * purity_s
            a.stock[:, d] -= sold
            a.pure[:, d] -= sold_pure
            a.demand_ema += 0.2 * dem_s
            sim.ledger.consumed[d] += got.sum()
            rec.add_by("consumed_g", np.bincount(region[m], weights=got, minlength=sim.n_regions),
                       sim.region_names, dim="region", drug=sim.drugs[d])
        # Exactly empty stocks where a seller sold out (avoid -0.0 residues).
        np.maximum(a.stock, 0.0, out=a.stock)
        np.maximum(a.pure, 0.0, out=a.pure)
        # Search (S11): a user served less than half its demand looks for another seller.
        fill = np.divide(consumed, demand, out=np.ones(n), where=demand > 0)
        look = has & (fill < 0.5) & (sim.rng(self.name).random(n) < sim.scenario.distribution.rewire_prob.value)
        u.view("seller")[look] = -1
        sim.week_demand[:] = np.bincount(region, weights=demand, minlength=sim.n_regions)
        sim.week_consumed[:] = np.bincount(region, weights=consumed, minlength=sim.n_regions)
        pure_r = np.bincount(region, weights=pure_consumed, minlength=sim.n_regions)
        purity_r = np.divide(pure_r, sim.week_consumed, out=np.zeros(sim.n_regions),
                             where=sim.week_consumed > 0)
        rec.add_by("purity", purity_r, sim.region_names, dim="region", channel="retail", level=True)
