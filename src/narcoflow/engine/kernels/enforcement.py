"""Arrests, exposure along ties and seizures (processes/enforcement.py, S12)."""

from __future__ import annotations

import numpy as np
from numba import njit

from narcoflow.engine.draws import binomial, next_double
from narcoflow.engine.kernels.demand import distinct_rows


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
