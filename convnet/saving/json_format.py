"""Keras model JSON: writing a dialect both tf-keras 2.x and Keras 3 load, reading all three.

Written (``to_json``) -- the dialect that real tf-keras 2.21 and Keras 3.15 both accept
(see ``docs/keras_format.md``): top-level ``"module": "keras"``; ``config`` a dict with ``name``
and ``layers``; a first ``InputLayer`` with ``batch_input_shape``; plain ``"float32"`` dtypes;
layer entries as ``{"class_name", "config"}`` with tf-keras-style configs.

Read (``model_from_json``):

* tf-keras 2.x: ``InputLayer`` + ``batch_input_shape``, ``module``/``registered_name``/
  ``build_config`` keys (ignored);
* Keras 3: ``batch_shape``, DTypePolicy objects, ``compile_config`` (ignored);
* Keras 2.2 (2018): ``config`` a list *or* a dict, no InputLayer, ``batch_input_shape`` on the
  first layer, ``VarianceScaling`` initialisers.

Functional models (``class_name`` ``Functional`` or ``Model``, layers with ``inbound_nodes``) are
written and read by :mod:`convnet.saving.functional_config`, with these same layer entries.
A model used as a layer is one entry holding its whole description (``{"class_name":
"Sequential", "config": {"name": "base", "layers": [...]}}``), as Keras nests it.

Safety: only the layer classes in ``LAYER_CLASSES`` (plus the merge layers, in a functional
model) and those the caller passes as ``custom_objects`` are built; nothing named in a file is
imported, evaluated or unpickled.
"""

from __future__ import annotations

import json
import warnings
from typing import Any

from convnet import initializers
from convnet import layers as layers_module
from convnet.saving import registry
from convnet.saving.errors import FormatError, UnknownLayerError

# Keras class name -> convnet class. The allow-list: nothing else is ever built from a file.
LAYER_CLASSES: dict[str, type] = {
    "Conv2D": layers_module.Conv2D,
    "Convolution2D": layers_module.Conv2D,
    "MaxPooling2D": layers_module.MaxPooling2D,
    "MaxPool2D": layers_module.MaxPooling2D,
    "AveragePooling2D": layers_module.AveragePooling2D,
    "AvgPool2D": layers_module.AveragePooling2D,
    "Dense": layers_module.Dense,
    "Dropout": layers_module.Dropout,
    "Flatten": layers_module.Flatten,
    "Activation": layers_module.Activation,
    "BatchNormalization": layers_module.BatchNormalization,
    "ZeroPadding2D": layers_module.ZeroPadding2D,
    "Cropping2D": layers_module.Cropping2D,
    "Reshape": layers_module.Reshape,
    "Permute": layers_module.Permute,
    "GlobalAveragePooling2D": layers_module.GlobalAveragePooling2D,
    "GlobalAvgPool2D": layers_module.GlobalAveragePooling2D,
    "GlobalMaxPooling2D": layers_module.GlobalMaxPooling2D,
    "GlobalMaxPool2D": layers_module.GlobalMaxPooling2D,
    "Softmax": layers_module.Softmax,
    "ReLU": layers_module.ReLU,
    "LeakyReLU": layers_module.LeakyReLU,
    "ELU": layers_module.ELU,
    "PReLU": layers_module.PReLU,
    "UpSampling2D": layers_module.UpSampling2D,
    "SpatialDropout2D": layers_module.SpatialDropout2D,
    "GaussianNoise": layers_module.GaussianNoise,
    "GaussianDropout": layers_module.GaussianDropout,
    "ActivityRegularization": layers_module.ActivityRegularization,
    "Rescaling": layers_module.Rescaling,
    "RandomFlip": layers_module.RandomFlip,
    "RandomTranslation": layers_module.RandomTranslation,
    "RandomRotation": layers_module.RandomRotation,
    "RandomZoom": layers_module.RandomZoom,
    "RandomContrast": layers_module.RandomContrast,
    "DepthwiseConv2D": layers_module.DepthwiseConv2D,
    "SeparableConv2D": layers_module.SeparableConv2D,
    "SeparableConvolution2D": layers_module.SeparableConv2D,
    "Conv1D": layers_module.Conv1D,
    "Convolution1D": layers_module.Conv1D,
    "MaxPooling1D": layers_module.MaxPooling1D,
    "MaxPool1D": layers_module.MaxPooling1D,
    "AveragePooling1D": layers_module.AveragePooling1D,
    "AvgPool1D": layers_module.AveragePooling1D,
    "GlobalAveragePooling1D": layers_module.GlobalAveragePooling1D,
    "GlobalAvgPool1D": layers_module.GlobalAveragePooling1D,
    "GlobalMaxPooling1D": layers_module.GlobalMaxPooling1D,
    "GlobalMaxPool1D": layers_module.GlobalMaxPooling1D,
    "Conv2DTranspose": layers_module.Conv2DTranspose,
    "Convolution2DTranspose": layers_module.Conv2DTranspose,
}

# Keys Keras writes that carry no meaning for convnet (bookkeeping, or defaults we enforce).
_IGNORED_KEYS = {"module", "registered_name", "build_config", "trainable", "dtype",
                 "batch_input_shape", "batch_shape", "input_shape", "quantization_config",
                 "lora_rank", "lora_alpha", "optional", "sparse", "ragged", "autocast"}

# VarianceScaling(scale, mode, distribution) -> the named initialiser it equals.
_VARIANCE_SCALING = {
    (1.0, "fan_avg", "uniform"): "glorot_uniform",
    (1.0, "fan_avg", "truncated_normal"): "glorot_normal",
    (1.0, "fan_avg", "normal"): "glorot_normal",
    (2.0, "fan_in", "uniform"): "he_uniform",
    (2.0, "fan_in", "truncated_normal"): "he_normal",
    (2.0, "fan_in", "normal"): "he_normal",
    (1.0, "fan_in", "uniform"): "lecun_uniform",
}
PORTABLE_HEADER = {"keras_version": "2.2.4", "backend": "tensorflow"}


# ----- writing ---------------------------------------------------------------------------------
def model_to_config(model, keras3: bool = False, nested: bool = False) -> dict[str, Any]:
    """The portable Keras description of a built model (a JSON-ready dict); functional models
    are described by :mod:`convnet.saving.functional_config` (``keras3``: in Keras 3's own
    dialect, for ``.keras`` files, see there)."""
    from convnet.saving import functional_config

    if functional_config.is_functional(model):
        return functional_config.to_config(model, keras3, nested)
    if not model.built:
        raise FormatError("to_json: the model is not built yet; give the first layer an "
                          "input_shape or call model.build((None, ...)) first")
    entries: list[dict[str, Any]] = [{
        "class_name": "InputLayer",
        "config": {"batch_input_shape": _batch_shape(model.input_shape),
                   "dtype": model.layers[0].dtype, "sparse": False, "ragged": False,
                   "name": _input_layer_name(model)},
    }]
    for layer in model.layers:
        if is_model(layer):
            entries.append(nested_model_entry(layer, keras3))
            continue
        if type(layer).__name__ not in LAYER_CLASSES and not is_custom_layer(layer):
            raise FormatError(f"to_json: layer {layer.name!r} is a {type(layer).__name__}, "
                              "which has no Keras equivalent convnet can write")
        config = portable_config(layer)
        config.pop("batch_input_shape", None)   # the InputLayer carries the shape
        entries.append({"class_name": type(layer).__name__, "config": jsonable(config)})
    description: dict[str, Any] = {"name": model.name, "layers": entries}
    if not model.trainable:                  # frozen (a nested base model): as Keras writes it
        description["trainable"] = False
    return {"module": "keras", "class_name": "Sequential", "config": description,
            **PORTABLE_HEADER}


def is_model(layer) -> bool:
    """Whether a layer of a model is itself a model (Keras: a nested model)."""
    from convnet.models import Model

    return isinstance(layer, Model)


def nested_model_entry(model, keras3: bool = False) -> dict[str, Any]:
    """The layer entry of a model used as a layer: its whole description, as Keras nests it
    (``{"class_name": "Sequential" or "Functional", "config": {"name", "layers", ...}}``).

    A functional model is written as ``"Functional"`` with ``"module": "keras.models"``, where
    both tf-keras 2.21 and Keras 3.15 find the class (a top-level description says ``Model``,
    see :mod:`functional_config`)."""
    description = model_to_config(model, keras3, nested=True)
    entry = {"class_name": description["class_name"], "config": description["config"]}
    if entry["class_name"] != "Sequential":
        entry.update(class_name="Model", module="keras")
    return entry


def _batch_shape(shape) -> list:
    """``model.input_shape`` with the batch axis (``None``) first."""
    shape = list(shape)
    return shape if shape and shape[0] is None else [None, *shape]


def is_custom_layer(layer) -> bool:
    """A layer class of the user's own (written by class name; loading it needs
    ``custom_objects``, as in Keras)."""
    return type(layer).__module__.split(".")[0] != "convnet"


def _input_layer_name(model) -> str:
    taken = {layer.name for layer in model.layers}
    name, i = "input_1", 1
    while name in taken:
        i += 1
        name = f"input_{i}"
    return name


def jsonable(value):
    """``value`` with tuples turned into lists, at any depth (what ``json.dumps`` writes)."""
    if isinstance(value, tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    return value


def portable_config(layer) -> dict:
    """``layer.get_config()`` in words both tf-keras 2.x and Keras 3 read: LeakyReLU's slope is
    ``alpha`` (tf-keras knows no ``negative_slope``; Keras 3 takes ``alpha`` with a warning);
    RandomContrast's ``value_range`` (Keras 3 only) is left out at its default (0, 255)."""
    config = dict(layer.get_config())
    if type(layer).__name__ == "LeakyReLU" and "negative_slope" in config:
        config["alpha"] = config.pop("negative_slope")
    if type(layer).__name__ == "RandomContrast" and \
            list(config.get("value_range", ())) == [0, 255]:
        del config["value_range"]
    return config


def to_json(model, **json_kwargs) -> str:
    """``model.to_json()``: the portable dialect as text (``json.dumps`` keyword arguments pass)."""
    return json.dumps(model_to_config(model), **json_kwargs)


# ----- reading ---------------------------------------------------------------------------------
def model_from_json(text: str | bytes, custom_objects: dict | None = None):
    """Build a model (Sequential or functional) from Keras JSON text (tf-keras, Keras 3 or
    Keras 2.2 dialect). ``custom_objects`` maps names in the file to your own layer classes
    (:class:`convnet.layers.Layer` subclasses) or to convnet activations, as in Keras."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    if not isinstance(text, str):
        raise FormatError(f"model_from_json expects JSON text, got {type(text).__name__}")
    try:
        description = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FormatError(f"model_from_json: not valid JSON ({exc})") from None
    return model_from_config(description, custom_objects)


class CustomObjects:
    """What a caller's ``custom_objects`` adds to the allow-list: layer classes (by the name in
    the file, ``"MyLayer"`` or Keras 3's registered ``"package>MyLayer"``) and names for
    activations. Only objects the caller passed in are ever used."""

    def __init__(self, custom_objects: dict | None = None):
        # registered classes (register_keras_serializable, custom_object_scope), then the
        # caller's own, which win
        given = {**registry.registered(), **dict(custom_objects or {})}
        for key in given:
            if not isinstance(key, str):
                raise FormatError(f"custom_objects: keys must be the names used in the file, "
                                  f"got {key!r}")
        self.layers = {k: v for k, v in given.items()
                       if isinstance(v, type) and issubclass(v, layers_module.Layer)}
        for value in list(self.layers.values()):
            self.layers.setdefault(value.__name__, value)
        self.others = {k: v for k, v in given.items() if k not in self.layers}

    def classes(self, base: dict[str, type]) -> dict[str, type]:
        return {**base, **self.layers}

    def layer_class(self, entry: dict) -> str | None:
        """The class name to build an entry with: its ``class_name``, or its Keras 3
        ``registered_name`` when only that was passed in."""
        name, registered = entry.get("class_name"), entry.get("registered_name")
        if isinstance(registered, str) and registered in self.layers and name not in self.layers:
            return registered
        return name

    def resolve(self, cfg: dict) -> dict:
        """``cfg`` with activation names from ``custom_objects`` replaced by their objects."""
        value = cfg.get("activation")
        if isinstance(value, str) and value in self.others:
            return {**cfg, "activation": self.others[value]}
        return cfg


def model_from_config(description: Any, custom_objects: dict | None = None):
    """Build a Sequential or functional model from a parsed Keras model description."""
    return build_model(description, CustomObjects(custom_objects))


MODEL_ENTRY_CLASSES = ("Sequential", "Functional", "Model")


def build_model(description: Any, custom: CustomObjects):
    """:func:`model_from_config` with the caller's classes already gathered (a nested model's
    entry is built by this too)."""
    from convnet.models import Sequential
    from convnet.saving import functional_config

    if not isinstance(description, dict):
        raise FormatError(f"model description must be a JSON object, got "
                          f"{type(description).__name__}")
    class_name = description.get("class_name")
    if class_name in functional_config.MODEL_CLASS_NAMES:
        return functional_config.from_config(description, custom)
    if class_name != "Sequential":
        raise functional_config.unknown_model_class(class_name)
    config = description.get("config")
    entries: object
    if isinstance(config, list):              # Keras <= 2.2.2
        entries, name, build_shape = config, "sequential", None
    elif isinstance(config, dict):
        entries = config.get("layers")
        name = config.get("name") or "sequential"
        build_shape = config.get("build_input_shape")
    else:
        raise FormatError("model description: 'config' must be a list of layers or a dict "
                          f"with 'layers', got {type(config).__name__}")
    if not isinstance(entries, list) or not entries:
        raise FormatError("model description: no layers found under 'config'")
    if build_shape is None and isinstance(description.get("build_config"), dict):
        build_shape = description["build_config"].get("input_shape")

    input_shape = None
    layers: list[layers_module.Layer] = []
    for position, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("config"), dict):
            raise FormatError(f"model description: layer entry {position} must be an object "
                              "with 'class_name' and 'config'")
        cls_name, cfg = entry.get("class_name"), entry["config"]
        if cls_name == "InputLayer":
            input_shape = batch_shape_of(cfg, position)
            continue
        if cls_name in MODEL_ENTRY_CLASSES:       # a model used as a layer
            layers.append(nested_model_from_entry(entry, custom, position))
            continue
        if input_shape is None and not layers:    # Keras 2.2: the shape rides on layer one
            input_shape = batch_shape_of(cfg, position, required=False)
        layers.append(layer_from_entry(custom.layer_class(entry), custom.resolve(cfg), position,
                                       custom.classes(LAYER_CLASSES)))
    if input_shape is None and build_shape is not None:
        input_shape = _shape_list(build_shape, "build_input_shape")

    model = Sequential(name=str(name))
    for position, layer in enumerate(layers):
        try:
            model.add(layer)
        except ValueError as exc:
            raise FormatError(f"model description: layer {position} ({layer.name!r}): "
                              f"{exc}") from None
    if input_shape is not None:
        model.build(tuple(input_shape))
    if isinstance(config, dict) and config.get("trainable") is False:
        model.trainable = False
    return model


def nested_model_from_entry(entry: dict, custom: CustomObjects, position: int):
    """The model of a layer entry that is a whole model (Keras's nested ``Sequential`` or
    ``Functional``), named as the entry."""
    name = entry.get("name", entry["config"].get("name"))
    try:
        model = build_model({"class_name": entry["class_name"], "config": entry["config"]},
                            custom)
    except UnknownLayerError as exc:
        raise UnknownLayerError(f"model description: layer {position} ({name!r}, a nested "
                                f"{entry['class_name']} model): {exc}") from None
    except FormatError as exc:
        raise FormatError(f"model description: layer {position} ({name!r}, a nested "
                          f"{entry['class_name']} model): {exc}") from None
    if isinstance(name, str) and name:
        model.name = name
    return model


def _shape_list(shape, what: str, batch_axis: bool = True) -> list:
    """A shape from a file: the batch axis (when present) may be null, every other size is a
    positive integer (convnet builds every layer eagerly, so no size may stay unknown)."""
    def positive(d):
        return isinstance(d, int) and not isinstance(d, bool) and d > 0

    ok = isinstance(shape, list) and len(shape) > int(batch_axis)
    if ok:
        sizes = shape[1:] if batch_axis else shape
        ok = all(positive(d) for d in sizes) and (not batch_axis or shape[0] is None
                                                   or positive(shape[0]))
    if not ok:
        note = " (the batch axis first, which may be null)" if batch_axis else ""
        raise FormatError(f"model description: {what} must be a list of positive integers"
                          f"{note}, got {shape!r}")
    return shape


def batch_shape_of(cfg: dict, position: int, required: bool = True) -> list | None:
    """The batch shape a layer entry's config declares (``batch_input_shape``, ``batch_shape``
    or ``input_shape``), checked; None when it declares none and none is ``required``."""
    for key in ("batch_input_shape", "batch_shape"):
        if key in cfg and cfg[key] is not None:
            return _shape_list(cfg[key], f"layer {position} {key}")
    if "input_shape" in cfg and cfg["input_shape"] is not None:
        shape = cfg["input_shape"]
        shape = list(shape) if isinstance(shape, (list, tuple)) else shape
        return [None, *_shape_list(shape, f"layer {position} input_shape", batch_axis=False)]
    if required:
        raise FormatError(f"model description: InputLayer (entry {position}) has no "
                          "batch_input_shape or batch_shape")
    return None


def layer_from_entry(cls_name, cfg: dict, position: int,
                     classes: dict[str, type] = LAYER_CLASSES) -> layers_module.Layer:
    """Build the layer of one entry: only classes in ``classes`` (the allow-list), Keras-only
    bookkeeping keys dropped; raises UnknownLayerError or FormatError naming the entry."""
    if not isinstance(cls_name, str) or cls_name not in classes:
        raise UnknownLayerError(
            f"model description: layer {position} ({cfg.get('name', '?')!r}) is of class "
            f"{cls_name!r}, which convnet does not build; supported classes: "
            f"{', '.join(sorted(classes))} (a layer class of your own: pass it as "
            f"custom_objects={{{cls_name!r}: {cls_name}}})")
    cls = classes[cls_name]
    kwargs: dict[str, Any] = {}
    for key, value in cfg.items():
        if key in _IGNORED_KEYS:
            continue
        if key.endswith("_initializer"):
            value = _initializer(value, cfg.get("name"), key)
        kwargs[key] = value
    if "dtype" in cfg and cfg["dtype"] is not None:
        kwargs["dtype"] = cfg["dtype"]
    if "trainable" in cfg:
        kwargs["trainable"] = bool(cfg["trainable"])
    try:
        if issubclass(cls, layers_module.Layer) and cls.__module__.split(".")[0] != "convnet":
            return cls.from_config(kwargs)                 # a caller's own layer class
        return cls(**kwargs)
    except TypeError as exc:
        raise FormatError(f"model description: layer {position} ({cfg.get('name', '?')!r}, "
                          f"{cls_name}) has arguments convnet does not know: {exc}") from None
    except ValueError as exc:
        raise FormatError(f"model description: layer {position} ({cls_name}): {exc}") from None


def _initializer(spec, layer_name, key) -> initializers.InitializerSpec:
    """A Keras initialiser entry (name, or dict with or without ``module``/``registered_name``)
    as a layer takes it; an unseeded Keras 2.2 ``VarianceScaling`` as the name it equals."""
    if spec is None:
        return "zeros" if key == "bias_initializer" else "glorot_uniform"
    if isinstance(spec, dict) and spec.get("class_name") == "VarianceScaling" \
            and isinstance(spec.get("config"), dict) and spec["config"].get("seed") is None:
        c = spec["config"]
        try:
            found = _VARIANCE_SCALING.get((float(c.get("scale", 1.0)), str(c.get("mode")),
                                           str(c.get("distribution"))))
        except (TypeError, ValueError):
            found = None
        if found:
            return found
    try:
        return initializers.normalize(spec)
    except ValueError as exc:
        problem = str(exc)
    # Initialisers only matter before weights are loaded; keep going with Keras's default.
    warnings.warn(f"layer {layer_name!r}: initializer {spec!r} ({key}) is not one convnet "
                  f"can build ({problem}); using glorot_uniform / zeros instead (loaded weights "
                  "are unaffected)", stacklevel=4)
    return "zeros" if key == "bias_initializer" else "glorot_uniform"
