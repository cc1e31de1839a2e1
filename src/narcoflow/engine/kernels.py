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
           price_factor, stock, pure, demand_ema, n_regions, n_drugs, rewire_prob, rng):
    """Sellers serve their users pro rata to stock, per drug (see processes/retail.py).

    First, ties to sellers that left are dropped (stale epoch) and users without a seller find
    one of their region (CSR ``sellers_sorted``/``starts``/``counts``) with ``rewire_prob``.
    Updates ``stock``, ``pure`` and ``demand_ema`` in place; users served less than half of
    their demand drop their seller with ``rewire_prob`` (``seller`` updated in place).
    Returns (consumed[R, D], pure_consumed[R, D], demand[R], consumed_total[R]).
    """
    cap = stock.shape[0]
    dem_sd = np.zeros((cap, n_drugs))
    demand_r = np.zeros(n_regions)
    for i in range(n):
        r = region[i]
        s = seller[i]
        if s >= 0 and epoch[s] != seller_epoch[i]:
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
    fill = np.zeros((cap, n_drugs))
    purity = np.zeros((cap, n_drugs))
    for s in range(cap):
        tot = 0.0
        for d in range(n_drugs):
            dd = dem_sd[s, d]
            tot += dd
            if dd > 0.0:
                f = stock[s, d] / dd
                fill[s, d] = f if f < 1.0 else 1.0
            if stock[s, d] > 0.0:
                purity[s, d] = pure[s, d] / stock[s, d]
        demand_ema[s] = 0.8 * demand_ema[s] + 0.2 * tot
    consumed = np.zeros((n_regions, n_drugs))
    pure_consumed = np.zeros((n_regions, n_drugs))
    consumed_r = np.zeros(n_regions)
    sold = np.zeros((cap, n_drugs))
    for i in range(n):
        s = seller[i]
        if s < 0:
            continue
        d = drug[i]
        r = region[i]
        dem = use_g[i] * price_factor[r]
        f = fill[s, d]
        got = dem * f
        sold[s, d] += got
        consumed[r, d] += got
        pure_consumed[r, d] += got * purity[s, d]
        consumed_r[r] += got
        if f < 0.5 and rng.random() < rewire_prob:
            seller[i] = -1
    for s in range(cap):
        for d in range(n_drugs):
            if sold[s, d] > 0.0:
                stock[s, d] = max(stock[s, d] - sold[s, d], 0.0)
                pure[s, d] = max(pure[s, d] - sold[s, d] * purity[s, d], 0.0)
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
