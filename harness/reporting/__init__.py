"""Reporters: what a run's results look like to people and to CI."""

from harness.reporting.base import ReportContext, Reporter

__all__ = ["ReportContext", "Reporter"]
