"""Keep the C allocator from handing big arrays back to the OS after every batch.

A training step creates and frees arrays of 5-20 MB (layer outputs, gradients). glibc's malloc
serves blocks that large with fresh ``mmap`` pages, or gives the top of its heap back to the OS
when they are freed, so the next batch faults every page in again, one 4 KB page at a time, each
zeroed by the kernel: ~2,000 page faults per step. Raising the thresholds keeps the freed memory
in the process for the next batch (what that saves: ``benchmarks/README.md``).

The cost: memory freed by convnet stays with the process (up to the 1 GB trim threshold) instead
of going back to the OS; peak memory does not grow. Only glibc (Linux) has these knobs; elsewhere
this does nothing. ``CONVNET_MALLOC_TUNING=0`` in the environment turns it off.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

# mallopt parameter numbers from glibc's <malloc.h>
M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3

SETTINGS = {
    M_MMAP_THRESHOLD: 32 * 2**20,   # blocks below 32 MB (glibc's maximum) come from the heap
    M_TRIM_THRESHOLD: 2**30,        # keep up to 1 GB of freed heap instead of returning it
    M_TOP_PAD: 64 * 2**20,          # and grow the heap in 64 MB steps
}


def tune_malloc() -> bool:
    """Apply :data:`SETTINGS` with glibc's ``mallopt``; True when all were accepted."""
    if os.environ.get("CONVNET_MALLOC_TUNING", "1") == "0" or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):      # not glibc (e.g. musl): nothing to tune
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return all(mallopt(param, value) == 1 for param, value in SETTINGS.items())
