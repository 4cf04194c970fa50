"""Real Keras goes on training a model that convnet trained and saved
(``write_residual_training_files.py``), then saves it for convnet to load back.

Run with a Python that has Keras (never a convnet dependency)::

    cd tests/keras_interop
    /path/to/tf-venv/bin/python continue_training_with_keras.py FOLDER FILE
    KERAS_BACKEND=torch /path/to/k3-venv/bin/python continue_training_with_keras.py FOLDER FILE

FILE (``model.keras`` or ``model.h5`` in FOLDER) is loaded *compiled*; then, on FOLDER's
``x_train``/``y_train`` and ``x_test``/``y_test``: ``evaluate`` on both sets, ``predict`` on the
test images, one more epoch of ``fit`` (batch 32), ``evaluate`` and ``predict`` again. The model
is saved as ``keras_<flavour>_<FILE>`` (``<flavour>`` is ``k3`` or ``tf``; the same format as
FILE) and the report, one JSON object, is printed and written to ``<that name>.json``;
``<that name>.predict.npy`` holds the predictions after training.
"""

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from check_with_keras import keras_module  # noqa: E402


def main(folder: str, file: str) -> None:
    folder = Path(folder)
    keras, which = keras_module()
    flavour = "tf" if which.startswith("tf-keras") else "k3"
    keras.utils.set_random_seed(0)
    x_train, y_train = np.load(folder / "x_train.npy"), np.load(folder / "y_train.npy")
    x_test, y_test = np.load(folder / "x_test.npy"), np.load(folder / "y_test.npy")

    model = keras.models.load_model(str(folder / file))

    def scores():
        return {"train": model.evaluate(x_train, y_train, verbose=0, return_dict=True),
                "test": model.evaluate(x_test, y_test, verbose=0, return_dict=True)}

    def floats(tree):
        if isinstance(tree, dict):
            return {key: floats(value) for key, value in tree.items()}
        return [float(v) for v in tree] if isinstance(tree, list) else float(tree)

    report = {"keras": which, "file": file,
              "compiled": getattr(model, "optimizer", None) is not None,
              "iterations_loaded": int(model.optimizer.iterations),
              "before": floats(scores()),
              "predict_before": model.predict(x_test, verbose=0).tolist()}
    history = model.fit(x_train, y_train, batch_size=32, epochs=1, verbose=0)
    report.update(history=floats(history.history), after=floats(scores()),
                  iterations_after=int(model.optimizer.iterations))
    saved = f"keras_{flavour}_{file}"
    model.save(str(folder / saved))
    np.save(folder / f"{saved}.predict.npy", model.predict(x_test, verbose=0))
    report["saved"] = saved
    (folder / f"{saved}.json").write_text(json.dumps(report))
    print(json.dumps({k: v for k, v in report.items() if k != "predict_before"}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
