"""Sections of BENCHMARKS.md that the benchmark scripts rewrite with ``--write`` (or `make bench`).

Each section lies between ``<!-- bench:NAME:start -->`` and ``<!-- bench:NAME:end -->``; text
outside the markers (hand-written sections, the other scripts' sections) is left as it is.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "BENCHMARKS.md"


def machine() -> str:
    """The machine a measurement is made on: cores, CPU model, memory, Python version."""
    mem_kb = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                  if line.startswith("MemTotal"))
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    return f"{os.cpu_count()} cores ({cpu}), {mem_kb / 1024**2:.0f} GiB RAM, Python {platform.python_version()}"


def markers(name: str) -> tuple[str, str]:
    """The start and end markers of section ``name``."""
    return f"<!-- bench:{name}:start -->", f"<!-- bench:{name}:end -->"


def replace_section(block: str, start: str, end: str, path: Path = BENCHMARKS) -> Path:
    """Put ``block`` (from ``start`` to ``end``, markers included) in place of the section
    between those markers, or append it when the file has no such section yet."""
    text = path.read_text("utf-8") if path.exists() else "# Benchmarks\n"
    if start in text and end in text:
        text = text[: text.index(start)] + block + text[text.index(end) + len(end):]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(text, "utf-8")
    return path
