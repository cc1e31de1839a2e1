"""The metric recorder: flows register keys only when non-zero, levels always; cached call sites
stay correct when labels change identity or the table grows."""

import datetime as dt

import numpy as np
import pandas as pd

from narcoflow.engine.recorder import Recorder

REGIONS = ["a", "b", "c"]


def _table(rec: Recorder, steps: int):
    df = rec.to_frame(scale=1.0, steps_done=steps).astype({"channel": object})
    df["channel"] = df["channel"].where(df["channel"].notna(), None)
    return {(r.metric, r.region, r.channel, r.step): r.value for r in df.itertuples()}


def test_add_by_registers_nonzero_flows_and_all_levels():
    rec = Recorder(3, dt.date(2000, 1, 1))
    for t in range(3):
        rec.step = t
        rec.add_by("consumed_g", np.array([0.0, 1.0 + t, 0.0]), REGIONS, dim="region", drug="methamphetamine")
        rec.add_by("users", np.array([5, 0, 7]), REGIONS, dim="region", level=True)
    rec.step = 2
    rec.add_by("consumed_g", np.array([4.0, 0.0, 0.0]), REGIONS, dim="region", drug="methamphetamine")
    tab = _table(rec, 3)
    regions_of = {m: sorted({k[1] for k in tab if k[0] == m}) for m in ("consumed_g", "users")}
    assert regions_of == {"consumed_g": ["a", "b"], "users": ["a", "b", "c"]}
    assert [tab[("consumed_g", "b", None, t)] for t in range(3)] == [1.0, 2.0, 3.0]
    # Region a is registered at step 2 only; earlier steps read zero.
    assert [tab[("consumed_g", "a", None, t)] for t in range(3)] == [0.0, 0.0, 4.0]
    assert tab[("users", "c", None, 1)] == 7.0 and tab[("users", "b", None, 1)] == 0.0


def test_record_full_keys_and_a_new_label_list_with_the_same_id_is_not_confused():
    rec = Recorder(2, dt.date(2000, 1, 1), initial_keys=2)  # forces the table to grow
    keys = [("seized_g", "heroin", "China", "china"), ("seized_g", "heroin", "Japan", "japan")]
    rec.step = 0
    rec.record(keys, np.array([0.0, 2.5]))
    rec.add_by("arrests", np.array([1.0, 2.0, 3.0]), REGIONS, dim="region", channel="user")
    rec.step = 1
    rec.record(keys, np.array([1.5, 0.0]))
    other = ["x", "y", "z"]  # another call site's labels: cached separately
    rec.add_by("arrests", np.array([9.0, 0.0, 0.0]), other, dim="region", channel="user")
    tab = _table(rec, 2)
    assert tab[("seized_g", "Japan", "japan", 0)] == 2.5 and tab[("seized_g", "China", "china", 1)] == 1.5
    assert tab[("seized_g", "China", "china", 0)] == 0.0
    assert tab[("arrests", "c", "user", 0)] == 3.0 and tab[("arrests", "x", "user", 1)] == 9.0
    assert ("arrests", "y", "user", 1) not in tab


def test_a_frame_of_some_metrics_has_their_rows_of_the_whole_frame():
    """`to_frame(metrics=...)` (what a calibration run reads its targets from) keeps each chosen
    metric's rows in the whole table's order, with the same values (scaled ones divided alike)."""
    from narcoflow.engine.simulation import Simulation

    sim = Simulation("north-korea-2011", seed=2, scale=0.002, years=3).run()
    whole = sim.results.metrics
    some = {"users", "price_usd_per_g", "seized_g"}
    part = sim.metrics_of(some)
    assert set(part["metric"]) == some
    expected = whole[whole["metric"].isin(some)].reset_index(drop=True)
    pd.testing.assert_frame_equal(part.reset_index(drop=True), expected)
    assert sim.metrics_of({"no_such_metric"}).empty
