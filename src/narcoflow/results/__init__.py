"""Run outputs: `Results` (tidy tables), the DuckDB store and run summaries."""

from narcoflow.results.results import (
    FLOW_METRICS,
    LEVEL_METRICS,
    METRIC_COLUMNS,
    Results,
    last_value,
    run_total,
)

__all__ = ["FLOW_METRICS", "LEVEL_METRICS", "METRIC_COLUMNS", "Results", "last_value", "run_total"]
