"""Numba kernels for the per-user passes, the hot loops at full population (issue: speed).

Each kernel fuses what the vectorised NumPy code did in several passes over the user table into
one or two passes. Random draws inside a kernel come from the calling process's own named stream
(a ``np.random.Generator`` passed in; Numba advances its state exactly as NumPy would), so results
stay bit-identical for a given scenario, seed and version, whatever the executor.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def retail(seller, seller_epoch, region, drug, use_g, n, epoch, sellers_sorted, starts, counts,
           price_factor, stock, pure, demand_ema, actor_region, n_regions, n_drugs, rewire_prob, rng):
    """Sellers serve their users pro rata to stock, per drug (see processes/retail.py).

    Pass 1 over the users: ties to sellers that left are dropped (stale epoch), users without a
    seller find one of their region (CSR ``sellers_sorted``/``starts``/``counts``) with
    ``rewire_prob``, and each seller's demand per drug is summed. Then per seller: it serves the
    share ``fill = min(1, stock / demand)`` of each drug's demand (so each of its users gets that
    share of its own demand; a seller's users are of its region). Pass 2, only if some seller was
    short: its users served less than half drop it with ``rewire_prob``.
    Updates ``stock``, ``pure``, ``demand_ema`` and ``seller`` in place.
    Returns (consumed[R, D], pure_consumed[R, D], demand[R], consumed_total[R]).
    """
    cap = stock.shape[0]
    # One row per actor slot: its demand per drug, then its epoch, so that the check of a user's
    # tie and the sum of its demand read the same cache line (the user table is in no order).
    dem_sd = np.zeros((cap, n_drugs + 1))
    for s in range(cap):
        dem_sd[s, n_drugs] = epoch[s]
    demand_r = np.zeros(n_regions)
    for i in range(n):
        r = region[i]
        s = seller[i]
        if s >= 0 and dem_sd[s, n_drugs] != seller_epoch[i]:
            s = -1
            seller[i] = -1
        if s < 0 and counts[r] > 0 and rng.random() < rewire_prob:
            s = sellers_sorted[starts[r] + rng.integers(0, counts[r])]
            seller[i] = s
            seller_epoch[i] = epoch[s]
        dem = use_g[i] * price_factor[r]
        demand_r[r] += dem
        if s >= 0:
            dem_sd[s, drug[i]] += dem
    consumed = np.zeros((n_regions, n_drugs))
    pure_consumed = np.zeros((n_regions, n_drugs))
    consumed_r = np.zeros(n_regions)
    short = np.zeros((cap, n_drugs), dtype=np.bool_)
    any_short = False
    for s in range(cap):
        tot = 0.0
        for d in range(n_drugs):
            dd = dem_sd[s, d]
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
                purity = pure[s, d] / have
                consumed[r, d] += got
                pure_consumed[r, d] += got * purity
                consumed_r[r] += got
                stock[s, d] = max(have - got, 0.0)
                pure[s, d] = max(pure[s, d] - got * purity, 0.0)
            if f < 0.5:
                short[s, d] = True
                any_short = True
        demand_ema[s] = 0.8 * demand_ema[s] + 0.2 * tot
    if any_short:
        for i in range(n):
            s = seller[i]
            if s >= 0 and short[s, drug[i]] and rng.random() < rewire_prob:
                seller[i] = -1
    return consumed, pure_consumed, demand_r, consumed_r


@njit(cache=True)
def swap_remove(rows_desc, person, region, seller, seller_epoch, use_g, drug, n, row_of_person, region_counts):
    """Remove user rows (sorted descending, distinct) by moving the last row into each hole: O(k).

    Keeps ``row_of_person`` and ``region_counts`` up to date; returns the new row count.
    """
    for i in rows_desc:
        row_of_person[person[i]] = -1
        region_counts[region[i]] -= 1
        last = n - 1
        if i != last:
            person[i] = person[last]
            region[i] = region[last]
            seller[i] = seller[last]
            seller_epoch[i] = seller_epoch[last]
            use_g[i] = use_g[last]
            drug[i] = drug[last]
            row_of_person[person[i]] = i
        n = last
    return n


# ------------------------------------------------------------------ sampling persons

_PICKED = 128  # scratch person flag: set by `take_free`, cleared by `clear_picked`


@njit(cache=True)
def take_free(flags, first, pool, draws, exclude, out, n):
    """Rejection sampling: accept the drawn persons (``pool[draws]``, or ``first + draws`` if
    ``pool`` is empty) with none of the ``exclude`` flags and not yet taken, appending them to
    ``out`` (which holds ``n`` already) until it is full. Taken persons are marked with a
    scratch flag (`clear_picked` removes it). Returns the new count."""
    mask = np.uint8(exclude | _PICKED)
    use_pool = len(pool) > 0
    for j in draws:
        if n == len(out):
            break
        pid = pool[j] if use_pool else first + j
        if flags[pid] & mask == 0:
            flags[pid] |= np.uint8(_PICKED)
            out[n] = pid
            n += 1
    return n


@njit(cache=True)
def clear_picked(flags, persons):
    for pid in persons:
        flags[pid] &= np.uint8(~_PICKED & 0xFF)


# ------------------------------------------------------------------ actors and stocks


@njit(cache=True)
def cut_ties(supplier, export_tie, gone):
    """Cut every actor's ``supplier`` and ``export_tie`` that points to a slot marked ``gone``."""
    for i in range(len(supplier)):
        s = supplier[i]
        if s >= 0 and gone[s]:
            supplier[i] = -1
        e = export_tie[i]
        if e >= 0 and gone[e]:
            export_tie[i] = -1


@njit(cache=True)
def exposed(supplier, export_tie, active, arrested):
    """Active actors tied to any of ``arrested`` (their supplier and smuggler; the actors whose
    supplier or smuggler is arrested), the arrested excluded, in slot order (one pass, S12)."""
    cap = len(supplier)
    gone = np.zeros(cap, dtype=np.bool_)
    hit = np.zeros(cap, dtype=np.bool_)
    for a in arrested:
        gone[a] = True
        if supplier[a] >= 0:
            hit[supplier[a]] = True
        if export_tie[a] >= 0:
            hit[export_tie[a]] = True
    n = 0
    for i in range(cap):
        s, e = supplier[i], export_tie[i]
        if (s >= 0 and gone[s]) or (e >= 0 and gone[e]):
            hit[i] = True
        if hit[i] and active[i] and not gone[i]:
            n += 1
    out = np.empty(n, dtype=np.int64)
    n = 0
    for i in range(cap):
        if hit[i] and active[i] and not gone[i]:
            out[n] = i
            n += 1
    return out


@njit(cache=True)
def add_to_stock(slots, drug, grams, pure_grams, stock, pure):
    """Add lots (``grams``, ``pure_grams`` of ``drug``) to the stocks of actor ``slots``, in order."""
    for j in range(len(slots)):
        stock[slots[j], drug[j]] += grams[j]
        pure[slots[j], drug[j]] += pure_grams[j]


@njit(cache=True)
def move_stock(src, dst, frac, stock, pure):
    """Move the share ``frac[j]`` of actor ``src[j]``'s stock (every drug, grams and pure grams) to
    ``dst[j]``. Shares are of the stock held before the call (a source may repeat); a source's
    stock is clamped at zero afterwards (rounding can leave -1e-17 where a whole stock moved).
    Returns the grams moved per row and drug (for the flow log)."""
    k, n_drugs = len(src), stock.shape[1]
    g = np.empty((k, n_drugs))
    p = np.empty((k, n_drugs))
    for j in range(k):
        for d in range(n_drugs):
            g[j, d] = stock[src[j], d] * frac[j]
            p[j, d] = pure[src[j], d] * frac[j]
    for j in range(k):
        for d in range(n_drugs):
            stock[src[j], d] -= g[j, d]
            pure[src[j], d] -= p[j, d]
    for j in range(k):
        for d in range(n_drugs):
            stock[dst[j], d] += g[j, d]
            pure[dst[j], d] += p[j, d]
    for j in range(k):
        for d in range(n_drugs):
            stock[src[j], d] = max(stock[src[j], d], 0.0)
            pure[src[j], d] = max(pure[src[j], d], 0.0)
    return g


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
    share = np.zeros(k)
    leave = np.zeros(k, dtype=np.bool_)
    n_got = 0
    for j in range(k):
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
            share[j] = give / w_stock  # share of the wholesaler's stock going to this seller
            n_got += 1
    rows = np.empty(n_got, dtype=np.int64)
    src = np.empty(n_got, dtype=np.int64)
    g = np.empty((n_got, n_drugs))
    p = np.empty((n_got, n_drugs))
    m = 0
    for j in range(k):  # amounts from the stocks held before any move
        if share[j] > 0.0:
            w = supplier[sellers[j]]
            rows[m] = j
            src[m] = w
            for d in range(n_drugs):
                g[m, d] = stock[w, d] * share[j]
                p[m, d] = pure[w, d] * share[j]
            m += 1
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
