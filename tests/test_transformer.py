"""aibook.transformer against its library twins: torch's attention and encoder layer, and
Hugging Face tokenizers' BPE trainer."""

from __future__ import annotations

import json

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from aibook.transformer import (
    GPT,
    Block,
    GPTConfig,
    MultiHeadAttention,
    causal_mask,
    scaled_dot_product_attention,
    train_bpe,
)

F = torch.nn.functional


def _qkv(seed: int, b: int, h: int, t_q: int, t_k: int, d: int, d_v: int):
    g = torch.Generator().manual_seed(seed)
    make = lambda *s: torch.randn(*s, generator=g, dtype=torch.float64, requires_grad=True)  # noqa: E731
    return make(b, h, t_q, d), make(b, h, t_k, d), make(b, h, t_k, d_v)


@settings(max_examples=30, deadline=None)
@given(b=st.integers(1, 3), h=st.integers(1, 3), t=st.integers(1, 7), extra=st.integers(0, 3),
       d=st.integers(1, 9), d_v=st.integers(1, 5), causal=st.booleans(), seed=st.integers(0, 99))
def test_attention_equals_torch_forward_and_backward(b, h, t, extra, d, d_v, causal, seed):
    q, k, v = _qkv(seed, b, h, t, t + extra, d, d_v)
    ours = scaled_dot_product_attention(q, k, v, causal=causal)
    mask = causal_mask(t, t + extra) if causal else None  # torch's is_causal aligns top-left
    theirs = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    assert torch.allclose(ours, theirs, atol=1e-12)
    w = torch.randn_like(ours)
    g_ours = torch.autograd.grad((ours * w).sum(), (q, k, v))
    g_theirs = torch.autograd.grad((theirs * w).sum(), (q, k, v))
    for a, c in zip(g_ours, g_theirs, strict=True):
        assert torch.allclose(a, c, atol=1e-10)


def test_a_padding_mask_hides_keys_exactly():
    q, k, v = _qkv(0, 2, 1, 4, 6, 3, 2)
    keep = torch.tensor([True, True, True, False, False, True]).expand(4, 6)  # (T_q, T_k)
    out, weights = scaled_dot_product_attention(q, k, v, keep, return_weights=True)
    assert torch.all(weights[..., ~keep] == 0)
    assert torch.allclose(weights.sum(-1), torch.ones(2, 1, 4, dtype=torch.float64))
    assert torch.allclose(out, F.scaled_dot_product_attention(q, k, v, attn_mask=keep),
                          atol=1e-12)


def test_causal_mask_with_a_cache_lets_the_last_queries_see_the_whole_past():
    m = causal_mask(2, 5)
    assert m.tolist() == [[True, True, True, True, False], [True] * 5]
    with pytest.raises(ValueError, match="need 1 <= T_q <= T_k, got T_q=3, T_k=2"):
        causal_mask(3, 2)


@pytest.mark.parametrize("causal", [False, True])
def test_multi_head_attention_equals_torch_multiheadattention(causal):
    torch.manual_seed(0)
    d_model, n_heads, b, t = 12, 3, 2, 5
    mha = nn.MultiheadAttention(d_model, n_heads, batch_first=True, dtype=torch.float64)
    ours = MultiHeadAttention(d_model, n_heads).double().load_from_torch(mha)
    x = torch.randn(b, t, d_model, dtype=torch.float64, requires_grad=True)
    y_ours, _, w_ours = ours(x, causal=causal, return_weights=True)
    blocked = ~causal_mask(t) if causal else None  # torch: True = may NOT attend
    y_theirs, w_theirs = mha(x, x, x, attn_mask=blocked, average_attn_weights=False)
    assert torch.allclose(y_ours, y_theirs, atol=1e-12)
    assert torch.allclose(w_ours, w_theirs, atol=1e-12)
    gx_ours, gw_ours = torch.autograd.grad(y_ours.square().sum(), (x, ours.qkv.weight))
    gx_theirs, gw_theirs = torch.autograd.grad(y_theirs.square().sum(), (x, mha.in_proj_weight))
    assert torch.allclose(gx_ours, gx_theirs, atol=1e-10)
    assert torch.allclose(gw_ours, gw_theirs, atol=1e-10)


def test_without_positions_self_attention_is_permutation_equivariant():
    """Attention alone cannot tell positions apart: permuting the tokens permutes the output.
    This is why a Transformer needs position embeddings."""
    torch.manual_seed(1)
    mha = MultiHeadAttention(8, 2).double()
    x = torch.randn(1, 6, 8, dtype=torch.float64)
    perm = torch.randperm(6)
    y, _ = mha(x, causal=False)
    y_perm, _ = mha(x[:, perm], causal=False)
    assert torch.allclose(y_perm, y[:, perm], atol=1e-12)
    model = GPT(GPTConfig(vocab_size=11, block_size=8, n_layer=1, n_head=2, d_model=8))
    idx = torch.tensor([[1, 2, 3, 4]])
    a, _ = model(idx)
    b, _ = model(idx.flip(1))
    assert not torch.allclose(a[:, 0], b[:, -1])  # with positions (and the mask) order matters


def test_block_equals_torch_encoder_layer_with_norm_first_and_a_causal_mask():
    torch.manual_seed(2)
    cfg = GPTConfig(vocab_size=5, d_model=16, n_head=4, mlp_ratio=4)
    ours = Block(cfg).double()
    ref = nn.TransformerEncoderLayer(16, 4, dim_feedforward=64, dropout=0.0, activation="gelu",
                                     batch_first=True, norm_first=True, dtype=torch.float64)
    with torch.no_grad():
        ours.attn.load_from_torch(ref.self_attn)
        for mine, theirs in ((ours.ln1, ref.norm1), (ours.ln2, ref.norm2),
                             (ours.fc, ref.linear1), (ours.proj, ref.linear2)):
            mine.weight.copy_(theirs.weight)
            mine.bias.copy_(theirs.bias)
    ref.eval()  # no dropout; the fast path is off because gradients are needed below
    x = torch.randn(3, 7, 16, dtype=torch.float64, requires_grad=True)
    y_ours, _ = ours(x)
    y_ref = ref(x, src_mask=~causal_mask(7), is_causal=True)
    assert torch.allclose(y_ours, y_ref, atol=1e-12)
    g_ours = torch.autograd.grad(y_ours.sum(), x)[0]
    g_ref = torch.autograd.grad(y_ref.sum(), x)[0]
    assert torch.allclose(g_ours, g_ref, atol=1e-10)


def _small_gpt(seed: int = 0) -> GPT:
    torch.manual_seed(seed)
    return GPT(GPTConfig(vocab_size=13, block_size=24, n_layer=2, n_head=2, d_model=16)).eval()


def test_the_kv_cache_gives_the_same_logits_as_recomputing():
    model = _small_gpt()
    idx = torch.randint(0, 13, (2, 10), generator=torch.Generator().manual_seed(0))
    full, _ = model(idx)
    first, cache = model(idx[:, :6])
    steps = []
    for i in range(6, 10):  # then one token at a time, extending the cache each step
        logits, cache = model(idx[:, i:i + 1], cache)
        steps.append(logits)
    assert cache[0][0].shape == (2, 2, 10, 8)  # (B, heads, positions, head width)
    assert torch.allclose(torch.cat([first, *steps], 1), full, atol=1e-5)


@pytest.mark.parametrize("temperature,top_k", [(0.0, None), (1.0, None), (0.8, 3)])
def test_cached_generation_samples_exactly_the_tokens_of_recomputing(temperature, top_k):
    model = _small_gpt(3)
    start = torch.tensor([[1, 2, 3], [4, 5, 6]])
    runs = [model.generate(start, 15, temperature=temperature, top_k=top_k, use_cache=c,
                           generator=torch.Generator().manual_seed(7)) for c in (True, False)]
    assert runs[0].shape == (2, 18)
    assert torch.equal(runs[0], runs[1])


def test_top_k_never_samples_outside_the_k_most_likely_tokens():
    model = _small_gpt(4)
    start = torch.zeros(64, 1, dtype=torch.long)
    logits, _ = model(start)
    allowed = set(torch.topk(logits[0, -1], 2).indices.tolist())
    out = model.generate(start, 1, top_k=2, generator=torch.Generator().manual_seed(0))
    assert set(out[:, 1].tolist()) <= allowed


def test_bad_inputs_say_what_was_expected_and_what_came():
    with pytest.raises(ValueError, match=r"expected x of shape \(B, T, 8\), got \(2, 8\)"):
        MultiHeadAttention(8, 2)(torch.zeros(2, 8))
    with pytest.raises(ValueError, match="d_model=10 is not divisible by n_heads=3"):
        MultiHeadAttention(10, 3)
    with pytest.raises(ValueError, match="mask must be boolean"):
        scaled_dot_product_attention(*_qkv(0, 1, 1, 2, 2, 2, 2), torch.ones(2, 2))
    with pytest.raises(ValueError, match="exceed block_size=24"):
        _small_gpt().generate(torch.zeros(1, 20, dtype=torch.long), 5)


# ---------------------------------------------------------------- BPE against tokenizers


def _library_bpe(text: str, vocab_size: int):
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.train_from_iterator([text], trainers.BpeTrainer(
        vocab_size=vocab_size, min_frequency=0, show_progress=False, special_tokens=[]))
    model = json.loads(tok.to_str())["model"]
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in model["merges"]]
    return tok, model["vocab"], merges


def _corpus(n_chars: int) -> str:
    import pydoc_data.topics  # Python's own help text: always installed, fixed per version

    return " ".join(pydoc_data.topics.topics[k] for k in sorted(pydoc_data.topics.topics))[
        :n_chars]


@pytest.mark.parametrize("text,vocab_size", [
    (_corpus(20_000), 220),
    ("ab ab ba ba cd dc", 12),              # every pair ties: the tie-break decides each merge
    ("aaaa aaa aa a abab abab", 9),         # overlapping pairs inside a word
    ("abc abc ab bc", 8),                   # "ab"+"c" and "a"+"bc" could both make "abc"
])
def test_bpe_merges_vocab_and_encodings_equal_the_tokenizers_trainer(text, vocab_size):
    ours = train_bpe(text, vocab_size)
    tok, vocab, merges = _library_bpe(text, vocab_size)
    assert ours.merges == merges
    assert ours.vocab == vocab
    assert ours.encode(text) == tok.encode(text).ids


def test_bpe_refuses_characters_it_never_saw_and_a_too_small_vocabulary():
    bpe = train_bpe("low lower lowest", 20)  # enough merges to make every word one symbol
    assert bpe.encode_word("lowest") == ["lowest"]
    with pytest.raises(ValueError, match=r"characters \['y'\] are not in the vocabulary"):
        bpe.encode("yowl")
    with pytest.raises(ValueError, match="vocab_size=2 is smaller than the alphabet"):
        train_bpe("abc", 2)
