"""Comparisons over several suites (the mean of per-suite differences) against
independent computations: a hand-written stratified bootstrap, Welch's t-test, the normal
approximation, and statsmodels' power of the paired t-test."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import norm, ttest_ind
from statsmodels.stats.power import TTestPower

from harness.analysis import (
    Replicate,
    compare_cells,
    compare_strata,
    compare_summaries,
    compare_summaries_over_strata,
    describe_test,
    detectable_difference,
    minimum_detectable_difference,
)
from harness.analysis._bootstrap import Estimate
from harness.metrics import Accuracy, ExampleOutput, MacroF1, TokenF1


def outputs(n: int, prefix: str = "q") -> list[ExampleOutput]:
    return [ExampleOutput(f"{prefix}{i:03d}", "p", ("r",)) for i in range(n)]


def test_one_stratum_is_exactly_the_two_cell_comparison() -> None:
    rng = np.random.default_rng(1)
    a, b = (rng.random(80) < 0.6).astype(float), (rng.random(80) < 0.5).astype(float)
    cells = (Replicate(outputs(80), a), Replicate(outputs(80), b))
    assert compare_strata([(Accuracy(), *cells)], seed=4) == compare_cells(
        Accuracy(), *cells, seed=4
    )
    replicated = ([cells[0], Replicate(outputs(80), b)], cells[1])
    assert compare_strata([(Accuracy(), *replicated)]) == compare_cells(Accuracy(), *replicated)
    one = (Estimate(0.6, (0.5, 0.7)), Estimate(0.5, (0.42, 0.58)))
    assert compare_summaries_over_strata([one]) == compare_summaries(*one)


def test_stratified_bootstrap_matches_a_hand_computation() -> None:
    rng = np.random.default_rng(2)
    sizes, n_resamples = (40, 25, 60), 300
    data = [(rng.random(n), rng.random(n) * 0.8) for n in sizes]
    strata = [
        (TokenF1(), Replicate(outputs(n, f"s{k}"), a), Replicate(outputs(n, f"s{k}"), b))
        for k, (n, (a, b)) in enumerate(zip(sizes, data, strict=True))
    ]
    result = compare_strata(strata, seed=9, n_resamples=n_resamples)
    # by hand: each suite resampled on its own seeded index matrix (seed + k), then the
    # mean over suites of the resampled mean differences
    mean_differences = np.zeros(n_resamples)
    for k, (n, (a, b)) in enumerate(zip(sizes, data, strict=True)):
        indices = np.random.default_rng(9 + k).integers(0, n, size=(n_resamples, n))
        mean_differences += np.array([a[row].mean() - b[row].mean() for row in indices])
    mean_differences /= len(sizes)
    observed = np.mean([a.mean() - b.mean() for a, b in data])
    extreme = np.sum(np.abs(mean_differences - observed) >= abs(observed))
    assert result.test == "paired-bootstrap" and result.strata == 3
    assert result.n_examples == sum(sizes) and not result.training_variance_measured
    assert result.difference == pytest.approx(observed)
    assert result.p_value == pytest.approx((1 + extreme) / (1 + n_resamples))
    assert result.ci95 == pytest.approx(tuple(np.percentile(mean_differences, [2.5, 97.5])))
    # and the bootstrap's spread agrees with the analytic standard error of the mean of
    # independent per-suite mean differences
    analytic = math.sqrt(sum(np.var(a - b, ddof=1) / a.size for a, b in data)) / len(sizes)
    assert np.std(mean_differences) == pytest.approx(analytic, rel=0.15)
    assert describe_test(result.test, result.n_examples, strata=3) == (
        "paired bootstrap on 125 matched examples in 3 suites, resampled within each suite"
    )


def test_replicates_over_strata_reduce_to_welch_on_each_seeds_mean() -> None:
    # one example per suite: no example variance, so the test is Welch's t-test on each
    # training seed's mean over the suites
    a_values = np.array([[0.8, 0.6, 0.9], [0.7, 0.65, 0.85]])  # suite x seed
    b_values = np.array([[0.5, 0.55], [0.6, 0.4]])
    strata = [
        (
            TokenF1(),
            [Replicate(outputs(1, f"s{k}"), [v]) for v in a_values[k]],
            [Replicate(outputs(1, f"s{k}"), [v]) for v in b_values[k]],
        )
        for k in range(2)
    ]
    result = compare_strata(strata)
    reference = ttest_ind(a_values.mean(axis=0), b_values.mean(axis=0), equal_var=False)
    assert result.test == "replicate-t" and result.training_variance_measured
    assert result.replicates == (3, 2) and result.strata == 2
    assert result.difference == pytest.approx(a_values.mean() - b_values.mean())
    assert result.p_value == pytest.approx(reference.pvalue, rel=1e-9)
    assert result.df == pytest.approx(reference.df, rel=1e-9)


def test_replicates_over_strata_add_each_suites_example_variance() -> None:
    rng = np.random.default_rng(3)
    n, seeds = 400, 3
    base = [rng.random(n) < p for p in (0.6, 0.4)]
    strata = [
        (
            Accuracy(),
            [Replicate(outputs(n, f"s{k}"), base[k] ^ (rng.random(n) < 0.1)) for _ in range(seeds)],
            Replicate(outputs(n, f"s{k}"), (rng.random(n) < 0.45)),
        )
        for k in range(2)
    ]
    result = compare_strata(strata, n_resamples=2000)
    # independently: the seed term from each seed's mean over suites, the example term
    # from the analytic variance of each suite's mean paired difference, over K²
    per_seed = np.mean([[r.scores.mean() for r in s[1]] for s in strata], axis=0)
    b_mean = np.mean([s[2].scores.mean() for s in strata])
    seed_term = np.var(per_seed, ddof=1) / seeds
    example_term = (
        sum(
            np.var(np.mean([r.scores for r in s[1]], axis=0) - s[2].scores, ddof=1) / n
            for s in strata
        )
        / len(strata) ** 2
    )
    se = math.sqrt(seed_term + example_term)
    assert result.difference == pytest.approx(per_seed.mean() - b_mean)
    half = result.ci95[1] - result.difference
    assert half / se == pytest.approx(1.96, rel=0.1)  # t with many df, bootstrap variance


def test_ci_based_over_strata_is_the_normal_test_of_the_two_means() -> None:
    strata = [
        (Estimate(0.70, (0.62, 0.78)), Estimate(0.60, (0.50, 0.70))),
        (Estimate(0.40, (0.30, 0.50)), Estimate(0.38, (0.33, 0.43))),
    ]
    result = compare_summaries_over_strata(strata)
    se_a = math.hypot(0.08 / 1.959964, 0.10 / 1.959964) / 2
    se_b = math.hypot(0.10 / 1.959964, 0.05 / 1.959964) / 2
    difference = (0.70 + 0.40) / 2 - (0.60 + 0.38) / 2
    z = difference / math.hypot(se_a, se_b)
    assert result.test == "ci-based" and result.strata == 2
    assert result.difference == pytest.approx(difference)
    assert result.p_value == pytest.approx(2 * norm.sf(z), rel=1e-6)
    assert describe_test("ci-based", strata=2) == (
        "CI-based (normal approximation from the 95% CIs of 2 suites)"
    )


def test_detectable_difference_from_discordance_or_spread() -> None:
    rng = np.random.default_rng(4)
    a, b = (rng.random(200) < 0.6).astype(float), (rng.random(200) < 0.55).astype(float)
    one = [(Accuracy(), Replicate(outputs(200), a), Replicate(outputs(200), b))]
    psi = float(np.mean(a != b))
    assert detectable_difference(one, alpha=0.05) == minimum_detectable_difference(
        200, discordance=psi
    )
    # two suites: the paired t formula on the mean of the per-suite differences; its
    # standard error against statsmodels' power of a one-sample t-test of that size
    c, d = rng.random(100), rng.random(100)
    two = [*one, (TokenF1(), Replicate(outputs(100, "x"), c), Replicate(outputs(100, "x"), d))]
    se = math.sqrt(np.var(a - b, ddof=1) / 200 + np.var(c - d, ddof=1) / 100) / 2
    exact = TTestPower().solve_power(nobs=300, alpha=0.05, power=0.8) * se * math.sqrt(300)
    assert detectable_difference(two, alpha=0.05) == pytest.approx(exact, rel=0.01)
    # identical answers: the default discordance; a corpus-level metric: no formula
    same = [(Accuracy(), Replicate(outputs(200), a), Replicate(outputs(200), a))]
    assert detectable_difference(same, alpha=0.05) == minimum_detectable_difference(200)
    labels = [ExampleOutput(f"q{i}", "x", ("x",)) for i in range(10)]
    corpus = [(MacroF1(), Replicate(labels, [1.0] * 10), Replicate(labels, [0.0] * 10))]
    assert detectable_difference(corpus, alpha=0.05) is None


def test_strata_need_the_same_replicates_on_each_side() -> None:
    one = Replicate(outputs(5), [1.0] * 5)
    with pytest.raises(ValueError, match="replicates"):
        compare_strata([(Accuracy(), [one, one], one), (Accuracy(), one, one)])
