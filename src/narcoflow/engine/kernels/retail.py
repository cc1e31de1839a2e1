"""The lower chain (processes/retail.py, S11): restocking, and the per-user passes of retail,
chunked and counter-based so they run on several threads with bit-identical results."""

from __future__ import annotations

import numpy as np
from numba import njit

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


@njit(cache=True, nogil=True)
def uniform(key, counter):
    """A uniform draw in [0, 1) from a key and a counter: the SplitMix64 output at position
    ``counter`` of the stream starting at ``key`` (Steele, Lea & Flood 2014). A pure function, so a
    chunked pass draws the same numbers on any number of threads. ``key`` comes from
    `narcoflow.engine.rng.counter_key` (seed, process, step); the counter from the person's id."""
    z = np.uint64(key) + (np.uint64(counter) + np.uint64(1)) * _GOLDEN
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    z = z ^ (z >> np.uint64(31))
    return np.float64(z >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@njit(cache=True, nogil=True)
def retail_demand(lo, hi, key, seller, seller_epoch, region, drug, use_g, person, price_factor,
                  sellers_sorted, starts, counts, rewire_prob, epoch, dem_se, demand_r):
    """Users ``[lo, hi)`` of the retail pass (see processes/retail.py), one chunk.

    Ties to sellers that left are dropped (stale epoch); a user without a seller finds one of its
    region (CSR ``sellers_sorted``/``starts``/``counts``) with ``rewire_prob``, from its own
    counter-based draw; each user's demand is added to its seller's row of ``dem_se`` (per drug;
    the last column holds each slot's ``epoch``, so the check of a tie and the sum read the same
    cache line; the kernel fills the buffer first, on the thread that uses it) and to
    ``demand_r`` per region. Updates ``seller`` and ``seller_epoch`` in place.
    """
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
        dem = use_g[i] * price_factor[r]
        demand_r[r] += dem
        if s >= 0:
            dem_se[s, drug[i]] += dem


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
def retail_serve(dem, stock, pure, demand_ema, actor_region, n_regions):
    """Each seller serves the share ``fill = min(1, stock / demand)`` of each drug's demand (so each
    of its users gets that share of its own demand; a seller's users are of its region), purity
    kept. Updates ``stock``, ``pure`` and ``demand_ema`` in place.
    Returns (consumed[R, D], pure_consumed[R, D], consumed_total[R], short[slot], any short):
    bit ``d`` of ``short`` marks a drug a seller filled less than half of (one byte a slot, so the
    leave pass reads a table that stays in the processor's cache).
    """
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
def retail_leave(lo, hi, key, seller, drug, person, short, rewire_prob):
    """Users ``[lo, hi)`` served less than half by their seller (``short``) drop it with
    ``rewire_prob`` (their own counter-based draw, independent of the search draw)."""
    for i in range(lo, hi):
        s = seller[i]
        if s >= 0 and (short[s] >> drug[i]) & 1 and uniform(key, 2 * person[i] + 1) < rewire_prob:
            seller[i] = -1


@njit(cache=True)
def restock(sellers, supplier, demand_ema, stock, pure, cover, u, rewire_prob):
    """Wholesalers restock their sellers (see processes/retail.py, `Restock`), in one pass.

    ``sellers`` are the sellers tied to a wholesaler (``supplier``) and ``u`` one uniform draw
    each. A seller wants ``cover x demand_ema`` minus its stock; a wholesaler serves the share
    ``min(1, its stock / its sellers' total want)`` of each want, taking the same share of each
    drug (purity kept); a seller served less than half of a positive want leaves its wholesaler
    with ``rewire_prob`` (``supplier`` set to -1, after the moves).
    Returns (rows of ``sellers`` that received product, their wholesaler, grams per row and drug).
    """
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
