"""The tutorial notebooks in examples/ run from top to bottom without error (issue 17).

Each runs with nbclient in a fresh kernel and a scratch folder (the notebooks write their own
files); their runs are small (scale 0.002, a few years), so the first four take well under a
minute once the engine's kernels are compiled, the fifth (40 runs of EMA Workbench, the
'ema' extra) about another, and the sixth (the border-crackdown worked example: 20 runs of the
scenario's 18 years at scale 0.002) a few. Outputs are not stored in the repository.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from narcoflow import extras

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
NOTEBOOKS = sorted(EXAMPLES.glob("*.ipynb"))


#: notebook -> the optional module it needs (its extra), skipped without it
NEEDS = {"05-explore-with-ema": "ema_workbench"}


def test_the_tutorials_are_there():
    names = [p.stem for p in NOTEBOOKS]
    assert names == ["01-run-a-scenario", "02-write-a-variant", "03-compare-policies",
                     "04-read-the-store", "05-explore-with-ema", "06-border-crackdown-2010"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(path: Path, tmp_path: Path):
    need = NEEDS.get(path.stem)
    if need is not None and not extras.available(need):
        pytest.skip(f"{path.name} needs {need} (the {extras.EXTRAS[need][0]!r} extra)")
    book = nbformat.read(path, as_version=4)
    assert all(not c.get("outputs") for c in book.cells if c.cell_type == "code"), \
        f"{path.name} is stored with outputs: clear them"
    NotebookClient(book, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    errors = [o for c in book.cells if c.cell_type == "code" for o in c.outputs
              if o.output_type == "error"]
    assert not errors
    # Every code cell ran and the last one showed something.
    code = [c for c in book.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in code) and code[-1].outputs
