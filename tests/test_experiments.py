"""Experiments in this process: comparisons, sweeps, sensitivity, resume, statistics, tables.

Runs are tiny (scale 0.001, one year): these tests check bookkeeping and statistics, not the
model's behaviour (see test_policies.py and test_claims.py for that).
"""

from __future__ import annotations

import re
import runpy
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from narcoflow.errors import NarcoflowError, StoreError
from narcoflow.experiments import (
    FewReplicationsWarning,
    LocalExecutor,
    compare,
    compare_table,
    outcomes_for,
    plan_compare,
    plan_sweep,
    run_plan,
    sensitivity,
    sweep,
    sweep_points,
    t_interval,
)
from narcoflow.experiments import tables as xt
from narcoflow.experiments.sensitivity_analysis import sensitivity_problem
from narcoflow.results import store
from narcoflow.scenario import load

TINY = {"scale": 0.001, "years": 1.0}


@pytest.fixture(scope="module")
def sc():
    return load("north-korea-2011")


def rows(db, sql):
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


# ---------------------------------------------------------------------------- statistics
def test_t_interval():
    mean, lo, hi = t_interval([1.0, 2.0, 3.0])
    assert (mean, round(lo, 3), round(hi, 3)) == (2.0, -0.484, 4.484)
    assert np.isnan(t_interval([5.0])[1])
    assert t_interval([2.0, 2.0]) == (2.0, 2.0, 2.0)


def test_effects_are_paired_differences():
    """Replications share seeds: the effect's interval uses the paired differences, which here
    are exactly 1 every time although the outcome itself varies a lot between replications."""
    noise = [10.0, 50.0, 30.0, 90.0]
    frame = pd.DataFrame(
        [("baseline", i, "m", v) for i, v in enumerate(noise)]
        + [("p", i, "m", v + 1.0) for i, v in enumerate(noise)],
        columns=["policy", "replication", "metric", "value"])
    t = compare_table(frame, policies=["baseline", "p"], metrics=["m"]).set_index("policy")
    assert t.loc["p", "effect_vs_baseline"] == 1.0
    assert t.loc["p", "effect_ci_low"] == pytest.approx(1.0) and t.loc["p", "effect_ci_high"] == pytest.approx(1.0)
    assert t.loc["p", "ci_high"] - t.loc["p", "ci_low"] > 50
    assert t.loc["baseline", "effect_vs_baseline"] == 0.0
    assert list(t["replications"]) == [4, 4]


# ---------------------------------------------------------------------------- compare
def test_plan_uses_common_random_numbers(sc):
    plan = plan_compare(sc, ["demand-reduction", "anti-corruption"], replications=3, seed=7, **TINY)
    assert [r.policy for r in plan.rows[:3]] == ["baseline", "demand-reduction", "anti-corruption"]
    for r in plan.rows:
        assert r.seed == 7 + r.replication
    assert len(plan.run_ids) == 9
    # the same command gives the same experiment id; another replication count another one
    assert plan.experiment_id == plan_compare(sc, ["demand-reduction", "anti-corruption"],
                                              replications=3, seed=7, **TINY).experiment_id
    assert plan.experiment_id != plan_compare(sc, ["demand-reduction", "anti-corruption"],
                                              replications=2, seed=7, **TINY).experiment_id


def test_identical_policies_share_runs(sc):
    """crackdown-2013 starts after a one-year run ends: it is the baseline, run once."""
    plan = plan_compare(sc, ["crackdown-2013"], replications=2, **TINY)
    assert len(plan.rows) == 4 and len(plan.run_ids) == 2


def test_compare_end_to_end_and_resume(tmp_path, sc):
    db = tmp_path / "c.duckdb"
    with pytest.warns(FewReplicationsWarning, match="Only 2 replications"):
        plan, table = compare(sc, ["demand-reduction"], replications=2, db=db, seed=3, **TINY)
    metrics = list(outcomes_for(["China", "Japan", "South Korea"]))
    assert "exports_arrived_kg:Japan" in metrics
    assert list(table.columns) == ["policy", "metric", "mean", "ci_low", "ci_high", "effect_vs_baseline",
                                   "effect_ci_low", "effect_ci_high", "effect_rel", "effect_rel_ci_low",
                                   "effect_rel_ci_high", "p_intended", "replications"]
    assert len(table) == 2 * len(metrics)
    assert (table[table.policy == "baseline"]["effect_vs_baseline"] == 0).all()
    finite = table.dropna(subset=["ci_low"])
    assert ((finite.ci_low <= finite["mean"] + 1e-9) & (finite["mean"] <= finite.ci_high + 1e-9)).all()
    stored = xt.read_table(db, "comparisons", plan.experiment_id)
    assert len(stored) == len(table)
    assert rows(db, "SELECT count(*) FROM runs") == [(4,)]
    assert rows(db, "SELECT count(*), count(DISTINCT run_id) FROM experiments") == [(4, 4)]
    assert rows(db, "SELECT count(DISTINCT seed) FROM experiments") == [(2,)]
    # every run's metrics are stored and load back
    rid = plan.rows[0].run_id
    assert len(store.load_metrics(db, rid)) > 1000

    seen = []
    again = run_plan(plan, db, LocalExecutor(), progress=lambda p: seen.append(p.completed))
    assert (again.skipped, again.done) == (4, 0) and seen == [4]
    with pytest.warns(FewReplicationsWarning):
        plan2, table2 = compare(sc, ["demand-reduction"], replications=2, db=db, seed=3, **TINY)
    pd.testing.assert_frame_equal(table, table2)
    assert rows(db, "SELECT count(*) FROM comparisons") == [(len(table),)]
    # one more replication reuses the four stored runs
    plan3 = plan_compare(sc, ["demand-reduction"], replications=3, seed=3, **TINY)
    assert run_plan(plan3, db).done == 2
    assert rows(db, "SELECT count(*) FROM runs") == [(6,)]


class _Interrupt(LocalExecutor):
    """Runs ``n`` items, then raises KeyboardInterrupt (as Ctrl-C would)."""

    def __init__(self, n):
        self.n = n

    def imap_unordered(self, fn, items):
        for i, item in enumerate(items):
            if i == self.n:
                raise KeyboardInterrupt
            yield fn(item)


def test_interrupted_experiment_resumes_without_duplicates(tmp_path, sc):
    db = tmp_path / "i.duckdb"
    plan = plan_compare(sc, ["anti-corruption"], replications=2, **TINY)
    with pytest.raises(KeyboardInterrupt):
        run_plan(plan, db, _Interrupt(3))
    assert rows(db, "SELECT count(*) FROM outcomes WHERE metric = 'users_end'") == [(3,)]
    state = run_plan(plan, db)
    assert (state.skipped, state.done) == (3, 1)
    assert rows(db, "SELECT count(*), count(DISTINCT run_id) FROM runs") == [(4, 4)]
    assert rows(db, "SELECT count(*) FROM experiments") == [(4,)]


def test_outcomes_only_keeps_no_metrics(tmp_path, sc):
    db = tmp_path / "o.duckdb"
    plan = plan_compare(sc, [], replications=1, **TINY)
    run_plan(plan, db, keep_metrics=False)
    assert rows(db, "SELECT count(*) FROM outcomes WHERE metric = 'consumption_kg'") == [(1,)]
    assert rows(db, "SELECT count(*) FROM information_schema.tables WHERE table_name = 'metrics'") == [(0,)]
    # asking for metrics later runs it again, keeping it whole
    assert run_plan(plan, db, keep_metrics=True).done == 1
    assert rows(db, "SELECT count(*) FROM runs") == [(1,)]


# ---------------------------------------------------------------------------- sweep
def test_sweep_points_lhs_and_grid(sc):
    pts = sweep_points(sc, ranges={"state.siphon_rate": (0.0, 0.2), "crackdown": (1, 3)}, samples=5,
                       grid={"border.bribe_acceptance": [0.2, 0.4]}, seed=1)
    assert len(pts) == 10
    assert list(pts.columns) == ["state.siphon_rate", "crackdown", "border.bribe_acceptance"]
    # Latin hypercube: each of the 5 strata of each range holds one sample
    strata = np.floor(pts["state.siphon_rate"].iloc[::2] / 0.04).astype(int)
    assert sorted(strata) == [0, 1, 2, 3, 4]
    pd.testing.assert_frame_equal(pts, sweep_points(sc, ranges={"state.siphon_rate": (0.0, 0.2),
                                                                "crackdown": (1, 3)}, samples=5,
                                                    grid={"border.bribe_acceptance": [0.2, 0.4]}, seed=1))


@pytest.mark.parametrize("kwargs, needle", [
    ({"ranges": {"state.siphon_rat": (0, 0.1)}, "samples": 2}, "Did you mean state.siphon_rate"),
    ({"ranges": {"state.siphon_rate": (0, 0.9)}, "samples": 2}, "outside the parameter's range [0, 0.25]"),
    ({"ranges": {"crackdown": (0, 3)}, "samples": 2}, "outside the lever's allowed range [1, 10]"),
    ({"ranges": {"state.siphon_rate": (0.2, 0.1)}, "samples": 2}, "LOW must not exceed HIGH"),
    ({"ranges": {"state.siphon_rate": (0, 0.1)}, "samples": 0}, "--samples"),
    ({}, "Nothing to sweep"),
])
def test_sweep_errors(sc, kwargs, needle):
    with pytest.raises(NarcoflowError, match=None) as err:
        sweep_points(sc, **kwargs)
    assert needle in str(err.value)


def test_sweep_end_to_end(tmp_path, sc):
    db = tmp_path / "s.duckdb"
    plan, table = sweep(sc, db=db, grid={"state.siphon_rate": [0.0, 0.2], "quitting": [1.0, 4.0]},
                        replications=1, keep_metrics=False, **TINY)
    assert len(table) == 4
    assert {"state.siphon_rate", "quitting", "consumption_kg", "users_end"} <= set(table.columns)
    assert rows(db, f"SELECT count(*) FROM experiments WHERE experiment_id = '{plan.experiment_id}'") == [(4,)]
    assert rows(db, "SELECT count(*) FROM experiment_values") == [(8,)]
    assert sorted(map(tuple, table[["state.siphon_rate", "quitting"]].to_numpy())) == [
        (0.0, 1.0), (0.0, 4.0), (0.2, 1.0), (0.2, 4.0)]
    assert table["run_id"].is_unique and (table["seed"] == 0).all()
    assert plan_sweep(sc, grid={"state.siphon_rate": [0.0, 0.2], "quitting": [1.0, 4.0]},
                      **TINY).experiment_id == plan.experiment_id


# ---------------------------------------------------------------------------- sensitivity
def test_sensitivity_problem_from_ranges(sc):
    every = sensitivity_problem(sc)
    assert every["num_vars"] > 50 and "state.siphon_rate" in every["names"]
    with pytest.raises(NarcoflowError, match="has no range"):
        sensitivity_problem(sc, ["prices.min_retail_usd_per_g"])


@pytest.mark.parametrize("method, samples, runs, stats", [
    ("sobol", 2, 2 * (2 + 2), {"S1", "ST"}),
    ("morris", 2, 2 * (2 + 1), {"mu_star", "mu", "sigma"}),
])
def test_sensitivity_end_to_end(tmp_path, sc, method, samples, runs, stats):
    db = tmp_path / "g.duckdb"
    names = ["consumption.quit_rate_per_week", "state.siphon_rate"]
    plan, table = sensitivity(sc, method=method, samples=samples, outcomes=["users_end", "consumption_kg"],
                              names=names, db=db, seed=1, **TINY)
    assert len(plan.rows) == runs
    assert set(table["statistic"]) == stats and set(table["parameter"]) == set(names)
    assert set(table["outcome"]) == {"users_end", "consumption_kg"}
    main = table[table["statistic"].isin(["S1", "ST", "mu_star"])]
    assert (main["ci_low"] <= main["value"]).all() and (main["value"] <= main["ci_high"]).all()
    stored = xt.read_table(db, "sensitivity", plan.experiment_id)
    assert len(stored) == len(table)
    assert rows(db, "SELECT count(*) FROM information_schema.tables WHERE table_name = 'runs'") == [(0,)]


def test_sobol_needs_a_power_of_two(tmp_path, sc):
    with pytest.raises(NarcoflowError, match="power of 2"):
        sensitivity(sc, method="sobol", samples=3, outcomes=["users_end"], names=["state.siphon_rate"],
                    db=tmp_path / "x.duckdb", **TINY)


# ---------------------------------------------------------------------------- busy database
def test_busy_database_gives_a_clear_error_and_keeps_data(tmp_path, sc, monkeypatch):
    import subprocess
    import sys

    db = tmp_path / "b.duckdb"
    plan = plan_compare(sc, [], replications=1, **TINY)
    run_plan(plan, db)
    before = rows(db, "SELECT run_id FROM runs")
    holder = subprocess.Popen([sys.executable, "-c",
                               "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
                               "print('ready', flush=True); time.sleep(60)", str(db)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        monkeypatch.setattr(xt, "BUSY_TIMEOUT", 0.5)
        other = plan_compare(sc, ["anti-corruption"], replications=1, **TINY)
        with pytest.raises(StoreError, match="is busy"):
            run_plan(other, db)
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()
    assert rows(db, "SELECT run_id FROM runs") == before
    assert run_plan(other, db).done == 1


# ---------------------------------------------------------------------------- docs
DOCS = Path(__file__).resolve().parents[1] / "docs" / "experiments.md"


def test_docs_lever_table_matches_the_registry():
    from narcoflow.scenario.schema import LEVERS

    text = DOCS.read_text("utf-8")
    table = {m.group(1): m.group(2) for m in re.finditer(r"^\| `(\w+)` \| (\[[^\]]+\]) \|", text, flags=re.M)}
    assert table == {name: spec.allowed for name, spec in LEVERS.items()}


def test_docs_yaml_examples_validate(tmp_path, sc):
    from narcoflow.experiments import load_policy_file, resolve_policy
    from narcoflow.scenario import validate_file

    blocks = re.findall(r"```yaml\n(.*?)```", DOCS.read_text("utf-8"), flags=re.S)
    scenario_file, policy_file = tmp_path / "s.yaml", tmp_path / "p.yaml"
    scenario_file.write_text(next(b for b in blocks if b.lstrip().startswith("# my-policies")))
    policy_file.write_text(next(b for b in blocks if b.lstrip().startswith("# policies.yaml")))
    assert validate_file(scenario_file) == []
    assert set(resolve_policy("tough-border", load(scenario_file).policies)) == {
        "crackdown", "china_interdiction", "enforcement_smuggler"}
    extra = load_policy_file(policy_file)
    assert set(extra) == {"harsh", "treatment-only"}
    assert resolve_policy("harsh", {**sc.policies, **extra})["crackdown"].regions == ["North Hamgyong",
                                                                                      "Ryanggang"]


def test_docs_python_example_runs(tmp_path, monkeypatch, capsys):
    blocks = re.findall(r"```python\n(.*?)```", DOCS.read_text("utf-8"), flags=re.S)
    block = next(b for b in blocks if "demand-reduction" in b and "mu_star" in b)  # the experiments example
    script = tmp_path / "example.py"
    script.write_text(block)
    monkeypatch.chdir(tmp_path)
    with pytest.warns(FewReplicationsWarning):  # the example runs 2 replications: it is told so
        runpy.run_path(str(script), run_name="__main__")
    out = capsys.readouterr().out
    assert "demand-reduction" in out and "mu_star" in out
    assert rows(tmp_path / "docs-example.duckdb", "SELECT count(DISTINCT kind) FROM experiments") == [(3,)]
