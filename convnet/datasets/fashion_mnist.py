"""Fashion-MNIST (Zalando, MIT licence): 28x28 grey images of 10 kinds of clothing, in MNIST's
layout, so the tutorial runs on it unchanged.

``load_data(path=None)`` looks for the four IDX files (``.gz`` or raw) in this order:

1. ``path``, if given;
2. the Debian/Ubuntu package ``dataset-fashion-mnist`` (``/usr/share/datasets/fashion-mnist``);
3. convnet's download cache (``~/.cache/convnet/fashion-mnist``), filled from the standard mirror
   when the network allows, each file checked against the MD5 published by Zalando.

Otherwise it raises an error saying how to provide the files. The arrays are checked against the
SHA-256 of their decoded contents, so a damaged copy is never used silently.
"""

from __future__ import annotations

import hashlib
import os
import urllib.request
from pathlib import Path

import numpy as np

from convnet.datasets.idx import IDXError, read_idx
from convnet.datasets.mnist import DatasetError

FILES = {"x_train": "train-images-idx3-ubyte", "y_train": "train-labels-idx1-ubyte",
         "x_test": "t10k-images-idx3-ubyte", "y_test": "t10k-labels-idx1-ubyte"}
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
CACHE_DIR = Path.home() / ".cache" / "convnet" / "fashion-mnist"
MIRROR = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
# MD5 of the .gz files as published in Zalando's README (the files the mirror serves)
MIRROR_MD5 = {"train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
              "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
              "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
              "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310"}
# SHA-256 of each decoded array's bytes (measured on the Debian package's files)
SHA256 = {
    "x_train": "2e487a6c89124f78f2d7521542223cafe96f7123c3ca13d447772ac6ecbb3012",
    "y_train": "657fbd221bfc9f4198cc14b5619cc33ec57c58dd0e47af4d99d6650759e869a7",
    "x_test": "c867c93ff95360594e8ec3287995350b824dd110b11595c0e13d5423f621867a",
    "y_test": "3d0e6c6ea990b53b6f8f500a41cac93881d981b315f84578b7d915342ade01e9",
}
LABELS = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
          "Bag", "Ankle boot"]
HOW_TO = ("Fashion-MNIST was not found. Provide the four files train-images-idx3-ubyte.gz, "
          "train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz "
          "(or unpacked, without .gz) in one of these ways: install the Debian/Ubuntu package "
          "(sudo apt-get install dataset-fashion-mnist); or download them from "
          "https://github.com/zalandoresearch/fashion-mnist and pass load_data(path=FOLDER); "
          "or put them in {cache}.")


def _find(folder: Path, stem: str) -> Path | None:
    for name in (stem + ".gz", stem):
        if (folder / name).is_file():
            return folder / name
    return None


def _folder_with_files(folder: Path) -> bool:
    return all(_find(folder, stem) for stem in FILES.values())


def _download(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for stem in FILES.values():
        name = stem + ".gz"
        target = folder / name
        if target.is_file():
            continue
        with urllib.request.urlopen(MIRROR + name, timeout=30) as response:  # noqa: S310
            data = response.read()
        if hashlib.md5(data).hexdigest() != MIRROR_MD5[name]:  # noqa: S324 (published MD5)
            raise DatasetError(f"download of {name} from {MIRROR} does not match its published "
                               "MD5; not used")
        tmp = target.with_suffix(".part")
        tmp.write_bytes(data)
        os.replace(tmp, target)


def load_data(path: str | os.PathLike | None = None):
    """Load Fashion-MNIST: ``(x_train, y_train), (x_test, y_test)``, uint8, 60,000 + 10,000
    images of 28x28 and labels 0-9 (names in ``LABELS``)."""
    if path is not None:
        folder = Path(path)
        if not _folder_with_files(folder):
            missing = [s for s in FILES.values() if not _find(folder, s)]
            raise DatasetError(f"{folder}: missing Fashion-MNIST files {missing} (.gz or raw)")
    elif _folder_with_files(DEBIAN_DIR):
        folder = DEBIAN_DIR
    elif _folder_with_files(CACHE_DIR):
        folder = CACHE_DIR
    else:
        try:
            _download(CACHE_DIR)
        except (OSError, ValueError) as exc:
            raise DatasetError(HOW_TO.format(cache=CACHE_DIR) +
                               f" (download failed: {exc})") from None
        folder = CACHE_DIR
    arrays = {}
    for key, stem in FILES.items():
        file = _find(folder, stem)
        assert file is not None  # the folder was checked (or filled by _download) above
        try:
            arrays[key] = read_idx(file)
        except IDXError as exc:
            raise DatasetError(str(exc)) from None
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.dtype != np.uint8 or x.ndim != 3 or x.shape[1:] != (28, 28) or y.ndim != 1 \
                or len(x) != len(y):
            raise DatasetError(f"{folder}: x_{split}/y_{split} have shapes {x.shape}/{y.shape}; "
                               "expected (n, 28, 28) uint8 images and (n,) labels")
    if path is None:
        for key, digest in SHA256.items():
            if hashlib.sha256(arrays[key].tobytes()).hexdigest() != digest:
                raise DatasetError(f"{folder}: {key} does not match the published Fashion-MNIST "
                                   "(hash mismatch); the copy is damaged")
    return (arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])
