"""Numba kernels: each process's weekly work in one or a few compiled calls (issue: speed).

A kernel takes the state it reads and writes (table bundles, `narcoflow.engine.bundles`, or
arrays) and, if it draws, the process's kernel stream (`narcoflow.engine.draws`, advanced in
place), so results stay bit-identical for a given scenario, seed and version.

A kernel used by one process lives in that process's file (`narcoflow.engine.processes`),
beside its rule, its parameters and what it reads, writes and records; the rules of arrest, jail
and seizure are in `narcoflow.engine.arrests`, the draws in `narcoflow.engine.draws`. This
package keeps what several processes share: tables (upkeep of the state tables and the
recorder), re-exported here (``kernels.<name>``).
"""

from __future__ import annotations

from narcoflow.engine.kernels.tables import (  # noqa: F401
    active_stock,
    compact_lots,
    cut_ties,
    gather_users,
    index_rows,
    locality_order,
    move_stock,
    record_block,
    reset_actors,
    role_by_region,
    role_slots,
    row_totals,
    sample_free,
    sample_free_regions,
    swap_remove,
)
