"""``narcoflow dashboard``: a Solara web app to run scenarios and browse and compare stored runs.

Run it with ``narcoflow dashboard`` or ``solara run narcoflow.app.dashboard``. All state lives in
the components (``solara.use_state``), so every browser tab has its own; runs go to the DuckDB
file named by ``NARCOFLOW_DASHBOARD_DB`` (set by ``narcoflow dashboard --db``). This module holds
the Solara components; what the page may open, accept and store is `narcoflow.app.backend`
(every database access under one lock), how it shows numbers and tables `narcoflow.app.display`.
"""

from __future__ import annotations

import threading
from pathlib import Path

import solara
import solara.lab

from narcoflow.app.backend import (
    DB_ENV,
    DB_LOCK,
    SCENARIOS_ENV,
    db_path,
    looks_like_scenario,
    open_scenario,
    open_scenario_message,
    parse_inputs,
    run_and_save,
    scenario_choices,
    scenario_folder,
    stored_metrics,
    stored_runs,
)
from narcoflow.app.display import (
    COMPILING,
    RUN_COLUMNS,
    STARTING,
    TABLE_CSS,
    format_cell,
    progress_text,
    run_label,
    runs_table,
    table_html,
)
from narcoflow.errors import NarcoflowError
from narcoflow.experiments.levers import BASELINE, describe_levers
from narcoflow.results import store
from narcoflow.scenario import load

#: The page's rules (`narcoflow.app.backend`) and presentation (`narcoflow.app.display`) are
#: re-exported: tests, the server and scripts import them from here.
__all__ = ["COMPILING", "DB_ENV", "DB_LOCK", "RUN_COLUMNS", "SCENARIOS_ENV", "STARTING", "TABLE_CSS",
           "CompareRuns", "Downloads", "LeverSliders", "Page", "RunFigures", "Table", "db_path",
           "format_cell", "looks_like_scenario", "open_scenario", "open_scenario_message", "parse_inputs",
           "progress_text", "run_and_save", "run_label", "runs_table", "scenario_choices", "scenario_folder",
           "stored_metrics", "stored_runs", "table_html"]


@solara.component
def Table(df):
    solara.HTML(tag="div", unsafe_innerHTML=table_html(df))


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
        with DB_LOCK:
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
    frames = solara.use_memo(lambda: {c: stored_metrics(labels[c]) for c in chosen}, [tuple(chosen)])
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
    def csv_bytes():  # the file `narcoflow export` writes: with the run's policy, levers and draw
        import tempfile

        with tempfile.TemporaryDirectory(prefix="dash-") as d, DB_LOCK:
            out = store.export_metrics(db_path(), run_id, Path(d) / "m.csv")
            return Path(out).read_bytes()

    def parquet_bytes():
        import tempfile

        with tempfile.TemporaryDirectory(prefix="dash-") as d, DB_LOCK:
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
    opened_tabs, set_opened_tabs = solara.use_state(frozenset({0}))

    def show_tab(index: int) -> None:
        set_tab(index)
        set_opened_tabs(lambda seen: seen | {index})

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
    # the message and the progress sit in containers that are always there: a child that comes
    # and goes would shift the widgets after it, so Solara would close and recreate them (the
    # figures among them) on every run, and their front-end views, still syncing, would log
    # "no comm channel defined"
    with solara.Column(gap="0px"):
        if error:
            solara.Error(error)
    with solara.Column(gap="0px"):
        if progress is not None:
            pct, text = progress
            solara.Text(text)
            solara.ProgressLinear(value=True if pct is None else pct)  # True: under way, no percent yet
    runs = solara.use_memo(stored_runs, [refresh])
    if runs is None or not len(runs):
        solara.Info("No stored run yet: set the inputs and press Run.")
        return
    ids = list(runs["run_id"])
    shown = current if current in ids else ids[0]
    # tab headers only, content below: with ipyvuetify 3, solara.lab.Tabs puts tab content
    # inside the header bar
    # uncontrolled (no value=): a controlled value re-applied by a re-render that was already
    # under way (a run finishing) could snap a click back to the first tab
    with solara.lab.Tabs(on_value=show_tab):
        solara.lab.Tab("Run")
        solara.lab.Tab("Compare runs")
    # a tab's content, once opened, stays mounted and is only hidden: unmounting it would close
    # its plotly figure widgets while their views in the browser still sync (relayout), which
    # the browser logs as "no comm channel defined"
    with solara.Div(style=_shown(tab == 0)), solara.Column(style={"width": "100%"}):
        solara.Select("Stored run", values=ids, value=shown, on_value=set_current)
        Table(runs_table(runs))
        solara.Text(f"Run {shown}")
        Downloads(shown)
        RunFigures(shown)
    with solara.Div(style=_shown(tab == 1)), solara.Column(style={"width": "100%"}):
        if 1 in opened_tabs:
            CompareRuns(runs)


def _shown(visible: bool) -> dict:
    # a plain div: solara.Column's class d-flex would override display: none
    return {"width": "100%"} if visible else {"width": "100%", "display": "none"}
