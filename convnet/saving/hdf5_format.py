"""Keras HDF5 weight files: the Keras 2 "legacy" layout and the Keras 3 ``.weights.h5`` layout.

Legacy layout (``model.save_weights('x.h5')``; both tf-keras and Keras 3 load it)::

    /  @layer_names = [every layer name, model order]   @backend   @keras_version
    /<layer>/  @weight_names = ['<layer>/kernel:0', '<layer>/bias:0']  (empty for no weights)
    /<layer>/<layer>/kernel:0, bias:0                                 (datasets)

Keras 3 layout (``model.save_weights('x.weights.h5')``)::

    /layers/<key>/vars/0, 1, ...       key = snake_case(class) + _n per class in model order
    /vars                              (the model's own variables: none)

Reading picks the layout from the file's *content*: a ``layer_names`` attribute (on ``/`` or on
``/model_weights`` in a whole-model file) means legacy, a ``/layers`` group means Keras 3.
Legacy weights go to the model's layers *by order* of layers that have weights (not by name, not
by HDF5's alphabetical order); Keras 3 weights by class-name keys (never by layer name).
Everything is read and checked before any weight changes, so a failed load changes nothing.

Functional models: layers go in Keras's order (:func:`~convnet.saving.functional_config.
keras_layers`), their ``InputLayer`` s included (no weights; Keras 3 gives them groups
``layers/input_layer``, ``layers/input_layer_1``, ... with empty ``vars``). A legacy file is
matched to a functional model by layer name when the names agree (Keras's own files), else by
order.

A model used as a layer (a nested model) is one layer here, as in Keras: legacy files give it
one group whose ``weight_names`` are its layers' (``base/conv2d/kernel:0`` under
``/base``); Keras 3 files give it a group ``layers/sequential`` (or ``functional``) holding its
own ``layers/<key>/vars`` groups.
"""

from __future__ import annotations

import contextlib
import json
import os
import warnings
from collections import defaultdict
from pathlib import Path

import h5py
import numpy as np

from convnet.layers.base import snake_case
from convnet.saving import optimizer_state
from convnet.saving.atomic import atomic_path
from convnet.saving.errors import CorruptFileError, FormatError, WeightsMismatchError
from convnet.saving.functional_config import is_functional, keras_layers
from convnet.saving.json_format import PORTABLE_HEADER, is_model, to_json
from convnet.saving.training_config import training_config

STR = h5py.string_dtype()


# ----- helpers ---------------------------------------------------------------------------------
def text_attr(value) -> str:
    """An HDF5 string attribute as ``str``: variable-length (str) or fixed-length (bytes)."""
    if isinstance(value, (bytes, np.bytes_)):
        return bytes(value).decode("utf-8")
    return str(value)


def _text_list(group: h5py.Group | h5py.File, name: str) -> list[str]:
    """A list-of-strings attribute, joining Keras's ``name0``, ``name1``, ... chunks."""
    if name in group.attrs:
        values = group.attrs[name]
    else:
        chunks = []
        i = 0
        while f"{name}{i}" in group.attrs:
            chunks.extend(list(group.attrs[f"{name}{i}"]))
            i += 1
        values = chunks
    return [text_attr(v) for v in np.atleast_1d(np.asarray(values, dtype=object)) if len(values)]


def keras3_keys(layers) -> list[str]:
    """Keras 3 group names: ``conv2d``, ``conv2d_1``, ``dense``, ... by class, in model order
    (a model used as a layer: ``sequential`` or ``functional``)."""
    counts: dict[str, int] = defaultdict(int)
    keys = []
    for layer in layers:
        base = snake_case(layer.keras_class_name)
        keys.append(base if counts[base] == 0 else f"{base}_{counts[base]}")
        counts[base] += 1
    return keys


def _open(path) -> h5py.File:
    path = Path(path)
    if not path.exists():
        raise CorruptFileError(f"weights file not found: {path}")
    if path.is_dir():
        raise CorruptFileError(f"{path} is a folder, not a weights file")
    if path.stat().st_size == 0:
        raise CorruptFileError(f"{path} is empty (0 bytes), not an HDF5 weights file")
    try:
        return h5py.File(path, "r")
    except (OSError, ValueError) as exc:
        raise CorruptFileError(f"{path} is not a readable HDF5 file (corrupt, truncated or "
                               f"another format): {exc}") from None


# ----- writing ---------------------------------------------------------------------------------
def write_legacy_group(group: h5py.Group | h5py.File, model) -> None:
    """Write the Keras 2 legacy weight layout into ``group``."""
    layers = keras_layers(model)
    group.attrs.create("layer_names", [layer.name for layer in layers], dtype=STR)
    group.attrs["backend"] = PORTABLE_HEADER["backend"]
    group.attrs["keras_version"] = PORTABLE_HEADER["keras_version"]
    for layer in layers:
        g = group.create_group(layer.name)
        names = [_legacy_weight_name(layer, key) for key in layer.weight_names()]
        if names:
            g.attrs.create("weight_names", names, dtype=STR)
        else:
            g.attrs["weight_names"] = np.zeros(0, dtype=np.float64)  # as Keras writes it
        for name, value in zip(names, layer.get_weights()):
            g.create_dataset(name, data=value)


def _legacy_weight_name(layer, key: str) -> str:
    """A weight's name in a legacy file: ``dense/kernel:0``; a nested model's weights keep the
    name of the layer that owns them (``bd/kernel:0`` under the model's group, as tf-keras)."""
    if is_model(layer):
        return "/".join(key.split("/")[-2:]) + ":0"
    return f"{layer.name}/{key}:0"


def write_keras3(file: h5py.File | h5py.Group, model) -> None:
    """Write the Keras 3 ``.weights.h5`` layout; a model used as a layer gets the same layout
    inside its group (``layers/sequential/layers/dense/vars``), as Keras 3 nests it."""
    layers_group = file.create_group("layers")
    layers = keras_layers(model)
    for key, layer in zip(keras3_keys(layers), layers):
        if is_model(layer):
            write_keras3(layers_group.create_group(key), layer)
            continue
        v = layers_group.create_group(key).create_group("vars")
        v.attrs["name"] = layer.name
        for i, value in enumerate(layer.get_weights()):
            v.create_dataset(str(i), data=value)
    file.create_group("vars").attrs["name"] = model.name


def save_weights(model, path: str | os.PathLike) -> None:
    """Write weights: ``*.weights.h5`` -> Keras 3 layout, other ``.h5``/``.hdf5`` -> legacy.

    The file is written to a temporary name in the same folder and renamed into place.
    """
    name = str(path)
    if not model.built:
        raise FormatError("save_weights: the model is not built yet, so it has no weights")
    if not name.endswith((".h5", ".hdf5", ".keras.h5")):
        raise FormatError(f"save_weights: {name!r}: use a name ending in '.h5' (Keras 2 "
                          "layout, read by both Keras versions) or '.weights.h5' (Keras 3)")
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            if name.endswith(".weights.h5"):
                write_keras3(f, model)
            else:
                write_legacy_group(f, model)


def save_model(model, path: str | os.PathLike) -> None:
    """Whole model in one Keras-style ``.h5``: ``model_config`` (JSON) + ``model_weights``, and
    for a compiled model ``training_config`` (loss, metrics, optimizer settings) +
    ``optimizer_weights`` (its state, in Keras 3's order), so ``load_model`` compiles it."""
    if not model.built:
        raise FormatError("save: the model is not built yet")
    compile_cfg = model.get_compile_config()
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            f.attrs["model_config"] = to_json(model)
            f.attrs["backend"] = PORTABLE_HEADER["backend"]
            f.attrs["keras_version"] = PORTABLE_HEADER["keras_version"]
            write_legacy_group(f.create_group("model_weights"), model)
            if compile_cfg is not None:
                f.attrs["training_config"] = json.dumps(training_config(compile_cfg))
                write_optimizer_weights(f, model)


def write_optimizer_weights(f: h5py.File, model) -> None:
    """``optimizer_weights``: Keras's flat variable list, names in ``weight_names``."""
    arrays = optimizer_state.state_arrays(model)
    if arrays is None:
        return
    group = f.create_group("optimizer_weights")
    group.attrs.create("weight_names", [name for name, _ in arrays], dtype=STR)
    for name, value in arrays:
        group.create_dataset(name, data=value)


def read_optimizer_weights(f: h5py.File, path) -> list[tuple[str | None, np.ndarray]]:
    """The ``optimizer_weights`` list of a whole-model ``.h5`` (empty if it has none)."""
    if "optimizer_weights" not in f:
        return []
    group = f["optimizer_weights"]
    names = _text_list(group, "weight_names") if "weight_names" in group.attrs else []
    try:
        return [(name, np.asarray(group[name])) for name in names]
    except KeyError as exc:
        raise FormatError(f"{path}: optimizer_weights lists a variable the file lacks "
                          f"({exc})") from None


# ----- reading ---------------------------------------------------------------------------------
def read_legacy(group, model, path, by_name: bool = False) -> list[tuple]:
    """``(layer, arrays, where)`` for every model layer the legacy file gives weights to: by
    order of the layers with weights, or (``by_name``, Keras 2's ``load_weights(by_name=True)``)
    to the model's layers of the same name, others left as they are."""
    saved = []
    for name in _text_list(group, "layer_names"):
        if name not in group:
            raise FormatError(f"{path}: layer_names lists {name!r} but the file has no such group")
        g = group[name]
        weight_names = _text_list(g, "weight_names") if "weight_names" in g.attrs else []
        if weight_names:
            try:
                saved.append((name, [np.asarray(g[w]) for w in weight_names]))
            except KeyError as exc:
                raise FormatError(f"{path}: layer {name!r} lists a weight the file lacks "
                                  f"({exc})") from None
    named = dict(saved)
    if by_name:
        return [(layer, named[layer.name], f"file layer {layer.name!r}")
                for layer in keras_layers(model) if layer.name in named]
    targets = [layer for layer in keras_layers(model) if layer.params]
    if is_functional(model) and len(saved) == len(targets) and \
            all(layer.name in named for layer in targets):
        saved = [(layer.name, named[layer.name]) for layer in targets]
    if len(saved) != len(targets):
        raise WeightsMismatchError(
            f"{path}: the file holds weights for {len(saved)} layers "
            f"({', '.join(n for n, _ in saved) or 'none'}) but the model has {len(targets)} "
            f"layers with weights ({', '.join(t.name for t in targets) or 'none'})")
    return [(layer, arrays, f"file layer {name!r}")
            for layer, (name, arrays) in zip(targets, saved)]


def read_keras3(file, model, path) -> list[tuple]:
    """``(layer, arrays, where)`` from a Keras 3 weights file (``/layers/<key>/vars``)."""
    layers_group = file["layers"]
    layers = keras_layers(model)
    keys = keras3_keys(layers)
    pairs = []
    for key, layer in zip(keys, layers):
        if key not in layers_group:
            if layer.params:
                raise WeightsMismatchError(f"{path}: no weights for layer {layer.name!r} (group "
                                           f"'layers/{key}' is missing)")
            continue
        group = layers_group[key]
        if is_model(layer):                          # its own layers/... inside its group
            if "layers" not in group:
                raise WeightsMismatchError(f"{path}: group 'layers/{key}' holds no layers, but "
                                           f"{layer.describe()} is a model")
            pairs += read_keras3(group, layer, f"{path}: layers/{key}")
            continue
        v = group["vars"] if "vars" in group else group
        arrays = [np.asarray(v[str(i)]) for i in range(len(v)) if str(i) in v]
        if len(arrays) != len(v) or (arrays and not layer.params):
            raise WeightsMismatchError(f"{path}: group 'layers/{key}' holds {len(v)} arrays but "
                                       f"layer {layer.name!r} ({type(layer).__name__}) has "
                                       f"{len(layer.params)} weights")
        if layer.params:
            pairs.append((layer, arrays, f"file group 'layers/{key}'"))
    extra = [k for k in layers_group if k not in keys and "vars" in layers_group[k]
             and len(layers_group[k]["vars"])]
    if extra:
        raise WeightsMismatchError(f"{path}: the file has weights for layers the model lacks: "
                                   f"{', '.join(extra)}")
    return pairs


def load_weights(model, path: str | os.PathLike, by_name: bool = False,
                 skip_mismatch: bool = False) -> None:
    """Read weights from a Keras HDF5 file (either layout, chosen by content) into ``model``.

    ``by_name`` (Keras 2 ``.h5`` files only, as in Keras): weights go to the layers of the same
    name; the model's other layers keep theirs. ``skip_mismatch``: a layer whose weights do not
    fit is skipped with a warning instead of failing the load.

    Raises :class:`CorruptFileError` for unreadable files and :class:`WeightsMismatchError`
    when the file does not fit the model; in both cases the model is left unchanged.
    """
    if not model.built:
        raise FormatError("load_weights: the model is not built yet; give the first layer an "
                          "input_shape or call model.build((None, ...)) first")
    with reading(path) as f:
        pairs = read_weights(f, model, path, by_name)
    assign(pairs, skip_mismatch)


def read_weights(f, model, path, by_name: bool = False) -> list[tuple]:
    """The ``(layer, arrays, where)`` pairs of an open weights or whole-model HDF5 file."""
    if "layer_names" in f.attrs or "layer_names0" in f.attrs:
        return read_legacy(f, model, path, by_name)
    if "model_weights" in f and "layer_names" in f["model_weights"].attrs:
        return read_legacy(f["model_weights"], model, path, by_name)
    if "layers" in f:
        if by_name:
            raise FormatError(f"{path}: by_name=True applies to Keras 2 '.h5' weight files; "
                              "this is a Keras 3 weights file, whose weights are matched by "
                              "the model's structure (as in Keras 3)")
        return read_keras3(f, model, path)
    raise FormatError(f"{path}: not a Keras weights file (no 'layer_names' "
                      "attribute and no 'layers' group)")


@contextlib.contextmanager
def reading(path):
    """Open an HDF5 file for reading; any low-level failure while reading it (h5py raises
    KeyError, RuntimeError, ... on damaged metadata) becomes a CorruptFileError naming it."""
    f = _open(path)
    try:
        yield f
    except (FormatError, CorruptFileError):
        raise
    except Exception as exc:  # noqa: BLE001 -- a damaged file can fail in many ways
        raise CorruptFileError(f"{path}: damaged file ({type(exc).__name__}: {exc})") from None
    finally:
        try:
            f.close()
        except Exception:  # noqa: BLE001
            pass


def _misfit(layer, arrays, source) -> str | None:
    names = layer.weight_names()
    if len(arrays) != len(names):
        return (f"layer {layer.name!r} ({type(layer).__name__}) expects {len(names)} weights "
                f"({', '.join(names) or 'none'}), {source} has {len(arrays)}")
    for key, array in zip(names, arrays):
        expected = layer.params[key].shape
        if array.shape != expected:
            return (f"layer {layer.name!r} ({type(layer).__name__}) weight '{key}': expected "
                    f"shape {expected}, found {array.shape} in {source}")
        if array.dtype.kind not in "fiu":
            return (f"layer {layer.name!r} weight '{key}': {source} holds non-numeric data "
                    f"({array.dtype})")
    return None


def assign(pairs, skip_mismatch: bool = False) -> None:
    """Copy ``(layer, arrays, where)`` pairs into the layers, all checked first: a misfit
    raises (or, with ``skip_mismatch``, skips that layer with a warning) before anything
    changes."""
    fitting = []
    for layer, arrays, source in pairs:
        problem = _misfit(layer, arrays, source)
        if problem is None:
            fitting.append((layer, arrays))
        elif skip_mismatch:
            warnings.warn(f"load_weights: skipping {problem}", stacklevel=3)
        else:
            raise WeightsMismatchError(problem)
    for layer, arrays in fitting:
        layer.set_weights(arrays)


def load_model(path: str | os.PathLike, custom_objects: dict | None = None,
               compile: bool = True):
    """Read a whole-model ``.h5`` (``model_config`` + ``model_weights``) written by convnet or
    Keras; compiled from its ``training_config`` (with the optimizer state of its
    ``optimizer_weights``) when it has one and ``compile`` is true, as Keras does."""
    from convnet.saving.json_format import model_from_json
    from convnet.saving.training_config import compile_arguments

    with reading(path) as f:
        if "model_config" not in f.attrs:
            raise FormatError(f"{path}: not a whole-model file (no 'model_config' attribute); "
                              "for a weights-only file use model_from_json + load_weights")
        text = text_attr(f.attrs["model_config"])
        settings = (text_attr(f.attrs["training_config"])
                    if compile and "training_config" in f.attrs else None)
        state = read_optimizer_weights(f, path) if settings else []
    model = model_from_json(text, custom_objects)
    load_weights(model, path)
    if settings:
        try:
            config = json.loads(settings)
        except json.JSONDecodeError as exc:
            raise FormatError(f"{path}: training_config is not valid JSON ({exc})") from None
        try:
            model.compile(**compile_arguments(config, custom_objects, len(model.outputs)))
        except FormatError as exc:
            raise FormatError(f"{path}: {exc}") from None
        if state:
            optimizer_state.restore(model, state, str(path))
    return model
