"""Numba kernels: each process's weekly work in one or a few compiled calls (issue: speed).

A kernel takes the state arrays it reads and writes, and, if it draws, the process's kernel stream
(`narcoflow.engine.draws`, advanced in place), so results stay bit-identical for a given
scenario, seed and version. The per-user passes of retail, which may run in chunks on several
threads (`narcoflow.engine.parallel`), draw instead from `uniform`, a pure function of a per-step
key and the person, so results do not depend on the executor or the thread count either.

One module per part of the model; everything is re-exported here (``kernels.<name>``):
tables (upkeep of the state tables and the recorder), retail, demand, enforcement, recruitment,
prices. The supply side's kernels live beside their processes (`narcoflow.engine.processes`:
timeline, state production, siphoning, state exports, producers, delivery, smuggling,
transit), each process file holding its rule, its parameters and its kernels.
"""

from __future__ import annotations

from narcoflow.engine.kernels.demand import (  # noqa: F401
    distinct_rows,
    initiation_counts,
    new_users,
    sample_rows,
)
from narcoflow.engine.kernels.enforcement import (  # noqa: F401
    actor_arrests,
    exposed,
    user_arrests,
)
from narcoflow.engine.kernels.prices import (  # noqa: F401
    prices,
)
from narcoflow.engine.kernels.recruitment import (  # noqa: F401
    orphans,
    pick_deliverers,
    recruit_counts,
    rewire_in_region,
    tie_smugglers,
)
from narcoflow.engine.kernels.retail import (  # noqa: F401
    restock,
    retail_demand,
    retail_leave,
    retail_serve,
    sum_rows,
    uniform,
)
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
    row_totals_of,
    sample_free,
    sample_free_regions,
    stock_by_role,
    supplier_totals,
    swap_remove,
)
