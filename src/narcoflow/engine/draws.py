"""Random draws inside compiled kernels, from each process's own sequential stream.

A NumPy ``Generator`` costs about 9 us to pass into a Numba kernel, and its array methods cost
4-7 us a call (``binomial`` of a few regions, ``integers`` with a size): at small scale, where a
week's work is deciding that almost nothing happens, those calls were most of a process's time.
A kernel stream is one ``uint64`` (SplitMix64, Steele, Lea & Flood 2014), seeded like the
process's NumPy stream from the run seed and the process name (`kernel_stream`), advanced in
place by the kernels that draw from it, so draws stay reproducible and independent per process.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from narcoflow.engine.rng import stable_hash

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def kernel_stream(seed: int, name: str) -> np.ndarray:
    """The kernel stream of process ``name`` for run seed ``seed``: a 1-element ``uint64`` state,
    seeded from ``SeedSequence([seed, stable_hash(name), 1])`` (distinct from the NumPy stream)."""
    return np.random.SeedSequence([int(seed), stable_hash(name), 1]).generate_state(1, np.uint64).copy()


@njit(cache=True, nogil=True, inline="always")
def next_double(state):
    """The next uniform draw in [0, 1) of the stream ``state`` (advanced in place)."""
    z = state[0] + _GOLDEN
    state[0] = z
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    z = z ^ (z >> np.uint64(31))
    return np.float64(z >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@njit(cache=True, nogil=True)
def integer(state, n):
    """A uniform integer in [0, n), n >= 1 (n far below 2**53, so the rounding bias is nil)."""
    return min(int(next_double(state) * n), n - 1)


@njit(cache=True, nogil=True)
def binomial(state, n, p):
    """An exact Binomial(n, p) draw.

    With ``n x min(p, 1 - p) <= 30``: inversion of the distribution function (NumPy's
    ``random_binomial_inversion``). Above: counting the successes by geometric jumps between them,
    ``floor(log U / log(1 - p)) + 1`` trials each, O(n p) draws; the model's large binomials (users
    starting or quitting in a province) have n p of a few thousand at most."""
    if n <= 0 or p <= 0.0:
        return 0
    if p >= 1.0:
        return n
    flip = p > 0.5
    r = 1.0 - p if flip else p
    q = 1.0 - r
    x = 0
    if n * r <= 30.0:
        qn = np.exp(n * np.log(q))
        mean = n * r
        bound = min(n, mean + 10.0 * np.sqrt(mean * q + 1))
        px = qn
        u = next_double(state)
        while u > px:
            x += 1
            if x > bound:  # numerical safety, as NumPy: start again
                x = 0
                px = qn
                u = next_double(state)
            else:
                u -= px
                px = ((n - x + 1) * r * px) / (x * q)
    else:
        log_q = np.log1p(-r)
        pos = 0.0
        while True:
            pos += np.floor(np.log(1.0 - next_double(state)) / log_q) + 1.0
            if pos > n:
                break
            x += 1
    return n - x if flip else x


@njit(cache=True, nogil=True)
def normal(state):
    """A standard normal draw (Box-Muller, two uniforms per draw)."""
    u1 = next_double(state)
    u2 = next_double(state)
    return np.sqrt(-2.0 * np.log(1.0 - u1)) * np.cos(2.0 * np.pi * u2)
