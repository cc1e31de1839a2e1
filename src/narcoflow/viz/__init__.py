"""Figures and the self-contained HTML report of a stored run or experiment.

>>> from narcoflow.viz import make_report
>>> make_report("narcoflow.duckdb", "3f2a", "report.html")      # doctest: +SKIP
"""

from narcoflow.viz.figures import comparison_figure, map_figure, policy_fan_figure, sankey_figure, timeseries_figure
from narcoflow.viz.flows import imbalance, product_flows
from narcoflow.viz.report import (
    ReportData,
    ReportError,
    load_report_data,
    make_report,
    render_html,
    write_html,
    write_static,
)

__all__ = ["ReportData", "ReportError", "comparison_figure", "imbalance", "load_report_data",
           "make_report", "map_figure", "policy_fan_figure", "product_flows", "render_html", "sankey_figure",
           "timeseries_figure", "write_html", "write_static"]
