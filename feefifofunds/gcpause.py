"""Python's cyclic garbage collector paused while a step builds many objects that hold no cycles.

A survey of a large store makes a million small tuples (gaps, their classification, the plan) and keeps them:
every 700 allocations the collector walks the young ones, and the older generations ever more of them, which
costs as much as the work itself. Paused for the step, nothing is lost: reference counting still frees what
is dropped, and the collector runs again once the step ends.

When it runs again, the objects alive at that moment are moved out of its reach first (``gc.freeze``):
else its next pass would walk every object the step made, all in its youngest generation (half a second
for a survey's million, just before the command ends). Frozen objects are still freed by reference
counting; only a reference cycle among them would wait for ``gc.unfreeze``, and the step's objects hold none.
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
            gc.freeze()
            gc.enable()
