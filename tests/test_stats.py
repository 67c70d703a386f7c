"""aibook.stats against scipy.stats: intervals, paired differences, TOST and Wilson."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as st_

from aibook import stats

values = st.lists(st.floats(-100, 100, allow_nan=False, width=64), min_size=2, max_size=30)


@settings(deadline=None, max_examples=60)
@given(values, st.sampled_from([0.8, 0.9, 0.95, 0.99]))
def test_mean_ci_equals_scipy_t_interval(x, level):
    ci = stats.mean_ci(x, level)
    x = np.asarray(x)
    assert ci.n == len(x) and ci.level == level
    assert ci.mean == pytest.approx(x.mean(), abs=1e-12)
    sem = st_.sem(x)
    if sem == 0:  # every seed agreed: a zero-width interval, which scipy reports as nan
        assert ci.lo == ci.hi == ci.mean
        return
    lo, hi = st_.t.interval(level, len(x) - 1, loc=x.mean(), scale=sem)
    # both are mean +- t * s / sqrt(n) in float64, summed in different orders: |x| <= 100,
    # n <= 30 terms, so 1e-9 absolute leaves a wide margin over 30 * 100 * 2.2e-16
    assert ci.lo == pytest.approx(lo, abs=1e-9) and ci.hi == pytest.approx(hi, abs=1e-9)


def test_known_interval_by_hand():
    # x = 1..5: mean 3, s = sqrt(2.5), t_{0.975, 4} = 2.7764451051977987
    ci = stats.mean_ci([1, 2, 3, 4, 5])
    half = 2.7764451051977987 * np.sqrt(2.5) / np.sqrt(5)
    assert (ci.lo, ci.hi) == pytest.approx((3 - half, 3 + half), abs=1e-12)
    assert 3 in ci and 10 not in ci
    assert str(ci) == f"3.000 (95 % CI {3 - half:.3f} to {3 + half:.3f}, n = 5)"


@settings(deadline=None, max_examples=40)
@given(st.integers(0, 2**31 - 1), st.integers(3, 20), st.floats(-1, 1))
def test_paired_matches_scipy_ttest_rel(seed, n, shift):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=n)
    b = a - shift + rng.normal(scale=0.3, size=n)
    d = stats.paired(a, b)
    res = st_.ttest_rel(a, b)
    lo, hi = res.confidence_interval(0.95)
    assert (d.lo, d.hi) == pytest.approx((lo, hi), abs=1e-9)
    # "a beats b" exactly when the one-sided paired test rejects at 2.5 %
    p_greater = st_.ttest_rel(a, b, alternative="greater").pvalue
    beats = True
    try:
        stats.assert_beats(a, b)
    except AssertionError:
        beats = False
    assert beats == (p_greater < 0.025)


def test_assert_beats_returns_interval_and_explains_failure():
    a, b = [0.9, 0.91, 0.92, 0.93, 0.94], [0.8, 0.82, 0.81, 0.83, 0.8]
    d = stats.assert_beats(a, b, what="CNN beats MLP")
    assert d.lo > 0 and d.mean == pytest.approx(0.108)
    with pytest.raises(AssertionError, match=r"MLP beats CNN: not supported"):
        stats.assert_beats(b, a, what="MLP beats CNN")
    with pytest.raises(AssertionError, match="lower end"):
        stats.assert_beats(a, b, margin=0.2)


@settings(deadline=None, max_examples=40)
@given(st.integers(0, 2**31 - 1), st.integers(4, 20), st.floats(0.05, 1.0))
def test_tost_equals_two_shifted_one_sided_scipy_tests(seed, n, delta):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=n)
    b = a + rng.normal(scale=0.2, size=n)
    d = a - b
    p_low = st_.ttest_1samp(d, -delta, alternative="greater").pvalue
    p_high = st_.ttest_1samp(d, delta, alternative="less").pvalue
    assert stats.tost_p(a, b, delta) == pytest.approx(max(p_low, p_high), abs=1e-12)


def test_assert_matches_accepts_equal_and_rejects_shifted():
    rng = np.random.default_rng(0)
    a = rng.normal(size=10)
    same = a + rng.normal(scale=0.01, size=10)
    stats.assert_matches(a, same, delta=0.05, what="ours matches torch")
    with pytest.raises(AssertionError, match=r"within \+-0.05: not supported"):
        stats.assert_matches(a, same + 0.1, delta=0.05)


def test_assert_at_least_uses_the_lower_end():
    ci = stats.assert_at_least([0.95, 0.96, 0.97], 0.9)
    assert ci.lo >= 0.9
    with pytest.raises(AssertionError, match="lower end"):
        stats.assert_at_least([0.95, 0.96, 0.97], ci.lo + 1e-3)


def test_proportion_ci_is_scipy_wilson():
    ci = stats.proportion_ci(5, 5)
    ref = st_.binomtest(5, 5).proportion_ci(0.95, method="wilson")
    assert (ci.mean, ci.lo, ci.hi) == (1.0, ref.low, ref.high) and ci.lo < 1
    # Wilson's interval for 0 of n starts at 0 and is wider than the naive zero-width one
    assert stats.proportion_ci(0, 20).lo == 0 and stats.proportion_ci(0, 20).hi > 0.1


def test_over_seeds_passes_base_seeds_in_order():
    assert stats.over_seeds(lambda s: s * 10, n=3, start=2).tolist() == [20.0, 30.0, 40.0]


@pytest.mark.parametrize(("call", "message"), [
    (lambda: stats.mean_ci([1.0]), "need at least 2 values"),
    (lambda: stats.mean_ci([[1.0, 2.0]]), "expected a 1-D sequence"),
    (lambda: stats.mean_ci([1.0, float("nan")]), "must be finite"),
    (lambda: stats.mean_ci([1.0, 2.0], level=95), r"level must lie in \(0, 1\)"),
    (lambda: stats.paired([1, 2, 3], [1, 2]), "one value per seed each, got 3 and 2"),
    (lambda: stats.tost_p([1, 2], [1, 2], 0), "delta must be > 0"),
    (lambda: stats.proportion_ci(6, 5), "0 <= successes <= n"),
    (lambda: stats.over_seeds(lambda s: s, n=0), "n must be >= 1"),
])
def test_bad_input_says_what_was_expected(call, message):
    with pytest.raises(ValueError, match=message):
        call()
