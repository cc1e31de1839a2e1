"""``narcoflow report``: one self-contained HTML file about a stored run, experiment or calibration.

The file embeds plotly.js and every figure's data, so it opens from disk with no network. It
holds: the run's identity and key numbers; a Sankey of where the product went; maps of use by
province; monthly time series with dated events; for an experiment, the policy comparison with
intervals; and every scenario parameter with the source it rests on (and what each source code
means). `write_static` writes the same figures as PNG or SVG files for papers.

Examples
--------
>>> data = load_report_data("narcoflow.duckdb", "3f2a")              # doctest: +SKIP
>>> write_html(data, "report.html")                                    # doctest: +SKIP
"""

from __future__ import annotations

import datetime as dt
import html
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
from plotly.offline import get_plotlyjs

import narcoflow
from narcoflow.errors import NarcoflowError, StoreError
from narcoflow.results import store
from narcoflow.results.summary import summarize
from narcoflow.viz import figures
from narcoflow.viz import flows as fl
from narcoflow.viz.geography import load_geography, load_source_codes

FORMATS = ("html", "png", "svg")
#: figure key -> (width, height) of the static images, in CSS pixels
STATIC_SIZE = {"sankey": (1200, 700), "map": (1300, 640), "timeseries": (1100, None),
               "comparison": (1100, None)}
_PLOTLY_CONFIG = {"displaylogo": False, "responsive": True,
                  "toImageButtonOptions": {"format": "png", "scale": 2}}
_COMPARISON_COLUMNS = ("experiment_id", "policy", "metric", "mean", "ci_low", "ci_high",
                       "effect_vs_baseline", "effect_ci_low", "effect_ci_high", "replications")


class ReportError(NarcoflowError):
    """A report cannot be made (unknown id, unwritable output, no browser for images)."""


@dataclass
class ReportData:
    """Everything a report shows, read from the results database."""

    kind: str                                   # "run", "experiment" or "calibration"
    ident: str                                  # run id, experiment id or calibration id
    info: dict[str, Any] | None = None          # the runs row of the run shown (None: no run)
    metrics: pd.DataFrame | None = None
    scenario: dict[str, Any] = field(default_factory=dict)
    comparisons: pd.DataFrame | None = None
    experiment_runs: int | None = None
    notes: list[str] = field(default_factory=list)
    #: for a calibration: info (table calibrations row), posterior (intervals vs priors),
    #: diagnostics, check (predictive check or None), targets (list of dicts)
    calibration: dict[str, Any] | None = None

    @property
    def destinations(self) -> list[str] | None:
        dests = self.scenario.get("border", {}).get("destinations")
        return [d["name"] for d in dests] if dests else None


# ---------------------------------------------------------------------------- loading
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


def _experiment(path: Path, ident: str) -> tuple[str, pd.DataFrame, list[str]] | None:
    """(experiment id, its comparisons, its run ids best first) if ``ident`` names one."""
    with store._connect(path, read_only=True) as con:
        tables = _tables(con)
        if "comparisons" not in tables or not {"experiment_id", "policy", "metric"} <= tables["comparisons"]:
            return None
        ids = [r[0] for r in con.sql("SELECT DISTINCT CAST(experiment_id AS VARCHAR) "
                                     "FROM comparisons ORDER BY 1").fetchall()]
        found = _match(ident, [str(i) for i in ids])
        if not found:
            return None
        if len(found) > 1:
            raise ReportError(f"Experiment id {ident!r} is ambiguous in {path}; it starts "
                              f"{', '.join(found[:5])}.")
        exp_id = found[0]
        cols = [c for c in _COMPARISON_COLUMNS if c in tables["comparisons"]]
        comp = con.execute(f"SELECT {', '.join(cols)} FROM comparisons "
                           "WHERE CAST(experiment_id AS VARCHAR) = ?",
                           [exp_id]).df()
        run_ids: list[str] = []
        baseline = _baseline_policy(comp)
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


def _baseline_policy(comp: pd.DataFrame) -> str | None:
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


def _scenario_dict(info: dict[str, Any]) -> dict[str, Any]:
    params = info.get("parameters")
    if isinstance(params, dict):
        return params
    try:
        return json.loads(params) if params else {}
    except (TypeError, ValueError):
        return {}


def _calibration(path: Path, ident: str) -> dict[str, Any] | None:
    """A stored calibration (id or unique prefix from table ``calibrations``), or None."""
    from narcoflow.calibration.calibrate import intervals, load_calibration

    with store._connect(path, read_only=True) as con:
        tables = _tables(con)
        if "calibrations" not in tables:
            return None
        ids = [r[0] for r in con.sql("SELECT calibration_id FROM calibrations ORDER BY 1").fetchall()]
    found = _match(ident, ids)
    if not found:
        return None
    if len(found) > 1:
        raise ReportError(f"Calibration id {ident!r} is ambiguous in {path}; it starts "
                          f"{', '.join(found[:5])}.")
    info, post, diag, check = load_calibration(path, found[0])
    priors = json.loads(info["priors"])
    table = pd.DataFrame({"parameter": list(priors), "prior_low": [v[0] for v in priors.values()],
                          "prior_high": [v[1] for v in priors.values()]})
    if len(post):
        table = table.merge(intervals(post), on="parameter", how="left")
        table["width_vs_prior"] = (table["high"] - table["low"]) / (0.9 * (table["prior_high"] - table["prior_low"]))
    return {"info": info, "posterior": table, "diagnostics": diag, "check": check,
            "targets": json.loads(info["targets_json"]).get("targets", []),
            "generations": int(post["generation"].max()) + 1 if len(post) else 0}


def load_report_data(db: str | os.PathLike, ident: str) -> ReportData:
    """Read a run (id or unique prefix), an experiment (id from table ``comparisons``) or a
    calibration (id from table ``calibrations``).

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
            data.scenario = _scenario_dict(res.info)
        else:
            data.notes.append("No run of this experiment is stored in the database, so the "
                              "flows, map and time series are not shown.")
        return data
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
        raise StoreError(f"{exc} (Experiment ids from table `comparisons` and calibration ids from "
                         "table `calibrations` work too.)") from None
    return ReportData(kind="run", ident=res.run_id, info=res.info, metrics=res.metrics,
                      scenario=_scenario_dict(res.info))


# ---------------------------------------------------------------------------- figures
def build_figures(data: ReportData) -> dict[str, go.Figure]:
    """The report's figures by key: ``sankey``, ``map``, ``timeseries``, ``comparison``."""
    figs: dict[str, go.Figure] = {}
    if data.calibration is not None:
        from narcoflow.viz import calibration as calviz

        cal = data.calibration
        if cal["check"] is not None:
            figs["ppc"] = calviz.ppc_figure(cal["check"], title=f"Posterior predictive check, calibration "
                                                                 f"{data.ident}")
        if "median" in cal["posterior"]:
            figs["posterior"] = calviz.posterior_figure(cal["posterior"])
    if data.comparisons is not None and len(data.comparisons):
        figs["comparison"] = figures.comparison_figure(
            data.comparisons, title=f"Policy comparison, experiment {data.ident}")
    if data.metrics is not None and len(data.metrics):
        m = data.metrics
        figs["sankey"] = figures.sankey_figure(m, destinations=data.destinations)
        if data.scenario.get("regions"):
            figs["map"] = figures.map_figure(m, data.scenario)
        figs["timeseries"] = figures.timeseries_figure(m, data.scenario)
    return figs


# ---------------------------------------------------------------------------- parameters
def iter_parameters(scenario: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every number of a scenario (as stored with a run) with its range and source.

    Yields ``{"section", "path", "value", "range", "source", "kind"}``: kind ``parameter`` for a
    ``{value, range, source}`` parameter, ``fact`` for a plain number or date of an entry that
    names its own source (a region's population, a facility's relocation date). List entries
    are named by their ``name`` when they have one: ``regions[Pyongyang].policing``.
    """
    def walk(node: Any, path: str, section: str, inherited: str) -> Iterator[dict[str, Any]]:
        if isinstance(node, dict):
            if "value" in node and set(node) <= {"value", "range", "source"}:
                yield {"section": section, "path": path, "value": node["value"],
                       "range": node.get("range"), "source": node.get("source") or "",
                       "kind": "parameter"}
                return
            own = node.get("source") if isinstance(node.get("source"), str) else ""
            for key, val in node.items():
                if key in ("source", "name", "description"):
                    continue
                sub = f"{path}.{key}" if path else key
                if isinstance(val, dict | list):
                    yield from walk(val, sub, section or key, own or inherited)
                elif path and own and isinstance(val, int | float | str) and not isinstance(val, bool):
                    yield {"section": section, "path": sub, "value": val, "range": None,
                           "source": own, "kind": "fact"}
        elif isinstance(node, list):
            for i, item in enumerate(node):
                name = item.get("name") if isinstance(item, dict) else None
                label = f"{path}[{name}]" if name else f"{path}[{i}]"
                yield from walk(item, label, section, inherited)

    first = ["start", "years", "regions", "state", "private", "distribution", "prices",
             "consumption", "border", "enforcement", "events"]
    keys = [k for k in first if k in scenario] + [k for k in scenario if k not in first]
    for key in keys:
        val = scenario[key]
        if isinstance(val, dict | list):
            yield from walk(val, key, key, "")
        elif key in ("start", "years"):
            yield {"section": "period", "path": key, "value": val, "range": None, "source": "",
                   "kind": "fact"}


def _section_doc(section: str) -> str:
    """The schema's one-line description of a top-level scenario field, as a caption."""
    try:
        from narcoflow.scenario.schema import Scenario

        ann = Scenario.model_fields[section].annotation
        ann = getattr(ann, "__args__", (ann,))[0] if section in ("regions", "events") else ann
        doc = (ann.__doc__ or "").strip().splitlines()[0]
    except (KeyError, AttributeError, IndexError, ImportError, TypeError):
        return ""
    return f"<p class='caption'>{_link_codes(doc, load_source_codes()['codes'])}</p>" if doc else ""


_CODE = re.compile(r"\b([SPCQTE])(\d{1,2})\b")


def source_codes_used(texts) -> list[str]:
    """Source codes (S1, P4, ...) mentioned in ``texts``, in the order of sources.json;
    a range written "P1-P3" counts P1, P2 and P3."""
    codes = load_source_codes()["codes"]
    found: set[str] = set()
    for text in texts:
        for m in re.finditer(r"\b([SPCQTE])(\d{1,2})\s*-\s*\1?(\d{1,2})\b", text):
            for k in range(int(m.group(2)), int(m.group(3)) + 1):
                found.add(f"{m.group(1)}{k}")
        found |= {f"{a}{b}" for a, b in _CODE.findall(text)}
    return [c for c in codes if c in found]


# ---------------------------------------------------------------------------- HTML
_CSS = """
body{font-family:Helvetica,Arial,sans-serif;color:#252525;margin:0;background:#fafafa;line-height:1.45}
main{max-width:1180px;margin:0 auto;padding:24px 28px 60px;background:white}
h1{font-size:26px;margin:8px 0 4px}h2{font-size:20px;margin:36px 0 8px;border-bottom:1px solid #ddd;
padding-bottom:4px}h3{font-size:16px;margin:22px 0 6px}
p.lead{color:#555;margin-top:0}.caption{color:#444;font-size:14px;max-width:980px}
table{border-collapse:collapse;font-size:13px;margin:8px 0 14px}
th,td{border-bottom:1px solid #e5e5e5;padding:3px 10px 3px 4px;text-align:left;vertical-align:top}
th{background:#f3f3f3}td.num{text-align:right;font-variant-numeric:tabular-nums}
.params td:nth-child(1){font-family:Menlo,Consolas,monospace;font-size:12px}
.note{background:#fff8e5;border-left:3px solid #e0a800;padding:6px 10px;font-size:14px}
nav a{margin-right:14px}a{color:#2166ac}.figure{margin:6px 0 4px}
details summary{cursor:pointer;color:#2166ac;margin:6px 0}
footer{color:#777;font-size:12px;margin-top:40px}
"""


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        if value != value:  # NaN
            return "-"
        if value != 0 and (abs(value) >= 1e6 or abs(value) < 1e-3):
            return f"{value:.4g}"
        return f"{value:,.6g}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _table(df: pd.DataFrame, *, cls: str = "", formats: dict[str, str] | None = None) -> str:
    formats = formats or {}
    head = "".join(f"<th>{_e(c)}</th>" for c in df.columns)
    body = []
    for row in df.itertuples(index=False):
        cells = []
        for col, val in zip(df.columns, row, strict=True):
            num = isinstance(val, int | float) and not isinstance(val, bool)
            text = formats[col].format(val) if col in formats and num and val == val else _fmt(val)
            cells.append(f"<td class='num'>{_e(text)}</td>" if num else f"<td>{_e(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table class='{cls}'><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _link_codes(text: str, codes: dict[str, dict]) -> str:
    """Escape ``text`` and turn known source codes into links to the sources table."""
    out, pos = [], 0
    for m in _CODE.finditer(text):
        code = m.group(0)
        out.append(_e(text[pos:m.start()]))
        if code in codes:
            tip = _e(codes[code]["text"][:300])
            out.append(f"<a href='#src-{code}' title='{tip}'>{code}</a>")
        else:
            out.append(_e(code))
        pos = m.end()
    out.append(_e(text[pos:]))
    return "".join(out)


def _figure_div(fig: go.Figure, key: str) -> str:
    return pio.to_html(fig, full_html=False, include_plotlyjs=False, div_id=f"fig-{key}",
                       config=_PLOTLY_CONFIG)


def _period(info: dict[str, Any]) -> tuple[dt.date, dt.date]:
    start = pd.Timestamp(info["start"]).date()
    return start, start + dt.timedelta(weeks=int(info["steps"]))


def _identity(data: ReportData) -> str:
    rows = []
    if data.kind == "experiment":
        rows.append(("Experiment", data.ident))
        if data.experiment_runs:
            rows.append(("Runs of it stored", f"{data.experiment_runs}"))
    if data.info:
        i = data.info
        start, end = _period(i)
        rows += [("Run shown" if data.kind == "experiment" else "Run", i["run_id"]),
                 ("Scenario", i["scenario"]), ("Period", f"{start} to {end} ({i['steps']} weekly steps)"),
                 ("Seed", i["seed"]),
                 ("Scale", f"{i['scale']:g} (a miniature of {float(i['scale']):.2%} of the population "
                           "was simulated; every count and quantity is scaled back to the full "
                           "population)"),
                 ("narcoflow version", i.get("version", "?"))]
    return "<table>" + "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in rows) + "</table>"


def _sankey_section(data: ReportData, fig: go.Figure) -> str:
    links = fl.product_flows(data.metrics, destinations=data.destinations)
    produced = links.attrs["produced_g"]
    gap = fl.imbalance(links)
    rel = gap / produced if produced else 0.0
    sinks = fl.node_totals(links)
    sinks = sinks[sinks["role"] == "sink"]["in"].sort_values(ascending=False)
    share = ", ".join(f"{n[0].lower()}{n[1:]} {v / produced:.0%}" for n, v in sinks.head(4).items()) if produced else ""
    return f"""
<h2 id="flows">1. Where the product went</h2>
<p class="caption">Every gram produced over the period, from the two producers of the report
(the state's factories under the NSA, and private producers) to where it ended: consumed in
North Korea, seized (by the agency that seized it), still in stock or in transit at the end, or
delivered abroad. Product siphoned from the state factories (S5) joins the private domestic
market (producers, couriers, wholesalers, sellers); state exports leave through diplomats and
trading companies (S8), private exports through smugglers at the border crossings (S13).
"Abroad, not delivered" pools what was seized abroad or was still travelling at the end
(the engine does not record which channel a seizure abroad came from). Hover a band for its
size; the menu shows one drug at a time. In total {fl_kg(produced)} were produced; the largest
ends: {_e(share)}.</p>
<div class="figure">{_figure_div(fig, "sankey")}</div>
<p class="caption">Balance check: every inner node passes on what it receives, and the ends add
up to production, to within {fl_kg(gap)} ({rel:.1e} of production).</p>"""


def fl_kg(grams: float) -> str:
    return figures._kg_text(grams)


def _map_section(data: ReportData, fig: go.Figure) -> str:
    values = figures.map_values(data.metrics, data.scenario.get("regions", []))
    values = values.sort_values("users_per_1000", ascending=False)
    table = values.rename(columns={"region": "province", "users_per_1000": "users per 1,000",
                                   "consumed_kg": "consumed (kg)",
                                   "consumed_g_per_person": "consumed (g/person)"})
    geo = load_geography()
    notes = " ".join(_e(n) for n in geo.data["notes"])
    return f"""
<h2 id="map">2. Where the users are</h2>
<p class="caption">Left: users per 1,000 inhabitants at the end of the period (2008 census
populations). Right: grams consumed over the whole period. Diamonds mark the cities with
chemical factories whose former workers can produce (S6); filled squares the state factories
(S3), the open square a factory's former site, with an arrow to where it moved (S4); triangles
the border crossings to China (S13). Hover a province or a marker for details. {notes}</p>
<div class="figure">{_figure_div(fig, "map")}</div>
<details><summary>The numbers by province</summary>{_table(table, formats={
        "population": "{:,.0f}", "users": "{:,.0f}", "users per 1,000": "{:,.2f}",
        "consumed (kg)": "{:,.1f}", "consumed (g/person)": "{:,.4f}"})}</details>
<p class="caption">Boundaries: {_e(geo.data['sources']['provinces'])}. Places:
{_e(geo.data['sources']['places'])}. {_e(geo.attribution)}</p>"""


def _timeseries_section(fig: go.Figure) -> str:
    return f"""
<h2 id="time">3. Over time</h2>
<p class="caption">Monthly totals of production (by sector), consumption (by drug), seizures
(by agency) and exports dispatched (by channel), users at each month's end, and the
methamphetamine price at the three tiers (producer, wholesale, retail; the mean over provinces,
on a log scale). Shaded bands are campaigns (red: crackdowns in North Korea, blue: crackdowns
abroad); dotted lines are dated events: the factory relocation, the May 2011 seizure of a state
shipment in China (S9), and the steps of state output. The numbers at the top refer to the list
under the plot.</p>
<div class="figure">{_figure_div(fig, "timeseries")}</div>"""


def _comparison_section(data: ReportData, fig: go.Figure | None) -> str:
    comp = data.comparisons.drop(columns=["experiment_id"], errors="ignore")
    baseline = _baseline_policy(data.comparisons)
    return f"""
<h2 id="comparison">Policy comparison</h2>
<p class="caption">Each outcome under each policy of experiment {_e(data.ident)}: the mean over
replications with its interval (left), and the difference from the baseline policy
({_e(baseline)}) with its interval (right; runs share random numbers, so differences are
sharper than the separate intervals suggest). An interval that crosses the dotted zero line
means no clear effect.</p>
{f'<div class="figure">{_figure_div(fig, "comparison")}</div>' if fig is not None else ''}
<details><summary>The comparison table</summary>{_table(comp, formats={
        c: "{:,.4g}" for c in comp.columns if c not in ("policy", "metric")})}</details>"""


def _calibration_section(data: ReportData, figs: dict[str, go.Figure]) -> str:
    cal = data.calibration
    info = cal["info"]
    settings = json.loads(info["settings"])
    rows = [("Calibration", data.ident), ("Scenario", f"{info['scenario']} ({info['scenario_ref']})"),
            ("Targets", f"{info['targets_ref']} ({len(cal['targets'])} targets)"),
            ("Generations stored", f"{cal['generations']} of {settings.get('populations', '?')}"),
            ("Particles per generation", settings.get("particles", "?")),
            ("Scale and years of each run", f"{settings.get('scale')}, {settings.get('years') or 'all'}")]
    out = ["<h2 id='calibration'>Calibration</h2>",
           "<table>" + "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in rows) + "</table>",
           "<h3 id='posterior'>Posterior</h3><p class='caption'>Each fitted parameter: its prior range "
           "(uniform), and the weighted median and 90 % interval of the last generation's posterior. "
           "<code>width_vs_prior</code> is the posterior 90 % interval over the prior's; near 1 means the "
           "targets do not identify the parameter.</p>"]
    if "posterior" in figs:
        out.append(f'<div class="figure">{_figure_div(figs["posterior"], "posterior")}</div>')
    out.append(_table(cal["posterior"], cls="posterior", formats={
        c: "{:,.4g}" for c in cal["posterior"].columns if c != "parameter"}))
    diag = cal["diagnostics"].drop(columns=["calibration_id"], errors="ignore")
    out += ["<h3 id='diagnostics'>Diagnostics</h3><p class='caption'>Per generation: the ABC acceptance "
            "threshold epsilon (distance: root mean square over targets of how many tolerances a "
            "run lies outside each target's band), the acceptance rate, the effective sample size of "
            "the weighted particles and the runs made.</p>",
            _table(diag, cls="diagnostics", formats={"epsilon": "{:.4g}", "acceptance_rate": "{:.3f}",
                                                     "ess": "{:.1f}"})]
    check = cal["check"]
    if check is not None:
        cols = ["target", "observed", "unit", "years", "predicted_median", "predicted_low", "predicted_high",
                "inside", "unreachable", "reliability", "source"]
        shown = check[[c for c in cols if c in check.columns]].copy()
        for c in ("inside", "unreachable"):
            shown[c] = shown[c].map({True: "yes", False: "no"})
        n_in, n_un = int(check["inside"].sum()), int(check["unreachable"].sum())
        out += [f"<h3 id='check'>Posterior predictive check</h3><p class='caption'>{int(check['draws'].iloc[0])}"
                " runs at weighted draws from the posterior, against every target: the observed band (shaded) "
                "and the predicted median with its 90 % interval, each divided by the target's reference "
                "value so that targets in different units share one axis (log scale). "
                f"{n_in} of {len(check)} targets are reached (median within one tolerance of the band); "
                f"{n_un} are unreachable (the whole predictive interval lies more than one tolerance "
                "outside).</p>"]
        if "ppc" in figs:
            out.append(f'<div class="figure">{_figure_div(figs["ppc"], "ppc")}</div>')
        out.append(_table(shown, cls="check", formats={c: "{:,.4g}" for c in
                                                         ("predicted_median", "predicted_low", "predicted_high")}))
        for msg in check.loc[check["unreachable"], "message"]:
            out.append(f"<p class='note'>{_e(msg)}</p>")
    return "".join(out)


def _parameters_section(data: ReportData) -> str:
    rows = list(iter_parameters(data.scenario))
    if not rows:
        return ""
    codes = load_source_codes()["codes"]
    sections: dict[str, list[dict]] = {}
    for r in rows:
        sections.setdefault(r["section"], []).append(r)
    parts = []
    for section, items in sections.items():
        body = []
        for r in items:
            rng = "" if r["range"] is None else f"{_fmt(r['range'][0])} to {_fmt(r['range'][1])}"
            src = r["source"] or ("-" if r["kind"] == "fact" else "none given")
            num = "num" if isinstance(r["value"], int | float) else ""
            body.append(f"<tr><td>{_e(r['path'])}</td><td class='{num}'>{_e(_fmt(r['value']))}</td>"
                        f"<td class='num'>{_e(rng)}</td><td>{_link_codes(src, codes)}</td></tr>")
        parts.append(f"<h3>{_e(section)}</h3>{_section_doc(section)}<table class='params'><thead><tr><th>parameter</th>"
                     f"<th>value</th><th>uncertainty range</th><th>source</th></tr></thead>"
                     f"<tbody>{''.join(body)}</tbody></table>")
    n_param = sum(r["kind"] == "parameter" for r in rows)
    n_range = sum(r["kind"] == "parameter" and r["range"] is not None for r in rows)
    n_assumed = sum(r["kind"] == "parameter" and "assumption" in r["source"].lower()
                    and not _CODE.search(r["source"]) for r in rows)
    used = source_codes_used(r["source"] for r in rows)
    src_rows = "".join(
        f"<tr id='src-{c}'><td>{c}</td><td>{_e(codes[c]['text'])}</td>"
        f"<td>{_e(codes[c].get('source', 'seed report, 10 Oct 2011'))}</td>"
        f"<td>{_e(codes[c].get('confidence', ''))}</td></tr>" for c in used)
    conf = load_source_codes()["confidence"]
    return f"""
<h2 id="parameters">4. What the numbers rest on</h2>
<p class="caption">Every number of the scenario this run used ({n_param} parameters, {n_range}
with an uncertainty range that sweeps, sensitivity analysis and calibration explore; {n_assumed}
rest on an assumption alone). The source column names the claim of the 2011 report (S1-S14) or
the public evidence (P prevalence, C prices, Q quantities and seizures, T timeline, E
enforcement) a number rests on; "assumption" marks a number no public source gives. Hover or
click a code to read it.</p>
{''.join(parts)}
<h3 id="sources">Sources cited</h3>
<p class="caption">Confidence: {_e(conf)}</p>
<table><thead><tr><th>code</th><th>what it says</th><th>source</th><th>conf.</th></tr></thead>
<tbody>{src_rows}</tbody></table>"""


def _overview(data: ReportData) -> str:
    tables = summarize(data.metrics)
    ov = tables["overview"].copy()
    ov["value"] = [_fmt_unit(v, u) for v, u in zip(ov["value"], ov["unit"], strict=True)]
    ov = ov.rename(columns={"quantity": "over the whole period", "value": "value", "unit": "unit"})
    return ("<h2 id='numbers'>Key numbers</h2><p class='caption'>Totals over the period for the "
            "full population (flows), and values at its end (users, prices).</p>"
            + _table(ov))


def _fmt_unit(value: float, unit: str) -> str:
    if value != value:
        return "-"
    if unit in ("people", "kg"):
        return f"{value:,.0f}" if abs(value) >= 10 else f"{value:,.2f}"
    return f"{value:,.2f}"


def render_html(data: ReportData, figs: dict[str, go.Figure] | None = None) -> str:
    """The complete report as one HTML string (plotly.js inlined; no external resources)."""
    figs = build_figures(data) if figs is None else figs
    title = f"narcoflow report: {data.kind} {data.ident}"
    scen = data.info["scenario"] if data.info else data.scenario.get("name", "")
    desc = str(data.scenario.get("description", "")).strip()
    nav = ['<a href="#numbers">Key numbers</a>'] if data.metrics is not None else []
    body = [f"<h1>{_e(title)}</h1>",
            f"<p class='lead'>{_e(scen)}{': ' if scen and desc else ''}{_e(desc)}</p>",
            "<p class='caption'>narcoflow simulates the production and circulation of illicit "
            "drugs as a system of producers, couriers, wholesalers, sellers, users, smugglers, "
            "border guards and police, week by week, and keeps an exact ledger of every gram. "
            + ("This report shows a calibration: which values of chosen parameters make runs "
               "reproduce observed figures (targets from the public evidence), how sure the fit is, "
               "and which targets the model does not reach. The scenario's other parameters are "
               "listed in section 4.</p>" if data.kind == "calibration" else
               "This report shows one simulated history: it is a model run, not a measurement; "
               "its numbers are only as good as the parameters listed in section 4.</p>"),
            _identity(data)]
    body += [f"<p class='note'>{_e(n)}</p>" for n in data.notes]
    if data.kind == "calibration":
        nav += ['<a href="#calibration">Calibration</a>', '<a href="#check">Predictive check</a>']
        body.append(_calibration_section(data, figs))
    if data.kind == "experiment":
        nav.insert(0, '<a href="#comparison">Policy comparison</a>')
        body.append(_comparison_section(data, figs.get("comparison")))
        if data.metrics is not None:
            body.append("<p class='caption'>The sections below show one run of the experiment "
                        f"({_e(data.info['run_id'])}, baseline policy where known).</p>")
    if data.metrics is not None:
        nav += ['<a href="#flows">Flows</a>', '<a href="#map">Map</a>', '<a href="#time">Over time</a>']
        body.append(_overview(data))
        body.append(_sankey_section(data, figs["sankey"]))
        if "map" in figs:
            body.append(_map_section(data, figs["map"]))
        body.append(_timeseries_section(figs["timeseries"]))
    params = _parameters_section(data)
    if params:
        nav.append('<a href="#parameters">Parameters and sources</a>')
        body.append(params)
    made = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    body.append(f"<footer>Made by narcoflow {_e(narcoflow.__version__)} on {made}. "
                "Map data: Natural Earth (public domain); place coordinates: GeoNames "
                "(CC BY 4.0). Charts: plotly.js, embedded.</footer>")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(title)}</title><style>{_CSS}</style>
<script type="text/javascript">{get_plotlyjs()}</script>
</head><body><main>
<nav>{''.join(nav)}</nav>
{''.join(body)}
</main></body></html>
"""


# ---------------------------------------------------------------------------- writing
def _check_out(out: Path) -> None:
    if out.is_dir():
        raise ReportError(f"Cannot write {out}: it is a directory; give a file name.")
    if not out.parent.is_dir():
        raise ReportError(f"Cannot write {out}: the directory {out.parent} does not exist.")


def write_html(data: ReportData, out: str | os.PathLike) -> Path:
    """Write the self-contained HTML report to ``out`` (replaced if it exists)."""
    out = Path(out)
    _check_out(out)
    text = render_html(data)
    tmp = out.with_name(f".{out.name}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, out)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ReportError(f"Cannot write {out} ({exc.strerror or exc}).") from None
    return out


def static_paths(out: str | os.PathLike, keys, fmt: str) -> dict[str, Path]:
    """Where `write_static` puts each figure: ``<out stem>-<key>.<fmt>`` next to ``out``."""
    out = Path(out)
    return {k: out.with_name(f"{out.stem}-{k}.{fmt}") for k in keys}


def write_static(data: ReportData, out: str | os.PathLike, fmt: str) -> list[Path]:
    """Write each figure of the report as a PNG or SVG file next to ``out``.

    Static images are drawn by kaleido in a headless Chromium (``/usr/bin/chromium`` or
    ``BROWSER_PATH``); the Sankey shows all drugs pooled.
    """
    if fmt not in ("png", "svg"):
        raise ReportError(f"--format {fmt!r} is not one of {', '.join(FORMATS)}.")
    out = Path(out)
    _check_out(out)
    figs = build_figures(data)
    paths = static_paths(out, figs, fmt)
    images, files, widths, heights = [], [], [], []
    for key, fig in figs.items():
        fig = go.Figure(fig)
        fig.update_layout(updatemenus=[])
        width, height = STATIC_SIZE.get(key, (1100, None))
        images.append(fig)
        files.append(paths[key])
        widths.append(width)
        heights.append(height or int(fig.layout.height or 700))
    try:
        pio.write_images(images, files, format=fmt, width=widths, height=heights,
                         scale=2 if fmt == "png" else 1)
    except Exception as exc:  # kaleido raises its own types (no browser, browser crashed)
        name = type(exc).__name__
        if "chrom" in f"{name} {exc}".lower() or "browser" in f"{exc}".lower():
            raise ReportError(
                f"Static images need a Chromium browser, which kaleido could not start ({name}: "
                f"{exc}). Install one (Debian: apt-get install chromium) or point BROWSER_PATH "
                "at it; the HTML report (--format html) needs none.") from None
        raise
    return files


def make_report(db: str | os.PathLike, ident: str, out: str | os.PathLike = "report.html", *,
                fmt: str = "html") -> list[Path]:
    """Read a run, experiment or calibration from ``db`` and write its report; return the files written."""
    fmt = fmt.lower()
    if fmt not in FORMATS:
        raise ReportError(f"--format {fmt!r} is not one of {', '.join(FORMATS)}.")
    _check_out(Path(out))
    data = load_report_data(db, ident)
    if fmt == "html":
        return [write_html(data, out)]
    return write_static(data, out, fmt)
