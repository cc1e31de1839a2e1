"""Calibration: targets (observed quantities with reliability) and ABC-SMC fitting with pyabc.

Work in progress (issue 7): targets format, distance and a pyabc ABC-SMC loop are implemented;
the CLI command, calibrated scenario file, posterior predictive check and report section are not.
"""
