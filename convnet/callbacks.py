"""Callbacks: hooks ``fit`` calls at the start/end of training, epochs and batches.

As in Keras, the built-in callbacks never stop a run over the logs' keys: a ``monitor`` (or a
``ModelCheckpoint`` filepath field) missing from the logs -- ``'val_loss'`` without validation
data, say -- gives a ``UserWarning`` naming the key and the keys there are, and training goes on.
The older spellings ``acc``/``val_acc`` and the newer ``accuracy``/``val_accuracy`` find each
other's values. An exception raised by a user's own callback propagates, as in Keras.
"""

from __future__ import annotations

import inspect
import numbers
import os
import string
import warnings
from typing import Any

from convnet import not_supported


class Callback:
    """Base class; override the hooks you need. ``self.model`` is set by ``fit``."""

    def __init__(self) -> None:
        self.model: Any = None
        self.params: dict = {}

    def set_model(self, model) -> None:
        self.model = model

    def set_params(self, params: dict) -> None:
        """``fit``'s settings (batch_size, epochs, steps, verbose), as Keras passes them."""
        self.params = dict(params)

    def on_train_begin(self, logs: dict | None = None) -> None: ...
    def on_train_end(self, logs: dict | None = None) -> None: ...
    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None: ...
    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None: ...

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        self.on_batch_begin(batch, logs)     # Keras 2's name, still called (as Keras 3 does)

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.on_batch_end(batch, logs)

    def on_batch_begin(self, batch: int, logs: dict | None = None) -> None: ...
    def on_batch_end(self, batch: int, logs: dict | None = None) -> None: ...
    def on_test_begin(self, logs: dict | None = None) -> None: ...
    def on_test_end(self, logs: dict | None = None) -> None: ...
    def on_test_batch_begin(self, batch: int, logs: dict | None = None) -> None: ...
    def on_test_batch_end(self, batch: int, logs: dict | None = None) -> None: ...
    def on_predict_begin(self, logs: dict | None = None) -> None: ...
    def on_predict_end(self, logs: dict | None = None) -> None: ...
    def on_predict_batch_begin(self, batch: int, logs: dict | None = None) -> None: ...
    def on_predict_batch_end(self, batch: int, logs: dict | None = None) -> None: ...


# Keras 2.2 logged 'acc' for metrics=['accuracy'], tf.keras and Keras 3 log 'accuracy' (and 'acc'
# for metrics=['acc']): code of either era looks the other spelling up too
_ALIASES = {"acc": "accuracy", "val_acc": "val_accuracy",
            "accuracy": "acc", "val_accuracy": "val_acc"}


def _log_value(logs: dict, key: str):
    """``logs[key]``, else the value under the key's other spelling; None if neither is there."""
    if key in logs:
        return logs[key]
    return logs.get(_ALIASES.get(key, key))


_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep


def _warn(message: str) -> None:
    """A UserWarning shown at the first caller outside convnet (the user's ``fit`` line)."""
    here = inspect.currentframe()
    frame, level = (here.f_back if here is not None else None), 2
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGE):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, UserWarning, stacklevel=level)


def _monitor_value(logs: dict | None, monitor: str, owner: str, consequence: str):
    """The monitored value, or None after a UserWarning naming the key and the available keys."""
    logs = logs or {}
    value = _log_value(logs, monitor)
    if value is None:
        no_validation = monitor.startswith("val_") and not any(k.startswith("val_") for k in logs)
        hint = " (val_* keys need validation data)" if no_validation else ""
        _warn(f"{owner}: monitor {monitor!r} is not in the logs{hint}; available keys: "
              f"{sorted(logs)}. {consequence}")
    return value


class HistoryDict(dict):
    """The ``History.history`` dict: the keys ``fit`` logged, and ``acc``/``val_acc`` and
    ``accuracy``/``val_accuracy`` read each other's lists (the tutorial uses the older names).
    A missing key raises a KeyError that lists the keys that exist."""

    _ALIASES = _ALIASES

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

    def __init__(self) -> None:
        super().__init__()
        self.history: HistoryDict = HistoryDict()
        self.epoch: list[int] = []

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.epoch = []
        self.history = HistoryDict()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.epoch.append(epoch)
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(v)


class CallbackList:
    """Calls the same hook on several callbacks."""

    def __init__(self, callbacks, model) -> None:
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

    def __init__(self) -> None:
        super().__init__()
        self.norms: dict[str, list[float]] = {}
        self.dead_relu: dict[str, list[float]] = {}
        self.batch_norms: dict[str, list[float]] = {}
        self.batch_dead_relu: dict[str, list[float]] = {}
        self.epochs: list[int] = []
        self.epoch_starts: list[int] = []   # index of each epoch's first batch

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
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
            output = getattr(layer, "last_output", None)
            if getattr(layer, "activation", None) == "relu" and output is not None:
                never_active = ~(output > 0).any(axis=0)       # per unit, over the batch
                dead = float(never_active.mean())
                self._dead[layer.name] = self._dead.get(layer.name, 0.0) + dead
                self.batch_dead_relu.setdefault(layer.name, []).append(dead)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.epochs.append(epoch)
        for name, total in self._sums.items():
            self.norms.setdefault(name, []).append(total / max(self._batches, 1))
        for name, total in self._dead.items():
            self.dead_relu.setdefault(name, []).append(total / max(self._batches, 1))


class ModelCheckpoint(Callback):
    """Save the model after every epoch (or only when ``monitor`` improves), as Keras does.

    ``filepath`` may contain ``{epoch}`` and log keys, e.g.
    ``"ckpt-{epoch:02d}-{val_loss:.3f}.h5"``; a key missing from the logs skips that epoch's save
    with a UserWarning (Keras raises a KeyError there; a checkpoint must not end a run). With
    ``save_best_only`` and ``monitor`` missing from the logs, it warns and saves every epoch, as
    Keras does.
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
        try:
            fields = [f for _, f, _, _ in string.Formatter().parse(self.filepath) if f is not None]
        except ValueError as exc:
            raise ValueError(f"ModelCheckpoint: filepath {self.filepath!r} is not a valid format "
                             f"string ({exc})") from None
        if any(f == "" or f.isdigit() for f in fields):
            raise ValueError(f"ModelCheckpoint: filepath {self.filepath!r} has a positional field "
                             "'{}'; name it, e.g. '{epoch:02d}' or '{val_loss:.3f}'")
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

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        fields = {**{alias: logs[key] for key, alias in _ALIASES.items()
                     if key in logs and alias not in logs}, **logs}
        try:
            path = self.filepath.format(epoch=epoch + 1, **fields)
        except KeyError as exc:
            _warn(f"ModelCheckpoint: filepath {self.filepath!r} names {exc}, which is not in "
                  f"the logs; available keys: {sorted(logs)}. No checkpoint is saved while it "
                  "is missing.")
            return
        except ValueError as exc:             # e.g. '{val_loss:02d}' for a float
            _warn(f"ModelCheckpoint: cannot format filepath {self.filepath!r} with the logs "
                  f"{logs} ({exc}). No checkpoint is saved while it fails.")
            return
        if self.save_best_only:
            value = _monitor_value(logs, self.monitor, "ModelCheckpoint",
                                   "Saving every epoch instead of the best one.")
            if value is not None:
                if not self._improved(float(value)):
                    return
                self.best = float(value)
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

    def __init__(self, filepath) -> None:
        super().__init__()
        self.filepath = filepath

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.model.save_checkpoint(self.filepath, epoch + 1)


def _mode_op(mode: str, monitor: str, owner: str) -> str:
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"{owner}: mode must be 'auto', 'min' or 'max', got {mode!r}")
    if mode == "auto":
        mode = "max" if "acc" in monitor else "min"
    return mode


class EarlyStopping(Callback):
    """Stop training when ``monitor`` has not improved by more than ``min_delta`` for
    ``patience`` epochs (Keras's semantics). With ``restore_best_weights`` the model ends with the
    weights of its best epoch."""

    def __init__(self, monitor: str = "val_loss", min_delta: float = 0.0, patience: int = 0,
                 verbose: int = 0, mode: str = "auto", baseline: float | None = None,
                 restore_best_weights: bool = False):
        super().__init__()
        self.monitor, self.verbose = monitor, verbose
        self.min_delta, self.patience = abs(float(min_delta)), int(patience)
        self.mode = _mode_op(mode, monitor, "EarlyStopping")
        self.baseline, self.restore_best_weights = baseline, restore_best_weights

    def _better(self, current: float, reference: float) -> bool:
        if self.mode == "min":
            return current + self.min_delta < reference
        return current - self.min_delta > reference

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.wait, self.stopped_epoch, self.best_epoch = 0, 0, 0
        self.best = float("inf") if self.mode == "min" else float("-inf")
        if self.baseline is not None:
            self.best = float(self.baseline)
        self.best_weights = None

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        value = _monitor_value(logs, self.monitor, "EarlyStopping",
                               "This epoch does not count towards stopping.")
        if value is None:
            return
        current = float(value)
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = self.model.get_weights()
        self.wait += 1
        if self._better(current, self.best):
            self.best, self.best_epoch, self.wait = current, epoch, 0
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True
            if self.restore_best_weights and self.best_weights is not None:
                self.model.set_weights(self.best_weights)
            if self.verbose:
                print(f"Epoch {epoch + 1}: early stopping (best {self.monitor} "
                      f"{self.best:.4f} at epoch {self.best_epoch + 1})")


class LearningRateScheduler(Callback):
    """Set the learning rate at the start of each epoch to ``schedule(epoch, lr)``, or to
    ``schedule(epoch)`` for a one-argument schedule (Keras 2's form, which Keras still accepts)."""

    def __init__(self, schedule, verbose: int = 0) -> None:
        super().__init__()
        if not callable(schedule):
            raise TypeError("LearningRateScheduler: schedule must be a function (epoch, lr) -> lr")
        self.schedule, self.verbose = schedule, verbose

    def _new_rate(self, epoch: int, lr: float):
        try:
            inspect.signature(self.schedule).bind(epoch, lr)
        except TypeError:                     # takes one argument: schedule(epoch)
            return self.schedule(epoch)
        except ValueError:                    # no signature to read: try both, as Keras does
            try:
                return self.schedule(epoch, lr)
            except TypeError:
                return self.schedule(epoch)
        return self.schedule(epoch, lr)

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        lr = self._new_rate(epoch, self.model.optimizer.learning_rate)
        if isinstance(lr, bool) or not isinstance(lr, numbers.Real) or not float(lr) > 0:
            raise ValueError(f"LearningRateScheduler: the schedule returned {lr!r} for epoch "
                             f"{epoch}; it must return a positive number")
        self.model.optimizer.learning_rate = float(lr)
        if self.verbose:
            print(f"Epoch {epoch + 1}: learning rate {lr:.6g}")

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if logs is not None:
            logs["lr"] = self.model.optimizer.learning_rate


class ReduceLROnPlateau(Callback):
    """Multiply the learning rate by ``factor`` when ``monitor`` has not improved by
    ``min_delta`` for ``patience`` epochs; wait ``cooldown`` epochs after a cut; never go below
    ``min_lr`` (Keras's semantics)."""

    def __init__(self, monitor: str = "val_loss", factor: float = 0.1, patience: int = 10,
                 verbose: int = 0, mode: str = "auto", min_delta: float = 1e-4,
                 cooldown: int = 0, min_lr: float = 0.0):
        super().__init__()
        if not 0.0 < float(factor) < 1.0:
            raise ValueError(f"ReduceLROnPlateau: factor must be in (0, 1), got {factor!r}")
        self.monitor, self.factor, self.patience = monitor, float(factor), int(patience)
        self.verbose, self.min_delta = verbose, abs(float(min_delta))
        self.cooldown, self.min_lr = int(cooldown), float(min_lr)
        self.mode = _mode_op(mode, monitor, "ReduceLROnPlateau")

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.wait = self.cooldown_counter = 0
        self.best = float("inf") if self.mode == "min" else float("-inf")

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs if logs is not None else {}
        opt = self.model.optimizer
        logs["lr"] = opt.learning_rate
        value = _monitor_value(logs, self.monitor, "ReduceLROnPlateau",
                               "The learning rate is left as it is this epoch.")
        if value is None:
            return
        current = float(value)
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        better = (current < self.best - self.min_delta if self.mode == "min"
                  else current > self.best + self.min_delta)
        if better:
            self.best, self.wait = current, 0
        elif self.cooldown_counter <= 0:
            self.wait += 1
            if self.wait >= self.patience and opt.learning_rate > self.min_lr:
                opt.learning_rate = max(opt.learning_rate * self.factor, self.min_lr)
                self.cooldown_counter, self.wait = self.cooldown, 0
                if self.verbose:
                    print(f"Epoch {epoch + 1}: ReduceLROnPlateau reducing the learning rate "
                          f"to {opt.learning_rate:.6g}")


class CSVLogger(Callback):
    """Append one CSV row per epoch (``epoch`` and every log value) to ``filename``; the file is
    flushed after every row, so an interrupted run keeps its log."""

    def __init__(self, filename, separator: str = ",", append: bool = False) -> None:
        super().__init__()
        self.filename, self.separator, self.append = str(filename), separator, append

    def on_train_begin(self, logs: dict | None = None) -> None:
        import os

        exists = self.append and os.path.exists(self.filename) and \
            os.path.getsize(self.filename) > 0
        self._file = open(self.filename, "a" if self.append else "w", encoding="utf-8")
        self._keys = None
        if exists:
            with open(self.filename, encoding="utf-8") as f:
                self._keys = f.readline().strip().split(self.separator)[1:]

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        if self._keys is None:
            self._keys = sorted(logs)
            self._file.write(self.separator.join(["epoch", *self._keys]) + "\n")
        row = [str(epoch)] + [repr(float(logs[k])) if k in logs else "NA" for k in self._keys]
        self._file.write(self.separator.join(row) + "\n")
        self._file.flush()

    def on_train_end(self, logs: dict | None = None) -> None:
        self._file.close()


class ProgbarLogger(Callback):
    """Prints the progress of training, as Keras does: ``Epoch 3/10``, then with ``verbose=1``
    a live bar per epoch, with ``verbose=2`` one line per epoch. ``fit`` adds one by itself when
    ``verbose`` is not 0 and none is given. ``count_mode`` and ``stateful_metrics`` (tf-keras's
    arguments) are accepted; the bar always counts batches."""

    def __init__(self, count_mode: str = "steps", stateful_metrics=None) -> None:
        super().__init__()
        if count_mode not in ("steps", "samples"):
            raise ValueError(f"ProgbarLogger: count_mode must be 'steps' or 'samples', got "
                             f"{count_mode!r}")
        self.bar: Any = None
        self.seen = 0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        import sys
        import time

        from convnet.progress import ProgressBar

        self.verbose = self.params.get("verbose", 1)
        steps = self.params.get("steps")
        self.started, self.seen, self.bar = time.perf_counter(), 0, None
        if self.verbose:
            print(f"Epoch {epoch + 1}/{self.params.get('epochs', '?')}", flush=True)
        if self.verbose == 1 and steps:
            self.bar = ProgressBar(steps, stream=sys.stdout)

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.seen = batch + 1
        if self.bar is not None:
            self.bar.update(batch + 1, logs or {})

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        import time

        from convnet.progress import format_logs

        if self.bar is not None:
            self.bar.finish(logs or {})
        elif self.verbose:
            took = time.perf_counter() - self.started
            print(f"{self.seen}/{self.seen} - {took:.0f}s{format_logs(logs or {})}", flush=True)
        self.bar = None

    def on_train_end(self, logs: dict | None = None) -> None:
        if self.bar is not None and self.bar.live:       # an epoch cut short: end its line
            print(flush=True)
        self.bar = None


class LambdaCallback(Callback):
    """A callback made of functions, as Keras's::

        LambdaCallback(on_epoch_end=lambda epoch, logs: print(epoch, logs["loss"]),
                       on_train_end=lambda logs: print("done"))

    ``on_epoch_begin``/``on_epoch_end`` take ``(epoch, logs)``, ``on_train_begin``/
    ``on_train_end`` take ``(logs)``, the batch hooks (``on_train_batch_begin``/``_end`` and
    tf-keras's ``on_batch_begin``/``_end``) ``(batch, logs)``; any other hook of
    :class:`Callback` may be given by name too."""

    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_train_begin=None,
                 on_train_end=None, on_train_batch_begin=None, on_train_batch_end=None,
                 **kwargs) -> None:
        super().__init__()
        hooks = dict(on_epoch_begin=on_epoch_begin, on_epoch_end=on_epoch_end,
                     on_train_begin=on_train_begin, on_train_end=on_train_end,
                     on_train_batch_begin=on_train_batch_begin,
                     on_train_batch_end=on_train_batch_end, **kwargs)
        for name, function in hooks.items():
            if not (name.startswith("on_") and callable(getattr(Callback, name, None))):
                raise TypeError(f"LambdaCallback: unknown hook {name!r}; the hooks are "
                                f"{sorted(n for n in dir(Callback) if n.startswith('on_'))}")
            if function is None:
                continue
            if not callable(function):
                raise TypeError(f"LambdaCallback: {name} must be a function, got {function!r}")
            takes_index = name.startswith("on_epoch") or "batch" in name
            setattr(self, name, _hook(function, takes_index))


def _hook(function, takes_index: bool):
    """A hook calling ``function(index, logs)`` or ``function(logs)`` with positional logs (fit
    calls some hooks without ``logs``; a user's ``lambda logs: ...`` still gets them)."""
    if takes_index:
        return lambda index, logs=None: function(index, logs)
    return lambda logs=None: function(logs)


class TerminateOnNaN(Callback):
    """Stop training when a batch's loss is NaN or infinite (Keras's callback).

    convnet's ``fit`` already does this by itself, before the bad batch changes any weight (and
    says so in a RuntimeWarning); this callback is here so Keras code runs unchanged, and it also
    stops a run whose logged loss turns non-finite any other way."""

    def on_batch_end(self, batch: int, logs: dict | None = None) -> None:
        import math

        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            print(f"Batch {batch}: Invalid loss, terminating training")
            self.model.stop_training = True


class BackupAndRestore(Callback):
    """Back the run up after every epoch into ``backup_dir``; if a run is interrupted (killed,
    crashed), the same ``fit`` call started again resumes after the last finished epoch, as
    Keras's callback does::

        model.fit(x, y, epochs=20, callbacks=[BackupAndRestore("backup")])

    The backup is a :meth:`~convnet.models.Model.save_checkpoint` file (weights, optimizer state,
    epoch count, random state: the resumed run gives the same weights as an uninterrupted one,
    see :class:`ResumableCheckpoint`). A finished run deletes it (``delete_checkpoint``). A
    backup that cannot be read or written gives a UserWarning; the run goes on."""

    FILENAME = "checkpoint.h5"

    def __init__(self, backup_dir, save_freq="epoch", delete_checkpoint: bool = True,
                 double_checkpoint: bool = False, save_before_preemption: bool = False) -> None:
        super().__init__()
        if not backup_dir:
            raise ValueError("BackupAndRestore: backup_dir is required (a directory name)")
        if save_freq != "epoch":
            raise ValueError(f"BackupAndRestore: save_freq must be 'epoch', got {save_freq!r}; "
                             "convnet resumes training at epoch boundaries")
        self.backup_dir = os.fspath(backup_dir)
        self.delete_checkpoint = bool(delete_checkpoint)
        self.path = os.path.join(self.backup_dir, self.FILENAME)

    def on_train_begin(self, logs: dict | None = None) -> None:
        if not os.path.exists(self.path):
            return
        try:
            done = self.model.load_checkpoint(self.path)
        except Exception as exc:                     # a wrong or damaged backup: start afresh
            _warn(f"BackupAndRestore: cannot restore from {self.path} ({exc}); training starts "
                  "from the beginning and the backup will be overwritten.")
            return
        self.model.resumed_epoch = done

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        try:
            os.makedirs(self.backup_dir, exist_ok=True)
            self.model.save_checkpoint(self.path, epoch + 1)
        except OSError as exc:
            _warn(f"BackupAndRestore: cannot write the backup {self.path} ({exc}); training "
                  "goes on without it.")

    def on_train_end(self, logs: dict | None = None) -> None:
        if self.delete_checkpoint and os.path.exists(self.path):
            os.remove(self.path)


class TensorBoard(Callback):
    """Not available: TensorBoard reads TensorFlow event files, which convnet does not write.
    Creating one raises an error that points to :class:`CSVLogger`."""

    def __init__(self, *args, **kwargs) -> None:
        raise NotImplementedError(
            "TensorBoard is not available in convnet (it needs TensorFlow's event files). Log "
            "every epoch's metrics with callbacks.CSVLogger('training.csv') instead, and plot "
            "them with convnet.visualize.plot_history(model.history) or any CSV tool.")


# the live page's callback lives with the server it feeds (docs/serve.md)
from convnet.serve.live import LiveView  # noqa: E402,F401

# a Keras name convnet knowingly lacks is refused with its reason (convnet/not_supported.py)
__getattr__ = not_supported.module_getattr(__name__)
