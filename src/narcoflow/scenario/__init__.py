"""Scenarios: schema, loading (built-in names or YAML files with `base:`), parameter access."""

from narcoflow.scenario.loader import (
    builtin_descriptions,
    builtin_names,
    iter_params,
    load,
    uncertain_parameters,
    validate_file,
    with_values,
)
from narcoflow.scenario.schema import DRUGS, ROLES, Param, Scenario

__all__ = [
    "DRUGS",
    "ROLES",
    "Param",
    "Scenario",
    "builtin_descriptions",
    "builtin_names",
    "iter_params",
    "load",
    "uncertain_parameters",
    "validate_file",
    "with_values",
]
