"""State lots keep their real size at every scale (issue 13, mechanism 6; src/narcoflow/engine/
processes/state_exports.py): a scaled-down run ships fewer lots of the full size, not smaller
lots, and what a lot bigger than the state's stock lacks is production brought forward, so the
ledger still balances and the state never ships more than it has made."""

from __future__ import annotations

import numpy as np
import pytest

import narcoflow as nf
from conftest import conservation_gap
from narcoflow.scenario import load

YEARS = 6  # 1998-2003: the state's peak (T6), when lots leave every few weeks at scale 0.02


def lots_of(metrics, scale: float, channel: str) -> np.ndarray:
    """Grams per week that left through ``channel``, in the run's own (scaled) grams."""
    e = metrics[(metrics["metric"] == "exported_g") & (metrics["channel"] == channel)]
    weekly = e.groupby("step")["value"].sum() * scale
    return weekly[weekly > 0].to_numpy()


@pytest.fixture(scope="module")
def runs():
    return {scale: nf.run("north-korea-2011", seed=2, scale=scale, years=YEARS) for scale in (0.002, 0.02)}


def test_lot_size_does_not_depend_on_scale(runs):
    """Every week's shipments of a channel are whole lots of the channel's real size (Q4: 100 kg
    by sea; Q27: 20 kg per diplomat), at scale 0.002 as at 0.02; the earlier rule shipped lots of
    size x scale."""
    channels = {c.name: c.lot_g.value for c in load("north-korea-2011").state.export_channels}
    for name, lot in channels.items():
        per_scale = {}
        for scale, res in runs.items():
            weekly = lots_of(res.metrics, scale, name)
            counts = weekly / lot
            assert np.allclose(counts, np.round(counts)) and (np.round(counts) >= 1).all(), (name, scale, weekly[:5])
            per_scale[scale] = weekly.sum() / np.round(counts).sum() if len(weekly) else np.nan
        assert per_scale[0.02] == pytest.approx(lot), (name, per_scale)
        assert np.isnan(per_scale[0.002]) or per_scale[0.002] == pytest.approx(lot), (name, per_scale)
    # fewer lots at the smaller scale, not smaller ones
    n = {s: sum(len(lots_of(r.metrics, s, c)) for c in channels) for s, r in runs.items()}
    assert n[0.002] < n[0.02]


def test_lot_bigger_than_the_stock_is_production_brought_forward(runs):
    """At scale 0.002 a 100 kg lot outweighs years of state output: it leaves at full size, the
    output is recorded as produced when it leaves, and the ledger balances (no negative stock)."""
    for scale, res in runs.items():
        assert conservation_gap(res.metrics) < 1e-9, scale
        m = res.metrics
        state = ~m["channel"].isin(["private"])
        produced = m[(m["metric"] == "produced_g") & (m["channel"] == "state")]["value"].sum()
        exported = m[(m["metric"] == "exported_g") & state]["value"].sum()
        assert exported <= produced * (1 + 1e-12), scale


def test_small_scale_run_with_an_advance_balances():
    """A run where the first lot leaves with an almost empty stock: the ledger check of every
    step (Simulation.step raises ConservationError) passes and the lot is recorded as produced."""
    res = nf.run("north-korea-2011", seed=2, scale=0.002, years=YEARS)
    lots = lots_of(res.metrics, 0.002, "diplomatic")
    assert len(lots) and lots.min() >= 20000  # a lot = more than 0.002 x a year of output
    assert conservation_gap(res.metrics) < 1e-9


def test_state_lots_are_reproducible(runs):
    again = nf.run("north-korea-2011", seed=2, scale=0.02, years=YEARS).metrics
    first = runs[0.02].metrics
    key = (first["metric"] == "exported_g") | (first["metric"] == "produced_g")
    key2 = (again["metric"] == "exported_g") | (again["metric"] == "produced_g")
    assert first[key]["value"].to_numpy().tobytes() == again[key2]["value"].to_numpy().tobytes()
    other = nf.run("north-korea-2011", seed=3, scale=0.02, years=YEARS).metrics
    key3 = other["metric"] == "exported_g"
    assert not np.array_equal(first[first["metric"] == "exported_g"]["value"].to_numpy(),
                              other[key3]["value"].to_numpy())
