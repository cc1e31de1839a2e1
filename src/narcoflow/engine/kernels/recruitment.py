"""Recruitment and rewiring of the distribution chain (processes/recruitment.py, S11-S13)."""

from __future__ import annotations

import numpy as np
from numba import njit

from narcoflow.engine.draws import binomial, integer, next_double
from narcoflow.engine.kernels.tables import row_totals


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
