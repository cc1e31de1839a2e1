"""Numba kernels for the per-user passes, the hot loops at full population (issue: speed).

Each kernel fuses what the vectorised NumPy code did in several passes over the user table into
one or two passes. Random draws inside a kernel come either from the calling process's own named
stream (a ``np.random.Generator`` passed in; Numba advances its state exactly as NumPy would) or,
in the chunked passes over the users that may run on several threads (`narcoflow.engine.parallel`),
from `uniform`, a pure function of a per-step key and the person. Either way results stay
bit-identical for a given scenario, seed and version, whatever the executor or thread count.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from narcoflow.engine.draws import binomial, integer, next_double, normal

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
def locality_order(region, seller, n, seller_rank, region_base):
    """A stable order of the first ``n`` user rows by region, then by seller (counting sort).

    ``seller_rank[slot]`` is a seller's position among its region's sellers (-1 for any other
    slot) and ``region_base[r]`` the first key of region ``r`` (``r``'s users without a seller
    take that key, its sellers' users the next ones). Rows in this order make the retail pass
    read the sellers' rows nearly in sequence, a region at a time.
    """
    n_keys = region_base[-1]
    key = np.empty(n, dtype=np.int64)
    count = np.zeros(n_keys + 1, dtype=np.int64)
    for i in range(n):
        r = region[i]
        s = seller[i]
        k = region_base[r]
        if s >= 0 and seller_rank[s] >= 0 and seller_rank[s] < region_base[r + 1] - k - 1:
            k += 1 + seller_rank[s]
        key[i] = k
        count[k + 1] += 1
    for k in range(n_keys):
        count[k + 1] += count[k]
    order = np.empty(n, dtype=np.int64)
    for i in range(n):
        k = key[i]
        order[count[k]] = i
        count[k] += 1
    return order


@njit(cache=True, nogil=True, inline="always")
def _copy_user(src, dst, person, region, seller, seller_epoch, use_g, drug,
               person2, region2, seller2, seller_epoch2, use_g2, drug2):
    """Copy user row ``src`` of the first arrays to row ``dst`` of the second (they may be the same)."""
    person2[dst] = person[src]
    region2[dst] = region[src]
    seller2[dst] = seller[src]
    seller_epoch2[dst] = seller_epoch[src]
    use_g2[dst] = use_g[src]
    drug2[dst] = drug[src]


@njit(cache=True, nogil=True)
def gather_users(order, lo, hi, person, region, seller, seller_epoch, use_g, drug,
                 person2, region2, seller2, seller_epoch2, use_g2, drug2):
    """Rows ``[lo, hi)`` of the reordered user table (row ``j`` = old row ``order[j]``), written to
    the second set of arrays. One range per thread (`Users.reorder`)."""
    for j in range(lo, hi):
        _copy_user(order[j], j, person, region, seller, seller_epoch, use_g, drug,
                   person2, region2, seller2, seller_epoch2, use_g2, drug2)


@njit(cache=True, nogil=True)
def index_rows(person, lo, hi, row_of_person):
    """``row_of_person[person[j]] = j`` for rows ``[lo, hi)`` (persons are distinct)."""
    for j in range(lo, hi):
        row_of_person[person[j]] = j


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
            _copy_user(last, i, person, region, seller, seller_epoch, use_g, drug,
                       person, region, seller, seller_epoch, use_g, drug)
            row_of_person[person[i]] = i
        n = last
    return n


# ------------------------------------------------------------------ sampling persons

_PICKED = 128  # scratch person flag, set and cleared by `sample_free`


@njit(cache=True)
def sample_free(state, flags, first, pool, size, k, exclude):
    """Up to ``k`` distinct persons with none of the ``exclude`` flags, by rejection sampling:
    uniform draws among ``pool`` (or the ids ``first + [0, size)`` if ``pool`` is empty), in rounds
    of 2 x (still needed) + 4 draws, giving up after 8 rounds (a nearly exhausted pool). Taken
    persons are marked with a scratch flag while sampling, so none is taken twice."""
    out = np.empty(k, dtype=np.int64)
    mask = np.uint8(exclude | _PICKED)
    use_pool = len(pool) > 0
    n = 0
    for _ in range(8):
        for _ in range(2 * (k - n) + 4):
            j = integer(state, size)
            pid = pool[j] if use_pool else first + j
            if flags[pid] & mask == 0:
                flags[pid] |= np.uint8(_PICKED)
                out[n] = pid
                n += 1
                if n == k:
                    break
        if n == k:
            break
    for i in range(n):
        flags[out[i]] &= np.uint8(~_PICKED & 0xFF)
    return out[:n]


@njit(cache=True)
def pick_in_region(state, regions, sorted_slots, starts, counts):
    """For each entry of ``regions``, a random actor of that region (CSR ``sorted_slots``/
    ``starts``/``counts``), or -1 if it has none."""
    out = np.full(len(regions), -1, dtype=np.int64)
    for i in range(len(regions)):
        r = regions[i]
        c = counts[r]
        if c > 0:
            out[i] = sorted_slots[starts[r] + integer(state, c)]
    return out


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
def row_totals_of(stock, slots):
    """``stock[slots].sum(axis=1)`` without the copy."""
    out = np.empty(len(slots))
    for j in range(len(slots)):
        s = slots[j]
        acc = stock[s, 0]
        for d in range(1, stock.shape[1]):
            acc += stock[s, d]
        out[j] = acc
    return out


@njit(cache=True)
def row_totals(stock):
    """Grams held per slot, all drugs (``stock.sum(axis=1)`` without NumPy's per-row overhead,
    same additions in the same order)."""
    return row_totals_of(stock, np.arange(stock.shape[0]))


@njit(cache=True)
def totals_over(stock, slots):
    """Grams per drug held by ``slots`` (``stock[slots].sum(axis=0)`` without the copy)."""
    out = np.zeros(stock.shape[1])
    for j in range(len(slots)):
        for d in range(stock.shape[1]):
            out[d] += stock[slots[j], d]
    return out


@njit(cache=True)
def supplier_totals(slots, supplier, value, cap):
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
def active_stock(stock, active):
    """Grams held per drug by the active actors (the ledger's check after every step)."""
    out = np.zeros(stock.shape[1])
    for s in range(len(active)):
        if active[s]:
            for d in range(stock.shape[1]):
                out[d] += stock[s, d]
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


@njit(cache=True)
def transit(state, t, n, drug, grams, pure, arrive, foreign, dest, dest_region, channel, forced,
            interdiction, price_factor, active, role, wholesaler, wh_sorted, wh_starts, wh_counts, stock,
            a_pure, foreign_mult, price, private_channel, leg_first, leg_dest, leg_share, leg_weeks,
            leg_interdiction, seized, revenue, delivered, ledger_seized, ledger_delivered):
    """The lots in transit that are due arrive, in lot order (see processes/transit.py).

    A domestic lot joins its wholesaler's stock, or another wholesaler's of its region if its own
    is gone, or waits a week. A foreign lot is interdicted with its probability, or delivered, a
    share of it going on along the onward legs of its destination (``leg_first[dest]:
    leg_first[dest + 1]``). Sums per key go to ``seized[drug, dest]``, ``revenue[dest, channel]``
    and ``delivered[drug, dest, channel]``, and to the ledger. Returns the mask of the lots still
    in transit, the domestic deliveries (lot, wholesaler) and the foreign arrivals' onward legs
    (lot, leg) and interdicted lots, in lot order."""
    keep = np.ones(n, dtype=np.bool_)
    dom_lot = np.empty(n, dtype=np.int64)
    dom_dest = np.empty(n, dtype=np.int64)
    max_legs = max(1, np.max(leg_first[1:] - leg_first[:-1])) if len(leg_first) > 1 else 1
    leg_lot = np.empty(n * max_legs, dtype=np.int64)
    leg_of = np.empty(n * max_legs, dtype=np.int64)
    leg_g = np.empty(n * max_legs)
    lost_lot = np.empty(n, dtype=np.int64)
    n_dom = 0
    n_leg = 0
    n_lost = 0
    for i in range(n):
        if arrive[i] > t:
            continue
        d, g = drug[i], grams[i]
        if not foreign[i]:
            w = dest[i]
            if not (w >= 0 and active[w] and role[w] == wholesaler):
                r = dest_region[i]
                c = wh_counts[r]
                w = wh_sorted[wh_starts[r] + integer(state, c)] if c > 0 else -1
            if w < 0:
                arrive[i] += 1  # no wholesaler in the region: the lot waits a week
                continue
            stock[w, d] += g
            a_pure[w, d] += pure[i]
            dom_lot[n_dom], dom_dest[n_dom] = i, w
            n_dom += 1
            keep[i] = False
            continue
        keep[i] = False
        de, ch = dest[i], channel[i]
        p = 1.0 if forced[i] else min(1.0, interdiction[i] * foreign_mult[de])
        if next_double(state) < p:
            seized[d, de] += g
            ledger_seized[d] += g
            lost_lot[n_lost] = i
            n_lost += 1
            continue
        if ch != private_channel and price_factor[i] > 0:  # the state earns the lot's value (S8)
            revenue[de, ch] += g * price[de] * price_factor[i]
        rest = g
        for j in range(leg_first[de], leg_first[de + 1]):  # S14: a share goes on to markets via de
            og = g * leg_share[j]
            rest -= og
            leg_lot[n_leg], leg_of[n_leg], leg_g[n_leg] = i, j, og
            n_leg += 1
        delivered[d, de, ch] += rest
        ledger_delivered[d] += rest
    return keep, dom_lot[:n_dom], dom_dest[:n_dom], leg_lot[:n_leg], leg_of[:n_leg], leg_g[:n_leg], lost_lot[:n_lost]


@njit(cache=True)
def compact_lots(keep, drug, grams, pure, arrive, foreign, dest, dest_region, channel, carrier, forced,
                 price_factor, interdiction):
    """Keep the lots marked in ``keep`` (order kept), in place; returns how many."""
    m = 0
    for i in range(len(keep)):
        if keep[i]:
            if m != i:
                drug[m], grams[m], pure[m], arrive[m] = drug[i], grams[i], pure[i], arrive[i]
                foreign[m], dest[m], dest_region[m], channel[m] = foreign[i], dest[i], dest_region[i], channel[i]
                carrier[m], forced[m], price_factor[m], interdiction[m] = (carrier[i], forced[i], price_factor[i],
                                                                           interdiction[i])
            m += 1
    return m


@njit(cache=True)
def record_block(row, cols, values, level, skip_zero):
    """One `Recorder.add_by` update: ``row[cols[i]]`` += (or = for a level) ``values[i]`` where
    label i has a column. Returns how many labels still need one (a non-zero flow, or any level)."""
    need = 0
    for i in range(len(cols)):
        c = cols[i]
        if c >= 0:
            if level:
                row[c] = values[i]
            else:
                row[c] += values[i]
        elif level or not skip_zero or values[i] != 0:
            need += 1
    return need


@njit(cache=True)
def stock_by_role(stock, active, role, n_roles):
    """Grams per role and drug held by the active actors, each role's sum in slot order (as
    `totals_over` of that role's slots)."""
    out = np.zeros((n_roles, stock.shape[1]))
    for s in range(len(active)):
        if active[s]:
            for d in range(stock.shape[1]):
                out[role[s], d] += stock[s, d]
    return out


# ------------------------------------------------------------------ recruitment (S11-S13)


@njit(cache=True)
def recruit_counts(state, base, per, have, rate):
    """Recruits per region (or crossing) this week: the missing positions
    ``max(base / per, 1) - have`` (none where ``base`` is 0), stochastically rounded (0.3 -> 1 with
    probability 0.3), each filled with probability ``rate`` (a binomial count)."""
    k = np.zeros(len(base), dtype=np.int64)
    for r in range(len(base)):
        if base[r] <= 0:
            continue
        missing = max(base[r] / per, 1.0) - have[r]
        if missing <= 0:
            continue
        whole = np.floor(missing)
        n = int(whole) + (1 if next_double(state) < missing - whole else 0)
        k[r] = binomial(state, n, rate)
    return k


@njit(cache=True)
def rewire_in_region(state, slots, tie, region, sorted_slots, starts, counts, prob):
    """Each of ``slots`` without a tie (``tie < 0``) looks with probability ``prob`` and ties to
    a random actor of its region (CSR ``sorted_slots``/``starts``/``counts``), if there is one."""
    for s in slots:
        if tie[s] < 0 and next_double(state) < prob:
            r = region[s]
            c = counts[r]
            if c > 0:
                tie[s] = sorted_slots[starts[r] + integer(state, c)]


@njit(cache=True)
def orphans(state, slots, tie, prob):
    """The entries of ``slots`` without a tie that look for one this week (probability ``prob``)."""
    out = np.empty(len(slots), dtype=np.int64)
    n = 0
    for s in slots:
        if tie[s] < 0 and next_double(state) < prob:
            out[n] = s
            n += 1
    return out[:n]


@njit(cache=True)
def tie_smugglers(state, wholesalers, export_tie, region, p_region, sm_sorted, starts, counts, smugglers):
    """Wholesalers without a smuggler tie to one with their region's probability: of their own
    region if it has any (S13: own-region crossings first), else any smuggler."""
    for w in wholesalers:
        if export_tie[w] >= 0:
            continue
        r = region[w]
        if next_double(state) < p_region[r]:
            c = counts[r]
            if c > 0:
                export_tie[w] = sm_sorted[starts[r] + integer(state, c)]
            else:
                export_tie[w] = smugglers[integer(state, len(smugglers))]


# ------------------------------------------------------------------ demand (S11)


@njit(cache=True)
def initiation_counts(state, sizes, users_r, jailed_r, consumed_r, demand_r, price_r, base, peer,
                      reference_price, elasticity):
    """New users per region this week (see processes/demand.py): a binomial count of the free
    non-users at the weekly hazard
    ``(base + peer x prevalence x availability) x (reference price / price) ^ elasticity``."""
    k = np.zeros(len(sizes), dtype=np.int64)
    for r in range(len(sizes)):
        prevalence = users_r[r] / sizes[r]
        availability = consumed_r[r] / demand_r[r] if demand_r[r] > 0 else 0.0
        hazard = (base + peer * prevalence * availability) * (reference_price / price_r[r]) ** elasticity
        non_users = max(sizes[r] - users_r[r] - jailed_r[r], 0)
        k[r] = binomial(state, non_users, min(max(hazard, 0.0), 1.0))
    return k


# ------------------------------------------------------------------ border smuggling (S10, S13)


@njit(cache=True)
def export_allocation(wholesalers, export_tie, crossing, crossing_open, region, wholesale_r, net_export,
                      max_share, sensitivity, stock, pure, export_ema):
    """Wholesalers tied to a smuggler at an open crossing hand it the export share of their stock,
    ``max_share x logistic(sensitivity x (net export price / wholesale price - 1))`` (S10);
    every wholesaler's weekly export memory decays by 0.8 and gains 0.2 x what it sent. Returns the
    exporting wholesalers, their smugglers and the grams moved per drug (for the flow log)."""
    src = np.empty(len(wholesalers), dtype=np.int64)
    dst = np.empty(len(wholesalers), dtype=np.int64)
    share = np.empty(len(wholesalers))
    n = 0
    for w in wholesalers:
        export_ema[w] *= 0.8
        sm = export_tie[w]
        if sm >= 0 and crossing_open[crossing[sm]]:
            ratio = net_export / wholesale_r[region[w]]
            src[n], dst[n] = w, sm
            share[n] = max_share / (1 + np.exp(-sensitivity * (ratio - 1)))
            n += 1
    for j in range(n):
        held = 0.0
        for d in range(stock.shape[1]):
            held += stock[src[j], d]
        export_ema[src[j]] += 0.2 * (held * share[j])
    return src[:n], dst[:n], move_stock(src[:n], dst[:n], share[:n], stock, pure)


@njit(cache=True)
def border_crossing(state, smugglers, stock, pure, crossing, crossing_open, crossing_region, guard_first,
                    guards, guard_corrupt, bribe_share, china_price, detection_if_bribed, detection_prob,
                    enforcement_mult, bribes_r):
    """Each smuggler with stock at an open crossing crosses with one lot (S13): a guard is drawn;
    a corrupt one takes the bribe share of the lot's value (added to ``bribes_r``) and detects
    with ``detection_if_bribed``, an honest one with ``detection_prob`` x the region's
    enforcement multiplier. Returns the detected smugglers (their stock untouched, to be seized)
    and the lots that passed, drug by drug (smuggler, drug, grams, pure grams), whose stock is
    zeroed here."""
    n_drugs = stock.shape[1]
    caught = np.empty(len(smugglers), dtype=np.int64)
    passed = np.empty(len(smugglers), dtype=np.int64)
    n_caught = 0
    n_passed = 0
    for s in smugglers:
        c = crossing[s]
        grams = 0.0
        for d in range(n_drugs):
            grams += stock[s, d]
        if not (grams > 0 and crossing_open[c]):
            continue
        corrupt = guard_corrupt[guard_first[c] + integer(state, guards[c])]
        r = crossing_region[c]
        if corrupt:
            bribes_r[r] += bribe_share * grams * china_price
            p_detect = detection_if_bribed
        else:
            p_detect = min(1.0, detection_prob * enforcement_mult[r])
        if next_double(state) < p_detect:
            caught[n_caught] = s
            n_caught += 1
        else:
            passed[n_passed] = s
            n_passed += 1
    lot_src = np.empty(n_passed * n_drugs, dtype=np.int64)
    lot_drug = np.empty(n_passed * n_drugs, dtype=np.int64)
    lot_g = np.empty(n_passed * n_drugs)
    lot_p = np.empty(n_passed * n_drugs)
    k = 0
    for d in range(n_drugs):
        for j in range(n_passed):
            s = passed[j]
            if stock[s, d] > 0:
                lot_src[k], lot_drug[k], lot_g[k], lot_p[k] = s, d, stock[s, d], pure[s, d]
                stock[s, d] = 0.0
                pure[s, d] = 0.0
                k += 1
    return caught[:n_caught], lot_src[:k], lot_drug[:k], lot_g[:k], lot_p[:k]


# ------------------------------------------------------------------ delivery (S11)


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
def delivery(state, sellers, wholesalers, producers, supplier, demand_ema, export_ema, sell_ema, stock, pure,
             on_the_way, cover, rewire_prob):
    """The upper chain's week (see processes/delivery.py): wholesalers' needs, deliverers' buying
    from their producers, then lots from deliverers to wholesalers pro rata to need; a wholesaler
    served less than half its need leaves its deliverer with ``rewire_prob``.
    ``on_the_way[slot]``: grams in transit to each wholesaler. Returns the producers' moves
    (producer, deliverer, grams per drug: the flow log's) and the lots (deliverer, wholesaler,
    drug, grams, pure grams), whose product has left the deliverers' stocks."""
    cap, n_drugs = stock.shape
    # Wholesalers' needs: target cover x (their sellers' demand + their exports) - held - on the way.
    demand = supplier_totals(sellers, supplier, demand_ema, cap)
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


# ------------------------------------------------------------------ enforcement (S12)


@njit(cache=True)
def actor_arrests(state, slots, role, region, role_prob, region_mult, pending, active, supplier, export_tie,
                  exposure_prob):
    """This week's actor arrests, sorted: each of ``slots`` with ``role_prob[role] x
    region_mult[region]``, plus the still active ``pending`` ones (caught at the border), plus each
    actor tied to one of them (`exposed`) with ``exposure_prob`` (S12, one link deep)."""
    out = np.empty(len(slots) + len(pending), dtype=np.int64)
    n = 0
    for s in slots:
        if next_double(state) < role_prob[role[s]] * region_mult[region[s]]:
            out[n] = s
            n += 1
    for s in pending:
        if active[s]:
            out[n] = s
            n += 1
    if n == 0:
        return out[:0]
    arrested = np.unique(out[:n])
    ties = exposed(supplier, export_tie, active, arrested)
    keep = np.empty(len(ties), dtype=np.bool_)
    for j in range(len(ties)):
        keep[j] = next_double(state) < exposure_prob
    return np.unique(np.concatenate((arrested, ties[keep])))


@njit(cache=True)
def user_arrests(state, n_users, user_region, p_region):
    """Rows of the users arrested this week, each with its region's probability: a binomial
    count of distinct rows at the highest probability (O(arrests), not O(users)), thinned by
    ``p_region / max``."""
    p_max = 0.0
    for p in p_region:
        p_max = max(p_max, p)
    k = binomial(state, n_users, p_max)
    if k == 0:
        return np.empty(0, dtype=np.int64)
    rows = distinct_rows(state, n_users, k)
    out = np.empty(k, dtype=np.int64)
    n = 0
    for r in rows:
        if next_double(state) < p_region[user_region[r]] / p_max:
            out[n] = r
            n += 1
    return out[:n]


@njit(cache=True)
def sample_rows(state, n, p):
    """Each of the rows [0, n) with probability ``p``: a binomial count of distinct rows
    (O(rows drawn), not O(n)), in draw order."""
    return distinct_rows(state, n, binomial(state, n, p))


@njit(cache=True)
def distinct_rows(state, n, k):
    """``k`` distinct integers of [0, n), uniformly, in draw order. Few of many (``k`` below
    n / 1024): Floyd's algorithm with a hash set (k draws); more (quitters among 13 million
    users): rejection against a bitmap of n bits (about k (1 + k / n) draws)."""
    out = np.empty(k, dtype=np.int64)
    if k * 1024 < n:
        chosen = set()
        for i, j in enumerate(range(n - k, n)):
            t = integer(state, j + 1)
            x = j if t in chosen else t
            chosen.add(x)
            out[i] = x
        return out
    bits = np.zeros((n + 63) // 64, dtype=np.uint64)
    i = 0
    while i < k:
        x = integer(state, n)
        word, bit = x >> 6, np.uint64(1) << np.uint64(x & 63)
        if bits[word] & bit == 0:
            bits[word] |= bit
            out[i] = x
            i += 1
    return out



@njit(cache=True)
def seize(slots, stock, pure, region, seized, ledger_seized, n_lots, carrier, foreign, drug, grams):
    """Seize the stock of ``slots`` and the domestic lots they carry: grams per drug and region
    (of the holder) are added to ``seized`` and the ledger, the stocks zeroed. Returns the mask
    of the lots not seized."""
    marked = set()
    for s in slots:
        marked.add(s)
        for d in range(stock.shape[1]):
            g = stock[s, d]
            if g > 0:
                seized[d, region[s]] += g
                ledger_seized[d] += g
            stock[s, d] = 0.0
            pure[s, d] = 0.0
    keep = np.ones(n_lots, dtype=np.bool_)
    for i in range(n_lots):
        c = carrier[i]
        if c >= 0 and not foreign[i] and c in marked:
            keep[i] = False
            seized[drug[i], region[c]] += grams[i]
            ledger_seized[drug[i]] += grams[i]
    return keep


# ------------------------------------------------------------------ the state's product (S5, S8)


@njit(cache=True)
def state_exports(state, stock, pure, lot, share, dest_cum, interdiction):
    """The channels' lots of the week (see processes/state_exports.py): channel c sends, of each
    drug in the state's stock, ``share[c]`` of the stock in lots of ``lot[c]`` grams (the count
    stochastically rounded, at most the whole lots held), each to a destination drawn by the
    channel's cumulative weights ``dest_cum[c]``. Takes the lots out of the state's stock.
    Returns per lot (channel, drug, destination, pure grams, interdiction probability) and the
    grams per channel, drug and destination."""
    n_ch, n_dest = dest_cum.shape
    n_drugs = len(stock)
    exported = np.zeros((n_ch, n_drugs, n_dest))
    cap = 16
    l_ch = np.empty(cap, dtype=np.int64)
    l_drug = np.empty(cap, dtype=np.int64)
    l_dest = np.empty(cap, dtype=np.int64)
    l_pure = np.empty(cap)
    l_inter = np.empty(cap)
    k = 0
    for c in range(n_ch):
        if dest_cum[c, n_dest - 1] <= 0:
            continue
        for d in range(n_drugs):
            if stock[d] <= 0:
                continue
            expected = stock[d] * share[c] / lot[c]
            n = int(expected) + (1 if next_double(state) < expected - int(expected) else 0)
            n = min(n, int(stock[d] // lot[c]))
            if n == 0:
                continue
            purity = pure[d] / stock[d]
            stock[d] -= n * lot[c]
            pure[d] -= n * lot[c] * purity
            if k + n > cap:
                cap = 2 * (k + n)
                l_ch, l_drug, l_dest = _grow_int(l_ch, cap), _grow_int(l_drug, cap), _grow_int(l_dest, cap)
                l_pure, l_inter = _grow_float(l_pure, cap), _grow_float(l_inter, cap)
            for _ in range(n):
                x = next_double(state) * dest_cum[c, n_dest - 1]
                de = 0
                while de < n_dest - 1 and dest_cum[c, de] <= x:  # inverse CDF
                    de += 1
                l_ch[k], l_drug[k], l_dest[k] = c, d, de
                l_pure[k], l_inter[k] = lot[c] * purity, interdiction[c, de]
                exported[c, d, de] += lot[c]
                k += 1
    return l_ch[:k], l_drug[:k], l_dest[:k], l_pure[:k], l_inter[:k], exported


@njit(cache=True)
def _grow_int(a, cap):
    out = np.empty(cap, dtype=np.int64)
    out[: len(a)] = a
    return out


@njit(cache=True)
def _grow_float(a, cap):
    out = np.empty(cap)
    out[: len(a)] = a
    return out


@njit(cache=True)
def siphon(state, output, output_region, rate, state_stock, state_pure, wh_sorted, starts, counts,
           stock, pure, siphoned):
    """NSA officials leak ``rate`` of each facility's output to a random wholesaler of the
    facility's region, or of any region if it has none (S5); grams per drug and region go to
    ``siphoned``. Returns (wholesaler, drug, grams) per leak, for the flow log."""
    n_fac, n_drugs = output.shape
    who = np.empty(n_fac * n_drugs, dtype=np.int64)
    what = np.empty(n_fac * n_drugs, dtype=np.int64)
    grams = np.empty(n_fac * n_drugs)
    k = 0
    total = len(wh_sorted)
    if total == 0:
        return who[:0], what[:0], grams[:0]
    for i in range(n_fac):
        r = output_region[i]
        if counts[r] > 0:
            w = wh_sorted[starts[r] + integer(state, counts[r])]
        else:
            w = wh_sorted[integer(state, total)]
        for d in range(n_drugs):
            g = min(output[i, d] * rate, state_stock[d])
            if g <= 0:
                continue
            purity = state_pure[d] / state_stock[d]
            state_stock[d] -= g
            state_pure[d] -= g * purity
            stock[w, d] += g
            pure[w, d] += g * purity
            siphoned[d, r] += g
            who[k], what[k], grams[k] = w, d, g
            k += 1
    return who[:k], what[:k], grams[:k]


# ------------------------------------------------------------------ private producers (S6, S7)


@njit(cache=True, inline="always")
def _logistic(x):
    return 1.0 / (1.0 + np.exp(-min(max(x, -50.0), 50.0)))


@njit(cache=True, inline="always")
def _net_gain(output, price, precursor_cost, legal_income, risk):
    """Expected weekly gain of producing over legal work, net of risk (USD), see producers.py."""
    return output * (price - precursor_cost) - legal_income - risk


@njit(cache=True)
def producer_exits(state, producers, output, sell_ema, region, supplier, price_r, enforcement_mult,
                   availability, precursor_cost, legal_income, risk_per_mult, base_exit, max_exit):
    """Producers leaving this week: each with ``base_exit + max_exit x logistic(-net / legal
    income)``, its net gain counting only what it sells; only those with a buyer (a leaver hands
    its stock to its deliverer; without one it stays on a week)."""
    out = np.empty(len(producers), dtype=np.int64)
    n = 0
    for s in producers:
        r = region[s]
        net = _net_gain(output[s] * availability * sell_ema[s], price_r[r], precursor_cost, legal_income,
                        risk_per_mult * enforcement_mult[r])
        p_exit = min(base_exit + max_exit * _logistic(-net / legal_income), 1.0)
        if next_double(state) < p_exit and supplier[s] >= 0:
            out[n] = s
            n += 1
    return out[:n]


@njit(cache=True)
def producer_entries(state, producers, city, sell_ema, city_region, pool_sizes, price_r, enforcement_mult,
                     availability, output_per_week, precursor_cost, legal_income, risk_per_mult, horizon,
                     setup_cost, max_entry):
    """Entrants per chemical city this week: a binomial count of its skilled pool at
    ``max_entry x availability x logistic(value / set-up cost)``, value = horizon x net gain -
    set-up cost, entrants expecting their city's mean sell-through (1 if it has no producer)."""
    n_cities = len(city_region)
    n_local = np.zeros(n_cities)
    sold = np.zeros(n_cities)
    for s in producers:
        n_local[city[s]] += 1
        sold[city[s]] += sell_ema[s]
    k = np.zeros(n_cities, dtype=np.int64)
    for c in range(n_cities):
        r = city_region[c]
        sell = sold[c] / n_local[c] if n_local[c] > 0 else 1.0
        net = _net_gain(output_per_week * availability * sell, price_r[r], precursor_cost, legal_income,
                        risk_per_mult * enforcement_mult[r])
        value = horizon * net - setup_cost
        p_entry = max_entry * availability * _logistic(value / setup_cost)
        k[c] = binomial(state, pool_sizes[c], min(1.0, p_entry))
    return k



@njit(cache=True)
def pick_deliverers(state, wholesalers, region, dl_sorted, starts, counts, producers, supplier, stock,
                    same_region_prob):
    """A deliverer for each of ``wholesalers``, weighted by the product available behind it (its
    stock and its tied producers'): of the wholesaler's region with ``same_region_prob`` (if the
    region has one), else of any region (S11: product flows from where it is abundant)."""
    supply = row_totals(stock)
    for p in producers:
        if supplier[p] >= 0:
            for d in range(stock.shape[1]):
                supply[supplier[p]] += stock[p, d]
    n_dl = len(dl_sorted)
    cum = np.empty(n_dl)  # deliverers sorted by region: each region is a segment
    acc = 0.0
    for j in range(n_dl):
        acc += supply[dl_sorted[j]] + 1e-9
        cum[j] = acc
    out = np.empty(len(wholesalers), dtype=np.int64)
    for i in range(len(wholesalers)):
        r = region[wholesalers[i]]
        lo, hi = 0, n_dl
        if next_double(state) < same_region_prob and counts[r] > 0:
            lo, hi = starts[r], starts[r] + counts[r]
        base = cum[lo - 1] if lo > 0 else 0.0
        x = base + next_double(state) * (cum[hi - 1] - base)
        j = np.searchsorted(cum[lo:hi], x) + lo
        out[i] = dl_sorted[min(max(j, lo), hi - 1)]
    return out


@njit(cache=True)
def role_slots(active, role, r):
    """Slots of the active actors of role ``r``, ascending."""
    n = 0
    for s in range(len(active)):
        if active[s] and role[s] == r:
            n += 1
    out = np.empty(n, dtype=np.int64)
    n = 0
    for s in range(len(active)):
        if active[s] and role[s] == r:
            out[n] = s
            n += 1
    return out


@njit(cache=True)
def role_by_region(slots, region, n_regions):
    """``slots`` grouped by region (a counting sort, slot order kept within a region): (sorted
    slots, starts, counts)."""
    counts = np.zeros(n_regions, dtype=np.int64)
    for s in slots:
        counts[region[s]] += 1
    starts = np.zeros(n_regions, dtype=np.int64)
    for r in range(1, n_regions):
        starts[r] = starts[r - 1] + counts[r - 1]
    fill = starts.copy()
    out = np.empty(len(slots), dtype=np.int32)
    for s in slots:
        r = region[s]
        out[fill[r]] = s
        fill[r] += 1
    return out, starts, counts



@njit(cache=True)
def sample_free_regions(state, flags, person_start, sizes, k_by_region, exclude, flag):
    """Up to ``k_by_region[r]`` free persons of each region r (`sample_free`), flagged with
    ``flag``. Returns (person, region)."""
    total = 0
    for k in k_by_region:
        total += k
    person = np.empty(total, dtype=np.int64)
    region = np.empty(total, dtype=np.int64)
    n = 0
    empty = np.empty(0, dtype=np.int64)
    for r in range(len(k_by_region)):
        if k_by_region[r] > 0 and sizes[r] > 0:
            got = sample_free(state, flags, person_start[r], empty, sizes[r], k_by_region[r], exclude)
            for pid in got:
                flags[pid] |= np.uint8(flag)
                person[n] = pid
                region[n] = r
                n += 1
    return person[:n], region[:n]


@njit(cache=True)
def new_users(state, k_by_region, flags, person_start, sizes, exclude, user_flag, sellers_sorted, starts, counts,
              epoch, use_g, sigma, heroin_share):
    """Draw ``k_by_region[r]`` new users among the free non-users of each region r (`sample_free`;
    fewer in a nearly exhausted region), flag them, and give each a random seller of its region
    (-1 if none) with that seller's epoch, a base weekly use ``use_g x lognormal(-sigma^2 / 2,
    sigma)`` (mean ``use_g``) and a drug (heroin = 1 with ``heroin_share``, else meth = 0).
    Returns (person, region, seller, seller epoch, use, drug)."""
    person, region = sample_free_regions(state, flags, person_start, sizes, k_by_region, exclude, user_flag)
    n = len(person)
    seller = np.full(n, -1, dtype=np.int64)
    seller_epoch = np.zeros(n, dtype=np.int32)
    use = np.empty(n)
    drug = np.zeros(n, dtype=np.int8)
    for i in range(n):
        c = counts[region[i]]
        if c > 0:
            s = sellers_sorted[starts[region[i]] + integer(state, c)]
            seller[i] = s
            seller_epoch[i] = epoch[s]
        use[i] = use_g * np.exp(-0.5 * sigma * sigma + sigma * normal(state))
        if next_double(state) < heroin_share:
            drug[i] = 1
    return person[:n], region[:n], seller, seller_epoch, use, drug


# ------------------------------------------------------------------ prices (S11)


@njit(cache=True)
def prices(wholesale, demand_r, consumed_r, stock, active, n_lots, lot_grams, lot_foreign, normal, markup,
           wholesale_markup, speed, glut_weight, target_cover, min_retail, max_retail, retail_r, levels):
    """One week of price adjustment (see processes/prices.py): the national wholesale price moves
    with national shortage and glut, each region's retail price adds its shortage premium (in
    place in ``retail_r``). Writes the retail, wholesale and producer prices by region to the
    start of ``levels``; returns the new national wholesale price."""
    n_r = len(demand_r)
    total_demand = 0.0
    total_consumed = 0.0
    for r in range(n_r):
        total_demand += demand_r[r]
        total_consumed += consumed_r[r]
    if total_demand > 0:
        shortage = (normal - total_consumed / total_demand) / normal
        held = 0.0
        for d in range(stock.shape[1]):  # the whole private chain's stock (as the ledger's sum)
            for s in range(len(active)):
                if active[s]:
                    held += stock[s, d]
        for i in range(n_lots):
            if not lot_foreign[i]:
                held += lot_grams[i]
        glut = min(5.0, held / total_demand / target_cover - 1.0)
        wholesale *= np.exp(speed * (shortage - glut_weight * glut))
        wholesale = min(max(wholesale, min_retail / markup), max_retail / markup)
    for r in range(n_r):
        served = consumed_r[r] / demand_r[r] if demand_r[r] > 0 else 1.0
        premium = max(0.0, normal - served) / normal
        retail_r[r] = min(max(wholesale * markup * (1.0 + premium), min_retail), max_retail)
        levels[r] = retail_r[r]
        levels[n_r + r] = retail_r[r] / markup
        levels[2 * n_r + r] = retail_r[r] / markup / wholesale_markup
    return wholesale



@njit(cache=True)
def reset_actors(slots, first_uid, role, region, step, active, uid, role_of, region_of, person_of, person,
                 ties, floats, since, stock, pure, count):
    """Fill freshly taken slots for new actors of ``role`` (see `Actors.add`): active, new uids,
    role, region, person, every tie -1, every float field 0, ``since`` = step, empty stocks;
    counts them per region."""
    for j in range(len(slots)):
        s = slots[j]
        active[s] = True
        uid[s] = first_uid + j
        role_of[s] = role
        region_of[s] = region[j]
        person_of[s] = person[j]
        for t in ties:
            t[s] = -1
        for f in floats:
            f[s] = 0.0
        since[s] = step
        for d in range(stock.shape[1]):
            stock[s, d] = 0.0
            pure[s, d] = 0.0
        count[role, region[j]] += 1
