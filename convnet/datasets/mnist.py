"""MNIST handwritten digits, bundled with convnet so ``load_data()`` works offline.

The bundled ``data/mnist.npz`` (see ``data/README.md`` for provenance and licence) is checked
against the SHA-256 of each array's bytes before it is returned.
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from pathlib import Path

import numpy as np

BUNDLED = Path(__file__).parent / "data" / "mnist.npz"

# SHA-256 of each array's raw C-order bytes (hashlib.sha256(a.tobytes())), from data/README.md.
SHA256 = {
    "x_train": "741c988805d008ac6e4c904b69001ba184c24b2c540a4ef403f4c71b676cf757",
    "y_train": "1feba77c54802fa5339a11837ea4b2866434b83314ec45192930f1df69120c13",
    "x_test": "6d87418db22cc8025d05968bec9bd5c3932904b23485740db143a061a2c9d161",
    "y_test": "ddeff807876a9661a1110d45c266c86239a3a1b7d37da0c3716a7a683c852ff5",
}
SHAPES = {"x_train": (60000, 28, 28), "y_train": (60000,),
          "x_test": (10000, 28, 28), "y_test": (10000,)}


class DatasetError(ValueError):
    """A dataset file is missing, unreadable or not what it claims to be."""


def load_data(path: str | os.PathLike | None = None):
    """Load MNIST: ``(x_train, y_train), (x_test, y_test)``.

    ``x_*`` are uint8 images ``(n, 28, 28)`` (0 = background, 255 = ink), ``y_*`` uint8 labels
    0-9; 60,000 training and 10,000 test samples. With ``path=None`` the bundled copy is used and
    its content hashes are verified; ``path`` may name your own ``mnist.npz`` with the same four
    arrays (checked for names, dtypes and matching lengths). Keras's own default,
    ``path="mnist.npz"``, means the bundled copy unless such a file is in the working folder.
    """
    # Keras's default ``path="mnist.npz"`` names its download cache's file, not one in the
    # working directory: where no such file is here, it means the bundled copy
    if path is not None and os.fspath(path) == "mnist.npz" and not Path(path).is_file():
        path = None
    bundled = path is None
    file = BUNDLED if path is None else Path(path)
    arrays = _read_npz(file)
    if bundled:
        for key, digest in SHA256.items():
            if arrays[key].shape != SHAPES[key] or \
                    hashlib.sha256(arrays[key].tobytes()).hexdigest() != digest:
                raise DatasetError(f"{file}: array {key!r} does not match the verified MNIST "
                                   "(hash mismatch); the bundled file is damaged -- reinstall "
                                   "convnet")
    return (arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])


def _read_npz(file: Path) -> dict[str, np.ndarray]:
    if not file.is_file():
        raise DatasetError(f"MNIST file not found: {file}")
    try:
        with np.load(file, allow_pickle=False) as data:
            missing = [k for k in SHAPES if k not in data.files]
            if missing:
                raise DatasetError(f"{file}: not an MNIST .npz; missing arrays {missing} "
                                   f"(found {sorted(data.files)})")
            arrays = {k: data[k] for k in SHAPES}
    except DatasetError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise DatasetError(f"{file}: cannot read it as an MNIST .npz ({exc})") from None
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.dtype != np.uint8 or y.dtype != np.uint8:
            raise DatasetError(f"{file}: x_{split}/y_{split} must be uint8, got "
                               f"{x.dtype}/{y.dtype}")
        if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
            raise DatasetError(f"{file}: expected x_{split} (n, 28, 28) and y_{split} (n,), got "
                               f"{x.shape} and {y.shape}")
    return arrays
