"""``narcoflow report``: one self-contained HTML file about a stored run, experiment, estimate or
calibration.

The file embeds plotly.js and every figure's data, so it opens from disk with no network. It
holds: the run's identity and key numbers; a Sankey of where the product went; maps of use by
province; monthly time series with dated events; for an experiment, the policy comparison with
intervals; for an estimate, fan charts per quantity; and every scenario parameter with the
source it rests on (and what each source code means). `write_static` writes the same figures as
PNG or SVG files for papers.

This module builds the figures, assembles the page and writes the files; what the report shows
is read by `narcoflow.results.report_data` and each section's HTML is in
`narcoflow.viz.report_html`.

Examples
--------
>>> data = load_report_data("narcoflow.duckdb", "3f2a")              # doctest: +SKIP
>>> write_html(data, "report.html")                                    # doctest: +SKIP
"""

from __future__ import annotations

import datetime as dt
import json
import os
from contextlib import ExitStack
from pathlib import Path

import plotly.graph_objects as go
import plotly.io as pio
from plotly.offline import get_plotlyjs

import narcoflow
from narcoflow import extras
from narcoflow.errors import NarcoflowError
from narcoflow.outputs import check_output, replacing
from narcoflow.results.report_data import ReportData, ReportError, load_report_data
from narcoflow.viz import figures
from narcoflow.viz import report_html as sections
from narcoflow.viz.report_html import esc, iter_parameters, source_codes_used

__all__ = ["FORMATS", "STATIC_SIZE", "ReportData", "ReportError", "build_figures", "iter_parameters",
           "load_report_data", "make_report", "render_html", "source_codes_used", "static_figure", "static_paths",
           "write_html", "write_static"]

FORMATS = ("html", "png", "svg")
#: figure key -> (width, height) of the static images, in CSS pixels
STATIC_SIZE = {"sankey": (1400, 760), "map": (1300, 640), "timeseries": (1100, None),
               "comparison": (1100, None), "prior_posterior": (1100, None), "generations": (1100, None),
               "waves": (800, None), "fan": (1100, 420)}


# ---------------------------------------------------------------------------- figures
def build_figures(data: ReportData) -> dict[str, go.Figure]:
    """The report's figures by key: ``sankey``, ``map``, ``timeseries``, ``comparison``, ``fan``
    (a comparison); for an estimate ``fan-<quantity>``; for a calibration ``ppc`` (fitted
    targets), ``ppc_floors``, ``posterior``, ``prior_posterior``, ``generations`` and ``waves`` (when it fitted within a
    history match of the same file)."""
    figs: dict[str, go.Figure] = {}
    if data.estimate is not None and len(data.estimate["table"]):
        from narcoflow.experiments.estimates import LABELS
        from narcoflow.viz.estimates import fan_figure

        table = data.estimate["table"]
        for quantity in dict.fromkeys(table["quantity"]):
            fig = fan_figure(table, quantity, title=LABELS.get(quantity, quantity))
            if data.targets is not None:
                from narcoflow.viz.evidence import add_fan_evidence

                years = sorted(int(y) for y in table.loc[table["quantity"] == quantity, "year"].unique())
                add_fan_evidence(fig, quantity, data.targets, years)
            figs[f"fan-{quantity}"] = fig
    if data.calibration is not None:
        from narcoflow.viz import calibration as calviz

        cal = data.calibration
        check = cal["check"]
        if check is not None:
            floor = check["role"].astype(str).eq("floor") if "role" in check.columns else check["target"].isna()
            if (~floor).any():
                figs["ppc"] = calviz.ppc_figure(check[~floor].reset_index(drop=True),
                                                title=f"Posterior predictive check of the fitted targets, "
                                                      f"calibration {data.ident}")
            if floor.any():
                figs["ppc_floors"] = calviz.ppc_figure(
                    check[floor].reset_index(drop=True),
                    title="Floors, reported apart: lower bounds any run is expected to meet")
        if "median" in cal["posterior"]:
            figs["posterior"] = calviz.posterior_figure(cal["posterior"])
        particles = cal.get("particles")
        if particles is not None and len(particles):
            hist = cal.get("history")
            ranges = None
            if hist is not None:
                names = json.loads(hist["match"]["parameters"])
                bounds = json.loads(hist["match"]["bounds"])
                ranges = {n: (float(b[0]), float(b[1])) for n, b in zip(names, bounds, strict=True)}
            figs["prior_posterior"] = calviz.prior_posterior_figure(particles, cal["priors"], ranges=ranges)
            if particles["generation"].nunique() > 1:
                figs["generations"] = calviz.generations_figure(particles, cal["priors"])
        hist = cal.get("history")
        if hist is not None and len(hist["waves"]):
            figs["waves"] = calviz.waves_figure(hist["waves"])
    if data.comparisons is not None and len(data.comparisons):
        figs["comparison"] = figures.comparison_figure(
            data.comparisons, title=f"Policy comparison, experiment {data.ident}")
    if data.fan is not None and len(data.fan):
        figs["fan"] = figures.policy_fan_figure(data.fan, label=data.fan_label,
                                         title=f"{data.fan_label} per year by policy: median, 50 % and "
                                               "90 % of the replications")
    if data.metrics is not None and len(data.metrics):
        m = data.metrics
        figs["sankey"] = figures.sankey_figure(m, destinations=data.destinations)
        if data.scenario.get("regions"):
            figs["map"] = figures.map_figure(m, data.scenario)
        figs["timeseries"] = figures.timeseries_figure(m, data.scenario, targets=data.targets)
    return figs


def render_html(data: ReportData, figs: dict[str, go.Figure] | None = None) -> str:
    """The complete report as one HTML string (plotly.js inlined; no external resources)."""
    figs = build_figures(data) if figs is None else figs
    title = f"narcoflow report: {data.kind} {data.ident}"
    scen = data.info["scenario"] if data.info else data.scenario.get("name", "")
    desc = str(data.scenario.get("description", "")).strip()
    nav = ['<a href="#numbers">Key numbers</a>'] if data.metrics is not None else []
    body = [f"<h1>{esc(title)}</h1>",
            f"<p class='lead'>{esc(scen)}{': ' if scen and desc else ''}{esc(desc)}</p>",
            "<p class='caption'>narcoflow simulates the production and circulation of illicit "
            "drugs as a system of producers, couriers, wholesalers, sellers, users, smugglers, "
            "border guards and police, week by week, and keeps an exact ledger of every gram. "
            + ("This report shows a calibration: which values of chosen parameters make runs "
               "reproduce observed figures (targets from the public evidence), how sure the fit is, "
               "and which targets the model does not reach. The scenario's other parameters are "
               "listed in section 4.</p>" if data.kind == "calibration" else
               "This report shows an estimate: many runs over parameter sets drawn from a posterior "
               "sample (or the scenario's prior ranges, as said below) and several seeds each, "
               "summarised per calendar year with the median and 50 % and 90 % intervals of the "
               "quantities nobody observes. They are model outputs, not measurements.</p>"
               if data.kind == "estimate" else
               "This report shows one simulated history: it is a model run, not a measurement; "
               "its numbers are only as good as the parameters listed in section 4.</p>"),
            sections.identity(data)]
    body += [f"<p class='note'>{esc(n)}</p>" for n in data.notes]
    if data.kind == "calibration":
        nav += ['<a href="#calibration">Calibration</a>', '<a href="#check">Predictive check</a>']
        if data.calibration and data.calibration.get("history") is not None:
            nav.insert(len(nav) - 1, '<a href="#history">History matching</a>')
        body.append(sections.calibration_section(data, figs))
    if data.kind == "estimate":
        nav.append('<a href="#estimate">Estimates</a>')
        body.append(sections.estimate_section(data, figs))
    if data.kind == "experiment":
        nav.insert(0, '<a href="#comparison">Policy comparison</a>')
        body.append(sections.comparison_section(data, figs.get("comparison")))
        if "fan" in figs:
            body.append(sections.fan_section(data, figs["fan"]))
        if data.metrics is not None:
            body.append("<p class='caption'>The sections below show one run of the experiment "
                        f"({esc(data.info['run_id'])}, baseline policy where known).</p>")
    if data.metrics is not None:
        nav += ['<a href="#flows">Flows</a>', '<a href="#map">Map</a>', '<a href="#time">Over time</a>']
        body.append(sections.overview(data))
        body.append(sections.sankey_section(data, figs["sankey"]))
        if "map" in figs:
            body.append(sections.map_section(data, figs["map"]))
        body.append(sections.timeseries_section(figs["timeseries"], data))
    params = sections.parameters_section(data)
    if params:
        nav.append('<a href="#parameters">Parameters and sources</a>')
        body.append(params)
    made = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    body.append(f"<footer>Made by narcoflow {esc(narcoflow.__version__)} on {made}. "
                "Map data: Natural Earth (public domain); place coordinates: GeoNames "
                "(CC BY 4.0). Charts: plotly.js, embedded.</footer>")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{esc(title)}</title><style>{sections.CSS}</style>
<script type="text/javascript">{get_plotlyjs()}</script>
</head><body><main>
<nav>{''.join(nav)}</nav>
{''.join(body)}
</main></body></html>
"""


# ---------------------------------------------------------------------------- writing
def _check_out(out: Path, kind: str = "html", *, inputs=(), force: bool = False) -> None:
    """`narcoflow.outputs.check_output`: never over a directory, a device, the input database
    or (without ``force``) a file of another kind."""
    check_output(out, kind=kind, inputs=inputs, force=force)


def write_html(data: ReportData, out: str | os.PathLike, *, force: bool = False) -> Path:
    """Write the self-contained HTML report to ``out`` (replaced if it exists), through a
    temporary file renamed into place."""
    out = Path(out)
    _check_out(out, force=force)
    text = render_html(data)
    with replacing(out) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return out


def static_paths(out: str | os.PathLike, keys, fmt: str) -> dict[str, Path]:
    """Where `write_static` puts each figure: ``<out stem>-<key>.<fmt>`` next to ``out``."""
    out = Path(out)
    return {k: out.with_name(f"{out.stem}-{k}.{fmt}") for k in keys}


def static_figure(fig: go.Figure) -> go.Figure:
    """A copy of ``fig`` for a static image: no menu, and only the traces shown at first (a menu's
    other choices, e.g. the Sankey's per-drug views, cannot be picked in an image)."""
    fig = go.Figure(fig)
    fig.layout.updatemenus = ()
    if fig.layout.updatemenus == () and any(getattr(tr, "visible", None) is False for tr in fig.data):
        fig.data = [tr for tr in fig.data if getattr(tr, "visible", None) is not False]
    return fig


def write_static(data: ReportData, out: str | os.PathLike, fmt: str, *,
                 force: bool = False) -> list[Path]:
    """Write each figure of the report as a PNG or SVG file next to ``out``.

    Static images are drawn by kaleido in a headless Chromium (``/usr/bin/chromium`` or
    ``BROWSER_PATH``); the Sankey shows all drugs pooled.
    """
    if fmt not in ("png", "svg"):
        raise ReportError(f"--format {fmt!r} is not one of {', '.join(FORMATS)}.")
    extras.check("kaleido")
    out = Path(out)
    _check_out(out.with_name(f"{out.stem}-x.{fmt}"), fmt)
    figs = build_figures(data)
    paths = static_paths(out, figs, fmt)
    for path in paths.values():
        _check_out(path, fmt, force=force)
    images, files, widths, heights = [], [], [], []
    for key, fig in figs.items():
        fig = static_figure(fig)
        width, height = STATIC_SIZE.get(key, (1100, None))
        images.append(fig)
        files.append(paths[key])
        widths.append(width)
        heights.append(height or int(fig.layout.height or 700))
    try:
        with ExitStack() as stack:
            tmps = [stack.enter_context(replacing(f)) for f in files]
            pio.write_images(images, tmps, format=fmt, width=widths, height=heights,
                             scale=2 if fmt == "png" else 1)
    except NarcoflowError:
        raise
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
                fmt: str = "html", force: bool = False, targets: str | None = None) -> list[Path]:
    """Read a run, experiment, estimate or calibration from ``db`` and write its report; return the
    files written. ``targets``: whose evidence the run's figures show (`load_report_data`). ``out``
    is checked first (`narcoflow.outputs.check_output`): it is never the
    database itself, and an existing file of another kind is replaced only with ``force``."""
    fmt = fmt.lower()
    if fmt not in FORMATS:
        raise ReportError(f"--format {fmt!r} is not one of {', '.join(FORMATS)}.")
    if fmt != "html":
        extras.check("kaleido")
    out = Path(out)
    target = out if fmt == "html" else out.with_name(f"{out.stem}-x.{fmt}")
    _check_out(out, "html", inputs=(db,), force=force or fmt != "html")
    _check_out(target, fmt, inputs=(db,), force=force)
    data = load_report_data(db, ident, targets=targets)
    if fmt == "html":
        return [write_html(data, out, force=force)]
    return write_static(data, out, fmt, force=force)
