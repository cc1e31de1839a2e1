"""The HTML sections of a report: identity, key numbers, flows, map, time series, policy
comparison, calibration, and every scenario parameter with the source it rests on.

Each ``*_section`` function returns one HTML fragment with its caption; `narcoflow.viz.report`
assembles them into the page. Kept apart from the assembly and the writing of files so that
the prose and the tables of one section can be read (and changed) in one place.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import re
from collections.abc import Iterator
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio

from narcoflow.results.report_data import ReportData, baseline_policy
from narcoflow.results.summary import summarize
from narcoflow.viz import figures
from narcoflow.viz import flows as fl
from narcoflow.viz.geography import load_geography, load_source_codes
from narcoflow.viz.style import kg_text

_PLOTLY_CONFIG = {"displaylogo": False, "responsive": True,
                  "toImageButtonOptions": {"format": "png", "scale": 2}}


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
CSS = """
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


def esc(text: Any) -> str:
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
    head = "".join(f"<th>{esc(c)}</th>" for c in df.columns)
    body = []
    for row in df.itertuples(index=False):
        cells = []
        for col, val in zip(df.columns, row, strict=True):
            num = isinstance(val, int | float) and not isinstance(val, bool)
            text = formats[col].format(val) if col in formats and num and val == val else _fmt(val)
            cells.append(f"<td class='num'>{esc(text)}</td>" if num else f"<td>{esc(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table class='{cls}'><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _link_codes(text: str, codes: dict[str, dict]) -> str:
    """Escape ``text`` and turn known source codes into links to the sources table."""
    out, pos = [], 0
    for m in _CODE.finditer(text):
        code = m.group(0)
        out.append(esc(text[pos:m.start()]))
        if code in codes:
            tip = esc(codes[code]["text"][:300])
            out.append(f"<a href='#src-{code}' title='{tip}'>{code}</a>")
        else:
            out.append(esc(code))
        pos = m.end()
    out.append(esc(text[pos:]))
    return "".join(out)


def _figure_div(fig: go.Figure, key: str) -> str:
    return pio.to_html(fig, full_html=False, include_plotlyjs=False, div_id=f"fig-{key}",
                       config=_PLOTLY_CONFIG)


def _period(info: dict[str, Any]) -> tuple[dt.date, dt.date]:
    start = pd.Timestamp(info["start"]).date()
    return start, start + dt.timedelta(weeks=int(info["steps"]))


def _made(info: dict) -> str:
    """The run's policy with its lever settings and parameter draw (`narcoflow.results.provenance`)."""
    from narcoflow.results.provenance import describe

    text = describe(info)
    return "not recorded" if text == "-" else text


def identity(data: ReportData) -> str:
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
                 ("Policy", _made(i)),
                 ("Seed", i["seed"]),
                 ("Scale", f"{i['scale']:g} (a miniature of {float(i['scale']):.2%} of the population "
                           "was simulated; every count and quantity is scaled back to the full "
                           "population)"),
                 ("narcoflow version", i.get("version", "?"))]
    return "<table>" + "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in rows) + "</table>"


def sankey_section(data: ReportData, fig: go.Figure) -> str:
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
size; the menu shows one drug at a time. In total {kg_text(produced)} were produced; the largest
ends: {esc(share)}.</p>
<div class="figure">{_figure_div(fig, "sankey")}</div>
<p class="caption">Balance check: every inner node passes on what it receives, and the ends add
up to production, to within {kg_text(gap)} ({rel:.1e} of production).</p>"""


def map_section(data: ReportData, fig: go.Figure) -> str:
    values = figures.map_values(data.metrics, data.scenario.get("regions", []))
    values = values.sort_values("users_per_1000", ascending=False)
    table = values.rename(columns={"region": "province", "users_per_1000": "users per 1,000",
                                   "consumed_kg": "consumed (kg)",
                                   "consumed_g_per_person": "consumed (g/person)"})
    geo = load_geography()
    notes = " ".join(esc(n) for n in geo.data["notes"])
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
<p class="caption">Boundaries: {esc(geo.data['sources']['provinces'])}. Places:
{esc(geo.data['sources']['places'])}. {esc(geo.attribution)}</p>"""


def timeseries_section(fig: go.Figure, data: ReportData | None = None) -> str:
    evidence = ""
    if data is not None and data.targets is not None and data.metrics is not None:
        from narcoflow.viz.evidence import caption

        evidence = f"<p class='caption'>{esc(caption(data.targets, data.metrics, data.targets_label))}</p>"
    return f"""
<h2 id="time">3. Over time</h2>
<p class="caption">Monthly totals of production (by sector), consumption (by drug), seizures
(by agency) and exports dispatched (by channel), users at each month's end, and the
methamphetamine price at the three tiers (producer, wholesale, retail; the mean over provinces,
weighted by population, on a log scale). Shaded bands are campaigns (red: crackdowns in North Korea, blue: crackdowns
abroad); dotted lines are dated events: the factory relocation, the May 2011 seizure of a state
shipment in China (S9), and the steps of state output. The numbers at the top refer to the list
under the plot.</p>
<div class="figure">{_figure_div(fig, "timeseries")}</div>{evidence}"""


def comparison_section(data: ReportData, fig: go.Figure | None) -> str:
    comp = data.comparisons.drop(columns=["experiment_id"], errors="ignore")
    baseline = baseline_policy(data.comparisons)
    return f"""
<h2 id="comparison">Policy comparison</h2>
<p class="caption">Each outcome under each policy of experiment {esc(data.ident)}: the mean over
replications with its interval (left), and the difference from the baseline policy
({esc(baseline)}) with its interval (right; runs share random numbers, so differences are
sharper than the separate intervals suggest). An interval that crosses the dotted zero line
means no clear effect.</p>
{f'<div class="figure">{_figure_div(fig, "comparison")}</div>' if fig is not None else ''}
<details><summary>The comparison table</summary>{_table(comp, formats={
        c: "{:,.4g}" for c in comp.columns if c not in ("policy", "metric")})}</details>"""


def estimate_section(data: ReportData, figs: dict[str, go.Figure]) -> str:
    """An estimate: where its parameter sets come from, one fan chart per quantity, the share of
    each total's variance due to the parameters, the parameter sets, and the whole table."""
    from narcoflow.experiments.estimates import FILTERS, LABELS

    est = data.estimate
    d = est["definition"]
    table = est["table"]
    source = d.get("source", "?")
    rows = [("Estimate", data.ident), ("Scenario", est["scenario"]),
            ("Parameter sets", f"{d.get('draws', '?')} from the {source}"),
            ("Seeds per set", d.get("seeds", "?")),
            ("Scale and years of each run", f"{d.get('scale')}, {d.get('years') or 'all'}"),
            ("Calendar years", ", ".join(str(y) for y in d.get("years_reported", [])))]
    out = ["<h2 id='estimate'>Estimates</h2>",
           "<table>" + "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in rows) + "</table>"]
    if source == "prior ranges":
        out.append("<p class='note'>The scenario has no posterior sample: the parameter sets are a Latin "
                   "hypercube over its PRIOR ranges, not a posterior. The intervals say what the ranges "
                   "allow, not what the evidence supports.</p>")
    out.append("<p class='caption'>Each chart: per calendar year, the median over every run (line) and the "
               "50 % and 90 % intervals (dark and light bands); they combine parameter and run-to-run "
               "uncertainty. Flows are per year (each week split between the years its days fall in; a "
               "year the runs cover in part is scaled to the whole year); levels are at the end of the "
               "year. The menu picks a destination, drug, province or role."
               + (f" Black markers with error bars are the evidence of targets file {esc(data.targets_label)} "
                  "for the totals they measure (state revenue, users, people who ever used): a yearly total or "
                  "mean at the middle of its years (the horizontal bar spans them), a level at its year; an "
                  "upward triangle is a lower bound." if data.targets is not None else "") + "</p>")
    for key, fig in figs.items():
        if key.startswith("fan-"):
            out.append(f'<div class="figure">{_figure_div(fig, key)}</div>')
    filt = table[list(FILTERS)]
    total = table[((filt.isna()) | (filt == "all")).all(axis=1) | (table["quantity"] == "active_actors")]
    if len(total):
        last = total[total["year"] == total["year"].max()]
        shares = pd.DataFrame({
            "quantity": [LABELS.get(q, q) + (f" ({r})" if isinstance(r, str) else "")
                         for q, r in zip(last["quantity"], last["role"], strict=True)],
            "year": last["year"], "median": last["median"], "unit": last["unit"],
            "share_parameters": last["share_parameters"], "share_randomness": last["share_randomness"]})
        out += ["<h3 id='variance'>Parameters or randomness?</h3><p class='caption'>How much of each "
                "total's variance in the last year comes from the parameter sets and how much from the "
                "seeds (law of total variance: the variance within a set's seeds is randomness; the "
                "variance of the set means minus randomness / seeds is the parameters'). A negative "
                "parameter term (chance, with few seeds) is set to 0, so the shares lie in [0, 1].</p>",
                _table(shares, cls="shares", formats={"median": "{:,.4g}", "share_parameters": "{:.0%}",
                                                      "share_randomness": "{:.0%}"})]
    params = est["parameters"]
    if len(params):
        fmt = {c: "{:,.4g}" for c in ("median", "q05", "q95")}
        out.append(f"<details><summary>The parameter sets ({len(params)} parameters): median and 90 % "
                   f"range over the sets</summary>{_table(params, cls='params', formats=fmt)}</details>")
    fmt = {c: "{:,.4g}" for c in ("median", "q05", "q25", "q75", "q95", "mean", "share_parameters",
                                  "share_randomness")}
    out.append(f"<details><summary>The whole table ({len(table)} rows)</summary>"
               f"{_table(table, formats=fmt)}</details>")
    return "".join(out)


def fan_section(data: ReportData, fig: go.Figure) -> str:
    reps = int(data.fan["replications"].max()) if "replications" in data.fan else 0
    return f"""
<h3 id="fan">Over time, run by run</h3>
<p class="caption">{esc(data.fan_label)} in each whole calendar year under each policy: the median of
the {reps} replications (line), the middle half of them (dark band) and 90 % of them (light band).
The bands show how far the runs spread, from chance and, when the comparison drew parameter sets,
from what is not known about the parameters; with few replications they are rough.</p>
<div class="figure">{_figure_div(fig, "fan")}</div>"""


def calibration_section(data: ReportData, figs: dict[str, go.Figure]) -> str:
    cal = data.calibration
    info = cal["info"]
    settings = json.loads(info["settings"])
    rows = [("Calibration", data.ident), ("Scenario", f"{info['scenario']} ({info['scenario_ref']})"),
            ("Targets", f"{info['targets_ref']} ({len(cal['targets'])} targets)"),
            ("Generations stored", f"{cal['generations']} of {settings.get('populations', '?')}"),
            ("Particles per generation", settings.get("particles", "?")),
            ("Scale and years of each run", f"{settings.get('scale')}, {settings.get('years') or 'all'}")]
    out = ["<h2 id='calibration'>Calibration</h2>",
           "<table>" + "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in rows) + "</table>",
           "<h3 id='posterior'>Posterior</h3><p class='caption'>Each fitted parameter: its prior range "
           "(uniform), and the weighted median and 90 % interval of the last generation's posterior. "
           "<code>width_vs_prior</code> is the posterior 90 % interval over the prior's; near 1 means the "
           "targets do not identify the parameter.</p>"]
    if "posterior" in figs:
        out.append(f'<div class="figure">{_figure_div(figs["posterior"], "posterior")}</div>')
    out.append(_table(cal["posterior"], cls="posterior", formats={
        c: "{:,.4g}" for c in cal["posterior"].columns if c != "parameter"}))
    if "prior_posterior" in figs:
        wider = "" if cal.get("history") is None else (
            " The dotted outline is the uniform density over the parameter's range in the scenario: the "
            "prior is the part of it that history matching left (section History matching).")
        out.append("<p class='caption'>Each fitted parameter's prior (grey: uniform over the range in table "
                   "<code>calibrations</code>) and posterior (blue: weighted histogram of the last generation's "
                   f"particles, as a density; dark line: the weighted median).{wider}</p>"
                   f'<div class="figure">{_figure_div(figs["prior_posterior"], "prior_posterior")}</div>')
    if "generations" in figs:
        out.append("<p class='caption'>The weighted median and 90 % interval of each parameter in every "
                   "generation, between the prior's ends (dotted).</p>"
                   f'<div class="figure">{_figure_div(figs["generations"], "generations")}</div>')
    diag = cal["diagnostics"].drop(columns=["calibration_id"], errors="ignore")
    out += ["<h3 id='diagnostics'>Diagnostics</h3><p class='caption'>Per generation: the ABC acceptance "
            "threshold epsilon (distance: root mean square over targets of how many tolerances a "
            "run lies outside each target's band), the acceptance rate, the effective sample size of "
            "the weighted particles and the runs made.</p>",
            _table(diag, cls="diagnostics", formats={"epsilon": "{:.4g}", "acceptance_rate": "{:.3f}",
                                                     "ess": "{:.1f}"})]
    out.append(history_section(cal.get("history"), figs))
    check = cal["check"]
    if check is not None:
        cols = ["target", "role", "observed", "unit", "years", "predicted_median", "predicted_low", "predicted_high",
                "inside", "unreachable", "reliability", "source"]
        shown = check[[c for c in cols if c in check.columns]].copy()
        for c in ("inside", "unreachable"):
            shown[c] = shown[c].map({True: "yes", False: "no"})
        n_un = int(check["unreachable"].sum())
        fitted = check[check["role"] != "floor"] if "role" in check.columns else check
        floors = check[check["role"] == "floor"] if "role" in check.columns else check.iloc[:0]
        reached = (f"{int(fitted['inside'].sum())} of {len(fitted)} fitted targets are reached (median "
                   "within one tolerance of the band)")
        if len(floors):
            reached += (f"; floors, reported apart (lower bounds any run is expected to meet): "
                        f"{int(floors['inside'].sum())} of {len(floors)} met")
        out += [f"<h3 id='check'>Posterior predictive check</h3><p class='caption'>{int(check['draws'].iloc[0])}"
                " runs at weighted draws from the posterior, against every target: the observed band (shaded) "
                "and the predicted median with its 90 % interval, each divided by the target's reference "
                "value so that targets in different units share one axis (log scale). "
                f"{reached}; "
                f"{n_un} are unreachable (the whole predictive interval lies more than one tolerance "
                "outside).</p>"]
        if "ppc" in figs:
            out.append(f'<div class="figure">{_figure_div(figs["ppc"], "ppc")}</div>')
        if "ppc_floors" in figs:
            out.append("<p class='caption'>Floors, apart from the fitted targets: lower bounds so far below the "
                       "model's scale that any run is expected to meet them; they do not count in the fit.</p>"
                       f'<div class="figure">{_figure_div(figs["ppc_floors"], "ppc_floors")}</div>')
        out.append(_table(shown, cls="check", formats={c: "{:,.4g}" for c in
                                                         ("predicted_median", "predicted_low", "predicted_high")}))
        for msg in check.loc[check["unreachable"], "message"]:
            out.append(f"<p class='note'>{esc(msg)}</p>")
    return "".join(out)


def history_section(hist: dict[str, Any] | None, figs: dict[str, go.Figure]) -> str:
    """The history match a calibration fitted within (and the screening before it), if stored."""
    if hist is None:
        return ""
    m = hist["match"]
    names = json.loads(m["parameters"])
    waves = hist["waves"]
    ems = hist["emulators"]
    table = waves[[c for c in ("wave", "design_points", "runs", "candidates", "kept", "nroy_fraction",
                               "worst_loo_outside_3") if c in waves.columns]].copy()
    if len(ems):
        per = ems.groupby("wave").agg(emulators=("target", "count"), median_loo_rmse=("loo_rmse", "median"),
                                      worst_loo_max_abs_std_error=("loo_max_abs_std_error", "max"),
                                      mean_loo_outside_3=("loo_outside_3", "mean")).reset_index()
        table = table.merge(per, on="wave", how="left")
    out = ["<h3 id='history'>History matching</h3>",
           f"<p class='caption'>The calibration fitted within history match {esc(m['history_id'])} of the same "
           f"file ({len(names)} parameters: {esc(', '.join(names))}): each wave ran the model on a design inside "
           "the space not yet ruled out, fitted one Gaussian-process emulator per target (validated by "
           "leave-one-out: RMSE in log units; a standardised error beyond 3 should be rare) and ruled out the "
           "points whose implausibility exceeds the cutoff. <code>nroy_fraction</code> is the share of the "
           "parameters' ranges not ruled out after the wave; the calibration's uniform prior is the box of "
           "the points the last wave kept.</p>"]
    if "waves" in figs:
        out.append(f'<div class="figure">{_figure_div(figs["waves"], "waves")}</div>')
    out.append(_table(table, cls="waves", formats={c: "{:,.4g}" for c in table.columns if c != "wave"}))
    if len(ems):
        cols = [c for c in ("wave", "target", "role", "loo_rmse", "loo_max_abs_std_error", "loo_outside_3",
                            "ruled_out_alone", "min_implausibility", "model_variance") if c in ems.columns]
        out.append("<details><summary>Emulator validation per wave and target</summary>"
                   + _table(ems[cols], cls="emulators", formats={c: "{:,.4g}" for c in cols
                                                                  if c not in ("wave", "target", "role")})
                   + "</details>")
    if hist.get("ranking") is not None:
        rk = hist["ranking"].drop(columns=["screening_id"], errors="ignore").copy()
        rk["influential"] = rk["influential"].map({True: "yes", False: "no"})
        sid = esc(hist["screening"]["screening_id"])
        out += [f"<h3 id='screening'>Screening</h3><p class='caption'>Screening {sid}"
                " (Morris elementary effects) ranked every uncertain parameter by its largest effect on a target, "
                "in standard deviations of the comparison (<code>max_scaled</code>), ranked as "
                "<code>history-match --screening</code> ranks them (from the stored effects, by today's rule); "
                "the history match took the influential ones, best first"
                + (": and, added by hand (not influential in this screening), " + ", ".join(
                    f"<code>{esc(a)}</code>" for a in hist.get("added") or []) if hist.get("added") else "")
                + ".</p>",
                _table(rk, cls="ranking", formats={"max_scaled": "{:,.3g}", "best_target_rank": "{:,.0f}"})]
    return "".join(out)


def parameters_section(data: ReportData) -> str:
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
            body.append(f"<tr><td>{esc(r['path'])}</td><td class='{num}'>{esc(_fmt(r['value']))}</td>"
                        f"<td class='num'>{esc(rng)}</td><td>{_link_codes(src, codes)}</td></tr>")
        parts.append(f"<h3>{esc(section)}</h3>{_section_doc(section)}<table class='params'><thead><tr>"
                     f"<th>parameter</th><th>value</th><th>uncertainty range</th><th>source</th></tr></thead>"
                     f"<tbody>{''.join(body)}</tbody></table>")
    n_param = sum(r["kind"] == "parameter" for r in rows)
    n_range = sum(r["kind"] == "parameter" and r["range"] is not None for r in rows)
    n_assumed = sum(r["kind"] == "parameter" and "assumption" in r["source"].lower()
                    and not _CODE.search(r["source"]) for r in rows)
    used = source_codes_used(r["source"] for r in rows)
    src_rows = "".join(
        f"<tr id='src-{c}'><td>{c}</td><td>{esc(codes[c]['text'])}</td>"
        f"<td>{esc(codes[c].get('source', 'seed report, 10 Oct 2011'))}</td>"
        f"<td>{esc(codes[c].get('confidence', ''))}</td></tr>" for c in used)
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
<p class="caption">Confidence: {esc(conf)}</p>
<table><thead><tr><th>code</th><th>what it says</th><th>source</th><th>conf.</th></tr></thead>
<tbody>{src_rows}</tbody></table>"""


def overview(data: ReportData) -> str:
    tables = summarize(data.metrics, {"parameters": data.scenario} if data.scenario else data.info)
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
