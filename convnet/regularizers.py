"""Weight and activity penalties (Keras's ``keras.regularizers``): each is a value and its
gradient, side by side.

A regularizer maps an array ``w`` (a kernel, a bias, or a layer's output) to a number that is
added to the loss the model minimises, and so its gradient is added to ``w``'s gradient::

    L1(l1):          penalty = l1 * sum(|w|)                  gradient = l1 * sign(w)
    L2(l2):          penalty = l2 * sum(w ** 2)               gradient = 2 * l2 * w
    L1L2(l1, l2):    the sum of the two

(``sign(0) = 0``: the subgradient TensorFlow and PyTorch use for ``|w|`` at 0.) There is no
square root and no 1/2: ``L2(0.01)`` adds ``0.01 * sum(w ** 2)``, as in Keras, which is weight
decay of ``2 * 0.01 * learning_rate`` per SGD step.

How a layer uses them (Dense and Conv2D: ``kernel_regularizer``, ``bias_regularizer``; Dense
also ``activity_regularizer``, and the ``ActivityRegularization`` layer) and how the model adds
them to the loss is described in :mod:`convnet.layers.regularized`.

Names and defaults are Keras 3's: ``L1()``/``L2()`` and the strings ``'l1'``/``'l2'`` use 0.01,
``L1L2()`` uses 0 for both. Keras 3 refuses the string ``'l1_l2'`` and makes ``l1_l2()`` a plain
alias of ``L1L2`` (zero penalties); tf-keras gives both 0.01 by default, as Keras 3's own
docstring still says. convnet follows tf-keras there: ``'l1_l2'`` and ``l1_l2()`` mean
``L1L2(0.01, 0.01)``, and ``l1_l2(l1=a)`` keeps ``l2 = 0.01`` as tf-keras does (Keras 3 would set
it to 0) -- pass both factors to mean the same thing everywhere.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from convnet.config_objects import ConfigObject


def _factor(owner: str, what: str, value) -> float:
    """A penalty factor: a finite number >= 0 (Keras's check)."""
    if value is None:
        return 0.0
    try:
        ok = not isinstance(value, bool) and math.isfinite(float(value)) and float(value) >= 0
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"{owner}: {what} must be a finite number >= 0, got {value!r}")
    return float(value)


class Regularizer(ConfigObject):
    """Base class: ``reg(w)`` is the penalty (a float), ``reg.gradient(w)`` its gradient
    (an array shaped like ``w``).

    A user-defined regularizer subclasses this and implements both, since convnet has no
    automatic differentiation (a bare function ``f(w)`` is refused for that reason), plus
    ``get_config`` to be saved."""

    def __call__(self, w: np.ndarray) -> float:
        raise NotImplementedError

    def gradient(self, w: np.ndarray) -> np.ndarray:
        """d penalty / dw, shaped like ``w``."""
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        raise NotImplementedError(f"{type(self).__name__} does not implement get_config()")


class L1L2(Regularizer):
    """``l1 * sum(|w|) + l2 * sum(w ** 2)``; both factors default to 0 (Keras 3's class)."""

    def __init__(self, l1: float = 0.0, l2: float = 0.0):
        self.l1 = _factor("L1L2", "l1", l1)
        self.l2 = _factor("L1L2", "l2", l2)

    def __call__(self, w: np.ndarray) -> float:
        w = np.asarray(w, dtype=np.float64)          # sums of many squares: float64
        penalty = 0.0
        if self.l1:
            penalty += self.l1 * float(np.sum(np.abs(w)))
        if self.l2:
            penalty += self.l2 * float(np.sum(np.square(w)))
        return penalty

    def gradient(self, w: np.ndarray) -> np.ndarray:
        grad = np.zeros_like(w)
        if self.l1:
            grad += w.dtype.type(self.l1) * np.sign(w)
        if self.l2:
            grad += w.dtype.type(2 * self.l2) * w
        return grad

    def get_config(self) -> dict[str, Any]:
        return {"l1": self.l1, "l2": self.l2}


class L1(L1L2):
    """``l1 * sum(|w|)``, ``l1 = 0.01`` by default."""

    def __init__(self, l1: float = 0.01):
        super().__init__(l1=0.01 if l1 is None else _factor("L1", "l1", l1))

    def get_config(self) -> dict[str, Any]:
        return {"l1": self.l1}


class L2(L1L2):
    """``l2 * sum(w ** 2)``, ``l2 = 0.01`` by default."""

    def __init__(self, l2: float = 0.01):
        super().__init__(l2=0.01 if l2 is None else _factor("L2", "l2", l2))

    def get_config(self) -> dict[str, Any]:
        return {"l2": self.l2}


def l1(l1: float = 0.01) -> L1:
    """``L1(l1)``, as ``keras.regularizers.l1``."""
    return L1(l1)


def l2(l2: float = 0.01) -> L2:
    """``L2(l2)``, as ``keras.regularizers.l2``."""
    return L2(l2)


def l1_l2(l1: float = 0.01, l2: float = 0.01) -> L1L2:
    """``L1L2(l1, l2)`` with tf-keras's defaults of 0.01 each (see the module docstring)."""
    return L1L2(l1=l1, l2=l2)


_CLASSES: dict[str, type[Regularizer]] = {"L1": L1, "L2": L2, "L1L2": L1L2}
# every spelling Keras 3 and tf-keras read, and the strings: 'l1', 'l2', 'l1_l2' (tf-keras),
# 'l1l2' (Keras 3's snake case of L1L2, zero factors)
_NAMES: dict[str, Any] = {"L1": L1, "L2": L2, "L1L2": L1L2, "l1": L1, "l2": L2,
                          "l1_l2": l1_l2, "l1l2": L1L2}
_KERAS_ONLY = {"OrthogonalRegularizer", "orthogonal_regularizer"}


def _expected() -> str:
    return ("expected None, 'l1', 'l2', 'l1_l2', a convnet.regularizers object (L1(0.01), "
            "L2(0.01), L1L2(l1=..., l2=...)), or Keras's form {'class_name': 'L2', "
            "'config': {'l2': 0.01}}")


def get(spec) -> Regularizer | None:
    """The regularizer ``spec`` names: None, a name (``'l2'``), an object or its class, or
    Keras's serialised form (``{"class_name": "L2", "config": {"l2": 0.01}}``, with or without
    Keras 3's ``module``/``registered_name``)."""
    if spec is None or isinstance(spec, Regularizer):
        return spec
    if isinstance(spec, type) and issubclass(spec, Regularizer):
        return spec()
    if isinstance(spec, dict):
        return _from_dict(spec)
    if isinstance(spec, str):
        if spec in _NAMES:
            return _NAMES[spec]()
        if spec in _KERAS_ONLY:
            raise ValueError(f"regularizer {spec!r}: Keras has it, convnet does not support it "
                             "(only L1, L2 and L1L2)")
        raise ValueError(f"Unknown regularizer {spec!r}; {_expected()}")
    if callable(spec):
        raise ValueError(f"regularizer {getattr(spec, '__name__', spec)!r}: a plain function "
                         "gives convnet the penalty but not its gradient (convnet has no "
                         "automatic differentiation). Subclass convnet.regularizers.Regularizer "
                         "and implement __call__(w) (the penalty) and gradient(w) (its "
                         "gradient), or use L1/L2/L1L2")
    raise ValueError(f"Unknown regularizer {spec!r}; {_expected()}")


def _from_dict(spec: dict) -> Regularizer:
    name, config = spec.get("class_name"), spec.get("config", {})
    if name in _KERAS_ONLY:
        raise ValueError(f"regularizer {name!r}: Keras has it, convnet does not support it "
                         "(only L1, L2 and L1L2)")
    if name not in _CLASSES or not isinstance(config, dict):
        raise ValueError(f"Unknown regularizer {spec!r}; {_expected()}")
    cls = _CLASSES[name]
    try:
        return cls.from_config(dict(config))
    except TypeError as exc:
        raise ValueError(f"regularizer {name}: bad config {config!r} ({exc})") from None


def serialize(regularizer: Regularizer | None) -> dict | None:
    """Keras's form, ``{"class_name": "L2", "config": {"l2": 0.01}}`` (None for None), which
    tf-keras 2.x and Keras 3 both read."""
    if regularizer is None:
        return None
    return {"class_name": type(regularizer).__name__, "config": regularizer.get_config()}


def deserialize(config: dict) -> Regularizer:
    """The regularizer of a Keras serialised form."""
    reg = get(config)
    assert reg is not None
    return reg
