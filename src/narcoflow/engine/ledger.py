"""The conservation ledger: every gram produced is, at every step, in exactly one place.

produced = stocks (state + actors) + in transit + consumed + seized + delivered abroad.
Checked after every step; a violation is a bug and raises `ConservationError`. A quantity that
is not finite (NaN or infinity, from parameters whose products overflow) is a violation too:
``abs(nan) > tol`` is False, so it is tested for explicitly and the run stops at the first such step.
"""

from __future__ import annotations

import numpy as np

from narcoflow.engine.bundles import BundledTable
from narcoflow.errors import ConservationError


class Ledger(BundledTable):
    """Grams per drug produced, consumed, seized and delivered abroad since the start; kernels
    that move product out of the market add to it through ``ledger.cols``."""

    COLUMNS = {"produced": (np.float64, 1), "consumed": (np.float64, 1), "seized": (np.float64, 1),
               "delivered": (np.float64, 1)}

    def __init__(self, n_drugs: int):
        self.produced = np.zeros(n_drugs)
        self.consumed = np.zeros(n_drugs)
        self.seized = np.zeros(n_drugs)
        self.delivered = np.zeros(n_drugs)

    def check(self, step: int, stocks: np.ndarray, in_transit: np.ndarray, rtol: float = 1e-9) -> None:
        """Raise `ConservationError` if the per-drug balance is off by more than ``rtol``, or if
        any quantity is NaN or infinite."""
        parts = {"produced": self.produced, "consumed": self.consumed, "seized": self.seized,
                 "delivered abroad": self.delivered, "stocks": stocks, "in transit": in_transit}
        bad = [name for name, v in parts.items() if not np.isfinite(v).all()]
        if bad:
            raise ConservationError(
                f"non-finite quantities (NaN or infinity) at step {step} in: {', '.join(bad)} "
                f"(produced {self.produced.tolist()}, stocks {np.asarray(stocks).tolist()}); "
                "the run was stopped and nothing was saved. A scenario parameter is probably so "
                "large that a product overflows; check the values against docs/scenarios.md"
            )
        accounted = stocks + in_transit + self.consumed + self.seized + self.delivered
        gap = self.produced - accounted
        tol = rtol * np.maximum(1.0, self.produced)
        if (np.abs(gap) > tol).any() or (stocks < -tol).any() or (in_transit < -tol).any():
            raise ConservationError(
                f"gram ledger out of balance at step {step}: produced {self.produced.tolist()}, "
                f"accounted {accounted.tolist()} (stocks {stocks.tolist()}, in transit "
                f"{in_transit.tolist()}); this is a bug in a process, please report it"
            )
