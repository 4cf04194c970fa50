"""Optimizer state (Adam's moments, Adadelta's accumulators, ...) in Keras's variable order.

Keras saves an optimizer's variables as one flat list (observed with Keras 3.15 and tf-keras
2.21)::

    Keras 3:   iteration, learning_rate, <slots>                (.keras: optimizer/vars/0, 1, ...;
                                                                 .h5: optimizer_weights)
    tf-keras:  iteration, <slots>                               (.h5: optimizer_weights)

``learning_rate`` is absent when the rate is a schedule. tf-keras writes a third layout for
every model it loaded from ``.h5`` (its "legacy" optimizers): ``iter``, then slot by slot,
each slot for every variable, named ``<layer>/<weight>/<slot>:0`` with older slot names
(:data:`LEGACY_SLOTS`); convnet reads it too. ``<slots>`` go group by group; within
a group, variable by variable (the model's trainable weights in Keras's order), each variable's
slots of that group together. Adam: ``[momentum, velocity]`` per variable, then (amsgrad) one
group ``[velocity_hat]``; RMSprop: all ``velocity``, then all ``momentum``. Nadam adds its
running product of momentum coefficients as one last scalar. :data:`SLOTS` maps each group to
convnet's slot names (``optimizer.state[slot][qualified name]``).

Reading is positional, as in Keras, but checked: names (when the file has them) must name the
same weight and slot, every shape must fit. A file that does not fit leaves the optimizer fresh
with a warning (Keras does the same), never half restored.
"""

from __future__ import annotations

import warnings

import numpy as np

from convnet import optimizers
from convnet.saving.functional_config import keras_layers

# optimizer class -> groups of (Keras 3 slot name, convnet slot name, tf-keras slot name)
SLOTS: dict[type, list[list[tuple[str, str, str]]]] = {
    optimizers.Adadelta: [[("accumulated_grad", "accumulator", "accumulated_grad"),
                           ("accumulated_delta_var", "delta_accumulator",
                            "accumulated_delta_var")]],
    optimizers.Adagrad: [[("accumulator", "accumulator", "accumulator")]],
    optimizers.Adamax: [[("momentum", "m", "m"), ("norm", "u", "u")]],
    optimizers.Nadam: [[("momentum", "m", "m"), ("velocity", "v", "v")]],
    optimizers.Lion: [[("momentum", "m", "m")]],
}


# tf-keras's legacy optimizers' slot names, by convnet slot name, where they differ per class
LEGACY_SLOTS: dict[type, dict[str, str]] = {
    optimizers.Adam: {"m": "m", "v": "v", "v_hat": "vhat"},
    optimizers.Adamax: {"m": "m", "u": "v"},
    optimizers.Adadelta: {"accumulator": "accum_grad", "delta_accumulator": "accum_var"},
    optimizers.Adagrad: {"accumulator": "accumulator"},
    optimizers.RMSprop: {"velocity": "rms", "momentum": "momentum"},
    optimizers.SGD: {"momentum": "momentum"},
}


def legacy_slot(optimizer, slot: str) -> str | None:
    """tf-keras's legacy name of convnet's ``slot`` for this optimizer (None: not known)."""
    for kind, names in LEGACY_SLOTS.items():
        if type(optimizer) is kind or (kind is optimizers.Adam
                                       and isinstance(optimizer, optimizers.Adam)):
            return names.get(slot)
    return None


def _is_legacy_name(name: str | None) -> bool:
    """``conv2d/kernel/m:0``: a weight's path, then a legacy slot name."""
    if name is None:
        return False
    last = name.split(":")[0].rsplit("/", 1)[-1]
    return any(last in names.values() for names in LEGACY_SLOTS.values()) and "/" in name


def slot_groups(optimizer) -> list[list[tuple[str, str, str]]] | None:
    """The Keras slot groups of ``optimizer`` (None: an optimizer whose state convnet does not
    know how to lay out, e.g. a user's own class)."""
    kind = type(optimizer)
    if isinstance(optimizer, optimizers.Adam):          # AdamW too
        groups = [[("momentum", "m", "m"), ("velocity", "v", "v")]]
        return groups + ([[("velocity_hat", "v_hat", "vhat")]] if optimizer.amsgrad else [])
    if kind is optimizers.SGD:
        return [[("momentum", "momentum", "m")]] if optimizer.momentum > 0 else []
    if kind is optimizers.RMSprop:
        groups = [[("velocity", "velocity", "velocity")]]
        return groups + ([[("momentum", "momentum", "momentum")]] if optimizer.momentum > 0
                         else [])
    return SLOTS.get(kind)


def trainable_variables(model) -> list[tuple[str, str, np.ndarray]]:
    """``(layer name, weight key, array)`` of the weights Keras's ``model.trainable_variables``
    lists, in its order (the optimizer's variables follow it)."""
    if not model.trainable:
        return []
    return [(layer.name, key, layer.params[key]) for layer in keras_layers(model)
            if layer.trainable for key in layer.weight_names()
            if key not in layer.non_trainable_names]


def _initial(optimizer, slot: str, like: np.ndarray) -> np.ndarray:
    if isinstance(optimizer, optimizers.Adagrad) and slot == "accumulator":
        return np.full_like(like, optimizer.initial_accumulator_value)
    return np.zeros_like(like)


def _nadam_product(optimizer, steps: int) -> float:
    """Keras's ``u_product`` after ``steps`` updates: mu_1 * ... * mu_t (see optimizers.Nadam)."""
    product = 1.0
    for s in range(1, steps + 1):
        product *= optimizer.beta_1 * (1.0 - 0.5 * 0.96 ** s)
    return product


def state_arrays(model) -> list[tuple[str, np.ndarray]] | None:
    """The compiled model's optimizer variables as Keras 3 lists them, ``(name, array)``; slots
    not created yet (no step taken) hold their initial values. None if the layout is unknown."""
    opt = model.optimizer
    groups = slot_groups(opt) if opt is not None else None
    if groups is None:
        return None
    prefix = opt.name.lower()
    out: list[tuple[str, np.ndarray]] = [(f"{prefix}/iteration",
                                          np.asarray(opt.iterations, dtype=np.int64))]
    if not opt.scheduled:
        out.append((f"{prefix}/learning_rate", np.asarray(opt.learning_rate, dtype=np.float32)))
    variables = trainable_variables(model)
    for group in groups:
        for layer_name, key, value in variables:
            for keras_slot, slot, _ in group:
                current = opt.state.get(slot, {}).get(f"{layer_name}/{key}")
                array = current if current is not None else _initial(opt, slot, value)
                out.append((f"{prefix}/{model.name}_{layer_name}_{key}_{keras_slot}", array))
    if isinstance(opt, optimizers.Nadam):
        out.append((f"{prefix}/u_product",
                    np.asarray(_nadam_product(opt, opt.iterations), dtype=np.float32)))
    return out


def _leaf(name: str) -> str:
    return name.rsplit("/", 1)[-1].split(":")[0]


def restore(model, entries: list[tuple[str | None, np.ndarray]], source: str) -> bool:
    """Set the compiled model's optimizer state from Keras's flat list (names may be None, as in
    a ``.keras`` file). Returns whether it was restored; on any misfit warns and changes
    nothing."""
    opt = model.optimizer
    groups = slot_groups(opt) if opt is not None else None

    def skip(why: str) -> bool:
        warnings.warn(f"{source}: the saved optimizer state was not restored ({why}); training "
                      "continues with a fresh optimizer state", stacklevel=4)
        return False

    if groups is None:
        return skip(f"convnet does not know the state layout of {type(opt).__name__}")
    entries = list(entries)
    if not entries:
        return False
    first_name, first = entries[0]
    if np.ndim(first) != 0 or (first_name is not None
                               and not _leaf(first_name).startswith("iter")):
        return skip("its first variable is not the iteration count")
    iterations = int(np.asarray(first))
    rest = entries[1:]
    variables = trainable_variables(model)
    expected = [(layer_name, key, value, keras_slot, slot, tf_slot)
                for group in groups for layer_name, key, value in variables
                for keras_slot, slot, tf_slot in group]
    extra = 1 if isinstance(opt, optimizers.Nadam) else 0
    lr = None
    if rest and np.ndim(rest[0][1]) == 0 and (
            _leaf(rest[0][0]) == "learning_rate" if rest[0][0] is not None
            else len(rest) - 1 in (0, len(expected) + extra)):
        lr = float(np.asarray(rest[0][1]))
        rest = rest[1:]
    if extra and len(rest) == len(expected) + 1 and np.ndim(rest[-1][1]) == 0:
        rest = rest[:-1]                        # u_product: convnet recomputes it from the step
    legacy = bool(rest) and _is_legacy_name(rest[0][0])
    if legacy:                                  # slot by slot, each for every variable
        expected = [(layer_name, key, value, keras_slot, slot, tf_slot)
                    for group in groups for keras_slot, slot, tf_slot in group
                    for layer_name, key, value in variables]
    state: dict[str, dict[str, np.ndarray]] = {}
    if rest:                                    # an optimizer that never stepped saves no slots
        if len(rest) != len(expected):
            return skip(f"{len(rest)} slot arrays for the {len(expected)} this model and "
                        f"{type(opt).__name__} have")
        for (name, array), (layer_name, key, value, keras_slot, slot, tf_slot) in \
                zip(rest, expected):
            if legacy:
                matches = name is not None and name.split(":")[0].endswith(
                    f"{layer_name}/{key}/{legacy_slot(opt, slot)}")
            else:
                matches = name is None or _names_match(name, layer_name, key, keras_slot,
                                                       tf_slot)
            if not matches:
                return skip(f"{name!r} where {layer_name}/{key} ({keras_slot}) was expected")
            array = np.asarray(array)
            if array.shape != value.shape:
                return skip(f"{name or keras_slot} has shape {array.shape}, weight "
                            f"{layer_name}/{key} has {value.shape}")
            state.setdefault(slot, {})[f"{layer_name}/{key}"] = array.astype(value.dtype)
    elif iterations and expected:
        return skip(f"it holds no slot arrays after {iterations} steps")
    opt.state = state
    opt.iterations = iterations
    # the file's rate is float32: keep the config's own value when it rounds to the same
    if lr is not None and not opt.scheduled and lr > 0 and \
            np.float32(lr) != np.float32(opt.learning_rate):
        opt.learning_rate = lr
    return True


def _names_match(name: str, layer_name: str, key: str, keras_slot: str, tf_slot: str) -> bool:
    """A Keras 3 name ends ``<layer>_<key>_<slot>``; a tf-keras one is ``Opt/<slot>/<layer>/
    <key>:0``."""
    if name.endswith(f"{layer_name}_{key}_{keras_slot}"):
        return True
    parts = name.split(":")[0].split("/")
    return len(parts) >= 4 and parts[1] == tf_slot and parts[-2:] == [layer_name, key]
