"""The residual CNN of ``examples/residual_cnn.py`` (functional: Add, BatchNormalization,
GlobalAveragePooling2D), convnet against the same network in PyTorch eager, same process.

    python benchmarks/bench_residual.py [--rounds 5] [--threads 2]

Training: batch 128, Adam, float32, random MNIST-shaped data; inference: ``predict`` in batches
of 1000. Rounds alternate convnet / PyTorch so slow drift of a shared machine hits both; figures
are medians over rounds. Also: BatchNormalization's and GlobalAveragePooling2D's forward +
backward alone, on conv-sized inputs, against PyTorch's ``BatchNorm2d`` and mean pooling. The last
line is machine-readable. Needs torch in the environment (see benchmarks/README.md).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "examples"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import convnet as keras  # noqa: E402  (first: it tunes the thread pools before NumPy starts)
import numpy as np  # noqa: E402
from convnet.layers import BatchNormalization, GlobalAveragePooling2D  # noqa: E402
from bench_train import INFER_BATCH, TRAIN_BATCH, data  # noqa: E402
from bench_train import ConvnetRunner as TutorialConvnet  # noqa: E402
from bench_train import TorchRunner as TutorialTorch  # noqa: E402
from residual_cnn import residual_cnn  # noqa: E402


class ConvnetRunner(TutorialConvnet):
    """bench_train's runner (same data, same timed loops) on the residual CNN, with Adam."""

    def __init__(self):
        keras.utils.set_random_seed(0)
        self.model = residual_cnn()
        self.model.compile(loss="categorical_crossentropy", optimizer="adam")
        self.x, self.y = data(TRAIN_BATCH * 8)
        self.xi = data(INFER_BATCH, seed=1)[0]
        self.train(2)
        self.infer(1)


class TorchRunner(TutorialTorch):
    """bench_train's PyTorch runner on the same residual CNN."""

    def __init__(self, threads: int):
        import torch
        from torch import nn

        torch.manual_seed(0)
        torch.set_num_threads(threads)
        self.torch = torch

        class Block(nn.Module):
            def __init__(self, filters: int):
                super().__init__()
                self.body = nn.Sequential(
                    nn.Conv2d(filters, filters, 3, padding=1, bias=False),
                    nn.BatchNorm2d(filters, momentum=0.1, eps=1e-3), nn.ReLU(),
                    nn.Conv2d(filters, filters, 3, padding=1, bias=False),
                    nn.BatchNorm2d(filters, momentum=0.1, eps=1e-3))

            def forward(self, x):
                return torch.relu(self.body(x) + x)

        self.model = nn.Sequential(
            nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), Block(32),
            nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2), Block(64),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10))
        self.opt = torch.optim.Adam(self.model.parameters(), lr=1e-3, eps=1e-7)
        self.loss = nn.CrossEntropyLoss()
        x, y = data(TRAIN_BATCH * 8)
        self.x = torch.from_numpy(x.transpose(0, 3, 1, 2).copy())
        self.y = torch.from_numpy(y.argmax(1))
        self.xi = torch.from_numpy(data(INFER_BATCH, seed=1)[0].transpose(0, 3, 1, 2).copy())
        self.train(2)
        self.infer(1)


def layer_ms(threads: int, repeats: int = 10) -> dict[str, tuple[float, float]]:
    """Forward + backward milliseconds of BatchNormalization and global average pooling alone
    on a (128, 13, 13, 32) batch, convnet against PyTorch (medians)."""
    import torch

    torch.set_num_threads(threads)
    x = np.random.default_rng(2).standard_normal((TRAIN_BATCH, 13, 13, 32)).astype("float32")
    results = {}
    for name, ours, theirs in (
            ("BatchNormalization", BatchNormalization(), torch.nn.BatchNorm2d(32, eps=1e-3)),
            ("GlobalAveragePooling2D", GlobalAveragePooling2D(),
             torch.nn.AdaptiveAvgPool2d(1))):
        dy = np.ones(ours.compute_output_shape(x.shape[1:]), "float32")[None].repeat(len(x), 0)
        xt = torch.from_numpy(x.transpose(0, 3, 1, 2).copy()).requires_grad_(True)
        times: dict[str, list[float]] = {"convnet": [], "torch": []}
        for _ in range(repeats + 1):
            t = time.perf_counter()
            ours.forward(x, training=True)
            ours.backward(dy)
            times["convnet"].append(time.perf_counter() - t)
            t = time.perf_counter()
            out = theirs(xt)
            out.backward(torch.ones_like(out))
            times["torch"].append(time.perf_counter() - t)
        results[name] = tuple(1000 * float(np.median(v[1:])) for v in times.values())
    return results


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=5, help="alternating rounds (default 5)")
    p.add_argument("--steps", type=int, default=10, help="training steps per round")
    p.add_argument("--batches", type=int, default=2, help="inference batches per round")
    p.add_argument("--threads", type=int, default=2, help="PyTorch threads (default 2)")
    args = p.parse_args(argv)
    runners = [ConvnetRunner(), TorchRunner(args.threads)]
    train: dict[str, list[float]] = {r.name: [] for r in runners}
    infer: dict[str, list[float]] = {r.name: [] for r in runners}
    for _ in range(args.rounds):
        for r in runners:
            train[r.name].append(r.train(args.steps))
            infer[r.name].append(r.infer(args.batches))
    med = {k: (float(np.median(train[k])), float(np.median(infer[k]))) for k in train}
    print("residual CNN, samples/s (median over rounds):")
    for k, (t, i) in med.items():
        print(f"  {k:8s} train {t:8.0f}   inference {i:8.0f}")
    layers = layer_ms(args.threads)
    print("forward + backward alone, (128, 13, 13, 32), ms (convnet / torch):")
    for name, (ours, theirs) in layers.items():
        print(f"  {name:24s} {ours:7.2f} / {theirs:7.2f}")
    ratio_t = med["convnet"][0] / med["torch"][0]
    ratio_i = med["convnet"][1] / med["torch"][1]
    print(f"train_ratio_vs_torch={ratio_t:.2f} infer_ratio_vs_torch={ratio_i:.2f} "
          f"train_sps={med['convnet'][0]:.0f} infer_sps={med['convnet'][1]:.0f} "
          + " ".join(f"{n}_ms={a:.2f}/{b:.2f}" for n, (a, b) in layers.items()))


if __name__ == "__main__":
    main()
