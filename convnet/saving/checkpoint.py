"""Resumable training checkpoints: weights, optimizer state, epoch and random state in one file.

A checkpoint is a whole-model Keras ``.h5`` (``model_config`` + ``model_weights`` +
``training_config`` + ``optimizer_weights``, so Keras and :func:`convnet.models.load_model` read
the compiled model in it) with two extra groups that only convnet reads:

    /convnet_optimizer/<slot>/<parameter>   e.g. accumulator/conv2d/kernel (Adadelta's state)
        @class, @config (JSON), @iterations
    /convnet_training   @epochs_done, @rng (JSON of the random generators' states)

Restoring all of it makes ``fit(..., initial_epoch=k)`` continue exactly where an interrupted run
stopped: same shuffling, same dropout masks, same optimizer steps -- the same weights, bit for bit,
as a run that was never interrupted. Writes are atomic.
"""

from __future__ import annotations

import json
import os

import h5py
import numpy as np

from convnet import utils
from convnet.saving.atomic import atomic_path
from convnet.saving.errors import FormatError
from convnet.saving.hdf5_format import (
    PORTABLE_HEADER,
    assign,
    read_legacy,
    reading,
    text_attr,
    write_legacy_group,
    write_optimizer_weights,
)
from convnet.saving.json_format import to_json
from convnet.saving.training_config import training_config


def _rng_states(model) -> dict:
    states = {"convnet": utils.get_rng_state()}
    for layer in model.layers:
        if getattr(layer, "rng_state", None) is not None:     # Dropout(seed=...)
            states[layer.name] = layer.rng_state
    return states


def save_checkpoint(model, path: str | os.PathLike, epochs_done: int) -> None:
    """Write everything needed to resume training after ``epochs_done`` epochs."""
    if model.optimizer is None:
        raise FormatError("save_checkpoint: the model is not compiled, so there is no optimizer "
                          "state to save; use save_weights or save instead")
    opt = model.optimizer
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            f.attrs["model_config"] = to_json(model)
            f.attrs["backend"] = PORTABLE_HEADER["backend"]
            f.attrs["keras_version"] = PORTABLE_HEADER["keras_version"]
            write_legacy_group(f.create_group("model_weights"), model)
            # Keras's own compile settings and optimizer state too: load_model compiles it
            f.attrs["training_config"] = json.dumps(training_config(model.get_compile_config()))
            write_optimizer_weights(f, model)
            g = f.create_group("convnet_optimizer")
            g.attrs["class"] = type(opt).__name__
            g.attrs["config"] = json.dumps(opt.get_config())
            g.attrs["iterations"] = opt.iterations
            for slot, per_param in opt.state.items():
                for name, value in per_param.items():
                    g.create_dataset(f"{slot}/{name}", data=value)
            t = f.create_group("convnet_training")
            t.attrs["epochs_done"] = int(epochs_done)
            t.attrs["rng"] = json.dumps(_rng_states(model))


def _datasets(group) -> dict[str, np.ndarray]:
    """Every array below ``group``, by its path in it: ``layer/weight``, one level deeper per
    model nested as a layer."""
    found: dict[str, np.ndarray] = {}

    def visit(name: str, item) -> None:
        if isinstance(item, h5py.Dataset):
            found[name] = np.asarray(item)
    group.visititems(visit)
    return found


def load_checkpoint(model, path: str | os.PathLike) -> int:
    """Restore weights, optimizer state and random state into a compiled ``model`` (same
    architecture and optimizer class); return the number of epochs done, for ``initial_epoch``.

    Everything is read and checked before anything changes; on error the model is unchanged."""
    if model.optimizer is None:
        raise FormatError("load_checkpoint: compile the model first (with the same optimizer "
                          "class as the checkpoint)")
    with reading(path) as f:
        if "convnet_optimizer" not in f or "convnet_training" not in f:
            raise FormatError(f"{path}: not a convnet training checkpoint (no optimizer state); "
                              "for a weights file use load_weights")
        pairs = read_legacy(f["model_weights"], model, path)
        g = f["convnet_optimizer"]
        saved_class = text_attr(g.attrs["class"])
        if saved_class != type(model.optimizer).__name__:
            raise FormatError(f"{path}: the checkpoint's optimizer is {saved_class}, the model "
                              f"was compiled with {type(model.optimizer).__name__}")
        config = json.loads(text_attr(g.attrs["config"]))
        state: dict[str, dict[str, np.ndarray]] = {}
        params = {f"{layer.name}/{k}": v for layer in model.layers for k, v in layer.params.items()}
        for slot in g:
            state[slot] = {}
            for name, value in _datasets(g[slot]).items():
                if name not in params or params[name].shape != value.shape:
                    raise FormatError(f"{path}: optimizer state {slot}/{name} {value.shape} "
                                      "does not fit the model")
                state[slot][name] = value.astype(params[name].dtype)
        iterations = int(g.attrs["iterations"])
        t = f["convnet_training"]
        epochs_done = int(t.attrs["epochs_done"])
        rng_states = json.loads(text_attr(t.attrs["rng"]))
    opt = model.optimizer
    saved_lr = config.get("learning_rate")
    restore_lr = isinstance(saved_lr, (int, float)) and not opt.scheduled   # else: by step
    assign(pairs)
    opt.state, opt.iterations = state, iterations
    if restore_lr:
        opt.learning_rate = float(saved_lr)
    utils.set_rng_state(rng_states["convnet"])
    for layer in model.layers:
        if layer.name in rng_states and getattr(layer, "rng_state", None) is not None:
            layer.rng_state = rng_states[layer.name]
    return epochs_done
