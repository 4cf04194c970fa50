"""What the 2-D window layers share: their window arguments, checked in one place.

Conv2D, Conv2DTranspose, DepthwiseConv2D and SeparableConv2D take the same ``kernel_size``,
``strides``, ``padding``, ``data_format``, ``dilation_rate``/``groups`` (only 1 is supported),
``activation`` and ``use_bias``; :meth:`WindowArguments._set_window` checks and stores them with
errors that name the layer.
"""

from __future__ import annotations

from convnet import backend
from convnet.layers.base import pair
from convnet.layers.padding import check_padding


class WindowArguments:
    """Mixin for layers that slide a 2-D window and end in an activation (needs
    :class:`convnet.layers.activated.ActivationMixin`'s ``_set_activation``)."""

    kernel_size: tuple[int, int]
    strides: tuple[int, int]
    padding: str
    data_format: str
    use_bias: bool

    def _set_window(self, what: str, kernel_size, strides, padding, data_format, dilation_rate,
                    groups, activation, use_bias) -> None:
        self.kernel_size = pair(kernel_size, "kernel_size", what)
        self.strides = pair(strides, "strides", what)
        if pair(dilation_rate, "dilation_rate", what) != (1, 1) or groups != 1:
            raise ValueError(f"{what}: dilation_rate other than (1, 1) and groups other than 1 "
                             "are not supported")
        self.padding = check_padding(padding, what)
        self.data_format = backend.normalize_data_format(data_format)
        self._set_activation(activation)  # type: ignore[attr-defined]
        self.use_bias = bool(use_bias)
