"""Random draws inside compiled kernels: each process's own sequential stream, and counter-based
draws for passes that run in chunks on several threads.

A NumPy ``Generator`` costs about 9 us to pass into a Numba kernel, and its array methods cost
4-7 us a call (``binomial`` of a few regions, ``integers`` with a size): at small scale, where a
week's work is deciding that almost nothing happens, those calls were most of a process's time.
A kernel stream is one ``uint64`` (SplitMix64, Steele, Lea & Flood 2014), seeded like the
process's NumPy stream from the run seed and the process name (`kernel_stream`), advanced in
place by the kernels that draw from it, so draws stay reproducible and independent per process.

The per-user passes of retail run in chunks on several threads (`narcoflow.engine.parallel`); they
draw from `uniform`, a pure function of a per-step key (`counter_key`) and a counter (the person),
so results depend neither on the executor nor on the thread count. Both kinds of draw use the same
SplitMix64 output function, `mix64`, defined once here.
"""

from __future__ import annotations

import functools

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
def mix64(z):
    """The SplitMix64 output function of the ``uint64`` ``z`` (Steele, Lea & Flood 2014)."""
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


@njit(cache=True, nogil=True, inline="always")
def to_unit(z):
    """The top 53 bits of the ``uint64`` ``z`` as a double in [0, 1)."""
    return np.float64(z >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@njit(cache=True, nogil=True, inline="always")
def next_double(state):
    """The next uniform draw in [0, 1) of the stream ``state`` (advanced in place)."""
    z = state[0] + _GOLDEN
    state[0] = z
    return to_unit(mix64(z))


@njit(cache=True, nogil=True)
def uniform(key, counter):
    """A uniform draw in [0, 1) from a key and a counter: the SplitMix64 output at position
    ``counter`` of the stream starting at ``key``. A pure function, so a chunked pass draws the
    same numbers on any number of threads. ``key`` comes from `counter_key` (seed, process,
    step); the counter from the person's id."""
    return to_unit(mix64(np.uint64(key) + (np.uint64(counter) + np.uint64(1)) * _GOLDEN))


@functools.lru_cache(maxsize=256)
def _stream_key(seed: int, name: str) -> int:
    return int(np.random.SeedSequence([int(seed), stable_hash(name)]).generate_state(1, np.uint64)[0])


_MASK64 = (1 << 64) - 1


def counter_key(seed: int, name: str, step: int) -> np.uint64:
    """The key of process ``name``'s counter-based draws at ``step`` (see `uniform`).

    A function of the run seed, the process and the step only, so a person's draws in a step are
    the same whatever the order, chunk or thread that visits it, and the same across policies
    (common random numbers): the SplitMix64 output number ``step`` of the stream whose seed is
    drawn from ``SeedSequence([seed, stable_hash(name)])``."""
    z = (_stream_key(int(seed), name) + (int(step) + 1) * int(_GOLDEN)) & _MASK64
    return np.uint64(mix64(np.uint64(z)))


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
    starting or quitting in a province) have n p of a few thousand at most.

    ``p`` below 0 counts as 0 and above 1 as 1; a NaN ``p`` raises ``ValueError`` (it would
    otherwise never end the geometric jumps: ``pos`` stays NaN)."""
    if p != p:
        raise ValueError("binomial draw with a NaN probability (a non-finite scenario parameter "
                         "or state reached a kernel)")
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


@njit(cache=True)
def sample_rows(state, n, p):
    """Each of the rows [0, n) with probability ``p``: a binomial count of distinct rows
    (O(rows drawn), not O(n)), in draw order."""
    return distinct_rows(state, n, binomial(state, n, p))


@njit(cache=True)
def distinct_rows(state, n, k):
    """``k`` distinct integers of [0, n), uniformly, in draw order. Few of many (``k`` below
    n / 1024): Floyd's algorithm with a hash set (k draws); more (quitters among 13 million
    users): rejection against a bitmap of n bits (about k (1 + k / n) draws)."""
    out = np.empty(k, dtype=np.int64)
    if k * 1024 < n:
        chosen = set()
        for i, j in enumerate(range(n - k, n)):
            t = integer(state, j + 1)
            x = j if t in chosen else t
            chosen.add(x)
            out[i] = x
        return out
    bits = np.zeros((n + 63) // 64, dtype=np.uint64)
    i = 0
    while i < k:
        x = integer(state, n)
        word, bit = x >> 6, np.uint64(1) << np.uint64(x & 63)
        if bits[word] & bit == 0:
            bits[word] |= bit
            out[i] = x
            i += 1
    return out
