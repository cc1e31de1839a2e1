"""Outcomes: the scalars an experiment reads from each run's metrics, defined once.

Flows are totals over the run (grams as kg, USD as USD million: each metric's display unit
in `narcoflow.metrics`); levels are taken at the last step, both computed by
`narcoflow.results.results.run_total` / `last_value`. ``exports_arrived_kg:<destination>`` is
added for each foreign market of the scenario.

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
from narcoflow.metrics import metric
from narcoflow.results.results import last_rows, last_value, run_total

_DOMESTIC_AGENCIES = ("mps", "nsa", "border_guard")


@dataclass(frozen=True)
class Outcome:
    """A scalar read from one run's metrics table."""

    name: str
    meaning: str
    unit: str
    fn: Callable[[pd.DataFrame], float]


def _total(name: str, **where: object) -> Callable[[pd.DataFrame], float]:
    """Run total of flow ``name`` (`narcoflow.results.results.run_total`) in its display unit."""
    factor = metric(name).display_factor

    def fn(m: pd.DataFrame) -> float:
        return run_total(m, name, check_labels=False, **where) * factor
    return fn


def _final_sum(name: str) -> Callable[[pd.DataFrame], float]:
    def fn(m: pd.DataFrame) -> float:
        return last_value(m, name)
    return fn


def _retail_price(m: pd.DataFrame) -> float:
    d = last_rows(m, "price_usd_per_g", drug="methamphetamine", channel="retail", check_labels=False)
    if d.empty:
        return float("nan")
    return float(d["value"].astype("float64").mean())


def _outcome(name: str, meaning: str, metric_name: str, fn: Callable[[pd.DataFrame], float]) -> Outcome:
    return Outcome(name, meaning, metric(metric_name).display_unit, fn)


#: The headline outcomes, in display order (per-destination exports are added per scenario).
OUTCOMES: dict[str, Outcome] = {o.name: o for o in (
    _outcome("production_kg", "state and private production", "produced_g", _total("produced_g")),
    _outcome("consumption_kg", "domestic consumption", "consumed_g", _total("consumed_g")),
    _outcome("users_end", "users at the end of the run", "users", _final_sum("users")),
    _outcome("seizures_kg", "seizures at home and abroad", "seized_g", _total("seized_g")),
    _outcome("seizures_domestic_kg", "seizures by MPS, NSA, border guards", "seized_g",
             _total("seized_g", channel=_DOMESTIC_AGENCIES)),
    _outcome("arrests", "arrests of actors and users", "arrests", _total("arrests")),
    _outcome("exports_arrived_kg", "exports delivered abroad", "delivered_abroad_g",
             _total("delivered_abroad_g")),
    _outcome("state_revenue_musd", "state export revenue", "state_revenue_usd",
             _total("state_revenue_usd")),
    _outcome("retail_price_usd_per_g", "meth retail price at the end (provincial mean)",
             "price_usd_per_g", _retail_price),
)}

#: The metrics the outcomes read.
_NEEDED = ("produced_g", "consumed_g", "users", "seized_g", "arrests", "delivered_abroad_g",
           "state_revenue_usd", "price_usd_per_g")

DESTINATION_PREFIX = "exports_arrived_kg:"


def destination_outcome(destination: str) -> Outcome:
    """``exports_arrived_kg:<destination>``: grams delivered in that market, as kg."""
    return _outcome(f"{DESTINATION_PREFIX}{destination}", f"exports delivered in {destination}",
                    "delivered_abroad_g", _total("delivered_abroad_g", region=destination))


def outcomes_for(destinations: Sequence[str] = ()) -> dict[str, Outcome]:
    """The headline outcomes plus one per destination, in display order."""
    out = dict(OUTCOMES)
    names = list(out)
    pos = names.index("exports_arrived_kg") + 1
    per_dest = {f"{DESTINATION_PREFIX}{d}": destination_outcome(d) for d in destinations}
    return {k: {**out, **per_dest}[k] for k in names[:pos] + list(per_dest) + names[pos:]}


def outcomes_of(metrics: pd.DataFrame, *, destinations: Sequence[str] = ()) -> dict[str, float]:
    """Every headline outcome of one run, ``name -> value``."""
    m = metrics[metrics["metric"].isin(_NEEDED)]
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
