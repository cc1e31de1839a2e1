"""Levers and policies: declared once, applied as scenario transformations, validated clearly.

- every declared lever has a transformation, a meaning, a unit and a default inside its range;
- each lever changes exactly the scenario field it documents (and dated levers add an event);
- the built-in policies exist, ``baseline`` is the scenario unchanged (same run id as a plain
  run), and windows are cut to the run's period;
- bad settings (unknown lever, value out of range, window or regions where not allowed) give
  errors that name the file and the field;
- directional: a demand-reduction policy leaves fewer users than the baseline on the same seed.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

import narcoflow as nf
from narcoflow.errors import ScenarioError
from narcoflow.experiments import TRANSFORMS, apply_levers, apply_policy, load_policy_file, planned_run_id
from narcoflow.experiments.levers import inactive_windows, resolve_policy
from narcoflow.scenario import load, validate_file
from narcoflow.scenario.schema import LEVERS

REQUIRED = ("baseline", "border-crackdown", "anti-corruption", "precursor-control",
            "demand-reduction", "crackdown-2013")


@pytest.fixture(scope="module")
def sc():
    return load("north-korea-2011")


def write(tmp_path: Path, body: str, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(body)
    return path


# ---------------------------------------------------------------------------- declarations
def test_every_lever_is_declared_and_transformed():
    assert set(LEVERS) == set(TRANSFORMS)
    for spec in LEVERS.values():
        assert spec.meaning and spec.unit
        assert spec.low <= spec.default <= spec.high, spec.name
        if spec.regional:
            assert spec.dated, spec.name


def test_builtin_policies(sc):
    for name in REQUIRED:
        assert name in sc.policies, name
        assert sc.policies[name].description
    assert sc.policies["baseline"].levers == {}


# ---------------------------------------------------------------------------- each lever
def _val(sc, path):
    obj = sc
    for part in path:
        obj = obj[part] if isinstance(part, int | str) and isinstance(obj, dict | list) else getattr(obj, part)
    return obj.value


@pytest.mark.parametrize("lever, factor, path", [
    ("enforcement_producer", 2.0, ("enforcement", "weekly_arrest_prob", "producer")),
    ("enforcement_seller", 0.5, ("enforcement", "weekly_arrest_prob", "seller")),
    ("enforcement_user", 3.0, ("enforcement", "weekly_arrest_prob", "user")),
    ("guard_corruption", 0.5, ("border", "bribe_acceptance")),
    ("china_interdiction", 2.0, ("border", "destinations", 0, "interdiction_prob")),
    ("state_export_interdiction", 4.0, ("state", "export_channels", 1, "interdiction_multiplier")),
    ("precursor_availability", 0.5, ("private", "precursor_availability")),
    ("precursor_price", 2.0, ("private", "precursor_cost_usd_per_g")),
    ("initiation", 0.5, ("consumption", "peer_initiation_per_week")),
    ("quitting", 2.0, ("consumption", "quit_rate_per_week")),
])
def test_lever_multiplies_its_parameter(sc, lever, factor, path):
    out = apply_levers(sc, {lever: factor})
    assert _val(out, path) == pytest.approx(_val(sc, path) * factor)
    # the uncertainty range moves with the value, so the scenario stays valid
    assert out.model_dump()["events"] == sc.model_dump()["events"]
    changed = [k for k in ("enforcement", "border", "state", "private", "consumption")
               if getattr(out, k) != getattr(sc, k)]
    assert changed == [path[0]]


def test_probabilities_are_capped_at_one(sc):
    out = apply_levers(sc, {"guard_corruption": 2.0, "quitting": 10.0})
    assert out.border.bribe_acceptance.value == 1.0  # 0.6 x 2
    assert out.border.bribe_acceptance.range[1] == 1.0
    assert out.consumption.quit_rate_per_week.value == pytest.approx(10 * sc.consumption.quit_rate_per_week.value)
    assert out.consumption.quit_heavy_per_week.value == pytest.approx(10 * sc.consumption.quit_heavy_per_week.value)


def test_dated_levers_become_events(sc):
    out = apply_levers(sc, {
        "crackdown": {"value": 3, "start": "2005-01-01", "end": "2005-12-31", "regions": ["Rason"]},
        "china_interdiction": {"value": 2, "start": "2009-01-01"},
        "precursor_availability": {"value": 0.5, "end": "2003-01-01"},
    }, policy="p")
    new = out.events[len(sc.events):]
    assert [(e.type, e.start, e.end, e.multiplier.value) for e in new] == [
        ("foreign_crackdown", dt.date(2009, 1, 1), None, 2.0),
        ("precursor_control", sc.start, dt.date(2003, 1, 1), 0.5),
        ("crackdown", dt.date(2005, 1, 1), dt.date(2005, 12, 31), 3.0),
    ]
    assert new[0].destination == "China" and new[2].regions == ["Rason"]
    assert all(e.name.startswith("policy p:") for e in new)
    # the undated form changes the parameter instead
    assert apply_levers(sc, {"crackdown": 2}).events[-1].regions is None


def test_policy_order_does_not_matter(sc):
    a = apply_levers(sc, {"crackdown": 2, "china_interdiction": {"value": 2, "start": "2001-01-01"}})
    b = apply_levers(sc, {"china_interdiction": {"value": 2, "start": "2001-01-01"}, "crackdown": 2})
    assert a == b


def test_baseline_and_default_settings_leave_the_scenario_unchanged(sc):
    assert apply_policy(sc, "baseline") is sc
    assert apply_levers(sc, {"quitting": 1.0, "crackdown": 1.0}) is sc
    bare = sc.model_copy(update={"policies": {}})
    assert apply_policy(bare, "baseline") is bare  # needs no definition


def test_baseline_run_has_the_run_id_of_a_plain_run(sc):
    res = nf.run(apply_policy(sc, "baseline"), seed=4, scale=0.001, years=0.2)
    assert res.run_id == nf.run("north-korea-2011", seed=4, scale=0.001, years=0.2).run_id
    assert res.run_id == planned_run_id(sc, seed=4, scale=0.001, years=0.2)
    crack = apply_policy(sc, "border-crackdown")
    assert planned_run_id(crack, seed=4, scale=0.001, years=0.2) != res.run_id


def test_windows_are_cut_to_the_period(sc):
    short = load("north-korea-2011", years=10, events=[])
    assert apply_policy(short, "crackdown-2013") is short  # 2013 is after the end (2008)
    early = apply_levers(short, {"crackdown": {"value": 2, "start": "1990-01-01", "end": "1999-01-01"}})
    assert early.events[0].start == short.start
    notes = inactive_windows(sc, "crackdown-2013", end=dt.date(2001, 1, 1))
    assert notes and "2013-01-01" in notes[0]


def test_scenario_with_base_and_fewer_years_stays_valid(tmp_path):
    path = write(tmp_path, "base: north-korea-2011\nname: short\nyears: 8\nevents: []\n")
    assert validate_file(path) == []


# ---------------------------------------------------------------------------- validation
@pytest.mark.parametrize("levers, needles", [
    ("crackdown: 20", ["policies.mine.levers.crackdown", "20", "[1, 10]"]),
    ("warp_drive: 1", ["policies.mine.levers.warp_drive", "unknown lever", "crackdown"]),
    ("initiation: {value: 0.5, start: 2001-01-01}", ["policies.mine.levers.initiation", "start/end"]),
    ("quitting: {value: 2, regions: [Rason]}", ["policies.mine.levers.quitting", "national"]),
    ("crackdown: {value: 2, regions: [Atlantis]}", ["policies[mine].levers[crackdown].regions", "Atlantis"]),
    ("crackdown: {value: 2, start: 2005-01-01, end: 2004-01-01}", ["before start"]),
    ("guard_corruption: true", ["policies.mine.levers.guard_corruption", "boolean"]),
])
def test_bad_policy_in_scenario_file(tmp_path, levers, needles):
    path = write(tmp_path, f"base: north-korea-2011\nname: x\npolicies:\n  mine:\n    levers:\n      {levers}\n")
    problems = "\n".join(validate_file(path))
    assert str(path) in problems
    for needle in needles:
        assert needle in problems, problems


def test_policy_base_must_exist_and_not_loop(tmp_path):
    path = write(tmp_path, "base: north-korea-2011\nname: x\npolicies:\n  a: {base: b}\n  b: {base: a}\n"
                           "  c: {base: nowhere}\n")
    problems = "\n".join(validate_file(path))
    assert "loops" in problems and "'nowhere'" in problems


def test_user_scenario_adds_policies_to_the_builtin_ones(tmp_path):
    path = write(tmp_path, "base: north-korea-2011\nname: mine\npolicies:\n"
                           "  tough: {base: border-crackdown, levers: {enforcement_smuggler: 3}}\n")
    sc = load(path)
    assert "demand-reduction" in sc.policies
    assert set(resolve_policy("tough", sc.policies)) == {"crackdown", "china_interdiction",
                                                         "enforcement_smuggler"}


# ---------------------------------------------------------------------------- policy files
def test_policy_file_mapping_and_list(tmp_path, sc):
    as_map = write(tmp_path, "policies:\n  harsh:\n    base: border-crackdown\n    levers:\n"
                             "      crackdown: 4\n", "map.yaml")
    as_list = write(tmp_path, "policies:\n  - name: harsh\n    base: border-crackdown\n"
                              "    levers: {crackdown: 4}\n", "list.yaml")
    a, b = load_policy_file(as_map), load_policy_file(as_list)
    assert a == b
    levers = resolve_policy("harsh", {**sc.policies, **a})
    assert levers["crackdown"].value == 4 and levers["china_interdiction"].value == 2
    out = apply_policy(sc, "harsh", a)
    assert out.events[-1].multiplier.value == 4


@pytest.mark.parametrize("body, needles", [
    ("policies:\n  p:\n    levers: {crackdown: 50}\n", ["field 'policies.p.levers.crackdown'", "[1, 10]"]),
    ("policies:\n  p:\n    levrs: {crackdown: 2}\n", ["field 'policies.p.levrs'", "unknown field"]),
    ("policies:\n  - {levers: {}}\n", ["policies[0]", "name"]),
    ("state: {siphon_rate: 0}\npolicies: {}\n", ["'state'", "base:"]),
    ("levers: {}\n", ["policies:"]),
    ("policies: [unclosed\n", ["malformed YAML", "line"]),
    ("policies:\n  'bad name!': {}\n", ["bad name!"]),
])
def test_bad_policy_file(tmp_path, body, needles):
    path = write(tmp_path, body, "pol.yaml")
    with pytest.raises(ScenarioError) as err:
        load_policy_file(path)
    assert str(path) in str(err.value)
    for needle in needles:
        assert needle in str(err.value), str(err.value)


def test_unknown_policy_names_the_known_ones(sc):
    with pytest.raises(ScenarioError, match="known policies: .*demand-reduction"):
        apply_policy(sc, "free-lunch")


# ---------------------------------------------------------------------------- direction
def test_demand_reduction_leaves_fewer_users(sc):
    """Prevention and treatment (initiation x0.5, quitting x2) on the same seed: fewer users."""
    base = nf.run(sc, seed=2, scale=0.002, years=8)
    dr = nf.run(apply_policy(sc, "demand-reduction"), seed=2, scale=0.002, years=8)
    assert dr.final("users") < 0.8 * base.final("users")
    assert dr.total("initiations") < base.total("initiations")
