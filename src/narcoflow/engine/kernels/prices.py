"""Price adjustment (processes/prices.py, S11)."""

from __future__ import annotations

import numpy as np
from numba import njit


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
