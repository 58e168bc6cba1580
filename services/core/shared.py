"""One instance per process of something expensive to build (a spatial index, a gazetteer, a model).

Built on first use, once, even when several threads ask at the same moment; the stream worker, the API and
the CLI all go through it, so each process loads the data exactly once. Tests may put in their own.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Shared(Generic[T]):
    def __init__(self, factory: Callable[[], T]) -> None:
        self._factory = factory
        self._value: T | None = None
        self._lock = threading.Lock()

    def get(self) -> T:
        value = self._value
        if value is None:
            with self._lock:
                if self._value is None:
                    self._value = self._factory()
                value = self._value
        return value

    def set(self, value: T | None) -> None:
        """Replace the instance (None: build anew on next use)."""
        self._value = value
