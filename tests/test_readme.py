"""README.md stays true: its code blocks run and the commands it names exist.

- Every ```python block runs (each on its own, in a temporary folder where `examples/` is
  visible, so the blocks can write files without touching the repository).
- Every ```yaml block is a scenario file that validates.
- Every ```bash block without a setup command (make, git, pip, python, source, cd) runs with
  `bash -euo pipefail` in such a folder, with this environment's `narcoflow` first on PATH.
- Every `narcoflow <command>` in a bash block or an inline code span is a command listed by
  `narcoflow --help`.
The README keeps its examples small (scale 0.002, 2 years), so this module takes seconds.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from narcoflow.cli import app
from narcoflow.scenario import validate_file

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
SETUP_COMMANDS = ("make", "git", "pip", "python", "python3", "source", "cd")


def blocks(lang: str) -> list[str]:
    """The bodies of the fenced code blocks of ``lang`` in README.md, in order."""
    text = README.read_text("utf-8")
    return re.findall(rf"^```{lang}\n(.*?)^```", text, flags=re.M | re.S)


def block_id(body: str) -> str:
    first = next((ln for ln in body.splitlines() if ln.strip()), "")
    return first.strip()[:40]


def command_lines(body: str) -> list[str]:
    return [ln.strip() for ln in body.splitlines() if ln.strip() and not ln.strip().startswith("#")]


def is_setup(body: str) -> bool:
    return any(ln.split()[0] in SETUP_COMMANDS for ln in command_lines(body))


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A scratch folder where the README's relative paths (examples/...) resolve."""
    (tmp_path / "examples").symlink_to(ROOT / "examples", target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_readme_has_the_blocks_this_module_checks():
    assert blocks("python"), "README.md has no python blocks"
    assert blocks("yaml"), "README.md has no yaml blocks"
    bash = blocks("bash")
    assert any(is_setup(b) for b in bash) and any(not is_setup(b) for b in bash)
    # The two commands a new user needs come first.
    first = command_lines(bash[0])
    assert [ln.split("#")[0].strip() for ln in first] == ["make demo", "make test"]


@pytest.mark.parametrize("body", blocks("python"), ids=block_id)
def test_python_block_runs(body, workdir):
    code = compile(body, f"README.md python block: {block_id(body)}", "exec")
    exec(code, {"__name__": "__readme__"})


@pytest.mark.parametrize("body", blocks("yaml"), ids=block_id)
def test_yaml_block_is_a_valid_scenario(body, workdir):
    path = workdir / "scenario-from-readme.yaml"
    path.write_text(body, "utf-8")
    assert validate_file(path) == []


def test_shell_blocks_run(workdir):
    """The shell blocks run in order in one folder, as a reader would type them: later blocks
    use files that earlier ones wrote (run.log, quick.duckdb)."""
    for body in [b for b in blocks("bash") if not is_setup(b)]:
        proc = _bash(body, workdir)
        assert proc.returncode == 0, (f"README.md shell block failed:\n{body}\n--- stdout\n"
                                      f"{proc.stdout[-3000:]}\n--- stderr\n{proc.stderr[-3000:]}")


def _bash(body: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("COLUMNS", "120")
    return subprocess.run(["bash", "-euo", "pipefail", "-c", body], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300, check=False)


def cli_commands() -> set[str]:
    """The command names listed by `narcoflow --help`."""
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0, result.output
    listing = result.output.split("Commands:", 1)[1]
    return {m.group(1) for m in re.finditer(r"^\s+([a-z][\w-]*)\s", listing, flags=re.M)}


def mentioned_commands() -> set[str]:
    """Every word following `narcoflow ` in bash blocks and inline code spans of the README."""
    text = README.read_text("utf-8")
    sources = blocks("bash") + re.findall(r"`([^`\n]+)`", text)
    found = set()
    for src in sources:
        found |= set(re.findall(r"(?<![\w./-])narcoflow\s+([a-z][\w-]*)", src))
    return found


def test_every_mentioned_command_exists():
    commands = cli_commands()
    assert {"scenarios", "validate", "run", "show", "runs", "export"} <= commands
    mentioned = mentioned_commands()
    assert {"run", "show", "runs", "export", "scenarios", "validate"} <= mentioned
    missing = sorted(mentioned - commands)
    assert not missing, f"README.md mentions narcoflow commands that do not exist: {missing}"
