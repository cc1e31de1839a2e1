"""`Results`: what one run produced, as tidy pandas tables plus the run's identity.

The metrics table is long form, one row per step x key, with columns
``step, date, metric, drug, region, channel, value`` (unused dimensions are missing/None).
Extensive quantities (grams, people, arrests, USD) are expressed for the full population:
the simulated miniature's totals divided by ``scale`` (as Covasim's ``pop_scale``), so runs at
different scales are comparable. Intensive quantities (prices, purity) are not rescaled.
What each metric is (flow or level, scaled, unit, dimensions) is declared in `narcoflow.metrics`;
`run_total` and `last_value` here are the one implementation of "summed over the run" and "at
the last step" that `Results`, the printed summary and the outcomes of experiments use.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from narcoflow.errors import MetricError
from narcoflow.metrics import DIMENSIONS, FLOW_METRICS, LEVEL_METRICS, Metric, metric

__all__ = ["FLOW_METRICS", "LEVEL_METRICS", "METRIC_COLUMNS", "Results", "last_rows", "last_value",
           "run_total", "select_rows"]

METRIC_COLUMNS = ["step", "date", "metric", "drug", "region", "channel", "value"]

_LISTS = (tuple, list, set, frozenset)


def _check_dims(m: Metric, dims) -> None:
    for dim in dims:
        if dim not in DIMENSIONS:
            raise MetricError(f"{dim!r} is not a dimension; the dimensions are: {', '.join(DIMENSIONS)}")
        if dim not in m.dims:
            has = ", ".join(m.dims) if m.dims else "none"
            raise MetricError(f"{m.name} has no {dim} dimension (its dimensions: {has})")


def _labels(values) -> list[str]:
    return sorted(str(v) for v in values.dropna().unique())


def _check_labels(metrics: pd.DataFrame, m: Metric, rows: pd.DataFrame, filters: dict) -> None:
    """Raise for a filter label this run does not know. A level registers all its keys every
    step, so its own labels are the allowed ones; a flow registers only non-zero keys, so a label
    found in that column for any metric of the run is allowed (it may just have no flow)."""
    if not len(metrics):
        return
    for dim, val in filters.items():
        wanted = list(val) if isinstance(val, _LISTS) else [val]
        own = _labels(rows[dim])
        known = set(own) if m.kind == "level" and own else set(_labels(metrics[dim]))
        bad = [v for v in wanted if v not in known]
        if bad:
            shown = own or sorted(known)
            raise MetricError(f"{dim}={bad[0]!r} is not a label of {m.name} in this run; "
                              f"its {m.dim_name(dim)} labels are: {', '.join(shown) or '(none)'}")


def select_rows(metrics: pd.DataFrame, name: str, *, check_labels: bool = True,
                **filters: object) -> pd.DataFrame:
    """The rows of registered metric ``name`` in a metrics frame, filtered on its dimensions.

    A filter value may be a label or a tuple/list of labels (any of them). Raises `MetricError`
    for an unknown metric, a dimension the metric does not have, or (with ``check_labels``) a
    label the run does not know; a known label without rows gives no rows.
    """
    m = metric(name)
    _check_dims(m, filters)
    all_rows = df = metrics[metrics["metric"] == name]
    for col, val in filters.items():
        df = df[df[col].isin(val)] if isinstance(val, _LISTS) else df[df[col] == val]
    if check_labels and filters and df.empty:
        _check_labels(metrics, m, all_rows, filters)
    return df


def _of_kind(name: str, kind: str) -> Metric:
    m = metric(name)
    if m.kind != kind:
        if kind == "flow":
            raise MetricError(f"{name} is a level (a snapshot at the end of each step, in {m.unit}); "
                              f"its sum over the run means nothing: use final({name!r}) for its "
                              "value at the last step")
        raise MetricError(f"{name} is a flow (a quantity per step, in {m.unit}); its value at the "
                          f"last step is one week's worth: use total({name!r}) for the run total")
    return m


def _grouped(df: pd.DataFrame, by: Sequence[str]) -> pd.DataFrame:
    """``by`` columns (missing labels shown as "-") and the summed ``value``."""
    df = df.astype({k: "object" for k in DIMENSIONS}).fillna({k: "-" for k in DIMENSIONS})
    return df.groupby(list(by), sort=True)["value"].sum().reset_index()


def run_total(metrics: pd.DataFrame, name: str, *, by: Sequence[str] | None = None,
              check_labels: bool = True, **filters: object):
    """Sum of flow ``name`` over all steps and the dimensions not filtered on: a float, or with
    ``by`` a frame of the ``by`` columns and ``value``. A level raises `MetricError`."""
    m = _of_kind(name, "flow")
    if by is not None:
        _check_dims(m, by)
    df = select_rows(metrics, name, check_labels=check_labels, **filters)
    return float(df["value"].sum()) if by is None else _grouped(df, by)


def last_rows(metrics: pd.DataFrame, name: str, *, check_labels: bool = True,
              **filters: object) -> pd.DataFrame:
    """The rows of level ``name`` at the last step it was recorded. A flow raises `MetricError`."""
    _of_kind(name, "level")
    df = select_rows(metrics, name, check_labels=check_labels, **filters)
    return df[df["step"] == df["step"].max()] if len(df) else df


def last_value(metrics: pd.DataFrame, name: str, *, by: Sequence[str] | None = None,
               check_labels: bool = True, **filters: object):
    """Level ``name`` at the last step, summed over the dimensions not filtered on: a float (0.0
    without rows), or with ``by`` a frame of the ``by`` columns and ``value``."""
    if by is not None:
        _check_dims(metric(name), by)
    df = last_rows(metrics, name, check_labels=check_labels, **filters)
    if by is not None:
        return _grouped(df, by)
    return float(df["value"].sum()) if len(df) else 0.0


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

    def to_df(self, metric: str | None = None, **filters: object) -> pd.DataFrame:
        """The metrics table, or the rows of one registered metric filtered on its dimensions
        (``drug=``, ``region=``, ``channel=``; see `narcoflow.metrics`)."""
        if metric is None:
            if filters:
                raise MetricError("filters need a metric: to_df(metric, **filters)")
            return self.metrics
        return select_rows(self.metrics, metric, **filters).reset_index(drop=True)

    def total(self, metric: str, **filters: object) -> float:
        """Sum of a flow metric over all steps (and over dimensions not filtered on).

        Raises `narcoflow.errors.MetricError` for a level (use `final`), an unknown metric, a
        dimension the metric does not have, or a label the run does not know.
        """
        return run_total(self.metrics, metric, **filters)

    def final(self, metric: str, **filters: object) -> float:
        """Value of a level metric at the last step, summed over dimensions not filtered on.

        Raises `narcoflow.errors.MetricError` for a flow (use `total`), an unknown metric, a
        dimension the metric does not have, or a label the run does not know.
        """
        return last_value(self.metrics, metric, **filters)

    def _repr_html_(self) -> str:
        from narcoflow.results.display import results_html

        return results_html(self)

    def __repr__(self) -> str:
        i = self.info
        return (f"Results(run_id={i['run_id']!r}, scenario={i['scenario']!r}, seed={i['seed']}, "
                f"scale={i['scale']}, steps={i['steps']}, rows={len(self.metrics)})")
