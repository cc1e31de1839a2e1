"""Exception hierarchy: every error a user can cause is a `NarcoflowError`.

The CLI turns these into a one-paragraph message and exit code 2, never a traceback.
"""


import re

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def printable(text: str, *, keep_newlines: bool = True) -> str:
    r"""``text`` with control characters (ANSI escapes, carriage returns, bidi overrides) shown as
    ``\xNN`` escapes, so nothing a user file holds can drive a terminal or a page.

    >>> printable("a\x1b[31mred")
    'a\\x1b[31mred'
    """
    out = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 256
                       else f"\\u{ord(m.group()):04x}", text)
    return out if keep_newlines else out.replace("\n", "\\n")


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
