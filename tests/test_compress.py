"""The compression chapter: quantization, pruning, distillation and sizes, against PyTorch."""

import copy
import io
import math
import warnings

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.ao.quantization.observer import MinMaxObserver, PerChannelMinMaxObserver
from torch.nn.utils import prune

from aibook.compress import (
    DistillConfig,
    QTensor,
    careful_int8,
    dequantize,
    distill,
    distillation_loss,
    dynamic_int8_forward,
    dynamic_int8_linear,
    gap_closed,
    global_magnitude_prune,
    input_peaks,
    int8_linear,
    int8_weight,
    int32_accumulate,
    make_permanent,
    qparams,
    qrange,
    quantize,
    quantize_bias,
    quantize_tensor,
    requantize,
    shrink_hidden_units,
    sparsity,
    with_teacher_logits,
)
from aibook.data import loader
from aibook.measure import count_params, state_bytes

warnings.filterwarnings("ignore", message=".*quantized tensor creation functions.*")

SETTINGS = settings(max_examples=30, deadline=None)
shapes = st.tuples(st.integers(1, 6), st.integers(1, 40))
bit_widths = st.integers(2, 16)
seeds = st.integers(0, 2**31 - 1)  # hypothesis draws the seed, so a failure replays

EPS32 = torch.finfo(torch.float32).eps  # 1.19e-7: a float32 rounding errs by at most EPS32 / 2
EPS64 = torch.finfo(torch.float64).eps  # 2.2e-16


def _x(shape, seed, spread=3.0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=g) * spread + torch.rand(1, generator=g).item()


# ---------------------------------------------------------------- quantization, from scratch
@SETTINGS
@given(shape=shapes, seed=seeds, bits=bit_widths, symmetric=st.booleans(),
       per_channel=st.booleans())
def test_round_trip_error_is_at_most_half_a_scale(shape, seed, bits, symmetric, per_channel):
    x = _x(shape, seed)
    axis = 0 if per_channel else None
    qt = quantize_tensor(x, bits, symmetric=symmetric, axis=axis)
    q_min, q_max = qrange(bits, signed=symmetric)
    assert qt.q.min() >= q_min and qt.q.max() <= q_max
    scale = qt.scale.reshape(-1, 1) if per_channel else qt.scale
    # The range covers x, so nothing clips: |x - x_hat| <= scale / 2, plus float32 rounding.
    # That rounding, with R = 2 max|x| (>= the range of each slice): x / scale is off by
    # <= 3 roundings of |x| (1/scale, the product, + zero_point), the range and the scale by
    # <= 2 of R (so the top level may round one past q_max and clip), x_hat = (q - z) scale by
    # one of |x| + scale, the difference by one more: < 8 x (EPS32 / 2) x (R + scale).
    R = 2 * (x.abs().amax(dim=1, keepdim=True) if per_channel else x.abs().max())
    err = (x - qt.dequantize()).abs()
    assert (err <= scale / 2 + 4 * EPS32 * (R + scale)).all()


@SETTINGS
@given(shape=shapes, seed=seeds, symmetric=st.booleans())
def test_integers_equal_torch_quantize_per_tensor(shape, seed, symmetric):
    x = _x(shape, seed)
    scale, zero_point = qparams(x, 8, symmetric=symmetric)
    dtype = torch.qint8 if symmetric else torch.quint8
    expected = torch.quantize_per_tensor(x, scale.item(), int(zero_point), dtype).int_repr()
    # Exact: same float32 reciprocal, same round-half-to-even.
    assert torch.equal(quantize(x, scale, zero_point, 8, signed=symmetric), expected.long())


@SETTINGS
@given(shape=shapes, seed=seeds, symmetric=st.booleans(), axis=st.sampled_from([0, 1]))
def test_integers_equal_torch_quantize_per_channel(shape, seed, symmetric, axis):
    x = _x(shape, seed)
    scale, zero_point = qparams(x, 8, symmetric=symmetric, axis=axis)
    dtype = torch.qint8 if symmetric else torch.quint8
    expected = torch.quantize_per_channel(x, scale.double(), zero_point, axis, dtype).int_repr()
    assert torch.equal(quantize(x, scale, zero_point, 8, signed=symmetric, axis=axis),
                       expected.long())


@SETTINGS
@given(shape=shapes, seed=seeds, bits=bit_widths, symmetric=st.booleans())
def test_qparams_match_torch_minmax_observers(shape, seed, bits, symmetric):
    x = _x(shape, seed)
    q_min, q_max = qrange(bits, signed=symmetric)
    dtype = torch.qint32 if bits > 8 else (torch.qint8 if symmetric else torch.quint8)
    kw = dict(dtype=dtype, quant_min=q_min, quant_max=q_max,
              qscheme=torch.per_tensor_symmetric if symmetric else torch.per_tensor_affine)
    obs = MinMaxObserver(**kw)
    obs(x)
    scale, zero_point = obs.calculate_qparams()
    ours = qparams(x, bits, symmetric=symmetric)
    # Both compute (max - min) / (q_max - q_min) in float32, two roundings of EPS32 / 2 each
    # (they agree bit for bit today; a reordering could cost at most 2 EPS32 relative).
    torch.testing.assert_close(ours[0], scale.reshape(()), rtol=2 * EPS32, atol=0)
    assert int(ours[1]) == int(zero_point)
    pc = PerChannelMinMaxObserver(ch_axis=0, **{**kw, "qscheme": torch.per_channel_symmetric
                                               if symmetric else torch.per_channel_affine})
    pc(x)
    scale, zero_point = pc.calculate_qparams()
    ours = qparams(x, bits, symmetric=symmetric, axis=0)
    torch.testing.assert_close(ours[0], scale.float(), rtol=2 * EPS32, atol=0)  # as above
    assert torch.equal(ours[1], zero_point.long())


def test_affine_makes_zero_exact_and_uses_all_levels_for_one_sided_data():
    x = torch.linspace(0, 6, 101)  # after a ReLU: nothing below 0
    affine = quantize_tensor(x, 8)
    symmetric = quantize_tensor(x, 8, symmetric=True)
    assert affine.dequantize()[0] == 0 and symmetric.dequantize()[0] == 0
    assert int(affine.zero_point) == 0 and affine.q.max() == 255
    # Symmetric spends half its levels on negatives, so its step is twice as coarse. Each
    # scale is one float32 rounding (EPS32 / 2) off 6 / 255 and 6 / 127.5: ratio within EPS32.
    assert math.isclose(symmetric.scale.item() / affine.scale.item(), 255 / 127.5,
                        rel_tol=EPS32)


def test_per_channel_beats_per_tensor_when_rows_differ_in_scale():
    g = torch.Generator().manual_seed(0)
    W = torch.randn(8, 64, generator=g) * torch.logspace(-2, 1, 8).unsqueeze(1)

    def row_error(qt):  # relative error of each row: (8,)
        return (W - qt.dequantize()).norm(dim=1) / W.norm(dim=1)

    per_tensor = row_error(quantize_tensor(W, 8, symmetric=True))
    per_channel = row_error(quantize_tensor(W, 8, symmetric=True, axis=0))
    # The row holding the largest |w| gets the same scale both ways, so bit-identical errors;
    # every other row gets a step >= 2.7x finer (rows are 10^(3/7) apart). At seeds 0..2999
    # of this generator no row broke this.
    assert (per_channel <= per_tensor).all()
    # The smallest row (1000x smaller range): per tensor, all of it is below half a step and
    # rounds to 0 (relative error exactly 1); per channel, each entry is off by <= half of
    # its own step max|w| / 127.5, so the relative error is <= sqrt(64) / 255 = 0.031 at any
    # seed (seeds 0..2999 gave at most 0.010, a ratio of at least 98).
    assert per_tensor[0] == 1.0
    assert per_channel[0] <= 8 / 255


def test_qtensor_nbytes_counts_packed_bits_plus_parameters():
    qt = quantize_tensor(torch.linspace(-1, 1, 300).reshape(10, 30), 4, axis=0)
    assert isinstance(qt, QTensor) and qt.nbytes() == 10 * 30 * 4 // 8 + 8 * 10


@pytest.mark.parametrize("bits", [0, 1, 17, 8.0, "8", True])
def test_bad_bit_width_raises(bits):
    with pytest.raises(ValueError, match=r"bits must be an integer in \[2, 16\], got"):
        quantize_tensor(torch.linspace(-1, 1, 5), bits)


def test_bad_quantization_parameters_raise():
    x = torch.linspace(-1, 1, 12).reshape(4, 3)
    with pytest.raises(ValueError, match="per-channel along axis 0 needs shape"):
        quantize(x, torch.ones(3), torch.zeros(3), axis=0)
    with pytest.raises(ValueError, match="scale must be > 0"):
        quantize(x, 0.0, 0)
    with pytest.raises(ValueError, match="axis 2 is out of range"):
        qparams(x, axis=2)
    with pytest.raises(ValueError, match="non-empty float tensor"):
        qparams(torch.arange(3))
    assert dequantize(torch.tensor([3, 5]), 0.5, 1).tolist() == [1.0, 2.0]


# ---------------------------------------------------------------- pruning
def _mlp(seed=0, h=32):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(10, h), nn.ReLU(), nn.Linear(h, h), nn.ReLU(), nn.Linear(h, 3))


@settings(max_examples=25, deadline=None)
@given(amount=st.floats(0, 0.99), seed=seeds)
def test_global_pruning_reaches_exactly_the_requested_sparsity(amount, seed):
    model = _mlp(seed)
    n = sum(m.weight.numel() for m in model if isinstance(m, nn.Linear))
    global_magnitude_prune(model, amount)
    masks = [m.weight_mask for m in model if isinstance(m, nn.Linear)]
    assert sum(int((k == 0).sum()) for k in masks) == round(amount * n)
    assert sparsity(model) == round(amount * n) / n


def test_global_pruning_removes_the_globally_smallest_weights_and_iterates():
    model = _mlp(1)
    weights = torch.cat([m.weight.detach().abs().flatten() for m in model
                         if isinstance(m, nn.Linear)])
    global_magnitude_prune(model, 0.5)
    global_magnitude_prune(model, 0.8)  # a second step only adds to the first mask
    kept = torch.cat([(m.weight_mask == 1).flatten() for m in model if isinstance(m, nn.Linear)])
    threshold = weights.sort().values[round(0.8 * len(weights)) - 1]
    assert (weights[kept] > threshold).all() and (weights[~kept] <= threshold).all()
    with pytest.raises(ValueError, match="already pruned, more than the requested"):
        global_magnitude_prune(model, 0.5)


def test_masks_stay_in_place_through_fine_tuning():
    model = _mlp(2)
    global_magnitude_prune(model, 0.9)
    masks = [m.weight_mask.clone() for m in model if isinstance(m, nn.Linear)]
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    g = torch.Generator().manual_seed(2)
    X, y = torch.randn(64, 10, generator=g), torch.randint(0, 3, (64,), generator=g)
    before = [m.weight_orig.detach().clone() for m in model if isinstance(m, nn.Linear)]
    for _ in range(5):
        opt.zero_grad()
        F.cross_entropy(model(X), y).backward()
        opt.step()
    layers = [m for m in model if isinstance(m, nn.Linear)]
    trained = [not torch.equal(m.weight_orig, b) for m, b in zip(layers, before, strict=True)]
    assert any(trained)
    for m, mask in zip(layers, masks, strict=True):
        assert torch.equal(m.weight_mask, mask)
        assert (m.weight[mask == 0] == 0).all()
    # Exactly the masked weights are 0: round(0.9 n) of n; no tolerance (a trained float
    # landing on exactly 0.0 is not a rounding effect, and would be a bug here).
    n = sum(m.weight.numel() for m in layers)
    assert sparsity(model) == round(0.9 * n) / n
    make_permanent(model)
    assert not hasattr(layers[0], "weight_mask") and sparsity(model) == round(0.9 * n) / n
    assert count_params(model, nonzero=True) == count_params(model) - round(0.9 * n)


@pytest.mark.parametrize("amount", [-0.1, 1.0, 1.5, float("nan"), "0.5", True])
def test_sparsity_outside_unit_interval_raises(amount):
    with pytest.raises(ValueError, match=r"sparsity must be a fraction in \[0, 1\), got"):
        global_magnitude_prune(_mlp(), amount)


def test_shrinking_hidden_units_matches_ln_structured_and_the_masked_model():
    model = _mlp(3, h=40)
    small = shrink_hidden_units(model, keep=0.3)
    assert [m.weight.shape for m in small if isinstance(m, nn.Linear)] == [
        (12, 10), (12, 12), (3, 12)]
    # Same units as torch's L1 structured pruning of each layer's rows.
    for i in (0, 2):
        ref = copy.deepcopy(model[i])
        prune.ln_structured(ref, "weight", amount=0.7, n=1, dim=0)
        kept_rows = ref.weight_mask[:, 0].nonzero().flatten()
        assert torch.equal(small[i].bias, model[i].bias.detach()[kept_rows])
    # And the small model computes what the big one does with those units' outputs zeroed.
    masked = copy.deepcopy(model)
    for i in (0, 2):
        prune.ln_structured(masked[i], "weight", amount=0.7, n=1, dim=0)
        prune.custom_from_mask(masked[i], "bias", masked[i].weight_mask[:, 0])
    X = torch.randn(7, 10, generator=torch.Generator().manual_seed(3))
    # The masked model adds exact zeros, so the two differ only in how float32 sums associate:
    # per output, (10 + 40 + 40 terms and 3 biases) x EPS32 x the same network run on |X|
    # with |W|, |b| (ReLU dropped: it is 1-Lipschitz).
    with torch.no_grad():
        magnitude = X.abs()
        for layer in (m for m in model if isinstance(m, nn.Linear)):
            magnitude = magnitude @ layer.weight.abs().T + layer.bias.abs()
        err = (small(X) - masked(X)).abs()
    assert (err <= (10 + 40 + 40 + 3) * EPS32 * magnitude).all()
    assert count_params(small) < count_params(model) / 5
    with pytest.raises(ValueError, match="keep must be a fraction"):
        shrink_hidden_units(model, keep=0)
    with pytest.raises(ValueError, match="expected a Sequential of >= 2 Linear"):
        shrink_hidden_units(nn.Sequential(nn.Linear(3, 3), nn.Dropout(), nn.Linear(3, 2)), 0.5)


# ---------------------------------------------------------------- distillation
def test_distillation_loss_equals_a_hand_computation():
    s = torch.tensor([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]], dtype=torch.float64)
    t = torch.tensor([[0.5, 3.0, 0.0], [1.0, 0.0, 2.0]], dtype=torch.float64)
    y = torch.tensor([1, 0])
    T, alpha = 2.0, 0.3

    def softmax(row, T):
        e = [math.exp(v / T) for v in row]
        return [v / sum(e) for v in e]

    ce = kl = 0.0
    for i in range(2):
        ce -= math.log(softmax(s[i].tolist(), 1)[y[i]])
        p, q = softmax(t[i].tolist(), T), softmax(s[i].tolist(), T)
        kl += sum(pj * math.log(pj / qj) for pj, qj in zip(p, q, strict=True))
    hand = alpha * ce / 2 + (1 - alpha) * T**2 * kl / 2
    # float64 both ways: each of the 2 rows x 3 classes goes through <= 10 roundings (exp,
    # sums, log, differences) of numbers <= 4, and the KL is scaled by T^2 = 4:
    # 2 x 3 x 10 x EPS64 x 4 x 4 ~ 2e-13.
    got = distillation_loss(s, t, y, T=T, alpha=alpha).item()
    assert got == pytest.approx(hand, rel=0, abs=2 * 3 * 10 * EPS64 * 4 * 4)


@SETTINGS
@given(seed=seeds, T=st.floats(0.5, 10))
def test_distillation_loss_with_hard_weight_one_is_cross_entropy(seed, T):
    g = torch.Generator().manual_seed(seed)
    s, t = torch.randn(6, 4, generator=g), torch.randn(6, 4, generator=g)
    y = torch.randint(0, 4, (6,), generator=g)
    # Exact: 1 x CE + 0 x (a finite KL) adds an exact zero to the same cross-entropy.
    torch.testing.assert_close(distillation_loss(s, t, y, T=T, alpha=1.0), F.cross_entropy(s, y),
                               rtol=0, atol=0)
    # alpha = 0 and a student equal to the teacher: nothing left to learn. Exactly 0: the KL
    # subtracts two bit-identical log-softmaxes.
    assert distillation_loss(t, t, y, T=T, alpha=0.0) == 0


def test_distillation_gradient_does_not_reach_the_teacher():
    g = torch.Generator().manual_seed(0)
    s = torch.randn(3, 5, generator=g, requires_grad=True)
    t = torch.randn(3, 5, generator=g, requires_grad=True)
    distillation_loss(s, t, torch.tensor([0, 1, 2])).backward()
    assert s.grad is not None and t.grad is None


def test_distillation_loss_rejects_bad_input():
    s = torch.zeros(3, 5)
    with pytest.raises(ValueError, match="same shape"):
        distillation_loss(s, torch.zeros(3, 4), torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="expected labels"):
        distillation_loss(s, s, torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="T must be > 0"):
        distillation_loss(s, s, torch.zeros(3, dtype=torch.long), T=0)
    with pytest.raises(ValueError, match="alpha must be in"):
        distillation_loss(s, s, torch.zeros(3, dtype=torch.long), alpha=1.5)


def _teacher_and_data(seed=0, n=40):
    g = torch.Generator().manual_seed(seed)
    X, y = torch.randn(n, 6, generator=g), torch.randint(0, 3, (n,), generator=g)
    torch.manual_seed(seed)
    teacher = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, 3))
    return teacher, X, y


def _dyadic_teacher_and_data(seed=0, n=40):
    """A teacher whose logits are exact in float32, however its sums are ordered or batched.

    Inputs are multiples of 1/4 in [-1, 1], first-layer weights and biases multiples of 1/8
    in [-1/2, 1/2], second-layer ones multiples of 1/16 in [-1/4, 1/4]: every product and sum
    is a multiple of 1/512 below 2^5, which float32 (24-bit mantissa) holds exactly.
    """
    teacher, _, y = _teacher_and_data(seed, n)
    g = torch.Generator().manual_seed(seed)
    X = torch.randint(-4, 5, (n, 6), generator=g) / 4
    with torch.no_grad():
        for layer, step in ((teacher[0], 8), (teacher[3], 16)):
            for p in (layer.weight, layer.bias):
                p.copy_(torch.randint(-4, 5, p.shape, generator=g) / step)
    return teacher, X, y


def test_with_teacher_logits_follows_the_loader_order_with_eval_mode_logits():
    teacher, X, y = _dyadic_teacher_and_data()
    teacher.train()  # dropout on: with_teacher_logits must switch it off
    batches = list(with_teacher_logits(teacher, X, y, batch_size=8, seed=3))
    plain = list(loader(X, y, batch_size=8, seed=3))
    assert len(batches) == len(plain) == 5
    with torch.no_grad():
        expected = teacher.eval()(X)
    assert len(torch.unique(X, dim=0)) == len(X)  # so a row identifies its example
    for (xb, yb, zb), (xp, yp) in zip(batches, plain, strict=True):
        torch.testing.assert_close(xb, xp, rtol=0, atol=0)  # same rows, same order
        torch.testing.assert_close(yb, yp, rtol=0, atol=0)
        rows = [int((X == row).all(1).nonzero()) for row in xb]
        torch.testing.assert_close(zb, expected[rows], rtol=0, atol=0)  # exact (dyadic)
    with pytest.raises(ValueError, match="X has 40 rows but y has 39"):
        with_teacher_logits(teacher, X, y[:-1])


def test_distill_with_precomputed_logits_trains_exactly_like_with_the_teacher():
    # The dyadic teacher gives the same logits bit for bit on batches of 8 and on all 40 rows,
    # so both runs do the same float32 operations on the same numbers: no tolerance at all.
    teacher, X, y = _dyadic_teacher_and_data(1)
    cfg = DistillConfig(T=3.0, alpha=0.2, epochs=3, lr=1e-2)
    torch.manual_seed(5)
    a = nn.Sequential(nn.Linear(6, 4), nn.ReLU(), nn.Linear(4, 3))
    start, b = copy.deepcopy(a), copy.deepcopy(a)
    losses_a = distill(a, teacher, loader(X, y, batch_size=8, seed=2), cfg, progress=False)
    losses_b = distill(b, None, with_teacher_logits(teacher, X, y, 8, seed=2), cfg, progress=False)
    assert len(losses_a) == 3 and losses_a == losses_b
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb)
    other = distill(start, None, with_teacher_logits(teacher, X, y, 8, seed=4), cfg,
                    progress=False)
    assert other != losses_b  # another batch order is another run: the order does matter


def test_distill_moves_the_student_towards_the_teacher():
    teacher, X, y = _teacher_and_data(2, n=64)
    teacher.eval()
    torch.manual_seed(0)
    student = nn.Sequential(nn.Linear(6, 32), nn.ReLU(), nn.Linear(32, 3))

    @torch.no_grad()
    def kl():
        return distillation_loss(student(X), teacher(X), y, T=2.0, alpha=0.0).item()

    before = kl()
    losses = distill(student, teacher, loader(X, y, batch_size=16, seed=0),
                     DistillConfig(T=2.0, alpha=0.0, epochs=60, lr=1e-2), progress=False)
    # Over 40 seeds (teacher, data, student and batch order all varied) the KL fell to at most
    # 0.0032 of its start (median 0.0011) and the last epoch's loss to at most 0.0052 of the
    # first's (median 0.0021): 1/20 leaves a margin of 10x or more.
    assert kl() < before / 20 and losses[-1] < losses[0] / 20


def test_distill_needs_a_teacher_or_its_logits():
    _, X, y = _teacher_and_data()
    student = nn.Linear(6, 3)
    with pytest.raises(ValueError, match=r"expected batches \(X, y\) with a teacher"):
        distill(student, None, loader(X, y, batch_size=8), DistillConfig(epochs=1),
                progress=False)


def test_gap_closed_reproduces_hinton_and_its_end_points():
    assert gap_closed(146, 74, 67) == 72 / 79  # Hinton et al. 2015, MNIST; exact integers
    assert gap_closed(10, 3, 3) == 1.0 and gap_closed(10, 10, 3) == 0.0
    assert gap_closed(10, 12, 3) < 0  # a distilled student worse than alone
    with pytest.raises(ValueError, match="must make more errors than the teacher"):
        gap_closed(3, 2, 3)


# ---------------------------------------------------------------- measurement
def test_size_measurement_matches_the_saved_state_dict(tmp_path):
    model = _mlp(4)
    # torch.save names the zip's inner folder after the file ("archive" for a buffer), so a
    # file called archive.pt holds exactly the bytes that state_bytes counts.
    path = tmp_path / "archive.pt"
    torch.save(model.state_dict(), path)
    assert state_bytes(model) == path.stat().st_size == state_bytes(model.state_dict())
    raw = sum(t.numel() * t.element_size() for t in model.state_dict().values())
    # The zip around the raw bytes: fixed records (data.pkl, version, byteorder, the
    # serialization id, the end-of-archive records) < 2 KB, and per tensor a local header, a
    # central-directory entry, its pickle record and <= 63 B of 64-byte alignment: < 300 B.
    assert raw <= state_bytes(model) <= raw + 2048 + 300 * len(model.state_dict())
    q = torch.ao.quantization.quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8)
    buffer = io.BytesIO()
    torch.save(q.state_dict(), buffer)
    assert state_bytes(q) == buffer.tell()
    with pytest.raises(TypeError, match="expected an nn.Module or a state dict"):
        state_bytes([1, 2])


def test_count_params_counts_every_parameter_once():
    model = _mlp(5, h=7)
    assert count_params(model) == (10 * 7 + 7) + (7 * 7 + 7) + (7 * 3 + 3)
    global_magnitude_prune(model, 0.5)
    assert count_params(model) == (10 * 7 + 7) + (7 * 7 + 7) + (7 * 3 + 3)
    assert count_params(model, nonzero=True) == count_params(model) - round(0.5 * (70 + 49 + 21))


def test_careful_int8_keeps_only_the_most_outlying_linear_in_float():
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=50, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=32)
    model = BertModel(cfg).eval()
    batch = {"input_ids": torch.randint(50, (4, 9), generator=torch.Generator().manual_seed(1))}
    peaks = input_peaks(model, batch)
    assert len(peaks) == 2 * 6  # six Linear layers in each of the two blocks
    int8, worst = careful_int8(model, batch)
    assert worst == max(peaks, key=peaks.get)
    floats = [n for n, m in int8.named_modules() if type(m) is nn.Linear]
    assert floats == [worst]  # every other Linear is a dynamic int8 one
    emb = type(int8.embeddings.word_embeddings)
    assert emb is not nn.Embedding and emb.__module__.startswith("torch.ao.nn.quantized")
    with pytest.raises(ValueError, match="no nn.Linear named 'decoder'"):
        input_peaks(model, batch, prefix="decoder")


# --- the int8 matrix product from scratch, against torch.ao's quantized Linear layers ---------

def _linear(seed, n_in, n_out):
    torch.manual_seed(seed)
    return nn.Linear(n_in, n_out)


@pytest.mark.parametrize("per_channel", [False, True])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_int8_weights_equal_quantize_dynamic_stored_weights(seed, per_channel):
    from torch.ao.quantization import (
        default_dynamic_qconfig,
        per_channel_dynamic_qconfig,
        quantize_dynamic,
    )

    lin = _linear(seed, 37, 19)
    qconfig = per_channel_dynamic_qconfig if per_channel else default_dynamic_qconfig
    stored = quantize_dynamic(nn.Sequential(lin), {"0": qconfig}, dtype=torch.qint8)[0].weight()
    ours = int8_weight(lin.weight.detach(), per_channel=per_channel)
    assert torch.equal(ours.q, stored.int_repr().long())  # the very same integers
    scale = stored.q_per_channel_scales() if per_channel else torch.tensor(stored.q_scale())
    torch.testing.assert_close(ours.scale.double(), scale.double(), rtol=EPS32, atol=0)
    assert ours.q.min() >= -128 and ours.q.max() <= 127 and bool((ours.zero_point == 0).all())


@SETTINGS
@given(n=st.integers(1, 12), k=st.integers(1, 70), m=st.integers(1, 20), seed=seeds,
       shift=st.floats(-2.0, 2.0))
def test_dynamic_int8_linear_equals_torch_dynamic_linear(n, k, m, seed, shift):
    import torch.ao.nn.quantized.dynamic as nnqd

    lin = _linear(seed % 1000, k, m)
    x = _x((n, k), seed) + shift
    torch_layer = nnqd.Linear.from_float(_with_qconfig(lin))
    ours = dynamic_int8_linear(x, int8_weight(lin.weight.detach()), lin.bias.detach())
    # Same integers, same int32 sums; only the final float rescale and bias add round. Each
    # output is s_x s_w acc + b in float32: a few roundings of relative size EPS32 / 2 each.
    expected = torch_layer(x)
    tol = 4 * EPS32 * (expected.abs() + lin.bias.detach().abs() + 1e-6)
    assert bool(((ours - expected).abs() <= tol).all()), (ours - expected).abs().max()


def _with_qconfig(lin, qconfig=None):
    from torch.ao.quantization import default_dynamic_qconfig

    lin = copy.deepcopy(lin)
    lin.qconfig = qconfig or default_dynamic_qconfig
    return lin


@pytest.mark.parametrize("per_channel", [False, True])
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_int8_linear_requantizes_like_torch_static_linear_up_to_rounding_ties(seed, per_channel):
    import torch.ao.nn.quantized as nnq

    lin = _linear(seed, 48, 24)
    W = int8_weight(lin.weight.detach(), per_channel=per_channel)
    if per_channel:
        w_torch = torch.quantize_per_channel(lin.weight.detach(), W.scale.double(),
                                             W.zero_point, 0, torch.qint8)
    else:
        w_torch = torch.quantize_per_tensor(lin.weight.detach(), W.scale.item(), 0, torch.qint8)
    assert torch.equal(w_torch.int_repr().long(), W.q)
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(16, 48, generator=gen) * 1.5 + 0.3
    s_x, z_x, s_y, z_y = 0.1, 60, 0.03, 70
    q_in = torch.quantize_per_tensor(x, s_x, z_x, torch.quint8)
    # torch's x86 kernel (fbgemm) on CPUs without VNNI adds pairs of uint8 x int8 products in
    # int16 with saturation; 7-bit activations (torch's reduce_range on x86) keep every pair
    # below 2^15 (2 x 127 x 128 = 32,512), so the comparison is exact on any CPU. With the full
    # 8 bits, outputs differed by up to 13 levels on an AVX2-only machine.
    assert int(q_in.int_repr().max()) <= 127
    layer = nnq.Linear(48, 24)
    layer.set_weight_bias(w_torch, lin.bias.detach())
    layer.scale, layer.zero_point = s_y, z_y
    expected = layer(q_in).int_repr().long()
    q_x, b = q_in.int_repr().long(), lin.bias.detach()
    ours = int8_linear(q_x, s_x, z_x, W, b, s_y=s_y, z_y=z_y)
    # The integer sums are equal; the requantization differs by design where the output lies
    # on a rounding boundary: we round the bias to the accumulator's scale s_x s_w first (as
    # QNNPACK does), fbgemm adds the float bias in float32. That moves the pre-rounding level
    # by at most half a step of s_x s_w / s_y, so the two may differ by one level, and only
    # where our exact level lies that close to a half-integer.
    multiplier = s_x * W.scale.double() / s_y                # (M,) or 0-d
    level = int32_accumulate(q_x, z_x, W.q, quantize_bias(b, s_x, W.scale)).double() * multiplier
    to_tie = (level - level.floor() - 0.5).abs()             # 0 on a rounding boundary
    diff = ours - expected
    assert int(diff.abs().max()) <= 1
    assert bool((to_tie[diff != 0] <= multiplier.max() / 2 + 1e-5).all()), to_tie[diff != 0]
    assert (diff != 0).float().mean() < 0.01                 # 0 to 1 of 384 outputs measured
    assert 0 < expected.float().std()  # not a saturated, constant output


def test_dynamic_int8_forward_reproduces_a_quantize_dynamic_mlp():
    from torch.ao.quantization import quantize_dynamic

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(20, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(),
                          nn.Linear(32, 5))
    x = torch.randn(64, 20, generator=torch.Generator().manual_seed(1))
    expected = quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8)(x)
    ours = dynamic_int8_forward(model, x)
    # Layer outputs agree to float32 rounding, which can move a later layer's input range by
    # an ulp; the logits then agree to a small fraction of one activation step.
    torch.testing.assert_close(ours, expected, rtol=1e-5, atol=1e-5)
    assert torch.equal(ours.argmax(1), expected.argmax(1))


def test_int32_accumulation_is_exact_and_checks_its_range():
    gen = torch.Generator().manual_seed(0)
    q_x = torch.randint(0, 256, (5, 300), generator=gen)
    q_w = torch.randint(-128, 128, (7, 300), generator=gen)
    acc = int32_accumulate(q_x, 128, q_w)
    assert acc.dtype == torch.int32
    assert torch.equal(acc.long(), (q_x - 128) @ q_w.T)  # int64 reference: no wrap-around
    with pytest.raises(ValueError, match="overflow int32"):
        int32_accumulate(torch.full((1, 70_000), 255), 0, torch.full((1, 70_000), 127))
    with pytest.raises(ValueError, match="do not align"):
        int32_accumulate(q_x, 0, q_w[:, :10])
    with pytest.raises(ValueError, match="integer levels"):
        int32_accumulate(q_x.float(), 0, q_w)
    with pytest.raises(ValueError, match="symmetric 8-bit"):
        int8_linear(q_x, 0.1, 0, quantize_tensor(q_w.float(), 8), None)
    with pytest.raises(ValueError, match="output scale"):
        requantize(acc, 0.1, torch.tensor(0.1), 0.0, 0)


@pytest.mark.parametrize("bits", [2, 3, 4, 8])
def test_fake_quantize_equals_torch_fake_quantize_per_channel_in_value_and_gradient(bits):
    from aibook.compress import fake_quantize, qparams, qrange

    g = torch.Generator().manual_seed(bits)
    w = (torch.randn(6, 20, generator=g) * torch.rand(6, 1, generator=g)).requires_grad_(True)
    up = torch.randn(6, 20, generator=g)                     # an arbitrary upstream gradient
    ours = fake_quantize(w, bits)
    (ours * up).sum().backward()
    grad_ours, w.grad = w.grad.clone(), None
    scale, zero = qparams(w.detach(), bits, symmetric=True, axis=0)
    q_min, q_max = qrange(bits, signed=True)
    theirs = torch.fake_quantize_per_channel_affine(w, scale, zero.int(), 0, q_min, q_max)
    (theirs * up).sum().backward()
    # the same float32 operations in the same order: equal bit for bit
    torch.testing.assert_close(ours, theirs, rtol=0, atol=0)
    torch.testing.assert_close(grad_ours, w.grad, rtol=0, atol=0)
    assert (grad_ours == 0).any() and (grad_ours == up).any()  # clamped maxima get no gradient
    assert len(torch.unique(ours[0])) <= 2 ** bits


def test_quantization_aware_training_keeps_float_weights_and_freezes_to_the_grid():
    from aibook.compress import freeze_quantized, quantization_aware

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))
    quantization_aware(model, bits=3)
    x, y = torch.randn(32, 8), torch.randint(0, 3, (32,))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    before = model[0].parametrizations.weight.original.detach().clone()
    for _ in range(3):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    assert not torch.equal(model[0].parametrizations.weight.original, before)  # W learned
    seen = model[0].weight.detach().clone()                 # what the forward pass uses
    assert all(len(torch.unique(row)) <= 2 ** 3 for row in seen)
    out = model(x).detach()
    freeze_quantized(model)
    assert not hasattr(model[0], "parametrizations")
    torch.testing.assert_close(model[0].weight, seen, rtol=0, atol=0)
    torch.testing.assert_close(model(x), out, rtol=0, atol=0)
    with pytest.raises(ValueError, match="Sequential has no nn.Linear"):
        quantization_aware(nn.Sequential(nn.ReLU()), bits=4)
