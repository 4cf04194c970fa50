"""Compile settings in model files, so that ``load_model`` returns a compiled model as Keras does.

The same facts have two spellings (both observed with real tf-keras 2.21 and Keras 3.15):

* ``.keras`` (Keras 3): a top-level ``compile_config`` in ``config.json``::

      {"optimizer": {"module": "keras.optimizers", "class_name": "Adam", "config": {...},
                     "registered_name": null},
       "loss": "categorical_crossentropy", "loss_weights": null, "metrics": ["acc"],
       "weighted_metrics": null, "run_eagerly": false, "steps_per_execution": 1,
       "jit_compile": false}

* ``.h5`` (``model.save('x.h5')``): the root attribute ``training_config`` (JSON text)::

      {"loss": ..., "metrics": [...], "weighted_metrics": null, "loss_weights": null,
       "optimizer_config": {"class_name": "Adam", "config": {...}}}

  tf-keras writes the metrics per output as serialized objects (``[[{"class_name":
  "MeanMetricWrapper", "config": {"name": "acc", "fn": "categorical_accuracy"}}]]``) and the
  optimizer class as ``"Custom>Adam"``; Keras 3 writes the metrics as the user gave them.

Written: the loss and metrics exactly as given to ``compile`` (a name stays that name, so ``fit``
after loading logs the same keys, ``acc`` stays ``acc``), objects as ``{"class_name", "config"}``;
the optimizer's current hyperparameters under Keras's keys, without the two keys only Keras 3
knows (``loss_scale_factor``, ``gradient_accumulation_steps``: tf-keras refuses them).

Read: names and objects resolve only to convnet's own losses, metrics and optimizers, or to what
the caller passes as ``custom_objects``. Nothing named in a file is imported or executed.
"""

from __future__ import annotations

import inspect
import json
import warnings
from typing import Any

from convnet import losses as losses_module
from convnet import metrics as metrics_module
from convnet import optimizers as optimizers_module
from convnet.saving.errors import FormatError
from convnet.saving.json_format import jsonable

# Keras 3-only optimizer keys that tf-keras's optimizers refuse; dropped when at their default.
_KERAS3_ONLY_OPTIMIZER_KEYS = ("loss_scale_factor", "gradient_accumulation_steps")
# Optimizer options at their "off" values (Keras 3's defaults).
_OFF = {"weight_decay": None, "clipnorm": None, "global_clipnorm": None, "clipvalue": None,
        "use_ema": False, "ema_momentum": 0.99, "ema_overwrite_frequency": None}
# Optimizer options Keras writes that convnet's optimizers lack, harmless at these values.
_OFF_ONLY_IN_KERAS = {"centered": False}
# Extra keys Keras writes in loss / metric configs that convnet's classes do not take.
_DROPPED_KEYS = ("dtype", "axis", "fn")


# ----- writing ---------------------------------------------------------------------------------
def _object(module: str, class_name: str, config: dict, keras3: bool) -> dict:
    if keras3:
        return {"module": module, "class_name": class_name, "config": config,
                "registered_name": None}
    return {"class_name": class_name, "config": config}


def _builtin(obj: object, module) -> bool:
    return type(obj).__module__ == module.__name__


def loss_entry(loss, keras3: bool = True) -> Any:
    """The loss as ``compile`` was given it: a name as it is, a convnet loss function by its
    name, a :class:`~convnet.losses.Loss` (instance or class) as ``{"class_name", "config"}``."""
    if isinstance(loss, str):
        return loss
    if isinstance(loss, type) and issubclass(loss, losses_module.Loss):
        loss = loss()
    if isinstance(loss, losses_module.Loss):
        module = "keras.losses" if _builtin(loss, losses_module) else type(loss).__module__
        return _object(module, type(loss).__name__, jsonable(dict(loss.get_config())), keras3)
    return losses_module.get_loss(loss).name          # one of convnet's loss functions


def _metric_config(metric: metrics_module.Metric) -> dict:
    """A metric object's Keras config, from its public settings."""
    config: dict[str, Any] = {"name": metric.name, "dtype": "float32"}
    if isinstance(metric, metrics_module.AUC):
        config.update(num_thresholds=metric.num_thresholds, curve="ROC")
    elif isinstance(metric, (metrics_module.Precision, metrics_module.Recall)):
        config["thresholds"] = float(metric.thresholds[0])
    elif isinstance(metric, metrics_module.MeanMetricWrapper):
        config.update(jsonable(dict(metric.kwargs)))
        if type(metric) is metrics_module.MeanMetricWrapper:
            config["fn"] = getattr(metric.fn, "__name__", "metric")
    return config


def metric_entry(metric, keras3: bool = True) -> Any:
    """One metric as ``compile`` was given it: a name as it is, a function by its name, a
    :class:`~convnet.metrics.Metric` as ``{"class_name", "config"}``."""
    if isinstance(metric, str):
        return metric
    if isinstance(metric, type) and issubclass(metric, metrics_module.Metric):
        metric = metric()
    if isinstance(metric, metrics_module.Metric):
        module = "keras.metrics" if _builtin(metric, metrics_module) else type(metric).__module__
        return _object(module, type(metric).__name__, _metric_config(metric), keras3)
    return getattr(metric, "__name__", str(metric))


def optimizer_entry(optimizer: optimizers_module.Optimizer, keras3: bool = True) -> dict:
    """The optimizer's class and current hyperparameters (Keras's keys both Keras read)."""
    config = dict(optimizer.get_config())
    for key in _KERAS3_ONLY_OPTIMIZER_KEYS:
        if config.get(key) is None:
            config.pop(key, None)
    module = ("keras.optimizers" if _builtin(optimizer, optimizers_module)
              else type(optimizer).__module__)
    return _object(module, type(optimizer).__name__, jsonable(config), keras3)


def compile_config(loss, optimizer, metrics: list) -> dict:
    """Keras 3's ``compile_config`` (``config.json`` of a ``.keras`` file)."""
    return {"optimizer": optimizer_entry(optimizer), "loss": loss_entry(loss),
            "loss_weights": None, "metrics": [metric_entry(m) for m in metrics] or None,
            "weighted_metrics": None, "run_eagerly": False, "steps_per_execution": 1,
            "jit_compile": False}


def _plain(entry):
    """A Keras 3 object entry as the ``.h5`` writes it: ``{"class_name", "config"}`` only."""
    if isinstance(entry, dict) and "class_name" in entry:
        return {"class_name": entry["class_name"], "config": entry.get("config")}
    return entry


def training_config(compile_cfg: dict) -> dict:
    """The ``training_config`` attribute of a whole-model ``.h5`` from a ``compile_config``
    (Keras 3's legacy writer's form). The optimizer's options that are off (no clipping, no
    weight decay, no EMA) are left out: tf-keras builds its Keras 2 optimizers from an ``.h5``,
    which refuse those keys, and both Keras take the missing ones as off."""
    metrics = compile_cfg.get("metrics")
    optimizer = _plain(compile_cfg.get("optimizer"))
    if isinstance(optimizer, dict) and isinstance(optimizer.get("config"), dict):
        optimizer["config"] = {k: v for k, v in optimizer["config"].items()
                               if _OFF.get(k, ()) != v}
    return {"loss": _plain_each(compile_cfg.get("loss")),
            "metrics": None if metrics is None else _plain_each(metrics),
            "weighted_metrics": None, "loss_weights": compile_cfg.get("loss_weights"),
            "optimizer_config": optimizer}


def _plain_each(entry):
    """:func:`_plain` through the lists and per-output dicts of a multi-output model."""
    if isinstance(entry, list):
        return [_plain_each(e) for e in entry]
    if isinstance(entry, dict) and "class_name" not in entry:
        return {k: _plain_each(v) for k, v in entry.items()}
    return _plain(entry)


# ----- reading ---------------------------------------------------------------------------------
def _class_name(spec: dict, what: str) -> str:
    name = spec.get("class_name")
    if not isinstance(name, str):
        raise FormatError(f"compile settings: the {what} entry has no class_name: {spec!r}")
    return name.split(">")[-1]          # tf-keras writes "Custom>Adam"; Keras 3 "keras>..."


def _custom(custom_objects: dict, *names) -> Any:
    for name in names:
        if isinstance(name, str) and name in custom_objects:
            return custom_objects[name]
    return None


def _accepted(cls, config: dict, what: str) -> dict:
    """``config`` without the keys Keras writes that ``cls`` does not take."""
    config = {k: v for k, v in config.items() if k not in _DROPPED_KEYS}
    try:
        params = inspect.signature(cls).parameters
    except (TypeError, ValueError):
        return config
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return config
    unknown = sorted(k for k in set(config) - set(params) if config[k] is not None)
    if unknown:
        warnings.warn(f"compile settings: {what} {cls.__name__}: ignoring settings convnet does "
                      f"not have: {unknown}", stacklevel=4)
    return {k: v for k, v in config.items() if k in params}


def _unwrap_function(spec):
    """Keras 3 writes a built-in loss or metric function as ``{"class_name": "function",
    "config": name}``: the name."""
    if isinstance(spec, dict) and spec.get("class_name") == "function":
        return spec.get("config")
    return spec


def _named(spec: str, custom_objects: dict, what: str, lookup):
    """A loss or metric given by name: the user's custom object of that name, or the name itself
    once ``lookup`` (convnet's own registry) knows it."""
    found = _custom(custom_objects, spec)
    if found is not None:
        return found
    try:
        lookup(spec)
    except ValueError as exc:
        raise FormatError(f"compile settings: unknown {what} {spec!r} ({exc}); pass it in "
                          f"custom_objects={{{spec!r}: ...}} or load with compile=False") \
            from None
    return spec


def _loss(spec, custom_objects: dict):
    spec = _unwrap_function(spec)
    if isinstance(spec, str):
        return _named(spec, custom_objects, "loss", losses_module.get_loss)
    if isinstance(spec, dict):
        name = _class_name(spec, "loss")
        config = dict(spec.get("config") or {})
        cls = _custom(custom_objects, name, spec.get("registered_name"))
        if cls is None:
            cls = getattr(losses_module, name, None)
            if not (isinstance(cls, type) and issubclass(cls, losses_module.Loss)):
                raise FormatError(f"compile settings: unknown loss class {name!r}; pass it in "
                                  f"custom_objects={{{name!r}: ...}} or load with "
                                  "compile=False")
        if not isinstance(cls, type):
            return cls
        if config.get("reduction") in ("auto", None):      # tf-keras's default spelling
            config["reduction"] = "sum_over_batch_size"
        try:
            return cls(**_accepted(cls, config, "loss"))
        except (TypeError, ValueError) as exc:
            raise FormatError(f"compile settings: loss {name}: {exc}") from None
    if isinstance(spec, (list, dict)) or spec is None:
        raise FormatError(f"compile settings: loss {spec!r} is not supported (convnet models "
                          "have one loss); load with compile=False and compile by hand")
    raise FormatError(f"compile settings: cannot read the loss {spec!r}")


def _metric(spec, custom_objects: dict):
    spec = _unwrap_function(spec)
    if isinstance(spec, str):
        return _named(spec, custom_objects, "metric", metrics_module.get)
    if not isinstance(spec, dict):
        raise FormatError(f"compile settings: cannot read the metric {spec!r}")
    name = _class_name(spec, "metric")
    config = dict(spec.get("config") or {})
    cls = _custom(custom_objects, name, spec.get("registered_name"))
    if cls is None and name == "MeanMetricWrapper":
        # tf-keras's wrapper of a name or function: keep the logged name when convnet knows it
        given = config.get("name")
        fn_name = config.get("fn")
        if isinstance(given, str):
            try:
                metrics_module.get(given)
                return given
            except ValueError:
                pass
        fn = _custom(custom_objects, fn_name) or (
            getattr(metrics_module, fn_name, None) if isinstance(fn_name, str) else None)
        if not callable(fn) or isinstance(fn, type):
            raise FormatError(f"compile settings: metric {given!r} wraps the function "
                              f"{fn_name!r}, which convnet does not know; pass it in "
                              "custom_objects or load with compile=False")
        return metrics_module.MeanMetricWrapper(fn, given or fn_name)
    if cls is None:
        cls = getattr(metrics_module, name, None)
        if not (isinstance(cls, type) and issubclass(cls, metrics_module.Metric)):
            raise FormatError(f"compile settings: unknown metric class {name!r}; pass it in "
                              f"custom_objects={{{name!r}: ...}} or load with compile=False")
    if not isinstance(cls, type):
        return cls
    try:
        return cls(**_accepted(cls, config, "metric"))
    except (TypeError, ValueError) as exc:
        raise FormatError(f"compile settings: metric {name}: {exc}") from None


def _metrics(spec, custom_objects: dict) -> list:
    if spec is None:
        return []
    if isinstance(spec, dict):            # per-output dict: convnet has one output to compile
        spec = [m for v in spec.values() for m in (v if isinstance(v, list) else [v])]
    if not isinstance(spec, list):
        spec = [spec]
    flat: list = []
    for item in spec:                     # tf-keras: one list per output
        flat.extend(item if isinstance(item, list) else [item])
    return [_metric(m, custom_objects) for m in flat if m is not None]


def _optimizer(spec, custom_objects: dict) -> optimizers_module.Optimizer:
    if isinstance(spec, str):
        found = _custom(custom_objects, spec)
        spec = {"class_name": spec, "config": {}} if found is None else found
        if not isinstance(spec, dict):
            return optimizers_module.get(spec)
    if not isinstance(spec, dict):
        raise FormatError(f"compile settings: cannot read the optimizer {spec!r}")
    name = _class_name(spec, "optimizer")
    config = dict(spec.get("config") or {})
    if "lr" in config and "learning_rate" not in config:      # Keras 2.2-era files
        config["learning_rate"] = config.pop("lr")
    for key, off in _OFF_ONLY_IN_KERAS.items():
        if key in config and config[key] == off:
            del config[key]
    cls = _custom(custom_objects, name, spec.get("registered_name"))
    try:
        if cls is not None:
            return cls.from_config(config) if hasattr(cls, "from_config") else cls(**config)
        return optimizers_module.deserialize({"class_name": name, "config": config})
    except (TypeError, ValueError) as exc:
        raise FormatError(f"compile settings: optimizer {name}: {exc}; load with compile=False "
                          "and compile by hand") from None


def _per_output(spec) -> bool:
    """A list, or a dict by output name (not a serialized object: those have a class_name)."""
    return isinstance(spec, list) or (isinstance(spec, dict) and "class_name" not in spec
                                      and "config" not in spec)


def compile_arguments(config: dict, custom_objects: dict | None = None,
                      outputs: int = 1) -> dict:
    """``compile`` keyword arguments from a ``compile_config`` (Keras 3) or ``training_config``
    (``.h5``, tf-keras or Keras 3) dict, for a model with ``outputs`` outputs: with several,
    ``loss``, ``metrics`` and ``loss_weights`` may be lists or dicts by output name."""
    if isinstance(config, str):
        config = json.loads(config)
    if not isinstance(config, dict):
        raise FormatError(f"compile settings must be an object, got {type(config).__name__}")
    custom = dict(custom_objects or {})
    if config.get("weighted_metrics"):
        warnings.warn(f"compile settings: weighted_metrics={config['weighted_metrics']!r} is not "
                      "supported by convnet and is ignored", stacklevel=3)
    optimizer = config.get("optimizer_config", config.get("optimizer"))
    arguments: dict[str, Any] = {
        "optimizer": _optimizer(optimizer if optimizer is not None else "rmsprop", custom)}
    loss, metrics = config.get("loss"), config.get("metrics")
    if outputs > 1 and isinstance(loss, (list, dict)) and _per_output(loss):
        arguments["loss"] = ([_loss(v, custom) for v in loss] if isinstance(loss, list)
                             else {k: _loss(v, custom) for k, v in loss.items()})
    else:
        arguments["loss"] = _loss(loss, custom)
    if outputs > 1 and isinstance(metrics, (list, dict)) and _per_output(metrics):
        def each(v):
            return _metrics(v, custom)
        arguments["metrics"] = ([each(v) for v in metrics] if isinstance(metrics, list)
                                else {k: each(v) for k, v in metrics.items()})
    else:
        arguments["metrics"] = _metrics(metrics, custom)
    weights = config.get("loss_weights")
    if weights:
        if outputs > 1:
            arguments["loss_weights"] = weights
        else:
            warnings.warn(f"compile settings: loss_weights={weights!r} on a one-output model "
                          "is ignored", stacklevel=3)
    return arguments
