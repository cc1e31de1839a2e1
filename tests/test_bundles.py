"""Table bundles (`narcoflow.engine.bundles`): a kernel given ``table.cols`` reads and writes the
table's own arrays, and the bundle follows the table when it grows or is copied."""

from __future__ import annotations

import copy

import numpy as np
from numba import njit

from narcoflow.engine import state as st


@njit(cache=True)
def _add_grams(a, slots, grams):
    stock = a.stock
    for s in slots:
        stock[s, 0] += grams
    return a.stock.shape[0]


def test_kernel_writes_reach_the_table():
    a = st.Actors(n_drugs=2, n_regions=1, capacity=4)
    slots = a.add(st.SELLER, np.zeros(2, dtype=np.int64), np.array([5, 6]), step=0)
    assert _add_grams(a.cols, slots, 1.5) == a.cap
    assert a.stock[slots, 0].tolist() == [1.5, 1.5]


def test_bundle_follows_growth_and_copies():
    a = st.Actors(n_drugs=1, n_regions=1, capacity=2)
    first = a.cols
    assert a.cols is first  # built once, reused while the arrays stay
    slots = a.add(st.SELLER, np.zeros(8, dtype=np.int64), np.arange(8), step=0)  # grows the table
    assert a.cols is not first
    assert _add_grams(a.cols, slots, 2.0) == a.cap >= 8
    b = copy.deepcopy(a)
    _add_grams(b.cols, slots, 1.0)
    assert a.stock[slots, 0].tolist() == [2.0] * 8 and b.stock[slots, 0].tolist() == [3.0] * 8


def test_every_table_has_a_bundle():
    sh = st.Shipments()
    sh.add(grams=[1.0, 2.0], drug=[0, 1])
    u = st.Users(n_persons=10, n_regions=2)
    p = st.Persons(np.array([3, 4]))
    for table in (sh, u, p):
        assert table.cols is table.cols


@njit(cache=True)
def _scaled(p, x):
    return x * p.rate + p.weights[1]


def test_parameter_bundle():
    from narcoflow.engine import bundles

    p = bundles.make(rate=0.5, weights=np.array([1.0, 2.0]))
    assert _scaled(p, 4.0) == 4.0
    assert p.rate == 0.5 and p.weights.tolist() == [1.0, 2.0]
    q = copy.deepcopy(p)
    q.weights[1] = 10.0
    assert _scaled(q, 4.0) == 12.0 and _scaled(p, 4.0) == 4.0


def test_in_place_update_keeps_the_bundle():
    """``table.col += x`` reassigns the same array: the bundle is kept (not rebuilt every step)."""
    from narcoflow.engine.ledger import Ledger

    ledger = Ledger(2)
    first = ledger.cols
    ledger.consumed += np.array([1.0, 2.0])
    assert ledger.cols is first
    ledger.consumed = np.zeros(2)
    assert ledger.cols is not first
