"""The simulation engine: state arrays, ordered processes, ledger, named random streams."""

from narcoflow.engine.processes import PROCESS_ORDER, default_processes
from narcoflow.engine.simulation import AlreadyRunError, Simulation

__all__ = ["PROCESS_ORDER", "AlreadyRunError", "Simulation", "default_processes"]
