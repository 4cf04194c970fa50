"""One value's arithmetic, spelled out with the real numbers: the forward sum behind one output
of a layer (:func:`cell`) and the chain rule behind one output's gradient (:func:`chain`).

The values and gradients themselves come from the layers' own passes
(:mod:`convnet.serve.passes`); this module only reads the layers' public weights and
hyperparameters (``params``, ``kernel_size``, ``strides``, ``padding``, ``activation``,
``pooled_winners()``) to show which inputs and weights made them, and adds the terms up again
in float64 so the page can show that they do add up (to within float32 rounding).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from convnet import activations
from convnet.layers.padding import same_padding
from convnet.models import Model
from convnet.serve.arrays import RequestError, number, to_json
from convnet.serve.passes import Backward, LayerPass

MAX_TERMS = 64          # chain-rule terms listed (largest |product| first); the sum has them all
CELL_LAYERS = ("Conv2D", "Dense", "MaxPooling2D", "AveragePooling2D", "Flatten", "Dropout",
               "Activation")


# ----- geometry ---------------------------------------------------------------------------------
def _channels_last(layer, a: np.ndarray) -> np.ndarray:
    """One sample ``(H, W, C)`` whatever the layer's data_format."""
    if getattr(layer, "data_format", "channels_last") == "channels_first" and a.ndim == 3:
        return np.moveaxis(a, 0, -1)
    return a


def _index_last(layer, index: tuple) -> tuple:
    """An output index ``(i, j, c)`` whatever the layer's data_format."""
    if getattr(layer, "data_format", "channels_last") == "channels_first" and len(index) == 3:
        return index[1], index[2], index[0]
    return index


def _pads(layer, h: int, w: int, size: tuple, strides: tuple) -> tuple[int, int]:
    if getattr(layer, "padding", "valid") != "same":
        return 0, 0
    return same_padding(h, size[0], strides[0])[0], same_padding(w, size[1], strides[1])[0]


def _fmt(x: float) -> str:
    return f"{x:.6g}"


# ----- forward: one output value ----------------------------------------------------------------
def cell(call: LayerPass, index: tuple) -> dict:
    """The arithmetic of ``call.output[0][index]``: inputs, weights, products, sum, bias,
    pre-activation, activation -- as the contract of /api/cell describes."""
    layer: Any = call.layer
    kind = type(layer).__name__
    if kind not in CELL_LAYERS:
        raise RequestError(f"the arithmetic of one value is shown for {', '.join(CELL_LAYERS)} "
                           f"layers; {layer.describe()} is not one of them")
    x = call.inputs[0][0]
    value = float(call.output[0][index])
    base = {"layer": layer.name, "class": kind, "index": list(index), "value": value,
            "weights": None, "products": None, "bias": None, "activation": None,
            "input_origin": None}
    if kind == "Conv2D":
        return {**base, **_conv(layer, x, index, value)}
    if kind == "Dense":
        return {**base, **_dense(layer, x, index, value)}
    if kind in ("MaxPooling2D", "AveragePooling2D"):
        return {**base, **_pool(layer, x, index, value, kind)}
    if kind == "Flatten":
        src = _flatten_source(layer, x.shape, index[0])
        v = float(x[src])
        return {**base, "inputs": [v], "input_index": list(src), "sum": v, "pre_activation": v,
                "formula": f"Flatten copies input{list(src)} = {_fmt(v)} to position "
                           f"{index[0]} (no arithmetic)"}
    if kind == "Dropout":
        v = float(x[index])
        return {**base, "inputs": [v], "input_index": list(index), "sum": v,
                "pre_activation": v,
                "formula": f"Dropout passes input{list(index)} = {_fmt(v)} through unchanged: "
                           f"at inference it drops nothing (in training it zeroes a fraction "
                           f"{layer.rate:g} of the values and scales the rest by 1/(1-rate))"}
    pre = float(x[index])                                  # Activation
    act = layer.activation
    return {**base, "inputs": [pre], "input_index": list(index), "sum": pre,
            "pre_activation": pre, "activation": act,
            "formula": _activation_text(act, pre, value, np.asarray(x, np.float64), index)}


def _activation_text(act: str, pre: float, value: float, pre_all: np.ndarray | None,
                     index: tuple) -> str:
    if act == "softmax" and pre_all is not None:
        z = pre_all.reshape(-1) if pre_all.ndim == 1 else pre_all[index[:-1]]
        m = float(z.max())
        denom = float(np.exp(z - m).sum())
        return (f"softmax: exp(z - max z) / sum_j exp(z_j - max z) = exp({_fmt(pre)} - "
                f"{_fmt(m)}) / {_fmt(denom)} = {_fmt(value)}")
    if act == "linear":
        return f"linear: value = z = {_fmt(pre)}"
    return f"{act}({_fmt(pre)}) = {_fmt(value)}"


def _conv(layer, x: np.ndarray, index: tuple, value: float) -> dict:
    x = _channels_last(layer, x)
    i, j, f = _index_last(layer, index)
    kh, kw = layer.kernel_size
    (sh, sw), (dh, dw) = layer.strides, layer.dilation_rate
    eh, ew = layer.window                                 # kernel_size unless dilated
    pt, pl = _pads(layer, x.shape[0], x.shape[1], (eh, ew), (sh, sw))
    r0, c0 = i * sh - pt, j * sw - pl                     # top-left in the unpadded input
    # the taps read rows r0, r0 + dh, ... and columns c0, c0 + dw, ...; 'same' padding: zeros
    framed = np.zeros((x.shape[0] + 2 * eh, x.shape[1] + 2 * ew, x.shape[2]), dtype=np.float64)
    framed[eh:eh + x.shape[0], ew:ew + x.shape[1]] = x
    window = framed[eh + r0:2 * eh + r0:dh, ew + c0:2 * ew + c0:dw]
    weights = np.asarray(layer.params["kernel"][:, :, :, f], dtype=np.float64)
    products = window * weights          # exact: a product of two float32 fits in float64
    total = float(products.sum())
    bias = float(layer.params["bias"][f]) if "bias" in layer.params else None
    pre = total + (bias or 0.0)
    act = layer.activation
    n = products.size
    text = (f"z = sum of {kh}x{kw}x{x.shape[2]} = {n} products (input window x kernel "
            f"{f}) = {_fmt(total)}" + (f", plus bias {_fmt(bias)} = {_fmt(pre)}"
                                        if bias is not None else "")
            + f"; value = {_activation_text(act, pre, value, None, index)}")
    return {"inputs": to_json(window), "weights": to_json(weights), "products": to_json(products),
            "sum": total, "bias": bias, "pre_activation": pre, "activation": act,
            "abs_sum": float(np.abs(products).sum()) + abs(bias or 0.0), "terms": n,
            "formula": text, "input_origin": [r0, c0], "filter": f}


def _dense(layer, x: np.ndarray, index: tuple, value: float) -> dict:
    k = index[-1]
    vector = np.asarray(x[index[:-1]] if x.ndim > 1 else x, dtype=np.float64)
    kernel = np.asarray(layer.params["kernel"], dtype=np.float64)
    weights = kernel[:, k]
    products = vector * weights
    total = float(products.sum())
    bias = float(layer.params["bias"][k]) if "bias" in layer.params else None
    pre = total + (bias or 0.0)
    act = layer.activation
    extra: dict = {}
    pre_all = None
    if act == "softmax":                   # softmax needs every unit's z: the same sums
        pre_all = vector @ kernel + (np.asarray(layer.params["bias"], np.float64)
                                     if "bias" in layer.params else 0.0)
        extra["pre_activations"] = pre_all.tolist()
    text = (f"z = sum of {len(products)} products (inputs x column {k} of the kernel) = "
            f"{_fmt(total)}" + (f", plus bias {_fmt(bias)} = {_fmt(pre)}"
                                if bias is not None else "")
            + f"; value = {_activation_text(act, pre, value, pre_all, (k,))}")
    return {"inputs": to_json(vector), "weights": to_json(weights), "products": to_json(products),
            "sum": total, "bias": bias, "pre_activation": pre, "activation": act,
            "abs_sum": float(np.abs(products).sum()) + abs(bias or 0.0),
            "terms": len(products), "formula": text, **extra}


def _pool(layer, x: np.ndarray, index: tuple, value: float, kind: str) -> dict:
    x = _channels_last(layer, x)
    i, j, c = _index_last(layer, index)
    (ph, pw), (sh, sw) = layer.pool_size, layer.strides
    pt, pl = _pads(layer, x.shape[0], x.shape[1], (ph, pw), (sh, sw))
    r0, c0 = max(i * sh - pt, 0), max(j * sw - pl, 0)
    r1, c1 = min(i * sh - pt + ph, x.shape[0]), min(j * sw - pl + pw, x.shape[1])
    window = np.asarray(x[r0:r1, c0:c1, c], dtype=np.float64)   # the real cells only
    if kind == "MaxPooling2D":
        winner = np.unravel_index(int(np.argmax(window)), window.shape)
        text = (f"max of the {window.shape[0]}x{window.shape[1]} window of channel {c} = "
                f"{_fmt(float(window.max()))} (at row {r0 + winner[0]}, column "
                f"{c0 + winner[1]}); no weights")
        return {"inputs": to_json(window), "sum": float(window.max()),
                "pre_activation": float(window.max()), "input_origin": [r0, c0],
                "winner": [int(r0 + winner[0]), int(c0 + winner[1])], "formula": text}
    total = float(window.sum())
    text = (f"mean of the {window.size} cells of the window of channel {c}: {_fmt(total)} / "
            f"{window.size} = {_fmt(total / window.size)}; no weights")
    return {"inputs": to_json(window), "sum": total, "pre_activation": total / window.size,
            "count": int(window.size), "input_origin": [r0, c0], "formula": text}


def _flatten_source(layer, shape: tuple, k: int) -> tuple:
    """The input index Flatten copies to output position ``k``."""
    if getattr(layer, "data_format", "channels_last") == "channels_first" and len(shape) > 1:
        moved = tuple(shape[1:]) + (shape[0],)
        idx = np.unravel_index(k, moved)
        return (int(idx[-1]),) + tuple(int(v) for v in idx[:-1])
    return tuple(int(v) for v in np.unravel_index(k, shape))


# ----- backward: one gradient -------------------------------------------------------------------
def chain(model: Model, result: Backward, layer, index: tuple) -> dict:
    """dL/d(``layer``'s output at ``index``) as the chain rule's sum over the values it feeds:
    ``sum_m dL/d(consumer_m) * d(consumer_m)/d(this)``, for a Sequential model after
    :func:`convnet.serve.passes.backward`."""
    layers = model.layers
    k = layers.index(layer)
    gradient = float(result.output_gradients[layer.name][0][index])
    if k == len(layers) - 1:
        terms: list[dict[str, Any]] = [{"consumer": "loss", "consumer_index": None,
                                        "upstream": 1.0, "local": gradient,
                                        "product": gradient}]
        formula = (f"dL/d{layer.name}{list(index)}: the loss's own derivative at this output "
                   f"= {_fmt(gradient)}")
        return _chain_result(layer, index, gradient, terms, len(terms), formula)
    consumer: Any = layers[k + 1]
    out = result.passes[k + 1].output[0]
    dy = result.output_gradients[consumer.name][0]
    kind = type(consumer).__name__
    if kind in ("Conv2D", "Dense") or (kind == "Activation"):
        dz = _preactivation_gradient(consumer, result, dy, result.passes[k + 1])
    if kind == "Dense":
        vec_index = index[:-1]
        kernel = np.asarray(consumer.params["kernel"], np.float64)
        local = kernel[index[-1], :]
        upstream = np.asarray(dz[vec_index] if dz.ndim > 1 else dz, np.float64)
        names = [[*vec_index, m] for m in range(len(local))]
        terms = _terms(consumer, names, upstream, local, "z")
        what = f"{len(local)} units z_m = sum(x * W[:, m]) + b_m: local = W[{index[-1]}, m]"
    elif kind == "Conv2D":
        terms, what = _conv_terms(consumer, index, dz)
    elif kind == "MaxPooling2D":
        terms, what = _pool_terms(consumer, index, dy, winners=consumer.pooled_winners())
    elif kind == "AveragePooling2D":
        terms, what = _pool_terms(consumer, index, dy, winners=None)
    elif kind == "Flatten":
        shape = result.passes[k + 1].inputs[0].shape[1:]
        flat = int(np.ravel_multi_index(index, shape)) if consumer.data_format == \
            "channels_last" or len(shape) < 2 else _flatten_position(shape, index)
        terms = _terms(consumer, [[flat]], np.array([float(dy[flat])]), np.array([1.0]), "y")
        what = f"Flatten moves this value to position {flat}: local derivative 1"
    elif kind == "Dropout":
        terms = _terms(consumer, [list(index)], np.array([float(dy[index])]), np.array([1.0]),
                       "y")
        what = "Dropout is the identity at inference: local derivative 1"
    elif kind == "Activation":
        if consumer.activation == "softmax":
            p = np.asarray(out, np.float64)
            row = p[index[:-1]] if p.ndim > 1 else p
            local = -row * row[index[-1]]
            local[index[-1]] += row[index[-1]]           # dp_m/dz_k = p_m (delta_mk - p_k)
            upstream = np.asarray(dy[index[:-1]] if dy.ndim > 1 else dy, np.float64)
            terms = _terms(consumer, [[*index[:-1], m] for m in range(len(row))], upstream,
                           local, "y")
            what = "softmax: dp_m/dz_k = p_m (delta_mk - p_k)"
        else:
            _, _, backward = activations.lookup(consumer.activation)
            unit = np.zeros_like(out)
            unit[index] = 1
            at = _derivative_point(consumer, result.passes[k + 1])
            local_value = float(backward(unit[None], at[None])[0][index])
            terms = _terms(consumer, [list(index)], np.array([float(dy[index])]),
                           np.array([local_value]), "y")
            what = f"{consumer.activation}'(z) from its output: {_fmt(local_value)}"
    else:
        raise RequestError(f"the chain rule per value is shown when the next layer is one of "
                           f"{', '.join(CELL_LAYERS)}; {consumer.describe()} is not")
    count = len(terms)
    total = float(sum(t["product"] for t in terms))
    abs_total = float(sum(abs(t["product"]) for t in terms))
    terms.sort(key=lambda t: -abs(t["product"]))
    shown = terms[:MAX_TERMS]
    formula = (f"dL/d{layer.name}{list(index)} = sum over the {count} values of "
               f"{consumer.name} it feeds of upstream x local ({what}) = {_fmt(total)}")
    return _chain_result(layer, index, gradient, shown, count, formula, total, abs_total)


def _chain_result(layer, index, gradient, terms, count, formula, total=None,
                  abs_total=None) -> dict:
    """``term_count`` terms in all (``terms`` lists the largest); ``sum`` adds them all up in
    float64; ``abs_sum`` adds their absolute values (what float32 rounding scales with)."""
    return {"layer": layer.name, "index": list(index), "gradient": gradient, "terms": terms,
            "term_count": count, "sum": gradient if total is None else total,
            "abs_sum": abs(gradient) if abs_total is None else abs_total, "formula": formula}


def _preactivation_gradient(consumer, result: Backward, dy: np.ndarray,
                            call: LayerPass) -> np.ndarray:
    """dL/dz of a layer y = f(z): the fused softmax's ``(p - y) / N`` as the model computed it,
    else f's own backward (``convnet.activations``) from dL/dy, at y (or z, see below)."""
    if consumer.name in result.preactivation_gradients:
        return result.preactivation_gradients[consumer.name][0]
    _, _, backward = activations.lookup(consumer.activation)
    return backward(dy[None], _derivative_point(consumer, call)[None])[0]


def _derivative_point(layer, call: LayerPass) -> np.ndarray:
    """What the activation's backward takes: the output y -- or, for the few activations whose
    derivative needs the input z (GELU, SiLU: ``activations.needs_input``), z itself: an
    Activation layer's input, a Dense layer's ``x @ W + b``."""
    needs_input = getattr(activations, "needs_input", lambda name: False)
    if not needs_input(layer.activation):
        return call.output[0]
    if type(layer).__name__ == "Activation":
        return call.inputs[0][0]
    if type(layer).__name__ == "Dense":
        x = call.inputs[0][0]
        z = x @ layer.params["kernel"]
        return z + layer.params["bias"] if "bias" in layer.params else z
    raise RequestError(f"the chain rule per value through {layer.describe()}'s "
                       f"{layer.activation} (whose derivative needs its input z) is not shown")


def _terms(consumer, names, upstream: np.ndarray, local: np.ndarray,
           what: str) -> list[dict[str, Any]]:
    products = np.asarray(upstream, np.float64) * np.asarray(local, np.float64)
    return [{"consumer": f"{consumer.name}.{what}{list(map(int, n))}",
             "consumer_index": [int(v) for v in n], "upstream": number(u), "local": number(v),
             "product": float(p)}
            for n, u, v, p in zip(names, upstream, local, products)]


def _conv_terms(consumer, index: tuple, dz: np.ndarray) -> tuple[list[dict], str]:
    """A value at (r, c, ch) of a Conv2D's input feeds z[i, j, f] for every window (i, j)
    covering it and every filter f, with weight K[r + pt - i*sh, c + pl - j*sw, ch, f]."""
    r, c, ch = _index_last(consumer, index)
    dz = _channels_last(consumer, dz)
    kh, kw = consumer.kernel_size
    (sh, sw), (dh, dw) = consumer.strides, consumer.dilation_rate
    h, w = consumer.built_shapes()[0][:2] if consumer.data_format == "channels_last" else \
        consumer.built_shapes()[0][1:]
    pt, pl = _pads(consumer, h, w, consumer.window, (sh, sw))
    kernel = np.asarray(consumer.params["kernel"], np.float64)
    names, upstream, local = [], [], []
    for i in range(dz.shape[0]):
        a, between = divmod(r + pt - i * sh, dh)          # dilated: only every dh-th row is a tap
        if between or not 0 <= a < kh:
            continue
        for j in range(dz.shape[1]):
            b, between = divmod(c + pl - j * sw, dw)
            if between or not 0 <= b < kw:
                continue
            for f in range(dz.shape[2]):
                names.append([i, j, f])
                upstream.append(float(dz[i, j, f]))
                local.append(kernel[a, b, ch, f])
    what = "z[i, j, f] over the windows covering it; local = the kernel weight it met"
    return _terms(consumer, names, np.array(upstream), np.array(local), "z"), what


def _pool_terms(consumer, index: tuple, dy: np.ndarray, winners) -> tuple[list[dict], str]:
    """A value feeds the pooling windows that cover it: local 1 where it won the max (0
    elsewhere), 1/count for an average."""
    r, c, ch = _index_last(consumer, index)
    dy = _channels_last(consumer, dy)
    (ph, pw), (sh, sw) = consumer.pool_size, consumer.strides
    h, w = consumer.built_shapes()[0][:2] if consumer.data_format == "channels_last" else \
        consumer.built_shapes()[0][1:]
    pt, pl = _pads(consumer, h, w, (ph, pw), (sh, sw))
    names, upstream, local = [], [], []
    for i in range(dy.shape[0]):
        r0 = i * sh - pt
        if not r0 <= r < r0 + ph:
            continue
        for j in range(dy.shape[1]):
            c0 = j * sw - pl
            if not c0 <= c < c0 + pw:
                continue
            if winners is not None:
                flat = int(winners[0, i, j, ch])
                value = 1.0 if divmod(flat, w) == (r, c) else 0.0
            else:
                count = (min(r0 + ph, h) - max(r0, 0)) * (min(c0 + pw, w) - max(c0, 0))
                value = 1.0 / count
            names.append([i, j, ch])
            upstream.append(float(dy[i, j, ch]))
            local.append(value)
    what = ("max pooling: local 1 if this value won its window, else 0" if winners is not None
            else "average pooling: local 1/(cells in the window)")
    return _terms(consumer, names, np.array(upstream), np.array(local), "y"), what


def _flatten_position(shape: tuple, index: tuple) -> int:
    """Output position of input ``index`` (C, H, W) under a channels_first Flatten."""
    moved = tuple(shape[1:]) + (shape[0],)
    return int(np.ravel_multi_index(tuple(index[1:]) + (index[0],), moved))
