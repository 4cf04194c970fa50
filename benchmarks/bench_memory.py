"""Does ``predict`` keep its memory bounded? Peak RSS for 7,000 and for 70,000 images.

    python benchmarks/bench_memory.py

Each size runs in a fresh process: the MNIST images (train + test, float32, as the tutorial
prepares them) and the tutorial model are loaded and warmed up on a small batch first; then
``predict(x, batch_size=1000)`` runs on the first N images. Printed per size: the resident memory
before ``predict``, the peak during it, the growth, and the size of the output array. If memory
is bounded, the growth is the output array plus a constant that does not depend on N.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _status_mb(field: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"/proc/self/status has no {field}")


def reset_peak() -> None:
    """Linux: writing 5 to clear_refs resets the peak resident size (VmHWM) to the current."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def measure(n: int) -> dict:
    import numpy as np
    from bench_train import tutorial_model  # this folder is on sys.path when run as a script

    import convnet as keras
    from convnet.datasets import mnist

    (x_train, _), (x_test, _) = mnist.load_data()
    x = np.concatenate([x_train, x_test])[:n].reshape(-1, 28, 28, 1).astype("float32") / 255
    del x_train, x_test
    keras.utils.set_random_seed(0)
    model = tutorial_model()
    model.predict(x[:2000], batch_size=1000)                 # warm up: buffers and kernels
    reset_peak()                          # forget the peak of loading and converting the data
    before = _status_mb("VmRSS")
    out = model.predict(x, batch_size=1000)
    peak = _status_mb("VmHWM")
    return {"n": n, "rss_before_mb": before, "peak_mb": peak, "output_mb": out.nbytes / 2**20}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print(json.dumps(measure(args.child)))
        return
    print(f"{'images':>8}{'RSS before':>12}{'peak':>10}{'growth':>10}{'output':>10}   (MB)")
    for n in (7_000, 70_000):
        done = subprocess.run([sys.executable, __file__, "--child", str(n)], check=True,
                              capture_output=True, text=True)
        r = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"{r['n']:>8}{r['rss_before_mb']:>12.0f}{r['peak_mb']:>10.0f}"
              f"{r['peak_mb'] - r['rss_before_mb']:>10.1f}{r['output_mb']:>10.1f}")


if __name__ == "__main__":
    main()
