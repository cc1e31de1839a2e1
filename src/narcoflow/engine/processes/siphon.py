"""NSA siphoning (S5): officials controlling state production leak a share of the output into
the domestic market, selling it to a wholesaler of the factory's region (or, if there is none,
of any region). With no wholesaler anywhere nothing is siphoned that week.

    leaked (facility f, drug d) = min(siphon_rate x this week's output of f in d, state stock of d)

The leak leaves the state's stock at the stock's purity and joins the wholesaler's stock. One
wholesaler is drawn per facility from the process's kernel stream, facilities in order.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from narcoflow.engine import state as st
from narcoflow.engine.draws import integer
from narcoflow.engine.flowlog import STATE
from narcoflow.engine.processes.base import Process


class NsaSiphon(Process):
    name = "nsa_siphon"
    claims = ("S5",)
    params = ("state.siphon_rate",)
    reads = ("state_output", "state_output_region")
    writes = ("actors", "state_pure", "state_stock")
    records = ("siphoned_g",)

    def init(self, sim) -> None:
        self.siphoned_keys = [("siphoned_g", d, r, None) for d in sim.drugs for r in sim.region_names]

    def step(self, sim) -> None:
        rate = sim.scenario.state.siphon_rate.value
        if rate <= 0:
            return
        a = sim.actors
        who, grams, siphoned = _leak(sim.draws(self.name), rate, sim.state_output, sim.state_output_region,
                                     sim.state_stock, sim.state_pure, a.by_region(st.WHOLESALER, sim.n_regions),
                                     a.cols)
        sim.recorder.record(self.siphoned_keys, siphoned.ravel())
        if sim.flow_log is not None and len(who):
            sim.flow_log.add(sim.t, STATE, a.uid[who], grams)


@njit(cache=True)
def _leak(state, rate, output, output_region, state_stock, state_pure, wholesalers, a):
    """Officials leak ``rate`` of each facility's ``output`` (facility x drug) from the state's
    stock to a random wholesaler of the facility's region, or of any region if it has none
    (``wholesalers``: slots sorted by region, starts, counts). Returns (wholesaler, grams) per
    leak, for the flow log, and the grams leaked by drug and region."""
    wh_sorted, starts, counts = wholesalers
    stock, pure = a.stock, a.pure
    n_fac, n_drugs = output.shape
    siphoned = np.zeros((n_drugs, len(counts)))
    who = np.empty(n_fac * n_drugs, dtype=np.int64)
    grams = np.empty(n_fac * n_drugs)
    k = 0
    total = len(wh_sorted)
    if total == 0:
        return who[:0], grams[:0], siphoned
    for i in range(n_fac):
        r = output_region[i]
        if counts[r] > 0:
            w = wh_sorted[starts[r] + integer(state, counts[r])]
        else:
            w = wh_sorted[integer(state, total)]
        for d in range(n_drugs):
            g = min(output[i, d] * rate, state_stock[d])
            if g <= 0:
                continue
            purity = state_pure[d] / state_stock[d]
            state_stock[d] -= g
            state_pure[d] -= g * purity
            stock[w, d] += g
            pure[w, d] += g * purity
            siphoned[d, r] += g
            who[k], grams[k] = w, g
            k += 1
    return who[:k], grams[:k], siphoned
