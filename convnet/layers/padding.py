"""Output sizes and padding amounts for sliding windows, as Keras/TensorFlow define them."""

from __future__ import annotations

import math


def window_output_size(size: int, k: int, stride: int, padding: str) -> int:
    """'valid': windows fit inside; 'same': ``ceil(size / stride)`` windows."""
    if padding == "valid":
        return (size - k) // stride + 1
    return math.ceil(size / stride)


def same_padding(size: int, k: int, stride: int) -> tuple[int, int]:
    """(before, after) padding for 'same': the odd extra cell goes *after* (bottom/right)."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + k - size, 0)
    return total // 2, total - total // 2


def check_padding(padding: str, layer: str) -> str:
    """Validate a padding name ('valid' or 'same', any case)."""
    if not isinstance(padding, str) or padding.lower() not in ("valid", "same"):
        raise ValueError(f"{layer}: padding must be 'valid' or 'same', got {padding!r}")
    return padding.lower()
