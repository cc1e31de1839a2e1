"""Provenance of a run: the policy, the lever settings and the parameter draw that made it.

A run's id hashes its scenario (after the policy and any draw were applied), seed, scale and
length, so two runs with seed 1 and scale 0.002 under different policies have different ids
but look alike in a listing. `attach` writes three keys into a run's ``info`` (never part of
its id, so results and ids do not change): ``policy`` (a name: ``baseline``, a policy of the
scenario, ``NAME+custom`` when lever settings were added to it; None when unknown),
``levers`` (lever name -> ``{value, start, end, regions}``, empty for the baseline) and
``draw`` (None, or ``{source, index, ...,  values}``: the parameter set a comparison over
parameter uncertainty or a sweep point gave the run). The store keeps them in columns of table
``runs`` (`narcoflow.results.store`); `narcoflow runs`, the dashboard and exported files show them.

Examples
--------
>>> levers_text({"china_interdiction": {"value": 2.0, "start": "2010-01-01"}})
'china_interdiction x2 (2010-01-01..end)'
>>> draw_text({"source": "posterior", "index": 3, "source_draw": 17, "file": "nk.posterior.csv",
...            "values": {"a": 1.0}})
'posterior #3 (draw 17 of nk.posterior.csv)'
>>> draw_text({"source": "set", "values": {"state.siphon_rate": 0.1}})
'set state.siphon_rate=0.1'
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

#: The ``info`` keys (and ``runs`` columns) that say how a run was made.
KEYS = ("policy", "levers", "draw")


def lever_json(setting: Any) -> dict[str, Any]:
    """A lever setting (`narcoflow.scenario.policy.LeverSetting`, a number or a mapping) as
    plain JSON: ``{value[, start][, end][, regions]}``."""
    if hasattr(setting, "model_dump"):
        setting = setting.model_dump(mode="json", exclude={"lever"})
    if not isinstance(setting, Mapping):
        return {"value": float(setting)}
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in setting.items()
            if v is not None and k != "lever"}


def attach(info: dict[str, Any], *, policy: str | None, levers: Mapping[str, Any] | None = None,
           draw: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Write ``policy``, ``levers`` and ``draw`` into a run's ``info`` (in place; returned)."""
    info["policy"] = policy
    info["levers"] = {k: lever_json(v) for k, v in (levers or {}).items()}
    info["draw"] = dict(draw) if draw else None
    return info


def with_extra(policy: str | None, levers: Mapping[str, Any],
               extra: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """The provenance name and levers of a run made with ``policy`` (its resolved ``levers``) and
    then ``extra`` lever settings on top (`narcoflow run --lever`, the dashboard's sliders):
    ``NAME+custom``, with an extra setting of a lever the policy also sets kept apart as
    ``LEVER+custom`` (both apply, one after the other)."""
    name = policy or "baseline"
    if not extra:
        return name, dict(levers)
    out = dict(levers)
    for k, v in extra.items():
        out[f"{k}+custom" if k in out else k] = v
    return f"{name}+custom", out


def _loads(value: Any) -> Any:
    if value is None or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return None
    return value


def levers_text(levers: Any) -> str:
    """``name xVALUE (start..end; regions)`` per lever, ``; ``-separated; empty for none.

    ``levers``: a mapping lever -> setting, or its JSON text (as stored)."""
    levers = _loads(levers) or {}
    parts = []
    for name, s in levers.items():
        s = lever_json(s)
        extra = []
        if s.get("start") or s.get("end"):
            extra.append(f"{s.get('start') or 'start'}..{s.get('end') or 'end'}")
        if s.get("regions"):
            extra.append(", ".join(s["regions"]))
        parts.append(f"{name} x{float(s['value']):g}" + (f" ({'; '.join(extra)})" if extra else ""))
    return "; ".join(parts)


def draw_text(draw: Any) -> str:
    """A short description of a parameter draw (or its JSON text); empty for none."""
    draw = _loads(draw)
    if not draw:
        return ""
    source = draw.get("source", "draw")
    if source in ("posterior", "ranges"):
        where = ""
        if source == "posterior":
            file = str(draw.get("file") or "").replace("\\", "/").rsplit("/", 1)[-1]
            row = draw.get("source_draw")
            where = f" (draw {row} of {file})" if row is not None and file else f" ({file})" if file else ""
        return f"{source} #{draw.get('index', '?')}{where}"
    values = draw.get("values") or {}
    return f"{source} " + ", ".join(f"{k}={float(v):g}" for k, v in values.items())


def describe(info: Mapping[str, Any]) -> str:
    """``policy``, then its lever settings and draw, in one line (``-`` when unknown)."""
    policy = info.get("policy")
    text = str(policy) if policy else "-"
    levers, draw = levers_text(info.get("levers")), draw_text(info.get("draw"))
    return text + (f": {levers}" if levers else "") + (f"; {draw}" if draw else "")
