"""State export lots (issue 13, mechanism 6; src/narcoflow/engine/processes/state_exports.py): a
channel ships the full-scale NUMBER of lots, each of ``lot_g x scale`` simulated grams, so a
REPORTED lot (grams / scale) has its real size ``lot_g`` at every scale. Full-size simulated lots
at small scale (commit 74d0d3d) report as lot / scale and were reverted (docs/model.md)."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import conservation_gap
from narcoflow.engine import Simulation
from narcoflow.scenario import load

YEARS = 6  # 1998-2003: the state's peak (T6)
SCALES = (0.002, 0.02)


def run_logging_lots(scale: float, seed: int = 2):
    """Run the built-in scenario and return (simulation, lots): one row per regular state lot
    shipped (channel index, simulated grams), read from the shipments StateExports adds each
    week (not the S9 lot, which is forced; not the onward legs Transit adds later)."""
    sim = Simulation(load("north-korea-2011"), seed=seed, scale=scale, years=YEARS).init()
    exports = next(p for p in sim.processes if p.name == "state_exports")
    lots: list[tuple[int, float]] = []
    step = exports.step

    def logging_step(sim):
        before = sim.shipments.n
        step(sim)
        new = slice(before, sim.shipments.n)
        regular = ~sim.shipments.view("forced")[new]
        lots.extend(
            zip(
                sim.shipments.view("channel")[new][regular].tolist(),
                sim.shipments.view("grams")[new][regular].tolist(),
                strict=True,
            )
        )

    exports.step = logging_step
    sim.run()
    return sim, np.array(lots, dtype=float).reshape(-1, 2)


@pytest.fixture(scope="module")
def runs():
    return {scale: run_logging_lots(scale) for scale in SCALES}


def test_reported_lot_size_is_the_real_size_at_every_scale(runs):
    """Every regular lot, divided by the scale, weighs its channel's lot_g (Q4: 100 kg by sea;
    Q27: 20 kg per diplomat), at 0.002 as at 0.02; and the number of lots is the full-scale
    one, about the same at both scales. Full-size simulated lots (lot_g grams, reported
    lot_g / scale) or lots that shrink with the scale fail it."""
    channels = [c.lot_g.value for c in load("north-korea-2011").state.export_channels]
    counts = {}
    for scale, (sim, lots) in runs.items():
        assert len(lots), scale
        for c, lot in enumerate(channels):
            mine = lots[lots[:, 0] == c, 1]
            assert len(mine), (scale, c)
            np.testing.assert_allclose(mine / scale, lot, rtol=1e-12, err_msg=f"scale {scale}, channel {c}")
        counts[scale] = len(lots)
        # the metrics tell the same: a week's reported exports of a channel are whole real lots
        m = sim.results.metrics
        for c, lot in enumerate(channels):
            e = m[(m["metric"] == "exported_g") & (m["channel"] == sim.channel_names[c])]
            weekly = e.groupby("step")["value"].sum().to_numpy()
            weekly = weekly[weekly > 0] / lot
            assert np.allclose(weekly, np.round(weekly), rtol=1e-9), (scale, c, weekly[:5])
    # the full-scale number of lots at both scales (not 10 times fewer at the smaller one)
    assert counts[0.002] == pytest.approx(counts[0.02], rel=0.25), counts


def test_state_lots_conserve_product_and_never_exceed_production(runs):
    """The ledger balances (Simulation.step checks it every week; the recorded metrics too), and
    by every week the state has exported no more than it has produced."""
    for scale, (sim, lots) in runs.items():
        m = sim.results.metrics
        assert conservation_gap(m) < 1e-9, scale
        steps = np.arange(sim.n_steps)
        state_channels = sim.channel_names[:-1]

        def weekly(metric, channels, m=m, steps=steps):
            d = m[(m["metric"] == metric) & m["channel"].isin(channels)]
            return d.groupby("step")["value"].sum().reindex(steps, fill_value=0.0).cumsum().to_numpy()

        exported = weekly("exported_g", state_channels)
        produced = weekly("produced_g", ["state"])
        assert exported[-1] > 0, scale
        assert (exported <= produced * (1 + 1e-12)).all(), scale
        # and the lots logged are what was recorded as exported (S9 lot aside)
        regular = sum(lots[:, 1]) / scale
        assert regular <= exported[-1] * (1 + 1e-12)
        assert regular >= 0.9 * exported[-1]


def test_state_lots_are_reproducible(runs):
    sim, lots = runs[0.02]
    again_sim, again = run_logging_lots(0.02)
    assert lots.tobytes() == again.tobytes()
    key = sim.results.metrics["metric"].isin(["exported_g", "produced_g", "state_revenue_usd"])
    key2 = again_sim.results.metrics["metric"].isin(["exported_g", "produced_g", "state_revenue_usd"])
    assert (
        sim.results.metrics[key]["value"].to_numpy().tobytes()
        == again_sim.results.metrics[key2]["value"].to_numpy().tobytes()
    )
    _, other = run_logging_lots(0.02, seed=3)
    assert lots.shape != other.shape or not np.array_equal(lots, other)
