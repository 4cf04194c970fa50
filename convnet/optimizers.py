"""Optimizers. They never see layers: the model hands them ``(name, value, grad)`` triples and
all state (Adadelta's accumulators, SGD's velocities) is keyed by the parameter's qualified name,
e.g. ``"conv2d/kernel"``. Updates happen in place."""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np

from convnet import backend, kernels


class Optimizer:
    """Base class: ``apply_gradients([(name, value, grad), ...])`` updates values in place."""

    def __init__(self, learning_rate: float, **kwargs):
        if "lr" in kwargs:
            warnings.warn("the 'lr' argument is deprecated; use 'learning_rate'",
                          DeprecationWarning, stacklevel=3)
            learning_rate = kwargs.pop("lr")
        if kwargs:
            raise TypeError(f"{type(self).__name__}: unexpected arguments {sorted(kwargs)}")
        self.learning_rate = _positive(learning_rate, "learning_rate", type(self).__name__)
        self.iterations = 0
        self.state: dict[str, dict[str, np.ndarray]] = {}

    @property
    def lr(self) -> float:
        """tf.keras's alias of ``learning_rate`` (``model.optimizer.lr = 0.01`` sets it)."""
        return self.learning_rate

    @lr.setter
    def lr(self, value: float) -> None:
        self.learning_rate = value

    def apply_gradients(self, triples) -> None:
        """Update every ``value`` in place from its ``grad``; state is keyed by ``name``."""
        for name, value, grad in triples:
            self._update(name, value, grad)
        self.iterations += 1

    def _slot(self, slot: str, name: str, like: np.ndarray) -> np.ndarray:
        per_param = self.state.setdefault(slot, {})
        if name not in per_param:
            per_param[name] = np.zeros_like(like)
        return per_param[name]

    def _update(self, name: str, value: np.ndarray, grad: np.ndarray) -> None:
        raise NotImplementedError

    def get_config(self) -> dict:
        return {"name": type(self).__name__, "learning_rate": self.learning_rate}


class Adadelta(Optimizer):
    """Adadelta (Zeiler 2012, arXiv:1212.5701) with the tutorial's Keras defaults.

    The defaults are those of Keras 2.2 (2018), which the MNIST tutorial used:
    ``learning_rate=1.0, rho=0.95, epsilon=1e-7``. tf.keras and Keras 3 later changed the default
    learning rate to 0.001, which trains far more slowly and does not reach 99 % test accuracy on
    the tutorial model in 10 epochs; pass ``learning_rate=0.001`` to get that behaviour.

    Per parameter, with gradient ``g`` and accumulators ``a`` and ``d`` (both start at 0)::

        a      = rho * a + (1 - rho) * g**2
        update = g * sqrt(d + epsilon) / sqrt(a + epsilon)
        p      = p - learning_rate * update
        d      = rho * d + (1 - rho) * update**2
    """

    def __init__(self, learning_rate: float = 1.0, rho: float = 0.95,
                 epsilon: float | None = 1e-7, **kwargs):
        super().__init__(learning_rate, **kwargs)
        if not 0.0 <= float(rho) < 1.0:
            raise ValueError(f"Adadelta: rho must be in [0, 1), got {rho!r}")
        self.rho = float(rho)
        self.epsilon = backend.epsilon() if epsilon is None else float(epsilon)

    def _update(self, name, value, grad):
        a = self._slot("accumulator", name, value)
        d = self._slot("delta_accumulator", name, value)
        # the four lines of the docstring: as NumPy (kernels/reference.py) on the NumPy engine,
        # fused into one numba pass on the fast one (tested equal)
        kernels.for_engine().adadelta_update(value, grad, a, d, self.learning_rate, self.rho,
                                             self.epsilon)

    def get_config(self) -> dict:
        return {**super().get_config(), "rho": self.rho, "epsilon": self.epsilon}


class SGD(Optimizer):
    """Stochastic gradient descent with optional (Nesterov) momentum, Keras's formulation::

        v = momentum * v - learning_rate * g
        p = p + v                                         (plain momentum)
        p = p + momentum * v - learning_rate * g          (nesterov=True)
    """

    def __init__(self, learning_rate: float = 0.01, momentum: float = 0.0,
                 nesterov: bool = False, **kwargs):
        super().__init__(learning_rate, **kwargs)
        if not 0.0 <= float(momentum) <= 1.0:
            raise ValueError(f"SGD: momentum must be in [0, 1], got {momentum!r}")
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)

    def _update(self, name, value, grad):
        if self.momentum == 0.0:
            value -= self.learning_rate * grad
            return
        v = self._slot("momentum", name, value)
        v *= self.momentum
        v -= self.learning_rate * grad
        if self.nesterov:
            value += self.momentum * v - self.learning_rate * grad
        else:
            value += v

    def get_config(self) -> dict:
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


class Adagrad(Optimizer):
    """Adagrad (Duchi et al. 2011), tf-keras 2.x formulation and defaults::

        acc = acc + g**2                       (acc starts at initial_accumulator_value)
        p   = p - learning_rate * g / sqrt(acc + epsilon)
    """

    def __init__(self, learning_rate: float = 0.001, initial_accumulator_value: float = 0.1,
                 epsilon: float = 1e-7, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.initial_accumulator_value = float(initial_accumulator_value)
        self.epsilon = float(epsilon)

    def _update(self, name, value, grad):
        per_param = self.state.setdefault("accumulator", {})
        if name not in per_param:
            per_param[name] = np.full_like(value, self.initial_accumulator_value)
        acc = per_param[name]
        acc += grad * grad
        value -= self.learning_rate * grad / np.sqrt(acc + self.epsilon)

    def get_config(self) -> dict:
        return {**super().get_config(), "initial_accumulator_value":
                self.initial_accumulator_value, "epsilon": self.epsilon}


class RMSprop(Optimizer):
    """RMSprop (Hinton's lecture 6e), tf-keras 2.x formulation and defaults::

        v = rho * v + (1 - rho) * g**2
        p = p - learning_rate * g / (sqrt(v) + epsilon)          (momentum = 0)
        m = momentum * m + learning_rate * g / (sqrt(v) + epsilon);  p = p - m   (momentum > 0)
    """

    def __init__(self, learning_rate: float = 0.001, rho: float = 0.9, momentum: float = 0.0,
                 epsilon: float = 1e-7, **kwargs):
        super().__init__(learning_rate, **kwargs)
        if not 0.0 <= float(rho) < 1.0:
            raise ValueError(f"RMSprop: rho must be in [0, 1), got {rho!r}")
        if not 0.0 <= float(momentum) <= 1.0:
            raise ValueError(f"RMSprop: momentum must be in [0, 1], got {momentum!r}")
        self.rho, self.momentum, self.epsilon = float(rho), float(momentum), float(epsilon)

    def _update(self, name, value, grad):
        v = self._slot("velocity", name, value)
        v *= self.rho
        v += (1 - self.rho) * grad * grad
        step = self.learning_rate * grad / (np.sqrt(v) + self.epsilon)
        if self.momentum > 0:
            m = self._slot("momentum", name, value)
            m *= self.momentum
            m += step
            step = m
        value -= step

    def get_config(self) -> dict:
        return {**super().get_config(), "rho": self.rho, "momentum": self.momentum,
                "epsilon": self.epsilon}


class Adam(Optimizer):
    """Adam (Kingma & Ba 2014), tf-keras 2.x formulation and defaults. At step ``t`` (1, 2, ...)::

        m = m + (1 - beta_1) * (g - m)
        v = v + (1 - beta_2) * (g**2 - v)
        p = p - learning_rate * sqrt(1 - beta_2**t) / (1 - beta_1**t) * m / (sqrt(v) + epsilon)
    """

    def __init__(self, learning_rate: float = 0.001, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-7, **kwargs):
        super().__init__(learning_rate, **kwargs)
        for what, b in (("beta_1", beta_1), ("beta_2", beta_2)):
            if not 0.0 <= float(b) < 1.0:
                raise ValueError(f"Adam: {what} must be in [0, 1), got {b!r}")
        self.beta_1, self.beta_2, self.epsilon = float(beta_1), float(beta_2), float(epsilon)

    def _update(self, name, value, grad):
        m = self._slot("m", name, value)
        v = self._slot("v", name, value)
        t = self.iterations + 1
        m += (1 - self.beta_1) * (grad - m)
        v += (1 - self.beta_2) * (grad * grad - v)
        alpha = self.learning_rate * np.sqrt(1 - self.beta_2 ** t) / (1 - self.beta_1 ** t)
        value -= alpha * m / (np.sqrt(v) + self.epsilon)

    def get_config(self) -> dict:
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon}


_OPTIMIZERS = {"adadelta": Adadelta, "sgd": SGD, "adagrad": Adagrad, "rmsprop": RMSprop,
               "adam": Adam}


def get(optimizer) -> Optimizer:
    """Return an optimizer instance for an instance or a name (``'adadelta'``, ``'sgd'``,
    ``'adagrad'``, ``'rmsprop'``, ``'adam'``; any case)."""
    if isinstance(optimizer, Optimizer):
        return optimizer
    if isinstance(optimizer, type) and issubclass(optimizer, Optimizer):
        make: Callable[[], Optimizer] = optimizer     # subclasses default every argument
        return make()
    if isinstance(optimizer, str) and optimizer.lower() in _OPTIMIZERS:
        return _OPTIMIZERS[optimizer.lower()]()
    raise ValueError(f"Unknown optimizer {optimizer!r}; expected an Optimizer or one of "
                     f"{sorted(_OPTIMIZERS)}")


def _positive(value, what: str, owner: str) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{owner}: {what} must be a positive number, got {value!r}") from None
    if not value > 0 or not np.isfinite(value):
        raise ValueError(f"{owner}: {what} must be a positive number, got {value!r}")
    return value
