"""`Results`: what one run produced, as tidy pandas tables plus the run's identity.

The metrics table is long form, one row per step x key, with columns
``step, date, metric, drug, region, channel, value`` (unused dimensions are missing/None).
Extensive quantities (grams, people, arrests, USD) are expressed for the full population:
the simulated miniature's totals divided by ``scale`` (as Covasim's ``pop_scale``), so runs at
different scales are comparable. Intensive quantities (prices, purity) are not rescaled.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

METRIC_COLUMNS = ["step", "date", "metric", "drug", "region", "channel", "value"]

#: Flows: per-step quantities whose cumulative sum is meaningful.
FLOW_METRICS = (
    "produced_g", "siphoned_g", "consumed_g", "seized_g", "exported_g", "delivered_abroad_g",
    "arrests", "bribes_usd", "state_revenue_usd", "initiations", "private_export_revenue_usd",
)
#: Stocks and levels: end-of-step snapshots.
LEVEL_METRICS = (
    "stock_g", "in_transit_g", "users", "active_producers", "active_deliverers",
    "active_wholesalers", "active_sellers", "active_smugglers", "price_usd_per_g", "purity",
)


def run_id_for(info: dict[str, Any]) -> str:
    """Deterministic run id: the same scenario, seed, scale, steps and version give the same id."""
    key = json.dumps(
        {k: info[k] for k in ("scenario", "parameters", "seed", "scale", "steps", "version")},
        sort_keys=True, default=str,
    )
    return hashlib.sha256(key.encode()).hexdigest()[:16]


@dataclass
class Results:
    """Outputs of one `Simulation` run.

    Attributes
    ----------
    metrics : pandas.DataFrame
        Long table ``step, date, metric, drug, region, channel, value``.
    info : dict
        ``run_id, scenario, seed, scale, start, steps, version, parameters`` (parameters is the
        full scenario as JSON text), the row stored in table ``runs``.
    timings : dict
        CPU seconds spent in each process, when the run was profiled (`Simulation(profile=True)`,
        `narcoflow run --profile`); empty otherwise. Not stored.
    """

    metrics: pd.DataFrame
    info: dict[str, Any]
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def run_id(self) -> str:
        return self.info["run_id"]

    def to_df(self, metric: str | None = None) -> pd.DataFrame:
        """The metrics table, optionally only the rows of one metric."""
        if metric is None:
            return self.metrics
        return self.metrics[self.metrics["metric"] == metric].reset_index(drop=True)

    def total(self, metric: str, **filters: str) -> float:
        """Sum of a flow metric over all steps (and over dimensions not filtered on)."""
        df = self.to_df(metric)
        for col, val in filters.items():
            df = df[df[col] == val]
        return float(df["value"].sum())

    def final(self, metric: str, **filters: str) -> float:
        """Value of a level metric at the last step, summed over dimensions not filtered on."""
        df = self.to_df(metric)
        for col, val in filters.items():
            df = df[df[col] == val]
        if df.empty:
            return 0.0
        return float(df[df["step"] == df["step"].max()]["value"].sum())

    def __repr__(self) -> str:
        i = self.info
        return (f"Results(run_id={i['run_id']!r}, scenario={i['scenario']!r}, seed={i['seed']}, "
                f"scale={i['scale']}, steps={i['steps']}, rows={len(self.metrics)})")
