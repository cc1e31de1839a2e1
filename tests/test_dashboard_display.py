"""Dashboard presentation (issue 17): formatted numbers, tables without an index column and no
wider than the page, the stored-runs columns, and the progress text."""

from __future__ import annotations

import re

import pandas as pd

from fake_results import make_results
from narcoflow.app.dashboard import (
    COMPILING,
    STARTING,
    format_cell,
    progress_text,
    runs_table,
    table_html,
)
from narcoflow.results import store


def test_numbers_are_formatted_for_reading():
    assert format_cell(116000.0) == "116,000"
    assert format_cell(1234.5678) == "1,235" and format_cell(12.3456) == "12.35"
    assert format_cell(0.012345) == "0.0123" and format_cell(float("nan")) == "-"
    assert format_cell(None) == "-" and format_cell("China") == "China" and format_cell(3) == "3"


def test_table_has_no_index_column_and_scrolls_instead_of_widening_the_page():
    df = pd.DataFrame({"outcome": ["users at the end", "consumption"], "unit": ["people", "kg"],
                       "abc1234567 (seed 1)": [116000.0, 12.3456]}, index=[7, 8])
    page = table_html(df)
    header = re.findall(r"<th>(.*?)</th>", page)
    assert header == ["outcome", "unit", "abc1234567 (seed 1)"]  # no index column
    assert ">7<" not in page and "116,000" in page and "116000.0" not in page
    assert "max-width:100%" in page and "overflow-x:auto" in page


def test_runs_table_lists_the_useful_columns(tmp_path):
    db = tmp_path / "d.duckdb"
    store.save(make_results(), db)
    df = runs_table(store.list_runs(db))
    assert list(df.columns) == ["run_id", "scenario", "policy", "seed", "scale", "start", "steps",
                                "created (UTC)", "rows", "levers", "parameter draw"]
    assert df["policy"].iloc[0] == "-"  # stored without provenance: unknown, said so
    assert df["start"].iloc[0] == "1998-01-05"


def test_progress_text_never_says_running_100_percent():
    assert progress_text(0, 104) == "Running: 0 % (week 0 of 104)"
    assert progress_text(52, 104) == "Running: 50 % (week 52 of 104)"
    assert progress_text(104, 104) == "Saving the run..."
    assert "first run only" in COMPILING and STARTING.startswith("Starting")
