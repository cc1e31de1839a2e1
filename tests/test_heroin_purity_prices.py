"""Heroin priced on its own chain, and price per pure gram (issue 13, mechanism 1: C4, Q9, Q18; C6).

Each test fails when its rule is removed: heroin users paying methamphetamine's retail price (the
demand they place is rebuilt here from each user's own drug's price), heroin's anchors not built
from the opium it embodies, the price per pure gram not being the price over the tier's purity.
"""

from __future__ import annotations

import numpy as np
import pytest

from conftest import SMALL, scenario
from narcoflow.engine import Simulation
from narcoflow.engine import state as st
from narcoflow.engine.processes.prices import (
    anchors,
    chain_costs,
    heroin_anchors,
    heroin_source_price,
    initial_hazard,
)
from narcoflow.scenario import DRUGS

HEROIN, METH = DRUGS.index("heroin"), DRUGS.index("methamphetamine")


def test_heroin_anchors_come_from_opium_and_the_chains_margins():
    sc = scenario()
    costs, h = chain_costs(sc), initial_hazard(sc, 2)
    source = heroin_source_price(sc)
    # C4 (opium $1,563-5,000/kg 2006-08) x Q18 (10 kg of opium per kg of heroin): $15.6-50/g.
    assert source == pytest.approx(sc.prices.heroin_opium_usd_per_kg.value * sc.prices.heroin_opium_kg_per_kg.value
                                   / 1000)
    assert 15.6 <= source <= 50
    her, meth = heroin_anchors(costs, h, source), anchors(costs, h)
    # Wholesale and retail add the same margins (per gram) as meth's tiers: above the source,
    # below Q9's ~$76/g wholesale abroad at wholesale, and far above meth's retail.
    assert source < her[1, 0] < 76 and her[2, 0] > her[1, 0] > source
    assert her[2, 0] - her[1, 0] == pytest.approx(meth[2, 0] - meth[1, 0], rel=0.1)
    assert her[2, 0] > 2 * meth[2, 0]
    # A dearer opium raises heroin's price, not meth's.
    dear = scenario({"prices.heroin_opium_usd_per_kg": 5000})
    assert heroin_anchors(costs, h, heroin_source_price(dear))[2, 0] > her[2, 0] + 10
    assert np.allclose(anchors(chain_costs(dear), h), meth)


def test_heroin_users_face_the_heroin_price_not_meths():
    sim = Simulation(scenario({"consumption.heroin_share": 0.3}), seed=1, scale=SMALL, years=401 / 52.1775).init()
    sim.run(until=400)
    u, c = sim.users, sim.scenario.consumption
    price = sim.drug_retail_price.copy()  # what this week's Retail reads
    assert (price[HEROIN] > 2 * price[METH]).all()
    assert np.array_equal(price[METH], sim.retail_price)
    drug, region = u.drug[:u.n].astype(int), u.region[:u.n].astype(int)
    use = u.use_g[:u.n] * np.where(u.heavy[:u.n] > 0, c.heavy_use_ratio.value, 1.0)
    assert (drug == HEROIN).sum() > 20 and (drug == METH).sum() > 20
    sim.run(until=401)  # Retail places every user's demand (users do not change before it)

    def demand(heroin_price):
        ref = np.where(drug == HEROIN, c.heroin_reference_price_usd_per_g.value, c.reference_price_usd_per_g.value)
        p = np.where(drug == HEROIN, heroin_price[region], price[METH, region])
        return np.bincount(region, weights=use * (p / ref) ** -c.price_elasticity.value, minlength=sim.n_regions)

    assert sim.week_demand == pytest.approx(demand(price[HEROIN]), rel=1e-9)
    # At meth's price (the old rule) the demand would differ.
    assert not np.allclose(sim.week_demand, demand(price[METH]), rtol=1e-3)
    # And the heroin price is recorded, by region and tier, as price_usd_per_g of heroin.
    m = sim.results.metrics
    rec = m[(m.metric == "price_usd_per_g") & (m.drug == "heroin") & (m.step == 399)]
    assert set(rec.channel) == {"retail", "wholesale", "producer"}
    retail = rec[rec.channel == "retail"].set_index("region")["value"]
    assert np.allclose([retail[r] for r in sim.region_names], price[HEROIN])


def test_price_per_pure_gram_is_the_price_over_the_tiers_purity():
    # Scale 0.005: every tier must hold product somewhere at the end; at SMALL (0.002) the whole
    # private supply of 2005 is 0-1 producers, and a run may end with none.
    sim = Simulation(scenario({"consumption.heroin_share": 0.3}), seed=2, scale=0.005, years=8).run()
    m = sim.results.metrics
    last = m[m.step == sim.n_steps - 1]
    a = sim.actors
    act = a.active[:a.cap].astype(bool)
    checked = {}
    for drug in ("methamphetamine", "heroin"):
        d = DRUGS.index(drug)
        for tier, role in (("retail", st.SELLER), ("wholesale", st.WHOLESALER), ("producer", st.PRODUCER)):
            price = last[(last.metric == "price_usd_per_g") & (last.drug == drug) & (last.channel == tier)]
            pure = last[(last.metric == "price_usd_per_pure_g") & (last.drug == drug) & (last.channel == tier)]
            price, pure = price.set_index("region")["value"], pure.set_index("region")["value"]
            assert len(pure) == sim.n_regions and (pure >= price - 1e-12).all()  # purity <= 1
            assert (pure <= 3 * price).all(), (drug, tier, pure)  # no purity below 1/3 (S10: 0.6)
            if drug == "heroin" and tier == "producer":  # the state's stock is heroin's source
                g, p = sim.state_stock[d], sim.state_pure[d]
                assert g > 0
                assert pure.to_numpy() == pytest.approx(price.to_numpy() / (p / g))
                continue
            for r, name in enumerate(sim.region_names):
                held = act & (a.role[:a.cap] == role) & (a.region[:a.cap] == r)
                g, p = a.stock[:a.cap][held, d].sum(), a.pure[:a.cap][held, d].sum()
                if g > 1e-6 and p > 0:  # less: a rounding residue, counted as none (the tier's fallback)
                    assert pure[name] == pytest.approx(price[name] / min(p / g, 1.0), rel=1e-9), (drug, tier, name)
                    checked[drug, tier] = checked.get((drug, tier), 0) + 1
    # Meth is held by every tier somewhere; heroin (a 5 % leak of state output) at least by some tier.
    assert all(checked.get(("methamphetamine", t)) for t in ("retail", "wholesale", "producer")), checked
    assert any(checked.get(("heroin", t)) for t in ("retail", "wholesale")), checked
