"""Keras's other callbacks (issue 15): LambdaCallback, ProgbarLogger, TerminateOnNaN,
BackupAndRestore (convnet's resumable checkpoint under Keras's name) and TensorBoard, which is
refused with a pointer to CSVLogger. A callback that cannot do its job warns; the run goes on."""

import os

import numpy as np
import pytest

from convnet import backend, callbacks, utils
from convnet.layers import Dense, Dropout
from convnet.models import Sequential


def model_and_data(n=24):
    backend.clear_session()               # the same layer names each time, as in a new process
    model = Sequential([Dense(6, activation="relu", input_shape=(4,)), Dropout(0.25),
                        Dense(3, activation="softmax")])
    model.compile(loss="categorical_crossentropy", optimizer="adadelta", metrics=["acc"])
    rng = np.random.default_rng(0)
    return model, rng.uniform(0, 1, (n, 4)), np.eye(3)[rng.integers(0, 3, n)]


# ----- LambdaCallback ------------------------------------------------------------------------
def test_lambda_callback_calls_each_function_with_keras_arguments():
    calls = []
    cb = callbacks.LambdaCallback(
        on_train_begin=lambda logs: calls.append("train_begin"),
        on_epoch_begin=lambda epoch, logs: calls.append(("epoch_begin", epoch)),
        on_batch_end=lambda batch, logs: calls.append(("batch_end", batch, sorted(logs))),
        on_epoch_end=lambda epoch, logs: calls.append(("epoch_end", epoch, sorted(logs))),
        on_train_end=lambda logs: calls.append("train_end"))
    model, x, y = model_and_data(16)
    model.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=[cb])
    assert calls == ["train_begin",
                     ("epoch_begin", 0), ("batch_end", 0, ["acc", "loss"]),
                     ("batch_end", 1, ["acc", "loss"]), ("epoch_end", 0, ["acc", "loss"]),
                     ("epoch_begin", 1), ("batch_end", 0, ["acc", "loss"]),
                     ("batch_end", 1, ["acc", "loss"]), ("epoch_end", 1, ["acc", "loss"]),
                     "train_end"]


def test_lambda_callback_refuses_unknown_hooks_and_non_functions():
    with pytest.raises(TypeError, match="unknown hook 'on_epoch_finish'"):
        callbacks.LambdaCallback(on_epoch_finish=print)
    with pytest.raises(TypeError, match="on_epoch_end must be a function"):
        callbacks.LambdaCallback(on_epoch_end=3)


def test_lambda_callback_can_stop_training():
    model, x, y = model_and_data()

    def stop(batch, logs):
        model.stop_training = True

    h = model.fit(x, y, batch_size=8, epochs=5, verbose=0,
                  callbacks=[callbacks.LambdaCallback(on_train_batch_end=stop)])
    assert h.epoch == [0]                  # the batch loop stops at once, as in Keras 3


# ----- ProgbarLogger -------------------------------------------------------------------------
def test_fit_adds_one_progbar_logger_and_uses_the_one_given(capsys):
    model, x, y = model_and_data(16)
    model.fit(x, y, batch_size=8, epochs=2, verbose=1)
    out = capsys.readouterr().out
    assert out.count("Epoch 1/2") == 1 and out.count("2/2 [====") == 2
    model.fit(x, y, batch_size=8, epochs=1, verbose=1, callbacks=[callbacks.ProgbarLogger()])
    out = capsys.readouterr().out
    assert out.count("Epoch 1/1") == 1 and out.count("2/2 [====") == 1   # not two bars
    model.fit(x, y, batch_size=8, epochs=1, verbose=2)
    out = capsys.readouterr().out
    assert "Epoch 1/1" in out and "2/2 - " in out and " - loss: " in out and "[" not in out
    model.fit(x, y, epochs=1, verbose=0)
    assert capsys.readouterr().out == ""
    with pytest.raises(ValueError, match="count_mode"):
        callbacks.ProgbarLogger(count_mode="images")


# ----- TerminateOnNaN ------------------------------------------------------------------------
def test_terminate_on_nan_stops_on_a_non_finite_logged_loss(capsys):
    model, _, _ = model_and_data()
    cb = callbacks.TerminateOnNaN()
    cb.set_model(model)
    cb.on_train_batch_end(3, {"loss": 0.5})
    assert not model.stop_training
    cb.on_train_batch_end(4, {"loss": float("nan")})
    assert model.stop_training
    assert "Batch 4: Invalid loss, terminating training" in capsys.readouterr().out


def test_terminate_on_nan_in_a_diverging_fit():
    model, x, y = model_and_data()
    x = x.copy()
    x[5, 0] = np.nan                                   # a NaN in the data: the loss is NaN
    with pytest.warns(RuntimeWarning, match="training stopped"):
        h = model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0,
                      callbacks=[callbacks.TerminateOnNaN()])
    assert h.epoch == [] and model.stop_training
    assert all(np.isfinite(w).all() for w in model.get_weights())


# ----- BackupAndRestore ----------------------------------------------------------------------
class Interrupt(callbacks.Callback):
    """Kills the run at the start of ``epoch`` (as a crash or a pre-empted machine would)."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            raise KeyboardInterrupt


def test_backup_and_restore_resumes_where_the_run_stopped(tmp_path):
    x_y = model_and_data()[1:]
    utils.set_random_seed(11)
    model, _, _ = model_and_data()
    model.fit(*x_y, batch_size=8, epochs=4, verbose=0)
    expected = model.get_weights()

    utils.set_random_seed(11)
    model, _, _ = model_and_data()
    backup = callbacks.BackupAndRestore(tmp_path / "backup")
    with pytest.raises(KeyboardInterrupt):
        model.fit(*x_y, batch_size=8, epochs=4, verbose=0, callbacks=[backup, Interrupt(2)])
    assert os.path.exists(tmp_path / "backup" / "checkpoint.h5")

    utils.set_random_seed(99)                          # a new process: another state
    model, _, _ = model_and_data()
    h = model.fit(*x_y, batch_size=8, epochs=4, verbose=0,
                  callbacks=[callbacks.BackupAndRestore(tmp_path / "backup")])
    assert h.epoch == [2, 3]                           # epochs 1 and 2 were done
    for a, b in zip(model.get_weights(), expected):
        np.testing.assert_array_equal(a, b)            # same weights, bit for bit
    assert not os.path.exists(tmp_path / "backup" / "checkpoint.h5")   # finished: deleted


def test_backup_and_restore_warns_and_goes_on_when_it_cannot_do_its_job(tmp_path):
    model, x, y = model_and_data()
    (tmp_path / "backup").mkdir()
    (tmp_path / "backup" / "checkpoint.h5").write_bytes(b"not a checkpoint")
    with pytest.warns(UserWarning, match="cannot restore from .*starts from the beginning"):
        h = model.fit(x, y, epochs=2, verbose=0,
                      callbacks=[callbacks.BackupAndRestore(tmp_path / "backup")])
    assert h.epoch == [0, 1]
    (tmp_path / "a_file").write_text("")
    with pytest.warns(UserWarning, match="cannot write the backup"):
        h = model.fit(x, y, epochs=2, verbose=0,
                      callbacks=[callbacks.BackupAndRestore(tmp_path / "a_file" / "backup")])
    assert h.epoch == [0, 1]
    with pytest.raises(ValueError, match="save_freq must be 'epoch'"):
        callbacks.BackupAndRestore(tmp_path, save_freq=100)


# ----- TensorBoard ---------------------------------------------------------------------------
def test_tensorboard_is_refused_with_a_pointer_to_csv_logger():
    with pytest.raises(NotImplementedError, match=r"TensorBoard is not available .*CSVLogger"):
        callbacks.TensorBoard(log_dir="logs")
