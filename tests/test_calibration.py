"""Calibration: targets validation, distance, and identifiability on synthetic truth (issue 7)."""

from __future__ import annotations

import numpy as np
import pytest

import narcoflow as nf
from narcoflow.calibration.calibrate import calibrate, intervals
from narcoflow.calibration.targets import Target, Targets, load_targets
from narcoflow.errors import NarcoflowError
from narcoflow.scenario import load, uncertain_parameters, with_values

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
    assert Target(name="c", metric="consumed_g", years=(1998, 1998), observed=100,
                  reliability="L").distance(110) == pytest.approx(0.1)


def test_identifiability_on_synthetic_truth(tmp_path):
    sc = load("north-korea-2011")
    target = Target(name="consumed", metric="consumed_g", years=(1998, 1999), observed=1.0, reliability="M")
    # the synthetic observation: median over three seeds at the truth (one seed can be an outlier:
    # two years at scale 0.001 vary by more than 10 % between seeds)
    truth = float(np.median([target.evaluate(nf.run(with_values(sc, {PARAM: TRUTH}), seed=s, scale=0.001,
                                                    years=2).metrics) for s in (1, 2, 3)]))
    synth = Targets(parameters=[PARAM], targets=[target.model_copy(update={"observed": truth})])
    np.random.seed(7)  # noqa: NPY002 - pyabc samples with numpy's global generator: a reproducible test
    cid, post, diag = calibrate(sc, synth, tmp_path / "c.duckdb", populations=3, particles=15,
                                scale=0.001, years=2)
    iv = intervals(post).set_index("parameter").loc[PARAM]
    lo, hi = uncertain_parameters(sc)[PARAM].range
    assert iv["low"] <= TRUTH <= iv["high"]
    assert iv["high"] - iv["low"] < 0.9 * (hi - lo)  # narrower than the prior's 90 % interval
    assert list(diag["generation"]) == [0, 1, 2]
    # rerunning resumes from the stored history: same id, nothing new to sample
    cid2, post2, _ = calibrate(sc, synth, tmp_path / "c.duckdb", populations=3, particles=15,
                               scale=0.001, years=2)
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
