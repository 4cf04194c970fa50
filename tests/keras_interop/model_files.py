"""A convnet model written as the files real Keras is asked to load (``check_with_keras.py``):
``model.json``, ``weights.h5`` (Keras 2 layout), ``model.weights.h5`` (Keras 3 layout), the
whole-model ``model.h5``, and ``input.npy`` / ``expected.npy`` (convnet's predictions)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def random_weights(model, rng: np.random.Generator) -> None:
    """Every weight uniform in [-0.5, 0.5): far from the initial values, so a weight loaded into
    the wrong place shows in the predictions."""
    model.set_weights([rng.uniform(-0.5, 0.5, w.shape).astype(w.dtype)
                       for w in model.get_weights()])


def write_files(model, out: Path, x, whole: bool = True) -> None:
    """Write ``model`` and its predictions on ``x`` into ``out`` (``whole``: also model.h5)."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "model.json").write_text(model.to_json())
    model.save_weights(out / "weights.h5")
    model.save_weights(out / "model.weights.h5")
    if whole:
        model.save(out / "model.h5")
    np.save(out / "input.npy", x)
    np.save(out / "expected.npy", model.predict(x))
    print(f"wrote {out}")
