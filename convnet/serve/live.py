"""Watching training: the :class:`LiveView` callback and the :class:`Broadcaster` it feeds.

``fit(..., callbacks=[LiveView()])`` (or ``convnet train --live``) starts a ``convnet serve``
page in a background thread and pushes a snapshot at every epoch end (and every
``every_n_batches`` batches): the logs (loss, accuracy, ...), the first Conv2D layer's filters,
and the predictions on a fixed panel of test digits. The page receives them as server-sent
events (``GET /api/live``) and can fetch them all again (``GET /api/live/history``) to scrub
back. While ``fit`` runs, the endpoints that run the model answer 409 (the model belongs to
``fit``); when training ends they serve the trained model.

A callback must never end a training run: any error in LiveView is caught, warned about once,
and LiveView goes quiet.
"""

from __future__ import annotations

import math
import threading
import warnings
from typing import Any

import numpy as np

from convnet.callbacks import Callback


class Broadcaster:
    """Every snapshot so far, numbered from 0 (``seq``), and a way to wait for new ones."""

    def __init__(self) -> None:
        self._events: list[dict] = []
        self._cond = threading.Condition()
        self.finished = False

    def publish(self, event: dict) -> dict:
        """Append ``event`` (``seq`` is set) and wake every waiting stream."""
        with self._cond:
            event = dict(event, seq=len(self._events))
            self._events.append(event)
            self._cond.notify_all()
        return event

    def finish(self) -> None:
        """No more events: streams end once they have sent everything."""
        with self._cond:
            self.finished = True
            self._cond.notify_all()

    def wake(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def history(self) -> list[dict]:
        with self._cond:
            return list(self._events)

    def wait(self, after: int, timeout: float, finished: bool = False) -> tuple[list[dict], bool]:
        """The events numbered ``after`` and up, waiting up to ``timeout`` seconds for one or
        for ``finished`` (what the caller last saw) to change; and whether training has
        finished."""
        with self._cond:
            if len(self._events) <= after and self.finished == finished:
                self._cond.wait(timeout)
            return self._events[after:], self.finished


TRAINING = ("the model is training (LiveView): this view runs the model again when fit ends; "
            "the live snapshots are at /api/live")


class LiveView(Callback):
    """Stream training snapshots to a ``convnet serve`` page (server-sent events).

    Args:
        port: 0 picks a free port; ``url`` says which.
        host: the address to bind (127.0.0.1: this machine only).
        panel: how many test digits to follow (the first ``panel`` MNIST test images, for a
            model with 28x28x1 inputs; none otherwise, unless ``panel_images`` are given).
        every_n_batches: also send a snapshot every this many batches (None: epoch ends only).
        open_browser: open the page in a browser when training starts.
        panel_images / panel_labels: your own panel, ``(n, *input_shape)`` in [0, 1].

    The server starts when ``fit`` begins (or at :meth:`start`) and keeps serving after it
    ends, with the trained model, until :meth:`close` or the end of the program.
    """

    def __init__(self, port: int = 0, host: str = "127.0.0.1", panel: int = 16,
                 every_n_batches: int | None = None, open_browser: bool = False,
                 panel_images=None, panel_labels=None):
        super().__init__()
        if every_n_batches is not None and (isinstance(every_n_batches, bool) or
                                            int(every_n_batches) != every_n_batches or
                                            every_n_batches < 1):
            raise ValueError(f"LiveView: every_n_batches must be a positive integer or None, "
                             f"got {every_n_batches!r}")
        if isinstance(panel, bool) or not isinstance(panel, int) or panel < 0:
            raise ValueError(f"LiveView: panel must be a number of test digits >= 0, "
                             f"got {panel!r}")
        self.port, self.host, self.panel = int(port), host, panel
        self.every_n_batches = None if every_n_batches is None else int(every_n_batches)
        self.open_browser = bool(open_browser)
        self.broadcaster = Broadcaster()
        self.server: Any = None
        self._panel_x = None if panel_images is None else np.asarray(panel_images)
        self._panel_y = None if panel_labels is None else np.asarray(panel_labels).reshape(-1)
        self._panel_index: list[int] = []
        self._epoch = 0
        self._failed = False

    @property
    def url(self) -> str | None:
        """Where the page is (None before the server starts)."""
        return None if self.server is None else self.server.url

    def start(self, model=None) -> str:
        """Start the server for ``model`` (fit's model by default) now; returns the URL."""
        if model is not None:
            self.set_model(model)
        if self.server is None:
            from convnet.serve import server
            self.server = server.start(self.model, self.host, self.port, self.broadcaster,
                                       busy=TRAINING)
            if self.open_browser:
                import webbrowser
                webbrowser.open(self.server.url)
        return self.server.url

    def close(self) -> None:
        """Stop the server."""
        if self.server is not None:
            self.server.close()
            self.server = None

    # ----- fit's hooks, each guarded --------------------------------------------------------
    def _guard(self, what: str, action, *args) -> None:
        if self._failed:
            return
        try:
            action(*args)
        except Exception as exc:          # a callback never ends a run
            self._failed = True
            warnings.warn(f"LiveView stopped ({what}: {type(exc).__name__}: {exc}); training "
                          "goes on without it", RuntimeWarning, stacklevel=3)

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._guard("starting the server", self._begin)

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        n = self.every_n_batches
        if n is not None and (batch + 1) % n == 0:
            self._guard("a batch snapshot", self._publish, "batch", batch + 1, logs)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch = epoch
        self._guard("an epoch snapshot", self._publish, "epoch", None, logs)

    def on_train_end(self, logs: dict | None = None) -> None:
        self._guard("ending", self._end)

    # ----- the work -------------------------------------------------------------------------
    def _begin(self) -> None:
        self.start()
        session = self.server.session
        with session.lock:                    # requests already running finish first
            session.busy = TRAINING
        self.broadcaster.finished = False
        self._choose_panel()

    def _end(self) -> None:
        if self.server is not None:
            self.server.session.busy = None
        self.broadcaster.finish()

    def _choose_panel(self) -> None:
        if self._panel_x is not None or self.panel == 0:
            return
        from convnet.serve.passes import sample_shape
        if sample_shape(self.model) != (28, 28, 1):
            return
        from convnet.serve.api import mnist_test_set
        x, y = mnist_test_set()
        self._panel_index = list(range(min(self.panel, len(x))))
        self._panel_x = x[:self.panel].reshape(-1, 28, 28, 1).astype("float32") / 255
        self._panel_y = y[:self.panel]

    def snapshot(self, kind: str, batch: int | None, logs: dict | None) -> dict:
        """One event: ``epoch`` (1-based: the epoch running or just finished), ``batch``
        (batches done in it, None at an epoch end), ``kind``, the logs, the first Conv2D's
        filters, and the panel's predictions (``index`` into the MNIST test set, which
        /api/test_image serves; a panel of your own carries each ``image`` too)."""
        from convnet.serve.arrays import to_json
        model = self.model
        filters = None
        for layer in model.layers:
            if type(layer).__name__ == "Conv2D":
                filters = {layer.name: to_json(layer.params["kernel"])}
                break
        panel = None
        if self._panel_x is not None and len(self._panel_x):
            probs = model.predict(self._panel_x)
            labels = [None] * len(probs) if self._panel_y is None else self._panel_y
            index = self._panel_index or list(range(len(probs)))
            panel = [{"index": int(i), "label": None if t is None else int(t),
                      "predicted": int(np.argmax(p)), "probabilities": to_json(p)}
                     for i, t, p in zip(index, labels, probs)]
            if not self._panel_index:          # your own digits: the page cannot fetch them
                for entry, image in zip(panel, self._panel_x):
                    entry["image"] = to_json(np.squeeze(image))
        return {"kind": kind, "epoch": self._epoch + 1, "batch": batch,
                "logs": {k: _number(v) for k, v in (logs or {}).items()},
                "filters": filters, "panel": panel}

    def _publish(self, kind: str, batch: int | None, logs: dict | None) -> None:
        self.broadcaster.publish(self.snapshot(kind, batch, logs))


def _number(value) -> Any:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return str(value)
    return value if math.isfinite(value) else None
