"""The HTML report in a real headless Chromium, offline: the Sankey, the map and the time series
render with no console error and no request leaving the file; static PNG/SVG export works.

Screenshots of the figures are taken every run; they replace docs/img/report-*.png (shown in the
README) only when NARCOFLOW_UPDATE_SCREENSHOTS=1, so a test run leaves the work tree clean.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from narcoflow.results import store
from narcoflow.viz import make_report

UPDATE = os.environ.get("NARCOFLOW_UPDATE_SCREENSHOTS") == "1"
IMG = Path(__file__).resolve().parents[2] / "docs" / "img" if UPDATE else Path(tempfile.mkdtemp())
FIGURES = ("sankey", "map", "timeseries")
READY = """() => ['fig-sankey', 'fig-map', 'fig-timeseries'].every(id => {
    const d = document.getElementById(id);
    return d && d._fullLayout && d.data && d.data.length > 0 && d.querySelector('.main-svg');
})"""


@pytest.fixture(scope="module")
def report(tmp_path_factory, baseline):
    """The report of the shared 18-year run (its database and the HTML file)."""
    folder = tmp_path_factory.mktemp("browser")
    db = folder / "runs.duckdb"
    run_id = store.save(baseline, db)
    html = make_report(db, run_id, folder / "report.html")[0]
    return db, run_id, html


def _save_screenshot(element, name: str) -> None:
    """Element screenshot to docs/img, reduced to 256 colours; silently skipped if read-only."""
    try:
        IMG.mkdir(parents=True, exist_ok=True)
        path = IMG / f"report-{name}.png"
        element.screenshot(path=str(path))
    except OSError:
        return
    try:
        from PIL import Image

        with Image.open(path) as im:
            small = im.convert("RGB").quantize(colors=256)
        small.save(path, optimize=True)
    except (ImportError, OSError):
        pass


def test_report_renders_offline_in_chromium(chromium, chromium_args, report):
    from playwright.sync_api import sync_playwright

    html = report[2]
    errors: list[str] = []
    external: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=chromium_args)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on("request", lambda r: None if r.url.startswith(("file:", "data:", "blob:"))
                    else external.append(r.url))
            page.goto(html.as_uri())
            page.wait_for_function(READY, timeout=60_000)

            sankey = page.locator("#fig-sankey")
            assert sankey.locator(".sankey").count() == 1
            assert sankey.locator(".sankey-link").count() >= 10
            labels = " ".join(sankey.locator(".sankey-node .node-label").all_text_contents())
            assert "Consumed in North Korea" in labels and "Delivered to China" in labels
            assert page.evaluate("document.getElementById('fig-sankey').data.length") >= 2

            fig_map = page.locator("#fig-map")
            assert fig_map.locator("path.js-fill").count() >= 2 * 11  # provinces, both panels
            legend = " ".join(fig_map.locator(".legendtext").all_text_contents())
            assert "Border crossing" in legend and "State factory" in legend
            assert "Chemical-factory city" in legend
            assert fig_map.locator(".colorbar").count() == 2

            series = page.locator("#fig-timeseries")
            assert series.locator(".scatterlayer .js-line").count() >= 6
            assert series.locator(".shapelayer path").count() >= 5  # dated events
            assert page.locator("#parameters").count() == 1
            assert page.locator("tr#src-S5").count() == 1

            for name in FIGURES:
                _save_screenshot(page.locator(f"#fig-{name}"), name)
        finally:
            browser.close()
    assert errors == []
    assert external == []


def test_static_figures_for_papers(chromium, report, tmp_path, monkeypatch):
    monkeypatch.setenv("BROWSER_PATH", chromium)
    db, run_id, _ = report
    png = make_report(db, run_id, tmp_path / "paper.html", fmt="png")
    assert sorted(p.name for p in png) == sorted(f"paper-{k}.png" for k in FIGURES)
    for path in png:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 20_000
    assert not (tmp_path / "paper.html").exists()
    svg = make_report(db, run_id, tmp_path / "paper.html", fmt="svg")
    for path in svg:
        text = path.read_text("utf-8")
        assert text.lstrip().startswith("<svg") and "Consumed in North Korea" in "".join(
            p.read_text("utf-8") for p in svg)
