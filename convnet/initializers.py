"""Weight initialisers, with Keras 3's names, arguments and fan conventions.

Each initialiser is an object called as ``init(shape, dtype)`` (``keras.initializers.HeNormal(
seed=1)``), or named by a string (``'he_normal'``; the class name ``'HeNormal'`` works too).

For a kernel of shape ``(..., fan_in_axis, fan_out_axis)`` the receptive field is the product of
the leading axes: Conv2D kernel ``(kh, kw, in, out)`` has ``fan_in = kh*kw*in`` and
``fan_out = kh*kw*out``; Dense kernel ``(in, out)`` has ``fan_in = in``, ``fan_out = out``; a
vector ``(n,)`` has both equal to ``n``.

Randomness: an initialiser with ``seed=None`` draws from convnet's generator
(:func:`convnet.utils.rng`, reseeded by ``utils.set_random_seed``), so two layers get different
weights; one with an integer seed starts a fresh generator from that seed on every call, so it
gives the same weights every time (as Keras 3 does with an integer seed).

What layers call: :func:`normalize` (in ``__init__``; a name stays a name when the object would
be the named default, else an :class:`Initializer`), :func:`initialize` (in ``build``) and
:func:`serialize` (in ``get_config``: ``{"class_name", "config"}``, which tf-keras and Keras 3
both read).
"""

from __future__ import annotations

import math

import numpy as np

from convnet import backend, utils
from convnet.arguments import real_number
from convnet.config_objects import ConfigObject


def _fans(shape: tuple[int, ...]) -> tuple[int, int]:
    if len(shape) < 2:
        return (shape[0] if shape else 1), (shape[0] if shape else 1)
    receptive = int(np.prod(shape[:-2]))
    return shape[-2] * receptive, shape[-1] * receptive


def _seed(owner: str, seed) -> int | None:
    if seed is None:
        return None
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"{owner}: seed must be None or a non-negative integer, got {seed!r}")
    return int(seed)


class Initializer(ConfigObject):
    """Base class: ``init(shape, dtype=None)`` returns a new array (dtype default: floatx)."""

    def __call__(self, shape, dtype=None) -> np.ndarray:
        shape = tuple(int(s) for s in shape)
        return np.asarray(self._draw(shape), dtype=dtype or backend.floatx())

    def _draw(self, shape: tuple[int, ...]) -> np.ndarray:
        raise NotImplementedError


class Zeros(Initializer):
    """All zeros."""

    def _draw(self, shape):
        return np.zeros(shape)


class Ones(Initializer):
    """All ones."""

    def _draw(self, shape):
        return np.ones(shape)


class Constant(Initializer):
    """Every element ``value`` (a number)."""

    def __init__(self, value=0.0):
        self.value = real_number("Constant", "value", value)

    def _draw(self, shape):
        return np.full(shape, self.value)

    def get_config(self):
        return {"value": self.value}


class _Seeded(Initializer):
    """An initialiser that draws random numbers: ``seed`` as described in the module doc."""

    seed: int | None = None

    def _rng(self) -> np.random.Generator:
        return utils.rng() if self.seed is None else np.random.default_rng(self.seed)


class RandomNormal(_Seeded):
    """Normal ``N(mean, stddev^2)``."""

    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        self.mean = real_number("RandomNormal", "mean", mean)
        self.stddev = real_number("RandomNormal", "stddev", stddev, 0.0, low_open=True)
        self.seed = _seed("RandomNormal", seed)

    def _draw(self, shape):
        return self._rng().normal(self.mean, self.stddev, size=shape)

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


class RandomUniform(_Seeded):
    """Uniform on ``[minval, maxval)``."""

    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        self.minval = real_number("RandomUniform", "minval", minval)
        self.maxval = real_number("RandomUniform", "maxval", maxval)
        if self.maxval <= self.minval:
            raise ValueError(f"RandomUniform: maxval must be greater than minval, got "
                             f"minval={minval!r}, maxval={maxval!r}")
        self.seed = _seed("RandomUniform", seed)

    def _draw(self, shape):
        return self._rng().uniform(self.minval, self.maxval, size=shape)

    def get_config(self):
        return {"minval": self.minval, "maxval": self.maxval, "seed": self.seed}


def _truncated(rng: np.random.Generator, stddev: float, shape) -> np.ndarray:
    """``N(0, stddev^2)`` with every value beyond 2 standard deviations redrawn."""
    out = rng.normal(0.0, stddev, size=shape)
    bad = np.abs(out) > 2 * stddev
    while bad.any():
        out[bad] = rng.normal(0.0, stddev, size=int(bad.sum()))
        bad = np.abs(out) > 2 * stddev
    return out


# The standard deviation of a unit normal truncated to [-2, 2]: dividing by it keeps the
# variance of VarianceScaling's truncated normal at scale / n.
_TRUNCATED_STD = 0.87962566103423978


class TruncatedNormal(_Seeded):
    """``N(mean, stddev^2)`` with values more than two ``stddev`` from the mean redrawn (so the
    actual standard deviation is about ``0.88 stddev``, as in Keras)."""

    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        self.mean = real_number("TruncatedNormal", "mean", mean)
        self.stddev = real_number("TruncatedNormal", "stddev", stddev, 0.0, low_open=True)
        self.seed = _seed("TruncatedNormal", seed)

    def _draw(self, shape):
        return self.mean + _truncated(self._rng(), self.stddev, shape)

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


_MODES = ("fan_in", "fan_out", "fan_avg")
_DISTRIBUTIONS = ("truncated_normal", "untruncated_normal", "uniform")


class VarianceScaling(_Seeded):
    """Variance ``scale / n``, ``n`` the fan chosen by ``mode`` (``fan_in``, ``fan_out`` or
    ``fan_avg``, their mean). ``distribution``: ``'truncated_normal'`` (stddev
    ``sqrt(scale / n) / 0.8796`` before cutting at 2 stddev, so the result has variance
    ``scale / n``), ``'untruncated_normal'``, or ``'uniform'`` on ``[-l, l]``,
    ``l = sqrt(3 scale / n)``. tf-keras's ``'normal'`` is read as ``'truncated_normal'``."""

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None):
        name = type(self).__name__
        self.scale = real_number(name, "scale", scale, 0.0, low_open=True)
        if mode not in _MODES:
            raise ValueError(f"{name}: mode must be one of {list(_MODES)}, got {mode!r}")
        if distribution == "normal":             # tf-keras 2.x / Keras 2 spelling
            distribution = "truncated_normal"
        if distribution not in _DISTRIBUTIONS:
            raise ValueError(f"{name}: distribution must be one of {list(_DISTRIBUTIONS)}, "
                             f"got {distribution!r}")
        self.mode, self.distribution = str(mode), str(distribution)
        self.seed = _seed(name, seed)

    def _draw(self, shape):
        fan_in, fan_out = _fans(shape)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[self.mode]
        variance = self.scale / max(1.0, n)
        rng = self._rng()
        if self.distribution == "uniform":
            limit = math.sqrt(3.0 * variance)
            return rng.uniform(-limit, limit, size=shape)
        if self.distribution == "untruncated_normal":
            return rng.normal(0.0, math.sqrt(variance), size=shape)
        return _truncated(rng, math.sqrt(variance) / _TRUNCATED_STD, shape)

    def get_config(self):
        return {"scale": self.scale, "mode": self.mode, "distribution": self.distribution,
                "seed": self.seed}


class _Named(VarianceScaling):
    """A VarianceScaling with fixed arguments; its config is only ``seed``."""

    _args: tuple[float, str, str] = (1.0, "fan_in", "truncated_normal")

    def __init__(self, seed=None):
        super().__init__(*self._args, seed=seed)

    def get_config(self):
        return {"seed": self.seed}


class GlorotUniform(_Named):
    """Uniform on ``[-l, l]``, ``l = sqrt(6 / (fan_in + fan_out))`` (Glorot & Bengio 2010)."""

    _args = (1.0, "fan_avg", "uniform")


class GlorotNormal(_Named):
    """Truncated normal, stddev ``sqrt(2 / (fan_in + fan_out))``."""

    _args = (1.0, "fan_avg", "truncated_normal")


class HeUniform(_Named):
    """Uniform on ``[-l, l]``, ``l = sqrt(6 / fan_in)`` (He et al. 2015)."""

    _args = (2.0, "fan_in", "uniform")


class HeNormal(_Named):
    """Truncated normal, stddev ``sqrt(2 / fan_in)``."""

    _args = (2.0, "fan_in", "truncated_normal")


class LecunUniform(_Named):
    """Uniform on ``[-l, l]``, ``l = sqrt(3 / fan_in)`` (LeCun et al. 1998)."""

    _args = (1.0, "fan_in", "uniform")


class LecunNormal(_Named):
    """Truncated normal, stddev ``sqrt(1 / fan_in)`` (the one SELU expects)."""

    _args = (1.0, "fan_in", "truncated_normal")


class Orthogonal(_Seeded):
    """A (semi-)orthogonal matrix times ``gain`` (Saxe et al. 2014).

    The shape is seen as a matrix ``(prod(shape[:-1]), shape[-1])``: its columns are orthonormal
    when there are at least as many rows as columns, else its rows. Made from the QR
    decomposition of a normal matrix, with the signs fixed so the result is uniformly
    distributed. Needs at least 2 dimensions."""

    def __init__(self, gain=1.0, seed=None):
        self.gain = real_number("Orthogonal", "gain", gain)
        self.seed = _seed("Orthogonal", seed)

    def _draw(self, shape):
        if len(shape) < 2:
            raise ValueError(f"Orthogonal initializer needs a shape of at least 2 dimensions, "
                             f"got {shape}")
        rows, cols = int(np.prod(shape[:-1])), shape[-1]
        a = self._rng().normal(0.0, 1.0, size=(max(rows, cols), min(rows, cols)))
        q, r = np.linalg.qr(a)
        q = q * np.sign(np.diag(r))               # sign fix: Q uniform over orthogonal matrices
        if rows < cols:
            q = q.T
        return self.gain * q.reshape(shape)

    def get_config(self):
        return {"gain": self.gain, "seed": self.seed}


class Identity(Initializer):
    """``gain`` times the identity matrix (2-D shapes only; ones on the main diagonal of a
    non-square one)."""

    def __init__(self, gain=1.0):
        self.gain = real_number("Identity", "gain", gain)

    def _draw(self, shape):
        if len(shape) != 2:
            raise ValueError(f"Identity initializer needs a 2-D shape, got {shape}")
        return self.gain * np.eye(*shape)

    def get_config(self):
        return {"gain": self.gain}


# snake_case name -> class; the names are Keras 3's (tf-keras's aliases too).
_CLASSES: dict[str, type[Initializer]] = {
    "zeros": Zeros, "ones": Ones, "constant": Constant,
    "random_normal": RandomNormal, "random_uniform": RandomUniform,
    "truncated_normal": TruncatedNormal, "variance_scaling": VarianceScaling,
    "glorot_uniform": GlorotUniform, "glorot_normal": GlorotNormal,
    "he_uniform": HeUniform, "he_normal": HeNormal,
    "lecun_uniform": LecunUniform, "lecun_normal": LecunNormal,
    "orthogonal": Orthogonal, "identity": Identity,
}
_ALIASES = {"zero": "zeros", "one": "ones", "normal": "random_normal",
            "uniform": "random_uniform"}
_NAME_OF = {cls: name for name, cls in _CLASSES.items()}
_BY_CLASS_NAME = {cls.__name__: name for name, cls in _CLASSES.items()}

# Keys Keras 3 adds to an initialiser's config that convnet has no use for when left at None
# (3.15 writes input_axes/output_axes for the Glorot/He/Lecun ones).
_IGNORED_WHEN_NONE = ("input_axes", "output_axes", "dtype")

InitializerSpec = str | Initializer


def _expected() -> str:
    return f"expected one of {sorted(_CLASSES)}, their class names, or an Initializer object"


def _name(spec: str) -> str | None:
    spec = _ALIASES.get(spec, spec)
    if spec in _CLASSES:
        return spec
    return _BY_CLASS_NAME.get(spec)


def get(spec) -> Initializer:
    """An :class:`Initializer` for a name, a class name, a Keras config dict or an object."""
    spec = normalize(spec)
    return _CLASSES[spec]() if isinstance(spec, str) else spec


def normalize(spec) -> InitializerSpec:
    """What a layer keeps: a snake_case name (``'glorot_uniform'``) when the initialiser is a
    named one with its default arguments, else an :class:`Initializer` object.

    Accepts ``'he_normal'``, ``'HeNormal'``, an object (``HeNormal(seed=1)``), its class, or a
    Keras dict ``{"class_name": "HeNormal", "config": {"seed": 1}}`` (``module`` and
    ``registered_name`` keys, as Keras 3 writes them, are ignored)."""
    if isinstance(spec, type) and issubclass(spec, Initializer):
        spec = spec()
    if isinstance(spec, dict):
        spec = _from_dict(spec)
    if isinstance(spec, str):
        name = _name(spec)
        if name is None:
            raise ValueError(f"Unknown initializer {spec!r}; {_expected()}")
        return name
    if isinstance(spec, Initializer):
        name = _NAME_OF.get(type(spec))
        if name is not None and spec == _CLASSES[name]():
            return name
        return spec
    raise ValueError(f"Unknown initializer {spec!r}; {_expected()}")


def _from_dict(spec: dict) -> Initializer:
    class_name = spec.get("class_name")
    name = _name(class_name) if isinstance(class_name, str) else None
    if name is None:
        raise ValueError(f"Unknown initializer {class_name!r} (in {spec!r}); {_expected()}")
    config = spec.get("config") or {}
    if not isinstance(config, dict):
        raise ValueError(f"initializer {class_name!r}: config must be a dict, got {config!r}")
    config = {k: v for k, v in config.items() if not (k in _IGNORED_WHEN_NONE and v is None)}
    cls = _CLASSES[name]
    try:
        return cls.from_config(config)
    except TypeError:
        raise ValueError(f"initializer {class_name!r}: config {config!r} has arguments "
                         f"{cls.__name__} does not take; it takes "
                         f"{sorted(cls().get_config())}") from None


def initialize(spec: InitializerSpec, shape: tuple[int, ...], dtype: str) -> np.ndarray:
    """Draw an array of ``shape`` and ``dtype`` from the initialiser ``spec`` (what
    :func:`normalize` returns, or anything it accepts)."""
    return get(spec)(tuple(shape), dtype)


def serialize(spec: InitializerSpec) -> dict:
    """Keras's JSON form ``{"class_name": ..., "config": {...}}``, as tf-keras 2.x and Keras 3
    both read it (the config holds exactly the constructor's arguments)."""
    init = get(spec)
    return {"class_name": type(init).__name__, "config": init.get_config()}


def deserialize(config: dict) -> Initializer:
    """The initialiser a Keras JSON dict describes (:func:`serialize`'s inverse)."""
    return get(config)
