"""What a calibration gives: posterior intervals, the posterior predictive check and the
calibrated scenario file (``base:`` the original, posterior medians as values, intervals as ranges).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from narcoflow import DEFAULT_SCALE
from narcoflow.calibration.model import Model
from narcoflow.calibration.targets import Targets, check_period
from narcoflow.errors import NarcoflowError
from narcoflow.scenario import uncertain_parameters


def intervals(posterior: pd.DataFrame, generation: int | None = None, level: float = 0.9) -> pd.DataFrame:
    """Weighted median and central ``level`` interval (default 90 %: the 5 % and 95 % weighted
    quantiles) per parameter of the last (or given) generation."""
    if not 0 < level < 1:
        raise NarcoflowError(f"Interval level must lie in (0, 1), not {level}")
    g = posterior["generation"].max() if generation is None else generation
    rows = []
    for p, d in posterior[posterior["generation"] == g].groupby("parameter", sort=False):
        d = d.sort_values("value")
        cw = np.cumsum(d["weight"].to_numpy()) / d["weight"].sum()
        v = d["value"].to_numpy()
        q = [float(v[min(np.searchsorted(cw, x), len(v) - 1)]) for x in ((1 - level) / 2, 0.5, (1 + level) / 2)]
        rows.append({"parameter": p, "low": q[0], "median": q[1], "high": q[2]})
    return pd.DataFrame(rows, columns=["parameter", "low", "median", "high"])


def predictive_check(scenario, targets: Targets, posterior: pd.DataFrame, *, draws: int = 10,
                     scale: float = DEFAULT_SCALE, years: float | None = None, seed: int = 0) -> pd.DataFrame:
    """Posterior predictive check: runs at weighted posterior draws, one row per target.

    Draw k runs with seed ``seed + k``, so repeated draws of one particle differ: the interval
    includes the model's own randomness. Waiting targets get no row. Columns: target, role (fitted
    or floor: `Target.role`), observed, predicted_median, predicted_low,
    predicted_high (90 %), inside (the median is within one tolerance of the band), unreachable
    (the whole predictive interval lies more than one tolerance outside it), message, and the
    target's band_low, band_high, tolerance (relative), unit, years, source, reliability, draws.
    """
    check_period(targets, scenario, years)
    g = posterior[posterior["generation"] == posterior["generation"].max()]
    wide = g.pivot_table(index="particle", columns="parameter", values="value")
    w = g.groupby("particle")["weight"].first().reindex(wide.index).to_numpy()
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(wide), size=draws, p=w / w.sum())
    params = list(wide.columns)
    model = Model(scenario, targets, params, scale, years)
    sims = [model.run({p: float(wide.iloc[k][p]) for p in params}, seed + j) for j, k in enumerate(picks)]
    rows = []
    for t in targets.compared:  # waiting targets are compared with nothing
        vals = np.array([s[t.name] for s in sims])
        lo, med, hi = (float(x) for x in np.quantile(vals, [0.05, 0.5, 0.95]))
        blo, bhi, tol = t.band()
        tlo, thi = t.tolerance_band()
        unreachable = bool(lo > thi or hi < tlo)
        obs = t.observed_text()
        msg = (f"Target {t.name!r} is not reached: observed {obs} {t.unit}, the model produces "
               f"{med:.4g} (90 % {lo:.4g}-{hi:.4g})") if unreachable else ""
        yrs = f"{t.years[0]}" if t.years[0] == t.years[1] else f"{t.years[0]}-{t.years[1]}"
        rows.append({"target": t.name, "role": t.role, "observed": obs, "predicted_median": med, "predicted_low": lo,
                     "predicted_high": hi, "inside": t.distance(med) <= 1,
                     "unreachable": unreachable, "message": msg, "band_low": float(blo),
                     "band_high": float(bhi), "tolerance": float(tol), "unit": t.unit, "years": yrs,
                     "source": t.source, "reliability": t.reliability, "draws": int(draws)})
    return pd.DataFrame(rows)


def _flow_style_numbers(dumper, data: list):
    flow = bool(data) and len(data) <= 4 and all(isinstance(x, int | float | str) for x in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


def _flow_ranges_dumper():
    import yaml

    class FlowRanges(yaml.SafeDumper):
        """Short lists of scalars (ranges, region lists) on one line."""

    FlowRanges.add_representer(list, _flow_style_numbers)
    return FlowRanges


def _bare_defaults(node):
    """A parameter the original leaves at its default (no range, no source) as a bare value, so
    that lists repeated whole do not show empty sources."""
    if isinstance(node, dict):
        if set(node) == {"value", "range", "source"} and node["range"] is None and not node["source"]:
            return node["value"]
        return {k: _bare_defaults(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_bare_defaults(v) for v in node]
    return node


def write_scenario(scenario, posterior: pd.DataFrame, path: str | Path, *, base: str, calibration_id: str,
                   targets_label: str) -> Path:
    """Write a calibrated scenario: ``base:`` the original, posterior medians, 90 % intervals as ranges.

    ``base`` is how the original is named: a built-in name, or a path (written relative to the new
    file's folder). A parameter inside a list (``events[1].multiplier``) is written as the whole
    list, because ``base:`` merging replaces lists wholesale; each list element keeps every other
    field of the original. The file is loaded back and validated before this returns.
    """
    import copy

    import yaml

    from narcoflow.scenario import load
    from narcoflow.scenario.loader import _split_path, builtin_names

    _FlowRanges = _flow_ranges_dumper()
    path = Path(path)
    iv = intervals(posterior)
    if iv.empty:
        raise NarcoflowError("The posterior is empty: nothing to write")
    raw = scenario.model_dump(mode="json")
    work = copy.deepcopy(raw)
    unc = uncertain_parameters(scenario)
    tops: list[list] = []
    for r in iv.itertuples(index=False):
        parts = _split_path(r.parameter)
        node = work
        for part in parts[:-1]:
            node = node[part]
        source = unc[r.parameter].source if r.parameter in unc else ""
        note = f"calibrated {calibration_id} against {targets_label}"
        node[parts[-1]] = {"value": float(r.median), "range": [float(r.low), float(r.high)],
                           "source": f"{source}; {note}" if source else note}
        first_index = next((i for i, p in enumerate(parts) if isinstance(p, int)), None)
        tops.append(parts if first_index is None else parts[:first_index])
    override: dict[str, Any] = {}
    for top in tops:
        src, dst = work, override
        for part in top[:-1]:
            src = src[part]
            dst = dst.setdefault(part, {})
        dst[top[-1]] = copy.deepcopy(src[top[-1]])
    override = _bare_defaults(override)
    if base in builtin_names() and not Path(base).is_file():
        base_ref = base
    else:
        base_ref = os.path.relpath(Path(base).resolve(), path.resolve().parent)
    doc = {"base": base_ref, "name": f"{scenario.name}-calibrated",
           "description": f"{scenario.name} with {len(iv)} parameters calibrated ({calibration_id}, targets "
                          f"{targets_label}): posterior medians as values, 90 % intervals as ranges.",
           **override}
    header = (f"# Calibrated scenario written by narcoflow calibrate ({calibration_id}).\n"
              "# Values: weighted posterior medians of the last generation; ranges: posterior 90 % intervals.\n"
              "# Lists are repeated whole (base: merging replaces lists).\n")
    try:
        path.write_text(header + yaml.dump(doc, Dumper=_FlowRanges, sort_keys=False, allow_unicode=True, width=120))
    except OSError as exc:
        raise NarcoflowError(f"Cannot write the calibrated scenario {path} ({exc.strerror or exc})") from None
    load(path)  # raises a ScenarioError naming the field if the file does not validate
    return path
