"""What each endpoint of ``convnet serve`` computes: functions of a model and arrays.

A :class:`Session` holds one model and the lock every call into it takes (a model keeps the
values of its last pass on its layers, so two requests must not run it at once), plus the undo
stack of :meth:`Session.step`. Each public method takes the request's JSON body (a dict) and
returns the response's (a dict); bad input raises :class:`~convnet.serve.arrays.RequestError`.
Every number comes from convnet's own code: ``Model.predict``, each layer's ``forward`` and
``backward`` (:mod:`convnet.serve.passes`), the model's optimizer; :mod:`.arithmetic` spells out
one value's sum or chain rule from the layers' public weights and those passes.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import threading
from pathlib import Path
from typing import Any

import numpy as np

from convnet import gradcheck
from convnet.models import Model, Sequential
from convnet.serve import arithmetic, passes
from convnet.serve.arrays import (
    RequestError,
    field,
    number,
    parse_image,
    parse_index,
    parse_int,
    to_json,
)

DOCS = "/docs/backprop.html"        # served from docs/backprop.md (server.py)


class Session:
    """One model behind a lock, for the endpoints.

    An uncompiled model is compiled with categorical cross-entropy and Adadelta (the tutorial's
    choice), so that backward, gradient check and step have a loss and an optimizer.
    ``busy`` (a reason, or None) makes every endpoint that runs the model answer 409: a
    :class:`~convnet.serve.live.LiveView` sets it while ``fit`` owns the model."""

    UNDO_DEPTH = 16           # steps kept for undo (each keeps a copy of weights + optimizer)
    MAX_VALUES = 100_000      # larger weight arrays are left out of bulk answers (null)
    GRADCHECK_H = 1e-5        # central-difference step, in float64

    def __init__(self, model: Model, busy: str | None = None):
        if not isinstance(model, Model):
            raise TypeError(f"serve: expected a convnet model, got {type(model).__name__}")
        if not model.built:
            raise ValueError("serve: the model is not built (its input shape is unknown); give "
                             "the first layer an input_shape or call model.build((None, ...))")
        if model.optimizer is None:
            model.compile(loss="categorical_crossentropy", optimizer="adadelta",
                          metrics=["accuracy"])
        self.model = model
        self.lock = threading.RLock()
        self.busy = busy
        self._undo: list[tuple[list[np.ndarray], Any]] = []
        self._float64: Model | None = None
        self._test: tuple[np.ndarray, np.ndarray] | None = None

    # ----- helpers ------------------------------------------------------------------------------
    @property
    def input_shape(self) -> tuple:
        return passes.sample_shape(self.model)

    def layers(self) -> list:
        """The layers a page shows: all but InputLayer."""
        return [layer for layer in self.model.layers if not passes.is_input_layer(layer)]

    def layer(self, name: Any):
        if not isinstance(name, str):
            raise RequestError(f"'layer' must be a layer name (a string), got {name!r}"[:200])
        for layer in self.layers():
            if layer.name == name:
                return layer
        raise RequestError(f"no layer named {name!r}; the layers are "
                           f"{[layer.name for layer in self.layers()]}"[:400])

    def _image(self, body: dict) -> np.ndarray:
        return parse_image(field(body, "image"), self.input_shape)

    def _label(self, body: dict) -> int:
        return parse_int(field(body, "label"), "label", 0, max(self.classes, 2))

    @property
    def classes(self) -> int:
        shape = self.model.output_shape
        return int(shape[-1]) if isinstance(shape, tuple) else int(shape[0][-1])

    def _check_free(self) -> None:
        if self.busy is not None:
            raise RequestError(self.busy, status=409)

    # ----- GET ----------------------------------------------------------------------------------
    def describe(self) -> dict:
        """/api/model: names, classes, shapes, parameter counts of every layer."""
        layers = []
        for layer in self.layers():
            layers.append({
                "name": layer.name, "class": type(layer).__name__,
                "output_shape": list(layer.built_shapes()[1]),
                "params": layer.count_params(),
                "activation": getattr(layer, "activation", None),
                "weights": [{"name": k, "shape": list(layer.params[k].shape)}
                            for k in layer.weight_names()]})
        return {"name": self.model.name, "input_shape": list(self.input_shape),
                "classes": self.classes, "layers": layers, "docs": DOCS,
                "docs_sections": docs_sections(), "test_images": self.test_count(),
                "optimizer": type(self.model.optimizer).__name__,
                "loss": getattr(self.model.loss, "name", self.model.loss),
                "training": self.busy is not None}

    def weights_digest(self) -> dict:
        """/api/weights_digest: a SHA-256 of every weight array (its dtype, shape and C-order
        bytes, in ``model.get_weights()`` order) and one over all of them, so a client can tell
        that Step + Undo gave the weights back bit for bit without downloading them."""
        with self.lock:
            total = hashlib.sha256()
            entries = []
            for layer in self.layers():
                for name in layer.weight_names():
                    value = np.ascontiguousarray(layer.params[name])
                    one = hashlib.sha256()
                    for part in (value.dtype.str.encode(), repr(value.shape).encode(),
                                 value.tobytes()):
                        one.update(part)
                        total.update(part)
                    entries.append({"layer": layer.name, "weight": name,
                                    "shape": list(value.shape), "sha256": one.hexdigest()})
        return {"sha256": total.hexdigest(), "weights": entries}

    def _test_set(self) -> tuple[np.ndarray, np.ndarray] | None:
        if self._test is None and self.input_shape[:2] == (28, 28):
            self._test = mnist_test_set()
        return self._test

    def test_count(self) -> int:
        test = self._test_set()
        return 0 if test is None else len(test[0])

    def test_image(self, query: dict) -> dict:
        """/api/test_image?index=i: MNIST test image i, scaled to [0, 1] as ``convnet train``
        prepares it, with its label."""
        test = self._test_set()
        if test is None:
            raise RequestError(f"the bundled MNIST test images are 28x28; this model takes "
                               f"{list(self.input_shape)}", status=404)
        raw = query.get("index")
        try:
            index = int(raw) if raw is not None else None
        except ValueError:
            index = None
        if index is None:
            raise RequestError(f"'index' must be an integer in [0, {len(test[0]) - 1}], "
                               f"got {raw!r}"[:200])
        index = parse_int(index, "index", 0, len(test[0]))
        image = test[0][index].astype("float32") / 255
        return {"image": to_json(image), "label": int(test[1][index]), "index": index}

    # ----- POST ---------------------------------------------------------------------------------
    def predict(self, body: dict) -> dict:
        """/api/predict: ``model.predict`` of one image."""
        x = self._image(body)
        with self.lock:
            self._check_free()
            p = self.model.predict(x)
        p = p[0] if isinstance(p, np.ndarray) else p[0][0]
        return {"probabilities": to_json(p), "label": int(np.argmax(p))}

    def forward(self, body: dict) -> dict:
        """/api/forward: every layer's output for one image (its own ``forward``)."""
        x = self._image(body)
        with self.lock:
            self._check_free()
            calls = passes.forward(self.model, x)
            p = self.model.predict(x)
        p = p[0] if isinstance(p, np.ndarray) else p[0][0]
        seen: set[str] = set()
        layers = []
        for call in calls:
            if call.layer.name in seen or passes.is_input_layer(call.layer):
                continue
            seen.add(call.layer.name)
            out = call.output[0]
            layers.append({"name": call.layer.name, "class": type(call.layer).__name__,
                           "shape": list(out.shape), "values": to_json(out),
                           "min": number(out.min()), "max": number(out.max())})
        return {"probabilities": to_json(p), "label": int(np.argmax(p)), "layers": layers}

    def filters(self, body: dict) -> dict:
        """/api/filters: a layer's weights in Keras's layout."""
        layer = self.layer(field(body, "layer"))
        with self.lock:
            self._check_free()
            weights = {k: layer.params[k].copy() for k in layer.weight_names()}
        if "kernel" not in weights:
            raise RequestError(f"{layer.describe()} has no kernel (its weights: "
                               f"{sorted(weights) or 'none'})")
        bias = weights.get("bias")
        return {"layer": layer.name, "class": type(layer).__name__,
                "shape": list(weights["kernel"].shape), "kernel": to_json(weights["kernel"]),
                "bias": None if bias is None else to_json(bias)}

    def cell(self, body: dict) -> dict:
        """/api/cell: the arithmetic of one output value of one layer."""
        x = self._image(body)
        layer = self.layer(field(body, "layer"))
        index = parse_index(field(body, "index"), layer.built_shapes()[1], "index")
        with self.lock:
            self._check_free()
            call = next(c for c in passes.forward(self.model, x) if c.layer is layer)
            return arithmetic.cell(call, index)

    def backward(self, body: dict) -> dict:
        """/api/backward: dL/d(output) of every layer, dL/dW, dL/dx for one image and label."""
        x, label = self._image(body), self._label(body)
        with self.lock:
            self._check_free()
            result = passes.backward(self.model, x, label)
        layers = []
        for layer in self.layers():
            g = result.output_gradients.get(layer.name)
            weights = result.weight_gradients.get(layer.name, {})
            entry = {"name": layer.name, "class": type(layer).__name__,
                     "output_gradient": None if g is None else to_json(g[0]),
                     "weight_gradients": {k: (to_json(v) if v.size <= self.MAX_VALUES else None)
                                          for k, v in weights.items()},
                     "weight_gradient_shapes": {k: list(v.shape) for k, v in weights.items()},
                     "min": None if g is None else number(g.min()),
                     "max": None if g is None else number(g.max())}
            if layer.name in result.preactivation_gradients:
                entry["preactivation_gradient"] = to_json(
                    result.preactivation_gradients[layer.name][0])
            layers.append(entry)
        dx = result.input_gradient[0]
        if dx.ndim == 3 and dx.shape[-1] == 1:
            dx = dx[..., 0]
        return {"loss": number(result.loss), "label": label,
                "probabilities": to_json(result.probabilities),
                "predicted": int(np.argmax(result.probabilities)),
                "layers": layers, "input_gradient": to_json(dx)}

    def backward_cell(self, body: dict) -> dict:
        """/api/backward_cell: the chain rule behind dL/d(one output value)."""
        x, label = self._image(body), self._label(body)
        layer = self.layer(field(body, "layer"))
        index = parse_index(field(body, "index"), layer.built_shapes()[1], "index")
        if not isinstance(self.model, Sequential):
            raise RequestError("the chain rule per value is shown for Sequential models only")
        with self.lock:
            self._check_free()
            result = passes.backward(self.model, x, label)
            return arithmetic.chain(self.model, result, layer, index)

    def gradcheck(self, body: dict) -> dict:
        """/api/gradcheck: one weight's dL/dw by backpropagation and by central differences,
        both in float64 on a float64 copy of the model (:mod:`convnet.gradcheck`'s float64
        context and relative error)."""
        x, label = self._image(body), self._label(body)
        layer = self.layer(field(body, "layer"))
        weight = field(body, "weight")
        if weight not in layer.grads:
            raise RequestError(f"{layer.describe()} has no trainable weight {weight!r} (it has "
                               f"{sorted(layer.grads) or 'none'})")
        index = parse_index(field(body, "index"), layer.params[weight].shape, "index")
        h = self.GRADCHECK_H
        with self.lock:
            self._check_free()
            clone = self._float64_copy()
            target = clone.get_layer(layer.name)
            with gradcheck.float64():
                result = passes.backward(clone, x, label)
                analytic = float(result.weight_gradients[layer.name][weight][index])
                w = target.params[weight]
                old = w[index]

                def loss() -> float:
                    out = passes.forward(clone, x)[-1].output
                    y = passes.targets(clone, label, out)
                    return float(np.mean(passes.loss_of(clone).call(y, out)))

                w[index] = old + h
                plus = loss()
                w[index] = old - h
                minus = loss()
                w[index] = old
                centre = loss()
            analytic32 = float(passes.backward(self.model, x, label)
                               .weight_gradients[layer.name][weight][index])
        numeric = (plus - minus) / (2 * h)
        floor = 1e-8
        rel = abs(analytic - numeric) / max(abs(analytic), abs(numeric), floor)
        # one-sided slopes: on a smooth loss they differ by about h * L''; across a kink (a
        # ReLU input or a max-pool tie at exactly this weight's value) by the jump in slope,
        # and then the central difference is their average, not the gradient
        right, left = (plus - centre) / h, (centre - minus) / h
        kink = abs(right - left) > 1e-3 * max(abs(right), abs(left), floor)
        return {"layer": layer.name, "weight": weight, "index": list(index),
                "analytic": analytic, "numeric": numeric, "relative_error": rel, "h": h,
                "floor": floor, "analytic_float32": analytic32, "loss_plus": plus,
                "loss_minus": minus, "loss": centre, "slopes": [left, right], "kink": kink,
                "dtype": "float64"}

    MAX_UPLOAD_PIXELS = 1500 * 1500      # larger pictures: 413 (decoded as float64 RGBA)

    def prepare(self, body: dict) -> dict:
        """/api/prepare with JSON: ``pixels``, a grey picture (rows of numbers in [0, 1], any
        size up to 1500x1500, ink or paper either way) made into the 28x28 input the way
        ``convnet predict`` does (:func:`convnet.preprocessing.prepare_digit`)."""
        pixels = field(body, "pixels")
        if not isinstance(pixels, list) or not pixels or not isinstance(pixels[0], list):
            raise RequestError("'pixels' must be a list of rows of numbers in [0, 1]")
        rows, cols = len(pixels), len(pixels[0])
        if rows * cols > self.MAX_UPLOAD_PIXELS:
            raise RequestError(f"'pixels' is {rows}x{cols}; at most {self.MAX_UPLOAD_PIXELS} "
                               "pixels", status=413)
        return self._prepared(parse_image(pixels, (rows, cols)).reshape(rows, cols))

    def prepare_file(self, data: bytes, suffix: str) -> dict:
        """/api/prepare with a PNG or JPEG file: read by :func:`convnet.preprocessing.load_image`
        and prepared by ``prepare_digit``, as ``convnet predict`` does."""
        import io
        import os
        import tempfile

        from PIL import Image, UnidentifiedImageError

        from convnet.preprocessing import load_image
        try:                        # the header only: refuse a decompression bomb unread
            with Image.open(io.BytesIO(data)) as probe:
                width, height = probe.size
        except (UnidentifiedImageError, OSError, ValueError) as exc:
            raise RequestError(f"not a readable PNG or JPEG image ({exc})"[:300]) from None
        if width * height > self.MAX_UPLOAD_PIXELS:
            raise RequestError(f"the picture is {width}x{height}; at most "
                               f"{self.MAX_UPLOAD_PIXELS} pixels (e.g. 1500x1500)", status=413)
        handle, path = tempfile.mkstemp(suffix=suffix, prefix="convnet-serve-")
        try:
            with os.fdopen(handle, "wb") as f:
                f.write(data)
            return self._prepared(load_image(path))
        finally:
            os.unlink(path)

    def _prepared(self, picture: np.ndarray) -> dict:
        from convnet.preprocessing import ImageError, prepare_digit
        if self.input_shape[:2] != (28, 28):
            raise RequestError(f"pictures are prepared as 28x28 digits; this model takes "
                               f"{list(self.input_shape)}")
        try:
            image = prepare_digit(picture)
        except ImageError as exc:
            raise RequestError(str(exc)) from None
        return {"image": to_json(image), "original_shape": list(picture.shape)}

    def _float64_copy(self) -> Model:
        """The model rebuilt in float64 (from its Keras config) with its current weights."""
        if self._float64 is None:
            from convnet import saving
            config = json.loads(self.model.to_json())
            with gradcheck.float64():
                self._float64 = saving.model_from_config(_retyped(config, "float64"))
                self._float64.compile(loss=self.model.loss, optimizer="sgd")
        self._float64.set_weights([w.astype(np.float64) for w in self.model.get_weights()])
        return self._float64

    def step(self, body: dict) -> dict:
        """/api/step: one update by the model's own optimizer from this example's gradients
        (the ones /api/backward shows: dropout off), undoable."""
        x, label = self._image(body), self._label(body)
        model = self.model
        with self.lock:
            self._check_free()
            before = model.get_weights()
            saved_optimizer = copy.deepcopy(model.optimizer)
            result = passes.backward(model, x, label)
            for name, _, g in model.trainable_triples():
                if not np.all(np.isfinite(g)):
                    raise RequestError(f"the gradient of {name} is not finite; no step taken",
                                       status=409)
            assert model.optimizer is not None
            model.optimizer.apply_gradients(model.trainable_triples())
            after_pass = passes.backward(model, x, label)
            after = model.get_weights()
            self._undo.append((before, saved_optimizer))
            del self._undo[:-self.UNDO_DEPTH]
            depth = len(self._undo)
        deltas = []
        pos = 0
        for layer in model.layers:
            for key in layer.weight_names():
                d = after[pos] - before[pos]
                pos += 1
                if key not in layer.grads:
                    continue
                deltas.append({"layer": layer.name, "weight": key, "shape": list(d.shape),
                               "max_abs_delta": number(np.abs(d).max()) if d.size else 0.0,
                               "delta": to_json(d) if d.size <= self.MAX_VALUES else None})
        return {"loss_before": number(result.loss), "loss_after": number(after_pass.loss),
                "probabilities_before": to_json(result.probabilities),
                "probabilities_after": to_json(after_pass.probabilities),
                "step": depth, "optimizer": type(model.optimizer).__name__,
                "iterations": model.optimizer.iterations, "deltas": deltas}

    def undo(self, body: dict) -> dict:
        """/api/undo: the weights and the optimizer's state from before the last step, bit for
        bit (the optimizer is a deep copy taken before the step, as it holds its state --
        Adadelta's accumulators, the step count -- on itself)."""
        with self.lock:
            self._check_free()
            if not self._undo:
                raise RequestError("nothing to undo", status=409)
            weights, optimizer = self._undo.pop()
            self.model.set_weights(weights)
            self.model.optimizer = optimizer
            depth = len(self._undo)
        return {"step": depth, "restored": True}


@functools.cache
def mnist_test_set() -> tuple[np.ndarray, np.ndarray]:
    """The bundled MNIST test images (uint8) and labels, read once per process."""
    from convnet.datasets import mnist
    _, (x, y) = mnist.load_data()
    return x, y


def _retyped(config: Any, dtype: str) -> Any:
    """A Keras config with every layer's float ``dtype`` replaced by ``dtype``."""
    if isinstance(config, dict):
        return {k: (dtype if k == "dtype" and v in ("float16", "float32", "float64")
                    else _retyped(v, dtype)) for k, v in config.items()}
    if isinstance(config, list):
        return [_retyped(v, dtype) for v in config]
    return config


_SECTIONS: dict[str, str] | None = None


def docs_file() -> Path | None:
    """docs/backprop.md of a source checkout (None when convnet is installed without it)."""
    path = Path(__file__).resolve().parents[2] / "docs" / "backprop.md"
    return path if path.is_file() else None


def docs_sections() -> dict[str, str]:
    """Anchor -> title of every heading of docs/backprop.md (GitHub's anchor rule)."""
    global _SECTIONS
    if _SECTIONS is None:
        from convnet.serve import docs
        path = docs_file()
        _SECTIONS = {} if path is None else docs.sections(path.read_text(encoding="utf-8"))
    return _SECTIONS

