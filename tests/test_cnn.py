"""aibook.cnn: the from-scratch im2col conv2d and max-pool against torch.nn.functional."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from aibook.cnn import (
    Augmented,
    LeNet,
    LeNetConfig,
    ScratchConvNet,
    affine_matrix,
    augment,
    col2im,
    conv2d_backward,
    conv2d_forward,
    conv_output_size,
    im2col,
    maxpool2d_backward,
    maxpool2d_forward,
    shift_pixels,
    shift_rotate,
)

# float64 parity with torch. Both compute the same sums of K products in a different order,
# so they differ by at most about 2 * K * eps * sum|terms| (Higham's gamma_K bound, twice).
# The draws are N(0, 1), so |terms| < 6 * 6. The longest sums are dW's, over N * OH * OW
# <= 3 * 13 * 13 = 507 positions; the forward has K <= C*kh*kw = 48 and dx K <= F*kh*kw = 64.
# With eps = 1.1e-16: 2 * 507 * eps * 507 * 36 ~ 2e-9 at worst (typically ~1e-14).
# 1e-8 keeps a factor 5 over that worst case and still catches a wrong index (an O(1) error).
TOL = 1e-8


@st.composite
def conv_case(draw):
    N, C, F_ = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 4))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    stride, padding = draw(st.integers(1, 3)), draw(st.integers(0, 2))
    H = draw(st.integers(max(1, kh - 2 * padding), 9))
    W = draw(st.integers(max(1, kw - 2 * padding), 9))
    return N, C, H, W, F_, kh, kw, stride, padding, draw(st.integers(0, 2**16)), draw(st.booleans())


@settings(max_examples=40, deadline=None)
@given(conv_case())
def test_conv2d_matches_torch_forward_and_grads(case):
    N, C, H, W, F_, kh, kw, stride, padding, seed, bias = case
    rng = np.random.default_rng(seed)
    x, Wt = rng.normal(size=(N, C, H, W)), rng.normal(size=(F_, C, kh, kw))
    b = rng.normal(size=F_) if bias else None
    out, cache = conv2d_forward(x, Wt, b, stride, padding)
    xt, wt = torch.tensor(x, requires_grad=True), torch.tensor(Wt, requires_grad=True)
    bt = torch.tensor(b, requires_grad=True) if bias else None
    ref = F.conv2d(xt, wt, bt, stride=stride, padding=padding)
    np.testing.assert_allclose(out, ref.detach().numpy(), atol=TOL, rtol=0)
    dout = rng.normal(size=out.shape)
    ref.backward(torch.tensor(dout))
    dx, dW, db = conv2d_backward(dout, cache)
    np.testing.assert_allclose(dx, xt.grad.numpy(), atol=TOL, rtol=0)
    np.testing.assert_allclose(dW, wt.grad.numpy(), atol=TOL, rtol=0)
    if bias:
        np.testing.assert_allclose(db, bt.grad.numpy(), atol=TOL, rtol=0)
    else:
        assert db is None


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 3), st.integers(1, 3), st.integers(1, 4), st.integers(1, 3),
       st.integers(0, 2), st.integers(0, 9), st.integers(0, 9), st.integers(0, 2**16))
def test_maxpool_matches_torch_forward_and_grad(N, C, k, stride, padding, dh, dw, seed):
    padding = min(padding, k // 2)
    H, W = max(1, k - 2 * padding) + dh, max(1, k - 2 * padding) + dw
    x = np.random.default_rng(seed).normal(size=(N, C, H, W))  # continuous: no ties
    out, cache = maxpool2d_forward(x, k, stride, padding)
    xt = torch.tensor(x, requires_grad=True)
    ref = F.max_pool2d(xt, k, stride, padding)
    np.testing.assert_allclose(out, ref.detach().numpy(), atol=TOL, rtol=0)
    dout = np.random.default_rng(seed + 1).normal(size=out.shape)
    ref.backward(torch.tensor(dout))
    np.testing.assert_allclose(maxpool2d_backward(dout, cache), xt.grad.numpy(), atol=TOL,
                               rtol=0)


def test_maxpool_sends_gradient_only_to_the_maximum():
    x = np.array([[[[1.0, 5.0], [2.0, 3.0]]]])
    out, cache = maxpool2d_forward(x, 2)
    assert out.item() == 5.0
    np.testing.assert_array_equal(maxpool2d_backward(np.ones((1, 1, 1, 1)), cache),
                                  [[[[0.0, 1.0], [0.0, 0.0]]]])


def test_conv_output_size_formula_by_hand():
    assert conv_output_size(8, 3, 1, 1) == 8  # "same" padding
    assert conv_output_size(28, 5) == 24  # LeNet-5's first layer
    assert conv_output_size(7, 3, 2, 1) == 4  # floor((7 + 2 - 3) / 2) + 1
    with pytest.raises(ValueError, match="larger than the padded input"):
        conv_output_size(2, 5)
    with pytest.raises(ValueError, match="stride >= 1"):
        conv_output_size(8, 3, 0)


def test_im2col_rows_are_the_patches():
    x = np.arange(2 * 3 * 4 * 5, dtype=float).reshape(2, 3, 4, 5)
    cols = im2col(x, 2, 3, stride=2, padding=1)
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    OH, OW = conv_output_size(4, 2, 2, 1), conv_output_size(5, 3, 2, 1)
    for n in range(2):
        for i in range(OH):
            for j in range(OW):
                patch = xp[n, :, 2 * i:2 * i + 2, 2 * j:2 * j + 3].ravel()
                np.testing.assert_array_equal(cols[n * OH * OW + i * OW + j], patch)


@st.composite
def unfold_case(draw):
    N, C = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    stride, padding = draw(st.integers(1, 3)), draw(st.integers(0, 2))
    H = draw(st.integers(max(1, kh - 2 * padding), 9))
    W = draw(st.integers(max(1, kw - 2 * padding), 9))
    dtype = draw(st.sampled_from([np.float64, np.float32]))
    return (N, C, H, W), kh, kw, stride, padding, dtype, draw(st.integers(0, 2**16))


@settings(max_examples=60, deadline=None)
@given(unfold_case())
def test_col2im_is_the_adjoint_of_im2col(case):
    # <im2col(x), c> == <x, col2im(c)> for every x, c: the definition of the adjoint.
    shape, kh, kw, stride, padding, dtype, seed = case
    rng = np.random.default_rng(seed)
    x = rng.normal(size=shape).astype(dtype)
    cols = im2col(x, kh, kw, stride, padding)
    c = rng.normal(size=cols.shape).astype(dtype)  # C order, unlike im2col's own layout
    back = col2im(c, x.shape, kh, kw, stride, padding)
    assert cols.dtype == back.dtype == dtype and back.shape == x.shape
    # the same matrix in im2col's memory layout (its transpose contiguous) gives the same sums
    np.testing.assert_array_equal(col2im(np.asfortranarray(c), x.shape, kh, kw, stride,
                                         padding), back)
    lhs = (cols * c).sum(dtype=np.float64)
    rhs = (x * back).sum(dtype=np.float64)
    # Both sides add the same n = cols.size products in different orders: the left rounds each
    # product to `dtype`, the right first adds up the copies of each pixel in `dtype` (col2im)
    # and rounds the products after; the final sums run in float64. Each side is then within
    # n * eps * S of the exact value, S = sum|cols * c| and eps that of `dtype`.
    n, S = cols.size, np.abs(cols * c).sum(dtype=np.float64)
    assert abs(lhs - rhs) <= 2 * n * np.finfo(dtype).eps * S


@settings(max_examples=8, deadline=None)
@given(st.integers(1, 3), st.integers(1, 3), st.integers(1, 4), st.integers(1, 4),
       st.integers(1, 4), st.integers(0, 6), st.integers(0, 6), st.booleans(),
       st.integers(0, 2**16))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("padding", [0, 1, 2])
@pytest.mark.parametrize("stride", [1, 2])
def test_conv2d_forward_and_backward_equal_torch_in_float64_and_float32(
        stride, padding, dtype, N, C, F_, kh, kw, dh, dw, bias, seed):
    H, W = max(1, kh - 2 * padding) + dh, max(1, kw - 2 * padding) + dw
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(N, C, H, W)).astype(dtype)
    Wt = rng.normal(size=(F_, C, kh, kw)).astype(dtype)
    b = rng.normal(size=F_).astype(dtype) if bias else None
    out, cache = conv2d_forward(x, Wt, b, stride, padding)
    dout = rng.normal(size=out.shape).astype(dtype)
    dx, dW, db = conv2d_backward(dout, cache)
    for got in (out, dx, dW) + ((db,) if bias else ()):
        assert got.dtype == dtype  # float32 stays float32: no silent upcast
    assert (dx.shape, dW.shape) == (x.shape, Wt.shape) and (db is None) == (not bias)

    def torch_conv(x, W, b, dout):  # out and (dx, dW, db) from torch, in the dtype given
        ts = [torch.tensor(a, requires_grad=True) for a in (x, W) + ((b,) if bias else ())]
        y = F.conv2d(ts[0], ts[1], ts[2] if bias else None, stride=stride, padding=padding)
        y.backward(torch.tensor(dout))
        return [y.detach().numpy()] + [t.grad.numpy() for t in ts]

    ref = torch_conv(x, Wt, b, dout)
    # Each entry is a sum of at most K products (plus a bias), added in some order by us and
    # in another by torch; each is then within gamma_K * S of the exact sum (Higham), where
    # gamma_K = K u / (1 - K u), u = eps / 2 of the dtype and S is the same sum of |terms|,
    # which torch computes in float64 from |x|, |W|, |b| and |dout|.
    # K: C*kh*kw (+1 bias) for out, F*kh*kw for dx, N*OH*OW for dW and db.
    OH, OW = out.shape[2:]
    K = max(C * kh * kw + 1, F_ * kh * kw, N * OH * OW)
    u = np.finfo(dtype).eps / 2
    scale = torch_conv(*(np.abs(a).astype(np.float64) if a is not None else None
                         for a in (x, Wt, b, dout)))
    ours = [out, dx, dW] + ([db] if bias else [])
    names = ("out", "dx", "dW", "db")[:len(ours)]
    for name, mine, theirs, S in zip(names, ours, ref, scale, strict=True):
        bound = 2 * K * u / (1 - K * u) * S
        assert np.all(np.abs(mine.astype(np.float64) - theirs) <= bound), name


def test_shape_errors_say_what_was_expected():
    x, W = np.zeros((2, 3, 8, 8)), np.zeros((4, 3, 3, 3))
    with pytest.raises(ValueError, match=r"x has 1 channels but W expects 3"):
        conv2d_forward(np.zeros((2, 1, 8, 8)), W)
    with pytest.raises(ValueError, match=r"expected a numpy array of shape \(N, C, H, W\)"):
        conv2d_forward(np.zeros((3, 8, 8)), W)
    with pytest.raises(ValueError, match=r"expected b of shape \(4,\)"):
        conv2d_forward(x, W, np.zeros(3))
    _, cache = conv2d_forward(x, W, padding=1)
    with pytest.raises(ValueError, match=r"expected dout of shape \(2, 4, 8, 8\)"):
        conv2d_backward(np.zeros((2, 4, 6, 6)), cache)
    with pytest.raises(ValueError, match="padding must be at most"):
        maxpool2d_forward(x, 2, padding=2)
    with pytest.raises(ValueError, match=r"expected input \(N, 1, 8, 8\)"):
        LeNet()(torch.zeros(2, 1, 28, 28))


def test_scratch_net_gradients_match_finite_differences():
    rng = np.random.default_rng(0)
    net = ScratchConvNet(n_filters=2, image_size=4, n_classes=3, seed=1)
    x, y = rng.normal(size=(5, 1, 4, 4)), rng.integers(0, 3, 5)
    _, grads = net.loss_and_grads(x, y)
    h = 1e-6
    for name, p in net.params.items():
        for idx in [(0,) * p.ndim, tuple(s - 1 for s in p.shape)]:
            old = p[idx]
            p[idx] = old + h
            up = net.loss_and_grads(x, y)[0]
            p[idx] = old - h
            down = net.loss_and_grads(x, y)[0]
            p[idx] = old
            # central differences: truncation O(h^2) ~ 1e-12 (no ReLU or max kink is crossed
            # by a 1e-6 nudge of these draws) plus rounding eps * |loss| / h ~ 1e-16 * 3 / 1e-6
            # = 3e-10; 1e-6 leaves a wide margin and still catches a wrong gradient (O(1e-2)).
            assert abs((up - down) / (2 * h) - grads[name][idx]) < 1e-6, name


def test_lenet_shapes_for_digits_and_mnist():
    for size in (8, 28):
        net = LeNet(LeNetConfig(image_size=size))
        h1, h2 = net.features(torch.zeros(3, 1, size, size))
        assert h1.shape == (3, 32, size // 2, size // 2)
        assert h2.shape == (3, 64, size // 4, size // 4)
        assert net(torch.zeros(3, 1, size, size)).shape == (3, 10)
    with pytest.raises(ValueError, match="divisible by 4"):
        LeNet(LeNetConfig(image_size=10))


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 6), st.integers(1, 2), st.integers(4, 12), st.integers(0, 2**16))
def test_augment_keeps_labels_and_shapes(N, C, S, seed):
    g = torch.Generator().manual_seed(seed)
    x, y = torch.rand(N, C, S, S, generator=g), torch.randint(0, 10, (N,), generator=g)
    xa, ya = augment(x, y, max_shift=1.5, max_degrees=15, p=1.0, generator=g)
    assert xa.shape == x.shape and xa.dtype == x.dtype
    assert torch.equal(ya, y)
    # bilinear: a convex mix of 4 pixels in [0, 1]; float32 rounding of 4 products and 3 sums
    # is < 8 * 6e-8 = 5e-7, so 1e-6 bounds it
    assert xa.min() >= -1e-6 and xa.max() <= 1 + 1e-6


def test_augment_with_no_motion_is_the_identity_and_p0_changes_nothing():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(4, 1, 8, 8, dtype=torch.float64, generator=g)
    y = torch.arange(4)
    xa, _ = augment(x, y, max_shift=0, max_degrees=0, p=1.0, generator=g)
    # identity grid: sample coordinates are (2i + 1) / W - 1 mapped back to i, off by a few
    # eps * W ~ 1e-14 pixels, so each output is within ~1e-14 of its pixel; 1e-12 bounds it
    torch.testing.assert_close(xa, x, atol=1e-12, rtol=0)
    xa, _ = augment(x, y, max_shift=1, max_degrees=10, p=0.0, generator=g)
    assert torch.equal(xa, x)


def test_augment_moves_content_by_whole_pixels():
    x = torch.rand(1, 1, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    theta = affine_matrix(torch.zeros(1, dtype=torch.float64), torch.ones(1, dtype=torch.float64),
                          torch.zeros(1, dtype=torch.float64), 8, 8)
    moved = shift_rotate(x, theta)  # one pixel to the right, zeros come in on the left
    torch.testing.assert_close(moved[..., 1:], x[..., :-1], atol=1e-12, rtol=0)
    assert torch.all(moved[..., 0] == 0)


def test_augment_rejects_bad_input():
    with pytest.raises(ValueError, match=r"expected a float tensor \(N, C, H, W\)"):
        augment(torch.zeros(4, 8, 8), torch.zeros(4))
    with pytest.raises(ValueError, match="x has 4 images but y has 3 labels"):
        augment(torch.zeros(4, 1, 8, 8), torch.zeros(3))
    with pytest.raises(ValueError, match="0 <= p <= 1"):
        augment(torch.zeros(4, 1, 8, 8), torch.zeros(4), p=2)


def test_augmented_batches_are_fresh_each_pass_and_keep_labels():
    x, y = torch.rand(10, 1, 8, 8, generator=torch.Generator().manual_seed(0)), torch.arange(10)
    batches = Augmented([(x, y)], seed=0, p=1.0)
    (x1, y1), = list(batches)
    (x2, y2), = list(batches)
    assert torch.equal(y1, y) and torch.equal(y2, y) and len(batches) == 1
    assert not torch.equal(x1, x2)


def test_scratch_net_initialisation_matches_its_docstring():
    # W1: variance 2 / fan_in with fan_in = 9 (He); W2: variance 1 / fan_in (LeCun).
    net = ScratchConvNet(n_filters=2000, image_size=4, n_classes=10, seed=0)
    W1, W2 = net.params["W1"], net.params["W2"]
    fan_in_2 = 2000 * 2 * 2
    # The std of n normal draws has relative standard error 1 / sqrt(2n): n = 18,000 for W1
    # (0.5 %) and 80,000 for W2 (0.25 %). A 3 % band is 6 to 12 standard errors wide, while
    # swapping the two rules changes the std by a factor sqrt(2) (41 %).
    assert abs(W1.std() / np.sqrt(2 / 9) - 1) < 0.03
    assert abs(W2.std() / np.sqrt(1 / fan_in_2) - 1) < 0.03
    assert not net.params["b1"].any() and not net.params["b2"].any()


@settings(max_examples=40, deadline=None)
@given(st.integers(-3, 3), st.integers(-3, 3), st.integers(0, 2**31 - 1))
def test_shift_pixels_moves_content_and_fills_zeros(dy, dx, seed):
    x = torch.rand(2, 1, 5, 6, generator=torch.Generator().manual_seed(seed)) + 1  # no zeros
    moved = shift_pixels(x, dy, dx)
    for i in range(5):
        for j in range(6):
            si, sj = i - dy, j - dx  # the source pixel of (i, j)
            inside = 0 <= si < 5 and 0 <= sj < 6
            expected = x[..., si, sj] if inside else torch.zeros(2, 1)
            assert torch.equal(moved[..., i, j], expected), (i, j)


def test_shift_pixels_agrees_with_the_affine_resampler_and_checks_its_input():
    x = torch.rand(3, 1, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    zero = torch.zeros(3, dtype=torch.float64)
    for dy, dx in ((1, 0), (-1, 0), (0, 1), (0, -1), (2, -1)):
        theta = affine_matrix(zero, zero + dx, zero + dy, 8, 8)
        # whole-pixel moves make bilinear weights 0 or 1 up to ~1e-14 (see above)
        torch.testing.assert_close(shift_pixels(x, dy, dx), shift_rotate(x, theta),
                                   atol=1e-12, rtol=0)
    assert torch.equal(shift_pixels(x, 0, 0), x)
    assert not shift_pixels(x, 8, 0).any()
    with pytest.raises(ValueError, match="whole-pixel int moves"):
        shift_pixels(x, 0.5, 0)
