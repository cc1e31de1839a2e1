"""Calibration: targets validation, distance, and identifiability on synthetic truth (issue 7)."""

from __future__ import annotations

import numpy as np
import pytest

from narcoflow.calibration.calibrate import Model, calibrate, intervals
from narcoflow.calibration.targets import Target, Targets, load_targets
from narcoflow.errors import NarcoflowError
from narcoflow.scenario import load, uncertain_parameters

PARAM = "consumption.use_g_per_week"  # identified by total consumption (grams consumed)
TRUTH = 0.08


def test_target_needs_observed_or_range(tmp_path):
    f = tmp_path / "t.yaml"
    f.write_text("targets:\n- {name: a, metric: consumed_g, years: [1998, 1998]}\n")
    with pytest.raises(NarcoflowError, match="observed"):
        load_targets(f)


def test_distance_zero_inside_range_and_scaled_by_reliability():
    t = Target(name="a", metric="consumed_g", years=(1998, 1998), range=(10, 20), reliability="H")
    assert t.distance(15) == 0
    p = Target(name="b", metric="consumed_g", years=(1998, 1998), observed=100, reliability="H")
    assert p.distance(110) == pytest.approx(1.0)
    low = Target(name="c", metric="consumed_g", years=(1998, 1998), observed=100, reliability="L")
    assert low.distance(200) == pytest.approx(1.0) and low.distance(50) == pytest.approx(1.0)  # a factor of 2
    assert low.distance(110) == pytest.approx(0.1375, abs=1e-4)
    assert p.distance(100 / 1.1) == pytest.approx(1.0)  # symmetric in log: below as above
    assert low.distance(0) > 19  # nothing is not "within a factor" of something


def test_identifiability_on_synthetic_truth(tmp_path):
    sc = load("north-korea-2011")
    target = Target(name="consumed", metric="consumed_g", years=(1998, 1999), observed=1.0, reliability="M")
    # Common random numbers (seed=11 for the truth and every particle): at scale 0.001 two years of
    # consumption vary by a factor of ten between seeds, which would hide the parameter.
    truth = Model(sc, Targets(targets=[target]), [PARAM], 0.001, 2).run({PARAM: TRUTH}, 11)["consumed"]
    synth = Targets(parameters=[PARAM], targets=[target.model_copy(update={"observed": truth})])
    np.random.seed(7)  # noqa: NPY002 - pyabc samples with numpy's global generator: a reproducible test
    cid, post, diag = calibrate(sc, synth, tmp_path / "c.duckdb", populations=3, particles=12,
                                scale=0.001, years=2, seed=11)
    iv = intervals(post).set_index("parameter").loc[PARAM]
    lo, hi = uncertain_parameters(sc)[PARAM].range
    assert iv["low"] <= TRUTH <= iv["high"]
    assert iv["high"] - iv["low"] < 0.9 * (hi - lo)  # narrower than the prior's 90 % interval
    assert list(diag["generation"]) == [0, 1, 2]
    # rerunning resumes from the stored history: same id, nothing new to sample
    cid2, post2, _ = calibrate(sc, synth, tmp_path / "c.duckdb", populations=3, particles=12,
                               scale=0.001, years=2, seed=11)
    assert cid2 == cid and len(post2) == len(post)


def test_unreachable_target_is_reported():
    import pandas as pd
    sc = load("north-korea-2011")
    t = Target(name="impossible", metric="consumed_g", years=(1998, 1999), observed=1e12, reliability="H")
    post = pd.DataFrame({"calibration_id": "x", "generation": 0, "particle": [0, 1], "parameter": PARAM,
                         "value": [0.07, 0.09], "weight": 0.5})
    from narcoflow.calibration.calibrate import predictive_check
    ppc = predictive_check(sc, Targets(targets=[t]), post, draws=2, scale=0.001, years=2)
    row = ppc.iloc[0]
    assert row["unreachable"] and not row["inside"]
    assert "impossible" in row["message"] and "not reached" in row["message"]
