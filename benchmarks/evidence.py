"""Model vs. evidence: the quantities that `patterns.py` and `diagnose_issue13.py` compare.

One run of a scenario gives one dict of numbers (`quantities`): the value of every target of a
targets file (computed by `narcoflow.calibration.targets.Target.evaluate`, the same code the
calibration uses), the patterns of docs/model.md section 1, and the headline figures of
issue 13 ("What a user sees today"). `run_seeds` makes those dicts for several seeds (in a
process pool: `narcoflow.experiments.executors`) and `summarise` turns them into a median and a
90 % interval per quantity. `Band` says where a value stands against its evidence band, with the
tolerances of the calibration targets (`TOLERANCE` by reliability).

Extensive quantities are in full-population units (the engine divides by the scale), prices in
USD per gram, shares in per cent.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from narcoflow.calibration.targets import Target, Targets, load_targets, populations
from narcoflow.scenario import Scenario

#: retail prices at or above this share of the configured cap count as "at the cap"
CAP_SHARE = 0.99
#: relative slack of band edges for floating-point noise (a markup of 9.999999999 is 10)
EPS = 1e-9


# ----------------------------------------------------------------------------- bands
@dataclass(frozen=True)
class Band:
    """An evidence band ``[low, high]`` (``high`` may be inf: "at least low").

    ``reliability`` (H/M/L) sets the relative tolerance as for calibration targets; ``abs_tol``
    (for years and ranks) replaces it with an absolute one.
    """

    low: float
    high: float
    reliability: str = "L"
    abs_tol: float | None = None

    def _target(self) -> Target:
        # The calibration's own band and distance arithmetic, on a bare target (no metric needed).
        return Target.model_construct(name="band", metric="", filters={}, years=(0, 0),
                                      aggregation="sum", observed=None,
                                      range=(self.low, self.high), unit="", source="",
                                      reliability=self.reliability)

    @property
    def one_sided(self) -> bool:
        return math.isinf(self.high) or self.low <= 0

    def tolerance_band(self) -> tuple[float, float]:
        if self.abs_tol is not None:
            return self.low - self.abs_tol, self.high + self.abs_tol
        return self._target().tolerance_band()

    def distance(self, value: float) -> float:
        """Tolerances outside the band (0 inside); NaN for a missing value."""
        if value is None or math.isnan(value):
            return math.nan
        if self.abs_tol is not None:
            gap = max(self.low - value, value - self.high, 0.0)
            return gap / self.abs_tol
        return self._target().distance(value)

    def contains(self, value: float) -> bool:
        return self.low * (1 - EPS) <= value <= self.high * (1 + EPS)

    def status(self, value: float) -> str:
        """inside / within 1 tol / outside (of the band), for the median."""
        if value is None or math.isnan(value):
            return "no value"
        if self.contains(value):
            return "inside"
        lo, hi = self.tolerance_band()
        return "within 1 tol" if lo <= value <= hi else "outside"

    def text(self) -> str:
        lo, hi = self.low, self.high
        if math.isinf(hi):
            return f">= {fmt(lo)}"
        if lo <= 0 and not math.isinf(hi):
            return f"<= {fmt(hi)}"
        return fmt(lo) if lo == hi else f"{fmt(lo)}-{fmt(hi)}"


def band_of(target: Target) -> Band:
    lo, hi, _ = target.band()
    return Band(lo, hi, target.reliability)


def fmt(x: float) -> str:
    """A number for a table: 3 significant digits, thousands separators, M/k suffixes for big ones."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    if math.isinf(x):
        return "inf"
    a = abs(x)
    if a >= 1e9:
        return f"{x / 1e9:.3g} bn"
    if a >= 1e6:
        return f"{x / 1e6:.3g} M"
    if a >= 1e4:
        return f"{x:,.0f}"
    if a >= 100:
        return f"{x:.0f}"
    if a >= 1:
        return f"{x:.3g}"
    return f"{x:.2g}"


# ----------------------------------------------------------------------------- patterns
@dataclass(frozen=True)
class Pattern:
    key: str          #: quantity name in `quantities`
    text: str         #: the pattern, as docs/model.md section 1 words it (short)
    quantity: str     #: what is measured
    evidence: str     #: evidence rows
    band: Band
    how: str          #: emergent / imposed (docs/model.md section 1)


PATTERNS: tuple[Pattern, ...] = (
    Pattern("prevalence_2003_pct", "use rare before 2004-05", "users / population, end of 2003 (%)",
            "P1, T9 (1 % ceiling: assumption, as target users_2003_onset)", Band(0, 1.0, "L"), "emergent"),
    Pattern("onset_year", "spreads fast after 2005-06", "first year whose end-of-year prevalence >= 1 %",
            "P1 (upsurge 2005-06)", Band(2004, 2006, abs_tol=1), "emergent"),
    Pattern("growth_2003_2006", "spreads fast after 2005-06", "users end 2006 / users end 2003",
            "P1 (assumption: 'upsurge' = at least x3)", Band(3, math.inf, "L"), "emergent"),
    Pattern("north_hamgyong_ratio_2010", "northern border provinces lead",
            "North Hamgyong prevalence / national, end 2010", "P1-P3", Band(1.0, math.inf, "L"),
            "emergent"),
    Pattern("north_hamgyong_rank_2010", "heavy use in North Hamgyong",
            "rank of North Hamgyong prevalence among 12 provinces, end 2010", "P1-P3",
            Band(1, 2, abs_tol=1), "emergent"),
    Pattern("ever_used_2015_pct", ">= 30 % have used", "ever-used / population, end of 2015 (%)",
            "P4 (as target ever_used_2015)", Band(30, 100, "L"), "emergent"),
    Pattern("prevalence_2015_pct", "current use well below ever-used", "users / population, end of 2015 (%)",
            "P4 counts 'have used'; current use: no evidence (assumption: below ever-used, under 30 %)",
            Band(1, 30, "L"), "emergent"),
    Pattern("retail_2011_2015", "retail $11-17/g 2011-2019", "retail price 2011-2015, mean of provinces (USD/g)",
            "C5, C7, C8, C10", Band(11, 17, "M"), "emergent"),
    Pattern("retail_yearly_spread_2011_2015", "retail fairly stable",
            "max / min of the yearly national retail price 2011-2015",
            "C5, C7, C8, C10 (assumption: within x1.5)", Band(1, 1.5, "L"), "emergent"),
    Pattern("markup_2011_2015", "inland wholesale to retail ~10-14x", "retail / wholesale price 2011-2015",
            "C18", Band(10, 14, "L"), "emergent (costs and risks by tier)"),
    Pattern("state_peak_year", "state production peaks before 2003", "year of peak state output",
            "T6", Band(1998, 2003, abs_tol=1), "imposed (state.production_schedule)"),
    Pattern("state_output_2006_2015_vs_peak", "state withdraws around 2005",
            "state output per year 2006-2015 / 1998-2002", "T8 (assumption: at most half)",
            Band(0, 0.5, "L"), "imposed (state.production_schedule)"),
    Pattern("state_revenue_2000_2005", "state revenue tens of M USD/yr", "state revenue per year 2000-2005 (USD)",
            "Q22", Band(20e6, 200e6, "M"), "emergent from imposed volumes and prices"),
    Pattern("private_export_share_pct", "private product mostly domestic, sometimes to China",
            "private exports / private output 2006-2015 (%)", "S10 (assumption: 1-50 %)",
            Band(1, 50, "L"), "emergent"),
    Pattern("japan_interdiction_pct", "Japan seizes ~10 % of what arrives",
            "seized / (seized + delivered), Japan, whole run (%)", "E9", Band(10, 10, "M"),
            "imposed (interdiction_prob)"),
)


# ----------------------------------------------------------------------------- one run
def _year(m: pd.DataFrame) -> pd.Series:
    return pd.to_datetime(m["date"]).dt.year


def _end_of_year(m: pd.DataFrame, metric: str, by: str | None = None) -> pd.DataFrame | pd.Series:
    """Level metric at the last step of each year (summed over everything but ``by``)."""
    d = m[m["metric"] == metric]
    last = d.groupby("year")["step"].transform("max")
    d = d[d["step"] == last]
    if by is None:
        return d.groupby("year")["value"].sum()
    return d.groupby(["year", by])["value"].sum().unstack(by)


def _sum(m: pd.DataFrame, metric: str, years: tuple[int, int] | None = None, **where) -> float:
    d = m[m["metric"] == metric]
    if years is not None:
        d = d[(d["year"] >= years[0]) & (d["year"] <= years[1])]
    for col, val in where.items():
        vals = [val] if isinstance(val, str) else list(val)
        d = d[d[col].astype(str).isin(vals)]
    return float(d["value"].sum())


def quantities(metrics: pd.DataFrame, scenario: Scenario, targets: Targets) -> dict[str, float]:
    """Every compared quantity of one run (see the module docstring)."""
    pops = populations(scenario)  # weights of price means over provinces
    out: dict[str, float] = {f"target:{t.name}": t.evaluate(metrics, pops) for t in targets.targets}  # NaN: waiting
    m = metrics.assign(year=_year(metrics))
    pop = sum(pops.values())
    regions = list(pops)

    users = _end_of_year(m, "users")
    users_r = _end_of_year(m, "users", "region").reindex(columns=regions).fillna(0.0)
    prev = users / pop * 100
    for y in (2003, 2005, 2006, 2010, 2015):
        out[f"users_{y}"] = float(users.get(y, np.nan))
        out[f"prevalence_{y}_pct"] = float(prev.get(y, np.nan))
    weekly = m[m["metric"] == "users"].groupby(["year", "step"])["value"].sum()
    out["users_2003_mean"] = float(weekly.loc[2003].mean()) if 2003 in weekly.index.get_level_values(0) else math.nan
    above = prev[prev >= 1.0]
    out["onset_year"] = float(above.index.min()) if len(above) else math.nan
    out["growth_2003_2006"] = (out["users_2006"] / out["users_2003"]) if out["users_2003"] > 0 else math.inf
    if 2010 in users_r.index:
        prev_r = users_r.loc[2010] / pd.Series(pops)
        nh = float(prev_r.get("North Hamgyong", np.nan))
        out["north_hamgyong_ratio_2010"] = nh / (out["prevalence_2010_pct"] / 100)
        out["north_hamgyong_rank_2010"] = float((prev_r > nh).sum() + 1)
    out["initiations_cum_2015_pct"] = _sum(m, "initiations", (1998, 2015)) / pop * 100
    ever = _end_of_year(m, "ever_used")
    out["ever_used_2015_pct"] = float(ever.get(2015, np.nan)) / pop * 100
    states = m[m["metric"] == "users_by_state"]
    if len(states):
        last = states[states["step"] == states["step"].max()].groupby("channel")["value"].sum()
        users_end = float(last.get("light", 0.0) + last.get("heavy", 0.0))
        out["heavy_share_2015_pct"] = float(last.get("heavy", 0.0)) / users_end * 100 if users_end else math.nan

    price = m[(m["metric"] == "price_usd_per_g") & (m["drug"] == "methamphetamine")
              & (m["year"] >= 2011) & (m["year"] <= 2015) & m["region"].isin(regions)]
    retail = price[price["channel"] == "retail"]
    wholesale = price[price["channel"] == "wholesale"]
    out["retail_2011_2015"] = float(retail["value"].mean())
    by_region = retail.groupby("region")["value"].mean()
    out["retail_2011_2015_min_province"] = float(by_region.min())
    out["retail_2011_2015_max_province"] = float(by_region.max())
    cap = scenario.prices.max_retail_usd_per_g.value
    out["provinces_at_cap_2011_2015"] = float((by_region >= CAP_SHARE * cap).sum())
    yearly = retail.groupby("year")["value"].mean()
    out["retail_yearly_spread_2011_2015"] = float(yearly.max() / yearly.min()) if len(yearly) else math.nan
    out["markup_2011_2015"] = out["retail_2011_2015"] / float(wholesale["value"].mean())
    for y in range(2011, 2016):
        out[f"retail_{y}"] = float(yearly.get(y, np.nan))

    state = m[(m["metric"] == "produced_g") & (m["channel"] == "state")].groupby("year")["value"].sum()
    out["state_peak_year"] = float(state.idxmax()) if len(state) else math.nan
    early = state[(state.index >= 1998) & (state.index <= 2002)].mean()
    late = state[(state.index >= 2006) & (state.index <= 2015)].mean()
    out["state_output_2006_2015_vs_peak"] = float(late / early) if early > 0 else math.nan
    out["state_revenue_2000_2005"] = _sum(m, "state_revenue_usd", (2000, 2005)) / 6

    produced_private = _sum(m, "produced_g", (2006, 2015), channel="private")
    exported_private = _sum(m, "exported_g", (2006, 2015), channel="private")
    out["private_export_share_pct"] = exported_private / produced_private * 100 if produced_private else math.nan
    seized_j = _sum(m, "seized_g", region="Japan")
    delivered_j = _sum(m, "delivered_abroad_g", region="Japan")
    out["japan_interdiction_pct"] = seized_j / (seized_j + delivered_j) * 100 if seized_j + delivered_j else math.nan

    # headline figures of issue 13
    arrests = m[m["metric"] == "arrests"]
    per_year = arrests[(arrests["year"] >= 2006) & (arrests["year"] <= 2015)].groupby("year")["value"].sum()
    out["arrests_per_year_2006_2015"] = float(per_year.mean())
    users_arr = arrests[(arrests["channel"] == "user") & (arrests["year"] >= 2006) & (arrests["year"] <= 2015)]
    out["user_arrests_per_year_2006_2015"] = float(users_arr["value"].sum()) / 10
    out["private_output_2015_t"] = _sum(m, "produced_g", (2015, 2015), channel="private") / 1e6
    out["consumed_2015_t"] = _sum(m, "consumed_g", (2015, 2015)) / 1e6
    out["private_exported_2015_t"] = _sum(m, "exported_g", (2015, 2015), channel="private") / 1e6
    seized_home = _sum(m, "seized_g", (2015, 2015), region=regions)
    out["domestic_seized_2015_pct_of_private_output"] = (
        seized_home / (out["private_output_2015_t"] * 1e6) * 100 if out["private_output_2015_t"] else math.nan)
    for role in ("sellers", "producers", "wholesalers"):
        lv = _end_of_year(m, f"active_{role}")
        out[f"{role}_2015"] = float(lv.get(2015, np.nan))
    out["sellers_2015_pct"] = out["sellers_2015"] / pop * 100
    out["private_export_revenue_2015"] = _sum(m, "private_export_revenue_usd", (2015, 2015))
    out["population"] = pop
    return out


def run_one(job: tuple[Scenario, int, float, float | None, str]) -> dict[str, float]:
    """Worker: run ``(scenario, seed, scale, years, targets)`` and return its quantities."""
    import narcoflow as nf

    scenario, seed, scale, years, targets_ref = job
    t0 = time.perf_counter()
    res = nf.run(scenario, seed=seed, scale=scale, years=years)
    q = quantities(res.metrics, scenario, load_targets(targets_ref))
    q["seed"] = float(seed)
    q["wall_s"] = time.perf_counter() - t0
    return q


def run_seeds(scenario: Scenario, seeds: Sequence[int], scale: float, *, years: float | None = None,
              targets: str = "north-korea-2011", workers: int | None = None) -> pd.DataFrame:
    """One row of quantities per seed (in seed order), run in a local process pool."""
    from narcoflow.experiments.executors import make_executor

    jobs = [(scenario, int(s), float(scale), years, targets) for s in seeds]
    with make_executor(workers=workers) as ex:
        rows = list(ex.imap_unordered(run_one, jobs))
    return pd.DataFrame(rows).sort_values("seed").reset_index(drop=True)


def summarise(frame: pd.DataFrame) -> pd.DataFrame:
    """Median and 5 %-95 % quantiles (linear interpolation) of every column over seeds."""
    num = frame.drop(columns=["seed", "wall_s"], errors="ignore").astype(float)
    return pd.DataFrame({"median": num.median(), "q05": num.quantile(0.05), "q95": num.quantile(0.95)})


def seeds_inside(values: pd.Series, band: Band) -> str:
    v = values.astype(float)
    return f"{sum(band.contains(x) for x in v)}/{len(v)}"


def comparison_rows(frame: pd.DataFrame, targets: Targets) -> list[dict]:
    """One row per pattern and per target: quantity, band, median, interval, status."""
    stats = summarise(frame)
    rows = []
    for p in PATTERNS:
        rows.append(_row("pattern", p.key, p.quantity, p.evidence, p.band, stats, frame, p.how))
    for t in targets.targets:
        key = f"target:{t.name}"
        row = _row("target", key, f"{t.name} ({t.unit})", ", ".join(t.rows), band_of(t),
                   stats, frame, t.reliability)
        row["role"] = t.role
        if t.waiting:
            row["status"] = "waiting"
        rows.append(row)
    return rows


def _row(kind, key, quantity, evidence, band: Band, stats, frame, note) -> dict:
    med, lo, hi = (float(stats.loc[key, c]) for c in ("median", "q05", "q95"))
    return {"kind": kind, "key": key, "quantity": quantity, "evidence": evidence, "band": band,
            "median": med, "q05": lo, "q95": hi, "inside": seeds_inside(frame[key], band),
            "status": band.status(med), "one_sided": band.one_sided,
            "distance": band.distance(med), "note": note}


def markdown_table(rows: list[dict], kind: str) -> list[str]:
    head = ("| quantity | evidence | band | model median | 90 % interval | seeds inside | status | "
            "distance (tol.) | " + ("in the model |" if kind == "pattern" else "rel. |"))
    lines = [head, "|---|---|---:|---:|---:|---:|---|---:|---|"]
    for r in rows:
        if r["kind"] != kind:
            continue
        status = r["status"] + (" (floor)" if r.get("role") == "floor" else
                                " (one-sided)" if r["one_sided"] and r["status"] != "waiting" else "")
        if r["status"] == "waiting":  # compared with nothing: no model value
            lines.append(f"| {r['quantity']} | {r['evidence']} | {r['band'].text()} | - | - | - | {status} | - | "
                         f"{r['note']} |")
            continue
        lines.append(f"| {r['quantity']} | {r['evidence']} | {r['band'].text()} | {fmt(r['median'])} | "
                     f"{fmt(r['q05'])} to {fmt(r['q95'])} | {r['inside']} | {status} | "
                     f"{r['distance']:.2f} | {r['note']} |")
    return lines


def counts(rows: list[dict], kind: str) -> dict[str, int]:
    """Counts of the rows of ``kind``; for targets, of the fitted ones (not floors, not waiting:
    those are counted apart as ``floors``, ``floors_met`` and ``waiting``)."""
    rs = [r for r in rows if r["kind"] == kind]
    fitted = [r for r in rs if r.get("role", "fitted") == "fitted"]
    floors = [r for r in rs if r.get("role") == "floor"]
    return {"total": len(fitted),
            "inside": sum(r["status"] == "inside" for r in fitted),
            "inside_two_sided": sum(r["status"] == "inside" and not r["one_sided"] for r in fitted),
            "one_sided": sum(r["one_sided"] for r in fitted),
            "within_tol": sum(r["status"] in ("inside", "within 1 tol") for r in fitted),
            "floors": len(floors), "floors_met": sum(r["status"] == "inside" for r in floors),
            "waiting": sum(r.get("role") == "waiting" for r in rs)}
