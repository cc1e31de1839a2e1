"""Plots: the network by tier (roles and regions coloured, removed actors marked) and the flow
remaining over time after each removal plan.

PNG/PDF/SVG through matplotlib (object API: no global pyplot state); a ``.html`` path gives an
interactive plotly figure of the network (hover shows each node's role, region, throughput and
stock).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import matplotlib
import networkx as nx
import numpy as np
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from narcoflow.network.snapshot import NetworkError, Snapshot

#: Left-to-right tier of each role / special node kind.
TIER = {"production": 0, "state": 0, "producer": 1, "deliverer": 2, "wholesaler": 3, "seller": 4,
        "smuggler": 4, "users": 5, "foreign": 5, "seized": 6}
ROLE_COLOURS = {"production": "#7f7f7f", "state": "#8c564b", "producer": "#1f77b4", "deliverer": "#ff7f0e",
                "wholesaler": "#2ca02c", "seller": "#9467bd", "smuggler": "#d62728", "users": "#e377c2",
                "foreign": "#17becf", "seized": "#000000"}
PLAN_COLOURS = {"optimal": "#d62728", "degree": "#1f77b4", "betweenness": "#ff7f0e",
                "throughput": "#2ca02c", "random": "#7f7f7f"}


def _graph(snap) -> nx.DiGraph:
    return snap.graph if isinstance(snap, Snapshot) else snap


def tier_layout(graph: nx.DiGraph) -> dict[str, tuple[float, float]]:
    """Positions: x = tier (role), y = order within the tier, following the main supplier so
    that a wholesaler's sellers sit next to it (rings show as fans)."""
    tiers: dict[int, list[str]] = {}
    for n, d in graph.nodes(data=True):
        tiers.setdefault(TIER.get(d.get("role"), TIER.get(d.get("kind"), 6)), []).append(n)
    pos: dict[str, tuple[float, float]] = {}
    def key(n, tier):
        d = graph.nodes[n]
        ins = [(e.get("grams", 0.0), u) for u, _, e in graph.in_edges(n, data=True) if u in pos]
        parent_y = pos[max(ins)[1]][1] if ins else 0.5
        smug = 1 if d.get("role") == "smuggler" else 0
        if tier <= 3:
            return (smug, d.get("region", ""), parent_y, str(n))
        return (smug, parent_y, d.get("region", ""), str(n))

    for t in sorted(tiers):
        nodes = sorted(tiers[t], key=lambda n, tier=t: key(n, tier))
        k = len(nodes)
        for i, n in enumerate(nodes):
            pos[n] = (float(t), (i + 0.5) / k)
    return pos


def plot_network(snap: Snapshot | nx.DiGraph, *, removed: Iterable[str] = (), path: str | Path | None = None,
                 title: str | None = None, show_seized: bool = True):
    """Draw the network by tier: fill colour = role, ring colour = region, size = throughput,
    edge width = grams; ``removed`` actors are crossed out.

    Returns the matplotlib Figure (or the plotly Figure for a ``.html`` path); writes ``path``
    if given.
    """
    g = _graph(snap)
    if not show_seized:
        g = g.subgraph([n for n, k in g.nodes(data="kind") if k != "seized"])
    removed = [r for r in removed if r in g]
    pos = tier_layout(g)
    if path is not None and Path(path).suffix.lower() == ".html":
        return _plot_network_html(g, pos, removed, path, title)
    regions = sorted({d.get("region", "") for _, d in g.nodes(data=True) if d.get("kind") == "actor"})
    # Pastel rings (Set3, 12 colours) so that regions never look like the saturated role fills.
    cmap = matplotlib.colormaps["Set3" if len(regions) <= 12 else "tab20b"]
    region_colour = {r: cmap(i % cmap.N) for i, r in enumerate(regions)}
    fig = Figure(figsize=(12, 8))
    ax = fig.subplots()
    grams = np.array([e.get("grams", 0.0) for *_, e in g.edges(data=True)])
    gmax = float(grams.max()) if len(grams) and grams.max() > 0 else 1.0
    segs = [(pos[u], pos[v]) for u, v in g.edges]
    widths = 0.2 + 3.0 * np.sqrt(np.maximum(grams, 0) / gmax)
    fade = min(1.0, float(np.sqrt(2000.0 / max(len(grams), 1))))  # big graphs: fainter edges
    alpha = np.where(grams > 0, 0.35, 0.12) * fade
    colours = [(0.3, 0.3, 0.3, a) for a in alpha]
    ax.add_collection(LineCollection(segs, linewidths=widths, colors=colours, zorder=1))
    nodes = list(g.nodes)
    thr = np.array([g.nodes[n].get("throughput_g", 0.0) for n in nodes])
    tmax = float(thr.max()) if len(thr) and thr.max() > 0 else 1.0
    size = 8 + 300 * np.sqrt(thr / tmax)
    face = [ROLE_COLOURS.get(g.nodes[n].get("role"), "#bbbbbb") for n in nodes]
    ring = [region_colour.get(g.nodes[n].get("region", ""), (1, 1, 1, 0)) if g.nodes[n].get("kind") == "actor"
            else (0, 0, 0, 0) for n in nodes]
    xy = np.array([pos[n] for n in nodes])
    ax.scatter(xy[:, 0], xy[:, 1], s=size, c=face, edgecolors=ring, linewidths=1.5, zorder=2)
    if removed:
        rxy = np.array([pos[n] for n in removed])
        ax.scatter(rxy[:, 0], rxy[:, 1], s=220, marker="X", c="black", edgecolors="white", linewidths=1.0,
                   zorder=3)
    for n in nodes:
        if g.nodes[n].get("kind") in ("users", "foreign", "production", "state", "seized"):
            x, y = pos[n]
            ax.annotate(n, (x, y), xytext=(6, 0), textcoords="offset points", fontsize=7, va="center")
    ax.set_xticks(range(7), ["production\nstate", "producers", "deliverers", "wholesalers",
                             "sellers\nsmugglers", "users\nabroad", "seized"])
    ax.set_yticks([])
    ax.set_xlim(-0.5, 6.8)
    ax.set_ylim(-0.02, 1.02)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    role_handles = [Line2D([], [], marker="o", ls="", color=c, label=r) for r, c in ROLE_COLOURS.items()
                    if any(g.nodes[n].get("role") == r for n in nodes)]
    if removed:
        role_handles.append(Line2D([], [], marker="X", ls="", color="black", label="removed"))
    leg = ax.legend(handles=role_handles, loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8,
                    title="role (fill)", title_fontsize=8, frameon=False)
    ax.add_artist(leg)
    reg_handles = [Line2D([], [], marker="o", ls="", markerfacecolor="white", markeredgecolor=c,
                          markeredgewidth=2, label=r) for r, c in region_colour.items()]
    ax.legend(handles=reg_handles, loc="lower left", bbox_to_anchor=(1.0, 0.0), fontsize=7,
              title="region (ring)", title_fontsize=8, frameon=False)
    if title is None:
        gg = g.graph
        run = f"run {gg['run_id']}, " if gg.get("run_id") else ""
        title = (f"Actor network, {run}step {gg.get('step', '')} ({gg.get('date', '')}), "
                 f"flows over {gg.get('window', '')} weeks")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    if path is not None:
        _save(fig, path)
    return fig


def _plot_network_html(g, pos, removed, path, title):
    import plotly.graph_objects as go

    ex, ey = [], []
    for u, v in g.edges:
        ex += [pos[u][0], pos[v][0], None]
        ey += [pos[u][1], pos[v][1], None]
    traces = [go.Scatter(x=ex, y=ey, mode="lines", line={"width": 0.5, "color": "#999"}, hoverinfo="skip",
                         showlegend=False)]
    for role, colour in ROLE_COLOURS.items():
        nodes = [n for n, d in g.nodes(data=True) if d.get("role") == role]
        if not nodes:
            continue
        text = [f"{n}<br>region {g.nodes[n].get('region', '')}<br>throughput "
                f"{g.nodes[n].get('throughput_g', 0.0):,.0f} g<br>stock {g.nodes[n].get('stock_g', 0.0):,.0f} g"
                for n in nodes]
        traces.append(go.Scatter(x=[pos[n][0] for n in nodes], y=[pos[n][1] for n in nodes], mode="markers",
                                 name=role, marker={"color": colour, "size": 7}, text=text, hoverinfo="text"))
    if removed:
        traces.append(go.Scatter(x=[pos[n][0] for n in removed], y=[pos[n][1] for n in removed], mode="markers",
                                 name="removed", marker={"symbol": "x", "size": 14, "color": "black"},
                                 text=list(removed), hoverinfo="text"))
    fig = go.Figure(traces)
    fig.update_layout(title=title or "Actor network", xaxis={"visible": False}, yaxis={"visible": False},
                      template="plotly_white")
    fig.write_html(str(path), include_plotlyjs="cdn")
    return fig


def plot_recovery(recovery, *, path: str | Path | None = None, smooth: int = 4, title: str | None = None):
    """Flow remaining after each plan, week by week (``smooth``-week sums, plan / no removal; mean
    over replications with the min-max band), against the static prediction (dashed)."""
    ratios = recovery.ratios(smooth=smooth)
    fig = Figure(figsize=(9, 5))
    ax = fig.subplots()
    order = {p: i for i, p in enumerate(PLAN_COLOURS)}
    for plan, df in sorted(ratios.groupby("plan"), key=lambda kv: (order.get(kv[0], 99), kv[0])):
        c = PLAN_COLOURS.get(plan)
        ax.plot(df["week"], df["mean"], color=c, label=plan, lw=1.8)
        ax.fill_between(df["week"], df["min"], df["max"], color=c, alpha=0.12, lw=0)
        s = recovery.static.get(plan)
        if s is not None and np.isfinite(s):
            ax.axhline(s, color=c, ls="--", lw=1)
    for h in recovery.horizons:
        ax.axvline(h, color="#cccccc", lw=0.8, zorder=0)
    ax.axhline(1.0, color="black", lw=0.8)
    ax.set_xlabel("weeks after the removals")
    ax.set_ylabel(f"flow to the targets, plan / no removal ({smooth}-week sums)")
    ax.set_ylim(bottom=0)
    ax.legend(title="plan (dashed: static prediction)", fontsize=8, title_fontsize=8)
    info = recovery.info
    run = f"run {info['run_id']}, " if info.get("run_id") else ""
    ax.set_title(title or f"Flow remaining after the removals, {run}step {info.get('step')}, "
                          f"{info.get('replications')} replications", fontsize=10)
    fig.tight_layout()
    if path is not None:
        _save(fig, path)
    return fig


def _save(fig, path) -> None:
    path = Path(path)
    if not path.parent.is_dir():
        raise NetworkError(f"cannot write {path}: the directory {path.parent} does not exist.")
    fig.savefig(path, dpi=130)
