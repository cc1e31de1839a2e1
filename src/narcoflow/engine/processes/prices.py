"""Prices and markups by tier and region (S11).

One national wholesale price W moves each week with the national market; each region's retail
price adds a premium for local shortage. Search frictions (users between sellers, sellers between
wholesalers) leave some demand unserved even in a supplied market, so only service below the
normal level ``normal_fill`` counts as shortage (service above it pushes the national price down):
    shortage   = (normal_fill - served / demanded) / normal_fill            (national)
    shortage_r = max(0, normal_fill - served_r / demanded_r) / normal_fill  (regional premium)
    glut     = min(cover / target - 1, 5), cover = weeks of national demand held by the whole
               private chain (producers, deliverers and lots in transit, wholesalers, smugglers,
               sellers); target = seller + wholesaler target covers. Negative glut (too little
               product held) pushes the price up, like shortage.
    log W   += speed x (shortage - glut_weight x glut)
    retail_r = W x retail markup x (1 + regional shortage_r), within [min, max]
    wholesale_r = retail_r / retail markup;  producer_r = wholesale_r / wholesale markup
(C18: inland kg wholesale to retail ~10-14x). Unsold producer stock thus lowers producer prices
and margins (S7). Foreign import prices are scenario inputs (C9, C12-C16), recorded for reference.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from narcoflow.engine import bundles
from narcoflow.engine import state as st
from narcoflow.engine.processes.base import Process


class Prices(Process):
    name = "prices"
    claims = ("S11",)
    params = ("border.destinations[].price_usd_per_g", "distribution.seller_target_cover_weeks",
              "distribution.wholesaler_target_cover_weeks", "prices.adjustment_speed", "prices.glut_weight",
              "prices.initial_retail_usd_per_g", "prices.max_retail_usd_per_g", "prices.min_retail_usd_per_g",
              "prices.normal_fill", "prices.retail_markup", "prices.wholesale_markup")
    reads = ("actors", "shipments", "week_consumed", "week_demand")
    writes = ("retail_price", "tier_price")
    records = ("price_usd_per_g",)

    def init(self, sim) -> None:
        pr, dist = sim.scenario.prices, sim.scenario.distribution
        # The rule's parameters, as one bundle for the kernel.
        self.p = bundles.make(
            normal=float(pr.normal_fill.value), markup=float(pr.retail_markup.value),
            wholesale_markup=float(pr.wholesale_markup.value), speed=float(pr.adjustment_speed.value),
            glut_weight=float(pr.glut_weight.value),
            target_cover=float(dist.seller_target_cover_weeks.value + dist.wholesaler_target_cover_weeks.value),
            min_retail=float(pr.min_retail_usd_per_g.value), max_retail=float(pr.max_retail_usd_per_g.value))
        self.wholesale = pr.initial_retail_usd_per_g.value / pr.retail_markup.value
        dests = sim.scenario.border.destinations
        self.import_price = np.array([d.price_usd_per_g.value for d in dests])
        # Recorded levels: retail, wholesale and producer prices by region (written by the
        # kernel each week), then the foreign import prices (scenario inputs).
        self._levels = np.concatenate([np.zeros(3 * sim.n_regions), self.import_price])
        self.price_keys = ([("price_usd_per_g", "methamphetamine", r, tier)
                            for tier in ("retail", "wholesale", "producer") for r in sim.region_names]
                           + [("price_usd_per_g", "methamphetamine", d.name, "import") for d in dests])

    def step(self, sim) -> None:
        sh, levels = sim.shipments, self._levels
        self.wholesale = prices(self.wholesale, sim.week_demand, sim.week_consumed, sim.actors.cols, sh.cols, sh.n,
                                self.p, sim.retail_price, levels)
        n_r = sim.n_regions  # levels: retail, wholesale, producer by region (the kernel's order)
        for k, tier in enumerate((st.TIER_RETAIL, st.TIER_WHOLESALE, st.TIER_PRODUCER)):
            sim.tier_price[tier] = levels[k * n_r:(k + 1) * n_r]
        sim.recorder.record(self.price_keys, levels, level=True)


class RecordLevels(Process):
    """End-of-step levels: stocks by holder, in transit, users and active actors by region."""

    name = "record_levels"
    claims = ()
    reads = ("actors", "shipments", "state_stock", "users")
    records = ("active_deliverers", "active_producers", "active_sellers", "active_smugglers", "active_wholesalers",
               "in_transit_g", "stock_g", "users")

    def init(self, sim) -> None:
        # Recorder keys, built once: stocks of the state, of each role and in transit (drug order
        # within each), active actors per role and region.
        drugs, regions = sim.drugs, sim.region_names
        self.stock_keys = ([("stock_g", d, None, "state") for d in drugs]
                           + [("stock_g", d, None, r) for r in st.ROLE_NAMES for d in drugs]
                           + [("in_transit_g", d, None, None) for d in drugs])
        self.active_keys = [(f"active_{r}s", None, reg, None) for r in st.ROLE_NAMES for reg in regions]

    def step(self, sim) -> None:
        a, rec, sh = sim.actors, sim.recorder, sim.shipments
        held = stock_by_role(a.cols, len(st.ROLE_NAMES))
        transit = np.bincount(sh.view("drug"), weights=sh.view("grams"), minlength=sim.n_drugs)
        rec.record(self.stock_keys, np.concatenate([sim.state_stock, held.ravel(), transit]), level=True)
        rec.record(self.active_keys, a.count.ravel(), level=True)  # kept up to date by Actors
        rec.add_by("users", sim.users.region_counts, sim.region_names, dim="region", level=True)


# ---------------------------------------------------------------- kernels
@njit(cache=True)
def prices(wholesale, demand_r, consumed_r, actors, lots, n_lots, p, retail_r, levels):
    """One week of price adjustment (`Prices`): the national wholesale price moves
    with national shortage and glut, each region's retail price adds its shortage premium (in
    place in ``retail_r``). Writes the retail, wholesale and producer prices by region to the
    start of ``levels``; returns the new national wholesale price. ``p``: the parameters (`Prices.init`)."""
    stock, active, lot_grams, lot_foreign = actors.stock, actors.active, lots.grams, lots.foreign
    normal, markup, wholesale_markup = p.normal, p.markup, p.wholesale_markup
    speed, glut_weight, target_cover, min_retail, max_retail = p.speed, p.glut_weight, p.target_cover, \
        p.min_retail, p.max_retail
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
def stock_by_role(actors, n_roles):
    """Grams per role and drug held by the active actors, each role's sum in slot order."""
    stock, active, role = actors.stock, actors.active, actors.role
    out = np.zeros((n_roles, stock.shape[1]))
    for s in range(len(active)):
        if active[s]:
            for d in range(stock.shape[1]):
                out[role[s], d] += stock[s, d]
    return out
