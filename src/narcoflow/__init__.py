"""narcoflow: simulate and analyse illicit drug production and circulation."""

__version__ = "0.1.0"
