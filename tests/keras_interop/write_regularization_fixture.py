"""Write ``tests/fixtures/new_layers/regularized_step_k3.npz``: one SGD step of a small model
with kernel, bias and activity regularizers and a max-norm constraint, in real Keras 3.

    KERAS_BACKEND=torch /tmp/k3/bin/python tests/keras_interop/write_regularization_fixture.py \\
        tests/fixtures/new_layers/regularized_step_k3.npz

The file holds the data (``x``, ``y``), the starting weights (``w0`` ... ``w3``), the loss
``train_on_batch`` reported (``train_loss``: cross-entropy plus every penalty, at the weights
before the step), the loss ``evaluate`` reported after it (``eval_loss``: penalties included) and
the weights after the step and the constraint (``after0`` ... ``after3``).
``tests/test_regularizers.py`` repeats the step in convnet.
"""

import sys

import keras
import numpy as np
from keras import constraints, layers, regularizers


def main(path: str) -> int:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, 4)).astype("float32")
    y = np.eye(3)[[0, 1, 2, 0, 1, 2]].astype("float32")
    weights = [rng.standard_normal((4, 5)).astype("float32") * 0.5,
               rng.standard_normal(5).astype("float32") * 0.1,
               rng.standard_normal((5, 3)).astype("float32") * 0.5, np.zeros(3, "float32")]
    model = keras.Sequential([
        keras.Input((4,)),
        layers.Dense(5, activation="tanh", kernel_regularizer=regularizers.L2(0.03),
                     bias_regularizer=regularizers.L1(0.02),
                     activity_regularizer=regularizers.L2(0.05),
                     kernel_constraint=constraints.MaxNorm(0.8)),
        layers.Dense(3, activation="softmax", kernel_regularizer=regularizers.L1L2(0.01, 0.02)),
    ])
    model.set_weights(weights)
    model.compile(loss="categorical_crossentropy", optimizer=keras.optimizers.SGD(0.1))
    train = model.train_on_batch(x, y)
    evaluated = model.evaluate(x, y, verbose=0, batch_size=6)
    arrays = {"x": x, "y": y, "train_loss": np.float64(train),
              "eval_loss": np.float64(evaluated)}
    arrays.update({f"w{i}": w for i, w in enumerate(weights)})
    arrays.update({f"after{i}": np.asarray(w) for i, w in enumerate(model.get_weights())})
    np.savez(path, **arrays)
    print(f"wrote {path} with Keras {keras.__version__}: train {train}, evaluate {evaluated}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
