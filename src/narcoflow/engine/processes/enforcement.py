"""Domestic enforcement and exposure along ties (S12; E1-E5 for agencies and campaigns).

Each actor is arrested with its role's weekly probability x the region's enforcement multiplier
(crackdown events); users with the user probability. An arrest seizes the actor's stock and the
lots it carries (agency by role: NSA for producers and deliverers, MPS for the rest, border guards
for smugglers). Compartmentalisation (S12): an arrest exposes only the actors tied to the arrested
one, each arrested in turn with ``exposure_arrest_prob``:
    seller -> its wholesaler;  wholesaler -> its sellers, its deliverer, its smuggler;
    deliverer -> its producers and the wholesalers it supplies;  producer -> its deliverer;
    smuggler -> the wholesalers tied to it.
Exposure goes one link deep per week (exposed actors do not expose others that week).
"""

from __future__ import annotations

import numpy as np

from narcoflow.engine import arrests, kernels
from narcoflow.engine import state as st
from narcoflow.engine.processes.base import Process


def exposed_by(actors: st.Actors, arrested: np.ndarray) -> np.ndarray:
    """Slots of the active actors tied to any of ``arrested`` (S12), excluding those arrested:
    their supplier and smuggler, and the actors whose supplier or smuggler is arrested."""
    a = actors
    if len(arrested) == 0:
        return np.empty(0, dtype=np.int64)
    return kernels.exposed(a.supplier, a.export_tie, a.active, np.asarray(arrested, dtype=np.int64))


class Enforcement(Process):
    name = "enforcement"
    claims = ("S12",)
    params = ("enforcement.agency", "enforcement.exposure_arrest_prob", "enforcement.sentence_weeks",
              "enforcement.weekly_arrest_prob")
    reads = ("enforcement_mult",)
    writes = ("actors", "arrest_requests", "jail", "ledger", "persons", "shipments", "users")
    records = ("arrests", "seized_g")

    def init(self, sim) -> None:
        enf = sim.scenario.enforcement
        self.role_prob = np.array([enf.weekly_arrest_prob[r].value for r in st.ROLE_NAMES])

    def step(self, sim) -> None:
        a, enf, state = sim.actors, sim.scenario.enforcement, sim.draws(self.name)
        pending = sim.arrest_requests.take()  # smugglers caught at the border (BorderSmuggling)
        arrested = kernels.actor_arrests(state, a.active_slots(), a.role, a.region, self.role_prob,
                                         sim.enforcement_mult, pending, a.active, a.supplier, a.export_tie,
                                         enf.exposure_arrest_prob.value)
        if len(arrested):
            arrests.arrest_actors(sim, arrested)
        # Users (E1: use punishable by labour training), each with its region's probability.
        u = sim.users
        if u.n:
            p_r = np.minimum(1.0, enf.weekly_arrest_prob["user"].value * sim.enforcement_mult)
            rows = kernels.user_arrests(state, u.n, u.region, p_r)
            if len(rows):
                by_region = np.bincount(u.region[rows], minlength=sim.n_regions)
                arrests.jail(sim, u.person[rows])
                sim.recorder.add_by("arrests", by_region, sim.region_names, dim="region", channel="user")
