"""NSA siphoning (S5): officials controlling state production leak a share of the output into
the domestic market, selling it to a wholesaler of the factory's region (or, if there is none,
of any region). With no wholesaler anywhere nothing is siphoned that week.
"""

from __future__ import annotations

import numpy as np

from narcoflow.engine import kernels
from narcoflow.engine import state as st
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
        siphoned = np.zeros((sim.n_drugs, sim.n_regions))
        who, _, grams = kernels.siphon(sim.draws(self.name), sim.state_output, sim.state_output_region, rate,
                                       sim.state_stock, sim.state_pure, *a.by_region(st.WHOLESALER, sim.n_regions),
                                       a.stock, a.pure, siphoned)
        sim.recorder.record(self.siphoned_keys, siphoned.ravel())
        if sim.flow_log is not None and len(who):
            sim.flow_log.add(sim.t, STATE, a.uid[who], grams)
