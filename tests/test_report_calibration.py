"""The calibration report (issue 14, item 4): prior and posterior of every fitted parameter, the
generations, the history match and screening it fitted within, and the targets' bands against the
posterior predictive interval with floors apart. Built on tiny hand-made tables in a temporary
DuckDB file: no calibration is run."""

from __future__ import annotations

import datetime as dt
import json
import math
import shutil

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from narcoflow.calibration.storage import _connect, _replace_rows, store_calibration, store_check, store_generation
from narcoflow.calibration.targets import load_targets
from narcoflow.cli import app
from narcoflow.scenario import load
from narcoflow.viz import calibration as calviz
from narcoflow.viz.report import build_figures, load_report_data, render_html

PARAMS = ["consumption.use_g_per_week", "prices.initial_retail_usd_per_g"]
RANGES = {PARAMS[0]: (0.5, 3.0), PARAMS[1]: (5.0, 40.0)}
BOX = {PARAMS[0]: (1.0, 2.0), PARAMS[1]: (10.0, 20.0)}  # what the history match left
HID, SID = "hm0123456789abcd", "sc0123456789abcd"
NOW = dt.datetime(2026, 12, 7, 6, 0)


def _store(db, table, frame, where, params):
    with _connect(db) as con:
        _replace_rows(con, table, frame, where, params)


def _calibration(db, cid: str, *, within: bool) -> None:
    sc, tg = load("north-korea-2011"), load_targets("north-korea-2011")
    priors = {p: list(BOX[p] if within else RANGES[p]) for p in PARAMS}
    settings = {"particles": 20, "scale": 0.002, "years": None, "seed": None, "populations": 3}
    if within:
        settings["bounds"] = priors
    store_calibration(db, cid, sc, tg, PARAMS, priors, settings,
                      {"scenario": "north-korea-2011", "targets": "north-korea-2011"})
    rng = np.random.default_rng(1)
    for g in range(3):
        rows = []
        for j in range(20):
            for p in PARAMS:
                lo, hi = priors[p]
                mid, spread = (lo + hi) / 2, (hi - lo) / (2 + 2 * g)
                rows.append((cid, g, j, p, float(np.clip(rng.normal(mid, spread / 2), lo, hi)), 1.0 + j % 3))
        post = pd.DataFrame(rows, columns=["calibration_id", "generation", "particle", "parameter", "value",
                                           "weight"])
        store_generation(db, cid, post, {"calibration_id": cid, "generation": g, "epsilon": 3.0 - g,
                                         "acceptance_rate": 0.5, "ess": 15.0, "runs": 40})
    check = pd.DataFrame({
        "target": ["retail_price_2011", "japan_seized_1999", "north_hamgyong_seized_2010"],
        "role": ["fitted", "fitted", "floor"], "observed": ["15", "664000-864000", ">= 3000"],
        "predicted_median": [14.0, 5e5, 2e5], "predicted_low": [9.0, 2e5, 1e5], "predicted_high": [20.0, 9e5, 3e5],
        "inside": [True, False, True], "unreachable": [False, False, False], "message": ["", "", ""],
        "band_low": [15.0, 664000.0, 3000.0], "band_high": [15.0, 864000.0, math.inf],
        "tolerance": [0.3, 0.1, 0.3], "unit": ["USD/g", "g", "g"], "years": ["2011", "1999", "2010"],
        "source": ["C5", "Q4", "E4"], "reliability": ["M", "H", "M"], "draws": [10, 10, 10]})
    store_check(db, cid, check)


def _history(db) -> None:
    _store(db, "history_matches", pd.DataFrame([{
        "history_id": HID, "parameters": json.dumps(PARAMS), "bounds": json.dumps([list(RANGES[p]) for p in PARAMS]),
        "settings": "{}", "targets": json.dumps(["retail_price_2011"]), "scenario": "north-korea-2011",
        "scenario_ref": "north-korea-2011", "targets_ref": "north-korea-2011", "created_at": NOW}]),
        "history_id = ?", [HID])
    _store(db, "history_waves", pd.DataFrame([
        {"history_id": HID, "wave": w, "design_points": 20, "runs": 28, "candidates": 5000, "kept": k,
         "nroy_fraction": f, "box": "[]", "next_box": "[]", "worst_loo_outside_3": 0.05}
        for w, k, f in ((0, 900, 0.18), (1, 400, 0.04))]), "history_id = ?", [HID])
    _store(db, "history_emulators", pd.DataFrame([
        {"history_id": HID, "wave": w, "position": 0, "target": "retail_price_2011", "role": "fitted",
         "observation_variance": 0.07, "discrepancy_variance": 0.03, "model_variance": 0.01, "loo_rmse": 0.2 - w / 10,
         "loo_max_abs_std_error": 2.5, "loo_outside_3": 0.0, "ruled_out_alone": 0.5, "min_implausibility": 0.1,
         "kernel": "RBF"} for w in (0, 1)]), "history_id = ?", [HID])
    rows = []
    for w in (0, 1):
        for i, vals in enumerate(([BOX[p][0] for p in PARAMS], [BOX[p][1] for p in PARAMS],
                                  [sum(BOX[p]) / 2 for p in PARAMS])):
            for j, p in enumerate(PARAMS):
                lo, hi = RANGES[p]
                rows.append({"history_id": HID, "wave": w, "sample": i, "parameter_index": j, "parameter": p,
                             "unit": (vals[j] - lo) / (hi - lo), "value": vals[j]})
    _store(db, "history_nroy", pd.DataFrame(rows), "history_id = ?", [HID])
    _store(db, "screenings", pd.DataFrame([{"screening_id": SID, "parameters": json.dumps(PARAMS + ["x.y"]),
                                            "threshold": 1.0, "scenario": "north-korea-2011", "created_at": NOW}]),
           "screening_id = ?", [SID])
    _store(db, "screening_effects", pd.DataFrame({
        "screening_id": SID, "parameter": PARAMS + ["x.y"], "target": "retail_price_2011", "role": "fitted",
        "mu_star": [4.0, 2.0, 0.1], "mu_star_conf": 0.1, "mu": 0.0, "sigma": 0.1, "total_sd": 1.0,
        "noise_mu_star": 0.01, "scaled": [4.0, 2.0, 0.1], "above_noise": True}), "screening_id = ?", [SID])
    _store(db, "screening_ranking", pd.DataFrame({
        "screening_id": SID, "rank": [1, 2, 3], "parameter": PARAMS + ["x.y"], "max_scaled": [4.0, 2.0, 0.1],
        "target": ["retail_price_2011"] * 3, "targets_moved": [2, 1, 0], "influential": [True, True, False]}),
        "screening_id = ?", [SID])


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    path = tmp_path_factory.mktemp("calrep") / "cal.duckdb"
    _history(path)
    _calibration(path, "calwithin0000001", within=True)
    _calibration(path, "calplain00000002", within=False)
    return path


def test_prior_and_posterior_of_every_parameter(db):
    data = load_report_data(db, "calwithin")
    figs = build_figures(data)
    fig = figs["prior_posterior"]
    for p in PARAMS:
        kinds = {tr.meta["kind"]: tr for tr in fig.data if tr.meta["parameter"] == p}
        assert {"prior", "posterior", "median", "range"} <= set(kinds)
        prior, post = kinds["prior"], kinds["posterior"]
        assert (min(prior.x), max(prior.x)) == BOX[p]  # the uniform prior the fit used
        assert max(prior.y) == pytest.approx(1 / (BOX[p][1] - BOX[p][0]))
        assert (min(kinds["range"].x), max(kinds["range"].x)) == RANGES[p]  # the scenario's range around it
        assert sum(post.y) * post.width == pytest.approx(1.0)  # a density of the last generation
        assert BOX[p][0] <= kinds["median"].x[0] <= BOX[p][1]
    assert [tr.name for tr in fig.data if tr.showlegend] == ["uniform over the scenario range", "prior (uniform)",
                                                             "posterior (last generation, weighted)",
                                                             "posterior median"]
    gens = figs["generations"]
    medians = [tr for tr in gens.data if tr.name == "weighted median and 90 % interval"]
    assert [tr.meta["parameter"] for tr in medians] == PARAMS and list(medians[0].x) == [0, 1, 2]


def test_history_match_and_screening_the_calibration_fitted_within(db, tmp_path):
    data = load_report_data(db, "calwithin")
    hist = data.calibration["history"]
    assert hist["match"]["history_id"] == HID and list(hist["waves"]["wave"]) == [0, 1]
    assert hist["screening"]["screening_id"] == SID and list(hist["ranking"]["parameter"][:2]) == PARAMS
    assert "best_target_rank" in hist["ranking"]  # ranked from the stored effects, as history-match does
    figs = build_figures(data)
    assert list(figs["waves"].data[0].y) == [0.18, 0.04]
    page = render_html(data, figs)
    for part in ("id='history'", "nroy_fraction", "median_loo_rmse", "Emulator validation per wave",
                 "id='screening'", "max_scaled", SID, "fig-prior_posterior", "fig-generations", "fig-waves"):
        assert part in page, part
    out = tmp_path / "cal.html"
    res = CliRunner().invoke(app, ["report", "calwithin", "--db", str(db), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "History matching" in out.read_text()


def test_a_parameter_the_match_added_by_hand_is_named(db, tmp_path):
    """A match over the screening's influential parameters plus one it did not rank influential
    (north-korea-2011-calibrated: Japan's interdiction) still shows the screening, and names the
    parameter added by hand; before, the report dropped the screening section."""
    copy = tmp_path / "cal.duckdb"
    shutil.copy(db, copy)
    _store(copy, "screening_effects", pd.DataFrame({
        "screening_id": SID, "parameter": PARAMS + ["x.y"], "target": "retail_price_2011", "role": "fitted",
        "mu_star": [4.0, 0.1, 2.0], "mu_star_conf": 0.1, "mu": 0.0, "sigma": 0.1, "total_sd": 1.0,
        "noise_mu_star": 0.01, "scaled": [4.0, 0.1, 2.0], "above_noise": True}), "screening_id = ?", [SID])
    data = load_report_data(copy, "calwithin")
    hist = data.calibration["history"]
    assert hist["screening"]["screening_id"] == SID and hist["added"] == [PARAMS[1]]
    page = render_html(data, build_figures(data))
    assert "id='screening'" in page and f"added by hand (not influential in this screening), <code>{PARAMS[1]}" in page


def test_no_history_section_without_within(db):
    data = load_report_data(db, "calplain")
    assert data.calibration["history"] is None
    figs = build_figures(data)
    assert "waves" not in figs and "prior_posterior" in figs
    fig = figs["prior_posterior"]
    assert not any(tr.meta["kind"] == "range" for tr in fig.data)
    assert "id='history'" not in render_html(data, figs)


def test_fitted_targets_apart_from_floors(db):
    figs = build_figures(load_report_data(db, "calwithin"))
    fitted, floors = figs["ppc"], figs["ppc_floors"]
    assert list(fitted.data[0].text) == ["retail_price_2011", "japan_seized_1999"]
    assert list(floors.data[0].text) == ["north_hamgyong_seized_2010"]
    assert fitted.layout.xaxis.type == "log"
    # the band of each target as a shaded box, the median with its 90 % whiskers
    assert fitted.data[0].error_x.array[1] == pytest.approx((9e5 - 5e5) / 764000)


def test_weighted_density_integrates_to_the_share_inside():
    x, y, w = calviz.weighted_density(np.array([0.1, 0.2, 0.9]), np.array([1.0, 1.0, 2.0]), 0.0, 1.0, bins=10)
    assert len(x) == 10 and sum(y) * w == pytest.approx(1.0)
    assert y[-1] * w == pytest.approx(0.5)
