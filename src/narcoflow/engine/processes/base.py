"""The process interface: a small unit with ``init(sim)`` and ``step(sim)``.

Each process names the report claims (S1-S14) it implements in ``claims`` and draws random
numbers only from its own stream ``sim.rng(self.name)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from narcoflow.engine.simulation import Simulation


class Process:
    name: str = "process"
    claims: tuple[str, ...] = ()

    def init(self, sim: Simulation) -> None:
        """Set up state before the first step (default: nothing)."""

    def step(self, sim: Simulation) -> None:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(claims={','.join(self.claims) or '-'})"
