"""Exception hierarchy: every error a user can cause is a `NarcoflowError`.

The CLI turns these into a one-paragraph message and exit code 2, never a traceback.
"""


class NarcoflowError(Exception):
    """Base class of all errors narcoflow raises on purpose."""


class ScenarioError(NarcoflowError):
    """A scenario file or name is invalid: the message names the file, field, value and range."""


class ConservationError(NarcoflowError):
    """The gram ledger does not balance: a bug in a process, never a user error."""


class StoreError(NarcoflowError):
    """The results database cannot be read or written (path, busy, unknown run id)."""


class MetricError(NarcoflowError, ValueError):
    """A metric name, dimension or label that a run does not have: the message lists the allowed ones."""


class NetworkError(NarcoflowError):
    """A network snapshot or interdiction cannot be made as asked (bad step, budget, role...)."""
