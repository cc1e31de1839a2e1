"""What the dashboard does besides drawing: the files it may open, the run inputs it accepts,
and the runs it makes and reads, every database access under one lock.

Kept apart from the Solara components (`narcoflow.app.dashboard`) so that these rules can be
tested and read without a browser. Every database access of the server goes through `DB_LOCK`:
DuckDB refuses a read-only and a read-write connection to the same file in one process, and tabs
run in threads of one process.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from narcoflow.errors import NarcoflowError, ScenarioError, printable
from narcoflow.experiments.levers import BASELINE, apply_levers, apply_policy
from narcoflow.results import store
from narcoflow.scenario import builtin_names, load
from narcoflow.settings import SCALE, SEED, YEARS

DB_ENV = "NARCOFLOW_DASHBOARD_DB"
#: The one folder scenario files may be opened from (``narcoflow dashboard --scenarios``);
#: default: the database's folder.
SCENARIOS_ENV = "NARCOFLOW_DASHBOARD_SCENARIOS"
DB_LOCK = threading.RLock()  # one database user at a time across tabs (see the module docstring)



def db_path() -> Path:
    return Path(os.environ.get(DB_ENV, store.DEFAULT_DB))


def scenario_folder(db: Path | None = None) -> Path:
    """The folder the page may open scenario files from: ``NARCOFLOW_DASHBOARD_SCENARIOS`` if
    set, else the database's folder. Nothing outside it (and no built-in base) is ever read."""
    folder = os.environ.get(SCENARIOS_ENV)
    return Path(folder).resolve() if folder else Path(db or db_path()).resolve().parent


def scenario_choices(db: Path | None = None, extra: tuple[str, ...] = ()) -> dict[str, str]:
    """Scenarios the page offers, label -> name or path: the built-in ones, the calibrated
    scenario files next to the database (``*.scenario.yaml``, what ``narcoflow calibrate``
    writes) and any files the user opened in this page (``extra``)."""
    choices = {name: name for name in builtin_names()}
    folder = scenario_folder(db)
    files = sorted(folder.glob("*.scenario.yaml")) if folder.is_dir() else []
    for path in [*files, *(Path(e) for e in extra)]:
        choices.setdefault(path.name, str(path))
    return choices


def open_scenario(path: str, folder: Path | None = None) -> str:
    """Check a scenario file the user typed; returns its resolved path.

    Only ``.yaml``/``.yml`` files inside `scenario_folder` (``folder``) are opened, and their
    ``base:`` files must be built-in scenarios or lie in that folder too. A file that is missing,
    unreadable, outside the folder or not a scenario (no ``name`` or ``base`` at the top) gets
    one and the same answer, which shows nothing of its content; a scenario file of the folder
    that does not validate gets the usual problems (file, field, allowed range).
    """
    text = path.strip()
    if not text:
        raise ValueError("Type the path of a scenario YAML file.")
    folder = (folder or scenario_folder()).resolve()
    refusal = ScenarioError(
        f"Cannot open {printable(text)[:200]}: the dashboard opens the built-in scenarios and "
        f"scenario files (.yaml) in {printable(str(folder))} only.")
    try:
        target = Path(text).expanduser()
        target = (target if target.is_absolute() else folder / target).resolve()
        ok = (target.is_relative_to(folder) and target.suffix.lower() in (".yaml", ".yml")
              and target.is_file() and looks_like_scenario(target))
    except (OSError, ValueError, RuntimeError):
        ok = False
    if not ok:
        raise refusal
    load(target, root=folder)
    return str(target)


def looks_like_scenario(path: Path) -> bool:
    """Whether ``path`` parses as a YAML mapping with ``name`` or ``base`` at its top level
    (read with the loader's limits; False on any problem)."""
    from narcoflow.scenario.loader import _read_file, _read_yaml_text

    try:
        data = _read_yaml_text(_read_file(path, "file"), "file")
    except (NarcoflowError, OSError, ValueError):
        return False
    return "name" in data or "base" in data


def open_scenario_message(path: str, folder: Path | None = None) -> str:
    """What the page shows after the user typed ``path``: the error text, or "" if it opened."""
    try:
        open_scenario(path, folder)
    except (NarcoflowError, ValueError) as exc:
        return str(exc)
    return ""


def parse_inputs(scale: str, years: str, seed: str) -> tuple[float, float, int]:
    """Validate the run inputs (ranges from `narcoflow.settings`); raises ValueError with a message
    for the page."""
    try:
        s = float(scale)
    except ValueError:
        raise ValueError(f"Scale {scale!r} is not a number.") from None
    SCALE.check(s, "Scale")
    try:
        y = float(years)
    except ValueError:
        raise ValueError(f"Years {years!r} is not a number.") from None
    YEARS.check(y, "Years")
    try:
        sd = int(seed)
    except ValueError:
        raise ValueError(f"Seed {seed!r} is not an integer.") from None
    SEED.check(sd, "Seed")
    return s, y, sd


def run_and_save(scenario_name: str, policy: str, levers: dict[str, float], scale: float,
                 years: float, seed: int, progress=None, db: Path | None = None) -> str:
    """Run the scenario with the policy and lever values, save it, return the run id."""
    from narcoflow.engine import Simulation
    from narcoflow.experiments.levers import resolve_policy
    from narcoflow.results.provenance import attach, with_extra
    from narcoflow.scenario.policy import LEVERS

    sc = load(scenario_name)
    settings = resolve_policy(policy, sc.policies)
    if policy != BASELINE:
        sc = apply_policy(sc, policy)
    if levers:
        sc = apply_levers(sc, levers, policy="dashboard")
    res = Simulation(sc, seed=seed, scale=scale, years=years).run(progress=progress).results
    custom = {k: v for k, v in levers.items() if k in LEVERS and v != LEVERS[k].default}
    name, used = with_extra(policy, settings, custom)
    attach(res.info, policy=name, levers=used)  # shown in the runs table and Compare view
    with DB_LOCK:
        return store.save(res, db or db_path())


def stored_runs():
    """The stored runs of the page's database (None while there is no database yet)."""
    try:
        with DB_LOCK:
            return store.list_runs(db_path())
    except Exception:  # noqa: BLE001 - no database yet
        return None


def stored_metrics(run_id: str):
    """The metrics of a stored run of the page's database."""
    with DB_LOCK:
        return store.load_metrics(db_path(), run_id)
