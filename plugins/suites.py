"""The built-in suites: every suite.yaml shipped in the `harness_suites` package."""

from __future__ import annotations

from pathlib import Path

from harness import hookimpl
from harness.registry import Registry


def builtin_suite_files() -> list[Path]:
    """suite.yaml files of the built-in suites, from a checkout or an installed wheel."""
    import harness_suites

    root = Path(harness_suites.__file__).resolve().parent
    return sorted(root.glob("*/suite.yaml"))


@hookimpl
def harness_register_suites(registry: Registry) -> None:
    for path in builtin_suite_files():
        registry.add(path)
