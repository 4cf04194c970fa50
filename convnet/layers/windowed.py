"""What the 2-D window layers share: their window arguments, checked in one place.

Conv2D, Conv2DTranspose, DepthwiseConv2D and SeparableConv2D take the same ``kernel_size``,
``strides``, ``padding``, ``data_format``, ``dilation_rate``/``groups``, ``activation`` and
``use_bias``; :meth:`WindowArguments._set_window` checks and stores them with errors that name
the layer. ``groups`` must be 1; ``dilation_rate`` must be 1 except on the layers that support
it (Conv2D: see :mod:`convnet.layers.dilation`), where, as in Keras, it cannot be combined with
strides above 1.
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
    dilation_rate: tuple[int, int] = (1, 1)
    padding: str
    data_format: str
    use_bias: bool

    def _set_window(self, what: str, kernel_size, strides, padding, data_format, dilation_rate,
                    groups, activation, use_bias, *, dilation: bool = False) -> None:
        """Check and store the window arguments; ``dilation``: whether this layer supports
        ``dilation_rate`` other than 1."""
        self.kernel_size = pair(kernel_size, "kernel_size", what)
        self.strides = pair(strides, "strides", what)
        rate = pair(dilation_rate, "dilation_rate", what)
        if dilation and groups == 1:
            if max(self.strides) > 1 and max(rate) > 1:
                raise ValueError(f"{what}: strides > 1 together with dilation_rate > 1 is not "
                                 f"supported (as in Keras); got strides={self.strides} and "
                                 f"dilation_rate={rate}")
            self.dilation_rate = rate
        elif dilation:
            raise ValueError(f"{what}: groups other than 1 is not supported, got {groups!r}")
        elif rate != (1, 1) or groups != 1:
            raise ValueError(f"{what}: dilation_rate other than (1, 1) and groups other than 1 "
                             "are not supported")
        self.padding = check_padding(padding, what)
        self.data_format = backend.normalize_data_format(data_format)
        self._set_activation(activation)  # type: ignore[attr-defined]
        self.use_bias = bool(use_bias)
