"""Call overhead of a Numba kernel given a table's columns as separate arrays, as one bundle
(`narcoflow.engine.bundles`, a structref) and as a NamedTuple; prints one JSON line (microseconds
per call, best of ``--repeat`` x ``--calls``). The kernel returns at once, so only the argument
handling is timed. The machine is shared: compare figures from the same run only.

    python benchmarks/bundle_overhead.py [--calls 20000] [--repeat 7]
"""

from __future__ import annotations

import argparse
import json
import time
from typing import NamedTuple

import numpy as np
from numba import njit

from narcoflow.engine import state as st


@njit(cache=True)
def _separate(active, epoch, uid, role, region, person, supplier, export_tie, crossing, city, output_g, purity,
              demand_ema, export_ema, sell_ema, since, stock, pure):
    return stock.shape[0]


@njit(cache=True)
def _one_bundle(a):
    return a.stock.shape[0]


@njit(cache=True)
def _three(stock, pure, supplier):
    return stock.shape[0]


class _Tuple(NamedTuple):
    active: np.ndarray
    epoch: np.ndarray
    uid: np.ndarray
    role: np.ndarray
    region: np.ndarray
    person: np.ndarray
    supplier: np.ndarray
    export_tie: np.ndarray
    crossing: np.ndarray
    city: np.ndarray
    output_g: np.ndarray
    purity: np.ndarray
    demand_ema: np.ndarray
    export_ema: np.ndarray
    sell_ema: np.ndarray
    since: np.ndarray
    stock: np.ndarray
    pure: np.ndarray


def _best(f, args, calls: int, repeat: int) -> float:
    f(*args)
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(calls):
            f(*args)
        best = min(best, (time.perf_counter() - t0) / calls)
    return round(best * 1e6, 2)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    a = st.Actors(n_drugs=2, n_regions=12, capacity=1024)
    cols = [getattr(a, f) for f in a.COLUMNS]
    out = {
        "columns": len(cols),
        "separate_us": _best(_separate, cols, args.calls, args.repeat),
        "bundle_us": _best(_one_bundle, (a.cols,), args.calls, args.repeat),
        "namedtuple_us": _best(_one_bundle, (_Tuple(*cols),), args.calls, args.repeat),
        "three_separate_us": _best(_three, (a.stock, a.pure, a.supplier), args.calls, args.repeat),
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
