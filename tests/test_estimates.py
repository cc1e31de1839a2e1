"""Estimates of unobserved quantities (narcoflow.experiments.estimates, `narcoflow estimate`):
the variance decomposition on synthetic numbers with known components, calendar years from weekly
steps, and tiny end-to-end estimates (scale 0.002, 3 years, 2 parameter sets x 2 seeds): the
table's shape, reproducibility, resume, the prior-ranges fallback, the report, and bad input."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

import narcoflow as nf
from cli_helpers import assert_clean_failure, flat, invoke
from narcoflow.experiments import tables
from narcoflow.experiments.estimates import (
    COLUMNS,
    decompose,
    reported_years,
    series_keys,
    year_coverage,
    yearly_values,
)
from narcoflow.scenario import load

TINY = ["--scale", "0.002", "--years", "3", "--draws", "2", "--seeds", "2", "--workers", "1"]
P1, P2 = "consumption.use_g_per_week", "prices.normal_fill"


# ---------------------------------------------------------------------------- decomposition
def test_decompose_exact_small_case():
    # sets [0, 2] and [10, 12]: within-set variance 2 (ddof 1), set means 1 and 11 (variance 50);
    # parameters: 50 - 2 / 2 = 49; randomness: 2
    d = decompose(np.array([[0.0, 2.0], [10.0, 12.0]]))
    assert d["var_parameters"] == pytest.approx(49.0)
    assert d["var_randomness"] == pytest.approx(2.0)
    assert d["share_parameters"] == pytest.approx(49 / 51)
    assert d["share_randomness"] == pytest.approx(2 / 51)


@pytest.mark.parametrize("sd_param, sd_noise", [(2.0, 1.0), (1.0, 1.0), (0.5, 2.0)])
def test_decompose_recovers_known_components(sd_param, sd_noise):
    rng = np.random.default_rng(7)
    n_sets, n_seeds = 4000, 4
    values = (5.0 + rng.normal(0, sd_param, size=(n_sets, 1))
              + rng.normal(0, sd_noise, size=(n_sets, n_seeds)))
    d = decompose(values)
    truth = sd_param**2 / (sd_param**2 + sd_noise**2)
    assert d["share_parameters"] == pytest.approx(truth, abs=0.03)
    assert d["share_parameters"] + d["share_randomness"] == pytest.approx(1.0)
    assert d["var_randomness"] == pytest.approx(sd_noise**2, rel=0.05)


def test_decompose_clips_and_vectorises():
    rng = np.random.default_rng(1)
    noise_only = rng.normal(0, 1, size=(50, 3, 2))  # 50 quantities; no parameter effect at all
    d = decompose(noise_only)
    assert d["share_parameters"].shape == (50,)
    assert ((d["share_parameters"] >= 0) & (d["share_parameters"] <= 1)).all()
    assert d["clipped"].any()  # by chance, the between-set variance falls below within / seeds
    assert (d["share_parameters"][d["clipped"]] == 0).all()
    assert np.isnan(decompose(np.ones((3, 2)))["share_parameters"])        # nothing varies
    assert np.isnan(decompose(np.arange(3.0).reshape(3, 1))["share_parameters"])  # one seed


# ---------------------------------------------------------------------------- calendar years
def test_years_and_daily_weighting():
    sc = load("north-korea-2011")  # starts Monday 1998-01-05
    steps = 157                    # the last week starts on 2001-01-01
    cov = year_coverage(sc.start, steps)
    assert cov[1998] == 361 and cov[1999] == 365 and cov[2000] == 366 and cov[2001] == 7
    assert reported_years(sc.start, steps) == [1998, 1999, 2000]
    dates = [sc.start + dt.timedelta(weeks=i) for i in range(steps)]
    metrics = pd.DataFrame({
        "step": np.r_[np.arange(steps), np.arange(steps)].astype("int32"),
        "date": pd.to_datetime(dates + dates),
        "metric": ["siphoned_g"] * steps + ["users"] * steps,
        "drug": ["methamphetamine"] * steps + [None] * steps,
        "region": ["Pyongyang"] * (2 * steps),
        "channel": [None] * (2 * steps),
        "value": np.r_[np.full(steps, 7000.0), np.arange(steps, dtype=float)],
    })
    v = yearly_values(metrics, sc, [1998, 1999, 2000], steps)
    # 1 kg a day: a calendar year is 365 or 366 kg, 1998 (361 days covered) scaled to its 365
    for year, kg in ((1998, 365.0), (1999, 365.0), (2000, 366.0)):
        assert v[f"estimate|siphoned_kg|all||||{year}"] == pytest.approx(kg)
        assert v[f"estimate|siphoned_kg|methamphetamine||||{year}"] == pytest.approx(kg)
        assert v[f"estimate|siphoned_kg|heroin||||{year}"] == 0.0
    # a level is read at the last week that starts in the year (1998: steps 0..51)
    assert v["estimate|users||Pyongyang|||1998"] == 51.0
    assert v["estimate|users||all|||1999"] == 103.0
    assert len(v) == 3 * len(series_keys(sc))


# ---------------------------------------------------------------------------- end to end
@pytest.fixture(scope="module")
def posterior_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("post") / "nk.posterior.csv"
    pd.DataFrame({"draw": [0, 1, 2], "weight": [0.5, 0.3, 0.2], P1: [0.05, 0.07, 0.09],
                  P2: [0.6, 0.65, 0.7]}).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def first(tmp_path_factory, posterior_csv):
    """One tiny estimate from a posterior sample, through the command line."""
    folder = tmp_path_factory.mktemp("est")
    db, csv = folder / "e.duckdb", folder / "e.csv"
    result = invoke("estimate", "north-korea-2011", *TINY, "--posterior", posterior_csv, "--out", db,
                    "--csv", csv)
    assert result.exit_code == 0, result.output
    eid = result.output.strip().splitlines()[-1].removeprefix("estimate_id: ")
    return {"db": db, "csv": csv, "id": eid, "output": result.output, "folder": folder}


def test_table_shape_and_storage(first):
    sc = load("north-korea-2011")
    table = tables.read_estimates(first["db"], first["id"])
    assert list(table.columns) == list(COLUMNS)
    assert len(table) == 3 * len(series_keys(sc))  # 1998, 1999, 2000
    assert sorted(table["year"].unique()) == [1998, 1999, 2000]
    assert (table["draws"] == 2).all() and (table["seeds"] == 2).all()
    assert (table["q05"] <= table["q25"]).all() and (table["q25"] <= table["median"]).all()
    assert (table["median"] <= table["q75"]).all() and (table["q75"] <= table["q95"]).all()
    shares = table["share_parameters"].dropna()
    assert len(shares) and shares.between(0, 1).all()
    assert np.allclose(shares + table.loc[shares.index, "share_randomness"], 1.0)
    quantities = set(table["quantity"])
    assert quantities == {"private_exports_kg", "siphoned_kg", "state_revenue_musd", "active_actors", "users",
                          "ever_used", "arrests", "bribes_musd"}
    china = table[(table.quantity == "private_exports_kg") & (table.destination == "China")]
    assert set(china["drug"]) == {"methamphetamine", "heroin", "cocaine", "all"}
    assert set(table.loc[table.quantity == "users", "region"]) >= {"Pyongyang", "Ryanggang", "all"}
    assert set(table.loc[table.quantity == "arrests", "role"]) >= {"seller", "smuggler", "user", "all"}
    csv = pd.read_csv(first["csv"])
    assert len(csv) == len(table) and list(csv.columns) == list(COLUMNS)
    out = flat(first["output"])
    for needle in ("Private exports arrived abroad", "all drugs, China", "50 % interval", "90 % interval",
                   "parameters", "randomness", "clipped to [0, 1]", "posterior", "too few"):
        assert needle in out, needle
    assert "prior ranges" not in out
    sets = tables.experiment_values(first["db"], first["id"])
    assert set(sets["parameter"]) == {P1, P2}


def test_rerun_runs_nothing_and_gives_the_same_table(first, posterior_csv):
    before = tables.read_estimates(first["db"], first["id"])
    result = invoke("estimate", "north-korea-2011", *TINY, "--posterior", posterior_csv, "--out", first["db"])
    assert result.exit_code == 0, result.output
    assert "4 run(s) already stored: skipped" in result.output
    assert result.output.strip().endswith(f"estimate_id: {first['id']}")
    pd.testing.assert_frame_equal(tables.read_estimates(first["db"], first["id"]), before)
    seen = []
    plan, table = nf.estimate("north-korea-2011", db=first["db"], draws=2, seeds=2, scale=0.002, years=3,
                              posterior=posterior_csv, progress=seen.append)
    assert plan.experiment_id == first["id"]
    assert seen[-1].done == 0 and seen[-1].skipped == 4  # resume: nothing new ran


def test_same_arguments_give_an_identical_table(first, posterior_csv, tmp_path):
    """Run again from scratch, in a pool of 2 processes: the same estimate id and table."""
    from narcoflow.experiments import ProcessExecutor

    plan, table = nf.estimate("north-korea-2011", db=tmp_path / "fresh.duckdb", draws=2, seeds=2,
                              scale=0.002, years=3, posterior=posterior_csv, executor=ProcessExecutor(2))
    assert plan.experiment_id == first["id"]
    stored = tables.read_estimates(first["db"], first["id"])
    pd.testing.assert_frame_equal(table.reset_index(drop=True), stored, check_dtype=False)


def test_report_has_fan_charts(first):
    out = first["folder"] / "est.html"
    result = invoke("report", first["id"][:8], "--db", first["db"], "--out", out)
    assert result.exit_code == 0, result.output
    page = out.read_text("utf-8")
    for needle in ("id='estimate'", "fig-fan-private_exports_kg", "fig-fan-users", "50 % interval",
                   "Parameters or randomness?", first["id"]):
        assert needle in page, needle


def test_without_posterior_the_ranges_are_used_and_said(tmp_path):
    result = invoke("estimate", "north-korea-2011", *TINY, "--out", tmp_path / "r.duckdb")
    assert result.exit_code == 0, result.output
    out = flat(result.output)
    assert "has no posterior sample" in out and "PRIOR ranges, not a posterior" in out


@pytest.mark.parametrize("args, needles", [
    (["north-korea-2011", "--draws", "0"], ["--draws 0", "at least 1"]),
    (["north-korea-2011", "--seeds", "0"], ["--seeds 0", "at least 1"]),
    (["atlantis"], ["atlantis"]),
    (["north-korea-2011", "--years", "200"], ["--years", "(0, 100]"]),
    (["north-korea-2011", "--years", "0.5"], ["--years 0.5", "calendar year"]),
    (["north-korea-2011", "--scale", "3"], ["--scale", "(0, 1]"]),
    (["north-korea-2011", "--posterior", "{missing}"], ["does not exist"]),
    (["north-korea-2011", "--posterior", "{noweight}"], ["'weight' is missing"]),
    (["north-korea-2011", "--posterior", "{unknown}"], ["not uncertain parameters", "state.happiness"]),
])
def test_bad_input_is_one_clean_paragraph(tmp_path, args, needles):
    (tmp_path / "noweight.csv").write_text(f"draw,{P1}\n0,0.05\n")
    (tmp_path / "unknown.csv").write_text("draw,weight,state.happiness\n0,1,0.5\n")
    args = [a.format(missing=tmp_path / "nope.csv", noweight=tmp_path / "noweight.csv",
                     unknown=tmp_path / "unknown.csv") for a in args]
    db = tmp_path / "keep.duckdb"
    result = invoke("estimate", *TINY, "--out", db, *args)  # the case's own options win
    assert_clean_failure(result, *needles)
    assert not db.exists()


def test_docs_example_runs(tmp_path):
    """docs/estimates.md: its bash example runs as written, and its Python example then finds
    every run stored (same arguments) and prints the table."""
    import os
    import re
    import subprocess
    import sys
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / "estimates.md").read_text("utf-8")
    bash = re.findall(r"^```bash\n(.*?)^```", text, flags=re.M | re.S)[0]
    python = re.findall(r"^```python\n(.*?)^```", text, flags=re.M | re.S)[0]
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run(["bash", "-euo", "pipefail", "-c", bash], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith("estimate_id: ")
    assert (tmp_path / "estimate.csv").exists()
    proc = subprocess.run([sys.executable, "-c", python], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "share_parameters" in proc.stdout and "1998" in proc.stdout


def test_a_scenario_files_posterior_beside_it_is_found(tmp_path, posterior_csv):
    """``SCENARIO.yaml`` with ``SCENARIO.posterior.csv`` beside it: the sets are drawn from it
    (planning only, nothing runs); ``--posterior`` wins over it."""
    from narcoflow.experiments.estimates import plan_estimate

    yaml = tmp_path / "variant.yaml"
    yaml.write_text("base: north-korea-2011\nname: variant\n")
    (tmp_path / "variant.posterior.csv").write_text(posterior_csv.read_text())
    sc = load(yaml)
    plan = plan_estimate(sc, draws=3, seeds=2, scale=0.002, years=2, ref=yaml)
    assert plan.definition["source"] == f"posterior {tmp_path / 'variant.posterior.csv'}"
    assert plan.definition["parameters"] == [P1, P2]
    assert [r.seed for r in plan.rows] == [0, 1, 2, 3, 4, 5] and len(plan.run_ids) == 6
    other = tmp_path / "other.csv"
    other.write_text(f"draw,weight,{P1}\n0,1,0.06\n")
    plan = plan_estimate(sc, draws=3, seeds=2, scale=0.002, years=2, ref=yaml, posterior=other)
    assert plan.definition["source"] == f"posterior {other}" and plan.definition["parameters"] == [P1]
    assert plan_estimate(sc, draws=3, seeds=1, scale=0.002, years=2).definition["source"] == "prior ranges"
