"""The run summary the CLI prints: tidy tables computed from a metrics frame, and their display.

Grams become kilograms and USD become USD million; flows are summed over the whole run, levels
(users, prices) are taken at the last step.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
from rich.console import Console
from rich.table import Table

from narcoflow.metrics import metric as get_metric
from narcoflow.results.results import last_rows, last_value, run_total


def _label(name: str) -> str:
    return get_metric(name).label


def _unit(name: str) -> str:
    return get_metric(name).display_unit


#: table name -> (title, {column: display format}) in print order
_LAYOUT: dict[str, tuple[str, dict[str, str]]] = {
    "overview": ("Overview", {"value": "{:,.1f}"}),
    "production": ("Production by sector and drug (kg)", {"kg": "{:,.1f}"}),
    "consumption": ("Domestic consumption by province (kg)", {"kg": "{:,.1f}"}),
    "users": ("Users at the end by province", {"users": "{:,.0f}"}),
    "seizures": ("Seizures by agency, in the country and abroad (kg)", {"kg": "{:,.1f}"}),
    "exports": ("Exports arrived abroad (kg)", {"kg": "{:,.1f}"}),
    "state_revenue": ("State export revenue (USD million)", {"usd_million": "{:,.2f}"}),
    "retail_price": ("Methamphetamine retail price at the end (USD/g)", {"usd_per_g": "{:,.2f}"}),
}


def _total(metrics: pd.DataFrame, metric: str, by: Sequence[str], name: str, *,
           final: bool = False) -> pd.DataFrame:
    """``metric`` summed over the run (a flow) or at the last step (a level, ``final``) by the
    dimensions ``by``, in its display unit (`narcoflow.metrics`), columns named after what the
    dimensions stand for in this metric (e.g. ``channel`` -> ``agency``), largest first."""
    m = get_metric(metric)
    how = last_value if final else run_total
    out = how(metrics, metric, by=by)
    out["value"] = out["value"].mul(m.display_factor)
    out = out.rename(columns={**{d: m.dim_name(d) for d in by}, "value": name})
    return out.sort_values(name, ascending=False, kind="stable").reset_index(drop=True)


def population_of(info: Mapping[str, Any] | None) -> dict[str, float]:
    """Province -> population, from a run's ``info`` (its ``parameters``); empty if not there."""
    params = (info or {}).get("parameters")
    if isinstance(params, str):
        params = json.loads(params)
    regions = (params or {}).get("regions") or []
    return {r["name"]: float(r["population"]) for r in regions
            if isinstance(r, Mapping) and r.get("population") is not None}


def summarize(metrics: pd.DataFrame, info: Mapping[str, Any] | None = None) -> dict[str, pd.DataFrame]:
    """Tidy summary tables of one run.

    Parameters
    ----------
    metrics : pandas.DataFrame
        ``Results.metrics`` (columns ``step, date, metric, drug, region, channel, value``).
    info : dict, optional
        ``Results.info`` (or a stored run's): its parameters give the provinces' populations,
        which weight the mean retail price. Without it the mean is unweighted.

    Returns
    -------
    dict of str to pandas.DataFrame
        ``overview`` (quantity, value, unit), ``production`` (sector, drug, kg),
        ``consumption`` (region, kg), ``users`` (region, users at the last step),
        ``seizures`` (where: ``in the country`` or ``abroad``, agency, kg), ``exports``
        (destination, channel, kg arrived abroad), ``state_revenue`` (destination, channel,
        usd_million), ``retail_price`` (region, usd_per_g of methamphetamine at the last step).
        Missing metrics give empty tables and zero totals. Seizures abroad are those whose
        region is a destination (a region with exports) rather than a province.

    Examples
    --------
    >>> tables = summarize(results.metrics, results.info)   # doctest: +SKIP
    >>> tables["seizures"]                                   # doctest: +SKIP
    """
    t = {
        "production": _total(metrics, "produced_g", ("channel", "drug"), "kg"),
        "consumption": _total(metrics, "consumed_g", ("region",), "kg"),
        "users": _total(metrics, "users", ("region",), "users", final=True),
        "seizures": _seizures(metrics),
        "exports": _total(metrics, "delivered_abroad_g", ("region", "channel"), "kg"),
        "state_revenue": _total(metrics, "state_revenue_usd", ("region", "channel"), "usd_million"),
    }
    price = last_rows(metrics, "price_usd_per_g", drug="methamphetamine", channel="retail",
                      check_labels=False)
    t["retail_price"] = (price[["region", "value"]].dropna()
                         .astype({"region": "str"}).rename(columns={"value": "usd_per_g"})
                         .sort_values("region").reset_index(drop=True))
    siphoned = get_metric("siphoned_g")
    mean_price, price_label = _mean_price(t["retail_price"], population_of(info))
    seized_where = t["seizures"].groupby("where")["kg"].sum()
    label, unit = _label, _unit
    overview = [
        (label("produced_g"), t["production"]["kg"].sum(), unit("produced_g")),
        (siphoned.label, run_total(metrics, "siphoned_g") * siphoned.display_factor,
         siphoned.display_unit),
        (label("consumed_g"), t["consumption"]["kg"].sum(), unit("consumed_g")),
        (label("users") + " at the end", t["users"]["users"].sum(), unit("users")),
        (label("seized_g") + " in the country", seized_where.get("in the country", 0.0),
         unit("seized_g")),
        (label("seized_g") + " abroad", seized_where.get("abroad", 0.0), unit("seized_g")),
        (label("delivered_abroad_g"), t["exports"]["kg"].sum(), unit("delivered_abroad_g")),
        (label("state_revenue_usd"), t["state_revenue"]["usd_million"].sum(),
         unit("state_revenue_usd")),
        (price_label, mean_price, unit("price_usd_per_g")),
    ]
    t["overview"] = pd.DataFrame(overview, columns=["quantity", "value", "unit"])
    t["overview"]["value"] = t["overview"]["value"].astype("float64")
    return {name: t[name] for name in _LAYOUT}


def _seizures(metrics: pd.DataFrame) -> pd.DataFrame:
    """Seizures by where (in the country or abroad) and agency, largest first within each."""
    by_region = _total(metrics, "seized_g", ("region", "channel"), "kg")
    abroad = set(metrics.loc[metrics["metric"].isin(["exported_g", "delivered_abroad_g"]), "region"].dropna())
    where = ["abroad" if r in abroad else "in the country" for r in by_region["region"]]
    out = (by_region.assign(where=where).groupby(["where", "agency"], sort=False)["kg"].sum()
           .reset_index())
    return out.sort_values(["where", "kg"], ascending=[False, False], kind="stable").reset_index(drop=True)


def _mean_price(prices: pd.DataFrame, population: Mapping[str, float]) -> tuple[float, str]:
    """Mean of the provinces' prices, weighted by population when every province has one."""
    weights = prices["region"].map(population)
    if len(prices) and population and weights.notna().all() and weights.sum() > 0:
        return (float((prices["usd_per_g"] * weights).sum() / weights.sum()),
                "Retail price at the end (mean over provinces, weighted by population)")
    mean = float(prices["usd_per_g"].mean()) if len(prices) else float("nan")
    return mean, "Retail price at the end (mean over provinces)"


_UNIT_FORMATS = {"people": "{:,.0f}", "USD million": "{:,.2f}", "USD/g": "{:,.2f}"}


def _cell(value: Any, fmt: str | None) -> str:
    if fmt is not None and isinstance(value, int | float):
        return "-" if pd.isna(value) else fmt.format(value)
    return str(value)


def print_summary(info: dict[str, Any], tables: dict[str, pd.DataFrame], console: Console) -> None:
    """Print a run's identity and its summary tables with Rich.

    Parameters
    ----------
    info : dict
        ``Results.info`` or `narcoflow.results.store.load_run` output.
    tables : dict of str to pandas.DataFrame
        `summarize` output.
    console : rich.console.Console
        Where to print.
    """
    start = pd.Timestamp(info["start"]).date()
    end = (pd.Timestamp(start) + pd.Timedelta(weeks=int(info["steps"]))).date()
    console.print(f"Scenario {info['scenario']}, seed {info['seed']}, scale {info['scale']}, "
                  f"{start} to {end} ({info['steps']} weekly steps), narcoflow "
                  f"{info.get('version', '?')}", markup=False, highlight=False, soft_wrap=True)
    for name, (title, formats) in _LAYOUT.items():
        df = tables.get(name)
        if df is None:
            continue
        table = Table(title=title, title_justify="left", show_edge=False, min_width=len(title))
        for col in df.columns:
            numeric = pd.api.types.is_numeric_dtype(df[col])
            table.add_column(col, justify="right" if numeric else "left")
        if df.empty:
            table.add_row(*(["(none)"] + [""] * (len(df.columns) - 1)))
        for row in df.itertuples(index=False):
            fmts = dict(formats)
            if name == "overview":
                fmts["value"] = _UNIT_FORMATS.get(row.unit, formats["value"])
            table.add_row(*(_cell(v, fmts.get(c)) for c, v in zip(df.columns, row, strict=True)))
        console.print()
        console.print(table)
