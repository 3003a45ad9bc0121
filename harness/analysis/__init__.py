"""Judgement: pairing, estimates, tests, multiplicity and power, as pure functions.

Everything here takes data (outputs and per-example scores, or a cell's summary) and
returns typed results; reports, the gate, `harness compare` and the recommendation only
display them. A new statistical test touches this package and nothing else.
See docs/statistics.md for the methods and why.
"""

from __future__ import annotations

from harness.analysis._bootstrap import Estimate, bootstrap_ci
from harness.analysis._comparison import (
    DEFAULT_ALPHA,
    DEFAULT_RESAMPLES,
    DEFAULT_SEED,
    TEST_NAMES,
    Comparison,
    Summary,
    TestName,
    TResult,
    VarianceComponent,
    compare_cells,
    compare_summaries,
    mcnemar_p,
    satterthwaite_t,
)
from harness.analysis._curves import Curve, CurvePoint, Step, build_curve, plateau
from harness.analysis._format import describe_test, format_p, training_variance_note
from harness.analysis._multiplicity import holm, holm_significant
from harness.analysis._pairing import CellOutputs, PairedCells, Replicate, as_replicates, pair
from harness.analysis._power import (
    DEFAULT_DISCORDANCE,
    discordance_rate,
    minimum_detectable_difference,
)
from harness.analysis._replicates import CellEstimate, estimate_cell
from harness.analysis._strata import (
    Stratum,
    compare_strata,
    compare_summaries_over_strata,
    detectable_difference,
)
from harness.analysis._tradeoff import (
    MatchedGain,
    MatchedPair,
    TradeoffPoint,
    match_by_gain,
    matched_gain,
    mean_estimate,
    pareto_frontier,
)

__all__ = [
    "DEFAULT_ALPHA",
    "DEFAULT_DISCORDANCE",
    "DEFAULT_RESAMPLES",
    "DEFAULT_SEED",
    "TEST_NAMES",
    "CellEstimate",
    "CellOutputs",
    "Comparison",
    "Curve",
    "CurvePoint",
    "Estimate",
    "MatchedGain",
    "MatchedPair",
    "PairedCells",
    "Replicate",
    "Step",
    "Stratum",
    "Summary",
    "TResult",
    "TestName",
    "TradeoffPoint",
    "VarianceComponent",
    "as_replicates",
    "bootstrap_ci",
    "build_curve",
    "compare_cells",
    "compare_strata",
    "compare_summaries",
    "compare_summaries_over_strata",
    "describe_test",
    "detectable_difference",
    "discordance_rate",
    "estimate_cell",
    "format_p",
    "holm",
    "holm_significant",
    "match_by_gain",
    "matched_gain",
    "mcnemar_p",
    "mean_estimate",
    "minimum_detectable_difference",
    "pair",
    "pareto_frontier",
    "plateau",
    "satterthwaite_t",
    "training_variance_note",
]
