"""Simulated cells with known seed and example variance: the replicate-aware CI covers the
true mean at about the nominal rate, and the replicate test's false-alarm rate between two
sets of training seeds of the same system stays near alpha, where the single-replicate
paired test (a trained model treated as fixed) raises false alarms far more often.

Model: a suite is n examples drawn from a population (per-example success probability
uniform on [0.25, 0.75], mean 0.5); a training seed shifts every example's probability
by u ~ N(0, SEED_SD); each score is a Bernoulli draw. The true mean of the cell over
examples and seeds is 0.5.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from harness.analysis import Replicate, compare_cells, estimate_cell
from harness.metrics import Accuracy, ExampleOutput

N_EXAMPLES = 200
N_CELLS = 300
SEEDS = 3
SEED_SD = 0.06
RESAMPLES = 300
ALPHA = 0.05


@dataclass(frozen=True)
class Simulation:
    covered: float
    replicate_false_alarms: float
    single_false_alarms: float


def _replicates(
    rng: np.random.Generator, difficulty: np.ndarray, outputs: list[ExampleOutput]
) -> list[Replicate]:
    shift = rng.normal(0.0, SEED_SD, size=(SEEDS, 1))
    scores = rng.random((SEEDS, difficulty.size)) < np.clip(difficulty + shift, 0, 1)
    return [Replicate(outputs, row.astype(float)) for row in scores]


@pytest.fixture(scope="module")
def simulation() -> Simulation:
    rng = np.random.default_rng(2024)
    outputs = [ExampleOutput(f"q{i}", "", ("",)) for i in range(N_EXAMPLES)]
    metric = Accuracy()
    covered = replicate_alarms = single_alarms = 0
    for cell in range(N_CELLS):
        difficulty = rng.uniform(0.25, 0.75, N_EXAMPLES)
        a = _replicates(rng, difficulty, outputs)
        b = _replicates(rng, difficulty, outputs)  # the same system, other training seeds
        low, high = estimate_cell(metric, a, seed=cell, n_resamples=RESAMPLES).ci95
        covered += low <= 0.5 <= high
        replicate = compare_cells(metric, a, b, seed=cell, n_resamples=RESAMPLES)
        single = compare_cells(metric, a[0], b[0], seed=cell, n_resamples=RESAMPLES)
        assert replicate.test == "replicate-t" and single.test == "mcnemar"
        replicate_alarms += replicate.significant(ALPHA)
        single_alarms += single.significant(ALPHA)
    return Simulation(covered / N_CELLS, replicate_alarms / N_CELLS, single_alarms / N_CELLS)


def test_replicate_ci_covers_the_true_mean_at_about_the_nominal_rate(
    simulation: Simulation,
) -> None:
    assert 0.90 <= simulation.covered <= 0.99


def test_replicate_test_keeps_false_alarms_near_alpha_where_a_single_run_does_not(
    simulation: Simulation,
) -> None:
    # two sets of training seeds of one system: any "significant" difference is false
    assert simulation.replicate_false_alarms <= 0.07
    assert simulation.single_false_alarms >= 0.20
    assert simulation.single_false_alarms > 4 * max(simulation.replicate_false_alarms, 0.01)
