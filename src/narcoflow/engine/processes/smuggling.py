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

from narcoflow.engine import kernels
from narcoflow.engine import state as st
from narcoflow.engine.flowlog import FlowLog
from narcoflow.engine.processes.base import Process


def wholesale_price(sim) -> np.ndarray:
    return sim.retail_price / sim.scenario.prices.retail_markup.value


class BorderSmuggling(Process):
    name = "border_smuggling"
    claims = ("S10", "S13")

    def init(self, sim) -> None:
        rng, b = sim.rng(self.name), sim.scenario.border
        guard_corrupt = [rng.random(c.guards) < b.bribe_acceptance.value for c in b.crossings]
        # All crossings' guards in one array: crossing c's guards are guard_first[c] + [0, guards).
        self.guard_corrupt = np.concatenate(guard_corrupt) if guard_corrupt else np.zeros(0, dtype=bool)
        self.guards = np.array([c.guards for c in b.crossings], dtype=np.int64)
        self.guard_first = np.concatenate([[0], np.cumsum(self.guards)[:-1]]).astype(np.int64)
        self.crossing_region = np.array([sim.region_index[c.region] for c in b.crossings])
        self.china = sim.dest_index["China"]

    def step(self, sim) -> None:
        a, b, rng, rec = sim.actors, sim.scenario.border, sim.rng(self.name), sim.recorder
        china_price = b.destinations[self.china].price_usd_per_g.value
        # Allocation: wholesaler -> smuggler. Every wholesaler's memory of its exports decays
        # (one that lost its smuggler or whose crossing closed stops restocking for exports).
        wh = a.of_role(st.WHOLESALER)
        a.export_ema[wh] *= 0.8
        wh = wh[a.export_tie[wh] >= 0]
        if len(wh):
            smug = a.export_tie[wh].astype(np.int64)
            open_ = sim.crossing_open[a.crossing[smug]]
            wh, smug = wh[open_], smug[open_]
            net_export = china_price * (1 - b.bribe_share.value)
            ratio = net_export / wholesale_price(sim)[a.region[wh]]
            share = b.max_export_share.value / (1 + np.exp(-b.export_sensitivity.value * (ratio - 1)))
            sent = kernels.row_totals_of(a.stock, wh) * share
            sim.move_stock(wh, smug, share)
            # Exporters remember their weekly exports and restock for them (see Delivery).
            a.export_ema[wh] += 0.2 * sent
        # Crossing.
        sm = a.of_role(st.SMUGGLER)
        grams = kernels.row_totals_of(a.stock, sm)
        crossing = a.crossing[sm].astype(np.int64)
        go = (grams > 0) & sim.crossing_open[crossing]
        if not go.any():
            return
        sm, grams, crossing = sm[go], grams[go], crossing[go]
        # One guard per crossing smuggler, drawn uniformly among the crossing's guards.
        corrupt = self.guard_corrupt[self.guard_first[crossing] + rng.integers(0, self.guards[crossing])]
        bribe = np.where(corrupt, b.bribe_share.value * grams * china_price, 0.0)
        region = self.crossing_region[crossing]
        p_detect = np.where(corrupt, b.detection_if_bribed.value,
                            np.minimum(1.0, b.detection_prob.value * sim.enforcement_mult[region]))
        detected = rng.random(len(sm)) < p_detect
        rec.add_by("bribes_usd", np.bincount(region, weights=bribe, minlength=sim.n_regions),
                   sim.region_names, dim="region")
        # Detected: the lot is seized and the smuggler arrested with exposure (done by enforcement).
        caught = sm[detected]
        sim.pending_arrests = np.concatenate([sim.pending_arrests, caught])
        sim.seize_actor_stock(caught, "border_guard")
        # Passed: shipment to China.
        ok = sm[~detected]
        china = b.destinations[self.china]
        for d in range(sim.n_drugs):
            g = a.stock[ok, d]
            m = g > 0
            if not m.any():
                continue
            src = ok[m]
            n = len(src)
            sim.shipments.add(n=n, drug=d, grams=g[m], pure=a.pure[src, d], arrive=sim.t + china.transit_weeks,
                              foreign=True, dest=self.china, dest_region=-1, channel=sim.private_channel,
                              carrier=-1, interdiction=china.interdiction_prob.value)
            rec.add("exported_g", float(g[m].sum()), drug=sim.drugs[d], region="China", channel="private")
            if sim.flow_log is not None:
                sim.flow_log.add(sim.t, a.uid[src], FlowLog.foreign(self.china), g[m])
            rec.add("private_export_revenue_usd", float(g[m].sum() * china_price))
            a.stock[src, d] = 0.0
            a.pure[src, d] = 0.0
