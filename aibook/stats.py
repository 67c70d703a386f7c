"""Claims over seeds: means with 95 % intervals, paired comparisons and equivalence tests.

A number measured once, on one seed, is an anecdote. The book states a level or a
comparison only through this module:

1. run the experiment over several seeds: `values = over_seeds(run, n=5)`;
2. summarise a level with a Student-t interval: `mean_ci(values)`;
3. compare two methods on the *same* seeds (paired): `paired(a, b)`, then
   `assert_beats(a, b)` (the interval of a - b lies above 0) or
   `assert_matches(a, b, delta)` (two one-sided tests: a - b lies within +-delta).

The intervals are the textbook ones (scipy.stats gives the same; tests/test_stats.py checks).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as _st
from tqdm.auto import tqdm


@dataclass(frozen=True)
class Interval:
    """A mean with its two-sided confidence interval [lo, hi] over n values."""

    mean: float
    lo: float
    hi: float
    n: int
    level: float = 0.95

    def __str__(self) -> str:
        return self.format()

    def format(self, digits: int = 3, percent: bool = False) -> str:
        """'0.981 (95 % CI 0.975 to 0.987, n = 5)'; percent=True shows 98.1 %."""
        scale, unit = (100.0, " %") if percent else (1.0, "")
        f = f"{{:.{digits}f}}"
        return (f"{f.format(self.mean * scale)}{unit} ({self.level:.0%} CI "
                f"{f.format(self.lo * scale)} to {f.format(self.hi * scale)}{unit}, "
                f"n = {self.n})").replace("95%", "95 %")

    def __contains__(self, x: float) -> bool:
        return self.lo <= x <= self.hi


def _as_values(values: Sequence[float] | np.ndarray, who: str, *, min_n: int = 2) -> np.ndarray:
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"{who}: expected a 1-D sequence of numbers, got shape {x.shape}")
    if len(x) < min_n:
        raise ValueError(f"{who}: need at least {min_n} values for an interval, got {len(x)}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{who}: values must be finite, got {x.tolist()}")
    return x


def over_seeds(run: Callable[[int], float], n: int = 5, *, start: int = 0,
               desc: str = "seeds") -> np.ndarray:
    """[run(start), run(start + 1), ..., run(start + n - 1)] as an array (n,).

    The integers passed are *base* seeds; aibook's seeded helpers add AIBOOK_SEED_OFFSET,
    so the same call draws fresh seeds when the book runs at another offset.
    """
    if n < 1:
        raise ValueError(f"over_seeds: n must be >= 1, got {n}")
    return np.array([float(run(s)) for s in tqdm(range(start, start + n), desc=desc)])


def mean_ci(values: Sequence[float] | np.ndarray, level: float = 0.95) -> Interval:
    """Mean and Student-t interval: mean +- t_{(1+level)/2, n-1} * s / sqrt(n).

    A sample with zero spread gives a zero-width interval (every seed agreed).
    """
    if not 0 < level < 1:
        raise ValueError(f"mean_ci: level must lie in (0, 1), got {level}")
    x = _as_values(values, "mean_ci")
    n, m = len(x), float(x.mean())
    half = float(_st.t.ppf((1 + level) / 2, n - 1) * x.std(ddof=1) / math.sqrt(n))
    return Interval(m, m - half, m + half, n, level)


def paired(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray,
           level: float = 0.95) -> Interval:
    """Interval of the mean paired difference a - b (a[i] and b[i] share seed i)."""
    x = _as_values(a, "paired (a)")
    y = _as_values(b, "paired (b)")
    if x.shape != y.shape:
        raise ValueError(f"paired: a and b must have one value per seed each, got {len(x)} "
                         f"and {len(y)}")
    return mean_ci(x - y, level)


def assert_beats(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray, *,
                 margin: float = 0.0, level: float = 0.95, what: str = "A beats B") -> Interval:
    """Assert that a beats b: the lower end of the paired interval of a - b exceeds `margin`.

    Returns the interval, so the chapter can glue it. Raises AssertionError with the
    interval when the data do not support the claim.
    """
    d = paired(a, b, level)
    if not d.lo > margin:
        raise AssertionError(f"{what}: not supported; mean difference {d} has its lower end "
                             f"{d.lo:.4g} <= {margin:.4g}")
    return d


def tost_p(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray,
           delta: float) -> float:
    """p-value of the paired two one-sided tests (TOST) for |mean(a - b)| < delta."""
    if delta <= 0:
        raise ValueError(f"tost_p: delta must be > 0, got {delta}")
    x, y = _as_values(a, "tost_p (a)"), _as_values(b, "tost_p (b)")
    if x.shape != y.shape:
        raise ValueError(f"tost_p: a and b must have one value per seed each, got {len(x)} "
                         f"and {len(y)}")
    d = x - y
    n, m, se = len(d), d.mean(), d.std(ddof=1) / math.sqrt(len(d))
    if se == 0:
        return 0.0 if abs(m) < delta else 1.0
    p_low = _st.t.sf((m + delta) / se, n - 1)  # H0: mean <= -delta
    p_high = _st.t.cdf((m - delta) / se, n - 1)  # H0: mean >= +delta
    return float(max(p_low, p_high))


def assert_matches(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray, *,
                   delta: float, alpha: float = 0.05, what: str = "A matches B") -> Interval:
    """Assert that a matches b within +-delta by TOST at level alpha; equivalently, the
    (1 - 2 alpha) interval of a - b lies inside (-delta, delta). Returns the 95 % interval."""
    p = tost_p(a, b, delta)
    if not p < alpha:
        d = paired(a, b, 1 - 2 * alpha)
        raise AssertionError(f"{what} within +-{delta:.4g}: not supported (TOST p = {p:.3g}); "
                             f"the {1 - 2 * alpha:.0%} interval of the difference is "
                             f"[{d.lo:.4g}, {d.hi:.4g}]")
    return paired(a, b)


def assert_at_least(values: Sequence[float] | np.ndarray, bound: float, *, level: float = 0.95,
                    what: str = "level") -> Interval:
    """Assert a level: the lower end of the mean's interval is at least `bound`.

    Set `bound` below the interval you measured, with a stated margin, never at one run
    minus a hair.
    """
    ci = mean_ci(values, level)
    if not ci.lo >= bound:
        raise AssertionError(f"{what}: mean {ci} has its lower end {ci.lo:.4g} < {bound:.4g}")
    return ci


def proportion_ci(successes: int, n: int, level: float = 0.95) -> Interval:
    """Wilson score interval for a success rate k/n (better than mean_ci on 0/1 data,
    which gives a zero-width interval when every trial succeeded)."""
    if n < 1 or not 0 <= successes <= n:
        raise ValueError(f"proportion_ci: need 0 <= successes <= n and n >= 1, got "
                         f"{successes} of {n}")
    r = _st.binomtest(successes, n).proportion_ci(confidence_level=level, method="wilson")
    return Interval(successes / n, float(r.low), float(r.high), n, level)
