"""Simulation state as structures of arrays (LASER/Starsim style).

- `Persons`: every inhabitant, sorted by region so a region is a contiguous id range; one byte
  of flags each. A person who is not involved costs one byte and no work per step.
- `Users`: the persons who use drugs, as a compact table (person, region, seller, demand, use
  state light or heavy), and the record of who has ever used (`EverUsed`).
- `Actors`: producers, deliverers, wholesalers, sellers and smugglers, with stocks (grams and
  pure grams per drug, so purity travels with the product, S2) and ties (S11, S12).
- `Shipments`: product in transit, domestic (carried by a deliverer) or abroad.
"""

from __future__ import annotations

import numpy as np

from narcoflow.engine import bundles, kernels

# Person flags. EVER: has used at least once (set at initiation, never cleared). A person's use
# state (Behrens et al. 1999: never / light / heavy / former) is read from the flags and the user
# table: never = no EVER; light or heavy = USER (the row's ``heavy``); former = EVER without USER
# (quit, or jailed: a user arrested leaves the table and is a former user from then on).
USER, ACTOR, JAILED, SKILLED, EVER = 1, 2, 4, 8, 16
# Use states (the ``heavy`` column of `Users`, and the channels of metric ``users_by_state``).
LIGHT, HEAVY = 0, 1
USE_STATES = ("light", "heavy", "former")

# Actor roles (index into ROLE_NAMES)
PRODUCER, DELIVERER, WHOLESALER, SELLER, SMUGGLER = range(5)
ROLE_NAMES = ("producer", "deliverer", "wholesaler", "seller", "smuggler")
# Price tiers (rows of `Simulation.tier_price`): what a deliverer pays a producer, a seller pays a
# wholesaler, a user pays a seller.
TIER_PRODUCER, TIER_WHOLESALE, TIER_RETAIL = range(3)
TIERS = ("producer", "wholesale", "retail")


class Persons(bundles.BundledTable):
    """All inhabitants of the simulated population, contiguous by region."""

    COLUMNS = bundles.PERSONS

    def __init__(self, sizes: np.ndarray):
        self.sizes = np.asarray(sizes, dtype=np.int64)
        self.start = np.concatenate([[0], np.cumsum(self.sizes)[:-1]])
        self.n = int(self.sizes.sum())
        self.flags = np.zeros(self.n, dtype=np.uint8)

    def region_of(self, ids: np.ndarray) -> np.ndarray:
        return (np.searchsorted(self.start, ids, side="right") - 1).astype(np.int16)

    def sample_free(self, state: np.ndarray, region: int, k: int, exclude: int,
                    pool: np.ndarray | None = None) -> np.ndarray:
        """Up to ``k`` distinct persons of ``region`` (or of ``pool``) with none of ``exclude`` flags,
        drawn from the kernel stream ``state`` (`kernels.sample_free`: rejection sampling, so the
        cost grows with ``k``, not with the region's population)."""
        if k <= 0:
            return _EMPTY
        size = len(pool) if pool is not None else int(self.sizes[region])
        if size == 0:
            return _EMPTY
        pool = _EMPTY if pool is None else pool
        first = int(self.start[region]) if len(pool) == 0 else 0
        return kernels.sample_free(state, self.flags, first, pool, size, k, exclude)


_EMPTY = np.empty(0, dtype=np.int64)


class Users(bundles.BundledTable):
    """Persons who use drugs: a compact, growable table.

    ``heavy`` is the use state of a row (`LIGHT` or `HEAVY`); ``heavy_counts`` the heavy users
    per region, kept up to date like ``region_counts`` (the light users of a region are
    ``region_counts - heavy_counts``).

    A user's tie to its seller is a generational index: (slot ``seller``, ``seller_epoch``). When
    an actor leaves, its slot's epoch is bumped, so a stale tie is recognised (and dropped) the
    next time it is read, without scanning the user table at every arrest.
    """

    def __init__(self, n_persons: int, n_regions: int, capacity: int = 1024):
        self.n = 0
        self.row_of_person = np.full(n_persons, -1, dtype=np.int32)
        self.region_counts = np.zeros(n_regions, dtype=np.int64)
        self.person = np.zeros(capacity, dtype=np.int64)
        self.region = np.zeros(capacity, dtype=np.int16)
        self.seller = np.full(capacity, -1, dtype=np.int32)
        self.seller_epoch = np.zeros(capacity, dtype=np.int32)
        self.use_g = np.zeros(capacity, dtype=np.float64)
        self.drug = np.zeros(capacity, dtype=np.int8)
        self.heavy = np.zeros(capacity, dtype=np.int8)
        self.heavy_counts = np.zeros(n_regions, dtype=np.int64)
        #: who has ever used, by region (`EverUsed`); users and former users
        self.ever = EverUsed(n_regions)

    COLUMNS = bundles.USERS
    _fields = ("person", "region", "seller", "seller_epoch", "use_g", "drug", "heavy")  # one entry per row

    def add(self, person, region, seller, use_g, drug, seller_epoch) -> None:
        """Append users, all light (``heavy`` 0)."""
        k = len(person)
        if self.n + k > len(self.person):
            new_cap = max(2 * len(self.person), self.n + k)
            for f in self._fields:
                arr = getattr(self, f)
                grown = np.full(new_cap, -1 if f == "seller" else 0, dtype=arr.dtype)
                grown[: self.n] = arr[: self.n]
                setattr(self, f, grown)
        sl = slice(self.n, self.n + k)
        self.person[sl], self.region[sl], self.seller[sl] = person, region, seller
        self.seller_epoch[sl] = seller_epoch
        self.use_g[sl], self.drug[sl] = use_g, drug
        self.heavy[sl] = LIGHT
        self.row_of_person[person] = np.arange(self.n, self.n + k)
        self.region_counts += np.bincount(region, minlength=len(self.region_counts))
        self.n += k

    def remove_rows(self, rows: np.ndarray) -> None:
        """Remove users by row (distinct rows), in O(len(rows)); row order is not preserved."""
        if len(rows) == 0:
            return
        rows = np.sort(np.asarray(rows, dtype=np.int64))[::-1].copy()
        self.n = kernels.swap_remove(rows, self.person, self.region, self.seller, self.seller_epoch,
                                     self.use_g, self.drug, self.heavy, self.n, self.row_of_person,
                                     self.region_counts, self.heavy_counts)

    def escalate(self, rows: np.ndarray) -> None:
        """Make the light users of ``rows`` (distinct) heavy; heavy ones stay heavy."""
        rows = np.asarray(rows, dtype=np.int64)
        rows = rows[self.heavy[rows] == LIGHT]
        self.heavy[rows] = HEAVY
        self.heavy_counts += np.bincount(self.region[rows], minlength=len(self.heavy_counts))

    def remove_persons(self, persons: np.ndarray) -> None:
        """Remove the given persons from the table if they are users."""
        rows = self.row_of_person[persons]
        self.remove_rows(np.unique(rows[rows >= 0]))

    def view(self, field: str) -> np.ndarray:
        return getattr(self, field)[: self.n]

    def reorder(self, order: np.ndarray) -> None:
        """Permute the rows: row ``j`` becomes the old row ``order[j]`` (a permutation of range(n)).

        The gathers and the update of ``row_of_person`` (random writes) run in row ranges on the
        thread pool (`narcoflow.engine.parallel`); each row is written once, so the result does
        not depend on the number of threads."""
        from narcoflow.engine import parallel

        n = self.n
        order = np.asarray(order, dtype=np.int64)
        new = {f: np.empty_like(getattr(self, f)) for f in self._fields}  # rows past n: never read
        parts = max(1, min(parallel.n_threads(), 4, n // 100_000))
        cut = parallel.bounds(n, parts)
        parallel.run(lambda c: kernels.gather_users(
            order, cut[c], cut[c + 1], *(getattr(self, f) for f in self._fields),
            *(new[f] for f in self._fields)), parts)
        for f in self._fields:
            setattr(self, f, new[f])
        parallel.run(lambda c: kernels.index_rows(self.person, cut[c], cut[c + 1], self.row_of_person), parts)

    def sort_for_locality(self, sellers_sorted: np.ndarray, starts: np.ndarray, counts: np.ndarray,
                          cap: int) -> None:
        """Order the rows by region, then seller (see `kernels.locality_order`): the order decays
        only as users come and go, and a sorted table makes the retail pass about twice as fast."""
        rank = np.full(cap, -1, dtype=np.int64)
        n_regions = len(counts)
        for r in range(n_regions):
            rank[sellers_sorted[starts[r]: starts[r] + counts[r]]] = np.arange(counts[r])
        base = np.zeros(n_regions + 1, dtype=np.int64)
        base[1:] = np.cumsum(counts + 1)
        self.reorder(kernels.locality_order(self.region, self.seller, self.n, rank, base))

    def count_by_region(self, n_regions: int | None = None) -> np.ndarray:
        """Users per region (maintained incrementally: O(regions))."""
        return self.region_counts.copy()


class EverUsed:
    """Who has ever used, by region: the persons flagged `EVER`, listed per region in the order
    they started (append only: ever-used never decreases), so former users (`EVER` without
    `USER`) can be drawn for relapse without scanning the population."""

    def __init__(self, n_regions: int, capacity: int = 256):
        self.counts = np.zeros(n_regions, dtype=np.int64)
        self.persons = [np.zeros(capacity, dtype=np.int64) for _ in range(n_regions)]

    def add(self, person: np.ndarray, region: np.ndarray) -> None:
        for r in np.unique(region):
            new = person[region == r]
            n, k = int(self.counts[r]), len(new)
            arr = self.persons[r]
            if n + k > len(arr):
                grown = np.zeros(max(2 * len(arr), n + k), dtype=np.int64)
                grown[:n] = arr[:n]
                self.persons[r] = arr = grown
            arr[n: n + k] = new
            self.counts[r] += k

    def of_region(self, r: int) -> np.ndarray:
        return self.persons[r][: self.counts[r]]


class Actors(bundles.BundledTable):
    """Trafficking actors with stocks and ties; slots are reused after an actor leaves.

    ``uid`` is an actor's permanent id (never reused); a slot is only its current row.
    """

    def __init__(self, n_drugs: int, n_regions: int = 1, capacity: int = 256):
        self.n_drugs = n_drugs
        self.n_regions = n_regions
        #: active actors per role and region, kept up to date by `add` and `remove`
        self.count = np.zeros((len(ROLE_NAMES), n_regions), dtype=np.int64)
        self.cap = 0
        self.next_uid = 0
        self.version = 0  # bumped whenever actors are added or removed (invalidates the caches)
        self._cache: dict = {}
        self.active = np.zeros(0, dtype=bool)
        self._slot_of_person: dict[int, int] = {}  # active actors only (a person holds one role)
        self._grow(capacity)

    COLUMNS = bundles.ACTORS
    _int_fields = {f: dt for f, (dt, _) in COLUMNS.items() if np.issubdtype(dt, np.integer)}
    _float_fields = tuple(f for f, (dt, nd) in COLUMNS.items() if dt == np.float64 and nd == 1)

    def _grow(self, new_cap: int) -> None:
        old = self.cap

        def grow(arr, fill, shape_tail=()):
            out = np.full((new_cap, *shape_tail), fill, dtype=arr.dtype if arr is not None else float)
            if arr is not None and old:
                out[:old] = arr[:old]
            return out

        first = old == 0
        self.active = grow(None if first else self.active, False).astype(bool)
        for f, dt in self._int_fields.items():
            cur = None if first else getattr(self, f)
            arr = np.full(new_cap, -1, dtype=dt)
            if cur is not None:
                arr[:old] = cur[:old]
            setattr(self, f, arr)
        for f in self._float_fields:
            cur = None if first else getattr(self, f)
            arr = np.zeros(new_cap)
            if cur is not None:
                arr[:old] = cur[:old]
            setattr(self, f, arr)
        for f in ("stock", "pure"):
            cur = None if first else getattr(self, f)
            arr = np.zeros((new_cap, self.n_drugs))
            if cur is not None:
                arr[:old] = cur[:old]
            setattr(self, f, arr)
        # Free slots as a stack (top at the end): the new slots go under the slots already free,
        # lowest on top, so `add` costs O(actors added), not O(capacity).
        stack = np.empty(new_cap, dtype=np.int64)
        n_new = new_cap - old
        stack[:n_new] = np.arange(new_cap - 1, old - 1, -1)
        if not first:
            stack[n_new: n_new + self._n_free] = self._free[: self._n_free]
        self._free = stack
        self._n_free = n_new + (0 if first else self._n_free)
        self.cap = new_cap

    def add(self, role: int, region: np.ndarray, person: np.ndarray, step: int) -> np.ndarray:
        """Create actors; returns their slots. Ties start empty (-1)."""
        k = len(person)
        if k == 0:
            return np.empty(0, dtype=np.int64)
        if self._n_free < k:
            # Grow by a quarter: every per-step pass over the slots (and the retail pass's
            # per-slot buffers) costs in proportion to the capacity, not to the active actors.
            self._grow(max(self.cap + self.cap // 4, self.cap + k - self._n_free + 16))
        slots = self._free[self._n_free - k: self._n_free][::-1].copy()
        self._n_free -= k
        self.version += 1
        region = np.asarray(region, dtype=np.int64)
        person = np.asarray(person, dtype=np.int64)
        kernels.reset_actors(slots, self.next_uid, role, region, step, self.active, self.uid, self.role,
                             self.region, self.person, person, (self.supplier, self.export_tie),
                             (self.output_g, self.purity, self.demand_ema, self.export_ema, self.sell_ema),
                             self.since, self.stock, self.pure, self.count)
        self.crossing[slots] = -1
        self.city[slots] = -1
        self.next_uid += k
        self._slot_of_person.update(zip(person.tolist(), slots.tolist(), strict=True))
        return slots

    def active_slots(self) -> np.ndarray:
        """Slots of all active actors (cached like `of_role`)."""
        key = ("active", self.version)
        hit = self._cache.get(key)
        if hit is None:
            if len(self._cache) > 64:
                self._cache.clear()
            hit = self._cache[key] = self.active.nonzero()[0]
        return hit

    def of_role(self, role: int) -> np.ndarray:
        """Slots of the active actors of ``role`` (cached until actors are added or removed; the
        returned array must not be modified in place)."""
        key = ("role", role, self.version)
        hit = self._cache.get(key)
        if hit is None:
            if len(self._cache) > 64:
                self._cache.clear()
            hit = self._cache[key] = kernels.role_slots(self.active, self.role, role)
        return hit

    def by_region(self, role: int, n_regions: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Active actors of ``role`` grouped by region: (slots sorted by region, starts, counts)."""
        key = ("region", role, self.version)
        hit = self._cache.get(key)
        if hit is None:
            hit = self._cache[key] = kernels.role_by_region(self.of_role(role), self.region, n_regions)
        return hit

    def slots_of_persons(self, persons: np.ndarray) -> np.ndarray:
        """Sorted slots of the active actors among ``persons`` (O(len(persons)), not O(actors))."""
        get = self._slot_of_person.get
        found = [get(pid, -1) for pid in np.asarray(persons).tolist()]
        slots = np.asarray(found, dtype=np.int64)
        return np.unique(slots[slots >= 0])

    def remove(self, slots: np.ndarray) -> None:
        """Deactivate actors (their stock must already be moved) and cut every tie to them."""
        if len(slots) == 0:
            return
        self.active[slots] = False
        self.version += 1
        pop = self._slot_of_person.pop
        for pid in self.person[slots].tolist():
            pop(pid, None)
        self._free[self._n_free: self._n_free + len(slots)] = slots
        self._n_free += len(slots)
        n_r = self.n_regions
        self.count -= np.bincount(self.role[slots].astype(np.int64) * n_r + self.region[slots],
                                  minlength=len(ROLE_NAMES) * n_r).reshape(len(ROLE_NAMES), n_r)
        self.epoch[slots] += 1
        gone = np.zeros(self.cap, dtype=bool)
        gone[slots] = True
        kernels.cut_ties(self.supplier, self.export_tie, gone)


class Shipments(bundles.BundledTable):
    """Product in transit: one row per lot, removed on arrival or seizure."""

    COLUMNS = bundles.SHIPMENTS
    _fields = {f: dt for f, (dt, _) in COLUMNS.items()}

    def __init__(self, capacity: int = 256):
        self.n = 0
        for f, dt in self._fields.items():
            setattr(self, f, np.zeros(capacity, dtype=dt))

    def add(self, n: int | None = None, **cols) -> None:
        """Append lots; a column may be one value for all ``n`` lots (default: ``len(grams)``),
        and a column left out is 0 / False."""
        k = len(cols["grams"]) if n is None else n
        if k == 0:
            return
        cap = len(self.grams)
        if self.n + k > cap:
            new_cap = max(2 * cap, self.n + k)
            for f, dt in self._fields.items():
                arr = np.zeros(new_cap, dtype=dt)
                arr[: self.n] = getattr(self, f)[: self.n]
                setattr(self, f, arr)
        sl = slice(self.n, self.n + k)
        for f in self._fields:
            getattr(self, f)[sl] = cols.get(f, 0)
        self.n += k

    def keep(self, mask: np.ndarray) -> None:
        """Keep the lots marked in ``mask`` (one entry per lot in transit), in order."""
        self.n = kernels.compact_lots(mask, *(getattr(self, f) for f in self._fields))

    def view(self, field: str) -> np.ndarray:
        return getattr(self, field)[: self.n]
