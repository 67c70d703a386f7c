import numpy as np
import pytest
import torch

import aibook


def test_device_defaults_to_an_available_backend():
    dev = aibook.device()
    expected = "cuda" if torch.cuda.is_available() else (
        "mps" if torch.backends.mps.is_available() else "cpu")
    assert dev.type == expected


def test_device_honours_cpu_request_and_env(monkeypatch):
    assert aibook.device("cpu").type == "cpu"
    monkeypatch.setenv("AIBOOK_DEVICE", "cpu")
    assert aibook.device().type == "cpu"


def test_device_rejects_unknown_name():
    with pytest.raises(ValueError, match=r"expected one of .*'tpu'"):
        aibook.device("tpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error when CUDA is absent")
def test_device_request_for_missing_cuda_raises():
    with pytest.raises(RuntimeError, match="'cuda' was requested but is not available"):
        aibook.device("cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_device_picks_cuda_when_present():
    assert aibook.device().type == "cuda"


def test_seed_everything_repeats_all_generators():
    def draw():
        aibook.seed_everything(123)
        legacy = np.random.rand(3)  # noqa: NPY002  (the legacy global RNG is what we seed)
        return (legacy, torch.rand(3), __import__("random").random())

    a, b = draw(), draw()
    np.testing.assert_array_equal(a[0], b[0])
    assert torch.equal(a[1], b[1])
    assert a[2] == b[2]
    aibook.seed_everything(124)
    assert not torch.equal(torch.rand(3), a[1])


def test_seed_everything_returns_a_seeded_generator():
    g1, g2 = aibook.seed_everything(5), aibook.seed_everything(5)
    assert torch.equal(torch.rand(4, generator=g1), torch.rand(4, generator=g2))


@pytest.mark.parametrize("bad", [-1, 1.5, "0", True])
def test_seed_everything_rejects_bad_seeds(bad):
    with pytest.raises(ValueError, match="expected a non-negative int"):
        aibook.seed_everything(bad)
