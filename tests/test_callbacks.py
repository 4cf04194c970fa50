"""EarlyStopping, LearningRateScheduler, ReduceLROnPlateau and CSVLogger, with Keras semantics."""

import numpy as np
import pytest

from convnet import callbacks
from convnet.layers import Dense
from convnet.models import Sequential


class Scripted(callbacks.Callback):
    """Replaces the epoch's val_loss by a scripted sequence (so tests control 'improvement')."""

    def __init__(self, values):
        super().__init__()
        self.values = values

    def on_epoch_end(self, epoch, logs=None):
        logs["val_loss"] = self.values[epoch]


def model_and_data():
    model = Sequential([Dense(3, activation="softmax", input_shape=(4,))])
    model.compile(loss="categorical_crossentropy", optimizer="sgd", metrics=["accuracy"])
    rng = np.random.default_rng(0)
    return model, rng.uniform(0, 1, (16, 4)), np.eye(3)[rng.integers(0, 3, 16)]


def test_early_stopping_patience_and_restore_best_weights():
    model, x, y = model_and_data()
    seen = []

    class Keep(callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append([w.copy() for w in self.model.get_weights()])

    stop = callbacks.EarlyStopping(patience=2, restore_best_weights=True)
    h = model.fit(x, y, epochs=10, verbose=0, callbacks=[
        Scripted([1.0, 0.5, 0.6, 0.7, 0.4, 0.3, 0.2, 0.1, 0.1, 0.1]), Keep(), stop])
    assert h.epoch == [0, 1, 2, 3]            # no improvement on epochs 3 and 4 (index 2, 3)
    assert stop.stopped_epoch == 3 and stop.best == 0.5 and stop.best_epoch == 1
    for a, b in zip(model.get_weights(), seen[1]):
        np.testing.assert_array_equal(a, b)   # the weights of the best epoch


def test_early_stopping_min_delta_and_mode():
    model, x, y = model_and_data()
    stop = callbacks.EarlyStopping(monitor="val_loss", min_delta=0.1, patience=1)
    h = model.fit(x, y, epochs=10, verbose=0,
                  callbacks=[Scripted([1.0, 0.95, 0.5, 0.45] + [0.0] * 6), stop])
    assert h.epoch == [0, 1]                  # 0.95 is not better than 1.0 by 0.1
    assert callbacks.EarlyStopping(monitor="val_accuracy").mode == "max"
    with pytest.raises(ValueError, match="mode must be"):
        callbacks.EarlyStopping(mode="up")


def test_learning_rate_scheduler():
    model, x, y = model_and_data()
    rates = []

    class Watch(callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            rates.append(self.model.optimizer.learning_rate)

    h = model.fit(x, y, epochs=3, verbose=0, callbacks=[
        callbacks.LearningRateScheduler(lambda epoch, lr: 0.1 * 0.5 ** epoch), Watch()])
    assert rates == [0.1, 0.05, 0.025] and h.history["lr"] == [0.1, 0.05, 0.025]
    with pytest.raises(ValueError, match="returned -1 for epoch 0"):
        model.fit(x, y, epochs=1, verbose=0,
                  callbacks=[callbacks.LearningRateScheduler(lambda e, lr: -1)])


def test_reduce_lr_on_plateau_with_cooldown_and_floor():
    model, x, y = model_and_data()
    model.optimizer.learning_rate = 1.0
    cb = callbacks.ReduceLROnPlateau(factor=0.5, patience=2, cooldown=1, min_lr=0.3)
    h = model.fit(x, y, epochs=8, verbose=0, callbacks=[Scripted([1.0] * 8), cb])
    # "lr" is logged before the epoch's decision (as Keras does). Epoch 0 sets best; no
    # improvement at 1, 2 -> cut to 0.5 after epoch 2; epoch 3 ends the cooldown and counts
    # (wait 1); epoch 4 -> cut to max(0.25, 0.3) = 0.3; from then on lr == min_lr: no more cuts
    assert h.history["lr"] == [1.0, 1.0, 1.0, 0.5, 0.5, 0.3, 0.3, 0.3]
    assert model.optimizer.learning_rate == 0.3


def test_csv_logger(tmp_path):
    model, x, y = model_and_data()
    path = tmp_path / "log.csv"
    model.fit(x, y, epochs=2, verbose=0, validation_data=(x, y),
              callbacks=[callbacks.CSVLogger(path)])
    lines = path.read_text().splitlines()
    assert lines[0] == "epoch,accuracy,loss,val_accuracy,val_loss"
    assert [line.split(",")[0] for line in lines[1:]] == ["0", "1"]
    model.fit(x, y, epochs=1, verbose=0, validation_data=(x, y),
              callbacks=[callbacks.CSVLogger(path, append=True)])
    assert len(path.read_text().splitlines()) == 4
