"""Load scenarios by built-in name or file path, with `base:` inheritance and clear errors.

A scenario file may start with ``base: NAME_OR_PATH`` and override only what differs; the
override is deep-merged into the base (mappings merge key by key, lists and scalars replace).
YAML is read with ``yaml.safe_load`` only.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from narcoflow.errors import ScenarioError
from narcoflow.scenario.schema import Param, Scenario

_BUILTIN_PACKAGE = "narcoflow.scenario.builtin"
#: libyaml's safe loader when PyYAML was built with it (10x faster), else the pure-Python one.
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def builtin_names() -> list[str]:
    """Names of the scenarios shipped with narcoflow."""
    files = resources.files(_BUILTIN_PACKAGE).iterdir()
    return sorted(f.name[: -len(".yaml")] for f in files if f.name.endswith(".yaml"))


def builtin_descriptions() -> dict[str, str]:
    """One-line description of each built-in scenario."""
    out = {}
    for name in builtin_names():
        data = _read_yaml_text(_builtin_text(name), f"built-in scenario {name!r}")
        out[name] = str(data.get("description", "")).strip().splitlines()[0]
    return out


def _builtin_text(name: str) -> str:
    return resources.files(_BUILTIN_PACKAGE).joinpath(f"{name}.yaml").read_text("utf-8")


def _read_yaml_text(text: str, where: str) -> dict:
    try:
        data = yaml.load(text, Loader=_SAFE_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        pos = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ScenarioError(f"{where}: malformed YAML{pos}: {problem}.") from None
    if not isinstance(data, dict):
        raise ScenarioError(f"{where}: expected a mapping of fields at the top level, "
                            f"got {type(data).__name__}.")
    return data


def deep_merge(base: Mapping, override: Mapping) -> dict:
    """Merge ``override`` into a copy of ``base``: mappings merge, everything else replaces."""
    out = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _resolve_raw(ref: str | Path, *, relative_to: Path | None, seen: tuple[str, ...]) -> tuple[dict, str]:
    """Return the raw (merged) mapping for a built-in name or a path, and a label for errors."""
    ref_str = str(ref)
    path = Path(ref_str)
    if relative_to is not None and not path.is_absolute():
        candidate = relative_to / path
        if candidate.exists():
            path = candidate
    if ref_str in builtin_names() and not path.is_file():
        label = f"built-in scenario {ref_str!r}"
        data = _read_yaml_text(_builtin_text(ref_str), label)
    elif path.is_file():
        label = str(path)
        try:
            text = path.read_text("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ScenarioError(f"{label}: cannot read the file ({exc}).") from None
        data = _read_yaml_text(text, label)
    else:
        raise ScenarioError(
            f"Unknown scenario {ref_str!r}: it is neither a built-in scenario "
            f"({', '.join(builtin_names())}) nor an existing file. "
            "Run `narcoflow scenarios` to list the built-in ones."
        )
    if label in seen:
        raise ScenarioError(f"{label}: `base:` chain loops back on itself ({' -> '.join(seen)}).")
    base_ref = data.pop("base", None)
    if base_ref is not None:
        if not isinstance(base_ref, str):
            raise ScenarioError(f"{label}: field 'base' must be a scenario name or path, got {base_ref!r}.")
        here = path.parent if path.is_file() else None
        try:
            base_data, _ = _resolve_raw(base_ref, relative_to=here, seen=seen + (label,))
        except ScenarioError as exc:
            raise ScenarioError(f"{label}: field 'base' (value: {base_ref!r}): {exc}") from None
        data = deep_merge(base_data, data)
    return data, label


def _fmt_loc(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def _lookup(data: Any, loc: tuple) -> Any:
    for part in loc:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def format_validation_error(exc: ValidationError, raw: dict, label: str) -> list[str]:
    """One readable line per problem: where, field path, value, what is allowed."""
    lines = []
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if p not in ("function-after[check(), Param]",))
        # drop pydantic's internal union/validator tags from the path
        loc = tuple(p for p in loc if not (isinstance(p, str) and p.startswith("function-")))
        field = _fmt_loc(loc)
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown field (check the spelling; see docs/scenarios.md for the fields)"
        value = _lookup(raw, loc)
        if isinstance(value, dict) and "value" in value:
            value = value["value"]
        hide = value is None or err["type"] == "missing" or not loc or isinstance(value, dict | list)
        shown = "" if hide else f" (value: {value!r})"
        if not loc and "; " in msg:  # cross-field checks: one line per problem
            lines += [f"{label}: {part}" for part in msg.split("; ")]
            continue
        lines.append(f"{label}: field '{field}'{shown}: {msg}")
    return lines


def _validate(raw: dict, label: str) -> Scenario:
    try:
        return Scenario.model_validate(raw)
    except ValidationError as exc:
        problems = format_validation_error(exc, raw, label)
        raise ScenarioError("\n".join(problems)) from None


def load(ref: str | Path | Scenario, **overrides: Any) -> Scenario:
    """Load a scenario by built-in name or YAML path; keyword overrides replace top-level fields.

    Examples
    --------
    >>> sc = load("north-korea-2011")
    >>> sc.start.year, len(sc.regions)
    (1998, 12)
    """
    if isinstance(ref, Scenario):
        raw, label = ref.model_dump(mode="json"), f"scenario {ref.name!r}"
    else:
        raw, label = _resolve_raw(ref, relative_to=None, seen=())
    raw = deep_merge(raw, overrides) if overrides else raw
    return _validate(raw, label)


def validate_file(path: str | Path) -> list[str]:
    """Every problem of a scenario file, one line each; an empty list means valid."""
    try:
        load(path)
    except ScenarioError as exc:
        return str(exc).splitlines()
    return []


def iter_params(obj: Any, prefix: str = "") -> Iterator[tuple[str, Param]]:
    """Yield ``(dotted.path, Param)`` for every parameter of a scenario (lists by name or index)."""
    if isinstance(obj, Param):
        yield prefix, obj
        return
    if isinstance(obj, BaseModel | Mapping):
        items = obj.items() if isinstance(obj, Mapping) else (
            (k, getattr(obj, k)) for k in type(obj).model_fields)
        for k, v in items:
            yield from iter_params(v, f"{prefix}.{k}" if prefix else str(k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from iter_params(v, f"{prefix}[{i}]")


def uncertain_parameters(scenario: Scenario) -> dict[str, Param]:
    """Parameters that carry a range: the inputs of sweeps, sensitivity and calibration."""
    return {path: p for path, p in iter_params(scenario) if p.range is not None}


def with_values(scenario: Scenario, values: Mapping[str, float]) -> Scenario:
    """A copy of ``scenario`` with the parameters at dotted paths set to new values.

    The range and source are kept; a value outside the range widens nothing and is an error.
    """
    raw = scenario.model_dump(mode="json")
    for path, value in values.items():
        node, parts = raw, _split_path(path)
        for part in parts[:-1]:
            node = node[part]
        leaf = node[parts[-1]]
        if isinstance(leaf, dict) and "value" in leaf:
            leaf["value"] = float(value)
        else:
            node[parts[-1]] = value
    return _validate(raw, f"scenario {scenario.name!r}")


def _split_path(path: str) -> list:
    parts: list = []
    for chunk in path.split("."):
        while "[" in chunk:
            head, rest = chunk.split("[", 1)
            if head:
                parts.append(head)
            idx, chunk = rest.split("]", 1)
            parts.append(int(idx))
        if chunk:
            parts.append(chunk)
    return parts
