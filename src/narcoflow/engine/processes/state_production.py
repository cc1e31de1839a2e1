"""State production (S1-S4): named factories with capacity and purity, output into the NSA's stock.

Output per week = capacity x production-schedule multiplier (T6, T8) x scale. A facility with a
relocation history (S4: Sangwon was Ranam in Chongjin until the late 1990s) produces in its
former region before the relocation date.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from narcoflow.engine.flowlog import SOURCE, STATE
from narcoflow.engine.processes.base import Process


class StateProduction(Process):
    name = "state_production"
    claims = ("S1", "S2", "S3", "S4")
    params = ("state.facilities[].capacity_g_per_week", "state.facilities[].purity", "state.facilities[].region",
              "state.facilities[].relocated_from", "state.facilities[].relocation_date",
              "state.production_schedule[].multiplier", "state.production_schedule[].start")
    writes = ("ledger", "state_output", "state_output_region", "state_pure", "state_stock")
    records = ("produced_g",)

    def init(self, sim) -> None:
        sc = sim.scenario
        self.schedule = sorted(sc.state.production_schedule, key=lambda s: s.start)
        self.capacity = np.zeros((len(sc.state.facilities), sim.n_drugs))
        for i, f in enumerate(sc.state.facilities):
            for drug, p in f.capacity_g_per_week.items():
                self.capacity[i, sim.drugs.index(drug)] = p.value
        facilities = sc.state.facilities
        self.purity = [f.purity.value for f in facilities]
        self.producing = [(i, d) for i in range(len(facilities)) for d in range(sim.n_drugs)
                          if self.capacity[i, d] > 0]
        self.region_after = np.array([sim.region_index[f.region] for f in facilities], dtype=np.int64)
        self.region_before = np.array([sim.region_index[f.relocated_from] if f.relocated_from is not None
                                       else sim.region_index[f.region] for f in facilities], dtype=np.int64)
        self.moved_on = np.array([f.relocation_date if f.relocated_from is not None else dt.date.min
                                  for f in facilities], dtype=object)

    def multiplier(self, date) -> float:
        m = 1.0
        for s in self.schedule:
            if s.start <= date:
                m = s.multiplier.value
        return m

    def step(self, sim) -> None:
        date = sim.date
        out = self.capacity * (self.multiplier(date) * sim.scale)
        sim.state_output[:] = out
        # Facility regions: the former one until a relocation date (S4).
        sim.state_output_region[:] = np.where(date < self.moved_on, self.region_before, self.region_after)
        for i, d in self.producing:
            g = float(out[i, d])
            if g > 0:
                r = int(sim.state_output_region[i])
                sim.recorder.add("produced_g", g, drug=sim.drugs[d], region=sim.region_names[r], channel="state")
                sim.state_stock[d] += g
                if sim.flow_log is not None:
                    sim.flow_log.add(sim.t, SOURCE, STATE, [g])
                sim.state_pure[d] += g * self.purity[i]
                sim.ledger.produced[d] += g
