"""Levers and policies as scenario transformations (pure functions ``Scenario -> Scenario``).

A lever (declared once, with its meaning, unit, default and range, in
`narcoflow.scenario.policy.LEVERS`) is applied by changing scenario parameters or by appending a
dated event, so the engine needs no change and the run id of a policy run is the hash of the
transformed scenario. A policy is a set of lever settings (`Policy`), named in the scenario's
``policies:`` mapping or in a separate policy file.

Multipliers scale a parameter's value *and* its uncertainty range, so the transformed scenario
stays valid and sweeps/sensitivity analyses of a policy scenario explore the shifted range.
Probabilities are capped at 1.

Examples
--------
>>> from narcoflow.scenario import load
>>> sc = load("north-korea-2011")
>>> crack = apply_policy(sc, "border-crackdown")
>>> crack.border.destinations[0].interdiction_prob.value   # China: 0.05 x 2
0.1
>>> apply_policy(sc, "baseline") == sc
True
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from narcoflow.errors import NarcoflowError, ScenarioError
from narcoflow.scenario import Scenario, with_values
from narcoflow.scenario.loader import format_validation_error
from narcoflow.scenario.policy import LEVERS, LeverSetting, LeverSpec, Policy, check_policy_name

BASELINE = "baseline"

_Raw = dict[str, Any]
_PROB_CAP = 1.0


# ---------------------------------------------------------------------------- raw helpers
def _scale(param: _Raw, factor: float, cap: float | None = None) -> None:
    """Multiply a dumped `Param` (value and range) in place, capping at ``cap``."""
    def f(v: float) -> float:
        out = float(v) * factor
        return min(out, cap) if cap is not None else out

    param["value"] = f(param["value"])
    if param.get("range") is not None:
        param["range"] = [f(v) for v in param["range"]]


def _event(raw: _Raw, policy: str, lever: str, etype: str, setting: LeverSetting, **fields) -> None:
    raw.setdefault("events", []).append({
        "type": etype, "name": f"policy {policy}: {lever}",
        "start": str(setting.start or raw["start"]),
        "end": str(setting.end) if setting.end is not None else None,
        "multiplier": {"value": float(setting.value), "range": None, "source": f"policy {policy}"},
        "source": f"policy {policy}", **fields,
    })


def _china(raw: _Raw) -> _Raw:
    return next(d for d in raw["border"]["destinations"] if d["name"] == "China")


# ---------------------------------------------------------------------------- transforms
def _arrest(role: str):
    def apply(raw: _Raw, s: LeverSetting, policy: str) -> None:
        _scale(raw["enforcement"]["weekly_arrest_prob"][role], s.value, _PROB_CAP)
    return apply


def _guard_corruption(raw, s, policy):
    _scale(raw["border"]["bribe_acceptance"], s.value, _PROB_CAP)


def _china_interdiction(raw, s, policy):
    if s.start is None and s.end is None:
        _scale(_china(raw)["interdiction_prob"], s.value, _PROB_CAP)
    else:
        _event(raw, policy, "china_interdiction", "foreign_crackdown", s, destination="China")


def _state_export_interdiction(raw, s, policy):
    for channel in raw["state"]["export_channels"]:
        _scale(channel["interdiction_multiplier"], s.value)


def _precursor_availability(raw, s, policy):
    if s.start is None and s.end is None:
        _scale(raw["private"]["precursor_availability"], s.value, _PROB_CAP)
    else:
        _event(raw, policy, "precursor_availability", "precursor_control", s)


def _precursor_price(raw, s, policy):
    _scale(raw["private"]["precursor_cost_usd_per_g"], s.value)


def _initiation(raw, s, policy):
    _scale(raw["consumption"]["base_initiation_per_week"], s.value, _PROB_CAP)
    _scale(raw["consumption"]["peer_initiation_per_week"], s.value)


def _quitting(raw, s, policy):
    _scale(raw["consumption"]["quit_rate_per_week"], s.value, _PROB_CAP)
    _scale(raw["consumption"]["quit_heavy_per_week"], s.value, _PROB_CAP)


def _crackdown(raw, s, policy):
    _event(raw, policy, "crackdown", "crackdown", s,
           regions=list(s.regions) if s.regions is not None else None)


#: lever name -> transformation of the dumped scenario (in place). Same keys as `LEVERS`.
TRANSFORMS: dict[str, Callable[[_Raw, LeverSetting, str], None]] = {
    "enforcement_producer": _arrest("producer"),
    "enforcement_deliverer": _arrest("deliverer"),
    "enforcement_wholesaler": _arrest("wholesaler"),
    "enforcement_seller": _arrest("seller"),
    "enforcement_smuggler": _arrest("smuggler"),
    "enforcement_user": _arrest("user"),
    "guard_corruption": _guard_corruption,
    "china_interdiction": _china_interdiction,
    "state_export_interdiction": _state_export_interdiction,
    "precursor_availability": _precursor_availability,
    "precursor_price": _precursor_price,
    "initiation": _initiation,
    "quitting": _quitting,
    "crackdown": _crackdown,
}
assert set(TRANSFORMS) == set(LEVERS), "every declared lever needs a transformation"


# ---------------------------------------------------------------------------- policies
def lever_setting(name: str, value: float | Mapping[str, Any]) -> LeverSetting:
    """Validate one lever setting (``value`` or ``{value, start, end, regions}``)."""
    data = dict(value) if isinstance(value, Mapping) else {"value": value}
    try:
        return LeverSetting.model_validate({**data, "lever": name})
    except ValidationError as exc:
        msgs = "; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())
        raise ScenarioError(f"lever {name!r}: {msgs}") from None


def resolve_policy(name: str, policies: Mapping[str, Policy]) -> dict[str, LeverSetting]:
    """The lever settings of policy ``name``, following ``base:`` (own settings win)."""
    chain: list[str] = []
    cur: str | None = name
    while cur is not None:
        if cur in chain:
            raise ScenarioError(f"policy {name!r}: its base chain loops ({' -> '.join(chain + [cur])}).")
        if cur not in policies:
            if cur == BASELINE and not chain:
                return {}
            where = f"policy {chain[-1]!r} has base {cur!r}, which" if chain else f"policy {cur!r}"
            raise ScenarioError(f"{where} is not defined; known policies: "
                                f"{', '.join(sorted(set(policies) | {BASELINE}))}.")
        chain.append(cur)
        cur = policies[cur].base
    levers: dict[str, LeverSetting] = {}
    for pname in reversed(chain):
        levers.update(policies[pname].levers)
    return levers


def apply_levers(scenario: Scenario, levers: Mapping[str, LeverSetting | float | Mapping],
                 *, policy: str = "custom", until: dt.date | None = None) -> Scenario:
    """A copy of ``scenario`` with the levers applied (in the order of `LEVERS`).

    Settings equal to the lever's default with no window change nothing. A window is cut to
    the scenario's period, or to ``[start, until)`` for a run shortened with ``years``: a window
    that starts after the run ends is dropped, so the policy run *is* the baseline run. The
    scenario's own ``policies`` are kept, so the baseline run of a comparison has the run id of
    a plain run.

    Raises
    ------
    ScenarioError
        Unknown lever, value out of range, window or regions where the lever takes none, a
        region not in the scenario, or a start date outside the scenario's period.
    """
    settings = {k: v if isinstance(v, LeverSetting) else lever_setting(k, v) for k, v in levers.items()}
    for name in settings:
        if name not in LEVERS:  # pragma: no cover - lever_setting already refuses
            raise ScenarioError(f"unknown lever {name!r}")
    active = {k: s for k, s in settings.items()
              if not (s.value == LEVERS[k].default and s.start is None and s.end is None)}
    if not active:
        return scenario
    raw = copy.deepcopy(scenario.model_dump(mode="json"))
    for name in LEVERS:  # a fixed order: the result does not depend on the mapping's order
        s = active.get(name)
        if s is None:
            continue
        _check_against(scenario, policy, name, s)
        s = _clip_window(scenario, s, until)
        if s is not None:
            TRANSFORMS[name](raw, s, policy)
    if raw == scenario.model_dump(mode="json"):
        return scenario
    try:
        return Scenario.model_validate(raw)
    except ValidationError as exc:
        lines = format_validation_error(exc, raw, f"scenario {scenario.name!r} with policy {policy!r}")
        raise ScenarioError("\n".join(lines)) from None


def _check_against(sc: Scenario, policy: str, name: str, s: LeverSetting) -> None:
    unknown = [r for r in s.regions or [] if r not in sc.region_names]
    if unknown:
        raise ScenarioError(f"policy {policy!r}, lever {name!r}: regions {unknown} are not regions "
                            f"of scenario {sc.name!r} ({', '.join(sc.region_names)}).")


def _clip_window(sc: Scenario, s: LeverSetting, until: dt.date | None = None) -> LeverSetting | None:
    """The setting with its window cut to the run's period; None if they do not meet."""
    if s.start is None and s.end is None:
        return s
    end = min(sc.end, until) if until is not None else sc.end
    if (s.start is not None and s.start >= end) or (s.end is not None and s.end < sc.start):
        return None
    if s.start is not None and s.start < sc.start:
        return s.model_copy(update={"start": sc.start})
    return s


def apply_policy(scenario: Scenario, policy: str | Policy,
                 extra: Mapping[str, Policy] | None = None, *, until: dt.date | None = None) -> Scenario:
    """Apply a named policy (from the scenario's ``policies`` or ``extra``) or a `Policy`.

    ``baseline`` needs no definition: undefined, it means the scenario unchanged. ``until``:
    the end of a shortened run (see `apply_levers`).
    """
    pols = {**scenario.policies, **(extra or {})}
    if isinstance(policy, Policy):
        base = resolve_policy(policy.base, pols) if policy.base else {}
        return apply_levers(scenario, {**base, **policy.levers}, policy="custom", until=until)
    return apply_levers(scenario, resolve_policy(policy, pols), policy=policy, until=until)


def inactive_windows(scenario: Scenario, policy: str, extra: Mapping[str, Policy] | None = None,
                     *, end: dt.date | None = None) -> list[str]:
    """Lever windows of ``policy`` that start after ``end`` (a shortened run): they do nothing."""
    end = end or scenario.end
    levers = resolve_policy(policy, {**scenario.policies, **(extra or {})})
    return [f"lever {k!r} starts {s.start}, after the run ends ({end})"
            for k, s in levers.items() if s.start is not None and s.start >= end]


def scenario_at(scenario: Scenario, values: Mapping[str, float]) -> Scenario:
    """``scenario`` with parameters set by dotted path (`with_values`) and levers (names without
    a dot, see `LEVERS`) applied: one point of a sweep or a sensitivity analysis."""
    params = {k: float(v) for k, v in values.items() if k not in LEVERS}
    levers = {k: float(v) for k, v in values.items() if k in LEVERS}
    sc = with_values(scenario, params) if params else scenario
    try:
        return apply_levers(sc, levers, policy="sweep") if levers else sc
    except ScenarioError as exc:
        raise NarcoflowError(str(exc)) from None


def load_policy_file(path: str | Path) -> dict[str, Policy]:
    """Policies from a YAML file: ``policies:`` as a mapping ``name -> {description, base, levers}``
    or as a list of ``{name, description, base, levers}``.

    ``base`` names another policy (in the file or the scenario) whose levers are inherited.

    Raises
    ------
    ScenarioError
        Naming the file and the field.
    """
    from narcoflow.scenario.loader import read_yaml_file

    path = Path(path)
    label = str(path)
    data = read_yaml_file(path, "policy file")
    if not isinstance(data, dict) or "policies" not in data:
        raise ScenarioError(f"{label}: a policy file needs a top-level 'policies:' mapping or list "
                            "(see docs/experiments.md).")
    extra = sorted(set(data) - {"policies"})
    if extra:
        raise ScenarioError(f"{label}: field(s) {extra} unknown in a policy file (only 'policies'; "
                            "to change scenario parameters write a scenario file with 'base:').")
    raw = data["policies"]
    if isinstance(raw, list):
        mapping = {}
        for i, item in enumerate(raw):
            if not isinstance(item, dict) or not isinstance(item.get("name"), str):
                raise ScenarioError(f"{label}: field 'policies[{i}]': each policy needs a 'name'.")
            body = {k: v for k, v in item.items() if k != "name"}
            if item["name"] in mapping:
                raise ScenarioError(f"{label}: field 'policies[{i}].name': {item['name']!r} is "
                                    "defined twice.")
            mapping[item["name"]] = body
        raw = mapping
    if not isinstance(raw, dict):
        raise ScenarioError(f"{label}: field 'policies' must be a mapping or a list.")
    out, problems = {}, []
    for name, body in raw.items():
        name = str(name)
        try:
            check_policy_name(name)
        except ValueError as exc:
            problems.append(f"{label}: field 'policies': {exc}")
            continue
        try:
            out[name] = Policy.model_validate(body if body is not None else {})
        except ValidationError as exc:
            for line in format_validation_error(exc, body if isinstance(body, dict) else {}, label):
                problems.append(line.replace("field '", f"field 'policies.{name}.", 1)
                                .replace(f"policies.{name}.(top level)", f"policies.{name}"))
    if problems:
        raise ScenarioError("\n".join(problems))
    return out


def describe_levers() -> list[LeverSpec]:
    """The declared levers, in order."""
    return list(LEVERS.values())
