"""Posterior samples (narcoflow.calibration.posterior): reading, weighted draws, range sampling,
and applying a draw that lies outside a calibrated 90 % range."""

import numpy as np
import pandas as pd
import pytest

from narcoflow.calibration.posterior import (
    draw_parameter_sets,
    export_posterior,
    posterior_file,
    read_posterior,
    sample_ranges,
    with_draw,
)
from narcoflow.errors import NarcoflowError
from narcoflow.scenario import load, uncertain_parameters

P1, P2 = "consumption.use_g_per_week", "prices.normal_fill"


def _long(weights):
    rows = []
    for j, w in enumerate(weights):
        rows += [{"calibration_id": "c", "generation": 1, "particle": j, "parameter": P1, "value": 0.05 + j * 0.01,
                  "weight": w},
                 {"calibration_id": "c", "generation": 1, "particle": j, "parameter": P2, "value": 0.6 + j * 0.01,
                  "weight": w}]
    return pd.DataFrame(rows)


def test_export_read_round_trip_and_weighted_draws(tmp_path):
    sc = load("north-korea-2011")
    path = export_posterior(_long([1.0, 0.0, 3.0]), tmp_path / "x.posterior.csv", header="test sample")
    assert path.read_text().startswith("# test sample\n")
    post = read_posterior(path, sc)
    assert list(post.columns) == ["draw", "weight", P1, P2]
    assert post["weight"].sum() == pytest.approx(1.0)
    draws = draw_parameter_sets(post, 400, seed=3)
    assert set(draws["source_draw"]) == {0, 2}  # weight 0 is never drawn
    assert (draws["source_draw"] == 2).mean() == pytest.approx(0.75, abs=0.08)
    pd.testing.assert_frame_equal(draws, draw_parameter_sets(post, 400, seed=3))
    assert not draws.equals(draw_parameter_sets(post, 400, seed=4))


def test_bad_posterior_files_name_the_problem(tmp_path):
    sc = load("north-korea-2011")
    bad = tmp_path / "bad.csv"
    bad.write_text("draw,weight,not.a.parameter\n0,1,2\n")
    with pytest.raises(NarcoflowError, match="not.a.parameter"):
        read_posterior(bad, sc)
    bad.write_text(f"draw,weight,{P1}\n0,-1,0.1\n")
    with pytest.raises(NarcoflowError, match="weight"):
        read_posterior(bad)
    bad.write_text(f"draw,{P1}\n0,0.1\n")
    with pytest.raises(NarcoflowError, match="'weight' is missing"):
        read_posterior(bad)
    with pytest.raises(NarcoflowError, match="does not exist"):
        read_posterior(tmp_path / "none.csv")


def test_sample_ranges_is_a_latin_hypercube_inside_the_ranges():
    sc = load("north-korea-2011")
    unc = uncertain_parameters(sc)
    s = sample_ranges(sc, 20, seed=1, params=[P1, P2])
    for p in (P1, P2):
        lo, hi = unc[p].range
        assert s[p].between(lo, hi).all()
        strata = np.floor((s[p] - lo) / (hi - lo) * 20).astype(int)
        assert sorted(strata) == list(range(20))  # one point per stratum
    with pytest.raises(NarcoflowError, match="Not uncertain"):
        sample_ranges(sc, 3, params=["nope"])


def test_with_draw_widens_a_range_that_excludes_the_draw():
    sc = load("north-korea-2011")
    lo, hi = uncertain_parameters(sc)[P1].range
    out = with_draw(sc, {P1: hi * 2})
    p = uncertain_parameters(out)[P1]
    assert float(p) == hi * 2 and tuple(p.range) == (lo, hi * 2)
    with pytest.raises(NarcoflowError, match="no parameter"):
        with_draw(sc, {"consumption.nothing[3].x": 1.0})


def test_posterior_file_lookup(tmp_path):
    assert posterior_file("not-a-scenario") is None
    y = tmp_path / "my.yaml"
    y.write_text("base: north-korea-2011\n")
    assert posterior_file(y) is None
    (tmp_path / "my.posterior.csv").write_text("draw,weight\n")
    assert posterior_file(y) == tmp_path / "my.posterior.csv"
