"""Invariants, never loosened: conservation of grams and bit-identical reproducibility."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hs

import narcoflow as nf
from conftest import SMALL, conservation_gap, run, scenario
from narcoflow.engine import Simulation
from narcoflow.engine.processes import Process, default_processes
from narcoflow.errors import ConservationError
from narcoflow.scenario import uncertain_parameters


def test_conservation_builtin_scenario(baseline):
    assert conservation_gap(baseline.metrics) < 1e-9
    produced = baseline.total("produced_g")
    assert produced > 0
    # Every destination of product is used in the reference run.
    for metric in ("consumed_g", "seized_g", "delivered_abroad_g"):
        assert baseline.total(metric) > 0, metric


PARAMS = uncertain_parameters(scenario())
NAMES = sorted(PARAMS)


@hs.composite
def random_scenario_values(draw):
    """A random valid scenario: a random subset of uncertain parameters anywhere in their range."""
    chosen = draw(hs.lists(hs.sampled_from(NAMES), min_size=1, max_size=25, unique=True))
    values = {}
    for name in chosen:
        lo, hi = PARAMS[name].range
        values[name] = draw(hs.floats(lo, hi, allow_nan=False, allow_infinity=False))
    return values


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values=random_scenario_values(), seed=hs.integers(0, 2**31 - 1))
def test_conservation_random_scenarios(values, seed):
    res = run(values, seed=seed, scale=0.001, years=2)
    assert conservation_gap(res.metrics) < 1e-9


def test_ledger_catches_a_leak():
    """The ledger has teeth: a process that loses product makes the run fail."""

    class Leak(Process):
        name = "leak"

        def step(self, sim):
            if sim.t == 30:
                sim.actors.stock[sim.actors.active] *= 0.5

    procs = default_processes()
    procs.insert(8, Leak())
    sim = Simulation("north-korea-2011", seed=1, scale=SMALL, years=1, processes=procs)
    with pytest.raises(ConservationError, match="out of balance at step 30"):
        sim.run()


def test_same_seed_identical_other_seed_differs():
    a = nf.run("north-korea-2011", seed=7, scale=SMALL, years=3).metrics
    b = nf.run("north-korea-2011", seed=7, scale=SMALL, years=3).metrics
    c = nf.run("north-korea-2011", seed=8, scale=SMALL, years=3).metrics
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    assert a["value"].to_numpy().tobytes() == b["value"].to_numpy().tobytes()
    assert not (len(a) == len(c) and np.array_equal(a["value"].to_numpy(), c["value"].to_numpy()))


def test_run_ids_are_deterministic():
    a = nf.run("north-korea-2011", seed=7, scale=SMALL, years=0.5)
    b = nf.run("north-korea-2011", seed=7, scale=SMALL, years=0.5)
    c = nf.run("north-korea-2011", seed=8, scale=SMALL, years=0.5)
    assert a.run_id == b.run_id != c.run_id


def test_streams_are_independent_of_other_processes():
    """Common random numbers: turning state exports off does not change private production draws
    before any product could have interacted (first weeks)."""
    base = run(years=0.2)
    no_exports = run({"state.export_channels[0].share_of_stock_per_week": 0.05}, years=0.2)
    p = base.to_df("produced_g")
    q = no_exports.to_df("produced_g")
    pd.testing.assert_frame_equal(p[p.channel == "private"].reset_index(drop=True),
                                  q[q.channel == "private"].reset_index(drop=True))


def test_tidy_metrics_contract(baseline):
    m = baseline.metrics
    assert m.columns.tolist() == ["step", "date", "metric", "drug", "region", "channel", "value"]
    required = {"produced_g", "siphoned_g", "consumed_g", "seized_g", "exported_g", "delivered_abroad_g",
                "stock_g", "in_transit_g", "price_usd_per_g", "users", "active_producers",
                "active_sellers", "arrests", "bribes_usd", "state_revenue_usd"}
    assert required <= set(m["metric"].unique())
    assert set(m.loc[m.metric == "produced_g", "channel"].unique()) == {"state", "private"}
    assert set(m.loc[m.metric == "delivered_abroad_g", "region"].unique()) == {"China", "Japan", "South Korea"}
    assert m["step"].max() == baseline.info["steps"] - 1
    assert not m.duplicated(["step", "metric", "drug", "region", "channel"]).any()


def test_incremental_counts_match_a_recount():
    """The counts the engine keeps up to date instead of recounting each week (actors per role
    and region, users and jailed persons per region) agree with a recount, at every point of a
    run split by ``run(until=)``, and person flags agree with the tables."""
    from narcoflow.engine import state as st

    sim = Simulation("north-korea-2011", seed=5, scale=SMALL, years=3)
    for until in (1, 40, 100, sim.n_steps):
        sim.run(until=until)
        a, u, pf = sim.actors, sim.users, sim.persons.flags
        for role in range(len(st.ROLE_NAMES)):
            slots = np.flatnonzero(a.active & (a.role == role))
            assert (a.count[role] == np.bincount(a.region[slots], minlength=sim.n_regions)).all()
        assert (u.region_counts == np.bincount(u.view("region"), minlength=sim.n_regions)).all()
        assert (u.row_of_person[u.view("person")] == np.arange(u.n)).all()
        jailed = sim.jail.persons()
        assert (sim.jail.by_region == np.bincount(sim.persons.region_of(jailed), minlength=sim.n_regions)).all()
        assert ((pf & st.JAILED) != 0).sum() == len(np.unique(jailed))
        assert ((pf & st.USER) != 0).sum() == u.n
        assert ((pf & st.ACTOR) != 0).sum() == a.active.sum()
        active = np.flatnonzero(a.active)
        assert np.array_equal(a.slots_of_persons(a.person[active]), active)  # the person -> slot map
        assert (pf & ~np.uint8(st.USER | st.ACTOR | st.JAILED | st.SKILLED | st.EVER)).max() == 0  # no scratch flag
        # use states: every user has ever used; ever-used and heavy counts match a recount
        assert ((pf & st.USER) != 0).sum() == ((pf & (st.USER | st.EVER)) == (st.USER | st.EVER)).sum()
        ever = np.flatnonzero(pf & st.EVER)
        assert (u.ever.counts == np.bincount(sim.persons.region_of(ever), minlength=sim.n_regions)).all()
        heavy_rows = u.view("heavy") == st.HEAVY
        assert (u.heavy_counts == np.bincount(u.view("region")[heavy_rows], minlength=sim.n_regions)).all()
