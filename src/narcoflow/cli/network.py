"""Commands ``narcoflow network | interdict``.

Both re-simulate a stored run to the step asked (the run's scenario, seed and scale are stored
with it), which takes about as long as the run itself took to get there; progress goes to
stderr. With ``--json`` the only thing printed on stdout is one JSON object.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from narcoflow.cli.common import DEFAULT_DB_PATH, DbOption, RunIdArg, console, fmt_number, user_errors

StepOpt = Annotated[int | None, typer.Option(
    help="Snapshot after this many weekly steps, in [1, the run's steps].",
    show_default="the run's last step")]
WindowOpt = Annotated[int, typer.Option(
    help="Weeks of flows summed on the edges (>= 1).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of tables.")]


def _json_default(o):
    if hasattr(o, "item"):
        return o.item()
    return str(o)


def _take_snapshot(run_id: str, db: Path, step: int | None, window: int, *, quiet: bool,
                   target: str | None = None):
    from narcoflow.network.snapshot import NetworkError, check_step, snapshot
    from narcoflow.results import store

    res = store.load_results(db, run_id)
    step = check_step(step, int(res.info["steps"]), flag="--step")
    if window < 1:
        raise NetworkError(f"--window {window} must be >= 1 (weeks of flows on the edges).")
    if target is not None:
        _check_target(target, res.info)
    if not quiet:
        console(stderr=True).print(
            f"Re-simulating run {res.run_id} to step {step} (window {min(window, step)} weeks)...",
            markup=False, soft_wrap=True)
    return snapshot(res, step, window=window)


def _check_target(target: str, info: dict) -> None:
    """Refuse an unknown --target before the re-simulation (names from the run's scenario)."""
    from narcoflow.network.snapshot import NetworkError

    params = json.loads(info["parameters"]) if isinstance(info["parameters"], str) else info["parameters"]
    known = ([f"users:{r['name']}" for r in params["regions"]]
             + [f"foreign:{d['name']}" for d in params["border"]["destinations"]])
    if target not in ("all", "users", "foreign", *known):
        raise NetworkError(f"unknown --target {target!r}: use all, users, foreign or one of "
                           f"{', '.join(sorted(known))}.")


def network(
    run_id: RunIdArg,
    db: DbOption = DEFAULT_DB_PATH,
    step: StepOpt = None,
    window: WindowOpt = 13,
    export: Annotated[Path | None, typer.Option(
        help="Write the graph, with the node metrics as attributes, to a .graphml or .gexf "
             "file (Gephi).", dir_okay=False, show_default=False)] = None,
    plot: Annotated[Path | None, typer.Option(
        help="Draw the network to a .png/.svg/.pdf file, or an interactive .html page.",
        dir_okay=False, show_default=False)] = None,
    top: Annotated[int, typer.Option(help="Nodes listed, by share of the flow through them.")] = 10,
    as_json: JsonOpt = False,
) -> None:
    """Show the actor network of a stored run at a step: who holds it together.

    Nodes are actors (role, region, stock, throughput) and the special nodes production,
    state, users per region, foreign destinations and seizing agencies; edges carry the
    grams moved over the last --window weeks (full-population grams). Prints counts,
    flows, max-flows to users and to each foreign destination, compartments and the
    nodes carrying most of the flow. See docs/network.md.
    """
    from rich.table import Table

    from narcoflow.network.metrics import annotate, network_metrics, node_metrics
    from narcoflow.network.snapshot import NetworkError, write_graph

    with user_errors():
        if top < 0:
            raise NetworkError(f"--top {top} must be >= 0.")
        for path, kinds in ((export, (".graphml", ".gexf")), (plot, (".png", ".svg", ".pdf", ".html"))):
            if path is not None and path.suffix.lower() not in kinds:
                raise NetworkError(f"cannot write {path}: the file name must end in {', '.join(kinds)}.")
            if path is not None and not path.parent.is_dir():
                raise NetworkError(f"cannot write {path}: the directory {path.parent} does not exist.")
        snap = _take_snapshot(run_id, db, step, window, quiet=as_json)
        nodes = node_metrics(snap)
        summary = network_metrics(snap, nodes=nodes)
        lead = nodes[nodes["kind"] == "actor"].head(top)
        cols = ["node", "role", "region", "active", "throughput_g", "flow_share", "degree", "betweenness",
                "ring_size"]
        written = []
        if export is not None:
            annotate(snap, nodes)
            written.append(write_graph(snap, export))
        if plot is not None:
            from narcoflow.network.plots import plot_network

            plot_network(snap, path=plot)
            written.append(plot)
        if as_json:
            out = {**summary, "top_nodes": lead[cols].to_dict(orient="records"),
                   "written": [str(p) for p in written]}
            typer.echo(json.dumps(out, default=_json_default))
            return
        con = console()
        con.print(f"Network of run {snap.info.get('run_id')} at step {snap.step} ({summary['date']}), "
                      f"flows over the last {snap.window} weeks, grams for the full population",
                      markup=False, soft_wrap=True)
        t = Table(title="Actors and flows", title_justify="left", show_edge=False)
        t.add_column("")
        t.add_column("value", justify="right")
        for role, n in summary["actors"].items():
            t.add_row(f"active {role}s", fmt_number(n))
        t.add_row("actors gone during the window", fmt_number(summary["actors_gone"]))
        t.add_row("edges (with flow / ties at the step)",
                  f"{summary['edges']:,} ({summary['edges_with_flow']:,} / {summary['ties']:,})")
        t.add_row("compartments (largest)", f"{summary['components']:,} ({summary['largest_component']:,})")
        t.add_row("wholesaler rings (mean / max size)",
                  f"{summary['rings']:,} ({summary['ring_size_mean']:.1f} / {summary['ring_size_max']:,})")
        for kind, g in summary["grams_by_kind"].items():
            t.add_row(f"grams: {kind}", fmt_number(g))
        con.print(t)
        m = Table(title="Max-flow (grams over the window)", title_justify="left", show_edge=False)
        m.add_column("to")
        m.add_column("max-flow g", justify="right")
        for k, v in summary["max_flow_g"].items():
            m.add_row({"all": "users + abroad", "foreign": "abroad (first arrival)"}.get(k, k), fmt_number(v))
        con.print(m)
        if len(lead):
            n = Table(title=f"Top {len(lead)} actors by share of the delivered flow through them",
                      title_justify="left", show_edge=False)
            for c in cols:
                n.add_column(c, justify="left" if c in ("node", "role", "region") else "right")
            for r in lead[cols].itertuples(index=False):
                n.add_row(r.node, r.role, r.region, "yes" if r.active else "gone", fmt_number(r.throughput_g),
                          f"{r.flow_share:.1%}", str(r.degree), f"{r.betweenness:.2g}", str(r.ring_size))
            con.print(n)
        for p in written:
            con.print(f"Wrote {p}", markup=False, soft_wrap=True)


def interdict(
    run_id: RunIdArg,
    budget: Annotated[float, typer.Option(
        "--budget", help="K: remove at most K actors; with --cost, the total removal cost allowed. "
                         ">= 0.", show_default=False)],
    db: DbOption = DEFAULT_DB_PATH,
    step: StepOpt = None,
    window: WindowOpt = 13,
    cost: Annotated[list[str] | None, typer.Option(
        "--cost", help="Removal cost of a role, ROLE=VALUE (repeatable; default 1 for every role: "
                       "producer, deliverer, wholesaler, seller, smuggler).", show_default=False)] = None,
    target: Annotated[str, typer.Option(
        help="Flow to cut: all (users and abroad), users, foreign, or a node such as "
             "foreign:Japan.")] = "all",
    dynamic: Annotated[bool, typer.Option(
        "--dynamic", help="Also apply each plan in the running simulation and measure the flow "
                          "really cut after 4, 13 and 52 weeks.")] = False,
    replications: Annotated[int, typer.Option(
        help="Replications of the dynamic test (>= 1; the first is the run's own future).")] = 3,
    seed: Annotated[int, typer.Option(help="Seed of the random plans and of the replications.")] = 0,
    plot_network: Annotated[Path | None, typer.Option(
        help="Draw the network with the optimal plan's removals marked (.png/.svg/.pdf/.html).",
        dir_okay=False, show_default=False)] = None,
    plot_recovery: Annotated[Path | None, typer.Option(
        help="Plot the flow remaining week by week after each plan (needs --dynamic).",
        dir_okay=False, show_default=False)] = None,
    time_limit: Annotated[float | None, typer.Option(
        help="Seconds allowed to the MILP solver (default: until proven optimal).",
        show_default=False)] = None,
    as_json: JsonOpt = False,
) -> None:
    """Choose the removals that cut the most flow to users and foreign markets.

    Solves the exact max-flow interdiction problem as a mixed-integer programme (HiGHS) on
    the snapshot and compares it with removing the top actors by degree, by betweenness, by
    throughput, and at random, under the same budget. Remaining flows are max-flows in grams
    over the window, recomputed after each plan's removals. With --dynamic, each plan is
    also applied in the simulation to see what replacement and rewiring undo.
    """
    from rich.table import Table

    from narcoflow.network.interdiction import check_budget, parse_costs
    from narcoflow.network.interdiction import interdict as solve
    from narcoflow.network.snapshot import NetworkError

    with user_errors():
        check_budget(budget)
        costs = parse_costs(cost)
        if isinstance(replications, bool) or replications < 1:
            raise NetworkError(f"--replications {replications} must be >= 1.")
        if time_limit is not None and not time_limit > 0:
            raise NetworkError(f"--time-limit {time_limit:g} must be > 0 seconds.")
        if plot_recovery is not None and not dynamic:
            raise NetworkError("--plot-recovery needs --dynamic (the recovery comes from the "
                               "dynamic test).")
        for path in (plot_network, plot_recovery):
            if path is not None and not path.parent.is_dir():
                raise NetworkError(f"cannot write {path}: the directory {path.parent} does not exist.")
        snap = _take_snapshot(run_id, db, step, window, quiet=as_json, target=target)
        result = solve(snap, budget, costs=costs, targets=target, seed=seed, time_limit=time_limit)
        recovery = None
        if dynamic:
            from narcoflow.network.dynamic import dynamic_test

            if not as_json:
                console(stderr=True).print(
                    f"Dynamic test: {len(result.plans)} plans + no removal, {replications} replications, "
                    "52 weeks each...", markup=False, soft_wrap=True)
            recovery = dynamic_test(snap, result, replications=replications, targets=target, seed=seed)
        written = []
        if plot_network is not None:
            from narcoflow.network.plots import plot_network as draw

            draw(snap, removed=result.plan("optimal").removed, path=plot_network)
            written.append(plot_network)
        if plot_recovery is not None and recovery is not None:
            from narcoflow.network.plots import plot_recovery as draw_recovery

            draw_recovery(recovery, path=plot_recovery)
            written.append(plot_recovery)
        if as_json:
            out = result.to_dict()
            if recovery is not None:
                summ = recovery.summary()
                for p in out["plans"]:
                    rows = summ[summ["plan"] == p["name"]]
                    p["dynamic"] = rows.drop(columns="plan").to_dict(orient="records")
            out["written"] = [str(p) for p in written]
            typer.echo(json.dumps(out, default=_json_default))
            return
        con = console()
        base_flow = result.plans[0].baseline_flow_g
        con.print(f"Interdiction on run {snap.info.get('run_id')} at step {snap.step}, budget "
                      f"{budget:g}, flow to {target} over {snap.window} weeks: baseline max-flow "
                      f"{fmt_number(base_flow)} g, of which {fmt_number(result.uncuttable_flow_g)} g no removal "
                      f"can cut (state exports, actors already gone). MILP solved in "
                      f"{result.solve_time_s:.2f} s.", markup=False, soft_wrap=True)
        t = Table(title="Plans", title_justify="left", show_edge=False)
        for c in ("plan", "removed", "cost", "remaining g", "cut", "to users g", "abroad g"):
            t.add_column(c, justify="left" if c == "plan" else "right")
        for p in result.plans:
            t.add_row(p.name, str(len(p.removed)), fmt_number(p.cost), fmt_number(p.remaining_flow_g),
                      f"{p.cut_share:.1%}", fmt_number(p.remaining_by_target_g.get("users")),
                      fmt_number(p.remaining_by_target_g.get("foreign")))
        con.print(t)
        for p in result.plans:
            shown = ", ".join(p.removed[:12]) + (" ..." if len(p.removed) > 12 else "")
            con.print(f"{p.name}: {shown or '(none)'}", markup=False, soft_wrap=True)
        if recovery is not None:
            summ = recovery.summary()
            d = Table(title="Static prediction vs. simulation (share of flow left, plan / no removal)",
                      title_justify="left", show_edge=False)
            for c in ("plan", "weeks", "static", "simulated (cumulative)", "range", "last 4 weeks",
                      "grams kept from market"):
                d.add_column(c, justify="left" if c == "plan" else "right")
            for r in summ.itertuples(index=False):
                d.add_row(r.plan, str(r.horizon_weeks), f"{r.static_share:.1%}", f"{r.cumulative_share:.1%}",
                          f"[{r.cumulative_share_min:.0%}, {r.cumulative_share_max:.0%}]",
                          f"{r.rate_share:.1%}", fmt_number(r.cut_g))
            con.print(d)
        for p in written:
            con.print(f"Wrote {p}", markup=False, soft_wrap=True)


COMMANDS = (network, interdict)
