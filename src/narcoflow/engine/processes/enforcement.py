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
from numba import njit

from narcoflow.engine import arrests
from narcoflow.engine import state as st
from narcoflow.engine.draws import binomial, distinct_rows, next_double
from narcoflow.engine.processes.base import Process


def exposed_by(actors: st.Actors, arrested: np.ndarray) -> np.ndarray:
    """Slots of the active actors tied to any of ``arrested`` (S12), excluding those arrested:
    their supplier and smuggler, and the actors whose supplier or smuggler is arrested."""
    a = actors
    if len(arrested) == 0:
        return np.empty(0, dtype=np.int64)
    return exposed(a.cols, np.asarray(arrested, dtype=np.int64))


class Enforcement(Process):
    name = "enforcement"
    claims = ("S12",)
    params = ("enforcement.agency", "enforcement.exposure_arrest_prob", "enforcement.sentence_weeks",
              "enforcement.weekly_arrest_prob")
    reads = ("enforcement_mult",)
    writes = ("actors", "arrest_hazard", "arrest_requests", "jail", "ledger", "persons", "shipments", "users")
    records = ("arrests", "seized_g")

    def init(self, sim) -> None:
        enf = sim.scenario.enforcement
        self.role_prob = np.array([enf.weekly_arrest_prob[r].value for r in st.ROLE_NAMES])
        self.user_prob = enf.weekly_arrest_prob["user"].value
        self.exposure_prob = enf.exposure_arrest_prob.value

    def step(self, sim) -> None:
        a, state = sim.actors, sim.draws(self.name)
        # This week's arrest probability of one participant, by role (then users) and region.
        sim.arrest_hazard[:] = np.minimum(1.0, np.append(self.role_prob, self.user_prob)[:, None]
                                          * sim.enforcement_mult[None, :])
        pending = sim.arrest_requests.take()  # smugglers caught at the border (BorderSmuggling)
        arrested = actor_arrests(state, a.active_slots(), a.cols, self.role_prob, sim.enforcement_mult, pending,
                                 self.exposure_prob)
        if len(arrested):
            arrests.arrest_actors(sim, arrested)
        # Users (E1: use punishable by labour training), each with its region's probability.
        u = sim.users
        if u.n:
            p_r = np.minimum(1.0, self.user_prob * sim.enforcement_mult)
            rows = user_arrests(state, u.n, u.region, p_r)
            if len(rows):
                by_region = np.bincount(u.region[rows], minlength=sim.n_regions)
                arrests.jail(sim, u.person[rows])
                sim.recorder.add_by("arrests", by_region, sim.region_names, dim="region", channel="user")


# ---------------------------------------------------------------- kernels
@njit(cache=True)
def actor_arrests(state, slots, actors, role_prob, region_mult, pending, exposure_prob):
    """This week's actor arrests, sorted: each of ``slots`` with ``role_prob[role] x
    region_mult[region]``, plus the still active ``pending`` ones (caught at the border), plus each
    actor tied to one of them (`exposed`) with ``exposure_prob`` (S12, one link deep)."""
    role, region, active = actors.role, actors.region, actors.active
    out = np.empty(len(slots) + len(pending), dtype=np.int64)
    n = 0
    for s in slots:
        if next_double(state) < role_prob[role[s]] * region_mult[region[s]]:
            out[n] = s
            n += 1
    for s in pending:
        if active[s]:
            out[n] = s
            n += 1
    if n == 0:
        return out[:0]
    arrested = np.unique(out[:n])
    ties = exposed(actors, arrested)
    keep = np.empty(len(ties), dtype=np.bool_)
    for j in range(len(ties)):
        keep[j] = next_double(state) < exposure_prob
    return np.unique(np.concatenate((arrested, ties[keep])))


@njit(cache=True)
def user_arrests(state, n_users, user_region, p_region):
    """Rows of the users arrested this week, each with its region's probability: a binomial
    count of distinct rows at the highest probability (O(arrests), not O(users)), thinned by
    ``p_region / max``."""
    p_max = 0.0
    for p in p_region:
        p_max = max(p_max, p)
    k = binomial(state, n_users, p_max)
    if k == 0:
        return np.empty(0, dtype=np.int64)
    rows = distinct_rows(state, n_users, k)
    out = np.empty(k, dtype=np.int64)
    n = 0
    for r in rows:
        if next_double(state) < p_region[user_region[r]] / p_max:
            out[n] = r
            n += 1
    return out[:n]


@njit(cache=True)
def exposed(actors, arrested):
    """Active actors tied to any of ``arrested`` (their supplier and smuggler; the actors whose
    supplier or smuggler is arrested), the arrested excluded, in slot order (one pass, S12)."""
    supplier, export_tie, active = actors.supplier, actors.export_tie, actors.active
    cap = len(supplier)
    gone = np.zeros(cap, dtype=np.bool_)
    hit = np.zeros(cap, dtype=np.bool_)
    for a in arrested:
        gone[a] = True
        if supplier[a] >= 0:
            hit[supplier[a]] = True
        if export_tie[a] >= 0:
            hit[export_tie[a]] = True
    n = 0
    for i in range(cap):
        s, e = supplier[i], export_tie[i]
        if (s >= 0 and gone[s]) or (e >= 0 and gone[e]):
            hit[i] = True
        if hit[i] and active[i] and not gone[i]:
            n += 1
    out = np.empty(n, dtype=np.int64)
    n = 0
    for i in range(cap):
        if hit[i] and active[i] and not gone[i]:
            out[n] = i
            n += 1
    return out
