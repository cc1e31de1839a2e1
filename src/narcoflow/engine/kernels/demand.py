"""Use (processes/demand.py, S11): initiation counts, new users, quitters."""

from __future__ import annotations

import numpy as np
from numba import njit

from narcoflow.engine.draws import binomial, integer, next_double, normal
from narcoflow.engine.kernels.tables import sample_free_regions


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
