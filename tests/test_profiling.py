"""The profile's FLOP counts match a hand count for the tutorial model."""

import numpy as np

import convnet as keras
from convnet.tutorial import tutorial_model


def test_flops_match_a_hand_count():
    # multiply-adds per sample: conv1 26*26*(3*3*1)*32, conv2 24*24*(3*3*32)*64,
    # dense 9216*128, dense_1 128*10. Forward = 2 x MACs; backward = 2 products (dW, dx) except
    # the first layer, whose dx is skipped.
    conv1, conv2, dense, dense1 = 26 * 26 * 9 * 32, 24 * 24 * 288 * 64, 9216 * 128, 1280
    hand = 2 * conv1 * 2 + 2 * conv2 * 3 + 2 * dense * 3 + 2 * dense1 * 3
    model = tutorial_model()
    profile = keras.profile(model, batch_size=2, repeats=1, verbose=False)
    assert profile.training_flops == hand == 71_565_312            # about 72 MFLOP
    assert abs(profile.share("conv2d_1") - 0.89) < 0.01            # conv2: ~89 %
    rows = {p.name: p for p in profile.layers}
    assert rows["conv2d_1"].forward_flops == 2 * conv2
    assert rows["conv2d"].backward_flops == 2 * conv1
    assert rows["max_pooling2d"].forward_flops == 0
    assert rows["conv2d_1"].buffer_bytes == 2 * 24 * 24 * 288 * 4   # im2col, float32
    assert all(p.forward_ms >= 0 and p.backward_ms >= 0 for p in profile.layers)
    assert rows["conv2d_1"].forward_ms > 0


def test_profiling_does_not_train_the_model(capsys):
    model = tutorial_model()
    before = model.get_weights()
    model.summary(profile=True, x=np.zeros((4, 28, 28, 1), "float32"))
    out = capsys.readouterr().out
    assert "71.6 MFLOP per sample" in out and "first call" in out and "conv2d_1 (Conv2D)" in out
    for a, b in zip(before, model.get_weights()):
        assert (a == b).all()
    assert model.optimizer.iterations == 0
