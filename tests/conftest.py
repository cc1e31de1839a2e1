"""Shared helpers: small, fast runs of the built-in scenario with overrides."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import narcoflow as nf
from narcoflow.scenario import load, with_values

SMALL = 0.002  # 48,000 simulated persons


def scenario(values: dict | None = None, **top):
    """The built-in scenario with parameter values (dotted paths) and top-level fields replaced."""
    sc = load("north-korea-2011", **top) if top else load("north-korea-2011")
    return with_values(sc, values) if values else sc


def run(values: dict | None = None, *, seed: int = 1, scale: float = SMALL, years: float = 4, **top):
    return nf.run(scenario(values, **top), seed=seed, scale=scale, years=years)


def conservation_gap(metrics: pd.DataFrame) -> float:
    """Largest relative gap, over steps and drugs, of produced = stock + transit + out-flows."""
    def per_step(metric):
        d = metrics[metrics["metric"] == metric]
        return d.pivot_table(index="step", columns="drug", values="value", aggfunc="sum")

    steps = np.sort(metrics["step"].unique())
    produced = per_step("produced_g").reindex(steps).fillna(0).cumsum()
    out = sum(per_step(m).reindex(index=steps, columns=produced.columns).fillna(0)
              for m in ("consumed_g", "seized_g", "delivered_abroad_g")).cumsum()
    levels = sum(per_step(m).reindex(index=steps, columns=produced.columns).fillna(0)
                 for m in ("stock_g", "in_transit_g"))
    gap = (produced - levels - out).abs().to_numpy()
    return float((gap / np.maximum(produced.to_numpy(), 1.0)).max())


@pytest.fixture(scope="session")
def baseline():
    """One 18-year run of north-korea-2011 at small scale, shared by tests that only read it."""
    return nf.run("north-korea-2011", seed=3, scale=SMALL)
