"""``narcoflow dashboard``: a Solara web app to run scenarios and browse and compare stored runs.

Run it with ``narcoflow dashboard`` or ``solara run narcoflow.app.dashboard``. All state lives in
the components (``solara.use_state``), so every browser tab has its own; runs go to the DuckDB
file named by ``NARCOFLOW_DASHBOARD_DB`` (set by ``narcoflow dashboard --db``). Every database
access of the server goes through one lock: DuckDB refuses a read-only and a read-write
connection to the same file in one process, and tabs run in threads of one process.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import solara
import solara.lab

from narcoflow.errors import NarcoflowError, ScenarioError, printable
from narcoflow.experiments.levers import BASELINE, apply_levers, apply_policy, describe_levers
from narcoflow.results import store
from narcoflow.scenario import builtin_names, load
from narcoflow.settings import SCALE, SEED, YEARS

DB_ENV = "NARCOFLOW_DASHBOARD_DB"
#: The one folder scenario files may be opened from (``narcoflow dashboard --scenarios``);
#: default: the database's folder.
SCENARIOS_ENV = "NARCOFLOW_DASHBOARD_SCENARIOS"
_DB_LOCK = threading.RLock()  # one database user at a time across tabs (see the module docstring)


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

    sc = load(scenario_name)
    if policy != BASELINE:
        sc = apply_policy(sc, policy)
    if levers:
        sc = apply_levers(sc, levers, policy="dashboard")
    res = Simulation(sc, seed=seed, scale=scale, years=years).run(progress=progress).results
    with _DB_LOCK:
        return store.save(res, db or db_path())


def _runs():
    try:
        with _DB_LOCK:
            return store.list_runs(db_path())
    except Exception:  # noqa: BLE001 - no database yet
        return None


def _metrics(run_id: str):
    with _DB_LOCK:
        return store.load_metrics(db_path(), run_id)


def format_cell(value) -> str:
    """A table cell as the page shows it: thousands separators, no trailing ``.0``, 3 significant
    digits below 1, ``-`` for a missing value; text and dates unchanged."""
    import math
    import numbers

    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, bool) or not isinstance(value, numbers.Number):
        return str(value)
    v = float(value)
    if v == int(v) and abs(v) < 1e15:
        return f"{int(v):,}"
    a = abs(v)
    if a >= 100:
        return f"{v:,.0f}"
    if a >= 1:
        return f"{v:,.2f}"
    return f"{v:.3g}"


#: Style of the page's tables: as wide as the page at most, scrolled sideways when wider.
TABLE_CSS = ("<style>.nf-table{max-width:100%;overflow-x:auto;max-height:28em;overflow-y:auto}"
             ".nf-table table{border-collapse:collapse;font-size:0.9em}"
             ".nf-table th,.nf-table td{padding:2px 10px;border-bottom:1px solid #ddd;white-space:nowrap}"
             ".nf-table td.num{text-align:right}.nf-table th{text-align:left;position:sticky;top:0;"
             "background:#fafafa}</style>")


def table_html(df) -> str:
    """``df`` as an HTML table for the page: no index column, numbers formatted (`format_cell`)."""
    import html
    import numbers

    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    rows = []
    for rec in df.itertuples(index=False):
        cells = "".join(
            f"<td class='num'>{html.escape(format_cell(v))}</td>"
            if isinstance(v, numbers.Number) and not isinstance(v, bool)
            else f"<td>{html.escape(format_cell(v))}</td>" for v in rec)
        rows.append(f"<tr>{cells}</tr>")
    return (f"{TABLE_CSS}<div class='nf-table'><table><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table></div>")


@solara.component
def Table(df):
    solara.HTML(tag="div", unsafe_innerHTML=table_html(df))


#: Columns of the stored-runs table (the parameters JSON is left out).
RUN_COLUMNS = ("run_id", "scenario", "seed", "scale", "start", "steps", "created_at", "rows")


def runs_table(runs):
    """The stored runs as the page lists them: a few columns, dates without a time of day."""
    df = runs[[c for c in RUN_COLUMNS if c in runs.columns]].copy()
    if "start" in df:
        df["start"] = [str(getattr(v, "date", lambda v=v: v)()) for v in df["start"]]
    if "created_at" in df:
        df["created_at"] = [f"{v:%Y-%m-%d %H:%M}" for v in df["created_at"]]
        df = df.rename(columns={"created_at": "created (UTC)"})
    return df


STARTING = "Starting: loading the scenario and building the population..."
COMPILING = ("Starting: compiling the engine's kernels (first run only, about 40 s), then building "
             "the population...")


def progress_text(done: int, total: int) -> str:
    """What the page says while a run goes on: weeks done, or saving once the last week is done."""
    if done >= total:
        return "Saving the run..."
    return f"Running: {int(100 * done / total)} % (week {done} of {total})"


def run_label(row) -> str:
    """How a stored run is named in lists and table columns: id prefix, seed and scale."""
    return f"{row['run_id'][:10]} (seed {row['seed']}, scale {row['scale']:g}, {row['steps']} weeks)"


@solara.component
def LeverSliders(values, set_values):
    for spec in describe_levers():
        val = values.get(spec.name, spec.default)
        step = (spec.high - spec.low) / 100 if spec.high > spec.low else 0.01

        def on_change(v, name=spec.name):
            set_values({**values, name: v})

        with solara.Column(gap="0px"):
            solara.Text(f"{spec.name} = {val:g} ({spec.unit}; range {spec.low:g} to {spec.high:g})",
                        style={"font-size": "0.85em"})
            solara.SliderFloat("", value=val, min=spec.low, max=spec.high, step=step,
                               on_value=on_change)


@solara.component
def RunFigures(run_id: str):
    from narcoflow.viz.report import build_figures, load_report_data
    from narcoflow.viz.runs import outcomes_side_by_side

    def build():  # once per run shown, not on every re-render (a running tab re-renders each week)
        with _DB_LOCK:
            data = load_report_data(db_path(), run_id)
        return outcomes_side_by_side({"value": data.metrics}), build_figures(data)

    table, figs = solara.use_memo(build, [run_id])
    with solara.Column(style={"width": "100%"}):
        solara.Markdown("**Headline outcomes** (flows summed over the run, levels at its end)")
        Table(table)
        for fig in figs.values():
            solara.FigurePlotly(fig)


@solara.component
def CompareRuns(runs):
    """Pick stored runs; see their headline outcomes side by side and one quantity over time."""
    from narcoflow.viz.runs import QUANTITIES, outcomes_side_by_side, overlay_figure

    labels = {run_label(r): r["run_id"] for _, r in runs.iterrows()}
    # until the user picks, show the two newest runs (so a new run appears here at once)
    picked, set_picked = solara.use_state(None)
    quantity, set_quantity = solara.use_state("users")
    chosen = [c for c in (picked if picked is not None else list(labels)[:2]) if c in labels]
    frames = solara.use_memo(lambda: {c: _metrics(labels[c]) for c in chosen}, [tuple(chosen)])
    table = solara.use_memo(lambda: outcomes_side_by_side(frames) if frames else None, [frames])
    figure = solara.use_memo(lambda: overlay_figure(frames, quantity) if frames else None, [frames, quantity])
    with solara.Column(style={"width": "100%"}):
        solara.SelectMultiple("Runs to compare", values=chosen, all_values=list(labels),
                              on_value=set_picked)
        solara.Select("Quantity over time", values=list(QUANTITIES), value=quantity,
                      on_value=set_quantity)
        if chosen:
            Table(table)
            solara.FigurePlotly(figure)
        else:
            solara.Info("Pick one or more stored runs.")


@solara.component
def Downloads(run_id: str):
    def csv_bytes():
        return _metrics(run_id).to_csv(index=False).encode()

    def parquet_bytes():
        import tempfile

        with tempfile.TemporaryDirectory(prefix="dash-") as d, _DB_LOCK:
            out = store.export_parquet(db_path(), run_id, Path(d) / "m.parquet")
            return Path(out).read_bytes()

    with solara.Row():
        solara.FileDownload(csv_bytes, filename=f"{run_id}-metrics.csv", label="Download CSV")
        solara.FileDownload(parquet_bytes, filename=f"{run_id}-metrics.parquet",
                            label="Download Parquet")


@solara.component
def Page():
    opened, set_opened = solara.use_state(())
    choices = scenario_choices(extra=opened)
    scenario, set_scenario = solara.use_state(next(iter(choices), "north-korea-2011"))
    file_text, set_file_text = solara.use_state("")
    policy, set_policy = solara.use_state(BASELINE)
    levers, set_levers = solara.use_state({})
    scale, set_scale = solara.use_state("0.002")
    years, set_years = solara.use_state("2")
    seed, set_seed = solara.use_state("1")
    error, set_error = solara.use_state("")
    progress, set_progress = solara.use_state(None)
    current, set_current = solara.use_state("")
    refresh, set_refresh = solara.use_state(0)
    tab, set_tab = solara.use_state(0)

    def scenario_policies():  # parsed once per scenario, not on every re-render of a run
        try:
            return [BASELINE, *sorted(p for p in load(scenario).policies if p != BASELINE)], ""
        except Exception as exc:  # noqa: BLE001 - shown in the page
            return [BASELINE], str(exc)

    policies, load_error = solara.use_memo(scenario_policies, [scenario])
    if load_error and not error:
        set_error(load_error)

    last_opened = solara.use_ref(None)

    def open_file(text: str):
        # the box reports its text on Enter and again on blur: handle each text once, or the
        # second re-render could reset what the user is typing in the next box
        if text == last_opened.current:
            return
        last_opened.current = text
        set_file_text(text)
        try:
            path = open_scenario(text)
        except (NarcoflowError, ValueError) as exc:  # shown in the page: names file, field, range
            set_error(str(exc))
            return
        except Exception:  # noqa: BLE001 - never echo an unexpected error's text
            set_error("Cannot open that file.")
            return
        set_error("")
        set_opened(tuple(dict.fromkeys([*opened, path])))
        set_scenario(path)

    def start():
        try:
            s, y, sd = parse_inputs(scale, years, seed)
        except ValueError as exc:
            set_error(str(exc))
            return
        set_error("")
        from narcoflow.engine.compiled import needs_compiling

        set_progress((None, COMPILING if needs_compiling() else STARTING))

        shown_pct = [-1]

        def report(done: int, total: int) -> None:
            # a re-render per whole percent, not per simulated week (939 in a full run)
            pct = int(100 * done / total)
            if pct != shown_pct[0] or done >= total:
                shown_pct[0] = pct
                set_progress((float(pct), progress_text(done, total)))

        def work():
            try:
                rid = run_and_save(scenario, policy, levers, s, y, sd, progress=report)
                set_current(rid)
                set_refresh(lambda r: r + 1)
            except Exception as exc:  # noqa: BLE001 - shown in the page, stored runs untouched
                set_error(f"Run failed: {exc}")
            finally:
                set_progress(None)

        threading.Thread(target=work, daemon=True).start()

    solara.Title("narcoflow dashboard")
    with solara.Sidebar():
        labels = {v: k for k, v in choices.items()}
        solara.Select("Scenario", values=list(choices), value=labels.get(scenario, next(iter(choices))),
                      on_value=lambda label: set_scenario(choices[label]))
        solara.InputText("...or open a scenario file (YAML path, Enter)", value=file_text,
                         on_value=open_file, continuous_update=False)
        solara.Select("Policy", values=policies, value=policy if policy in policies else BASELINE,
                      on_value=set_policy)
        # continuous_update: the value is the page's as it is typed, so a click on Run right
        # after typing (no Enter, no blur first) runs with what the box shows
        solara.InputText("Scale (share of population, (0, 1])", value=scale, on_value=set_scale,
                         continuous_update=True)
        solara.InputText("Years", value=years, on_value=set_years, continuous_update=True)
        solara.InputText("Seed", value=seed, on_value=set_seed, continuous_update=True)
        solara.Button("Run", on_click=start, disabled=progress is not None, color="primary")
        with solara.Details("Levers"):
            LeverSliders(levers, set_levers)
    solara.Markdown("# narcoflow dashboard")
    if error:
        solara.Error(error)
    if progress is not None:
        pct, text = progress
        solara.Text(text)
        solara.ProgressLinear(value=True if pct is None else pct)  # True: under way, no percent yet
    runs = solara.use_memo(_runs, [refresh])
    if runs is None or not len(runs):
        solara.Info("No stored run yet: set the inputs and press Run.")
        return
    ids = list(runs["run_id"])
    shown = current if current in ids else ids[0]
    # tab headers only, content below: with ipyvuetify 3, solara.lab.Tabs puts tab content
    # inside the header bar
    # uncontrolled (no value=): a controlled value re-applied by a re-render that was already
    # under way (a run finishing) could snap a click back to the first tab
    with solara.lab.Tabs(on_value=set_tab):
        solara.lab.Tab("Run")
        solara.lab.Tab("Compare runs")
    with solara.Column(style={"width": "100%"}):
        if tab == 0:
            solara.Select("Stored run", values=ids, value=shown, on_value=set_current)
            Table(runs_table(runs))
            solara.Text(f"Run {shown}")
            Downloads(shown)
            RunFigures(shown)
        else:
            CompareRuns(runs)
