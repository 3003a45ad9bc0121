"""The analysis core against independent implementations on fixed data."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import binomtest, ttest_1samp, ttest_ind
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import TTestPower

from harness.analysis import (
    DEFAULT_DISCORDANCE,
    Comparison,
    Estimate,
    Replicate,
    VarianceComponent,
    bootstrap_ci,
    compare_cells,
    compare_summaries,
    describe_test,
    discordance_rate,
    estimate_cell,
    format_p,
    holm,
    holm_significant,
    mcnemar_p,
    minimum_detectable_difference,
    pair,
    satterthwaite_t,
)
from harness.metrics import Accuracy, ExampleOutput, TokenF1


def outputs(n: int, prefix: str = "q") -> list[ExampleOutput]:
    return [ExampleOutput(f"{prefix}{i:03d}", "p", ("r",)) for i in range(n)]


# --- pairing ----------------------------------------------------------------------------


def test_pairing_sorts_by_id_and_rejects_different_or_repeated_ids() -> None:
    a = Replicate(outputs(3), [1.0, 0.0, 1.0])
    b = Replicate(outputs(3)[::-1], [0.0, 0.5, 1.0])  # q002, q001, q000
    paired = pair(a, b)
    assert paired.example_ids == ("q000", "q001", "q002")
    assert paired.b[0].scores.tolist() == [1.0, 0.5, 0.0]
    with pytest.raises(ValueError, match="different examples"):
        pair(a, Replicate(outputs(3, "x"), [0.0] * 3))
    with pytest.raises(ValueError, match="different examples"):
        pair(a, Replicate(outputs(2), [0.0] * 2))
    with pytest.raises(ValueError, match="different examples"):
        pair([a, Replicate(outputs(2), [0.0] * 2)], a)  # replicates of one cell differ
    repeated = [*outputs(2), outputs(1)[0]]
    with pytest.raises(ValueError, match="repeat"):
        pair(a, Replicate(repeated, [0.0] * 3))
    with pytest.raises(ValueError, match="scores"):
        Replicate(outputs(3), [0.0, 1.0])


# --- McNemar ------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mcnemar_matches_statsmodels_and_binomtest(seed: int) -> None:
    rng = np.random.default_rng(seed)
    a = (rng.random(150) < 0.7).astype(float)
    b = np.where(rng.random(150) < 0.85, a, 1 - a)
    table = [
        [np.sum((a == 1) & (b == 1)), np.sum((a == 1) & (b == 0))],
        [np.sum((a == 0) & (b == 1)), np.sum((a == 0) & (b == 0))],
    ]
    reference = mcnemar(table, exact=True).pvalue
    n01, n10 = int(table[0][1]), int(table[1][0])
    assert mcnemar_p(a, b) == pytest.approx(reference, rel=1e-9)
    assert mcnemar_p(a, b) == pytest.approx(binomtest(n01, n01 + n10).pvalue, rel=1e-12)
    result = compare_cells(Accuracy(), Replicate(outputs(150), a), Replicate(outputs(150), b))
    assert result.test == "mcnemar" and result.p_value == pytest.approx(reference, rel=1e-9)
    assert result.difference == pytest.approx(a.mean() - b.mean())
    assert not result.training_variance_measured and result.n_examples == 150


def test_mcnemar_without_discordant_pairs_is_one() -> None:
    a = np.array([1.0, 0.0, 1.0])
    assert mcnemar_p(a, a) == 1.0


# --- paired bootstrap -----------------------------------------------------------------------


def test_paired_bootstrap_matches_a_hand_computation_on_tiny_data() -> None:
    a_scores = np.array([1.0, 0.5, 0.25, 0.0])
    b_scores = np.array([0.0, 0.5, 0.0, 0.0])
    n_resamples = 200
    result = compare_cells(
        TokenF1(),
        Replicate(outputs(4), a_scores),
        Replicate(outputs(4), b_scores),
        seed=3,
        n_resamples=n_resamples,
    )
    # by hand: the same seeded index matrix, the resampled mean differences, the
    # percentile CI and the two-sided p with the +1 correction
    indices = np.random.default_rng(3).integers(0, 4, size=(n_resamples, 4))
    differences = np.array([a_scores[row].mean() - b_scores[row].mean() for row in indices])
    observed = a_scores.mean() - b_scores.mean()
    extreme = sum(abs(d - observed) >= abs(observed) for d in differences)
    assert result.test == "paired-bootstrap"
    assert result.difference == pytest.approx(0.3125)
    assert result.p_value == pytest.approx((1 + extreme) / (1 + n_resamples))
    assert result.ci95 == pytest.approx(tuple(np.percentile(differences, [2.5, 97.5])))


def test_the_order_of_outputs_does_not_change_a_comparison() -> None:
    rng = np.random.default_rng(5)
    a, b = rng.random(50), rng.random(50)
    forward = compare_cells(TokenF1(), Replicate(outputs(50), a), Replicate(outputs(50), b))
    backward = compare_cells(
        TokenF1(), Replicate(outputs(50)[::-1], a[::-1]), Replicate(outputs(50), b)
    )
    assert forward == backward


# --- replicate-aware t ------------------------------------------------------------------


def test_satterthwaite_t_with_two_seed_terms_is_welchs_t_test() -> None:
    x = np.array([0.61, 0.55, 0.70, 0.66])
    y = np.array([0.52, 0.49, 0.58])
    result = satterthwaite_t(
        x.mean() - y.mean(),
        [
            VarianceComponent(x.var(ddof=1) / x.size, x.size - 1),
            VarianceComponent(y.var(ddof=1) / y.size, y.size - 1),
            VarianceComponent(0.0, 99),  # no example variance
        ],
    )
    welch = ttest_ind(x, y, equal_var=False)
    assert result.p_value == pytest.approx(welch.pvalue, rel=1e-10)
    assert result.df == pytest.approx(welch.df, rel=1e-10)
    low, high = welch.confidence_interval(0.95)
    assert result.ci95 == pytest.approx((low, high), rel=1e-10)


def test_replicate_t_on_one_example_reduces_to_welch_and_to_one_sample_t() -> None:
    """With one test example there is no example variance: only the seeds vary."""
    x = [0.8, 0.6, 0.9]
    y = [0.3, 0.5, 0.45, 0.4]
    one = outputs(1)
    a = [Replicate(one, [v]) for v in x]
    b = [Replicate(one, [v]) for v in y]
    result = compare_cells(TokenF1(), a, b)
    welch = ttest_ind(x, y, equal_var=False)
    assert result.test == "replicate-t" and result.training_variance_measured
    assert result.replicates == (3, 4) and result.n_examples == 1
    assert result.p_value == pytest.approx(welch.pvalue, rel=1e-10)
    assert result.df == pytest.approx(welch.df, rel=1e-10)
    # a side without replicates (an untrained baseline) adds no seed term
    against_fixed = compare_cells(TokenF1(), a, Replicate(one, [0.5]))
    reference = ttest_1samp(x, popmean=0.5)
    assert against_fixed.p_value == pytest.approx(reference.pvalue, rel=1e-10)
    assert against_fixed.df == pytest.approx(2)


def test_replicate_t_adds_seed_and_example_variance() -> None:
    rng = np.random.default_rng(8)
    n = 300
    shared = rng.random(n) < 0.6
    reps = [Replicate(outputs(n), np.where(rng.random(n) < 0.9, shared, ~shared)) for _ in range(3)]
    base = Replicate(outputs(n), shared.astype(float))
    result = compare_cells(Accuracy(), reps, base, n_resamples=500)
    values = np.array([r.scores.mean() for r in reps])
    seed_term = values.var(ddof=1) / 3
    half = (result.ci95[1] - result.ci95[0]) / 2
    assert result.difference == pytest.approx(values.mean() - shared.mean())
    assert result.ci95[0] < result.difference < result.ci95[1]
    # wider than the seed term alone and than the example term alone
    assert half > 1.96 * math.sqrt(seed_term)
    single = compare_cells(Accuracy(), reps[0], base, n_resamples=500)
    assert single.test == "mcnemar" and result.test == "replicate-t"


# --- one cell over replicates -------------------------------------------------------------


def test_estimate_of_one_replicate_is_todays_bootstrap_ci() -> None:
    scores = (np.random.default_rng(4).random(80) < 0.7).astype(float)
    estimate = estimate_cell(Accuracy(), Replicate(outputs(80), scores), seed=2)
    reference = bootstrap_ci(Accuracy(), outputs(80), scores, seed=2)
    assert isinstance(reference, Estimate)
    assert (estimate.value, estimate.ci95) == (reference.value, reference.ci95)
    assert estimate.n_replicates == 1 and estimate.seed_sd is None
    assert not estimate.training_variance_measured


def test_estimate_over_replicates_on_one_example_is_the_t_interval_of_the_seeds() -> None:
    values = [0.105, 0.270, 0.190, 0.150, 0.220]  # five training seeds
    estimate = estimate_cell(TokenF1(), [Replicate(outputs(1), [v]) for v in values])
    reference = ttest_1samp(values, 0.0).confidence_interval(0.95)
    assert estimate.value == pytest.approx(np.mean(values))
    assert estimate.seed_sd == pytest.approx(np.std(values, ddof=1))
    assert estimate.ci95 == pytest.approx((reference.low, reference.high), rel=1e-10)
    assert estimate.training_variance_measured and estimate.df == pytest.approx(4)


# --- CI-based -------------------------------------------------------------------------------


def test_ci_based_is_the_normal_approximation_from_both_cis() -> None:
    a, b = Estimate(0.70, (0.64, 0.76)), Estimate(0.60, (0.52, 0.68))
    result = compare_summaries(a, b)
    se = math.hypot(0.12, 0.16) / (2 * 1.959963984540054)
    assert result.test == "ci-based" and result.n_examples == 0
    assert result.difference == pytest.approx(0.10)
    assert result.p_value == pytest.approx(math.erfc(0.10 / se / math.sqrt(2)))
    assert not result.training_variance_measured
    assert compare_summaries(a, a).p_value == 1.0
    assert math.isnan(compare_summaries(a, Estimate(math.nan, (0.0, 1.0))).p_value)


# --- Holm ---------------------------------------------------------------------------------


def test_holm_matches_statsmodels() -> None:
    p_values = [0.009, 0.04, 0.03, 0.005, 0.20, 0.012]
    reject, adjusted, _, _ = multipletests(p_values, alpha=0.05, method="holm")
    assert holm(p_values) == pytest.approx(adjusted.tolist())
    assert holm_significant(p_values, 0.05) == reject.tolist()


def test_holm_ignores_missing_p_values() -> None:
    adjusted = holm([0.01, math.nan, 0.03])
    assert math.isnan(adjusted[1])
    assert adjusted[0] == pytest.approx(0.02) and adjusted[2] == pytest.approx(0.03)


def test_comparison_significance_uses_the_given_alpha() -> None:
    result = Comparison(0.1, (0.0, 0.2), 0.03, "mcnemar", False)
    assert result.significant(0.05) and not result.significant(0.01)


# --- power ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("n", "psi"), [(200, 0.2), (1000, 0.25), (50, 0.6)])
def test_binary_detectable_difference_solves_the_mcnemar_sample_size_formula(
    n: int, psi: float
) -> None:
    delta = minimum_detectable_difference(n, discordance=psi)
    z_a, z_b = 1.959963984540054, 0.8416212335729143
    needed = (z_a * math.sqrt(psi) + z_b * math.sqrt(psi - delta**2)) ** 2 / delta**2
    assert needed == pytest.approx(n, rel=1e-6)
    assert minimum_detectable_difference(4 * n, discordance=psi) < delta


def test_continuous_detectable_difference_is_close_to_the_noncentral_t_solution() -> None:
    n, sd = 200, 0.3
    delta = minimum_detectable_difference(n, sd_difference=sd)
    exact = TTestPower().solve_power(nobs=n, alpha=0.05, power=0.8) * sd
    assert delta == pytest.approx(exact, rel=0.01)


def test_detectable_difference_defaults_and_edges() -> None:
    default = minimum_detectable_difference(300)
    assert default == minimum_detectable_difference(300, discordance=DEFAULT_DISCORDANCE)
    assert 0 < default < DEFAULT_DISCORDANCE
    assert minimum_detectable_difference(1) == math.inf
    assert minimum_detectable_difference(5, discordance=0.02) == math.inf
    assert minimum_detectable_difference(100, discordance=0.0) == 0.0
    assert discordance_rate(np.array([1, 0, 1, 1]), np.array([1, 1, 0, 1])) == 0.5
    with pytest.raises(ValueError):
        minimum_detectable_difference(100, alpha=1.5)


# --- display --------------------------------------------------------------------------------


def test_format_p_and_describe_test() -> None:
    assert format_p(4e-10) == "4e-10"
    assert format_p(0.0123) == "0.012"
    assert format_p(None) == format_p(math.nan) == "n/a"
    assert describe_test("mcnemar", 12) == "exact McNemar on 12 matched examples"
    assert "3 vs 1 training seeds" in describe_test("replicate-t", 200, (3, 1))
    assert describe_test("ci-based").startswith("CI-based")
    assert describe_test("") == "no test"
