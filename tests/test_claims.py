"""One behavioural test per claim of the report (S1-S14): each fails if its mechanism is removed.

The claims are quoted from shared/seed (10 Oct 2011); docs/model.md maps each to its process.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from conftest import SMALL, run, scenario
from narcoflow.engine import Simulation
from narcoflow.engine import state as st
from narcoflow.engine.processes import exposed_by
from narcoflow.engine.processes.prices import chain_costs, initial_tier_prices
from narcoflow.engine.processes.smuggling import wholesale_price

#: Private supply grows into the market (issue 13): few producers until the state withdraws
#: (2003-05), so the tests of claims that need private product in the first years run with the
#: producers of the former default in place from the start (20 per million) instead.
SUPPLIED = {"private.initial_producers_per_million.range": [0.0, 20.0], "private.initial_producers_per_million": 20.0}


def _sum(res, metric, **f):
    return res.total(metric, **f)


def test_s1_two_producing_sectors_with_separate_outputs(baseline):
    """S1: 'two units who produce drugs: the authorities and ordinary people'."""
    assert _sum(baseline, "produced_g", channel="state") > 0
    assert _sum(baseline, "produced_g", channel="private") > 0
    no_private = run({"private.precursor_availability": 0.2, "private.max_entry_rate": 0.0002,
                      "private.initial_producers_per_million": 0.0},
                     events=[], years=2)
    events_free = run(SUPPLIED, events=[], years=2)
    assert _sum(no_private, "produced_g", channel="private") < 0.2 * _sum(events_free, "produced_g", channel="private")
    assert _sum(no_private, "produced_g", channel="state") == _sum(events_free, "produced_g", channel="state")


def test_s2_state_drugs_several_types_high_purity():
    """S2: the authorities make 'high purity' heroin, cocaine and methamphetamine; purity travels."""
    res = run(SUPPLIED, years=2)
    produced = res.to_df("produced_g").query("value > 0")
    assert set(produced.query("channel == 'state'")["drug"]) == {"methamphetamine", "heroin", "cocaine"}
    assert set(produced.query("channel == 'private'")["drug"]) == {"methamphetamine"}
    # Domestic retail purity rises when more high-purity state product leaks in (S2 + S5).
    low = run({"state.siphon_rate": 0.0}, years=3)
    high = run({"state.siphon_rate": 0.25}, years=3)

    def mean_purity(r):
        p = r.to_df("purity")
        return p.loc[p.value > 0, "value"].mean()

    assert mean_purity(high) > mean_purity(low) + 0.02
    assert mean_purity(low) < 0.75  # private product only: low quality (S10)


def test_s3_named_factories_located_in_their_regions():
    """S3: Heungnam (South Hamgyong) and Sangwon (Sangwon County, Pyongyang)."""
    res = run(years=4)
    p = res.to_df("produced_g").query("channel == 'state' and step > 100 and value > 0")
    assert set(p["region"]) == {"South Hamgyong", "Pyongyang"}


def test_s4_sangwon_was_ranam_in_chongjin_before_relocation():
    """S4: 'Sangwon ... is the former Ranam Pharmaceutical Factory located in Chongjin' (moved late 1990s)."""
    res = run(years=3)
    p = res.to_df("produced_g").query("channel == 'state' and value > 0")
    before = p[p.date < "1999-06-01"]
    after = p[p.date >= "1999-06-08"]
    assert "North Hamgyong" in set(before.region) and "Pyongyang" not in set(before.region)
    assert "North Hamgyong" not in set(after.region) and "Pyongyang" in set(after.region)
    # Without the relocation history, Chongjin never produces.
    sc = scenario()
    facilities = [f.model_dump(mode="json") for f in sc.state.facilities]
    facilities[1]["relocated_from"] = None
    facilities[1]["relocation_date"] = None
    state = sc.state.model_dump(mode="json") | {"facilities": facilities}
    res2 = run(years=1, state=state)
    assert "North Hamgyong" not in set(res2.to_df("produced_g").query("channel == 'state' and value > 0").region)


def test_s5_nsa_siphon_leaks_state_product_into_domestic_market():
    """S5: 'officials of the NSA have tended to siphon off drugs'. Heroin is made only by the state."""
    # heroin_share at the top of its range: at this scale the default demand (issue 13) gives only
    # a handful of heroin users
    without = run({"state.siphon_rate": 0.0, "consumption.heroin_share": 0.3}, years=3)
    with_ = run({"state.siphon_rate": 0.2, "consumption.heroin_share": 0.3}, years=3)
    assert _sum(without, "siphoned_g") == 0
    assert _sum(without, "consumed_g", drug="heroin") == 0
    assert _sum(with_, "siphoned_g") > 0
    assert _sum(with_, "consumed_g", drug="heroin") > 0


def test_s6_private_production_only_in_chemical_factory_cities(baseline):
    """S6: producers live in the cities with chemical factories (skills learned there)."""
    regions = set(baseline.to_df("produced_g").query("channel == 'private' and value > 0")["region"])
    assert regions <= {"Pyongyang", "South Hamgyong", "South Pyongan", "North Hamgyong"}
    assert len(regions) >= 3
    sc = scenario()
    cities = [c.model_dump(mode="json") | {"skilled_share": 0.0} for c in sc.private.chemical_cities]
    # (no released state workers either: since issue 13 they join the skilled pools, T8)
    private = sc.private.model_dump(mode="json") | {"chemical_cities": cities, "released_skilled_per_kg_week": 0.0}
    unskilled = run(years=2, private=private)
    assert _sum(unskilled, "produced_g", channel="private") == 0


def test_s7_entry_on_economics_and_precursor():
    """S7: cheap set-up and easy precursor: entry for easy money; no precursor, no entry."""
    no_precursor = run(years=3, events=[], private=scenario().private.model_dump(mode="json") | {
        "precursor_availability": 0.0, "initial_producers_per_million": 0.0})
    assert no_precursor.to_df("active_producers")["value"].sum() == 0
    assert _sum(no_precursor, "produced_g", channel="private") == 0
    easy = run(years=3, events=[])
    assert easy.to_df("active_producers")["value"].sum() > 0
    # Legal income competes with drug profits: a high legal income (and risk, and set-up cost)
    # deters entry, so fewer people produce (summed over three seeds). At the same prices: since
    # issue 13 the producer price is anchored on the producers' costs and risks (zero-profit
    # entry), so these values would otherwise raise the price they are tested against; the prices
    # are held on the default scenario's costs.
    deterrent = {"private.legal_income_usd_per_week": 10.0, "private.penalty_cost_usd": 100000.0,
                 "private.setup_cost_usd": 1500.0}

    def producers(values):
        total = 0.0
        for s in (1, 2, 3):
            sim = Simulation(scenario(values, events=[]), seed=s, scale=SMALL, years=3).init()
            prices = next(p for p in sim.processes if p.name == "prices")
            prices.costs = chain_costs(scenario())
            sim.tier_price[:] = initial_tier_prices(scenario(), sim.n_regions)
            total += sim.run().results.to_df("active_producers")["value"].sum()
        return total

    assert producers(deterrent) < 0.6 * producers({})


def test_s8_state_exports_earn_foreign_currency_and_face_interdiction():
    """S8: state drugs 'sold for high prices through diplomats or foreign currency earning enterprises'."""
    res = run(years=3)
    exported = res.to_df("exported_g")
    assert {"diplomatic", "trading_company"} <= set(exported.channel)
    assert _sum(res, "state_revenue_usd") > 0
    sc = scenario()
    dests = [d.model_dump(mode="json") | {"interdiction_prob": 1.0} for d in sc.border.destinations]
    border = sc.border.model_dump(mode="json") | {"destinations": dests}
    blocked = run(years=3, border=border)
    assert _sum(blocked, "state_revenue_usd") == 0
    assert _sum(blocked, "delivered_abroad_g") == 0
    assert _sum(blocked, "seized_g", channel="china") > 0


def test_s9_dated_seizure_of_a_state_shipment_in_china():
    """S9: May 2011, a Ministry of Foreign Trade cadre caught in China with bulk methamphetamine."""
    res = run(years=14, scale=SMALL)
    seized = res.to_df("seized_g").query("channel == 'china' and drug == 'methamphetamine'")
    week = seized[(seized.date >= "2011-05-09") & (seized.date <= "2011-05-30")]["value"].sum()
    assert week >= 20000 * 0.999  # the event's 20 kg (full-population units), on arrival
    sc = scenario()
    events = [e.model_dump(mode="json") for e in sc.events if e.type != "state_shipment_seizure"]
    res2 = run(years=14, events=events)
    s2 = res2.to_df("seized_g").query("channel == 'china' and drug == 'methamphetamine'")
    assert s2[(s2.date >= "2011-05-09") & (s2.date <= "2011-05-30")]["value"].sum() < week


def _export_stock(sim) -> float:
    a = sim.actors
    wh = a.of_role(st.WHOLESALER)
    return float(a.stock[wh[a.export_tie[wh] >= 0]].sum())


def test_s10_private_product_mostly_domestic_export_follows_prices(baseline):
    """S10: private product of low quality, 'usually circulated and consumed domestically, but
    sometimes smuggled into China'; the allocation responds to the price in China.

    The price response is tested where it acts, on the wholesalers' allocation in one step from
    the same state: whole-run export totals are limited by supply and vary by a factor of 3
    between seeds at this scale, so a whole-run comparison would test the noise.
    """
    private = _sum(baseline, "produced_g", channel="private")
    exported = _sum(baseline, "exported_g", channel="private")
    assert 0 < exported < 0.25 * private  # sometimes smuggled, mostly domestic

    def exported_share(price_ratio: float, seed: int) -> float:
        """Share of the exporting wholesalers' stock sent in one step, with China's price at
        ``price_ratio`` x the domestic wholesale price (set in the tier prices, so a glut
        at home, which makes any foreign price look high, does not saturate both cases)."""
        sim = Simulation(scenario(), seed=seed, scale=SMALL, years=3).run(until=104)
        while _export_stock(sim) == 0 and sim.steps_done < 150:  # the first week exporters hold stock
            sim.run(until=sim.steps_done + 1)
        sc = sim.scenario
        china = sc.border.destinations[0].price_usd_per_g.value
        sim.tier_price[st.TIER_WHOLESALE] = china / price_ratio
        assert np.allclose(wholesale_price(sim), china / price_ratio)
        a = sim.actors
        wh = a.of_role(st.WHOLESALER)
        wh = wh[a.export_tie[wh] >= 0]
        before = a.stock[wh].sum()
        assert before > 0
        next(p for p in sim.processes if p.name == "border_smuggling").step(sim)
        return 1 - a.stock[wh].sum() / before

    for seed in (1, 2, 3):
        low, high = exported_share(0.8, seed), exported_share(4.0, seed)
        assert 0 < low and high > 1.5 * low, (seed, low, high)
        assert high <= scenario().border.max_export_share.value + 1e-9


def test_s11_tiered_chain_with_stocks_prices_and_markups(baseline):
    """S11: manufacturer -> deliverer -> provincial wholesaler -> seller -> consumer."""
    m = baseline.metrics
    meth = m[(m.metric == "price_usd_per_g") & (m.drug == "methamphetamine")]
    price = meth.pivot_table(index=["step", "region"], columns="channel", values="value")
    price = price[["retail", "wholesale", "producer"]].dropna()
    assert len(price) > 0
    sc = scenario()
    # Markups are outputs of the tiers' costs and risks (issue 13): every tier above the one it
    # buys from, by an amount that moves with the hazard and the market (not a fixed ratio).
    assert (price["retail"] > price["wholesale"]).all() and (price["wholesale"] > price["producer"]).all()
    assert np.ptp((price["retail"] / price["wholesale"]).to_numpy(dtype=float)) > 0
    holders = baseline.to_df("stock_g").groupby("channel")["value"].max()
    for tier in ("producer", "wholesaler", "seller"):
        assert holders[tier] > 0, tier
    assert baseline.to_df("in_transit_g")["value"].max() > 0  # deliverers carrying lots
    # Prices respond to supply: with no domestic supply at all (no skilled producers, no
    # siphoning) shortage drives the retail price up; with many producers a glut drives it down.
    sc = scenario()
    cities = [c.model_dump(mode="json") | {"skilled_share": 0.0} for c in sc.private.chemical_cities]
    private = sc.private.model_dump(mode="json") | {"chemical_cities": cities, "initial_producers_per_million": 0}
    scarce = run({"state.siphon_rate": 0.0}, years=3, events=[], private=private)
    glut = run({"private.max_entry_rate": 0.01, "private.output_g_per_week": 1000.0}, years=3, events=[])

    def mean_price(r):
        q = "drug == 'methamphetamine' and channel == 'retail' and step > 52"
        return r.to_df("price_usd_per_g").query(q)["value"].mean()

    normal = run(years=3, events=[])  # prices now return to their cost anchor: compare with it
    assert mean_price(scarce) > mean_price(normal) > mean_price(glut)


def test_s12_arrest_exposes_only_tied_actors():
    """S12: sellers work alone or only with their wholesaler: an arrested seller exposes only its
    own wholesaler, not the other sellers of that wholesaler, nor anyone else."""
    a = st.Actors(3)
    w1 = a.add(st.WHOLESALER, np.array([0]), np.array([10]), 0)[0]
    w2 = a.add(st.WHOLESALER, np.array([0]), np.array([11]), 0)[0]
    sellers = a.add(st.SELLER, np.zeros(3, int), np.array([20, 21, 22]), 0)
    a.supplier[sellers] = [w1, w1, w2]
    smug = a.add(st.SMUGGLER, np.array([0]), np.array([30]), 0)[0]
    a.export_tie[w1] = smug
    assert exposed_by(a, np.array([sellers[0]])).tolist() == [w1]
    assert set(exposed_by(a, np.array([w1])).tolist()) == {sellers[0], sellers[1], smug}
    assert exposed_by(a, np.array([smug])).tolist() == [w1]
    # In the simulation: with exposure off, only the direct hazard arrests wholesalers.
    only_sellers = {"enforcement.weekly_arrest_prob.producer": 0.001,
                    "enforcement.weekly_arrest_prob.deliverer": 0.001,
                    "enforcement.weekly_arrest_prob.smuggler": 0.0005,
                    "enforcement.weekly_arrest_prob.wholesaler": 0.0005,
                    "enforcement.weekly_arrest_prob.seller": 0.015}
    exposed = run(only_sellers | {"enforcement.exposure_arrest_prob": 0.9}, years=4, events=[])
    sealed = run(only_sellers | {"enforcement.exposure_arrest_prob": 0.1}, years=4, events=[])
    assert _sum(exposed, "arrests", channel="wholesaler") > 1.5 * _sum(sealed, "arrests", channel="wholesaler")


def test_s13_border_smuggling_with_guards_bribes_and_closure():
    """S13: wholesalers smuggle to China 'with cooperation from a border smuggler, border guards,
    and a Chinese counterpart'."""
    base = run(SUPPLIED, years=6, events=[])
    assert _sum(base, "bribes_usd") > 0
    honest = run(SUPPLIED | {"border.bribe_acceptance": 0.1, "border.detection_prob": 0.7}, years=6, events=[])
    assert _sum(honest, "bribes_usd") < 0.5 * _sum(base, "bribes_usd")
    def caught_share(r):  # share of the lots presented at the border that the guards seize
        seized = _sum(r, "seized_g", channel="border_guard")
        return seized / (seized + _sum(r, "exported_g", channel="private"))

    assert caught_share(honest) > 1.5 * caught_share(base)
    closed = run(SUPPLIED, years=6, events=[{"type": "border_closure", "start": "1998-01-05", "name": "closed"}])
    assert _sum(closed, "exported_g", channel="private") == 0
    assert _sum(closed, "bribes_usd") == 0
    # The product stays home: closing the border, in the busiest export week of 2001, leaves the
    # wholesalers holding what they would have handed to smugglers, against the same run (same
    # seed, identical until then) with the border open. Measured over the first weeks: later,
    # deliveries, prices and production adjust and the difference goes either way by seed.
    open_ = run(SUPPLIED, years=4.2, events=[])
    exports = open_.to_df("exported_g").query("channel == 'private'").groupby("step")["value"].sum()
    week = int(exports.loc[157:208].idxmax())  # 2001
    assert exports.loc[week] > 0
    start = open_.info["start"] + dt.timedelta(weeks=week)
    shut = run(SUPPLIED, years=4.2, events=[{"type": "border_closure", "start": start.isoformat(), "name": "closed"}])

    def wholesalers_stock(r, first, last):
        s = r.to_df("stock_g").query("channel == 'wholesaler'").groupby("step")["value"].sum()
        return s.loc[first:last].mean()

    assert wholesalers_stock(shut, 0, week - 1) == wholesalers_stock(open_, 0, week - 1)
    assert wholesalers_stock(shut, week, week + 2) > wholesalers_stock(open_, week, week + 2)


def test_s14_onward_flows_to_japan_and_south_korea_via_china():
    """S14: 'These drugs are also delivered into Japan and South Korea via China'."""
    sc = scenario()
    # State lots go to China only, so anything reaching Japan/South Korea went via China.
    chans = [c.model_dump(mode="json") | {"destinations": {"China": 1.0}} for c in sc.state.export_channels]
    state = sc.state.model_dump(mode="json") | {"export_channels": chans}
    res = run(years=4, state=state)
    assert _sum(res, "delivered_abroad_g", region="Japan") > 0
    assert _sum(res, "delivered_abroad_g", region="South Korea") > 0
    assert _sum(res, "delivered_abroad_g", region="Japan", channel="private") > 0
    no_onward = run({"border.destinations[1].onward_share": 0.0, "border.destinations[2].onward_share": 0.0},
                    years=4, state=state)
    assert _sum(no_onward, "delivered_abroad_g", region="Japan") == 0
    assert _sum(no_onward, "delivered_abroad_g", region="South Korea") == 0
