"""Prices and markups by tier and region (S11).

The retail price of a region moves each week with shortage and glut:
    log p += speed x (shortage - glut_weight x glut)
    shortage = 1 - served / demanded;  glut = clip(cover / target cover - 1, 0, 5)
where cover is the weeks of demand held by the region's sellers and wholesalers and the target
cover is the sum of their target covers; p stays within [min, max]. Wholesale = retail / retail
markup; producer = wholesale / wholesale markup (C18: inland kg wholesale to retail ~10-14x).
Foreign import prices are scenario inputs (C9, C12-C16), recorded for reference.
"""

from __future__ import annotations

import numpy as np

from narcoflow.engine import state as st
from narcoflow.engine.processes.base import Process


class Prices(Process):
    name = "prices"
    claims = ("S11",)

    def step(self, sim) -> None:
        a, pr, dist = sim.actors, sim.scenario.prices, sim.scenario.distribution
        held = a.active & ((a.role == st.SELLER) | (a.role == st.WHOLESALER))
        idx = np.flatnonzero(held)
        stock_r = np.bincount(a.region[idx], weights=a.stock[idx].sum(axis=1), minlength=sim.n_regions)
        demand = sim.week_demand
        shortage = np.divide(demand - sim.week_consumed, demand, out=np.zeros(sim.n_regions),
                             where=demand > 0)
        target = dist.seller_target_cover_weeks.value + dist.wholesaler_target_cover_weeks.value
        cover = np.divide(stock_r, demand, out=np.where(stock_r > 0, np.inf, 0.0), where=demand > 0)
        glut = np.clip(cover / target - 1.0, 0.0, 5.0)
        step = pr.adjustment_speed.value * (shortage - pr.glut_weight.value * glut)
        sim.retail_price[:] = np.clip(sim.retail_price * np.exp(step), pr.min_retail_usd_per_g.value,
                                      pr.max_retail_usd_per_g.value)
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
            stock = a.stock[s].sum(axis=0)
            for d, drug in enumerate(sim.drugs):
                rec.set("stock_g", stock[d], drug=drug, channel=rname)
            rec.add_by(f"active_{rname}s", np.bincount(a.region[s], minlength=sim.n_regions).astype(float),
                       sim.region_names, dim="region", level=True)
        sh = sim.shipments
        transit = np.bincount(sh.view("drug"), weights=sh.view("grams"), minlength=sim.n_drugs)
        for d, drug in enumerate(sim.drugs):
            rec.set("in_transit_g", transit[d], drug=drug)
        users = np.bincount(sim.users.view("region"), minlength=sim.n_regions).astype(float)
        rec.add_by("users", users, sim.region_names, dim="region", level=True)
