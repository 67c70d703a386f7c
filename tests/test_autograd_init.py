"""Xavier/Glorot and Kaiming/He initialisation of `aibook.autograd.init` against torch.nn.init.

Tolerances, from sampling: a draw of n = 400 * 2500 = 1e6 weights estimates its standard
deviation to a relative standard error of 1/sqrt(2n) ~ 7e-4 (normal) or sqrt(0.8/n)/2 ~ 5e-4
(uniform, kurtosis 1.8). Our draw and torch's are independent, so their ratio is 1 within
~1e-3 (one standard error); SPREAD = 1 % is 10 standard errors. A wrong formula is off by
far more: a factor sqrt(2) (the ReLU gain forgotten or doubled), sqrt(3) (the uniform's std
taken for its bound) or sqrt(2500/400) = 2.5 (fan_in and fan_out swapped);
test_the_std_comparison_rejects_a_wrong_formula checks that the comparison catches them,
and a factor of 1.05. The largest of n uniform draws on [-a, a] lies within a(1 - t) of a
with probability 1 - e^{-nt}: with t = 2e-5, 1 - e^{-20}, so the two largest agree with the
bound a to BOUND_TOL = 1e-4.
"""

from functools import partial

import numpy as np
import pytest
import torch

from aibook.autograd import (
    MLP,
    Linear,
    Module,
    calculate_gain,
    kaiming_normal,
    kaiming_uniform,
    linear_layers,
    pre_activations,
    reinit,
    xavier_normal,
    xavier_uniform,
)
from aibook.autograd.init import kaiming_std, xavier_std

SPREAD = 0.01
BOUND_TOL = 1e-4
FAN_IN, FAN_OUT = 400, 2500  # unequal, so that swapping them is caught


def torch_draw(init_, seed: int, **kwargs) -> np.ndarray:
    """torch's draw for a Linear(FAN_IN, FAN_OUT), in our orientation (fan_in, fan_out)."""
    W = torch.empty(FAN_OUT, FAN_IN, dtype=torch.float64)  # torch stores (d_out, d_in)
    init_(W, generator=torch.Generator().manual_seed(seed), **kwargs)
    return W.numpy().T


def same_spread(ours: np.ndarray, theirs: np.ndarray) -> bool:
    return abs(ours.std() / theirs.std() - 1) < SPREAD


CASES = {  # name: (our draw given rng, torch's init_ and its arguments, torch's formula for std)
    "xavier_uniform": (partial(xavier_uniform, FAN_IN, FAN_OUT), torch.nn.init.xavier_uniform_,
                       {}, np.sqrt(2 / (FAN_IN + FAN_OUT))),
    "xavier_uniform-tanh": (partial(xavier_uniform, FAN_IN, FAN_OUT, calculate_gain("tanh")),
                            torch.nn.init.xavier_uniform_,
                            {"gain": torch.nn.init.calculate_gain("tanh")},
                            5 / 3 * np.sqrt(2 / (FAN_IN + FAN_OUT))),
    "xavier_normal": (partial(xavier_normal, FAN_IN, FAN_OUT), torch.nn.init.xavier_normal_,
                      {}, np.sqrt(2 / (FAN_IN + FAN_OUT))),
    "xavier_normal-relu": (partial(xavier_normal, FAN_IN, FAN_OUT, calculate_gain("relu")),
                           torch.nn.init.xavier_normal_,
                           {"gain": torch.nn.init.calculate_gain("relu")},
                           np.sqrt(2) * np.sqrt(2 / (FAN_IN + FAN_OUT))),
}
for nonlinearity in ("relu", "tanh", "linear"):
    for mode, fan in (("fan_in", FAN_IN), ("fan_out", FAN_OUT)):
        std = torch.nn.init.calculate_gain(nonlinearity) / np.sqrt(fan)
        for kind, ours, theirs in (("uniform", kaiming_uniform, torch.nn.init.kaiming_uniform_),
                                   ("normal", kaiming_normal, torch.nn.init.kaiming_normal_)):
            CASES[f"kaiming_{kind}-{nonlinearity}-{mode}"] = (
                partial(ours, FAN_IN, FAN_OUT, nonlinearity, mode), theirs,
                {"nonlinearity": nonlinearity, "mode": mode}, std)


@pytest.mark.parametrize("nonlinearity", ["linear", "relu", "tanh"])
def test_gains_equal_torchs(nonlinearity):
    assert calculate_gain(nonlinearity) == pytest.approx(
        torch.nn.init.calculate_gain(nonlinearity), rel=1e-15)


@pytest.mark.parametrize("name", sorted(CASES))
def test_draws_match_torch_std_and_bounds(name):
    ours_given_rng, init_, kwargs, std = CASES[name]
    ours = ours_given_rng(rng=np.random.default_rng(0))
    theirs = torch_draw(init_, 0, **kwargs)
    assert ours.shape == theirs.shape == (FAN_IN, FAN_OUT) and ours.dtype == np.float64
    # the formula: our std function against torch's formula written out with torch's gain
    if name.startswith("xavier"):
        gain = kwargs.get("gain", 1.0)
        assert xavier_std(FAN_IN, FAN_OUT, gain) == pytest.approx(std, rel=1e-14)
    else:
        assert kaiming_std(FAN_IN, FAN_OUT, kwargs["nonlinearity"], kwargs["mode"]) == \
            pytest.approx(std, rel=1e-14)
    # the draw: both means ~0 (standard error std / 1000), the same spread
    assert abs(ours.mean()) < 0.005 * std and abs(theirs.mean()) < 0.005 * std
    assert same_spread(ours, theirs), (ours.std(), theirs.std())
    if "uniform" in name:  # both reach, and never pass, the same bound sqrt(3) std
        bound = np.sqrt(3) * std
        assert np.abs(ours).max() <= bound and np.abs(theirs).max() <= bound
        assert np.abs(ours).max() == pytest.approx(np.abs(theirs).max(), rel=BOUND_TOL)
        assert np.abs(ours).max() == pytest.approx(bound, rel=BOUND_TOL)


@pytest.mark.parametrize("factor", [np.sqrt(2), 1 / np.sqrt(2), np.sqrt(3), 2.5, 1.05])
def test_the_std_comparison_rejects_a_wrong_formula(factor):
    ours = kaiming_normal(FAN_IN, FAN_OUT, "relu", rng=np.random.default_rng(0))
    theirs = torch_draw(torch.nn.init.kaiming_normal_, 0, nonlinearity="relu")
    assert same_spread(ours, theirs)
    assert not same_spread(factor * ours, theirs)


def test_linear_layers_get_fan_in_from_their_input_size():
    # Linear(d_in, d_out) stores W as (d_in, d_out): Kaiming's std is sqrt(2 / d_in), as for
    # torch.nn.Linear(d_in, d_out), whose weight is (d_out, d_in)
    lin = reinit(Linear(100, 3000),
                 partial(kaiming_normal, nonlinearity="relu", rng=np.random.default_rng(0)))
    theirs = torch.nn.Linear(100, 3000).double()
    torch.nn.init.kaiming_normal_(theirs.weight, nonlinearity="relu",
                                  generator=torch.Generator().manual_seed(0))
    assert same_spread(lin.W.data, theirs.weight.detach().numpy())
    assert abs(lin.W.data.std() / np.sqrt(2 / 100) - 1) < SPREAD


def test_reinit_overwrites_every_linear_in_place_and_zeroes_biases():
    model = MLP([5, 7, 6, 3], "tanh", seed=0)
    tensors = [(lin.W, lin.b) for lin in model.layers]
    assert reinit(model, partial(xavier_uniform, rng=np.random.default_rng(1)),
                  bias=0.0) is model
    again = reinit(MLP([5, 7, 6, 3], "tanh", seed=3),
                   partial(xavier_uniform, rng=np.random.default_rng(1)))
    for (W, b), lin, other in zip(tensors, model.layers, again.layers, strict=True):
        assert lin.W is W and lin.b is b  # the same Tensors, so an optimizer keeps them
        assert np.all(b.data == 0)
        np.testing.assert_array_equal(W.data, other.W.data)  # the seed decides, not the MLP
        bound = np.sqrt(3) * xavier_std(*W.shape)
        assert np.abs(W.data).max() <= bound
    assert list(linear_layers(model)) == model.layers


def test_init_validates_its_arguments():
    rng = np.random.default_rng(0)
    for fan in (0, -3, 2.5, True, "4"):
        with pytest.raises(ValueError, match="fan_in must be a positive int"):
            xavier_uniform(fan, 3, rng=rng)
        with pytest.raises(ValueError, match="fan_out must be a positive int"):
            kaiming_normal(3, fan, rng=rng)
    for gain in (0.0, -1.0, float("nan"), float("inf"), "1"):
        with pytest.raises(ValueError, match="gain must be a positive finite number"):
            xavier_normal(3, 4, gain, rng=rng)
    with pytest.raises(ValueError, match=r"nonlinearity must be one of \['linear', 'relu'"):
        kaiming_uniform(3, 4, "gelu", rng=rng)
    with pytest.raises(ValueError, match="mode must be 'fan_in' or 'fan_out'"):
        kaiming_normal(3, 4, "relu", "fan_avg", rng=rng)
    for bad in (0, np.random.RandomState(0)):
        with pytest.raises(TypeError, match="rng must be a numpy.random.Generator"):
            xavier_uniform(3, 4, rng=bad)
    with pytest.raises(ValueError, match=r"returned shape \(4, 3\), expected \(3, 4\)"):
        reinit(Linear(3, 4), lambda fan_in, fan_out: np.zeros((fan_out, fan_in)))
    with pytest.raises(ValueError, match="found no Linear layer"):
        reinit(Module(), np.zeros)


# ---- variance through depth ---------------------------------------------------------------

WIDTH, DEPTH, N = 256, 10, 500
BAND = (0.5, 2.0)


def depth_ratio(init_given_rng, seed: int) -> float:
    """Var(z_10) / Var(z_1) of a 10-layer ReLU MLP of width 256, inputs x ~ N(0, 1)."""
    rng = np.random.default_rng(seed)
    model = reinit(MLP([WIDTH] * (DEPTH + 1), "relu", seed=seed), init_given_rng(rng))
    z = pre_activations(model, rng.standard_normal((N, WIDTH)))
    return float(z[-1].var() / z[0].var())


def geometric_mean_ratio(init_given_rng, seeds=range(5)) -> float:
    return float(np.exp(np.mean([np.log(depth_ratio(init_given_rng, s)) for s in seeds])))


def kaiming(rng, scale: float = 1.0):
    return lambda fan_in, fan_out: scale * kaiming_normal(fan_in, fan_out, "relu", rng=rng)


def test_kaiming_keeps_the_variance_through_depth_where_naive_inits_explode_or_vanish():
    # With b = 0, Var(z_l) = fan_in Var(W) Var(z_{l-1}) / 2 for ReLU: Kaiming's Var(W) = 2 / 256
    # keeps it, N(0, 1) multiplies it by 128 per layer (128^9 ~ 1e19 over nine layers) and
    # N(0, 0.01^2) by 0.0128 (~1e-17). One network's ratio is itself random: over 200 seeds,
    # log(ratio) had a standard deviation of 0.30 (the weights of each layer scale the whole
    # batch together, with relative spread ~sqrt(2 / 256) per layer), and 1.5 % to 2 % of
    # single networks fell outside the band. So the test takes the geometric mean over 5 networks:
    # standard deviation 0.30 / sqrt(5) = 0.13 in log, and log 2 = 0.69 is 5 of them.
    lo, hi = BAND
    assert lo <= geometric_mean_ratio(kaiming) <= hi
    assert depth_ratio(lambda rng: lambda i, o: rng.normal(0, 1.0, (i, o)), 0) > 1e12
    assert depth_ratio(lambda rng: lambda i, o: rng.normal(0, 0.01, (i, o)), 0) < 1e-12


@pytest.mark.parametrize("variance_factor, expected", [(0.5, 2.0**-9), (0.8, 0.8**9),
                                                       (1.2, 1.2**9)])
def test_the_depth_band_rejects_a_variance_off_by_20_percent(variance_factor, expected):
    # the band is not met by any init that keeps the scale roughly: Var(W) = 1 / fan_in (gain 1,
    # the tanh or linear choice used with ReLU) gives 2^-9 ~ 0.002, and Var(W) 20 % away from
    # 2 / fan_in gives 0.8^9 ~ 0.13 or 1.2^9 ~ 5.2, each at least 7 standard deviations
    # (0.13 in log, above) outside [0.5, 2]
    lo, hi = BAND
    ratio = geometric_mean_ratio(lambda rng: kaiming(rng, np.sqrt(variance_factor)))
    assert not lo <= ratio <= hi
    assert abs(np.log(ratio / expected)) < 0.5  # and it is the predicted factor^9
