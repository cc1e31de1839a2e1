"""Border smuggling (S10, S13): wholesalers send part of their stock to China through a border
smuggler, past corruptible guards, to a Chinese counterpart.

Allocation (S10): a wholesaler tied to a smuggler whose crossing is open exports the share
    max_export_share x logistic(sensitivity x (net export price / domestic wholesale price - 1)),
    net export price = China price x (1 - bribe share).
Crossing (S13): each smuggler with stock crosses once a week with one lot. A guard is drawn at
the crossing; a corrupt guard (fixed at start with probability ``bribe_acceptance``) takes the
bribe share of the lot's value (E6) and detects with ``detection_if_bribed``; an honest guard
detects with ``detection_prob`` x the region's enforcement multiplier. A detected lot is seized by
the border guards and the smuggler is arrested (exposing its ties, S12); a lot that passes goes to
the Chinese counterpart as a shipment to China (see `Transit`).
"""

from __future__ import annotations

import numpy as np

from narcoflow.engine import arrests, kernels
from narcoflow.engine import state as st
from narcoflow.engine.flowlog import FlowLog
from narcoflow.engine.processes.base import Process


def wholesale_price(sim) -> np.ndarray:
    return sim.retail_price / sim.scenario.prices.retail_markup.value


class BorderSmuggling(Process):
    name = "border_smuggling"
    claims = ("S10", "S13")
    params = ("border.bribe_acceptance", "border.bribe_share", "border.crossings[].guards",
              "border.crossings[].region", "border.destinations[].interdiction_prob",
              "border.destinations[].price_usd_per_g", "border.destinations[].transit_weeks",
              "border.detection_if_bribed", "border.detection_prob", "border.export_sensitivity",
              "border.max_export_share", "prices.retail_markup")
    reads = ("crossing_open", "enforcement_mult", "retail_price")
    writes = ("actors", "arrest_requests", "ledger", "shipments")
    records = ("bribes_usd", "exported_g", "private_export_revenue_usd", "seized_g")

    def init(self, sim) -> None:
        rng, b = sim.rng(self.name), sim.scenario.border
        guard_corrupt = [rng.random(c.guards) < b.bribe_acceptance.value for c in b.crossings]
        # All crossings' guards in one array: crossing c's guards are guard_first[c] + [0, guards).
        self.guard_corrupt = np.concatenate(guard_corrupt) if guard_corrupt else np.zeros(0, dtype=bool)
        self.guards = np.array([c.guards for c in b.crossings], dtype=np.int64)
        self.guard_first = np.concatenate([[0], np.cumsum(self.guards)[:-1]]).astype(np.int64)
        self.crossing_region = np.array([sim.region_index[c.region] for c in b.crossings])
        self.china = sim.dest_index["China"]
        self.exported_keys = [("exported_g", drug, "China", "private") for drug in sim.drugs]

    def step(self, sim) -> None:
        a, b, rec = sim.actors, sim.scenario.border, sim.recorder
        china = b.destinations[self.china]
        china_price = china.price_usd_per_g.value
        # Allocation: wholesaler -> smuggler. Every wholesaler's memory of its exports decays
        # (one that lost its smuggler or whose crossing closed stops restocking for exports).
        src, dst, moved = kernels.export_allocation(
            a.of_role(st.WHOLESALER), a.export_tie, a.crossing, sim.crossing_open, a.region,
            wholesale_price(sim), china_price * (1 - b.bribe_share.value), b.max_export_share.value,
            b.export_sensitivity.value, a.stock, a.pure, a.export_ema)
        if sim.flow_log is not None and len(src):
            sim.flow_log.add(sim.t, a.uid[src], a.uid[dst], moved.sum(axis=1))
        # Crossing.
        bribes = np.zeros(sim.n_regions)
        caught, lot_src, lot_drug, lot_g, lot_p = kernels.border_crossing(
            sim.draws(self.name), a.of_role(st.SMUGGLER), a.stock, a.pure, a.crossing, sim.crossing_open,
            self.crossing_region, self.guard_first, self.guards, self.guard_corrupt, b.bribe_share.value,
            china_price, b.detection_if_bribed.value, b.detection_prob.value, sim.enforcement_mult, bribes)
        rec.add_by("bribes_usd", bribes, sim.region_names, dim="region")
        # Detected: the lot is seized and the smuggler arrested with exposure (done by enforcement).
        if len(caught):
            sim.arrest_requests.add(caught)
            arrests.seize_actor_stock(sim, caught, "border_guard")
        # Passed: shipments to China.
        if len(lot_g) == 0:
            return
        sim.shipments.add(drug=lot_drug, grams=lot_g, pure=lot_p, arrive=sim.t + china.transit_weeks,
                          foreign=True, dest=self.china, dest_region=-1, channel=sim.private_channel,
                          carrier=-1, interdiction=china.interdiction_prob.value)
        exported = np.bincount(lot_drug, weights=lot_g, minlength=sim.n_drugs)
        rec.record(self.exported_keys, exported)
        rec.add("private_export_revenue_usd", float(exported.sum() * china_price))
        if sim.flow_log is not None:
            sim.flow_log.add(sim.t, a.uid[lot_src], FlowLog.foreign(self.china), lot_g)
