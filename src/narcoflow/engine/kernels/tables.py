"""Upkeep of the state tables (`narcoflow.engine.state`): sampling free persons, the user
table's rows, actor slots and role lists, stocks and their sums, lots in transit, and the
recorder's cached columns."""

from __future__ import annotations

import numpy as np
from numba import njit

from narcoflow.engine.draws import integer

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
def _copy_user(src, dst, person, region, seller, seller_epoch, use_g, drug, heavy,
               person2, region2, seller2, seller_epoch2, use_g2, drug2, heavy2):
    """Copy user row ``src`` of the first arrays to row ``dst`` of the second (they may be the same)."""
    person2[dst] = person[src]
    region2[dst] = region[src]
    seller2[dst] = seller[src]
    seller_epoch2[dst] = seller_epoch[src]
    use_g2[dst] = use_g[src]
    drug2[dst] = drug[src]
    heavy2[dst] = heavy[src]


@njit(cache=True, nogil=True)
def gather_users(order, lo, hi, person, region, seller, seller_epoch, use_g, drug, heavy,
                 person2, region2, seller2, seller_epoch2, use_g2, drug2, heavy2):
    """Rows ``[lo, hi)`` of the reordered user table (row ``j`` = old row ``order[j]``), written to
    the second set of arrays. One range per thread (`Users.reorder`)."""
    for j in range(lo, hi):
        _copy_user(order[j], j, person, region, seller, seller_epoch, use_g, drug, heavy,
                   person2, region2, seller2, seller_epoch2, use_g2, drug2, heavy2)


@njit(cache=True, nogil=True)
def index_rows(person, lo, hi, row_of_person):
    """``row_of_person[person[j]] = j`` for rows ``[lo, hi)`` (persons are distinct)."""
    for j in range(lo, hi):
        row_of_person[person[j]] = j


@njit(cache=True)
def swap_remove(rows_desc, person, region, seller, seller_epoch, use_g, drug, heavy, n, row_of_person,
                region_counts, heavy_counts):
    """Remove user rows (sorted descending, distinct) by moving the last row into each hole: O(k).

    Keeps ``row_of_person``, ``region_counts`` and ``heavy_counts`` up to date; returns the new row
    count.
    """
    for i in rows_desc:
        row_of_person[person[i]] = -1
        region_counts[region[i]] -= 1
        if heavy[i]:
            heavy_counts[region[i]] -= 1
        last = n - 1
        if i != last:
            _copy_user(last, i, person, region, seller, seller_epoch, use_g, drug, heavy,
                       person, region, seller, seller_epoch, use_g, drug, heavy)
            row_of_person[person[i]] = i
        n = last
    return n


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
def active_stock(stock, active):
    """Grams held per drug by the active actors (the ledger's check after every step)."""
    out = np.zeros(stock.shape[1])
    for s in range(len(active)):
        if active[s]:
            for d in range(stock.shape[1]):
                out[d] += stock[s, d]
    return out


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
