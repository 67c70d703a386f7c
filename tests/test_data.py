import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import aibook
from aibook.data import stratified_split


def test_digits_split_is_stratified_disjoint_and_complete():
    s = aibook.digits(seed=0)
    n = len(s.X_train) + len(s.X_val) + len(s.X_test)
    assert n == 1797
    assert s.X_train.shape[1:] == (64,) and s.X_train.dtype == torch.float32
    assert s.y_train.dtype == torch.int64
    assert 0.0 <= s.X_train.min() and s.X_train.max() <= 1.0
    # Class proportions in each part match the whole up to rounding counts to integers.
    # scikit-learn's stratified split gives each class floor or ceil of its exact share
    # (< 1 item off); the test part takes one such split, val and train two (the second of
    # val/(1 - test) of the rest, whose shares are already < 1 item off): < 1 + 270/1437
    # items off in val, < 2.2 in train. So within 2.2 / len(part) at any seed.
    whole = np.bincount(np.concatenate([s.y_train, s.y_val, s.y_test]), minlength=10) / n
    for y in (s.y_train, s.y_val, s.y_test):
        np.testing.assert_allclose(np.bincount(y.numpy(), minlength=10) / len(y), whole, rtol=0,
                                   atol=2.2 / len(y))
    # No image appears in two parts.
    rows = {tuple(r) for r in s.X_train.numpy()}
    assert not any(tuple(r) in rows for r in s.X_test.numpy() if not np.all(r == 0))


def test_digits_is_seeded_and_can_be_shaped_for_cnns():
    a, b, c = aibook.digits(seed=1), aibook.digits(seed=1), aibook.digits(seed=2)
    assert torch.equal(a.X_test, b.X_test)
    assert not torch.equal(a.X_test, c.X_test)
    img = aibook.digits(seed=1, flat=False)
    assert img.X_train.shape[1:] == (1, 8, 8)
    assert torch.equal(img.X_train.reshape(-1, 64), a.X_train)


def test_moons_has_two_features_and_binary_labels():
    s = aibook.moons(n=500, noise=0.1, seed=0)
    assert s.X_train.shape == (350, 2) and s.X_test.shape == (150, 2)
    assert set(s.y_train.tolist()) == {0, 1}
    assert len(s.X_val) == 0


@settings(max_examples=25, deadline=None)
@given(val=st.floats(0.05, 0.4), test=st.floats(0.05, 0.4))
def test_stratified_split_sizes_add_up(val, test):
    X = np.arange(400).reshape(200, 2)
    y = np.repeat([0, 1], 100)
    parts = stratified_split(X, y, val=val, test=test, seed=0)
    assert sum(len(p) for p in parts[::2]) == 200
    assert sorted(np.concatenate(parts[::2])[:, 0].tolist()) == list(range(0, 400, 2))


@pytest.mark.parametrize(("val", "test", "match"), [
    (0.5, 0.5, "val \\+ test must be < 1"),
    (-0.1, 0.2, "val must be a fraction"),
    (0.1, 1.0, "test must be a fraction"),
])
def test_stratified_split_rejects_bad_fractions(val, test, match):
    with pytest.raises(ValueError, match=match):
        stratified_split(np.zeros((20, 1)), np.zeros(20), val=val, test=test, seed=0)


def test_split_and_loader_reject_mismatched_lengths():
    with pytest.raises(ValueError, match="X has 3 rows but y has 2"):
        stratified_split(np.zeros((3, 1)), np.zeros(2), val=0.1, test=0.1, seed=0)
    with pytest.raises(ValueError, match="X has 3 rows but y has 2"):
        aibook.loader(torch.zeros(3, 1), torch.zeros(2))


def test_loader_shuffles_reproducibly():
    X, y = torch.arange(20.0).unsqueeze(1), torch.arange(20)
    first = [b[1].tolist() for b in aibook.loader(X, y, batch_size=5, seed=3)]
    again = [b[1].tolist() for b in aibook.loader(X, y, batch_size=5, seed=3)]
    other = [b[1].tolist() for b in aibook.loader(X, y, batch_size=5, seed=4)]
    assert first == again != other
    assert sorted(sum(first, [])) == list(range(20))
