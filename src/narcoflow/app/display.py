"""How the dashboard shows numbers, tables, stored runs and a run's progress (plain text and
HTML, no Solara): kept apart from the components so that the presentation is tested alone.
"""

from __future__ import annotations


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


#: Columns of the stored-runs table (the parameters JSON is left out): how each run was made
#: (policy, lever settings, parameter draw; `narcoflow.results.provenance`) after its identity.
RUN_COLUMNS = ("run_id", "scenario", "policy", "seed", "scale", "start", "steps", "created_at", "rows",
               "levers", "draw")


def runs_table(runs):
    """The stored runs as the page lists them: a few columns, dates without a time of day,
    lever settings and parameter draws as short text (``-`` for a run stored without them)."""
    from narcoflow.results.provenance import draw_text, levers_text

    df = runs[[c for c in RUN_COLUMNS if c in runs.columns]].copy()
    if "policy" in df:
        known = [isinstance(v, str) for v in df["policy"]]
        df["policy"] = [v if k else "-" for v, k in zip(df["policy"], known, strict=True)]
        if "levers" in df:
            df["levers"] = [levers_text(v) or ("" if k else "-") for v, k in zip(df["levers"], known, strict=True)]
    if "draw" in df:
        df["draw"] = [draw_text(v) for v in df["draw"]]
        df = df.rename(columns={"draw": "parameter draw"})
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
    """How a stored run is named in lists and table columns: id prefix, policy (and parameter
    draw, if any), seed and scale, so runs with the same seed under different policies differ."""
    from narcoflow.results.provenance import draw_text

    policy = row.get("policy") if hasattr(row, "get") else None
    draw = draw_text(row.get("draw")) if hasattr(row, "get") else ""
    made = (f"{policy}, " if isinstance(policy, str) and policy else "") + (f"{draw}, " if draw else "")
    return f"{row['run_id'][:10]} ({made}seed {row['seed']}, scale {row['scale']:g}, {row['steps']} weeks)"
