"""A strategy that waits while adapting, so a test can stop a run while it is working."""

from __future__ import annotations

import os
import time
from pathlib import Path

from harness import AdaptContext, Predictor, Strategy, hookimpl

#: the file the strategy creates once it is adapting (the run's staging folder exists)
READY_ENV = "HARNESS_TEST_WAITING_READY"


class Waiting(Strategy):
    """Touches $HARNESS_TEST_WAITING_READY, then waits up to two minutes for a signal."""

    name = "waiting"

    def adapt(self, context: AdaptContext) -> Predictor:
        # written aside and renamed, so the test never reads a file still being written
        ready = Path(os.environ[READY_ENV])
        partial = ready.with_name(ready.name + ".partial")
        partial.write_text(str(context.work_dir), encoding="utf-8")
        os.replace(partial, ready)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            time.sleep(0.05)
        return context.upstream


@hookimpl
def harness_register_strategies(registry):  # type: ignore[no-untyped-def]
    registry.add(Waiting)
