"""Test kit for harness and its plugins: tiny real models, toy suites, conformance checks.

`build_tiny_llama(path)` saves a real (random) Llama with a real tokenizer that loads
like any Hugging Face model; `write_toy_suites(root)` writes small suites of every task;
`check_strategy(strategy, tmp_path)`, `check_metric(MyMetric)` and
`check_reporter(MyReporter, tmp_path)` run a plugin through harness's contracts;
`toy_outputs(task)` gives example outputs to test a metric on.
"""

from harness.testing.conformance import (
    ConformanceReport,
    MetricReport,
    ReporterReport,
    check_metric,
    check_reporter,
    check_strategy,
    toy_outputs,
)
from harness.testing.tiny_model import build_tiny_llama
from harness.testing.toy_suites import write_toy_suites

__all__ = [
    "ConformanceReport",
    "MetricReport",
    "ReporterReport",
    "build_tiny_llama",
    "check_metric",
    "check_reporter",
    "check_strategy",
    "toy_outputs",
    "write_toy_suites",
]
