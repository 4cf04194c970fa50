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


class Progbar:
    """Keras's ``utils.Progbar(target)``: a progress bar for your own loops, drawn by
    :class:`ProgressBar`. ``update(current, values=[("loss", 0.3)])`` moves it to ``current``
    (``values`` are shown as they are), ``add(n)`` moves it on by ``n``; the bar finishes when
    ``current`` reaches ``target``. ``verbose=0`` draws nothing."""

    def __init__(self, target: int, width: int = 30, verbose: int = 1, interval: float = 0.05,
                 stateful_metrics=None, unit_name: str = "step"):
        if isinstance(target, bool) or not isinstance(target, int) or target < 1:
            raise ValueError(f"Progbar: target must be a positive number of steps, got "
                             f"{target!r}")
        self.target, self.verbose = target, verbose
        self._bar = ProgressBar(target, width=width, interval=interval)
        self._seen = 0
        self._done = False

    def update(self, current: int, values=None, finalize: bool | None = None) -> None:
        logs = dict(values or [])
        self._seen = int(current)
        if self.verbose and not self._done:
            if finalize or (finalize is None and self._seen >= self.target):
                self._bar.finish(logs)
                self._done = True
            else:
                self._bar.update(self._seen, logs)

    def add(self, n: int, values=None) -> None:
        self.update(self._seen + n, values)

