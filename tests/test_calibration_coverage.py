"""Is the method honest? Coverage of ABC-SMC's posterior intervals on synthetic truth (issue 14,
item 5): on a closed-form simulator whose posterior is known, and once end to end on the engine."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from narcoflow.calibration.coverage import (
    check_coverage,
    coverage_table,
    interval_rows,
    overall,
    synthetic_targets,
)
from narcoflow.calibration.targets import Quote, Target, Targets, load_targets
from narcoflow.errors import NarcoflowError
from narcoflow.scenario import load, uncertain_parameters

A, B, C = "consumption.use_g_per_week", "consumption.peer_initiation_per_week", "prices.normal_fill"
SD = 0.1  # noise of the analytic model's log outputs (the H tolerance's log(1.1) = 0.095 is about the same)


class Analytic:
    """log y1 = 1 + 2 u_a + e1, log y2 = 1 + 2 u_b + e2, e ~ N(0, SD^2), u = the parameter's position
    in its range; C moves nothing (not identifiable). With a uniform prior the posterior of u_a is
    N((log y1 - 1) / 2, (SD / 2)^2) cut to [0, 1]: its 90 % interval is 0.16 of the prior's."""

    def __init__(self, ranges: dict[str, tuple[float, float]]):
        self.ranges = ranges

    def u(self, values, p):
        lo, hi = self.ranges[p]
        return (values[p] - lo) / (hi - lo)

    def __call__(self, values: dict[str, float], seed: int) -> dict[str, float]:
        rng = np.random.default_rng(seed)
        return {"y1": math.exp(1 + 2 * self.u(values, A) + rng.normal(0, SD)),
                "y2": math.exp(1 + 2 * self.u(values, B) + rng.normal(0, SD))}


def _analytic_setup():
    sc = load("north-korea-2011")
    unc = uncertain_parameters(sc)
    ranges = {p: tuple(float(x) for x in unc[p].range) for p in (A, B, C)}
    targets = Targets(name="analytic", targets=[
        Target(name=n, metric="consumed_g", years=(1998, 1998), observed=1.0, reliability="H") for n in ("y1", "y2")])
    return sc, targets, Analytic(ranges)


@pytest.fixture(scope="module")
def analytic_coverage(tmp_path_factory):
    sc, targets, sim = _analytic_setup()
    db = tmp_path_factory.mktemp("coverage") / "cov.duckdb"
    cov = check_coverage(sc, targets, [A, B, C], db, datasets=20, particles=40, populations=5, seed=3,
                         simulator=sim)
    return cov, sim


def test_intervals_cover_the_truth_about_as_often_as_they_say(analytic_coverage):
    cov, _ = analytic_coverage
    table = cov.table().set_index("parameter")
    assert list(table["datasets"]) == [20, 20, 20]
    # A and B are identified (posterior far narrower than the prior), C is not and is left out
    assert table.loc[A, "identifiable"] and table.loc[B, "identifiable"]
    assert not table.loc[C, "identifiable"] and table.loc[C, "median_width_ratio"] > 0.8
    tot = overall(cov.table())
    assert tot["parameters"] == [A, B] and tot["not_identifiable"] == [C] and tot["cases"] == 40
    assert tot["coverage"] >= 0.7  # nominal 90 %; ABC with a tolerance errs on the wide side
    for p in (A, B):
        assert table.loc[p, "coverage"] >= 0.65


def test_posterior_width_is_that_of_the_known_posterior(analytic_coverage):
    """The exact posterior's 90 % interval is 2 x 1.645 x SD / 2 = 0.16 of the range (0.18 of the prior's
    90 % width); ABC's may be wider (a tolerance above zero) but not narrower, nor near the prior's."""
    cov, _ = analytic_coverage
    ratio = cov.table().set_index("parameter")["median_width_ratio"]
    exact = 2 * 1.645 * SD / 2 / 0.9
    for p in (A, B):
        assert 0.8 * exact <= ratio[p] <= 2.5 * exact, (p, ratio[p], exact)


def test_narrowed_intervals_give_low_coverage(analytic_coverage):
    """The check has teeth: the same posteriors read with 25 % intervals (or with the 90 % intervals
    shrunk to a quarter of their width about the median) cover the truth far less often than 90 %."""
    cov, _ = analytic_coverage
    narrow = overall(cov.table(level=0.25))
    assert narrow["coverage"] <= 0.5
    rows = cov.rows()
    rows = rows[rows["parameter"].isin([A, B])]
    half = (rows["high"] - rows["low"]) / 8
    shrunk = rows.assign(covered=(rows["truth"] - rows["median"]).abs() <= half)
    assert shrunk["covered"].mean() <= 0.55


def test_coverage_is_reproducible_and_resumes(analytic_coverage, tmp_path):
    sc, targets, sim = _analytic_setup()
    a = check_coverage(sc, targets, [A, B], tmp_path / "c.duckdb", datasets=2, particles=10, populations=2,
                       seed=5, simulator=sim)
    b = check_coverage(sc, targets, [A, B], tmp_path / "c.duckdb", datasets=2, particles=10, populations=2,
                       seed=5, simulator=sim)  # same ids: read back from the stored calibrations
    assert list(a.truths["calibration_id"]) == list(b.truths["calibration_id"])
    pd.testing.assert_frame_equal(a.rows(), b.rows())
    # truths: a Latin hypercube over the ranges, one per data set, each in its own stratum
    u = (a.truths[A] - sim.ranges[A][0]) / (sim.ranges[A][1] - sim.ranges[A][0])
    assert sorted((u * 2).astype(int)) == [0, 1]


def test_interval_rows_weigh_particles_and_measure_width_against_the_prior():
    post = pd.DataFrame({"calibration_id": "x", "generation": 1, "particle": range(100), "parameter": "p",
                         "value": np.linspace(0, 1, 100), "weight": np.r_[np.ones(50), np.full(50, 1e-9)]})
    r = interval_rows(post, {"p": 0.8}, {"p": (0.0, 2.0)}).iloc[0]
    assert r["high"] < 0.5 and not r["covered"]  # the weight lies below 0.5
    assert r["width_ratio"] == pytest.approx((r["high"] - r["low"]) / (0.9 * 2.0))
    t = coverage_table(pd.DataFrame({"parameter": ["p", "p", "q", "q"], "covered": [True, False, True, True],
                                     "width_ratio": [0.2, 0.4, 0.9, 1.0]}))
    assert t.set_index("parameter")["identifiable"].to_dict() == {"p": True, "q": False}
    assert overall(t)["coverage"] == 0.5 and overall(t)["not_identifiable"] == ["q"]


def test_synthetic_targets_are_points_with_the_targets_own_measurement_model():
    tg = Targets(discrepancy=0.2, targets=[
        Target(name="price", metric="price_usd_per_g", years=(2007, 2007), aggregation="mean_value",
               quote=Quote(amount=5000000, currency="KPW", grams=1000, date="2007-10-01"), reliability="L"),
        Target(name="band", metric="consumed_g", years=(1998, 1998), range=(10, 20), reliability="H",
               discrepancy=0.5),
        Target(name="floor", metric="arrests", years=(1998, 1998), range=(3, math.inf), floor=True),
        Target(name="zero", metric="seized_g", years=(1998, 1998), observed=5),
        Target(name="later", metric="users", years=(1998, 1998), observed=5, waiting="not yet")])
    synth, dropped = synthetic_targets(tg.targets, {"price": 2.5, "band": 33.0, "floor": 1.0, "zero": 0.0},
                                       parameters=[A], discrepancy=tg.discrepancy)
    by = {t.name: t for t in synth.targets}
    assert set(by) == {"price", "band"} and set(dropped) == {"floor", "zero", "later"}
    assert by["price"].band() == (2.5, 2.5, 1.0) and by["price"].quote is None
    assert by["band"].band() == (33.0, 33.0, 0.1) and by["band"].discrepancy == 0.5
    assert by["price"].discrepancy == 0.2 and synth.parameters == [A]
    with pytest.raises(NarcoflowError, match="No synthetic target"):
        synthetic_targets(tg.targets[2:], {"floor": 5.0, "zero": 0.0})


def test_coverage_end_to_end_on_the_engine(tmp_path):
    """One synthetic data set, the engine at a tiny scale over three years: the table has one row per
    parameter and the targets outside the simulated years are named as left out."""
    sc = load("north-korea-2011")
    params = ["state.facilities[0].capacity_g_per_week.methamphetamine", "border.destinations[1].interdiction_prob"]
    seen = []
    cov = check_coverage(sc, load_targets("north-korea-2011"), params, tmp_path / "e.duckdb", datasets=1,
                         scale=0.002, years=3, particles=4, populations=1, seed=1,
                         on_dataset=lambda k, info: seen.append(info))
    table = cov.table()
    assert list(table.columns) == ["parameter", "datasets", "covered", "coverage", "median_width_ratio",
                                   "identifiable"]
    assert list(table["parameter"]) == params and (table["datasets"] == 1).all()
    assert set(cov.targets[0]) <= {"state_revenue_1998", "japan_delivered_1999", "japan_seized_1999"}
    assert "not simulated" in cov.dropped[0]["retail_price_2011"]
    assert seen[0]["calibration_id"] == cov.truths["calibration_id"].iloc[0]
    rows = cov.rows()
    lo, hi = uncertain_parameters(sc)[params[0]].range
    r0 = rows[rows["parameter"] == params[0]].iloc[0]
    assert lo <= r0["low"] <= r0["median"] <= r0["high"] <= hi


def test_coverage_within_a_history_match(tmp_path):
    """``within``: each data set is history-matched first and fitted inside the box its last wave keeps."""
    from narcoflow.calibration.coverage import Within
    from narcoflow.calibration.history import Settings

    sc, targets, sim = _analytic_setup()
    seen = []
    cov = check_coverage(sc, targets, [A, B], tmp_path / "w.duckdb", datasets=2, particles=10, populations=2,
                         seed=2, simulator=sim, on_dataset=lambda k, info: seen.append(info),
                         within=Within(Settings(points=12, candidates=1000, replicate_points=2, replicates=2), 1))
    assert cov.truths["history_id"].notna().all()
    for info, (_, tr) in zip(seen, cov.truths.iterrows(), strict=True):
        box = info["bounds"]
        assert box and set(box) <= {A, B}
        for p, (lo, hi) in box.items():
            assert sim.ranges[p][0] <= lo < hi <= sim.ranges[p][1]
            assert (hi - lo) < 0.9 * (sim.ranges[p][1] - sim.ranges[p][0])  # something was ruled out
        post = cov.posteriors[int(tr["dataset"])]
        for p, (lo, hi) in box.items():
            v = post.loc[post["parameter"] == p, "value"]
            assert ((v >= lo) & (v <= hi)).all()
    assert len(cov.table()) == 2


def test_measurement_error_has_the_targets_variance():
    from narcoflow.calibration.coverage import with_measurement_error

    t = Target(name="y", metric="consumed_g", years=(1998, 1998), observed=1.0, reliability="M", discrepancy=0.2)
    rng = np.random.default_rng(0)
    z = np.log([with_measurement_error([t], {"y": 100.0, "other": 5.0}, rng)["y"] / 100 for _ in range(4000)])
    assert abs(z.mean()) < 0.02 and z.std() == pytest.approx(math.sqrt(t.measurement_variance()), rel=0.05)
    assert with_measurement_error([t], {"y": 1.0, "other": 5.0}, rng)["other"] == 5.0
