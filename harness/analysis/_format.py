"""How every display writes a p-value and names a test."""

from __future__ import annotations

import math


def format_p(p_value: float | None) -> str:
    """A p-value as every report shows it: 3 decimals, 2 significant digits below 0.001
    (so 4e-10 stays visible as such), "n/a" when there was no test."""
    if p_value is None or math.isnan(p_value):
        return "n/a"
    return f"{p_value:.2g}" if p_value < 0.001 else f"{p_value:.3f}"


def describe_test(
    test: str, n_examples: int = 0, replicates: tuple[int, int] = (1, 1), strata: int = 1
) -> str:
    """The test in words, as every report shows it (`strata`: suites averaged over)."""
    where = f" in {strata} suites" if strata > 1 else ""
    if test == "mcnemar":
        return f"exact McNemar on {n_examples} matched examples"
    if test == "paired-bootstrap":
        resampled = ", resampled within each suite" if strata > 1 else ""
        return f"paired bootstrap on {n_examples} matched examples{where}{resampled}"
    if test == "replicate-t":
        return (
            f"replicate t-test over {replicates[0]} vs {replicates[1]} training seeds "
            f"on {n_examples} matched examples{where}"
        )
    if test == "ci-based":
        if strata > 1:
            return f"CI-based (normal approximation from the 95% CIs of {strata} suites)"
        return "CI-based (normal approximation from both 95% CIs)"
    return "no test"


def training_variance_note(measured: bool) -> str:
    """What a reader must know about a verdict on a trained system."""
    if measured:
        return "training-seed variance included"
    return "one training seed: seed-to-seed variance not measured (set replicates: 3 or more)"
