"""Table bundles: the columns of a state table passed to a Numba kernel as one argument.

A kernel that works on actors takes ``a`` (the `Actors` bundle) and reads ``a.stock``,
``a.supplier``, ... instead of a long list of positional arrays; a table hands its bundle out as
``table.cols`` (`narcoflow.engine.state`). A bundle is a Numba *structref* (a reference to a
small struct holding the table's arrays, not copies of them): a kernel's writes go to the
table's own arrays. The bundle is rebuilt lazily after the table replaces an array (growth,
reordering): assigning a column attribute of a table drops its bundle (`BundledTable`).

Why a structref rather than a NamedTuple of arrays (`benchmarks/bundle_overhead.py`: a kernel
that returns at once, best of 7 x 20,000 calls, numba 0.68, 2 shared cores, range over runs):

=============================  ==========================
argument                       call overhead (us)
=============================  ==========================
the 18 Actors columns apart    1.7-3.3
one bundle of the 18           1.0-1.9
a NamedTuple of the 18         3.6-9.8
3 arrays apart                 0.2-0.8
=============================  ==========================

The dispatcher unboxes a NamedTuple element by element through Python (three times the cost of
separate arrays); a structref is unboxed as one pointer, at about 1.5 us whatever the number of
columns. So a bundle pays off from about 6-8 arrays on. Two rules keep kernels fast:

- Read a column into a local once (``stock = a.stock``) before a hot loop: an attribute read
  inside the loop reloads the array from the struct each time (a loop over 100,000 slots ran
  40 % slower that way).
- Never assign a column inside a kernel (``a.stock = ...``): the table would not see it.

Each bundle has one cached constructor (`new_actors` ...), compiled once and loaded from Numba's
cache afterwards (about 12 ms the first time in a process).
"""

from __future__ import annotations

import numpy as np
from numba import njit, types
from numba.experimental import structref
from numba.np.numpy_support import from_dtype


class _ColsType(types.StructRef):
    def preprocess_fields(self, fields):
        return tuple((name, types.unliteral(t)) for name, t in fields)


def _array(dtype, ndim: int = 1):
    return types.Array(dtype, ndim, "C")


@structref.register
class ActorsColsType(_ColsType):
    pass


@structref.register
class ShipmentsColsType(_ColsType):
    pass


@structref.register
class UsersColsType(_ColsType):
    pass


@structref.register
class PersonsColsType(_ColsType):
    pass


class ActorsCols(structref.StructRefProxy):
    """The columns of `narcoflow.engine.state.Actors` (for kernels; see the module docstring)."""


class ShipmentsCols(structref.StructRefProxy):
    """The columns of `narcoflow.engine.state.Shipments`."""


class UsersCols(structref.StructRefProxy):
    """The columns of `narcoflow.engine.state.Users`."""


class PersonsCols(structref.StructRefProxy):
    """The columns of `narcoflow.engine.state.Persons`."""


for _t, _p in ((ActorsColsType, ActorsCols), (ShipmentsColsType, ShipmentsCols), (UsersColsType, UsersCols),
               (PersonsColsType, PersonsCols)):
    structref.define_boxing(_t, _p)

#: Column name -> (dtype, ndim) of each table: the single list the tables allocate from.
ACTORS = {
    "active": (np.bool_, 1), "epoch": (np.int32, 1), "uid": (np.int64, 1), "role": (np.int8, 1),
    "region": (np.int16, 1), "person": (np.int64, 1), "supplier": (np.int32, 1), "export_tie": (np.int32, 1),
    "crossing": (np.int16, 1), "city": (np.int16, 1), "output_g": (np.float64, 1), "purity": (np.float64, 1),
    "demand_ema": (np.float64, 1), "export_ema": (np.float64, 1), "sell_ema": (np.float64, 1),
    "since": (np.float64, 1), "stock": (np.float64, 2), "pure": (np.float64, 2),
}
SHIPMENTS = {
    "drug": (np.int8, 1), "grams": (np.float64, 1), "pure": (np.float64, 1), "arrive": (np.int32, 1),
    "foreign": (np.bool_, 1), "dest": (np.int32, 1), "dest_region": (np.int16, 1), "channel": (np.int16, 1),
    "carrier": (np.int32, 1), "forced": (np.bool_, 1), "price_factor": (np.float64, 1),
    "interdiction": (np.float64, 1),
}
USERS = {
    "person": (np.int64, 1), "region": (np.int16, 1), "seller": (np.int32, 1), "seller_epoch": (np.int32, 1),
    "use_g": (np.float64, 1), "drug": (np.int8, 1), "row_of_person": (np.int32, 1),
    "region_counts": (np.int64, 1),
}
PERSONS = {"flags": (np.uint8, 1), "start": (np.int64, 1), "sizes": (np.int64, 1)}


def _numba_type(cls, columns):
    return cls([(name, _array(from_dtype(np.dtype(dt)), nd)) for name, (dt, nd) in columns.items()])


ACTORS_T = _numba_type(ActorsColsType, ACTORS)
SHIPMENTS_T = _numba_type(ShipmentsColsType, SHIPMENTS)
USERS_T = _numba_type(UsersColsType, USERS)
PERSONS_T = _numba_type(PersonsColsType, PERSONS)


@njit(cache=True)
def new_actors(active, epoch, uid, role, region, person, supplier, export_tie, crossing, city, output_g, purity,
               demand_ema, export_ema, sell_ema, since, stock, pure):
    b = structref.new(ACTORS_T)
    b.active, b.epoch, b.uid, b.role, b.region, b.person = active, epoch, uid, role, region, person
    b.supplier, b.export_tie, b.crossing, b.city = supplier, export_tie, crossing, city
    b.output_g, b.purity, b.demand_ema, b.export_ema = output_g, purity, demand_ema, export_ema
    b.sell_ema, b.since, b.stock, b.pure = sell_ema, since, stock, pure
    return b


@njit(cache=True)
def new_shipments(drug, grams, pure, arrive, foreign, dest, dest_region, channel, carrier, forced, price_factor,
                  interdiction):
    b = structref.new(SHIPMENTS_T)
    b.drug, b.grams, b.pure, b.arrive, b.foreign, b.dest = drug, grams, pure, arrive, foreign, dest
    b.dest_region, b.channel, b.carrier, b.forced = dest_region, channel, carrier, forced
    b.price_factor, b.interdiction = price_factor, interdiction
    return b


@njit(cache=True)
def new_users(person, region, seller, seller_epoch, use_g, drug, row_of_person, region_counts):
    b = structref.new(USERS_T)
    b.person, b.region, b.seller, b.seller_epoch, b.use_g, b.drug = person, region, seller, seller_epoch, use_g, drug
    b.row_of_person, b.region_counts = row_of_person, region_counts
    return b


@njit(cache=True)
def new_persons(flags, start, sizes):
    b = structref.new(PERSONS_T)
    b.flags, b.start, b.sizes = flags, start, sizes
    return b


class BundledTable:
    """Mixin for a state table whose columns (``COLUMNS``) kernels receive as ``table.cols``.

    The bundle is built on first use and dropped whenever a column attribute is assigned (a
    grown or reordered array), so it always holds the table's current arrays. It is not
    copied with the table (``copy.deepcopy`` of a simulation rebuilds it on first use).
    """

    COLUMNS: dict = {}
    _make = None  # the bundle's constructor (a cached kernel), set by each table

    def __setattr__(self, name, value):
        if name in self.COLUMNS:
            object.__setattr__(self, "_cols", None)
        object.__setattr__(self, name, value)

    @property
    def cols(self):
        """The bundle of the table's current columns, for kernels."""
        b = self.__dict__.get("_cols")
        if b is None:
            b = type(self)._make(*(getattr(self, name) for name in self.COLUMNS))
            object.__setattr__(self, "_cols", b)
        return b

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_cols"] = None
        return state
