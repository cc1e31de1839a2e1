"""The lower private chain (S11): wholesalers restock their sellers; sellers sell to the users
tied to them, who consume.

Restocking: each seller asks for ``seller_target_cover_weeks`` x its recent weekly sales minus its
stock; a wholesaler short of product serves its sellers pro rata, each drug in proportion to its
stock; a seller served less than half of what it asked drops its wholesaler with ``rewire_prob``
(it searches for another, see `Recruitment`).
Retail: a user's weekly demand is its base use x (retail price / reference price) ^ (-elasticity),
for its drug; each seller serves its users pro rata to its stock. Purity travels
with every gram (S2). Users without a seller (theirs was arrested, or they left it) first look for
one of their region with ``rewire_prob``, else go without; a user served less than half of its
demand drops its seller with ``rewire_prob`` and looks again next week.
"""

from __future__ import annotations

import numpy as np

from narcoflow.engine import kernels
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
        u = sim.rng(self.name).random(len(sellers))
        rows, src, g = kernels.restock(sellers, a.supplier, a.demand_ema, a.stock, a.pure,
                                  dist.seller_target_cover_weeks.value, u, dist.rewire_prob.value)
        if sim.flow_log is not None and len(rows):
            sim.flow_log.add(sim.t, a.uid[src], a.uid[sellers[rows]], g.sum(axis=1))


class Retail(Process):
    name = "retail"
    claims = ("S11",)

    def step(self, sim) -> None:
        a, u, c, rec = sim.actors, sim.users, sim.scenario.consumption, sim.recorder
        sim.week_demand[:] = 0.0
        sim.week_consumed[:] = 0.0
        if u.n == 0:
            a.demand_ema *= 0.8  # sellers remember their customers' demand (what they restock for)
            return
        price_factor = (sim.retail_price / c.reference_price_usd_per_g.value) ** (-c.price_elasticity.value)
        before = a.stock.sum(axis=1) if sim.flow_log is not None else None
        sellers_sorted, starts, counts = a.by_region(st.SELLER, sim.n_regions)
        consumed, pure, demand_r, consumed_r = kernels.retail(
            u.seller, u.seller_epoch, u.region, u.drug, u.use_g, u.n, a.epoch, sellers_sorted,
            starts, counts, price_factor, a.stock, a.pure, a.demand_ema, a.region, sim.n_regions, sim.n_drugs,
            sim.scenario.distribution.rewire_prob.value, sim.rng(self.name))
        for d in range(sim.n_drugs):
            got = consumed[:, d]
            if got.sum() > 0:
                sim.ledger.consumed[d] += got.sum()
                rec.add_by("consumed_g", got, sim.region_names, dim="region", drug=sim.drugs[d])
        if before is not None:
            sold = before - a.stock.sum(axis=1)
            who = np.flatnonzero(sold > 0)
            sim.flow_log.add(sim.t, a.uid[who], FlowLog.users(a.region[who]), sold[who])
        sim.week_demand[:] = demand_r
        sim.week_consumed[:] = consumed_r
        purity_r = np.divide(pure.sum(axis=1), consumed_r, out=np.zeros(sim.n_regions), where=consumed_r > 0)
        rec.add_by("purity", purity_r, sim.region_names, dim="region", channel="retail", level=True)
