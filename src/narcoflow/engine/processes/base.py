"""The process interface: a small unit with ``init(sim)`` and ``step(sim)``.

``init`` reads the scenario and is idempotent; ``populate`` (optional) creates the initial
population once, right after ``init``. A process describes itself, so a reader sees in one place
what it does and what it touches:

- ``claims``: the report claims (S1-S14) it implements;
- ``params``: the scenario parameters its rule uses, as dotted paths into the schema
  (``border.crossings[].guard_corruption``: ``[]`` means every element of the list);
- ``reads`` / ``writes``: the shared simulation state it reads and changes (names in
  `Simulation.STATE`; state it changes need not be repeated in ``reads``);
- ``records``: the metrics it records;
- ``streams``: the random streams it draws from (default: its own, ``sim.rng(name)`` and
  ``sim.draws(name)``).

`narcoflow.testing.check_process` verifies every declaration against what the process does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from narcoflow.engine.simulation import Simulation


class Process:
    name: str = "process"
    claims: tuple[str, ...] = ()
    params: tuple[str, ...] = ()
    reads: tuple[str, ...] = ()
    writes: tuple[str, ...] = ()
    records: tuple[str, ...] = ()
    streams: tuple[str, ...] = ()

    def init(self, sim: Simulation) -> None:
        """Set up the process from the scenario before the first step (default: nothing).

        Idempotent: calling it again leaves the process and the state as calling it once (a
        process that draws here restarts its streams first, `Simulation.restart_streams`).
        """

    def populate(self, sim: Simulation) -> None:
        """Create the process's initial population (actors, users, flags), once per run, right
        after its ``init`` (default: nothing). Not idempotent: it adds to the state."""

    def step(self, sim: Simulation) -> None:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(claims={','.join(self.claims) or '-'})"
