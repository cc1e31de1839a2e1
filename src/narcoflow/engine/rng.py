"""Named random streams: one generator per process, seeded from the run seed and the stable hash
of the process name (as Starsim does), so adding or changing one process never shifts the draws
of another and policies are compared on common random numbers. (Draws inside compiled kernels:
`narcoflow.engine.draws`.)

Never use ``np.random.<function>`` or the ``random`` module anywhere in narcoflow.
"""

from __future__ import annotations

import hashlib

import numpy as np


def stable_hash(name: str) -> int:
    """A 32-bit integer from a name, identical across processes, platforms and Python runs."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "little")


def stream(seed: int, name: str) -> np.random.Generator:
    """The generator of stream ``name`` for run seed ``seed``."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([int(seed), stable_hash(name)])))


def as_rng(seed: int | np.random.Generator | None) -> np.random.Generator:
    """Turn an int, a Generator or None into a Generator (a Generator is used as is)."""
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(seed)
