"""Demand with use states never / light / heavy / former (issue 13, mechanism 2; Behrens et al.
1999-2000). Each test fails when its part of the mechanism is removed: ever-used never decreases,
former users are not never-users (relapse is not an initiation), escalation moves light users to
heavy, the visible harm of heavy use damps initiation, heavy users consume more, spillover seeds
provinces without users."""

from __future__ import annotations

import numpy as np
import pytest

from narcoflow.engine import Simulation, bundles
from narcoflow.engine import state as st
from narcoflow.engine.processes.demand import initiation_rates
from narcoflow.scenario import load, with_values

SCALE = 0.0005


def scenario(**consumption):
    sc = load("north-korea-2011")
    values = {}
    for key, value in consumption.items():
        values[f"consumption.{key}.range"] = None
        values[f"consumption.{key}"] = value
    return with_values(sc, values) if values else sc


def ever(sim) -> np.ndarray:
    return sim.users.ever.counts.copy()


def test_ever_used_never_decreases_in_any_province_any_week():
    # high quitting and arrests: many users leave, none may leave the ever-used count
    sim = Simulation(scenario(quit_rate_per_week=0.05, quit_heavy_per_week=0.05), seed=3, scale=SCALE,
                     years=4).init()
    before = ever(sim)
    quits = 0
    for _ in range(sim.n_steps):
        n = sim.users.n
        sim.run(until=sim.steps_done + 1)
        now = ever(sim)
        assert (now >= before).all()
        quits += max(n - sim.users.n, 0)
        before = now
    assert quits > 0
    flags = sim.persons.flags
    assert (ever(sim) == np.bincount(sim.persons.region_of(np.flatnonzero(flags & st.EVER)),
                                     minlength=sim.n_regions)).all()
    m = sim.results.metrics
    last = m[(m["metric"] == "ever_used") & (m["step"] == m["step"].max())]
    assert last["value"].sum() == pytest.approx(ever(sim).sum() / SCALE)


def test_former_users_relapse_to_light_use_without_a_new_initiation():
    # no initiation at all; quitting and relapse both fast: the only new users are former users
    sc = scenario(base_initiation_per_week=0.0, peer_initiation_per_week=0.0, quit_rate_per_week=0.1,
                  relapse_per_week=0.1, escalation_per_week=0.0)
    sim = Simulation(sc, seed=2, scale=SCALE, years=20 / 52.1775).init()
    ever0 = ever(sim).sum()
    initial = set(np.flatnonzero(sim.persons.flags & st.USER).tolist())
    sim.run()
    users_now = set(sim.users.view("person").tolist())
    assert ever(sim).sum() == ever0  # nobody new has ever used
    assert users_now <= initial  # every user is an initial one, many of them back after quitting
    assert sim.users.n > 0.3 * len(initial)  # without relapse: about 0.9^20 = 12 % left
    assert (sim.users.view("heavy") == st.LIGHT).all()  # relapse goes to light use
    assert sim.results.total("initiations") == 0


def test_former_users_are_not_drawn_as_never_users():
    # strong initiation, no relapse: a former user never starts again (an SIS model restarts them)
    sc = scenario(base_initiation_per_week=0.02, quit_rate_per_week=0.1, relapse_per_week=0.0)
    sim = Simulation(sc, seed=7, scale=SCALE, years=30 / 52.1775).init()
    sim.run(until=10)
    flags = sim.persons.flags
    former = np.flatnonzero(((flags & st.EVER) != 0) & ((flags & st.USER) == 0))
    assert len(former) > 20
    sim.run()
    assert not (sim.persons.flags[former] & st.USER).any()
    assert sim.results.total("initiations") > 0


def test_escalation_moves_light_users_to_heavy_use():
    fast = Simulation(scenario(escalation_per_week=1.0, quit_rate_per_week=0.0, quit_heavy_per_week=0.0),
                      seed=4, scale=SCALE, years=8 / 52.1775).init()
    none = Simulation(scenario(escalation_per_week=0.0), seed=4, scale=SCALE, years=8 / 52.1775).init()
    assert fast.users.heavy_counts.sum() == 0  # everybody starts light
    fast.run()
    none.run()
    assert fast.users.n > 3
    assert none.users.heavy_counts.sum() == 0
    initial = fast.users.view("heavy")
    assert (initial == st.HEAVY).mean() > 0.8
    m = fast.results.metrics
    heavy = m[(m["metric"] == "users_by_state") & (m["channel"] == "heavy")]
    assert heavy.groupby("step")["value"].sum().is_monotonic_increasing


def _rates(heavy, deterrence, *, spillover=0.0, users=None):
    n = 3
    sizes = np.full(n, 1000, dtype=np.int64)
    users_r = np.array([100, 100, 0] if users is None else users, dtype=np.int64)
    heavy_r = np.array(heavy, dtype=np.int64)
    p = bundles.make(base=0.0, peer=0.02, deterrence=float(deterrence), spillover=float(spillover),
                     innovators=np.ones(n), contact=np.array([0.5, 0.1, 0.5]), max_contact=0.5,
                     reference_price=15.0, elasticity=0.5)
    return initiation_rates(sizes, users_r, heavy_r, np.ones(n), np.ones(n), np.full(n, 15.0), p)


def test_the_harm_of_heavy_use_damps_initiation():
    light_only = _rates([0, 0, 0], deterrence=4)
    with_heavy = _rates([30, 0, 0], deterrence=4)
    assert with_heavy[0] < 0.5 * light_only[0]  # 70 light, 30 heavy: exp(-4 x 30/70) ~ 0.18 x 0.7
    assert with_heavy[0] == pytest.approx(0.02 * 70 / 1000 * np.exp(-4 * 30 / 70))
    assert with_heavy[1] == light_only[1]  # another province's heavy users do not deter here
    assert _rates([30, 0, 0], deterrence=0)[0] == pytest.approx(0.02 * 70 / 1000)
    # in the Demand step: the same market, the same draws, heavy users deter
    counts, ever0 = {}, None
    for q in (0.0, 8.0):
        sim = Simulation(scenario(harm_deterrence=q, peer_initiation_per_week=2.0, base_initiation_per_week=0.0),
                         seed=5, scale=SCALE, years=1).init()
        sim.users.escalate(np.arange(0, sim.users.n, 2))  # half of the initial users heavy
        sim.week_demand[:] = sim.week_consumed[:] = 1.0  # full availability
        ever0 = sim.users.ever.counts.sum()  # the same initial users in both runs
        demand = next(p for p in sim.processes if p.name == "demand")
        for _ in range(10):
            demand.step(sim)
        counts[q] = sim.users.ever.counts.sum()
    assert counts[8.0] - ever0 < 0.2 * (counts[0.0] - ever0)


def test_spillover_seeds_a_province_without_users_by_contact():
    alone = _rates([0, 0, 0], deterrence=0, spillover=0.0, users=[100, 0, 0])
    spill = _rates([0, 0, 0], deterrence=0, spillover=0.5, users=[100, 0, 0])
    assert alone[1] == alone[2] == 0.0 and spill[2] > 0.0  # provinces 1 and 2 have no users
    assert spill[1] < spill[2]  # weighted by its own contact (border access 0.1 vs 0.5)


def test_heavy_users_consume_heavy_use_ratio_times_more():
    sc = scenario(escalation_per_week=0.0)
    a = Simulation(sc, seed=6, scale=SCALE, years=1).init()
    b = Simulation(sc, seed=6, scale=SCALE, years=1).init()
    b.users.escalate(np.arange(b.users.n))  # every initial user heavy
    a.run(until=1)
    b.run(until=1)
    ratio = sc.consumption.heavy_use_ratio.value
    assert b.week_demand.sum() == pytest.approx(ratio * a.week_demand.sum())
