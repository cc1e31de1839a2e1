"""Domestic enforcement with capacity, and exposure along ties (S12; E1-E5; Kleiman 1993).

**Capacity** (enforcement swamping, Kleiman 1993): agency a makes at most
``C_{a,r} = capacity_per_million_per_week[a] x persons_r / 1e6 x m_r`` arrests a week in
province r (persons_r: the simulated population, so capacity follows the run's scale; m_r: the
province's policing x crackdown multiplier, ``sim.enforcement_mult``). The roles it polices
(``enforcement.agency``; users are policed by the MPS) would call for
``D_{a,r} = sum_k h0_k x m_r x N_{k,r}`` (h0_k: ``weekly_arrest_prob``, N_{k,r}: active actors of
role k, or users, in r). Each participant's weekly hazard is then
    h_{k,r} = h0_k x m_r x min(1, C_{a(k),r} / D_{a(k),r})
so arrests are min(C, D): they grow less than proportionally with the market once capacity binds,
and each participant's hazard falls as participants grow. ``sim.arrest_hazard[role or user, r]``
holds h (read by `Prices` for risk compensation and by the supply side).
Each actor is then arrested with its hazard, users with theirs. An arrest seizes the actor's stock and the
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
    params = ("enforcement.agency", "enforcement.capacity_per_million_per_week", "enforcement.exposure_arrest_prob",
              "enforcement.sentence_weeks", "enforcement.weekly_arrest_prob")
    reads = ("enforcement_mult",)
    writes = ("actors", "arrest_hazard", "arrest_requests", "jail", "ledger", "persons", "shipments", "users")
    records = ("arrests", "seized_g")

    def init(self, sim) -> None:
        enf = sim.scenario.enforcement
        rows = st.ROLE_NAMES + ("user",)  # the rows of sim.arrest_hazard
        self.base = np.array([enf.weekly_arrest_prob[r].value for r in rows])
        agencies = sorted({enf.agency[r] for r in rows})
        self.agency_of = np.array([agencies.index(enf.agency[r]) for r in rows])
        per_million = np.array([enf.capacity_per_million_per_week[a].value for a in agencies])
        # Arrests a week each agency can make in each province at multiplier 1 (simulated persons).
        self.capacity = per_million[:, None] * sim.persons.sizes[None, :] / 1e6
        self.exposure_prob = enf.exposure_arrest_prob.value

    @staticmethod
    def participants(sim) -> np.ndarray:
        """Active actors by role and region, then users by region (the rows of ``arrest_hazard``)."""
        return np.vstack([sim.actors.count, sim.users.region_counts[None, :]]).astype(float)

    def step(self, sim) -> None:
        a, state = sim.actors, sim.draws(self.name)
        # This week's arrest probability of one participant, by role (then users) and region.
        h = sim.arrest_hazard
        h[:] = hazard(self.base, self.agency_of, self.capacity, sim.enforcement_mult, self.participants(sim))
        pending = sim.arrest_requests.take()  # smugglers caught at the border (BorderSmuggling)
        arrested = actor_arrests(state, a.active_slots(), a.cols, h, pending, self.exposure_prob)
        if len(arrested):
            arrests.arrest_actors(sim, arrested)
        # Users (E1: use punishable by labour training), each with its region's hazard.
        u = sim.users
        if u.n:
            rows = user_arrests(state, u.n, u.region, h[-1].copy())
            if len(rows):
                by_region = np.bincount(u.region[rows], minlength=sim.n_regions)
                arrests.jail(sim, u.person[rows])
                sim.recorder.add_by("arrests", by_region, sim.region_names, dim="region", channel="user")


def hazard(base: np.ndarray, agency_of: np.ndarray, capacity: np.ndarray, mult: np.ndarray,
           participants: np.ndarray) -> np.ndarray:
    """Weekly arrest hazard of one participant by row (roles, then users) and region under each
    agency's capacity (Kleiman 1993): ``base x mult x min(1, capacity x mult / wanted)``, where
    ``wanted`` is the arrests the agency's rows would call for at ``base x mult``.

    >>> h = hazard(np.array([0.01]), np.array([0]), np.array([[1.0]]), np.array([1.0]), np.array([[50.0]]))
    >>> float(h[0, 0])  # 50 participants want 0.5 arrests a week: capacity 1 does not bind
    0.01
    >>> float(hazard(np.array([0.01]), np.array([0]), np.array([[1.0]]), np.array([1.0]), np.array([[400.0]]))[0, 0])
    0.0025
    """
    want = base[:, None] * mult[None, :]
    wanted = np.zeros_like(capacity)
    np.add.at(wanted, agency_of, want * participants)
    cap = capacity * mult[None, :]
    share = np.divide(cap, wanted, out=np.ones_like(cap), where=wanted > cap)
    return np.minimum(1.0, want * share[agency_of])


# ---------------------------------------------------------------- kernels
@njit(cache=True)
def actor_arrests(state, slots, actors, hazard, pending, exposure_prob):
    """This week's actor arrests, sorted: each of ``slots`` with ``hazard[role, region]``, plus
    the still active ``pending`` ones (caught at the border), plus each actor tied
    to one of them (`exposed`) with ``exposure_prob`` (S12, one link deep)."""
    role, region, active = actors.role, actors.region, actors.active
    out = np.empty(len(slots) + len(pending), dtype=np.int64)
    n = 0
    for s in slots:
        if next_double(state) < hazard[role[s], region[s]]:
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
