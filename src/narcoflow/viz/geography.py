"""The geography shipped for maps: province outlines, neighbouring countries, places.

Everything comes from ``narcoflow/data/north_korea.json`` (Natural Earth polygons, public
domain; GeoNames coordinates, CC BY 4.0); nothing is downloaded. Names are matched loosely
(case, accents, apostrophes, hyphens and spaces are ignored; known alternative spellings are
accepted), so a scenario may write "Hamheung" or "Hamhŭng".

Examples
--------
>>> geo = load_geography()
>>> geo.province("South Hamgyong")["iso_3166_2"]
'KP-08'
>>> geo.place("Heungnam Pharmaceutical Factory")["name"]
'Hungnam'
"""

from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

_PACKAGE = "narcoflow.data"


def normalize(name: str) -> str:
    """Lower case ASCII letters and digits only: 'Hamhŭng' -> 'hamhung'."""
    text = unicodedata.normalize("NFKD", str(name))
    return "".join(c for c in text.lower() if c.isascii() and c.isalnum())


@dataclass(frozen=True)
class Geography:
    """Province polygons, neighbouring countries and places, with their sources."""

    data: dict[str, Any]

    @property
    def provinces(self) -> list[dict]:
        return self.data["provinces"]

    @property
    def neighbours(self) -> list[dict]:
        return self.data["neighbours"]

    @property
    def places(self) -> list[dict]:
        return self.data["places"]

    @property
    def bbox(self) -> tuple[float, float, float, float]:
        return tuple(self.data["bbox"])

    @property
    def attribution(self) -> str:
        return self.data["licence"]

    def province(self, name: str) -> dict | None:
        """The province whose name or alias matches ``name``, or None."""
        key = normalize(name)
        for prov in self.provinces:
            if key in {normalize(n) for n in (prov["name"], *prov["aliases"])}:
                return prov
        return None

    def place(self, name: str) -> dict | None:
        """The place named ``name``, or the first place whose name occurs in ``name``.

        The second rule finds "Hungnam" in "Heungnam Pharmaceutical Factory" and "Ranam" in
        "Ranam Pharmaceutical Factory (Chongjin)".
        """
        key = normalize(name)
        for place in self.places:
            if key in {normalize(n) for n in (place["name"], *place["aliases"])}:
                return place
        words = [normalize(w) for w in str(name).replace("(", " ").replace(")", " ").split()]
        for word in words:
            for place in self.places:
                if word and word in {normalize(n) for n in (place["name"], *place["aliases"])}:
                    return place
        return None


@lru_cache(maxsize=1)
def load_geography() -> Geography:
    """The shipped geography of North Korea (read once)."""
    text = resources.files(_PACKAGE).joinpath("north_korea.json").read_text("utf-8")
    return Geography(json.loads(text))


@lru_cache(maxsize=1)
def load_source_codes() -> dict[str, Any]:
    """What each source code (S1-S14, P*, C*, Q*, T*, E*) of the built-in scenario means."""
    text = resources.files(_PACKAGE).joinpath("sources.json").read_text("utf-8")
    return json.loads(text)
