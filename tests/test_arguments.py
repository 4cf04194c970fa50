"""convnet.arguments.real_number: the one check behind every numeric argument's error."""

import numpy as np
import pytest

from convnet.arguments import real_number


@pytest.mark.parametrize("value", [0, 0.5, np.float32(0.25), np.int64(0)])
def test_real_numbers_inside_the_bounds_come_back_as_floats(value):
    out = real_number("Dropout 'd'", "rate", value, 0.0, 1.0, high_open=True)
    assert out == float(value) and type(out) is float


@pytest.mark.parametrize("value, bounds, message", [
    (1.0, dict(low=0.0, high=1.0, high_open=True), "rate must be in [0, 1), got 1.0"),
    (-0.1, dict(low=0.0, high=1.0), "rate must be in [0, 1], got -0.1"),
    (0, dict(low=0.0, low_open=True), "rate must be a positive number, got 0"),
    (-1, dict(low=0.0), "rate must be a number >= 0, got -1"),
    (3, dict(high=2.0, high_open=True), "rate must be a number < 2, got 3"),
    (True, {}, "rate must be a finite number, got True"),
    ("0.5", {}, "rate must be a finite number, got '0.5'"),
    (None, {}, "rate must be a finite number, got None"),
    (float("nan"), {}, "rate must be a finite number, got nan"),
    (float("inf"), dict(low=0.0), "rate must be a number >= 0, got inf"),
    (np.bool_(True), {}, "rate must be a finite number, got "),
])
def test_anything_else_is_refused_naming_the_owner_the_argument_and_the_bound(value, bounds,
                                                                              message):
    with pytest.raises(ValueError) as err:
        real_number("Layer 'x'", "rate", value, **bounds)
    assert str(err.value).startswith("Layer 'x': ") and message in str(err.value)


def test_a_zero_dimensional_array_counts_as_its_number():
    assert real_number("SGD", "learning_rate", np.array(0.01), 0.0, low_open=True) == 0.01
