"""Outcomes: the scalars an experiment reads from each run's metrics, defined once.

Flows are totals over the run (grams as kg, USD as USD million); levels are taken at the last
step. ``exports_arrived_kg:<destination>`` is added for each foreign market of the scenario.

Examples
--------
>>> import narcoflow as nf
>>> res = nf.run("north-korea-2011", seed=1, scale=0.002, years=1)
>>> out = outcomes_of(res.metrics, destinations=["China", "Japan", "South Korea"])
>>> sorted(out)[:3]
['arrests', 'consumption_kg', 'exports_arrived_kg']
>>> out["consumption_kg"] == res.total("consumed_g") / 1000
True
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from narcoflow.errors import NarcoflowError

_DOMESTIC_AGENCIES = ("mps", "nsa", "border_guard")


@dataclass(frozen=True)
class Outcome:
    """A scalar read from one run's metrics table."""

    name: str
    meaning: str
    unit: str
    fn: Callable[[pd.DataFrame], float]


def _rows(m: pd.DataFrame, metric: str) -> pd.DataFrame:
    return m[m["metric"] == metric]


def _total(metric: str, factor: float = 1.0, **where: object) -> Callable[[pd.DataFrame], float]:
    def fn(m: pd.DataFrame) -> float:
        d = _rows(m, metric)
        for col, val in where.items():
            d = d[d[col].isin(val)] if isinstance(val, tuple) else d[d[col] == val]
        return float(d["value"].sum()) * factor
    return fn


def _final_sum(metric: str) -> Callable[[pd.DataFrame], float]:
    def fn(m: pd.DataFrame) -> float:
        d = _rows(m, metric)
        return float(d[d["step"] == d["step"].max()]["value"].sum()) if len(d) else 0.0
    return fn


def _retail_price(m: pd.DataFrame) -> float:
    d = _rows(m, "price_usd_per_g")
    d = d[(d["drug"] == "methamphetamine") & (d["channel"] == "retail")]
    if d.empty:
        return float("nan")
    d = d[d["step"] == d["step"].max()]
    return float(d["value"].astype("float64").mean())


_KG, _MUSD = 1e-3, 1e-6

#: The headline outcomes, in display order (per-destination exports are added per scenario).
OUTCOMES: dict[str, Outcome] = {o.name: o for o in (
    Outcome("production_kg", "state and private production", "kg", _total("produced_g", _KG)),
    Outcome("consumption_kg", "domestic consumption", "kg", _total("consumed_g", _KG)),
    Outcome("users_end", "users at the end of the run", "people", _final_sum("users")),
    Outcome("seizures_kg", "seizures at home and abroad", "kg",
            _total("seized_g", _KG)),
    Outcome("seizures_domestic_kg", "seizures by MPS, NSA, border guards", "kg",
            _total("seized_g", _KG, channel=_DOMESTIC_AGENCIES)),
    Outcome("arrests", "arrests of actors and users", "people", _total("arrests")),
    Outcome("exports_arrived_kg", "exports delivered abroad", "kg",
            _total("delivered_abroad_g", _KG)),
    Outcome("state_revenue_musd", "state export revenue", "USD million",
            _total("state_revenue_usd", _MUSD)),
    Outcome("retail_price_usd_per_g", "meth retail price at the end (provincial mean)", "USD/g",
            _retail_price),
)}

DESTINATION_PREFIX = "exports_arrived_kg:"


def destination_outcome(destination: str) -> Outcome:
    """``exports_arrived_kg:<destination>``: grams delivered in that market, as kg."""
    return Outcome(f"{DESTINATION_PREFIX}{destination}", f"exports delivered in {destination}", "kg",
                   _total("delivered_abroad_g", _KG, region=destination))


def outcomes_for(destinations: Sequence[str] = ()) -> dict[str, Outcome]:
    """The headline outcomes plus one per destination, in display order."""
    out = dict(OUTCOMES)
    names = list(out)
    pos = names.index("exports_arrived_kg") + 1
    per_dest = {f"{DESTINATION_PREFIX}{d}": destination_outcome(d) for d in destinations}
    return {k: {**out, **per_dest}[k] for k in names[:pos] + list(per_dest) + names[pos:]}


def outcomes_of(metrics: pd.DataFrame, *, destinations: Sequence[str] = ()) -> dict[str, float]:
    """Every headline outcome of one run, ``name -> value``."""
    needed = ("produced_g", "consumed_g", "users", "seized_g", "arrests", "delivered_abroad_g",
              "state_revenue_usd", "price_usd_per_g")
    m = metrics[metrics["metric"].isin(needed)]
    return {name: o.fn(m) for name, o in outcomes_for(destinations).items()}


def check_outcome(name: str, destinations: Sequence[str] = ()) -> str:
    """``name`` if it is an outcome of this scenario, else a `NarcoflowError` listing them."""
    known = outcomes_for(destinations)
    if name not in known:
        raise NarcoflowError(f"--outcome {name!r} is not an outcome; choose one of: "
                             f"{', '.join(known)}.")
    return name


def outcome_table(values: dict[str, float]) -> pd.DataFrame:
    """``metric, value`` rows (float64), in the order given."""
    return pd.DataFrame({"metric": list(values), "value": np.asarray(list(values.values()), float)})
