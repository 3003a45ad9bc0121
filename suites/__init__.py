"""harness's built-in suites: one folder per suite, each with a suite.yaml and its data."""
