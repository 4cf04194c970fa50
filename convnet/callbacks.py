"""Callbacks: hooks ``fit`` calls at the start/end of training, epochs and batches."""

from __future__ import annotations

from typing import Any


class Callback:
    """Base class; override the hooks you need. ``self.model`` is set by ``fit``."""

    def __init__(self):
        self.model: Any = None

    def set_model(self, model) -> None:
        self.model = model

    def on_train_begin(self, logs: dict | None = None) -> None: ...
    def on_train_end(self, logs: dict | None = None) -> None: ...
    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None: ...
    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None: ...
    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None: ...
    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None: ...


class HistoryDict(dict):
    """The ``History.history`` dict: Keras's current keys (``accuracy``, ``val_accuracy``), and the
    tutorial's older names ``acc``/``val_acc`` read the same lists. A missing key raises a
    KeyError that lists the keys that exist."""

    _ALIASES = {"acc": "accuracy", "val_acc": "val_accuracy"}

    def __missing__(self, key):
        alias = self._ALIASES.get(key)
        if alias is not None and dict.__contains__(self, alias):
            return dict.__getitem__(self, alias)
        raise KeyError(f"{key!r} is not in the training history; available keys: "
                       f"{sorted(self.keys())}")

    def __contains__(self, key) -> bool:
        alias = self._ALIASES.get(key)
        return dict.__contains__(self, key) or (alias is not None and
                                                dict.__contains__(self, alias))

    def get(self, key, default=None):
        return self[key] if key in self else default


class History(Callback):
    """Records the epoch logs: ``history.history['loss']`` is the list of per-epoch losses."""

    def __init__(self):
        super().__init__()
        self.history: HistoryDict = HistoryDict()
        self.epoch: list[int] = []

    def on_train_begin(self, logs=None):
        self.epoch = []
        self.history = HistoryDict()

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(v)

    @property
    def params(self) -> dict:
        return getattr(self, "_params", {})


class CallbackList:
    """Calls the same hook on several callbacks."""

    def __init__(self, callbacks, model):
        self.callbacks = list(callbacks)
        for cb in self.callbacks:
            if not isinstance(cb, Callback):
                raise TypeError(f"callbacks must be Callback instances, got {cb!r}")
            cb.set_model(model)

    def __getattr__(self, hook):
        def call(*args, **kwargs):
            for cb in self.callbacks:
                getattr(cb, hook)(*args, **kwargs)
        return call


class GradientStats(Callback):
    """Records, per epoch, each layer's mean gradient norm and the fraction of dead ReLUs.

    After every training batch it reads each trainable layer's ``grads`` (the batch's gradient)
    and, for layers with a relu activation, the fraction of units that were zero for every sample
    of the batch. ``norms[layer/param]`` and ``dead_relu[layer]`` hold one value per epoch (the
    mean over that epoch's batches); ``batch_norms`` and ``batch_dead_relu`` hold every batch's
    value. Draw them with :func:`convnet.visualize.plot_gradient_stats`.
    """

    def __init__(self):
        super().__init__()
        self.norms: dict[str, list[float]] = {}
        self.dead_relu: dict[str, list[float]] = {}
        self.batch_norms: dict[str, list[float]] = {}
        self.batch_dead_relu: dict[str, list[float]] = {}
        self.epochs: list[int] = []
        self.epoch_starts: list[int] = []   # index of each epoch's first batch

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch_starts.append(sum(1 for _ in next(iter(self.batch_norms.values()), [])))
        self._sums: dict[str, float] = {}
        self._dead: dict[str, float] = {}
        self._batches = 0

    def on_train_batch_end(self, batch, logs=None):
        import numpy as np

        self._batches += 1
        for layer in self.model.layers:
            for key, grad in layer.grads.items():
                name = f"{layer.name}/{key}"
                norm = float(np.linalg.norm(grad))
                self._sums[name] = self._sums.get(name, 0.0) + norm
                self.batch_norms.setdefault(name, []).append(norm)
            if getattr(layer, "activation", None) == "relu" and getattr(layer, "_y", None) \
                    is not None:
                never_active = ~(layer._y > 0).any(axis=0)     # per unit, over the batch
                dead = float(never_active.mean())
                self._dead[layer.name] = self._dead.get(layer.name, 0.0) + dead
                self.batch_dead_relu.setdefault(layer.name, []).append(dead)

    def on_epoch_end(self, epoch, logs=None):
        self.epochs.append(epoch)
        for name, total in self._sums.items():
            self.norms.setdefault(name, []).append(total / max(self._batches, 1))
        for name, total in self._dead.items():
            self.dead_relu.setdefault(name, []).append(total / max(self._batches, 1))
