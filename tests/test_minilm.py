import shutil

import pytest
import torch

from aibook import minilm


@pytest.fixture(scope="module")
def model():
    return minilm.load()


def test_packaged_weights_match_the_published_checksum():
    assert minilm.verify() == minilm.MODEL_SHA256


def test_a_modified_weights_file_is_rejected(tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(minilm.model_dir(), folder)
    with open(folder / minilm.WEIGHTS_FILE, "r+b") as f:
        f.seek(-1, 2)
        last = f.read(1)
        f.seek(-1, 2)
        f.write(bytes([last[0] ^ 1]))
    with pytest.raises(ValueError, match="failed the checksum: expected sha256 53aa"):
        minilm.load(folder)
    (folder / minilm.WEIGHTS_FILE).unlink()
    with pytest.raises(FileNotFoundError, match="expected a file at"):
        minilm.verify(folder)


def test_mean_pool_ignores_padding():
    h = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]]])
    mask = torch.tensor([[1, 1, 0]])
    torch.testing.assert_close(minilm.mean_pool(h, mask), torch.tensor([[2.0, 3.0]]))
    with pytest.raises(ValueError, match=r"expected embeddings \(B, T, H\) and mask \(B, T\)"):
        minilm.mean_pool(h, torch.ones(1, 2))


def test_embeddings_are_unit_vectors_that_group_similar_sentences(model):
    tok, m = model
    e = minilm.embed(["a happy dog", "a joyful puppy", "tax law reform"], tok, m)
    assert e.shape == (3, 384)
    torch.testing.assert_close(e.norm(dim=1), torch.ones(3))
    assert e[0] @ e[1] > e[0] @ e[2] + 0.2


def test_padding_does_not_change_a_sentence_embedding(model):
    tok, m = model
    alone = minilm.embed(["short"], tok, m)
    padded = minilm.embed(["short", "a much longer sentence that forces padding here"], tok, m)
    # float32 attention over padded vs unpadded positions: agree to ~1e-5.
    torch.testing.assert_close(alone[0], padded[0], atol=1e-5, rtol=1e-4)


def test_embed_rejects_a_bare_string(model):
    with pytest.raises(TypeError, match="expected a list of strings"):
        minilm.embed("hello", *model)
