"""Building a million objects at once: `paused_gc` keeps Python's cyclic collector from walking them again and again."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """No cyclic garbage collection inside (reference counting still frees everything that is not a cycle): a
    million rows as tuples set off hundreds of full collections, each walking every live object (twice the
    reading time). Collection resumes after, unless it was off already."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
