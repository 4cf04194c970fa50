"""ONNX export: ``model.export("digit.onnx", format="onnx")`` (Keras 3's spelling).

The graph is built with the ``onnx`` package's helpers (an optional extra: ``pip install
convnet[onnx]``), one small converter per layer class, each the layer's inference computation in
ONNX operators (opset 17 by default):

* Tensors keep Keras's layouts: channels_last layers see NHWC; ``Conv``, ``MaxPool``,
  ``AveragePool`` (ONNX's are NCHW) get a ``Transpose`` on each side, ``data_format=
  'channels_first'`` layers none. The kernel goes from Keras's ``(kh, kw, in, out)`` to ONNX's
  ``(out, in, kh, kw)``; both are cross-correlations.
* ``'same'`` padding becomes explicit pads, the odd cell after (bottom/right), as Keras;
  ``AveragePool`` excludes the padding from its count (``count_include_pad=0``), as Keras.
* 1-D layers (``Conv1D``, ``MaxPooling1D``, ``AveragePooling1D``) use ONNX's 1-D ``Conv`` and
  pools on NCL (a ``Transpose`` on each side for channels_last); 'causal' pads ``k - 1`` before.
* ``DepthwiseConv2D`` is a ``Conv`` with ``group=C`` (output channel ``c*M + m``, as convnet);
  ``SeparableConv2D`` that ``Conv`` then a 1x1 ``Conv``. ``Conv2DTranspose`` is a
  ``ConvTranspose`` (same stamping, no flip) whose pads crop to Keras's output size, zero-extended
  with a ``Pad`` where that is larger than the full result.
* Dropout, noise, augmentation and ``ActivityRegularization`` layers are the identity at
  inference, so they export as ``Identity``.
* The batch axis is dynamic (``"batch"``); the other sizes are the model's.

The model is checked with ``onnx.checker.check_model(full_check=True)`` before it is written
(atomically). A layer or activation with no converter is refused with its name.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from convnet.layers.padding import same_padding
from convnet.saving.atomic import atomic_path
from convnet.saving.errors import FormatError

DEFAULT_OPSET = 17
INSTALL_HINT = ("ONNX export needs the 'onnx' package, an optional extra of convnet: "
                "pip install convnet[onnx]")
_IDENTITY_AT_INFERENCE = {"Dropout", "SpatialDropout2D", "GaussianNoise", "GaussianDropout",
                          "ActivityRegularization", "RandomFlip", "RandomTranslation",
                          "RandomRotation", "RandomZoom", "RandomContrast"}


def require_onnx():
    """The ``onnx`` module, or an ImportError that says how to install it."""
    try:
        import onnx
    except ImportError:
        raise ImportError(INSTALL_HINT) from None
    return onnx


class GraphBuilder:
    """Collects nodes and constants; every ``op`` returns the name of its (first) output."""

    def __init__(self, onnx, dtype: np.dtype):
        self.onnx, self.helper, self.dtype = onnx, onnx.helper, np.dtype(dtype)
        self.nodes: list = []
        self.initializers: list = []
        self._count = 0

    def fresh(self, hint: str) -> str:
        self._count += 1
        return f"{hint}_{self._count}"

    def const(self, value, hint: str, dtype=None) -> str:
        array = np.asarray(value, dtype=dtype or self.dtype)
        name = self.fresh(hint)
        self.initializers.append(self.onnx.numpy_helper.from_array(array, name))
        return name

    def op(self, op_type: str, inputs: list[str], hint: str, **attrs) -> str:
        out = self.fresh(hint)
        self.nodes.append(self.helper.make_node(op_type, inputs, [out], name=out, **attrs))
        return out


# ----- activations -------------------------------------------------------------------------------
def activation(g: GraphBuilder, x: str, name: str, hint: str) -> str:
    """``x`` through Keras activation ``name`` (convnet's definitions, activations.py)."""
    from convnet.activations import SELU_ALPHA, SELU_SCALE

    simple = {"relu": "Relu", "tanh": "Tanh", "sigmoid": "Sigmoid", "softplus": "Softplus",
              "softsign": "Softsign", "exponential": "Exp"}
    if name in (None, "linear"):
        return x
    if name in simple:
        return g.op(simple[name], [x], hint)
    if name == "softmax":
        return g.op("Softmax", [x], hint, axis=-1)
    if name == "elu":
        return g.op("Elu", [x], hint, alpha=1.0)
    if name == "selu":
        return g.op("Selu", [x], hint, alpha=SELU_ALPHA, gamma=SELU_SCALE)
    if name == "relu6":
        return g.op("Clip", [x, g.const(0, "zero"), g.const(6, "six")], hint)
    if name == "hard_sigmoid":                     # Keras 3: relu6(x + 3) / 6
        return g.op("HardSigmoid", [x], hint, alpha=1 / 6, beta=0.5)
    if name == "leaky_relu":
        return g.op("LeakyRelu", [x], hint, alpha=0.2)
    if name in ("silu", "swish"):
        return g.op("Mul", [x, g.op("Sigmoid", [x], hint)], hint)
    if name in ("hard_silu", "hard_swish"):
        return g.op("Mul", [x, g.op("HardSigmoid", [x], hint, alpha=1 / 6, beta=0.5)], hint)
    if name == "mish":
        return g.op("Mul", [x, g.op("Tanh", [g.op("Softplus", [x], hint)], hint)], hint)
    if name == "gelu":                             # exact: x (1 + erf(x / sqrt 2)) / 2
        erf = g.op("Erf", [g.op("Div", [x, g.const(np.sqrt(2.0), "sqrt2")], hint)], hint)
        half = g.op("Mul", [x, g.const(0.5, "half")], hint)
        return g.op("Mul", [half, g.op("Add", [erf, g.const(1.0, "one")], hint)], hint)
    raise FormatError(f"export: activation {name!r} has no ONNX converter")


# ----- layers ------------------------------------------------------------------------------------
def _first(value) -> bool:
    return value == "channels_first"


def _to_nchw(g, x, cf: bool) -> str:
    return x if cf else g.op("Transpose", [x], "to_nchw", perm=[0, 3, 1, 2])


def _to_nhwc(g, x, cf: bool) -> str:
    return x if cf else g.op("Transpose", [x], "to_nhwc", perm=[0, 2, 3, 1])


def _pair(value) -> tuple[int, int]:
    return (int(value), int(value)) if isinstance(value, (int, np.integer)) else \
        (int(value[0]), int(value[1]))


def _spatial(shape: tuple, cf: bool) -> tuple[int, int]:
    return (shape[1], shape[2]) if cf else (shape[0], shape[1])


def _window_pads(cfg, in_shape, kernel, strides, dilation=(1, 1)) -> list[int]:
    if cfg["padding"] != "same":
        return [0, 0, 0, 0]
    h, w = _spatial(in_shape, _first(cfg.get("data_format")))
    top, bottom = same_padding(h, (kernel[0] - 1) * dilation[0] + 1, strides[0])
    left, right = same_padding(w, (kernel[1] - 1) * dilation[1] + 1, strides[1])
    return [top, left, bottom, right]


def conv2d(g, layer, xs, cfg, shapes) -> str:
    weights = dict(zip(layer.weight_names(), layer.get_weights()))
    cf = _first(cfg.get("data_format"))
    kernel = weights["kernel"]
    strides, dilation = _pair(cfg["strides"]), _pair(cfg.get("dilation_rate", 1))
    inputs = [_to_nchw(g, xs[0], cf), g.const(kernel.transpose(3, 2, 0, 1), f"{layer.name}_W")]
    if "bias" in weights:
        inputs.append(g.const(weights["bias"], f"{layer.name}_b"))
    y = g.op("Conv", inputs, layer.name, kernel_shape=list(kernel.shape[:2]),
             strides=list(strides), dilations=list(dilation), group=int(cfg.get("groups", 1)),
             pads=_window_pads(cfg, shapes[0], kernel.shape[:2], strides, dilation))
    return activation(g, _to_nhwc(g, y, cf), cfg.get("activation"), layer.name)


def pooling(g, layer, xs, cfg, shapes) -> str:
    cf = _first(cfg.get("data_format"))
    pool = _pair(cfg["pool_size"])
    strides = _pair(cfg.get("strides") or pool)
    op = "MaxPool" if type(layer).__name__ == "MaxPooling2D" else "AveragePool"
    y = g.op(op, [_to_nchw(g, xs[0], cf)], layer.name, kernel_shape=list(pool),
             strides=list(strides), pads=_window_pads(cfg, shapes[0], pool, strides))
    return _to_nhwc(g, y, cf)


def dense(g, layer, xs, cfg, shapes) -> str:
    weights = dict(zip(layer.weight_names(), layer.get_weights()))
    y = g.op("MatMul", [xs[0], g.const(weights["kernel"], f"{layer.name}_W")], layer.name)
    if "bias" in weights:
        y = g.op("Add", [y, g.const(weights["bias"], f"{layer.name}_b")], layer.name)
    return activation(g, y, cfg.get("activation"), layer.name)


def flatten(g, layer, xs, cfg, shapes) -> str:
    x = xs[0]
    rank = len(shapes[0]) + 1
    if _first(cfg.get("data_format")) and rank > 2:       # Keras moves channels last first
        x = g.op("Transpose", [x], layer.name, perm=[0, *range(2, rank), 1])
    return g.op("Flatten", [x], layer.name, axis=1)


def batch_normalization(g, layer, xs, cfg, shapes) -> str:
    weights = dict(zip(layer.weight_names(), layer.get_weights()))
    rank = len(shapes[0]) + 1
    axes = cfg["axis"] if isinstance(cfg["axis"], (list, tuple)) else [cfg["axis"]]
    axes = [a % rank for a in axes]
    shape = [shapes[0][a - 1] if a in axes else 1 for a in range(1, rank)]

    def per_channel(value, hint):
        return g.const(np.reshape(value, shape), f"{layer.name}_{hint}")
    mean, var = weights["moving_mean"], weights["moving_variance"]
    inv_std = (1.0 / np.sqrt(var + np.asarray(cfg["epsilon"], var.dtype))).astype(var.dtype)
    y = g.op("Mul", [g.op("Sub", [xs[0], per_channel(mean, "mean")], layer.name),
                     per_channel(inv_std, "inv_std")], layer.name)
    if "gamma" in weights:
        y = g.op("Mul", [y, per_channel(weights["gamma"], "gamma")], layer.name)
    if "beta" in weights:
        y = g.op("Add", [y, per_channel(weights["beta"], "beta")], layer.name)
    return y


def _cells(value) -> tuple[tuple[int, int], tuple[int, int]]:
    if isinstance(value, (int, np.integer)):
        return (int(value),) * 2, (int(value),) * 2
    a, b = value
    return (_pair(a), _pair(b))


def zero_padding(g, layer, xs, cfg, shapes) -> str:
    (top, bottom), (left, right) = _cells(cfg["padding"])
    if _first(cfg.get("data_format")):
        pads = [0, 0, top, left, 0, 0, bottom, right]
    else:
        pads = [0, top, left, 0, 0, bottom, right, 0]
    return g.op("Pad", [xs[0], g.const(pads, "pads", np.int64)], layer.name)


def cropping(g, layer, xs, cfg, shapes) -> str:
    (top, bottom), (left, right) = _cells(cfg["cropping"])
    cf = _first(cfg.get("data_format"))
    h, w = _spatial(shapes[0], cf)
    axes = [2, 3] if cf else [1, 2]
    return g.op("Slice", [xs[0], g.const([top, left], "starts", np.int64),
                          g.const([h - bottom, w - right], "ends", np.int64),
                          g.const(axes, "axes", np.int64)], layer.name)


def reshape(g, layer, xs, cfg, shapes) -> str:
    return g.op("Reshape", [xs[0], g.const([-1, *shapes[1]], "shape", np.int64)], layer.name)


def permute(g, layer, xs, cfg, shapes) -> str:
    return g.op("Transpose", [xs[0]], layer.name, perm=[0, *[int(d) for d in cfg["dims"]]])


def global_pooling(g, layer, xs, cfg, shapes) -> str:
    axes = [2, 3] if _first(cfg.get("data_format")) else [1, 2]
    op = "ReduceMax" if "Max" in type(layer).__name__ else "ReduceMean"
    return g.op(op, [xs[0]], layer.name, axes=axes, keepdims=int(bool(cfg.get("keepdims"))))


def softmax(g, layer, xs, cfg, shapes) -> str:
    axis = cfg.get("axis", -1)
    if isinstance(axis, (list, tuple)):
        if len(axis) != 1:
            raise FormatError(f"export: Softmax {layer.name!r} over several axes {axis} has no "
                              "ONNX converter")
        axis = axis[0]
    return g.op("Softmax", [xs[0]], layer.name, axis=int(axis))


def relu_layer(g, layer, xs, cfg, shapes) -> str:
    x = xs[0]
    slope, threshold = float(cfg.get("negative_slope") or 0.0), float(cfg.get("threshold") or 0)
    if slope == 0 and threshold == 0:
        y = g.op("Relu", [x], layer.name)
    else:                       # x >= threshold: x; else negative_slope * (x - threshold)
        below = g.op("Mul", [g.op("Sub", [x, g.const(threshold, "threshold")], layer.name),
                             g.const(slope, "slope")], layer.name)
        keep = g.op("GreaterOrEqual", [x, g.const(threshold, "threshold")], layer.name)
        y = g.op("Where", [keep, x, below], layer.name)
    if cfg.get("max_value") is not None:
        y = g.op("Min", [y, g.const(cfg["max_value"], "max_value")], layer.name)
    return y


def leaky_relu(g, layer, xs, cfg, shapes) -> str:
    slope = cfg.get("negative_slope", cfg.get("alpha", 0.3))
    return g.op("LeakyRelu", [xs[0]], layer.name, alpha=float(slope))


def elu(g, layer, xs, cfg, shapes) -> str:
    return g.op("Elu", [xs[0]], layer.name, alpha=float(cfg.get("alpha", 1.0)))


def prelu(g, layer, xs, cfg, shapes) -> str:
    alpha = dict(zip(layer.weight_names(), layer.get_weights()))["alpha"]
    return g.op("PRelu", [xs[0], g.const(alpha, f"{layer.name}_alpha")], layer.name)


def activation_layer(g, layer, xs, cfg, shapes) -> str:
    y = activation(g, xs[0], cfg.get("activation"), layer.name)
    return y if y != xs[0] else g.op("Identity", [y], layer.name)


def identity(g, layer, xs, cfg, shapes) -> str:
    return g.op("Identity", [xs[0]], layer.name)


def rescaling(g, layer, xs, cfg, shapes) -> str:
    y = g.op("Mul", [xs[0], g.const(cfg["scale"], "scale")], layer.name)
    return g.op("Add", [y, g.const(cfg.get("offset", 0.0), "offset")], layer.name)


def upsampling(g, layer, xs, cfg, shapes) -> str:
    cf = _first(cfg.get("data_format"))
    sh, sw = _pair(cfg["size"])
    x = _to_nchw(g, xs[0], cf)
    scales = g.const([1.0, 1.0, sh, sw], "scales", np.float32)
    roi = g.const([], "roi", np.float32)
    if cfg.get("interpolation", "nearest") == "nearest":
        y = g.op("Resize", [x, roi, scales], layer.name, mode="nearest",
                 coordinate_transformation_mode="asymmetric", nearest_mode="floor")
    elif cfg["interpolation"] == "bilinear":
        y = g.op("Resize", [x, roi, scales], layer.name, mode="linear",
                 coordinate_transformation_mode="half_pixel")
    else:
        raise FormatError(f"export: UpSampling2D {layer.name!r} interpolation "
                          f"{cfg['interpolation']!r} has no ONNX converter")
    return _to_nhwc(g, y, cf)


def merge(g, layer, xs, cfg, shapes) -> str:
    kind = type(layer).__name__
    if kind == "Subtract":
        return g.op("Sub", xs, layer.name)
    if kind == "Concatenate":
        return g.op("Concat", xs, layer.name, axis=int(cfg.get("axis", -1)))
    if kind == "Multiply":
        y = xs[0]
        for other in xs[1:]:
            y = g.op("Mul", [y, other], layer.name)
        return y
    if kind == "Add":
        return g.op("Sum", xs, layer.name)
    if kind == "Average":
        total = g.op("Sum", xs, layer.name)
        return g.op("Div", [total, g.const(len(xs), "count")], layer.name)
    return g.op({"Maximum": "Max", "Minimum": "Min"}[kind], xs, layer.name)


# ----- depthwise, separable, transposed and 1-D layers ---------------------------------------
def _depthwise(g, layer, x, cfg, shapes, weights, with_bias: bool) -> str:
    """The depthwise step on NCHW ``x``: ``Conv`` with ``group=C``; output channel
    ``c*M + m`` is input channel ``c`` through kernel ``m``, as convnet orders them."""
    kernel = weights["depthwise_kernel"]                         # (kh, kw, C, M)
    kh, kw, c, m = kernel.shape
    w = kernel.reshape(kh, kw, c * m).transpose(2, 0, 1)[:, None]   # (C*M, 1, kh, kw)
    strides, dilation = _pair(cfg["strides"]), _pair(cfg.get("dilation_rate", 1))
    inputs = [x, g.const(w, f"{layer.name}_depthwise_W")]
    if with_bias and "bias" in weights:
        inputs.append(g.const(weights["bias"], f"{layer.name}_b"))
    return g.op("Conv", inputs, layer.name, kernel_shape=[kh, kw], strides=list(strides),
                dilations=list(dilation), group=int(c),
                pads=_window_pads(cfg, shapes[0], (kh, kw), strides, dilation))


def depthwise_conv2d(g, layer, xs, cfg, shapes) -> str:
    weights = dict(zip(layer.weight_names(), layer.get_weights()))
    cf = _first(cfg.get("data_format"))
    y = _depthwise(g, layer, _to_nchw(g, xs[0], cf), cfg, shapes, weights, with_bias=True)
    return activation(g, _to_nhwc(g, y, cf), cfg.get("activation"), layer.name)


def separable_conv2d(g, layer, xs, cfg, shapes) -> str:
    """The depthwise ``Conv`` (no bias), then a 1x1 ``Conv`` with the pointwise kernel."""
    weights = dict(zip(layer.weight_names(), layer.get_weights()))
    cf = _first(cfg.get("data_format"))
    u = _depthwise(g, layer, _to_nchw(g, xs[0], cf), cfg, shapes, weights, with_bias=False)
    pointwise = weights["pointwise_kernel"]                      # (1, 1, C*M, F)
    inputs = [u, g.const(pointwise.transpose(3, 2, 0, 1), f"{layer.name}_pointwise_W")]
    if "bias" in weights:
        inputs.append(g.const(weights["bias"], f"{layer.name}_b"))
    y = g.op("Conv", inputs, layer.name, kernel_shape=[1, 1])
    return activation(g, _to_nhwc(g, y, cf), cfg.get("activation"), layer.name)


def conv2d_transpose(g, layer, xs, cfg, shapes) -> str:
    """``ConvTranspose`` (the same stamping as convnet's col2im, no kernel flip) with the
    kernel ``(kh, kw, F, C)`` as ONNX's ``(C, F, kh, kw)``; the full ``(H - 1)*s + k`` result
    is cropped by explicit pads to convnet's window (transpose_geometry), and where that
    window runs past the full result (stride > kernel) it is zero-extended before the bias
    is added, as convnet does."""
    from convnet.layers.conv_transpose import transpose_geometry

    weights = dict(zip(layer.weight_names(), layer.get_weights()))
    cf = _first(cfg.get("data_format"))
    kernel = weights["kernel"]
    kh, kw, f, _ = kernel.shape
    strides = _pair(cfg["strides"])
    out_pad = cfg.get("output_padding") or (None, None)
    begins, ends, extend = [], [], []
    for size, k, s, p in zip(_spatial(shapes[0], cf), (kh, kw), strides, out_pad):
        length, start = transpose_geometry(size, k, s, cfg["padding"], p)
        full = (size - 1) * s + k
        begins.append(start)
        ends.append(max(full - start - length, 0))
        extend.append(max(start + length - full, 0))
    bias = weights.get("bias")
    inputs = [_to_nchw(g, xs[0], cf), g.const(kernel.transpose(3, 2, 0, 1), f"{layer.name}_W")]
    if bias is not None and not any(extend):
        inputs.append(g.const(bias, f"{layer.name}_b"))
    y = g.op("ConvTranspose", inputs, layer.name, kernel_shape=[kh, kw], strides=list(strides),
             pads=[*begins, *ends])
    if any(extend):
        y = g.op("Pad", [y, g.const([0, 0, 0, 0, 0, 0, *extend], "pads", np.int64)], layer.name)
        if bias is not None:
            y = g.op("Add", [y, g.const(bias.reshape(f, 1, 1), f"{layer.name}_b")], layer.name)
    return activation(g, _to_nhwc(g, y, cf), cfg.get("activation"), layer.name)


def _single(value) -> int:
    return int(value) if isinstance(value, (int, np.integer)) else int(value[0])


def _to_ncl(g, x, cf: bool) -> str:
    return x if cf else g.op("Transpose", [x], "to_ncl", perm=[0, 2, 1])


def _to_nlc(g, x, cf: bool) -> str:
    return x if cf else g.op("Transpose", [x], "to_nlc", perm=[0, 2, 1])


def _steps_pads(cfg, in_shape, k: int, stride: int) -> list[int]:
    """``[before, after]`` along the steps: 'same' as Keras (odd cell after), 'causal'
    ``k - 1`` before, 'valid' none."""
    if cfg["padding"] == "causal":
        return [k - 1, 0]
    if cfg["padding"] != "same":
        return [0, 0]
    steps = in_shape[1] if _first(cfg.get("data_format")) else in_shape[0]
    return list(same_padding(steps, k, stride))


def conv1d(g, layer, xs, cfg, shapes) -> str:
    weights = dict(zip(layer.weight_names(), layer.get_weights()))
    cf = _first(cfg.get("data_format"))
    kernel = weights["kernel"]                                   # (k, C, F)
    k, stride = int(kernel.shape[0]), _single(cfg["strides"])
    dilation = _single(cfg.get("dilation_rate", 1))
    if int(cfg.get("groups", 1)) != 1:
        raise FormatError(f"export: Conv1D {layer.name!r} with groups has no ONNX converter")
    inputs = [_to_ncl(g, xs[0], cf), g.const(kernel.transpose(2, 1, 0), f"{layer.name}_W")]
    if "bias" in weights:
        inputs.append(g.const(weights["bias"], f"{layer.name}_b"))
    # the pads are those of the dilated window, (k - 1) * dilation + 1 steps
    y = g.op("Conv", inputs, layer.name, kernel_shape=[k], strides=[stride],
             dilations=[dilation], pads=_steps_pads(cfg, shapes[0], (k - 1) * dilation + 1,
                                                    stride))
    return activation(g, _to_nlc(g, y, cf), cfg.get("activation"), layer.name)


def pooling1d(g, layer, xs, cfg, shapes) -> str:
    """``MaxPool``/``AveragePool`` over the steps; ``AveragePool`` leaves 'same' padding out
    of its count (``count_include_pad=0``), as Keras."""
    cf = _first(cfg.get("data_format"))
    pool = _single(cfg["pool_size"])
    stride = _single(cfg.get("strides") or pool)
    op = "MaxPool" if type(layer).__name__ == "MaxPooling1D" else "AveragePool"
    y = g.op(op, [_to_ncl(g, xs[0], cf)], layer.name, kernel_shape=[pool], strides=[stride],
             pads=_steps_pads(cfg, shapes[0], pool, stride))
    return _to_nlc(g, y, cf)


def global_pooling1d(g, layer, xs, cfg, shapes) -> str:
    axes = [2] if _first(cfg.get("data_format")) else [1]
    op = "ReduceMax" if "Max" in type(layer).__name__ else "ReduceMean"
    return g.op(op, [xs[0]], layer.name, axes=axes, keepdims=int(bool(cfg.get("keepdims"))))


CONVERTERS: dict[str, Any] = {
    "Conv2D": conv2d, "MaxPooling2D": pooling, "AveragePooling2D": pooling, "Dense": dense,
    "Flatten": flatten, "BatchNormalization": batch_normalization,
    "ZeroPadding2D": zero_padding, "Cropping2D": cropping, "Reshape": reshape,
    "Permute": permute, "GlobalAveragePooling2D": global_pooling,
    "GlobalMaxPooling2D": global_pooling, "Softmax": softmax, "ReLU": relu_layer,
    "LeakyReLU": leaky_relu, "ELU": elu, "PReLU": prelu, "Activation": activation_layer,
    "Rescaling": rescaling, "UpSampling2D": upsampling,
    "DepthwiseConv2D": depthwise_conv2d, "SeparableConv2D": separable_conv2d,
    "Conv2DTranspose": conv2d_transpose, "Conv1D": conv1d, "MaxPooling1D": pooling1d,
    "AveragePooling1D": pooling1d, "GlobalAveragePooling1D": global_pooling1d,
    "GlobalMaxPooling1D": global_pooling1d,
    **{name: merge for name in ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum",
                                "Concatenate")},
    **{name: identity for name in _IDENTITY_AT_INFERENCE},
}


# ----- the model ---------------------------------------------------------------------------------
def _calls(model) -> tuple[list, list, list]:
    """``(inputs, nodes, outputs)``: the model's symbolic inputs, its layer calls in
    topological order, its outputs."""
    from convnet import graph

    inputs, outputs = list(model.inputs), list(model.outputs)
    return inputs, graph.nodes_between(inputs, outputs), outputs


def to_onnx(model, opset_version: int | None = None):
    """The model as an ``onnx.ModelProto`` (checked with ``full_check=True``)."""
    onnx = require_onnx()
    if not model.built:
        raise FormatError("export: the model is not built yet; give it an input shape first")
    dtype = np.dtype(model.layers[0].dtype or "float32")
    elem = onnx.helper.np_dtype_to_tensor_dtype(dtype)
    g = GraphBuilder(onnx, dtype)
    inputs, nodes, outputs = _calls(model)
    names: dict[int, str] = {}
    graph_inputs = []
    for i, tensor in enumerate(inputs):
        name = tensor.name or (tensor.node.layer.name if tensor.node is not None else f"input_{i}")
        names[tensor.id] = name
        graph_inputs.append(onnx.helper.make_tensor_value_info(
            name, elem, ["batch", *tensor.shape[1:]]))
    for node in nodes:
        layer = node.layer
        kind = type(layer).__name__
        if kind == "InputLayer":        # the graph input itself
            continue
        convert = CONVERTERS.get(kind)
        if convert is None:
            raise FormatError(f"export: layer {layer.name!r} ({kind}) has no ONNX converter; "
                              f"supported: {', '.join(sorted(CONVERTERS))}")
        xs = [names[t.id] for t in node.inputs]
        shapes = ([tuple(t.shape[1:]) for t in node.inputs][0] if len(node.inputs) == 1
                  else [tuple(t.shape[1:]) for t in node.inputs], tuple(node.output.shape[1:]))
        names[node.output.id] = convert(g, layer, xs, layer.get_config(), shapes)
    graph_outputs = []
    for i, tensor in enumerate(outputs):
        name = f"output_{i}" if len(outputs) > 1 else "output"
        g.nodes.append(onnx.helper.make_node("Identity", [names[tensor.id]], [name], name=name))
        graph_outputs.append(onnx.helper.make_tensor_value_info(
            name, elem, ["batch", *tensor.shape[1:]]))
    graph_proto = onnx.helper.make_graph(g.nodes, model.name, graph_inputs, graph_outputs,
                                         g.initializers)
    proto = onnx.helper.make_model(
        graph_proto, producer_name="convnet",
        opset_imports=[onnx.helper.make_opsetid("", opset_version or DEFAULT_OPSET)])
    proto.ir_version = min(proto.ir_version, 9)      # readable by older runtimes too
    onnx.checker.check_model(proto, full_check=True)
    return proto


def export(model, path: str | os.PathLike, format: str | None = None,
           verbose: bool | None = None, input_signature=None, **kwargs) -> None:
    """``model.export(path, format="onnx")``, Keras 3's spelling; ``opset_version=`` as Keras.
    Without ``format``, a path ending in ``.onnx`` means ONNX; any other path is refused, since
    Keras 3 would write a TensorFlow SavedModel folder there."""
    if format is None:
        if not os.fspath(path).lower().endswith(".onnx"):
            raise FormatError(f"export: {os.fspath(path)!r} has no format: Keras 3's default "
                              "is a TensorFlow SavedModel folder, which convnet cannot write; "
                              "pass format='onnx' or a path ending in .onnx")
        format = "onnx"
    if format != "onnx":
        raise FormatError(f"export: format {format!r} is not supported; convnet exports "
                          "format='onnx' (Keras 3's other formats need TensorFlow, OpenVINO "
                          "or LiteRT)")
    if input_signature is not None:
        raise FormatError("export: input_signature is not supported; the ONNX graph takes the "
                          "model's own input shapes with a dynamic batch axis")
    opset_version = kwargs.pop("opset_version", None)
    if kwargs:
        raise TypeError(f"export: unexpected arguments {sorted(kwargs)}")
    export_onnx(model, path, opset_version, verbose)


def export_onnx(model, path: str | os.PathLike, opset_version: int | None = None,
                verbose: bool | None = None) -> None:
    """Write ``model`` as an ONNX file (atomically)."""
    proto = to_onnx(model, opset_version)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(proto.SerializeToString())
            f.flush()
            os.fsync(f.fileno())
    if verbose:
        print(f"Saved the model to {path} (ONNX, opset {opset_version or DEFAULT_OPSET})")
