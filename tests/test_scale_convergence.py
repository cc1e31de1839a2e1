"""Scale convergence (issue 13): the numerical fixes that keep a small-scale run's rules the same
in expectation as a large-scale run's. Each test fails if its cause returns; the benchmark
itself (`benchmarks/scale_convergence.py`, BENCHMARKS.md) measures the outcomes."""

from __future__ import annotations

import numpy as np

from narcoflow.engine import state as st
from narcoflow.engine.draws import kernel_stream
from narcoflow.engine.processes.recruitment import recruit_counts
from narcoflow.engine.simulation import Simulation


def test_an_emptied_tier_is_manned_again_at_once():
    """A region that lost all its wholesalers (one actor at small scales) gets them back in one
    week, not at recruitment_rate (0.15: 1 / 0.15 weeks more of a region without a chain)."""
    sim = Simulation("north-korea-2011", seed=3, scale=0.005, years=1).init()
    a = sim.actors
    wh = a.of_role(st.WHOLESALER)
    regions = np.unique(a.region[wh])
    assert len(regions) >= 5  # the floor gives one per region with sellers
    sim.arrest_actors(wh)
    sim.run(until=1)
    has_sellers = a.count[st.SELLER] > 0
    assert (a.count[st.WHOLESALER][has_sellers] >= 1).all()


def test_recruitment_keeps_its_rate_where_the_tier_has_actors():
    state = kernel_stream(1, "test")
    base = np.full(2000, 60.0)  # 5 wholesaler positions per region at 12 sellers each
    have = np.full(2000, 2)  # 3 missing, 2 present: filled at rate 0.15
    k = recruit_counts(state, base, 12.0, have, 0.15, 1.0)
    assert abs(k.mean() - 3 * 0.15) < 0.05
    k0 = recruit_counts(state, base, 12.0, np.zeros(2000, dtype=np.int64), 0.15, 1.0)
    assert (k0 == 5).all()  # none left: all filled at once


def test_skilled_pools_are_unbiased_at_small_scales():
    """The expected skilled pool is the scaled one: at scale 0.005 Sunchon's is 0.74 persons,
    which plain rounding made 1 (35 % too many) and Pyongsong's 1.42, rounded to 1."""
    sim = Simulation("north-korea-2011", seed=1, scale=0.005, years=1).init()
    pe = next(p for p in sim.processes if p.name == "producer_entry_exit")
    cities = sim.scenario.private.chemical_cities
    expected = np.array([c.population * sim.scale * c.skilled_share.value for c in cities])
    pools = []
    for seed in range(400):
        sim.seed = seed
        pe.init(sim)
        pools.append(pe.p.pool_sizes.copy())
    mean = np.mean(pools, axis=0)
    assert np.all(np.abs(mean - expected) < 0.12), (mean, expected)
    sim.seed = 7  # and the same seed draws the same pools (init is idempotent)
    pe.init(sim)
    first = pe.p.pool_sizes.copy()
    pe.init(sim)
    assert (pe.p.pool_sizes == first).all()


def _benchmark():
    """benchmarks/scale_convergence.py as a module (the folder is not a package)."""
    import importlib.util
    import sys
    from pathlib import Path

    folder = Path(__file__).resolve().parents[1] / "benchmarks"
    sys.path.insert(0, str(folder))
    try:
        spec = importlib.util.spec_from_file_location("scale_convergence_bench", folder / "scale_convergence.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(folder))
    return module


def test_the_benchmark_sets_parameters_for_controlled_experiments():
    """``--set PATH=VALUE`` sets the parameter at PATH in every run (`with_values`); a bad one is
    named."""
    import pytest

    from narcoflow.scenario import load

    bench = _benchmark()
    values = bench.values_of(["private.demand_pull=0", "enforcement.exposure_arrest_prob=0.1"])
    sc = bench.scenario_with("north-korea-2011-calibrated", values)
    assert sc.private.demand_pull.value == 0.0
    assert sc.enforcement.exposure_arrest_prob.value == 0.1
    assert sc.private.output_g_per_week.value == load("north-korea-2011-calibrated").private.output_g_per_week.value
    with pytest.raises(ValueError, match="PATH=VALUE"):
        bench.values_of(["private.demand_pull"])
    with pytest.raises(ValueError, match="not a number"):
        bench.values_of(["private.demand_pull=high"])
