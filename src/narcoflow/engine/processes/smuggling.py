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

The guards' corruption is drawn once, in ``init``, from the process's NumPy stream (restarted
there, so a second ``init`` draws the same guards); the crossings' draws come from its kernel
stream, smuggler by smuggler in slot order.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from narcoflow.engine import arrests, bundles
from narcoflow.engine import state as st
from narcoflow.engine.draws import integer, next_double
from narcoflow.engine.flowlog import FlowLog
from narcoflow.engine.kernels.tables import move_stock
from narcoflow.engine.processes.base import Process


def wholesale_price(sim) -> np.ndarray:
    """Domestic wholesale price by region (last week's, `Prices`): what an export forgoes."""
    return sim.tier_price[st.TIER_WHOLESALE]


class BorderSmuggling(Process):
    name = "border_smuggling"
    claims = ("S10", "S13")
    params = ("border.bribe_acceptance", "border.bribe_share", "border.crossings[].guards",
              "border.crossings[].region", "border.destinations[].interdiction_prob",
              "border.destinations[].price_usd_per_g", "border.destinations[].transit_weeks",
              "border.detection_if_bribed", "border.detection_prob", "border.export_sensitivity",
              "border.max_export_share")
    reads = ("crossing_open", "enforcement_mult", "tier_price")
    writes = ("actors", "arrest_requests", "ledger", "shipments")
    records = ("bribes_usd", "exported_g", "private_export_revenue_usd", "seized_g")

    def init(self, sim) -> None:
        sim.restart_streams(self.name)
        rng, b = sim.rng(self.name), sim.scenario.border
        guard_corrupt = [rng.random(c.guards) < b.bribe_acceptance.value for c in b.crossings]
        guards = np.array([c.guards for c in b.crossings], dtype=np.int64)
        self.china = sim.dest_index["China"]
        china = b.destinations[self.china]
        # Kernel parameters. All crossings' guards are in one array: crossing c's guards are
        # guard_first[c] + [0, guards[c]).
        self.p = bundles.make(
            guard_corrupt=np.concatenate(guard_corrupt) if guard_corrupt else np.zeros(0, dtype=bool),
            guards=guards,
            guard_first=np.concatenate([[0], np.cumsum(guards)[:-1]]).astype(np.int64),
            crossing_region=np.array([sim.region_index[c.region] for c in b.crossings], dtype=np.int64),
            bribe_share=float(b.bribe_share.value),
            china_price=float(china.price_usd_per_g.value),
            net_export_price=float(china.price_usd_per_g.value * (1 - b.bribe_share.value)),
            max_export_share=float(b.max_export_share.value),
            export_sensitivity=float(b.export_sensitivity.value),
            detection_if_bribed=float(b.detection_if_bribed.value),
            detection_prob=float(b.detection_prob.value),
        )
        self.china_transit_weeks = china.transit_weeks
        self.china_interdiction = china.interdiction_prob.value
        self.exported_keys = [("exported_g", drug, "China", "private") for drug in sim.drugs]

    def step(self, sim) -> None:
        a, rec, p = sim.actors, sim.recorder, self.p
        # Allocation: wholesaler -> smuggler. Every wholesaler's memory of its exports decays
        # (one that lost its smuggler or whose crossing closed stops restocking for exports).
        src, dst, moved = _allocate(a.of_role(st.WHOLESALER), a.cols, sim.crossing_open, wholesale_price(sim), p)
        if sim.flow_log is not None and len(src):
            sim.flow_log.add(sim.t, a.uid[src], a.uid[dst], moved.sum(axis=1))
        # Crossing.
        bribes = np.zeros(sim.n_regions)
        caught, lot_src, lot_drug, lot_g, lot_p = _cross(sim.draws(self.name), a.of_role(st.SMUGGLER), a.cols,
                                                         sim.crossing_open, sim.enforcement_mult, p, bribes)
        rec.add_by("bribes_usd", bribes, sim.region_names, dim="region")
        # Detected: the lot is seized and the smuggler arrested with exposure (done by enforcement).
        if len(caught):
            sim.arrest_requests.add(caught)
            arrests.seize_actor_stock(sim, caught, "border_guard")
        # Passed: shipments to China.
        if len(lot_g) == 0:
            return
        sim.shipments.add(drug=lot_drug, grams=lot_g, pure=lot_p, arrive=sim.t + self.china_transit_weeks,
                          foreign=True, dest=self.china, dest_region=-1, channel=sim.private_channel,
                          carrier=-1, interdiction=self.china_interdiction)
        exported = np.bincount(lot_drug, weights=lot_g, minlength=sim.n_drugs)
        rec.record(self.exported_keys, exported)
        rec.add("private_export_revenue_usd", float(exported.sum() * p.china_price))
        if sim.flow_log is not None:
            sim.flow_log.add(sim.t, a.uid[lot_src], FlowLog.foreign(self.china), lot_g)


@njit(cache=True)
def _allocate(wholesalers, a, crossing_open, wholesale_r, p):
    """Wholesalers tied to a smuggler at an open crossing hand it the export share of their stock,
    ``max_export_share x logistic(sensitivity x (net export price / wholesale price - 1))`` (S10);
    every wholesaler's weekly export memory decays by 0.8 and gains 0.2 x what it sent. Returns the
    exporting wholesalers, their smugglers and the grams moved per drug (for the flow log)."""
    export_tie, crossing, region, stock, export_ema = a.export_tie, a.crossing, a.region, a.stock, a.export_ema
    max_share, sensitivity, net_export = p.max_export_share, p.export_sensitivity, p.net_export_price
    src = np.empty(len(wholesalers), dtype=np.int64)
    dst = np.empty(len(wholesalers), dtype=np.int64)
    share = np.empty(len(wholesalers))
    n = 0
    for w in wholesalers:
        export_ema[w] *= 0.8
        sm = export_tie[w]
        if sm >= 0 and crossing_open[crossing[sm]]:
            ratio = net_export / wholesale_r[region[w]]
            src[n], dst[n] = w, sm
            share[n] = max_share / (1 + np.exp(-sensitivity * (ratio - 1)))
            n += 1
    for j in range(n):
        held = 0.0
        for d in range(stock.shape[1]):
            held += stock[src[j], d]
        export_ema[src[j]] += 0.2 * (held * share[j])
    return src[:n], dst[:n], move_stock(src[:n], dst[:n], share[:n], stock, a.pure)


@njit(cache=True)
def _cross(state, smugglers, a, crossing_open, enforcement_mult, p, bribes_r):
    """Each smuggler with stock at an open crossing crosses with one lot (S13): a guard is drawn;
    a corrupt one takes the bribe share of the lot's value (added to ``bribes_r`` by region) and
    detects with ``detection_if_bribed``, an honest one with ``detection_prob`` x the region's
    enforcement multiplier. Returns the detected smugglers (their stock untouched, to be seized)
    and the lots that passed, drug by drug (smuggler, drug, grams, pure grams), whose stock is
    zeroed here."""
    stock, pure, crossing = a.stock, a.pure, a.crossing
    guard_first, guards, guard_corrupt, crossing_region = p.guard_first, p.guards, p.guard_corrupt, p.crossing_region
    bribe_share, china_price = p.bribe_share, p.china_price
    n_drugs = stock.shape[1]
    caught = np.empty(len(smugglers), dtype=np.int64)
    passed = np.empty(len(smugglers), dtype=np.int64)
    n_caught = 0
    n_passed = 0
    for s in smugglers:
        c = crossing[s]
        grams = 0.0
        for d in range(n_drugs):
            grams += stock[s, d]
        if not (grams > 0 and crossing_open[c]):
            continue
        corrupt = guard_corrupt[guard_first[c] + integer(state, guards[c])]
        r = crossing_region[c]
        if corrupt:
            bribes_r[r] += bribe_share * grams * china_price
            p_detect = p.detection_if_bribed
        else:
            p_detect = min(1.0, p.detection_prob * enforcement_mult[r])
        if next_double(state) < p_detect:
            caught[n_caught] = s
            n_caught += 1
        else:
            passed[n_passed] = s
            n_passed += 1
    lot_src = np.empty(n_passed * n_drugs, dtype=np.int64)
    lot_drug = np.empty(n_passed * n_drugs, dtype=np.int64)
    lot_g = np.empty(n_passed * n_drugs)
    lot_p = np.empty(n_passed * n_drugs)
    k = 0
    for d in range(n_drugs):
        for j in range(n_passed):
            s = passed[j]
            if stock[s, d] > 0:
                lot_src[k], lot_drug[k], lot_g[k], lot_p[k] = s, d, stock[s, d], pure[s, d]
                stock[s, d] = 0.0
                pure[s, d] = 0.0
                k += 1
    return caught[:n_caught], lot_src[:k], lot_drug[:k], lot_g[:k], lot_p[:k]
