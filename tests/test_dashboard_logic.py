"""The dashboard's non-visual logic: which scenarios it offers and how it checks a typed file.

(The page itself is driven in a real browser by tests/browser/test_dashboard.py.)
"""

from __future__ import annotations

import pytest

pytest.importorskip("solara")

from narcoflow.app.dashboard import open_scenario, scenario_choices  # noqa: E402
from narcoflow.errors import ScenarioError  # noqa: E402
from narcoflow.scenario import load  # noqa: E402

VARIANT = ("base: north-korea-2011\nname: nk-variant\nconsumption:\n"
           "  quit_rate_per_week: {value: 0.01, range: [0.001, 0.02], source: test}\n")


def test_offers_builtins_and_calibrated_files_next_to_the_database(tmp_path):
    (tmp_path / "runs-abc123.scenario.yaml").write_text(VARIANT)
    (tmp_path / "notes.yaml").write_text("not: a scenario\n")  # other YAML files are not offered
    choices = scenario_choices(tmp_path / "runs.duckdb")
    assert choices["north-korea-2011"] == "north-korea-2011"
    assert choices["runs-abc123.scenario.yaml"] == str((tmp_path / "runs-abc123.scenario.yaml").resolve())
    assert "notes.yaml" not in choices
    assert load(choices["runs-abc123.scenario.yaml"]).consumption.quit_rate_per_week.value == 0.01


def test_opened_files_are_added(tmp_path):
    f = tmp_path / "variant.yaml"
    f.write_text(VARIANT)
    path = open_scenario(f" {f} ")
    assert scenario_choices(tmp_path / "x.duckdb", extra=(path,))["variant.yaml"] == path


def test_a_bad_file_names_the_field_and_the_range(tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text(VARIANT.replace("0.01", "1.5"))
    with pytest.raises(ScenarioError) as err:
        open_scenario(str(f))
    assert "bad.yaml" in str(err.value) and "quit_rate_per_week" in str(err.value)
    with pytest.raises(ScenarioError, match="neither a built-in scenario"):
        open_scenario(str(tmp_path / "missing.yaml"))
    with pytest.raises(ValueError, match="Type the path"):
        open_scenario("  ")
