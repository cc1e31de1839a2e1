"""Compact HTML summaries of `Results` and `Simulation` for Jupyter (their ``_repr_html_``).

A few lines of identity (run id, scenario, seed, scale, period), the key numbers of the printed
summary, and the parameters folded away in a ``<details>`` element, so a notebook cell that ends
with ``res`` shows what the run is without a wall of JSON.
"""

from __future__ import annotations

import datetime as dt
import html
import json
from typing import Any

import pandas as pd

_STYLE = ("<style>.nf-repr table{border-collapse:collapse;font-size:90%}"
          ".nf-repr td,.nf-repr th{padding:1px 8px;text-align:left}"
          ".nf-repr td.num{text-align:right}.nf-repr pre{max-height:24em;overflow:auto}</style>")


def _rows(pairs) -> str:
    return "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>" for k, v in pairs)


def _number(value: float, unit: str) -> str:
    if value != value:  # NaN
        return "-"
    return f"{value:,.0f}" if unit == "people" or abs(value) >= 100 else f"{value:,.2f}"


def _parameters(params: Any) -> str:
    if isinstance(params, str):
        try:
            params = json.loads(params)
        except ValueError:
            pass
    if not params:
        return ""
    text = json.dumps(params, indent=1, default=str, sort_keys=True)
    n = len(params) if isinstance(params, dict) else 0
    return (f"<details><summary>Parameters ({n} sections; <code>info['parameters']</code>)</summary>"
            f"<pre>{html.escape(text)}</pre></details>")


def results_html(res) -> str:
    """HTML of a `Results`: identity, key numbers, parameters collapsed."""
    from narcoflow.results.summary import summarize

    i = res.info
    start = pd.Timestamp(i["start"]).date()
    end = start + dt.timedelta(weeks=int(i["steps"]))
    ident = _rows([("run id", i["run_id"]), ("scenario", i["scenario"]), ("seed", i["seed"]),
                   ("scale", i["scale"]), ("period", f"{start} to {end} ({i['steps']} weekly steps)"),
                   ("version", i.get("version", "?")), ("metric rows", f"{len(res.metrics):,}")])
    overview = summarize(res.metrics, i)["overview"]
    numbers = "".join(f"<tr><td>{html.escape(q)}</td><td class='num'>{_number(v, u)}</td>"
                      f"<td>{html.escape(u)}</td></tr>"
                      for q, v, u in overview.itertuples(index=False))
    return (f"<div class='nf-repr'>{_STYLE}<b>narcoflow Results</b><table>{ident}</table>"
            f"<details open><summary>Key numbers (full population)</summary><table>{numbers}</table>"
            f"</details>{_parameters(i.get('parameters'))}</div>")


def simulation_html(sim) -> str:
    """HTML of a `Simulation`: identity, progress, status, processes collapsed."""
    sc = sim.scenario
    processes = ", ".join(p.name for p in sim.processes)
    ident = _rows([("scenario", sc.name), ("seed", sim.seed), ("scale", sim.scale),
                   ("period", f"{sc.start} to {sim.date_of(sim.n_steps)}"),
                   ("steps done", f"{sim.steps_done} of {sim.n_steps} weekly steps"),
                   ("status", sim.status)])
    done = ""
    if sim.finished:
        done = "<p>Finished: <code>sim.results</code> holds the metrics.</p>"
    return (f"<div class='nf-repr'>{_STYLE}<b>narcoflow Simulation</b><table>{ident}</table>{done}"
            f"<details><summary>{len(sim.processes)} processes, in weekly order</summary>"
            f"<p>{html.escape(processes)}</p></details></div>")
