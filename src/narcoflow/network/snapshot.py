"""The actor network of a run at one step (S11-S13), rebuilt by re-simulating the run.

A stored run keeps its full scenario, seed, scale and step count, and runs are deterministic, so
the network at any step is recovered exactly by re-simulating the run to that step with the
engine's flow log switched on for the last ``window`` weeks (`narcoflow.network.replay`). The result is a `Snapshot`: a
`networkx.DiGraph` whose nodes are

- actors, ``"<role>:<uid>"`` (``uid`` is the engine's permanent actor id), with ``role``,
  ``region``, ``stock_start_g``, ``stock_g`` (held at the start and at the end of the window,
  including lots a deliverer carries), ``in_g``, ``out_g``, ``throughput_g`` (grams passed on
  to other actors, users or abroad; seizures excluded), ``active`` (still in its role at the
  step) and ``since`` (the step it entered);
- special nodes: ``production`` (all output: private producers' and the state factories'),
  ``state`` (the NSA's stock, with ``stock_start_g`` and ``stock_g``: siphon and state
  exports), ``users:<region>``, ``foreign:<destination>`` and ``seized:<agency>``;

and whose edges carry ``grams`` moved over the window and ``kind`` (``production``,
``state_production``, ``siphon``, ``supply``, ``retail``, ``smuggling``, ``state_export``, ``onward``, ``seizure``,
``seizure_abroad``); ``tie`` is true for the ties that exist at the step (S12: each actor's one
supplier and a wholesaler's smuggler), which are edges even if nothing moved over them.

Grams are expressed for the full population, as in the metrics table (simulated grams / scale).
Every actor (and the state) keeps the conservation ledger: in_g - out_g = stock_g - stock_start_g, where out_g
includes its sales to users, exports and seizures (`ledger_gaps`).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd

from narcoflow.engine import Simulation
from narcoflow.engine import state as st
from narcoflow.engine.flowlog import AGENCIES, SOURCE, STATE
from narcoflow.errors import NetworkError
from narcoflow.network.replay import check_step, replay, replay_window, run_info

__all__ = ["DEFAULT_HORIZON", "DEFAULT_WINDOW", "NetworkError", "Snapshot",
           "actor_node", "check_step", "ledger_gaps", "read_graph", "replay", "snapshot", "write_graph"]

#: Default window over which flows are summed (a quarter).
DEFAULT_WINDOW = 13
#: Extra weeks every replay can run past the snapshot step (for dynamic tests of plans).
DEFAULT_HORIZON = 52
#: Flow-log ids of the seizing agencies, by name.
_AGENCY_OF = {-300 - i: name for i, name in enumerate(AGENCIES)}


def actor_node(role: str, uid: int) -> str:
    """Node id of an actor: ``"<role>:<uid>"``."""
    return f"{role}:{int(uid)}"


@dataclass
class Snapshot:
    """The actor network of a run at one step.

    Attributes
    ----------
    graph : networkx.DiGraph
        Nodes and edges as described in the module docstring; ``graph.graph`` holds
        ``run_id, scenario, seed, scale, steps, step, window, date``.
    step : int
        Steps simulated before the snapshot (the network as it stands after week ``step - 1``).
    window : int
        Weeks over which the edge flows are summed (steps ``step - window`` .. ``step - 1``).
    info : dict
        The run's identity (``run_id, scenario, seed, scale, steps, version, parameters``).
    simulation : Simulation or None
        The replay, stopped at ``step`` (reused by `narcoflow.network.dynamic_test`).
    """

    graph: nx.DiGraph
    step: int
    window: int
    info: dict[str, Any]
    simulation: Simulation | None = field(default=None, repr=False)

    @property
    def actors(self) -> list[str]:
        """Actor node ids (active or not)."""
        return [n for n, k in self.graph.nodes(data="kind") if k == "actor"]

    def __repr__(self) -> str:
        g = self.graph
        roles = pd.Series([d.get("role") for _, d in g.nodes(data=True) if d.get("kind") == "actor"])
        counts = ", ".join(f"{r} {n}" for r, n in roles.value_counts().sort_index().items())
        return (f"Snapshot(run {self.info.get('run_id')!r}, step {self.step}, window {self.window} "
                f"weeks; {g.number_of_nodes()} nodes ({counts}), {g.number_of_edges()} edges)")


def snapshot(source, step: int | None = None, *, window: int = DEFAULT_WINDOW, db=None) -> Snapshot:
    """The actor network of a run at ``step``, with the flows of the last ``window`` weeks.

    Parameters
    ----------
    source : str, Results, dict or Simulation
        A run id (a unique prefix is enough; read from ``db``), a `Results`, a ``runs`` row
        (``parameters, seed, scale, steps``), or a `Simulation` that has not started.
    step : int, optional
        Steps simulated before the snapshot, in [1, steps]; default: the run's last step.
    window : int
        Weeks of flows summed on the edges (>= 1; shortened to ``step`` if longer).
    db : path, optional
        DuckDB results file, for a run id (default ``narcoflow.duckdb``).

    Returns
    -------
    Snapshot

    Raises
    ------
    NetworkError
        ``step`` outside the run, ``window`` < 1, or the replay does not reproduce the stored
        run (it was made by another version of the engine).

    Examples
    --------
    >>> from narcoflow.engine import Simulation
    >>> snap = snapshot(Simulation("north-korea-2011", seed=1, scale=0.002, years=2), window=4)
    >>> snap.step, snap.window
    (104, 4)
    >>> max(abs(g) for g in ledger_gaps(snap).values()) < 1e-6
    True
    """
    info, metrics = run_info(source, db)
    steps = int(info["steps"])
    step = check_step(step, steps)
    if isinstance(window, bool) or not isinstance(window, int | np.integer) or window < 1:
        raise NetworkError(f"window {window!r} must be a whole number of weeks >= 1.")
    window = min(int(window), step)
    w = replay_window(info, metrics, step, window, horizon=DEFAULT_HORIZON)
    sim = w.sim
    graph = _build_graph(sim, w.flows, w.book, w.held0, w.held1)
    graph.nodes["state"]["stock_start_g"] = w.state0 / sim.scale
    graph.nodes["state"]["stock_g"] = float(sim.state_stock.sum()) / sim.scale
    graph.graph.update({
        "run_id": str(info.get("run_id") or ""), "scenario": str(info["scenario"]),
        "seed": int(info["seed"]), "scale": float(info["scale"]), "steps": steps, "step": step,
        "window": window, "date": str(sim.date_of(step)), "units": "grams, full population",
    })
    # The replay is kept at `step` (catalogues off) for dynamic tests of removal plans.
    return Snapshot(graph=graph, step=step, window=window, info=info, simulation=sim)


def _special_names(sim: Simulation) -> dict[int, tuple[str, str, str]]:
    """Flow-log id -> (node id, kind, region label) for every special node."""
    out = {SOURCE: ("production", "production", ""), STATE: ("state", "state", "")}
    for r, name in enumerate(sim.region_names):
        out[-100 - r] = (f"users:{name}", "users", name)
    for d, name in enumerate(sim.dest_names):
        out[-200 - d] = (f"foreign:{name}", "foreign", name)
    for code, agency in _AGENCY_OF.items():
        out[code] = (f"seized:{agency}", "seized", "")
    return out


_EDGE_KIND = {
    ("production", "actor"): "production", ("production", "state"): "state_production",
    ("state", "actor"): "siphon",
    ("state", "foreign"): "state_export", ("actor", "actor"): "supply", ("actor", "users"): "retail",
    ("actor", "foreign"): "smuggling", ("actor", "seized"): "seizure", ("foreign", "foreign"): "onward",
    ("foreign", "seized"): "seizure_abroad",
}


def _build_graph(sim: Simulation, flows: pd.DataFrame, book, held0: dict[int, float],
                 held1: dict[int, float]) -> nx.DiGraph:
    a = sim.actors
    per = 1.0 / sim.scale
    special = _special_names(sim)
    g = nx.DiGraph()
    for code, (node, kind, region) in special.items():
        g.add_node(node, kind=kind, role=kind, region=region, uid=int(code), stock_start_g=0.0,
                   stock_g=0.0, active=True, since=-1)
    # Actors: every uid seen in the window (in the flow log, at the start or at the end).
    uids = set(held0) | set(held1)
    if len(flows):
        uids |= set(flows["src"][flows["src"] >= 0].tolist()) | set(flows["dst"][flows["dst"] >= 0].tolist())
    active_uid = {int(u): int(s) for s, u in zip(np.flatnonzero(a.active), a.uid[a.active], strict=True)}
    crossings = [c.name for c in sim.scenario.border.crossings]
    cities = [c.name for c in sim.scenario.private.chemical_cities]
    node_of: dict[int, str] = {}
    for uid in sorted(uids):
        role_i, region_i = int(book["role"][uid]), int(book["region"][uid])
        if role_i < 0:  # cannot happen with the catalogue after every process
            raise NetworkError(f"actor uid {uid} moved product but was never seen active")
        role = st.ROLE_NAMES[role_i]
        node = actor_node(role, uid)
        node_of[uid] = node
        slot = active_uid.get(uid)
        attrs = dict(kind="actor", role=role, region=sim.region_names[region_i], uid=int(uid),
                     stock_start_g=held0.get(uid, 0.0) * per, stock_g=held1.get(uid, 0.0) * per,
                     active=slot is not None, since=int(book["since"][uid]))
        if slot is not None and role_i == st.SMUGGLER and a.crossing[slot] >= 0:
            attrs["crossing"] = crossings[a.crossing[slot]]
        if slot is not None and role_i == st.PRODUCER and a.city[slot] >= 0:
            attrs["city"] = cities[a.city[slot]]
        g.add_node(node, **attrs)

    def name(code: int) -> str:
        return node_of[code] if code >= 0 else special[code][0]

    if len(flows):
        agg = flows.groupby(["src", "dst"], sort=True)["grams"].sum()
        for (src, dst), grams in agg.items():
            u, v = name(int(src)), name(int(dst))
            kind = _EDGE_KIND.get((g.nodes[u]["kind"], g.nodes[v]["kind"]), "other")
            g.add_edge(u, v, grams=float(grams) * per, kind=kind, tie=False)
    # Ties at the step (S12), with or without flow over the window.
    for field_name, kind in (("supplier", "supply"), ("export_tie", "supply")):
        ties = getattr(a, field_name)
        for s in np.flatnonzero(a.active & (ties >= 0)):
            other = int(ties[s])
            if not a.active[other]:
                continue
            me, them = node_of.get(int(a.uid[s])), node_of.get(int(a.uid[other]))
            if me is None or them is None:
                continue
            # Product moves from supplier to client: supplier -> me, except that a producer's tie
            # is its buyer (its deliverer) and a wholesaler's export tie is its smuggler.
            role = int(a.role[s])
            upstream = role in (st.PRODUCER, st.DELIVERER) or field_name == "export_tie"
            u, v = (me, them) if upstream else (them, me)
            if g.has_edge(u, v):
                g.edges[u, v]["tie"] = True
            else:
                g.add_edge(u, v, grams=0.0, kind=kind, tie=True)
    # Node totals.
    for node in g.nodes:
        g.nodes[node]["in_g"] = float(sum(d["grams"] for _, _, d in g.in_edges(node, data=True)))
        out = [(g.nodes[v]["kind"], d["grams"]) for _, v, d in g.out_edges(node, data=True)]
        g.nodes[node]["out_g"] = float(sum(x for _, x in out))
        g.nodes[node]["throughput_g"] = float(sum(x for k, x in out if k != "seized"))
    for node, k in g.nodes(data="kind"):
        if k in ("users", "foreign", "seized"):
            g.nodes[node]["throughput_g"] = g.nodes[node]["in_g"]
    return g


def ledger_gaps(snap: Snapshot | nx.DiGraph) -> dict[str, float]:
    """Per actor and for the state: (in_g - out_g) - (stock_g - stock_start_g), from the edges.

    Zero up to rounding when the snapshot keeps the conservation ledger: what flows into an actor
    minus what flows out of it (to other actors, users, abroad and seizures) is the change of its
    holdings.
    """
    g = snap.graph if isinstance(snap, Snapshot) else snap
    out = {}
    for node, d in g.nodes(data=True):
        if d.get("kind") not in ("actor", "state"):
            continue
        inflow = sum(e["grams"] for _, _, e in g.in_edges(node, data=True))
        outflow = sum(e["grams"] for _, _, e in g.out_edges(node, data=True))
        out[node] = (inflow - outflow) - (d["stock_g"] - d["stock_start_g"])
    return out


# ---------------------------------------------------------------------------- files
_FORMATS = {".graphml": "graphml", ".gexf": "gexf"}


def write_graph(snap: Snapshot | nx.DiGraph, path: str | Path) -> Path:
    """Write the snapshot graph to GraphML (``.graphml``) or GEXF (``.gexf``) for Gephi.

    Raises
    ------
    NetworkError
        Unknown extension or a directory that does not exist.
    """
    g = snap.graph if isinstance(snap, Snapshot) else snap
    path = Path(path)
    fmt = _FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise NetworkError(f"cannot export the network to {path}: the file name must end in "
                           f"{' or '.join(_FORMATS)}.")
    if not path.parent.is_dir():
        raise NetworkError(f"cannot write {path}: the directory {path.parent} does not exist.")
    if path.is_dir():
        raise NetworkError(f"cannot write {path}: it is a directory; give a file name.")
    out = copy.deepcopy(g)
    if fmt == "graphml":
        nx.write_graphml(out, path)
    else:
        out.graph = {k: v for k, v in out.graph.items() if k != "units"}
        nx.write_gexf(out, path)
    return path


def read_graph(path: str | Path) -> nx.DiGraph:
    """Read a graph written by `write_graph` (GraphML or GEXF), with its attribute types."""
    path = Path(path)
    fmt = _FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise NetworkError(f"cannot read {path}: the file name must end in {' or '.join(_FORMATS)}.")
    if fmt == "graphml":
        return nx.read_graphml(path)
    g = nx.read_gexf(path)
    for _, d in g.nodes(data=True):
        d.pop("label", None)
    for _, _, d in g.edges(data=True):
        d.pop("id", None)
    return g
