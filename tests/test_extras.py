"""Packaging: optional extras, the core install, and the message naming a missing extra.

A core install leaves out solara, anywidget, pyabc, dask-jobqueue, kaleido and ema_workbench. The
tests simulate their absence with ``sys.modules[name] = None`` (which makes ``import name`` fail)
in a subprocess, so the modules already imported by this test process do not interfere.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from narcoflow import extras

ROOT = Path(__file__).resolve().parents[1]
OPTIONAL = ("solara", "anywidget", "pyabc", "dask_jobqueue", "kaleido", "ema_workbench")
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))


def _names(requirements: list[str]) -> set[str]:
    import re

    return {re.split(r"[<>=!~\[; ]", r, maxsplit=1)[0].lower() for r in requirements}


def run_without(code: str, *missing: str, timeout: int = 300) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter where the ``missing`` modules cannot be imported."""
    block = "".join(f"sys.modules[{m!r}] = None\n" for m in missing)
    return subprocess.run([sys.executable, "-c", f"import sys\n{block}{code}"], capture_output=True,
                          text=True, timeout=timeout)


def test_core_dependencies_leave_out_the_optional_parts():
    project = PYPROJECT["project"]
    core = _names(project["dependencies"])
    assert not core & {"solara", "anywidget", "pyabc", "dask-jobqueue", "kaleido", "ema_workbench"}
    optional = project["optional-dependencies"]
    assert {"dashboard", "calibration", "cluster", "images", "ema", "all", "dev"} <= set(optional)
    assert _names(optional["cluster"]) == {"dask-jobqueue"}
    assert _names(optional["images"]) == {"kaleido"}
    assert _names(optional["ema"]) == {"ema_workbench"}
    # dev pulls every extra, so `make install` + `make test` exercise everything.
    dev = " ".join(optional["dev"])
    for extra in ("dashboard", "calibration", "cluster", "images", "ema"):
        assert extra in dev.split("[", 1)[1].split("]", 1)[0]
    for module, (extra, _) in extras.EXTRAS.items():
        assert extra in optional, module


def test_package_ships_its_type_marker_and_license():
    assert (ROOT / "src" / "narcoflow" / "py.typed").exists()
    assert "py.typed" in PYPROJECT["tool"]["setuptools"]["package-data"]["narcoflow"]
    assert "MIT License" in (ROOT / "LICENSE").read_text("utf-8")
    assert PYPROJECT["project"]["license"] == "MIT"
    cff = (ROOT / "CITATION.cff").read_text("utf-8")
    assert f'version: "{PYPROJECT["project"]["version"]}"' in cff
    assert "## [Unreleased]" in (ROOT / "CHANGELOG.md").read_text("utf-8")


def test_a_scenario_runs_stores_and_reports_without_the_optional_parts(tmp_path):
    code = f"""
import narcoflow as nf
from narcoflow.results import store
from narcoflow.viz.report import make_report
res = nf.run("north-korea-2011", seed=1, scale=0.002, years=1)
run_id = store.save(res, {str(tmp_path / 'core.duckdb')!r})
make_report({str(tmp_path / 'core.duckdb')!r}, run_id, {str(tmp_path / 'r.html')!r})
bad = [m for m in {OPTIONAL!r} if sys.modules.get(m) is not None]
print("imported optional:", bad)
"""
    proc = run_without(code, *OPTIONAL)
    assert proc.returncode == 0, proc.stderr
    assert "imported optional: []" in proc.stdout
    assert (tmp_path / "r.html").stat().st_size > 100_000


@pytest.mark.parametrize("module", sorted(extras.EXTRAS))
def test_missing_message_names_the_extra(module):
    extra = extras.EXTRAS[module][0]
    proc = run_without(f"""
from narcoflow import extras
try:
    extras.require({module!r})
except extras.MissingExtraError as exc:
    print(exc)
""", module)
    assert proc.returncode == 0, proc.stderr
    assert f"pip install 'narcoflow[{extra}]'" in proc.stdout
    assert module in proc.stdout


def test_check_does_not_import(monkeypatch):
    monkeypatch.setitem(sys.modules, "kaleido", None)
    with pytest.raises(extras.MissingExtraError, match=r"narcoflow\[images\]"):
        extras.check("kaleido")
    assert extras.available("json") and not extras.available("no_such_module_xyz")


def test_static_report_without_kaleido_names_the_images_extra(tmp_path):
    proc = run_without(f"""
from narcoflow.viz.report import make_report
from narcoflow.errors import NarcoflowError
try:
    make_report({str(tmp_path / 'none.duckdb')!r}, "abc", {str(tmp_path / 'r.html')!r}, fmt="png")
except NarcoflowError as exc:
    print(type(exc).__name__, exc)
""", "kaleido")
    assert proc.returncode == 0, proc.stderr
    assert "MissingExtraError" in proc.stdout and "narcoflow[images]" in proc.stdout


def test_calibration_without_pyabc_names_the_calibration_extra():
    proc = run_without("""
from narcoflow.calibration.calibrate import calibrate
from narcoflow.errors import NarcoflowError
try:
    calibrate(None, None, "x.duckdb")
except NarcoflowError as exc:
    print(type(exc).__name__, exc)
""", "pyabc")
    assert proc.returncode == 0, proc.stderr
    assert "MissingExtraError" in proc.stdout and "narcoflow[calibration]" in proc.stdout
