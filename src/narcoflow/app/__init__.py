"""The Solara dashboard (``narcoflow dashboard``); see `narcoflow.app.dashboard`."""
