import copy
import shutil

import pytest
import torch

from aibook import minilm

EPS32 = torch.finfo(torch.float32).eps  # 1.19e-7: a float32 rounding errs by at most EPS32 / 2
EPS64 = torch.finfo(torch.float64).eps  # 2.2e-16


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


def test_config_and_tokenizer_files_match_their_checksums():
    digests = minilm.verify_files()
    assert digests == minilm.FILE_SHA256
    assert {"config.json", "tokenizer.json", "vocab.txt", minilm.WEIGHTS_FILE} <= set(digests)


def test_a_modified_tokenizer_or_missing_config_is_rejected(tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    small = {name: digest for name, digest in minilm.FILE_SHA256.items()
             if name != minilm.WEIGHTS_FILE}  # skip copying 90 MB: the weights have their test
    for name in small:
        shutil.copy(minilm.model_dir() / name, folder / name)
    assert minilm.verify_files(folder, small) == small
    vocab = folder / "vocab.txt"
    vocab.write_text(vocab.read_text(encoding="utf-8").replace("[UNK]", "[UNX]", 1),
                     encoding="utf-8")
    with pytest.raises(ValueError, match="vocab.txt .* failed the checksum: expected sha256 07ec"):
        minilm.verify_files(folder, small)
    (folder / "config.json").unlink()
    with pytest.raises(FileNotFoundError, match="expected a file at .*config.json"):
        minilm.verify_files(folder, {"config.json": small["config.json"]})


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
    # float32: normalising divides by a norm of 384 squares (a sum: <= 384 roundings relative
    # to it; the square root halves that), then the test's norm does the same again:
    # <= (384 + 4) x EPS32 / 2 relative.
    torch.testing.assert_close(e.norm(dim=1), torch.ones(3), rtol=(384 + 4) * EPS32 / 2, atol=0)
    # The pretrained weights make these numbers deterministic: cosines 0.77 and -0.04, a gap
    # of 0.81; asking for 0.2 leaves 0.6 for other CPUs and library versions.
    assert e[0] @ e[1] > e[0] @ e[2] + 0.2


def test_padding_does_not_change_a_sentence_embedding(model):
    tok, m = model
    m64 = copy.deepcopy(m).double()
    alone = minilm.embed(["short"], tok, m64)
    padded = minilm.embed(["short", "a much longer sentence that forces padding here"], tok, m64)
    # Padding adds exact zeros (masked attention weights, masked pooling) and changes only how
    # sums associate. In float64: 6 layers, each a chain of sums of ~2,800 terms (q/k/v 384,
    # scores 32, attention <= 11, output 384, FFN 384 + 1,536), activations <= 12 in
    # magnitude (LayerNorm keeps the residual stream near unit scale):
    # 6 x 2,800 x EPS64 x 12 ~ 4.5e-11. A padding bug moves the unit vector by ~1e-1.
    assert alone.dtype == torch.float64
    torch.testing.assert_close(alone[0], padded[0], rtol=0, atol=6 * 2_800 * EPS64 * 12)


def test_embed_rejects_a_bare_string(model):
    with pytest.raises(TypeError, match="expected a list of strings"):
        minilm.embed("hello", *model)
