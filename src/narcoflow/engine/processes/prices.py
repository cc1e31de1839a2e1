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

from narcoflow.engine import kernels
from narcoflow.engine import state as st
from narcoflow.engine.processes.base import Process


class Prices(Process):
    name = "prices"
    claims = ("S11",)

    def init(self, sim) -> None:
        pr = sim.scenario.prices
        self.wholesale = pr.initial_retail_usd_per_g.value / pr.retail_markup.value

    def step(self, sim) -> None:
        a, pr, dist = sim.actors, sim.scenario.prices, sim.scenario.distribution
        normal, markup = pr.normal_fill.value, pr.retail_markup.value
        demand = sim.week_demand
        served = np.divide(sim.week_consumed, demand, out=np.ones(sim.n_regions), where=demand > 0)
        shortage_r = np.maximum(0.0, normal - served) / normal
        total_demand = demand.sum()
        if total_demand > 0:
            shortage = (normal - sim.week_consumed.sum() / total_demand) / normal
            sh = sim.shipments
            in_transit = sh.view("grams")[~sh.view("foreign")].sum() if sh.n else 0.0
            held = kernels.active_stock(a.stock, a.active).sum() + in_transit
            target = dist.seller_target_cover_weeks.value + dist.wholesaler_target_cover_weeks.value
            glut = min(5.0, held / total_demand / target - 1.0)
            self.wholesale *= np.exp(pr.adjustment_speed.value * (shortage - pr.glut_weight.value * glut))
            self.wholesale = float(np.clip(self.wholesale, pr.min_retail_usd_per_g.value / markup,
                                           pr.max_retail_usd_per_g.value / markup))
        sim.retail_price[:] = np.clip(self.wholesale * markup * (1.0 + shortage_r),
                                      pr.min_retail_usd_per_g.value, pr.max_retail_usd_per_g.value)
        rec = sim.recorder
        wholesale = sim.retail_price / pr.retail_markup.value
        producer = wholesale / pr.wholesale_markup.value
        for tier, values in (("retail", sim.retail_price), ("wholesale", wholesale), ("producer", producer)):
            rec.add_by("price_usd_per_g", values, sim.region_names, dim="region",
                       drug="methamphetamine", channel=tier, level=True)
        for d in sim.scenario.border.destinations:
            rec.set("price_usd_per_g", d.price_usd_per_g.value, drug="methamphetamine", region=d.name,
                    channel="import")


class RecordLevels(Process):
    """End-of-step levels: stocks by holder, in transit, users and active actors by region."""

    name = "record_levels"
    claims = ()

    def step(self, sim) -> None:
        a, rec = sim.actors, sim.recorder
        for d, drug in enumerate(sim.drugs):
            rec.set("stock_g", sim.state_stock[d], drug=drug, channel="state")
        for role, rname in enumerate(st.ROLE_NAMES):
            s = a.of_role(role)
            stock = kernels.totals_over(a.stock, s)
            for d, drug in enumerate(sim.drugs):
                rec.set("stock_g", stock[d], drug=drug, channel=rname)
            rec.add_by(f"active_{rname}s", np.bincount(a.region[s], minlength=sim.n_regions).astype(float),
                       sim.region_names, dim="region", level=True)
        sh = sim.shipments
        transit = np.bincount(sh.view("drug"), weights=sh.view("grams"), minlength=sim.n_drugs)
        for d, drug in enumerate(sim.drugs):
            rec.set("in_transit_g", transit[d], drug=drug)
        users = sim.users.count_by_region(sim.n_regions).astype(float)
        rec.add_by("users", users, sim.region_names, dim="region", level=True)
