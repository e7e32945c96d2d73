"""Python's cyclic garbage collector paused while a step builds many objects that hold no cycles.

A survey of a large store makes a million small tuples (gaps, their classification, the plan) and keeps them:
every 700 allocations the collector walks the young ones, and the older generations ever more of them, which
costs as much as the work itself. Paused for the step, nothing is lost: reference counting still frees what
is dropped, and the collector runs again once the step ends.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused_gc() -> Iterator[None]:
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
