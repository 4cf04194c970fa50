"""What Keras's small configured objects share: initializers, regularizers and constraints.

Each is made from its hyperparameters, so its ``get_config()`` says everything about it: it is
rebuilt with ``cls(**config)``, two are equal when their class and config are, and it prints as
the call that makes it (``L2(l2=0.01)``, ``HeNormal(seed=1)``).
"""

from __future__ import annotations

from typing import Any


class ConfigObject:
    """Built from, compared by and shown as its config (module docstring)."""

    def get_config(self) -> dict[str, Any]:
        return {}

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    def __eq__(self, other) -> bool:
        return type(self) is type(other) and self.get_config() == other.get_config()

    def __hash__(self) -> int:
        return hash((type(self).__name__, repr(sorted(self.get_config().items()))))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"
