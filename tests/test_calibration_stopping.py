"""When ABC-SMC stops (issue 14: "a method that converges"): after --populations generations,
earlier when epsilon stops falling (--min-epsilon-drop) or time runs out (--max-hours); a rerun
goes on from the stored history, except past convergence."""

from __future__ import annotations

import math

import numpy as np
import pytest

from narcoflow.calibration.calibrate import calibrate, epsilon_drop, stop_reason
from narcoflow.calibration.targets import Target, Targets
from narcoflow.errors import NarcoflowError
from narcoflow.scenario import load, uncertain_parameters

pytest.importorskip("pyabc")

PARAM = "consumption.escalation_per_week"


class Line:
    """y = exp(1 + 2 u + N(0, 0.05^2)), u: the parameter's position in its range; counts its calls."""

    def __init__(self, lo: float, hi: float):
        self.lo, self.hi, self.calls = lo, hi, 0

    def __call__(self, values: dict[str, float], seed: int) -> dict[str, float]:
        self.calls += 1
        u = (values[PARAM] - self.lo) / (self.hi - self.lo)
        return {"y": math.exp(1 + 2 * u + np.random.default_rng(seed).normal(0, 0.05))}


@pytest.fixture
def problem():
    sc = load("north-korea-2011")
    lo, hi = (float(x) for x in uncertain_parameters(sc)[PARAM].range)
    targets = Targets(name="line", parameters=[PARAM], targets=[
        Target(name="y", metric="consumed_g", years=(1998, 1998), observed=math.exp(1.8), reliability="H")])
    return sc, targets, Line(lo, hi)


def test_epsilon_drop_and_stop_reason():
    assert epsilon_drop([3.0, 2.4]) == pytest.approx(0.2)
    assert epsilon_drop([2.0]) is None and epsilon_drop([np.inf, 2.0]) is None
    assert stop_reason([3.0, 2.4], populations=5, min_epsilon_drop=0.1) is None  # fell 20 %: go on
    assert stop_reason([3.0, 2.4, 2.3], populations=5, min_epsilon_drop=0.1).startswith("converged: epsilon fell 4.2 %")
    assert stop_reason([3.0, 2.4, 2.3], populations=5) is None  # 0: never stops early
    assert stop_reason([3.0, 2.0], populations=2, min_epsilon_drop=0.1).startswith("2 generations done")
    assert "time limit" in stop_reason([3.0], populations=4, out_of_time=True)
    assert stop_reason([3.0], populations=4, min_epsilon_drop=0.5) is None  # one generation: no drop yet


def test_converged_calibration_stops_early_and_a_rerun_starts_no_new_generation(problem, tmp_path):
    sc, targets, sim = problem
    db = tmp_path / "c.duckdb"
    # any fall below 99 % counts as converged: two generations of at most five
    cid, _, diag = calibrate(sc, targets, db, populations=5, particles=15, simulator=sim, min_epsilon_drop=0.99)
    assert list(diag["generation"]) == [0, 1]
    assert epsilon_drop(list(diag["epsilon"])) < 0.99
    calls = sim.calls
    again, _, diag2 = calibrate(sc, targets, db, populations=5, particles=15, simulator=sim, min_epsilon_drop=0.99)
    assert again == cid and len(diag2) == 2 and sim.calls == calls  # nothing run
    # without the rule the same calibration goes on from its history
    _, _, diag3 = calibrate(sc, targets, db, populations=3, particles=15, simulator=sim)
    assert list(diag3["generation"]) == [0, 1, 2] and sim.calls > calls
    assert diag3["epsilon"].iloc[:2].tolist() == diag["epsilon"].tolist()


def test_time_limit_stops_after_a_generation_and_a_rerun_goes_on(problem, tmp_path):
    sc, targets, sim = problem
    db = tmp_path / "t.duckdb"
    _, _, diag = calibrate(sc, targets, db, populations=3, particles=15, simulator=sim, max_hours=1e-9)
    assert list(diag["generation"]) == [0]
    _, _, diag2 = calibrate(sc, targets, db, populations=3, particles=15, simulator=sim)
    assert list(diag2["generation"]) == [0, 1, 2]


@pytest.mark.parametrize("kw", [{"min_epsilon_drop": 1.0}, {"min_epsilon_drop": -0.1}, {"max_hours": 0.0}])
def test_bad_stopping_settings_are_refused_before_any_run(problem, tmp_path, kw):
    sc, targets, sim = problem
    with pytest.raises(NarcoflowError, match="out of range"):
        calibrate(sc, targets, tmp_path / "x.duckdb", populations=2, particles=15, simulator=sim, **kw)
    assert sim.calls == 0
