"""Evidence beside the model (issue 15, item 4): the run report's time series draws each target's
band on the panel that shows its quantity, in the panel's unit, and says which targets it cannot
draw. Built on a hand-made 18-year metrics frame: no engine run."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from narcoflow.calibration.targets import load_targets
from narcoflow.cli import app
from narcoflow.results import store
from narcoflow.results.results import METRIC_COLUMNS, Results, run_id_for
from narcoflow.viz import evidence as ev
from narcoflow.viz.report import load_report_data, render_html
from narcoflow.viz.timeseries import DAYS_PER_MONTH, timeseries_figure

START = dt.date(1998, 1, 5)
STEPS = 940  # 1998-01-05 to 2015-12-28: every target year whole
POP = {"Pyongyang": 3_000_000, "North Hamgyong": 1_000_000}
METH = "methamphetamine"


def _metrics() -> pd.DataFrame:
    recs = []
    for step in range(STEPS):
        date = pd.Timestamp(START) + pd.Timedelta(weeks=step)
        for region, retail, producer in (("Pyongyang", 12.0, 0.4), ("North Hamgyong", 20.0, 0.5)):
            recs += [(step, date, "price_usd_per_g", METH, region, "retail", retail),
                     (step, date, "price_usd_per_g", METH, region, "wholesale", 1.5),
                     (step, date, "price_usd_per_g", METH, region, "producer", producer),
                     (step, date, "users", None, region, None, 1000.0 * step),
                     (step, date, "ever_used", None, region, None, 3000.0 * step),
                     (step, date, "seized_g", METH, region, "mps", 100.0)]
        recs += [(step, date, "seized_g", METH, "Japan", "japan", 14000.0),
                 (step, date, "seized_g", "heroin", "Japan", "japan", 500.0),
                 (step, date, "seized_g", METH, "China", "china", 300.0),
                 (step, date, "produced_g", METH, "Pyongyang", "private", 5000.0),
                 (step, date, "state_revenue_usd", None, "China", "trading_company", 1e6)]
    df = pd.DataFrame.from_records(recs, columns=METRIC_COLUMNS)
    df["step"] = df["step"].astype(np.int32)
    df["date"] = df["date"].astype("datetime64[ns]")
    for col in ("metric", "drug", "region", "channel"):
        df[col] = df[col].astype("string")
    return df


SCENARIO = {"name": "north-korea-2011", "regions": [{"name": n, "population": p} for n, p in POP.items()]}


@pytest.fixture(scope="module")
def metrics():
    return _metrics()


@pytest.fixture(scope="module")
def fig(metrics):
    return timeseries_figure(metrics, SCENARIO, targets=load_targets("north-korea-2011"))


def _evidence(fig) -> dict[str, object]:
    return {tr.meta["target"]: tr for tr in fig.data if tr.name == ev.LEGEND}


def test_targets_file_is_found_for_north_korea_scenarios_only():
    assert ev.targets_for("north-korea-2011") == "north-korea-2011"
    assert ev.targets_for("north-korea-2011-calibrated") == "north-korea-2011"
    assert ev.targets_for("my-island") is None
    assert ev.resolve_targets("none", "north-korea-2011") is None
    assert ev.resolve_targets(None, "my-island") is None


def test_every_drawable_target_has_its_band_on_the_matching_panel(fig):
    tg = load_targets("north-korea-2011")
    got = _evidence(fig)
    assert set(got) == {"japan_seized_1999", "south_korea_seized_2003", "china_seized_2011_2012",
                        "producer_price_north_hamgyong_2006", "wholesale_price_2007", "retail_price_2011",
                        "retail_price_2013", "retail_price_north_hamgyong_2014", "users_2003_onset",
                        "ever_used_2015", "north_hamgyong_seized_2010"}
    by = {t.name: t for t in tg.targets}
    # prices: the targets' own bands (quotes converted to USD/g with the dated rates), on the price panel
    for name in ("retail_price_2011", "retail_price_2013", "wholesale_price_2007",
                 "producer_price_north_hamgyong_2006", "retail_price_north_hamgyong_2014"):
        tr, (lo, hi, _) = got[name], by[name].band()
        assert tr.legend == "legend6" and tr.yaxis == "y6"
        y = tr.y[0]
        assert y - tr.error_y.arrayminus[0] == pytest.approx(lo) and y + tr.error_y.array[0] == pytest.approx(hi)
        assert pd.Timestamp(tr.x[0]).year == by[name].years[0] and pd.Timestamp(tr.x[0]).month == 7
    assert got["retail_price_2011"].y[0] == 15.0 and got["retail_price_2011"].error_y.array[0] == 0
    assert 10 < got["retail_price_2013"].y[0] < 12  # 70 CNY at the 2013 rate
    # seizures: a yearly total in grams drawn as kg per average month of that year
    j = got["japan_seized_1999"]
    assert j.yaxis == "y4"
    assert j.y[0] - j.error_y.arrayminus[0] == pytest.approx(664.0 * DAYS_PER_MONTH / 365)
    assert j.y[0] + j.error_y.array[0] == pytest.approx(864.0 * DAYS_PER_MONTH / 365)
    china = got["china_seized_2011_2012"]  # two years: per average month of the 731 days
    assert china.y[0] - china.error_y.arrayminus[0] == pytest.approx(0.450 * DAYS_PER_MONTH / 731)
    # a level at a year's end: at the December point of the users panel
    u = got["users_2003_onset"]
    assert u.yaxis == "y3" and pd.Timestamp(u.x[0]) == pd.Timestamp(2003, 12, 1)
    assert u.y[0] + u.error_y.array[0] == 240000
    # an "at least" band: an upward triangle at its low end, no upper whisker
    e = got["ever_used_2015"]
    assert e.marker.symbol == "triangle-up" and e.y[0] == 7_200_000 and e.error_y.array[0] == 0
    for name, tr in got.items():
        assert name in tr.hovertext[0] and all(r in tr.hovertext[0] for r in by[name].rows)
        assert tr.meta["rows"] == by[name].rows


def test_one_legend_entry_per_panel(fig):
    shown = [tr.legend for tr in fig.data if tr.name == ev.LEGEND and tr.showlegend is not False]
    assert sorted(shown) == ["legend3", "legend4", "legend6"]


def test_model_line_of_the_exact_quantity_where_the_panel_lacks_it(fig, metrics):
    lines = {tr.name: tr for tr in fig.data if tr.meta and "evidence_for" in tr.meta}
    # Japan's line pools heroin: the meth-only quantity gets a dashed line; China's line is the
    # target's quantity (all drugs), so none; national price means are the panel's own lines
    assert set(lines) == {"model: Japan, methamphetamine", "model: ever used", "model: North Hamgyong",
                          "model: producer, North Hamgyong", "model: retail, North Hamgyong"}
    assert all(tr.line.dash == "dash" for tr in lines.values())
    japan = pd.Series(lines["model: Japan, methamphetamine"].y, index=pd.to_datetime(lines["model: Japan, "
                      "methamphetamine"].x))
    assert japan.loc["2000-03-01"] == pytest.approx(14.0 * DAYS_PER_MONTH / 7)
    retail_nh = lines["model: retail, North Hamgyong"]
    assert np.allclose(retail_nh.y, 20.0)
    # the national retail line is weighted by population, as the targets are: (3 x 12 + 1 x 20) / 4
    retail = next(tr for tr in fig.data if tr.name == "retail" and tr.yaxis == "y6")
    assert np.allclose(retail.y, 14.0)


def test_targets_no_panel_shows_are_listed_with_why(metrics):
    drawn, skipped = ev.plan(load_targets("north-korea-2011"), metrics)
    why = dict(skipped)
    assert set(why) == {"state_revenue_2000_2005", "state_revenue_1998", "japan_delivered_1999",
                        "japan_delivered_2002", "hamhung_crackdown_arrests_2008",
                        "markup_retail_wholesale_2013_2015"}
    assert "state export revenue" in why["state_revenue_1998"]
    assert "ratio" in why["markup_retail_wholesale_2013_2015"]
    text = ev.caption(load_targets("north-korea-2011"), metrics, "north-korea-2011")
    assert "11 of its 17 targets" in text and "japan_delivered_1999" in text


def test_years_the_run_does_not_cover_are_not_drawn(metrics):
    short = metrics[pd.to_datetime(metrics["date"]) < "2001-01-01"]
    drawn, skipped = ev.plan(load_targets("north-korea-2011"), short)
    assert {p.target.name for p in drawn} == {"japan_seized_1999"}
    assert "does not cover 2011-2011 whole" in dict(skipped)["retail_price_2011"]


def test_no_targets_no_evidence(metrics):
    fig = timeseries_figure(metrics, SCENARIO)
    assert not any(tr.name == ev.LEGEND for tr in fig.data)


@pytest.fixture(scope="module")
def run_db(tmp_path_factory, metrics):
    info = {"scenario": "north-korea-2011", "seed": 1, "scale": 0.01, "start": START, "steps": STEPS,
            "version": "0.1.0", "parameters": json.dumps(SCENARIO)}
    info["run_id"] = run_id_for(info)
    db = tmp_path_factory.mktemp("ev") / "runs.duckdb"
    return db, store.save(Results(metrics=metrics, info=info), db)


def test_report_shows_evidence_and_says_what_is_left_out(run_db):
    db, rid = run_db
    data = load_report_data(db, rid)
    assert data.targets is not None and data.targets_label == "north-korea-2011"
    page = render_html(data)
    assert ev.LEGEND in page and "Not drawn: state_revenue_2000_2005" in page
    assert load_report_data(db, rid, targets="none").targets is None


def test_cli_targets_option(run_db, tmp_path):
    db, rid = run_db
    runner = CliRunner()
    out = tmp_path / "r.html"
    res = runner.invoke(app, ["report", rid, "--db", str(db), "--out", str(out), "--targets", "none"])
    assert res.exit_code == 0, res.output
    assert ev.LEGEND not in out.read_text()
    bad = runner.invoke(app, ["report", rid, "--db", str(db), "--out", str(out), "--targets",
                              str(tmp_path / "nope.yaml")])
    assert bad.exit_code == 2 and "--targets" in bad.output and "Traceback" not in bad.output


# ---------------------------------------------------------------------------- estimates' yearly fan charts
def _fan_table(quantity: str, unit: str, column: str, labels: tuple[str, ...]) -> pd.DataFrame:
    rows = []
    for year in range(1998, 2016):
        for lab in labels:
            rows.append({"quantity": quantity, "unit": unit, "drug": None, "region": None, "destination": None,
                         "role": None, column: lab, "year": year, "median": 50.0, "q05": 10.0, "q25": 30.0,
                         "q75": 70.0, "q95": 90.0})
    return pd.DataFrame(rows)


def test_yearly_targets_on_the_estimate_fan_charts():
    from narcoflow.viz.estimates import fan_figure

    tg, years = load_targets("north-korea-2011"), list(range(1998, 2016))
    fig = fan_figure(_fan_table("state_revenue_musd", "USD million/year", "destination", ("all", "China")),
                     "state_revenue_musd")
    n_fan = len(fig.data)
    assert ev.add_fan_evidence(fig, "state_revenue_musd", tg, years) == ["state_revenue_2000_2005",
                                                                         "state_revenue_1998"]
    got = _evidence(fig)
    mean = got["state_revenue_2000_2005"]  # mean_per_year: USD 20-200 M a year over 2000-2005
    assert (mean.x[0], mean.error_x.array[0]) == (2002.5, 2.5)
    assert mean.y[0] - mean.error_y.arrayminus[0] == pytest.approx(20.0)
    assert mean.y[0] + mean.error_y.array[0] == pytest.approx(200.0)
    one = got["state_revenue_1998"]
    assert one.x[0] == 1998 and one.y[0] + one.error_y.array[0] == pytest.approx(100.0)
    # the menu shows the evidence with the total only
    buttons = fig.layout.updatemenus[0].buttons
    assert list(buttons[0].args[0]["visible"])[n_fan:] == [True, True]
    assert list(buttons[1].args[0]["visible"])[n_fan:] == [False, False]
    users = fan_figure(_fan_table("ever_used", "people", "region", ("all",)), "ever_used")
    assert ev.add_fan_evidence(users, "ever_used", tg, years) == ["ever_used_2015"]
    assert _evidence(users)["ever_used_2015"].marker.symbol == "triangle-up"
    # exports of the private channel are not the (all-channel) Japan targets; unreported years: nothing
    exports = fan_figure(_fan_table("private_exports_kg", "kg/year", "destination", ("all",)), "private_exports_kg")
    assert ev.add_fan_evidence(exports, "private_exports_kg", tg, years) == []
    assert ev.add_fan_evidence(users, "users", tg, [1998, 1999]) == []
