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

A process's parameters travel the same way: `make` builds a bundle of any named arrays and
scalars (``make(rate=0.1, lot=np.array([...]))``), e.g. once in ``init`` from the scenario. A
bundle's type is fixed by its field names and types, so give a field the same type in every
scenario (``float(x)``, arrays of a fixed dtype), or the kernels taking it compile again. One
cached constructor serves every bundle (about 12 ms the first time in a process); Python code
reads a bundle's fields as attributes too (``p.rate``). Keep the name `BundleType`: Numba's
cache index of every kernel taking a bundle refers to it by name.
"""

from __future__ import annotations

import numpy as np
from numba import njit, typeof, types
from numba.core.extending import intrinsic
from numba.experimental import structref


@structref.register
class BundleType(types.StructRef):
    """The Numba type of a bundle: one per set of field names and types."""

    def preprocess_fields(self, fields):
        return tuple((name, types.unliteral(t)) for name, t in fields)


class Bundle(structref.StructRefProxy):
    """A bundle as Python sees it: kernels read its fields; so can Python (``b.name``)."""

    def __getattr__(self, name):
        fields = self.__dict__.get("fields", {})
        if name in fields:
            return fields[name]
        raise AttributeError(f"bundle has no field {name!r} (fields: {', '.join(fields)})")

    def __reduce__(self):  # copies and pickles rebuild the bundle from (copies of) its fields
        return _remake, (self.fields,)

    def __repr__(self) -> str:
        return f"Bundle({', '.join(self.__dict__.get('fields', {}))})"


structref.define_boxing(BundleType, Bundle)


@intrinsic
def _fill(typingctx, inst, values):
    """Set the fields of the new bundle ``inst`` from the tuple ``values``, in order."""

    def codegen(context, builder, sig, args):
        inst_type, values_type = sig.args
        data = structref._Utils(context, builder, inst_type).get_data_struct(args[0])
        for i, (name, field_type) in enumerate(inst_type.field_dict.items()):
            v = context.cast(builder, builder.extract_value(args[1], i), values_type[i], field_type)
            context.nrt.incref(builder, field_type, v)  # the new struct's fields are null: no decref
            setattr(data, name, v)
        return context.get_dummy_value()

    return types.none(inst, values), codegen


@njit(cache=True)
def _new(bundle_type, values):
    b = structref.new(bundle_type)
    _fill(b, values)
    return b


_TYPES: dict = {}  # bundle types by field names and (dtype, ndim, writeable) or Python type


def _key(value):
    if isinstance(value, np.ndarray):
        if not value.flags.c_contiguous:
            raise ValueError(f"bundle fields must be C-contiguous arrays (shape {value.shape}, dtype {value.dtype})")
        return (value.dtype.str, value.ndim, value.flags.writeable)
    return type(value)


def make(**fields) -> Bundle:
    """A bundle of the given arrays and scalars (kernels read ``b.<name>``). Arrays are held, not
    copied: a kernel's writes reach them. About 30 us (numba's ``typeof`` of the fields, 200 us
    for 18 arrays, runs once per set of field types)."""
    key = tuple((name, _key(v)) for name, v in fields.items())
    bundle_type = _TYPES.get(key)
    if bundle_type is None:
        bundle_type = _TYPES[key] = BundleType([(name, typeof(v)) for name, v in fields.items()])
    b = _new(bundle_type, tuple(fields.values()))
    b.__dict__["fields"] = dict(fields)
    return b


def _remake(fields):
    return make(**fields)

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
    "use_g": (np.float64, 1), "drug": (np.int8, 1), "heavy": (np.int8, 1), "row_of_person": (np.int32, 1),
    "region_counts": (np.int64, 1), "heavy_counts": (np.int64, 1),
}
PERSONS = {"flags": (np.uint8, 1), "start": (np.int64, 1), "sizes": (np.int64, 1)}


class BundledTable:
    """Mixin for a state table whose columns (``COLUMNS``) kernels receive as ``table.cols``.

    The bundle is built on first use and dropped whenever a column attribute is assigned (a
    grown or reordered array), so it always holds the table's current arrays. It is not
    copied with the table (``copy.deepcopy`` of a simulation rebuilds it on first use).
    """

    COLUMNS: dict = {}

    def __setattr__(self, name, value):
        if name in self.COLUMNS and self.__dict__.get(name) is not value:  # (``x.col += 1`` keeps it)
            object.__setattr__(self, "_cols", None)
        object.__setattr__(self, name, value)

    @property
    def cols(self):
        """The bundle of the table's current columns, for kernels."""
        b = self.__dict__.get("_cols")
        if b is None:
            b = make(**{name: getattr(self, name) for name in self.COLUMNS})
            object.__setattr__(self, "_cols", b)
        return b

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_cols"] = None
        return state
