"""aibook.transformer against its library twins: torch's attention and encoder layer, and
Hugging Face tokenizers' BPE trainer."""

from __future__ import annotations

import json
import math
from collections import Counter

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
    sinusoidal_positions,
    train_bpe,
)
from aibook.transformer import data as tdata
from aibook.transformer import train as ttrain

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
    with pytest.raises(ValueError, match="need a context of 25, more than block_size=24"):
        _small_gpt().generate(torch.zeros(1, 21, dtype=torch.long), 5)
    assert _small_gpt().generate(torch.zeros(1, 20, dtype=torch.long), 5).shape == (1, 25)
    with pytest.raises(ValueError, match="positions must be one of"):
        GPTConfig(vocab_size=5, positions="rotary")
    with pytest.raises(ValueError, match="d_model=10 is not divisible by n_head=4"):
        GPTConfig(vocab_size=5, d_model=10, n_head=4)
    with pytest.raises(ValueError, match="not causal"):
        GPT(GPTConfig(vocab_size=5, causal=False)).generate(torch.zeros(1, 2, dtype=torch.long), 1)
    with pytest.raises(ValueError, match=r"targets must have the shape of idx \(1, 3\)"):
        _small_gpt().loss(torch.zeros(1, 3, dtype=torch.long), torch.zeros(1, 4, dtype=torch.long))


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


# ---------------------------------------------------------------- positions and the config


@settings(max_examples=20, deadline=None)
@given(t=st.integers(1, 40), half=st.integers(1, 16))
def test_sinusoidal_positions_follow_the_formula(t, half):
    d = 2 * half
    pe = sinusoidal_positions(t, d)
    for p in {0, t // 2, t - 1}:
        for i in range(half):
            w = p / 10000 ** (2 * i / d)
            # float32 storage of values in [-1, 1]: 6e-8 relative; the float64 angle is exact
            assert abs(pe[p, 2 * i].item() - math.sin(w)) < 1e-6
            assert abs(pe[p, 2 * i + 1].item() - math.cos(w)) < 1e-6


def test_sinusoidal_similarity_depends_only_on_the_offset_and_odd_widths_are_refused():
    pe = sinusoidal_positions(50, 16).double()
    dots = pe[:-7] @ pe[7:].T
    assert torch.allclose(dots.diagonal(), dots.diagonal()[0].expand(43), atol=1e-5)
    with pytest.raises(ValueError, match="even d >= 2, got T=4, d=5"):
        sinusoidal_positions(4, 5)


@pytest.mark.parametrize("positions,equivariant", [("none", True), ("learned", False),
                                                   ("sinusoidal", False)])
def test_only_a_gpt_without_positions_or_mask_is_permutation_equivariant(positions, equivariant):
    torch.manual_seed(5)
    model = GPT(GPTConfig(vocab_size=9, block_size=8, n_layer=2, n_head=2, d_model=8,
                          positions=positions, causal=False)).double()
    idx, perm = torch.tensor([[1, 2, 3, 4, 5, 6]]), torch.tensor([3, 0, 5, 1, 4, 2])
    with torch.no_grad():
        out, perm_out = model(idx)[0], model(idx[:, perm])[0]
    assert torch.allclose(perm_out, out[:, perm], atol=1e-12) == equivariant


def test_switching_off_residuals_and_norms_changes_the_block_as_written():
    torch.manual_seed(6)
    cfg = GPTConfig(vocab_size=5, d_model=8, n_head=2, residual=False, norm=False)
    block = Block(cfg).double()
    x = torch.randn(2, 4, 8, dtype=torch.float64)
    a, _ = block.attn(x, causal=True)
    expected = block.proj(F.gelu(block.fc(a)))  # no skip path, no LayerNorm
    assert torch.allclose(block(x)[0], expected, atol=1e-12)
    assert isinstance(block.ln1, nn.Identity)


def test_the_loss_skips_ignored_targets():
    model = _small_gpt(8)
    idx = torch.randint(0, 13, (2, 6), generator=torch.Generator().manual_seed(1))
    targets = torch.randint(0, 13, (2, 6), generator=torch.Generator().manual_seed(2))
    keep = torch.tensor([[False, True, True, False, True, True]] * 2)
    logits, _ = model(idx)
    expected = F.cross_entropy(logits[keep], targets[keep])
    got = model.loss(idx, targets.masked_fill(~keep, tdata.IGNORE))
    assert torch.allclose(got, expected, atol=1e-6)


# ---------------------------------------------------------------- data


def test_the_corpus_is_checked_against_its_sha256():
    text = tdata.corpus()
    assert len(text) == 465_048 and text.startswith("The \"assert\" statement")
    with pytest.raises(ValueError, match="failed the checksum: expected sha256 0000"):
        tdata.corpus("0000")


def test_char_vocab_round_trips_and_names_unknown_characters():
    vocab = tdata.CharVocab("hello world")
    ids = vocab.encode("low held")
    assert ids.dtype == torch.long and vocab.decode(ids) == "low held"
    assert vocab.chars == sorted(set("hello world"))
    with pytest.raises(ValueError, match=r"characters \['z'\] are not in the vocabulary of 8"):
        vocab.encode("zero")


def test_lm_splits_are_contiguous_and_lm_batches_are_shifted_windows():
    ids = torch.arange(1000)
    train, val, test = tdata.lm_splits(ids, val=0.1, test=0.2)
    assert (len(train), len(val), len(test)) == (700, 100, 200)
    assert torch.equal(torch.cat([train, val, test]), ids)
    x, y = tdata.lm_batch(train, 8, 16, torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (8, 16)
    assert torch.equal(y[:, :-1], x[:, 1:]) and torch.all(y[:, -1] == x[:, -1] + 1)
    assert int(y.max()) < 700  # windows never leave the training piece
    with pytest.raises(ValueError, match="val \\+ test < 1"):
        tdata.lm_splits(ids, val=0.5, test=0.5)
    with pytest.raises(ValueError, match="need more than block_size=16"):
        tdata.lm_batch(ids[:10], 2, 16, torch.Generator())


def test_sort_task_holds_every_sequence_once_with_its_sorted_copy(monkeypatch):
    task = tdata.sort_task(seed=0)
    rows = torch.cat([task.split[k] for k in ("train", "val", "test")])
    assert sorted(rows.tolist()) == list(range(729)) and len(task.split["test"]) == 146
    assert torch.equal(task.answers, task.prompts.sort(1).values)
    x, y = task.sequences("val")
    assert x.shape == y.shape == (146, 11) and task.block_size == 11
    assert torch.all(y[:, :5] == tdata.IGNORE)  # the prompt's places are not scored
    full = torch.cat([task.prompts[task.split["val"]], task.answers[task.split["val"]]], 1)
    assert torch.equal(y[:, 5:], full[:, 6:]) and torch.equal(x, full[:, :-1])
    monkeypatch.setenv("AIBOOK_SEED_OFFSET", "3")  # another offset draws another split
    assert not torch.equal(tdata.sort_task(seed=0).split["test"], task.split["test"])


def test_addition_task_answers_are_the_sums_digits_least_significant_first():
    task = tdata.addition_task(2, seed=1)
    assert task.prompts.shape == (10_000, 4) and task.answers.shape == (10_000, 3)
    weights = torch.tensor([10, 1])
    a, b = task.prompts[:, :2] @ weights, task.prompts[:, 2:] @ weights
    c = task.answers @ torch.tensor([1, 10, 100])
    assert torch.equal(a + b, c)
    assert len(set(zip(a.tolist(), b.tolist(), strict=True))) == 10_000
    with pytest.raises(ValueError, match="n_digits must be 1, 2 or 3, got 4"):
        tdata.addition_task(4)


# ---------------------------------------------------------------- training and measuring


def test_the_learning_rate_warms_up_then_decays_to_a_tenth():
    cfg = ttrain.TrainConfig(steps=100, lr=1.0, warmup=10)
    assert ttrain.lr_at(0, cfg) == pytest.approx(0.1)
    assert ttrain.lr_at(9, cfg) == pytest.approx(1.0)
    assert ttrain.lr_at(55, cfg) == pytest.approx(0.55)  # half-way through the cosine
    assert ttrain.lr_at(100, cfg) == pytest.approx(0.1)


def test_train_keeps_the_weights_of_the_best_validation_score():
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=7, block_size=8, n_layer=1, n_head=1, d_model=8))
    data = torch.randint(0, 7, (400,), generator=torch.Generator().manual_seed(0))
    scores, states = iter([0.1, 0.9, 0.3]), []

    def validate(m):
        states.append({k: v.clone() for k, v in m.state_dict().items()})
        return next(scores)
    log = ttrain.train(model, ttrain.lm_batches(data, 4, 8), ttrain.TrainConfig(
        steps=30, eval_every=10, warmup=2), seed=0, validate=validate, progress=False)
    assert log.val_steps == [10, 20, 30] and log.best_step == 20 and len(log.loss) == 30
    for k, v in model.state_dict().items():
        assert torch.equal(v, states[1][k]), k
    assert not torch.equal(states[1]["head.weight"], states[2]["head.weight"])
    scores = iter([0.1, 0.9, 0.3])
    log = ttrain.train(model, ttrain.lm_batches(data, 4, 8), ttrain.TrainConfig(
        steps=30, eval_every=10, warmup=2), seed=0, validate=validate, stop_at=0.8,
        progress=False)
    assert log.val_steps == [10, 20] and len(log.loss) == 20  # stopped once 0.9 >= 0.8
    scores, states = iter([0.2, 0.7, 0.7]), []
    log = ttrain.train(model, ttrain.lm_batches(data, 4, 8), ttrain.TrainConfig(
        steps=30, eval_every=10, warmup=2), seed=0, validate=validate, progress=False)
    assert log.best_step == 30  # a tie goes to the later, longer-trained weights
    for k, v in model.state_dict().items():
        assert torch.equal(v, states[2][k]), k


def test_mean_nll_of_a_uniform_model_is_log_v_and_equals_cross_entropy_over_windows():
    model = _small_gpt(9)
    data = torch.randint(0, 13, (101,), generator=torch.Generator().manual_seed(3))
    x, y = data[:96].view(4, 24), data[1:97].view(4, 24)
    logits, _ = model(x)
    expected = F.cross_entropy(logits.reshape(-1, 13), y.reshape(-1)).item()
    assert ttrain.mean_nll(model, data, batch_size=3) == pytest.approx(expected, rel=1e-6)
    with torch.no_grad():
        model.head.weight.zero_()  # every logit 0: the uniform distribution
    assert ttrain.mean_nll(model, data) == pytest.approx(math.log(13), rel=1e-6)


def test_counted_baselines_equal_a_dictionary_count():
    g = torch.Generator().manual_seed(4)
    train, val = torch.randint(0, 5, (300,), generator=g), torch.randint(0, 5, (50,), generator=g)
    pairs = Counter(zip(train[:-1].tolist(), train[1:].tolist(), strict=True))
    firsts = Counter(train[:-1].tolist())
    alpha = 0.3
    expected = -sum(math.log((pairs[a, b] + alpha) / (firsts[a] + 5 * alpha))
                    for a, b in zip(val[:-1].tolist(), val[1:].tolist(), strict=True)) / 49
    got = ttrain.bigram_nll(ttrain.bigram_counts(train, 5), val, alpha)
    assert got == pytest.approx(expected, rel=1e-12)
    singles = Counter(train.tolist())
    uni = -sum(math.log((singles[t] + 1) / (300 + 5)) for t in val.tolist()) / 50
    assert ttrain.unigram_nll(train, val, 5) == pytest.approx(uni, rel=1e-12)
    with pytest.raises(ValueError, match="alpha must be > 0"):
        ttrain.bigram_nll(ttrain.bigram_counts(train, 5), val, 0.0)


def test_exact_match_equals_step_by_step_greedy_decoding():
    torch.manual_seed(10)
    task = tdata.sort_task(length=4, symbols=3, seed=0)
    model = GPT(GPTConfig(task.vocab_size, task.block_size, n_layer=1, n_head=2, d_model=16))
    ttrain.train(model, ttrain.task_batch(task, 32), ttrain.TrainConfig(steps=60, lr=1e-2),
                 seed=0, progress=False)  # part-trained: some answers right, some wrong
    rows = task.split["test"]
    right = 0
    for prompt, answer in zip(task.prompts[rows], task.answers[rows], strict=True):
        seq = prompt.tolist()
        for _ in range(len(answer)):  # no cache, one row at a time
            logits, _ = model(torch.tensor([seq]))
            seq.append(int(logits[0, -1].argmax()))
        right += seq[len(prompt):] == answer.tolist()
    assert 0 < right < len(rows)
    assert ttrain.exact_match(model, task, "test") == pytest.approx(right / len(rows))
