"""The trafficking network (S11-S13): snapshots, metrics, max-flow and optimal interdiction.

>>> import narcoflow.network as nn
>>> from narcoflow.engine import Simulation
>>> snap = nn.snapshot(Simulation("north-korea-2011", seed=1, scale=0.002, years=2))
>>> plans = nn.interdict(snap, 2)
>>> [p.name for p in plans.plans]
['optimal', 'degree', 'betweenness', 'throughput', 'random']

See docs/network.md.
"""

from narcoflow.network.flows import flow_network, flow_table, max_flow, resolve_targets
from narcoflow.network.interdiction import Interdiction, Plan, interdict, parse_costs
from narcoflow.network.metrics import flow_shares, network_metrics, node_metrics
from narcoflow.network.snapshot import (
    NetworkError,
    Snapshot,
    actor_node,
    ledger_gaps,
    read_graph,
    snapshot,
    write_graph,
)

__all__ = [
    "Interdiction", "NetworkError", "Plan", "Snapshot", "actor_node", "flow_network", "flow_shares",
    "flow_table", "interdict", "ledger_gaps", "max_flow", "network_metrics", "node_metrics",
    "parse_costs", "read_graph", "resolve_targets", "snapshot", "write_graph",
]
