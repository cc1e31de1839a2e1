"""Prices from costs and risks, and enforcement with capacity (issue 13, mechanisms 1 and 4).

Each test fails when its mechanism is removed: the risk term of the anchors (a higher hazard at a
tier raises that tier's price), the capacity of the agencies (more participants lower each one's
hazard; arrests grow less than proportionally with the market), the return to the anchor (a
price shock decays).
"""

from __future__ import annotations

import numpy as np

from conftest import SMALL, run, scenario
from narcoflow.engine import Simulation
from narcoflow.engine import state as st
from narcoflow.engine.processes.enforcement import hazard
from narcoflow.engine.processes.prices import anchors, chain_costs

ROWS = st.ROLE_NAMES + ("user",)


def no_capacity_limit(*agencies: str) -> dict:
    """Scenario values lifting the capacity of ``agencies`` (out of the default's range, so the
    range is widened first)."""
    out = {}
    for a in agencies:
        key = f"enforcement.capacity_per_million_per_week.{a}"
        out[key + ".range"] = [0.0, 1e6]
        out[key] = 1e6
    return out


def _hazard(sc, n_regions=2):
    h = np.array([sc.enforcement.weekly_arrest_prob[r].value for r in ROWS])
    return np.repeat(h[:, None], n_regions, axis=1)


def test_a_higher_arrest_hazard_at_a_tier_raises_that_tiers_anchor():
    sc = scenario()
    costs = chain_costs(sc)
    base = anchors(costs, _hazard(sc))
    # Default anchors sit in the evidence's bands (C1 producer, C3 wholesale, C5-C10 retail).
    assert 0.3 < base[0, 0] < 0.6 and 1.0 < base[1, 0] < 2.0 and 10 < base[2, 0] < 17
    for role, tier in ((st.PRODUCER, 0), (st.DELIVERER, 1), (st.WHOLESALER, 1), (st.SELLER, 2)):
        h = _hazard(sc)
        h[role, 1] *= 3  # region 1 only
        a = anchors(costs, h)
        assert a[tier, 1] > 1.2 * a[tier, 0] - 1e-12 or a[tier, 1] - a[tier, 0] > 0.05, (role, a[:, 1], a[:, 0])
        assert np.allclose(a[:tier, 1], a[:tier, 0])  # the tiers upstream do not move
        assert np.allclose(a[:, 0], base[:, 0])  # nor the other region
    # In the model: a seller hazard x3 (capacity never binding) raises the retail price the
    # simulation settles at, and leaves the producer price where it was.
    free = no_capacity_limit("mps")
    low = run(free, years=3, events=[])
    high = run(free | {"enforcement.weekly_arrest_prob.seller": 0.009}, years=3, events=[])

    def mean(r, tier):
        q = f"drug == 'methamphetamine' and channel == '{tier}' and step > 104"
        return r.to_df("price_usd_per_g").query(q)["value"].mean()

    assert mean(high, "retail") > 1.5 * mean(low, "retail")
    assert abs(mean(high, "producer") / mean(low, "producer") - 1) < 0.2


def test_more_participants_lower_each_ones_hazard_and_arrests_grow_less_than_proportionally():
    sc = scenario()
    sim = Simulation(sc, seed=1, scale=SMALL, years=1).init()
    enf = next(p for p in sim.processes if p.name == "enforcement")
    mult = np.ones(sim.n_regions)
    base = enf.participants(sim)
    base[:5] = np.maximum(base[:5], 1.0)
    base[-1] = np.maximum(base[-1], 1.0)
    hazards, arrests = [], []
    for k in (1, 10, 100, 1000):
        n = base * k
        h = hazard(enf.base, enf.agency_of, enf.capacity, mult, n)
        hazards.append(h)
        arrests.append((h * n).sum())
    for a, b in zip(hazards, hazards[1:], strict=False):
        assert (b <= a + 1e-15).all()
    assert (hazards[-1] < hazards[0]).all()  # every role swamped at 1000x
    assert arrests[-1] / arrests[0] < 100  # 1000x the participants, far fewer than 1000x the arrests
    # but never fewer arrests (up to rounding, once the capacity is reached)
    assert all(b >= a * (1 - 1e-12) for a, b in zip(arrests, arrests[1:], strict=False))
    # A crackdown (multiplier x3) raises the capacity and the hazard where it acts.
    crack = np.where(np.arange(sim.n_regions) == 0, 3.0, 1.0)
    h3 = hazard(enf.base, enf.agency_of, enf.capacity, crack, base * 1000)
    assert (h3[:, 0] > hazards[-1][:, 0]).all() and np.allclose(h3[:, 1:], hazards[-1][:, 1:])


def test_capacity_limits_arrests_in_the_simulation():
    """With the agencies' capacity lifted, a user's yearly chance of arrest is higher: capacity
    binds in a grown market (enforcement swamping). Per user-week, as the markets differ (arrests
    shrink the market that makes them)."""
    lifted = no_capacity_limit("mps", "nsa", "border_guard")

    def per_user_week(r):
        return r.total("arrests", channel="user") / r.to_df("users")["value"].sum()

    # a grown market from the start (two fifths of every province use): the default epidemic
    # (issue 13's demand) stays below the size at which the MPS's capacity binds in 8 years, and a
    # fifth only just reaches it (the capacity is 50 arrests a week per million inhabitants)
    grown = {}
    for i in range(12):
        grown[f"regions[{i}].initial_prevalence.range"] = None
        grown[f"regions[{i}].initial_prevalence"] = 0.4
    capped = run(grown, years=8, events=[])
    free = run({**grown, **lifted}, years=8, events=[])
    assert per_user_week(capped) < 0.8 * per_user_week(free)


def test_prices_return_toward_the_anchor_after_a_shock():
    sim = Simulation(scenario(), seed=2, scale=SMALL, years=6).run(until=200)
    prices = next(p for p in sim.processes if p.name == "prices")
    sim.tier_price[:] *= 3.0
    sim.run(until=201)
    gap0 = np.log(sim.tier_price[st.TIER_RETAIL] / anchors(prices.costs, sim.arrest_hazard)[2])
    sim.run(until=253)
    gap1 = np.log(sim.tier_price[st.TIER_RETAIL] / anchors(prices.costs, sim.arrest_hazard)[2])
    assert np.median(gap0) > 0.8  # the shock: ~x3
    assert np.median(np.abs(gap1)) < 0.3 * np.median(gap0)  # a year later mostly gone
    assert prices.guard_hits == 0 or sim.scenario.prices.max_retail_usd_per_g.value < 3 * 30
