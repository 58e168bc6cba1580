"""Make a faust table write inside a batch (services.enrich.batching) land on the right changelog partition.

faust finds the partition of a table write from the *current event*, a context variable that its stream
iteration sets for one event at a time. Processing a batch after iteration moved on (needed so a batch of reports
becomes one vectorised geotag query) leaves that variable unset, so we set it per event ourselves.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from contextlib import contextmanager

import faust
from faust.streams import _current_event


@contextmanager
def current_event(event: faust.EventT) -> Iterator[None]:
    token = _current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        _current_event.reset(token)
