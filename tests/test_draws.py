"""The kernel streams (`narcoflow.engine.draws`): exact binomial counts, uniform integers,
reproducible and independent streams."""

import numpy as np
import pytest
from numba import njit
from scipy import stats

from narcoflow.engine.draws import binomial, integer, kernel_stream, next_double


@njit(cache=True)
def _binomials(state, n, p, k):
    out = np.empty(k, dtype=np.int64)
    for i in range(k):
        out[i] = binomial(state, n, p)
    return out


@njit(cache=True)
def _integers(state, n, k):
    out = np.empty(k, dtype=np.int64)
    for i in range(k):
        out[i] = integer(state, n)
    return out


@njit(cache=True)
def _uniforms(state, k):
    out = np.empty(k)
    for i in range(k):
        out[i] = next_double(state)
    return out


# Both algorithms (inversion below n x min(p, 1-p) = 30, geometric jumps above) and both sides of p = 0.5.
@pytest.mark.parametrize(("n", "p"), [(10, 0.3), (50, 0.9), (1000, 0.001), (5000, 0.2), (100_000, 0.004),
                                      (40, 0.75)])
def test_binomial_counts_follow_the_binomial_distribution(n, p):
    x = _binomials(kernel_stream(7, f"test-{n}-{p}"), n, p, 20_000)
    assert x.min() >= 0 and x.max() <= n
    counts = np.bincount(x, minlength=n + 1)
    expected = stats.binom.pmf(np.arange(n + 1), n, p) * len(x)
    big = expected >= 5  # chi-square over the bins with 5 or more expected, the rest pooled
    obs = np.append(counts[big], counts[~big].sum())
    exp = np.append(expected[big], expected[~big].sum())
    assert stats.chisquare(obs, exp * obs.sum() / exp.sum()).pvalue > 1e-4


def test_binomial_edge_cases():
    s = kernel_stream(1, "edges")
    assert _binomials(s, 0, 0.5, 5).tolist() == [0] * 5
    assert _binomials(s, 9, 0.0, 5).tolist() == [0] * 5
    assert _binomials(s, 9, 1.0, 5).tolist() == [9] * 5


def test_integers_are_uniform_and_in_range():
    x = _integers(kernel_stream(3, "ints"), 13, 65_000)
    assert x.min() == 0 and x.max() == 12
    assert stats.chisquare(np.bincount(x, minlength=13)).pvalue > 1e-4


def test_streams_are_reproducible_and_independent():
    a, b = kernel_stream(5, "retail"), kernel_stream(5, "retail")
    assert np.array_equal(_uniforms(a, 100), _uniforms(b, 100))
    u, v = _uniforms(kernel_stream(5, "demand"), 10_000), _uniforms(kernel_stream(6, "demand"), 10_000)
    assert abs(np.corrcoef(u, v)[0, 1]) < 0.05
    assert stats.kstest(u, "uniform").pvalue > 1e-4
    assert not np.array_equal(kernel_stream(5, "demand"), kernel_stream(5, "recruitment"))


@pytest.mark.parametrize(("n", "k", "reps"), [(5000, 4, 20_000), (50, 40, 4000)])  # Floyd; bitmap
def test_distinct_rows_are_a_uniform_subset(n, k, reps):
    from narcoflow.engine.draws import distinct_rows

    state = kernel_stream(11, f"rows-{n}-{k}")
    counts = np.zeros(n)
    for _ in range(reps):
        rows = distinct_rows(state, n, k)
        assert len(np.unique(rows)) == k and rows.min() >= 0 and rows.max() < n
        counts[rows] += 1
    assert stats.chisquare(counts).pvalue > 1e-4  # every row equally likely
