"""Max-flow on a snapshot: how much product the network can move to users and abroad.

The snapshot graph becomes a capacitated s-t network (`FlowNetwork`):

- a super-source feeds ``production`` (uncapacitated) and the holdings of every actor and of
  the state at the start of the window (capacity ``stock_start_g``: stock can be passed on
  too; the state is also fed by ``production`` over the window);
- every actor is split into an in- and an out-copy joined by an arc of capacity
  ``throughput_g`` (removing the actor = cutting that arc, so its stock goes with it, as in an
  arrest);
- every edge that moved product over the window is an arc with capacity = its grams; edges into
  ``seized:*`` nodes lead nowhere and are left out;
- each target node (``users:*``, ``foreign:*``) drains into a super-sink (uncapacitated).

With capacities equal to the observed flows, the observed deliveries are a feasible
(pre)flow, so the max-flow is at least what reached the targets; it exceeds it only where
product could be re-routed over existing edges. Flows are solved as a linear programme with
HiGHS at tight tolerances (agrees with networkx's combinatorial max-flow to ~1e-10; no integer
scaling). ``foreign:China`` forwards part of what
it receives to Japan and South Korea (S14); the flow "abroad" counts product at its first
foreign arrival, so nothing is counted twice. The exact reduction of a network before the
interdiction MILP is in `narcoflow.network.reduction`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import networkx as nx
import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog
from scipy.sparse.csgraph import breadth_first_order

from narcoflow.errors import NetworkError
from narcoflow.network.reduction import reduce_network
from narcoflow.network.snapshot import Snapshot

TARGET_GROUPS = ("users", "foreign")
#: HiGHS at its tightest tolerances: flows agree with a combinatorial max-flow to ~1e-10.
_LP_OPTIONS = {"primal_feasibility_tolerance": 1e-10, "dual_feasibility_tolerance": 1e-10}
SOURCE_NODE, SINK_NODE = "__source__", "__sink__"


def resolve_targets(graph: nx.DiGraph, targets: str | Iterable[str] = TARGET_GROUPS) -> list[str]:
    """Target node ids from group names (``users``, ``foreign``, ``all``) and/or node ids.

    Raises
    ------
    NetworkError
        A name that is neither a group nor a users/foreign node of the graph.
    """
    if isinstance(targets, str):
        targets = [targets]
    out: list[str] = []
    for t in targets:
        if t == "all":
            groups = TARGET_GROUPS
        elif t in TARGET_GROUPS:
            groups = (t,)
        else:
            groups = ()
        if groups:
            out += sorted(n for n, k in graph.nodes(data="kind") if k in groups)
        elif t in graph and graph.nodes[t].get("kind") in TARGET_GROUPS:
            out.append(t)
        else:
            known = sorted(n for n, k in graph.nodes(data="kind") if k in TARGET_GROUPS)
            raise NetworkError(f"unknown flow target {t!r}: use users, foreign, all or one of "
                               f"{', '.join(known)}.")
    return list(dict.fromkeys(out))


def removable(graph: nx.DiGraph) -> list[str]:
    """Actors that can be removed: those still active at the snapshot step."""
    return [n for n, d in graph.nodes(data=True) if d.get("kind") == "actor" and d.get("active", True)]


@dataclass
class FlowNetwork:
    """A capacitated s-t network built from a snapshot graph (see the module docstring).

    ``tail``, ``head``, ``cap`` describe the arcs (``cap`` is ``inf`` where unbounded);
    ``candidates`` are the removable actors and ``cand_arc`` the index of each one's split arc;
    ``cost`` their removal costs. Nodes and arcs that cannot carry flow from the source to the
    sink are pruned.
    """

    nodes: list[str]
    tail: np.ndarray
    head: np.ndarray
    cap: np.ndarray
    source: int
    sink: int
    candidates: list[str]
    cand_arc: np.ndarray
    targets: list[str]

    @property
    def n_nodes(self) -> int:
        return len(self.nodes)

    @property
    def n_arcs(self) -> int:
        return len(self.tail)

    def arcs_of(self, removed: Iterable[str]) -> np.ndarray:
        """Indices of the split arcs of ``removed`` actors (actors pruned away have none)."""
        index = {c: i for i, c in enumerate(self.candidates)}
        return np.array([self.cand_arc[index[r]] for r in removed if r in index], dtype=np.int64)


def flow_network(graph: nx.DiGraph, targets: str | Iterable[str] = TARGET_GROUPS,
                 *, candidates: Iterable[str] | None = None) -> FlowNetwork:
    """Build the capacitated network of ``graph`` towards ``targets`` (see the module docstring)."""
    target_nodes = set(resolve_targets(graph, targets))
    cand_set = set(removable(graph) if candidates is None else candidates)
    idx: dict[str, int] = {SOURCE_NODE: 0, SINK_NODE: 1}
    names = [SOURCE_NODE, SINK_NODE]

    def new(name: str) -> int:
        idx[name] = len(names)
        names.append(name)
        return idx[name]

    tail: list[int] = []
    head: list[int] = []
    cap: list[float] = []
    split_arc: dict[str, int] = {}
    inn: dict[str, int] = {}
    out: dict[str, int] = {}
    for node, d in graph.nodes(data=True):
        kind = d.get("kind")
        if kind == "seized":
            continue
        if kind == "actor":
            inn[node], out[node] = new(f"{node}#in"), new(f"{node}#out")
            split_arc[node] = len(tail)
            tail.append(inn[node])
            head.append(out[node])
            cap.append(float(d.get("throughput_g", 0.0)))
            stock = float(d.get("stock_start_g", 0.0))
            if stock > 0:
                tail.append(0)
                head.append(inn[node])
                cap.append(stock)
        else:
            inn[node] = out[node] = new(node)
            if kind == "production":
                tail.append(0)
                head.append(inn[node])
                cap.append(np.inf)
            elif kind == "state" and float(d.get("stock_start_g", 0.0)) > 0:
                tail.append(0)
                head.append(inn[node])
                cap.append(float(d["stock_start_g"]))
            if node in target_nodes:
                tail.append(out[node])
                head.append(1)
                cap.append(np.inf)
    for u, v, d in graph.edges(data=True):
        g = float(d.get("grams", 0.0))
        if g <= 0 or v not in inn or u not in out:
            continue
        tail.append(out[u])
        head.append(inn[v])
        cap.append(g)
    tail_a, head_a, cap_a = np.array(tail, np.int64), np.array(head, np.int64), np.array(cap)
    # Prune what cannot carry source -> sink flow, and numerical dust (arcs below 1e-12 of the
    # largest capacity: rounding residues of pro-rata transfers).
    n = len(names)
    finite = np.isfinite(cap_a)
    dust = 1e-12 * float(cap_a[finite].max()) if finite.any() else 0.0
    keep_arc = cap_a > dust
    adj = sp.csr_array((np.ones(keep_arc.sum()), (tail_a[keep_arc], head_a[keep_arc])), shape=(n, n))
    fwd = np.zeros(n, bool)
    fwd[breadth_first_order(adj, 0, directed=True, return_predecessors=False)] = True
    bwd = np.zeros(n, bool)
    bwd[breadth_first_order(adj.T.tocsr(), 1, directed=True, return_predecessors=False)] = True
    alive = fwd & bwd
    alive[[0, 1]] = True
    keep_arc &= alive[tail_a] & alive[head_a]
    new_index = np.cumsum(alive) - 1
    arc_new = np.cumsum(keep_arc) - 1
    cands = [c for c in sorted(cand_set) if c in split_arc and keep_arc[split_arc[c]]]
    return FlowNetwork(
        nodes=[nm for nm, a in zip(names, alive, strict=True) if a],
        tail=new_index[tail_a[keep_arc]], head=new_index[head_a[keep_arc]], cap=cap_a[keep_arc],
        source=0, sink=1, candidates=cands,
        cand_arc=np.array([arc_new[split_arc[c]] for c in cands], dtype=np.int64),
        targets=sorted(target_nodes),
    )


def _solve_arrays(tail: np.ndarray, head: np.ndarray, cap: np.ndarray, n: int, source: int, sink: int,
                  blocked: np.ndarray) -> tuple[float, np.ndarray]:
    """Max-flow value and arc flows of an arc list, ``blocked`` arcs at capacity 0 (LP, HiGHS)."""
    m = len(tail)
    if m == 0:
        return 0.0, np.zeros(0)
    upper = cap.copy()
    upper[blocked] = 0.0
    # Scale to O(1) for the solver's tolerances.
    finite = np.isfinite(upper) & (upper > 0)
    unit = float(np.max(upper[finite])) if finite.any() else 1.0
    bounds = np.column_stack([np.zeros(m), np.where(np.isfinite(upper), upper / unit, np.inf)])
    inner = np.ones(n, bool)
    inner[[source, sink]] = False
    rows = np.concatenate([head, tail])
    cols = np.concatenate([np.arange(m), np.arange(m)])
    vals = np.concatenate([np.ones(m), -np.ones(m)])
    a_full = sp.csr_array((vals, (rows, cols)), shape=(n, m))
    a_eq = a_full[np.flatnonzero(inner)]
    c = np.where(head == sink, -1.0, 0.0) - np.where(tail == sink, -1.0, 0.0)
    if not (c < 0).any():
        return 0.0, np.zeros(m)
    # An uncapacitated source -> sink path would make the LP unbounded; bound every arc by the
    # total finite capacity, which no flow can exceed.
    total = float(np.sum(upper[np.isfinite(upper)])) / unit
    bounds[:, 1] = np.minimum(bounds[:, 1], total + 1.0)
    res = linprog(c, A_eq=a_eq, b_eq=np.zeros(a_eq.shape[0]), bounds=bounds, method="highs",
                  options=_LP_OPTIONS)
    if res.status != 0:
        raise NetworkError(f"max-flow LP failed: {res.message}")
    return float(-res.fun * unit), res.x * unit


def _solve_max_flow(net: FlowNetwork, blocked: np.ndarray) -> tuple[float, np.ndarray]:
    """Max-flow value and arc flows of ``net`` with the ``blocked`` arcs at capacity 0."""
    return _solve_arrays(net.tail, net.head, net.cap, net.n_nodes, net.source, net.sink, blocked)


class FlowEvaluator:
    """Max-flows of one graph towards several target sets, for many removal sets.

    Builds and reduces (`reduce_network`) each target set's network once; every max-flow is then
    an LP on the reduced network, which has the same max-flow for any removal set.
    """

    def __init__(self, graph: nx.DiGraph, candidates: Iterable[str] | None = None):
        self.graph = graph
        self.candidates = list(removable(graph) if candidates is None else candidates)
        self._cache: dict[tuple[str, ...], tuple] = {}
        self._memo: dict[tuple, float] = {}

    def network(self, targets: str | Iterable[str] = TARGET_GROUPS) -> FlowNetwork:
        return self._get(targets)[0]

    def reduced(self, targets: str | Iterable[str] = TARGET_GROUPS):
        return self._get(targets)[1]

    def _get(self, targets):
        key = tuple(resolve_targets(self.graph, targets))
        if key not in self._cache:
            net = flow_network(self.graph, key, candidates=self.candidates)
            index = {c: i for i, c in enumerate(net.candidates)}
            self._cache[key] = (net, reduce_network(net), index)
        return self._cache[key]

    def max_flow(self, targets: str | Iterable[str] = TARGET_GROUPS, removed: Iterable[str] = ()) -> float:
        net, (tail, head, cap, cand, n), index = self._get(targets)
        idx = sorted({index[r] for r in removed if r in index})
        key = (tuple(net.targets), tuple(idx))
        if key not in self._memo:
            self._memo[key] = _solve_arrays(tail, head, cap, n, 0, 1, np.isin(cand, idx) & (cand >= 0))[0]
        return self._memo[key]

    def table(self, removed: Iterable[str] = ()) -> dict[str, float]:
        removed = list(removed)
        out = {t: self.max_flow(t, removed) for t in ("all", "users", "foreign")}
        for t in resolve_targets(self.graph, "foreign"):
            out[t] = self.max_flow(t, removed)
        return out


def max_flow(graph: nx.DiGraph | Snapshot, targets: str | Iterable[str] = TARGET_GROUPS, *,
             removed: Iterable[str] = ()) -> float:
    """Maximum grams per window the network can move to ``targets``, after ``removed`` actors.

    Parameters
    ----------
    graph : networkx.DiGraph or Snapshot
        A snapshot graph (or one read back from GraphML/GEXF).
    targets : str or list of str
        ``users``, ``foreign``, ``all`` (both; the default) or node ids such as
        ``foreign:Japan``.
    removed : iterable of str
        Actor node ids taken out of the network (with their stock).

    Examples
    --------
    >>> import networkx as nx
    >>> g = nx.DiGraph()
    >>> g.add_node("production", kind="production")
    >>> g.add_node("users:A", kind="users")
    >>> for a in ("seller:1", "seller:2"):
    ...     g.add_node(a, kind="actor", role="seller", throughput_g=5.0, stock_start_g=0.0)
    ...     g.add_edge("production", a, grams=5.0)
    ...     g.add_edge(a, "users:A", grams=5.0)
    >>> max_flow(g), max_flow(g, removed=["seller:1"])
    (10.0, 5.0)
    """
    g = graph.graph if isinstance(graph, Snapshot) else graph
    removed = list(removed)
    net = flow_network(g, targets, candidates=removed)
    return _solve_max_flow(net, net.arcs_of(removed))[0]


def flow_table(graph: nx.DiGraph | Snapshot, *, removed: Iterable[str] = ()) -> dict[str, float]:
    """Max-flow to all targets, to users, abroad and to each foreign destination (grams/window)."""
    g = graph.graph if isinstance(graph, Snapshot) else graph
    removed = list(removed)
    return FlowEvaluator(g, candidates=removed).table(removed)
