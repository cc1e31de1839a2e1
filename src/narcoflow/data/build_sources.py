"""Rebuild ``sources.json``: what each source code in a scenario (S1, P4, C5, Q27, ...) means.

Not imported by narcoflow; kept so that the shipped file can be checked or redone::

    python build_sources.py docs/model.md shared/evidence-north-korea.md > sources.json

S1-S14 are the claims of the seed report of 10 October 2011 (short quotes, from the claims table
of ``docs/model.md``); P*, C*, Q*, T*, E* are rows of the project's evidence file (prevalence,
prices, quantities, timeline, enforcement), each with its value, year, source and confidence.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

_ROW = re.compile(r"^\|\s*([SPCQTE]\d+)\s*\|")


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def build(model_md: Path, evidence_md: Path) -> dict:
    codes: dict[str, dict] = {}
    for line in model_md.read_text("utf-8").splitlines():
        if _ROW.match(line) and line.lstrip("| ").startswith("S"):
            cells = _cells(line)
            codes[cells[0]] = {"kind": "claim of the seed report (10 Oct 2011)", "text": cells[1]}
    header: list[str] = []
    for line in evidence_md.read_text("utf-8").splitlines():
        if line.startswith("| #"):
            header = [h.lower() for h in _cells(line)]
        elif _ROW.match(line) and header:
            row = dict(zip(header, _cells(line), strict=False))
            code = row.pop("#")
            text = row.pop("fact", None) or row.pop("event", "")
            parts = [p for p in (row.get("value / range"), row.get("year") or row.get("date")) if p]
            if parts:
                text += ": " + "; ".join(parts)
            codes[code] = {"kind": "public evidence", "text": text, "source": row.get("source", ""),
                           "confidence": row.get("conf", "")}
    return {
        "name": "What the source codes of the built-in scenario mean",
        "confidence": "H: official statistics, court records or several independent sources; "
                      "M: one reputable source; L: a single anonymous insider, an anecdote or a "
                      "secondary blog; SS: single source.",
        "codes": dict(sorted(codes.items(), key=lambda kv: (kv[0][0], int(kv[0][1:])))),
    }


if __name__ == "__main__":
    json.dump(build(Path(sys.argv[1]), Path(sys.argv[2])), sys.stdout, ensure_ascii=False, indent=0)
