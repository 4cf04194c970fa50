"""Seeded: the random generator of a layer that draws noise in training (GaussianNoise, the
augmentation layers, ...): its own when made with ``seed=``, else convnet's
(:func:`convnet.utils.rng`, which :func:`convnet.utils.set_random_seed` reseeds)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from convnet import utils


class Seeded:
    """Mixin: ``self.seed`` and :meth:`generator`; ``rng_state`` lets checkpoints and the
    gradient checks replay the same draws (as :class:`convnet.layers.Dropout`)."""

    seed: int | None = None
    _rng: np.random.Generator | None = None

    if TYPE_CHECKING:                                     # provided by Layer
        def describe(self) -> str: ...

    def _set_seed(self, seed, owner: str) -> None:
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))
                                 or seed < 0):
            raise ValueError(f"{owner}: seed must be a non-negative integer or None, "
                             f"got {seed!r}")
        self.seed = None if seed is None else int(seed)
        self._rng = None if seed is None else np.random.default_rng(self.seed)

    def generator(self) -> np.random.Generator:
        """The generator the next draw comes from."""
        return self._rng if self._rng is not None else utils.rng()

    @property
    def rng_state(self) -> dict | None:
        """The state of this layer's own generator (when made with ``seed=``), else None;
        settable."""
        return None if self._rng is None else dict(self._rng.bit_generator.state)

    @rng_state.setter
    def rng_state(self, state: dict) -> None:
        if self._rng is None:
            raise ValueError(f"{self.describe()} has no generator of its own (no seed=)")
        self._rng.bit_generator.state = state
