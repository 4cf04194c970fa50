"""Rounding-error bounds that the suite's float tolerances come from.

Two paths that compute the same sums (im2col + BLAS, the direct kernel, Winograd, per-core
chunks, another batch size) round differently, and how differently depends on the CPU: OpenBLAS
and numba pick other kernels, block sizes and FMA use with and without AVX-512. A tolerance tuned
to one CPU's rounding fails on another. So each comparison here is against a *bound* on the error
the algorithm can make, on any CPU, in any summation order:

* A sum of ``n`` products computed in floating point, in any order, with or without FMA, is
  within ``gamma(n) * sum |terms|`` of the exact sum, ``gamma(n) = n u / (1 - n u)`` with ``u``
  the unit roundoff (Higham, *Accuracy and Stability of Numerical Algorithms*, 2nd ed., sec. 3.1).
  ``sum |terms|`` is the same computation on absolute values, which has no cancellation; here it
  is computed in float64 by the library's own layers with ``|x|`` and ``|K|``.
* Winograd's F(4x4, 3x3) is a chain of such sums (input transform, kernel transform, the channel
  products, output transform), so its error is within ``gamma(C + 40)`` of the same chain run on
  absolute values and absolute transform matrices: it grows with the largest *tile* magnitudes,
  not with one output's terms, which is why its float32 error is a few 1e-6 of the largest output.
* Through a model, errors are carried forward first-order: ReLU, max-pool and linear are
  1-Lipschitz (the error passes through), a linear layer maps an input error ``e`` to at most
  ``|K| e``, softmax to ``p_i (e_i + max_j e_j)``; each transcendental function adds a few ulps.

Two computed results each within ``B`` of the exact value differ by at most ``2B``. A ReLU whose
exact input lies within rounding of 0 may let dL/dy through in one path and not in the other:
there the bound on dL/dz is ``|dL/dy|`` itself, and it is carried into dL/dK and dL/dx.
"""

from __future__ import annotations

import numpy as np

from convnet import activations
from convnet.kernels import reference, winograd
from convnet.layers import (
    Activation,
    AveragePooling2D,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    MaxPooling2D,
)
from convnet.layers.dilation import dilate_kernel, undilate_gradient
from convnet.layers.padding import same_padding

TRANSFORM_DEPTH = 40   # Winograd: additions and scalings in the four transforms, plus storing


def unit_roundoff(dtype) -> float:
    """Half the distance from 1 to the next float: 2**-24 for float32, 2**-53 for float64."""
    return float(np.finfo(np.dtype(dtype)).eps) / 2


LAMBDA = 6.0    # probabilistic bounds: each fails with probability below 2 exp(-LAMBDA^2 / 2)
_probabilistic = False


def gamma(n: int | np.ndarray, dtype) -> float | np.ndarray:
    """Higham's ``gamma_n = n u / (1 - n u)``: the relative error bound of a sum of ``n`` terms.

    Inside :func:`probabilistic`, Higham & Mary's ``exp(LAMBDA sqrt(n) u + n u^2 / (1 - u)) - 1``
    instead ("A new approach to probabilistic rounding error analysis", SIAM J. Sci. Comput.
    41(5), 2019): rounding errors of round-to-nearest, taken as independent with mean zero, grow
    like ``sqrt(n)``; the worst case ``n`` is rarely approached and, compounded through a deep
    model, says nothing useful."""
    n = np.asarray(n, dtype=np.float64)
    u = unit_roundoff(dtype)
    if _probabilistic:
        return np.expm1(LAMBDA * np.sqrt(n) * u + n * u * u / (1 - u))
    return n * u / (1 - n * u)


class probabilistic:
    """``with probabilistic(): ...``: the bounds inside use the probabilistic ``gamma``."""

    def __enter__(self):
        global _probabilistic
        self._before, _probabilistic = _probabilistic, True

    def __exit__(self, *exc):
        global _probabilistic
        _probabilistic = self._before


def check(got, want, bound, what: str = "") -> float:
    """Assert ``|got - want| <= bound`` elementwise; return the largest ``|got - want| / bound``.

    On failure the message names the worst element, both values and the bound."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    if want.ndim == 0:
        want = np.broadcast_to(want, got.shape)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    bound = np.broadcast_to(np.asarray(bound, np.float64), want.shape)
    err = np.abs(got - want)
    ratio = np.where(err == 0, 0.0, err / np.where(bound > 0, bound, np.finfo(float).tiny))
    if ratio.size == 0:
        return 0.0
    worst = np.unravel_index(np.argmax(ratio), ratio.shape)
    assert ratio[worst] <= 1, (f"{what}: |got - expected| exceeds the rounding bound at {worst}: "
                               f"got {got[worst]!r}, expected {want[worst]!r}, "
                               f"error {err[worst]:.3g} > bound {bound[worst]:.3g} "
                               f"(ratio {ratio[worst]:.3g})")
    return float(ratio[worst])


def check_paths(a, b, bound, what: str = "") -> float:
    """Two computed paths, each within ``bound`` of the exact value, differ by at most 2 bound."""
    return check(a, b, 2 * np.asarray(bound), what)


# --- magnitudes: the same computation on absolute values, in float64 ------------------------

def _config(layer, **overrides) -> dict:
    return {**layer.get_config(), "dtype": "float64", **overrides}


def _twin(layer, input_shape: tuple, absolute: bool, power: int = 1):
    """A float64 copy of a Conv2D/Dense layer: with ``absolute``, its linear part on
    ``|weights| ** power`` and without bias (the bias is added separately); otherwise the exact
    layer in float64."""
    overrides = {"activation": "linear", "use_bias": False} if absolute else {}
    twin = type(layer).from_config(_config(layer, **overrides))
    twin.build(tuple(input_shape))
    for key, value in twin.params.items():
        source = layer.params[key].astype(np.float64)
        value[...] = np.abs(source) ** power if absolute else source
    return twin


def float64_twin(layer, input_shape: tuple):
    """A float64 copy of a Conv2D/Dense layer with the same weights: its "exact" result (its own
    rounding is 2**-29 of float32's)."""
    return _twin(layer, input_shape, absolute=False)


def winograd_probabilistic_bound(x: np.ndarray, kernel: np.ndarray, dtype=None) -> np.ndarray:
    """The probabilistic bound of :func:`winograd.conv2d` ('valid', channels-last) for ``x``."""
    with probabilistic():
        return _winograd_probabilistic(x, kernel, dtype or kernel.dtype)


def _channels_last(layer, a: np.ndarray) -> np.ndarray:
    return a.transpose(0, 2, 3, 1) if _channels_first(layer) else a


def _back(layer, a: np.ndarray) -> np.ndarray:
    return a.transpose(0, 3, 1, 2) if _channels_first(layer) else a


def _channels_first(layer) -> bool:
    return getattr(layer, "data_format", "") == "channels_first" and not isinstance(layer, Dense)


def _could_take_winograd(layer) -> bool:
    """Conv2D takes Winograd for 3x3 stride-1 kernels over enough input channels (when its
    per-core path runs); the bound then covers both Winograd and the other paths."""
    return (isinstance(layer, Conv2D) and tuple(layer.window) == (3, 3)
            and tuple(layer.strides) == (1, 1)
            and layer.params["kernel"].shape[2] >= layer.WINOGRAD_MIN_CHANNELS)


def _abs_matrices():
    return np.abs(winograd.BT), np.abs(winograd.G), np.abs(winograd.AT)


def _winograd_valid(d: np.ndarray, k: np.ndarray) -> np.ndarray:
    """The F(4x4, 3x3) chain on absolute values and absolute matrices: 'valid' correlation of
    ``d`` (N, H, W, C) >= 0 with ``k`` (3, 3, C, F) >= 0."""
    bt, g, at = _abs_matrices()
    n, h, w, _ = d.shape
    oh, ow = h - 2, w - 2
    th, tw = winograd.tile_grid(oh, ow)
    v = np.einsum("ai,ntsijc,bj->ntsabc", bt, winograd.tiles(d, 0, th, tw, winograd.TILE), bt)
    u = np.einsum("ai,ijcf,bj->abcf", g, k, g)
    m = np.einsum("ntsabc,abcf->ntsabf", v, u)
    y = np.einsum("ai,ntsijf,bj->ntasbf", at, m, at)
    return y.reshape(n, winograd.STEP * th, winograd.STEP * tw, -1)[:, :oh, :ow]


def _winograd_kernel_grad(d: np.ndarray, dz: np.ndarray) -> np.ndarray:
    """dL/dK by F(3, 4) on absolute values: ``|G|.T [sum |V|.T |W|] |G|``."""
    bt, g, at = _abs_matrices()
    _, oh, ow, _ = dz.shape
    th, tw = winograd.tile_grid(oh, ow)
    v = np.einsum("ai,ntsijc,bj->ntsabc", bt, winograd.tiles(d, 0, th, tw, winograd.TILE), bt)
    wz = np.einsum("ia,ntsijf,jb->ntsabf", at, winograd.tiles(dz, 0, th, tw, winograd.STEP), at)
    m = np.einsum("ntsabc,ntsabf->abcf", v, wz)
    return np.einsum("ai,abcf,bj->ijcf", g, m, g)


def _padded(layer, x_last: np.ndarray) -> tuple[np.ndarray, tuple]:
    if layer.padding == "valid":
        return x_last, (0, 0, 0, 0)
    (kh, kw), (sh, sw) = layer.window, layer.strides
    (pt, pb), (pl, pr) = (same_padding(x_last.shape[1], kh, sh),
                          same_padding(x_last.shape[2], kw, sw))
    return np.pad(x_last, ((0, 0), (pt, pb), (pl, pr), (0, 0))), (pt, pb, pl, pr)


def _winograd_probabilistic(d: np.ndarray, kernel: np.ndarray, dtype) -> np.ndarray:
    """A probabilistic bound of Winograd's own rounding for input ``d`` (channels-last, padded,
    exact values): each stage's rounding is local (``gamma`` of its few terms, against the
    actual values it combines) and independent errors from earlier stages add in quadrature
    through the later ones (the squared matrices)."""
    bt, g, at = winograd.BT, winograd.G, winograd.AT
    k = kernel.astype(np.float64)
    n, h, w, c = d.shape
    oh, ow = h - 2, w - 2
    th, tw = winograd.tile_grid(oh, ow)
    tiles = winograd.tiles(np.asarray(d, np.float64), 0, th, tw, winograd.TILE)
    v = np.einsum("ai,ntsijc,bj->ntsabc", bt, tiles, bt)
    e_v = gamma(14, dtype) * np.einsum("ai,ntsijc,bj->ntsabc", np.abs(bt), np.abs(tiles),
                                       np.abs(bt))
    u = np.einsum("ai,ijcf,bj->abcf", g, k, g)
    e_u = gamma(10, dtype) * np.einsum("ai,ijcf,bj->abcf", np.abs(g), np.abs(k), np.abs(g))
    m = np.einsum("ntsabc,abcf->ntsabf", v, u)
    e_m = (np.sqrt(np.einsum("ntsabc,abcf->ntsabf", e_v ** 2, u ** 2)
                   + np.einsum("ntsabc,abcf->ntsabf", v ** 2, e_u ** 2))
           + gamma(c, dtype) * np.einsum("ntsabc,abcf->ntsabf", np.abs(v), np.abs(u)))
    e_y = (np.sqrt(np.einsum("ai,ntsijf,bj->ntasbf", at ** 2, e_m ** 2, at ** 2))
           + gamma(14, dtype) * np.einsum("ai,ntsijf,bj->ntasbf", np.abs(at), np.abs(m),
                                          np.abs(at)))
    return e_y.reshape(n, winograd.STEP * th, winograd.STEP * tw, -1)[:, :oh, :ow]


def winograd_conv_bound(x: np.ndarray, kernel: np.ndarray, dtype=None) -> np.ndarray:
    """Error bound of :func:`winograd.conv2d` ('valid', channels-last) in ``dtype``."""
    dtype = dtype or kernel.dtype
    mag = _winograd_valid(np.abs(np.asarray(x, np.float64)), np.abs(kernel.astype(np.float64)))
    return gamma(kernel.shape[2] + TRANSFORM_DEPTH, dtype) * mag


def winograd_kernel_grad_bound(x: np.ndarray, dz: np.ndarray, dtype=None) -> np.ndarray:
    """Error bound of :func:`winograd.kernel_gradient`: one term per tile, and the transforms."""
    dtype = dtype or dz.dtype
    th, tw = winograd.tile_grid(dz.shape[1], dz.shape[2])
    mag = _winograd_kernel_grad(np.abs(np.asarray(x, np.float64)),
                                np.abs(np.asarray(dz, np.float64)))
    return gamma(dz.shape[0] * th * tw + TRANSFORM_DEPTH, dtype) * mag


def winograd_input_grad_bound(dz: np.ndarray, kernel: np.ndarray, dtype=None) -> np.ndarray:
    """Error bound of :func:`winograd.input_gradient` (dL/dz padded by 2, kernel turned)."""
    padded = np.pad(np.asarray(dz), ((0, 0), (2, 2), (2, 2), (0, 0)))
    return winograd_conv_bound(padded, winograd.flipped_kernel(kernel), dtype)


def _winograd_bounds(layer, xa: np.ndarray, dza: np.ndarray | None, dtype) -> dict:
    """Bounds of a Conv2D's Winograd path for ``|x|`` (layer layout) and ``|dL/dz|`` (on the
    kernel the path runs: dilated, with zeros between its taps, if the layer is)."""
    kernel = dilate_kernel(layer.params["kernel"], layer.dilation_rate)
    d, (pt, _, pl, _) = _padded(layer, _channels_last(layer, xa))
    out = {"z": _back(layer, winograd_conv_bound(d, kernel, dtype))}
    if dza is not None:
        dz = _channels_last(layer, dza)
        out["kernel"] = undilate_gradient(winograd_kernel_grad_bound(d, dz, dtype),
                                          layer.dilation_rate)
        h, w = (xa.shape[2], xa.shape[3]) if _channels_first(layer) else xa.shape[1:3]
        full = winograd_input_grad_bound(dz, kernel, dtype)
        out["dx"] = _back(layer, full[:, pt:pt + h, pl:pl + w])
    return out


def winograd_transform_bounds(x: np.ndarray, pad: int, th: int, tw: int) -> tuple:
    """Bounds of the input transform ``BT d BT.T`` (6x6 tiles) and the gradient transform
    ``AT.T g AT`` (4x4 tiles) of ``x``: at most 12 and 8 roundings along each chain."""
    bt, _, at = _abs_matrices()
    xa = np.abs(np.asarray(x, np.float64))
    v = np.einsum("ai,ntsijc,bj->ntsabc", bt, winograd.tiles(xa, pad, th, tw, winograd.TILE), bt)
    wz = np.einsum("ia,ntsijf,jb->ntsabf", at, winograd.tiles(xa, 0, th, tw, winograd.STEP), at)
    flat = [t.reshape(-1, winograd.CELLS, t.shape[-1]).transpose(1, 0, 2) for t in (v, wz)]
    return gamma(14, x.dtype) * flat[0], gamma(10, x.dtype) * flat[1]


def winograd_output_transform_bound(m: np.ndarray, bias: np.ndarray, n: int, th: int, tw: int,
                                    oh: int, ow: int) -> np.ndarray:
    """Bound of ``AT m AT.T + b`` (ReLU after it adds nothing: 1-Lipschitz)."""
    _, _, at = _abs_matrices()
    ma = np.abs(m.astype(np.float64)).transpose(1, 0, 2).reshape(
        n, th, tw, winograd.TILE, winograd.TILE, -1)
    y = np.einsum("ai,ntsijf,bj->ntasbf", at, ma, at).reshape(
        n, winograd.STEP * th, winograd.STEP * tw, -1)[:, :oh, :ow]
    return gamma(14, m.dtype) * (y + np.abs(bias.astype(np.float64)))


# --- one Conv2D or Dense layer ----------------------------------------------------------------

def _terms(layer) -> tuple[int, int]:
    """Terms per output (forward) and per input cell (dL/dx) of a Conv2D/Dense layer."""
    kernel = layer.params["kernel"]
    if isinstance(layer, Dense):
        return kernel.shape[0] + 1, kernel.shape[1]
    kh, kw, c, f = kernel.shape
    return kh * kw * c + 1, kh * kw * f


def _activation_error(name: str, y: np.ndarray, e_z: np.ndarray, dtype) -> np.ndarray:
    """Error of ``y = f(z)`` given an error ``e_z`` in ``z`` (``y`` exact)."""
    u = unit_roundoff(dtype)
    if name in ("linear", "relu"):                     # 1-Lipschitz, no rounding
        return e_z
    if name == "tanh":                                 # 1-Lipschitz, a few ulps of its own
        return e_z + 8 * u * np.abs(y)
    if name == "sigmoid":                              # slope <= 1/4; exp, add, divide
        return e_z / 4 + 8 * u * np.abs(y)
    if name == "softmax":                              # d log p_i = dz_i - sum_j p_j dz_j
        spread = e_z + e_z.max(axis=-1, keepdims=True)
        return y * np.expm1(spread) + gamma(y.shape[-1] + 8, dtype) * y
    raise NotImplementedError(f"no error bound for activation {name!r}")


def _channel_axis(layer) -> int:
    return 1 if getattr(layer, "data_format", "") == "channels_first" else -1


def layer_bounds(layer, x: np.ndarray, dy: np.ndarray | None = None, dtype=None) -> dict:
    """Error bounds of every path of one Conv2D or Dense layer, for input ``x`` and (optionally)
    dL/dy: ``{"y", "dx", "kernel", "bias"}`` -> arrays of the results' shapes.

    ``x`` and ``dy`` are taken as exact (both paths get the same arrays); the layer's weights
    are read from ``layer.params``."""
    dtype = np.dtype(dtype or layer.params["kernel"].dtype)
    x64 = np.asarray(x, np.float64)
    mag = _twin(layer, x64.shape[1:], absolute=True)
    axis = _channel_axis(layer)
    bias = _bias_broadcast(layer, x64.ndim, axis)
    n_fwd, n_back = _terms(layer)
    z = _linear(layer, x64)
    e_z = gamma(n_fwd, dtype) * (mag.forward(np.abs(x64)) + bias)
    if _could_take_winograd(layer):
        e_z = e_z + _winograd_bounds(layer, np.abs(x64), None, dtype)["z"] + gamma(2, dtype) * bias
    _, _, act_backward = activations.lookup(layer.activation)
    y, e_y = _activate(layer, z, e_z, dtype)
    out = {"y": e_y}
    if dy is None:
        return out
    dy64 = np.asarray(dy, np.float64)
    dz = act_backward(dy64, y)
    if layer.activation == "relu":     # where |z| is within rounding of 0, either mask may win
        e_dz = np.abs(dy64) * (np.abs(z) <= e_z)
    elif layer.activation == "linear":
        e_dz = np.zeros_like(dz)
    elif layer.activation == "tanh":                   # d(1 - y^2) <= 2|y| e + e^2; 3 roundings
        e_y = out["y"]
        e_dz = (np.abs(dy64) * (2 * np.abs(y) * e_y + e_y ** 2)
                + 4 * unit_roundoff(dtype) * np.abs(dz))
    else:
        raise NotImplementedError(f"no backward bound for activation {layer.activation!r}")
    rows = dz.size // dz.shape[axis]
    mag.forward(np.abs(x64), training=True)
    dx_mag = mag.backward(np.abs(dz) + e_dz)
    k_mag = mag.grads["kernel"].copy()
    dx_prop = mag.backward(e_dz)
    out["dx"] = gamma(n_back, dtype) * dx_mag + dx_prop
    out["kernel"] = gamma(rows, dtype) * k_mag + mag.grads["kernel"]
    if layer.use_bias:
        axes = tuple(i for i in range(dz.ndim) if i != axis % dz.ndim)
        out["bias"] = gamma(rows, dtype) * (np.abs(dz) + e_dz).sum(axis=axes) + e_dz.sum(axis=axes)
    if _could_take_winograd(layer):
        w = _winograd_bounds(layer, np.abs(x64), np.abs(dz) + e_dz, dtype)
        out["dx"] = out["dx"] + w["dx"]
        out["kernel"] = out["kernel"] + w["kernel"]
    return out


def _activate(layer, z: np.ndarray, e_z: np.ndarray, dtype) -> tuple[np.ndarray, np.ndarray]:
    """Exact ``y = f(z)`` and its error bound; the activation acts on the channels-last layout
    (softmax over the channels of a channels_first Conv2D, as the layer does)."""
    _, act_forward, _ = activations.lookup(layer.activation)
    z, e_z = _channels_last(layer, z), _channels_last(layer, e_z)
    y = act_forward(z.copy())
    return _back(layer, y), _back(layer, _activation_error(layer.activation, y, e_z, dtype))


def _bias_broadcast(layer, ndim: int, axis: int):
    if not layer.use_bias:
        return 0.0
    bias = np.abs(layer.params["bias"].astype(np.float64))
    return bias.reshape((-1,) + (1,) * (ndim - 2)) if axis == 1 else bias


def _linear(layer, x64: np.ndarray) -> np.ndarray:
    """The exact pre-activation ``z`` of a Conv2D/Dense layer (float64, its real weights)."""
    linear = type(layer).from_config(_config(layer, activation="linear"))
    linear.build(x64.shape[1:])
    for key, value in linear.params.items():
        value[...] = layer.params[key]
    return linear.forward(x64)


# --- a whole model's forward pass -----------------------------------------------------------

def model_bound(model, x: np.ndarray, dtype=None) -> tuple[np.ndarray, np.ndarray]:
    """``(exact, bound)``: the model's exact output (float64) for input ``x`` at inference and a
    bound on the error of any path that computes it in ``dtype`` (per-core chunks or layer by
    layer, Winograd or im2col, any batch split)."""
    dtype = np.dtype(dtype or model.layers[0].dtype)
    v = np.asarray(x, np.float64)
    e = np.zeros_like(v)
    for layer in model.layers:
        v, e = _layer_forward(layer, v, e, dtype)
    return v, e


def _plain_twin(layer, shape: tuple):
    twin = type(layer).from_config(_config(layer))
    twin.build(tuple(shape))
    return twin


def _layer_forward(layer, v: np.ndarray, e: np.ndarray, dtype) -> tuple[np.ndarray, np.ndarray]:
    """Carry (exact values, error bound) through one layer at inference."""
    if isinstance(layer, (Conv2D, Dense)):
        mag = _twin(layer, v.shape[1:], absolute=True)
        bias = _bias_broadcast(layer, v.ndim, _channel_axis(layer))
        n_fwd, _ = _terms(layer)
        z = _linear(layer, v)
        reach = np.abs(v) + e                          # |computed input| <= this
        if _probabilistic:      # independent input errors add like a random walk: sqrt(K^2 e^2)
            carried = np.sqrt(_twin(layer, v.shape[1:], absolute=True, power=2).forward(e * e))
        else:
            carried = mag.forward(e)
        e_z = carried + gamma(n_fwd, dtype) * (mag.forward(reach) + bias)
        if _could_take_winograd(layer):
            if _probabilistic:
                d, _ = _padded(layer, _channels_last(layer, v))
                kernel = dilate_kernel(layer.params["kernel"], layer.dilation_rate)
                extra = _back(layer, _winograd_probabilistic(d, kernel, dtype))
            else:
                extra = _winograd_bounds(layer, reach, None, dtype)["z"]
            e_z = e_z + extra + gamma(2, dtype) * bias
        return _activate(layer, z, e_z, dtype)
    if isinstance(layer, Activation):
        _, act_forward, _ = activations.lookup(layer.activation)
        y = act_forward(v.copy())
        return y, _activation_error(layer.activation, y, e, dtype)
    if isinstance(layer, MaxPooling2D):                # |max(a + d) - max(a)| <= max |d|
        twin = _plain_twin(layer, v.shape[1:])
        return twin.forward(v), twin.forward(e)
    if isinstance(layer, AveragePooling2D):
        twin = _plain_twin(layer, v.shape[1:])
        cells = layer.pool_size[0] * layer.pool_size[1]
        return twin.forward(v), twin.forward(e) + gamma(cells + 1, dtype) * twin.forward(
            np.abs(v) + e)
    if isinstance(layer, (Flatten, Dropout)):          # moves or keeps values (inference)
        twin = _plain_twin(layer, v.shape[1:])
        return twin.forward(v), twin.forward(e)
    raise NotImplementedError(f"no error bound for layer {type(layer).__name__}")


def crossentropy_bound(y_true: np.ndarray, p: np.ndarray, e_p: np.ndarray, dtype,
                       eps: float = 1e-7) -> tuple[float, float]:
    """``(exact, bound)`` of the batch-mean categorical cross-entropy of probabilities ``p``
    known within ``e_p`` (as the loss computes it: rescaled to sum 1, clipped to [eps, 1-eps])."""
    u = unit_roundoff(dtype)
    classes = p.shape[-1]
    s = p.sum(axis=-1, keepdims=True)
    e_s = e_p.sum(axis=-1, keepdims=True) + gamma(classes, dtype) * s
    q = p / s
    e_q = (e_p + q * e_s) / (s - e_s) + u * q
    qc = np.clip(q, eps, 1 - eps)
    logs = np.log(qc)
    e_log = logs - np.log(np.maximum(qc - e_q, eps)) + 4 * u * np.abs(logs)   # log is concave
    losses = -(y_true * logs).sum(axis=-1)
    e_losses = (np.abs(y_true) * e_log).sum(axis=-1) + gamma(classes, dtype) * np.abs(
        y_true * logs).sum(axis=-1)
    n = losses.shape[0]
    return float(losses.mean()), float(e_losses.mean() + gamma(n, dtype) * np.abs(losses).mean())


def accuracy_is_decided(p: np.ndarray, e_p: np.ndarray) -> bool:
    """True when every sample's top class wins by more than rounding could change."""
    order = np.sort(p, axis=-1)
    return bool((order[:, -1] - order[:, -2] > 2 * e_p.max(axis=-1)).all())


# --- single kernels: a sum of n terms, each path within gamma(n) * sum |terms| ---------------

def conv_bound(x: np.ndarray, kernel: np.ndarray, sh: int, sw: int, bias=None) -> np.ndarray:
    """``z = im2col(x) @ K (+ b)`` of shape ``(N*OH*OW, F)``: ``KH*KW*C (+1)`` terms each."""
    kh, kw, c, f = kernel.shape
    cols = reference.im2col(np.abs(np.asarray(x, np.float64)), kh, kw, sh, sw)
    mag = cols @ np.abs(kernel.astype(np.float64)).reshape(-1, f)
    n = kh * kw * c
    if bias is not None:
        mag, n = mag + np.abs(bias.astype(np.float64)), n + 1
    return gamma(n, kernel.dtype) * mag


def kernel_grad_bound(x: np.ndarray, dz: np.ndarray, kh: int, kw: int, sh: int,
                      sw: int) -> np.ndarray:
    """``dK = im2col(x).T @ dz``: one term per output row."""
    cols = reference.im2col(np.abs(np.asarray(x, np.float64)), kh, kw, sh, sw)
    mag = (cols.T @ np.abs(dz.astype(np.float64))).reshape(kh, kw, x.shape[3], dz.shape[1])
    return gamma(dz.shape[0], dz.dtype) * mag


def column_sum_bound(z: np.ndarray) -> np.ndarray:
    """``z.sum(axis=0)`` (a bias gradient): one term per row."""
    return gamma(z.shape[0], z.dtype) * np.abs(z.astype(np.float64)).sum(axis=0)


def overlap_sum_bound(cols: np.ndarray, x_shape: tuple, kh: int, kw: int, sh: int,
                      sw: int) -> np.ndarray:
    """col2im: each cell sums the windows that cover it, at most ceil(KH/SH) * ceil(KW/SW)."""
    n = -(-kh // sh) * -(-kw // sw)
    return gamma(n, cols.dtype) * reference.col2im(np.abs(cols.astype(np.float64)), x_shape,
                                                    kh, kw, sh, sw)


def avgpool_bound(x: np.ndarray, ph: int, pw: int, sh: int, sw: int, oh: int, ow: int,
                  top: int, left: int) -> np.ndarray:
    """A window's mean: ``ph * pw`` terms and one division."""
    mag = reference.avgpool_forward(np.abs(x.astype(np.float64)), ph, pw, sh, sw, oh, ow, top,
                                    left)
    return gamma(ph * pw + 1, x.dtype) * mag


def avgpool_backward_bound(dy: np.ndarray, x_shape: tuple, ph: int, pw: int, sh: int, sw: int,
                           top: int, left: int) -> np.ndarray:
    """Each cell sums ``dy / count`` over the windows that cover it."""
    n = -(-ph // sh) * -(-pw // sw) + 1
    mag = reference.avgpool_backward(np.abs(dy.astype(np.float64)), x_shape, ph, pw, sh, sw,
                                     top, left)
    return gamma(n, dy.dtype) * mag


def adadelta_bounds(p, g, a, d, lr: float, rho: float, eps: float) -> tuple:
    """Bounds on one float Adadelta step's ``(p, a, d)`` (the formula of
    ``reference.adadelta_update``; inputs exact): ``a`` takes 4 roundings, the update
    ``g sqrt(d + eps) / sqrt(a + eps)`` 5 of its own plus half a's relative error, ``p`` and
    ``d`` 2 to 4 more."""
    dtype = p.dtype
    p, g, a, d = (np.asarray(t, np.float64) for t in (p, g, a, d))
    a_new = rho * a + (1 - rho) * g * g
    update = np.abs(g) * np.sqrt(d + eps) / np.sqrt(a_new + eps)
    rel_update = gamma(10, dtype)
    e_a = gamma(4, dtype) * a_new
    e_p = gamma(2, dtype) * (np.abs(p) + lr * update) + lr * update * rel_update
    e_d = gamma(4, dtype) * (rho * d + (1 - rho) * update ** 2) + (1 - rho) * update ** 2 * (
        2 * rel_update + rel_update ** 2)
    return e_p, e_a, e_d


def evaluate_loss_bound(model, x: np.ndarray, y: np.ndarray) -> float:
    """Bound on the error of ``model.evaluate``'s categorical cross-entropy loss (any batch
    split, any path)."""
    p, e_p = model_bound(model, x)
    return crossentropy_bound(y, p, e_p, model.layers[0].dtype)[1]
