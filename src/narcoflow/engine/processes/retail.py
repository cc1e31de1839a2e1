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

A user's two draws of the week (search, leave) are counter-based (`kernels.uniform`, keyed by the
seed, this process and the step, counted by person), so the passes over the users can run in
chunks on several threads with bit-identical results (`narcoflow.engine.parallel`).
"""

from __future__ import annotations

import numpy as np

from narcoflow.engine import kernels, parallel
from narcoflow.engine import state as st
from narcoflow.engine.flowlog import FlowLog
from narcoflow.engine.processes.base import Process
from narcoflow.engine.rng import counter_key

SORT_MIN_USERS = 2_000_000
"""From this many users on, the user table is reordered by region and seller every
``SORT_EVERY_WEEKS`` (`Users.sort_for_locality`). At full scale this halves the time of the retail
pass (its reads of the sellers' rows then stay within a region, in the processor's cache); the
order decays as users quit, are jailed and start (about 0.4 % of the rows a week) and as ties
change. Smaller tables fit in the cache anyway. Row order changes no result but through the order
of floating-point sums and of row-indexed draws, and the schedule is fixed, so runs stay
reproducible."""
SORT_EVERY_WEEKS = 8


class Restock(Process):
    name = "restock"
    claims = ("S11", "S12")
    params = ("distribution.rewire_prob", "distribution.seller_target_cover_weeks")
    writes = ("actors",)

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
    params = ("consumption.price_elasticity", "consumption.reference_price_usd_per_g", "distribution.rewire_prob")
    reads = ("retail_price",)
    writes = ("actors", "ledger", "users", "week_consumed", "week_demand")
    records = ("consumed_g", "purity")
    _parts: np.ndarray | None = None

    def init(self, sim) -> None:
        # Recorder keys of consumption, drug by drug, region by region.
        self.consumed_keys = [("consumed_g", d, r, None) for d in sim.drugs for r in sim.region_names]

    def step(self, sim) -> None:
        a, u, c, rec = sim.actors, sim.users, sim.scenario.consumption, sim.recorder
        sim.week_demand[:] = 0.0
        sim.week_consumed[:] = 0.0
        if u.n == 0:
            a.demand_ema *= 0.8  # sellers remember their customers' demand (what they restock for)
            return
        price_factor = (sim.retail_price / c.reference_price_usd_per_g.value) ** (-c.price_elasticity.value)
        before = kernels.row_totals(a.stock) if sim.flow_log is not None else None
        sellers_sorted, starts, counts = a.by_region(st.SELLER, sim.n_regions)
        if u.n >= SORT_MIN_USERS and sim.t % SORT_EVERY_WEEKS == 0:
            u.sort_for_locality(sellers_sorted, starts, counts, a.cap)
        rewire = sim.scenario.distribution.rewire_prob.value
        key = counter_key(sim.seed, self.name, sim.t)
        n, n_drugs = u.n, sim.n_drugs
        chunks = parallel.n_chunks(n)
        cut = parallel.bounds(n, chunks)
        # One buffer per chunk: demand per drug per actor slot, and the slot's epoch (filled by the
        # kernel); kept from week to week (a fresh allocation of this size costs page faults).
        parts = self._parts
        if parts is None or parts.shape != (chunks, a.cap, n_drugs + 1):
            parts = self._parts = np.empty((chunks, a.cap, n_drugs + 1))
        demand_rc = np.zeros((chunks, sim.n_regions))

        def demand(ch: int) -> None:
            kernels.retail_demand(cut[ch], cut[ch + 1], key, u.seller, u.seller_epoch, u.region, u.drug,
                                  u.use_g, u.person, price_factor, sellers_sorted, starts, counts, rewire,
                                  a.epoch, parts[ch], demand_rc[ch])

        parallel.run(demand, chunks)
        if chunks == 1:
            dem = parts[0]
        else:  # sum the chunks in chunk order (each thread a range of slots)
            dem = np.empty((a.cap, n_drugs + 1))
            rows = parallel.bounds(a.cap, chunks)
            parallel.run(lambda j: kernels.sum_rows(parts, rows[j], rows[j + 1], dem), chunks)
        demand_r = demand_rc.sum(axis=0) if chunks > 1 else demand_rc[0]
        consumed, pure, consumed_r, short, any_short = kernels.retail_serve(
            dem, a.stock, a.pure, a.demand_ema, a.region, sim.n_regions)
        if any_short:
            parallel.run(lambda ch: kernels.retail_leave(cut[ch], cut[ch + 1], key, u.seller, u.drug, u.person,
                                                         short, rewire), chunks)
        sim.ledger.consumed += consumed.sum(axis=0)
        rec.record(self.consumed_keys, consumed.T.ravel())
        if before is not None:
            sold = before - kernels.row_totals(a.stock)
            who = (sold > 0).nonzero()[0]
            sim.flow_log.add(sim.t, a.uid[who], FlowLog.users(a.region[who]), sold[who])
        sim.week_demand[:] = demand_r
        sim.week_consumed[:] = consumed_r
        purity_r = np.divide(pure.sum(axis=1), consumed_r, out=np.zeros(sim.n_regions), where=consumed_r > 0)
        rec.add_by("purity", purity_r, sim.region_names, dim="region", channel="retail", level=True)
