"""Optimal interdiction: which removals (at most K actors, or a cost budget) cut the most flow.

The exact plan solves the max-flow network-interdiction problem as a mixed-integer programme
(Wood 1993, "Deterministic network interdiction", Math. Comput. Modelling 17(2):1-18,
doi:10.1016/0895-7177(93)90236-R), on the split network of `narcoflow.network.flows` where
removing an actor cuts its in -> out arc:

    minimise    sum_a  cap_a beta_a                       (capacity of the cut left standing)
    subject to  alpha_head(a) - alpha_tail(a) - beta_a - gamma_v(a) <= 0   for every arc a
                alpha_source = 0,  alpha_sink = 1
                sum_v cost_v gamma_v <= budget
                0 <= alpha, beta <= 1,   gamma_v in {0, 1}

where ``gamma_v(a)`` appears only on the split arc of removable actor v and ``beta_a`` only on
capacitated arcs. For fixed removals the rest is the min-cut LP (totally unimodular), so only
the removals are integer; the optimum is the smallest max-flow any feasible plan leaves (max-flow
= min-cut). It is solved with `scipy.optimize.milp` (HiGHS) to a zero optimality gap, and the
remaining flow of every plan is re-computed independently as a max-flow after the removals.

The exact plan is compared with the top-K actors by degree, by betweenness and by throughput,
and with random removals, all under the same budget.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field

import networkx as nx
import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.optimize import Bounds, LinearConstraint, milp

from narcoflow.engine.rng import as_rng
from narcoflow.engine.state import ROLE_NAMES
from narcoflow.network.flows import (
    TARGET_GROUPS,
    FlowEvaluator,
    FlowNetwork,
    _solve_max_flow,
    removable,
)
from narcoflow.network.metrics import node_metrics
from narcoflow.network.reduction import reduce_network
from narcoflow.network.snapshot import NetworkError, Snapshot

#: HiGHS presolve off (see `solve_interdiction`).
_PRESOLVE = False
#: HiGHS feasibility tolerances (defaults 1e-6 / 1e-7): the optimum then matches the max-flow
#: after its removals to ~1e-9 of the largest capacity.
_TOLERANCES = {"mip_feasibility_tolerance": 1e-9, "primal_feasibility_tolerance": 1e-9,
               "dual_feasibility_tolerance": 1e-9}
#: Rank metric of each heuristic plan (a column of `node_metrics`).
HEURISTICS = {"degree": "degree", "betweenness": "betweenness", "throughput": "throughput_g"}


@dataclass
class Plan:
    """A set of removals and the max-flow it leaves (grams over the snapshot's window)."""

    name: str
    removed: list[str]
    remaining_flow_g: float
    baseline_flow_g: float
    cost: float
    remaining_by_target_g: dict[str, float] = field(default_factory=dict)
    extra: dict = field(default_factory=dict)

    @property
    def cut_share(self) -> float:
        """Share of the baseline max-flow the plan cuts."""
        return 1.0 - self.remaining_flow_g / self.baseline_flow_g if self.baseline_flow_g > 0 else 0.0

    def to_dict(self) -> dict:
        d = asdict(self)
        extra = d.pop("extra")
        d["cut_share"] = self.cut_share
        d.update(extra)
        return d


@dataclass
class Interdiction:
    """The plans for one snapshot and budget; ``to_dict`` is the ``--json`` object."""

    plans: list[Plan]
    budget: float
    costs: dict[str, float]
    targets: list[str]
    baseline_by_target_g: dict[str, float]
    uncuttable_flow_g: float
    solve_time_s: float
    network_size: dict[str, int]
    info: dict = field(default_factory=dict)

    def plan(self, name: str) -> Plan:
        return next(p for p in self.plans if p.name == name)

    def to_dict(self) -> dict:
        return {**self.info, "budget": self.budget, "costs": self.costs, "targets": self.targets,
                "baseline_by_target_g": self.baseline_by_target_g,
                "uncuttable_flow_g": self.uncuttable_flow_g, "solve_time_s": self.solve_time_s,
                "network_size": self.network_size, "plans": [p.to_dict() for p in self.plans]}

    def to_frame(self) -> pd.DataFrame:
        """One row per plan: name, removals, cost, remaining and baseline flow, cut share."""
        return pd.DataFrame([{"plan": p.name, "removed": len(p.removed), "cost": p.cost,
                              "remaining_flow_g": p.remaining_flow_g, "baseline_flow_g": p.baseline_flow_g,
                              "cut_share": p.cut_share} for p in self.plans])


# ---------------------------------------------------------------------------- arguments
def parse_costs(costs: Mapping[str, float] | Iterable[str] | None) -> dict[str, float]:
    """Removal cost per role (default 1 each) from a mapping or ``role=VALUE`` strings.

    Raises
    ------
    NetworkError
        Unknown role, malformed item or a cost that is negative, zero or not finite.
    """
    out = dict.fromkeys(ROLE_NAMES, 1.0)
    if costs is None:
        return out
    items = costs.items() if isinstance(costs, Mapping) else []
    if not isinstance(costs, Mapping):
        parsed = []
        for item in costs:
            role, sep, value = str(item).partition("=")
            if not sep:
                raise NetworkError(f"--cost {item!r} must be ROLE=VALUE, e.g. wholesaler=3 (roles: "
                                   f"{', '.join(ROLE_NAMES)}).")
            try:
                parsed.append((role.strip(), float(value)))
            except ValueError:
                raise NetworkError(f"--cost {item!r}: {value!r} is not a number.") from None
        items = parsed
    for role, value in items:
        if role not in out:
            raise NetworkError(f"unknown role {role!r} in the removal costs: the roles are "
                               f"{', '.join(ROLE_NAMES)}.")
        value = float(value)
        if not (math.isfinite(value) and value > 0):
            raise NetworkError(f"the removal cost of {role} is {value:g}: it must be a finite number > 0.")
        out[role] = value
    return out


def check_budget(budget) -> float:
    """The budget as a float >= 0 (K removals at unit cost), or a `NetworkError`."""
    if isinstance(budget, bool) or not isinstance(budget, int | float | np.integer | np.floating):
        raise NetworkError(f"budget {budget!r} must be a number >= 0 (K removals, or a cost budget).")
    if not (math.isfinite(budget) and budget >= 0):
        raise NetworkError(f"budget {budget:g} is out of range: it must be >= 0 (K, the number of "
                           "actors to remove at unit cost, or a cost budget with --cost).")
    return float(budget)


# ---------------------------------------------------------------------------- exact plan
@dataclass
class MilpSolution:
    removed: list[str]
    objective_g: float
    status: int
    message: str
    solve_time_s: float
    mip_gap: float | None


def solve_interdiction(net: FlowNetwork, costs: np.ndarray, budget: float, *,
                       time_limit: float | None = None, mip_rel_gap: float = 0.0, reduced=None) -> MilpSolution:
    """Solve the MILP of the module docstring on ``net`` (``costs`` per candidate).

    The network is first reduced (`reduce_network`); HiGHS runs without its presolve, which
    on these networks costs more than it saves.
    """
    t0 = time.perf_counter()
    k = len(net.candidates)
    if k == 0 or budget <= 0 or net.n_arcs == 0:
        base = _solve_max_flow(net, np.empty(0, np.int64))[0]
        return MilpSolution([], base, 0, "nothing to remove", time.perf_counter() - t0, 0.0)
    tail, head, cap, cand, n = reduce_network(net) if reduced is None else reduced
    m = len(tail)
    finite = np.isfinite(cap)
    n_beta = int(finite.sum())
    beta_of_arc = np.full(m, -1, dtype=np.int64)
    beta_of_arc[finite] = np.arange(n_beta)
    unit = float(cap[finite].max()) if n_beta else 1.0
    n_var = n + n_beta + k
    c = np.zeros(n_var)
    c[n:n + n_beta] = cap[finite] / unit
    arcs = np.arange(m)
    fa = np.flatnonzero(finite)
    ga = np.flatnonzero(cand >= 0)
    rows = np.concatenate([arcs, arcs, fa, ga])
    cols = np.concatenate([head, tail, n + beta_of_arc[fa], n + n_beta + cand[ga]])
    vals = np.concatenate([np.ones(m), -np.ones(m), -np.ones(len(fa)), -np.ones(len(ga))])
    a_arc = sp.csr_array((vals, (rows, cols)), shape=(m, n_var))
    budget_row = sp.csr_array((costs, (np.zeros(k, np.int64), n + n_beta + np.arange(k))), shape=(1, n_var))
    constraints = [LinearConstraint(a_arc, -np.inf, 0.0),
                   LinearConstraint(budget_row, -np.inf, budget + 1e-9 * max(1.0, budget))]
    lo, hi = np.zeros(n_var), np.ones(n_var)
    lo[net.source] = hi[net.source] = 0.0
    lo[net.sink] = hi[net.sink] = 1.0
    integrality = np.zeros(n_var)
    integrality[n + n_beta:] = 1
    options = {"mip_rel_gap": mip_rel_gap, "presolve": _PRESOLVE, **_TOLERANCES}
    if time_limit is not None:
        options["time_limit"] = float(time_limit)
    with warnings.catch_warnings():
        # scipy passes HiGHS options it does not know (the tolerances) verbatim, with a warning.
        warnings.filterwarnings("ignore", message="Unrecognized options", category=RuntimeWarning)
        res = milp(c, constraints=constraints, integrality=integrality, bounds=Bounds(lo, hi), options=options)
    elapsed = time.perf_counter() - t0
    if res.x is None:
        raise NetworkError(f"the interdiction MILP found no solution: {res.message}")
    gamma = res.x[n + n_beta:] > 0.5
    alpha = res.x[:n]
    # A removal whose arc does not cross the cut does nothing: drop it.
    crossing = np.zeros(k, bool)
    crossing[cand[ga]] = alpha[head[ga]] - alpha[tail[ga]] > 0.5
    removed = [net.candidates[i] for i in np.flatnonzero(gamma & crossing)]
    gap = getattr(res, "mip_gap", None)
    return MilpSolution(removed, float(res.fun) * unit, int(res.status), str(res.message), elapsed,
                        None if gap is None else float(gap))


# ---------------------------------------------------------------------------- plans
def _greedy(order: list[str], cost_of: dict[str, float], budget: float) -> list[str]:
    chosen, spent = [], 0.0
    for node in order:
        c = cost_of[node]
        if spent + c <= budget + 1e-9 * max(1.0, budget):
            chosen.append(node)
            spent += c
    return chosen


def interdict(snap: Snapshot | nx.DiGraph, budget: float, *, costs=None, targets=TARGET_GROUPS,
              random_draws: int = 10, seed: int = 0, time_limit: float | None = None,
              nodes: pd.DataFrame | None = None) -> Interdiction:
    """The exact interdiction plan and the heuristic plans, with the flows they leave.

    Parameters
    ----------
    snap : Snapshot or networkx.DiGraph
        The network (a snapshot, or a graph read back from GraphML/GEXF).
    budget : float
        K, the most actors removed (unit costs), or a cost budget with ``costs``; >= 0.
    costs : mapping or list of ``role=VALUE``, optional
        Removal cost by role (default 1 for every role); > 0.
    targets : str or list of str
        What the flow is measured to: ``users``, ``foreign``, ``all`` or node ids; default both.
    random_draws : int
        Random plans drawn; the ``random`` plan is the first draw and reports the mean, min and
        max remaining flow over all draws.
    seed : int
        Seed of the random plans.
    time_limit : float, optional
        Seconds allowed to the MILP solver (the plan is then the best found, with its gap).
    nodes : DataFrame, optional
        `node_metrics` of the snapshot, if already computed.

    Returns
    -------
    Interdiction
        Plans ``optimal``, ``degree``, ``betweenness``, ``throughput``, ``random``.

    Examples
    --------
    >>> from narcoflow.network.synthetic import layered_network
    >>> res = interdict(layered_network(80, seed=2), 3)
    >>> best = res.plan("optimal").remaining_flow_g
    >>> all(best <= p.remaining_flow_g + 1e-6 for p in res.plans)
    True
    """
    g = snap.graph if isinstance(snap, Snapshot) else snap
    budget = check_budget(budget)
    cost_by_role = parse_costs(costs)
    if isinstance(random_draws, bool) or not isinstance(random_draws, int) or random_draws < 1:
        raise NetworkError(f"random_draws {random_draws!r} must be a whole number >= 1.")
    cands_all = removable(g)
    cost_of = {v: cost_by_role[g.nodes[v]["role"]] for v in cands_all}
    flows = FlowEvaluator(g, cands_all)
    net = flows.network(targets)
    target_list = net.targets
    base = flows.max_flow(targets)
    floor = flows.max_flow(targets, net.candidates)

    def remaining(removed: list[str]) -> float:
        return flows.max_flow(targets, removed)

    sol = solve_interdiction(net, np.array([cost_of[v] for v in net.candidates]), budget,
                             time_limit=time_limit, reduced=flows.reduced(targets))
    opt_removed = sorted(sol.removed, key=_node_key)
    # Verified on the unreduced network, independently of the MILP and of the reduction.
    opt_flow = _solve_max_flow(net, net.arcs_of(opt_removed))[0]
    if sol.status == 0 and not math.isclose(opt_flow, sol.objective_g, rel_tol=1e-6,
                                            abs_tol=1e-7 * max(1.0, base)):
        raise NetworkError(f"internal check failed: the MILP optimum {sol.objective_g:.9g} g differs "
                           f"from the max-flow after its removals {opt_flow:.9g} g")
    plans = [Plan("optimal", opt_removed, opt_flow, base, sum(cost_of[v] for v in opt_removed),
                  extra={"solve_time_s": sol.solve_time_s, "status": sol.message, "mip_gap": sol.mip_gap})]
    nodes = node_metrics(g) if nodes is None else nodes
    metric = nodes.set_index("node")
    for name, col in HEURISTICS.items():
        value = metric[col].fillna(0.0).to_dict()
        ranked = sorted(cands_all, key=lambda v, val=value: (-float(val[v]), _node_key(v)))
        chosen = _greedy(ranked, cost_of, budget)
        plans.append(Plan(name, sorted(chosen, key=_node_key), remaining(chosen), base,
                          sum(cost_of[v] for v in chosen)))
    rng = as_rng(seed)
    draws = []
    for _ in range(random_draws):
        order = [cands_all[i] for i in rng.permutation(len(cands_all))]
        chosen = _greedy(order, cost_of, budget)
        draws.append((chosen, remaining(chosen)))
    values = np.array([f for _, f in draws])
    first = draws[0][0]
    plans.append(Plan("random", sorted(first, key=_node_key), float(values[0]), base,
                      sum(cost_of[v] for v in first),
                      extra={"draws": random_draws, "remaining_flow_g_mean": float(values.mean()),
                             "remaining_flow_g_min": float(values.min()),
                             "remaining_flow_g_max": float(values.max())}))
    for p in plans:
        p.remaining_by_target_g = flows.table(p.removed)
    info = {}
    if isinstance(snap, Snapshot):
        info = {"run_id": snap.info.get("run_id"), "step": snap.step, "window": snap.window,
                "date": g.graph.get("date")}
    return Interdiction(plans=plans, budget=budget, costs=cost_by_role, targets=target_list,
                        baseline_by_target_g=flows.table(), uncuttable_flow_g=floor,
                        solve_time_s=sol.solve_time_s,
                        network_size={"nodes": g.number_of_nodes(), "edges": g.number_of_edges(),
                                      "candidates": len(cands_all), "milp_nodes": net.n_nodes,
                                      "milp_arcs": net.n_arcs, "milp_binaries": len(net.candidates)},
                        info=info)


def _node_key(node: str) -> tuple[str, int]:
    role, _, uid = node.partition(":")
    return (role, int(uid)) if uid.isdigit() else (role, -1)
