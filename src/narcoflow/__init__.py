"""narcoflow: simulate and analyse illicit drug production and circulation.

>>> import narcoflow as nf
>>> res = nf.run("north-korea-2011", seed=1, scale=0.002, years=1)
>>> sorted(res.metrics["metric"].unique())[:3]
['active_deliverers', 'active_producers', 'active_sellers']
"""

__version__ = "0.1.0"

#: Default share of the real population simulated (about 2.4 million persons): a few seconds per
#: run. Also the calibration's scale: in the calibrated scenario's region smaller scales overstate
#: users and private exports (0.02: +40 % against 0.1; 0.1 is within about 10 % of 0.25;
#: BENCHMARKS.md, "Results by scale" and "Another scale").
DEFAULT_SCALE = 0.1


def run(scenario="north-korea-2011", *, seed: int = 0, scale: float = DEFAULT_SCALE, years: float | None = None,
        progress=None):
    """Run a scenario (built-in name, YAML path or `Scenario`) and return its `Results`."""
    from narcoflow.engine import Simulation

    return Simulation(scenario, seed=seed, scale=scale, years=years).run(progress=progress).results


def estimate(scenario="north-korea-2011", *, db, draws: int = 50, seeds: int = 2, seed: int = 0,
             scale: float = DEFAULT_SCALE, years: float | None = None, posterior=None, executor=None,
             progress=None):
    """Estimate the unobserved quantities per calendar year over parameter sets and seeds.

    Draws ``draws`` parameter sets from the scenario's posterior sample (or ``posterior``, a
    file; without either, a Latin hypercube over its ranges), runs each with ``seeds`` seeds
    (resumable in the DuckDB file ``db``) and returns ``(plan, table)``: per quantity, filters
    and year the median, 50 % and 90 % intervals and the shares of parameter and run-to-run
    variance (`narcoflow.experiments.estimates.estimate`; table ``estimates`` in ``db``).
    """
    from narcoflow.experiments.estimates import estimate as _estimate

    return _estimate(scenario, db=db, draws=draws, seeds=seeds, seed=seed, scale=scale, years=years,
                     posterior=posterior, executor=executor, progress=progress)


def compare(scenario="north-korea-2011", policies=(), *, db, replications: int = 10, seed: int = 0,
            scale: float = DEFAULT_SCALE, years: float | None = None, uncertainty: str = "seeds",
            posterior=None, window=None, outcomes=(), executor=None, progress=None):
    """Compare policies (and ``baseline``) over ``replications`` on common random numbers.

    Replication ``i`` of every policy uses seed ``seed + i`` and, with ``uncertainty="posterior"``
    (the scenario's posterior sample, or ``posterior``, a file) or ``"ranges"`` (a Latin hypercube
    over its ranges), parameter set ``i``. Runs are stored (resumable) in the DuckDB file ``db``;
    returns ``(plan, table)``, the ``comparisons`` rows (`narcoflow.experiments.comparison.compare`;
    ``window`` and ``outcomes`` as there).
    """
    from narcoflow.experiments.comparison import compare as _compare
    from narcoflow.scenario import Scenario, load

    sc = scenario if isinstance(scenario, Scenario) else load(scenario)
    if posterior is None and uncertainty == "posterior" and not isinstance(scenario, Scenario):
        from narcoflow.calibration.posterior import posterior_file

        posterior = posterior_file(scenario)  # also beside a scenario YAML file
    return _compare(sc, list(policies), replications=replications, db=db, seed=seed, scale=scale, years=years,
                    executor=executor, progress=progress, window=window, outcomes=outcomes,
                    uncertainty=uncertainty, posterior=posterior)


__all__ = ["DEFAULT_SCALE", "__version__", "compare", "estimate", "run"]
