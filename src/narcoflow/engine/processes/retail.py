"""The lower private chain (S11): wholesalers restock their sellers; sellers sell to the users
tied to them, who consume.

Restocking: each seller asks for ``seller_target_cover_weeks`` x its recent weekly sales minus its
stock; a wholesaler short of product serves its sellers pro rata, each drug in proportion to its
stock; a seller served less than half of what it asked drops its wholesaler with ``rewire_prob``
(it searches for another, see `Recruitment`).
Retail: a user's weekly demand is its base use x (retail price / reference price) ^ (-elasticity),
both of its drug (meth's or heroin's own, `Prices`: heroin users face the heroin price), times
``heavy_use_ratio`` for a heavy user (Everingham & Rydell 1994: heavy users consume several times
what light users do; P5, C8 for the light use); each seller serves its users pro rata to its
stock. Purity travels with every gram (S2). Users without a seller (theirs was arrested, or they
left it) first look for one of their region with ``rewire_prob``, else go without; a user served
less than half of its demand drops its seller with ``rewire_prob`` and looks again next week.

A user's two draws of the week (search, leave) are counter-based (`draws.uniform`, keyed by the
seed, this process and the step, counted by person), so the passes over the users can run in
chunks on several threads with bit-identical results (`narcoflow.engine.parallel`).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from narcoflow.engine import parallel
from narcoflow.engine import state as st
from narcoflow.engine.draws import counter_key, uniform
from narcoflow.engine.flowlog import FlowLog
from narcoflow.engine.kernels.tables import row_totals
from narcoflow.engine.processes.base import Process
from narcoflow.scenario.schema import DRUGS

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
        rows, src, g = restock(sellers, a.cols, dist.seller_target_cover_weeks.value, u, dist.rewire_prob.value)
        if sim.flow_log is not None and len(rows):
            sim.flow_log.add(sim.t, a.uid[src], a.uid[sellers[rows]], g.sum(axis=1))


class Retail(Process):
    name = "retail"
    claims = ("S11",)
    params = ("consumption.heavy_use_ratio", "consumption.heroin_reference_price_usd_per_g",
              "consumption.price_elasticity", "consumption.reference_price_usd_per_g", "distribution.rewire_prob")
    reads = ("drug_retail_price",)
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
        price_factor = price_factors(sim.drug_retail_price, c)
        before = row_totals(a.stock) if sim.flow_log is not None else None
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

        ucols, epoch, by_region, draw = u.cols, a.epoch, (sellers_sorted, starts, counts), (key, rewire)
        use_factor = np.array([1.0, c.heavy_use_ratio.value])  # by use state (light, heavy)

        def demand(ch: int) -> None:
            retail_demand((cut[ch], cut[ch + 1]), draw, ucols, price_factor, use_factor, by_region, epoch,
                          parts[ch], demand_rc[ch])

        parallel.run(demand, chunks)
        if chunks == 1:
            dem = parts[0]
        else:  # sum the chunks in chunk order (each thread a range of slots)
            dem = np.empty((a.cap, n_drugs + 1))
            rows = parallel.bounds(a.cap, chunks)
            parallel.run(lambda j: sum_rows(parts, rows[j], rows[j + 1], dem), chunks)
        demand_r = demand_rc.sum(axis=0) if chunks > 1 else demand_rc[0]
        consumed, pure, consumed_r, short, any_short = retail_serve(dem, a.cols, sim.n_regions)
        if any_short:
            parallel.run(lambda ch: retail_leave((cut[ch], cut[ch + 1]), draw, ucols, short), chunks)
        sim.ledger.consumed += consumed.sum(axis=0)
        rec.record(self.consumed_keys, consumed.T.ravel())
        if before is not None:
            sold = before - row_totals(a.stock)
            who = (sold > 0).nonzero()[0]
            sim.flow_log.add(sim.t, a.uid[who], FlowLog.users(a.region[who]), sold[who])
        sim.week_demand[:] = demand_r
        sim.week_consumed[:] = consumed_r
        purity_r = np.divide(pure.sum(axis=1), consumed_r, out=np.zeros(sim.n_regions), where=consumed_r > 0)
        rec.add_by("purity", purity_r, sim.region_names, dim="region", channel="retail", level=True)


def price_factors(drug_price: np.ndarray, consumption) -> np.ndarray:
    """Demand factor ``(price / reference) ^ (-elasticity)`` by drug and region, each drug at its
    own retail price (``drug_price[drug, region]``) and reference price (meth's for cocaine)."""
    ref = np.full((drug_price.shape[0], 1), consumption.reference_price_usd_per_g.value)
    ref[DRUGS.index("heroin")] = consumption.heroin_reference_price_usd_per_g.value
    return (drug_price / ref) ** (-consumption.price_elasticity.value)


# ---------------------------------------------------------------- kernels
@njit(cache=True, nogil=True)
def retail_demand(rows, draw, users, price_factor, use_factor, by_region, epoch, dem_se, demand_r):
    """Users ``rows = (lo, hi)`` of the retail pass (`Retail`), one chunk.

    Ties to sellers that left are dropped (stale epoch); a user without a seller finds one of its
    region (``by_region``: the sellers' CSR, slots sorted by region, starts, counts) with
    ``rewire_prob``, from its own counter-based draw (``draw = (key, rewire_prob)``); each user's
    demand ``use_g x use_factor[heavy] x price_factor[drug, region]`` is added to its seller's row
    of ``dem_se`` (per drug; the last column holds each slot's ``epoch``, so the check of a tie and
    the sum read the same cache line; the kernel fills the buffer first, on the thread that uses it) and to
    ``demand_r`` per region. Updates the users' ``seller`` and ``seller_epoch`` in place.
    """
    lo, hi = rows
    key, rewire_prob = draw
    sellers_sorted, starts, counts = by_region
    seller, seller_epoch, region = users.seller, users.seller_epoch, users.region
    drug, use_g, person, heavy = users.drug, users.use_g, users.person, users.heavy
    n_drugs = dem_se.shape[1] - 1
    for s in range(dem_se.shape[0]):  # this chunk's buffer: zero demand, each slot's epoch
        for d in range(n_drugs):
            dem_se[s, d] = 0.0
        dem_se[s, n_drugs] = epoch[s]
    for i in range(lo, hi):
        r = region[i]
        s = seller[i]
        if s >= 0 and dem_se[s, n_drugs] != seller_epoch[i]:
            s = -1
            seller[i] = -1
        if s < 0 and counts[r] > 0:
            u = uniform(key, 2 * person[i])
            if u < rewire_prob:  # which seller: the same draw, uniform on [0, 1) given u < p
                pick = min(int(u / rewire_prob * counts[r]), counts[r] - 1)
                s = sellers_sorted[starts[r] + pick]
                seller[i] = s
                seller_epoch[i] = np.int32(dem_se[s, n_drugs])
        d = drug[i]
        dem = use_g[i] * use_factor[heavy[i]] * price_factor[d, r]
        demand_r[r] += dem
        if s >= 0:
            dem_se[s, d] += dem


@njit(cache=True, nogil=True)
def sum_rows(parts, lo, hi, out):
    """``out[s] = parts[0, s] + parts[1, s] + ...`` for rows ``[lo, hi)``, always in part order."""
    n_parts, n_cols = parts.shape[0], out.shape[1]
    for s in range(lo, hi):
        for d in range(n_cols):
            acc = parts[0, s, d]
            for p in range(1, n_parts):
                acc += parts[p, s, d]
            out[s, d] = acc


@njit(cache=True)
def retail_serve(dem, actors, n_regions):
    """Each seller serves the share ``fill = min(1, stock / demand)`` of each drug's demand (so each
    of its users gets that share of its own demand; a seller's users are of its region), purity
    kept. Updates ``stock``, ``pure`` and ``demand_ema`` in place.
    Returns (consumed[R, D], pure_consumed[R, D], consumed_total[R], short[slot], any short):
    bit ``d`` of ``short`` marks a drug a seller filled less than half of (one byte a slot, so the
    leave pass reads a table that stays in the processor's cache).
    """
    stock, pure, demand_ema, actor_region = actors.stock, actors.pure, actors.demand_ema, actors.region
    cap, n_drugs = stock.shape
    consumed = np.zeros((n_regions, n_drugs))
    pure_consumed = np.zeros((n_regions, n_drugs))
    consumed_r = np.zeros(n_regions)
    short = np.zeros(cap, dtype=np.uint8)
    any_short = False
    for s in range(cap):
        tot = 0.0
        for d in range(n_drugs):
            dd = dem[s, d]
            if dd <= 0.0:
                continue
            tot += dd
            have = stock[s, d]
            if have < dd:  # short: everything goes (exactly, so no gram is lost to rounding)
                f, got = have / dd, have
            else:
                f, got = 1.0, dd
            if got > 0.0:
                r = actor_region[s]
                # At most 1: a larger ratio is a rounding residue of pure grams on a nearly
                # empty stock (1e-17 pure on 1e-30 g), not a purity.
                purity = min(pure[s, d] / have, 1.0)
                consumed[r, d] += got
                pure_consumed[r, d] += got * purity
                consumed_r[r] += got
                stock[s, d] = max(have - got, 0.0)
                pure[s, d] = max(pure[s, d] - got * purity, 0.0)
            if f < 0.5:
                short[s] |= np.uint8(1 << d)
                any_short = True
        demand_ema[s] = 0.8 * demand_ema[s] + 0.2 * tot
    return consumed, pure_consumed, consumed_r, short, any_short


@njit(cache=True, nogil=True)
def retail_leave(rows, draw, users, short):
    """Users ``rows = (lo, hi)`` served less than half by their seller (``short``) drop it with
    ``rewire_prob`` (their own counter-based draw, independent of the search draw;
    ``draw = (key, rewire_prob)``)."""
    lo, hi = rows
    key, rewire_prob = draw
    seller, drug, person = users.seller, users.drug, users.person
    for i in range(lo, hi):
        # Without branches: most sellers are short in most weeks (about 70 % in the calibrated
        # scenario at 0.1), so a branch per user mispredicts often; the draw is cheap and pure.
        s = seller[i]
        leave = (s >= 0) & (((short[max(s, 0)] >> drug[i]) & 1) != 0) & (uniform(key, 2 * person[i] + 1) < rewire_prob)
        seller[i] = -1 if leave else s


@njit(cache=True)
def restock(sellers, actors, cover, u, rewire_prob):
    """Wholesalers restock their sellers (`Restock`), in one pass.

    ``sellers`` are the sellers tied to a wholesaler (``supplier``) and ``u`` one uniform draw
    each. A seller wants ``cover x demand_ema`` minus its stock; a wholesaler serves the share
    ``min(1, its stock / its sellers' total want)`` of each want, taking the same share of each
    drug (purity kept); a seller served less than half of a positive want leaves its wholesaler
    with ``rewire_prob`` (``supplier`` set to -1, after the moves).
    Returns (rows of ``sellers`` that received product, their wholesaler, grams per row and drug).
    """
    supplier, demand_ema, stock, pure = actors.supplier, actors.demand_ema, actors.stock, actors.pure
    k, n_drugs = len(sellers), stock.shape[1]
    want = np.zeros(k)
    total_want = np.zeros(stock.shape[0])  # per wholesaler slot: summed want of its sellers
    for j in range(k):
        s = sellers[j]
        held = 0.0
        for d in range(n_drugs):
            held += stock[s, d]
        want[j] = max(0.0, cover * demand_ema[s] - held)
        w = supplier[s]
        total_want[w] += want[j]
    leave = np.zeros(k, dtype=np.bool_)
    rows = np.empty(k, dtype=np.int64)
    src = np.empty(k, dtype=np.int64)
    g = np.empty((k, n_drugs))
    p = np.empty((k, n_drugs))
    n_got = 0
    for j in range(k):  # amounts from the stocks held before any move (moves come after)
        s = sellers[j]
        w = supplier[s]
        tw = total_want[w]
        w_stock = 0.0
        for d in range(n_drugs):
            w_stock += stock[w, d]
        served = min(1.0, w_stock / tw) if tw > 0.0 else 0.0
        give = want[j] * served
        if want[j] > 0.0 and served < 0.5 and u[j] < rewire_prob:
            leave[j] = True
        if give > 0.0:
            share = give / w_stock  # share of the wholesaler's stock going to this seller
            rows[n_got] = j
            src[n_got] = w
            for d in range(n_drugs):
                g[n_got, d] = stock[w, d] * share
                p[n_got, d] = pure[w, d] * share
            n_got += 1
    rows, src, g, p = rows[:n_got], src[:n_got], g[:n_got], p[:n_got]
    for m in range(n_got):
        s = sellers[rows[m]]
        w = supplier[s]
        for d in range(n_drugs):
            stock[w, d] -= g[m, d]
            pure[w, d] -= p[m, d]
            stock[s, d] += g[m, d]
            pure[s, d] += p[m, d]
    for m in range(n_got):
        w = supplier[sellers[rows[m]]]
        for d in range(n_drugs):
            stock[w, d] = max(stock[w, d], 0.0)
            pure[w, d] = max(pure[w, d], 0.0)
    for j in range(k):
        if leave[j]:
            supplier[sellers[j]] = -1
    return rows, src, g
