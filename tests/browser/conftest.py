"""Fixtures for tests that drive a real browser: Debian's Chromium, installed when missing.

Playwright's own browser download (`playwright install`) cannot work offline, so the tests use
``/usr/bin/chromium`` from Debian (``apt-get install -y chromium``, as root; ``apt-get update``
first if that fails). When it cannot be installed the browser tests are skipped, saying why.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
#: flags for headless Chromium in a container with no network
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


def _apt(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    return subprocess.run(["apt-get", *args], capture_output=True, text=True, env=env,
                          timeout=900, check=False)


def install_chromium() -> str | None:
    """Install Debian's chromium if missing; return None on success, else why it failed."""
    if CHROMIUM.exists():
        return None
    if shutil.which("apt-get") is None:
        return "apt-get is not available (not a Debian-like system)"
    if hasattr(os, "geteuid") and os.geteuid() != 0:
        return "installing chromium needs root (run: apt-get install -y chromium)"
    result = _apt("install", "-y", "chromium")
    if result.returncode != 0:
        update = _apt("update")
        if update.returncode != 0:
            return f"apt-get update failed: {update.stderr.strip()[-500:]}"
        result = _apt("install", "-y", "chromium")
    if result.returncode != 0 or not CHROMIUM.exists():
        return f"apt-get install -y chromium failed: {result.stderr.strip()[-500:]}"
    return None


@pytest.fixture(scope="session")
def chromium() -> str:
    """Path of a Chromium that Playwright and kaleido can drive; skips if none can be had."""
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
    try:
        why = install_chromium()
    except (OSError, subprocess.SubprocessError) as exc:
        why = f"installing chromium failed: {exc}"
    if why:
        print(f"\nbrowser tests skipped: {why}", file=sys.stderr)
        pytest.skip(f"no Chromium: {why}")
    return str(CHROMIUM)


@pytest.fixture(scope="session")
def chromium_args() -> list[str]:
    """Launch flags for `chromium` (headless, no sandbox, no background network)."""
    return list(ARGS)
