"""Issue 15: policy comparisons whose intervals respect bounds, warn about few replications, and
read outcomes over a window or as the user defines them."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from fake_results import make_results
from narcoflow.cli import app
from narcoflow.errors import NarcoflowError
from narcoflow.experiments import (
    FewReplicationsWarning,
    OutcomeDef,
    Window,
    bootstrap_interval,
    compare,
    compare_table,
    few_replications,
    outcome_title,
    outcomes_for,
    paired_effect,
    plan_compare,
    run_plan,
    t_interval,
)
from narcoflow.experiments.outcomes import outcomes_of
from narcoflow.scenario import load

# the shape of the n = 3 example: users 0, 0 and 1.6 million in three replications
SKEWED = [0.0, 0.0, 1_668_407.0]


def _frame(values: dict[str, list[float]], metric: str = "m") -> pd.DataFrame:
    return pd.DataFrame([(p, i, metric, v) for p, vs in values.items() for i, v in enumerate(vs)],
                        columns=["policy", "replication", "metric", "value"])


def test_t_interval_goes_below_zero_but_the_bootstrap_does_not():
    assert t_interval(SKEWED)[1] < 0  # what `compare` printed before (users [-623,740, ...])
    mean, lo, hi = bootstrap_interval(SKEWED)
    assert 0 <= lo <= mean <= hi <= max(SKEWED)


@pytest.mark.parametrize("seed", range(20))
def test_no_interval_of_a_non_negative_outcome_goes_below_zero(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 12))
    base = rng.lognormal(3, 2, n) * (rng.random(n) < 0.7)   # heavy tails and zeros
    pol = base * rng.uniform(0, 1.5, n)
    t = compare_table(_frame({"baseline": list(base), "p": list(pol)}), policies=["baseline", "p"],
                      metrics=["m"], intended={"m": "down"}).set_index("policy")
    for policy in ("baseline", "p"):
        assert t.loc[policy, "ci_low"] >= 0
    row = t.loc["p"]
    if base.mean() > 0:
        assert row.effect_rel_ci_low >= -1.0        # a relative effect never below -100 %
        assert row.effect_rel_ci_low <= row.effect_rel_ci_high
    # the policy's level (baseline + effect) is never below zero at the interval's low end
    assert row.effect_ci_low >= -base.max() - 1e-9
    assert row.effect_ci_low <= row.effect_vs_baseline <= row.effect_ci_high + 1e-9


def test_relative_effect_and_probability_of_the_intended_sign():
    base = [100.0, 200.0, 300.0, 400.0, 500.0]
    down = [v * 0.5 for v in base]
    e = paired_effect(down, base, intended="down")
    assert e["effect_rel"] == pytest.approx(-0.5)
    assert e["effect_rel_ci_low"] == pytest.approx(-0.5) and e["effect_rel_ci_high"] == pytest.approx(-0.5)
    assert e["p_intended"] == 1.0
    assert paired_effect(down, base, intended="up")["p_intended"] == 0.0
    assert math.isnan(paired_effect(down, base)["p_intended"])  # no intended sign: none
    mixed = paired_effect([101.0, 199.0, 302.0, 398.0, 500.0], base, intended="down")
    assert 0.0 < mixed["p_intended"] < 1.0
    same = paired_effect(base, base, intended="down")   # identical runs: exactly no effect
    assert (same["effect"], same["effect_ci_low"], same["effect_ci_high"], same["p_intended"]) == (0, 0, 0, 0)


def test_compare_table_baseline_rows_and_intended():
    t = compare_table(_frame({"baseline": [5.0, 6.0, 7.0], "p": [1.0, 2.0, 3.0]}),
                      policies=["baseline", "p"], metrics=["m"], intended={"m": "down"}).set_index("policy")
    assert t.loc["baseline", "effect_vs_baseline"] == 0 and math.isnan(t.loc["baseline", "p_intended"])
    assert t.loc["p", "p_intended"] == 1.0 and t.loc["p", "effect_rel"] == pytest.approx(2 / 6 - 1)


def test_few_replications_warning():
    assert "Only 3 replications" in few_replications(3) and "--replications 10" in few_replications(3)
    assert "Only 1 replication" in few_replications(1)
    assert few_replications(10) is None


def test_outcome_titles_come_from_the_metric_registry():
    assert outcome_title("exports_arrived_kg:South Korea") == "Exports arrived in South Korea (kg)"
    assert outcome_title("users_end") == "Users at the end (people)"
    assert outcome_title("consumption_kg[2010-]") == "Domestic consumption, 2010 to the end (kg)"
    assert outcome_title("users_end[-2012]") == "Users at the end of 2012 (people)"
    assert outcome_title("not_an_outcome") == "not_an_outcome"


def test_window_sums_flows_in_its_years_and_reads_levels_at_its_end():
    res = make_results(steps=60)   # weekly steps from 1998-01-05 into 1999
    m = res.metrics
    out = outcomes_of(m, window=Window(1999))
    year = m["date"].dt.year
    cons = m[(m.metric == "consumed_g") & (year >= 1999)]["value"].sum() / 1000
    assert out["consumption_kg[1999-]"] == pytest.approx(cons)
    assert out["consumption_kg[1999-]"] < outcomes_of(m)["consumption_kg"]
    end98 = m[(m.metric == "users") & (year == 1998)]
    assert outcomes_of(m, window=Window(None, 1998))["users_end[-1998]"] == pytest.approx(
        end98[end98.step == end98.step.max()]["value"].sum())


def test_user_defined_outcomes():
    res = make_results(steps=60)
    m = res.metrics
    defs = [OutcomeDef.parse("china=delivered_abroad_g,region=China,from=1999,intended=down"),
            OutcomeDef.parse("pyu=users,region=Pyongyang,agg=mean"),
            OutcomeDef.parse("price=price_usd_per_g,channel=retail,agg=mean_value,to=1998")]
    out = outcomes_of(m, custom=defs)
    d = m[(m.metric == "delivered_abroad_g") & (m.region == "China") & (m.date.dt.year >= 1999)]
    assert out["china"] == pytest.approx(d["value"].sum() / 1000)
    assert out["pyu"] == pytest.approx(m[(m.metric == "users") & (m.region == "Pyongyang")]["value"].mean())
    p = m[(m.metric == "price_usd_per_g") & (m.date.dt.year == 1998)]
    assert out["price"] == pytest.approx(p["value"].mean())
    assert outcomes_for(custom=defs)["china"].intended == "down"


@pytest.mark.parametrize(("text", "needle"), [
    ("x=consumd_g", "unknown metric 'consumd_g'"),
    ("x=users,agg=sum", "level"),
    ("x=users,channel=a", "no dimension 'channel'"),
    ("x=consumed_g,agg=median", "agg='median' is not an aggregation"),
    ("x=consumed_g,colour=red", "unknown key 'colour'"),
    ("x=consumed_g,from=2012,to=2010", "--from 2012 is after --to 2010"),
    ("x=consumed_g,from=soon", "'soon' is not a year"),
    ("consumed_g", "must start NAME=METRIC"),
    ("x=consumed_g,intended=sideways", "must be down or up"),
])
def test_bad_outcome_definitions(text, needle):
    with pytest.raises(NarcoflowError) as err:
        OutcomeDef.parse(text)
    assert needle in str(err.value)


def test_window_outside_the_run_is_refused():
    sc = load("north-korea-2011")
    with pytest.raises(NarcoflowError, match=r"--from 2030 is after the run ends"):
        plan_compare(sc, [], replications=1, scale=0.001, years=1, window=(2030, None))
    with pytest.raises(NarcoflowError, match=r"--to 1990 is before the run starts"):
        plan_compare(sc, [], replications=1, scale=0.001, years=1, window=(None, 1990))


def test_a_new_window_reuses_stored_runs(tmp_path):
    sc = load("north-korea-2011")
    db = tmp_path / "w.duckdb"
    kw = {"replications": 2, "scale": 0.0005, "years": 1.2}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FewReplicationsWarning)
        _, whole = compare(sc, ["demand-reduction"], db=db, **kw)
        plan, part = compare(sc, ["demand-reduction"], db=db, window=(1999, None),
                             outcomes=["chn=delivered_abroad_g,region=China,from=1999"], **kw)
    assert run_plan(plan, db).done == 0           # outcomes computed from the stored metrics
    w = part.set_index(["policy", "metric"])["mean"]
    a = whole.set_index(["policy", "metric"])["mean"]
    assert w["baseline", "consumption_kg[1999-]"] < a["baseline", "consumption_kg"]
    assert w["baseline", "users_end[1999-]"] == a["baseline", "users_end"]  # a level: same end
    assert w["baseline", "chn"] == pytest.approx(w["baseline", "exports_arrived_kg:China[1999-]"])


def test_comparison_figure_has_labels_and_no_baseline_effect_row():
    from narcoflow.viz.figures import comparison_figure

    t = compare_table(_frame({"baseline": [5.0, 6.0, 7.0], "p": [1.0, 2.0, 3.0]}, metric="users_end"),
                      policies=["baseline", "p"], metrics=["users_end"])
    fig = comparison_figure(t)
    titles = [a.text for a in fig.layout.annotations]
    assert "Users at the end (people): effect vs. baseline" in titles and not any("users_end" in x for x in titles)
    means, effects = fig.data
    assert list(means.y) == ["baseline", "p"] and list(effects.y) == ["p"]


def test_cli_compare_window_define_and_warning(tmp_path):
    out = tmp_path / "c.duckdb"
    r = CliRunner().invoke(app, ["compare", "north-korea-2011", "--policy", "demand-reduction",
                                 "--replications", "2", "--scale", "0.0005", "--years", "1.2",
                                 "--from", "1999", "--define", "chn=delivered_abroad_g,region=China",
                                 "--workers", "1", "--no-plot", "--out", str(out)], env={"COLUMNS": "250"})
    assert r.exit_code == 0, r.output
    text = " ".join(r.output.split())
    assert "Domestic consumption, 1999" in text and "to the end (kg), aim: down" in text
    assert "Only 2 replications" in text and "P(intended)" in text


@pytest.mark.parametrize(("args", "needle"), [
    (["--from", "2030"], "--from 2030 is after the run ends"),
    (["--from", "1800"], "--from 1800 is out of range"),
    (["--define", "x=users,agg=sum"], "level"),
])
def test_cli_bad_window_or_definition_is_one_clean_message(tmp_path, args, needle):
    r = CliRunner().invoke(app, ["compare", "north-korea-2011", "--policy", "baseline", "--scale", "0.001",
                                 "--years", "1", "--out", str(tmp_path / "x.duckdb"), *args])
    assert r.exit_code != 0 and "Traceback" not in r.output
    assert needle in " ".join(r.output.split())


def test_constant_weekly_flow_gives_a_flat_monthly_line():
    from narcoflow.viz.timeseries import monthly

    dates = pd.date_range("1998-01-05", periods=104, freq="7D")
    df = pd.DataFrame({"step": np.arange(104), "date": dates, "value": 70_000.0, "region": "A"})
    m = monthly(df, None, how="sum")["total"]
    assert len(m) >= 23 and m.max() == pytest.approx(m.min())          # was 280 <-> 350 kg
    assert m.iloc[0] == pytest.approx(70_000.0 / 7 * 365.25 / 12)        # the partial first month too
    # a step of the flow shows in the month it happens, split by days
    df.loc[df["date"] >= "1999-01-01", "value"] = 0.0
    m2 = monthly(df, None, how="sum")["total"]
    assert m2[pd.Timestamp("1998-12-01")] > 0 and m2[pd.Timestamp("1999-02-01")] == 0
