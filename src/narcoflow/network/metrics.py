"""Who holds the network together: per-node and whole-network metrics of a snapshot.

Per node (`node_metrics`):

- ``degree``, ``in_degree``, ``out_degree``: edges that moved product over the window or are
  ties at the step;
- ``betweenness``: shortest-path betweenness (normalised) on the edges that moved product,
  an edge's length being 1 / grams, so that heavy ties are short (flow-weighted betweenness in
  the sense of Newman 2001, Phys. Rev. E 64:016132, doi:10.1103/PhysRevE.64.016132);
- ``throughput_g``: grams the node passed on (to actors, users or abroad; seizures excluded);
- ``flow_share``: the share of all product that reached users and foreign markets over the
  window that passed through the node, traced through the network with proportional mixing
  (what a node passes on is a pro-rata mix of what it received and held);
- ``component``, ``component_size``: weakly connected compartments of the actor network
  (actor-actor edges and ties); ``ring``, ``ring_size``: the wholesaler cell of sellers and
  wholesalers (S12: "sellers ... work with the wholesalers only").

Whole network (`network_metrics`): counts by role, flows by edge kind, max-flow to users, abroad
and to each foreign destination, compartment and ring sizes.
"""

from __future__ import annotations

import heapq
import itertools

import networkx as nx
import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.linalg import spsolve

from narcoflow.engine.state import ROLE_NAMES
from narcoflow.network.flows import flow_table, resolve_targets
from narcoflow.network.snapshot import Snapshot

NODE_COLUMNS = ["node", "kind", "role", "region", "uid", "active", "stock_start_g", "stock_g", "in_g",
                "out_g", "throughput_g", "flow_share", "degree", "in_degree", "out_degree",
                "betweenness", "component", "component_size", "ring", "ring_size"]


def _graph(snap) -> nx.DiGraph:
    return snap.graph if isinstance(snap, Snapshot) else snap


def flow_shares(graph: nx.DiGraph, targets=("users", "foreign")) -> dict[str, float]:
    """Share of the product delivered to ``targets`` over the window that passed each node.

    ``f(v)``, the share of what passes ``v`` that ends at a target, solves
    ``f(v) = sum_w g(v, w) f(w) / max(in(v) + stock_start(v), out(v))`` with ``f = 1`` at
    targets and 0 at seizures; the node's delivered grams are ``sum_w g(v, w) f(w)``.
    """
    g = graph
    nodes = list(g.nodes)
    index = {n: i for i, n in enumerate(nodes)}
    tset = set(resolve_targets(g, targets))
    n = len(nodes)
    rows, cols, vals = [], [], []
    denom = np.zeros(n)
    for v, d in g.nodes(data=True):
        i = index[v]
        out = sum(e["grams"] for _, _, e in g.out_edges(v, data=True))
        inn = sum(e["grams"] for _, _, e in g.in_edges(v, data=True)) + float(d.get("stock_start_g", 0.0))
        denom[i] = max(inn, out)
    for u, v, e in g.edges(data=True):
        if u in tset or e["grams"] <= 0 or denom[index[u]] <= 0:
            continue
        rows.append(index[u])
        cols.append(index[v])
        vals.append(e["grams"] / denom[index[u]])
    p = sp.csr_array((vals, (rows, cols)), shape=(n, n))
    b = np.array([1.0 if v in tset else 0.0 for v in nodes])
    f = spsolve(sp.csc_array(sp.eye_array(n) - p), b) if n else np.zeros(0)
    f = np.atleast_1d(f)
    delivered = np.zeros(n)
    for u, v, e in g.edges(data=True):
        if e["grams"] > 0:
            if u in tset:
                continue
            delivered[index[u]] += e["grams"] * f[index[v]]
    total = sum(e["grams"] for u, v, e in g.edges(data=True) if v in tset and u not in tset)
    share = {}
    for v in nodes:
        i = index[v]
        if v in tset:
            got = sum(e["grams"] for u, _, e in g.in_edges(v, data=True) if u not in tset)
            share[v] = got / total if total > 0 else 0.0
        else:
            share[v] = delivered[i] / total if total > 0 else 0.0
    return share


def betweenness(g: nx.DiGraph) -> dict[str, float]:
    """Normalised shortest-path betweenness, edge length 1 / grams (edges that moved product).

    Brandes' algorithm as in `networkx.betweenness_centrality` (same values), but each
    single-source search only touches the nodes it reaches: in a supply chain most nodes reach
    a handful of others, so this is near-linear where networkx is quadratic.
    """
    adj: dict[str, list[tuple[str, float]]] = {v: [] for v in g.nodes}
    for u, v, e in g.edges(data=True):
        if e["grams"] > 0:
            adj[u].append((v, 1.0 / e["grams"]))
    bc = dict.fromkeys(g.nodes, 0.0)
    counter = itertools.count()
    for s in g.nodes:
        if not adj[s]:
            continue
        order: list[str] = []
        preds: dict[str, list[str]] = {s: []}
        sigma = {s: 1.0}
        done: dict[str, float] = {}
        seen = {s: 0.0}
        heap = [(0.0, next(counter), s, s)]
        while heap:
            dist, _, pred, v = heapq.heappop(heap)
            if v in done:
                continue
            if pred != v:
                sigma[v] += sigma[pred]
            order.append(v)
            done[v] = dist
            for w, length in adj[v]:
                vw = dist + length
                if w not in done and (w not in seen or vw < seen[w]):
                    seen[w] = vw
                    heapq.heappush(heap, (vw, next(counter), v, w))
                    sigma[w] = 0.0
                    preds[w] = [v]
                elif vw == seen.get(w):
                    sigma[w] += sigma[v]
                    preds[w].append(v)
        delta = dict.fromkeys(order, 0.0)
        while order:
            w = order.pop()
            coeff = (1.0 + delta[w]) / sigma[w]
            for v in preds[w]:
                delta[v] += sigma[v] * coeff
            if w != s:
                bc[w] += delta[w]
    n = g.number_of_nodes()
    scale = 1.0 / ((n - 1) * (n - 2)) if n > 2 else None
    if scale is not None:
        bc = {v: x * scale for v, x in bc.items()}
    return bc


def _compartments(g: nx.DiGraph) -> tuple[dict[str, int], dict[int, int], dict[str, str], dict[str, int]]:
    actors = [n for n, k in g.nodes(data="kind") if k == "actor"]
    sub = nx.Graph()
    sub.add_nodes_from(actors)
    sub.add_edges_from((u, v) for u, v, e in g.edges(data=True)
                       if g.nodes[u]["kind"] == "actor" and g.nodes[v]["kind"] == "actor"
                       and (e["grams"] > 0 or e.get("tie", False)))
    comps = sorted(nx.connected_components(sub), key=lambda c: (-len(c), min(c)))
    comp_of = {n: i for i, c in enumerate(comps) for n in c}
    size = {i: len(c) for i, c in enumerate(comps)}
    # Rings: a seller belongs to its tied wholesaler, else to the one that supplied it most.
    ring: dict[str, str] = {}
    for n in actors:
        role = g.nodes[n]["role"]
        if role == "wholesaler":
            ring[n] = n
        elif role == "seller":
            sup = [(e.get("tie", False), e["grams"], u) for u, _, e in g.in_edges(n, data=True)
                   if g.nodes[u].get("role") == "wholesaler"]
            if sup:
                ring[n] = max(sup)[2]
    ring_size = pd.Series(list(ring.values()), dtype=object).value_counts().to_dict() if ring else {}
    return comp_of, size, ring, ring_size


def node_metrics(snap: Snapshot | nx.DiGraph, *, with_betweenness: bool = True) -> pd.DataFrame:
    """One row per node with the metrics of the module docstring, sorted by flow share.

    Parameters
    ----------
    snap : Snapshot or networkx.DiGraph
    with_betweenness : bool
        Compute betweenness (the slowest metric; NaN if false).

    Examples
    --------
    >>> from narcoflow.network.synthetic import layered_network
    >>> df = node_metrics(layered_network(60, seed=1))
    >>> bool(df["flow_share"].between(0, 1 + 1e-9).all())
    True
    """
    g = _graph(snap)
    shares = flow_shares(g)
    btw = betweenness(g) if with_betweenness else {}
    comp_of, comp_size, ring, ring_size = _compartments(g)
    rows = []
    for n, d in g.nodes(data=True):
        c = comp_of.get(n, -1)
        r = ring.get(n, "")
        rows.append({
            "node": n, "kind": d.get("kind"), "role": d.get("role"), "region": d.get("region", ""),
            "uid": int(d.get("uid", -1)), "active": bool(d.get("active", True)),
            "stock_start_g": float(d.get("stock_start_g", 0.0)), "stock_g": float(d.get("stock_g", 0.0)),
            "in_g": float(d.get("in_g", 0.0)), "out_g": float(d.get("out_g", 0.0)),
            "throughput_g": float(d.get("throughput_g", 0.0)), "flow_share": shares.get(n, 0.0),
            "degree": g.degree(n), "in_degree": g.in_degree(n), "out_degree": g.out_degree(n),
            "betweenness": btw.get(n, np.nan), "component": c, "component_size": comp_size.get(c, 0),
            "ring": r, "ring_size": int(ring_size.get(r, 0)) if r else 0,
        })
    df = pd.DataFrame(rows, columns=NODE_COLUMNS)
    return df.sort_values(["flow_share", "node"], ascending=[False, True], ignore_index=True)


def network_metrics(snap: Snapshot | nx.DiGraph, *, nodes: pd.DataFrame | None = None) -> dict:
    """Whole-network figures: counts, flows by edge kind, max-flows, compartments.

    Flows are grams over the snapshot's window, for the full population.
    """
    g = _graph(snap)
    nodes = node_metrics(g, with_betweenness=False) if nodes is None else nodes
    actors = nodes[nodes["kind"] == "actor"]
    active = actors[actors["active"]]
    kinds: dict[str, float] = {}
    for _, _, e in g.edges(data=True):
        kinds[e.get("kind", "other")] = kinds.get(e.get("kind", "other"), 0.0) + e["grams"]
    ties = sum(1 for _, _, e in g.edges(data=True) if e.get("tie", False))
    flows = flow_table(g)
    rings = active[active["role"] == "wholesaler"]["ring_size"]
    comp = actors.drop_duplicates("component")["component_size"]
    out = {
        "actors": {r: int((active["role"] == r).sum()) for r in ROLE_NAMES},
        "actors_gone": int((~actors["active"]).sum()),
        "edges": g.number_of_edges(), "edges_with_flow": sum(1 for *_, x in g.edges(data="grams") if x > 0),
        "ties": ties,
        "grams_by_kind": dict(sorted(kinds.items())),
        "delivered_g": {"users": sum(kinds.get(k, 0.0) for k in ("retail",)),
                        "foreign": kinds.get("smuggling", 0.0) + kinds.get("state_export", 0.0)},
        "max_flow_g": flows,
        "components": int(len(comp)), "largest_component": int(comp.max()) if len(comp) else 0,
        "rings": int(len(rings)), "ring_size_mean": float(rings.mean()) if len(rings) else 0.0,
        "ring_size_max": int(rings.max()) if len(rings) else 0,
    }
    if isinstance(snap, Snapshot):
        out = {"run_id": snap.info.get("run_id"), "step": snap.step, "window": snap.window,
               "date": g.graph.get("date"), **out}
    return out


#: Node metrics copied onto the graph by `annotate` (for GraphML/GEXF and Gephi).
ANNOTATED = ("flow_share", "betweenness", "degree", "component", "component_size", "ring", "ring_size")


def annotate(snap: Snapshot | nx.DiGraph, nodes: pd.DataFrame | None = None) -> nx.DiGraph:
    """Copy the `node_metrics` columns of `ANNOTATED` onto the graph's nodes; returns the graph."""
    g = _graph(snap)
    nodes = node_metrics(g) if nodes is None else nodes
    for row in nodes[["node", *ANNOTATED]].itertuples(index=False):
        d = g.nodes[row.node]
        for col in ANNOTATED:
            v = getattr(row, col)
            d[col] = v.item() if hasattr(v, "item") else v
    return g
