"""Compare the engine with the Mesa reference in distribution, over many seeds.

- `comparison_scenario`: the built-in scenario made dense (many users and actors per person), so
  that a few thousand simulated persons exercise every process often enough for the outcomes to
  be compared at a tolerance of a few per cent.
- `headline_outcomes`: the outcomes compared, read from a run's metrics table.
- `sample_outcomes`: the outcomes of each implementation over a list of seeds (a process pool).
- `compare_samples`: per outcome, a two-sample Mann-Whitney U test (Bonferroni-corrected) and the
  relative difference of the means; ``.same`` says whether the implementations agree.

>>> from narcoflow_reference.compare import compare_samples
>>> a = [{"x": v} for v in (1.0, 1.1, 0.9, 1.05, 0.95)]
>>> compare_samples(a, a).same
True
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from narcoflow.experiments.outcomes import outcomes_of
from narcoflow.scenario import Scenario, load

DESTINATIONS = ("China", "Japan", "South Korea")

#: The headline outcomes compared (issue 3): cumulative consumption, users at the end, exports
#: arrived by destination, seizures, arrests, mean retail price (over the run and the provinces).
HEADLINE = (
    "consumption_kg", "users_end", "exports_arrived_kg:China", "exports_arrived_kg:Japan",
    "exports_arrived_kg:South Korea", "seizures_kg", "arrests", "mean_retail_price_usd_per_g",
    "ever_used_end", "heavy_users_end",
)

#: Scale and length of the comparison runs (about 3,600 simulated persons, 3 years).
COMPARISON_SCALE = 0.00015
COMPARISON_YEARS = 3.0


def comparison_scenario() -> Scenario:
    """north-korea-2011 made dense for the engine-vs-reference comparison.

    Same structure (12 provinces, 2 factories, 2 export channels, 6 crossings, 3 destinations),
    one dated event of each kind inside the run, and values changed so that a miniature of a few
    thousand persons holds about a thousand users and a few hundred actors in every role, and
    every process acts many times a year: high prevalence with steady initiation and quitting;
    many small producers who can make a living; small stocks (short covers) and frequent arrests,
    so that seizures come in many small lots; a smuggler or more at every crossing; small state
    lots (many of them); a slowly moving national price. Ranges are dropped where a value lies
    outside the scenario's uncertainty range (these values are for testing, not estimates).
    """
    raw = load("north-korea-2011").model_dump(mode="json")

    def put(node: dict, key: str, value: float) -> None:
        node[key] = {"value": float(value), "source": "comparison test (narcoflow_reference.compare)"}

    for r in raw["regions"]:
        put(r, "initial_prevalence", 0.3)
    for c in raw["private"]["chemical_cities"]:
        put(c, "skilled_share", 0.3)
    pv = raw["private"]
    for key, value in (("output_g_per_week", 5), ("output_dispersion", 0.2), ("initial_producers_per_million", 30000),
                       ("max_entry_rate", 0.01), ("setup_cost_usd", 200), ("precursor_cost_usd_per_g", 0.05),
                       ("legal_income_usd_per_week", 1.0), ("penalty_cost_usd", 100)):
        put(pv, key, value)
    cons = raw["consumption"]
    for key, value in (("use_g_per_week", 0.3), ("base_initiation_per_week", 0.002),
                       ("peer_initiation_per_week", 0.005), ("quit_rate_per_week", 0.004),
                       ("quit_heavy_per_week", 0.006), ("escalation_per_week", 0.01), ("relapse_per_week", 0.01)):
        put(cons, key, value)
    dist = raw["distribution"]
    for key, value in (("users_per_seller", 5), ("sellers_per_wholesaler", 3), ("producers_per_deliverer", 1),
                       ("seller_target_cover_weeks", 1), ("wholesaler_target_cover_weeks", 2),
                       ("recruitment_rate", 0.5), ("rewire_prob", 0.5)):
        put(dist, key, value)
    pr = raw["prices"]
    for key, value in (("adjustment_speed", 0.02), ("normal_fill", 0.5), ("anchor_return_per_week", 0.05)):
        put(pr, key, value)
    enf = raw["enforcement"]
    for role, p in (("producer", 0.005), ("deliverer", 0.005), ("wholesaler", 0.015), ("seller", 0.015),
                    ("smuggler", 0.015), ("user", 0.002)):
        put(enf["weekly_arrest_prob"], role, p)
    for role, weeks in (("producer", 30), ("deliverer", 26), ("wholesaler", 26), ("seller", 20), ("smuggler", 26),
                        ("user", 13)):
        put(enf["sentence_weeks"], role, weeks)
    # Capacity binds for the MPS (users, sellers, wholesalers) but not for the others.
    put(enf["capacity_per_million_per_week"], "mps", 300)
    b = raw["border"]
    put(b, "smugglers_per_crossing_per_million", 1500)
    put(b["destinations"][0], "interdiction_prob", 0.2)
    for ch in raw["state"]["export_channels"]:
        put(ch, "lot_g", 2000)
    # Every kind of dated event, inside the three years of the comparison runs (S4's relocation,
    # 1999-06-01, falls inside them too).
    raw["events"] = [
        {"type": "crackdown", "start": "1999-01-01", "end": "1999-06-30", "multiplier": 3.0,
         "regions": ["North Hamgyong", "South Hamgyong"]},
        {"type": "border_closure", "start": "1999-07-01", "end": "1999-09-30", "regions": ["North Hamgyong"]},
        {"type": "state_shipment_seizure", "start": "1999-05-15", "grams": 20000, "drug": "methamphetamine",
         "destination": "China", "channel": "trading_company"},
        {"type": "foreign_crackdown", "start": "2000-01-01", "end": "2000-06-30", "destination": "China",
         "multiplier": 2.0},
        {"type": "precursor_control", "start": "2000-03-01", "end": "2000-08-31", "multiplier": 0.5},
    ]
    raw["name"] = "north-korea-2011-dense"
    return Scenario.model_validate(raw)


def headline_outcomes(metrics: pd.DataFrame) -> dict[str, float]:
    """The `HEADLINE` outcomes of one run (the engine's outcome functions, plus the run's mean
    retail price: the mean over steps and provinces, steadier than the last week's)."""
    out = outcomes_of(metrics, destinations=DESTINATIONS)
    retail = metrics[(metrics["metric"] == "price_usd_per_g") & (metrics["channel"] == "retail")
                     & (metrics["drug"] == "methamphetamine")]
    out["mean_retail_price_usd_per_g"] = float(retail["value"].astype("float64").mean())
    for key, metric, channel in (("ever_used_end", "ever_used", None), ("heavy_users_end", "users_by_state", "heavy")):
        d = metrics[metrics["metric"] == metric]
        if channel is not None:
            d = d[d["channel"] == channel]
        out[key] = float(d.loc[d["step"] == d["step"].max(), "value"].astype("float64").sum())
    return {k: out[k] for k in HEADLINE}


def run_outcomes(job: tuple) -> dict[str, float]:
    """Run one implementation for one seed and return its headline outcomes.

    ``job = (implementation, seed, scenario, scale, years)``; ``implementation`` is ``"engine"``,
    ``"mesa"``, or a `ReferenceModel` subclass (e.g. a deliberately broken one).
    """
    impl, seed, scenario, scale, years = job
    if impl == "engine":
        from narcoflow.engine import Simulation

        model = Simulation(scenario, seed=seed, scale=scale, years=years)
    else:
        from narcoflow_reference.model import ReferenceModel

        cls = ReferenceModel if impl == "mesa" else impl
        model = cls(scenario, seed=seed, scale=scale, years=years)
    return headline_outcomes(model.run().results.metrics)


def sample_outcomes(impls: dict, seeds: Sequence[int] | dict[str, Sequence[int]], *,
                    scenario: Scenario | None = None, scale: float = COMPARISON_SCALE,
                    years: float = COMPARISON_YEARS, workers: int | None = None) -> dict[str, list[dict[str, float]]]:
    """Headline outcomes of each implementation in ``impls`` (``name -> implementation``, see
    `run_outcomes`) for each seed (the same seeds for all, or ``name -> seeds``), in seed order.

    All runs share one spawn process pool (one worker per core by default); the parent's
    ``sys.path`` travels to the workers, so ``narcoflow_reference`` is importable there.
    """
    scenario = scenario or comparison_scenario()
    seeds_of = {name: list(seeds[name] if isinstance(seeds, dict) else seeds) for name in impls}
    jobs = [(impl, int(s), scenario, scale, years) for name, impl in impls.items() for s in seeds_of[name]]
    workers = workers or max(1, min(len(jobs), len(os.sched_getaffinity(0))))
    if workers == 1:
        results = [run_outcomes(j) for j in jobs]
    else:
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            results = list(pool.map(run_outcomes, jobs))
    out, i = {}, 0
    for name in impls:
        out[name] = results[i:i + len(seeds_of[name])]
        i += len(seeds_of[name])
    return out


@dataclass(frozen=True)
class Comparison:
    """Per outcome: means, relative difference of the means, Mann-Whitney U p-value."""

    table: pd.DataFrame
    alpha: float
    rel_tol: float

    @property
    def same(self) -> bool:
        """No significant difference (Bonferroni over the outcomes) and every mean within tolerance."""
        return bool(self.table["ok"].all())

    def __str__(self) -> str:
        return (f"alpha={self.alpha} (Bonferroni over {len(self.table)} outcomes), mean tolerance "
                f"{self.rel_tol:.0%}\n{self.table.to_string(float_format=lambda x: f'{x:.4g}')}")


def compare_samples(a: Sequence[dict[str, float]], b: Sequence[dict[str, float]], *, alpha: float = 0.01,
                    rel_tol: float = 0.05) -> Comparison:
    """Compare two samples of outcome dicts (``a``: the reference of the means, e.g. the engine).

    Each outcome passes if the two-sided Mann-Whitney U test does not reject at ``alpha /
    number of outcomes`` and ``|mean(b) - mean(a)| <= rel_tol x |mean(a)|``.
    """
    names = list(a[0])
    level = alpha / len(names)
    rows = []
    for name in names:
        x = np.array([r[name] for r in a], dtype=float)
        y = np.array([r[name] for r in b], dtype=float)
        if np.ptp(np.concatenate([x, y])) == 0:
            p = 1.0
        else:
            p = float(stats.mannwhitneyu(x, y, alternative="two-sided").pvalue)
        rel = (y.mean() - x.mean()) / abs(x.mean()) if x.mean() != 0 else float(y.mean() != 0) * np.inf
        rows.append({"outcome": name, "mean_a": x.mean(), "mean_b": y.mean(), "rel_diff": rel,
                     "cv_a": x.std(ddof=1) / abs(x.mean()) if x.mean() else np.nan, "p_value": p,
                     "ok": bool(p >= level and abs(rel) <= rel_tol)})
    return Comparison(pd.DataFrame(rows).set_index("outcome"), alpha, rel_tol)
