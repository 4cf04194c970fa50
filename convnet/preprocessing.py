"""Prepare any picture of a digit the way MNIST digits were prepared, so a model trained on MNIST
can read it.

MNIST's recipe (LeCun et al.): white ink on black, the digit scaled to fit a 20x20 box keeping its
aspect ratio (with anti-aliasing), then placed in a 28x28 field so that its centre of mass is at
the centre. :func:`prepare_digit` does the same to a photo or drawing of any size and colour:

1. grayscale (transparent pixels count as white paper);
2. dark ink on light paper is inverted automatically (decided from the border pixels);
3. cropped to the ink;
4. scaled to fit 20x20, keeping the aspect ratio (area averaging = anti-aliasing);
5. centred by centre of mass in 28x28; values scaled to [0, 1].
"""

from __future__ import annotations

import os

import numpy as np


class ImageError(ValueError):
    """An image could not be read or holds no digit."""


def load_image(path: str | os.PathLike) -> np.ndarray:
    """Read a PNG/JPEG as floats in [0, 1], shape (H, W) or (H, W, 3|4) (matplotlib's reader)."""
    import matplotlib.image as mpimg

    try:
        img = mpimg.imread(os.fspath(path))
    except FileNotFoundError:
        raise ImageError(f"image not found: {path}") from None
    except Exception as exc:  # noqa: BLE001 -- Pillow raises many kinds for bad files
        raise ImageError(f"{path}: not a readable image ({type(exc).__name__}: {exc})") from None
    img = np.asarray(img, dtype=np.float64)
    if img.max() > 1.0:          # 8-bit JPEGs come as 0-255
        img = img / 255.0
    return img


def to_gray(img: np.ndarray) -> np.ndarray:
    """(H, W), (H, W, 3) or (H, W, 4) -> (H, W); alpha composites over white paper."""
    img = np.asarray(img, dtype=np.float64)
    if img.ndim == 2:
        return img
    if img.ndim != 3 or img.shape[2] not in (1, 3, 4):
        raise ImageError(f"expected a grayscale or RGB(A) image, got shape {img.shape}")
    if img.shape[2] == 1:
        return img[:, :, 0]
    gray = img[:, :, :3] @ np.array([0.299, 0.587, 0.114])
    if img.shape[2] == 4:
        alpha = img[:, :, 3]
        gray = gray * alpha + (1.0 - alpha)
    return gray


def resize_area(img: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize by area averaging: each output pixel is the mean of the input area it covers."""
    def weights(n_in: int, n_out: int) -> np.ndarray:
        edges = np.linspace(0, n_in, n_out + 1)
        w = np.zeros((n_out, n_in))
        for i in range(n_out):
            lo, hi = edges[i], edges[i + 1]
            for j in range(int(np.floor(lo)), min(int(np.ceil(hi)), n_in)):
                w[i, j] = min(hi, j + 1) - max(lo, j)
        return w / w.sum(axis=1, keepdims=True)

    return weights(img.shape[0], height) @ img @ weights(img.shape[1], width).T


def prepare_digit(img: np.ndarray, box: int = 20, size: int = 28) -> np.ndarray:
    """Return a (28, 28) float32 image in MNIST's style from any digit picture."""
    gray = to_gray(img)
    if gray.size == 0:
        raise ImageError("the image is empty")
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    if np.median(border) > 0.5:             # light paper, dark ink -> white ink on black
        gray = 1.0 - gray
    gray = gray - np.median(border if np.median(border) <= 0.5 else 1.0 - border)
    gray = np.clip(gray, 0, None)
    if gray.max() <= 0.05:
        raise ImageError("no digit found: the image has no ink (it is blank or uniform)")
    gray = gray / gray.max()
    rows = np.flatnonzero((gray > 0.1).any(axis=1))
    cols = np.flatnonzero((gray > 0.1).any(axis=0))
    crop = gray[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    h, w = crop.shape
    scale = box / max(h, w)
    new_h, new_w = max(1, round(h * scale)), max(1, round(w * scale))
    small = resize_area(crop, new_h, new_w)
    canvas = np.zeros((size, size))
    top, left = (size - new_h) // 2, (size - new_w) // 2
    canvas[top:top + new_h, left:left + new_w] = small
    # shift so the centre of mass lands on the centre of the field
    total = canvas.sum()
    cy = (canvas.sum(axis=1) * np.arange(size)).sum() / total
    cx = (canvas.sum(axis=0) * np.arange(size)).sum() / total
    dy = int(np.clip(round((size - 1) / 2 - cy), -top, size - top - new_h))
    dx = int(np.clip(round((size - 1) / 2 - cx), -left, size - left - new_w))
    canvas = np.roll(np.roll(canvas, dy, axis=0), dx, axis=1)
    return (canvas / canvas.max()).astype(np.float32)


# ``keras.preprocessing.image`` (ImageDataGenerator, load_img, ...): convnet.image_data, also
# importable as ``convnet.preprocessing.image``
import sys as _sys  # noqa: E402

from convnet import image_data as image  # noqa: E402
from convnet.image_data import image_dataset_from_directory  # noqa: E402, F401

_sys.modules[f"{__name__}.image"] = image


def __getattr__(name: str):
    # keras.preprocessing.text / .sequence (tokenizers, padding) are refused with their reason
    from convnet import not_supported
    raise not_supported.missing(__name__, name)
