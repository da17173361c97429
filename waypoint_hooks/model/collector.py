"""The cyclic garbage collector, paused while a big tree of new objects is built."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["paused"]


@contextmanager
def paused() -> Iterator[None]:
    """No collection while the block runs.

    The collector runs after every few hundred new objects that can hold others, and now and
    then over all that survived: while a tree of millions of objects is made (a parse tree, a
    report of 100,000 resources), it walks the part made so far again and again, in vain, for
    a tree holds no cycle. The first collection after the block finds whatever cycles there
    are.
    """
    if not gc.isenabled():  # paused already, by an outer block or by the program
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
