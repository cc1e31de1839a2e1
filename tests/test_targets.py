"""Targets that mean what the evidence says (issue 14, item 1): population-weighted price means,
C1 at the producer tier, meth-only seizure targets abroad, Q26 not a border-revenue band, dated
won rates, floors reported apart, P4 compared with the ever-used metric, every evidence row cited or
listed as unused. Each test fails with the definitions shipped before (noted per test)."""

from __future__ import annotations

import datetime as dt
import json
import math

import pandas as pd
import pytest

from narcoflow.calibration import exchange
from narcoflow.calibration.targets import (
    Target,
    Targets,
    distance,
    evaluate_targets,
    load_targets,
    populations,
    role_counts,
    role_summary,
)
from narcoflow.errors import NarcoflowError
from narcoflow.scenario import load
from narcoflow.viz.geography import load_source_codes

SHIPPED = load_targets("north-korea-2011")
BY_NAME = {t.name: t for t in SHIPPED.targets}
POP = populations(load("north-korea-2011"))


def frame(rows: list[tuple], year: int, steps: int = 2) -> pd.DataFrame:
    """A metrics frame: each (metric, drug, region, channel, value) row at ``steps`` weekly steps
    of ``year`` (and one row of 1998 and of 2015, so every shipped target's years are covered)."""
    recs = []
    for k in range(steps):
        date = pd.Timestamp(dt.date(year, 3, 2)) + pd.Timedelta(weeks=k)
        recs += [(k, date, *r) for r in rows]
    recs += [(-1, pd.Timestamp("1998-01-05"), "users", None, "Kangwon", None, 0.0),
             (-2, pd.Timestamp("2015-12-28"), "users", None, "Kangwon", None, 0.0)]
    return pd.DataFrame.from_records(recs, columns=["step", "date", "metric", "drug", "region", "channel", "value"])


METH = "methamphetamine"


# ---------------------------------------------------------------------------- price means weighted by population
def test_national_price_means_are_weighted_by_population():
    # Pyongyang (3.26 M) at $10, Rason (0.20 M) at $40: unweighted mean $25, by population ~$11.7
    m = frame([("price_usd_per_g", METH, "Pyongyang", "retail", 10.0),
               ("price_usd_per_g", METH, "Rason", "retail", 40.0)], 2011)
    t = BY_NAME["retail_price_2011"]
    expected = (10 * POP["Pyongyang"] + 40 * POP["Rason"]) / (POP["Pyongyang"] + POP["Rason"])
    assert t.evaluate(m, POP) == pytest.approx(expected)  # the old definition gave 25.0
    assert t.evaluate(m, POP) < 12
    assert t.model_copy(update={"weights": "equal"}).evaluate(m) == pytest.approx(25.0)
    with pytest.raises(NarcoflowError, match="weights its mean over provinces by population"):
        t.evaluate(m)  # weights needed and not given: an error, not an unweighted mean
    # one province: no weights needed
    assert BY_NAME["retail_price_north_hamgyong_2014"].evaluate(
        frame([("price_usd_per_g", METH, "North Hamgyong", "retail", 16.0)], 2014)) == 16.0


def test_weighted_price_mean_on_a_real_run(baseline):
    """On the engine's own metrics frame (the baseline fixture, an 18-year run) a population-weighted
    mean of provincial retail prices (1999) differs from the plain mean and lies between the extremes."""
    d = baseline.metrics
    t = Target(name="retail_1999", metric="price_usd_per_g", filters={"drug": "methamphetamine", "channel": "retail"},
               years=(1999, 1999), aggregation="mean_value", observed=15)
    w, plain = t.evaluate(d, POP), t.model_copy(update={"weights": "equal"}).evaluate(d)
    prices = d[(d["metric"] == "price_usd_per_g") & (d["drug"] == "methamphetamine") & (d["channel"] == "retail")
               & (pd.to_datetime(d["date"]).dt.year == 1999)]
    assert prices["value"].min() <= w <= prices["value"].max()
    by_region = prices.groupby("region", observed=True)["value"].mean()
    expected = sum(by_region[r] * POP[r] for r in by_region.index) / sum(POP[r] for r in by_region.index)
    assert w == pytest.approx(expected, rel=1e-9)
    assert w != pytest.approx(plain, rel=1e-6)


# ---------------------------------------------------------------------------- C18: a markup is a ratio target
def test_all_targets_at_once_equal_each_target_alone(baseline):
    """`evaluate_targets` (what every calibration run calls) selects each metric's rows once and
    reads the period once; its values must be those of each target evaluated on the whole frame,
    bit for bit, also with the dates as text (a frame read back from a store)."""
    d = baseline.metrics
    alone = {t.name: t.evaluate(d, POP) for t in SHIPPED.targets if not t.waiting}
    assert evaluate_targets(SHIPPED, d, POP) == alone
    assert evaluate_targets(SHIPPED, d.assign(date=d["date"].dt.strftime("%Y-%m-%d")), POP) == alone
    assert any(v > 0 for v in alone.values())


def test_a_calibration_run_reads_the_targets_from_their_metrics_alone(baseline):
    """`Model.run` builds only the targets' metrics' rows (`Simulation.metrics_of`); the values are
    those of the whole results table of the same run, bit for bit."""
    from conftest import SMALL
    from narcoflow.calibration.model import Model

    run = Model(load("north-korea-2011"), SHIPPED, [], SMALL, None).run({}, 3)  # the baseline fixture's run
    assert run == evaluate_targets(SHIPPED, baseline.metrics, POP)


def test_c18_markup_is_retail_over_wholesale_of_the_same_provinces_and_years():
    # retail $12 / wholesale $1 in Pyongyang, $30 / $2 in Rason; each tier weighted by population
    rows = [("price_usd_per_g", METH, region, tier, price)
            for region, tier, price in (("Pyongyang", "retail", 12.0), ("Rason", "retail", 30.0),
                                        ("Pyongyang", "wholesale", 1.0), ("Rason", "wholesale", 2.0),
                                        ("Pyongyang", "producer", 0.5))]
    m = pd.concat([frame(rows, y) for y in (2013, 2014, 2015)], ignore_index=True)
    t = BY_NAME["markup_retail_wholesale_2013_2015"]
    assert t.rows == ["C18"] and t.role == "fitted" and "C18" not in SHIPPED.unused_rows
    w = {r: POP[r] / (POP["Pyongyang"] + POP["Rason"]) for r in ("Pyongyang", "Rason")}
    expected = (12 * w["Pyongyang"] + 30 * w["Rason"]) / (1 * w["Pyongyang"] + 2 * w["Rason"])
    assert t.evaluate(m, POP) == pytest.approx(expected)
    assert 11 < t.evaluate(m, POP) < 13  # neither 21 / 1.5 (unweighted) nor a price
    # a tier missing from the run: 0, not a division error
    assert t.evaluate(m[m["channel"] != "wholesale"], POP) == 0.0


@pytest.mark.parametrize(("divided_by", "message"), [
    ({"tier": "wholesale"}, "divided_by must name filters of the dimensions"),
    ({"channel": "retail"}, "selects the same rows as filters"),
])
def test_a_ratio_target_must_select_another_set_of_rows(divided_by, message):
    with pytest.raises(ValueError, match=message):
        Target(name="m", metric="price_usd_per_g", filters={"drug": METH, "channel": "retail"},
               divided_by=divided_by, years=(2013, 2015), aggregation="mean_value", range=(10, 14))


# ---------------------------------------------------------------------------- C1 at the producer tier
def test_c1_kg_lot_is_compared_with_the_producer_price():
    m = frame([("price_usd_per_g", METH, "North Hamgyong", "producer", 0.4),
               ("price_usd_per_g", METH, "North Hamgyong", "wholesale", 1.5),
               ("price_usd_per_g", METH, "North Hamgyong", "retail", 15.0)], 2006)
    c1 = [t for t in SHIPPED.targets if "C1" in t.rows]
    assert len(c1) == 1 and c1[0].filters["channel"] == "producer"  # the old target read 'wholesale'
    assert c1[0].evaluate(m, POP) == pytest.approx(0.4)
    assert c1[0].distance(0.4) == 0  # inside $0.32-0.47/g
    assert c1[0].distance(1.5) > 1  # the wholesale tier would be far outside


# ---------------------------------------------------------------------------- meth only in Japan and South Korea
@pytest.mark.parametrize("name, metric, region, year", [
    ("japan_seized_1999", "seized_g", "Japan", 1999),
    ("japan_delivered_1999", "delivered_abroad_g", "Japan", 1999),
    ("japan_delivered_2002", "delivered_abroad_g", "Japan", 2002),
    ("south_korea_seized_2003", "seized_g", "South Korea", 2003),
])
def test_seizures_and_deliveries_abroad_count_meth_only(name, metric, region, year):
    m = frame([(metric, METH, region, "japan", 100_000.0), (metric, "heroin", region, "japan", 400_000.0)],
              year, steps=3)
    t = BY_NAME[name]
    assert t.filters["drug"] == METH
    assert t.evaluate(m, POP) == 300_000.0  # the old definitions (no drug filter) gave 1,500,000


# ---------------------------------------------------------------------------- Q26
def test_q26_is_not_a_border_revenue_band():
    """At C9's border price Q26 means 45-90 t a year: not a band for the model's border revenue."""
    cny_per_usd = 1 / exchange.to_usd(1, "CNY", dt.date(2014, 7, 1))[0]  # C8: 100 CNY ~ $16
    usd_per_kg = 14_000 / cny_per_usd  # C9: sold across the border at 14,000 CNY/kg
    tonnes = [rev / usd_per_kg / 1000 for rev in (100e6, 200e6)]
    assert tonnes == pytest.approx([44.6, 89.3], abs=0.1)
    assert not [t for t in SHIPPED.targets if "Q26" in t.rows or t.metric == "private_export_revenue_usd"]
    assert "45-89 t" in SHIPPED.unused_rows["Q26"]  # the old file had a $100-200 M target on it


# ---------------------------------------------------------------------------- dated exchange rates
def test_won_prices_are_converted_with_the_rates_of_their_date():
    # C1: 1.2-1.5 M old won per kg, 2006, at 3,200-3,700 KPW/$
    lo, hi = BY_NAME["producer_price_north_hamgyong_2006"].range
    assert (lo, hi) == pytest.approx((1.2e6 / 3700 / 1000, 1.5e6 / 3200 / 1000))
    # C3: 5 M old won per kg, fall 2007
    assert BY_NAME["wholesale_price_2007"].range == pytest.approx((5e6 / 3700 / 1000, 5e6 / 3200 / 1000))
    # C8: 120,000 new won per g, mid-2014: 8,000 KPW/$ directly, 7,500 through the yuan (C8's own $16)
    assert BY_NAME["retail_price_north_hamgyong_2014"].range == pytest.approx((15.0, 16.0))
    # the same number of won is worth very different dollars before and after 2009
    assert exchange.to_usd(5e6, "KPW", dt.date(2007, 10, 1))[1] == pytest.approx(1562.5)
    assert exchange.to_usd(5e6, "KPW", dt.date(2011, 1, 15)) == pytest.approx((1136.36, 1136.36), rel=1e-4)
    assert exchange.to_usd(5e6, "KPW", dt.date(2013, 1, 15))[0] == pytest.approx(549.45, rel=1e-4)


def test_no_rate_no_conversion_and_no_old_won_at_new_rates():
    with pytest.raises(NarcoflowError, match="no KPW rate of the evidence file applies on 2010-06-01"):
        exchange.to_usd(1000, "KPW", dt.date(2010, 6, 1))  # between the redenomination and Jan 2011
    with pytest.raises(NarcoflowError, match="not one of"):
        exchange.to_usd(1000, "JPY", dt.date(2010, 6, 1))
    new_rate = next(r for r in exchange.RATES if r.first.year == 2011)
    with pytest.raises(NarcoflowError, match="old won"):
        exchange.check_denomination("KPW", dt.date(2008, 6, 1), new_rate)
    assert exchange.new_won(1.5e6, dt.date(2006, 7, 1)) == 15_000
    assert exchange.new_won(120_000, dt.date(2014, 7, 1)) == 120_000
    assert all(r.rows for r in exchange.RATES)
    with pytest.raises(ValueError, match="quote: no KPW rate"):
        Targets(targets=[{"name": "x", "metric": "price_usd_per_g", "years": [2010, 2010],
                          "quote": {"amount": 5000, "currency": "KPW", "date": "2010-06-01"}}])
    with pytest.raises(ValueError, match="not the quote converted"):
        Target(name="x", metric="price_usd_per_g", years=(2014, 2014), range=(10, 20),
               quote={"amount": 120000, "currency": "KPW", "date": "2014-07-01"})


def test_a_quoted_target_survives_a_round_trip():
    dumped = json.loads(json.dumps(SHIPPED.model_dump(mode="json")).replace("Infinity", "1e999"))
    again = Targets.model_validate(dumped)
    assert [t.range for t in again.targets] == [t.range for t in SHIPPED.targets]


# ---------------------------------------------------------------------------- floors apart
def test_floors_are_reported_apart_from_the_fitted_targets():
    floors = {t.name for t in SHIPPED.of_role("floor")}
    assert floors == {"hamhung_crackdown_arrests_2008", "north_hamgyong_seized_2010"}
    assert all(math.isinf(t.range[1]) for t in SHIPPED.of_role("floor"))
    inside = {t.name: True for t in SHIPPED.targets}
    counts = role_counts(SHIPPED, inside)
    assert counts["floors"] == counts["floors_met"] == 2
    assert counts["fitted"] == len(SHIPPED.targets) - 2  # two floors
    assert "floors met apart: 2 of 2" in role_summary(counts)
    with pytest.raises(ValueError, match="floor: true needs a range"):
        Target(name="x", metric="arrests", years=(2008, 2008), observed=30, floor=True)


def test_met_floors_do_not_dilute_the_distance():
    fitted = Target(name="f", metric="consumed_g", years=(1998, 1998), observed=100, reliability="L")
    floor = Target(name="g", metric="arrests", years=(1998, 1998), range=(30, math.inf), floor=True,
                   reliability="L")
    assert distance([fitted, floor], {"f": 200, "g": 1e6}) == pytest.approx(1.0)  # not 1/sqrt(2)
    assert distance([fitted, floor], {"f": 100, "g": 15}) == pytest.approx(1.0)  # a missed floor counts


# ---------------------------------------------------------------------------- P4: ever-used
def test_p4_is_compared_with_ever_used_not_current_users():
    p4 = [t for t in SHIPPED.targets if "P4" in t.rows]
    assert len(p4) == 1 and p4[0].role == "fitted" and p4[0].metric == "ever_used"
    assert p4[0] in SHIPPED.compared
    m = frame([("users", None, "Kangwon", None, 9e6), ("ever_used", None, "Kangwon", None, 5e6),
               ("ever_used", None, "Rason", None, 3e6)], 2015)
    assert p4[0].evaluate(m) == pytest.approx(8e6)  # summed over provinces; current users ignored
    assert p4[0].distance(8e6) == 0.0  # at least 30 % of 24.05 M
    assert p4[0].distance(5e6) > 0.0
    with pytest.raises(ValueError, match="not a metric"):  # an unknown metric needs 'waiting'
        Target(name="x", metric="ever_usd", years=(2015, 2015), observed=1)


# ---------------------------------------------------------------------------- evidence rows
def test_every_evidence_row_is_cited_by_a_target_or_listed_as_unused():
    codes = {c for c in load_source_codes()["codes"] if c[0] in "PCQTE"}
    cited = {r for t in SHIPPED.targets for r in t.rows}
    unused = set(SHIPPED.unused_rows)
    assert all(t.rows for t in SHIPPED.targets)
    assert cited <= codes and unused <= codes
    assert not cited & unused
    assert codes == cited | unused, sorted(codes - cited - unused)
    assert all(len(why) > 20 for why in SHIPPED.unused_rows.values())
    with pytest.raises(ValueError, match="rows cited by a target: C1"):
        Targets(targets=[BY_NAME["producer_price_north_hamgyong_2006"]], unused=[{"rows": ["C1"], "why": "x"}])


def test_a_check_table_written_before_roles_takes_the_new_column(tmp_path):
    import duckdb

    from narcoflow.calibration.storage import store_check

    db = tmp_path / "old.duckdb"
    with duckdb.connect(str(db)) as con:  # the table as files written before roles hold it
        con.execute("CREATE TABLE calibration_check (calibration_id VARCHAR, position BIGINT, target VARCHAR, "
                    "inside BOOLEAN)")
        con.execute("INSERT INTO calibration_check VALUES ('old', 0, 'x', true)")
    store_check(db, "new", pd.DataFrame({"target": ["y"], "role": ["floor"], "inside": [True]}))
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute("SELECT calibration_id, target, role FROM calibration_check ORDER BY 1").fetchall()
    assert rows == [("new", "y", "floor"), ("old", "x", None)]
