"""The shipped calibrated scenario (issue 14): north-korea-2011 with posterior medians as values,
posterior 90 % intervals as ranges, and its posterior sample beside it."""

import numpy as np
import pytest

from narcoflow.calibration.posterior import draw_parameter_sets, posterior_file, read_posterior, with_draw
from narcoflow.scenario import load, uncertain_parameters
from narcoflow.scenario.loader import builtin_names, read_yaml_file

NAME = "north-korea-2011-calibrated"


def _weighted_quantile(v, w, q):
    o = np.argsort(v)
    cw = np.cumsum(w[o]) / w.sum()
    return v[o][min(np.searchsorted(cw, q), len(v) - 1)]


def test_the_calibrated_scenario_is_the_original_with_its_posterior():
    assert NAME in builtin_names()
    sc, base = load(NAME), load("north-korea-2011")
    path = posterior_file(NAME)
    assert path is not None and path.name == f"{NAME}.posterior.csv"
    post = read_posterior(path, sc)
    params = [c for c in post.columns if c not in ("draw", "weight")]
    assert len(params) >= 5 and len(post) >= 100 and post["weight"].sum() == pytest.approx(1.0)
    assert read_yaml_file(path.with_name(f"{NAME}.yaml"))["base"] == "north-korea-2011"
    unc, unc_base = uncertain_parameters(sc), uncertain_parameters(base)
    w = post["weight"].to_numpy()
    for p in params:
        v = post[p].to_numpy()
        lo, hi = unc_base[p].range
        assert ((v >= lo) & (v <= hi)).all(), p  # every particle inside the original prior range
        # value = weighted posterior median, range = weighted 5-95 % of the sample
        assert float(unc[p]) == pytest.approx(_weighted_quantile(v, w, 0.5)), p
        assert unc[p].range == pytest.approx((_weighted_quantile(v, w, 0.05), _weighted_quantile(v, w, 0.95))), p
        assert "calibrated" in unc[p].source and unc_base[p].source.split(";")[0] in unc[p].source
    # every other parameter is the original's
    for p, par in unc_base.items():
        if p not in params:
            assert float(unc[p]) == float(par) and tuple(unc[p].range) == tuple(par.range), p


def test_posterior_draws_apply_to_the_calibrated_scenario():
    sc = load(NAME)
    post = read_posterior(posterior_file(NAME), sc)
    draws = draw_parameter_sets(post, 30, seed=0)
    params = [c for c in post.columns if c not in ("draw", "weight")]
    for _, row in draws.iterrows():  # draws outside a 90 % range widen it instead of failing
        out = uncertain_parameters(with_draw(sc, {p: row[p] for p in params}))
        assert all(float(out[p]) == row[p] for p in params)
