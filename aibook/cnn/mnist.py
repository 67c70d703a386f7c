"""MNIST for readers who are online: an IDX parser, a loader, and a download helper.

The book never downloads anything while it runs (CI is offline). `download_mnist` is for
you to call once by hand; after that, `load_mnist(root)` reads the four files from disk.

The IDX format (LeCun et al.): a 4-byte magic number `0x00 0x00 <dtype> <ndim>`, then
ndim big-endian uint32 sizes, then the values in row-major order, big-endian.
"""

from __future__ import annotations

import gzip
import hashlib
import urllib.request
from pathlib import Path

import numpy as np
import torch

# IDX type code -> numpy dtype (big-endian where it matters).
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

MNIST_FILES: dict[str, str] = {  # file name -> MD5 of the gzip file
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)


class IDXError(ValueError):
    """An IDX file that is corrupt, truncated, or of an unexpected kind."""


def parse_idx(data: bytes, name: str = "<bytes>") -> np.ndarray:
    """Decode the bytes of one IDX file (gzip-compressed or not) into a numpy array.

    Raises IDXError when the magic number is wrong, the type code is unknown, or the
    number of data bytes does not match the header (a truncated or padded file).
    """
    if data[:2] == b"\x1f\x8b":  # gzip magic
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as err:
            raise IDXError(f"{name}: gzip stream is corrupt or truncated ({err})") from err
    if len(data) < 4:
        raise IDXError(f"{name}: file is truncated: {len(data)} bytes, the header needs 4")
    zero, code, ndim = data[:2], data[2], data[3]
    if zero != b"\x00\x00":
        raise IDXError(f"{name}: bad magic number: expected first bytes 00 00, got {zero.hex(' ')}")
    if code not in IDX_DTYPES:
        known = ", ".join(f"0x{c:02X}" for c in IDX_DTYPES)
        raise IDXError(f"{name}: unknown IDX type code 0x{code:02X} (expected one of {known})")
    if ndim == 0:
        raise IDXError(f"{name}: the header says 0 dimensions")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise IDXError(f"{name}: file is truncated inside the header: {len(data)} bytes, "
                       f"{ndim} dimensions need {header}")
    shape = tuple(int(s) for s in np.frombuffer(data, ">u4", count=ndim, offset=4))
    dtype = IDX_DTYPES[code]
    expected = int(np.prod(shape)) * dtype.itemsize
    got = len(data) - header
    if got != expected:
        kind = "truncated" if got < expected else "longer than its header says"
        raise IDXError(f"{name}: file is {kind}: shape {shape} of {dtype} needs {expected} "
                       f"data bytes, found {got}")
    return np.frombuffer(data, dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (`.gz` or raw) from disk. See `parse_idx` for the errors."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"read_idx: no file at {path}")
    return parse_idx(path.read_bytes(), name=str(path))


def write_idx(path: str | Path, array: np.ndarray, *, compress: bool | None = None) -> Path:
    """Write `array` as an IDX file (gzip-compressed when the name ends in .gz). Returns path."""
    path = Path(path)
    array = np.asarray(array)
    code = next((c for c, dt in IDX_DTYPES.items() if dt == array.dtype.newbyteorder(">")
                 or dt == array.dtype), None)
    if code is None or array.ndim == 0:
        raise ValueError(f"write_idx: expected an array of ndim >= 1 with a dtype in "
                         f"{[str(d) for d in IDX_DTYPES.values()]}, got {array.dtype} "
                         f"ndim={array.ndim}")
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, ">u4").tobytes()
    data = header + array.astype(IDX_DTYPES[code]).tobytes()
    compress = path.suffix == ".gz" if compress is None else compress
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


def load_mnist(root: str | Path, split: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
    """The MNIST `split` ("train": 60,000 or "test": 10,000) from the IDX files under root.

    Returns X (N, 1, 28, 28) float32 in [0, 1] and y (N,) int64. Accepts the files
    gzip-compressed (as downloaded) or decompressed (without the .gz suffix).
    """
    if split not in ("train", "test"):
        raise ValueError(f"load_mnist: split must be 'train' or 'test', got {split!r}")
    prefix = "train" if split == "train" else "t10k"
    arrays = []
    for kind in ("images-idx3-ubyte", "labels-idx1-ubyte"):
        candidates = [Path(root) / f"{prefix}-{kind}.gz", Path(root) / f"{prefix}-{kind}"]
        path = next((p for p in candidates if p.is_file()), None)
        if path is None:
            raise FileNotFoundError(f"load_mnist: {candidates[0]} not found; download the files "
                                    f"once with aibook.cnn.mnist.download_mnist({str(root)!r})")
        arrays.append(read_idx(path))
    images, labels = arrays
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise IDXError(f"load_mnist: expected images (N, H, W) and labels (N,), got "
                       f"{images.shape} and {labels.shape}")
    X = torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)
    return X, torch.from_numpy(labels.astype(np.int64))


def mnist_available(root: str | Path) -> bool:
    """True when all four MNIST files (compressed or not) are under root."""
    return all((Path(root) / n).is_file() or (Path(root) / n[:-3]).is_file()
               for n in MNIST_FILES)


def download_mnist(root: str | Path, mirrors: tuple[str, ...] = MIRRORS) -> Path:
    """Download the four MNIST files into root and check their MD5 sums. Needs the network;
    the book itself never calls this. Files already present and correct are kept."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    for name, md5 in MNIST_FILES.items():
        target = root / name
        if target.is_file() and hashlib.md5(target.read_bytes()).hexdigest() == md5:
            continue
        errors = []
        for mirror in mirrors:
            try:
                with urllib.request.urlopen(mirror + name, timeout=60) as response:
                    data = response.read()
            except OSError as err:
                errors.append(f"{mirror}: {err}")
                continue
            if hashlib.md5(data).hexdigest() != md5:
                errors.append(f"{mirror}: MD5 mismatch")
                continue
            target.write_bytes(data)
            break
        else:
            raise RuntimeError(f"download_mnist: could not fetch {name}: " + "; ".join(errors))
    return root
