"""One check for the numeric arguments of layers, initializers and constraints (a rate, a
factor, a momentum, a standard deviation...), so every one of them refuses bad values alike:
``"<owner>: <argument> must be <bound>, got <value>"``.

A real number passes (Python or NumPy ints and floats, 0-d arrays of them; not bools, strings,
None, NaN or infinities) when it lies within the bounds; it comes back as a Python float.
"""

from __future__ import annotations

import math
import numbers

import numpy as np


def real_number(owner: str, argument: str, value, low: float | None = None,
                high: float | None = None, *, low_open: bool = False,
                high_open: bool = False) -> float:
    """``float(value)`` if it is a finite real number within ``low``/``high`` (either may be
    None: unbounded; ``low_open``/``high_open``: the bound itself is excluded); else a
    ValueError naming ``owner`` and ``argument``."""
    if isinstance(value, np.ndarray) and value.ndim == 0:     # K.get_value's 0-d arrays
        value = value[()]
    ok = (isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))
          and math.isfinite(float(value)))
    if ok:
        v = float(value)
        ok = ((low is None or (v > low if low_open else v >= low))
              and (high is None or (v < high if high_open else v <= high)))
    if not ok:
        raise ValueError(f"{owner}: {argument} must be {_bound(low, high, low_open, high_open)}, "
                         f"got {value!r}")
    return float(value)


def _bound(low: float | None, high: float | None, low_open: bool, high_open: bool) -> str:
    if low is None and high is None:
        return "a finite number"
    if high is None:
        assert low is not None
        if low == 0 and low_open:
            return "a positive number"
        return f"a number {'>' if low_open else '>='} {low:g}"
    if low is None:
        return f"a number {'<' if high_open else '<='} {high:g}"
    return f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
