"""Whether the engine's Numba kernels are already compiled in numba's on-disk cache.

The kernels are compiled with ``cache=True``: the first run after an install (or after a change
to a kernel's source) compiles them, which takes about 40 s, and later runs load them from the
cache in a fraction of a second. `kernels_to_compile` tells, cheaply and without compiling
anything, how many kernels have no usable cache entry yet, so the command line can say why the
first run is slow.
"""

from __future__ import annotations

import sys

#: Message shown once before a run whose kernels are mostly not compiled yet.
COMPILE_NOTE = "Compiling the engine's kernels (first run only, about 40 s)..."


def _dispatchers():
    """The cached Numba dispatchers of the imported narcoflow modules (engine imported first)."""
    import narcoflow.engine  # noqa: F401  (imports every process and its kernels)

    seen = set()
    for name, module in list(sys.modules.items()):
        if module is None or not name.startswith("narcoflow."):
            continue
        for obj in list(vars(module).values()):
            cache = getattr(obj, "_cache", None)
            if id(obj) in seen or getattr(cache, "_cache_file", None) is None:
                continue
            seen.add(id(obj))
            yield obj


def kernels_to_compile() -> tuple[int, int]:
    """``(uncompiled, total)``: kernels with no valid entry in numba's cache, and all cached kernels.

    A kernel counts as compiled when its cache index exists and matches its source file and the
    numba version (what numba itself checks before loading); nothing is compiled here.
    """
    missing = total = 0
    for disp in _dispatchers():
        total += 1
        try:
            overloads = disp._cache._cache_file._load_index()
        except Exception:  # an unreadable index counts as missing: numba would recompile too
            overloads = {}
        if not overloads:
            missing += 1
    return missing, total


def needs_compiling() -> bool:
    """True when most kernels are not in numba's cache yet (the first run after an install)."""
    missing, total = kernels_to_compile()
    return total > 0 and missing * 2 > total
