"""The rules of arrest, jail and seizure (S12), shared by the processes that arrest.

Who arrests is decided by the processes (`Enforcement`: each actor with its role's weekly
probability, users with theirs, and exposure along ties; `BorderSmuggling`: smugglers caught at
a crossing). What an arrest *does* is decided here, once:

- **seizure** (`seize_actor_stock`): all the stock an actor holds and the domestic lots it
  carries go to the seizing agency, recorded as ``seized_g`` by drug, region (of the holder) and
  agency, and counted by the ledger;
- **arrest of actors** (`arrest_actors`): the stock is seized by the agency of the actor's role
  (``enforcement.agency``), the arrest is recorded as ``arrests`` by region and role, the slot
  is freed and every tie to it cut (`remove_actors`), and the person is jailed;
- **jail** (`jail`): a jailed person leaves the user table and its actor roles (a user who is
  also an actor is arrested in that role too, so nobody trades from jail, and serves that role's
  sentence) and is released ``enforcement.sentence_weeks[role or user]`` later (E1, E2)
  (`release_due`, called by `Timeline` at the start of a week);
  `Jail` keeps who is released when and how many are in jail per region;
- **arrest requests** (`ArrestRequests`): an arrest decided in one process and carried out in
  another (smugglers caught at the border are arrested, with exposure of their ties, by
  `Enforcement` in the same week) goes through this owned structure, ``sim.arrest_requests``.

Moving stock between actors (`move_stock`) and removing actors without arrest (a producer's
exit) are the two lower-level operations the rules are built on; they live here too, so every
change of who holds what outside the ordinary trades is in one file.

The functions take the `Simulation` (or the conformance tracer standing in for it) and change
the state it names: ``actors``, ``shipments``, ``ledger``, ``persons``, ``users``, ``jail``.
"""

from __future__ import annotations

import functools

import numpy as np
from numba import njit

from narcoflow.engine import state as st
from narcoflow.engine.flowlog import FlowLog
from narcoflow.engine.kernels import tables

_NONE = np.empty(0, dtype=np.int64)


class ArrestRequests:
    """Actor slots to arrest this week, requested by one process and carried out by another
    (``sim.arrest_requests``): `BorderSmuggling` adds the smugglers caught at a crossing,
    `Enforcement` takes them (those still active) with its own arrests, and exposes their ties.

    >>> requests = ArrestRequests()
    >>> requests.add(np.array([7, 3]))
    >>> requests.take().tolist(), requests.take().tolist()
    ([7, 3], [])
    """

    def __init__(self):
        self.slots = _NONE

    def add(self, slots: np.ndarray) -> None:
        self.slots = np.concatenate([self.slots, slots])

    def take(self) -> np.ndarray:
        """The slots requested so far (in request order); the requests are cleared."""
        slots, self.slots = self.slots, _NONE
        return slots


class Jail:
    """Persons serving a sentence (``sim.jail``).

    ``release`` maps a release step to the arrays of persons released then (a person jailed
    twice in one step, as a user and in its role, is listed twice); ``by_region`` counts the
    entries per region (read by `Demand`: jailed persons cannot start using)."""

    def __init__(self, n_regions: int):
        self.release: dict[int, list[np.ndarray]] = {}
        self.by_region = np.zeros(n_regions, dtype=np.int64)

    def persons(self) -> np.ndarray:
        """Persons in jail (one entry per arrest), by release step."""
        parts = [p for step in sorted(self.release) for p in self.release[step]]
        return np.concatenate(parts) if parts else np.empty(0, dtype=np.int64)


# ---------------------------------------------------------------------- arrests
def arrest_actors(sim, slots: np.ndarray, *, count_role: bool = True) -> None:
    """Arrest actors: seize their stock by their role's agency, record the arrests by region and
    role (unless ``count_role`` is False), free their slots and cut their ties, jail them."""
    if len(slots) == 0:
        return
    a, enf = sim.actors, sim.scenario.enforcement
    sentenced = []
    for role in np.unique(a.role[slots]):
        sel = slots[a.role[slots] == role]
        name = st.ROLE_NAMES[role]
        seize_actor_stock(sim, sel, enf.agency[name])
        if count_role:
            by_region = np.bincount(a.region[sel], minlength=sim.n_regions).astype(float)
            sim.recorder.add_by("arrests", by_region, sim.region_names, dim="region", channel=name)
        sentenced.append((a.person[sel].copy(), name))
    remove_actors(sim, slots)
    for persons, name in sentenced:
        jail(sim, persons, name)


def seize_actor_stock(sim, slots: np.ndarray, agency: str) -> None:
    """Seize all stock held by ``slots`` and the domestic lots they carry, for ``agency``."""
    if len(slots) == 0:
        return
    a, sh = sim.actors, sim.shipments
    slots = np.asarray(slots, dtype=np.int64)
    if sim.flow_log is not None:
        sink = np.full(len(slots), FlowLog.seized(agency))
        sim.flow_log.add(sim.t, a.uid[slots], sink, tables.row_totals_of(a.stock, slots))
    seized = np.zeros((sim.n_drugs, sim.n_regions))
    keep = seize(slots, a.cols, sh.cols, sh.n, seized, sim.ledger.seized)
    sim.recorder.record(_seized_keys(tuple(sim.drugs), tuple(sim.region_names), agency), seized.ravel())
    if not keep.all():
        if sim.flow_log is not None:
            c = sh.view("carrier")[~keep]
            sim.flow_log.add(sim.t, a.uid[c], np.full(len(c), FlowLog.seized(agency)), sh.view("grams")[~keep])
        sh.keep(keep)


@functools.lru_cache(maxsize=64)
def _seized_keys(drugs: tuple, regions: tuple, agency: str) -> list:
    """The recorder keys of one agency's seizures, drug by drug, region by region (one list per
    agency and model shape, kept: the recorder finds its columns by the list's identity)."""
    return [("seized_g", d, r, agency) for d in drugs for r in regions]


@njit(cache=True)
def seize(slots, actors, lots, n_lots, seized, ledger_seized):
    """Seize the stock of ``slots`` and the domestic lots (of the first ``n_lots``) they carry:
    grams per drug and region (of the holder) are added to ``seized`` and to the ledger's
    ``ledger_seized``, the stocks zeroed. Returns the mask of the lots not seized."""
    stock, pure, region = actors.stock, actors.pure, actors.region
    carrier, foreign, drug, grams = lots.carrier, lots.foreign, lots.drug, lots.grams
    marked = set()
    for s in slots:
        marked.add(s)
        for d in range(stock.shape[1]):
            g = stock[s, d]
            if g > 0:
                seized[d, region[s]] += g
                ledger_seized[d] += g
            stock[s, d] = 0.0
            pure[s, d] = 0.0
    keep = np.ones(n_lots, dtype=np.bool_)
    for i in range(n_lots):
        c = carrier[i]
        if c >= 0 and not foreign[i] and c in marked:
            keep[i] = False
            seized[drug[i], region[c]] += grams[i]
            ledger_seized[drug[i]] += grams[i]
    return keep


# ---------------------------------------------------------------------- jail
def jail(sim, persons: np.ndarray, role: str = "user") -> None:
    """Persons arrested (as ``role``: a role name or ``user``) leave their roles and the user table
    until released, ``enforcement.sentence_weeks[role]`` later.

    A person arrested as a user who also holds an actor role is arrested in that role too
    (stock seized, slot freed) and serves that role's sentence, so nobody trades from jail.
    """
    if len(persons) == 0:
        return
    pf = sim.persons.flags
    is_actor = (pf[persons] & st.ACTOR) != 0
    if is_actor.any():
        slots = sim.actors.slots_of_persons(persons[is_actor])
        if len(slots):
            arrest_actors(sim, slots)  # frees the slots, then jails them in their roles
            persons = persons[(pf[persons] & st.JAILED) == 0]  # the others serve ``role``'s sentence
            if len(persons) == 0:
                return
    sim.users.remove_persons(persons[(pf[persons] & st.USER) != 0])
    pf[persons] = (pf[persons] | st.JAILED) & ~np.uint8(st.ACTOR | st.USER)
    release = sim.t + int(round(sim.scenario.enforcement.sentence_weeks[role].value))
    j = sim.jail
    j.release.setdefault(release, []).append(np.array(persons, dtype=np.int64))
    j.by_region += np.bincount(sim.persons.region_of(persons), minlength=sim.n_regions)


def release_due(sim) -> None:
    """Release the prisoners whose sentence is over: O(released), not O(jailed)."""
    j = sim.jail
    while j.release and (step := min(j.release)) <= sim.t:
        persons = np.concatenate(j.release.pop(step))
        sim.persons.flags[persons] &= ~np.uint8(st.JAILED)
        j.by_region -= np.bincount(sim.persons.region_of(persons), minlength=sim.n_regions)


# ---------------------------------------------------------------------- stock and slots
def move_stock(sim, src: np.ndarray, dst: np.ndarray, frac: np.ndarray) -> None:
    """Move the share ``frac`` of each ``src`` actor's stock (all drugs, purity kept) to ``dst``.

    ``src`` may repeat (a wholesaler serving several sellers); each ``frac`` is a share of the
    stock held before this call, so the shares of one source must sum to at most 1.
    """
    if len(src) == 0:
        return
    a = sim.actors
    g = tables.move_stock(np.asarray(src, dtype=np.int64), np.asarray(dst, dtype=np.int64),
                           np.asarray(frac, dtype=np.float64), a.stock, a.pure)
    if sim.flow_log is not None:
        sim.flow_log.add(sim.t, a.uid[src], a.uid[dst], g.sum(axis=1))


def remove_actors(sim, slots: np.ndarray) -> None:
    """Free actor slots and cut every tie to them: other actors' and lots' in transit at once,
    users' lazily (generational ties, see `Users`).

    Low level: the caller must have moved or seized the actors' stock and the lots they carry
    first (as `arrest_actors` and a producer's exit do), or the ledger check fails.
    """
    if len(slots) == 0:
        return
    a = sim.actors
    a.remove(slots)  # bumps the slots' epochs: users' ties to them are now stale
    sh = sim.shipments
    if sh.n:
        dest = sh.view("dest")
        domestic = ~sh.view("foreign")
        marks = np.zeros(a.cap + 1, dtype=bool)  # one extra False entry: dest -1 (no actor) reads False
        marks[slots] = True
        dest[domestic & marks[dest]] = -1
