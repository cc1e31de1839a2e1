"""narcoflow's model as an idiomatic Mesa 3 model: the slow, readable reference that the fast
engine (`narcoflow.engine`) must match in distribution.

Not part of the ``narcoflow`` distribution: it lives in ``reference/`` and is imported by the
tests and benchmarks with ``reference/`` on ``sys.path`` (or after ``pip install -e reference``).
See ``docs/reference.md`` for how each engine process maps to agents and methods here.

>>> from narcoflow_reference import run_reference
>>> res = run_reference("north-korea-2011", seed=1, scale=0.0002, years=0.1)
>>> int(res.metrics["step"].max())
4
"""

from narcoflow_reference.agents import ACTOR_TYPES, Deliverer, Person, Producer, Seller, Smuggler, Wholesaler
from narcoflow_reference.model import PROCESSES, Lot, ReferenceModel, run_reference

__all__ = [
    "ACTOR_TYPES",
    "PROCESSES",
    "Deliverer",
    "Lot",
    "Person",
    "Producer",
    "ReferenceModel",
    "Seller",
    "Smuggler",
    "Wholesaler",
    "run_reference",
]
