"""Load scenarios by built-in name or file path, with `base:` inheritance and clear errors.

A scenario file may start with ``base: NAME_OR_PATH`` and override only what differs; the
override is deep-merged into the base (mappings merge key by key, lists and scalars replace).
YAML is read with ``yaml.safe_load`` only, with guards against bad input: files over
`MAX_FILE_BYTES`, mappings nested deeper than `MAX_DEPTH`, more than `MAX_NODES` values (alias
bombs), duplicate keys, impossible dates and `base:` chains longer than `MAX_BASE_CHAIN` or
looping back (compared by resolved path) are errors with the file and line, never a traceback.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Iterator, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from narcoflow.errors import ScenarioError, printable
from narcoflow.scenario.schema import Param, Scenario

_BUILTIN_PACKAGE = "narcoflow.scenario.builtin"
#: A scenario file larger than this is refused before it is parsed (the built-in one is 18 kB).
MAX_FILE_BYTES = 1_000_000
#: Deepest nesting of mappings and lists accepted (the schema needs 5).
MAX_DEPTH = 12
#: Most values (mapping entries, list items, scalars; aliases counted each time) in one file.
MAX_NODES = 100_000
#: Longest chain of `base:` files.
MAX_BASE_CHAIN = 16
#: Problems listed at most in one error (the rest are counted).
MAX_PROBLEMS = 40


class _GuardedLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """libyaml's safe loader when PyYAML was built with it (10x faster), else the pure-Python
    one; rejecting duplicate mapping keys and impossible dates with their line."""


def _construct_mapping(loader, node, deep=False):
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)
        seen: dict = {}
        for key_node, _ in node.value:
            key = loader.construct_object(key_node, deep=deep)
            try:
                hash(key)
            except TypeError:
                continue  # reported by the base constructor
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {printable(repr(key))} (first at line {seen[key]})",
                    key_node.start_mark)
            seen[key] = key_node.start_mark.line + 1
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


def _construct_timestamp(loader, node):
    try:
        return yaml.SafeLoader.construct_yaml_timestamp(loader, node)
    except (ValueError, OverflowError) as exc:
        raise yaml.constructor.ConstructorError(
            None, None, f"impossible date {printable(node.value)!r} ({exc})", node.start_mark) from None


_GuardedLoader.construct_mapping = _construct_mapping  # type: ignore[method-assign]
_GuardedLoader.add_constructor("tag:yaml.org,2002:timestamp", _construct_timestamp)


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
        data = yaml.load(text, Loader=_GuardedLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        pos = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ScenarioError(f"{where}: malformed YAML{pos}: {printable(problem)}.") from None
    except RecursionError:
        raise ScenarioError(f"{where}: mappings or lists nested too deeply (at most {MAX_DEPTH} "
                            "levels).") from None
    if not isinstance(data, dict):
        raise ScenarioError(f"{where}: expected a mapping of fields at the top level, "
                            f"got {type(data).__name__}.")
    _check_shape(data, where)
    return data


def _check_shape(data: Any, where: str) -> None:
    """Refuse nesting deeper than `MAX_DEPTH` and more than `MAX_NODES` values (iteratively:
    no recursion, and it stops at the first excess, so an alias bomb costs little)."""
    stack = [(data, 1)]
    nodes = 0
    while stack:
        obj, depth = stack.pop()
        nodes += 1
        if nodes > MAX_NODES:
            raise ScenarioError(f"{where}: too many values (more than {MAX_NODES:,}); a scenario "
                                "needs a few hundred.")
        if isinstance(obj, dict | list):
            if depth > MAX_DEPTH:
                raise ScenarioError(f"{where}: mappings or lists nested too deeply (at most "
                                    f"{MAX_DEPTH} levels).")
            children = obj.values() if isinstance(obj, dict) else obj
            stack.extend((c, depth + 1) for c in children)


def read_yaml_file(path: str | Path, what: str = "file") -> dict:
    """A YAML mapping from a file (policy, targets), with the guards of scenario files: size,
    nesting, duplicate keys, impossible dates, UTF-8; errors name the file and the line."""
    path = Path(path)
    label = printable(str(path))
    if not _is_file(path):
        raise ScenarioError(f"{label}: no such {what} (or it is not a regular file).")
    return _read_yaml_text(_read_file(path, label), label)


def _read_file(path: Path, label: str) -> str:
    """The text of a scenario file, refusing files over `MAX_FILE_BYTES` before reading them."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ScenarioError(f"{label}: the file is {size:,} bytes; a scenario file may have at "
                                f"most {MAX_FILE_BYTES:,} bytes.")
        with path.open("rb") as fh:
            raw = fh.read(MAX_FILE_BYTES + 1)
        if len(raw) > MAX_FILE_BYTES:
            raise ScenarioError(f"{label}: the file has more than {MAX_FILE_BYTES:,} bytes, the "
                                "most a scenario file may have.")
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ScenarioError(f"{label}: cannot read the file: it is not UTF-8 text (byte "
                            f"{exc.start}).") from None
    except OSError as exc:
        raise ScenarioError(f"{label}: cannot read the file ({exc.strerror or exc}).") from None


def deep_merge(base: Mapping, override: Mapping) -> dict:
    """Merge ``override`` into a copy of ``base``: mappings merge, everything else replaces."""
    out = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except (OSError, ValueError):  # name too long, NUL byte, ...
        return False


def _resolve_raw(ref: str | Path, *, relative_to: Path | None = None,
                 seen: tuple[str, ...] = (), root: Path | None = None) -> tuple[dict, str]:
    """Return the raw (merged) mapping for a built-in name or a path, and a label for errors.

    A ``base:`` chain is followed iteratively; a file met twice (by resolved path) is a loop."""
    chain: list[tuple[dict, str]] = []
    keys: list[str] = list(seen)
    labels: list[str] = []
    while True:
        data, label, key, here = _read_one(ref, relative_to, root)
        if key in keys:
            raise ScenarioError(f"{label}: `base:` chain loops back on itself "
                                f"({' -> '.join(labels + [label])}).")
        keys.append(key)
        labels.append(label)
        base_ref = data.pop("base", None)
        chain.append((data, label))
        if base_ref is None:
            break
        if not isinstance(base_ref, str):
            raise ScenarioError(f"{label}: field 'base' must be a scenario name or path, got "
                                f"{_short(base_ref)}.")
        if len(chain) >= MAX_BASE_CHAIN:
            raise ScenarioError(f"{labels[0]}: `base:` chain longer than {MAX_BASE_CHAIN} files "
                                f"({' -> '.join(labels[:3])} -> ...).")
        ref, relative_to = base_ref, here
    merged = chain[-1][0]
    for data, _ in reversed(chain[:-1]):
        merged = deep_merge(merged, data)
    return merged, chain[0][1]


def _read_one(ref: str | Path, relative_to: Path | None,
              root: Path | None = None) -> tuple[dict, str, str, Path | None]:
    """One scenario file or built-in, without following ``base:``: (data, label, identity key,
    folder its own ``base:`` is relative to). With ``root``, only built-ins and files inside
    ``root`` are read."""
    ref_str = str(ref)
    path = Path(ref_str)
    if relative_to is not None and not path.is_absolute():
        candidate = relative_to / path
        if _is_file(candidate):
            path = candidate
    if ref_str in builtin_names() and not _is_file(path):
        label = f"built-in scenario {ref_str!r}"
        return _read_yaml_text(_builtin_text(ref_str), label), label, f"builtin:{ref_str}", None
    if root is not None and not (_is_file(path) and path.resolve().is_relative_to(root)):
        raise ScenarioError(f"{_short(ref_str)} is not a built-in scenario or a file in "
                            f"{printable(str(root))}.")
    if _is_file(path):
        label = printable(str(path))
        resolved = path.resolve()
        return _read_yaml_text(_read_file(path, label), label), label, str(resolved), resolved.parent
    raise ScenarioError(
        f"Unknown scenario {_short(ref_str)}: it is neither a built-in scenario "
        f"({', '.join(builtin_names())}) nor an existing file. "
        "Run `narcoflow scenarios` to list the built-in ones."
    )


def _short(value: Any, limit: int = 80) -> str:
    """``repr(value)`` (a date as written), printable and cut to ``limit`` characters."""
    text = printable(str(value) if isinstance(value, dt.date) else repr(value))
    return text if len(text) <= limit else text[: limit - 3] + "..."


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
        field = printable(_fmt_loc(loc))
        msg = printable(err["msg"].removeprefix("Value error, "))
        if err["type"] == "too_short":
            msg = "must list at least one entry (the model needs one)"
        if err["type"] == "extra_forbidden":
            msg = "unknown field (check the spelling; see docs/scenarios.md for the fields)"
        value = _lookup(raw, loc)
        if isinstance(value, dict) and "value" in value:
            value = value["value"]
        hide = value is None or err["type"] == "missing" or not loc or isinstance(value, dict | list)
        shown = "" if hide else f" (value: {_short(value)})"
        if not loc:  # cross-field checks: one line per problem
            lines += [f"{label}: {part}" for part in msg.split("\n")]
            continue
        lines.append(f"{label}: field '{field}'{shown}: {msg}")
    if len(lines) > MAX_PROBLEMS:
        lines = lines[:MAX_PROBLEMS] + [f"{label}: ... and {len(lines) - MAX_PROBLEMS} more problems"]
    return lines


def _validate(raw: dict, label: str) -> Scenario:
    try:
        return Scenario.model_validate(raw)
    except ValidationError as exc:
        problems = format_validation_error(exc, raw, label)
        raise ScenarioError("\n".join(problems)) from None


def load(ref: str | Path | Scenario, *, root: str | Path | None = None, **overrides: Any) -> Scenario:
    """Load a scenario by built-in name or YAML path; keyword overrides replace top-level fields.

    With ``root``, the file and every ``base:`` file must be built-in or lie inside ``root``
    (the dashboard's scenario folder).

    Examples
    --------
    >>> sc = load("north-korea-2011")
    >>> sc.start.year, len(sc.regions)
    (1998, 12)
    """
    if isinstance(ref, Scenario):
        raw, label = ref.model_dump(mode="json"), f"scenario {ref.name!r}"
    else:
        raw, label = _resolve_raw(ref, relative_to=None, seen=(),
                                  root=None if root is None else Path(root).resolve())
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


def with_values(scenario: Scenario, values: Mapping[str, float], *, widen: bool = False) -> Scenario:
    """A copy of ``scenario`` with the parameters at dotted paths set to new values.

    The range and source are kept; a value outside the range is an error, unless ``widen``, which
    widens the range to hold it (`narcoflow.calibration.posterior.with_draw`).
    """
    raw = scenario.model_dump(mode="json")
    for path, value in values.items():
        node, parts = raw, _split_path(path)
        for part in parts[:-1]:
            node = node[part]
        leaf = node[parts[-1]]
        if isinstance(leaf, dict) and "value" in leaf:
            leaf["value"] = float(value)
            if widen and leaf.get("range"):
                leaf["range"] = [min(leaf["range"][0], float(value)), max(leaf["range"][1], float(value))]
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
