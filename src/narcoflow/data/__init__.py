"""Data files shipped with narcoflow (read them with `importlib.resources`).

- ``north_korea.json``: province polygons (Natural Earth, public domain), neighbouring countries
  and place coordinates (GeoNames, CC BY 4.0) for the report map; see ``build_north_korea.py``.
- ``sources.json``: what the source codes of the built-in scenario (S1-S14, P*, C*, Q*, T*, E*)
  mean; see ``build_sources.py``.
"""
