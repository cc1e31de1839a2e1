"""The EMA Workbench adapter (issue 15, item 3): a scenario as an EMA ``Model`` whose
uncertainties are the scenario's ranges, whose levers are narcoflow's levers, and whose
outcomes are narcoflow's outcomes of the run that EMA asked for.

Runs are tiny (scale 0.002, one year). Without the ``ema`` extra only the missing-extra test runs.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from narcoflow import extras
from narcoflow.engine import Simulation
from narcoflow.errors import NarcoflowError
from narcoflow.experiments import apply_levers, outcomes_of
from narcoflow.scenario import load, uncertain_parameters
from test_extras import run_without

needs_ema = pytest.mark.skipif(not extras.available("ema_workbench"),
                               reason="the 'ema' extra (ema_workbench) is not installed")
BORDER = ["North Pyongan", "Chagang", "Ryanggang", "North Hamgyong"]
UNCS = ["border.bribe_acceptance", "border.destinations[0].interdiction_prob"]


@pytest.fixture(scope="module")
def nk():
    return load("north-korea-2011")


@pytest.fixture(scope="module")
def ema():
    from narcoflow.experiments.ema import import_ema

    return import_ema()


def _model(nk, **kw):
    from narcoflow.experiments.ema import ema_model

    args = dict(uncertainties=UNCS, levers={"crackdown": {"regions": BORDER, "range": (1, 3)}},
                outcomes=["exports_arrived_kg:China", "users_end",
                          "china_private=delivered_abroad_g,region=China,channel=private"],
                yearly=["users_end"], scale=0.002, years=1, seed=3)
    return ema_model(nk, **{**args, **kw})


def _perform(ema, model, n=3, seed=11, **kw):
    np.random.seed(seed)  # noqa: NPY002 (EMA samples with numpy's global generator)
    with ema.SequentialEvaluator(model) as evaluator:
        return ema.perform_experiments(model, scenarios=n, evaluator=evaluator, **kw)


@needs_ema
def test_uncertainties_are_the_scenarios_ranges(nk, ema):
    from narcoflow.experiments.ema import ema_model, ema_name

    model = ema_model(nk, scale=0.002, years=1)  # all uncertain parameters, all outcomes
    params = uncertain_parameters(nk)
    explored = {path: p for path, p in params.items() if p.range[0] < p.range[1]}
    assert [u.name for u in model.uncertainties] == [ema_name(p) for p in explored]
    assert model.function.paths == {ema_name(p): p for p in explored}
    for u in model.uncertainties:
        assert isinstance(u, ema.RealParameter)
        assert (u.lower_bound, u.upper_bound) == tuple(params[model.function.paths[u.name]].range)
    assert "exports_arrived_kg_China" in [o.name for o in model.outcomes] and not list(model.levers)
    # a subset over narrower ranges; anything outside the scenario's range is refused
    sub = ema_model(nk, uncertainties={"border.bribe_acceptance": (0.2, 0.5)}, outcomes=["users_end"])
    (u,) = sub.uncertainties
    assert (u.name, u.lower_bound, u.upper_bound) == ("border_bribe_acceptance", 0.2, 0.5)
    with pytest.raises(NarcoflowError, match=r"range \[0\.05, 0\.5\].*\[0\.1, 0\.95\]"):
        ema_model(nk, uncertainties={"border.bribe_acceptance": (0.05, 0.5)})
    with pytest.raises(NarcoflowError, match="not an uncertain parameter"):
        ema_model(nk, uncertainties=["border.no_such_thing"])
    with pytest.raises(NarcoflowError, match="not an outcome"):
        ema_model(nk, outcomes=["exports_to_mars"])


@needs_ema
def test_levers_are_narcoflows_levers(nk, ema):
    from narcoflow.experiments.ema import ema_model

    model = ema_model(nk, uncertainties=UNCS, outcomes=["users_end"],
                      levers={"crackdown": {"regions": BORDER, "start": (1998, 2000)}, "quitting": {}})
    levers = {p.name: p for p in model.levers}
    assert list(levers) == ["crackdown", "crackdown_start", "quitting"]
    assert (levers["crackdown"].lower_bound, levers["crackdown"].upper_bound) == (1.0, 10.0)
    assert isinstance(levers["crackdown_start"], ema.IntegerParameter)
    assert (levers["crackdown_start"].lower_bound, levers["crackdown_start"].upper_bound) == (1998, 2000)
    # an experiment's scenario is the scenario with the values set and the levers applied
    sc = model.function.scenario_for(border_bribe_acceptance=0.4, crackdown=2.5, crackdown_start=1999,
                                     quitting=2.0)
    expected = apply_levers(nk, {
        "crackdown": {"value": 2.5, "start": dt.date(1999, 1, 1), "regions": BORDER}, "quitting": 2.0},
        policy="ema")
    assert sc.border.bribe_acceptance.value == 0.4
    assert sc.events[-1] == expected.events[-1] and sc.consumption == expected.consumption
    with pytest.raises(NarcoflowError, match="national: it takes no regions"):
        ema_model(nk, levers={"quitting": {"regions": BORDER}})
    with pytest.raises(NarcoflowError, match="takes no start"):
        ema_model(nk, levers={"quitting": {"start": 2000}})


@needs_ema
def test_perform_experiments_returns_the_outcomes(nk, ema):
    model = _model(nk)
    experiments, outcomes = _perform(ema, model, n=3)
    assert len(experiments) == 3
    assert set(experiments.columns) >= {"border_bribe_acceptance", "scenario", "policy"}
    assert list(outcomes) == ["exports_arrived_kg_China", "users_end", "china_private", "TIME",
                              "users_end_yearly"]
    for name in ("exports_arrived_kg_China", "users_end", "china_private"):
        assert outcomes[name].shape == (3,) and np.isfinite(outcomes[name]).all()
    years = model.function.calendar_years
    assert years == [1998]  # 52 weekly steps from 5 January 1998: the last on 28 December
    assert outcomes["TIME"].shape == outcomes["users_end_yearly"].shape == (3, len(years))
    # the yearly series ends where the scalar does: users at the end of the run
    np.testing.assert_array_equal(outcomes["users_end_yearly"][:, -1], outcomes["users_end"])
    # each outcome is narcoflow's outcome of the run EMA asked for
    row = experiments.iloc[0]
    sc = model.function.scenario_for(**{k: row[k] for k in ("border_bribe_acceptance",
                                                             "border_destinations_0_interdiction_prob")})
    metrics = Simulation(sc, seed=3, scale=0.002, years=1).run().results.metrics
    direct = outcomes_of(metrics, destinations=["China", "Japan", "South Korea"])
    assert outcomes["exports_arrived_kg_China"][0] == direct["exports_arrived_kg:China"]
    assert outcomes["users_end"][0] == direct["users_end"]
    # scenario discovery runs on the result
    from narcoflow.experiments.ema import make_prim

    exports = outcomes["exports_arrived_kg_China"]
    x = experiments[[u.name for u in model.uncertainties]]
    box = make_prim(x, exports >= np.median(exports), threshold=0.5).find_box()
    assert len(box.peeling_trajectory) >= 1
    with pytest.raises(NarcoflowError, match="cases of both kinds"):
        make_prim(x, exports >= 0)


@needs_ema
def test_same_seeds_give_identical_outcomes(nk, ema):
    model = _model(nk, yearly=False)
    policies = [ema.Policy("off", crackdown=1.0), ema.Policy("on", crackdown=3.0)]
    exp1, out1 = _perform(ema, model, n=2, policies=policies)
    exp2, out2 = _perform(ema, _model(nk, yearly=False), n=2, policies=policies)
    # (EMA numbers its scenarios across calls: compare the inputs)
    inputs = [u.name for u in model.uncertainties] + ["crackdown"]
    assert exp1[inputs].equals(exp2[inputs]) and exp1["policy"].tolist() == exp2["policy"].tolist()
    for name in out1:
        np.testing.assert_array_equal(out1[name], out2[name])
    # common random numbers: the policies differ, the seed does not
    from narcoflow.experiments.ema import paired_change

    change = paired_change(model, exp1, out1, "china_private", "on", "off")
    assert list(change.columns) == [*(u.name for u in model.uncertainties), "change"]
    assert len(change) == 2 and np.isfinite(change["change"]).all()
    # another seed gives another run
    _, out3 = _perform(ema, _model(nk, yearly=False, seed=4), n=2, policies=policies)
    assert any(not np.array_equal(out1[n], out3[n]) for n in out1)


@needs_ema
def test_replications_average_over_seeds(nk, ema):
    model = _model(nk, replications=2, levers=None)
    experiments, out = _perform(ema, model, n=1)
    inputs = {name: experiments.iloc[0][name] for name in model.function.paths}
    runs = [model.function(seed=seed, **inputs) for seed in (3, 4)]  # seeds seed .. seed+1
    assert out["users_end"][0] == np.mean([r["users_end"] for r in runs])
    np.testing.assert_array_equal(out["users_end_yearly"][0], np.mean([r["users_end_yearly"] for r in runs], axis=0))


@needs_ema
def test_multiprocessing_evaluator_gives_the_sequential_outcomes(nk, ema):
    model = _model(nk, yearly=False)
    np.random.seed(5)  # noqa: NPY002
    with ema.MultiprocessingEvaluator(model, n_processes=2) as evaluator:
        exp_mp, out_mp = ema.perform_experiments(model, scenarios=2, evaluator=evaluator)
    exp_seq, out_seq = _perform(ema, model, n=2, seed=5)
    order = np.argsort(exp_mp["scenario"].astype(int).to_numpy())  # workers may finish out of order
    for name in out_seq:
        np.testing.assert_array_equal(out_mp[name][order], out_seq[name])


def test_without_the_extra_the_message_names_it():
    proc = run_without("""
from narcoflow.experiments.ema import ema_model
from narcoflow.scenario import load
from narcoflow.errors import NarcoflowError
try:
    ema_model(load("north-korea-2011"))
except NarcoflowError as exc:
    print(type(exc).__name__, exc)
""", "ema_workbench")
    assert proc.returncode == 0, proc.stderr
    assert "MissingExtraError" in proc.stdout and "pip install 'narcoflow[ema]'" in proc.stdout


@needs_ema
def test_window_and_user_defined_outcomes_read_the_run_as_narcoflow_does(nk, ema):
    from narcoflow.experiments import OutcomeDef, Window
    from narcoflow.experiments.ema import ema_model

    window = Window(1999, 1999)
    china = OutcomeDef.parse("china_private=delivered_abroad_g,region=China,channel=private")
    model = ema_model(nk, uncertainties=UNCS, outcomes=["exports_arrived_kg:China", "arrests", china],
                      window=window, yearly=True, scale=0.002, years=2,
                      levers={"crackdown": {"start": (1998, 2015)}})
    assert [o.name for o in model.outcomes] == ["exports_arrived_kg_China", "arrests", "china_private", "TIME",
                                                "exports_arrived_kg_China_yearly", "arrests_yearly",
                                                "china_private_yearly"]
    metrics = Simulation(nk, seed=1, scale=0.002, years=2).run().results.metrics
    got = model.function.outcomes_from(metrics)
    want = outcomes_of(metrics, destinations=["China", "Japan", "South Korea"], window=window, custom=[china])
    assert got["exports_arrived_kg_China"] == want["exports_arrived_kg:China[1999-1999]"]
    assert got["arrests"] == want["arrests[1999-1999]"] and got["china_private"] == want["china_private"]
    assert got["TIME"].tolist() == [1998.0, 1999.0]  # 104 weeks from 5 January 1998: to 27 December 1999
    assert got["arrests_yearly"][1] == got["arrests"]
    assert got["arrests_yearly"].sum() == pytest.approx(outcomes_of(metrics)["arrests"])
    # a crackdown that would start after the run ends is no crackdown: the scenario is unchanged
    assert model.function.scenario_for(crackdown=3.0, crackdown_start=2010) == nk
    assert model.function.scenario_for(crackdown=3.0, crackdown_start=1999).events[-1].type == "crackdown"
    with pytest.raises(NarcoflowError, match="--from 2005 is after the run ends"):
        ema_model(nk, uncertainties=UNCS, outcomes=["arrests"], window=Window(2005, None), years=2)
