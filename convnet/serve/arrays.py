"""Requests in, arrays out: checking what a page sends and writing arrays as JSON.

Every value a request carries is checked here before it reaches a model, so that a bad request
gets a 4xx naming the problem (shape, NaN, range, layer, index) and never an exception from deep
inside NumPy.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np


class RequestError(ValueError):
    """A request the server refuses: ``status`` (a 4xx) and a message naming the problem."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def field(body: dict, name: str) -> Any:
    """``body[name]``, or a 400 naming the missing field."""
    if name not in body:
        raise RequestError(f"the request needs a {name!r} field (got {sorted(body) or 'none'})")
    return body[name]


def parse_image(value: Any, input_shape: tuple) -> np.ndarray:
    """A JSON image -> one batch ``(1, *input_shape)`` of float64 values in [0, 1].

    ``input_shape`` is the model's per-sample input shape; for one-channel images ``(H, W, 1)``
    the image is ``H`` rows of ``W`` numbers (ink = 1), as ``convnet predict`` prepares them; the
    full ``(H, W, 1)`` nesting is accepted too."""
    if not isinstance(value, list):
        raise RequestError(f"'image' must be a list of {input_shape[0]} rows of numbers, "
                           f"got {type(value).__name__}")
    _check_numbers(value, "image")
    try:
        a = np.array(value, dtype=np.float64)
    except (ValueError, TypeError):
        raise RequestError("'image' must be a rectangular nested list of numbers (rows of "
                           "equal length)") from None
    shape = tuple(input_shape)
    if a.shape != shape and not (len(shape) == 3 and shape[-1] == 1 and a.shape == shape[:2]):
        want = shape[:2] if len(shape) == 3 and shape[-1] == 1 else shape
        raise RequestError(f"'image' must have shape {list(want)} (the model's input), got "
                           f"{list(a.shape)}")
    if not np.all(np.isfinite(a)):
        raise RequestError("'image' holds NaN or infinite values")
    if a.size and (a.min() < 0 or a.max() > 1):
        raise RequestError(f"'image' values must lie in [0, 1] (ink = 1), got values in "
                           f"[{a.min():g}, {a.max():g}]")
    return a.reshape((1,) + shape)


def _check_numbers(value: list, what: str, depth: int = 0) -> None:
    """Only lists and real numbers (no strings, booleans, null), at most 4 levels deep."""
    if depth > 4:
        raise RequestError(f"'{what}' is nested too deeply")
    for v in value:
        if isinstance(v, list):
            _check_numbers(v, what, depth + 1)
        elif isinstance(v, bool) or not isinstance(v, (int, float)):
            raise RequestError(f"'{what}' must hold only numbers, found {type(v).__name__} "
                               f"{v!r}"[:200])


def parse_int(value: Any, what: str, low: int, high: int) -> int:
    """An integer in ``[low, high)`` (a whole float such as 3.0 is accepted), else a 400."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or \
            (isinstance(value, float) and (not math.isfinite(value) or value != int(value))):
        raise RequestError(f"'{what}' must be an integer, got {value!r}"[:200])
    value = int(value)
    if not low <= value < high:
        raise RequestError(f"'{what}' must be in [{low}, {high - 1}], got {value}")
    return value


def parse_index(value: Any, shape: tuple, what: str) -> tuple[int, ...]:
    """A per-sample index (a list of one integer per axis of ``shape``) inside ``shape``."""
    if not isinstance(value, list) or len(value) != len(shape):
        raise RequestError(f"'{what}' must be a list of {len(shape)} integers (an index into "
                           f"shape {list(shape)}), got {value!r}"[:300])
    return tuple(parse_int(v, f"{what}[{axis}]", 0, size)
                 for axis, (v, size) in enumerate(zip(value, shape)))


def to_json(a) -> Any:
    """An array as nested lists of Python floats (a scalar as a float).

    Floats are written with the shortest decimal that reads back as the same value of the
    array's own type (float32 ``0.1`` is written ``0.1``, not ``0.10000000149011612``): the page
    gets the exact numbers convnet computed, in half the bytes. NaN and infinities, which JSON
    cannot hold, become null."""
    a = np.asarray(a)
    if a.dtype.kind in "iub":
        return a.tolist()
    if a.dtype.kind != "f":
        a = a.astype(np.float64)
    finite = np.isfinite(a)
    if a.dtype != np.float64:
        a = a.astype(str).astype(np.float64)         # shortest repr in the array's own type
    if not np.all(finite):
        b = a.astype(object)
        b[~finite] = None
        return b.tolist()
    return a.tolist()


def number(x) -> float | None:
    """One value as a JSON number (shortest repr of its own float type; None for NaN/inf)."""
    value = to_json(np.asarray(x))
    return value if value is None else float(value)
