"""Synthetic layered trafficking networks with the snapshot conventions (tests and benchmarks).

The layers follow S11-S13: production -> producers -> deliverers -> wholesalers -> sellers ->
users of a region, wholesalers -> smugglers -> China -> Japan / South Korea, the state siphoning
to wholesalers and exporting abroad, and seizures at every tier. Ties are mostly one supplier
per actor (S12) with a few second suppliers, so that product can be re-routed. Every actor
keeps the conservation ledger (what it does not pass on or lose to seizure stays in stock).
Grams are arbitrary but of the order of a real snapshot.
"""

from __future__ import annotations

import networkx as nx
import numpy as np

from narcoflow.engine.rng import as_rng

#: Share of actors by role (roughly a real snapshot at full population).
ROLE_SHARES = {"producer": 0.04, "deliverer": 0.01, "wholesaler": 0.06, "smuggler": 0.005}
DESTINATIONS = ("China", "Japan", "South Korea")


def layered_network(n_actors: int = 10_000, *, seed: int | np.random.Generator | None = 0,
                    regions: int = 12, second_tie: float = 0.1) -> nx.DiGraph:
    """A synthetic snapshot graph with about ``n_actors`` actors (plus the special nodes).

    Parameters
    ----------
    n_actors : int
        Actors (>= 5); the special nodes (production, state, users per region, 3 destinations,
        4 agencies) come on top.
    seed : int or Generator
        Random seed (the graph is a function of it).
    regions : int
        Number of regions.
    second_tie : float
        Share of wholesalers and sellers with a second supplier.

    Examples
    --------
    >>> g = layered_network(200, seed=3)
    >>> sum(1 for _, k in g.nodes(data="kind") if k == "actor")
    200
    """
    rng = as_rng(seed)
    n_actors = max(5, int(n_actors))
    counts = {r: max(1, int(round(s * n_actors))) for r, s in ROLE_SHARES.items()}
    counts["seller"] = n_actors - sum(counts.values())
    g = nx.DiGraph(units="grams (synthetic)", step=0, window=13, run_id="synthetic", scale=1.0)

    def special(node, kind, region=""):
        g.add_node(node, kind=kind, role=kind, region=region, uid=-1, stock_start_g=0.0, stock_g=0.0,
                   active=True, since=-1)

    special("production", "production")
    special("state", "state")
    region_names = [f"R{r}" for r in range(regions)]
    for r in region_names:
        special(f"users:{r}", "users", r)
    for d in DESTINATIONS:
        special(f"foreign:{d}", "foreign", d)
    for a in ("mps", "nsa", "border_guard", "china"):
        special(f"seized:{a}", "seized")
    uid = 0
    ids: dict[str, list[str]] = {}
    region_of: dict[str, int] = {}
    for role in ("producer", "deliverer", "wholesaler", "seller", "smuggler"):
        ids[role] = []
        for _ in range(counts[role]):
            node = f"{role}:{uid}"
            reg = int(rng.integers(regions))
            g.add_node(node, kind="actor", role=role, region=region_names[reg], uid=uid, stock_start_g=0.0,
                       stock_g=0.0, active=True, since=0)
            ids[role].append(node)
            region_of[node] = reg
            uid += 1
    inflow: dict[str, float] = {n: 0.0 for n in region_of}

    def move(u, v, grams, kind, tie=True):
        if grams <= 0:
            return
        if g.has_edge(u, v):
            g.edges[u, v]["grams"] += grams
        else:
            g.add_edge(u, v, grams=float(grams), kind=kind, tie=tie)
        if v in inflow:
            inflow[v] += grams

    def pick(pool: list[str], reg: int) -> str:
        local = [p for p in pool if region_of[p] == reg]
        cand = local if local and rng.random() < 0.8 else pool
        return cand[int(rng.integers(len(cand)))]

    # Production -> producers -> deliverers.
    for p in ids["producer"]:
        move("production", p, float(rng.lognormal(np.log(400.0), 0.6)), "production", tie=False)
    clients: dict[str, list[str]] = {d: [] for d in ids["deliverer"]}
    for p in ids["producer"]:
        d = pick(ids["deliverer"], region_of[p])
        move(p, d, inflow[p] * rng.uniform(0.7, 0.95), "supply")
        if rng.random() < 0.05:
            move(p, "seized:nsa", inflow[p] * 0.05, "seizure", tie=False)
    # Wholesalers source from one deliverer (some from two).
    sources: dict[str, list[str]] = {w: [] for w in ids["wholesaler"]}
    for w in ids["wholesaler"]:
        k = 2 if rng.random() < second_tie and len(ids["deliverer"]) > 1 else 1
        for _ in range(k):
            d = pick(ids["deliverer"], region_of[w])
            if d not in sources[w]:
                sources[w].append(d)
                clients[d].append(w)
    for d, ws in clients.items():
        if not ws:
            continue
        weight = rng.uniform(0.5, 1.5, len(ws))
        passed = inflow[d] * rng.uniform(0.85, 1.0)
        for w, x in zip(ws, weight / weight.sum(), strict=True):
            move(d, w, passed * x, "supply")
    move("production", "state", 3500.0, "state_production", tie=False)
    for w in rng.choice(ids["wholesaler"], size=min(len(ids["wholesaler"]), 3), replace=False):
        move("state", str(w), float(rng.uniform(50, 200)), "siphon", tie=False)
    # Wholesalers -> sellers and smugglers.
    sellers_of: dict[str, list[str]] = {w: [] for w in ids["wholesaler"]}
    for s in ids["seller"]:
        k = 2 if rng.random() < second_tie and len(ids["wholesaler"]) > 1 else 1
        for _ in range(k):
            w = pick(ids["wholesaler"], region_of[s])
            if s not in sellers_of[w]:
                sellers_of[w].append(s)
    export_of = {w: pick(ids["smuggler"], region_of[w]) for w in ids["wholesaler"] if rng.random() < 0.3}
    for w in ids["wholesaler"]:
        avail = inflow[w] * rng.uniform(0.8, 0.98)
        if w in export_of:
            share = rng.uniform(0.05, 0.3)
            move(w, export_of[w], avail * share, "supply")
            avail *= 1 - share
        ss = sellers_of[w]
        if ss:
            weight = rng.uniform(0.5, 1.5, len(ss))
            for s, x in zip(ss, weight / weight.sum(), strict=True):
                move(w, s, avail * x, "supply")
        if rng.random() < 0.03:
            move(w, "seized:mps", inflow[w] * 0.01, "seizure", tie=False)
    for s in ids["seller"]:
        move(s, f"users:{region_names[region_of[s]]}", inflow[s] * rng.uniform(0.8, 0.97), "retail", tie=False)
    for m in ids["smuggler"]:
        if inflow[m] > 0:
            lost = inflow[m] * (0.1 if rng.random() < 0.2 else 0.0)
            move(m, "seized:border_guard", lost, "seizure", tie=False)
            move(m, "foreign:China", inflow[m] - lost, "smuggling", tie=False)
    china_in = sum(e["grams"] for _, _, e in g.in_edges("foreign:China", data=True))
    move("state", "foreign:China", 2000.0, "state_export", tie=False)
    move("state", "foreign:Japan", 500.0, "state_export", tie=False)
    move("foreign:China", "foreign:Japan", 0.05 * (china_in + 2000.0), "onward", tie=False)
    move("foreign:China", "foreign:South Korea", 0.05 * (china_in + 2000.0), "onward", tie=False)
    move("foreign:China", "seized:china", 0.1 * (china_in + 2000.0), "seizure_abroad", tie=False)
    # Node totals and end stocks (ledger: in - out = stock change).
    for node, d in g.nodes(data=True):
        d["in_g"] = float(sum(e["grams"] for _, _, e in g.in_edges(node, data=True)))
        out = [(g.nodes[v]["kind"], e["grams"]) for _, v, e in g.out_edges(node, data=True)]
        d["out_g"] = float(sum(x for _, x in out))
        d["throughput_g"] = float(sum(x for k, x in out if k != "seized"))
        if d["kind"] in ("actor", "state"):
            d["stock_g"] = max(0.0, d["in_g"] - d["out_g"])
        elif d["kind"] in ("users", "foreign", "seized"):
            d["throughput_g"] = d["in_g"]
    return g
