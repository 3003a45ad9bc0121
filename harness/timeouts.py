"""Deadlines for strategy code: a hang becomes a failed cell, not a hung run.

A Python call cannot be killed from outside in-process, so the call runs in a daemon
worker thread and the caller stops waiting at the deadline. The run goes on; the hung
thread is abandoned (it keeps whatever it holds, memory or a device, until it returns
or the process exits).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

from harness.errors import HarnessError

T = TypeVar("T")


#: the name of every worker thread a deadline may abandon starts with this
WORKER_PREFIX = "harness: "


class Timeout(HarnessError):
    """A call ran past its deadline; the message says what was being done."""


def call_with_timeout(call: Callable[[], T], seconds: float | None, doing: str) -> T:
    """`call()`, or `Timeout("timed out after N s <doing>")` once `seconds` have passed.

    `seconds` None waits forever and runs `call` in the calling thread. An exception the
    call raises is raised here, with its own traceback.
    """
    if seconds is None:
        return call()
    outcome: list[T] = []
    error: list[BaseException] = []

    def work() -> None:
        try:
            outcome.append(call())
        except BaseException as e:  # handed to the waiting thread, which raises it
            error.append(e)

    worker = threading.Thread(target=work, name=f"{WORKER_PREFIX}{doing}", daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        raise Timeout(f"timed out after {seconds:g} s {doing}")
    if error:
        raise error[0]
    return outcome[0]
