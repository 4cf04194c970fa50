"""A one-line notice when compiling convnet's kernels keeps a first run waiting.

The first time a model trains or predicts on a machine, numba compiles the kernels it needs
(a few seconds) and caches them, so later processes start at once. A user who sees nothing
happen for seconds thinks the program hangs, so once convnet's compiling has taken more than
:data:`AFTER` seconds in this process, this prints to stderr::

    convnet: compiling kernels for this machine (first run only, cached afterwards)...

It listens to numba's ``numba:compile`` events and counts only compiles of convnet's own
functions; a cached kernel raises no event. ``CONVNET_COMPILE_NOTICE=0`` turns it off.
"""

from __future__ import annotations

import os
import sys
import threading
import time

from numba.core import event

AFTER = 1.0   # seconds of compiling before the notice
MESSAGE = "convnet: compiling kernels for this machine (first run only, cached afterwards)..."


class CompileNotice(event.Listener):
    """Sums the time spent compiling convnet's functions and prints :data:`MESSAGE` once, from a
    timer, when the sum passes ``after`` seconds while a compile is still running."""

    def __init__(self, after: float = AFTER, stream=None, module_prefix: str = "convnet."):
        self.after = after
        self.module_prefix = module_prefix
        self.stream = stream
        self.spent = 0.0
        self.printed = False
        self._depth = 0
        self._started = 0.0
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()

    def _ours(self, ev) -> bool:
        dispatcher = (ev.data or {}).get("dispatcher")
        module = getattr(getattr(dispatcher, "py_func", None), "__module__", "") or ""
        return module.startswith(self.module_prefix)

    def on_start(self, ev) -> None:
        if self.printed or not self._ours(ev):
            return
        with self._lock:
            self._depth += 1
            if self._depth == 1:          # the outermost compile: nested ones are inside it
                self._started = time.perf_counter()
                self._timer = threading.Timer(max(0.0, self.after - self.spent), self._print)
                self._timer.daemon = True
                self._timer.start()

    def on_end(self, ev) -> None:
        if not self._ours(ev):
            return
        with self._lock:
            if self._depth == 0:
                return
            self._depth -= 1
            if self._depth == 0:
                self.spent += time.perf_counter() - self._started
                if self._timer is not None:
                    self._timer.cancel()
                    self._timer = None

    def _print(self) -> None:
        with self._lock:
            if self.printed or self._depth == 0:
                return
            self.printed = True
        stream = self.stream or sys.stderr
        try:
            print(MESSAGE, file=stream, flush=True)
        except (OSError, ValueError):     # a closed stderr must not break a run
            pass


NOTICE = CompileNotice()
_installed = False


def install() -> None:
    """Listen to numba's compile events (once per process), unless turned off."""
    global _installed
    if _installed or os.environ.get("CONVNET_COMPILE_NOTICE", "1") == "0":
        return
    event.register("numba:compile", NOTICE)
    _installed = True
