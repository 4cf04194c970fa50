"""convnet trains examples/residual_cnn.py's residual CNN briefly and saves it for real Keras to
go on training (``continue_training_with_keras.py``; the test is
``tests/test_keras3_continues_training.py``).

    PYTHONPATH=. python tests/keras_interop/write_residual_training_files.py FOLDER

The model (functional: Conv2D, MaxPooling2D, BatchNormalization, Add, GlobalAveragePooling2D,
Dense) is compiled with categorical cross-entropy, Adam and accuracy, and trained three
epochs on the first 1,024 MNIST training images (batch 32). Written into FOLDER:
``model.keras`` (Keras 3's zip) and ``model.h5`` (HDF5, compile settings and optimizer state
included); ``x_train.npy`` /
``y_train.npy`` (those 1,024 images, one-hot labels: what Keras goes on training with) and
``x_test.npy`` / ``y_test.npy`` (the first 256 test images); ``expected.npy`` (convnet's
predictions on them); ``convnet.json``: convnet's ``evaluate`` on both sets, its optimizer's
step count and its training history.
"""

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples"))

from residual_cnn import residual_cnn  # noqa: E402

import convnet as keras  # noqa: E402

TRAIN, TEST = 1024, 256


def data():
    """The first TRAIN training and TEST test images of MNIST, scaled, with one-hot labels."""
    (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
    prepare = lambda x: np.expand_dims(x.astype("float32") / 255, -1)  # noqa: E731
    onehot = lambda y: keras.utils.to_categorical(y, 10)  # noqa: E731
    return ((prepare(x_train[:TRAIN]), onehot(y_train[:TRAIN])),
            (prepare(x_test[:TEST]), onehot(y_test[:TEST])))


def main(folder: str) -> None:
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(0)
    (x_train, y_train), (x_test, y_test) = data()
    model = residual_cnn()
    model.compile(loss="categorical_crossentropy",
                  optimizer=keras.optimizers.Adam(learning_rate=1e-3), metrics=["accuracy"])
    history = model.fit(x_train, y_train, batch_size=32, epochs=3, verbose=0)
    model.save(out / "model.keras")
    model.save(out / "model.h5")
    for name, array in (("x_train", x_train), ("y_train", y_train), ("x_test", x_test),
                        ("y_test", y_test), ("expected", model.predict(x_test, verbose=0))):
        np.save(out / f"{name}.npy", array)
    report = {"train": model.evaluate(x_train, y_train, verbose=0, return_dict=True),
              "test": model.evaluate(x_test, y_test, verbose=0, return_dict=True),
              "iterations": int(model.optimizer.iterations),
              "history": history.history}
    (out / "convnet.json").write_text(json.dumps(report))
    print(f"wrote {out}: {json.dumps(report)}")


if __name__ == "__main__":
    main(sys.argv[1])
