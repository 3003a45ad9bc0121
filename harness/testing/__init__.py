"""Test kit for harness and its plugins: tiny real models, toy suites, conformance checks.

`build_tiny_llama(path)` saves a real (random) Llama with a real tokenizer that loads
like any Hugging Face model; `write_toy_suites(root)` writes small suites of every task;
`check_strategy(strategy, tmp_path)` runs a strategy through harness's contract.
"""

from harness.testing.conformance import ConformanceReport, check_strategy
from harness.testing.tiny_model import build_tiny_llama
from harness.testing.toy_suites import write_toy_suites

__all__ = ["ConformanceReport", "build_tiny_llama", "check_strategy", "write_toy_suites"]
