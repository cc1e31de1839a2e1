"""Small, real-looking `Results` built by hand, so store and CLI tests need no engine run."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd

from narcoflow.results.results import METRIC_COLUMNS, Results, run_id_for

START = dt.date(1998, 1, 5)
REGIONS = ("Pyongyang", "North Hamgyong")


def _keys(step: int) -> list[tuple[str, str | None, str | None, str | None, float]]:
    """(metric, drug, region, channel, value) rows of one step."""
    meth = "methamphetamine"
    rows: list = []
    for i, region in enumerate(REGIONS):
        rows += [
            ("consumed_g", meth, region, None, 1500.0 + 100 * step + i),
            ("produced_g", meth, region, "private", 4000.0 + 10 * step),
            ("price_usd_per_g", meth, region, "retail", 20.0 + 0.5 * step + i),
            ("users", None, region, None, 30000.0 + 200 * step),
            ("seized_g", meth, region, "mps", 50.0 * (step + 1)),
        ]
    rows += [
        ("produced_g", meth, "South Hamgyong", "state", 25000.0),
        ("produced_g", "heroin", "Pyongyang", "state", 10000.0),
        ("seized_g", meth, "China", "china", 300.0),
        ("delivered_abroad_g", meth, "China", "trading_company", 8000.0 + step),
        ("delivered_abroad_g", meth, "Japan", "diplomatic", 2000.0),
        ("state_revenue_usd", None, "China", "trading_company", 160000.0),
        ("stock_g", meth, None, "state", 90000.0 - 1000 * step),
        ("in_transit_g", meth, None, None, 12000.0),
    ]
    return rows


def make_results(*, seed: int = 0, steps: int = 3, scenario: str = "north-korea-2011") -> Results:
    """A `Results` with the engine's columns and dtypes; the run id depends on ``seed``."""
    recs = []
    for step in range(steps):
        date = pd.Timestamp(START) + pd.Timedelta(weeks=step)
        recs += [(step, date, *key) for key in _keys(step)]
    df = pd.DataFrame.from_records(recs, columns=METRIC_COLUMNS)
    df["step"] = df["step"].astype(np.int32)
    df["date"] = df["date"].astype("datetime64[ns]")
    for col in ("metric", "drug", "region", "channel"):
        df[col] = df[col].astype("string")
    info = {
        "scenario": scenario, "seed": seed, "scale": 0.01, "start": START, "steps": steps,
        "version": "0.1.0", "parameters": json.dumps({"name": scenario, "seed_note": seed}),
    }
    info["run_id"] = run_id_for(info)
    return Results(metrics=df, info=info, timings={"retail": 0.5, "smuggling": 0.25})
