"""The demo lab: a synthetic world, its suites and a tiny base model."""
