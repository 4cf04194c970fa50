"""Scratch arrays kept between batches.

Allocating a large array afresh every batch costs about as much as filling it: the operating
system hands out new pages one fault at a time. A :class:`Scratch` keeps one array per key and
hands back a view of the size asked for, growing it when needed. Per-core tasks run side by side,
so each worker thread gets its own arrays (:meth:`Scratch.mine`).
"""

from __future__ import annotations

import threading
from collections.abc import Hashable

import numpy as np


class Scratch:
    """Reused scratch arrays, one per key (and per thread for :meth:`mine`)."""

    def __init__(self) -> None:
        self._arrays: dict[Hashable, np.ndarray] = {}

    def get(self, key: Hashable, shape: tuple, dtype) -> np.ndarray:
        """An uninitialised array of ``shape`` and ``dtype``, the same memory on every call with
        this key (so a caller must be done with the last one before asking again)."""
        size = int(np.prod(shape))
        array = self._arrays.get(key)
        if array is None or array.size < size or array.dtype != np.dtype(dtype):
            array = self._arrays[key] = np.empty(size, dtype=dtype)
        return array[:size].reshape(shape)

    def mine(self, name: str, shape: tuple, dtype) -> np.ndarray:
        """:meth:`get` for the calling thread alone."""
        return self.get((name, threading.get_ident()), shape, dtype)
