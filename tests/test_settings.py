"""Run settings (seed, scale, years) are declared once in `narcoflow.settings` and refused with
the same message by the engine, the command line and the dashboard."""

from __future__ import annotations

import math

import numpy as np
import pytest
from typer.testing import CliRunner

from narcoflow.cli import app
from narcoflow.engine import Simulation
from narcoflow.errors import NarcoflowError, ScenarioError
from narcoflow.settings import RUN_SETTINGS, SCALE, SEED, YEARS, SettingError, check_run_settings

BAD = [("seed", -1), ("scale", 0), ("scale", 1.5), ("scale", math.nan), ("years", 0), ("years", 101)]


def test_bounds_and_types_accepted():
    check_run_settings(seed=0, scale=1, years=100)
    check_run_settings(seed=np.int64(3), scale=np.float32(0.5), years=None)
    check_run_settings()  # nothing given, nothing to check
    assert (SEED.allowed, SCALE.allowed, YEARS.allowed) == ("[0, 9223372036854775807]", "(0, 1]", "(0, 100]")


@pytest.mark.parametrize("name, value", BAD)
def test_message_names_the_setting_value_and_range(name, value):
    with pytest.raises(SettingError) as err:
        check_run_settings(**{name: value}, label="--{}")
    assert str(err.value) == (f"--{name} {value:g} is out of range: it must be in "
                              f"{RUN_SETTINGS[name].allowed} ({RUN_SETTINGS[name].meaning}).")


@pytest.mark.parametrize("name, value, what", [("seed", 1.5, "an integer"), ("seed", True, "an integer"),
                                               ("scale", "0.1", "a number"), ("years", "2", "a number")])
def test_wrong_types_are_refused(name, value, what):
    with pytest.raises(SettingError, match=f"{name} .* is not {what}"):
        check_run_settings(**{name: value})


@pytest.mark.parametrize("name, value", BAD)
def test_engine_refuses_with_the_same_message(name, value):
    with pytest.raises(SettingError) as err:
        Simulation("north-korea-2011", **{name: value})
    # an error the CLI turns into exit code 2, still a ScenarioError for older callers, and a
    # ValueError for the dashboard's input box
    assert isinstance(err.value, NarcoflowError | ScenarioError | ValueError)
    assert str(err.value).startswith(f"{name} ") and RUN_SETTINGS[name].allowed in str(err.value)


def test_dashboard_uses_the_same_ranges():
    from narcoflow.app.dashboard import parse_inputs

    with pytest.raises(ValueError) as err:
        parse_inputs("0.002", "101", "1")
    assert str(err.value) == f"Years 101 is out of range: it must be in {YEARS.allowed} ({YEARS.meaning})."


@pytest.mark.parametrize("command", [["run", "north-korea-2011"], ["compare", "north-korea-2011", "--policy", "x"],
                                     ["sweep", "north-korea-2011"], ["calibrate", "north-korea-2011",
                                                                     "--targets", "none.yaml"]])
def test_every_command_refuses_before_it_starts(tmp_path, command):
    res = CliRunner().invoke(app, [*command, "--years", "101", "--out", str(tmp_path / "x.duckdb")])
    assert res.exit_code == 2, res.output
    assert "--years 101 is out of range: it must be in (0, 100]" in " ".join(res.output.split())
    assert not (tmp_path / "x.duckdb").exists()


def test_help_texts_show_the_declared_ranges():
    for command in ("run", "compare", "calibrate"):
        text = " ".join(CliRunner().invoke(app, [command, "--help"]).output.split())
        assert SCALE.allowed in text and YEARS.allowed in text, command


def test_seeds_stop_where_the_store_can_hold_them():
    check_run_settings(seed=2**63 - 1)
    with pytest.raises(SettingError,
                       match=r"--seed 9223372036854775808 is out of range: it must be in \[0, 9223372036854775807\]"):
        check_run_settings(seed=2**63, label="--{}")
