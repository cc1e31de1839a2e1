"""Conformance checks for engine processes, in the spirit of scikit-learn's ``check_estimator``.

A process is a class with ``init(sim)`` and ``step(sim)`` that declares what it touches
(`narcoflow.engine.processes.base.Process`): its scenario ``params``, the simulation state it
``reads`` and ``writes``, the metrics it ``records`` and the random ``streams`` it draws from.
`check_process` runs a process inside the built-in scenario and verifies each declaration
against what the process actually does, so a new process (or a refactor of an old one) is
checked the same way as the built-in ones:

>>> from narcoflow.engine.processes import Prices
>>> report = check_process(Prices, scale=0.002, weeks=30)
>>> sorted(report)
['accessed', 'changed', 'params', 'recorded', 'streams']

Each check raises `ConformanceError` naming the process, the declaration and what was found.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import numpy as np

from narcoflow.errors import NarcoflowError


class ConformanceError(NarcoflowError, AssertionError):
    """A process does something it does not declare (or declares something that does not exist)."""


#: Run context a process may read without declaring it: constants of the run and the clock.
CONTEXT = frozenset({
    "scenario", "seed", "scale", "n_steps", "t", "date", "date_of", "drugs", "n_drugs", "region_names",
    "n_regions", "region_index", "dest_names", "dest_index", "channel_names", "private_channel",
    "region_mask", "flow_log", "recorder", "rng", "draws", "profile",
})


def _digest_into(h, value, depth: int = 0) -> None:
    if isinstance(value, _ScenarioTracer):  # a part of the scenario kept by a traced init
        value = value._obj
    if isinstance(value, np.ndarray):
        h.update(str((value.dtype, value.shape)).encode())
        h.update(np.ascontiguousarray(value).tobytes())
    elif isinstance(value, dict):
        for k in sorted(value, key=repr):
            h.update(repr(k).encode())
            _digest_into(h, value[k], depth + 1)
    elif isinstance(value, list | tuple):
        h.update(str(len(value)).encode())
        for v in value:
            _digest_into(h, v, depth + 1)
    elif hasattr(value, "__dict__") and depth < 3:
        # Tables: their public fields (private ones are caches that a read may fill).
        for k in sorted(value.__dict__):
            if not k.startswith("_"):
                h.update(k.encode())
                _digest_into(h, value.__dict__[k], depth + 1)
    else:
        h.update(repr(value).encode())


def state_digest(sim, names: Iterable[str]) -> dict[str, str]:
    """A digest of each named piece of state (to see which ones a step changed)."""
    out = {}
    for name in names:
        h = hashlib.sha256()
        _digest_into(h, sim.state(name))
        out[name] = h.hexdigest()
    return out


class _Tracer:
    """Stands in for the `Simulation` a process sees: records the attributes it gets and sets,
    and the scenario parameters it reads (through `_ScenarioTracer`)."""

    def __init__(self, sim, params: set[str] | None = None):
        object.__setattr__(self, "_sim", sim)
        object.__setattr__(self, "_got", set())
        object.__setattr__(self, "_set", set())
        object.__setattr__(self, "_params", params if params is not None else set())

    def __getattr__(self, name):
        self._got.add(name)
        if name == "scenario":
            return _ScenarioTracer(self._sim.scenario, "", self._params)
        return getattr(self._sim, name)

    def __setattr__(self, name, value):
        self._set.add(name)
        setattr(self._sim, name, value)


class _ScenarioTracer:
    """Stands in for the scenario (or a part of it): records the dotted path of every parameter
    read, ``[]`` standing for any element of a list or dict (``border.crossings[].detection_prob``)."""

    __slots__ = ("_obj", "_path", "_log")

    def __init__(self, obj, path: str, log: set[str]):
        self._obj, self._path, self._log = obj, path, log

    def _wrap(self, value, path: str):
        from pydantic import BaseModel

        if isinstance(value, BaseModel | list | tuple | dict):
            return _ScenarioTracer(value, path, self._log)
        self._note(path)
        return value

    def _note(self, path: str) -> None:
        if path and path.rsplit(".", 1)[-1] != "name" and schema_path_problem(path) is None:
            self._log.add(path)

    def __getattr__(self, name):
        from narcoflow.scenario.schema import Param

        value = getattr(self._obj, name)
        if isinstance(self._obj, Param):  # value, range or source of one parameter
            self._note(self._path)
            return value
        return self._wrap(value, f"{self._path}.{name}" if self._path else name)

    def __getitem__(self, key):
        return self._wrap(self._obj[key], self._path + "[]")

    def __iter__(self):
        if isinstance(self._obj, dict):
            return iter(self._obj)
        return (self._wrap(v, self._path + "[]") for v in self._obj)

    def items(self):
        return [(k, self._wrap(v, self._path + "[]")) for k, v in self._obj.items()]

    def values(self):
        return [self._wrap(v, self._path + "[]") for v in self._obj.values()]

    def keys(self):
        return self._obj.keys()

    def get(self, key, default=None):
        return self._wrap(self._obj[key], self._path + "[]") if key in self._obj else default

    def __len__(self):
        return len(self._obj)

    def __contains__(self, key):
        return key in self._obj

    def __bool__(self):
        return bool(self._obj)


def _covered(path: str, declared) -> bool:
    """A declared path covers itself and everything below it."""
    return any(path == d or path.startswith(d + ".") or path.startswith(d + "[]") for d in declared)


def _record_calls(sim, log: list[str]):
    """Wrap the recorder so each metric name recorded is appended to ``log``; returns an undo."""
    rec = sim.recorder
    originals = {m: getattr(rec, m) for m in ("add", "add_by", "record")}

    def add(metric, *args, **kw):
        log.append(metric)
        return originals["add"](metric, *args, **kw)

    def add_by(metric, *args, **kw):
        log.append(metric)
        return originals["add_by"](metric, *args, **kw)

    def record(keys, values, **kw):
        log.extend({k[0] for k in keys})
        return originals["record"](keys, values, **kw)

    rec.add, rec.add_by, rec.record = add, add_by, record

    def undo():
        for m, f in originals.items():
            setattr(rec, m, f)
    return undo


def _record_streams(sim, log: list[str]):
    real_rng, real_draws = sim.rng, sim.draws

    def rng(name):
        log.append(name)
        return real_rng(name)

    def draws(name):
        log.append(name)
        return real_draws(name)

    sim.rng, sim.draws = rng, draws

    def undo():
        del sim.rng, sim.draws
    return undo


def _fail(process, what: str) -> None:
    raise ConformanceError(f"{type(process).__name__} ({process.name}): {what}")


def schema_path_problem(path: str) -> str | None:
    """Why ``path`` (dotted, ``[]`` for every element of a list or dict) is not a field of the
    scenario schema, or None if it is. ``state.facilities[].purity`` names each facility's purity."""
    import types
    import typing

    from pydantic import BaseModel

    from narcoflow.scenario import Scenario

    cls: type | None = Scenario
    walked = []
    for part in path.split("."):
        name = part.removesuffix("[]")
        if cls is None:
            return f"{'.'.join(walked)} has no fields"
        field = cls.model_fields.get(name)
        if field is None:
            return f"{cls.__name__} has no field {name!r} (fields: {', '.join(cls.model_fields)})"
        walked.append(part)
        cls = None
        todo = [field.annotation]
        while todo:  # find the model class inside Optional[...], list[...], dict[str, ...]
            ann = todo.pop()
            if isinstance(ann, type) and issubclass(ann, BaseModel):
                cls = ann
                break
            if typing.get_origin(ann) in (list, tuple, dict, typing.Union, types.UnionType):
                todo.extend(typing.get_args(ann))
    return None


def check_declarations(process_cls) -> None:
    """Static checks: parameters exist in the schema, state names exist, claims are S1-S14."""
    from narcoflow.engine.simulation import Simulation

    p = process_cls()
    for path in p.params:
        problem = schema_path_problem(path)
        if problem:
            _fail(p, f"declares parameter {path!r}: {problem}")
    unknown = (set(p.reads) | set(p.writes)) - set(Simulation.STATE)
    if unknown:
        _fail(p, f"declares state {sorted(unknown)}, not in Simulation.STATE {list(Simulation.STATE)}")
    bad = [c for c in p.claims if not (c.startswith("S") and c[1:].isdigit() and 1 <= int(c[1:]) <= 14)]
    if bad:
        _fail(p, f"claims {bad}: claims are report claims S1-S14")


def check_process(process_cls, *, scale: float = 0.002, weeks: int = 60, seed: int = 3,
                  strict: bool = True, check_init: bool = True, order=None) -> dict:
    """Run the built-in scenario for ``weeks`` weeks and check the process's declarations.

    For each week the process's ``step`` runs on a tracing stand-in for the simulation, with the
    recorder and the streams watched, and the state digested before and after it:

    - state it changes is declared in ``writes``; state it gets is declared in ``reads`` or
      ``writes`` (run constants and the clock, `CONTEXT`, need no declaration);
    - it draws only from its declared ``streams`` (by default its own name);
    - every metric it records is declared in ``records``, every scenario parameter it reads (in
      ``init`` or ``step``) in ``params``;
    - the conservation ledger balances after the process's step on its own;
    - ``init`` is idempotent (twice = once: same process attributes and same state).

    Returns what was observed: ``accessed``, ``changed``, ``recorded``, ``streams`` and
    ``params`` (sets);
    with ``strict=False`` the declarations are not compared (to discover what to declare), and
    ``check_init=False`` skips the idempotence check of ``init``. ``order`` is the list of process
    classes to run (default: `PROCESS_ORDER`), e.g. with a new process in its place.
    """
    from narcoflow.engine.processes import PROCESS_ORDER
    from narcoflow.engine.simulation import Simulation

    names = Simulation.STATE
    sim = Simulation("north-korea-2011", seed=seed, scale=scale, years=max(weeks + 1, 2) / 52.0,
                     processes=[cls() for cls in (order or PROCESS_ORDER)])
    idx = [type(q) for q in sim.processes].index(process_cls)
    proc = sim.processes[idx]
    streams_log: list[str] = []
    recorded: list[str] = []
    accessed: set[str] = set()
    changed: set[str] = set()
    params: set[str] = set()

    def watched(real):  # log only this process's draws and parameters during the run's init
        def call(target):
            undo = _record_streams(sim, streams_log)
            try:
                real(_Tracer(target, params))
            finally:
                undo()
        return call
    proc.init, proc.populate = watched(proc.init), watched(proc.populate)
    try:
        sim.init()
    finally:
        del proc.init, proc.populate
    if check_init:
        check_init_idempotent(sim, proc)

    declared_streams = set(proc.streams or (proc.name,))
    for t in range(weeks):
        sim.t = t
        sim.recorder.step = t
        for q in sim.processes:
            if q is not proc:
                q.step(sim)
                continue
            before = state_digest(sim, names)
            tracer = _Tracer(sim, params)
            log: list[str] = []
            undo_s = _record_streams(sim, log)
            undo_r = _record_calls(sim, recorded)
            try:
                q.step(tracer)
            finally:
                undo_r()
                undo_s()
            after = state_digest(sim, names)
            changed |= {n for n in names if before[n] != after[n]}
            accessed |= tracer._got | tracer._set
            streams_log.extend(log)
            try:
                sim.check_ledger()
            except Exception as exc:  # the ledger must balance with this process's step alone
                _fail(proc, f"leaves the ledger out of balance after its own step in week {t}: {exc}")
        sim.check_ledger()
        sim.steps_done = t + 1

    state_accessed = {n for n in accessed
                      if n not in CONTEXT and not callable(getattr(type(sim), n, None))}
    observed = {"accessed": state_accessed, "changed": changed, "recorded": set(recorded),
                "streams": set(streams_log), "params": params}
    if not strict:
        return observed
    undeclared_writes = changed - set(proc.writes)
    if undeclared_writes:
        _fail(proc, f"changes state {sorted(undeclared_writes)} not declared in writes={proc.writes}")
    undeclared_reads = state_accessed - set(proc.reads) - set(proc.writes)
    if undeclared_reads:
        _fail(proc, f"gets state {sorted(undeclared_reads)} not declared in reads={proc.reads} or writes")
    foreign = set(streams_log) - declared_streams
    if foreign:
        _fail(proc, f"draws from streams {sorted(foreign)}; it may draw only from {sorted(declared_streams)}")
    undeclared_metrics = set(recorded) - set(proc.records)
    if undeclared_metrics:
        _fail(proc, f"records metrics {sorted(undeclared_metrics)} not declared in records={proc.records}")
    undeclared_params = sorted(p for p in params if not _covered(p, proc.params))
    if undeclared_params:
        _fail(proc, f"reads scenario parameters {undeclared_params} not declared in params={proc.params}")
    return observed


def check_init_idempotent(sim, proc) -> None:
    """Calling ``proc.init(sim)`` a second time changes neither the state nor the process."""
    names = sim.STATE
    before_state = state_digest(sim, names)
    h1 = hashlib.sha256()
    _digest_into(h1, {k: v for k, v in vars(proc).items()})
    proc.init(sim)
    after_state = state_digest(sim, names)
    h2 = hashlib.sha256()
    _digest_into(h2, {k: v for k, v in vars(proc).items()})
    moved = sorted(n for n in names if before_state[n] != after_state[n])
    if moved or h1.hexdigest() != h2.hexdigest():
        what = f"state {moved}" if moved else "its own attributes"
        _fail(proc, f"init is not idempotent: calling it a second time changed {what}")
