"""The scenario timeline: dated events set this week's modifiers (S9 and the campaigns of T10-T16).

- ``crackdown``: domestic arrest probabilities x multiplier in the listed regions (all if none),
  on top of each region's standing ``policing`` factor.
- ``border_closure``: no private crossing at the crossings of the listed regions (all if none).
- ``foreign_crackdown``: the destination's interdiction probability x multiplier.
- ``precursor_control``: precursor availability x multiplier (S7 lever).
- ``state_shipment_seizure`` is carried out by `StateExports` (S9).
An event without ``end`` lasts one week if it is a seizure, and otherwise until the end of the run.
Prisoners whose sentence is over are released here too.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from narcoflow.engine import arrests
from narcoflow.engine.processes.base import Process


class Timeline(Process):
    name = "timeline"
    claims = ("S9",)
    params = ("border.crossings[].region", "events", "regions[].policing")
    writes = ("crossing_open", "enforcement_mult", "foreign_mult", "jail", "persons", "precursor_mult")

    def init(self, sim) -> None:
        sc = sim.scenario
        self.crossing_region = np.array([sim.region_index[c.region] for c in sc.border.crossings])
        self.policing = np.array([r.policing.value for r in sc.regions])

    def step(self, sim) -> None:
        arrests.release_due(sim)
        today = sim.date
        week_end = today + dt.timedelta(days=7)
        sim.enforcement_mult[:] = self.policing
        sim.crossing_open[:] = True
        sim.foreign_mult[:] = 1.0
        sim.precursor_mult = 1.0
        for ev in sim.scenario.events:
            if ev.type == "state_shipment_seizure":
                continue
            end = ev.end or dt.date.max
            if not (ev.start < week_end and today <= end):
                continue
            mult = ev.multiplier.value
            if ev.type == "crackdown":
                sim.enforcement_mult[sim.region_mask(ev.regions)] *= mult
            elif ev.type == "border_closure":
                closed = sim.region_mask(ev.regions)[self.crossing_region]
                sim.crossing_open &= ~closed
            elif ev.type == "foreign_crackdown":
                sim.foreign_mult[sim.dest_index[ev.destination]] *= mult
            elif ev.type == "precursor_control":
                sim.precursor_mult *= mult
