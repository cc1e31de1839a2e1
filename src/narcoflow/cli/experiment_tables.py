"""What the experiment commands parse (``--param``, ``--grid``) and print (comparison, sweep and
sensitivity tables)."""

from __future__ import annotations

import math

from narcoflow.cli.common import console, fmt_number
from narcoflow.errors import NarcoflowError


def _interval(lo: float, hi: float) -> str:
    if math.isnan(lo) or math.isnan(hi):
        return ""
    return f"[{fmt_number(lo)}, {fmt_number(hi)}]"


def parse_range(text: str) -> tuple[str, float, float]:
    name, sep, rest = text.partition("=")
    low, sep2, high = rest.partition(":")
    try:
        if not (sep and sep2 and name.strip()):
            raise ValueError
        return name.strip(), float(low), float(high)
    except ValueError:
        raise NarcoflowError(f"--param {text!r}: expected NAME=LOW:HIGH, for example "
                             "state.siphon_rate=0:0.2 or crackdown=1:4.") from None


def parse_grid(text: str) -> tuple[str, list[float]]:
    name, sep, rest = text.partition("=")
    try:
        if not (sep and name.strip()):
            raise ValueError
        values = [float(v) for v in rest.split(",") if v.strip()]
        if not values:
            raise ValueError
        return name.strip(), values
    except ValueError:
        raise NarcoflowError(f"--grid {text!r}: expected NAME=V1,V2,..., for example "
                             "border.bribe_acceptance=0.2,0.4,0.6.") from None


def setting_text(name, s) -> str:
    extra = []
    if s.start or s.end:
        extra.append(f"{s.start or 'start'}..{s.end or 'end'}")
    if s.regions:
        extra.append(", ".join(s.regions))
    return f"{name} x{s.value:g}" + (f" ({'; '.join(extra)})" if extra else "")


def _percent(lo: float, hi: float | None = None) -> str:
    if hi is None:
        return "" if math.isnan(lo) else f"{lo:+.1%}"
    if math.isnan(lo) or math.isnan(hi):
        return ""
    return f"[{lo:+.1%}, {hi:+.1%}]"


def print_comparison(table, plan, out) -> None:
    """One block per outcome (titled with its label and unit): each policy's mean and interval;
    for the other policies the effect against the baseline, absolute and relative, with
    intervals, and P(intended), the probability that the effect has the intended sign."""
    from rich.table import Table

    from narcoflow.experiments.outcomes import outcome_title
    from narcoflow.experiments.stats import few_replications

    con = console()
    d = plan.definition
    reps = d["replications"]
    labels = {o["name"]: o.get("title") or o["name"] for o in d.get("outcomes", [])}
    window = d.get("window")
    when = "" if not window else f", outcomes over {window[0] or 'start'}-{window[1] or 'end'}"
    sets = d.get("parameter_sets")
    when += "" if sets is None else f", parameters from the {sets['source']}"
    t = Table(title=f"Comparison {plan.experiment_id}: {plan.scenario}, {reps} replications, "
                    f"scale {plan.scale:g}, {plan.steps} weeks{when} (table `comparisons` in {out})",
              title_justify="left", show_edge=False)
    for col in ("outcome", "policy", "mean", "95 % interval", "effect", "95 % interval ",
                "relative", "95 % interval  ", "P(intended)"):
        t.add_column(col, justify="left" if col in ("outcome", "policy") else "right",
                     overflow="fold", max_width=28 if col == "outcome" else None)
    intended = d.get("intended", {})
    for metric in dict.fromkeys(table["metric"]):
        block = table[table["metric"] == metric]
        title = labels.get(metric) or outcome_title(metric)
        aim = intended.get(metric)
        title += f", aim: {aim}" if aim else ""
        for i, r in enumerate(block.itertuples(index=False)):
            is_base = r.policy == "baseline"
            rel = getattr(r, "effect_rel", float("nan"))
            p = getattr(r, "p_intended", float("nan"))
            t.add_row(title if i == 0 else "", r.policy, fmt_number(r.mean), _interval(r.ci_low, r.ci_high),
                      "" if is_base else fmt_number(r.effect_vs_baseline),
                      "" if is_base else _interval(r.effect_ci_low, r.effect_ci_high),
                      "" if is_base else _percent(rel),
                      "" if is_base else _percent(getattr(r, "effect_rel_ci_low", float("nan")),
                                                  getattr(r, "effect_rel_ci_high", float("nan"))),
                      "" if is_base or math.isnan(p) else f"{p:.0%}")
        t.add_section()
    con.print(t)
    sets = d.get("parameter_sets")
    same = "same seed" if sets is None else "same seed and parameter set"
    rel = ("" if d.get("relative") != "log_ratio" else " Relative effects: geometric mean of the paired "
           "ratios (exp of the mean log ratio; ratio of means where a run has 0), never below -100 %.")
    con.print("Intervals: Bayesian bootstrap over replications (never below 0 for a quantity that "
              "cannot be negative); effects pair replication i of each policy with replication i "
              f"of the baseline ({same}).{rel} P(intended): probability that the effect has the sign "
              "the policy aims at. Outcome ids (column `metric`): "
              f"{', '.join(dict.fromkeys(table['metric']))}.", markup=False, soft_wrap=True, style="dim")
    note = few_replications(reps)
    if note:
        console(stderr=True).print(f"Warning: {note}", style="bold yellow", markup=False, soft_wrap=True)


def print_sweep(table, plan, out, limit: int = 30) -> None:
    from rich.table import Table

    con = console()
    shown = table.head(limit)
    params = plan.definition["parameters"]
    metrics = [c for c in ("consumption_kg", "users_end", "exports_arrived_kg", "retail_price_usd_per_g")
               if c in table.columns]
    t = Table(title=f"Sweep {plan.experiment_id}: {len(table)} runs (tables `experiments`, "
                    f"`experiment_values`, `outcomes` in {out})", title_justify="left", show_edge=False)
    for col in ("point", "rep", *params, *metrics):
        t.add_column(col, justify="right", overflow="fold", min_width=min(len(col), 24))
    for row in shown.to_dict("records"):
        t.add_row(str(row["point"]), str(row["replication"]),
                  *(f"{float(row[p]):.4g}" for p in params), *(fmt_number(float(row[m])) for m in metrics))
    con.print(t)
    if len(table) > limit:
        con.print(f"... {len(table) - limit} more runs; read them with "
                      "narcoflow.experiments.sweep_table or SQL.", markup=False, soft_wrap=True)


def print_sensitivity(table, out, limit: int = 20) -> None:
    from rich.table import Table

    con = console()
    method = table["method"].iloc[0]
    key = "ST" if method == "sobol" else "mu_star"
    stats = ["S1", "ST"] if method == "sobol" else ["mu_star", "sigma"]
    for outcome in dict.fromkeys(table["outcome"]):
        d = table[table["outcome"] == outcome]
        order = d[d["statistic"] == key].sort_values("value", ascending=False)["parameter"].tolist()
        t = Table(title=f"{method} indices for {outcome} (table `sensitivity` in {out})",
                  title_justify="left", show_edge=False)
        t.add_column("parameter")
        for s in stats:
            t.add_column(s, justify="right")
            t.add_column("95 % CI" if s != "sigma" else "", justify="right")
        for name in order[:limit]:
            cells = []
            for s in stats:
                r = d[(d["parameter"] == name) & (d["statistic"] == s)].iloc[0]
                cells += [fmt_number(r["value"]), _interval(r["ci_low"], r["ci_high"])]
            t.add_row(name, *cells)
        con.print(t)
        if len(order) > limit:
            con.print(f"... {len(order) - limit} more parameters.", markup=False)


_ALL_TEXT = {"drug": "all drugs", "region": "all provinces", "destination": "all destinations",
             "role": "all roles"}


def _filters_text(row) -> str:
    """``methamphetamine, China`` from an estimate row's filter columns (``all`` said in words)."""
    parts = []
    for col in ("drug", "region", "destination", "role"):
        v = row.get(col)
        if isinstance(v, str) and v:
            parts.append(_ALL_TEXT[col] if v == "all" else v)
    return ", ".join(parts)


def print_estimate(table, plan, out) -> None:
    """A handful of headline rows of an estimate (the last year's totals), where the parameter
    sets come from (said plainly when they are the prior ranges), and where the table is."""
    from rich.table import Table

    from narcoflow.experiments.estimates import LABELS, clipped_note, headline_rows, source_note

    con, err = console(), console(stderr=True)
    d = plan.definition
    rows = headline_rows(table)
    year = int(rows["year"].iloc[0]) if len(rows) else None
    t = Table(title=f"Estimate {plan.experiment_id}: {plan.scenario}, {d['draws']} parameter sets x "
                    f"{d['seeds']} seeds, scale {plan.scale:g}, year {year} (all {len(table)} rows: "
                    f"table `estimates` in {out})", title_justify="left", show_edge=False)
    for col in ("quantity", "which", "unit", "median", "50 % interval", "90 % interval", "parameters",
                "randomness"):
        t.add_column(col, justify="left" if col in ("quantity", "which", "unit") else "right",
                     overflow="fold")
    for r in rows.to_dict("records"):
        share = r["share_parameters"]
        t.add_row(LABELS.get(r["quantity"], r["quantity"]), _filters_text(r), r["unit"],
                  fmt_number(r["median"]), _interval(r["q25"], r["q75"]), _interval(r["q05"], r["q95"]),
                  "" if math.isnan(share) else f"{share:.0%}",
                  "" if math.isnan(share) else f"{r['share_randomness']:.0%}")
    con.print(t)
    con.print("Median and 50 % / 90 % intervals over every run (parameter sets x seeds): they combine "
              "parameter and run-to-run uncertainty. parameters / randomness: shares of the variance "
              "from the parameter sets and from the seeds (law of total variance; clipped to [0, 1]).",
              markup=False, soft_wrap=True, style="dim")
    source = source_note(plan)
    if d["source"] == "prior ranges":
        err.print(f"Note: {source}", style="bold yellow", markup=False, soft_wrap=True)
    else:
        con.print(source, markup=False, soft_wrap=True)
    note = clipped_note(table)
    if note:
        con.print(note, markup=False, soft_wrap=True, style="dim")
    if d["seeds"] < 2 or d["draws"] < 2:
        err.print("Warning: the variance decomposition needs at least 2 parameter sets and 2 seeds "
                  "per set; its shares are left empty.", style="bold yellow", markup=False, soft_wrap=True)
    if d["draws"] * d["seeds"] < 20:
        err.print(f"Warning: {d['draws'] * d['seeds']} runs are too few for a 90 % interval (its ends "
                  "are interpolated between the extreme runs); use 50 or more parameter sets for "
                  "figures to report.", style="bold yellow", markup=False, soft_wrap=True)
