"""Reader for the IDX format of MNIST and Fashion-MNIST (http://yann.lecun.com/exdb/mnist/).

An IDX file is a 4-byte magic number -- two zero bytes, a type code, the number of dimensions --
then each dimension as a big-endian uint32, then the data in C order, big-endian. Files may be
gzip-compressed (recognised by content, not by name).
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

_TYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"), 0x09: np.dtype(">i1"), 0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


class IDXError(ValueError):
    """A file is not a well-formed IDX file."""


def parse_idx(data: bytes, name: str = "<bytes>") -> np.ndarray:
    """Decode IDX bytes (already decompressed) into an array of native byte order."""
    if len(data) < 4:
        raise IDXError(f"{name}: too short for an IDX file ({len(data)} bytes)")
    zero, type_code, ndim = int.from_bytes(data[:2], "big"), data[2], data[3]
    if zero != 0 or type_code not in _TYPES:
        raise IDXError(f"{name}: not an IDX file (magic bytes {data[:4].hex()}; expected "
                       "00 00, a type code 08/09/0b/0c/0d/0e and the number of dimensions)")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise IDXError(f"{name}: truncated header ({len(data)} bytes, {ndim} dimensions)")
    shape = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    dtype = _TYPES[type_code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) - header != expected:
        raise IDXError(f"{name}: header says shape {shape} of {dtype.name} ({expected} bytes) but "
                       f"the file holds {len(data) - header} bytes of data")
    array = np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)
    return array.astype(dtype.newbyteorder("="))


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (raw or gzip-compressed) into a NumPy array."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise IDXError(f"cannot read {path}: {exc.strerror or exc}") from None
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise IDXError(f"{path}: damaged gzip data ({exc})") from None
    return parse_idx(raw, str(path))


def write_idx(path: str | os.PathLike, array: np.ndarray, compress: bool = False) -> None:
    """Write ``array`` as an IDX file (the inverse of :func:`read_idx`)."""
    array = np.asarray(array)
    codes = {v.newbyteorder("="): k for k, v in _TYPES.items()}
    native = array.dtype.newbyteorder("=")
    if native not in codes:
        raise IDXError(f"write_idx: dtype {array.dtype} has no IDX type code")
    body = (bytes([0, 0, codes[native], array.ndim])
            + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
            + array.astype(_TYPES[codes[native]]).tobytes())
    Path(path).write_bytes(gzip.compress(body) if compress else body)
