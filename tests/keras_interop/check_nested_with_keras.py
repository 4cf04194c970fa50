"""Real Keras loads what ``write_nested_files.py`` wrote and predicts what convnet predicted.

    /path/to/tf-venv/bin/python tests/keras_interop/check_nested_with_keras.py FOLDER
    KERAS_BACKEND=torch /path/to/k3-venv/bin/python \\
        tests/keras_interop/check_nested_with_keras.py FOLDER

Every file ``manifest.json`` lists for this Keras (``k2`` tf-keras, ``k3`` Keras 3) is loaded:
``model_from_json`` + ``load_weights``, or ``load_model``. One line per file with the largest
absolute difference from convnet's predictions (tolerance 1e-5) and the nested model's
``trainable``; exits non-zero if any fails.
"""

import json
import sys
from pathlib import Path

import numpy as np

TOLERANCE = 1e-5

try:
    import tf_keras as keras
    FLAVOUR = "k2"
except ImportError:
    import keras
    FLAVOUR = "k3"


def main(folder: Path) -> int:
    failures = 0
    for entry in json.loads((folder / "manifest.json").read_text()):
        if FLAVOUR not in entry["keras"]:
            continue
        with np.load(folder / f"{entry['model']}_data.npz") as data:
            xs = [data[f"x{i}"] for i in range(len(data.files) - 1)]
            expected = data["expected"]
        what = " + ".join(entry[k] for k in ("json", "weights", "whole") if k in entry)
        try:
            if "json" in entry:
                model = keras.models.model_from_json((folder / entry["json"]).read_text())
                model.load_weights(str(folder / entry["weights"]))
            else:
                model = keras.models.load_model(str(folder / entry["whole"]), compile=False)
            got = model.predict(xs if len(xs) > 1 else xs[0], verbose=0)
            diff = float(np.abs(np.asarray(got) - expected).max())
            nested = [layer for layer in model.layers if hasattr(layer, "layers")]
            ok = diff <= TOLERANCE and len(nested) >= 1
            trainable = [layer.trainable for layer in nested]
            print(f"{FLAVOUR} {what}: max |diff| {diff:.2e} nested {[n.name for n in nested]} "
                  f"trainable {trainable} {'ok' if ok else 'FAIL'}")
        except Exception as exc:  # noqa: BLE001 -- report every file
            ok = False
            print(f"{FLAVOUR} {what}: max |diff| FAIL {type(exc).__name__}: {exc}"[:600])
        failures += not ok
    return failures


if __name__ == "__main__":
    sys.exit(1 if main(Path(sys.argv[1])) else 0)
