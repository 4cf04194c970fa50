"""Classes registered for loading by name: Keras's ``register_keras_serializable`` and
``custom_object_scope``.

Loading builds only classes on an allow-list (``convnet.saving.json_format``): convnet's own,
those passed as ``custom_objects=``, and those registered here -- each an explicit act of the
program that loads, never something a file can ask for.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

_GLOBAL: dict[str, object] = {}
_SCOPES: list[dict[str, object]] = []


def register_keras_serializable(package: str = "Custom", name: str | None = None):
    """Decorator: ``@register_keras_serializable()`` on your layer class lets ``load_model`` build
    it by name, as ``"MyLayer"`` or Keras 3's registered ``"Custom>MyLayer"``."""
    if not isinstance(package, str) or ">" in package:
        raise ValueError(f"register_keras_serializable: package must be a string without '>', "
                         f"got {package!r}")

    def register(obj):
        key = f"{package}>{name or obj.__name__}"
        if key in _GLOBAL and _GLOBAL[key] is not obj:
            raise ValueError(f"register_keras_serializable: {key!r} is already registered "
                             f"(to {_GLOBAL[key]!r})")
        _GLOBAL[key] = obj
        return obj
    return register


@contextlib.contextmanager
def custom_object_scope(*scopes: dict) -> Iterator[None]:
    """``with custom_object_scope({"MyLayer": MyLayer}):`` -- the names are known to every load
    inside the block, as if passed as ``custom_objects``."""
    merged: dict[str, object] = {}
    for scope in scopes:
        if not isinstance(scope, dict):
            raise TypeError(f"custom_object_scope: expects dicts of name -> class, got "
                            f"{type(scope).__name__}")
        merged.update(scope)
    _SCOPES.append(merged)
    try:
        yield
    finally:
        _SCOPES.remove(merged)


CustomObjectScope = custom_object_scope


def get_custom_objects() -> dict[str, object]:
    """The global registry (Keras returns it to be changed in place, and so does this)."""
    return _GLOBAL


def registered() -> dict[str, object]:
    """Everything registered now: the global registry, then the open scopes (innermost last)."""
    merged = dict(_GLOBAL)
    for scope in _SCOPES:
        merged.update(scope)
    return merged
