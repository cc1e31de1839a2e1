"""Exact reduction of a max-flow network before the interdiction MILP: same optimum, fewer arcs.

Kept apart from `narcoflow.network.flows` (which builds and solves the network) because it is
a graph-rewriting algorithm of its own, used by `FlowEvaluator` and `narcoflow.network.interdict`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from narcoflow.network.flows import FlowNetwork


def reduce_network(net: FlowNetwork) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """An equivalent, smaller network for the MILP (same optimum, same removals).

    - A node with an uncapacitated arc to the sink is on the sink side of every finite cut
      (users, foreign markets): it is merged into the sink; likewise a node fed by an
      uncapacitated arc from the source (production) is merged into the source. Arcs out of the
      sink, into the source and self-loops then constrain nothing and are dropped.
    - Series: a node with one arc in and one arc out is replaced by one arc, whose capacity is the
      smaller and which keeps the removal variable of whichever arc had one (a node between two
      removable arcs is kept).
    - Parallel arcs between the same nodes, neither removable, become one arc with the summed
      capacity.

    The last two are repeated until nothing changes. Returns ``tail, head, cap, cand``
    (candidate index per arc, -1 if none) and the node count, the source and the sink kept as
    nodes 0 and 1.
    """
    src, snk = net.source, net.sink
    rep = list(range(net.n_nodes))
    inf_arcs = [(int(t), int(h)) for t, h, c in zip(net.tail, net.head, net.cap, strict=True) if not np.isfinite(c)]
    changed = True
    while changed:
        changed = False
        for t, h in inf_arcs:
            u, v = rep[t], rep[h]
            if v == snk and u not in (src, snk):
                rep = [snk if r == u else r for r in rep]
                changed = True
            elif u == src and v not in (src, snk):
                rep = [src if r == v else r for r in rep]
                changed = True
    cand_of = np.full(net.n_arcs, -1, dtype=np.int64)
    cand_of[net.cand_arc] = np.arange(len(net.candidates))
    tail, head, cap, cand = [], [], [], []
    for t, h, c, k in zip(net.tail.tolist(), net.head.tolist(), net.cap.tolist(), cand_of.tolist(), strict=True):
        u, v = rep[t], rep[h]
        if u == v or u == snk or v == src:
            continue
        tail.append(u)
        head.append(v)
        cap.append(c)
        cand.append(k)
    alive = [True] * len(tail)
    ins: list[set[int]] = [set() for _ in range(net.n_nodes)]
    outs: list[set[int]] = [set() for _ in range(net.n_nodes)]
    for a in range(len(tail)):
        outs[tail[a]].add(a)
        ins[head[a]].add(a)

    def add(u, v, c, k):
        tail.append(u)
        head.append(v)
        cap.append(c)
        cand.append(k)
        alive.append(True)
        outs[u].add(len(tail) - 1)
        ins[v].add(len(tail) - 1)

    def kill(a):
        alive[a] = False
        outs[tail[a]].discard(a)
        ins[head[a]].discard(a)

    changed = True
    while changed:
        changed = False
        for x in range(net.n_nodes):
            if x in (src, snk) or len(ins[x]) != 1 or len(outs[x]) != 1:
                continue
            (a,), (b,) = ins[x], outs[x]
            u, v = tail[a], head[b]
            if cand[a] >= 0 and cand[b] >= 0:
                continue
            kill(a)
            kill(b)
            if u != v:
                add(u, v, min(cap[a], cap[b]), max(cand[a], cand[b]))
            changed = True
        for u in range(net.n_nodes):
            plain: dict[int, int] = {}
            for a in list(outs[u]):
                if cand[a] >= 0:
                    continue
                first = plain.setdefault(head[a], a)
                if first != a:
                    cap[first] = cap[first] + cap[a]
                    kill(a)
                    changed = True
    keep = np.flatnonzero(alive)
    t, h = np.array(tail, dtype=np.int64)[keep], np.array(head, dtype=np.int64)[keep]
    used = np.zeros(net.n_nodes, bool)
    used[t] = used[h] = True
    used[[src, snk]] = True
    renum = np.cumsum(used) - 1
    return renum[t], renum[h], np.array(cap)[keep], np.array(cand, dtype=np.int64)[keep], int(used.sum())
