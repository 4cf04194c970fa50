"""The live progress bar ``fit`` shows with ``verbose=1`` (Keras's look)::

    Epoch 1/10
    469/469 [==============================] - 41s 87ms/step - loss: 0.2381 - accuracy: 0.9271

On a terminal the line is redrawn in place with an ETA; when output goes to a file or a pipe only
the finished line of each epoch is printed, so logs stay readable.
"""

from __future__ import annotations

import sys
import time


def _format_duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
    if seconds >= 60:
        return f"{seconds // 60}:{seconds % 60:02d}"
    return f"{seconds}s"


def format_logs(logs: dict) -> str:
    return "".join(f" - {k}: {v:.4f}" for k, v in logs.items())


class ProgressBar:
    """Progress over ``total`` steps: :meth:`update` after each step, :meth:`finish` at the end."""

    def __init__(self, total: int, width: int = 30, stream=None, interval: float = 0.1):
        self.total = total
        self.width = width
        self.stream = stream if stream is not None else sys.stdout
        self.interval = interval
        self.live = bool(getattr(self.stream, "isatty", lambda: False)())
        self.start = time.perf_counter()
        self._last_draw = 0.0

    def _bar(self, step: int) -> str:
        digits = len(str(self.total))
        done = int(self.width * step / max(self.total, 1))
        arrow = "=" * done if step >= self.total else "=" * max(done - 1, 0) + ">"
        return f"{step:{digits}d}/{self.total} [{arrow:.<{self.width}}]"

    def update(self, step: int, logs: dict) -> None:
        if not self.live:
            return
        now = time.perf_counter()
        if now - self._last_draw < self.interval and step < self.total:
            return
        self._last_draw = now
        elapsed = now - self.start
        eta = elapsed / step * (self.total - step) if step else 0.0
        line = f"{self._bar(step)} - ETA: {_format_duration(eta)}{format_logs(logs)}"
        self.stream.write("\r" + line + " " * 4)
        self.stream.flush()

    def finish(self, logs: dict) -> None:
        elapsed = time.perf_counter() - self.start
        per_step = elapsed / max(self.total, 1)
        line = (f"{self._bar(self.total)} - {_format_duration(elapsed)} "
                f"{per_step * 1000:.0f}ms/step{format_logs(logs)}")
        if self.live:
            line = "\r" + line + " " * 4
        self.stream.write(line + "\n")
        self.stream.flush()
