"""Load files written by convnet in *real* Keras and compare predictions.

Run with a Python that has Keras (never a convnet dependency)::

    /path/to/tf-venv/bin/python tests/keras_interop/check_with_keras.py FOLDER   # tf-keras 2.x
    KERAS_BACKEND=torch /path/to/k3-venv/bin/python tests/keras_interop/check_with_keras.py FOLDER

FOLDER holds what ``write_convnet_files.py`` wrote: ``model.json``, ``weights.h5`` (Keras 2
layout), ``model.weights.h5`` (Keras 3 layout), ``model.h5`` (whole model), ``input.npy`` and
``expected.npy`` (convnet's own predictions; a model with several inputs or outputs has
``inputs.npz`` / ``expected.npz`` instead, arrays ``x0``, ``x1``, ... / ``y0``, ``y1``, ...).
A folder written by ``write_convnet_keras_files.py`` holds ``model.keras`` and ``compiled.h5``
instead: both are loaded *compiled* (see ``check_whole_model_files``).
Prints one line per check with the largest absolute
difference and exits non-zero if any check fails (tolerance 1e-5).
"""

import json
import sys
from pathlib import Path

import numpy as np

TOLERANCE = 1e-5


def keras_module():
    try:
        import tf_keras as keras  # tf-keras 2.x (Keras 2 API)
        return keras, f"tf-keras {keras.__version__}"
    except ImportError:
        import keras
        return keras, f"keras {keras.__version__} ({keras.backend.backend()} backend)"


def _arrays(folder: Path, stem: str, npz: str, prefix: str):
    """One array (``stem.npy``) or a list of them (``npz``, keys prefix0, prefix1, ...)."""
    if (folder / f"{stem}.npy").exists():
        return np.load(folder / f"{stem}.npy")
    with np.load(folder / npz) as f:
        return [f[f"{prefix}{i}"] for i in range(len(f.files))]


def max_diff(got, expected) -> float:
    if isinstance(expected, list):
        return max(float(np.abs(np.asarray(g) - e).max()) for g, e in zip(got, expected))
    return float(np.abs(np.asarray(got) - expected).max())


def _numpy(value) -> np.ndarray:
    value = value.numpy() if hasattr(value, "numpy") else value
    return np.asarray(value.cpu() if hasattr(value, "cpu") else value)


def check_whole_model_files(folder: Path, keras, which: str, x, expected) -> int:
    """``write_convnet_keras_files.py``'s files: ``model.keras`` (Keras 3's zip) and
    ``compiled.h5`` load *compiled*: predict equals convnet's, ``evaluate`` gives convnet's loss
    and metrics (by the names convnet logged), and Keras 3 restores the optimizer state of a
    ``.keras`` file exactly (``optimizer.npz``: convnet's state in Keras 3's order)."""
    failures = 0
    for name in ("model.keras", "compiled.h5"):
        if not (folder / name).exists():
            continue
        model = keras.models.load_model(str(folder / name))
        diff = max_diff(model.predict(x, verbose=0), expected)
        problems = [] if diff <= TOLERANCE else [f"predict max |diff| = {diff:.3g}"]
        notes = []
        if (folder / "evaluate.json").exists():
            ours = json.loads((folder / "evaluate.json").read_text())
            theirs = model.evaluate(x, np.load(folder / "labels.npy"), verbose=0,
                                    return_dict=True)
            for key, value in ours.items():
                if key not in theirs:
                    problems.append(f"evaluate has no {key!r} (keys {sorted(theirs)})")
                elif abs(float(theirs[key]) - value) > TOLERANCE * max(1.0, abs(value)):
                    problems.append(f"evaluate {key}: Keras {theirs[key]!r}, convnet {value!r}")
            rounded = {k: round(float(v), 6) for k, v in theirs.items()}
            notes.append(f"evaluate {json.dumps(rounded)}")
        if name.endswith(".keras") and (folder / "optimizer.npz").exists() and \
                not which.startswith("tf-keras"):
            with np.load(folder / "optimizer.npz") as saved:
                ours_state = [saved[f"v{i}"] for i in range(len(saved.files))]
            theirs_state = [_numpy(v) for v in model.optimizer.variables]
            if len(ours_state) != len(theirs_state) or not all(
                    a.shape == b.shape and np.array_equal(a.astype(b.dtype), b)
                    for a, b in zip(ours_state, theirs_state)):
                problems.append(f"optimizer state differs ({len(theirs_state)} variables in "
                                f"Keras, {len(ours_state)} saved)")
            else:
                notes.append(f"optimizer state restored ({len(theirs_state)} variables)")
        ok = not problems
        failures += not ok
        compiled = getattr(model, "optimizer", None) is not None
        print(f"{which}: load_model({name}) compiled={compiled}: max |diff| = "
              f"{diff:.3g} {'OK' if ok else 'FAIL ' + '; '.join(problems)} {'; '.join(notes)}")
    return failures


def main(folder: str, json_name: str = "model.json", weights: list | None = None) -> int:
    folder = Path(folder)
    keras, which = keras_module()
    x = _arrays(folder, "input", "inputs.npz", "x")
    expected = _arrays(folder, "expected", "expected.npz", "y")
    failures = check_whole_model_files(folder, keras, which, x, expected)
    if not (folder / json_name).exists():
        return 1 if failures else 0
    text = (folder / json_name).read_text()
    weights = weights or ["weights.h5", "model.weights.h5"]
    checks = [(f"model_from_json({json_name}) + load_weights({w})", w) for w in weights]
    for label, weights in checks:
        model = keras.models.model_from_json(text)
        model.load_weights(str(folder / weights))
        diff = max_diff(model.predict(x, verbose=0), expected)
        ok = diff <= TOLERANCE
        failures += not ok
        names = [layer.name for layer in model.layers]
        print(f"{which}: {label}: max |diff| = {diff:.3g} {'OK' if ok else 'FAIL'} "
              f"(layers {json.dumps(names)})")
    if (folder / "model.h5").exists():
        model = keras.models.load_model(str(folder / "model.h5"), compile=False)
        diff = max_diff(model.predict(x, verbose=0), expected)
        ok = diff <= TOLERANCE
        failures += not ok
        print(f"{which}: load_model(model.h5): max |diff| = {diff:.3g} {'OK' if ok else 'FAIL'}")
    return 1 if failures else 0


if __name__ == "__main__":
    # check_with_keras.py FOLDER [JSON WEIGHTS]: e.g. FOLDER model_digit.json model_digit.h5
    if len(sys.argv) == 4:
        sys.exit(main(sys.argv[1], sys.argv[2], [sys.argv[3]]))
    sys.exit(main(sys.argv[1]))
