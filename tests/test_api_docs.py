"""The API reference builds (issue 17): ``mkdocs build --strict`` over docs/ and the docstrings,
so a module, class or function the reference names and no longer exists, or a docstring that
cannot be rendered, fails the suite (about 7 s)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_every_api_page_is_in_the_nav():
    config = (ROOT / "mkdocs.yml").read_text("utf-8")
    pages = sorted(p.relative_to(ROOT / "docs").as_posix() for p in (ROOT / "docs" / "api").glob("*.md"))
    assert pages and all(page in config for page in pages)


def test_api_reference_builds_in_strict_mode(tmp_path):
    pytest.importorskip("mkdocstrings_handlers.python", reason="mkdocstrings-python is not installed")
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    page = (tmp_path / "api" / "run" / "index.html").read_text("utf-8")
    # the docstrings were rendered: the entry points and their members have anchors
    for ident in ("narcoflow.run", "narcoflow.engine.Simulation", "narcoflow.engine.Simulation.run"):
        assert f'id="{ident}"' in page
    results = (tmp_path / "api" / "results" / "index.html").read_text("utf-8")
    assert re.search(r'id="narcoflow\.results\.results\.Results\.total"', results)
