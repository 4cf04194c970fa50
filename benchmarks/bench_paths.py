"""Each of convnet's ways of running a layer against the plainer one it replaces, same process,
rounds alternating (tutorial shapes, batch 128 for training, 1,000 images for predict):

* conv2 forward + backward: per-core tasks (``layers/conv_per_core.py``) vs whole-batch blocks;
* conv1 backward as a first layer: one-pass ReLU + dK + db (``kernels.conv2d_relu_grads``) vs
  im2col blocks;
* ``predict``: conv/pool layers per core (``Layer.infer_chunk``) vs layer by layer.

    python benchmarks/bench_paths.py [--rounds 5]

The switch between paths is the one a user has: ``CONVNET_PER_CORE_THREADS=0`` makes
``convnet.threads.available()`` false; here the module attribute is flipped in-process instead.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import convnet  # noqa: E402,F401,I001  (first: it tunes the thread pools before NumPy starts)
import numpy as np  # noqa: E402
from convnet import threads  # noqa: E402
from convnet.layers import Conv2D  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_train import data, tutorial_model  # noqa: E402


def median_ms(fn, repeats: int = 9) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * float(np.median(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if not threads.available():
        sys.exit("NumPy's OpenBLAS thread control was not found: there is only one path here")
    openblas = threads._OPENBLAS
    rng = np.random.default_rng(0)

    conv2 = Conv2D(64, (3, 3), activation="relu")
    conv2.build((26, 26, 32))
    x2 = rng.random((128, 26, 26, 32), dtype=np.float32)
    dy2 = rng.standard_normal((128, 24, 24, 64), dtype=np.float32)

    conv1 = Conv2D(32, (3, 3), activation="relu")
    conv1.build((28, 28, 1))
    x1 = rng.random((128, 28, 28, 1), dtype=np.float32)
    dy1 = rng.standard_normal((128, 26, 26, 32), dtype=np.float32)
    blocks_for_conv1 = Conv2D._direct

    model = tutorial_model()
    xi, _ = data(1000, seed=1)

    def conv2_step():
        conv2.forward(x2, training=True)
        conv2.backward(dy2)

    def conv1_backward():                 # backward alone: it may be repeated after one forward
        conv1.backward(dy1, input_gradient=False)

    rows = {name: ([], []) for name in ("conv2 forward+backward, ms", "conv1 backward (first "
                                        "layer), ms", "predict 1,000 images, images/s")}
    for _ in range(args.rounds):
        for new in (True, False):
            threads._OPENBLAS = openblas if new else None
            if not new:
                Conv2D._direct = lambda self: False        # conv1 through im2col blocks
            conv1.forward(x1, training=True)
            results = (median_ms(conv2_step), median_ms(conv1_backward),
                       1000 * 1000 / median_ms(lambda: model.predict(xi, batch_size=1000), 5))
            Conv2D._direct = blocks_for_conv1
            for (fast, plain), value in zip(rows.values(), results):
                (fast if new else plain).append(value)
    threads._OPENBLAS = openblas
    print(f"{'':34}{'new path':>16}{'plain path':>16}   (min-max over {args.rounds} rounds)")
    for name, (fast, plain) in rows.items():
        print(f"{name:34}{min(fast):>8.1f}-{max(fast):<7.1f}{min(plain):>8.1f}-{max(plain):<7.1f}")


if __name__ == "__main__":
    main()
