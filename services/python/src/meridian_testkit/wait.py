"""Polling with a deadline: every wait in the library asks again until its
condition holds or its time is up, and then says what it last saw. No
bare sleeps: a wait ends as soon as the condition holds."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from .errors import WaitTimeout

T = TypeVar("T")

#: How long to wait between two looks.
INTERVAL = 0.05


def poll(what: str, check: Callable[[], tuple[bool, T]], timeout: float,
         interval: float = INTERVAL) -> T:
    """Calls `check` until it answers (True, value), then answers value.
    `check` answers (False, what it saw) meanwhile; at the deadline
    WaitTimeout says `what` and the last thing seen."""
    if timeout <= 0:
        raise ValueError(f"timeout: must be more than 0 s, got {timeout}")
    deadline = time.monotonic() + timeout
    while True:
        done, seen = check()
        if done:
            return seen
        if time.monotonic() >= deadline:
            raise WaitTimeout(f"{what}: not within {timeout:g} s; last seen: {seen}")
        time.sleep(interval)
