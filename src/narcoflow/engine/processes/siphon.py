"""NSA siphoning (S5): officials controlling state production leak a share of the output into
the domestic market, selling it to a wholesaler of the factory's region (or, if there is none,
of any region). With no wholesaler anywhere nothing is siphoned that week.
"""

from __future__ import annotations

from narcoflow.engine import state as st
from narcoflow.engine.flowlog import STATE
from narcoflow.engine.processes.base import Process


class NsaSiphon(Process):
    name = "nsa_siphon"
    claims = ("S5",)

    def step(self, sim) -> None:
        rate = sim.scenario.state.siphon_rate.value
        if rate <= 0:
            return
        a, rng = sim.actors, sim.rng(self.name)
        wholesalers = a.of_role(st.WHOLESALER)
        if len(wholesalers) == 0:
            return
        for i, r in enumerate(sim.state_output_region):
            local = wholesalers[a.region[wholesalers] == r]
            pool = local if len(local) else wholesalers
            w = pool[rng.integers(len(pool))]
            for d in range(sim.n_drugs):
                g = min(sim.state_output[i, d] * rate, sim.state_stock[d])
                if g <= 0:
                    continue
                purity = sim.state_pure[d] / sim.state_stock[d]
                sim.state_stock[d] -= g
                sim.state_pure[d] -= g * purity
                a.stock[w, d] += g
                a.pure[w, d] += g * purity
                if sim.flow_log is not None:
                    sim.flow_log.add(sim.t, STATE, a.uid[w], [g])
                sim.recorder.add("siphoned_g", g, drug=sim.drugs[d], region=sim.region_names[r])
