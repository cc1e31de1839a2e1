"""ABC-SMC on unit-scaled parameters (issue 14): pyabc sees u in [0, 1]; the model, the stored
posterior and resumption work in original units, for parameters whose ranges differ by 3e10."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest

from narcoflow.calibration.calibrate import calibrate, load_calibration
from narcoflow.calibration.model import Model, to_original
from narcoflow.calibration.targets import Target, Targets
from narcoflow.scenario import load, uncertain_parameters

pytest.importorskip("pyabc")

TINY = "consumption.base_initiation_per_week"  # range 0-2e-05 (a weekly probability)
SMALL = "consumption.escalation_per_week"  # range 0.0001-0.003
LARGE = "private.penalty_cost_usd"  # range 2,000-100,000 USD
LOT = "state.export_channels[1].lot_g"  # range 20,000-600,000 g
BOUNDS = {LARGE: (10_000.0, 60_000.0)}  # narrowed prior: the unit scale is that of the bounds
TRUTH_U = {TINY: 0.4, SMALL: 0.35, LARGE: 0.6, LOT: 0.5}  # position in the (narrowed) prior


class Linear:
    """log y_p = 1 + 2 u_p + N(0, 0.05^2), u_p = the parameter's position in ``box``; records
    every value it is called with (original units)."""

    def __init__(self, box: dict[str, tuple[float, float]]):
        self.box, self.seen = box, []

    def __call__(self, values: dict[str, float], seed: int) -> dict[str, float]:
        self.seen.append(dict(values))
        rng = np.random.default_rng(seed)
        return {f"y_{p.rsplit('.', 1)[-1]}": math.exp(1 + 2 * (values[p] - lo) / (hi - lo) + rng.normal(0, 0.05))
                for p, (lo, hi) in self.box.items()}


def _setup():
    sc = load("north-korea-2011")
    unc = uncertain_parameters(sc)
    box = {p: BOUNDS.get(p, tuple(float(x) for x in unc[p].range)) for p in TRUTH_U}
    sim = Linear(box)
    obs = {f"y_{p.rsplit('.', 1)[-1]}": math.exp(1 + 2 * u) for p, u in TRUTH_U.items()}
    targets = Targets(name="scaled", parameters=list(TRUTH_U), targets=[
        Target(name=n, metric="consumed_g", years=(1998, 1998), observed=v, reliability="H") for n, v in obs.items()])
    return sc, targets, sim, box


def test_to_original_maps_the_unit_interval_onto_the_prior():
    assert to_original(0.0, 2.0, 6.0) == 2.0 and to_original(1.0, 2.0, 6.0) == 6.0
    assert to_original(0.25, 2.0, 6.0) == pytest.approx(3.0)
    assert to_original(1.0, 0.1, 0.7) <= 0.7  # rounding never steps outside the prior
    assert to_original(np.array([0.0, 0.5, 1.0]), -1.0, 1.0).tolist() == [-1.0, 0.0, 1.0]
    model = Model(None, None, [SMALL, LARGE], 0.01, 1, simulator=lambda v, s: v,
                  priors=[(1e-4, 3e-3), (2e3, 1e5)])
    assert model.values({"p0": 0.5, "p1": 0.0}) == {SMALL: pytest.approx(1.55e-3), LARGE: 2e3}


def test_posterior_is_in_original_units_inside_the_prior_and_proposals_are_well_conditioned(tmp_path):
    sc, targets, sim, box = _setup()
    db = tmp_path / "c.duckdb"
    np.random.seed(3)  # noqa: NPY002 - pyabc samples with numpy's global generator
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cid, post, diag = calibrate(sc, targets, db, populations=3, particles=40, simulator=sim, bounds=BOUNDS,
                                    unit_scaled=True)
    # on the raw scales numpy warned at about every proposal (280 warnings here; covariance condition ~1e21)
    psd = [w for w in caught if "positive-semidefinite" in str(w.message)]
    assert not psd, f"{len(psd)} warnings, e.g. {psd[0].message}"
    assert list(diag["generation"]) == [0, 1, 2] and diag["epsilon"].is_monotonic_decreasing
    # the model ran in original units, inside the (narrowed) prior
    seen = {p: np.array([v[p] for v in sim.seen]) for p in box}
    for p, (lo, hi) in box.items():
        assert lo <= seen[p].min() and seen[p].max() <= hi
        assert np.ptp(seen[p]) > 0.5 * (hi - lo)  # the whole range, not [0, 1]
        vals = post[post["parameter"] == p]["value"]
        assert lo <= vals.min() and vals.max() <= hi
    last = post[post["generation"] == 2]
    for p, u in TRUTH_U.items():
        lo, hi = box[p]
        med = float(np.median(last[last["parameter"] == p]["value"]))
        assert abs((med - lo) / (hi - lo) - u) < 0.1  # the truth, in original units
    info = load_calibration(db, cid)[0]
    assert json.loads(info["settings"])["unit_scaled"] is True
    assert json.loads(info["priors"]) == {p: list(b) for p, b in box.items()}  # original units


def test_interrupted_unit_scaled_calibration_resumes_in_original_units(tmp_path):
    """Resuming re-stores the generations pyabc finished (its history holds u): in original units,
    the same values as stored before the interruption."""
    sc, targets, sim, box = _setup()
    db = tmp_path / "c.duckdb"
    ids = []

    def stop_after_0(t, _diag):
        if t == 0:
            raise KeyboardInterrupt

    np.random.seed(4)  # noqa: NPY002 - pyabc samples with numpy's global generator
    with pytest.raises(KeyboardInterrupt):
        calibrate(sc, targets, db, populations=2, particles=20, simulator=sim, bounds=BOUNDS,
                  on_generation=stop_after_0, on_runs=lambda t, n: None, unit_scaled=True)
    import duckdb

    with duckdb.connect(str(db), read_only=True) as con:
        ids = [r[0] for r in con.execute("SELECT calibration_id FROM calibrations").fetchall()]
    _, first, _, _ = load_calibration(db, ids[0])
    assert sorted(first["generation"].unique()) == [0]
    resumed = []
    cid, post, diag = calibrate(sc, targets, db, populations=2, particles=20, simulator=sim, bounds=BOUNDS,
                                on_generation=lambda t, d: resumed.append(t), unit_scaled=True)
    assert cid == ids[0] and resumed == [0, 1] and list(diag["generation"]) == [0, 1]
    again = post[post["generation"] == 0].reset_index(drop=True)
    np.testing.assert_allclose(again["value"], first["value"].reset_index(drop=True), rtol=1e-12)
    for p, (lo, hi) in box.items():
        vals = post[post["parameter"] == p]["value"]
        assert lo <= vals.min() and vals.max() <= hi


def test_a_calibration_made_on_raw_scales_keeps_its_id_and_is_extended_on_raw_scales(tmp_path):
    """unit_scaled=False (the default) is the calibration as made before unit scaling (its settings
    and id have no "unit_scaled"); a unit-scaled call finding only its history extends it instead of
    starting again."""
    sc, targets, sim, box = _setup()
    db = tmp_path / "c.duckdb"
    np.random.seed(5)  # noqa: NPY002 - pyabc samples with numpy's global generator
    raw, post1, _ = calibrate(sc, targets, db, populations=1, particles=15, simulator=sim, bounds=BOUNDS)
    assert "unit_scaled" not in json.loads(load_calibration(db, raw)[0]["settings"])
    with warnings.catch_warnings():  # on raw scales numpy warns, as it did before
        warnings.filterwarnings("ignore", "covariance is not symmetric positive-semidefinite", RuntimeWarning)
        cid, post2, diag = calibrate(sc, targets, db, populations=2, particles=15, simulator=sim, bounds=BOUNDS,
                                     unit_scaled=True)
    assert cid == raw and list(diag["generation"]) == [0, 1]
    np.testing.assert_allclose(post2[post2["generation"] == 0]["value"], post1["value"], rtol=1e-12)
    for p, (lo, hi) in box.items():
        vals = post2[post2["parameter"] == p]["value"]
        assert lo <= vals.min() and vals.max() <= hi
    # in another file (no raw-scale history): a unit-scaled calibration, another id
    unit, _, _ = calibrate(sc, targets, tmp_path / "d.duckdb", populations=1, particles=15, simulator=sim,
                           bounds=BOUNDS, unit_scaled=True)
    assert unit != raw
    assert json.loads(load_calibration(tmp_path / "d.duckdb", unit)[0]["settings"])["unit_scaled"] is True
