"""Measurement model, Morris screening and history matching (issue 14), on a cheap synthetic
simulator (a known function with noise) and, once, on the engine at a tiny scale."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from narcoflow.calibration.history import Problem, Settings, match, nroy_box
from narcoflow.calibration.measurement import implausibility, model_variance, variances
from narcoflow.calibration.screening import screen_problem
from narcoflow.calibration.targets import Target, Targets, distance

TRUTH = {"a": 0.3, "b": 0.7}


def _mean(a: float, b: float) -> dict[str, float]:
    return {"y1": 2 + 3 * a, "y2": 1 + 2 * b - a, "y3": 1.0}


def synthetic(values: dict[str, float], seed: int) -> dict[str, float]:
    """exp of a known function of a and b plus noise (sd 0.05 on the log scale); c is inert."""
    rng = np.random.default_rng(seed)
    return {k: math.exp(m + rng.normal(0, 0.05)) for k, m in _mean(values["a"], values["b"]).items()}


def _targets() -> list[Target]:
    obs = {k: math.exp(v) for k, v in _mean(**TRUTH).items()}
    return Targets(targets=[Target(name=k, metric="consumed_g", years=(1998, 1998), observed=v, reliability="H")
                            for k, v in obs.items()]).targets


def _problem() -> Problem:
    return Problem(["a", "b", "c"], np.array([[0.0, 1.0]] * 3), _targets(), synthetic)


SETTINGS = Settings(points=20, candidates=2000)


def test_implausibility_adds_the_three_variance_terms():
    t = Target(name="p", metric="consumed_g", years=(1998, 1998), observed=100, reliability="M", discrepancy=0.1)
    v = variances(t, model_var=0.05, emulator_var=0.02)
    assert v["observation"] == pytest.approx(math.log(1.3) ** 2)
    assert v["discrepancy"] == pytest.approx(math.log(1.1) ** 2)
    total = math.log(1.3) ** 2 + math.log(1.1) ** 2 + 0.05 + 0.02
    assert float(v["total"]) == pytest.approx(total)
    assert implausibility(t, math.log(200), 0.05, 0.02) == pytest.approx(math.log(2) / math.sqrt(total))
    assert implausibility(t, math.log(50), 0.05, 0.02) == pytest.approx(math.log(2) / math.sqrt(total))
    # a band: 0 inside, distance to the nearest end outside; a one-sided band has one end
    band = Target(name="b", metric="consumed_g", years=(1998, 1998), range=(10, 20), reliability="H")
    assert implausibility(band, math.log(15)) == 0
    assert implausibility(band, math.log(40)) == pytest.approx(math.log(2) / math.log(1.1))
    floor = Target(name="f", metric="consumed_g", years=(1998, 1998), range=(10, math.inf), reliability="L")
    assert implausibility(floor, math.log(1e9)) == 0 and implausibility(floor, math.log(5)) == pytest.approx(1.0)


def test_run_to_run_variance_is_pooled_over_replicated_points():
    runs = pd.DataFrame({"point": [0, 0, 0, 1, 1, 2], "target": "y", "z": [1.0, 2.0, 3.0, 5.0, 7.0, 100.0]})
    # point 0: s^2 = 1 (2 dof), point 1: s^2 = 2 (1 dof), point 2: one run, no information
    assert model_variance(runs)["y"] == pytest.approx((2 * 1.0 + 1 * 2.0) / 3)


def test_abc_distance_is_the_implausibility_of_one_run_and_uses_the_discrepancy():
    t = Target(name="p", metric="consumed_g", years=(1998, 1998), observed=100, reliability="H")
    assert distance([t], {"p": 200}) == pytest.approx(t.distance(200))  # no discrepancy: as before
    tg = Targets(discrepancy=0.2, targets=[t.model_copy(update={"discrepancy": None})])
    assert tg.targets[0].discrepancy == 0.2  # the file's value
    d = distance(tg.targets, {"p": 200})
    assert d == pytest.approx(math.log(2) / math.sqrt(math.log(1.1) ** 2 + math.log(1.2) ** 2))
    assert d < t.distance(200)


def test_history_matching_rules_out_the_far_region_and_keeps_the_truth(tmp_path):
    pr = _problem()
    waves, ems = match(pr, tmp_path / "h.duckdb", "synthetic", SETTINGS, waves=2)
    assert list(waves["wave"]) == [0, 1] and (waves["runs"] == 20 + 4 * 2).all()
    assert waves["nroy_fraction"].iloc[-1] < 0.2  # most of the space is ruled out
    box = nroy_box(tmp_path / "h.duckdb", "synthetic")
    assert box["a"][0] <= TRUTH["a"] <= box["a"][1] and box["b"][0] <= TRUTH["b"] <= box["b"][1]
    assert box["a"][1] - box["a"][0] < 0.5 and box["c"] == pytest.approx((0, 1), abs=0.05)  # c is not learnt
    # emulators validate: leave-one-out errors mostly within 3 standard deviations
    assert (ems["loo_outside_3"] <= 0.1).all() and (ems["loo_rmse"] < 0.3).all()
    assert ems.loc[ems["target"] == "y3", "ruled_out_alone"].max() == 0  # y3 (constant) rules nothing out


def test_morris_ranks_an_influential_parameter_above_an_inert_one(tmp_path):
    effects, ranking = screen_problem(_problem(), tmp_path / "s.duckdb", "s", trajectories=6, replicates=4)
    order = list(ranking["parameter"])
    assert order.index("a") < order.index("c") and order.index("b") < order.index("c")
    infl = ranking.set_index("parameter")["influential"]
    assert infl["a"] and infl["b"] and not infl["c"]
    assert set(effects.columns) >= {"parameter", "target", "mu_star", "scaled", "noise_mu_star"}
    assert len(effects) == 3 * 3  # tidy: one row per parameter and target


class Interrupt(Exception):
    pass


def test_an_interrupted_history_match_resumes_to_the_same_waves(tmp_path):
    whole, _ = match(_problem(), tmp_path / "a.duckdb", "h", SETTINGS, waves=2)
    calls = []

    def stop(wave, done, total):
        calls.append(wave)
        if wave == 1 and done == 10:
            raise Interrupt

    with pytest.raises(Interrupt):
        match(_problem(), tmp_path / "b.duckdb", "h", SETTINGS, waves=2, on_runs=stop)
    from narcoflow.calibration.batch import read_table
    kept = read_table(tmp_path / "b.duckdb", "history_runs", "wave = 1", [])
    assert kept["point"].nunique() > 0  # the finished runs of the interrupted wave are stored
    ran = []
    resumed, _ = match(_problem(), tmp_path / "b.duckdb", "h", SETTINGS, waves=2,
                       on_runs=lambda w, d, t: ran.append((w, d)))
    assert ran[0] == (0, 28) and ran[1][0] == 1 and ran[1][1] >= 10  # nothing of wave 0 ran again
    cols = ["wave", "runs", "kept", "nroy_fraction", "box", "next_box"]
    pd.testing.assert_frame_equal(whole[cols], resumed[cols])


def test_screen_history_match_and_calibrate_within_on_the_engine(tmp_path):
    """End to end at a tiny scale: screen -> history-match --screening -> calibrate --within."""
    from typer.testing import CliRunner

    from narcoflow.calibration.calibrate import load_calibration
    from narcoflow.cli import app

    f, db = tmp_path / "t.yaml", tmp_path / "hm.duckdb"
    f.write_text("discrepancy: 0.2\ntargets:\n"
                 "- {name: c, metric: consumed_g, years: [1998, 1998], range: [10000, 40000], reliability: L}\n"
                 "- {name: s, metric: state_revenue_usd, years: [1998, 1998], range: [2.0e+7, 2.0e+8]}\n")
    common = ["--targets", str(f), "--years", "1", "--scale", "0.0005", "--out", str(db)]
    runner = CliRunner()
    res = runner.invoke(app, ["screen", "north-korea-2011", *common, "--trajectories", "2", "--replicates", "2",
                              "--threshold", "0", "--params", "state.siphon_rate,private.purity"])
    assert res.exit_code == 0, res.output
    sid = res.output.strip().splitlines()[-1].removeprefix("screening_id: ")
    assert "rank" in res.output and "state.siphon_rate" in res.output
    res = runner.invoke(app, ["history-match", "north-korea-2011", *common, "--screening", sid, "--top", "1",
                              "--points", "5", "--replicate-points", "2", "--replicates", "2", "--waves", "1",
                              "--candidates", "200"])
    assert res.exit_code == 0, res.output
    hid = res.output.strip().splitlines()[-1].removeprefix("history_match_id: ")
    assert "wave 0: 7 runs" in res.output and "nroy_fraction" in res.output
    res = runner.invoke(app, ["calibrate", "north-korea-2011", *common, "--within", hid[:8], "--populations", "1",
                              "--particles", "2", "--draws", "1"])
    assert res.exit_code == 0, res.output
    cid = res.output.strip().splitlines()[-1].removeprefix("calibration_id: ")
    info = load_calibration(db, cid)[0]
    box = nroy_box(db, hid)
    assert json.loads(info["priors"]) == {p: list(b) for p, b in box.items()}
    # the calibration report finds the history match and the screening it fitted within
    from narcoflow.viz.report import build_figures, load_report_data

    data = load_report_data(db, cid)
    hist = data.calibration["history"]
    assert hist["match"]["history_id"] == hid and hist["screening"]["screening_id"] == sid
    assert {"prior_posterior", "waves"} <= set(build_figures(data))
    # --prior region: uniform on the space the match left (another calibration id); bad uses refused
    res = runner.invoke(app, ["calibrate", "north-korea-2011", *common, "--within", hid[:8], "--populations", "1",
                              "--particles", "2", "--draws", "1", "--prior", "region"])
    assert res.exit_code == 0, res.output
    cid2 = res.output.strip().splitlines()[-1].removeprefix("calibration_id: ")
    assert cid2 != cid and json.loads(load_calibration(db, cid2)[0]["settings"])["region"] == hid
    for extra, msg in ((["--prior", "region"], "needs --within"), (["--prior", "cube"], "must be 'box' or 'region'")):
        res = runner.invoke(app, ["calibrate", "north-korea-2011", *common, "--params", "state.siphon_rate", *extra])
        assert res.exit_code == 2 and msg in res.output, res.output


def test_history_match_needs_parameters(tmp_path):
    from typer.testing import CliRunner

    from narcoflow.cli import app

    res = CliRunner().invoke(app, ["history-match", "north-korea-2011", "--targets", "north-korea-2011",
                                   "--out", str(tmp_path / "x.duckdb")])
    assert res.exit_code == 2 and "--params a,b or --screening ID" in res.output


def test_the_space_that_remains_is_the_one_the_match_kept_and_the_prior_draws_only_there(tmp_path):
    """nroy_region refits the waves from stored runs: it contains every point the last wave kept
    and the truth, not the far corner; NroyPrior (pyabc) draws only inside and has density 0 outside."""
    pyabc = pytest.importorskip("pyabc")
    from narcoflow.calibration.history import _read, nroy_region
    from narcoflow.calibration.nroy_prior import NroyPrior

    db = tmp_path / "h.duckdb"
    match(_problem(), db, "synthetic", SETTINGS, waves=2)
    region = nroy_region(db, "synth", Targets(targets=_targets()))
    kept = _read(db, "history_nroy", "synthetic")
    last = kept[kept["wave"] == kept["wave"].max()].pivot(index="sample", columns="parameter_index",
                                                          values="value").to_numpy()
    assert len(last) > 10 and region.contains(last).all()
    assert region.contains(np.array([[TRUTH["a"], TRUTH["b"], 0.5], [1.0, 0.0, 0.5]])).tolist() == [True, False]
    names = ["b", "a", "c"]  # the calibration's order need not be the match's
    prior = NroyPrior(**{f"p{i}": pyabc.RV("uniform", 0, 1) for i in range(3)}, region=region, names=names)
    np.random.seed(5)  # noqa: NPY002 - pyabc draws from numpy's global generator
    draws = np.array([[d[f"p{i}"] for i in range(3)] for d in (prior.rvs() for _ in range(200))])
    as_match = draws[:, [1, 0, 2]]
    assert region.contains(as_match).all()
    assert np.ptp(as_match[:, 2]) > 0.8  # c is not learnt: drawn over its whole range
    assert prior.pdf({"p0": 0.0, "p1": 1.0, "p2": 0.5}) == 0.0  # b = 0, a = 1: ruled out
    inside = dict(zip(["p0", "p1", "p2"], draws[0], strict=True))
    assert prior.pdf(inside) == pytest.approx(1.0) and prior.copy().pdf(inside) == pytest.approx(1.0)
    # unit-scaled RVs (as calibrate gives them): a draw u is the point low + u (high - low) of ``priors``
    priors = [(0.5, 0.9), (0.1, 0.5), (0.0, 1.0)]  # b, a, c: a sub-box around the truth
    unit = NroyPrior(**{f"p{i}": pyabc.RV("uniform", 0, 1) for i in range(3)}, region=region, names=names,
                     priors=priors).copy()
    u = np.array([[d[f"p{i}"] for i in range(3)] for d in (unit.rvs() for _ in range(200))])
    assert u.min() >= 0 and u.max() <= 1
    x = np.column_stack([lo + u[:, i] * (hi - lo) for i, (lo, hi) in enumerate(priors)])
    assert region.contains(x[:, [1, 0, 2]]).all()
    grid = np.random.default_rng(1).uniform(size=(200, 3))
    xg = np.column_stack([lo + grid[:, i] * (hi - lo) for i, (lo, hi) in enumerate(priors)])
    dens = np.array([unit.pdf(dict(zip(["p0", "p1", "p2"], g, strict=True))) for g in grid])
    assert ((dens > 0) == region.contains(xg[:, [1, 0, 2]])).all() and 0 < (dens > 0).sum() < 200
