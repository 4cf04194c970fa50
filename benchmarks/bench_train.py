"""Speed and memory of the tutorial model: convnet, and PyTorch for comparison.

    python benchmarks/bench_train.py                       # convnet only
    python benchmarks/bench_train.py --compare torch       # + PyTorch eager, same run

Training: batch 128, float32, random MNIST-shaped data, full step (forward, backward,
Adadelta). Inference: ``predict`` in batches of 1000. Rounds alternate convnet / PyTorch so slow
drift of a shared machine hits both; figures are medians over rounds, and ratios come from the
same run. Also printed: per-layer forward/backward milliseconds, numba compile time (first call
with a cold and with a warm cache, in fresh processes), and peak resident memory.
The last line is machine-readable.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import convnet as keras  # noqa: E402  (first: it tunes the thread pools before NumPy starts)
import numpy as np  # noqa: E402
from convnet.tutorial import tutorial_model  # noqa: E402  (bench_paths imports it from here)

TRAIN_BATCH, INFER_BATCH = 128, 1000


def data(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, (n, 28, 28, 1)).astype("float32")
    y = keras.utils.to_categorical(rng.integers(0, 10, n), 10)
    return x, y


# ----- convnet ----------------------------------------------------------------------------------
class ConvnetRunner:
    name = "convnet"

    def __init__(self):
        keras.utils.set_random_seed(0)
        self.model = tutorial_model()
        self.x, self.y = data(TRAIN_BATCH * 8)
        self.xi, _ = data(INFER_BATCH, seed=1)
        self.model.train_on_batch(self.x[:TRAIN_BATCH], self.y[:TRAIN_BATCH])  # warm up
        self.model.predict(self.xi, batch_size=INFER_BATCH)

    def train(self, steps: int) -> float:
        start = time.perf_counter()
        for i in range(steps):
            j = (i % 8) * TRAIN_BATCH
            self.model.train_on_batch(self.x[j:j + TRAIN_BATCH], self.y[j:j + TRAIN_BATCH])
        return steps * TRAIN_BATCH / (time.perf_counter() - start)

    def infer(self, batches: int) -> float:
        start = time.perf_counter()
        for _ in range(batches):
            self.model.predict(self.xi, batch_size=INFER_BATCH)
        return batches * INFER_BATCH / (time.perf_counter() - start)


def layer_profile(repeats: int = 10) -> list[tuple[str, float, float]]:
    """Median forward and backward milliseconds per layer for one training batch, the layers
    called as ``train_on_batch`` calls them: a Conv2D + MaxPooling2D pair whose backward runs as
    one call (``fuses_backward_of``) shows it on the Conv2D's line, and NaN on the pool's."""
    keras.utils.set_random_seed(0)
    model = tutorial_model()
    x, y = data(TRAIN_BATCH)
    model.train_on_batch(x, y)
    layers = model.layers
    fwd: dict[str, list] = {layer.name: [] for layer in layers}
    bwd: dict[str, list] = {layer.name: [] for layer in layers}
    for _ in range(repeats):
        out = x
        for layer in layers:
            t = time.perf_counter()
            out = layer.forward(out, training=True)
            fwd[layer.name].append(time.perf_counter() - t)
        grad = model.output_gradient(y, out)
        for covered, call in model.backward_steps():                        # as in training
            t = time.perf_counter()
            grad = call(grad)
            bwd[covered[0].name].append(time.perf_counter() - t)
            for fused in covered[1:]:
                bwd[fused.name].append(float("nan"))
    return [(name, 1000 * float(np.median(fwd[name])), 1000 * float(np.median(bwd[name])))
            for name in fwd]


def optimizer_ms(repeats: int = 10) -> float:
    keras.utils.set_random_seed(0)
    model = tutorial_model()
    x, y = data(TRAIN_BATCH)
    model.train_on_batch(x, y)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        model.optimizer.apply_gradients(model.trainable_triples())
        times.append(time.perf_counter() - t)
    return 1000 * float(np.median(times))


_FIRST_CALL = """
import time, numpy as np
t0 = time.perf_counter()
import sys; sys.path.insert(0, {root!r}); sys.path.insert(0, {bench!r})
from bench_train import tutorial_model, data
m = tutorial_model(); x, y = data(128)
t1 = time.perf_counter(); m.train_on_batch(x, y); m.predict(x[:8])
t2 = time.perf_counter(); m.train_on_batch(x, y); m.predict(x[:8])
t3 = time.perf_counter()
print(t2 - t1 - (t3 - t2))
"""


def compile_seconds(cache_dir: str) -> float:
    """First-call overhead (first train step + predict, minus a warm one) in a fresh process."""
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    code = _FIRST_CALL.format(root=str(ROOT), bench=str(Path(__file__).parent))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True)
    return float(out.stdout.strip().splitlines()[-1])


# ----- PyTorch ----------------------------------------------------------------------------------
class TorchRunner:
    name = "torch"

    def __init__(self, threads: int):
        import torch
        from torch import nn

        torch.manual_seed(0)
        torch.set_num_threads(threads)
        self.torch = torch
        self.model = nn.Sequential(
            nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
            nn.Dropout(0.25), nn.Flatten(), nn.Linear(9216, 128), nn.ReLU(), nn.Dropout(0.5),
            nn.Linear(128, 10))
        self.opt = torch.optim.Adadelta(self.model.parameters(), lr=1.0, rho=0.95, eps=1e-7)
        self.loss = nn.CrossEntropyLoss()
        x, y = data(TRAIN_BATCH * 8)
        self.x = torch.from_numpy(x.transpose(0, 3, 1, 2).copy())
        self.y = torch.from_numpy(y.argmax(1))
        self.xi = torch.from_numpy(data(INFER_BATCH, seed=1)[0].transpose(0, 3, 1, 2).copy())
        self.train(2)
        self.infer(1)

    def train(self, steps: int) -> float:
        self.model.train()
        start = time.perf_counter()
        for i in range(steps):
            j = (i % 8) * TRAIN_BATCH
            self.opt.zero_grad()
            out = self.model(self.x[j:j + TRAIN_BATCH])
            self.loss(out, self.y[j:j + TRAIN_BATCH]).backward()
            self.opt.step()
        return steps * TRAIN_BATCH / (time.perf_counter() - start)

    def infer(self, batches: int) -> float:
        self.model.eval()
        start = time.perf_counter()
        with self.torch.no_grad():
            for _ in range(batches):
                self.torch.softmax(self.model(self.xi), dim=1)
        return batches * INFER_BATCH / (time.perf_counter() - start)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--compare", choices=["torch"], default=None)
    p.add_argument("--rounds", type=int, default=5, help="alternating rounds (default 5)")
    p.add_argument("--steps", type=int, default=20, help="training steps per round")
    p.add_argument("--batches", type=int, default=3, help="inference batches per round")
    p.add_argument("--threads", type=int, default=2, help="PyTorch threads (default 2)")
    p.add_argument("--no-compile", action="store_true", help="skip the compile-time probes")
    args = p.parse_args(argv)

    compile_cold = compile_warm = float("nan")
    if not args.no_compile:
        with tempfile.TemporaryDirectory() as cold:
            compile_cold = compile_seconds(cold)
            compile_warm = compile_seconds(cold)

    runners = [ConvnetRunner()]
    if args.compare == "torch":
        try:
            runners.append(TorchRunner(args.threads))
        except ImportError:
            print("torch is not importable: comparison skipped (pip install torch==2.13.0)")
    train: dict[str, list] = {r.name: [] for r in runners}
    infer: dict[str, list] = {r.name: [] for r in runners}
    for _ in range(args.rounds):
        for r in runners:
            train[r.name].append(r.train(args.steps))
        for r in runners:
            infer[r.name].append(r.infer(args.batches))
    med = {k: (float(np.median(train[k])), float(np.median(infer[k]))) for k in train}

    print(f"machine: {os.cpu_count()} CPUs; numba threads "
          f"{os.environ.get('NUMBA_NUM_THREADS', 'default')}; rounds {args.rounds}")
    print("\nper layer, batch 128 (median ms):")
    print(f"  {'layer':<16}{'forward':>10}{'backward':>10}")
    total_f = total_b = 0.0
    for name, f, b in layer_profile():
        shown = f"{b:>10.2f}" if b == b else f"{'(above)':>10}"    # NaN: fused into the line above
        print(f"  {name:<16}{f:>10.2f}{shown}")
        total_f, total_b = total_f + f, total_b + (b if b == b else 0.0)
    opt = optimizer_ms()
    print(f"  {'Adadelta step':<16}{opt:>10.2f}")
    print(f"  {'total':<16}{total_f:>10.2f}{total_b:>10.2f}   (+ optimizer {opt:.2f})")
    print("\nthroughput (median over rounds, samples/s):")
    for name, (tr, inf) in med.items():
        print(f"  {name:<8} train {tr:8.0f}   ({60000 / tr:5.1f} s per 60k epoch)   "
              f"inference {inf:8.0f}")
    print(f"\nnumba first-call overhead: cold cache {compile_cold:.1f} s, "
          f"warm cache {compile_warm:.2f} s")
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of this process: {rss_mb:.0f} MB")
    line = []
    if "torch" in med:
        line += [f"train_ratio_vs_torch={med['convnet'][0] / med['torch'][0]:.2f}",
                 f"infer_ratio_vs_torch={med['convnet'][1] / med['torch'][1]:.2f}"]
    line += [f"train_sps={med['convnet'][0]:.0f}", f"infer_sps={med['convnet'][1]:.0f}",
             f"compile_cold_s={compile_cold:.1f}", f"compile_warm_s={compile_warm:.2f}",
             f"peak_rss_mb={rss_mb:.0f}"]
    print(" ".join(line))


if __name__ == "__main__":
    main()
