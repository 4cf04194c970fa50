"""Long runs lose nothing: checkpoints, resuming after a crash, NaN losses, determinism."""

import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import convnet as keras
import error_bounds
from convnet import backend, callbacks, saving, utils
from convnet.layers import Conv2D, Dense, Dropout, Flatten, MaxPooling2D
from convnet.models import Sequential, load_model

ROOT = Path(__file__).resolve().parents[1]


def small_cnn():
    model = Sequential([
        Conv2D(4, (3, 3), activation="relu", input_shape=(8, 8, 1)),
        MaxPooling2D((2, 2)), Dropout(0.3), Flatten(),
        Dense(8, activation="relu"), Dropout(0.2, seed=5), Dense(3, activation="softmax"),
    ])
    model.compile(loss="categorical_crossentropy", optimizer=keras.optimizers.Adadelta(),
                  metrics=["accuracy"])
    return model


def data(n=48, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, (n, 8, 8, 1)).astype("float32")
    return x, utils.to_categorical(rng.integers(0, 3, n), 3)


def test_resuming_after_a_crash_gives_the_same_weights_bit_for_bit(tmp_path):
    x, y = data()
    utils.set_random_seed(7)
    straight = small_cnn()
    straight.fit(x, y, batch_size=8, epochs=4, verbose=0)

    backend.clear_session()
    utils.set_random_seed(7)
    first = small_cnn()
    ckpt = tmp_path / "run.h5"
    first.fit(x, y, batch_size=8, epochs=2, verbose=0,
              callbacks=[callbacks.ResumableCheckpoint(ckpt)])
    del first                                   # "the process crashed after epoch 2"

    backend.clear_session()
    utils.set_random_seed(12345)                # a new process: other seed, other init
    resumed = small_cnn()
    done = resumed.load_checkpoint(ckpt)
    assert done == 2
    assert resumed.optimizer.iterations == 2 * 6
    resumed.fit(x, y, batch_size=8, epochs=4, initial_epoch=done, verbose=0)
    for a, b in zip(straight.get_weights(), resumed.get_weights()):
        np.testing.assert_array_equal(a, b)     # bitwise: same data order, masks and steps


def test_checkpoint_is_also_a_keras_model_file(tmp_path):
    model = small_cnn()
    x, y = data(16)
    model.fit(x, y, epochs=1, verbose=0)
    model.save_checkpoint(tmp_path / "c.h5", 1)
    clone = load_model(tmp_path / "c.h5")
    np.testing.assert_array_equal(clone.predict(x), model.predict(x))


def test_checkpoint_errors_leave_the_model_unchanged(tmp_path):
    model = small_cnn()
    x, y = data(16)
    model.fit(x, y, epochs=1, verbose=0)
    model.save_weights(tmp_path / "w.h5")
    before = model.get_weights()
    with pytest.raises(saving.FormatError, match="not a convnet training checkpoint"):
        model.load_checkpoint(tmp_path / "w.h5")
    model.save_checkpoint(tmp_path / "c.h5", 1)
    other = small_cnn()
    other.compile(loss="categorical_crossentropy", optimizer="sgd")
    with pytest.raises(saving.FormatError, match="optimizer is Adadelta, the model was compiled "
                                                 "with SGD"):
        other.load_checkpoint(tmp_path / "c.h5")
    for a, b in zip(model.get_weights(), before):
        np.testing.assert_array_equal(a, b)


def test_model_checkpoint_every_epoch_and_best_only(tmp_path):
    x, y = data(32)
    model = small_cnn()
    model.fit(x, y, epochs=3, verbose=0, validation_data=(x, y), callbacks=[
        callbacks.ModelCheckpoint(str(tmp_path / "e{epoch:02d}.h5"), save_weights_only=True),
        callbacks.ModelCheckpoint(str(tmp_path / "best.h5"), monitor="val_loss",
                                  save_best_only=True)])
    assert sorted(p.name for p in tmp_path.glob("e*.h5")) == ["e01.h5", "e02.h5", "e03.h5"]
    best = load_model(tmp_path / "best.h5")
    best.compile(loss="categorical_crossentropy", optimizer="adadelta", metrics=["accuracy"])
    error_bounds.check_paths(best.evaluate(x, y, verbose=0)[0],
                             min(model.history.history["val_loss"]),
                             error_bounds.evaluate_loss_bound(best, x, y), "best checkpoint")
    # no validation data, so no 'val_acc': Keras warns and saves every epoch; the run goes on
    with pytest.warns(UserWarning, match=r"monitor 'val_acc' is not in the logs.*available "
                                         r"keys: \['accuracy', 'loss'\]"):
        h = model.fit(x, y, epochs=2, verbose=0, callbacks=[
            callbacks.ModelCheckpoint(str(tmp_path / "x{epoch}.h5"), monitor="val_acc",
                                      save_best_only=True)])
    assert h.epoch == [0, 1]
    assert sorted(p.name for p in tmp_path.glob("x*.h5")) == ["x1.h5", "x2.h5"]


def test_nan_loss_stops_training_and_keeps_the_last_good_weights():
    x, y = data(40)
    x[21, 3, 3, 0] = np.nan                     # the third batch of 8 (no shuffling)
    model = small_cnn()
    before = None

    class Snapshot(callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            nonlocal before
            before = [w.copy() for w in self.model.get_weights()]

    with pytest.warns(RuntimeWarning, match=r"Epoch 1, batch 3: the loss is nan; training "
                                            r"stopped. The model keeps the weights"):
        history = model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0,
                            callbacks=[Snapshot()])
    assert history.history == {}                # no epoch finished
    assert model.stop_reason.startswith("Epoch 1, batch 3")
    for a, b in zip(model.get_weights(), before):   # weights after batch 2, untouched by 3
        np.testing.assert_array_equal(a, b)
        assert np.isfinite(a).all()


def test_train_on_batch_skips_a_non_finite_update():
    x, y = data(8)
    model = small_cnn()
    before = model.get_weights()
    x[0, 0, 0, 0] = np.inf
    with pytest.warns(RuntimeWarning, match="the weights were not updated"):
        model.train_on_batch(x, y)
    for a, b in zip(model.get_weights(), before):
        np.testing.assert_array_equal(a, b)


_TRAIN_AND_HASH = """
import hashlib, sys
sys.path.insert(0, {root!r})
import numpy as np
import convnet as keras
from convnet.layers import Conv2D, Dense, Dropout, Flatten, MaxPooling2D
from convnet.models import Sequential
keras.utils.set_random_seed(3)
m = Sequential([Conv2D(16, 3, activation="relu", input_shape=(12, 12, 1)),
                Conv2D(8, 3, activation="relu"),        # 16 channels in: Winograd's path
                MaxPooling2D(), Dropout(0.25), Flatten(), Dense(16, activation="relu"),
                Dense(4, activation="softmax")])
m.compile(loss="categorical_crossentropy", optimizer="adadelta")
rng = np.random.default_rng(0)
x = rng.uniform(0, 1, (96, 12, 12, 1)).astype("float32")
y = keras.utils.to_categorical(rng.integers(0, 4, 96), 4)
m.fit(x, y, batch_size=32, epochs=2, verbose=0)
import numba
digest = hashlib.sha256(b"".join(w.tobytes() for w in m.get_weights())).hexdigest()
print(numba.get_num_threads(), digest)
"""


@pytest.mark.needs_jit
def test_same_seed_same_weights_on_one_and_two_threads():
    hashes = {}
    for threads in ("1", "2"):
        env = dict(os.environ, NUMBA_NUM_THREADS=threads)
        out = subprocess.run([sys.executable, "-c", _TRAIN_AND_HASH.format(root=str(ROOT))],
                             env=env, capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr
        n, digest = out.stdout.split()
        assert n == threads
        hashes[threads] = digest
    assert hashes["1"] == hashes["2"]


def test_warnings_are_not_raised_on_a_normal_run():
    x, y = data(16)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        small_cnn().fit(x, y, epochs=1, verbose=0)


_USE_A_KERNEL = """
import sys, warnings
sys.path.insert(0, {pkg!r})
warnings.simplefilter("always")
import numpy as np
from convnet.kernels import jit
x = np.arange(2 * 5 * 5, dtype="float32").reshape(2, 5, 5, 1)
print(jit.im2col(x, 3, 3, 1, 1).shape)
"""


@pytest.mark.skipif(os.geteuid() != 0 or not Path("/usr/bin/setpriv").exists(),
                    reason="needs root and setpriv to run as an unprivileged user")
def test_read_only_install_still_works_with_one_warning():
    import shutil
    import tempfile

    base = Path(tempfile.mkdtemp(prefix="convnet-ro-", dir="/tmp"))   # reachable by 'nobody'
    try:
        base.chmod(0o755)
        install = base / "site"
        shutil.copytree(ROOT / "convnet", install / "convnet",
                        ignore=shutil.ignore_patterns("__pycache__", "data"))
        for path in [install, *install.rglob("*")]:
            path.chmod(0o555 if path.is_dir() else 0o444)
        scratch = base / "tmp"
        scratch.mkdir()
        scratch.chmod(0o777)
        env = {"PATH": os.environ["PATH"], "HOME": str(base / "no-home"), "TMPDIR": str(scratch)}
        out = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                              sys.executable, "-c", _USE_A_KERNEL.format(pkg=str(install))],
                             capture_output=True, text=True, env=env, timeout=300, cwd=base)
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == "(18, 9)"
        assert out.stderr.count("is read-only; numba caches the compiled kernels in") == 1
        assert str(install) in out.stderr
        assert list(scratch.glob("convnet-numba-65534/*"))        # the cache went there
    finally:
        for path in base.rglob("*"):
            if path.is_dir():
                path.chmod(0o755)
        shutil.rmtree(base, ignore_errors=True)
