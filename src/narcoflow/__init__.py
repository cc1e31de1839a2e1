"""narcoflow: simulate and analyse illicit drug production and circulation.

>>> import narcoflow as nf
>>> res = nf.run("north-korea-2011", seed=1, scale=0.002, years=1)
>>> sorted(res.metrics["metric"].unique())[:3]
['active_deliverers', 'active_producers', 'active_sellers']
"""

__version__ = "0.1.0"

#: Default share of the real population simulated (about 480,000 persons): seconds per run.
DEFAULT_SCALE = 0.02


def run(scenario="north-korea-2011", *, seed: int = 0, scale: float = DEFAULT_SCALE, years: float | None = None,
        progress=None):
    """Run a scenario (built-in name, YAML path or `Scenario`) and return its `Results`."""
    from narcoflow.engine import Simulation

    return Simulation(scenario, seed=seed, scale=scale, years=years).run(progress=progress).results


__all__ = ["DEFAULT_SCALE", "__version__", "run"]
