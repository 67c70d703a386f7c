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


def test_seed_offset_shifts_every_seeded_helper(monkeypatch):
    from aibook.device import seed_for, seed_offset

    monkeypatch.delenv("AIBOOK_SEED_OFFSET", raising=False)
    assert seed_offset() == 0 and seed_for(3) == 3
    base = (aibook.seed_everything(0), aibook.digits(seed=0).y_test, aibook.moons(seed=0).X_test)
    monkeypatch.setenv("AIBOOK_SEED_OFFSET", "17")
    assert seed_offset() == 17 and seed_for(3) == 20
    # seed_everything(0) at offset 17 is seed_everything(17) at offset 0
    g = aibook.seed_everything(0)
    draw = torch.rand(3, generator=g)
    monkeypatch.setenv("AIBOOK_SEED_OFFSET", "0")
    assert torch.equal(draw, torch.rand(3, generator=aibook.seed_everything(17)))
    assert not torch.equal(draw, torch.rand(3, generator=base[0]))
    monkeypatch.setenv("AIBOOK_SEED_OFFSET", "17")
    assert not torch.equal(aibook.digits(seed=0).y_test, base[1])  # another split
    assert not torch.equal(aibook.moons(seed=0).X_test, base[2])  # other points


@pytest.mark.parametrize("bad", ["-1", "x", "1.5"])
def test_bad_seed_offset_says_what_was_expected(monkeypatch, bad):
    monkeypatch.setenv("AIBOOK_SEED_OFFSET", bad)
    with pytest.raises(ValueError, match=f"AIBOOK_SEED_OFFSET: expected a non-negative integer, "
                                         f"got '{bad}'"):
        aibook.seed_everything(0)
