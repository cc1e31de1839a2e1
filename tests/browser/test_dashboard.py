"""The Solara dashboard in a real headless Chromium: change a lever, run, see the new run's
id and charts, an invalid scale gives an in-page message; the server leaves no process behind.

Screenshots replace docs/img/dashboard-*.png only when NARCOFLOW_UPDATE_SCREENSHOTS=1.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UPDATE = os.environ.get("NARCOFLOW_UPDATE_SCREENSHOTS") == "1"
IMG = ROOT / "docs" / "img" if UPDATE else Path(tempfile.mkdtemp(prefix="dash-img-"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def solara_assets():
    """Fill Solara's asset cache from npm (scripts/solara_assets.sh) when it is missing."""
    pytest.importorskip("solara")
    cache = os.environ.get("SOLARA_ASSETS_PROXY_CACHE_DIR") or str(Path(sys.prefix) / "share/solara/cdn")
    if not (Path(cache) / "requirejs@2.3.6").exists():
        r = subprocess.run(["bash", str(ROOT / "scripts" / "solara_assets.sh")], capture_output=True,
                           text=True, env=dict(os.environ, PYTHON=sys.executable), check=False)
        if r.returncode != 0:
            pytest.skip(f"cannot fill the solara asset cache: {r.stderr[-300:]}")
    return cache


@pytest.fixture()
def server(solara_assets, tmp_path):
    port = _free_port()
    env = dict(os.environ, SOLARA_TELEMETRY_MIXPANEL_ENABLE="false")
    proc = subprocess.Popen([sys.executable, "-c", "from narcoflow.cli import app; app()", "dashboard", "--db",
                             str(tmp_path / "dash.duckdb"), "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if urllib.request.urlopen(url, timeout=2).status == 200:
                    break
            except OSError:
                pass
            assert proc.poll() is None, "dashboard server exited"
            assert time.monotonic() < deadline, "dashboard server did not answer"
            time.sleep(0.3)
        yield url
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=20)


def test_dashboard_run_in_chromium(chromium, chromium_args, server):
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=chromium_args)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(server)
            expect(page.get_by_text("No stored run yet")).to_be_visible(timeout=30_000)
            page.get_by_text("Levers").first.click()
            slider = page.get_by_role("slider").first
            before = slider.get_attribute("aria-valuenow")
            slider.focus()
            page.keyboard.press("ArrowRight")
            expect(slider).not_to_have_attribute("aria-valuenow", before)
            page.screenshot(path=str(IMG / "dashboard-levers.png"))
            page.get_by_role("button", name="Run").click()
            expect(page.get_by_text(re.compile(r"^Run [0-9a-f]{6,}"))).to_be_visible(timeout=60_000)
            page.wait_for_selector(".js-plotly-plot .main-svg", timeout=30_000)
            # expect() retries until the page settles: Solara may re-render while the run's
            # figures arrive, so a one-off count() can catch the DOM between two renders.
            expect(page.get_by_text("Download CSV")).to_have_count(1, timeout=30_000)
            expect(page.locator(".js-plotly-plot").nth(1)).to_be_attached(timeout=30_000)
            page.screenshot(path=str(IMG / "dashboard-run.png"), full_page=True)

            scale = page.get_by_label(re.compile("Scale"))
            scale.fill("2")
            scale.press("Enter")
            page.get_by_role("button", name="Run").click()
            expect(page.get_by_text(re.compile("out of range"))).to_be_visible(timeout=10_000)
            page.screenshot(path=str(IMG / "dashboard-error.png"))
        finally:
            browser.close()


def test_inputs_are_validated_with_messages():
    from narcoflow.app.dashboard import parse_inputs

    assert parse_inputs("0.002", "2", "1") == (0.002, 2.0, 1)
    for args, words in [(("0", "2", "1"), "(0, 1]"), (("1.5", "2", "1"), "out of range"),
                        (("x", "2", "1"), "not a number"), (("0.1", "200", "1"), "(0, 100]"),
                        (("0.1", "2", "1.5"), "integer")]:
        with pytest.raises(ValueError, match=re.escape(words)):
            parse_inputs(*args)


def test_failed_run_leaves_stored_runs_intact(tmp_path):
    from narcoflow.app.dashboard import run_and_save
    from narcoflow.results import store

    db = tmp_path / "runs.duckdb"
    rid = run_and_save("north-korea-2011", "baseline", {}, 0.002, 0.5, 1, db=db)
    with pytest.raises(Exception):  # noqa: B017 - any error; the page shows its message
        run_and_save("north-korea-2011", "baseline", {"initiation": 1e9}, 0.002, 0.5, 2, db=db)
    assert list(store.list_runs(db)["run_id"]) == [rid]
