"""aibook.cnn.mnist: the IDX parser reads what we write and rejects broken files. No network."""

import gzip

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aibook.cnn import mnist
from aibook.cnn.mnist import IDXError, load_mnist, mnist_available, parse_idx, read_idx, write_idx


def _handmade_idx() -> bytes:
    # A 2x3 uint8 array written byte by byte from the format's definition (not by write_idx).
    header = bytes([0, 0, 0x08, 2]) + (2).to_bytes(4, "big") + (3).to_bytes(4, "big")
    return header + bytes([0, 1, 2, 253, 254, 255])


def test_parse_idx_reads_a_handmade_file():
    a = parse_idx(_handmade_idx())
    assert a.dtype == np.uint8
    np.testing.assert_array_equal(a, [[0, 1, 2], [253, 254, 255]])
    np.testing.assert_array_equal(parse_idx(gzip.compress(_handmade_idx())), a)


@settings(max_examples=25, deadline=None)
@given(st.sampled_from(["u1", "i1", ">i2", ">i4", ">f4", ">f8", "<f8", "<i4"]),
       st.lists(st.integers(1, 5), min_size=1, max_size=3), st.booleans(),
       st.integers(0, 2**16))
def test_write_then_read_roundtrips(tmp_path_factory, dtype, shape, compress, seed):
    a = (np.random.default_rng(seed).normal(size=shape) * 50).astype(dtype)
    path = tmp_path_factory.mktemp("idx") / ("a.idx.gz" if compress else "a.idx")
    write_idx(path, a)
    b = read_idx(path)
    assert b.shape == a.shape and b.dtype.kind == a.dtype.kind
    np.testing.assert_array_equal(b, a)


def test_big_endian_values_are_decoded():
    data = bytes([0, 0, 0x0B, 1]) + (2).to_bytes(4, "big") + (258).to_bytes(2, "big") + \
        (-2).to_bytes(2, "big", signed=True)
    np.testing.assert_array_equal(parse_idx(data), [258, -2])


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d[:-1], r"truncated: shape \(2, 3\) of uint8 needs 6 data bytes, found 5"),
    (lambda d: d + b"\x00", "longer than its header says"),
    (lambda d: d[:7], "truncated inside the header"),
    (lambda d: d[:3], "the header needs 4"),
    (lambda d: b"\x01" + d[1:], "bad magic number"),
    (lambda d: d[:2] + b"\x07" + d[3:], "unknown IDX type code 0x07"),
    (lambda d: gzip.compress(d)[:-6], "gzip stream is corrupt or truncated"),
])
def test_corrupt_or_truncated_files_raise_clear_errors(mutate, message):
    with pytest.raises(IDXError, match=message):
        parse_idx(mutate(_handmade_idx()), name="x")


def test_load_mnist_reads_files_laid_out_like_mnist(tmp_path):
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 6), ("t10k", 4)):
        write_idx(tmp_path / f"{prefix}-images-idx3-ubyte.gz",
                  rng.integers(0, 256, (n, 28, 28)).astype(np.uint8))
        write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte",  # decompressed works too
                  rng.integers(0, 10, n).astype(np.uint8))
    assert mnist_available(tmp_path)
    X, y = load_mnist(tmp_path, "test")
    assert X.shape == (4, 1, 28, 28) and y.shape == (4,)
    assert 0 <= X.min() and X.max() <= 1 and str(y.dtype) == "torch.int64"
    with pytest.raises(ValueError, match="split must be 'train' or 'test'"):
        load_mnist(tmp_path, "val")


def test_load_mnist_without_files_says_how_to_download(tmp_path, monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("load_mnist must never touch the network")
    monkeypatch.setattr(mnist.urllib.request, "urlopen", no_network)
    assert not mnist_available(tmp_path)
    with pytest.raises(FileNotFoundError, match="download_mnist"):
        load_mnist(tmp_path)


def test_download_keeps_files_whose_checksum_matches(tmp_path, monkeypatch):
    # Fake the network: the mirror serves the "right" bytes, whose MD5 we register.
    import hashlib
    payload = gzip.compress(_handmade_idx())
    files = {name: hashlib.md5(payload).hexdigest() for name in mnist.MNIST_FILES}
    monkeypatch.setattr(mnist, "MNIST_FILES", files)

    class Response:
        def __enter__(self):
            return self

        def __exit__(self, *a):
            return False

        def read(self):
            return payload

    calls = []
    monkeypatch.setattr(mnist.urllib.request, "urlopen",
                        lambda url, timeout: calls.append(url) or Response())
    mnist.download_mnist(tmp_path, mirrors=("https://mirror.invalid/",))
    assert len(calls) == 4
    mnist.download_mnist(tmp_path, mirrors=("https://mirror.invalid/",))
    assert len(calls) == 4  # second call: everything already there
    monkeypatch.setattr(mnist, "MNIST_FILES", {"other.gz": "0" * 32})
    with pytest.raises(RuntimeError, match="MD5 mismatch"):
        mnist.download_mnist(tmp_path, mirrors=("https://mirror.invalid/",))


def test_write_idx_rejects_unsupported_dtypes(tmp_path):
    with pytest.raises(ValueError, match="write_idx: expected an array"):
        write_idx(tmp_path / "a.idx", np.zeros(3, dtype=np.int64))
