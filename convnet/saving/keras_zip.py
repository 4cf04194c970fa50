"""The ``.keras`` format (Keras 3's native file): a zip archive of three members.

    metadata.json       {"keras_version": "3.15.1", "date_saved": "2026-12-05@17:50:10"}
    config.json         the model description (:mod:`json_format`; nodes in Keras 3's own
                        form, see :mod:`functional_config`), plus ``compile_config``
                        (:mod:`training_config`) when the model is compiled
    model.weights.h5    Keras 3's weights layout (:mod:`hdf5_format`): ``layers/<key>/vars/<i>``,
                        ``optimizer/vars/<i>`` (:mod:`optimizer_state`, Keras 3's order), ``vars``

Members are stored uncompressed, as Keras writes them. Writing goes to a temporary file renamed
into place, so a crash never leaves half an archive under the name.

Reading is safe: the archive is checked before any member is read -- only the known member
names, no absolute paths or ``..``, declared sizes under fixed limits and no member expanding
more than :data:`MAX_RATIO` times (a zip bomb) -- and members are read into memory, never
extracted. The config builds only convnet's own classes (or those the caller passes as
``custom_objects``); nothing is imported, executed or unpickled.
"""

from __future__ import annotations

import datetime
import io
import json
import os
import zipfile
from pathlib import Path

import h5py
import numpy as np

from convnet.saving import optimizer_state
from convnet.saving.atomic import atomic_path
from convnet.saving.errors import CorruptFileError, FormatError
from convnet.saving.hdf5_format import assign, read_keras3, write_keras3
from convnet.saving.json_format import model_to_config

CONFIG, METADATA, WEIGHTS = "config.json", "metadata.json", "model.weights.h5"
#: the Keras version written to metadata.json: the one whose loader this layout was checked with
KERAS_VERSION = "3.15.1"
#: largest member sizes read (bytes): JSON members, and the weights
MAX_JSON_BYTES = 64 << 20
MAX_WEIGHTS_BYTES = 16 << 30
#: a member whose size is more than this many times what it occupies in the archive is refused
MAX_RATIO = 100
_RATIO_FLOOR = 1 << 20          # tiny members may compress well; only large ones are checked
_OPTIONAL_PREFIXES = ("assets/",)


# ----- writing ---------------------------------------------------------------------------------
def _weights_bytes(model) -> bytes:
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as f:
        write_keras3(f, model)
        arrays = optimizer_state.state_arrays(model) if model.optimizer is not None else None
        if arrays is not None:
            group = f.create_group("optimizer").create_group("vars")
            group.attrs["name"] = model.optimizer.name.lower()
            for i, (_, value) in enumerate(arrays):
                group.create_dataset(str(i), data=value)
    return buffer.getvalue()


def config_json(model) -> str:
    """``config.json``: the model description, with ``compile_config`` when compiled."""
    config = model_to_config(model, keras3=True)
    compile_cfg = model.get_compile_config()
    if compile_cfg is not None:
        config["compile_config"] = compile_cfg
    return json.dumps(config)


def save_keras(model, path: str | os.PathLike) -> None:
    """Write ``model`` as a ``.keras`` archive that Keras 3 loads (``keras.saving.load_model``)."""
    if not model.built:
        raise FormatError("save: the model is not built yet")
    metadata = {"keras_version": KERAS_VERSION,
                "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S")}
    members = [(METADATA, json.dumps(metadata).encode()),
               (CONFIG, config_json(model).encode()),
               (WEIGHTS, _weights_bytes(model))]
    with atomic_path(path) as tmp:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as zf:
            for name, data in members:
                zf.writestr(name, data)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())


# ----- reading ---------------------------------------------------------------------------------
def is_zip(path: str | os.PathLike) -> bool:
    """Whether ``path`` starts like a zip archive (content, not name)."""
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"PK\x03\x04"
    except OSError:
        return False


def _check_member(info: zipfile.ZipInfo, path) -> None:
    name = info.filename
    if name.startswith(("/", "\\")) or "\\" in name or ".." in name.split("/") or \
            (len(name) > 1 and name[1] == ":"):
        raise FormatError(f"{path}: refusing archive member {name!r}: a path outside the "
                          "archive")
    if name not in (CONFIG, METADATA, WEIGHTS) and not name.startswith(_OPTIONAL_PREFIXES):
        raise FormatError(f"{path}: unexpected archive member {name!r}; a .keras file holds "
                          f"{CONFIG}, {METADATA} and {WEIGHTS}")
    limit = MAX_WEIGHTS_BYTES if name == WEIGHTS else MAX_JSON_BYTES
    if info.file_size > limit:
        raise FormatError(f"{path}: archive member {name!r} declares {info.file_size} bytes, "
                          f"more than the {limit} convnet reads")
    if info.file_size > _RATIO_FLOOR and info.file_size > MAX_RATIO * max(info.compress_size, 1):
        raise FormatError(f"{path}: archive member {name!r} declares {info.file_size} bytes "
                          f"from {info.compress_size} stored (a zip bomb?); refused")


def open_archive(path: str | os.PathLike) -> zipfile.ZipFile:
    """Open and check a ``.keras`` archive; CorruptFileError / FormatError name the file."""
    path = Path(path)
    if not path.exists():
        raise CorruptFileError(f"model file not found: {path}")
    if path.is_dir():
        raise CorruptFileError(f"{path} is a folder, not a .keras file")
    if not is_zip(path):
        raise CorruptFileError(f"{path} is not a .keras file (a zip archive): it is empty, "
                               "truncated or another format")
    try:
        zf = zipfile.ZipFile(path, "r")
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise CorruptFileError(f"{path} is not a readable .keras file (corrupt or truncated "
                               f"zip archive: {exc})") from None
    try:
        infos = zf.infolist()
        if len(infos) > 1000:
            raise FormatError(f"{path}: {len(infos)} archive members; a .keras file has 3")
        for info in infos:
            _check_member(info, path)
        names = {info.filename for info in infos}
        if CONFIG not in names:
            raise FormatError(f"{path}: the archive has no {CONFIG}; not a .keras model file")
    except BaseException:
        zf.close()
        raise
    return zf


def _read(zf: zipfile.ZipFile, name: str, path) -> bytes:
    info = zf.getinfo(name)
    try:
        with zf.open(info) as member:
            data = member.read(info.file_size + 1)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:   # CRC, truncation
        raise CorruptFileError(f"{path}: archive member {name!r} is damaged ({exc})") from None
    if len(data) != info.file_size:
        raise CorruptFileError(f"{path}: archive member {name!r} is not the size it declares")
    return data


def _json(zf: zipfile.ZipFile, name: str, path) -> dict:
    try:
        value = json.loads(_read(zf, name, path).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FormatError(f"{path}: {name} is not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise FormatError(f"{path}: {name} must hold a JSON object")
    return value


def _weights_file(zf: zipfile.ZipFile, path) -> h5py.File:
    if WEIGHTS not in zf.namelist():
        other = [n for n in zf.namelist() if n.endswith(".npz")]
        hint = " (weights in .npz form are not supported)" if other else ""
        raise FormatError(f"{path}: the archive has no {WEIGHTS}{hint}")
    data = _read(zf, WEIGHTS, path)
    try:
        return h5py.File(io.BytesIO(data), "r")
    except (OSError, ValueError) as exc:
        raise CorruptFileError(f"{path}: {WEIGHTS} inside the archive is not readable HDF5 "
                               f"({exc})") from None


def _optimizer_entries(f: h5py.File) -> list[tuple[str | None, np.ndarray]]:
    if "optimizer" not in f or "vars" not in f["optimizer"]:
        return []
    group = f["optimizer"]["vars"]
    count = len(group)
    if any(str(i) not in group for i in range(count)):
        raise FormatError("optimizer/vars must be numbered 0, 1, ... without gaps")
    return [(None, np.asarray(group[str(i)])) for i in range(count)]


def load_keras(path: str | os.PathLike, custom_objects: dict | None = None,
               compile: bool = True):
    """Read a ``.keras`` archive (written by Keras 3 or convnet): the model, its weights and,
    when ``compile`` and the file has a ``compile_config``, compiled with the optimizer state."""
    from convnet.saving.json_format import model_from_config
    from convnet.saving.training_config import compile_arguments

    with open_archive(path) as zf:
        config = _json(zf, CONFIG, path)
        settings = config.get("compile_config") if compile else None
        model = model_from_config(config, custom_objects)
        try:
            with _weights_file(zf, path) as f:
                pairs = read_keras3(f, model, path)
                state = _optimizer_entries(f) if settings else []
        except (FormatError, CorruptFileError):
            raise
        except Exception as exc:  # noqa: BLE001 -- a damaged HDF5 member fails many ways
            raise CorruptFileError(f"{path}: damaged {WEIGHTS} ({type(exc).__name__}: "
                                   f"{exc})") from None
    assign(pairs)
    if settings:
        try:
            model.compile(**compile_arguments(settings, custom_objects,
                                             len(model.outputs)))
        except FormatError as exc:
            raise FormatError(f"{path}: {exc}") from None
        if state:
            optimizer_state.restore(model, state, str(path))
    return model


def load_weights_from_keras(model, path: str | os.PathLike, skip_mismatch: bool = False) -> None:
    """``model.load_weights("m.keras")``: the weights of a ``.keras`` archive (Keras 3 allows
    this too)."""
    with open_archive(path) as zf:
        try:
            with _weights_file(zf, path) as f:
                pairs = read_keras3(f, model, path)
        except (FormatError, CorruptFileError):
            raise
        except Exception as exc:  # noqa: BLE001
            raise CorruptFileError(f"{path}: damaged {WEIGHTS} ({type(exc).__name__}: "
                                   f"{exc})") from None
    assign(pairs, skip_mismatch)
