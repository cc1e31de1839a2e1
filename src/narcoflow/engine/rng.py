"""Named random streams: one generator per process, seeded from the run seed and the stable hash
of the process name (as Starsim does), so adding or changing one process never shifts the draws
of another and policies are compared on common random numbers.

Never use ``np.random.<function>`` or the ``random`` module anywhere in narcoflow.
"""

from __future__ import annotations

import functools
import hashlib

import numpy as np


def stable_hash(name: str) -> int:
    """A 32-bit integer from a name, identical across processes, platforms and Python runs."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "little")


def stream(seed: int, name: str) -> np.random.Generator:
    """The generator of stream ``name`` for run seed ``seed``."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([int(seed), stable_hash(name)])))


_MASK64 = (1 << 64) - 1


@functools.lru_cache(maxsize=256)
def _stream_key(seed: int, name: str) -> int:
    return int(np.random.SeedSequence([int(seed), stable_hash(name)]).generate_state(1, np.uint64)[0])


def counter_key(seed: int, name: str, step: int) -> np.uint64:
    """The key of process ``name``'s counter-based draws at ``step`` (see `kernels.uniform`).

    A function of the run seed, the process and the step only, so a person's draws in a step are
    the same whatever the order, chunk or thread that visits it, and the same across policies
    (common random numbers): the SplitMix64 output number ``step`` of the stream whose seed is
    drawn from ``SeedSequence([seed, stable_hash(name)])``."""
    z = (_stream_key(int(seed), name) + (int(step) + 1) * 0x9E3779B97F4A7C15) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return np.uint64(z ^ (z >> 31))


def as_rng(seed: int | np.random.Generator | None) -> np.random.Generator:
    """Turn an int, a Generator or None into a Generator (a Generator is used as is)."""
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(seed)
