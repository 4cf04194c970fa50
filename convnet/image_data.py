"""Pictures as training data, the 2018 Keras way: ``ImageDataGenerator`` (random rotations,
shifts, shears, zooms, flips; rescaling and normalisation) with ``flow`` over arrays and
``flow_from_directory`` over a folder of class subfolders, plus ``load_img``/``img_to_array``/
``array_to_img`` and Keras 3's ``image_dataset_from_directory``.

Also importable as ``convnet.preprocessing.image`` (``keras.preprocessing.image``)::

    from convnet.preprocessing.image import ImageDataGenerator
    datagen = ImageDataGenerator(rotation_range=10, width_shift_range=0.1, zoom_range=0.1)
    model.fit(datagen.flow(x_train, y_train, batch_size=32, seed=1), epochs=3)

Geometry is tf-keras's ``apply_affine_transform`` (rotation, then shift, shear, zoom, as one
affine map about the image centre; bilinear sampling; ``fill_mode`` and ``cval`` for pixels
from outside), computed by the augmentation layers' sampler (:mod:`convnet.layers.image_warp`,
its numba twin on the fast engine), for a whole batch at once. One difference: the centre is
the true centre ``((h-1)/2, (w-1)/2)``; tf-keras uses ``(h/2 + 0.5, w/2 + 0.5)``, half a pixel
off, so its 90-degree rotations of a square are not exact. ``tx`` (rows) and ``ty`` (columns)
are where an output pixel reads from: a positive ``ty`` moves the picture left, and a positive
``theta`` (degrees) turns it clockwise on screen, as in tf-keras.

Randomness: an iterator made with ``seed=`` draws batch ``i`` of epoch ``e`` from its own
generator seeded with ``(seed, e, i)`` (the same batches in any order ``fit`` asks for them);
without a seed, draws come from convnet's generator (:func:`convnet.utils.set_random_seed`).
Pictures are read with Pillow (which matplotlib, a convnet dependency, installs).
"""

from __future__ import annotations

import os
import tempfile
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from convnet import backend, utils
from convnet.data_adapters import PyDataset
from convnet.layers import image_warp

__all__ = ["DirectoryIterator", "ImageDataGenerator", "ImageDataset", "Iterator",
           "NumpyArrayIterator", "array_to_img", "image_dataset_from_directory", "img_to_array",
           "load_img", "save_img"]

WHITE_LIST_FORMATS = ("png", "jpg", "jpeg", "bmp", "ppm", "tif", "tiff", "gif")
COLOR_MODES = {"grayscale": ("L", 1), "rgb": ("RGB", 3), "rgba": ("RGBA", 4)}
CLASS_MODES = ("categorical", "binary", "sparse", "input", None)


# ----- single pictures ---------------------------------------------------------------------
def _resample(interpolation: str):
    from PIL import Image

    methods = ("nearest", "bilinear", "bicubic", "hamming", "box", "lanczos")
    if interpolation not in methods:
        raise ValueError(f"interpolation must be one of {list(methods)}, got {interpolation!r}")
    resampling = getattr(Image, "Resampling", Image)     # Pillow >= 9.1 has the enum
    return getattr(resampling, interpolation.upper())


def _pair(value, what: str) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in value)
        ok = h > 0 and w > 0 and all(not isinstance(v, bool) for v in value)
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"{what} must be a pair (height, width) of positive integers, "
                         f"got {value!r}")
    return h, w


def load_img(path, grayscale: bool = False, color_mode: str = "rgb", target_size=None,
             interpolation: str = "nearest", keep_aspect_ratio: bool = False):
    """Read a picture file as a PIL image (``keras.utils.load_img``): converted to
    ``color_mode`` (``'grayscale'``, ``'rgb'`` or ``'rgba'``; ``grayscale=True`` is the old
    spelling) and resized to ``target_size=(height, width)`` when given (``keep_aspect_ratio``
    first crops the centre to that aspect ratio)."""
    from PIL import Image

    if grayscale:
        color_mode = "grayscale"
    if color_mode not in COLOR_MODES:
        raise ValueError(f"load_img: color_mode must be one of {sorted(COLOR_MODES)}, got "
                         f"{color_mode!r}")
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"load_img: no such image file: {path}")
    try:
        with Image.open(path) as opened:
            img = opened.convert(COLOR_MODES[color_mode][0])
    except Exception as exc:  # noqa: BLE001 -- Pillow raises many kinds for bad files
        from convnet.preprocessing import ImageError
        raise ImageError(f"load_img: {path} is not a readable image "
                         f"({type(exc).__name__}: {exc})") from None
    if target_size is not None:
        height, width = _pair(target_size, "load_img: target_size")
        if keep_aspect_ratio:
            w0, h0 = img.size
            crop_w = min(w0, round(h0 * width / height))
            crop_h = min(h0, round(w0 * height / width))
            left, top = (w0 - crop_w) // 2, (h0 - crop_h) // 2
            img = img.crop((left, top, left + crop_w, top + crop_h))
        if img.size != (width, height):
            img = img.resize((width, height), _resample(interpolation))
    return img


def img_to_array(img, data_format: str | None = None, dtype: str | None = None) -> np.ndarray:
    """A PIL image as an array ``(height, width, channels)`` of 0..255 values (channels-first
    for ``data_format='channels_first'``), in ``dtype`` (default ``floatx``)."""
    data_format = backend.normalize_data_format(data_format)
    x = np.asarray(img, dtype=dtype or backend.floatx())
    if x.ndim == 2:
        x = x[:, :, None]
    if x.ndim != 3:
        raise ValueError(f"img_to_array: unsupported image shape {x.shape}")
    return x.transpose(2, 0, 1) if data_format == "channels_first" else x


def array_to_img(x, data_format: str | None = None, scale: bool = True, dtype=None):
    """An array ``(height, width, channels)`` (1, 3 or 4 channels) as a PIL image; ``scale``
    maps its range to 0..255 (minimum to 0, maximum to 255), else it must already be 0..255."""
    from PIL import Image

    data_format = backend.normalize_data_format(data_format)
    x = np.asarray(x, dtype=dtype or backend.floatx())
    if x.ndim != 3:
        raise ValueError(f"array_to_img: expected one image of rank 3, got shape {x.shape}")
    if data_format == "channels_first":
        x = x.transpose(1, 2, 0)
    if x.shape[2] not in (1, 3, 4):
        raise ValueError(f"array_to_img: expected 1, 3 or 4 channels, got shape {x.shape}")
    if scale:
        x = x - np.min(x)
        top = np.max(x)
        if top != 0:
            x = x / top
        x = x * 255
    pixels = np.clip(np.round(x), 0, 255).astype(np.uint8)
    mode = {1: "L", 3: "RGB", 4: "RGBA"}[x.shape[2]]
    return Image.fromarray(pixels[:, :, 0] if mode == "L" else pixels, mode)


def save_img(path, x, data_format: str | None = None, file_format: str | None = None,
             scale: bool = True, **kwargs) -> None:
    """Write an image array to ``path`` (completely or not at all: a temporary file renamed)."""
    img = array_to_img(x, data_format=data_format, scale=scale)
    path = os.fspath(path)
    fmt = file_format or os.path.splitext(path)[1].lstrip(".").lower() or "png"
    fmt = {"jpg": "jpeg", "tif": "tiff"}.get(fmt, fmt)
    if fmt == "jpeg" and img.mode == "RGBA":
        img = img.convert("RGB")
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            img.save(f, format=fmt, **kwargs)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


# ----- the generator -----------------------------------------------------------------------
def _shift(spec, size: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """tf-keras's shift draw: a float ``f`` is uniform in ``[-f, f)``, an int ``k`` an integer
    in ``(-k, k)``, a list a choice of its values times a random sign; fractions (all < 1) are
    of the image size, the rest pixels."""
    if spec is None or (np.isscalar(spec) and not spec):
        return np.zeros(n)
    if isinstance(spec, (list, tuple, np.ndarray)):
        values = rng.choice(np.asarray(spec, dtype=np.float64), size=n) * rng.choice([-1, 1], n)
    elif isinstance(spec, (int, np.integer)):
        values = rng.choice(int(spec), size=n) * rng.choice([-1, 1], n).astype(np.float64)
    else:
        values = rng.uniform(-spec, spec, size=n)
    return values * size if np.max(spec) < 1 else values


class ImageDataGenerator:
    """Random augmentation and normalisation of image batches (``keras.preprocessing.image.
    ImageDataGenerator``). Arguments as Keras's:

    - ``rotation_range`` (degrees), ``width_shift_range``/``height_shift_range`` (a fraction of
      the size when < 1, else pixels; an int ``k`` draws integers in ``(-k, k)``, a list one of
      its values with a random sign), ``shear_range`` (degrees), ``zoom_range`` (``z`` means
      ``[1 - z, 1 + z]``; above 1 zooms out), ``channel_shift_range``, ``brightness_range``
      (a factor pair), ``horizontal_flip``, ``vertical_flip``; ``fill_mode`` (``'nearest'``,
      ``'constant'``, ``'reflect'``, ``'wrap'``) and ``cval`` for the pixels from outside;
    - then, in this order: ``preprocessing_function`` (one image in, one out), ``rescale``,
      ``samplewise_center``/``samplewise_std_normalization`` (each image), and
      ``featurewise_center``/``featurewise_std_normalization``/``zca_whitening`` (statistics
      of the training set, from :meth:`fit`);
    - ``validation_split``: ``flow(..., subset='validation')`` takes the first fraction,
      ``subset='training'`` the rest.
    """

    def __init__(self, featurewise_center: bool = False, samplewise_center: bool = False,
                 featurewise_std_normalization: bool = False,
                 samplewise_std_normalization: bool = False, zca_whitening: bool = False,
                 zca_epsilon: float = 1e-6, rotation_range: float = 0, width_shift_range=0.0,
                 height_shift_range=0.0, brightness_range=None, shear_range: float = 0.0,
                 zoom_range=0.0, channel_shift_range: float = 0.0, fill_mode: str = "nearest",
                 cval: float = 0.0, horizontal_flip: bool = False, vertical_flip: bool = False,
                 rescale: float | None = None,
                 preprocessing_function: Callable[[np.ndarray], np.ndarray] | None = None,
                 data_format: str | None = None, validation_split: float = 0.0,
                 interpolation_order: int = 1, dtype: str | None = None):
        self.featurewise_center = featurewise_center or zca_whitening
        self.samplewise_center = samplewise_center
        self.featurewise_std_normalization = featurewise_std_normalization
        self.samplewise_std_normalization = samplewise_std_normalization
        self.zca_whitening, self.zca_epsilon = zca_whitening, zca_epsilon
        self.rotation_range = float(rotation_range)
        self.width_shift_range, self.height_shift_range = width_shift_range, height_shift_range
        self.shear_range = float(shear_range)
        self.channel_shift_range = float(channel_shift_range)
        self.horizontal_flip, self.vertical_flip = bool(horizontal_flip), bool(vertical_flip)
        self.rescale = rescale
        self.preprocessing_function = preprocessing_function
        self.data_format = backend.normalize_data_format(data_format)
        self.dtype = dtype or backend.floatx()
        self.mean: np.ndarray | None = None
        self.std: np.ndarray | None = None
        self.principal_components: np.ndarray | None = None
        if fill_mode not in image_warp.FILL_MODES:
            raise ValueError(f"ImageDataGenerator: fill_mode must be one of "
                             f"{image_warp.FILL_MODES}, got {fill_mode!r}")
        self.fill_mode, self.cval = fill_mode, float(cval)
        if interpolation_order not in (0, 1):
            raise ValueError("ImageDataGenerator: interpolation_order must be 0 (nearest) or 1 "
                             f"(bilinear), got {interpolation_order!r}")
        self.interpolation = "nearest" if interpolation_order == 0 else "bilinear"
        if isinstance(zoom_range, (int, float, np.number)) and not isinstance(zoom_range, bool):
            self.zoom_range = (1 - float(zoom_range), 1 + float(zoom_range))
        elif isinstance(zoom_range, (list, tuple)) and len(zoom_range) == 2:
            self.zoom_range = (float(zoom_range[0]), float(zoom_range[1]))
        else:
            raise ValueError("ImageDataGenerator: zoom_range must be a number or a pair "
                             f"[lower, upper], got {zoom_range!r}")
        if brightness_range is not None and not (
                isinstance(brightness_range, (list, tuple, np.ndarray))
                and len(brightness_range) == 2):
            raise ValueError("ImageDataGenerator: brightness_range must be a pair "
                             f"[lower, upper], got {brightness_range!r}")
        self.brightness_range = brightness_range
        for name in ("width_shift_range", "height_shift_range"):
            spec = getattr(self, name)
            try:
                ok = not isinstance(spec, (str, bool)) and bool(np.all(np.asarray(spec) >= 0)
                                                               or isinstance(spec, list))
            except TypeError:
                ok = False
            if not ok:
                raise ValueError(f"ImageDataGenerator: {name} must be a non-negative number or "
                                 f"a list of numbers, got {spec!r}")
        if not (isinstance(validation_split, (int, float)) and 0 <= validation_split < 1):
            raise ValueError("ImageDataGenerator: validation_split must be in [0, 1), got "
                             f"{validation_split!r}")
        self.validation_split = float(validation_split)
        if rescale is not None and not isinstance(rescale, (int, float, np.number)):
            raise ValueError(f"ImageDataGenerator: rescale must be a number, got {rescale!r}")
        self.channel_axis = 3 if self.data_format == "channels_last" else 1

    # ----- random transforms ---------------------------------------------------------------
    @property
    def _moves(self) -> bool:
        return bool(self.rotation_range or np.any(self.width_shift_range)
                    or np.any(self.height_shift_range) or self.shear_range
                    or self.zoom_range != (1.0, 1.0))

    def draw_transforms(self, n: int, height: int, width: int,
                        rng: np.random.Generator) -> dict[str, Any]:
        """Random parameters for ``n`` images, one array each (``theta``, ``tx``, ``ty``,
        ``shear``, ``zx``, ``zy``, ``flip_horizontal``, ``flip_vertical``, and
        ``channel_shift_intensity``/``brightness`` or None)."""
        zeros = np.zeros(n)
        theta = (rng.uniform(-self.rotation_range, self.rotation_range, n)
                 if self.rotation_range else zeros)
        tx = _shift(self.height_shift_range, height, n, rng)
        ty = _shift(self.width_shift_range, width, n, rng)
        shear = rng.uniform(-self.shear_range, self.shear_range, n) if self.shear_range else zeros
        if self.zoom_range == (1.0, 1.0):
            zx = zy = np.ones(n)
        else:
            zx, zy = rng.uniform(*self.zoom_range, size=(2, n))
        flip_h = (rng.random(n) < 0.5) & self.horizontal_flip
        flip_v = (rng.random(n) < 0.5) & self.vertical_flip
        shift = (rng.uniform(-self.channel_shift_range, self.channel_shift_range, n)
                 if self.channel_shift_range else None)
        bright = (rng.uniform(float(self.brightness_range[0]), float(self.brightness_range[1]), n)
                  if self.brightness_range is not None else None)
        return {"theta": theta, "tx": tx, "ty": ty, "shear": shear, "zx": zx, "zy": zy,
                "flip_horizontal": flip_h, "flip_vertical": flip_v,
                "channel_shift_intensity": shift, "brightness": bright}

    def get_random_transform(self, img_shape: tuple, seed: int | None = None) -> dict:
        """Random parameters for one image of shape ``img_shape`` (Keras's method)."""
        h, w = self.spatial_size(img_shape)
        rng = np.random.default_rng(seed) if seed is not None else utils.rng()
        drawn = self.draw_transforms(1, h, w, rng)
        return {k: None if v is None else v[0].item() for k, v in drawn.items()}

    def spatial_size(self, shape) -> tuple[int, int]:
        """(height, width) of one image of ``shape`` in this generator's data format."""
        shape = tuple(shape)
        return shape[:2] if self.data_format == "channels_last" else shape[1:3]

    @staticmethod
    def affine_maps(params: dict, height: int, width: int) -> np.ndarray:
        """``(n, 6)`` maps for :func:`convnet.layers.image_warp.warp` from tf-keras's matrices
        (rows first): ``rotation @ shift @ shear @ zoom``, about the image centre."""
        def column(key, default):
            v = params.get(key)
            return np.atleast_1d(np.asarray(default if v is None else v, dtype=np.float64))

        theta = np.deg2rad(column("theta", 0.0))
        tx, ty = column("tx", 0.0), column("ty", 0.0)
        shear = np.deg2rad(column("shear", 0.0))
        zx, zy = column("zx", 1.0), column("zy", 1.0)
        n = max(len(a) for a in (theta, tx, ty, shear, zx, zy))
        one, zero = np.ones(n), np.zeros(n)

        def matrices(rows):
            return np.stack([np.stack([np.broadcast_to(v, (n,)) for v in row], -1)
                             for row in rows], -2)

        c, s = np.cos(theta), np.sin(theta)
        m = (matrices([[c, -s, zero], [s, c, zero], [zero, zero, one]])
             @ matrices([[one, zero, tx], [zero, one, ty], [zero, zero, one]])
             @ matrices([[one, -np.sin(shear), zero], [zero, np.cos(shear), zero],
                         [zero, zero, one]])
             @ matrices([[zx, zero, zero], [zero, zy, zero], [zero, zero, one]]))
        centre = np.array([(height - 1) / 2, (width - 1) / 2])
        offset = centre - m[:, :2, :2] @ centre + m[:, :2, 2]
        # rows (r) and columns (c): in_row = m00 r + m01 c + o0, in_col = m10 r + m11 c + o1
        return np.stack([m[:, 1, 1], m[:, 1, 0], offset[:, 1],
                         m[:, 0, 1], m[:, 0, 0], offset[:, 0]], axis=1)

    def apply_transforms(self, x: np.ndarray, params: dict) -> np.ndarray:
        """Apply drawn parameters (arrays, one value per image) to a batch ``x``."""
        x = np.asarray(x, dtype=self.dtype)
        last = self.data_format == "channels_last"
        y = x if last else x.transpose(0, 2, 3, 1)
        n, h, w = y.shape[:3]
        geometric = any(params.get(k) is not None and np.any(np.asarray(params[k]) != d)
                        for k, d in (("theta", 0), ("tx", 0), ("ty", 0), ("shear", 0),
                                     ("zx", 1), ("zy", 1)))
        if geometric:
            maps = np.broadcast_to(self.affine_maps(params, h, w), (n, 6))
            kernels: Any = image_warp
            if backend.get_engine() != "numpy":
                from convnet.kernels import warp_jit
                kernels = warp_jit
            y = kernels.warp(np.ascontiguousarray(y), np.ascontiguousarray(maps),
                             self.interpolation, self.fill_mode, self.cval)
        else:
            y = y.copy()
        intensity = params.get("channel_shift_intensity")
        if intensity is not None:
            k = np.broadcast_to(np.asarray(intensity, dtype=y.dtype), (n,))[:, None, None, None]
            low = y.min(axis=(1, 2, 3), keepdims=True)
            high = y.max(axis=(1, 2, 3), keepdims=True)
            y = np.clip(y + k, low, high)
        for key, axis in (("flip_horizontal", 2), ("flip_vertical", 1)):
            value = params.get(key)
            flags = np.broadcast_to(np.asarray(False if value is None else value, bool), (n,))
            if flags.any():
                y[flags] = np.flip(y[flags], axis=axis)
        brightness = params.get("brightness")
        if brightness is not None:   # Pillow's Brightness: a blend with black, kept in 0..255
            b = np.broadcast_to(np.asarray(brightness, dtype=y.dtype), (n,))[:, None, None, None]
            y = np.clip(y * b, 0, 255)
        y = y.astype(self.dtype, copy=False)
        return y if last else y.transpose(0, 3, 1, 2)

    def apply_transform(self, x: np.ndarray, transform_parameters: dict) -> np.ndarray:
        """One image ``x`` transformed by ``transform_parameters`` (Keras's method; keys as
        :meth:`draw_transforms`, each a number; missing keys leave the image alone)."""
        x = self._check_image(x, "apply_transform")
        params = {k: None if v is None else np.asarray([v]) for k, v in
                  transform_parameters.items()}
        return self.apply_transforms(x[None], params)[0]

    def random_transform(self, x: np.ndarray, seed: int | None = None) -> np.ndarray:
        """One image randomly transformed (Keras's method)."""
        x = self._check_image(x, "random_transform")
        return self.apply_transform(x, self.get_random_transform(x.shape, seed))

    def _check_image(self, x, what: str) -> np.ndarray:
        x = np.asarray(x, dtype=self.dtype)
        if x.ndim != 3:
            raise ValueError(f"ImageDataGenerator.{what}: expected one image of rank 3 "
                             f"(height, width, channels), got shape {x.shape}")
        return x

    # ----- normalisation -------------------------------------------------------------------
    def standardize_batch(self, x: np.ndarray) -> np.ndarray:
        """``preprocessing_function``, ``rescale`` and the normalisations, per image of ``x``."""
        x = np.array(x, dtype=self.dtype)
        if self.preprocessing_function is not None:
            x = np.stack([np.asarray(self.preprocessing_function(img), dtype=self.dtype)
                          for img in x]) if len(x) else x
        if self.rescale:
            x *= self.rescale
        axes = (1, 2, 3)
        if self.samplewise_center:
            x -= x.mean(axis=axes, keepdims=True)
        if self.samplewise_std_normalization:
            x /= x.std(axis=axes, keepdims=True) + 1e-6
        for flag, value, name in (("featurewise_center", self.mean, "featurewise_center"),
                                  ("featurewise_std_normalization", self.std,
                                   "featurewise_std_normalization"),
                                  ("zca_whitening", self.principal_components,
                                   "zca_whitening")):
            if getattr(self, flag) and value is None:
                warnings.warn(f"This ImageDataGenerator specifies `{name}`, but it hasn't been "
                              "fit on any training data. Fit it first by calling "
                              "`.fit(numpy_data)`.", UserWarning, stacklevel=3)
        if self.featurewise_center and self.mean is not None:
            x -= self.mean
        if self.featurewise_std_normalization and self.std is not None:
            x /= self.std + 1e-6
        if self.zca_whitening and self.principal_components is not None:
            flat = x.reshape(len(x), -1) @ self.principal_components
            x = flat.reshape(x.shape).astype(self.dtype)
        return x

    def standardize(self, x: np.ndarray) -> np.ndarray:
        """One image normalised (Keras's method)."""
        return self.standardize_batch(self._check_image(x, "standardize")[None])[0]

    def fit(self, x, augment: bool = False, rounds: int = 1, seed: int | None = None) -> None:
        """Learn the training set's per-channel mean and standard deviation (and the ZCA
        matrix), for the featurewise options: ``x`` is ``(samples, height, width, channels)``
        (after ``rescale``; ``augment`` first adds ``rounds`` random transforms of it)."""
        x = self.check_images(x, "fit")
        rng = np.random.default_rng(seed) if seed is not None else utils.rng()
        if self.rescale:
            x = x * self.rescale
        if augment:
            h, w = self.spatial_size(x.shape[1:])
            x = np.concatenate([self.apply_transforms(x, self.draw_transforms(len(x), h, w, rng))
                                for _ in range(int(rounds))])
        axes = (0, 1, 2) if self.channel_axis == 3 else (0, 2, 3)
        shape = [1, 1, 1]
        shape[self.channel_axis - 1] = x.shape[self.channel_axis]
        if self.featurewise_center:
            self.mean = x.mean(axis=axes).reshape(shape).astype(self.dtype)
            x = x - self.mean
        if self.featurewise_std_normalization:
            self.std = x.std(axis=axes).reshape(shape).astype(self.dtype)
            x = x / (self.std + 1e-6)
        if self.zca_whitening:
            flat = x.reshape(len(x), -1).astype(np.float64)
            sigma = flat.T @ flat / len(flat)
            u, s, _ = np.linalg.svd(sigma)
            self.principal_components = ((u / np.sqrt(s + self.zca_epsilon)) @ u.T).astype(
                self.dtype)

    def check_images(self, x, what: str) -> np.ndarray:
        """``x`` as a batch of images in ``dtype``; a clear error unless it has rank 4."""
        try:
            x = np.asarray(x, dtype=self.dtype)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"ImageDataGenerator.{what}: x must be an array of images "
                            f"({exc})") from None
        if x.ndim != 4:
            hint = " (add the channel axis: x[..., None])" if x.ndim == 3 else ""
            raise ValueError(f"ImageDataGenerator.{what}: x must be images of rank 4 (samples, "
                             f"height, width, channels) for data_format={self.data_format!r}; "
                             f"got shape {x.shape}{hint}")
        if x.shape[self.channel_axis] not in (1, 3, 4):
            warnings.warn(f"ImageDataGenerator.{what}: x has {x.shape[self.channel_axis]} "
                          f"channels on axis {self.channel_axis} (data_format="
                          f"{self.data_format!r}); images usually have 1, 3 or 4",
                          UserWarning, stacklevel=3)
        return x

    # ----- iterators -----------------------------------------------------------------------
    def flow(self, x, y=None, batch_size: int = 32, shuffle: bool = True, sample_weight=None,
             seed: int | None = None, save_to_dir=None, save_prefix: str = "",
             save_format: str = "png", ignore_class_split: bool = False,
             subset: str | None = None) -> NumpyArrayIterator:
        """Batches ``(x, y)`` (or ``x`` alone, or ``(x, y, sample_weight)``) of augmented
        images, for ``model.fit``; iterating it loops forever, as Keras's."""
        return NumpyArrayIterator(x, y, self, batch_size=batch_size, shuffle=shuffle,
                                  sample_weight=sample_weight, seed=seed,
                                  save_to_dir=save_to_dir, save_prefix=save_prefix,
                                  save_format=save_format,
                                  ignore_class_split=ignore_class_split, subset=subset)

    def flow_from_directory(self, directory, target_size=(256, 256), color_mode: str = "rgb",
                            classes=None, class_mode: str | None = "categorical",
                            batch_size: int = 32, shuffle: bool = True,
                            seed: int | None = None, save_to_dir=None, save_prefix: str = "",
                            save_format: str = "png", follow_links: bool = False,
                            subset: str | None = None, interpolation: str = "nearest",
                            keep_aspect_ratio: bool = False) -> DirectoryIterator:
        """Batches of augmented pictures read from ``directory``, one subfolder per class
        (``classes`` lists them in label order; default: the subfolders, sorted).
        ``class_mode``: ``'categorical'`` (one-hot), ``'sparse'`` (class index), ``'binary'``
        (0/1, two classes), ``'input'`` (the images themselves), None (images only)."""
        return DirectoryIterator(directory, self, target_size=target_size,
                                 color_mode=color_mode, classes=classes, class_mode=class_mode,
                                 batch_size=batch_size, shuffle=shuffle, seed=seed,
                                 save_to_dir=save_to_dir, save_prefix=save_prefix,
                                 save_format=save_format, follow_links=follow_links,
                                 subset=subset, interpolation=interpolation,
                                 keep_aspect_ratio=keep_aspect_ratio)


# ----- iterators ---------------------------------------------------------------------------
def _positive(value, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{what} must be a positive integer, got {value!r}")
    return int(value)


def _check_seed(seed, what: str) -> int | None:
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))
                             or seed < 0):
        raise ValueError(f"{what}: seed must be a non-negative integer or None, got {seed!r}")
    return None if seed is None else int(seed)


class Iterator(PyDataset):
    """Batches of ``batch_size`` of ``n`` samples (a :class:`convnet.utils.Sequence`): indexed
    by ``fit``, or iterated forever with ``next()`` as Keras's iterators. Each epoch
    (``on_epoch_end``) reshuffles the samples when ``shuffle``."""

    def __init__(self, n: int, batch_size: int, shuffle: bool, seed: int | None):
        super().__init__()
        self.n = int(n)
        self.batch_size = _positive(batch_size, f"{type(self).__name__}: batch_size")
        self.shuffle, self.seed = bool(shuffle), _check_seed(seed, type(self).__name__)
        self.epoch = 0
        self.batch_index = 0
        self.total_batches_seen = 0
        self.index_array: np.ndarray | None = None

    def generator_for(self, *key: int) -> np.random.Generator:
        """The generator for ``key`` (epoch, batch): seeded from ``(seed, *key)``, or convnet's."""
        if self.seed is None:
            return utils.rng()
        return np.random.default_rng([self.seed, *key])

    def _set_index_array(self) -> None:
        self.index_array = (self.generator_for(self.epoch).permutation(self.n) if self.shuffle
                            else np.arange(self.n))

    def __len__(self) -> int:
        return -(-self.n // self.batch_size)

    def __getitem__(self, idx: int):
        count = len(self)
        if isinstance(idx, bool) or not isinstance(idx, (int, np.integer)) or \
                not -count <= idx < count:
            raise IndexError(f"{type(self).__name__}: asked for batch {idx!r}, but there are "
                             f"{count} batches")
        idx = int(idx) % count
        if self.index_array is None:
            self._set_index_array()
        assert self.index_array is not None
        chosen = self.index_array[self.batch_size * idx:self.batch_size * (idx + 1)]
        return self._batch(chosen, self.generator_for(self.epoch, idx + 1))

    def _batch(self, indices: np.ndarray, rng: np.random.Generator):
        raise NotImplementedError

    def on_epoch_end(self) -> None:
        self.epoch += 1
        self._set_index_array()

    def reset(self) -> None:
        """Start the next ``next()`` at the first batch."""
        self.batch_index = 0

    def __iter__(self):
        return self

    def __next__(self):
        if self.batch_index >= len(self):
            self.batch_index = 0
            self.on_epoch_end()
        i = self.batch_index
        self.batch_index += 1
        self.total_batches_seen += 1
        return self[i]

    next = __next__


class _Augmenting(Iterator):
    """An iterator whose batches go through an :class:`ImageDataGenerator`."""

    def __init__(self, n, generator: ImageDataGenerator, batch_size, shuffle, seed,
                 save_to_dir, save_prefix: str, save_format: str):
        super().__init__(n, batch_size, shuffle, seed)
        self.image_data_generator = generator
        self.data_format, self.dtype = generator.data_format, generator.dtype
        self.save_to_dir, self.save_prefix, self.save_format = (save_to_dir, save_prefix,
                                                                save_format)

    def _augment(self, x: np.ndarray, indices: np.ndarray, rng) -> np.ndarray:
        gen = self.image_data_generator
        h, w = gen.spatial_size(x.shape[1:])
        x = gen.apply_transforms(x, gen.draw_transforms(len(x), h, w, rng))
        x = gen.standardize_batch(x)
        if self.save_to_dir is not None:
            for img, i in zip(x, indices):
                name = (f"{self.save_prefix}_{int(i)}_{int(rng.integers(1_000_000))}."
                        f"{self.save_format}")
                save_img(os.path.join(self.save_to_dir, name), img,
                         data_format=self.data_format)
        return x


def _check_subset(subset, split: float, what: str) -> None:
    if subset not in (None, "training", "validation"):
        raise ValueError(f"{what}: subset must be 'training', 'validation' or None, got "
                         f"{subset!r}")
    if subset is not None and not split:
        raise ValueError(f"{what}: subset={subset!r} needs ImageDataGenerator(validation_split="
                         "...) between 0 and 1")


class NumpyArrayIterator(_Augmenting):
    """Augmented batches of arrays (what :meth:`ImageDataGenerator.flow` returns)."""

    def __init__(self, x, y, image_data_generator: ImageDataGenerator, batch_size: int = 32,
                 shuffle: bool = False, sample_weight=None, seed: int | None = None,
                 data_format=None, save_to_dir=None, save_prefix: str = "",
                 save_format: str = "png", subset: str | None = None,
                 ignore_class_split: bool = False, dtype=None):
        gen = image_data_generator
        x = gen.check_images(x, "flow")
        if y is not None:
            y = np.asarray(y)
            if len(y) != len(x):
                raise ValueError(f"ImageDataGenerator.flow: x (images) and y (labels) must have "
                                 f"the same length; got x.shape={x.shape}, y.shape={y.shape}")
        if sample_weight is not None:
            sample_weight = np.asarray(sample_weight)
            if len(sample_weight) != len(x):
                raise ValueError(f"ImageDataGenerator.flow: sample_weight must have one weight "
                                 f"per image ({len(x)}), got shape {sample_weight.shape}")
        _check_subset(subset, gen.validation_split, "ImageDataGenerator.flow")
        if subset is not None:
            split = int(len(x) * gen.validation_split)
            if (y is not None and not ignore_class_split and not np.array_equal(
                    np.unique(y[:split]), np.unique(y[split:]))):
                raise ValueError("ImageDataGenerator.flow: the training and validation subsets "
                                 "have different classes after the split (the validation part "
                                 "is the first validation_split of x); shuffle x and y first, "
                                 "or pass ignore_class_split=True")
            part = slice(None, split) if subset == "validation" else slice(split, None)
            x = x[part]
            y = None if y is None else y[part]
            sample_weight = None if sample_weight is None else sample_weight[part]
        if len(x) == 0:
            raise ValueError(f"ImageDataGenerator.flow: no images to flow (subset={subset!r}, "
                             f"{len(x)} samples)")
        self.x, self.y, self.sample_weight = x, y, sample_weight
        super().__init__(len(x), gen, batch_size, shuffle, seed, save_to_dir, save_prefix,
                         save_format)

    def _batch(self, indices, rng):
        x = self._augment(self.x[indices], indices, rng)
        if self.y is None:
            return x
        if self.sample_weight is None:
            return x, self.y[indices]
        return x, self.y[indices], self.sample_weight[indices]


def _list_images(folder: str, follow_links: bool, formats=WHITE_LIST_FORMATS) -> list[str]:
    """Picture files under ``folder`` (recursively), sorted, as paths."""
    found = []
    for root, dirs, files in os.walk(folder, followlinks=follow_links):
        dirs.sort()
        for name in sorted(files):
            if name.lower().rsplit(".", 1)[-1] in formats and "." in name:
                found.append(os.path.join(root, name))
    return found


def _class_folders(directory: str, classes, what: str) -> list[str]:
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"{what}: no such folder: {directory}")
    if classes is None:
        return sorted(d for d in os.listdir(directory)
                      if os.path.isdir(os.path.join(directory, d)))
    classes = list(classes)
    missing = [c for c in classes if not os.path.isdir(os.path.join(directory, c))]
    if missing:
        raise FileNotFoundError(f"{what}: classes {missing} have no folder in {directory}")
    return classes


class DirectoryIterator(_Augmenting):
    """Augmented batches of pictures read from class subfolders (what
    :meth:`ImageDataGenerator.flow_from_directory` returns). Attributes as Keras's:
    ``filenames`` (relative to ``directory``), ``filepaths``, ``classes`` (label per file),
    ``class_indices`` (``{folder: label}``), ``samples``, ``num_classes``, ``image_shape``."""

    def __init__(self, directory, image_data_generator: ImageDataGenerator,
                 target_size=(256, 256), color_mode: str = "rgb", classes=None,
                 class_mode: str | None = "categorical", batch_size: int = 32,
                 shuffle: bool = True, seed: int | None = None, data_format=None,
                 save_to_dir=None, save_prefix: str = "", save_format: str = "png",
                 follow_links: bool = False, subset: str | None = None,
                 interpolation: str = "nearest", keep_aspect_ratio: bool = False, dtype=None):
        what = "flow_from_directory"
        gen = image_data_generator
        self.directory = os.fspath(directory)
        self.target_size = _pair(target_size, f"{what}: target_size")
        if color_mode not in COLOR_MODES:
            raise ValueError(f"{what}: color_mode must be one of {sorted(COLOR_MODES)}, got "
                             f"{color_mode!r}")
        if class_mode not in CLASS_MODES:
            raise ValueError(f"{what}: unknown class_mode {class_mode!r}; expected one of "
                             f"{list(CLASS_MODES)}")
        _resample(interpolation)
        _check_subset(subset, gen.validation_split, what)
        self.color_mode, self.class_mode = color_mode, class_mode
        self.interpolation, self.keep_aspect_ratio = interpolation, keep_aspect_ratio
        folders = _class_folders(self.directory, classes, what)
        self.class_indices = {name: i for i, name in enumerate(folders)}
        self.num_classes = len(folders)
        if class_mode == "binary" and self.num_classes != 2:
            raise ValueError(f"{what}: class_mode='binary' needs exactly 2 class folders, "
                             f"found {self.num_classes} in {self.directory}: {folders}")
        paths: list[str] = []
        labels: list[int] = []
        for name in folders:
            files = _list_images(os.path.join(self.directory, name), follow_links)
            if subset is not None:
                cut = int(gen.validation_split * len(files))
                files = files[:cut] if subset == "validation" else files[cut:]
            paths += files
            labels += [self.class_indices[name]] * len(files)
        if not paths:
            raise ValueError(
                f"{what}: no images found in {self.directory} (subset={subset!r}); expected "
                f"one subfolder per class holding {'/'.join(WHITE_LIST_FORMATS)} files, "
                f"found subfolders {folders}")
        self.filepaths = paths
        self.filenames = [os.path.relpath(p, self.directory) for p in paths]
        self.classes = np.array(labels, dtype=np.int32)
        self.labels = self.classes
        self.samples = len(paths)
        channels = COLOR_MODES[color_mode][1]
        self.image_shape = (self.target_size + (channels,) if gen.data_format == "channels_last"
                            else (channels,) + self.target_size)
        print(f"Found {self.samples} images belonging to {self.num_classes} classes.")
        super().__init__(self.samples, gen, batch_size, shuffle, seed, save_to_dir,
                         save_prefix, save_format)

    def _batch(self, indices, rng):
        x = np.stack([img_to_array(load_img(self.filepaths[i], color_mode=self.color_mode,
                                            target_size=self.target_size,
                                            interpolation=self.interpolation,
                                            keep_aspect_ratio=self.keep_aspect_ratio),
                                   data_format=self.data_format, dtype=self.dtype)
                      for i in indices])
        x = self._augment(x, indices, rng)
        labels = self.classes[indices]
        if self.class_mode is None:
            return x
        if self.class_mode == "input":
            return x, x.copy()
        if self.class_mode == "categorical":
            return x, utils.to_categorical(labels, self.num_classes, dtype=self.dtype)
        return x, labels.astype(self.dtype)                      # sparse, binary


# ----- Keras 3's dataset of a folder -------------------------------------------------------
class ImageDataset(PyDataset):
    """Batches ``(images, labels)`` of pictures from files (what
    :func:`image_dataset_from_directory` returns): indexable and iterable (one pass, as a
    ``tf.data.Dataset``; reshuffled after each pass when ``shuffle``), with ``class_names``,
    ``file_paths`` and ``take(n)``."""

    def __init__(self, file_paths: list[str], labels, class_names, *, label_mode,
                 batch_size: int, image_size: tuple[int, int], color_mode: str,
                 interpolation: str, shuffle: bool, seed: int | None, data_format: str,
                 crop_to_aspect_ratio: bool):
        super().__init__()
        self.file_paths = list(file_paths)
        self.labels = labels
        self.class_names = class_names
        self.label_mode = label_mode
        self.batch_size, self.image_size = batch_size, image_size
        self.color_mode, self.interpolation = color_mode, interpolation
        self.shuffle, self.seed, self.data_format = shuffle, seed, data_format
        self.crop_to_aspect_ratio = crop_to_aspect_ratio
        self._epoch = 0
        self._order = self._new_order()

    def _new_order(self) -> np.ndarray:
        n = len(self.file_paths)
        if not self.shuffle:
            return np.arange(n)
        rng = (utils.rng() if self.seed is None
               else np.random.default_rng([self.seed, self._epoch]))
        return rng.permutation(n)

    def __len__(self) -> int:
        return -(-len(self.file_paths) // self.batch_size)

    def __getitem__(self, idx: int):
        count = len(self)
        if isinstance(idx, bool) or not isinstance(idx, (int, np.integer)) or \
                not -count <= idx < count:
            raise IndexError(f"ImageDataset: asked for batch {idx!r}, but there are {count}")
        idx = int(idx) % count
        chosen = self._order[idx * self.batch_size:(idx + 1) * self.batch_size]
        x = np.stack([img_to_array(load_img(self.file_paths[i], color_mode=self.color_mode,
                                            target_size=self.image_size,
                                            interpolation=self.interpolation,
                                            keep_aspect_ratio=self.crop_to_aspect_ratio),
                                   data_format=self.data_format, dtype="float32")
                      for i in chosen])
        if self.label_mode is None:
            return x
        labels = np.asarray(self.labels)[chosen]
        if self.label_mode == "int":
            return x, labels.astype(np.int32)
        if self.label_mode == "binary":
            return x, labels.astype(np.float32).reshape(-1, 1)
        return x, utils.to_categorical(labels, len(self.class_names), dtype="float32")

    def on_epoch_end(self) -> None:
        self._epoch += 1
        self._order = self._new_order()

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]
        self.on_epoch_end()

    def take(self, count: int) -> list:
        """The first ``count`` batches (``for images, labels in ds.take(1): ...``)."""
        return [self[i] for i in range(min(int(count), len(self)))]


def image_dataset_from_directory(directory, labels="inferred", label_mode: str | None = "int",
                                 class_names=None, color_mode: str = "rgb",
                                 batch_size: int | None = 32, image_size=(256, 256),
                                 shuffle: bool = True, seed: int | None = None,
                                 validation_split: float | None = None,
                                 subset: str | None = None, interpolation: str = "bilinear",
                                 follow_links: bool = False, crop_to_aspect_ratio: bool = False,
                                 data_format: str | None = None, verbose: bool = True):
    """Batches ``(images, labels)`` of the pictures in ``directory`` (Keras 3's
    ``keras.utils.image_dataset_from_directory``): images float32 0..255, ``image_size``
    (height, width); ``labels='inferred'`` from one subfolder per class (sorted, or
    ``class_names``), a list (one per file, sorted by path), or None (images only);
    ``label_mode`` ``'int'`` (int32), ``'categorical'`` (one-hot float32), ``'binary'``
    (float32 ``(batch, 1)``, two classes) or None. With ``shuffle`` the files are shuffled
    before the ``validation_split`` as Keras does (``RandomState(seed)``, so the same ``seed``
    picks the same validation files), and again every epoch. ``subset`` is ``'training'``,
    ``'validation'`` or ``'both'`` (a pair). Fit accepts it directly; pictures are read batch
    by batch (Pillow's resize: values differ slightly from TensorFlow's)."""
    what = "image_dataset_from_directory"
    directory = os.fspath(directory)
    if labels not in ("inferred", None) and not isinstance(labels, (list, tuple, np.ndarray)):
        raise ValueError(f"{what}: labels must be 'inferred', None or a list of labels, got "
                         f"{labels!r}")
    if label_mode not in ("int", "categorical", "binary", None):
        raise ValueError(f"{what}: label_mode must be 'int', 'categorical', 'binary' or None, "
                         f"got {label_mode!r}")
    if labels is None or label_mode is None:
        labels, label_mode = None, None
    if color_mode not in COLOR_MODES:
        raise ValueError(f"{what}: color_mode must be one of {sorted(COLOR_MODES)}, got "
                         f"{color_mode!r}")
    image_size = _pair(image_size, f"{what}: image_size")
    _resample(interpolation)
    batch_size = _positive(batch_size, f"{what}: batch_size")
    seed = _check_seed(seed, what)
    if subset not in (None, "training", "validation", "both"):
        raise ValueError(f"{what}: subset must be 'training', 'validation', 'both' or None, "
                         f"got {subset!r}")
    if (validation_split is None) != (subset is None) or (validation_split is not None and not
                                                          0 < validation_split < 1):
        raise ValueError(f"{what}: give validation_split (between 0 and 1) and subset together;"
                         f" got validation_split={validation_split!r}, subset={subset!r}")
    if validation_split and shuffle and seed is None:
        raise ValueError(f"{what}: with validation_split and shuffle, pass a seed so that the "
                         "training and validation subsets do not overlap")
    if labels == "inferred":
        names = _class_folders(directory, class_names, what)
        paths: list[str] = []
        values: list[int] = []
        for i, name in enumerate(names):
            files = _list_images(os.path.join(directory, name), follow_links,
                                 ("bmp", "gif", "jpeg", "jpg", "png"))
            paths += files
            values += [i] * len(files)
    else:
        if not os.path.isdir(directory):
            raise FileNotFoundError(f"{what}: no such folder: {directory}")
        paths = _list_images(directory, follow_links, ("bmp", "gif", "jpeg", "jpg", "png"))
        names = list(class_names) if class_names is not None else []
        if labels is not None:
            if len(labels) != len(paths):
                raise ValueError(f"{what}: labels has {len(labels)} entries but {directory} "
                                 f"holds {len(paths)} images (one label per file, in sorted "
                                 "path order)")
            values = [int(v) for v in labels]
            if not names and values:
                names = [str(i) for i in range(max(values) + 1)]
        else:
            values = []
    if not paths:
        raise ValueError(f"{what}: no images found in {directory}; allowed formats: .bmp, "
                         ".gif, .jpeg, .jpg, .png" + (" (in one subfolder per class)"
                                                      if labels == "inferred" else ""))
    if label_mode == "binary" and len(names) != 2:
        raise ValueError(f"{what}: label_mode='binary' needs exactly 2 classes, got "
                         f"class_names={names}")
    if verbose:
        print(f"Found {len(paths)} files belonging to {len(names)} classes." if labels is not None
              else f"Found {len(paths)} files.")
    if shuffle:
        if seed is None:
            seed = int(utils.rng().integers(1_000_000))
        np.random.RandomState(seed).shuffle(paths)
        if values:
            np.random.RandomState(seed).shuffle(values)

    def make(part: slice, word: str) -> ImageDataset:
        chosen = paths[part]
        if validation_split and verbose:
            print(f"Using {len(chosen)} files for {word}.")
        return ImageDataset(chosen, values[part] if values else None, names,
                            label_mode=label_mode, batch_size=batch_size,
                            image_size=image_size, color_mode=color_mode,
                            interpolation=interpolation, shuffle=shuffle, seed=seed,
                            data_format=backend.normalize_data_format(data_format),
                            crop_to_aspect_ratio=crop_to_aspect_ratio)

    if not validation_split:
        return make(slice(None), "training")
    n_val = int(validation_split * len(paths))
    if n_val == 0 or n_val == len(paths):
        raise ValueError(f"{what}: validation_split={validation_split} of {len(paths)} files "
                         "leaves an empty subset")
    train, val = slice(None, len(paths) - n_val), slice(len(paths) - n_val, None)
    if subset == "both":
        return make(train, "training"), make(val, "validation")
    return make(train, "training") if subset == "training" else make(val, "validation")

