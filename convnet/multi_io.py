"""Several inputs and several outputs in ``fit``/``evaluate``/``train_on_batch``, as Keras 3.

Data: ``x`` is a list of arrays (one per model input, in order) or a dict by input name; ``y``
likewise per output (by output-layer name). Inside, they travel as one :class:`Arrays`, which
slices and shuffles all of them together, so the data adapters treat it as one array.

Loss: one loss for every output, or a list / dict per output, and ``loss_weights`` ``w_k``::

    L = sum_k w_k * L_k          L_k = the batch-mean loss of output k (sample-weighted)
    dL/d(out_k) = w_k * dL_k/d(out_k)

so backpropagation starts at every output at once, and where the outputs share layers the
gradients add (:func:`convnet.graph.backward`). ``fit`` logs ``loss`` (the weighted total, plus
the regularization penalties), ``<output>_loss`` (unweighted ``L_k``) and
``<output>_<metric>``, with ``val_`` in front for validation, as Keras 3 names them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from convnet import losses
from convnet import metrics as metrics_module


class Arrays:
    """Arrays that share their first (sample) axis: ``len`` is the number of samples, indexing
    or slicing cuts every array the same way; ``arrays`` are the arrays. (Not iterable, so that
    the data adapters take it for one array rather than a stream of batches.)"""

    def __init__(self, arrays: Sequence[np.ndarray], what: str = "x"):
        self.arrays = [np.asarray(a) for a in arrays]
        sizes = [len(a) if a.ndim else None for a in self.arrays]
        if None in sizes:
            raise ValueError(f"{what}: every array needs a batch axis, got a scalar")
        if len(set(sizes)) > 1:
            raise ValueError(f"{what}: the arrays hold different numbers of samples {sizes}; "
                             "every input and output array needs one row per sample")

    def __len__(self) -> int:
        return len(self.arrays[0])

    def __getitem__(self, index) -> Arrays:
        return Arrays([a[index] for a in self.arrays])

    @property
    def shape(self) -> tuple:
        """``(samples,)``: what the error messages about a whole batch print."""
        return (len(self),)


def unpack(data) -> list:
    """The list of arrays in an :class:`Arrays` (or a list / tuple of arrays)."""
    return data.arrays if isinstance(data, Arrays) else list(data)


def gather(data, names: Sequence[str], what: str, kind: str = "inputs") -> list:
    """``data`` for tensors called ``names`` as a list in their order: a list/tuple of one item
    per tensor, a dict by name, an :class:`Arrays`, or (for one tensor) the item itself."""
    if isinstance(data, Arrays):
        data = data.arrays
    if isinstance(data, dict):
        unknown = sorted(set(data) - set(names))
        missing = [n for n in names if n not in data]
        if unknown or missing:
            raise ValueError(f"{what}: the dict's keys must be the names {list(names)}; "
                             + (f"unknown {unknown}" if unknown else "")
                             + ("; " if unknown and missing else "")
                             + (f"missing {missing}" if missing else ""))
        return [data[n] for n in names]
    if isinstance(data, (list, tuple)) and not _is_one_array(data, len(names)):
        if len(data) != len(names):
            raise ValueError(f"{what}: the model has {len(names)} {kind} {list(names)}, got a "
                             f"list of {len(data)} arrays")
        return list(data)
    if len(names) != 1:
        raise ValueError(f"{what}: the model has several {kind} {list(names)}; pass a list of "
                         f"{len(names)} arrays or a dict by name, got one array")
    return [data]


def _is_one_array(data, count: int) -> bool:
    """Whether a list is one array written as nested lists (numbers inside) for one tensor."""
    return count == 1 and len(data) > 0 and not hasattr(data[0], "shape") \
        and not isinstance(data[0], (list, tuple))


def per_output(value, names: Sequence[str], what: str, default=None) -> list:
    """A compile argument for each output: one value for all, a list in output order, or a dict
    by output name (outputs it does not name get ``default``)."""
    if isinstance(value, dict):
        unknown = sorted(set(value) - set(names))
        if unknown:
            raise ValueError(f"compile: {what} names {unknown}, which are not outputs; the "
                             f"outputs are {list(names)}")
        return [value.get(n, default) for n in names]
    if isinstance(value, (list, tuple)):
        if len(value) != len(names):
            raise ValueError(f"compile: {what} has {len(value)} entries but the model has "
                             f"{len(names)} outputs {list(names)}; give one per output or a "
                             "dict by output name")
        return list(value)
    return [value] * len(names)


class OutputLosses:
    """The losses, weights and metrics of a model with several outputs, and their running
    averages over the batches since :meth:`reset`."""

    def __init__(self, names: Sequence[str], loss, loss_weights=None, metrics=None):
        self.names = list(names)
        loss_list = per_output(loss, self.names, "loss")
        if any(item is None for item in loss_list):
            missing = [n for n, item in zip(self.names, loss_list) if item is None]
            raise ValueError(f"compile: no loss for output(s) {missing}")
        self.losses = [losses.get_loss(item) for item in loss_list]
        weights = per_output(1.0 if loss_weights is None else loss_weights, self.names,
                             "loss_weights", default=1.0)
        self.weights = [float(w) for w in weights]
        metrics = metrics or None                       # [] and {} mean none, as None
        if metrics is not None and not isinstance(metrics, dict) and (
                not isinstance(metrics, (list, tuple)) or len(metrics) != len(self.names)):
            raise ValueError(f"compile: with {len(self.names)} outputs {self.names}, metrics "
                             "must be a list with one entry (a metric or a list of metrics) per "
                             "output, or a dict by output name, as Keras 3 requires; got "
                             f"{metrics!r}")
        per = [[]] * len(self.names) if metrics is None else \
            per_output(metrics, self.names, "metrics", default=[])
        self.metrics: list[list[tuple[str, metrics_module.Metric]]] = []
        for item in per:
            item = [] if item is None else item
            item = [item] if isinstance(item, str) or callable(item) else list(item)
            self.metrics.append([metrics_module.get(m) for m in item])
        self._total = metrics_module.Mean("loss")
        self._parts = [metrics_module.Mean(f"{n}_loss") for n in self.names]

    @property
    def metrics_names(self) -> list[str]:
        """``loss``, ``<output>_loss`` per output, then ``<output>_<metric>``, as Keras 3."""
        return (["loss"] + [f"{n}_loss" for n in self.names]
                + [f"{n}_{m}" for n, ms in zip(self.names, self.metrics) for m, _ in ms])

    def reset(self) -> None:
        self._total.reset_state()
        for mean in self._parts:
            mean.reset_state()
        for ms in self.metrics:
            for _, metric in ms:
                metric.reset_state()

    def total(self, ys: Sequence[np.ndarray], outs: Sequence[np.ndarray],
              sample_weight=None) -> tuple[float, list[float]]:
        """The weighted total ``sum_k w_k L_k`` of one batch and the ``L_k``."""
        parts = [losses.weighted_mean(loss.call(y, out), sample_weight)
                 for loss, y, out in zip(self.losses, ys, outs)]
        return float(sum(w * p for w, p in zip(self.weights, parts))), parts

    def update(self, ys, outs, sample_weight, regularization: float) -> list[float]:
        """Add one batch; the running ``[loss, *<output>_loss, *<output>_<metric>]``."""
        total, parts = self.total(ys, outs, sample_weight)
        n = len(ys[0])
        self._total.update_state(total + regularization, sample_weight=n)
        for mean, part in zip(self._parts, parts):
            mean.update_state(part, sample_weight=n)
        for ms, y, out in zip(self.metrics, ys, outs):
            for _, metric in ms:
                metric.update_state(y, out)
        return ([self._total.result()] + [mean.result() for mean in self._parts]
                + [metric.result() for ms in self.metrics for _, metric in ms])

    def gradients(self, ys, outs, sample_weight=None) -> list[np.ndarray]:
        """``w_k dL_k/d(out_k)`` for each output: where backpropagation starts."""
        return [losses.weight_gradient(w * loss.gradient(y, out), sample_weight)
                for w, loss, y, out in zip(self.weights, self.losses, ys, outs)]
