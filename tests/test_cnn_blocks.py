"""aibook.cnn.blocks: receptive fields against input gradients, and plain against residual nets."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from aibook.cnn.blocks import (
    DeepCNN,
    Field,
    empirical_receptive_field,
    layers_of,
    receptive_field,
    stem_grad_norm,
)

layer = st.tuples(st.integers(1, 5), st.integers(1, 2), st.integers(0, 2))


def _stack(layers, pool_at=None):
    """A float64 conv stack with tanh between layers; layer `pool_at` is an average pool.
    (tanh and averaging never zero a gradient exactly, so every path of the field shows.)"""
    mods = []
    for i, (k, s, p) in enumerate(layers):
        if i:
            mods.append(nn.Tanh())
        mods.append(nn.AvgPool2d(k, s, p) if i == pool_at else
                    nn.Conv2d(2, 2, k, s, p, dtype=torch.float64))
    return nn.Sequential(*mods)


def test_lenet_like_stack_by_hand():
    # conv 5 -> pool 2/2 -> conv 5 -> pool 2/2: 1 + 4 = 5, + 1 = 6 (jump 2), + 4*2 = 14, + 2 = 16
    fields = receptive_field([(5, 1, 0), (2, 2, 0), (5, 1, 0), (2, 2, 0)])
    assert [f.size for f in fields] == [5, 6, 14, 16]
    assert [f.jump for f in fields] == [1, 2, 2, 4]
    assert receptive_field([(3, 1, 1)] * 3)[-1] == Field(size=7, jump=1, start=-3)
    torch.manual_seed(0)
    lenet = nn.Sequential(nn.Conv2d(1, 6, 5, dtype=torch.float64), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(6, 16, 5, dtype=torch.float64), nn.ReLU(), nn.MaxPool2d(2))
    assert layers_of(lenet) == [(5, 1, 0), (2, 2, 0), (5, 1, 0), (2, 2, 0)]
    # ReLU and max-pool route each draw's gradient through some paths only: many draws
    rows, cols = empirical_receptive_field(lenet, (1, 1, 24, 24), (1, 2), draws=32)
    assert (rows, cols) == (slice(4, 20), slice(8, 24))


@settings(max_examples=40, deadline=None)
@given(st.lists(layer.filter(lambda l: l[0] >= l[1]), min_size=1, max_size=4), st.data())
def test_formula_equals_the_input_gradient_of_a_real_net(layers, data):
    # kernel >= stride, as in every CNN here: a smaller kernel leaves holes in the field
    pool_at = data.draw(st.one_of(st.none(), st.integers(0, len(layers) - 1)))
    if pool_at is not None:  # torch's pools allow padding <= kernel // 2 only
        k, s, p = layers[pool_at]
        layers[pool_at] = (k, s, min(p, k // 2))
    torch.manual_seed(0)
    model = _stack(layers, pool_at)
    assert layers_of(model) == layers
    field = receptive_field(layers)[-1]
    # the first two units whose window lies inside the image (away from any padding)
    unit = -(field.start // field.jump)
    size = field.start + (unit + 1) * field.jump + field.size + 1
    shape = (1, 2, size, size)
    for u in (unit, unit + 1):
        first = field.start + u * field.jump
        rows, cols = empirical_receptive_field(model, shape, (u, u), draws=2)
        assert rows == cols == slice(first, first + field.size)


def test_a_unit_over_padding_sees_nothing():
    model = nn.Conv2d(1, 1, 1, padding=1)  # output unit (0, 0) sits on the padding
    with pytest.raises(ValueError, match="sees only padding"):
        empirical_receptive_field(model, (1, 1, 4, 4), (0, 0))
    assert empirical_receptive_field(model, (1, 1, 4, 4), (1, 1)) == (slice(0, 1), slice(0, 1))


def test_train_mode_batchnorm_would_see_everything_so_the_measure_uses_eval_mode():
    model = nn.Sequential(nn.Conv2d(1, 1, 3, dtype=torch.float64),
                          nn.BatchNorm2d(1, dtype=torch.float64)).train()
    rows, cols = empirical_receptive_field(model, (1, 1, 9, 9))
    assert (rows, cols) == (slice(0, 3), slice(0, 3))
    assert model.training  # put back as it was


def test_plain_and_residual_nets_have_the_same_parameters_and_shapes():
    plain, res = DeepCNN(6, 8, residual=False), DeepCNN(6, 8, residual=True)
    assert [p.shape for p in plain.parameters()] == [p.shape for p in res.parameters()]
    x = torch.randn(5, 1, 8, 8)
    assert plain(x).shape == res(x).shape == (5, 10)
    assert res(torch.randn(2, 1, 12, 12)).shape == (2, 10)  # pooling frees the head from H, W


def test_the_skip_connection_is_exactly_an_added_identity():
    torch.manual_seed(0)
    res = DeepCNN(1, 4, residual=True).eval()
    plain = DeepCNN(1, 4, residual=False).eval()
    plain.load_state_dict(res.state_dict())
    x = torch.randn(3, 1, 8, 8)
    h = res.stem(x)
    block = res.blocks[0]
    inner = block.bn2(block.conv2(torch.relu(block.bn1(block.conv1(h)))))
    torch.testing.assert_close(block(h), torch.relu(inner + h))
    torch.testing.assert_close(plain.blocks[0](h), torch.relu(inner))


def test_with_batchnorm_a_plain_nets_stem_gradient_explodes_with_depth_a_residual_ones_not():
    # Yang et al. (2019): at initialisation, BatchNorm makes a deep plain net's gradients grow
    # geometrically towards the input; the identity skips keep the growth mild.
    X, y = torch.randn(64, 1, 8, 8), torch.randint(0, 10, (64,))
    for seed in range(3):
        ratio = {}
        for depth in (2, 16):
            torch.manual_seed(seed)
            plain = stem_grad_norm(DeepCNN(depth, 8, residual=False), X, y)
            torch.manual_seed(seed)
            ratio[depth] = plain / stem_grad_norm(DeepCNN(depth, 8, residual=True), X, y)
        assert ratio[16] > 3 and ratio[16] > 2 * ratio[2], ratio


@pytest.mark.parametrize("bad", [[(3, 1)], [(0, 1, 0)], [(3, 0, 0)], [(3, 1, -1)], [(3.0, 1, 0)]])
def test_bad_layers_are_refused_with_what_came(bad):
    with pytest.raises(ValueError, match="receptive_field: layer 0"):
        receptive_field(bad)


def test_bad_models_and_shapes_are_refused():
    with pytest.raises(ValueError, match="dilated"):
        layers_of(nn.Conv2d(1, 1, 3, dilation=2))
    with pytest.raises(ValueError, match=r"\(1, C, H, W\)"):
        empirical_receptive_field(nn.Conv2d(1, 1, 3), (2, 1, 8, 8))
    with pytest.raises(ValueError, match="must return"):
        empirical_receptive_field(nn.Sequential(nn.Conv2d(1, 1, 3), nn.Flatten()), (1, 1, 8, 8))
    with pytest.raises(ValueError, match=r"images \(N, 1, H, W\)"):
        DeepCNN(2)(torch.randn(2, 3, 8, 8))
    with pytest.raises(ValueError, match="depth >= 1"):
        DeepCNN(0)
