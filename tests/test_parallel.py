"""Chunked passes over the users on several threads: results never depend on the thread count."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from conftest import SMALL, conservation_gap
from narcoflow.engine import Simulation, parallel
from narcoflow.engine import state as st
from narcoflow.engine.draws import counter_key, uniform
from narcoflow.engine.processes import retail


def _run_chunked(monkeypatch, threads: str, chunk_users: int = 20):
    """A miniature run on the full-scale code paths: several chunks, and the user table reordered
    every 8 weeks (both thresholds lowered)."""
    monkeypatch.setenv("NARCOFLOW_THREADS", threads)
    monkeypatch.setattr(parallel, "CHUNK_USERS", chunk_users)
    monkeypatch.setattr(retail, "SORT_MIN_USERS", 2 * chunk_users)
    sim = Simulation("north-korea-2011", seed=4, scale=SMALL, years=4).run()
    return sim


def test_chunked_retail_is_identical_on_one_and_two_threads(monkeypatch):
    """At this size the users span several chunks (CHUNK_USERS lowered), so retail runs on a
    thread pool: one thread and two threads give the same bits, and grams are conserved."""
    one = _run_chunked(monkeypatch, "1")
    assert parallel.n_chunks(one.users.n) == parallel.MAX_CHUNKS  # the chunked path was taken
    two = _run_chunked(monkeypatch, "2")
    a, b = one.results.metrics, two.results.metrics
    assert a["value"].to_numpy().tobytes() == b["value"].to_numpy().tobytes()
    assert np.array_equal(one.users.view("seller"), two.users.view("seller"))
    assert one.results.run_id == two.results.run_id
    assert conservation_gap(a) < 1e-9
    assert one.results.total("consumed_g") > 0


def test_chunk_count_depends_on_the_table_only():
    assert parallel.n_chunks(0) == parallel.n_chunks(parallel.CHUNK_USERS) == 1
    assert parallel.n_chunks(2 * parallel.CHUNK_USERS) == 2
    assert parallel.n_chunks(10**9) == parallel.MAX_CHUNKS
    cut = parallel.bounds(10, 3)
    assert cut[0] == 0 and cut[-1] == 10 and all(x <= y for x, y in zip(cut[:-1], cut[1:], strict=True))


def test_bad_thread_setting_names_the_variable(monkeypatch):
    monkeypatch.setenv("NARCOFLOW_THREADS", "zero")
    with pytest.raises(ValueError, match="NARCOFLOW_THREADS must be an integer >= 1"):
        parallel.run(lambda i: i, 3)
    monkeypatch.setenv("NARCOFLOW_THREADS", "2")
    assert parallel.run(lambda i: i * i, 5) == [0, 1, 4, 9, 16]


def test_counter_draws_are_uniform_and_pure():
    key = counter_key(1, "retail", 10)
    draws = np.array([uniform(key, c) for c in range(20_000)])
    assert ((draws >= 0) & (draws < 1)).all()
    assert stats.kstest(draws, "uniform").pvalue > 1e-3
    # Neighbouring counters (a person's search and leave draws) are not correlated.
    assert abs(np.corrcoef(draws[0::2], draws[1::2])[0, 1]) < 0.05
    assert uniform(key, 17) == uniform(key, 17)
    other_step = counter_key(1, "retail", 11)
    assert uniform(other_step, 17) != uniform(key, 17)
    assert counter_key(1, "retail", 10) == key != counter_key(2, "retail", 10)


def test_sort_for_locality_orders_by_region_then_seller_and_keeps_the_table_whole():
    sim = Simulation("north-korea-2011", seed=2, scale=SMALL, years=6).run()
    u, a = sim.users, sim.actors
    before = {f: u.view(f).copy() for f in u._fields}
    counts_before = u.region_counts.copy()
    sellers_sorted, starts, counts = a.by_region(st.SELLER, sim.n_regions)
    assert u.n > 100
    assert (u.view("heavy") == st.HEAVY).any() and (u.view("heavy") == st.LIGHT).any()
    u.sort_for_locality(sellers_sorted, starts, counts, a.cap)
    region, seller = u.view("region"), u.view("seller")
    assert (np.diff(region) >= 0).all()  # grouped by region, in region order
    rank = np.full(a.cap, -1)
    for r in range(sim.n_regions):
        rank[sellers_sorted[starts[r]: starts[r] + counts[r]]] = np.arange(counts[r])
    key = np.where(seller >= 0, rank[np.maximum(seller, 0)], -1)
    for r in np.unique(region):  # within a region: users without a seller, then by seller
        assert (np.diff(key[region == r]) >= 0).all()
    # The same rows, permuted whole (each person keeps its region, seller, use, drug and use state).
    order = np.argsort(before["person"])
    new_order = np.argsort(u.view("person"))
    for f in u._fields:
        assert np.array_equal(before[f][order], u.view(f)[new_order]), f
    assert (u.row_of_person[u.view("person")] == np.arange(u.n)).all()
    assert (u.region_counts == counts_before).all()
