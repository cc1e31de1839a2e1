"""Notebook display: `Simulation` and `Results` render a compact HTML summary; a paused run
says so (issue 17)."""

from __future__ import annotations

import json

from fake_results import make_results
from narcoflow.engine import Simulation


def test_simulation_says_where_it_stands():
    sim = Simulation("north-korea-2011", seed=1, scale=0.002, years=1)
    assert sim.status == "new" and "; new)" in repr(sim)
    sim.run(until=10)
    assert sim.status == "paused at step 10 of 52"
    assert "paused at step 10 of 52" in repr(sim) and "initialized" not in repr(sim)
    page = sim._repr_html_()
    assert "10 of 52 weekly steps" in page and "<details>" in page
    sim.run()
    assert sim.status == "finished" and "sim.results" in sim._repr_html_()


def test_results_html_is_compact_with_parameters_folded():
    res = make_results()
    res.info["parameters"] = json.dumps({"regions": [{"name": "Pyongyang", "population": 1}],
                                         "state": {"siphon_rate": {"value": 0.05}}})
    page = res._repr_html_()
    assert res.run_id in page and "north-korea-2011" in page
    assert "Seizures abroad" in page and "State export revenue" in page
    # The parameters are there but folded: inside a closed <details>.
    closed = page.index("<details><summary>Parameters")
    assert page.index("siphon_rate") > closed
    assert "<details open><summary>Parameters" not in page
    assert len(page) < 10_000
