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


class ModelCheckpoint(Callback):
    """Save the model after every epoch (or only when ``monitor`` improves), as Keras does.

    ``filepath`` may contain ``{epoch}`` and log keys, e.g.
    ``"ckpt-{epoch:02d}-{val_loss:.3f}.h5"``.
    ``save_weights_only`` writes ``save_weights`` files, otherwise whole-model ``save`` files.
    ``mode`` is ``'min'``, ``'max'`` or ``'auto'`` (max for accuracy-like names). Every write is
    atomic: a crash never leaves a half-written checkpoint.
    """

    def __init__(self, filepath, monitor: str = "val_loss", verbose: int = 0,
                 save_best_only: bool = False, save_weights_only: bool = False,
                 mode: str = "auto"):
        super().__init__()
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"ModelCheckpoint: mode must be 'auto', 'min' or 'max', got {mode!r}")
        self.filepath = str(filepath)
        self.monitor, self.verbose = monitor, verbose
        self.save_best_only, self.save_weights_only = save_best_only, save_weights_only
        if mode == "auto":
            mode = "max" if "acc" in monitor else "min"
        self.mode = mode
        self.best: float | None = None

    def _improved(self, value: float) -> bool:
        if self.best is None:
            return True
        return value < self.best if self.mode == "min" else value > self.best

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        try:
            path = self.filepath.format(epoch=epoch + 1, **logs)
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(f"ModelCheckpoint: cannot format filepath {self.filepath!r} with "
                             f"epoch and the logs {sorted(logs)} ({exc})") from None
        if self.save_best_only:
            if self.monitor not in logs:
                raise KeyError(f"ModelCheckpoint: monitor {self.monitor!r} is not in the logs "
                               f"{sorted(logs)}; pass validation data or monitor 'loss'")
            value = float(logs[self.monitor])
            if not self._improved(value):
                return
            self.best = value
        if self.save_weights_only:
            self.model.save_weights(path)
        else:
            self.model.save(path)
        if self.verbose:
            print(f"Epoch {epoch + 1}: saved {path}")


class ResumableCheckpoint(Callback):
    """After every epoch, write a checkpoint to resume from after a crash: weights, optimizer
    state (e.g. Adadelta's accumulators), the epoch count and the random state.

        model.fit(x, y, epochs=10, callbacks=[ResumableCheckpoint("run.h5")])   # interrupted
        done = model.load_checkpoint("run.h5")          # in a new process, same model + compile
        model.fit(x, y, epochs=10, initial_epoch=done, callbacks=[ResumableCheckpoint("run.h5")])

    gives the same weights as one uninterrupted run with the same seed.
    """

    def __init__(self, filepath):
        super().__init__()
        self.filepath = filepath

    def on_epoch_end(self, epoch, logs=None):
        self.model.save_checkpoint(self.filepath, epoch + 1)
