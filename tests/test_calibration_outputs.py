"""Calibration outputs (issue 7): shipped targets, period checks, the calibrated scenario file,
per-generation storage and resume, the predictive-check figure and the calibration report."""

from __future__ import annotations

import json
import math
import re

import duckdb
import pandas as pd
import pytest
from typer.testing import CliRunner

import narcoflow as nf
from narcoflow.calibration.calibrate import (
    calibrate,
    intervals,
    load_calibration,
    predictive_check,
    store_check,
    write_scenario,
)
from narcoflow.calibration.targets import Target, Targets, check_period, load_targets, populations
from narcoflow.cli import app
from narcoflow.errors import NarcoflowError
from narcoflow.scenario import Scenario, load, uncertain_parameters, validate_file
from narcoflow.viz.calibration import normalised_check, ppc_figure
from narcoflow.viz.geography import load_source_codes
from narcoflow.viz.report import load_report_data

runner = CliRunner()
PARAM = "consumption.use_g_per_week"
CONSUMED_1998 = Target(name="consumed_1998", metric="consumed_g", years=(1998, 1998), range=(10000, 40000),
                       unit="g", source="synthetic", reliability="L")
#: a point target: a run's distance to it is never exactly 0, so pyabc does not stop at its minimum
#: epsilon before the generations asked for (the interrupt and resume tests count generations)
CONSUMED_1998_POINT = Target(name="consumed_1998", metric="consumed_g", years=(1998, 1998), observed=20000,
                             unit="g", source="synthetic", reliability="L")
LIST_PARAMS = ["state.export_channels[0].price_factor", "events[1].multiplier",
               "border.destinations[1].interdiction_prob"]


# ---------------------------------------------------------------------------- targets
def test_shipped_targets_cite_evidence_rows_and_fit_the_scenario():
    tg = load_targets("north-korea-2011")
    sc = load("north-korea-2011")
    codes = load_source_codes()["codes"]
    assert len(tg.targets) >= 15
    for t in tg.targets:
        cited = re.findall(r"\b[PCQTE]\d+\b", t.source)
        assert cited and all(c in codes for c in cited), (t.name, t.source)
    check_period(tg, sc, None)  # every target lies in 1998-2015
    unc = uncertain_parameters(sc)
    assert all(p in unc for p in tg.parameters)
    metrics = {t.metric for t in tg.targets}
    assert {"price_usd_per_g", "seized_g", "delivered_abroad_g", "state_revenue_usd", "users",
            "arrests"} <= metrics
    # prices by tier, and onset of use early vs late
    assert {t.filters.get("channel") for t in tg.targets if t.metric == "price_usd_per_g"} >= {"retail",
                                                                                               "wholesale"}
    assert sorted(t.years[0] for t in tg.targets if t.metric == "users") == [2003]
    assert [t.years[0] for t in tg.targets if t.metric == "ever_used"] == [2015]  # P4, ever-used


def test_shipped_targets_evaluate_on_a_run(baseline):
    """Every shipped target inside the baseline fixture's period gives a finite number."""
    dates = pd.to_datetime(baseline.metrics["date"])
    first, last = dates.min().year, dates.max().year
    tg = load_targets("north-korea-2011")
    inside = [t for t in tg.compared if first <= t.years[0] and t.years[1] <= last]
    assert inside, "the baseline fixture covers none of the shipped targets"
    pops = populations(load("north-korea-2011"))
    for t in inside:
        assert math.isfinite(t.evaluate(baseline.metrics, pops)), t.name
    assert all(math.isnan(t.evaluate(baseline.metrics)) for t in tg.of_role("waiting"))


def test_list_filters_and_one_sided_ranges():
    t = Target(name="a", metric="arrests", filters={"channel": ["producer", "seller"]}, years=(1998, 1998),
               range=(30, math.inf), reliability="L")
    assert t.distance(1e9) == 0 and t.distance(30) == 0
    assert t.distance(15) == pytest.approx(1.0)  # L: a factor of 2 below the bound
    assert t.tolerance_band() == (15, math.inf)
    m = pd.DataFrame({"step": [0, 0, 0, 51], "date": ["1998-01-05"] * 3 + ["1998-12-28"],
                      "metric": ["arrests"] * 3 + ["users"], "drug": None, "region": "Kangwon",
                      "channel": ["producer", "seller", "user", None], "value": [1.0, 2.0, 4.0, 8.0]})
    assert t.evaluate(m) == 3.0


@pytest.mark.parametrize("bad, match", [
    ({"metric": "consumed_kg"}, "not a metric"),
    ({"filters": {"province": "Kangwon"}}, "filters may only name"),
    ({"range": [math.inf, math.inf], "observed": None}, "at most one of them"),
])
def test_bad_target_fields_are_named(tmp_path, bad, match):
    t = {"name": "x", "metric": "consumed_g", "years": [1998, 1998], "observed": 1.0} | bad
    t = {k: v for k, v in t.items() if v is not None}
    f = tmp_path / "t.yaml"
    f.write_text(json.dumps({"targets": [t]}).replace("Infinity", ".inf"))
    with pytest.raises(NarcoflowError, match=match) as exc:
        load_targets(f)
    assert str(f) in str(exc.value) and "'x'" in str(exc.value)


@pytest.fixture(scope="module")
def short_run():
    return nf.run("north-korea-2011", seed=1, scale=0.001, years=3)  # 1998-2000


def test_target_outside_the_simulated_period_is_an_error(short_run, tmp_path):
    sc = load("north-korea-2011")
    late = Target(name="retail_2013", metric="price_usd_per_g", years=(2013, 2013), observed=11)
    tg = Targets(parameters=[PARAM], targets=[CONSUMED_1998, late])
    with pytest.raises(NarcoflowError) as exc:
        check_period(tg, sc, 3)
    msg = str(exc.value)
    assert "retail_2013" in msg and "covers 2013" in msg and "whole years: 1998-2000" in msg
    assert "consumed_1998" not in msg
    with pytest.raises(NarcoflowError, match="retail_2013.*outside the simulated period"):
        late.evaluate(short_run.metrics)  # short_run: 1998-2000
    partly = Target(name="straddle", metric="consumed_g", years=(2000, 2001), observed=1)
    with pytest.raises(NarcoflowError, match="'straddle' covers 2000-2001"):
        partly.evaluate(short_run.metrics)
    with pytest.raises(NarcoflowError, match="retail_2013"):  # before any run starts
        calibrate(sc, tg, tmp_path / "c.duckdb", populations=1, particles=2, scale=0.001, years=3)
    f = tmp_path / "t.yaml"
    f.write_text("parameters: [consumption.use_g_per_week]\ntargets:\n"
                 "- {name: retail_2013, metric: price_usd_per_g, years: [2013, 2013], observed: 11}\n")
    res = runner.invoke(app, ["calibrate", "north-korea-2011", "--targets", str(f), "--years", "2",
                              "--out", str(tmp_path / "c.duckdb")])
    assert res.exit_code == 2 and "retail_2013" in res.output and "Traceback" not in res.output


@pytest.mark.parametrize("args, match", [
    (["--scale", "0"], "--scale 0 is out of range: it must be in (0, 1]"),
    (["--workers", "2", "--dask-local", "2"], "at most one of"),
    (["--params", "consumption.no_such"], "not: consumption.no_such"),
    (["--min-epsilon-drop", "1"], "--min-epsilon-drop 1 is out of range: it must be in [0, 1)"),
    (["--max-hours", "0"], "--max-hours 0 is out of range: it must be > 0"),
])
def test_calibrate_rejects_bad_flags(tmp_path, args, match):
    f = tmp_path / "t.yaml"
    f.write_text("parameters: [consumption.use_g_per_week]\ntargets:\n"
                 "- {name: c, metric: consumed_g, years: [1998, 1998], observed: 1}\n")
    res = runner.invoke(app, ["calibrate", "north-korea-2011", "--targets", str(f), "--years", "1",
                              "--out", str(tmp_path / "c.duckdb"), *args])
    assert res.exit_code == 2 and match in " ".join(res.output.split()), res.output


def test_calibrate_command_end_to_end(tmp_path):
    f = tmp_path / "t.yaml"
    f.write_text("parameters: [consumption.use_g_per_week, 'state.export_channels[0].price_factor']\ntargets:\n"
                 "- {name: c, metric: consumed_g, years: [1998, 1998], range: [10000, 40000], reliability: L}\n"
                 "- {name: a, metric: arrests, years: [1998, 1998], range: [1, .inf], floor: true}\n"
                 "- {name: e, metric: ever_used, years: [1998, 1998], range: [1, .inf], waiting: no metric yet}\n")
    db = tmp_path / "cal.duckdb"
    res = runner.invoke(app, ["calibrate", "north-korea-2011", "--targets", str(f), "--years", "1", "--scale",
                              "0.001", "--populations", "1", "--particles", "3", "--draws", "2", "--out", str(db)])
    assert res.exit_code == 0, res.output
    cid = res.output.strip().splitlines()[-1].removeprefix("calibration_id: ")
    written = db.with_name(f"cal-{cid}.scenario.yaml")
    assert f"calibrated scenario written to {written}" in " ".join(res.output.split())
    assert validate_file(written) == []
    from narcoflow.calibration.posterior import posterior_file, read_posterior

    sample = read_posterior(posterior_file(written), load(written))  # found beside the scenario, valid for it
    assert len(sample) == 3 and sample["weight"].sum() == pytest.approx(1.0)
    info, post, diag, check = load_calibration(db, cid)
    assert list(diag["generation"]) == [0] and len(post) == 2 * 3 and list(check["target"]) == ["c", "a"]
    assert list(check["role"]) == ["fitted", "floor"]  # the waiting target 'e' is compared with nothing
    out = " ".join(res.output.split())
    assert re.search(r"\d of 1 fitted targets inside; floors met apart: \d of 1; waiting for a model quantity: 1",
                     out), out
    assert "not compared: e (waiting: no metric yet)" in out
    assert f"calibration {cid}: 1 generations stored in {db}; 1 generations done (the maximum asked)" in out
    assert info["targets_ref"] == str(f) and info["scenario_ref"] == "north-korea-2011"


def test_calibrate_on_a_local_dask_cluster(tmp_path):
    """--dask-local: pyabc's DaskDistributedSampler on the experiments' local cluster, shut down after."""
    tg = Targets(parameters=[PARAM], targets=[CONSUMED_1998])
    cid, post, diag = calibrate(load("north-korea-2011"), tg, tmp_path / "d.duckdb", populations=1, particles=2,
                                scale=0.001, years=1, dask_local=1)
    assert list(diag["generation"]) == [0] and len(post) == 2
    assert diag["runs"].iloc[0] >= 2


# ---------------------------------------------------------------------------- calibrated scenario
def _posterior(values: dict[str, list[float]]) -> pd.DataFrame:
    rows = [("x", 0, j, p, v, 1.0) for p, vs in values.items() for j, v in enumerate(vs)]
    return pd.DataFrame(rows, columns=["calibration_id", "generation", "particle", "parameter", "value", "weight"])


def test_written_scenario_validates_and_runs_at_the_medians(tmp_path):
    sc = load("north-korea-2011")
    unc = uncertain_parameters(sc)
    post = _posterior({PARAM: [0.05, 0.06, 0.07], LIST_PARAMS[0]: [1.2, 1.4, 1.6], LIST_PARAMS[1]: [3.0, 5.0, 6.0],
                       LIST_PARAMS[2]: [0.12, 0.15, 0.2]})
    iv = intervals(post).set_index("parameter")
    out = write_scenario(sc, post, tmp_path / "cal.yaml", base="north-korea-2011", calibration_id="abc123",
                         targets_label="targets.yaml")
    assert validate_file(out) == []
    res = runner.invoke(app, ["validate", str(out)])
    assert res.exit_code == 0, res.output
    text = out.read_text()
    assert text.splitlines()[3] == "base: north-korea-2011"
    cal = load(out)
    cal_unc = uncertain_parameters(cal)
    for p in iv.index:
        assert cal_unc[p].value == pytest.approx(iv.loc[p, "median"])
        assert cal_unc[p].range == pytest.approx((iv.loc[p, "low"], iv.loc[p, "high"]))
        assert cal_unc[p].source.startswith(unc[p].source)
        assert cal_unc[p].source.endswith("calibrated abc123 against targets.yaml")
    # everything else is the base's: other list elements, other fields of the same elements
    for p, prm in unc.items():
        if p not in iv.index:
            assert cal_unc[p] == prm, p
    assert len(cal.events) == len(sc.events) and cal.events[1].name == sc.events[1].name
    assert cal.state.export_channels[1] == sc.state.export_channels[1]
    # a run from the file uses the medians
    run = nf.run(out, seed=1, scale=0.001, years=1)
    raw = run.info["parameters"]
    used = uncertain_parameters(Scenario.model_validate(raw if isinstance(raw, dict) else json.loads(raw)))
    assert used[LIST_PARAMS[0]].value == pytest.approx(1.4)
    assert used[PARAM].value == pytest.approx(0.06)


def test_written_scenario_refers_to_a_file_base_relatively(tmp_path):
    base = tmp_path / "variant" / "scenario.yaml"
    base.parent.mkdir()
    base.write_text("base: north-korea-2011\nname: variant\nprivate:\n  precursor_cost_usd_per_g: {value: 0.1}\n")
    sc = load(base)
    (tmp_path / "out").mkdir()
    out = write_scenario(sc, _posterior({PARAM: [0.1, 0.2]}), tmp_path / "out" / "cal.yaml", base=str(base),
                         calibration_id="c", targets_label="t")
    assert "base: ../variant/scenario.yaml" in out.read_text()
    cal = load(out)
    assert cal.private.precursor_cost_usd_per_g.value == 0.1  # the variant's change survives
    assert cal.consumption.use_g_per_week.value == pytest.approx(0.1)


# ---------------------------------------------------------------------------- storage, resume, report
class Interrupt(Exception):
    pass


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory):
    """A tiny calibration stopped after its generation 1, then rerun to its end."""
    db = tmp_path_factory.mktemp("cal") / "c.duckdb"
    sc = load("north-korea-2011")
    tg = Targets(parameters=[PARAM], targets=[CONSUMED_1998_POINT])
    kw = dict(populations=3, particles=4, scale=0.001, years=1)
    seen: list[int] = []

    def stop_after_1(t, diag):
        seen.append(t)
        if t == 1:
            raise Interrupt

    with pytest.raises(Interrupt):
        calibrate(sc, tg, db, on_generation=stop_after_1, **kw)
    with duckdb.connect(str(db), read_only=True) as con:
        stored = con.sql("SELECT generation, count(*) FROM posterior GROUP BY 1 ORDER BY 1").fetchall()
    resumed: list[int] = []
    cid, post, diag = calibrate(sc, tg, db, on_generation=lambda t, d: resumed.append(t), **kw)
    check = predictive_check(sc, tg, post, draws=2, scale=0.001, years=1)
    store_check(db, cid, check)
    return {"db": db, "cid": cid, "post": post, "diag": diag, "stored_at_interrupt": stored, "seen": seen,
            "resumed": resumed, "check": check}


def test_interrupted_calibration_keeps_finished_generations_and_resumes(interrupted):
    assert interrupted["seen"] == [0, 1]
    assert interrupted["stored_at_interrupt"] == [(0, 4), (1, 4)]  # 4 particles x 1 parameter each
    assert interrupted["resumed"] == [0, 1, 2]  # 0 and 1 found stored, 2 sampled
    with duckdb.connect(str(interrupted["db"]), read_only=True) as con:
        dup = con.sql("SELECT count(*) FROM (SELECT calibration_id, generation, particle, parameter, count(*) n "
                      "FROM posterior GROUP BY ALL HAVING n > 1)").fetchall()[0][0]
        gens = con.sql("SELECT generation FROM calibration_diagnostics ORDER BY 1").fetchall()
    assert dup == 0 and gens == [(0,), (1,), (2,)]
    assert list(interrupted["diag"]["generation"]) == [0, 1, 2]
    assert (interrupted["diag"]["epsilon"].diff().dropna() <= 0).all()  # epsilon adapts from generation to generation


def test_rerun_with_more_populations_extends_the_same_calibration(interrupted):
    sc = load("north-korea-2011")
    tg = Targets(parameters=[PARAM], targets=[CONSUMED_1998_POINT])
    cid, post, diag = calibrate(sc, tg, interrupted["db"], populations=2, particles=4, scale=0.001, years=1)
    assert cid == interrupted["cid"] and len(diag) == 3  # nothing new, nothing lost
    info, post2, diag2, check = load_calibration(interrupted["db"], cid)
    assert len(post2) == len(interrupted["post"]) and check is not None and len(check) == 1
    assert json.loads(info["priors"]) == {PARAM: list(uncertain_parameters(sc)[PARAM].range)}


def test_report_of_a_calibration(interrupted, tmp_path):
    cid, db = interrupted["cid"], interrupted["db"]
    data = load_report_data(db, cid[:6])
    assert data.kind == "calibration" and data.ident == cid
    out = tmp_path / "cal.html"
    res = runner.invoke(app, ["report", cid, "--db", str(db), "--out", str(out)])
    assert res.exit_code == 0, res.output
    page = out.read_text()
    for part in ("Posterior predictive check", "fig-ppc", "fig-posterior", "Diagnostics", "acceptance_rate",
                 "ess", "consumed_1998", PARAM, "width_vs_prior", "prior_low", "<script src"):
        if part == "<script src":
            assert part not in page
        else:
            assert part in page, part
    assert "This report shows a calibration" in page and "one simulated history" not in page
    assert "Key numbers" not in page  # no run, so no run sections
    post = data.calibration["posterior"].set_index("parameter").loc[PARAM]
    lo, hi = uncertain_parameters(load("north-korea-2011"))[PARAM].range
    assert (post["prior_low"], post["prior_high"]) == (lo, hi)
    assert lo <= post["low"] <= post["median"] <= post["high"] <= hi


def test_ppc_figure_normalises_targets_of_different_units():
    check = pd.DataFrame({
        "target": ["grams", "at_least", "price"], "observed": ["1000", ">= 30", "15"],
        "band_low": [1000.0, 30.0, 15.0], "band_high": [1000.0, math.inf, 15.0],
        "predicted_median": [500.0, 0.0, 30.0], "predicted_low": [400.0, 0.0, 20.0],
        "predicted_high": [2000.0, 10.0, 45.0], "inside": [False, False, False],
        "unit": ["g", "persons", "USD/g"], "source": ["x"] * 3, "tolerance": [1.0, 1.0, 0.3]})
    d = normalised_check(check).set_index("target")
    assert d.loc["grams", "predicted_median_ratio"] == 0.5 and d.loc["at_least", "ref"] == 30
    assert d.loc["price", "predicted_high_ratio"] == 3.0
    fig = ppc_figure(check)
    assert fig.layout.xaxis.type == "log"
    pts = fig.data[0]
    assert list(pts.x) == [0.5, 1e-3, 2.0]  # a prediction of 0 sits at the floor of the log axis
    rects = [s for s in fig.layout.shapes if s.type == "rect"]
    assert len(rects) == 6  # per target: the band widened by one tolerance, and the observed band
    tol_bands, bands = rects[0::2], rects[1::2]
    assert bands[1].x0 == 1.0 and bands[1].x1 >= 10  # "at least": from the bound to the axis' end
    assert (tol_bands[0].x0, tol_bands[0].x1) == (0.5, 2.0)  # L: a factor of 2 either side
    assert tol_bands[2].x0 == pytest.approx(1 / 1.3) and tol_bands[2].x1 == pytest.approx(1.3)
