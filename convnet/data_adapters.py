"""Turn whatever ``fit``, ``evaluate`` or ``predict`` was given into batches, as Keras 3 does.

The model accepts

* **arrays** ``x``, ``y`` (and ``sample_weight``), cut into ``batch_size`` batches, shuffled each
  epoch when ``shuffle``;
* a **Python generator** (or any iterator or iterable, e.g. a torch ``DataLoader``) yielding
  ``(x, y)`` or ``(x, y, sample_weight)`` batches -- 2018's ``fit_generator`` style;
* a :class:`PyDataset` (``keras.utils.Sequence``): ``__len__`` batches, ``__getitem__(i)`` the
  ``i``-th, ``on_epoch_end()`` called after every epoch; its batch order is shuffled when
  ``shuffle``.

Each becomes an *adapter* with one job: :meth:`batches` yields one pass over the data as
``(x, y, sample_weight)`` tuples, checked by the model's own ``check(x, y)`` (arrays once, a
stream batch by batch). :class:`EpochIterator` cuts that stream into epochs of
``steps_per_epoch`` batches, as Keras 3's does: without ``steps_per_epoch`` an epoch is one pass;
with it, the next epoch continues where the last one stopped (a finite input starts a new pass
once it is used up), and an input that runs out early ends the epoch with Keras's warning.

``class_weight`` (a dict ``{class: weight}``) becomes per-sample weights here, as in Keras: the
class of a sample is its integer label, or the argmax of a one-hot target.
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

Batch = tuple[Any, Any, Any]          # (x, y or None, sample_weight or None)
Check = Callable[[Any, Any], tuple[np.ndarray, Any]]


class PyDataset:
    """Base class of a dataset that makes its batches in Python code (``keras.utils.PyDataset``,
    and its older name ``keras.utils.Sequence``)::

        class Digits(convnet.utils.Sequence):
            def __init__(self, x, y, batch_size):
                super().__init__()
                self.x, self.y, self.batch_size = x, y, batch_size
            def __len__(self):                        # batches per epoch
                return math.ceil(len(self.x) / self.batch_size)
            def __getitem__(self, i):                 # the i-th batch: (x, y) or (x, y, weights)
                s = slice(i * self.batch_size, (i + 1) * self.batch_size)
                return self.x[s], self.y[s]

        model.fit(Digits(x, y, 128), epochs=3)

    ``fit`` asks for every index once per epoch (in shuffled order when ``shuffle=True``) and
    calls ``on_epoch_begin``/``on_epoch_end`` around each epoch. ``workers``,
    ``use_multiprocessing`` and ``max_queue_size`` are accepted for Keras code and do nothing:
    convnet makes the batches one after the other, in the training thread.
    """

    def __init__(self, workers: int = 1, use_multiprocessing: bool = False,
                 max_queue_size: int = 10):
        self.workers = workers
        self.use_multiprocessing = use_multiprocessing
        self.max_queue_size = max_queue_size

    def __getitem__(self, index: int):
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__(index), "
                                  "returning the index-th batch")

    @property
    def num_batches(self) -> int | None:
        """Batches per epoch (``len(self)``); None for an endless dataset."""
        if hasattr(self, "__len__"):
            return len(self)
        return None

    def on_epoch_begin(self) -> None:
        """Called before every epoch."""

    def on_epoch_end(self) -> None:
        """Called after every epoch (reshuffle, augment anew, ...)."""

    def __iter__(self):
        count = self.num_batches
        for index in range(count) if count is not None else itertools.count():
            yield self[index]


Sequence = PyDataset


def is_array_like(x) -> bool:
    """Arrays (NumPy, nested lists and tuples of numbers, anything with ``__array__``) as
    opposed to a stream of batches."""
    return (x is None or isinstance(x, (np.ndarray, list, tuple, int, float, np.generic))
            or hasattr(x, "__array__"))


def _is_pydataset(x) -> bool:
    """A :class:`PyDataset`, or a ``keras.utils.Sequence`` of another library (duck-typed)."""
    return isinstance(x, PyDataset) or (
        not is_array_like(x) and all(hasattr(x, a) for a in
                                     ("__len__", "__getitem__", "on_epoch_end")))


def is_stream(x) -> bool:
    """Whether ``x`` is a generator, iterator, iterable of batches or PyDataset."""
    if is_array_like(x) or isinstance(x, (str, bytes, dict)):
        return False
    return _is_pydataset(x) or hasattr(x, "__iter__") or hasattr(x, "__next__")


def unpack(data, what: str) -> Batch:
    """``(x,)``, ``(x, y)`` or ``(x, y, sample_weight)`` (a list too) -> ``(x, y, sw)``; a bare
    array is ``x`` alone (what ``predict`` takes)."""
    if isinstance(data, list):
        data = tuple(data)
    if not isinstance(data, tuple):
        return data, None, None
    if not 1 <= len(data) <= 3:
        raise ValueError(f"{what}: each batch must be (x,), (x, y) or (x, y, sample_weight); "
                         f"got a tuple of {len(data)} items")
    return (tuple(data) + (None, None))[:3]  # type: ignore[return-value]


def class_weight_to_sample_weights(y, class_weight: dict) -> np.ndarray:
    """Keras's conversion: sample ``i`` gets ``class_weight[class of y_i]`` (1.0 for a class
    the dict does not name); the class is the argmax of a one-hot row, else the rounded label."""
    if not isinstance(class_weight, dict):
        raise TypeError(f"class_weight must be a dict {{class index: weight}}, got "
                        f"{type(class_weight).__name__}")
    labels = np.asarray(y)
    if labels.ndim > 1:
        labels = labels.argmax(axis=-1) if labels.shape[-1] != 1 else labels[..., 0]
    labels = np.round(labels.reshape(len(labels))).astype(np.int64)
    weights = {int(k): float(v) for k, v in class_weight.items()}
    return np.array([weights.get(int(c), 1.0) for c in labels], dtype=np.float64)


def check_sample_weight(sample_weight, n: int, what: str) -> np.ndarray:
    """Per-sample weights of shape ``(n,)`` (``(n, 1)`` accepted), numeric and finite."""
    w = np.asarray(sample_weight)
    if w.dtype.kind not in "fiub":
        raise TypeError(f"{what}: sample_weight must be numeric, got dtype {w.dtype}")
    if w.ndim == 2 and w.shape[1] == 1:
        w = w[:, 0]
    if w.shape != (n,):
        raise ValueError(f"{what}: sample_weight must hold one weight per sample, shape ({n},); "
                         f"got {tuple(w.shape)}")
    if not np.all(np.isfinite(w)):
        raise ValueError(f"{what}: sample_weight contains NaN or inf")
    return w.astype(np.float64)


def _weights(x, y, sample_weight, class_weight, what: str):
    """The batch's sample weights: given ones, or class weights of ``y``, or None."""
    if class_weight is not None and y is not None:
        if sample_weight is not None:
            raise ValueError(f"{what}: give class_weight or sample_weight, not both (Keras 3 "
                             "refuses both at once)")
        return class_weight_to_sample_weights(y, class_weight)
    if sample_weight is not None:
        return check_sample_weight(sample_weight, len(x), what)
    return None


class ArrayAdapter:
    """Batches of ``batch_size`` samples cut from arrays (shuffled anew each pass)."""

    def __init__(self, x, y, sample_weight, *, batch_size: int, shuffle: bool,
                 class_weight, check: Check, what: str):
        self.x, self.y = check(x, y)
        self.sample_weight = _weights(self.x, self.y, sample_weight, class_weight, what)
        self.batch_size, self.shuffle = batch_size, shuffle
        self.num_samples = len(self.x)
        self.num_batches: int | None = -(-self.num_samples // batch_size)

    def batches(self) -> Iterator[Batch]:
        # imported here: convnet.utils imports this module (it re-exports Sequence)
        from convnet import utils

        n, size = self.num_samples, self.batch_size
        order = utils.rng().permutation(n) if self.shuffle else None
        for start in range(0, n, size):
            if order is None:
                idx: Any = slice(start, start + size)
            else:
                idx = np.sort(order[start:start + size])  # same batch, friendlier memory access
            yield (self.x[idx], None if self.y is None else self.y[idx],
                   None if self.sample_weight is None else self.sample_weight[idx])

    def on_epoch_begin(self) -> None: ...
    def on_epoch_end(self) -> None: ...


class StreamAdapter:
    """Batches from a generator, iterator, iterable or :class:`PyDataset`, each checked."""

    def __init__(self, data, *, shuffle: bool, class_weight, check: Check, what: str):
        self.data, self.shuffle, self.class_weight = data, shuffle, class_weight
        self.check, self.what = check, what
        self.dataset = _is_pydataset(data)
        self.num_batches = None
        if self.dataset:
            count = data.num_batches if hasattr(data, "num_batches") else len(data)
            self.num_batches = None if count is None else int(count)

    def _raw(self) -> Iterator:
        if not self.dataset:
            return iter(self.data)        # a generator continues; an iterable starts anew
        if self.num_batches is None:
            return (self.data[i] for i in itertools.count())
        from convnet import utils
        order = (utils.rng().permutation(self.num_batches) if self.shuffle
                 else range(self.num_batches))
        return (self.data[int(i)] for i in order)

    def batches(self) -> Iterator[Batch]:
        for item in self._raw():
            x, y, sample_weight = unpack(item, self.what)
            x, y = self.check(x, y)
            yield x, y, _weights(x, y, sample_weight, self.class_weight, self.what)

    def on_epoch_begin(self) -> None:
        if self.dataset and hasattr(self.data, "on_epoch_begin"):
            self.data.on_epoch_begin()

    def on_epoch_end(self) -> None:
        if self.dataset:
            self.data.on_epoch_end()


Adapter = ArrayAdapter | StreamAdapter
_END: Any = object()           # what next() returns once a stream has no batch left


def adapt(x, y=None, sample_weight=None, *, batch_size: int, shuffle: bool = False,
          class_weight=None, check: Check, what: str) -> Adapter:
    """The adapter for what the user passed; ``check(x, y)`` is the model's validation
    (returns the standardised ``(x, y)``). A stream carries its targets and weights inside its
    batches, so ``y`` and ``sample_weight`` must then be None (Keras's rule)."""
    if is_stream(x):
        kind = "PyDataset" if _is_pydataset(x) else "generator"
        for name, value, inside in (("y", y, "the targets"),
                                    ("sample_weight", sample_weight, "the sample weights")):
            if value is not None:
                raise ValueError(f"{what}: when x is a {kind}, {name} must not be passed; "
                                 f"{inside} come in its batches: (x, y) or (x, y, sample_weight)")
        return StreamAdapter(x, shuffle=shuffle, class_weight=class_weight, check=check,
                             what=what)
    return ArrayAdapter(x, y, sample_weight, batch_size=batch_size, shuffle=shuffle,
                        class_weight=class_weight, check=check, what=what)


def positive_steps(value, what: str) -> int | None:
    """``steps_per_epoch``-like arguments: None, or a positive number of batches. A fraction
    is rounded up, as Keras 2's ``while steps_done < steps_per_epoch`` loop did (its own docs
    wrote ``steps_per_epoch=len(x_train) / 32``)."""
    if value is None:
        return None
    ok = (not isinstance(value, bool) and isinstance(value, (int, float, np.integer, np.floating))
          and math.isfinite(value) and value > 0)
    if not ok:
        raise ValueError(f"{what} must be a positive number of batches or None, got {value!r}")
    return math.ceil(value)


class EpochIterator:
    """An adapter's batches, epoch by epoch (Keras 3's ``EpochIterator``)::

        data = EpochIterator(adapter, steps_per_epoch)
        for epoch in ...:
            for x, y, sample_weight in data.epoch():
                ...
            data.end_epoch()

    ``steps`` is the number of batches per epoch when known (``steps_per_epoch``, or the
    adapter's count, or what a first full pass counted). ``exhausted`` turns True when an
    epoch got no batch at all: the input has run out for good.
    """

    def __init__(self, adapter: Adapter, steps_per_epoch: int | None = None,
                 what: str = "fit"):
        self.adapter = adapter
        self.steps_per_epoch = positive_steps(steps_per_epoch, f"{what}: steps")
        self.what = what
        self.num_batches = adapter.num_batches
        self.exhausted = False
        self._stream: Iterator[Batch] | None = None
        self._seen = 0

    @property
    def steps(self) -> int | None:
        return self.steps_per_epoch or self.num_batches

    def _ran_out(self) -> None:
        warnings.warn(f"{self.what}: your input ran out of data; interrupting the epoch. Make "
                      "sure that your dataset or generator can generate at least "
                      "steps_per_epoch * epochs batches.", UserWarning, stacklevel=4)

    def epoch(self) -> Iterator[Batch]:
        """This epoch's batches."""
        self.adapter.on_epoch_begin()
        count = 0
        if self.steps_per_epoch is None:              # one full pass
            for batch in self.adapter.batches():
                count += 1
                yield batch
            if count:
                self.num_batches = count
            else:
                self._ran_out()
        else:
            known = self.adapter.num_batches
            for _ in range(self.steps_per_epoch):
                if self._stream is None:
                    self._stream, self._seen = iter(self.adapter.batches()), 0
                if known is not None and self._seen >= known:
                    self._stream = None
                    self._ran_out()
                    break
                batch = next(self._stream, _END)
                if batch is _END:
                    self._stream = None
                    self._ran_out()
                    break
                self._seen += 1
                count += 1
                yield batch
            if known is not None and self._seen >= known:
                self._stream = None                   # used up: the next epoch starts anew
        self.exhausted = count == 0

    def end_epoch(self) -> None:
        """Call after each epoch (also after one cut short): the dataset's ``on_epoch_end``."""
        self.adapter.on_epoch_end()
