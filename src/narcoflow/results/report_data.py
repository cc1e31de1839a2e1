"""What a report shows, read from the results database: a run, an experiment, an estimate or a
calibration.

Kept apart from `narcoflow.viz.report` (which draws and writes the report) so that every query
the report makes sits beside the store: ``load_report_data`` finds what an id names (experiment
ids in table ``comparisons``, estimate ids in ``estimates``, calibration ids in ``calibrations``,
else a run id or prefix) and returns a `ReportData`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from narcoflow.errors import NarcoflowError, StoreError
from narcoflow.results import store
from narcoflow.results.database import connect

_COMPARISON_COLUMNS = ("experiment_id", "policy", "metric", "mean", "ci_low", "ci_high",
                       "effect_vs_baseline", "effect_ci_low", "effect_ci_high", "effect_rel",
                       "effect_rel_ci_low", "effect_rel_ci_high", "p_intended", "replications")


class ReportError(NarcoflowError):
    """A report cannot be made (unknown id, unwritable output, no browser for images)."""


@dataclass
class ReportData:
    """Everything a report shows, read from the results database."""

    kind: str                                   # "run", "experiment", "estimate" or "calibration"
    ident: str                                  # run id, experiment, estimate or calibration id
    info: dict[str, Any] | None = None          # the runs row of the run shown (None: no run)
    metrics: pd.DataFrame | None = None
    scenario: dict[str, Any] = field(default_factory=dict)
    comparisons: pd.DataFrame | None = None
    experiment_runs: int | None = None
    notes: list[str] = field(default_factory=list)
    #: for a calibration: info (table calibrations row), posterior (intervals vs priors),
    #: diagnostics, check (predictive check or None), targets (list of dicts)
    calibration: dict[str, Any] | None = None
    #: for an estimate: table (rows of table ``estimates``), definition (its experiment_info
    #: definition), scenario (name), parameters (per parameter: median and 90 % range of the sets)
    estimate: dict[str, Any] | None = None
    #: the targets whose evidence bands the run's time series shows (None: none), and how they
    #: were named (`narcoflow.viz.evidence.resolve_targets`)
    targets: Any = None
    targets_label: str = ""
    #: for a comparison: its fan chart's quantiles per policy and year
    #: (`narcoflow.experiments.comparison.fan_quantiles`) and the outcome's title
    fan: pd.DataFrame | None = None
    fan_label: str = ""

    @property
    def destinations(self) -> list[str] | None:
        dests = self.scenario.get("border", {}).get("destinations")
        return [d["name"] for d in dests] if dests else None


def _tables(con: duckdb.DuckDBPyConnection) -> dict[str, set[str]]:
    rows = con.sql("SELECT table_name, column_name FROM information_schema.columns "
                   "WHERE table_schema = 'main'").fetchall()
    out: dict[str, set[str]] = {}
    for table, column in rows:
        out.setdefault(table, set()).add(column)
    return out


def _match(ident: str, ids: list[str]) -> list[str]:
    if ident in ids:
        return [ident]
    return [i for i in ids if ident and i.startswith(ident)]


def _unique(ident: str, ids: list[str], what: str, path: Path) -> str | None:
    """The one id that ``ident`` is or starts (None if none); several: a ReportError naming them."""
    found = _match(ident, ids)
    if len(found) > 1:
        raise ReportError(f"{what} id {ident!r} is ambiguous in {path}; it starts {', '.join(found[:5])}.")
    return found[0] if found else None


def _experiment(path: Path, ident: str) -> tuple[str, pd.DataFrame, list[str]] | None:
    """(experiment id, its comparisons, its run ids best first) if ``ident`` names one."""
    with connect(path, read_only=True) as con:
        tables = _tables(con)
        if "comparisons" not in tables or not {"experiment_id", "policy", "metric"} <= tables["comparisons"]:
            return None
        ids = [r[0] for r in con.sql("SELECT DISTINCT CAST(experiment_id AS VARCHAR) "
                                     "FROM comparisons ORDER BY 1").fetchall()]
        exp_id = _unique(ident, [str(i) for i in ids], "Experiment", path)
        if exp_id is None:
            return None
        cols = [c for c in _COMPARISON_COLUMNS if c in tables["comparisons"]]
        comp = con.execute(f"SELECT {', '.join(cols)} FROM comparisons "
                           "WHERE CAST(experiment_id AS VARCHAR) = ?",
                           [exp_id]).df()
        run_ids: list[str] = []
        baseline = baseline_policy(comp)
        for table, columns in sorted(tables.items()):
            if table == "comparisons" or not {"experiment_id", "run_id"} <= columns:
                continue
            if "policy" in columns:
                q = (f'SELECT run_id, min(CASE WHEN CAST(policy AS VARCHAR) = ? THEN 0 ELSE 1 END) '
                     f'AS o FROM "{table}" WHERE CAST(experiment_id AS VARCHAR) = ? '
                     f'GROUP BY run_id ORDER BY o, run_id')
                params = [str(baseline), exp_id]
            else:
                q = (f'SELECT DISTINCT run_id FROM "{table}" '
                     f'WHERE CAST(experiment_id AS VARCHAR) = ? ORDER BY run_id')
                params = [exp_id]
            run_ids += [str(r[0]) for r in con.execute(q, params).fetchall()]
            if run_ids:
                break
        known = {r[0] for r in con.sql("SELECT run_id FROM runs").fetchall()} if "runs" in tables else set()
    return exp_id, comp, [r for r in dict.fromkeys(run_ids) if r in known]


def baseline_policy(comp: pd.DataFrame) -> str | None:
    """The baseline policy of an experiment's comparisons: named so, else the one with no effect."""
    if comp.empty:
        return None
    policies = [str(p) for p in dict.fromkeys(comp["policy"])]
    for p in policies:
        if p.lower() in ("baseline", "base", "status quo", "status_quo", "none"):
            return p
    if "effect_vs_baseline" in comp:
        eff = comp.assign(e=pd.to_numeric(comp["effect_vs_baseline"], errors="coerce"))
        zero = eff.groupby("policy")["e"].apply(lambda s: bool(((s.fillna(0)) == 0).all()))
        for p in policies:
            if zero.get(p, False):
                return p
    return policies[0]


def scenario_dict(info: dict[str, Any]) -> dict[str, Any]:
    params = info.get("parameters")
    if isinstance(params, dict):
        return params
    try:
        return json.loads(params) if params else {}
    except (TypeError, ValueError):
        return {}


def _calibration(path: Path, ident: str) -> dict[str, Any] | None:
    """A stored calibration (id or unique prefix from table ``calibrations``), or None."""
    from narcoflow.calibration.outputs import intervals
    from narcoflow.calibration.storage import load_calibration

    with connect(path, read_only=True) as con:
        tables = _tables(con)
        if "calibrations" not in tables:
            return None
        ids = [r[0] for r in con.sql("SELECT calibration_id FROM calibrations ORDER BY 1").fetchall()]
    cid = _unique(ident, ids, "Calibration", path)
    if cid is None:
        return None
    info, post, diag, check = load_calibration(path, cid)
    priors = json.loads(info["priors"])
    table = pd.DataFrame({"parameter": list(priors), "prior_low": [v[0] for v in priors.values()],
                          "prior_high": [v[1] for v in priors.values()]})
    if len(post):
        table = table.merge(intervals(post), on="parameter", how="left")
        table["width_vs_prior"] = (table["high"] - table["low"]) / (0.9 * (table["prior_high"] - table["prior_low"]))
    return {"info": info, "posterior": table, "diagnostics": diag, "check": check,
            "targets": json.loads(info["targets_json"]).get("targets", []),
            "generations": int(post["generation"].max()) + 1 if len(post) else 0,
            "particles": post, "priors": {p: (float(v[0]), float(v[1])) for p, v in priors.items()},
            "history": history_for(path, info)}


def _estimate(path: Path, ident: str) -> dict[str, Any] | None:
    """A stored estimate (id or unique prefix from table ``estimates``), or None."""
    with connect(path, read_only=True) as con:
        tables = _tables(con)
        if "estimates" not in tables:
            return None
        ids = [r[0] for r in con.sql("SELECT DISTINCT estimate_id FROM estimates ORDER BY 1").fetchall()]
        est_id = _unique(ident, ids, "Estimate", path)
        if est_id is None:
            return None
        table = con.execute("SELECT * EXCLUDE (estimate_id) FROM estimates WHERE estimate_id = ? "
                            "ORDER BY rowid", [est_id]).df()
        info = con.execute("SELECT scenario, definition FROM experiment_info WHERE experiment_id = ?",
                           [est_id]).fetchone() if "experiment_info" in tables else None
        params = pd.DataFrame()
        if "experiment_values" in tables:
            params = con.execute("""
                SELECT parameter, median(value) AS median, quantile_cont(value, 0.05) AS q05,
                       quantile_cont(value, 0.95) AS q95, count(*) AS sets
                FROM experiment_values WHERE experiment_id = ? GROUP BY parameter ORDER BY parameter
            """, [est_id]).df()
    definition = json.loads(info[1]) if info and info[1] else {}
    return {"id": est_id, "table": table, "definition": definition,
            "scenario": info[0] if info else "", "parameters": params}


def _read(con: duckdb.DuckDBPyConnection, table: str, where: str, params: list) -> pd.DataFrame:
    return con.execute(f'SELECT * FROM "{table}" WHERE {where}', params).df()


def _same_box(a: dict[str, tuple[float, float]], b: dict[str, Any]) -> bool:
    if set(a) != set(b):
        return False
    return all(abs(float(a[p][i]) - float(b[p][i])) <= 1e-9 * max(1.0, abs(float(a[p][i]))) for p in a for i in (0, 1))


def history_for(path: Path, info: dict[str, Any]) -> dict[str, Any] | None:
    """The history match (and the screening before it) that a calibration fitted within, when the
    same DuckDB file holds them: the match whose last wave's box of kept points
    (`narcoflow.calibration.history.nroy_box`) is the calibration's ``bounds`` (``calibrate
    --within`` stores that box), and the screening whose influential parameters, best first, begin
    with the match's parameters (``history-match --screening``; ranked as that command ranks them,
    from the stored effects; else a screening whose influential parameters hold them). None when
    there is no such match.

    Returns {"match": history_matches row, "waves", "emulators": tables of that match, "screening":
    screenings row or None, "ranking": screening_ranking of it or None, "added": the match's
    parameters the screening did not find influential (added by hand; only when no screening holds
    them all and one holds at least half)}.
    """
    from narcoflow.calibration.history import nroy_box

    settings = json.loads(info.get("settings") or "{}")
    bounds = settings.get("bounds")
    if not bounds:
        return None
    with connect(path, read_only=True) as con:
        tables = _tables(con)
        if not {"history_matches", "history_waves", "history_nroy"} <= set(tables):
            return None
        matches = con.sql("SELECT * FROM history_matches ORDER BY created_at DESC").df()
    found = None
    for row in matches.to_dict("records"):
        if "scenario" in row and row["scenario"] != info.get("scenario"):
            continue
        try:
            box = nroy_box(path, row["history_id"])
        except NarcoflowError:
            continue
        if _same_box(box, bounds):
            found = row
            break
    if found is None:
        return None
    hid = found["history_id"]
    with connect(path, read_only=True) as con:
        waves = _read(con, "history_waves", "history_id = ?", [hid]).sort_values("wave", ignore_index=True)
        emulators = (_read(con, "history_emulators", "history_id = ?", [hid])
                     .sort_values(["wave", "position"], ignore_index=True)
                     if "history_emulators" in tables else pd.DataFrame())
        screenings = (con.sql("SELECT * FROM screenings ORDER BY created_at DESC").df().to_dict("records")
                      if {"screenings", "screening_ranking"} <= set(tables) else [])
        names = json.loads(found["parameters"])
        candidates = []
        for srow in screenings:
            if "scenario" in srow and srow["scenario"] != found.get("scenario"):
                continue
            sid = srow["screening_id"]
            effects = (_read(con, "screening_effects", "screening_id = ?", [sid])
                       if "screening_effects" in tables else pd.DataFrame())
            if len(effects):  # as history-match --screening ranks: today's rule over the stored effects
                from narcoflow.calibration.screening import rank

                rk = rank(effects, float(srow.get("threshold") or 1.0))
            else:
                rk = _read(con, "screening_ranking", "screening_id = ?", [sid])
            candidates.append((srow, rk.sort_values("rank").reset_index(drop=True)))
    # the screening whose influential parameters, best first, are the match's; else one that holds them
    # all; else the one holding most of them (at least half): the rest were added by hand
    ranked = [(srow, rk, list(rk.loc[rk["influential"].astype(bool), "parameter"])) for srow, rk in candidates]
    best = (next((c for c in ranked if c[2][:len(names)] == names), None)
            or next((c for c in ranked if set(names) <= set(c[2])), None)
            or max(ranked, key=lambda c: len(set(names) & set(c[2])), default=None))
    screening = ranking = None
    added: list[str] = []
    if best is not None and 2 * len(set(names) & set(best[2])) >= len(names):
        screening, ranking = best[0], best[1]
        added = [n for n in names if n not in best[2]]
    return {"match": found, "waves": waves, "emulators": emulators, "screening": screening, "ranking": ranking,
            "added": added}


def _with_targets(data: ReportData, targets: str | None) -> ReportData:
    """Attach the targets whose evidence the run's figures show (`resolve_targets`)."""
    from narcoflow.viz.evidence import resolve_targets, targets_for

    if data.info is not None:
        scen = str(data.info.get("scenario", ""))
    elif data.estimate is not None:
        scen = str(data.estimate.get("scenario") or "")
    else:
        return data
    data.targets = resolve_targets(targets, scen)
    if data.targets is not None:
        data.targets_label = (targets_for(scen) if targets in (None, "auto") else str(targets)) or ""
    return data


def _fan(path: Path, experiment_id: str) -> tuple[pd.DataFrame | None, str]:
    """The fan chart of a comparison's stored runs (`narcoflow.experiments.comparison.fan_series`,
    its default outcome); (None, "") for an experiment that is not a comparison or has no runs."""
    from narcoflow.experiments.comparison import FAN_OUTCOME, fan_quantiles, fan_series
    from narcoflow.experiments.outcomes import outcome_title

    try:
        series = fan_series(path, experiment_id, FAN_OUTCOME)
    except NarcoflowError:
        return None, ""
    if not len(series):
        return None, ""
    return fan_quantiles(series), outcome_title(FAN_OUTCOME)


def load_report_data(db: str | os.PathLike, ident: str, *, targets: str | None = None) -> ReportData:
    """Read a run (id or unique prefix), an experiment (id from table ``comparisons``), an
    estimate (id from table ``estimates``) or a calibration (id from table ``calibrations``).

    ``targets``: the targets file whose evidence bands the run's time series shows: None or
    ``auto`` (the scenario's built-in file, `narcoflow.viz.evidence.targets_for`), ``none``, a
    targets YAML file or a built-in targets name.

    Raises
    ------
    StoreError
        No database, no such id (the message lists known runs).
    """
    path = Path(db)
    exp = _experiment(path, ident) if path.exists() else None
    if exp is not None:
        exp_id, comp, run_ids = exp
        data = ReportData(kind="experiment", ident=exp_id, comparisons=comp,
                          experiment_runs=len(run_ids) or None)
        if run_ids:
            res = store.load_results(path, run_ids[0])
            data.info, data.metrics = res.info, res.metrics
            data.scenario = scenario_dict(res.info)
            data.fan, data.fan_label = _fan(path, exp_id)
        else:
            data.notes.append("No run of this experiment is stored in the database, so the "
                              "flows, map and time series are not shown.")
        return _with_targets(data, targets)
    est = _estimate(path, ident) if path.exists() else None
    if est is not None:
        return _with_targets(ReportData(kind="estimate", ident=est["id"], estimate=est,
                                        scenario={"name": est["scenario"]}), targets)
    cal = _calibration(path, ident) if path.exists() else None
    if cal is not None:
        data = ReportData(kind="calibration", ident=cal["info"]["calibration_id"], calibration=cal,
                          scenario=json.loads(cal["info"]["scenario_json"]))
        if not cal["generations"]:
            data.notes.append("No generation of this calibration is stored yet.")
        if cal["check"] is None:
            data.notes.append("No posterior predictive check is stored for this calibration (the "
                              "`narcoflow calibrate` command stores one when it finishes).")
        return data
    try:
        res = store.load_results(path, ident)
    except StoreError as exc:
        if not path.exists():
            raise
        raise StoreError(f"{exc} (Experiment ids from table `comparisons`, estimate ids from table "
                         "`estimates` and calibration ids from table `calibrations` work too.)") from None
    return _with_targets(ReportData(kind="run", ident=res.run_id, info=res.info, metrics=res.metrics,
                                    scenario=scenario_dict(res.info)), targets)
