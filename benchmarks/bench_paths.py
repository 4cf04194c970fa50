"""Each of convnet's ways of running a layer against the plainer one it replaces, same process,
rounds alternating (tutorial shapes, batch 128 for training, 1,000 images for predict):

* conv2 forward + backward: Winograd F(4x4, 3x3) per core (``convnet/fast/conv_winograd.py``) vs
  im2col per core (``convnet/fast/conv_im2col.py``), and im2col per core vs whole-batch blocks;
* conv1 backward as a first layer: one-pass ReLU + dK + db (``kernels.conv2d_relu_grads``) vs
  im2col blocks;
* ``predict``: conv2 by Winograd vs by im2col (both per core), and conv/pool layers per core
  (``Layer.infer_chunk``, im2col) vs layer by layer.

    python benchmarks/bench_paths.py [--rounds 5]

The switches: ``CONVNET_PER_CORE_THREADS=0`` makes ``convnet.threads.available()`` false (here
the module attribute is flipped in-process instead); ``Conv2D.WINOGRAD_MIN_CHANNELS`` set above
any channel count turns Winograd off; conv1 is sent through im2col by patching ``_direct``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import convnet  # noqa: E402,F401,I001  (first: it tunes the thread pools before NumPy starts)
import numpy as np  # noqa: E402
from convnet import threads  # noqa: E402
from convnet.layers import Conv2D  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_kernels import median_ms  # noqa: E402
from bench_train import data, tutorial_model  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if not threads.available():
        sys.exit("NumPy's OpenBLAS thread control was not found: there is only one path here")
    rng = np.random.default_rng(0)

    conv2 = Conv2D(64, (3, 3), activation="relu")
    conv2.build((26, 26, 32))
    x2 = rng.random((128, 26, 26, 32), dtype=np.float32)
    dy2 = rng.standard_normal((128, 24, 24, 64), dtype=np.float32)

    conv1 = Conv2D(32, (3, 3), activation="relu")
    conv1.build((28, 28, 1))
    x1 = rng.random((128, 28, 28, 1), dtype=np.float32)
    dy1 = rng.standard_normal((128, 26, 26, 32), dtype=np.float32)

    model = tutorial_model()
    xi, _ = data(1000, seed=1)

    def conv2_step():
        conv2.forward(x2, training=True)
        conv2.backward(dy2)

    def conv1_backward():                 # backward alone: it may be repeated after one forward
        conv1.backward(dy1, input_gradient=False)

    def predict():
        model.predict(xi, batch_size=1000)

    defaults = Conv2D.WINOGRAD_MIN_CHANNELS, Conv2D.DIRECT_MAX_CELLS

    def use(per_core=True, winograd=True, direct=True) -> None:
        threads.set_per_core(per_core)
        Conv2D.WINOGRAD_MIN_CHANNELS = defaults[0] if winograd else 10**9
        Conv2D.DIRECT_MAX_CELLS = defaults[1] if direct else 0
        conv1.forward(x1, training=True)

    comparisons = [   # (what, unit, function, settings of the new path, of the plain one)
        ("conv2 fwd+bwd: Winograd vs im2col", "ms", conv2_step, {}, {"winograd": False}),
        ("conv2 fwd+bwd: per core vs blocks", "ms", conv2_step, {"winograd": False},
         {"per_core": False}),
        ("conv1 bwd (first layer): 1 pass vs im2col", "ms", conv1_backward, {},
         {"direct": False}),
        ("predict: Winograd vs im2col", "images/s", predict, {}, {"winograd": False}),
        ("predict: per core vs layer by layer", "images/s", predict, {"winograd": False},
         {"per_core": False}),
    ]
    results = {name: ([], []) for name, *_ in comparisons}
    for _ in range(args.rounds):
        for name, unit, fn, new, plain in comparisons:
            for side, settings in enumerate((new, plain)):
                use(**settings)
                ms = median_ms(fn, 5 if fn is predict else 9)
                results[name][side].append(1000 * 1000 / ms if unit == "images/s" else ms)
    use()
    print(f"{'':44}{'new path':>16}{'plain path':>16}   (min-max over {args.rounds} rounds)")
    for name, unit, *_ in comparisons:
        fast, slow = results[name]
        print(f"{name + ', ' + unit:44}{min(fast):>8.1f}-{max(fast):<7.1f}"
              f"{min(slow):>8.1f}-{max(slow):<7.1f}")

if __name__ == "__main__":
    main()
