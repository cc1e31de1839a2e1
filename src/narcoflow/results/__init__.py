"""Run outputs: `Results` (tidy tables), the DuckDB store and run summaries."""

from narcoflow.results.results import FLOW_METRICS, LEVEL_METRICS, METRIC_COLUMNS, Results

__all__ = ["FLOW_METRICS", "LEVEL_METRICS", "METRIC_COLUMNS", "Results"]
