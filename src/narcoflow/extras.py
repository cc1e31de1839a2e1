"""Optional parts of narcoflow and the extra that installs each.

A core install (``pip install narcoflow``) runs, stores, compares and reports on scenarios. The
dashboard, calibration, cluster workers, static images and EMA Workbench need packages installed
by an extra; `require` imports such a package or raises `MissingExtraError`, a `NarcoflowError`
whose message names the extra, so the command line prints one red line instead of a traceback.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from types import ModuleType

from narcoflow.errors import NarcoflowError

#: Optional module -> (extra that installs it, what needs it).
EXTRAS: dict[str, tuple[str, str]] = {
    "solara": ("dashboard", "the dashboard (`narcoflow dashboard`)"),
    "anywidget": ("dashboard", "the dashboard (`narcoflow dashboard`)"),
    "pyabc": ("calibration", "calibration (`narcoflow calibrate`)"),
    "sklearn": ("calibration", "history matching's emulators (`narcoflow history-match`)"),
    "dask_jobqueue": ("cluster", "running Dask workers as SLURM/PBS jobs"),
    "kaleido": ("images", "writing static images (`narcoflow report --format png|svg`)"),
    "ema_workbench": ("ema", "exploratory modelling with EMA Workbench (`narcoflow.experiments.ema`)"),
}


class MissingExtraError(NarcoflowError, ImportError):
    """An optional package is not installed; the message names the extra that installs it."""


def missing_message(module: str) -> str:
    extra, feature = EXTRAS[module]
    return (f"{feature} needs the Python package {module!r}, which is not installed. Install "
            f"the '{extra}' extra: pip install 'narcoflow[{extra}]' (or 'narcoflow[all]').")


def available(module: str) -> bool:
    """Whether ``module`` can be imported, without importing it."""
    if module in sys.modules:
        return sys.modules[module] is not None
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def check(*modules: str) -> None:
    """Raise `MissingExtraError` for the first of ``modules`` that is not installed (no import)."""
    for module in modules:
        if not available(module):
            raise MissingExtraError(missing_message(module))


def require(module: str) -> ModuleType:
    """Import the optional ``module`` (a key of `EXTRAS`), or raise `MissingExtraError`."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        if exc.name is not None and exc.name.split(".")[0] != module:
            raise  # the package is there but one of its own dependencies is broken
        raise MissingExtraError(missing_message(module)) from None
