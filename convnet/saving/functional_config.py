"""Functional models (``Model(inputs, outputs)``) in Keras JSON: the graph, both ways.

Written (``to_config``) -- a dialect real tf-keras 2.21 and Keras 3.15 both load::

    {"module": "keras", "class_name": "Model",
     "config": {"name": ..., "layers": [entry, ...],
                "input_layers": [["input_1", 0, 0]], "output_layers": [["dense", 0, 0]]},
     "keras_version": "2.2.4", "backend": "tensorflow"}
    entry = {"name": "add", "class_name": "Add", "config": {...},
             "inbound_nodes": [[["conv2d_1", 0, 0, {}], ["conv2d", 0, 0, {}]]]}

``keras.Model`` is the public name of the class both Keras resolve (its ``from_config`` builds
a functional model from such a config). Keras 3 and tf-keras write ``"class_name": "Functional"``,
but Keras 3 finds that class only under its private module (``"module":
"keras.src.models.functional"``; with ``"module": "keras"`` it fails: "Could not deserialize
'keras.Functional'"), and Keras 2.2 wrote ``"Model"``.

Each ``inbound_nodes`` item is one call of the layer, listing the tensors it took as ``[layer
name, node index, tensor index, kwargs]`` (tf-keras's form; Keras 3 still reads it).
The node index counts the calls of that layer *within this model*: a layer shared by two calls
has nodes 0 and 1. Layer configs are the portable ones of :mod:`json_format`, and the
``InputLayer`` entries carry ``batch_input_shape``.

Read (``from_config``): the above, tf-keras's own output (``module``/``build_config`` keys), and
Keras 3's, whose nodes are ``{"args": [tensor or [tensors]], "kwargs": {}}`` with each tensor
``{"class_name": "__keras_tensor__", "config": {"keras_history": [name, node, tensor]}}``.
Nodes are replayed layer by layer, a node waiting until the tensors it takes exist (a shared
layer's second call may need layers listed after it).

Layer order: Keras lists a functional model's layers by depth from the outputs (inputs first),
ties in the order a walk back from the outputs first meets them (``map_graph`` in Keras 3's
``ops/function.py``, ``_map_graph_network`` in tf-keras). Weight files depend on that order
(legacy files are matched by it; Keras 3 numbers its ``layers/<class>_n`` groups along it), so
:func:`keras_layers` reproduces it.
"""

from __future__ import annotations

from typing import Any

from convnet import graph
from convnet import layers as layers_module
from convnet.saving.errors import FormatError, UnknownLayerError
from convnet.saving.json_format import (
    LAYER_CLASSES,
    MODEL_ENTRY_CLASSES,
    PORTABLE_HEADER,
    batch_shape_of,
    is_custom_layer,
    is_model,
    jsonable,
    layer_from_entry,
    nested_model_entry,
    nested_model_from_entry,
    portable_config,
)

# The classes a functional model may hold: those of a Sequential, plus the merge layers.
MERGE_CLASSES: dict[str, type] = {
    "Add": layers_module.Add,
    "Subtract": layers_module.Subtract,
    "Multiply": layers_module.Multiply,
    "Average": layers_module.Average,
    "Maximum": layers_module.Maximum,
    "Minimum": layers_module.Minimum,
    "Concatenate": layers_module.Concatenate,
}
FUNCTIONAL_CLASSES: dict[str, type] = {**LAYER_CLASSES, **MERGE_CLASSES}
MODEL_CLASS_NAMES = ("Functional", "Model")     # Keras 3 / tf-keras write Functional; 2.2 Model


def is_functional(model) -> bool:
    """Whether ``model`` is a graph model (not a :class:`~convnet.models.Sequential`)."""
    from convnet.models import Sequential

    return not isinstance(model, Sequential)


# ----- the graph in Keras's order ---------------------------------------------------------------
def network(model) -> tuple[list[graph.Node], dict[int, int]]:
    """The model's nodes (its inputs' nodes first) and each node's index among the calls of its
    layer in this model (creation order, as Keras re-numbers nodes when saving)."""
    nodes = [t.node for t in model.inputs if t.node is not None]
    nodes += graph.nodes_between(model.inputs, model.outputs)
    by_layer: dict[int, list[graph.Node]] = {}
    for node in nodes:
        by_layer.setdefault(id(node.layer), []).append(node)
    index: dict[int, int] = {}
    for calls in by_layer.values():
        # a tensor's id grows with creation, so this is the order the calls were made in
        for i, node in enumerate(sorted(calls, key=lambda n: n.output.id)):
            index[id(node)] = i
    return nodes, index


def keras_layers(model) -> list:
    """The model's layers in the order Keras lists them (``model.layers`` in Keras): a
    Sequential's as they are; a functional model's by decreasing depth (see module doc)."""
    if not is_functional(model):
        return list(model.layers)
    inputs, outputs = model.inputs, model.outputs
    input_ids = {t.id for t in inputs}
    walked: list[graph.Node] = []        # post-order: every node after the nodes it takes from
    finished: set[int] = set()
    first_met: dict[int, int] = {}       # layer -> when the walk first met it

    def walk(tensor: graph.SymbolicTensor) -> None:
        node = tensor.node
        if node is None or id(node) in finished:
            return
        first_met.setdefault(id(node.layer), len(first_met))
        if tensor.id not in input_ids:
            for t in node.inputs:
                walk(t)
        finished.add(id(node))
        walked.append(node)

    for out in outputs:
        walk(out)
    node_depth: dict[int, int] = {}
    layer_depth: dict[int, int] = {}
    layer_of: dict[int, Any] = {}
    for node in reversed(walked):
        depth = max(node_depth.setdefault(id(node), 0), layer_depth.get(id(node.layer), 0))
        layer_depth[id(node.layer)] = depth
        layer_of[id(node.layer)] = node.layer
        node_depth[id(node)] = depth
        for t in node.inputs:
            if t.node is not None:
                node_depth[id(t.node)] = max(depth + 1, node_depth.get(id(t.node), 0))
    for t in inputs:                      # an input no output needs still belongs to the model
        if t.node is not None and id(t.node.layer) not in layer_depth:
            layer_depth[id(t.node.layer)] = 0
            layer_of[id(t.node.layer)] = t.node.layer
            first_met[id(t.node.layer)] = -1
    order = sorted(layer_depth, key=lambda k: (-layer_depth[k], first_met[k]))
    return [layer_of[k] for k in order]


# ----- writing ---------------------------------------------------------------------------------
def to_config(model, keras3: bool = False, nested: bool = False) -> dict[str, Any]:
    """The portable Keras description of a functional model (a JSON-ready dict); with
    ``keras3``, nodes in Keras 3's own form (for ``.keras`` files; see "Nested models").
    ``nested`` (a model used as a layer): one input or output is written as one
    ``[name, node, tensor]``, not a list of one, or Keras 3 passes a list to the next layer."""
    nodes, index = network(model)
    # Keras 3's numbering needs its own node form; without nested models both Keras read the
    # list form the same way (tf-keras loads .keras files too), so it stays
    keras3 = keras3 and any(is_model(layer) for layer in model.layers)
    calls: dict[int, list[graph.Node]] = {}
    for node in sorted(nodes, key=lambda n: index[id(n)]):
        calls.setdefault(id(node.layer), []).append(node)

    def ref(tensor: graph.SymbolicTensor, model_io: bool = False) -> list:
        assert tensor.node is not None
        layer = tensor.node.layer
        return [layer.name, index[id(tensor.node)] + _first_node(layer, keras3, model_io), 0]

    def node_entry(node: graph.Node):
        if not keras3:
            return [[*ref(t), {}] for t in node.inputs]
        tensors = [{"class_name": "__keras_tensor__",
                    "config": {"shape": list(t.shape), "dtype": t.dtype,
                               "keras_history": ref(t)}} for t in node.inputs]
        return {"args": [tensors if node.layer.takes_list else tensors[0]], "kwargs": {}}

    entries = []
    for layer in keras_layers(model):
        cls_name = type(layer).__name__
        if is_model(layer):
            entries.append({**nested_model_entry(layer, keras3), "name": layer.name,
                            "inbound_nodes": [node_entry(n) for n in calls[id(layer)]]})
            continue
        if cls_name == "InputLayer":
            shape = layer.output.shape
            config: dict[str, Any] = {"batch_input_shape": list(shape), "dtype": layer.dtype,
                                      "sparse": False, "ragged": False, "name": layer.name}
            inbound: list = []
        else:
            if cls_name not in FUNCTIONAL_CLASSES and not is_custom_layer(layer):
                raise FormatError(f"to_json: layer {layer.name!r} is a {cls_name}, which has "
                                  "no Keras equivalent convnet can write")
            config = portable_config(layer)
            config.pop("batch_input_shape", None)     # the InputLayer carries the shape
            inbound = [node_entry(node) for node in calls[id(layer)]]
        entries.append({"name": layer.name, "class_name": cls_name,
                        "config": jsonable(config), "inbound_nodes": inbound})
    ends = {key: [ref(t, True) for t in tensors]
            for key, tensors in (("input_layers", model.inputs), ("output_layers", model.outputs))}
    config = {"name": model.name, "layers": entries,
              **{key: refs[0] if nested and len(refs) == 1 else refs
                 for key, refs in ends.items()}}
    if not model.trainable:
        config["trainable"] = False
    return {"module": "keras", "class_name": "Model", "config": config, **PORTABLE_HEADER}


# ----- nested models ------------------------------------------------------------------------
# A model used as a layer is one entry whose "config" is its whole description. Its calls are
# numbered differently by the two Keras: tf-keras (and Keras 2.2) count from 1, as if the
# model's own construction were its call 0 ("_should_skip_first_node"), in inbound nodes and in
# input/output_layers alike; Keras 3 counts its inbound nodes from 0, but input/output_layers
# of a Functional (not Sequential) from 1 ("get_tensor" subtracts 1). No one file suits both
# (Keras 3 cannot load tf-keras's own nested functional files either), so convnet writes
# tf-keras's numbering in to_json and .h5 files, Keras 3's in .keras files (with Keras 3's
# dict-form nodes, which tell the reader which numbering a file uses; a model without nested
# models keeps the list form there, which tf-keras reads in .keras files too).
def _first_node(layer, keras3: bool, model_io: bool) -> int:
    """What a file adds to a call's index (from 0) when it names a call of ``layer``."""
    if not is_model(layer):
        return 0
    if not keras3:
        return 1
    return 1 if model_io and layer.keras_class_name != "Sequential" else 0


def _nested_offsets(pending, io_refs: list, made: dict, keras3: bool) -> tuple[dict, dict]:
    """How much to subtract from the call indices a file gives for each nested model, in
    inbound nodes and in input/output_layers (see "Nested models" above). A file in the
    list form is tf-keras's when its indices reach the number of calls (they count from 1)."""
    inbound: dict[str, int] = {}
    io: dict[str, int] = {}
    calls = {layer.name: len(nodes) for layer, nodes in pending}
    for name, layer in made.items():
        if not is_model(layer):
            continue
        if keras3:
            inbound[name] = 0
            io[name] = int(layer.keras_class_name != "Sequential")
            continue
        seen = [i for _, nodes in pending for refs in nodes for n, i, _ in refs if n == name]
        seen += [i for n, i, _ in io_refs if n == name]
        inbound[name] = io[name] = int(bool(seen) and max(seen) >= calls.get(name, 0))
    return inbound, io


# ----- reading ---------------------------------------------------------------------------------
def from_config(description: dict, custom=None) -> Any:
    """Build a :class:`~convnet.models.Model` from a parsed functional-model description
    (``class_name`` ``Functional`` or ``Model``; tf-keras, Keras 3 or Keras 2.2 dialect);
    ``custom`` (:class:`~convnet.saving.json_format.CustomObjects`) adds the caller's classes."""
    from convnet.models import Model
    from convnet.saving.json_format import CustomObjects

    custom = custom or CustomObjects()
    classes = custom.classes(FUNCTIONAL_CLASSES)
    config = description.get("config")
    if not isinstance(config, dict):
        raise FormatError("functional model description: 'config' must be an object with "
                          f"'layers', 'input_layers' and 'output_layers', got "
                          f"{type(config).__name__}")
    entries = config.get("layers")
    if not isinstance(entries, list) or not entries:
        raise FormatError("functional model description: no layers found under 'config'")
    for key in ("input_layers", "output_layers"):
        if key not in config:
            raise FormatError(f"functional model description: 'config' has no {key!r}")

    made: dict[str, Any] = {}
    keras3_nodes = False            # Keras 3's {"args", "kwargs"} nodes (see "Nested models")
    pending: list[tuple[layers_module.Layer, list[list[tuple[str, int, int]]]]] = []
    outputs_of: dict[str, list[graph.SymbolicTensor]] = {}
    for position, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("config"), dict):
            raise FormatError(f"functional model description: layer entry {position} must be "
                              "an object with 'class_name' and 'config'")
        cfg = dict(entry["config"])
        name = entry.get("name", cfg.get("name"))
        if not isinstance(name, str) or not name:
            raise FormatError(f"functional model description: layer entry {position} has no "
                              "name")
        if name in made:
            raise FormatError(f"functional model description: two layers are named {name!r}")
        cfg["name"] = name
        cls_name = custom.layer_class(entry)
        if cls_name == "InputLayer":
            layer = _input_layer(cfg, position)
            outputs_of[name] = [layer.output]
        elif cls_name in MODEL_ENTRY_CLASSES:               # a model used as a layer
            layer = nested_model_from_entry({**entry, "name": name}, custom, position)
            outputs_of[name] = []
            nodes = entry.get("inbound_nodes", [])
            if not isinstance(nodes, list):
                raise FormatError(f"functional model description: layer {name!r}: "
                                  f"'inbound_nodes' must be a list, got {nodes!r}")
            keras3_nodes = keras3_nodes or any(isinstance(n, dict) for n in nodes)
            pending.append((layer, [_node_refs(n, name, True) for n in nodes]))
        else:
            layer = layer_from_entry(cls_name, custom.resolve(cfg), position, classes=classes)
            outputs_of[name] = []
            nodes = entry.get("inbound_nodes", [])
            if not isinstance(nodes, list):
                raise FormatError(f"functional model description: layer {name!r}: "
                                  f"'inbound_nodes' must be a list, got {nodes!r}")
            trains = type(layer).__name__ in TAKES_TRAINING
            keras3_nodes = keras3_nodes or any(isinstance(n, dict) for n in nodes)
            pending.append((layer, [_node_refs(n, name, trains) for n in nodes]))
        made[name] = layer

    io_specs = {key: _refs_of(config[key], key) for key in ("input_layers", "output_layers")}
    inbound, io = _nested_offsets(pending, io_specs["input_layers"] + io_specs["output_layers"],
                                  made, keras3_nodes)
    pending = [(layer, [[(n, _shifted(i, inbound.get(n, 0), n), t) for n, i, t in refs]
                        for refs in nodes]) for layer, nodes in pending]
    _replay(pending, outputs_of)
    inputs, outputs = ([(n, _shifted(i, io.get(n, 0), n), t) for n, i, t in io_specs[key]]
                       for key in ("input_layers", "output_layers"))
    name = config.get("name") or "functional"
    try:
        model = Model(_tensors(inputs, outputs_of, "input_layers"),
                      _tensors(outputs, outputs_of, "output_layers"), name=str(name))
    except (TypeError, ValueError) as exc:
        raise FormatError(f"functional model description: {exc}") from None
    if config.get("trainable") is False:
        model.trainable = False
    return model


def _shifted(index: int, offset: int, name: str) -> int:
    if index < offset:
        raise FormatError(f"functional model description: call {index} of the model {name!r} "
                          f"is named, but this file counts its calls from {offset}")
    return index - offset


def _input_layer(cfg: dict, position: int) -> layers_module.Layer:
    if cfg.get("sparse") or cfg.get("ragged"):
        raise FormatError(f"functional model description: InputLayer {cfg['name']!r} is "
                          "sparse or ragged, which convnet does not support")
    shape = batch_shape_of(cfg, position)
    dtype = cfg.get("dtype")
    if isinstance(dtype, dict):             # Keras 3 DTypePolicy object
        dtype = (dtype.get("config") or {}).get("name")
    try:
        return layers_module.InputLayer(batch_shape=shape, name=cfg["name"], dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise FormatError(f"functional model description: layer {position}: {exc}") from None


def _ref(value, where: str, takes_training: bool = False) -> tuple[str, int, int] | None:
    """``[name, node, tensor]`` (and optional kwargs) as a tuple, or None if not one."""
    if isinstance(value, (list, tuple)) and len(value) in (3, 4) and isinstance(value[0], str) \
            and all(isinstance(i, int) and not isinstance(i, bool) and i >= 0
                    for i in value[1:3]):
        if len(value) == 4:
            _check_call_kwargs(value[3], where, takes_training)
        return value[0], value[1], value[2]
    return None


def _check_call_kwargs(kwargs, where: str, takes_training: bool = False) -> None:
    if kwargs in (None, {}):
        return
    if not isinstance(kwargs, dict):
        raise FormatError(f"functional model description: {where}: call arguments must be an "
                          f"object, got {kwargs!r}")
    # A recorded None (mask=None) changes nothing, nor does training=False at inference. In
    # Keras the model's own call decides `training` for the layers that take it, so a recorded
    # training=True there (Keras 3 records it for its augmentation layers) is overridden too.
    unknown = sorted(k for k, v in kwargs.items()
                     if v is not None and not (k == "training" and (
                         v is False or (v is True and takes_training))))
    if unknown:
        raise FormatError(f"functional model description: {where}: call arguments {unknown} "
                          "are not supported (convnet calls layers on their inputs only)")


# Keras layers whose call takes a `training` argument (the rest have none to record).
TAKES_TRAINING = {"Dropout", "SpatialDropout2D", "GaussianNoise", "GaussianDropout",
                  "BatchNormalization", "RandomFlip", "RandomTranslation", "RandomRotation",
                  "RandomZoom", "RandomContrast"}


def _node_refs(node, layer_name: str, takes_training: bool = False) -> list[tuple[str, int, int]]:
    """The tensors one call takes, from either dialect of an ``inbound_nodes`` item."""
    where = f"layer {layer_name!r} inbound node"
    if isinstance(node, dict):                       # Keras 3: {"args": [...], "kwargs": {...}}
        args = node.get("args")
        _check_call_kwargs(node.get("kwargs"), where, takes_training)
        if not isinstance(args, list) or len(args) != 1:
            raise FormatError(f"functional model description: {where} must have one "
                              f"positional argument, got {args!r}")
        arg = args[0]
        tensors = arg if isinstance(arg, list) else [arg]
        refs = [_keras_tensor_ref(t, where) for t in tensors]
    elif isinstance(node, list):                     # tf-keras / Keras 2: [[name, n, t, {}]]
        refs = []
        for item in node:
            found = _ref(item, where, takes_training)
            if found is None:
                raise FormatError(f"functional model description: {where}: expected "
                                  f"[layer name, node index, tensor index, kwargs], got "
                                  f"{item!r}")
            refs.append(found)
    else:
        raise FormatError(f"functional model description: {where} must be a list or an "
                          f"object, got {node!r}")
    if not refs:
        raise FormatError(f"functional model description: {where} takes no tensors")
    return refs


def _keras_tensor_ref(value, where: str) -> tuple[str, int, int]:
    history = None
    if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__" and \
            isinstance(value.get("config"), dict):
        history = _ref(value["config"].get("keras_history"), where)
    if history is None:
        raise FormatError(f"functional model description: {where}: expected a "
                          f"__keras_tensor__ with a keras_history, got {value!r}")
    return history


def _replay(pending, outputs_of: dict[str, list[graph.SymbolicTensor]]) -> None:
    """Call every layer on its nodes' tensors, a node as soon as its tensors exist."""
    done = {id(layer): 0 for layer, _ in pending}
    progress = True
    while progress:
        progress = False
        for layer, nodes in pending:
            while done[id(layer)] < len(nodes):
                refs = nodes[done[id(layer)]]
                for name, _, tensor_index in refs:
                    if name not in outputs_of:
                        raise FormatError(f"functional model description: layer "
                                          f"{layer.name!r} takes a tensor of {name!r}, which "
                                          "is not a layer of the model")
                    if tensor_index != 0:
                        raise FormatError(f"functional model description: layer "
                                          f"{layer.name!r} takes output {tensor_index} of "
                                          f"{name!r}; convnet layers have one output")
                if any(len(outputs_of[n]) <= i for n, i, _ in refs):
                    break                            # wait for the tensors it takes
                tensors = [outputs_of[n][i] for n, i, _ in refs]
                if layer.built:                      # a shared layer: every call fits it
                    _check_shapes(layer, tensors)
                try:
                    out = layer(tensors if layer.takes_list else _single(tensors, layer))
                except ValueError as exc:
                    raise FormatError(f"functional model description: layer {layer.name!r}: "
                                      f"{exc}") from None
                outputs_of[layer.name].append(out)
                done[id(layer)] += 1
                progress = True
    stuck = [f"{layer.name!r} (node {done[id(layer)]})" for layer, nodes in pending
             if done[id(layer)] < len(nodes)]
    if stuck:
        raise FormatError("functional model description: these calls take tensors that no "
                          f"layer makes (a cycle, or a node index too large): {', '.join(stuck)}")


def _check_shapes(layer, tensors: list[graph.SymbolicTensor]) -> None:
    given = [tuple(t.shape[1:]) for t in tensors]
    built = layer.built_shapes()[0]
    expected = [tuple(s) for s in built] if layer.takes_list else [tuple(built)]
    if given != expected:
        raise FormatError(f"functional model description: layer {layer.name!r} "
                          f"({type(layer).__name__}) is called on inputs of shapes {given}, but "
                          f"an earlier call built it for {expected}")


def _single(tensors: list, layer) -> graph.SymbolicTensor:
    if len(tensors) != 1:
        raise FormatError(f"functional model description: layer {layer.name!r} "
                          f"({type(layer).__name__}) takes one tensor, the file gives "
                          f"{len(tensors)}")
    return tensors[0]


def _refs_of(spec, key: str) -> list[tuple[str, int, int]]:
    """``input_layers`` / ``output_layers``: one ``[name, node, tensor]`` or a list of them."""
    single = _ref(spec, key)
    refs = [single] if single is not None else spec
    if not isinstance(refs, list) or not refs:
        raise FormatError(f"functional model description: {key} must be a list of "
                          f"[layer name, node index, tensor index], got {spec!r}")
    found = []
    for item in refs:
        one = item if isinstance(item, tuple) else _ref(item, key)
        if one is None:
            raise FormatError(f"functional model description: {key}: expected [layer name, "
                              f"node index, tensor index], got {item!r}")
        found.append(one)
    return found


def _tensors(refs: list[tuple[str, int, int]], outputs_of: dict[str, list[graph.SymbolicTensor]],
             key: str):
    """The tensors ``input_layers`` / ``output_layers`` name (one, or a list of several)."""
    tensors = []
    for found in refs:
        name, node_index, tensor_index = found
        made = outputs_of.get(name)
        if made is None or node_index >= len(made) or tensor_index != 0:
            raise FormatError(f"functional model description: {key} names {list(found)}, "
                              "which no layer of the model makes")
        tensors.append(made[node_index])
    return tensors[0] if len(tensors) == 1 else tensors


def unknown_model_class(class_name) -> UnknownLayerError:
    return UnknownLayerError(f"model class {class_name!r} is not supported; convnet reads "
                             f"Sequential and functional ({', '.join(MODEL_CLASS_NAMES)}) models")
