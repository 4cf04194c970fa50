"""PyTorch on the tutorial model in a process of its own, without convnet imported.

    python benchmarks/torch_alone.py            # PyTorch alone
    python benchmarks/torch_alone.py --convnet  # the same after `import convnet`

`bench_train.py --compare torch` measures PyTorch in convnet's process, where convnet's thread
and allocator settings (see convnet/__init__.py and convnet/allocator.py) apply to PyTorch too.
This script shows how much that changes PyTorch's figures. Random MNIST-shaped data, batch 128
for training (Adadelta, lr 1.0), 1000 for inference, 2 threads; medians of five rounds.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--convnet", action="store_true", help="import convnet first")
    p.add_argument("--json", action="store_true", help="print one JSON line instead")
    args = p.parse_args()
    if args.convnet:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
        import convnet  # noqa: F401
    import numpy as np
    import torch
    from torch import nn

    torch.manual_seed(0)
    torch.set_num_threads(2)
    model = nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Dropout(0.25), nn.Flatten(), nn.Linear(9216, 128), nn.ReLU(), nn.Dropout(0.5),
        nn.Linear(128, 10))
    opt = torch.optim.Adadelta(model.parameters(), lr=1.0, rho=0.95, eps=1e-7)
    loss_fn = nn.CrossEntropyLoss()
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.random((1024, 1, 28, 28), dtype=np.float32))
    y = torch.from_numpy(rng.integers(0, 10, 1024))
    xi = torch.from_numpy(rng.random((1000, 1, 28, 28), dtype=np.float32))

    def train(steps: int = 40) -> float:
        model.train()
        start = time.perf_counter()
        for i in range(steps):
            j = (i % 8) * 128
            opt.zero_grad()
            loss_fn(model(x[j:j + 128]), y[j:j + 128]).backward()
            opt.step()
        return steps * 128 / (time.perf_counter() - start)

    def infer(batches: int = 5) -> float:
        model.eval()
        start = time.perf_counter()
        with torch.no_grad():
            for _ in range(batches):
                torch.softmax(model(xi), dim=1)
        return batches * 1000 / (time.perf_counter() - start)

    train(4)
    infer(1)
    tr = statistics.median(train() for _ in range(5))
    inf = statistics.median(infer() for _ in range(5))
    if args.json:
        print(json.dumps({"train": tr, "infer": inf}))
        return
    print(f"torch {torch.__version__} {'after import convnet' if args.convnet else 'alone'}: "
          f"train {tr:.0f} samples/s, inference {inf:.0f} samples/s")


if __name__ == "__main__":
    main()
