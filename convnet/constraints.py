"""Weight constraints (Keras's ``keras.constraints``): projections applied to a weight right
after every optimizer step, ``w <- constraint(w)``.

Norms are taken along ``axis`` (the axes that are summed), one norm per remaining index::

    MaxNorm(m):          w * clip(n, 0, m) / (eps + n)          n = sqrt(sum(w ** 2, axis))
    MinMaxNorm(lo, hi, rate):
                         w * (rate * clip(n, lo, hi) + (1 - rate) * n) / (eps + n)
    UnitNorm():          w / (eps + n)
    NonNeg():            max(w, 0)

``eps`` is :func:`convnet.backend.epsilon` (1e-7), as in Keras. The default ``axis=0`` suits a
Dense kernel ``(in, units)``: each unit's incoming weight vector is constrained. For a Conv2D
kernel ``(KH, KW, C, filters)`` pass ``axis=[0, 1, 2]`` to constrain each filter as a whole
(the dropout paper's max-norm idiom: ``Conv2D(..., kernel_constraint=max_norm(3, axis=[0, 1,
2]))``). Constraints change weights only; they have no gradient and add nothing to the loss.

Names, defaults and the JSON form are Keras 3's (``{"class_name": "MaxNorm", "config":
{"max_value": 2, "axis": 0}}``); tf-keras's strings ``'maxnorm'``, ``'nonneg'``, ``'unitnorm'``
are read too.
"""

from __future__ import annotations

import numpy as np

from convnet import backend
from convnet.arguments import real_number
from convnet.config_objects import ConfigObject


def _axis(owner: str, axis) -> int | list[int]:
    """An axis as Keras writes it: an int, or a list of ints (JSON has no tuples)."""
    if isinstance(axis, (int, np.integer)) and not isinstance(axis, bool):
        return int(axis)
    try:
        axes = [int(a) for a in axis]
        ok = bool(axes) and all(isinstance(a, (int, np.integer)) and not isinstance(a, bool)
                                for a in axis)
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"{owner}: axis must be an integer or a list of integers, got {axis!r}")
    return axes


class Constraint(ConfigObject):
    """Base class: ``constraint(w)`` returns the projected weight (a new array shaped like
    ``w``); the identity here. A user-defined constraint subclasses it and implements
    ``__call__`` and ``get_config``."""

    def __call__(self, w: np.ndarray) -> np.ndarray:
        return w

    def _norms(self, w: np.ndarray, axis) -> np.ndarray:
        """``sqrt(sum(w ** 2))`` over ``axis``, kept as size-1 axes (broadcasts against w)."""
        if any(not -w.ndim <= a < w.ndim for a in np.atleast_1d(axis)):
            raise ValueError(f"{type(self).__name__}: axis {axis} does not exist in a weight "
                             f"of shape {w.shape}")
        return np.sqrt(np.sum(np.square(w), axis=tuple(np.atleast_1d(axis)), keepdims=True))


class MaxNorm(Constraint):
    """Each norm along ``axis`` at most ``max_value`` (larger ones are scaled down)."""

    def __init__(self, max_value=2, axis=0):
        self.max_value = real_number("MaxNorm", "max_value", max_value, 0.0)
        self.axis = _axis("MaxNorm", axis)

    def __call__(self, w):
        norms = self._norms(w, self.axis)
        desired = np.clip(norms, 0, self.max_value)
        return w * (desired / (backend.epsilon() + norms)).astype(w.dtype)

    def get_config(self):
        return {"max_value": self.max_value, "axis": self.axis}


class MinMaxNorm(Constraint):
    """Each norm along ``axis`` moved ``rate`` of the way into ``[min_value, max_value]``
    (``rate=1``: exactly into it)."""

    def __init__(self, min_value=0.0, max_value=1.0, rate=1.0, axis=0):
        self.min_value = real_number("MinMaxNorm", "min_value", min_value, 0.0)
        self.max_value = real_number("MinMaxNorm", "max_value", max_value, self.min_value)
        self.rate = real_number("MinMaxNorm", "rate", rate, 0.0, 1.0)
        self.axis = _axis("MinMaxNorm", axis)

    def __call__(self, w):
        norms = self._norms(w, self.axis)
        desired = (self.rate * np.clip(norms, self.min_value, self.max_value)
                   + (1 - self.rate) * norms)
        return w * (desired / (backend.epsilon() + norms)).astype(w.dtype)

    def get_config(self):
        return {"min_value": self.min_value, "max_value": self.max_value, "rate": self.rate,
                "axis": self.axis}


class UnitNorm(Constraint):
    """Each norm along ``axis`` equal to 1."""

    def __init__(self, axis=0):
        self.axis = _axis("UnitNorm", axis)

    def __call__(self, w):
        return w / (backend.epsilon() + self._norms(w, self.axis)).astype(w.dtype)

    def get_config(self):
        return {"axis": self.axis}


class NonNeg(Constraint):
    """Every weight at least 0: ``max(w, 0)``."""

    def __call__(self, w):
        return np.maximum(w, 0)


# Keras's function-style names are the classes themselves
max_norm, min_max_norm, unit_norm, non_neg = MaxNorm, MinMaxNorm, UnitNorm, NonNeg

_CLASSES: dict[str, type[Constraint]] = {"MaxNorm": MaxNorm, "MinMaxNorm": MinMaxNorm,
                                         "UnitNorm": UnitNorm, "NonNeg": NonNeg}
_NAMES: dict[str, type[Constraint]] = {
    **_CLASSES, "max_norm": MaxNorm, "min_max_norm": MinMaxNorm, "unit_norm": UnitNorm,
    "non_neg": NonNeg,
    "maxnorm": MaxNorm, "unitnorm": UnitNorm, "nonneg": NonNeg,        # tf-keras's aliases
}


def _expected() -> str:
    return (f"expected None, one of {sorted(_NAMES)}, a convnet.constraints object "
            "(MaxNorm(3), NonNeg(), ...), or Keras's form {'class_name': 'MaxNorm', "
            "'config': {'max_value': 3, 'axis': 0}}")


def get(spec) -> Constraint | None:
    """The constraint ``spec`` names: None, a name (``'max_norm'``), an object or its class, or
    Keras's serialised form (with or without Keras 3's ``module``/``registered_name``)."""
    if spec is None or isinstance(spec, Constraint):
        return spec
    if isinstance(spec, type) and issubclass(spec, Constraint):
        return spec()
    if isinstance(spec, str):
        if spec not in _NAMES:
            raise ValueError(f"Unknown constraint {spec!r}; {_expected()}")
        return _NAMES[spec]()
    if isinstance(spec, dict):
        name, config = spec.get("class_name"), spec.get("config", {})
        if name not in _NAMES or not isinstance(config, dict):
            raise ValueError(f"Unknown constraint {spec!r}; {_expected()}")
        try:
            return _NAMES[name].from_config(dict(config))
        except TypeError as exc:
            raise ValueError(f"constraint {name}: bad config {config!r} ({exc})") from None
    if callable(spec):
        raise ValueError(f"constraint {getattr(spec, '__name__', spec)!r}: convnet takes "
                         "constraints as convnet.constraints.Constraint objects (subclass it "
                         "and implement __call__(w) and get_config()), so that they can be "
                         "saved; a plain function cannot")
    raise ValueError(f"Unknown constraint {spec!r}; {_expected()}")


def serialize(constraint: Constraint | None) -> dict | None:
    """Keras's form ``{"class_name": "MaxNorm", "config": {...}}`` (None for None)."""
    if constraint is None:
        return None
    return {"class_name": type(constraint).__name__, "config": constraint.get_config()}


def deserialize(config: dict) -> Constraint:
    """The constraint of a Keras serialised form."""
    constraint = get(config)
    assert constraint is not None
    return constraint
