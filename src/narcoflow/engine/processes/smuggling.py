"""Border smuggling (S10, S13): wholesalers sell at home or across the border, whichever pays
more after risk; smugglers choose a crossing by expected profit net of a perceived risk learned
from recent detections (NarcoLogic, Magliocca et al. 2019), past corruptible guards, to a Chinese
counterpart.

Perceived risk at crossing c (beta prior, time-discounted counts, weekly weight w = risk_memory):
    D_c <- w D_c + detections at c,   N_c <- w N_c + crossings tried at c
    r_c  = (risk_prior_mean x risk_prior_weight + D_c) / (risk_prior_weight + N_c)
Bribe asked at c responds to enforcement at the crossing (E6: 11 % -> 30-40 %; E8: fees x20 after
the 2010 tightening) and stays high for a while after it (falls back over bribe_relax_weeks):
    target_c = bribe_share + (bribe_share_max - bribe_share) x (1 - exp(-bribe_response x
               max(0, enforcement multiplier of c's region - 1)))
    b_c      = target_c if target_c >= b_c, else b_c + (target_c - b_c) / bribe_relax_weeks
Value of a gram taken across at c by a smuggler of region h (USD/g; a corrupt guard, met with
the crossing's share of corrupt guards k_c, takes the bribe share of the lot's value; a lot
detected exposes the wholesaler behind it, S12, who risks the sanction on a lot of export_lot_g):
    v_hc = (1 - r_c) x China price x (1 - b_c x k_c)
           - r_c x exposure_arrest_prob x sanction_usd[wholesaler] / export_lot_g
           - detour cost x [c is not in h]
    Pr_h(c) = softmax over the open crossings of v_hc / (route_temperature x China price)
Allocation (S10): a wholesaler tied to a smuggler of region h exports the share
    max_export_share x logistic(sensitivity x (V_h / domestic wholesale price - 1)),
    V_h = sum_c Pr_h(c) v_hc   (the expected export value per gram, after risk)
so product goes abroad only when that pays more than the domestic wholesale price; when the
border closes, or the risk rises (fewer corrupt guards: more detections), it stays at home.
Crossing (S13): each smuggler with stock crosses with probability min(1, held / export_lot_g)
(it waits to fill a lot: E4's ~1 kg), so crossings, detections and exposures follow the volume
exported; it draws a crossing from Pr_h and crosses once with all it holds. A guard is drawn
there; a corrupt guard (fixed at start with probability
``bribe_acceptance``) takes the bribe share b_c of the lot's value (E6) and detects with
``detection_if_bribed``; an honest guard detects with ``detection_prob`` x the region's
enforcement multiplier. A detected lot is seized by the border guards and the smuggler arrested
(exposing its ties, S12); a lot that passes goes to the Chinese counterpart as a shipment to China
(see `Transit`).

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


def route_values(p, crossing_open, n_regions):
    """Per-gram value ``v[h, c]`` of crossing ``c`` to a smuggler of region ``h``, the choice
    probabilities ``pr[h, c]`` (softmax over the open crossings) and the expected value ``V[h]``
    (NaN where no crossing is open), from the perceived risk and the bribe now asked."""
    risk = (p.prior_mean * p.prior_weight + p.detections) / (p.prior_weight + p.attempts)
    per_g = (1 - risk) * p.china_price * (1 - p.bribe_now * p.corrupt_share) - risk * p.sanction_per_g
    away = np.arange(n_regions)[:, None] != p.crossing_region[None, :]
    v = per_g[None, :] - p.detour_cost * away
    logits = np.where(crossing_open[None, :], v / (p.temperature * p.china_price), -np.inf)
    top = logits.max(axis=1, keepdims=True)
    if not np.isfinite(top).all():
        return v, np.zeros_like(v), np.full(n_regions, np.nan)
    w = np.exp(logits - top)
    pr = w / w.sum(axis=1, keepdims=True)
    return v, pr, (pr * v).sum(axis=1)


class BorderSmuggling(Process):
    name = "border_smuggling"
    claims = ("S10", "S13")
    params = ("border.bribe_acceptance", "border.bribe_relax_weeks", "border.bribe_response", "border.bribe_share",
              "border.bribe_share_max", "border.crossings[].guards", "border.crossings[].region",
              "border.destinations[].interdiction_prob", "border.destinations[].price_usd_per_g",
              "border.destinations[].transit_weeks", "border.detection_if_bribed", "border.detection_prob",
              "border.detour_cost_usd_per_g", "border.export_lot_g", "border.export_sensitivity",
              "border.max_export_share", "enforcement.exposure_arrest_prob", "prices.sanction_usd",
              "border.risk_memory", "border.risk_prior_mean", "border.risk_prior_weight",
              "border.route_temperature")
    reads = ("crossing_open", "enforcement_mult", "tier_price")
    writes = ("actors", "arrest_requests", "ledger", "shipments")
    records = ("bribes_usd", "exported_g", "private_export_revenue_usd", "seized_g")

    def init(self, sim) -> None:
        sim.restart_streams(self.name)
        rng, b = sim.rng(self.name), sim.scenario.border
        guard_corrupt = [rng.random(c.guards) < b.bribe_acceptance.value for c in b.crossings]
        guards = np.array([c.guards for c in b.crossings], dtype=np.int64)
        n_c = len(b.crossings)
        self.china = sim.dest_index["China"]
        china = b.destinations[self.china]
        # Kernel parameters. All crossings' guards are in one array: crossing c's guards are
        # guard_first[c] + [0, guards[c]). The route state (perceived risk counts, bribe asked)
        # lives in the bundle's arrays and changes week by week.
        self.p = bundles.make(
            guard_corrupt=np.concatenate(guard_corrupt) if guard_corrupt else np.zeros(0, dtype=bool),
            guards=guards,
            guard_first=np.concatenate([[0], np.cumsum(guards)[:-1]]).astype(np.int64),
            crossing_region=np.array([sim.region_index[c.region] for c in b.crossings], dtype=np.int64),
            corrupt_share=np.array([x.mean() if len(x) else 0.0 for x in guard_corrupt], dtype=float),
            china_price=float(china.price_usd_per_g.value),
            max_export_share=float(b.max_export_share.value),
            export_sensitivity=float(b.export_sensitivity.value),
            detection_if_bribed=float(b.detection_if_bribed.value),
            detection_prob=float(b.detection_prob.value),
            prior_mean=float(b.risk_prior_mean.value),
            prior_weight=float(b.risk_prior_weight.value),
            memory=float(b.risk_memory.value),
            temperature=float(b.route_temperature.value),
            detour_cost=float(b.detour_cost_usd_per_g.value),
            lot_g=float(b.export_lot_g.value),
            # a detected lot exposes its wholesaler (S12): its expected sanction per gram exported
            sanction_per_g=float(sim.scenario.enforcement.exposure_arrest_prob.value
                                 * sim.scenario.prices.sanction_usd["wholesaler"].value / b.export_lot_g.value),
            detections=np.zeros(n_c), attempts=np.zeros(n_c),
            bribe_now=np.full(n_c, float(b.bribe_share.value)),
        )
        self.bribe_min = float(b.bribe_share.value)
        self.bribe_max = max(float(b.bribe_share_max.value), self.bribe_min)
        self.bribe_response = float(b.bribe_response.value)
        self.bribe_relax = float(b.bribe_relax_weeks.value)
        self.china_transit_weeks = china.transit_weeks
        self.china_interdiction = china.interdiction_prob.value
        self.exported_keys = [("exported_g", drug, "China", "private") for drug in sim.drugs]

    def update_bribes(self, sim) -> None:
        """The bribe share asked at each crossing this week (E6, E8): up at once with enforcement
        at the crossing, back down over ``bribe_relax_weeks``."""
        p = self.p
        m = sim.enforcement_mult[p.crossing_region]
        target = self.bribe_min + (self.bribe_max - self.bribe_min) * (
            1 - np.exp(-self.bribe_response * np.maximum(m - 1.0, 0.0)))
        now = p.bribe_now
        now[:] = np.where(target >= now, target, now + (target - now) / max(self.bribe_relax, 1.0))

    def step(self, sim) -> None:
        a, rec, p = sim.actors, sim.recorder, self.p
        self.update_bribes(sim)
        p.detections[:] *= p.memory
        p.attempts[:] *= p.memory
        v, pr, value = route_values(p, sim.crossing_open, sim.n_regions)
        # Allocation: wholesaler -> smuggler. Every wholesaler's memory of its exports decays
        # (one that lost its smuggler or whose crossing closed stops restocking for exports).
        src, dst, moved = _allocate(a.of_role(st.WHOLESALER), a.cols, value, wholesale_price(sim), p)
        if sim.flow_log is not None and len(src):
            sim.flow_log.add(sim.t, a.uid[src], a.uid[dst], moved.sum(axis=1))
        # Crossing: each smuggler with stock picks a crossing (cumulative choice probabilities).
        bribes = np.zeros(sim.n_regions)
        caught, lot_src, lot_drug, lot_g, lot_p = _cross(sim.draws(self.name), a.of_role(st.SMUGGLER), a.cols,
                                                         np.cumsum(pr, axis=1), sim.enforcement_mult, p, bribes)
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
def _allocate(wholesalers, a, value_h, wholesale_r, p):
    """Wholesalers tied to a smuggler of a region with an open crossing (``value_h`` not NaN) hand
    it the export share of their stock, ``max_export_share x logistic(sensitivity x (V_h /
    wholesale price - 1))`` (S10); every wholesaler's weekly export memory decays by 0.8 and gains
    0.2 x what it sent. Returns the exporting wholesalers, their smugglers and the grams moved per
    drug (for the flow log)."""
    export_tie, region, stock, export_ema = a.export_tie, a.region, a.stock, a.export_ema
    max_share, sensitivity = p.max_export_share, p.export_sensitivity
    src = np.empty(len(wholesalers), dtype=np.int64)
    dst = np.empty(len(wholesalers), dtype=np.int64)
    share = np.empty(len(wholesalers))
    n = 0
    for w in wholesalers:
        export_ema[w] *= 0.8
        sm = export_tie[w]
        if sm >= 0 and not np.isnan(value_h[region[sm]]):
            ratio = value_h[region[sm]] / wholesale_r[region[w]]
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
def _cross(state, smugglers, a, cum_pr, enforcement_mult, p, bribes_r):
    """Each smuggler with stock, of a region with an open crossing, crosses with probability
    min(1, held / lot_g), draws a crossing from its region's choice probabilities (``cum_pr[h]``,
    cumulative) and crosses with one lot (S13): a
    guard is drawn there; a corrupt one takes the crossing's bribe share of the lot's value
    (added to ``bribes_r`` by the crossing's region) and detects with ``detection_if_bribed``, an
    honest one with ``detection_prob`` x the region's enforcement multiplier. Each try and each
    detection counts in the crossing's perceived risk. Returns the detected smugglers (their
    stock untouched, to be seized) and the lots that passed, drug by drug (smuggler, drug, grams,
    pure grams), whose stock is zeroed here."""
    stock, pure, region = a.stock, a.pure, a.region
    guard_first, guards, guard_corrupt, crossing_region = p.guard_first, p.guards, p.guard_corrupt, p.crossing_region
    bribe_now, china_price, detections, attempts = p.bribe_now, p.china_price, p.detections, p.attempts
    n_drugs = stock.shape[1]
    n_c = cum_pr.shape[1]
    caught = np.empty(len(smugglers), dtype=np.int64)
    passed = np.empty(len(smugglers), dtype=np.int64)
    n_caught = 0
    n_passed = 0
    for s in smugglers:
        grams = 0.0
        for d in range(n_drugs):
            grams += stock[s, d]
        h = region[s]
        if not (grams > 0 and cum_pr[h, n_c - 1] > 0):
            continue
        if grams < p.lot_g and next_double(state) >= grams / p.lot_g:
            continue  # waits to fill a lot: crosses with probability held / export_lot_g
        x = next_double(state) * cum_pr[h, n_c - 1]
        c = 0
        while c < n_c - 1 and cum_pr[h, c] <= x:
            c += 1
        corrupt = guard_corrupt[guard_first[c] + integer(state, guards[c])]
        r = crossing_region[c]
        if corrupt:
            bribes_r[r] += bribe_now[c] * grams * china_price
            p_detect = p.detection_if_bribed
        else:
            p_detect = min(1.0, p.detection_prob * enforcement_mult[r])
        attempts[c] += 1.0
        if next_double(state) < p_detect:
            detections[c] += 1.0
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
