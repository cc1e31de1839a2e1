"""The bit-identity safety net: fresh runs of the built-in scenario match the committed digests.

A refactor must pass this unchanged. A change meant to change results regenerates the file with
``python scripts/baseline.py update`` (which lists what changed) in the same commit.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

_SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "baseline.py"
_spec = importlib.util.spec_from_file_location("baseline", _SCRIPT)
baseline = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(baseline)


def test_results_match_committed_baseline():
    committed = baseline.load()
    fresh = baseline.compute()
    diff = baseline.differences(committed, fresh)
    assert not diff, ("results differ from tests/baseline/north-korea-2011.json; if the change is meant to "
                      "change results, run `python scripts/baseline.py update` and say so in the commit:\n"
                      + "\n".join(diff[:40]))


def test_digest_sees_the_last_bit_and_ignores_row_order():
    import numpy as np
    import pandas as pd

    df = pd.DataFrame({"step": [0, 0, 1], "date": [None] * 3, "metric": ["m"] * 3, "drug": ["meth", None, "meth"],
                       "region": [None, "A", None], "channel": [None] * 3, "value": [1.0, 2.0, 3.0]})
    d0 = baseline.metric_digests(df)["m"]
    assert baseline.metric_digests(df.iloc[::-1])["m"] == d0
    bumped = df.copy()
    bumped.loc[2, "value"] = np.nextafter(3.0, 4.0)
    assert baseline.metric_digests(bumped)["m"] != d0
    assert baseline.metric_digests(df.iloc[:2])["m"] != d0
