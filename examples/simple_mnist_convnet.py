"""keras.io's "Simple MNIST convnet" example (Keras 3 style: keras.Input, Sequential, adam,
validation_split), on convnet with only its imports changed.

    python examples/simple_mnist_convnet.py            # 15 epochs, as the original
    python examples/simple_mnist_convnet.py --epochs 1 --limit 2000   # a quick look
"""

import argparse

import convnet as keras  # was: import keras
import numpy as np
from convnet import layers  # was: from keras import layers

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--epochs", type=int, default=15)
parser.add_argument("--limit", type=int, default=None, help="train on the first N images only")
parser.add_argument("--seed", type=int, default=None)
args = parser.parse_args()
if args.seed is not None:
    keras.utils.set_random_seed(args.seed)

# ----- the example, as keras.io writes it -------------------------------------------------------
# Model / data parameters
num_classes = 10
input_shape = (28, 28, 1)

# Load the data and split it between train and test sets
(x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
if args.limit:
    x_train, y_train = x_train[:args.limit], y_train[:args.limit]

# Scale images to the [0, 1] range
x_train = x_train.astype("float32") / 255
x_test = x_test.astype("float32") / 255
# Make sure images have shape (28, 28, 1)
x_train = np.expand_dims(x_train, -1)
x_test = np.expand_dims(x_test, -1)
print("x_train shape:", x_train.shape)
print(x_train.shape[0], "train samples")
print(x_test.shape[0], "test samples")

# convert class vectors to binary class matrices
y_train = keras.utils.to_categorical(y_train, num_classes)
y_test = keras.utils.to_categorical(y_test, num_classes)

model = keras.Sequential(
    [
        keras.Input(shape=input_shape),
        layers.Conv2D(32, kernel_size=(3, 3), activation="relu"),
        layers.MaxPooling2D(pool_size=(2, 2)),
        layers.Conv2D(64, kernel_size=(3, 3), activation="relu"),
        layers.MaxPooling2D(pool_size=(2, 2)),
        layers.Flatten(),
        layers.Dropout(0.5),
        layers.Dense(num_classes, activation="softmax"),
    ]
)

model.summary()

batch_size = 128
epochs = args.epochs

model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])

model.fit(x_train, y_train, batch_size=batch_size, epochs=epochs, validation_split=0.1)

score = model.evaluate(x_test, y_test, verbose=0)
print("Test loss:", score[0])
print("Test accuracy:", score[1])
