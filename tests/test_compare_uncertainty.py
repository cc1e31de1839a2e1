"""Issue 15, items 2 and 5: policy comparisons over parameter uncertainty on common random
numbers (replication i of every policy: parameter set i and seed i), relative effects from paired
log ratios, misspelt --define labels refused, and the provenance (policy, levers, parameter
draw) of every run in the store, `narcoflow runs`, exported files and the dashboard's tables."""

from __future__ import annotations

import json

import duckdb
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from fake_results import make_results
from narcoflow.calibration.posterior import draw_parameter_sets, read_posterior
from narcoflow.cli import app
from narcoflow.errors import NarcoflowError
from narcoflow.experiments import paired_effect, plan_compare, tables
from narcoflow.experiments.comparison import comparison_parameter_sets, fan_quantiles, fan_series
from narcoflow.experiments.outcomes import OutcomeDef, known_labels
from narcoflow.metrics import metric
from narcoflow.results import store
from narcoflow.scenario import load

SCALE, YEARS, REPS = 0.002, 2.2, 2
USE, CHINA, SIPHON = ("consumption.use_g_per_week", "border.destinations[0].interdiction_prob",
                      "state.siphon_rate")


def _posterior(path):
    path.write_text("# a posterior sample written for this test\n"
                    f"draw,weight,{USE},{CHINA},{SIPHON}\n"
                    "0,1,0.10,0.04,0.05\n1,3,0.30,0.08,0.15\n2,2,0.20,0.20,0.10\n3,1,0.05,0.02,0.25\n")
    return path


@pytest.fixture(scope="module")
def experiment(tmp_path_factory):
    """One tiny comparison over a posterior sample, run by the CLI (fan chart on)."""
    tmp = tmp_path_factory.mktemp("crn")
    post, db = _posterior(tmp / "nk.posterior.csv"), tmp / "crn.duckdb"
    r = CliRunner().invoke(app, ["compare", "north-korea-2011", "--policy", "border-crackdown",
                                 "--replications", str(REPS), "--scale", str(SCALE), "--years", str(YEARS),
                                 "--seed", "4", "--posterior", str(post), "--workers", "1", "--out", str(db)],
                           env={"COLUMNS": "250"})
    assert r.exit_code == 0, r.output
    return {"db": db, "posterior": post, "output": r.output, "id": r.output.splitlines()[-1].split()[-1]}


# ------------------------------------------------------------------ common random numbers
def test_replication_i_of_every_policy_uses_parameter_set_i_and_seed_i(experiment):
    db = experiment["db"]
    rows = tables.read_table(db, "experiments", experiment["id"])
    sc = load("north-korea-2011")
    expected = draw_parameter_sets(read_posterior(experiment["posterior"], sc), REPS, seed=4)
    assert len(rows) == 2 * REPS and rows["run_id"].nunique() == 2 * REPS
    for rep, group in rows.groupby("replication"):
        infos = {r.policy: store.load_run(db, r.run_id) for r in group.itertuples()}
        assert set(infos) == {"baseline", "border-crackdown"}
        assert {i["seed"] for i in infos.values()} == {4 + rep}            # the same seed...
        draws = [i["draw"] for i in infos.values()]
        assert draws[0] == draws[1] and draws[0]["index"] == rep           # ...and the same parameter set
        want = expected.loc[rep]
        assert draws[0]["values"] == pytest.approx({p: want[p] for p in (USE, CHINA, SIPHON)})
        assert draws[0]["source"] == "posterior" and draws[0]["source_draw"] == int(want["source_draw"])
        params = {p: json.loads(i["parameters"]) for p, i in infos.items()}
        for p in params.values():   # what the runs really used: the draw (the policy leaves these alone)...
            assert p["consumption"]["use_g_per_week"]["value"] == pytest.approx(want[USE])
            assert p["state"]["siphon_rate"]["value"] == pytest.approx(want[SIPHON])
        china = {k: p["border"]["destinations"][0]["interdiction_prob"]["value"] for k, p in params.items()}
        assert china["baseline"] == pytest.approx(want[CHINA])           # ...and the policy on top of it
        assert china["border-crackdown"] == pytest.approx(2 * want[CHINA])
    assert infos["border-crackdown"]["levers"]["china_interdiction"] == {"value": 2.0}


def test_default_comparison_varies_the_seed_only():
    sc = load("north-korea-2011")
    plan = plan_compare(sc, ["border-crackdown"], replications=2, scale=SCALE, years=1)
    assert "parameter_sets" not in plan.definition and "relative" not in plan.definition
    specs = [plan.specs[r.run_id] for r in plan.rows if r.policy == "baseline"]
    assert specs[0].scenario is specs[1].scenario and specs[0].provenance["draw"] is None
    ranged = plan_compare(sc, ["border-crackdown"], replications=2, scale=SCALE, years=1, uncertainty="ranges")
    assert ranged.definition["parameter_sets"]["source"] == "ranges"
    assert ranged.definition["relative"] == "log_ratio"
    assert set(ranged.run_ids).isdisjoint(plan.run_ids)


def test_parameter_uncertainty_errors(tmp_path):
    sc = load("north-korea-2011")
    with pytest.raises(NarcoflowError, match="has no posterior sample.*--posterior FILE.*--uncertainty ranges"):
        comparison_parameter_sets(sc, 2, uncertainty="posterior")
    with pytest.raises(NarcoflowError, match="--uncertainty 'prior' is not one of: seeds, posterior, ranges"):
        comparison_parameter_sets(sc, 2, uncertainty="prior")
    with pytest.raises(NarcoflowError, match="does not exist"):
        comparison_parameter_sets(sc, 2, posterior=tmp_path / "none.csv")
    for args, needle in ((["--uncertainty", "posterior"], "has no posterior sample"),
                         (["--posterior", str(tmp_path / "none.csv")], "does not exist"),
                         (["--fan", "nothing"], "--fan 'nothing' is not an outcome")):
        r = CliRunner().invoke(app, ["compare", "north-korea-2011", "--policy", "baseline", "--scale", "0.001",
                                     "--years", "1", "--out", str(tmp_path / "x.duckdb"), *args])
        assert r.exit_code == 2 and "Traceback" not in r.output, r.output
        assert needle in " ".join(r.output.split())


# ------------------------------------------------------------------ effects and fan charts
@pytest.mark.parametrize("seed", range(10))
def test_log_ratio_interval_stays_positive(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 12))
    base = rng.lognormal(5, 3, n)                     # parameter sets spread over orders of magnitude
    y = base * rng.lognormal(-1.5, 1.5, n)            # a policy that cuts most, unevenly
    e = paired_effect(y, base, intended="down", relative="log_ratio")
    assert -1 < e["effect_rel_ci_low"] <= e["effect_rel"] <= e["effect_rel_ci_high"]
    assert 1 + e["effect_rel_ci_low"] > 0                 # the ratio's interval stays positive
    assert e["effect_rel"] == pytest.approx(np.exp(np.mean(np.log(y / base))) - 1)


def test_probability_of_the_intended_sign_follows_the_relative_effect_reported():
    # halves the small run, raises the large one by a fifth: the difference of means rises (+9.75),
    # the geometric mean of the ratios falls (sqrt(0.5 x 1.2) - 1 = -23 %)
    base, y = np.array([1.0, 100.0]), np.array([0.5, 120.0])
    g = paired_effect(y, base, intended="down", relative="log_ratio")
    assert g["effect_rel"] == pytest.approx(np.sqrt(0.6) - 1) and g["effect"] > 0
    # Dirichlet(1, 1) weights: the weighted mean log ratio is below 0 when w1 > 0.182/0.875 ~ 0.21
    assert g["p_intended"] == pytest.approx(1 - np.log(1.2) / np.log(2.4), abs=0.03)
    d = paired_effect(y, base, intended="down")  # ratio of means: the difference's sign
    assert d["effect_rel"] > 0 and d["p_intended"] < 0.05


def test_log_ratio_falls_back_with_zeros_and_differs_from_ratio_of_means():
    base, y = np.array([1.0, 10.0, 1000.0]), np.array([0.5, 5.0, 1500.0])
    g = paired_effect(y, base, relative="log_ratio")["effect_rel"]
    assert g == pytest.approx((0.5 * 0.5 * 1.5) ** (1 / 3) - 1)           # two of three halved
    assert paired_effect(y, base)["effect_rel"] == pytest.approx(y.mean() / base.mean() - 1)  # up: one big run
    zero = paired_effect(np.array([0.0, 5.0]), np.array([1.0, 10.0]), relative="log_ratio")
    assert zero["effect_rel"] == pytest.approx(5 / 11 - 1)                 # ratio of means
    same = paired_effect(base, base, relative="log_ratio")
    assert same["effect_rel"] == same["effect_rel_ci_low"] == same["effect_rel_ci_high"] == 0


def test_cli_prints_parameters_and_writes_fan_charts(experiment):
    text = " ".join(experiment["output"].split())
    assert "parameter set i of 3 uncertain parameters, drawn by weight from the posterior sample" in text
    assert "parameters from the posterior" in text and "geometric mean of the paired ratios" in text
    assert "same seed and parameter set" in text
    fan = [p for p in experiment["db"].parent.iterdir() if "-fan-" in p.name]
    assert sorted(p.suffix for p in fan) == [".html", ".png"]


def test_fan_series_are_yearly_per_policy_and_replication(experiment):
    s = fan_series(experiment["db"], experiment["id"])
    assert list(s["policy"].unique()) == ["baseline", "border-crackdown"]
    assert set(s["year"]) == {1998, 1999}                 # whole years only (the run ends in March 2000)
    assert len(s) == 2 * REPS * 2 and (s["value"] >= 0).all()
    q = fan_quantiles(s)
    assert (q["q05"] <= q["q25"]).all() and (q["q25"] <= q["median"]).all() and (q["median"] <= q["q75"]).all()
    assert (q["q75"] <= q["q95"]).all() and (q["replications"] == REPS).all()
    from narcoflow.viz.figures import policy_fan_figure

    fig = policy_fan_figure(q, title="t", label="Domestic consumption (kg)")
    assert [a.text for a in fig.layout.annotations] == ["baseline", "border-crackdown"]


# ------------------------------------------------------------------ --define labels
@pytest.mark.parametrize(("text", "needle"), [
    ("x=delivered_abroad_g,region=Chna", "region='Chna' is not one of the destination labels of delivered_"
                                         "abroad_g in scenario 'north-korea-2011': China, Japan, South Korea"),
    ("x=seized_g,channel=mpss", "channel='mpss' is not one of the agency labels of seized_g"),
    ("x=consumed_g,drug=meth", "drug='meth' is not one of the drug labels of consumed_g in scenario "
                               "'north-korea-2011': methamphetamine, heroin, cocaine"),
    ("x=arrests,channel=seler", "role labels of arrests in scenario 'north-korea-2011': producer, deliverer"),
    ("x=consumed_g,region=Pyongyang|Chagnag", "region='Chagnag'"),
])
def test_misspelt_define_label_is_an_error(text, needle):
    with pytest.raises(NarcoflowError) as err:
        plan_compare(load("north-korea-2011"), [], replications=1, scale=SCALE, years=1, outcomes=[text])
    assert needle in str(err.value)


def test_misspelt_define_label_on_the_command_line(tmp_path):
    r = CliRunner().invoke(app, ["compare", "north-korea-2011", "--policy", "baseline", "--scale", "0.001",
                                 "--years", "1", "--out", str(tmp_path / "x.duckdb"),
                                 "--define", "chn=delivered_abroad_g,region=Chian"])
    assert r.exit_code == 2 and "Traceback" not in r.output
    assert "region='Chian' is not one of the destination labels" in " ".join(r.output.split())
    assert not (tmp_path / "x.duckdb").exists()       # refused before anything ran


def test_every_label_a_run_records_is_a_known_label(experiment):
    """The vocabulary the check uses holds every label the engine records (so no valid label is refused)."""
    vocab = known_labels(load("north-korea-2011"))
    for rid in store.list_runs(experiment["db"])["run_id"]:
        m = store.load_metrics(experiment["db"], rid)
        for name, d in m.groupby("metric", observed=True):
            spec = metric(str(name))
            for dim in spec.dims:
                seen = set(d[dim].dropna().astype(str))
                assert seen <= set(vocab[spec.dim_name(dim)]), (name, dim, seen)
    OutcomeDef.parse("ok=seized_g,channel=mps|china,region=Japan").check_labels(load("north-korea-2011"))


# ------------------------------------------------------------------ provenance
def test_runs_listing_tells_policies_and_draws_apart(experiment):
    r = CliRunner().invoke(app, ["runs", "--db", str(experiment["db"])], env={"COLUMNS": "400"})
    assert r.exit_code == 0, r.output
    text = " ".join(r.output.split())
    assert "policy" in text and "levers" in text and "parameter draw" in text
    assert "border-crackdown" in text and "china_interdiction x2" in text
    assert "posterior #0 (draw" in text and "of nk.posterior.csv)" in text
    listed = store.list_runs(experiment["db"])
    same = listed[listed["seed"] == 4]                   # same seed and scale, different policies
    assert set(same["policy"]) == {"baseline", "border-crackdown"}


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_exported_files_carry_the_provenance(experiment, tmp_path, suffix):
    db = experiment["db"]
    listed = store.list_runs(db).set_index("policy")
    rid = listed.loc["border-crackdown", "run_id"].iloc[0]
    out = tmp_path / f"m{suffix}"
    r = CliRunner().invoke(app, ["export", rid, "--db", str(db), "--out", str(out)])
    assert r.exit_code == 0, r.output
    df = pd.read_csv(out) if suffix == ".csv" else pd.read_parquet(out)
    assert list(df.columns[:4]) == ["run_id", "policy", "levers", "draw"]
    assert set(df["policy"]) == {"border-crackdown"}
    assert df["levers"].iloc[0].startswith("china_interdiction x2; crackdown x2 (")
    assert df["draw"].iloc[0].startswith("posterior #")
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        meta = json.loads(pq.read_schema(out).metadata[b"narcoflow"])
        assert meta["run_id"] == rid and meta["policy"] == "border-crackdown"
        assert set(meta["draw"]["values"]) == {USE, CHINA, SIPHON}


def test_dashboard_tables_show_the_provenance(experiment):
    from narcoflow.app.display import run_label, runs_table

    runs = store.list_runs(experiment["db"])
    table = runs_table(runs)
    assert {"policy", "levers", "parameter draw"} <= set(table.columns)
    assert "border-crackdown" in set(table["policy"])
    labels = {run_label(r) for _, r in runs.iterrows()}
    assert len(labels) == len(runs)                      # Compare view: every run named apart
    assert any("border-crackdown, posterior #0" in label and "seed 4" in label for label in labels)


OLD_RUNS = """CREATE TABLE runs (run_id VARCHAR PRIMARY KEY, scenario VARCHAR NOT NULL, seed BIGINT NOT NULL,
    scale DOUBLE NOT NULL, start DATE NOT NULL, steps INTEGER NOT NULL, version VARCHAR NOT NULL,
    created_at TIMESTAMP NOT NULL, parameters JSON);
CREATE TABLE metrics (run_id VARCHAR NOT NULL, step INTEGER NOT NULL, date DATE NOT NULL, metric VARCHAR NOT NULL,
    drug VARCHAR, region VARCHAR, channel VARCHAR, value DOUBLE);"""


def test_a_file_written_before_provenance_still_opens_and_keeps_its_runs(tmp_path):
    db = tmp_path / "old.duckdb"
    old = make_results(seed=1)
    with duckdb.connect(str(db)) as con:          # the tables as narcoflow wrote them before
        con.execute(OLD_RUNS)
        con.execute("INSERT INTO runs VALUES (?, 'north-korea-2011', 1, 0.01, DATE '1998-01-05', 3, '0.1.0', "
                    "TIMESTAMP '2026-01-01 10:00:00', '{}')", [old.run_id])
        frame = old.metrics.copy()
        frame.insert(0, "run_id", old.run_id)
        con.append("metrics", frame, by_name=True)
    listed = store.list_runs(db)                     # read-only: nothing changed, provenance unknown
    assert listed["policy"].isna().all() and listed["levers"].isna().all()
    assert store.load_run(db, old.run_id)["draw"] is None
    r = CliRunner().invoke(app, ["runs", "--db", str(db)], env={"COLUMNS": "300"})
    assert r.exit_code == 0 and old.run_id in r.output
    new = make_results(seed=2)
    new.info.update(policy="demand-reduction", levers={"quitting": {"value": 2.0}}, draw=None)
    store.save(new, db)                              # the first save adds the columns
    listed = store.list_runs(db).set_index("run_id")
    assert pd.isna(listed.loc[old.run_id, "policy"]) and listed.loc[old.run_id, "rows"] == len(old.metrics)
    assert listed.loc[new.run_id, "policy"] == "demand-reduction"
    assert store.load_run(db, new.run_id)["levers"] == {"quitting": {"value": 2.0}}
    out = store.export_metrics(db, old.run_id, tmp_path / "old.csv")
    assert pd.read_csv(out)["policy"].isna().all()


def test_run_command_stores_its_policy_and_levers(tmp_path):
    db = tmp_path / "r.duckdb"
    for args in ([], ["--policy", "demand-reduction"], ["--lever", "quitting=1.5", "--lever", "state.siphon_rate=0"]):
        r = CliRunner().invoke(app, ["run", "north-korea-2011", "--scale", "0.0005", "--years", "0.1",
                                     "--seed", "1", "--out", str(db), *args])
        assert r.exit_code == 0, r.output
    listed = store.list_runs(db).set_index("policy")
    assert set(listed.index) == {"baseline", "demand-reduction", "baseline+custom"}
    custom = store.load_run(db, listed.loc["baseline+custom", "run_id"])
    assert custom["levers"] == {"quitting": {"value": 1.5}}
    assert custom["draw"] == {"source": "set", "values": {"state.siphon_rate": 0.0}}
    assert store.load_run(db, listed.loc["baseline", "run_id"])["levers"] == {}


def test_sweep_points_record_their_lever_and_parameter_values():
    from narcoflow.experiments.runner import RunSpec, _attach_provenance

    spec = RunSpec(load("north-korea-2011"), 0, SCALE, 1, "x", values=(("quitting", 2.0), ("state.siphon_rate", 0.1)))
    info: dict = {}
    _attach_provenance(info, spec)
    assert info == {"policy": "baseline+custom", "levers": {"quitting": {"value": 2.0}},
                    "draw": {"source": "set", "values": {"state.siphon_rate": 0.1}}}


def test_dashboard_runs_record_policy_and_sliders(tmp_path):
    from narcoflow.app.backend import run_and_save

    db = tmp_path / "dash.duckdb"
    plain = run_and_save("north-korea-2011", "demand-reduction", {"quitting": 1.0}, 0.0005, 0.1, 1, db=db)
    moved = run_and_save("north-korea-2011", "demand-reduction", {"quitting": 1.5, "crackdown": 1.0}, 0.0005, 0.1, 1,
                         db=db)
    assert store.load_run(db, plain)["policy"] == "demand-reduction"   # sliders at their defaults
    info = store.load_run(db, moved)
    assert info["policy"] == "demand-reduction+custom"
    assert info["levers"]["quitting+custom"] == {"value": 1.5} and "crackdown" not in info["levers"]
    assert info["levers"]["quitting"] == {"value": 2.0}               # the policy's own setting, kept apart


def test_python_compare_over_the_ranges(tmp_path):
    import warnings

    import narcoflow as nf
    from narcoflow.experiments import FewReplicationsWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FewReplicationsWarning)
        plan, table = nf.compare("north-korea-2011", ["demand-reduction"], db=tmp_path / "r.duckdb",
                                 replications=2, scale=0.0005, years=1.1, uncertainty="ranges")
    assert plan.definition["parameter_sets"]["source"] == "ranges"
    assert len(plan.definition["parameter_sets"]["values"]) == 2
    draws = {r: store.load_run(tmp_path / "r.duckdb", r)["draw"] for r in plan.run_ids}
    by_rep = {}
    for row in plan.rows:
        by_rep.setdefault(row.replication, []).append(draws[row.run_id]["values"])
    assert all(a == b for a, b in by_rep.values()) and by_rep[0] != by_rep[1]
    rel = table[table["policy"] == "demand-reduction"]["effect_rel_ci_low"].dropna()
    assert len(rel) and (rel > -1).all()


def test_report_of_a_run_names_its_policy_and_draw(experiment):
    from narcoflow.results.report_data import load_report_data
    from narcoflow.viz.report_html import identity

    listed = store.list_runs(experiment["db"]).set_index("policy")
    data = load_report_data(experiment["db"], listed.loc["border-crackdown", "run_id"].iloc[0])
    text = identity(data)
    assert "<th>Policy</th><td>border-crackdown: china_interdiction x2; crackdown x2" in text
    assert "posterior #" in text
