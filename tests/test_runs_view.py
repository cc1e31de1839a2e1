"""Stored runs side by side (narcoflow.viz.runs), as the dashboard's "Compare runs" view shows them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import narcoflow as nf
from narcoflow.experiments.outcomes import outcomes_of
from narcoflow.viz.runs import QUANTITIES, outcomes_side_by_side, overlay_figure
from narcoflow.viz.timeseries import DAYS_PER_MONTH


@pytest.fixture(scope="module")
def two_runs():
    a = nf.run("north-korea-2011", seed=1, scale=0.002, years=1)
    b = nf.run("north-korea-2011", seed=2, scale=0.002, years=1)
    return {"seed 1": a.metrics, "seed 2": b.metrics}


def test_side_by_side_table_holds_each_runs_outcomes(two_runs):
    table = outcomes_side_by_side(two_runs)
    assert list(table.columns) == ["outcome", "unit", "seed 1", "seed 2"]
    for label, metrics in two_runs.items():
        dests = ["China", "Japan", "South Korea"]
        expected = outcomes_of(metrics, destinations=sorted(
            set(metrics.loc[metrics["metric"] == "delivered_abroad_g", "region"].dropna())))
        col = dict(zip(table["outcome"], table[label], strict=True))
        assert col["domestic consumption"] == pytest.approx(expected["consumption_kg"])
        assert col["users at the end of the run"] == expected["users_end"]
        assert any(d in " ".join(table["outcome"]) for d in dests)
    # different seeds give different runs: the table is not one run repeated
    assert not np.allclose(table["seed 1"].fillna(0), table["seed 2"].fillna(0))


def test_overlay_has_one_line_per_run_with_that_runs_numbers(two_runs):
    for quantity in QUANTITIES:
        fig = overlay_figure(two_runs, quantity)
        assert [t.name for t in fig.data] == ["seed 1", "seed 2"]
    fig = overlay_figure(two_runs, "consumption")
    for trace, metrics in zip(fig.data, two_runs.values(), strict=True):
        total_kg = metrics.loc[metrics["metric"] == "consumed_g", "value"].sum() / 1e3
        # flows are shown per average month of the days each month covers (viz.timeseries.monthly):
        # weighted back by those days, the months add up to the run's total
        start = pd.Timestamp(metrics["date"].min())
        days_run = pd.date_range(start, periods=7 * (int(metrics["step"].max()) + 1), freq="D")
        days = pd.Series(1, index=days_run).groupby(days_run.to_period("M").to_timestamp()).sum()
        shown = pd.Series(np.asarray(trace.y, dtype=float), index=pd.to_datetime(trace.x))
        assert float((shown * days.reindex(shown.index) / DAYS_PER_MONTH).sum()) == pytest.approx(total_kg, rel=1e-9)
    fig = overlay_figure(two_runs, "users")
    m = two_runs["seed 2"]
    users = m[m["metric"] == "users"]
    assert fig.data[1].y[-1] == users[users["step"] == users["step"].max()]["value"].sum()


def test_unknown_quantity_names_the_choices(two_runs):
    with pytest.raises(ValueError, match="users, consumption"):
        overlay_figure(two_runs, "happiness")
