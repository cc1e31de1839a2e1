"""The documentation agrees with the engine, and the examples run and say what they claim.

- docs/model.md, section 3: the process table lists `PROCESS_ORDER` in order, with each
  process's claims; section 7 has one subsection per process naming its file.
- Every report claim S1-S14 is described in docs/model.md and implemented by some process.
- Every scenario under examples/ (and the example in docs/scenarios.md) validates.
- examples/border-closure/run.py runs, and closing the border lowers private exports to China.
"""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from narcoflow.engine import PROCESS_ORDER
from narcoflow.scenario import load, validate_file

ROOT = Path(__file__).resolve().parents[1]
MODEL_MD = ROOT / "docs" / "model.md"
SCENARIOS_MD = ROOT / "docs" / "scenarios.md"
EXAMPLES = ROOT / "examples"
CLAIMS = [f"S{i}" for i in range(1, 15)]


def section(text: str, heading: str) -> str:
    """The body of the level-2 section whose heading starts with ``heading``."""
    m = re.search(rf"^## {re.escape(heading)}.*?$(.*?)(?=^## |\Z)", text, flags=re.M | re.S)
    assert m, f"docs/model.md has no section '## {heading}'"
    return m.group(1)


def first_table(body: str) -> list[dict[str, str]]:
    """Rows of the first markdown table in ``body``, as dicts keyed by the header cells."""
    lines = [ln.strip() for ln in body.splitlines()]
    start = next(i for i, ln in enumerate(lines) if ln.startswith("|"))
    block = []
    for ln in lines[start:]:
        if not ln.startswith("|"):
            break
        block.append([c.strip() for c in ln.strip("|").split("|")])
    header, rows = block[0], block[2:]  # block[1] is the |---| separator
    return [dict(zip(header, r, strict=True)) for r in rows]


@pytest.fixture(scope="module")
def model_md() -> str:
    return MODEL_MD.read_text("utf-8")


def test_odd_headings_in_order(model_md):
    headings = re.findall(r"^## (.+)$", model_md, flags=re.M)
    assert headings == [
        "1. Purpose and patterns", "2. Entities, state variables, and scales",
        "3. Process overview and scheduling", "4. Design concepts", "5. Initialization",
        "6. Input data", "7. Submodels",
    ]
    concepts = re.findall(r"^### (.+)$", section(model_md, "4. Design concepts"), flags=re.M)
    assert concepts == ["Basic principles", "Emergence", "Adaptation", "Objectives", "Learning",
                        "Prediction", "Sensing", "Interaction", "Stochasticity", "Collectives",
                        "Observation"]


def test_process_table_matches_process_order(model_md):
    rows = first_table(section(model_md, "3. Process overview and scheduling"))
    assert list(rows[0]) == ["order", "process", "claims", "what it does"]
    assert [r["process"] for r in rows] == [cls.__name__ for cls in PROCESS_ORDER]
    assert [r["order"] for r in rows] == [str(i) for i in range(1, len(PROCESS_ORDER) + 1)]
    for r, cls in zip(rows, PROCESS_ORDER, strict=True):
        assert r["claims"] == (", ".join(cls.claims) or "-"), cls.__name__


def test_submodels_one_per_process_with_its_file(model_md):
    body = section(model_md, "7. Submodels")
    parts = re.split(r"^### (.+)$", body, flags=re.M)
    titles, texts = parts[1::2], parts[2::2]
    assert titles == [cls.__name__ for cls in PROCESS_ORDER]
    for cls, text in zip(PROCESS_ORDER, texts, strict=True):
        path = Path(inspect.getfile(cls)).resolve().relative_to(ROOT).as_posix()
        assert path in text, f"the submodel {cls.__name__} should name its file {path}"
        for claim in cls.claims:
            assert re.search(rf"\b{claim}\b", text), f"the submodel {cls.__name__} should name {claim}"


@pytest.mark.parametrize("claim", CLAIMS)
def test_every_claim_documented_and_implemented(model_md, claim):
    assert re.search(rf"\b{claim}\b", model_md), f"{claim} is not described in docs/model.md"
    implementers = [cls.__name__ for cls in PROCESS_ORDER if claim in cls.claims]
    assert implementers, f"no process declares {claim} in its claims"


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("**/*.yaml")), ids=lambda p: p.parent.name)
def test_example_scenarios_validate(path):
    assert validate_file(path) == []


def test_scenarios_md_example_validates(tmp_path):
    blocks = re.findall(r"```yaml\n(.*?)```", SCENARIOS_MD.read_text("utf-8"), flags=re.S)
    example = next(b for b in blocks if b.lstrip().startswith(("# ", "base:")) and "base:" in b)
    f = tmp_path / "my-scenario.yaml"
    f.write_text(example, "utf-8")
    assert validate_file(f) == []


def test_border_closure_only_adds_the_closure():
    """Lists replace under `base:`, so the example repeats the base's events: keep them equal."""
    base = load("north-korea-2011")
    variant = load(EXAMPLES / "border-closure" / "scenario.yaml")
    assert variant.events[:-1] == base.events
    assert variant.events[-1].type == "border_closure"
    assert variant.model_dump(exclude={"name", "description", "events"}) == base.model_dump(
        exclude={"name", "description", "events"})


def test_border_closure_example_runs_and_cuts_exports(tmp_path):
    out = tmp_path / "comparison.csv"
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / "border-closure" / "run.py"), "--scale", "0.001",
         "--years", "14", "--seed", "1", "--csv", str(out)],
        # a guard against a hang, not a speed test: generous, as the machine may be loaded
        capture_output=True, text=True, timeout=1800, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "private exports to China" in proc.stdout
    table = pd.read_csv(out, index_col=0)
    exports = table.loc["private exports to China (t)"]
    # Identical until 2009 (common random numbers), then no private crossing until the run ends.
    assert exports["baseline"] > 0
    assert exports["border closure"] < exports["baseline"]


def test_declarations_table_is_generated_from_the_code(model_md):
    """docs/model.md section 3's table of params/reads/writes/records is what the processes declare
    (regenerate with `python scripts/process_docs.py --write`)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("process_docs", ROOT / "scripts" / "process_docs.py")
    process_docs = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(process_docs)
    assert process_docs.current_block(model_md) == process_docs.block(), (
        "docs/model.md's declarations table is out of date: run `python scripts/process_docs.py --write`")


def test_extending_worked_example_runs():
    """docs/extending.md's worked example (a treatment process) runs as written: it passes the
    conformance checks and lowers the number of users."""
    text = (ROOT / "docs" / "extending.md").read_text("utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert len(blocks) == 2
    namespace: dict = {}
    for code in blocks:
        exec(compile(code, "docs/extending.md", "exec"), namespace)
    assert namespace["treated"].final("users") < namespace["base"].final("users")


def _compare_commands(text: str) -> list[list[str]]:
    """The `narcoflow compare` commands of a page's console blocks, as argument lists."""
    import shlex

    commands = []
    for block in re.findall(r"```console\n(.*?)```", text, flags=re.S):
        for cmd in block.replace("\\\n", " ").split("$ ")[1:]:
            args = shlex.split(cmd.strip())
            if args[:1] == ["nice"]:
                args = args[3:]  # nice -n 10 narcoflow ...
            if args[:2] == ["narcoflow", "compare"]:
                commands.append(args[2:])
    return commands


def test_crackdown_worked_example_plans(tmp_path):
    """docs/worked-example-crackdown.md: its policy file loads, and each of its `narcoflow compare`
    commands plans a comparison with that file (nothing runs): the crackdown starts on
    2010-01-01, outcomes are read over 2010-2015, every --define parses. The notebook
    examples/06 defines the same levers."""
    import json

    from narcoflow.experiments.comparison import plan_compare
    from narcoflow.experiments.levers import load_policy_file

    text = (ROOT / "docs" / "worked-example-crackdown.md").read_text("utf-8")
    policy_yaml = re.findall(r"```yaml\n(.*?)```", text, flags=re.S)[0]
    (tmp_path / "crackdown-2010.yaml").write_text(policy_yaml, "utf-8")
    commands = _compare_commands(text)
    assert len(commands) == 2
    for args in commands:
        scenario, opts = args[0], {}
        it = iter(args[1:])
        for key in it:  # every option of these commands takes a value
            opts.setdefault(key, []).append(next(it))
        extra = load_policy_file(tmp_path / opts["--policy-file"][0])
        plan = plan_compare(load(scenario), opts["--policy"], replications=int(opts["--replications"][0]),
                            scale=float(opts["--scale"][0]), extra_policies=extra,
                            window=(int(opts["--from"][0]), int(opts["--to"][0])),
                            outcomes=opts.get("--define", []),
                            uncertainty=opts.get("--uncertainty", ["seeds"])[0])
        levers = plan.definition["levers"]["border-crackdown-2010"]
        assert {k: v["start"] for k, v in levers.items()} == {"crackdown": "2010-01-01",
                                                              "china_interdiction": "2010-01-01"}
        assert plan.definition["window"] == [2010, 2015]
    book = json.loads((EXAMPLES / "06-border-crackdown-2010.ipynb").read_text("utf-8"))
    source = "".join("".join(c["source"]) for c in book["cells"])
    for setting in ('"crackdown": {"value": 2.0, "regions": BORDER, "start": "2010-01-01"}',
                    '"china_interdiction": {"value": 2.0, "start": "2010-01-01"}'):
        assert setting in source
