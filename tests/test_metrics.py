"""The metric registry (`narcoflow.metrics`): every recorded metric is registered with the
dimensions it carries, and `Results` refuses questions that have no meaningful answer."""

from __future__ import annotations

import subprocess
import sys

import pytest

from fake_results import make_results
from narcoflow.errors import MetricError, NarcoflowError
from narcoflow.metrics import DIMENSIONS, FLOW_METRICS, LEVEL_METRICS, METRICS, Metric, metric


def test_registry_is_consistent():
    assert set(FLOW_METRICS) | set(LEVEL_METRICS) == set(METRICS)
    assert not set(FLOW_METRICS) & set(LEVEL_METRICS)
    for name, m in METRICS.items():
        assert m.name == name and m.kind in ("flow", "level")
        assert tuple(d for d in DIMENSIONS if d in m.dims) == m.dims and len(m.dim_names) == len(m.dims)
        assert m.unit and m.label
    # Only intensive quantities are kept at the simulated scale.
    intensive = ["price_usd_per_g", "price_usd_per_pure_g", "purity"]
    assert sorted(n for n, m in METRICS.items() if not m.scaled) == intensive
    with pytest.raises(ValueError, match="subset"):
        Metric("x", "flow", True, "g", "X", ("region", "drug"))
    with pytest.raises(ValueError, match="kind"):
        Metric("x", "stock", True, "g", "X", ())


def test_unknown_metric_names_the_allowed_ones():
    with pytest.raises(MetricError, match="unknown metric 'consumd_g'") as exc:
        metric("consumd_g")
    assert isinstance(exc.value, NarcoflowError)
    assert all(name in str(exc.value) for name in METRICS)


def test_registry_imports_without_pandas_or_numba():
    code = ("import sys, narcoflow.metrics; "
            "print(sorted(m for m in ('pandas', 'numba', 'numpy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_every_recorded_metric_is_registered_with_its_dims_and_every_registered_one_recorded(baseline):
    """An 18-year run at scale 0.002 records exactly the registered metrics, each key carrying
    exactly the registered dimensions (non-missing columns)."""
    m = baseline.metrics
    assert set(m["metric"].unique()) == set(METRICS)
    present = m[list(DIMENSIONS)].notna()
    for name, rows in present.groupby(m["metric"].astype(str)):
        dims = {tuple(d for d, has in zip(DIMENSIONS, row, strict=True) if has)
                for row in rows.drop_duplicates().itertuples(index=False)}
        assert dims == {METRICS[name].dims}, name


def test_total_and_final_refuse_the_wrong_kind():
    res = make_results()
    with pytest.raises(MetricError, match=r"users is a level.*final\('users'\)"):
        res.total("users")
    with pytest.raises(MetricError, match=r"consumed_g is a flow.*total\('consumed_g'\)"):
        res.final("consumed_g")
    assert res.total("consumed_g") > 0 and res.final("users") > 0


def test_unknown_metric_dimension_or_label_raise_naming_the_allowed_values():
    res = make_results()
    with pytest.raises(MetricError, match="unknown metric 'consumed_kg'.*consumed_g"):
        res.total("consumed_kg")
    with pytest.raises(MetricError, match="unknown metric"):
        res.to_df("consumed_kg")
    with pytest.raises(MetricError, match=r"region='Pyongyan'.*North Hamgyong, Pyongyang"):
        res.total("consumed_g", region="Pyongyan")
    with pytest.raises(MetricError, match=r"region='Pyongyan'.*North Hamgyong, Pyongyang"):
        res.final("users", region="Pyongyan")
    with pytest.raises(MetricError, match=r"drug='meth'.*methamphetamine"):
        res.to_df("consumed_g", drug="meth")
    with pytest.raises(MetricError, match=r"users has no drug dimension \(its dimensions: region\)"):
        res.final("users", drug="methamphetamine")
    with pytest.raises(MetricError, match="'province' is not a dimension"):
        res.total("consumed_g", province="Kangwon")


def test_known_labels_without_rows_give_zero_and_filters_match_the_old_sums():
    res = make_results()
    m = res.metrics
    # A flow registers only non-zero keys: a label the run knows elsewhere is a zero, not an error.
    assert res.total("consumed_g", region="China") == 0.0
    rows = m[(m["metric"] == "produced_g") & (m["channel"] == "private")]
    assert res.total("produced_g", channel="private") == float(rows["value"].sum())
    last = m[(m["metric"] == "users") & (m["step"] == m["step"].max()) & (m["region"] == "Pyongyang")]
    assert res.final("users", region="Pyongyang") == float(last["value"].sum())
    assert list(res.to_df("users", region="Pyongyang")["region"].unique()) == ["Pyongyang"]


def test_calibration_targets_are_checked_against_the_registry():
    from narcoflow.calibration.targets import Target

    base = {"name": "x", "years": [1998, 1998], "observed": 1.0}
    with pytest.raises(ValueError, match=r"filters may only name the dimensions of consumed_g \(drug, region\)"):
        Target(**base, metric="consumed_g", filters={"channel": "retail"})
    with pytest.raises(ValueError, match="not a metric"):
        Target(**base, metric="consumed_kg")
    assert Target(**base, metric="users", aggregation="last", filters={"region": "Kangwon"}).metric == "users"


def _doc_tables() -> dict[str, dict[str, tuple[str, ...]]]:
    """docs/model.md, Observation: the flow and level tables, metric -> dimensions named."""
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / "model.md").read_text()
    out = {}
    for kind, heading in (("flow", "Flows (`FLOW_METRICS`"), ("level", "Levels (`LEVEL_METRICS`")):
        rest = text[text.index(heading):]
        rows = [line for line in rest.split("\n\n", 2)[1].splitlines() if line.startswith("| `")]
        table = {}
        for row in rows:
            cells = [c.strip() for c in row.strip("|").split("|")]
            pieces = re.split(r"[,;]", cells[1])
            dims = tuple(d for d in DIMENSIONS if any(p.split()[0] == d for p in pieces if p.split()))
            for name in re.findall(r"`([a-z_]+)`", cells[0]):
                table[name] = dims
        out[kind] = table
    return out


def test_docs_metric_tables_match_the_registry():
    tables = _doc_tables()
    assert list(tables["flow"]) == list(FLOW_METRICS)
    assert list(tables["level"]) == list(LEVEL_METRICS)
    for kind in ("flow", "level"):
        for name, dims in tables[kind].items():
            assert dims == METRICS[name].dims, (name, dims)


def test_recorder_refuses_unregistered_metrics_wrong_dims_and_wrong_kind():
    import datetime as dt

    import numpy as np

    from narcoflow.engine.recorder import Recorder

    rec = Recorder(1, dt.date(2000, 1, 1))
    rec.step = 0
    with pytest.raises(MetricError, match="unknown metric 'treated'"):
        rec.add("treated", 1.0, region="Kangwon")
    with pytest.raises(MetricError, match=r"consumed_g has dimensions \('drug', 'region'\)"):
        rec.add("consumed_g", 1.0, region="Kangwon")
    with pytest.raises(MetricError, match="users is a level, so it is set"):
        rec.add_by("users", np.array([3.0]), ["Kangwon"], dim="region")
    with pytest.raises(MetricError, match="arrests is a flow, so it is added"):
        rec.record([("arrests", None, "Kangwon", "user")], np.array([2.0]), level=True)
    rec.add("consumed_g", 1.5, drug="heroin", region="Kangwon")
    rec.add_by("users", np.array([3.0]), ["Kangwon"], dim="region", level=True)
    assert rec.keys == [("consumed_g", "heroin", "Kangwon", None), ("users", None, "Kangwon", None)]
