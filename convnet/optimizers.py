"""Optimizers. They never see layers: the model hands them ``(name, value, grad)`` triples and
all state (Adadelta's accumulators, SGD's velocities, Adam's moments) is keyed by the parameter's
qualified name, e.g. ``"conv2d/kernel"``. Updates happen in place.

Every optimizer takes Keras 3's common options, applied in this order at each step::

    lr = learning_rate                  a number, a schedule of the step, or a callable
    lr = lr / (1 + decay * iterations)  tf-keras's time-based ``decay`` (0 = off)
    g  = clip(g)                        clipnorm (each gradient's L2 norm), global_clipnorm (the
                                        norm of all the step's gradients together) or clipvalue
    p  = p - p * weight_decay * lr      decoupled weight decay (Loshchilov & Hutter 2017)
    p  = update(p, g, lr)               the optimizer's own formula, in its docstring
"""

from __future__ import annotations

import inspect
import re
import sys
import types
import warnings
from collections.abc import Callable

import numpy as np

from convnet import backend, kernels, not_supported
from convnet import schedules as schedules  # re-exported: convnet.optimizers.schedules
from convnet.arguments import real_number

# Keras 3 config keys convnet accepts only at their default values (no EMA, no loss scaling, no
# gradient accumulation here); tf-keras's ``jit_compile`` / ``is_legacy_optimizer`` mean nothing.
_UNSUPPORTED_DEFAULTS = {"use_ema": False, "ema_momentum": 0.99, "ema_overwrite_frequency": None,
                         "loss_scale_factor": None, "gradient_accumulation_steps": None}
_IGNORED = ("jit_compile", "is_legacy_optimizer")


class LearningRate(float):
    """An optimizer's learning rate: a plain float that remembers its optimizer, so that the
    Keras 2 idiom ``K.set_value(model.optimizer.lr, 0.001)`` can set it (a Python number cannot
    be changed in place; :func:`convnet.backend.set_value` assigns it to the optimizer)."""

    optimizer: Optimizer

    def __new__(cls, value: float, optimizer: Optimizer):
        rate = super().__new__(cls, value)
        rate.optimizer = optimizer
        return rate

    def __reduce__(self):             # copies and pickles are plain floats
        return (float, (float(self),))

    def assign(self, value) -> None:
        """tf.keras's ``optimizer.learning_rate.assign(0.01)``: set the optimizer's rate (this
        float itself, like any Python number, stays what it was)."""
        self.optimizer.learning_rate = float(value)

    def numpy(self) -> float:
        """tf.keras's ``optimizer.learning_rate.numpy()``: the rate as a plain float."""
        return float(self)


class Optimizer:
    """Base class: ``apply_gradients([(name, value, grad), ...])`` updates values in place.

    ``learning_rate`` may be a number, a :mod:`convnet.schedules` schedule, or a callable of the
    step (``optimizer.iterations``, 0 at the first update) or of nothing. Reading
    ``optimizer.learning_rate`` gives the rate for the next step; setting it (as
    ``ReduceLROnPlateau`` and ``LearningRateScheduler`` do) is refused, as in Keras, when the
    rate is a schedule or a callable.
    """

    def __init__(self, learning_rate, weight_decay: float | None = None,
                 clipnorm: float | None = None, clipvalue: float | None = None,
                 global_clipnorm: float | None = None, name: str | None = None, **kwargs):
        owner = type(self).__name__
        if "lr" in kwargs:
            warnings.warn("the 'lr' argument is deprecated; use 'learning_rate'",
                          DeprecationWarning, stacklevel=3)
            learning_rate = kwargs.pop("lr")
        decay = kwargs.pop("decay", None)
        for key, default in _UNSUPPORTED_DEFAULTS.items():
            if key in kwargs and kwargs.pop(key) not in (default, None):
                raise ValueError(f"{owner}: {key} is not supported by convnet (leave it at "
                                 f"{default!r})")
        for key in _IGNORED:
            kwargs.pop(key, None)
        if kwargs:
            raise TypeError(f"{owner}: unexpected arguments {sorted(kwargs)}")
        self.name = name or owner
        if isinstance(learning_rate, schedules.LearningRateSchedule) or callable(learning_rate):
            self._learning_rate = learning_rate
        else:
            self._learning_rate = _positive(learning_rate, "learning_rate", owner)
        self.decay = 0.0 if decay is None else _non_negative(decay, "decay", owner)
        self.weight_decay = (None if weight_decay is None
                             else _non_negative(weight_decay, "weight_decay", owner))
        clips = {"clipnorm": clipnorm, "clipvalue": clipvalue, "global_clipnorm": global_clipnorm}
        given = {k: v for k, v in clips.items() if v is not None}
        if len(given) > 1:
            raise ValueError(f"{owner}: only one of clipnorm, clipvalue and global_clipnorm can "
                             f"be set, got {given}")
        for key, value in given.items():
            given[key] = _positive(value, key, owner)
        self.clipnorm = given.get("clipnorm")
        self.clipvalue = given.get("clipvalue")
        self.global_clipnorm = given.get("global_clipnorm")
        self._exclude_names: list[str] = []
        self.iterations = 0
        self.state: dict[str, dict[str, np.ndarray]] = {}

    # -- the learning rate ----------------------------------------------------------------------

    @property
    def learning_rate(self) -> float:
        """The learning rate of the next step (a schedule or callable evaluated at
        ``iterations``; tf-keras's ``decay`` is not included). A number set by hand comes back
        as a :class:`LearningRate`, a float that ``K.set_value`` can change."""
        lr = self._learning_rate
        if isinstance(lr, schedules.LearningRateSchedule):
            return float(lr(self.iterations))
        if callable(lr):
            return float(_call_with_step(lr, self.iterations))
        return LearningRate(lr, self)

    @learning_rate.setter
    def learning_rate(self, value) -> None:
        if callable(self._learning_rate):
            kind = ("a LearningRateSchedule"
                    if isinstance(self._learning_rate, schedules.LearningRateSchedule)
                    else "a callable")
            raise TypeError(f"{type(self).__name__}: this optimizer was created with {kind} as "
                            "its learning_rate, so its learning rate cannot be set (by "
                            "ReduceLROnPlateau, LearningRateScheduler or by hand); create it "
                            "with a number as learning_rate to make the rate settable")
        self._learning_rate = _positive(value, "learning_rate", type(self).__name__)

    @property
    def scheduled(self) -> bool:
        """Whether the learning rate follows a schedule or callable of the step (then it
        cannot be set, and a checkpoint restores it through ``iterations``)."""
        return callable(self._learning_rate)

    @property
    def lr(self) -> float:
        """tf.keras's alias of ``learning_rate`` (``model.optimizer.lr = 0.01`` sets it)."""
        return self.learning_rate

    @lr.setter
    def lr(self, value: float) -> None:
        self.learning_rate = value

    def _step_learning_rate(self) -> float:
        lr = self.learning_rate
        if self.decay:
            lr = lr / (1.0 + self.decay * self.iterations)
        return lr

    # -- one step -------------------------------------------------------------------------------

    def apply_gradients(self, triples) -> None:
        """Update every ``value`` in place from its ``grad``; state is keyed by ``name``."""
        triples = list(triples)
        grads = self._clip([grad for _, _, grad in triples])
        lr = self._step_learning_rate()
        for (name, value, _), grad in zip(triples, grads):
            if self.weight_decay and self._use_weight_decay(name):
                value -= value * (self.weight_decay * lr)
            self._update(name, value, grad, lr)
        self.iterations += 1

    def _clip(self, grads: list[np.ndarray]) -> list[np.ndarray]:
        """Keras 3's gradient clipping; returns new arrays (the layers' grads are left alone)."""
        if self.clipnorm is not None:
            return [g * (self.clipnorm / max(float(np.linalg.norm(g)), self.clipnorm))
                    for g in grads]
        if self.global_clipnorm is not None:
            norm = float(np.sqrt(sum(float(np.sum(np.square(g, dtype=np.float64)))
                                     for g in grads)))
            scale = self.global_clipnorm / max(norm, self.global_clipnorm)
            return [g * scale for g in grads]
        if self.clipvalue is not None:
            return [np.clip(g, -self.clipvalue, self.clipvalue) for g in grads]
        return grads

    def exclude_from_weight_decay(self, var_list=None, var_names=None) -> None:
        """Exempt parameters from ``weight_decay``: ``var_list`` holds exact qualified names
        (``"dense/bias"``), ``var_names`` regular expressions searched in them (``"bias"``)."""
        self._exclude_names += [f"^{re.escape(n)}$" for n in (var_list or [])]
        self._exclude_names += list(var_names or [])

    def _use_weight_decay(self, name: str) -> bool:
        return not any(re.search(pattern, name) for pattern in self._exclude_names)

    def _slot(self, slot: str, name: str, like: np.ndarray) -> np.ndarray:
        per_param = self.state.setdefault(slot, {})
        if name not in per_param:
            per_param[name] = np.zeros_like(like)
        return per_param[name]

    def _update(self, name: str, value: np.ndarray, grad: np.ndarray, lr: float) -> None:
        raise NotImplementedError

    # -- configuration --------------------------------------------------------------------------

    def get_config(self) -> dict:
        """Keras 3's keys (plus ``decay`` when it is set); a schedule is serialized as Keras
        does (``{"class_name", "config", ...}``)."""
        lr = self._learning_rate
        config = {"name": self.name,
                  "learning_rate": (schedules.serialize(lr)
                                    if isinstance(lr, schedules.LearningRateSchedule) else lr),
                  "weight_decay": self.weight_decay, "clipnorm": self.clipnorm,
                  "global_clipnorm": self.global_clipnorm, "clipvalue": self.clipvalue,
                  **_UNSUPPORTED_DEFAULTS}
        if self.decay:
            config["decay"] = self.decay
        return config

    @classmethod
    def from_config(cls, config: dict) -> Optimizer:
        config = dict(config)
        if isinstance(config.get("learning_rate"), dict):
            config["learning_rate"] = schedules.deserialize(config["learning_rate"])
        return cls(**config)


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

    def __init__(self, learning_rate=1.0, rho: float = 0.95,
                 epsilon: float | None = 1e-7, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.rho = _unit(rho, "rho", "Adadelta")
        self.epsilon = backend.epsilon() if epsilon is None else float(epsilon)

    def _update(self, name, value, grad, lr):
        a = self._slot("accumulator", name, value)
        d = self._slot("delta_accumulator", name, value)
        # the four lines of the docstring: as NumPy (kernels/reference.py) on the NumPy engine,
        # fused into one numba pass on the fast one (tested equal)
        kernels.for_engine().adadelta_update(value, grad, a, d, lr, self.rho, self.epsilon)

    def get_config(self) -> dict:
        return {**super().get_config(), "rho": self.rho, "epsilon": self.epsilon}


class SGD(Optimizer):
    """Stochastic gradient descent with optional (Nesterov) momentum, Keras's formulation::

        v = momentum * v - learning_rate * g
        p = p + v                                         (plain momentum)
        p = p + momentum * v - learning_rate * g          (nesterov=True)
    """

    def __init__(self, learning_rate=0.01, momentum: float = 0.0,
                 nesterov: bool = False, **kwargs):
        super().__init__(learning_rate, **kwargs)
        if not 0.0 <= float(momentum) <= 1.0:
            raise ValueError(f"SGD: momentum must be in [0, 1], got {momentum!r}")
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)

    def _update(self, name, value, grad, lr):
        if self.momentum == 0.0:
            value -= lr * grad
            return
        v = self._slot("momentum", name, value)
        v *= self.momentum
        v -= lr * grad
        if self.nesterov:
            value += self.momentum * v - lr * grad
        else:
            value += v

    def get_config(self) -> dict:
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


class Adagrad(Optimizer):
    """Adagrad (Duchi et al. 2011), tf-keras 2.x formulation and defaults::

        acc = acc + g**2                       (acc starts at initial_accumulator_value)
        p   = p - learning_rate * g / sqrt(acc + epsilon)
    """

    def __init__(self, learning_rate=0.001, initial_accumulator_value: float = 0.1,
                 epsilon: float = 1e-7, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.initial_accumulator_value = float(initial_accumulator_value)
        self.epsilon = float(epsilon)

    def _update(self, name, value, grad, lr):
        per_param = self.state.setdefault("accumulator", {})
        if name not in per_param:
            per_param[name] = np.full_like(value, self.initial_accumulator_value)
        acc = per_param[name]
        acc += grad * grad
        value -= lr * grad / np.sqrt(acc + self.epsilon)

    def get_config(self) -> dict:
        return {**super().get_config(), "initial_accumulator_value":
                self.initial_accumulator_value, "epsilon": self.epsilon}


class RMSprop(Optimizer):
    """RMSprop (Hinton's lecture 6e), tf-keras 2.x formulation and defaults::

        v = rho * v + (1 - rho) * g**2
        p = p - learning_rate * g / (sqrt(v) + epsilon)          (momentum = 0)
        m = momentum * m + learning_rate * g / (sqrt(v) + epsilon);  p = p - m   (momentum > 0)
    """

    def __init__(self, learning_rate=0.001, rho: float = 0.9, momentum: float = 0.0,
                 epsilon: float = 1e-7, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.rho = _unit(rho, "rho", "RMSprop")
        if not 0.0 <= float(momentum) <= 1.0:
            raise ValueError(f"RMSprop: momentum must be in [0, 1], got {momentum!r}")
        self.momentum, self.epsilon = float(momentum), float(epsilon)

    def _update(self, name, value, grad, lr):
        v = self._slot("velocity", name, value)
        v *= self.rho
        v += (1 - self.rho) * grad * grad
        step = lr * grad / (np.sqrt(v) + self.epsilon)
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
    """Adam (Kingma & Ba 2014), Keras formulation and defaults. At step ``t`` (1, 2, ...)::

        m = m + (1 - beta_1) * (g - m)
        v = v + (1 - beta_2) * (g**2 - v)
        v_hat = max(v_hat, v); v = v_hat                       (amsgrad=True only)
        p = p - learning_rate * sqrt(1 - beta_2**t) / (1 - beta_1**t) * m / (sqrt(v) + epsilon)

    AMSGrad: Reddi et al. 2018, "On the convergence of Adam and beyond".
    """

    def __init__(self, learning_rate=0.001, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-7, amsgrad: bool = False, **kwargs):
        super().__init__(learning_rate, **kwargs)
        owner = type(self).__name__
        self.beta_1 = _unit(beta_1, "beta_1", owner)
        self.beta_2 = _unit(beta_2, "beta_2", owner)
        self.epsilon, self.amsgrad = float(epsilon), bool(amsgrad)

    def _update(self, name, value, grad, lr):
        m = self._slot("m", name, value)
        v = self._slot("v", name, value)
        t = self.iterations + 1
        m += (1 - self.beta_1) * (grad - m)
        v += (1 - self.beta_2) * (grad * grad - v)
        if self.amsgrad:
            v_hat = self._slot("v_hat", name, value)
            np.maximum(v_hat, v, out=v_hat)
            v = v_hat
        alpha = lr * np.sqrt(1 - self.beta_2 ** t) / (1 - self.beta_1 ** t)
        value -= alpha * m / (np.sqrt(v) + self.epsilon)

    def get_config(self) -> dict:
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon, "amsgrad": self.amsgrad}


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter 2017, arXiv:1711.05101), Keras 3
    defaults (``weight_decay=0.004``). Before Adam's update (see :class:`Adam`)::

        p = p - p * weight_decay * learning_rate

    so the decay does not pass through Adam's moments (unlike an L2 term in the loss).
    """

    def __init__(self, learning_rate=0.001, weight_decay: float = 0.004, beta_1: float = 0.9,
                 beta_2: float = 0.999, epsilon: float = 1e-7, amsgrad: bool = False, **kwargs):
        if weight_decay is None:
            raise ValueError("AdamW: weight_decay must be a number >= 0, got None")
        super().__init__(learning_rate, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon,
                         amsgrad=amsgrad, weight_decay=weight_decay, **kwargs)


class Adamax(Optimizer):
    """Adamax, Adam with the infinity norm (Kingma & Ba 2014, section 7.1), Keras defaults. At
    step ``t`` (1, 2, ...)::

        m = m + (1 - beta_1) * (g - m)
        u = max(beta_2 * u, |g|)
        p = p - learning_rate * m / ((1 - beta_1**t) * (u + epsilon))
    """

    def __init__(self, learning_rate=0.001, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-7, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.beta_1 = _unit(beta_1, "beta_1", "Adamax")
        self.beta_2 = _unit(beta_2, "beta_2", "Adamax")
        self.epsilon = float(epsilon)

    def _update(self, name, value, grad, lr):
        m = self._slot("m", name, value)
        u = self._slot("u", name, value)
        t = self.iterations + 1
        m += (1 - self.beta_1) * (grad - m)
        np.maximum(self.beta_2 * u, np.abs(grad), out=u)
        value -= lr * m / ((1 - self.beta_1 ** t) * (u + self.epsilon))

    def get_config(self) -> dict:
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon}


class Nadam(Optimizer):
    """Nadam, Adam with Nesterov momentum (Dozat 2016), Keras 3 formulation and defaults.

    The momentum coefficient warms up: ``mu_s = beta_1 * (1 - 0.5 * 0.96**s)``. At step ``t``
    (1, 2, ...), with ``P_t = mu_1 * mu_2 * ... * mu_t``::

        m     = m + (1 - beta_1) * (g - m)
        v     = v + (1 - beta_2) * (g**2 - v)
        m_hat = mu_{t+1} * m / (1 - P_t * mu_{t+1}) + (1 - mu_t) * g / (1 - P_t)
        v_hat = v / (1 - beta_2**t)
        p     = p - learning_rate * m_hat / (sqrt(v_hat) + epsilon)

    ``P_t`` depends only on ``t``, so it is recomputed from ``iterations`` (and cached) rather
    than stored: a checkpoint holds just ``m`` and ``v``.
    """

    def __init__(self, learning_rate=0.001, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-7, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.beta_1 = _unit(beta_1, "beta_1", "Nadam")
        self.beta_2 = _unit(beta_2, "beta_2", "Nadam")
        self.epsilon = float(epsilon)
        self._product_cache = (0, 1.0)                  # (t, P_t)

    def _mu(self, s: int) -> float:
        return self.beta_1 * (1.0 - 0.5 * 0.96 ** s)

    def _product(self, t: int) -> float:
        done, product = self._product_cache
        if done > t:
            done, product = 0, 1.0
        for s in range(done + 1, t + 1):
            product *= self._mu(s)
        self._product_cache = (t, product)
        return product

    def _update(self, name, value, grad, lr):
        m = self._slot("m", name, value)
        v = self._slot("v", name, value)
        t = self.iterations + 1
        mu_t, mu_next, product = self._mu(t), self._mu(t + 1), self._product(t)
        m += (1 - self.beta_1) * (grad - m)
        v += (1 - self.beta_2) * (grad * grad - v)
        m_hat = mu_next * m / (1 - product * mu_next) + (1 - mu_t) * grad / (1 - product)
        v_hat = v / (1 - self.beta_2 ** t)
        value -= lr * m_hat / (np.sqrt(v_hat) + self.epsilon)

    def get_config(self) -> dict:
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon}


class Lion(Optimizer):
    """Lion, EvoLved Sign Momentum (Chen et al. 2023, arXiv:2302.06675), Keras 3 defaults::

        p = p - learning_rate * sign(beta_1 * m + (1 - beta_1) * g)
        m = beta_2 * m + (1 - beta_2) * g

    Every coordinate moves by exactly ``learning_rate`` (or 0), so Lion wants a learning rate
    3-10x smaller than Adam's.
    """

    def __init__(self, learning_rate=0.001, beta_1: float = 0.9, beta_2: float = 0.99,
                 **kwargs):
        super().__init__(learning_rate, **kwargs)
        if not 0.0 < float(beta_1) <= 1.0:
            raise ValueError(f"Lion: beta_1 must be in (0, 1] (at 0 Lion degenerates to "
                             f"sign SGD), got {beta_1!r}")
        self.beta_1 = float(beta_1)
        self.beta_2 = _unit(beta_2, "beta_2", "Lion")

    def _update(self, name, value, grad, lr):
        m = self._slot("m", name, value)
        value -= lr * np.sign(self.beta_1 * m + (1 - self.beta_1) * grad)
        m *= self.beta_2
        m += (1 - self.beta_2) * grad

    def get_config(self) -> dict:
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2}


_OPTIMIZERS = {
    "adadelta": Adadelta, "sgd": SGD, "adagrad": Adagrad, "rmsprop": RMSprop, "adam": Adam,
    "adamw": AdamW, "adamax": Adamax, "nadam": Nadam, "lion": Lion}


def serialize(optimizer: Optimizer) -> dict:
    """``{"class_name", "config"}`` as Keras writes it."""
    return {"class_name": type(optimizer).__name__, "config": optimizer.get_config()}


def deserialize(config: dict) -> Optimizer:
    """An optimizer from :func:`serialize`'s dict (any case of the class name)."""
    name = str(config.get("class_name", "")).lower()
    if name not in _OPTIMIZERS:
        raise ValueError(f"Unknown optimizer {config.get('class_name')!r}; expected one of "
                         f"{sorted(_OPTIMIZERS)}")
    return _OPTIMIZERS[name].from_config(config.get("config", {}))


def get(optimizer) -> Optimizer:
    """Return an optimizer instance for an instance, a class, a serialized dict or a name
    (``'adadelta'``, ``'sgd'``, ``'adagrad'``, ``'rmsprop'``, ``'adam'``, ``'adamw'``,
    ``'adamax'``, ``'nadam'``, ``'lion'``; any case)."""
    if isinstance(optimizer, Optimizer):
        return optimizer
    if isinstance(optimizer, type) and issubclass(optimizer, Optimizer):
        make: Callable[[], Optimizer] = optimizer     # subclasses default every argument
        return make()
    if isinstance(optimizer, dict) and "class_name" in optimizer:
        return deserialize(optimizer)
    if isinstance(optimizer, str) and optimizer.lower() in _OPTIMIZERS:
        return _OPTIMIZERS[optimizer.lower()]()
    raise ValueError(f"Unknown optimizer {optimizer!r}; expected an Optimizer or one of "
                     f"{sorted(_OPTIMIZERS)}")


def _call_with_step(fn, step: int):
    """A learning-rate callable of the step (``fn(step)``), or of nothing (``fn()``, Keras 3)."""
    try:
        inspect.signature(fn).bind(step)
    except TypeError:
        return fn()
    except ValueError:                    # no signature to read
        pass
    return fn(step)


def _positive(value, what: str, owner: str) -> float:
    return real_number(owner, what, value, 0.0, low_open=True)


def _non_negative(value, what: str, owner: str) -> float:
    return real_number(owner, what, value, 0.0)


def _unit(value, what: str, owner: str) -> float:
    """A decay rate in [0, 1)."""
    return real_number(owner, what, value, 0.0, 1.0, high_open=True)


# a Keras name convnet knowingly lacks is refused with its reason (convnet/not_supported.py)
__getattr__ = not_supported.module_getattr(__name__)


def _legacy_module() -> types.ModuleType:
    """``keras.optimizers.legacy`` (tf.keras 2.11-2.15 kept the older optimizer classes there):
    convnet has one implementation of each, so the legacy names are the same classes."""
    module = types.ModuleType(f"{__name__}.legacy", _legacy_module.__doc__)
    for name in ("SGD", "RMSprop", "Adagrad", "Adadelta", "Adam", "Adamax", "Nadam", "Optimizer"):
        setattr(module, name, globals()[name])
    sys.modules[module.__name__] = module
    return module


legacy = _legacy_module()
