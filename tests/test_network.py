"""The trafficking network (issue 5): snapshots keep the ledger, max-flow and the interdiction
MILP are exact, plans are tested in the running simulation, files round-trip, the CLI fails
cleanly.

One small stored run (scale 0.005, 8 years: a few hundred actors) is shared by the tests.
"""

from __future__ import annotations

import itertools
import json

import networkx as nx
import numpy as np
import pytest
from typer.testing import CliRunner

import narcoflow as nf
import narcoflow.network as nn
from narcoflow.cli import app
from narcoflow.network.dynamic import dynamic_test
from narcoflow.network.flows import flow_network, reduce_network
from narcoflow.network.metrics import betweenness
from narcoflow.network.synthetic import layered_network
from narcoflow.results import store

SCALE, YEARS, SEED = 0.005, 8, 1
STEP = 400  # leaves 17 stored weeks after the snapshot, to compare the replay with the run


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    """A run saved to a DuckDB file: (results, db path)."""
    res = nf.run("north-korea-2011", seed=SEED, scale=SCALE, years=YEARS)
    db = tmp_path_factory.mktemp("network") / "runs.duckdb"
    store.save(res, db)
    return res, db


@pytest.fixture(scope="module")
def snap(stored):
    return nn.snapshot(stored[0], STEP)


def window_total(res, metric, step, window):
    m = res.metrics
    m = m[(m["metric"] == metric) & (m["step"] >= step - window) & (m["step"] < step)]
    return float(m["value"].sum())


# ---------------------------------------------------------------------------- snapshot
def test_snapshot_keeps_the_conservation_ledger(snap):
    """In - out over the edges = change of holdings, for every actor and the state."""
    gaps = nn.ledger_gaps(snap)
    assert len(gaps) > 20
    scale = max(e["grams"] for *_, e in snap.graph.edges(data=True))
    assert max(abs(x) for x in gaps.values()) <= 1e-9 * scale
    # Teeth: change one edge and the ledger sees it.
    u, v, e = next((u, v, e) for u, v, e in snap.graph.edges(data=True) if e["kind"] == "retail")
    g = snap.graph.copy()
    g.edges[u, v]["grams"] += 1.0
    assert abs(nn.ledger_gaps(g)[u] + 1.0) < 1e-6


def test_snapshot_flows_match_the_run_metrics(stored, snap):
    """Edge totals by kind equal the stored run's metrics over the window (full-population grams)."""
    res, _ = stored
    kinds = {}
    for *_, e in snap.graph.edges(data=True):
        kinds[e["kind"]] = kinds.get(e["kind"], 0.0) + e["grams"]
    w = snap.window
    assert kinds["retail"] == pytest.approx(window_total(res, "consumed_g", STEP, w), rel=1e-9)
    assert kinds["production"] + kinds.get("state_production", 0.0) == pytest.approx(
        window_total(res, "produced_g", STEP, w), rel=1e-9)
    exported = kinds.get("smuggling", 0.0) + kinds.get("state_export", 0.0)
    assert exported == pytest.approx(window_total(res, "exported_g", STEP, w), rel=1e-9)


def test_snapshot_nodes_and_ties(snap):
    g = snap.graph
    kinds = {k for _, k in g.nodes(data="kind")}
    assert kinds == {"actor", "production", "state", "users", "foreign", "seized"}
    actors = [d for _, d in g.nodes(data=True) if d["kind"] == "actor"]
    assert {d["role"] for d in actors} >= {"wholesaler", "seller", "smuggler"}
    assert all(d["stock_g"] >= 0 and d["stock_start_g"] >= 0 for d in actors)
    # Ties point the way product moves: wholesaler -> seller, wholesaler -> smuggler.
    for u, v, e in g.edges(data=True):
        if e["tie"]:
            pair = (g.nodes[u]["role"], g.nodes[v]["role"])
            assert pair in {("producer", "deliverer"), ("deliverer", "wholesaler"), ("wholesaler", "seller"),
                            ("wholesaler", "smuggler")}, pair
    assert g.graph["step"] == STEP and g.graph["window"] == 13


def test_snapshot_from_db_equals_snapshot_from_results(stored, snap):
    res, db = stored
    again = nn.snapshot(res.run_id[:8], STEP, db=db)
    assert nx.utils.graphs_equal(again.graph, snap.graph)


def test_snapshot_refuses_a_replay_that_does_not_reproduce_the_run(stored):
    res, _ = stored
    tampered = nf.results.Results(metrics=res.metrics.copy(), info=dict(res.info))
    m = tampered.metrics
    m.loc[(m["metric"] == "consumed_g") & (m["step"] == 10), "value"] += 1.0
    with pytest.raises(nn.NetworkError, match="does not reproduce"):
        nn.snapshot(tampered, 50, window=4)


@pytest.mark.parametrize("step, window, message", [
    (0, 13, "outside the run"), (10_000, 13, "outside the run"), (-3, 13, "outside the run"),
    (1.5, 13, "whole number"), (20, 0, "window"),
])
def test_snapshot_bad_arguments(stored, step, window, message):
    with pytest.raises(nn.NetworkError, match=message):
        nn.snapshot(stored[0], step, window=window)


def test_graph_files_round_trip(snap, tmp_path):
    for suffix in (".graphml", ".gexf"):
        path = nn.write_graph(snap, tmp_path / f"net{suffix}")
        back = nn.read_graph(path)
        assert set(back.nodes) == set(snap.graph.nodes)
        assert set(back.edges) == set(snap.graph.edges)
        for n, d in snap.graph.nodes(data=True):
            for key in ("kind", "role", "region", "uid", "active"):
                assert back.nodes[n][key] == d[key], (suffix, n, key)
            assert back.nodes[n]["stock_g"] == pytest.approx(d["stock_g"], rel=1e-12, abs=1e-12)
        for u, v, e in snap.graph.edges(data=True):
            assert back.edges[u, v]["grams"] == pytest.approx(e["grams"], rel=1e-12)
        assert nn.max_flow(back) == pytest.approx(nn.max_flow(snap), rel=1e-9)
    with pytest.raises(nn.NetworkError, match="must end in"):
        nn.write_graph(snap, tmp_path / "net.txt")


# ---------------------------------------------------------------------------- metrics, flows
def test_max_flow_agrees_with_networkx_and_bounds_deliveries(snap):
    net = flow_network(snap.graph)
    h = nx.DiGraph()
    for t, hd, c in zip(net.tail, net.head, net.cap, strict=True):
        if np.isfinite(c):
            h.add_edge(int(t), int(hd), capacity=float(c))
        else:
            h.add_edge(int(t), int(hd))
    ours = nn.max_flow(snap)
    assert ours == pytest.approx(nx.maximum_flow_value(h, net.source, net.sink), rel=1e-9)
    delivered = sum(e["grams"] for *_, e in snap.graph.edges(data=True)
                    if e["kind"] in ("retail", "smuggling", "state_export"))
    assert ours >= delivered * (1 - 1e-9)
    table = nn.flow_table(snap)
    assert table["users"] <= table["all"] + 1e-6 and table["foreign"] <= table["all"] + 1e-6
    assert {"foreign:China", "foreign:Japan", "foreign:South Korea"} <= set(table)


def test_betweenness_matches_networkx():
    g = layered_network(150, seed=5)
    h = nx.DiGraph()
    h.add_nodes_from(g.nodes)
    h.add_edges_from((u, v, {"length": 1 / e["grams"]}) for u, v, e in g.edges(data=True) if e["grams"] > 0)
    ref = nx.betweenness_centrality(h, weight="length", normalized=True)
    ours = betweenness(g)
    assert max(abs(ref[n] - ours[n]) for n in ref) < 1e-12


def test_flow_shares_on_a_chain_and_on_the_snapshot(snap):
    g = nx.DiGraph()
    for n, kind, role in (("production", "production", "production"), ("producer:0", "actor", "producer"),
                          ("seller:1", "actor", "seller"), ("users:A", "users", "users"),
                          ("seized:mps", "seized", "seized")):
        g.add_node(n, kind=kind, role=role, stock_start_g=0.0)
    g.add_edge("production", "producer:0", grams=10.0)
    g.add_edge("producer:0", "seller:1", grams=10.0)
    g.add_edge("seller:1", "users:A", grams=6.0)
    g.add_edge("seller:1", "seized:mps", grams=4.0)
    shares = nn.flow_shares(g)
    assert shares["producer:0"] == pytest.approx(1.0) and shares["seller:1"] == pytest.approx(1.0)
    df = nn.node_metrics(snap)
    assert df["flow_share"].between(0, 1 + 1e-9).all()
    assert {"degree", "betweenness", "component_size", "ring_size"} <= set(df.columns)
    summary = nn.network_metrics(snap, nodes=df)
    assert summary["max_flow_g"]["all"] == pytest.approx(nn.max_flow(snap))
    rings = df[(df["role"] == "wholesaler") & df["active"]]
    assert summary["rings"] == len(rings)


# ---------------------------------------------------------------------------- interdiction
def _brute_force(g, budget, cost_of):
    """Smallest max-flow over every removal set within the budget (networkx max-flow)."""
    net = flow_network(g)
    best = np.inf
    for k in range(len(net.candidates) + 1):
        for combo in itertools.combinations(net.candidates, k):
            if sum(cost_of(c) for c in combo) <= budget + 1e-9:
                h = nx.DiGraph()
                blocked = set(net.arcs_of(combo).tolist())
                for a, (t, hd, c) in enumerate(zip(net.tail, net.head, net.cap, strict=True)):
                    cap = 0.0 if a in blocked else (float(c) if np.isfinite(c) else None)
                    h.add_edge(int(t), int(hd), **({} if cap is None else {"capacity": cap}))
                best = min(best, nx.maximum_flow_value(h, net.source, net.sink))
    return best


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_milp_equals_brute_force_on_tiny_networks(seed):
    g = layered_network(9, seed=seed, regions=2, second_tie=0.5)
    assert len(flow_network(g).candidates) >= 7
    for budget in (0, 1, 2, 3):
        res = nn.interdict(g, budget, random_draws=2)
        assert res.plan("optimal").remaining_flow_g == pytest.approx(
            _brute_force(g, budget, lambda c: 1.0), rel=1e-7, abs=1e-6)
    costs = {"wholesaler": 2.0, "seller": 0.5}
    res = nn.interdict(g, 2.5, costs=costs, random_draws=2)
    role_cost = nn.parse_costs(costs)
    expected = _brute_force(g, 2.5, lambda c: role_cost[g.nodes[c]["role"]])
    assert res.plan("optimal").remaining_flow_g == pytest.approx(expected, rel=1e-7, abs=1e-6)


def test_network_reduction_keeps_every_candidate():
    g = layered_network(300, seed=7)
    net = flow_network(g)
    tail, head, cap, cand, n = reduce_network(net)
    assert n < net.n_nodes / 2 and len(tail) < net.n_arcs
    assert sorted(cand[cand >= 0].tolist()) == list(range(len(net.candidates)))
    assert not ((tail == 1) | (head == 0) | (tail == head)).any()


@pytest.mark.parametrize("budget", [1, 3, 8])
def test_optimal_plan_is_never_worse_than_the_heuristics(snap, budget):
    res = nn.interdict(snap, budget)
    assert [p.name for p in res.plans] == ["optimal", "degree", "betweenness", "throughput", "random"]
    best = res.plan("optimal").remaining_flow_g
    for p in res.plans:
        assert len(p.removed) <= budget and p.cost <= budget
        assert best <= p.remaining_flow_g + 1e-6 * p.baseline_flow_g, p.name
        assert res.uncuttable_flow_g - 1e-6 <= p.remaining_flow_g <= p.baseline_flow_g + 1e-6
        # The reported flows are max-flows after the removals, recomputed independently.
        assert p.remaining_flow_g == pytest.approx(nn.max_flow(snap, removed=p.removed), rel=1e-9)
    rnd = res.plan("random").extra
    assert best <= rnd["remaining_flow_g_min"] + 1e-6
    json.dumps(res.to_dict())  # serialisable


def test_optimal_plans_on_a_large_synthetic_network_beat_heuristics():
    g = layered_network(1500, seed=11)
    res = nn.interdict(g, 10, random_draws=3)
    best = res.plan("optimal")
    assert len(best.removed) == 10
    assert all(best.remaining_flow_g <= p.remaining_flow_g + 1e-6 for p in res.plans)
    assert best.remaining_flow_g < res.plan("degree").remaining_flow_g


@pytest.mark.parametrize("kwargs, message", [
    ({"budget": -1}, "must be >= 0"), ({"budget": float("nan")}, "must be >= 0"),
    ({"budget": 2, "costs": {"kingpin": 2}}, "unknown role 'kingpin'"),
    ({"budget": 2, "costs": ["seller"]}, "ROLE=VALUE"), ({"budget": 2, "costs": ["seller=abc"]}, "not a number"),
    ({"budget": 2, "costs": {"seller": -1}}, "must be a finite number > 0"),
    ({"budget": 2, "targets": "moon"}, "unknown flow target"),
])
def test_interdiction_bad_arguments(kwargs, message):
    g = layered_network(20, seed=1)
    budget = kwargs.pop("budget")
    with pytest.raises(nn.NetworkError, match=message):
        nn.interdict(g, budget, **kwargs)


# ---------------------------------------------------------------------------- dynamic test
def test_dynamic_test_first_replication_is_the_runs_own_future(stored, snap):
    res, _ = stored
    rec = dynamic_test(snap, {"none_really": []}, replications=1, horizons=(4, 13))
    base = rec.weekly[(rec.weekly["plan"] == "none") & (rec.weekly["replication"] == 0)]
    m = res.metrics
    for week, row in base.set_index("week").iterrows():
        step = STEP + week - 1
        at = m[m["step"] == step]
        users = float(at[at["metric"] == "consumed_g"]["value"].sum())
        abroad = float(at[at["metric"] == "exported_g"]["value"].sum())
        assert row["users_g"] == pytest.approx(users, rel=1e-9, abs=1e-9)
        assert row["abroad_g"] == pytest.approx(abroad, rel=1e-9, abs=1e-9)
    summary = rec.summary()
    assert (summary["cumulative_share"] == 1.0).all()
    assert np.allclose(base["target_g"], base["users_g"] + base["abroad_g"])


def test_dynamic_test_of_plans(snap):
    plans = nn.interdict(snap, 4, targets="users", random_draws=2)
    sellers = [n for n, d in snap.graph.nodes(data=True)
               if d["kind"] == "actor" and d["active"] and d["role"] == "seller"]
    rec = dynamic_test(snap, plans.plans + [nn.Plan("all_sellers", sellers, 0.0, 1.0, len(sellers))],
                       replications=2, horizons=(4, 13), targets="users")
    summary = rec.summary()
    assert set(summary["plan"]) == {"optimal", "degree", "betweenness", "throughput", "random", "all_sellers"}
    assert set(summary["horizon_weeks"]) == {4, 13}
    assert summary["static_share"].between(0, 1).all()
    w = rec.weekly
    assert np.allclose(w["target_g"], w["users_g"])
    # Arresting every seller (their stock is seized) stops retail until new sellers are recruited.
    cut = summary[(summary["plan"] == "all_sellers") & (summary["horizon_weeks"] == 4)].iloc[0]
    assert cut["cumulative_share"] < 0.5
    ratios = rec.ratios()
    assert set(ratios["plan"]) == set(summary["plan"]) and ratios["week"].max() == 13
    with pytest.raises(nn.NetworkError, match="not actors of this snapshot"):
        dynamic_test(snap, {"x": ["seller:999999"]}, replications=1, horizons=(1,))


def test_plots_are_written(snap, tmp_path):
    from narcoflow.network.plots import plot_network, plot_recovery

    plan = nn.interdict(snap, 2, random_draws=1)
    plot_network(snap, removed=plan.plan("optimal").removed, path=tmp_path / "net.png")
    plot_network(snap, removed=plan.plan("optimal").removed, path=tmp_path / "net.html")
    rec = dynamic_test(snap, plan.plans[:2], replications=1, horizons=(3,))
    plot_recovery(rec, path=tmp_path / "rec.png")
    for name in ("net.png", "net.html", "rec.png"):
        assert (tmp_path / name).stat().st_size > 1000


# ---------------------------------------------------------------------------- CLI
runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def assert_clean_failure(result, *needles):
    out = " ".join(result.output.split())
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    for needle in needles:
        assert needle in out, f"{needle!r} not in {out!r}"


def test_cli_network_prints_and_exports(stored, tmp_path):
    res, db = stored
    out = tmp_path / "g.graphml"
    r = invoke("network", res.run_id, "--db", db, "--step", STEP, "--export", out, "--top", 3)
    assert r.exit_code == 0, r.output
    assert "Max-flow" in r.output and "foreign:Japan" in r.output and "Wrote" in r.output
    back = nn.read_graph(out)
    assert "flow_share" in next(iter(back.nodes(data=True)))[1]
    r = invoke("network", res.run_id, "--db", db, "--step", 30, "--window", 4, "--json")
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data["step"] == 30 and data["window"] == 4 and "max_flow_g" in data


def test_cli_interdict_json(stored):
    res, db = stored
    r = invoke("interdict", res.run_id, "--db", db, "--step", STEP, "--budget", 3, "--json")
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    names = [p["name"] for p in data["plans"]]
    assert names == ["optimal", "degree", "betweenness", "throughput", "random"]
    for p in data["plans"]:
        assert {"removed", "remaining_flow_g", "baseline_flow_g"} <= set(p)
        assert data["plans"][0]["remaining_flow_g"] <= p["remaining_flow_g"] + 1e-6


@pytest.mark.parametrize("args, needles", [
    (["--budget", "-1"], ["budget -1 is out of range", ">= 0"]),
    (["--budget", "2", "--cost", "kingpin=3"], ["unknown role 'kingpin'", "producer, deliverer"]),
    (["--budget", "2", "--cost", "seller"], ["ROLE=VALUE"]),
    (["--budget", "2", "--step", "0"], ["--step 0 is outside the run", "[1, 417]"]),
    (["--budget", "2", "--step", "5000"], ["--step 5000 is outside the run"]),
    (["--budget", "2", "--replications", "0"], ["--replications 0 must be >= 1"]),
    (["--budget", "2", "--plot-recovery", "r.png"], ["needs --dynamic"]),
    (["--budget", "2", "--target", "moon"], ["unknown --target 'moon'", "foreign:Japan"]),
])
def test_cli_interdict_bad_arguments(stored, args, needles):
    res, db = stored
    assert_clean_failure(invoke("interdict", res.run_id, "--db", db, *args), *needles)


def test_cli_network_bad_arguments(stored, tmp_path):
    res, db = stored
    assert_clean_failure(invoke("network", "ffffffff", "--db", db), "Run id 'ffffffff' is not in")
    assert_clean_failure(invoke("network", res.run_id, "--db", db, "--export", tmp_path / "g.txt"),
                         "must end in .graphml, .gexf")
    assert_clean_failure(invoke("network", res.run_id, "--db", db, "--window", 0), "--window 0 must be >= 1")
    assert_clean_failure(invoke("network", res.run_id, "--db", tmp_path / "none.duckdb"),
                         "No results database")
