"""`narcoflow report`: the Sankey balances, the HTML stands alone, every parameter shows its
source, experiments get their comparison. The browser checks live in tests/browser/."""

from __future__ import annotations

import re

import duckdb
import pandas as pd
import pytest
from typer.testing import CliRunner

from conftest import run
from narcoflow.cli import app
from narcoflow.results import store
from narcoflow.scenario import iter_params, load
from narcoflow.viz import flows as fl
from narcoflow.viz.figures import event_markers, map_values
from narcoflow.viz.geography import load_geography, load_source_codes
from narcoflow.viz.report import (
    ReportError,
    iter_parameters,
    load_report_data,
    make_report,
    render_html,
    source_codes_used,
    static_paths,
)

DRUGS = (None, "methamphetamine", "heroin", "cocaine")


@pytest.fixture(scope="module")
def short_run():
    """Three years at small scale (1998-2000): state phase, first private producers."""
    return run(seed=5, years=3)


@pytest.fixture(scope="module")
def report_db(tmp_path_factory, baseline):
    db = tmp_path_factory.mktemp("report") / "runs.duckdb"
    return db, store.save(baseline, db)


@pytest.mark.parametrize("drug", DRUGS)
def test_sankey_balances_every_node_and_ends_sum_to_production(baseline, short_run, drug):
    for res in (baseline, short_run):
        links = fl.product_flows(res.metrics, drug=drug)
        produced = res.total("produced_g", **({"drug": drug} if drug else {}))
        assert links.attrs["produced_g"] == pytest.approx(produced)
        assert fl.imbalance(links) <= 1e-6 * max(produced, 1.0)
        nodes = fl.node_totals(links)
        sinks = nodes.loc[nodes["role"] == "sink", "in"].sum()
        assert sinks == pytest.approx(produced, rel=1e-9)
        assert set(nodes.index[nodes["role"] == "source"]) <= {fl.STATE, fl.PRIVATE}
        assert (links["grams"] > 0).all()


def test_sankey_links_are_the_metric_totals(baseline):
    links = fl.product_flows(baseline.metrics).set_index(["source", "target"])["grams"]
    assert links[(fl.DOMESTIC, fl.CONSUMED)] == pytest.approx(baseline.total("consumed_g"))
    assert links[(fl.STATE, fl.SIPHON)] == pytest.approx(baseline.total("siphoned_g"))
    assert links[(fl.PRIVATE, fl.DOMESTIC)] == pytest.approx(
        baseline.total("produced_g", channel="private"))
    delivered = links[[t.startswith("Delivered to China") for _, t in links.index]].sum()
    assert delivered == pytest.approx(baseline.total("delivered_abroad_g", region="China"))
    seized_mps = links[(fl.DOMESTIC, fl.seized_label("mps"))]
    assert seized_mps == pytest.approx(baseline.total("seized_g", channel="mps"))
    at_end = links.xs(fl.STOCK, level="target").sum()
    assert at_end == pytest.approx(baseline.final("stock_g"))


def test_html_report_stands_alone_and_explains_itself(report_db, tmp_path):
    db, run_id = report_db
    out = make_report(db, run_id[:6], tmp_path / "r.html")[0]
    text = out.read_text("utf-8")
    assert not re.search(r"<script[^>]+src=|<link[^>]+href=|<img[^>]+src=\"?http", text)
    assert "window.Plotly" in text or "Plotly" in text[:5_000_000]
    for anchor in ("flows", "map", "time", "parameters", "sources"):
        assert f'id="{anchor}"' in text or f"id='{anchor}'" in text
    assert 'id="fig-sankey"' in text and 'id="fig-map"' in text and 'id="fig-timeseries"' in text
    # parameters with their sources, and the sources explained
    assert "state.siphon_rate" in text and "S5" in text
    assert "id='src-S5'" in text and "siphon off drugs" in text
    assert "border.destinations[Japan].interdiction_prob" in text
    assert "Natural Earth" in text and "GeoNames" in text
    assert "Balance check" in text


def test_every_scenario_parameter_is_listed_with_its_source():
    sc = load("north-korea-2011")
    rows = list(iter_parameters(sc.model_dump(mode="json")))
    params = [r for r in rows if r["kind"] == "parameter"]
    assert len(params) == len(list(iter_params(sc)))
    assert all(r["source"] for r in params if r["range"] is not None)
    by_path = {r["path"]: r for r in rows}
    assert by_path["state.siphon_rate"]["range"] == [0.0, 0.25]
    assert by_path["regions[Pyongyang].population"]["source"] == "2008 census"
    codes = load_source_codes()["codes"]
    used = source_codes_used(r["source"] for r in rows)
    assert {"S5", "S8", "C5", "Q27", "E9", "T5"} <= set(used)
    assert all(code in codes for code in used)


def test_source_code_ranges_are_expanded():
    assert source_codes_used(["P1-P3 (north leads)", "S6; T11"]) == ["P1", "P2", "P3", "S6", "T11"]


def test_shipped_geography_places_everything_the_scenario_names():
    sc = load("north-korea-2011")
    geo = load_geography()
    assert "public domain" in geo.attribution and "CC BY 4.0" in geo.attribution
    for region in sc.region_names:
        assert geo.province(region) or geo.place(region), region
    assert geo.province("Nampo") is None and geo.place("Nampo") is not None  # drawn as a disc
    names = [c.name for c in sc.private.chemical_cities] + [c.name for c in sc.border.crossings]
    names += [f.name for f in sc.state.facilities]
    names += [f.relocated_from_name for f in sc.state.facilities if f.relocated_from_name]
    for name in names:
        assert geo.place(name) is not None, name
    lon0, lat0, lon1, lat1 = geo.bbox
    for prov in geo.provinces:
        for ring in prov["rings"]:
            assert ring[0] == ring[-1] and len(ring) >= 4
            assert all(lon0 <= x <= lon1 and lat0 <= y <= lat1 for x, y in ring)
    # Hoeryong is in North Hamgyong, north of Hamhung; Sinuiju is the westernmost crossing
    assert geo.place("Hoeryong")["lat"] > geo.place("Hamhung")["lat"]
    assert min(geo.places, key=lambda p: p["lon"] if p["kind"] == "crossing" else 999)["name"] == "Sinuiju"


def test_map_values_per_province(baseline):
    sc = load("north-korea-2011").model_dump(mode="json")
    values = map_values(baseline.metrics, sc["regions"]).set_index("region")
    assert len(values) == 12
    assert values["users"].sum() == pytest.approx(baseline.final("users"))
    assert values["consumed_kg"].sum() == pytest.approx(baseline.total("consumed_g") / 1e3)
    ph = values.loc["Pyongyang"]
    assert ph["users_per_1000"] == pytest.approx(1e3 * ph["users"] / 3255288)


def test_event_markers_include_relocation_seizure_and_campaigns():
    sc = load("north-korea-2011").model_dump(mode="json")
    events = event_markers(sc, "1998-01-05", "2016-01-01")
    labels = " ".join(e["label"] for e in events)
    assert "moved to Sangwon" in labels and "Ministry of Foreign Trade" in labels
    seizure = next(e for e in events if e["kind"] == "state_shipment_seizure")
    assert seizure["start"] == pd.Timestamp("2011-05-15") and seizure["end"] is None
    assert any(e["kind"] == "crackdown" and e["end"] is not None for e in events)
    early = event_markers(sc, "1998-01-05", "2000-12-31")
    assert [e["kind"] for e in early] == ["relocation"]


def test_cli_report_writes_html_and_refuses_bad_input(report_db, tmp_path):
    db, run_id = report_db
    cli = CliRunner()
    out = tmp_path / "cli.html"
    res = cli.invoke(app, ["report", run_id, "--db", str(db), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert out.stat().st_size > 1_000_000 and "Wrote" in res.output
    res = cli.invoke(app, ["report", "nosuchrun", "--db", str(db), "--out", str(out)])
    assert res.exit_code == 2 and "nosuchrun" in res.output and "Traceback" not in res.output
    res = cli.invoke(app, ["report", run_id, "--db", str(db), "--format", "pdf"])
    assert res.exit_code == 2 and "html, png, svg" in res.output
    res = cli.invoke(app, ["report", run_id, "--db", str(db), "--out", str(tmp_path / "no" / "r.html")])
    assert res.exit_code == 2 and "does not exist" in res.output


def test_static_paths_sit_next_to_out(tmp_path):
    paths = static_paths(tmp_path / "report.html", ["sankey", "map"], "svg")
    assert paths == {"sankey": tmp_path / "report-sankey.svg", "map": tmp_path / "report-map.svg"}
    with pytest.raises(ReportError, match="not one of"):
        make_report(tmp_path / "x.duckdb", "x", tmp_path / "r.html", fmt="gif")


def _add_experiment(db, run_id: str, exp_id: str = "exp0123456789abc") -> str:
    comp = pd.DataFrame({
        "experiment_id": exp_id,
        "policy": ["baseline", "baseline", "border-closure", "border-closure"],
        "metric": ["consumed_kg", "users_end"] * 2,
        "mean": [100.0, 5000.0, 80.0, 4000.0], "ci_low": [90.0, 4500.0, 70.0, 3500.0],
        "ci_high": [110.0, 5500.0, 90.0, 4500.0],
        "effect_vs_baseline": [0.0, 0.0, -20.0, -1000.0],
        "effect_ci_low": [None, None, -30.0, -1500.0], "effect_ci_high": [None, None, -10.0, -500.0],
        "replications": 2})
    runs = pd.DataFrame({"experiment_id": exp_id, "policy": ["border-closure", "baseline"],
                         "replication": 0, "run_id": ["0000missing0000", run_id]})
    con = duckdb.connect(str(db))
    try:
        con.register("c", comp)
        con.register("e", runs)
        con.execute("CREATE OR REPLACE TABLE comparisons AS SELECT * FROM c")
        con.execute("CREATE OR REPLACE TABLE experiments AS SELECT * FROM e")
    finally:
        con.close()
    return exp_id


def test_experiment_report_shows_the_comparison_and_the_baseline_run(baseline, tmp_path):
    db = tmp_path / "exp.duckdb"
    run_id = store.save(baseline, db)
    exp_id = _add_experiment(db, run_id)
    data = load_report_data(db, exp_id[:8])
    assert data.kind == "experiment" and data.ident == exp_id
    assert data.info["run_id"] == run_id  # the baseline run that is stored
    assert set(data.comparisons["policy"]) == {"baseline", "border-closure"}
    text = render_html(data)
    assert 'id="fig-comparison"' in text and "border-closure" in text
    assert 'id="fig-sankey"' in text
    # a run id still works in a database that holds experiments
    assert load_report_data(db, run_id).kind == "run"


def test_experiment_without_stored_runs_reports_the_comparison_only(tmp_path):
    db = tmp_path / "exp.duckdb"
    from fake_results import make_results

    store.save(make_results(), db)
    exp_id = _add_experiment(db, "notstored")
    data = load_report_data(db, exp_id)
    assert data.metrics is None and data.notes
    text = render_html(data)
    assert 'id="fig-comparison"' in text and 'id="fig-sankey"' not in text
