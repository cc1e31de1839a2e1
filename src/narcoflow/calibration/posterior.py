"""A posterior sample: the weighted parameter sets a calibration kept, as a small CSV file that
later work draws from (estimates and policy comparisons over parameter uncertainty, issue 15).

The file sits next to its scenario and is named after it: ``<scenario>.posterior.csv`` (for a
built-in scenario, in the package beside its YAML). Columns: ``draw`` (0..n-1), ``weight``
(>= 0, any scale) and one column per parameter, named by its dotted path
(`narcoflow.scenario.uncertain_parameters`). Without a posterior, `sample_ranges` draws a Latin
hypercube over the scenario's own ranges (uniform: the ranges are the prior).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from narcoflow.errors import NarcoflowError

SUFFIX = ".posterior.csv"


def posterior_file(ref: str | Path) -> Path | None:
    """The posterior sample shipped with a scenario (built-in name or YAML path), or None."""
    from importlib import resources

    from narcoflow.scenario.loader import _BUILTIN_PACKAGE, builtin_names

    p = Path(str(ref))
    if p.suffix in (".yaml", ".yml") and p.is_file():
        cand = p.with_name(p.stem + SUFFIX)
        return cand if cand.is_file() else None
    if str(ref) in builtin_names():
        res = resources.files(_BUILTIN_PACKAGE).joinpath(f"{ref}{SUFFIX}")
        return Path(str(res)) if res.is_file() else None
    return None


def read_posterior(path: str | Path, scenario=None) -> pd.DataFrame:
    """Read and check a posterior sample (wide: draw, weight, one column per parameter).

    With ``scenario``, every parameter column must be one of its uncertain parameters.
    """
    path = Path(path)
    try:
        frame = pd.read_csv(path, comment="#")
    except FileNotFoundError:
        raise NarcoflowError(f"Posterior sample {path} does not exist") from None
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise NarcoflowError(f"Cannot read the posterior sample {path}: {exc}") from None
    for col in ("draw", "weight"):
        if col not in frame.columns:
            raise NarcoflowError(f"{path}: column {col!r} is missing (columns: draw, weight, parameters...)")
    params = [c for c in frame.columns if c not in ("draw", "weight")]
    if not params or frame.empty:
        raise NarcoflowError(f"{path}: no parameter columns or no rows")
    values = frame[["weight", *params]].apply(pd.to_numeric, errors="coerce")
    bad = values.columns[values.isna().any()].tolist()
    if bad:
        raise NarcoflowError(f"{path}: column(s) {', '.join(bad)} must be numbers in every row")
    w = values["weight"].to_numpy()
    if (w < 0).any() or w.sum() <= 0:
        raise NarcoflowError(f"{path}: 'weight' must be >= 0 with a positive sum")
    if scenario is not None:
        from narcoflow.scenario import uncertain_parameters

        unknown = [p for p in params if p not in uncertain_parameters(scenario)]
        if unknown:
            raise NarcoflowError(f"{path}: not uncertain parameters of scenario {scenario.name!r}: "
                                 f"{', '.join(unknown)}")
    out = values.copy()
    out.insert(0, "draw", np.arange(len(out)))
    return out


def export_posterior(posterior: pd.DataFrame, path: str | Path, *, generation: int | None = None,
                     header: str = "") -> Path:
    """Write the last (or given) generation of a calibration's long posterior table
    (`narcoflow.calibration.load_calibration`) as a posterior sample file."""
    g = posterior["generation"].max() if generation is None else generation
    d = posterior[posterior["generation"] == g]
    wide = d.pivot_table(index="particle", columns="parameter", values="value", sort=False)
    weight = d.groupby("particle")["weight"].first().reindex(wide.index)
    out = wide.reset_index(drop=True)
    out.insert(0, "weight", (weight / weight.sum()).to_numpy())
    out.insert(0, "draw", np.arange(len(out)))
    path = Path(path)
    text = "".join(f"# {line}\n" for line in header.splitlines()) + out.to_csv(index=False, float_format="%.10g")
    path.write_text(text)
    return path


def draw_parameter_sets(posterior: pd.DataFrame, n: int, seed: int = 0) -> pd.DataFrame:
    """``n`` parameter sets resampled by weight (with replacement), reproducible by ``seed``.

    Returns one row per draw (index 0..n-1) with the parameter columns and ``source_draw``,
    the row of the posterior it came from.
    """
    if n < 1:
        raise NarcoflowError(f"Number of draws must be >= 1, not {n}")
    params = [c for c in posterior.columns if c not in ("draw", "weight")]
    w = posterior["weight"].to_numpy(dtype=float)
    rng = np.random.default_rng([int(seed), 0x5057])
    picks = rng.choice(len(posterior), size=n, p=w / w.sum())
    out = posterior.iloc[picks][params].reset_index(drop=True)
    out["source_draw"] = posterior["draw"].to_numpy()[picks]
    return out


def sample_ranges(scenario, n: int, seed: int = 0, params: list[str] | None = None) -> pd.DataFrame:
    """``n`` parameter sets from a Latin hypercube over the ranges of ``params`` (default: every
    uncertain parameter of the scenario), uniform in each range: the ranges taken as the prior."""
    from scipy.stats import qmc

    from narcoflow.scenario import uncertain_parameters

    if n < 1:
        raise NarcoflowError(f"Number of draws must be >= 1, not {n}")
    unc = uncertain_parameters(scenario)
    params = list(params or unc)
    missing = [p for p in params if p not in unc]
    if missing:
        raise NarcoflowError(f"Not uncertain parameters of scenario {scenario.name!r}: {', '.join(missing)}")
    if not params:
        raise NarcoflowError(f"Scenario {scenario.name!r} has no uncertain parameters (no ranges) to draw")
    lo = np.array([unc[p].range[0] for p in params], dtype=float)
    hi = np.array([unc[p].range[1] for p in params], dtype=float)
    u = qmc.LatinHypercube(d=len(params), seed=np.random.default_rng([int(seed), 0x4C48])).random(n)
    return pd.DataFrame(lo + u * (hi - lo), columns=params)


def with_draw(scenario, values: dict[str, float]):
    """``scenario`` with parameters set to a posterior draw.

    Unlike `narcoflow.scenario.loader.with_values`, a value outside a parameter's range widens the
    range to include it: a calibrated scenario's ranges are posterior 90 % intervals, so about one
    draw in ten lies outside some of them, and that is not an error.
    """
    from narcoflow.scenario.loader import with_values

    try:
        return with_values(scenario, {p: float(v) for p, v in values.items()}, widen=True)
    except (KeyError, IndexError, TypeError):
        raise NarcoflowError(f"Scenario {scenario.name!r} has no parameter at one of these paths: "
                             f"{', '.join(map(repr, values))}") from None
