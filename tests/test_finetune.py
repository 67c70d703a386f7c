import copy
import dataclasses
import math
import shutil
import zlib

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from aibook import minilm
from aibook.data import Split
from aibook.device import seed_for
from aibook.finetune import (
    LoRALinear,
    add_lora,
    copy_from_peft,
    freeze,
    load_adapter,
    merge_lora,
    save_adapter,
    trainable_summary,
    unmerge_lora,
    warmup_factor,
)
from aibook.finetune import text as T
from aibook.finetune import transfer as TR
from aibook.measure import count_params

dims = st.integers(1, 24)
seeds = st.integers(0, 2**31 - 1)  # hypothesis draws the seed, so a failure replays

EPS32 = torch.finfo(torch.float32).eps  # 1.19e-7: a float32 rounding errs by at most EPS32 / 2
EPS64 = torch.finfo(torch.float64).eps  # 2.2e-16
# Two float64 runs of tiny_bert that differ only in the association of their sums (merged vs
# unmerged weights, padding): 2 layers, each a chain of sums of about 200 terms (q/k/v and
# output 32, scores 16, attention 9, FFN 32 + 64), activations of magnitude <= 10 (LayerNorm
# keeps the residual stream near unit scale): 2 x 200 x EPS64 x 10 ~ 9e-13 -> 1e-12.
BERT_TOL64 = 1e-12


def tiny_bert(seed: int = 0, dtype: torch.dtype = torch.float32):
    from transformers import BertConfig, BertModel

    torch.manual_seed(seed)
    cfg = BertConfig(vocab_size=50, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=32)
    return BertModel(cfg).to(dtype).eval()


def assert_within(got: torch.Tensor, want: torch.Tensor, bound: torch.Tensor) -> None:
    """|got - want| <= bound elementwise (bound broadcasts), with the worst ratio on failure."""
    err = (got - want).abs()
    assert (err <= bound).all(), f"error is {(err / bound).max().item():.3g} x its rounding bound"


@settings(max_examples=30, deadline=None)
@given(d_in=dims, d_out=dims, r=st.integers(1, 8), batch=st.integers(1, 5), seed=seeds)
def test_lora_with_B_zero_equals_the_base_layer_at_step_0(d_in, d_out, r, batch, seed):
    torch.manual_seed(seed)
    base = nn.Linear(d_in, d_out)
    x = torch.randn(batch, 3, d_in)
    expected = base(x)
    layer = LoRALinear(base, r=r, alpha=2 * r)
    assert torch.count_nonzero(layer.B) == 0 and torch.count_nonzero(layer.A) > 0
    torch.testing.assert_close(layer(x), expected, rtol=0, atol=0)  # exactly: B A x = 0


@settings(max_examples=30, deadline=None)
@given(d_in=dims, d_out=dims, r=st.integers(1, 8), seed=seeds)
def test_lora_forward_is_Wx_plus_scaled_BAx_and_merge_gives_the_same(d_in, d_out, r, seed):
    torch.manual_seed(seed)
    base = nn.Linear(d_in, d_out)
    W0 = base.weight.detach().clone()
    layer = LoRALinear(base, r=r, alpha=16)  # scale alpha / r = 16 / r
    nn.init.normal_(layer.B)
    x = torch.randn(7, d_in)
    with torch.no_grad():
        s, A, B, b = 16 / r, layer.A, layer.B, base.bias
        delta = layer.delta_weight()  # (d_out, d_in), entries up to ~16 x 4 / sqrt(d_in)
        by_hand = x @ W0.T + b + s * (x @ A.T @ B.T)
        unmerged = layer(x)
        # float32 bounds, entry by entry: a sum of n terms computed two ways differs by at most
        # n x EPS32 x (the same sum of absolute values). Along any path here there are at most
        # d_in (x W^T) + r (B A x) + 4 (scale, bias, the sum, a merged weight's own rounding)
        # roundings, and every term is bounded by `magnitude`:
        magnitude = x.abs() @ W0.abs().T + b.abs() + s * (x.abs() @ A.abs().T @ B.abs().T)
        bound = (d_in + r + 4) * EPS32 * magnitude  # (7, d_out)
        assert_within(unmerged, by_hand, bound)
        layer.merge()  # W + s B A: |x| |W + s B A|^T <= magnitude, so the same bound holds
        merged_weight = base.weight.clone()
        assert_within(layer(x), unmerged, bound)
        layer.merge()  # merging twice must not add the update twice: nothing changes at all
        assert torch.equal(base.weight, merged_weight)
        layer.unmerge()
        # (W0 + delta) - delta: two roundings, each at most EPS32 / 2 of a number
        # <= |W0| + |delta|. Scale 16 makes delta, and so this error, large: on an Intel Xeon
        # it reached 1.4e-6, above a fixed 1e-6; it is always below this bound.
        assert_within(base.weight, W0, EPS32 * (W0.abs() + delta.abs()))
        assert_within(layer(x), unmerged, bound)


def test_lora_rejects_bad_inputs_clearly():
    with pytest.raises(TypeError, match="expected an nn.Linear to wrap, got Conv2d"):
        LoRALinear(nn.Conv2d(1, 1, 3))
    with pytest.raises(ValueError, match="rank r must be a positive int, got 0"):
        LoRALinear(nn.Linear(3, 3), r=0)
    with pytest.raises(ValueError, match=r"expected inputs \(\.\.\., 3\), got \(2, 4\)"):
        LoRALinear(nn.Linear(3, 3))(torch.zeros(2, 4))
    with pytest.raises(ValueError, match=r"no nn.Linear is named like \('qkv',\).*'query'"):
        add_lora(tiny_bert(), ["qkv"])


@settings(max_examples=25, deadline=None)
@given(d_in=dims, d_out=dims, r=st.integers(1, 8))
def test_parameter_counts_of_a_wrapped_linear(d_in, d_out, r):
    model = nn.Sequential(nn.Linear(d_in, d_out), nn.ReLU())
    add_lora(model, ["0"], r=r)
    trainable, total = count_params(model, trainable=True), count_params(model)
    assert trainable == r * (d_in + d_out)
    assert total == d_in * d_out + d_out + r * (d_in + d_out)


def test_counts_and_summary_match_peft(capsys):
    from peft import LoraConfig, get_peft_model

    ours = tiny_bert()
    add_lora(ours, ["query", "value"], r=4, alpha=8)
    theirs = get_peft_model(tiny_bert(), LoraConfig(r=4, lora_alpha=8,
                                                    target_modules=["query", "value"]))
    assert (count_params(ours, trainable=True), count_params(ours)) == \
        theirs.get_nb_trainable_parameters()
    # 2 layers x 2 modules x r (32 + 32) = 512 trainable
    assert count_params(ours, trainable=True) == 2 * 2 * 4 * 64
    theirs.print_trainable_parameters()
    assert trainable_summary(ours) == capsys.readouterr().out.strip()


def test_forward_matches_peft_for_the_same_weights_merged_or_not():
    from peft import LoraConfig, get_peft_model

    # float64, so that the tolerance (BERT_TOL64, derived above) sits ten orders of magnitude
    # below what a wrong scale, a transposed B or a missed layer would change (> 1e-2).
    f64 = torch.float64
    theirs = get_peft_model(tiny_bert(dtype=f64), LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0,
                                                              target_modules=["query", "value"]))
    g = torch.Generator().manual_seed(1)
    for name, p in theirs.named_parameters():
        if "lora_B" in name:
            nn.init.normal_(p, std=0.5, generator=g)  # a trained-looking adapter, not 0
    ours = tiny_bert(dtype=f64)
    add_lora(ours, ["query", "value"], r=4, alpha=8)
    assert copy_from_peft(ours, theirs) == 4
    ids = torch.randint(0, 50, (3, 9), generator=g)
    mask = torch.ones_like(ids)
    mask[0, 6:] = 0

    def close(model: nn.Module) -> None:
        out = model(input_ids=ids, attention_mask=mask).last_hidden_state
        assert out.dtype == f64
        torch.testing.assert_close(out, want, atol=BERT_TOL64, rtol=0)

    with torch.no_grad():
        base_out = tiny_bert(dtype=f64)(input_ids=ids, attention_mask=mask).last_hidden_state
        want = theirs(input_ids=ids, attention_mask=mask).last_hidden_state
        assert (want - base_out).abs().max() > 1e-2  # the adapter really changes the output
        close(ours)
        merge_lora(ours)
        close(ours)
        close(theirs.merge_and_unload())
        unmerge_lora(ours)
        close(ours)


def test_frozen_parameters_get_no_gradient():
    model = tiny_bert()
    names = add_lora(model, ["query", "value"], r=2)
    assert len(names) == 4
    ids = torch.randint(0, 50, (2, 5), generator=torch.Generator().manual_seed(0))
    model(input_ids=ids).last_hidden_state.pow(2).sum().backward()
    for name, p in model.named_parameters():
        if name.endswith((".A", ".B")):
            assert p.requires_grad and p.grad is not None, name
        else:
            assert not p.requires_grad and p.grad is None, name
    freeze(model)
    assert count_params(model, trainable=True) == 0


def test_probe_trains_only_the_head_on_digits():
    source, target = TR.digit_tasks(0)
    torch.manual_seed(seed_for(0))
    pretrained = TR.SmallCNN()
    X, y = TR.k_shot(target.X_train, target.y_train, k=2)
    cfg = TR.TransferConfig(steps=3)
    probe = TR.adapt(pretrained, "probe", X, y, cfg)
    for (name, before), after in zip(pretrained.features.named_parameters(),
                                     probe.features.parameters(), strict=True):
        assert after.grad is None, name
        torch.testing.assert_close(after, before, rtol=0, atol=0)
    lora = TR.adapt(pretrained, "lora", X, y, cfg)
    trainable = {n for n, p in lora.named_parameters() if p.requires_grad}
    assert trainable == {"features.fc.A", "features.fc.B", "head.weight", "head.bias"}
    with pytest.raises(ValueError, match="method must be one of"):
        TR.adapt(pretrained, "prompt", X, y, cfg)


def test_probe_on_cached_features_equals_training_through_frozen_features():
    _, target = TR.digit_tasks(0)
    torch.manual_seed(seed_for(3))
    pretrained = TR.SmallCNN(40, width=4, dim=16)
    X, y = TR.k_shot(target.X_train, target.y_train, k=3, seed=1)
    cfg = TR.TransferConfig(width=4, dim=16, steps=20)
    fast = TR.adapt(pretrained, "probe", X, y, cfg, seed=2)
    torch.manual_seed(seed_for(2))  # as adapt(..., seed=2) seeds the new head
    slow = copy.deepcopy(pretrained)
    slow.head = nn.Linear(16, 5)
    freeze(slow.features)
    TR.train_steps(slow, X, y, 20, cfg.lr_head)
    # Exactly equal: the frozen features are the same ops on the same images in both, so the
    # head sees the same numbers and takes the same Adam steps; only autograd's bookkeeping
    # differs, and it does no arithmetic.
    with torch.no_grad():
        torch.testing.assert_close(fast(target.X_test), slow(target.X_test), rtol=0, atol=0)
    # LP-FT with a zero fine-tuning rate is the probe of its first stage, exactly: 20 probe
    # steps, then 20 steps of Adam with lr 0, which add exactly 0 to every weight
    lpft = TR.adapt(pretrained, "lpft", X, y, dataclasses.replace(
        cfg, steps=40, lpft_probe_share=0.5, lr_lpft=0.0), seed=2)
    with torch.no_grad():
        torch.testing.assert_close(lpft(target.X_test), fast(target.X_test), rtol=0, atol=0)
    moved = TR.adapt(pretrained, "lpft", X, y, cfg, seed=2)
    assert not torch.equal(moved.features.fc.weight, pretrained.features.fc.weight)


def test_small_cnn_features_have_dim_columns_and_no_final_relu():
    torch.manual_seed(0)
    net = TR.SmallCNN(7, width=4, dim=12)
    h = net.features(torch.rand(10, 1, 8, 8))
    assert h.shape == (10, 12) and (h < 0).any()  # a ReLU would make every entry >= 0
    assert net(torch.rand(2, 1, 8, 8)).shape == (2, 7)
    with pytest.raises(ValueError, match=r"expected images \(N, 1, 8, 8\), got \(2, 64\)"):
        net(torch.rand(2, 64))


def test_orientations_are_the_8_rotations_and_mirrors_with_their_own_labels():
    X = torch.arange(2 * 64, dtype=torch.float32).reshape(2, 1, 8, 8)  # no symmetry at all
    y = torch.tensor([3, 0])
    X8, y8 = TR.orientations(X, y)
    assert X8.shape == (16, 1, 8, 8)
    assert y8.tolist() == [8 * c + o for o in range(8) for c in (3, 0)]
    torch.testing.assert_close(X8[0:2], X, rtol=0, atol=0)                 # o = 0: as it is
    torch.testing.assert_close(X8[2], torch.rot90(X[0], 1, (1, 2)), rtol=0, atol=0)
    torch.testing.assert_close(X8[8], X[0].flip(-1), rtol=0, atol=0)      # o = 4: mirrored
    assert len(torch.unique(X8.flatten(1), dim=0)) == 16                   # all distinct
    with pytest.raises(ValueError, match=r"expected X \(N, C, H, W\) and y \(N,\)"):
        TR.orientations(X.flatten(1), y)


def test_pretrain_uses_only_the_source_training_images():
    source, _ = TR.digit_tasks(0)
    nan = torch.full_like(source.X_test, float("nan"))
    poisoned = Split(source.X_train[:64], source.y_train[:64], nan, source.y_test, nan,
                     source.y_test)
    cfg = TR.TransferConfig(width=4, dim=8, pretrain_epochs=1)
    model = TR.pretrain(poisoned, cfg)
    assert model.head.out_features == 40            # 5 digits x 8 orientations
    assert all(torch.isfinite(p).all() for p in model.parameters())
    plain = TR.pretrain(poisoned, dataclasses.replace(cfg, orient=False))
    assert plain.head.out_features == 5


def test_adapter_saves_small_and_reloads_to_the_same_outputs(tmp_path):
    trained = tiny_bert()
    add_lora(trained, ["query", "value"], r=4)
    g = torch.Generator().manual_seed(0)
    for layer in (m for m in trained.modules() if isinstance(m, LoRALinear)):
        nn.init.normal_(layer.B, generator=g)
    size = save_adapter(trained, tmp_path / "adapter.safetensors")
    assert size < 4 * 2 * 2 * 4 * 64 + 2000  # float32 A and B plus a small header
    fresh = tiny_bert()
    add_lora(fresh, ["query", "value"], r=4)
    load_adapter(fresh, tmp_path / "adapter.safetensors")
    ids = torch.randint(0, 50, (2, 6), generator=g)
    with torch.no_grad():  # the file holds the float32 bits: same weights, same outputs
        torch.testing.assert_close(fresh(input_ids=ids).last_hidden_state,
                                   trained(input_ids=ids).last_hidden_state, rtol=0, atol=0)
    other = tiny_bert()
    add_lora(other, ["query"], r=4)
    with pytest.raises(ValueError, match="keys differ"):
        load_adapter(other, tmp_path / "adapter.safetensors")


def test_a_modified_weights_file_is_rejected(tmp_path):
    shutil.copy(minilm.model_dir() / minilm.WEIGHTS_FILE, tmp_path / minilm.WEIGHTS_FILE)
    with open(tmp_path / minilm.WEIGHTS_FILE, "r+b") as f:
        f.seek(1000)
        byte = f.read(1)
        f.seek(1000)
        f.write(bytes([byte[0] ^ 0x10]))
    with pytest.raises(ValueError, match="failed the checksum: expected sha256"):
        minilm.verify(tmp_path)


@settings(max_examples=40, deadline=None)
@given(warmup=st.integers(0, 20), extra=st.integers(0, 30), kind=st.sampled_from(["linear",
                                                                                 "cosine"]))
def test_warmup_matches_transformers_schedules(warmup, extra, kind):
    from transformers import get_cosine_schedule_with_warmup, get_linear_schedule_with_warmup

    total = max(1, warmup + extra)
    make = get_linear_schedule_with_warmup if kind == "linear" else \
        get_cosine_schedule_with_warmup
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = make(opt, warmup, total)
    for step in range(total + 3):
        # transformers computes the same closed form in float64: values <= 1, at most 4
        # roundings (a division, a subtraction, cos, a product) that could differ in order
        assert warmup_factor(step, warmup, total, kind) == pytest.approx(
            opt.param_groups[0]["lr"], abs=4 * EPS64), step
        opt.step()
        sched.step()


def test_warmup_rejects_bad_arguments():
    with pytest.raises(ValueError, match="need 0 <= warmup <= total"):
        warmup_factor(0, 10, 5)
    with pytest.raises(ValueError, match="kind must be 'linear' or 'cosine'"):
        warmup_factor(0, 1, 5, kind="step")


@settings(max_examples=25, deadline=None)
@given(k=st.integers(1, 30), seed=seeds)
def test_k_shot_draws_k_distinct_examples_per_class(k, seed):
    _, target = TR.digit_tasks(0)
    X, y = TR.k_shot(target.X_train, target.y_train, k, seed)
    assert torch.bincount(y).tolist() == [k] * 5
    # Distinct rows of the pool: digits has a few identical twin images, and a draw may take
    # both twins of a pair, so at most (pool rows - distinct pool images) repeats can appear.
    pool = target.X_train.flatten(1)
    twins = len(pool) - len(torch.unique(pool, dim=0))
    assert len(torch.unique(X.flatten(1), dim=0)) >= 5 * k - twins


def test_digit_tasks_split_0_to_4_from_5_to_9():
    source, target = TR.digit_tasks(0)
    assert set(source.y_train.tolist()) == set(target.y_test.tolist()) == set(range(5))
    n = sum(len(s.y_train) + len(s.y_val) + len(s.y_test) for s in (source, target))
    assert n == 1797
    with pytest.raises(ValueError, match="asked for k=1000"):
        TR.k_shot(target.X_train, target.y_train, 1000)


def test_head_from_probe_reproduces_logistic_regression_probabilities():
    from sklearn.linear_model import LogisticRegression

    torch.manual_seed(0)
    E = torch.randn(60, 8)
    y = (E[:, 0] + 0.3 * torch.randn(60) > 0).long()
    clf = LogisticRegression().fit(E.numpy(), y.numpy())
    head = T.head_from_probe(nn.Linear(8, 2), clf.coef_, clf.intercept_)
    probs = torch.softmax(head(E), 1).detach()
    want = torch.as_tensor(clf.predict_proba(E.numpy()), dtype=torch.float32)
    # float32 head vs float64 scikit-learn. The score z = w.e + b: 8 products and 2 sums, plus
    # the rounding of w, b to float32, err by <= (8 + 2) x EPS32 x M per row, M = |w|.|e| + |b|;
    # p = sigmoid(z) has slope <= 1/4, and softmax and the casts add a few EPS32 more:
    M = torch.as_tensor(E.double().abs().numpy() @ abs(clf.coef_[0]) + abs(clf.intercept_[0]))
    assert_within(probs, want, ((8 + 2) * EPS32 * (M / 4 + 1)).float().unsqueeze(1))
    with pytest.raises(ValueError, match="coef has 8 features, the head expects 4"):
        T.head_from_probe(nn.Linear(4, 2), clf.coef_, clf.intercept_)


class _Tok:
    """A whitespace tokenizer with the transformers call signature, for tests.

    Token ids come from crc32, not hash(), which Python salts differently in every process.
    """

    def __call__(self, texts, padding, truncation, max_length, return_tensors):
        ids = [[zlib.crc32(w.encode()) % 40 + 5 for w in t.split()][:max_length] for t in texts]
        T_ = max(map(len, ids))
        return {"input_ids": torch.tensor([i + [0] * (T_ - len(i)) for i in ids]),
                "attention_mask": torch.tensor([[1] * len(i) + [0] * (T_ - len(i)) for i in ids])}


def test_predict_keeps_the_input_order_and_padding_does_not_matter():
    encoder = tiny_bert(dtype=torch.float64)
    torch.manual_seed(1)
    model = T.SentenceClassifier(encoder, hidden=32).double()
    texts = ["a b c d e f", "a", "b c", "a b c d e f g h i", "c"]
    together = T.predict(model, _Tok(), texts, batch_size=2)
    alone = torch.cat([T.predict(model, _Tok(), [t]) for t in texts])
    assert len(torch.unique(alone, dim=0)) == len(texts)  # a swapped order would show
    # Padding adds exact zeros to the attention and pooling sums and changes only their
    # association: in float64 at most BERT_TOL64 (derived above). predict returns float32, and
    # two float64 numbers that close round to float32 numbers at most 1 ulp <= EPS32 |x| apart.
    torch.testing.assert_close(together, alone, atol=BERT_TOL64, rtol=EPS32)
    with pytest.raises(TypeError, match="expected a list of strings"):
        T.predict(model, _Tok(), "a b")


def test_every_method_gets_the_same_number_of_steps(monkeypatch):
    _, target = TR.digit_tasks(0)
    torch.manual_seed(seed_for(0))
    pretrained = TR.SmallCNN(40, width=4, dim=16)
    X, y = TR.k_shot(target.X_train, target.y_train, k=2)
    steps = []
    real = TR.train_steps

    def counting(model, X, y, n, lr):  # records the budget, then trains for real
        steps[-1] += n
        return real(model, X, y, n, lr)

    monkeypatch.setattr(TR, "train_steps", counting)
    cfg = TR.TransferConfig(width=4, dim=16, steps=12, lpft_probe_share=0.4)
    for method in TR.METHODS:
        steps.append(0)
        TR.adapt(pretrained, method, X, y, cfg)
    assert steps == [12] * len(TR.METHODS)
    with pytest.raises(ValueError, match=r"lpft_probe_share=1.0 of steps=12 gives 12 probe steps"):
        TR.adapt(pretrained, "lpft", X, y, dataclasses.replace(cfg, lpft_probe_share=1.0))


def _poisoned_test(split: Split) -> Split:
    nan = torch.full_like(split.X_test, float("nan"))
    return Split(split.X_train, split.y_train, split.X_val, split.y_val, nan, split.y_test)


def test_learning_rates_are_chosen_on_validation_only():
    _, target = TR.digit_tasks(0)
    torch.manual_seed(seed_for(1))
    pretrained = TR.SmallCNN(40, width=4, dim=16)
    cfg = TR.TransferConfig(width=4, dim=16, steps=6)
    kw = dict(ks=(2,), seeds=(100,), grid=(1e-3, 1e-1), methods=("probe", "full"),
              progress=False)
    chosen, table = TR.choose_lrs(pretrained, target, cfg, **kw)
    again, table_nan = TR.choose_lrs(pretrained, _poisoned_test(target), cfg, **kw)
    assert table == table_nan and chosen == again      # the test images play no part
    for method in ("probe", "full"):
        best = max(table[method].values())
        want = min(lr for lr, a in table[method].items() if a == best)  # ties: the smaller
        assert getattr(chosen, TR.LR_FIELD[method]) == want
    assert chosen.lr_lora == cfg.lr_lora                # a method not in the search keeps its rate
    val = TR.run_grid(pretrained, target, ks=(2,), seeds=(0,), methods=("probe",), cfg=cfg,
                      on="val", progress=False)
    assert val == TR.run_grid(pretrained, _poisoned_test(target), ks=(2,), seeds=(0,),
                              methods=("probe",), cfg=cfg, on="val", progress=False)
    with pytest.raises(ValueError, match="on must be 'val' or 'test', got 'train'"):
        TR.run_grid(pretrained, target, on="train")


def test_forgetting_is_measured_through_the_adapted_features_and_the_old_head():
    source, target = TR.digit_tasks(0)
    pretrained = TR.pretrain(source, TR.TransferConfig(width=4, dim=16, pretrain_epochs=2))
    X, y = TR.k_shot(target.X_train, target.y_train, k=5)
    cfg = TR.TransferConfig(width=4, dim=16, steps=30, lr_full=1e-2)
    before = TR.source_digit_accuracy(pretrained, pretrained, source)
    with torch.no_grad():
        by_hand = (pretrained(source.X_test).argmax(1) // 8 == source.y_test).float().mean()
    assert before == by_hand.item() > 0.5
    probe = TR.adapt(pretrained, "probe", X, y, cfg)
    assert TR.source_digit_accuracy(probe, pretrained, source) == before  # frozen: nothing lost
    full = TR.adapt(pretrained, "full", X, y, cfg)
    assert TR.source_digit_accuracy(full, pretrained, source) != before
    acc, source_acc = TR.run_grid(pretrained, target, ks=(5,), seeds=(0,), methods=("probe",),
                                  cfg=cfg, source=source, progress=False)
    assert source_acc["probe"][5] == [before]


def test_length_batches_cover_every_item_once_with_little_padding():
    lengths = [int(n) for n in torch.randint(1, 60, (103,), generator=torch.Generator()
                                             .manual_seed(0))]
    batches = T.length_batches(lengths, 8, torch.Generator().manual_seed(1), pool=4)
    assert sorted(i for b in batches for i in b) == list(range(103))
    assert sorted(map(len, batches))[1:] == [8] * (len(batches) - 1)   # one smaller at most
    spread = sum(max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in batches)
    shuffled = torch.randperm(103, generator=torch.Generator().manual_seed(1)).tolist()
    plain = [shuffled[i:i + 8] for i in range(0, 103, 8)]
    assert spread < 0.5 * sum(max(lengths[i] for i in b) - min(lengths[i] for i in b)
                              for b in plain)
    again = T.length_batches(lengths, 8, torch.Generator().manual_seed(1), pool=4)
    assert again == batches
    with pytest.raises(ValueError, match="batch_size and pool must be >= 1, got 0 and 4"):
        T.length_batches(lengths, 0, torch.Generator(), pool=4)


def test_the_tuning_record_is_a_validation_search_and_the_config_holds_its_choice():
    record = T.tuning_record()
    assert record["split"]["n_val"] > 0 and set(record["seeds"]).isdisjoint({0, 1, 2})
    for method in ("full", "lora"):
        runs = record["val_acc"][method]
        # the choice is the best mean validation accuracy; ties go to fewer steps, then lower lr
        best = max((sum(v) / len(v), -int(s), -float(lr)) for lr, by_steps in runs.items()
                   for s, v in by_steps.items())
        lr, cfg = T.tuned(method)
        assert (lr, cfg.steps) == (-best[2], -best[1])
        assert cfg.warmup == max(1, cfg.steps // 10)
    assert (T.TextConfig().lr_full, T.TextConfig().lr_lora) == (T.tuned("full")[0],
                                                                T.tuned("lora")[0])
    with pytest.raises(ValueError, match="method must be one of \\['full', 'lora'\\], got 'probe'"):
        T.tuned("probe")


def test_fine_tune_trains_on_length_grouped_batches():
    torch.manual_seed(0)
    model = T.SentenceClassifier(tiny_bert(), hidden=32)
    texts = ["a b c", "d e", "a", "b c d e f g", "c d"] * 4
    labels = torch.tensor([0, 1, 0, 1, 1] * 4)
    before = copy.deepcopy(model.state_dict())
    losses = T.fine_tune(model, _Tok(), texts, labels, lr=1e-2, cfg=T.config_for(7, batch_size=4),
                         progress=False)
    assert len(losses) == 7 and all(math.isfinite(x) for x in losses)
    assert not model.training
    assert any(not torch.equal(before[n], p) for n, p in model.state_dict().items())
    with pytest.raises(ValueError, match="20 texts but 3 labels"):
        T.fine_tune(model, _Tok(), texts, labels[:3], lr=1e-2)
