"""Calibration (issue 7): targets (observed quantities with reliability), ABC-SMC fitting with pyabc,
per-generation storage and resume, the posterior predictive check and the calibrated scenario file.

See docs/calibration.md; the command is `narcoflow calibrate`, the report `narcoflow report CALIBRATION_ID`.
"""
