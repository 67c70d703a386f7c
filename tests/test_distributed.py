"""aibook.distributed against its library twin, torch.distributed: the naive and the ring
all-reduce against `dist.all_reduce`, data parallelism by hand against one process and
against `DistributedDataParallel`, synchronised BatchNorm against `nn.BatchNorm1d` on the whole
batch, ZeRO-1 against `torch.optim.Adam` and `ZeroRedundancyOptimizer`; the alpha-beta and
ZeRO arithmetic; FedAvg and FedSGD against plain gradient descent; and `launch` itself: rank
order, failures, hangs, and no worker left behind.

Each process group costs seconds of start-up, so one launch per world size runs every check
that needs ranks (`_suite`), and the tests below read its results: a check that raises on the
ranks fails its own test with the ranks' traceback, not the others.
"""

from __future__ import annotations

import itertools
import math
import os
import re
import socket
import time
import traceback

import numpy as np
import psutil
import pytest
import torch
import torch.distributed as dist
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from aibook.device import seed_for
from aibook.distributed import (
    FedConfig,
    RankFailed,
    ShardedAdam,
    all_reduce_gradients,
    bus_bandwidth,
    combine_gradients,
    fedavg,
    fit_alpha_beta,
    free_port,
    iid_split,
    init_mlp,
    launch,
    lockstep_times,
    loopback_interface,
    mlp_logits,
    naive_all_reduce,
    naive_bytes,
    non_iid_split,
    recv_chunk,
    ring_all_reduce,
    ring_bytes,
    ring_time,
    scaling_efficiency,
    send_chunk,
    shard,
    simulate_ring,
    sync_batch_norm,
    torchrun,
    weighted_average,
    zero_bytes,
)

SETTINGS = settings(max_examples=30, deadline=None)
seeds = st.integers(0, 2**31 - 1)  # hypothesis draws the seed, so a failure replays
EPS32 = torch.finfo(torch.float32).eps  # 1.19e-7: one rounding errs by at most EPS / 2
EPS64 = torch.finfo(torch.float64).eps  # 2.22e-16
TIMEOUT = 120.0  # every launch: a broken collective fails the run instead of hanging CI
HANG_TIMEOUT = 8.0  # the launches that hang on purpose (start-up takes about 3 s of it)
REAP_SECONDS = 5.0  # how long the OS may take to reap a killed worker
DTYPES = (torch.float32, torch.float64, torch.int64)
LR, SGD_STEPS, ADAM_STEPS = 0.1, 5, 5
WIDTH = 8  # the hidden layer of the little MLP below


# ---------------------------------------------------------------- shared data and models
def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _rank_data(shape: tuple[int, ...], dtype: torch.dtype, rank: int) -> torch.Tensor:
    """Rank `rank`'s tensor for an all-reduce case; the parent draws it again to check."""
    g = _gen(1000 * rank + sum(shape) + len(shape) + 17 * DTYPES.index(dtype))
    if dtype.is_floating_point:  # magnitudes over orders of ten: the order of the sum matters
        x = torch.randn(shape, generator=g, dtype=torch.float64) \
            * torch.exp(2 * torch.randn(shape, generator=g, dtype=torch.float64))
        return x.to(dtype)
    return torch.randint(-2**40, 2**40, shape, generator=g, dtype=dtype)  # sums of 4 fit


def _shapes(world_size: int) -> list[tuple[int, ...]]:
    """Empty, one element, fewer than N, not divisible by N, divisible, 3-D, and ~1e5."""
    n = world_size
    return list(dict.fromkeys([(0,), (1,), (n - 1,), (2 * n + 1,), (4 * n,), (3, 5, 7),
                               (100_003,)]))


def _mlp(seed: int = 0) -> nn.Sequential:
    """A float64 6 -> 8 -> 3 MLP drawn from its own generator (the global one is untouched)."""
    model = nn.Sequential(nn.utils.skip_init(nn.Linear, 6, WIDTH, dtype=torch.float64),
                          nn.Tanh(),
                          nn.utils.skip_init(nn.Linear, WIDTH, 3, dtype=torch.float64))
    g = _gen(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64) * 0.5)
    return model


def _batch(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = _gen(seed)
    return torch.randn(n, 6, generator=g, dtype=torch.float64), torch.randint(0, 3, (n,),
                                                                               generator=g)


def _grads(model: nn.Module) -> list[torch.Tensor]:
    return [p.grad.detach().clone() for p in model.parameters()]


def _params(model: nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.parameters()]


def _gradient(X, y, reduction: str = "mean", model: nn.Module | None = None):
    """One process's gradient of the loss on the whole batch."""
    model = model or _mlp()
    F.cross_entropy(model(X), y, reduction=reduction).backward()
    return _grads(model)


def _example_scale(X, y) -> list[torch.Tensor]:
    """sum_i |grad l_i| / n, entry by entry: the magnitude that rounding in a sum over
    examples is relative to (a mean gradient can be far smaller, by cancellation)."""
    total = None
    for i in range(len(X)):
        g = _gradient(X[i:i + 1], y[i:i + 1])
        total = [a.abs() for a in g] if total is None else \
            [t + a.abs() for t, a in zip(total, g, strict=True)]
    return [t / len(X) for t in total]


def _assert_within(got, want, bound, what: str = "") -> None:
    """|got - want| <= bound entry by entry, for tensors or lists of tensors."""
    if isinstance(got, torch.Tensor):
        got, want, bound = [got], [want], [bound]
    for a, b, tol in zip(got, want, bound, strict=True):
        gap = (a.double() - b.double()).abs()
        tol = torch.as_tensor(tol, dtype=torch.float64)
        assert (gap <= tol).all(), \
            f"{what}: gap {gap.max().item():.3g} exceeds the bound where it is " \
            f"{tol.expand_as(gap)[gap > tol].min().item():.3g}"


# ---------------------------------------------------------------- the checks run on the ranks
def _env():
    return {"rank": dist.get_rank(), "world_size": dist.get_world_size(), "pid": os.getpid(),
            "ppid": os.getppid(), "ifname": os.environ.get("GLOO_SOCKET_IFNAME"),
            "threads": torch.get_num_threads()}


def _collectives():
    """torch's, the ring's and the naive all-reduce of one tensor per case, and bytes sent."""
    rank, out = dist.get_rank(), {}
    for dtype in DTYPES:
        for shape in _shapes(dist.get_world_size()):
            x = _rank_data(shape, dtype, rank)
            theirs, ring, naive = x.clone(), x.clone(), x.clone()
            dist.all_reduce(theirs)
            where = ring.data_ptr()
            ring_sent = ring_all_reduce(ring)
            naive_sent = naive_all_reduce(naive)
            out[str(dtype), shape] = {"torch": theirs, "ring": ring, "naive": naive,
                                      "ring_sent": ring_sent, "naive_sent": naive_sent,
                                      "in_place": ring.data_ptr() == where}
    # a contiguous view into a larger buffer: only the view's elements change
    buffer = torch.arange(12, dtype=torch.float64) * (rank + 1)
    ring_all_reduce(buffer[2:9])
    naive_all_reduce(buffer.view(3, 4)[2])  # the last row: contiguous
    out["views"] = buffer
    return out


def _data_parallel():
    """all_reduce_gradients on each rank's part of one batch of 32, and SGD in lockstep."""
    rank, n = dist.get_rank(), dist.get_world_size()
    X, y = _batch(32, seed=1)
    part = shard(len(X), rank, n)
    out = {}
    for name, kwargs, reduction in (("mean", {}, "mean"),
                                    ("mean_ring", {"all_reduce": ring_all_reduce}, "mean"),
                                    ("sum_averaged", {}, "sum"),
                                    ("sum_summed", {"average": False}, "sum")):
        model = _mlp()
        F.cross_entropy(model(X[part]), y[part], reduction=reduction).backward()
        all_reduce_gradients(model, **kwargs)
        out[name] = _grads(model)
    model = _mlp()
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    for step in range(SGD_STEPS):
        Xs, ys = _batch(32, seed=100 + step)
        opt.zero_grad()
        F.cross_entropy(model(Xs[part]), ys[part]).backward()
        all_reduce_gradients(model)
        opt.step()
    out["sgd"] = _params(model)
    with pytest.raises(ValueError, match=re.escape(
            "all_reduce_gradients: a parameter has no .grad; call backward() first")):
        all_reduce_gradients(_mlp())
    return out


def _ddp():
    """DistributedDataParallel against the manual version, and no_sync accumulation."""
    rank, n = dist.get_rank(), dist.get_world_size()
    manual, ddp = _mlp(), DistributedDataParallel(_mlp())
    opt_manual = torch.optim.SGD(manual.parameters(), lr=LR)
    opt_ddp = torch.optim.SGD(ddp.parameters(), lr=LR)
    for step in range(SGD_STEPS):
        X, y = _batch(32, seed=100 + step)
        part = shard(len(X), rank, n)
        opt_manual.zero_grad()
        F.cross_entropy(manual(X[part]), y[part]).backward()
        all_reduce_gradients(manual)
        opt_manual.step()
        opt_ddp.zero_grad()
        F.cross_entropy(ddp(X[part]), y[part]).backward()
        opt_ddp.step()
    # k micro-batches of 4 per rank: k - 1 backward passes without a sync, then one with it
    k, micro = 3, 4
    X, y = _batch(n * k * micro, seed=7)
    mine = shard(len(X), rank, n)
    Xr, yr = X[mine], y[mine]
    accumulate = DistributedDataParallel(_mlp())
    with accumulate.no_sync():
        for j in range(k - 1):
            (F.cross_entropy(accumulate(Xr[j * micro:(j + 1) * micro]),
                             yr[j * micro:(j + 1) * micro]) / k).backward()
    unsynced = _grads(accumulate.module)
    (F.cross_entropy(accumulate(Xr[(k - 1) * micro:]), yr[(k - 1) * micro:]) / k).backward()
    return {"manual": _params(manual), "ddp": _params(ddp.module), "unsynced": unsynced,
            "accumulated": _grads(accumulate.module)}


def _bn_case():
    """12 examples of 3 features (mean 0.5, spread 1.5), an upstream gradient, BN's affine."""
    g = _gen(5)
    X = 0.5 + 1.5 * torch.randn(12, 3, generator=g, dtype=torch.float64)
    G = torch.randn(12, 3, generator=g, dtype=torch.float64)
    weight = 1 + 0.3 * torch.randn(3, generator=g, dtype=torch.float64)
    bias = 0.3 * torch.randn(3, generator=g, dtype=torch.float64)
    return X, G, weight, bias


BN_PARTS = (slice(0, 5), slice(5, 12))  # unequal parts: the counts are all-reduced too


def _sync_bn():
    X, G, weight, bias = _bn_case()
    part = BN_PARTS[dist.get_rank()]
    x = X[part].clone().requires_grad_()
    w, b = weight.clone().requires_grad_(), bias.clone().requires_grad_()
    out = sync_batch_norm(x, w, b)
    (out * G[part]).sum().backward()
    return {"out": out.detach(), "x": x.grad, "weight": w.grad, "bias": b.grad}


def _sharded_adam():
    """ShardedAdam and ZeroRedundancyOptimizer(Adam) under DDP, side by side, on 24 examples
    a step (divisible by 2 and 3, so the averaged gradient is the whole batch's)."""
    # imported here, on the ranks: the module's import scripts functional optimizers with
    # torch.jit, which warns (deprecated) dozens of times
    from torch.distributed.optim import ZeroRedundancyOptimizer

    rank, n = dist.get_rank(), dist.get_world_size()
    ours = _mlp()
    opt = ShardedAdam(ours.parameters(), lr=0.01)
    theirs = DistributedDataParallel(_mlp())
    zero = ZeroRedundancyOptimizer(theirs.parameters(), optimizer_class=torch.optim.Adam,
                                   lr=0.01)
    for step in range(ADAM_STEPS):
        X, y = _batch(24, seed=200 + step)
        part = shard(len(X), rank, n)
        opt.zero_grad()
        F.cross_entropy(ours(X[part]), y[part]).backward()
        opt.step()
        zero.zero_grad()
        F.cross_entropy(theirs(X[part]), y[part]).backward()
        zero.step()
    zero_state = sum(t.numel() * t.element_size() for s in zero.optim.state.values()
                     for key, t in s.items() if key in ("exp_avg", "exp_avg_sq"))
    fresh = ShardedAdam(_mlp().parameters())
    with pytest.raises(ValueError, match=re.escape(
            "ShardedAdam.step: a parameter has no .grad; call backward() first")):
        fresh.step()
    return {"ours": _params(ours), "zero": _params(theirs.module),
            "state_bytes": opt.state_bytes(), "zero_state_bytes": zero_state}


LOCKSTEP_SLEEP, LOCKSTEP_REPEATS = 0.03, 4


def _lockstep():
    """Rank 1 is slow in "slow": lockstep_times must charge every rank the slower time."""
    slow = LOCKSTEP_SLEEP if dist.get_rank() == 1 else 0.0
    return lockstep_times({"fast": lambda: None, "slow": lambda: time.sleep(slow)},
                          repeats=LOCKSTEP_REPEATS, warmup=1)


def _sockets():
    """Every inet socket of this rank (run last: gloo's pairs are all connected by then)."""
    dist.barrier()
    return [(c.laddr.ip, c.raddr.ip if c.raddr else None, c.status)
            for c in psutil.Process().net_connections(kind="inet")]


CHECKS = {"env": _env, "collectives": _collectives, "data_parallel": _data_parallel,
          "ddp": _ddp, "sync_bn": _sync_bn, "sharded_adam": _sharded_adam,
          "lockstep": _lockstep, "sockets": _sockets}
PLAN = {2: list(CHECKS),
        3: ["env", "collectives", "sharded_adam", "sockets"],
        4: ["env", "collectives", "sockets"]}


class _Failed:
    def __init__(self, text: str) -> None:
        self.text = text


def _suite(names: list[str]) -> dict:
    """Run the named checks on this rank; a check that raises leaves its traceback instead."""
    out = {}
    for name in names:
        try:
            out[name] = CHECKS[name]()
        except Exception:  # re-raised in the parent by _result, with this traceback
            out[name] = _Failed(traceback.format_exc())
        dist.barrier()
    return out


_LAUNCHED: dict[int, list[dict] | BaseException] = {}


def _group(world_size: int) -> list[dict]:
    """The suite's results for one world size, launched once; a failed launch (a hang costs
    the whole TIMEOUT) is remembered too, so the other tests do not launch it again."""
    if world_size not in _LAUNCHED:
        try:
            _LAUNCHED[world_size] = launch(_suite, world_size, PLAN[world_size], timeout=TIMEOUT)
        except (RankFailed, TimeoutError) as err:
            _LAUNCHED[world_size] = err
    found = _LAUNCHED[world_size]
    if isinstance(found, BaseException):
        raise found
    return found


def _result(world_size: int, name: str) -> list:
    """Each rank's result of one check, in rank order; a check that raised fails the test."""
    per_rank = [r[name] for r in _group(world_size)]
    for rank, r in enumerate(per_rank):
        if isinstance(r, _Failed):
            pytest.fail(f"{name} raised on rank {rank} of {world_size}:\n{r.text}")
    return per_rank


def _workers() -> list[psutil.Process]:
    """This process's children, but multiprocessing's resource tracker (it outlives launches
    by design, one per parent)."""
    found = []
    for child in psutil.Process().children(recursive=True):
        try:
            if "resource_tracker" not in " ".join(child.cmdline()):
                found.append(child)
        except psutil.ZombieProcess:  # dead but not reaped: still there
            found.append(child)
        except psutil.NoSuchProcess:  # gone between the listing and the look
            pass
    return found


def _no_worker_left() -> list[psutil.Process]:
    deadline = time.monotonic() + REAP_SECONDS
    while _workers() and time.monotonic() < deadline:
        time.sleep(0.1)
    return _workers()


# ---------------------------------------------------------------- launch
@pytest.mark.parametrize("world_size", [2, 3, 4])
def test_launch_returns_each_ranks_result_in_rank_order_from_its_own_process(world_size):
    env = _result(world_size, "env")
    assert [e["rank"] for e in env] == list(range(world_size))
    assert all(e["world_size"] == world_size and e["threads"] == 1 for e in env)
    pids = {e["pid"] for e in env}
    assert len(pids) == world_size and os.getpid() not in pids
    assert all(e["ppid"] == os.getpid() for e in env)  # children of this process
    assert not _no_worker_left()


@pytest.mark.parametrize("world_size", [2, 3, 4])
def test_ranks_talk_over_the_loopback_interface(world_size):
    lo = loopback_interface()
    assert lo.startswith("lo") and lo in [name for _, name in socket.if_nameindex()]
    assert all(e["ifname"] == lo for e in _result(world_size, "env"))
    loopback = ("127.0.0.1", "::ffff:127.0.0.1", "::1")
    for sockets in _result(world_size, "sockets"):
        connected = [s for s in sockets if s[1] is not None]
        assert connected  # gloo's pairs and the store's clients are there ...
        assert all(a in loopback and b in loopback for a, b, _ in connected)  # ... on loopback


def test_no_rank_listens_beyond_the_loopback():
    for sockets in _result(2, "sockets"):
        listening = [a for a, _, status in sockets if status == psutil.CONN_LISTEN]
        assert listening
        assert all(a in ("127.0.0.1", "::1") for a in listening), listening


def test_launch_ships_a_lambda_and_a_closure_with_args_kwargs_and_threads():
    offset = 10

    def closure(v, scale):  # defined here, in the test run: cloudpickle ships it by value
        return v * scale + offset

    out = launch(lambda v, scale: (closure(v, scale), dist.get_rank(), dist.get_world_size(),
                                   torch.get_num_threads()),
                 1, 4, timeout=TIMEOUT, threads=2, scale=3)
    assert out == [(22, 0, 1, 2)]
    assert not _no_worker_left()


def _raise_on_rank_1():
    if dist.get_rank() == 1:
        raise ValueError("rank 1 gives up")
    dist.recv(torch.zeros(1), src=1)  # rank 0 waits for a message that never comes


def test_a_rank_that_raises_gives_rank_failed_at_once_and_leaves_no_worker():
    start = time.monotonic()
    with pytest.raises(RankFailed, match=r"(?s)rank 1 of 2 raised:\n.*ValueError: rank 1 gives up"):
        launch(_raise_on_rank_1, 2, timeout=TIMEOUT)
    # rank 0 was blocked: only the failure report, not the timeout, ended the launch
    assert time.monotonic() - start < TIMEOUT / 4
    assert not _no_worker_left()


def _hang():
    dist.recv(torch.zeros(1), src=1 - dist.get_rank())  # both ranks wait for each other


def test_a_hang_gives_timeout_error_after_the_timeout_and_leaves_no_worker():
    start = time.monotonic()
    with pytest.raises(TimeoutError, match=re.escape(
            f"launch: ranks [0, 1] of 2 did not finish within {HANG_TIMEOUT} s")):
        launch(_hang, 2, timeout=HANG_TIMEOUT)
    waited = time.monotonic() - start
    # the deadline, then a 0.1 s join per worker and a kill
    assert HANG_TIMEOUT <= waited <= HANG_TIMEOUT + REAP_SECONDS
    assert not _no_worker_left()


def _die():
    os._exit(3)  # no exception, no report: as a segfault or the OOM killer would end it


def test_a_rank_that_dies_gives_rank_failed_at_once():
    start = time.monotonic()
    with pytest.raises(RankFailed, match=r"(?s)rank 0 of 1\b.*\b3\b"):  # the rank, its exit code
        launch(_die, 1, timeout=HANG_TIMEOUT)
    # start-up is about 3 s of it; a death noticed only at the deadline is not "at once"
    assert time.monotonic() - start < 0.75 * HANG_TIMEOUT


@pytest.mark.parametrize(("call", "error", "message"), [
    (lambda: launch("f", 2), TypeError, "launch: expected a callable to run on each rank, got str"),
    (lambda: launch(print, 0), ValueError, "launch: expected world_size to be an int >= 1, got 0"),
    (lambda: launch(print, True), ValueError,
     "launch: expected world_size to be an int >= 1, got True"),
    (lambda: launch(print, 2.0), ValueError,
     "launch: expected world_size to be an int >= 1, got 2.0"),
    (lambda: launch(print, 2, threads=0), ValueError,
     "launch: expected threads to be an int >= 1, got 0"),
    (lambda: launch(print, 2, timeout=0), ValueError,
     "launch: expected a timeout in seconds > 0, got 0"),
    (lambda: launch(print, 2, timeout=math.nan), ValueError,
     "launch: expected a timeout in seconds > 0, got nan"),
], ids=["not callable", "no ranks", "bool ranks", "float ranks", "no threads", "zero timeout",
        "nan timeout"])
def test_launch_rejects_bad_arguments_before_starting_anything(call, error, message):
    with pytest.raises(error, match=re.escape(message)):
        call()
    assert not _workers()


def test_free_port_can_be_bound_on_the_loopback():
    port = free_port()
    assert 1024 <= port <= 65535
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", port))


# ---------------------------------------------------------------- all-reduce
@pytest.mark.parametrize("world_size", [2, 3, 4])
def test_ring_and_naive_all_reduce_equal_torchs_on_every_rank(world_size):
    per_rank = _result(world_size, "collectives")
    for dtype in DTYPES:
        for shape in _shapes(world_size):
            what = f"{dtype}, shape {shape}, {world_size} ranks"
            cases = [r[str(dtype), shape] for r in per_rank]
            inputs = [_rank_data(shape, dtype, rank) for rank in range(world_size)]
            for c in cases:
                for name in ("ring", "naive"):
                    assert c[name].shape == shape and c[name].dtype == dtype, what
                    # one rank adds each chunk and the others copy it: the same bits everywhere
                    assert torch.equal(c[name], cases[0][name]), f"{what}: {name}, rank differs"
                assert c["in_place"], what
            if not dtype.is_floating_point:  # integers add exactly
                exact = sum(inputs)
                for name in ("torch", "ring", "naive"):
                    assert torch.equal(cases[0][name], exact), f"{what}: {name}"
                continue
            if world_size == 2:  # one addition, and a + b is b + a: the same bits
                for name in ("ring", "naive"):
                    assert torch.equal(cases[0][name], cases[0]["torch"]), f"{what}: {name}"
                continue
            # Each result is a sum of N terms in some order, within (N - 1) EPS / 2 * sum |x|
            # of the exact sum (recursive summation); two such sums are within (N - 1) EPS of
            # each other (N EPS covers the higher-order terms).
            eps = torch.finfo(dtype).eps
            bound = world_size * eps * sum(x.double().abs() for x in inputs)
            for name in ("ring", "naive"):
                _assert_within(cases[0][name], cases[0]["torch"], bound, f"{what}: {name}")


@pytest.mark.parametrize("world_size", [2, 3, 4])
def test_all_reduce_of_a_view_changes_only_the_view(world_size):
    per_rank = _result(world_size, "collectives")
    total = sum(range(1, world_size + 1))  # rank r holds arange(12) * (r + 1)
    want = torch.arange(12, dtype=torch.float64)
    want[2:9] *= total  # the ring's view
    want[8] *= world_size  # in both views: the naive all-reduce adds N copies of that sum
    want[9:12] *= total  # the rest of the naive one's row
    for r, result in enumerate(per_rank):
        expect = want.clone()
        expect[:2] *= r + 1  # untouched
        assert torch.equal(result["views"], expect)


@pytest.mark.parametrize("world_size", [2, 3, 4])
def test_bytes_sent_by_the_ring_and_by_the_naive_scheme(world_size):
    n = world_size
    per_rank = _result(world_size, "collectives")
    for dtype in DTYPES:
        item = torch.empty(0, dtype=dtype).element_size()
        for shape in _shapes(n):
            numel = math.prod(shape)
            size = numel * item
            ring = [r[str(dtype), shape]["ring_sent"] for r in per_rank]
            naive = [r[str(dtype), shape]["naive_sent"] for r in per_rank]
            # rank 0 sends the sum to each of the others; the others send their tensor once
            assert naive == [naive_bytes(size, n)] + [size] * (n - 1)
            # Reduce-scatter: rank r sends every chunk but (r + 1) % N (that one it ends up
            # owning); all-gather: every chunk but (r + 2) % N (its left neighbour's).
            chunk = [len(c) * item for c in np.array_split(np.empty(numel), n)]
            assert ring == [2 * size - chunk[(r + 1) % n] - chunk[(r + 2) % n]
                            for r in range(n)], (dtype, shape)
            # every step moves all N chunks once: 2 (N - 1) S bytes in all, N ring_bytes
            assert sum(ring) == 2 * (n - 1) * size
            assert math.isclose(sum(ring), n * ring_bytes(size, n), rel_tol=4 * EPS64)
            if numel % n == 0:
                assert ring == [ring_bytes(size, n)] * n


def test_all_reduce_refuses_what_it_cannot_reduce_in_place():
    # checked before any message: no process group needed
    for reduce in (ring_all_reduce, naive_all_reduce):
        name = reduce.__name__
        with pytest.raises(ValueError, match=re.escape(
                f"{name}: expected a contiguous tensor (it is reduced in place), got one with "
                "strides (1, 4)")):
            reduce(torch.zeros(3, 4).t())
        with pytest.raises(TypeError, match=f"{name}: expected a torch.Tensor, got list"):
            reduce([1.0, 2.0])


@SETTINGS
@given(n=st.integers(1, 6), shape=st.lists(st.integers(0, 7), min_size=1, max_size=3),
       seed=seeds)
def test_simulate_ring_gives_every_rank_the_elementwise_sum(n, shape, seed):
    g = _gen(seed)
    ints = [torch.randint(-1000, 1000, shape, generator=g) for _ in range(n)]
    out = simulate_ring(ints)
    assert len(out) == n and all(torch.equal(o, sum(ints)) for o in out)
    floats = [torch.randn(shape, generator=g, dtype=torch.float64) for _ in range(n)]
    before = [f.clone() for f in floats]
    out = simulate_ring(floats)
    # N - 1 additions per element (see the all-reduce test): within N EPS sum |x|
    bound = n * EPS64 * sum(f.abs() for f in floats)
    for o in out:
        assert o.shape == tuple(shape) and torch.equal(o, out[0])
        _assert_within(o, sum(floats), bound, "simulate_ring")
    assert all(torch.equal(a, b) for a, b in zip(floats, before, strict=True))  # inputs intact


@pytest.mark.parametrize("n", range(1, 10))
def test_the_ring_schedule_adds_each_rank_once_and_hands_rank_r_chunk_r_plus_1(n):
    # contributors[r][c]: whose numbers rank r's copy of chunk c holds, with multiplicity
    contributors = [[[r] for _ in range(n)] for r in range(n)]
    for step in range(n - 1):
        sent = [(send_chunk(r, step, n, "reduce-scatter"),
                 list(contributors[r][send_chunk(r, step, n, "reduce-scatter")]))
                for r in range(n)]
        for r in range(n):
            c, whose = sent[(r - 1) % n]
            assert recv_chunk(r, step, n, "reduce-scatter") == c  # what the left one sent
            contributors[r][c] += whose
    for r in range(n):
        assert sorted(contributors[r][(r + 1) % n]) == list(range(n))  # all, each once
    for step in range(n - 1):
        sent = [(send_chunk(r, step, n, "all-gather"),
                 list(contributors[r][send_chunk(r, step, n, "all-gather")])) for r in range(n)]
        for r in range(n):
            c, whose = sent[(r - 1) % n]
            assert recv_chunk(r, step, n, "all-gather") == c
            assert sorted(whose) == list(range(n))  # only finished chunks travel
            contributors[r][c] = whose
    assert all(sorted(c) == list(range(n)) for chunks in contributors for c in chunks)


@pytest.mark.parametrize(("call", "error", "message"), [
    (lambda: send_chunk(0, 0, 2, "scatter"), ValueError,
     "expected phase 'reduce-scatter' or 'all-gather', got 'scatter'"),
    (lambda: recv_chunk(0, 0, 2, "allgather"), ValueError,
     "expected phase 'reduce-scatter' or 'all-gather', got 'allgather'"),
    (lambda: simulate_ring([]), ValueError,
     "simulate_ring: expected one tensor per rank, got an empty list"),
    (lambda: simulate_ring([torch.zeros(2), torch.zeros(3)]), ValueError,
     "simulate_ring: expected every rank's tensor to have one shape, got [(2,), (3,)]"),
], ids=["send phase", "recv phase", "no ranks", "two shapes"])
def test_ring_helpers_say_what_was_expected(call, error, message):
    with pytest.raises(error, match=re.escape(message)):
        call()


def test_ring_and_naive_bytes_formulas():
    assert ring_bytes(1200, 1) == 0 and ring_bytes(1200, 2) == 1200
    assert ring_bytes(1200, 4) == 1800  # 2 * 3 / 4: almost 2 S, whatever N
    assert naive_bytes(1200, 1) == 0 and naive_bytes(1200, 4) == 3600  # grows with N


# ---------------------------------------------------------------- sharding and gradients
@SETTINGS
@given(n=st.integers(0, 1000), world_size=st.integers(1, 64))
def test_shard_parts_partition_the_examples_with_sizes_within_one(n, world_size):
    parts = [shard(n, r, world_size) for r in range(world_size)]
    assert [i for p in parts for i in range(n)[p]] == list(range(n))  # in order, each once
    sizes = [p.stop - p.start for p in parts]
    assert max(sizes) - min(sizes) <= 1 and sizes == sorted(sizes, reverse=True)


@pytest.mark.parametrize(("call", "error", "message"), [
    (lambda: shard(10.0, 0, 2), TypeError, "shard: expected an int n, got float"),
    (lambda: shard(10, True, 2), TypeError, "shard: expected an int rank, got bool"),
    (lambda: shard(10, 0, "2"), TypeError, "shard: expected an int world_size, got str"),
    (lambda: shard(10, 2, 2), ValueError,
     "shard: expected 0 <= rank < world_size, got rank=2, world_size=2"),
    (lambda: shard(10, -1, 2), ValueError,
     "shard: expected 0 <= rank < world_size, got rank=-1, world_size=2"),
    (lambda: shard(10, 0, 0), ValueError,
     "shard: expected 0 <= rank < world_size, got rank=0, world_size=0"),
    (lambda: shard(-1, 0, 2), ValueError, "shard: expected n >= 0 examples, got -1"),
], ids=["float n", "bool rank", "str world", "rank too big", "negative rank", "no ranks",
        "negative n"])
def test_shard_errors(call, error, message):
    with pytest.raises(error, match=re.escape(message)):
        call()


def test_combine_gradients_weights_by_counts_and_the_plain_average_does_not():
    counts = [3, 5, 8]
    X, y = _batch(sum(counts), seed=3)
    cuts = np.cumsum([0, *counts])
    parts = [_gradient(X[a:b], y[a:b]) for a, b in zip(cuts[:-1], cuts[1:], strict=True)]
    whole = _gradient(X, y)
    # 16 example terms summed in another grouping, three weights: within 2 (n + width) EPS
    # of the examples' own magnitude (products of the backward pass included)
    bound = [2 * (len(X) + WIDTH) * EPS64 * s for s in _example_scale(X, y)]
    combined = [combine_gradients([p[i] for p in parts], counts) for i in range(len(whole))]
    _assert_within(combined, whole, bound, "combine_gradients")
    plain = [sum(p[i] for p in parts) / len(parts) for i in range(len(whole))]
    assert max((a - b).abs().max().item() for a, b in zip(plain, whole, strict=True)) > 1e-3
    equal = [_gradient(X[a:a + 4], y[a:a + 4]) for a in range(0, 16, 4)]  # equal parts: average
    _assert_within(combine_gradients([e[0] for e in equal], [4] * 4),
                   sum(e[0] for e in equal) / 4, 4 * EPS64 * sum(e[0].abs() for e in equal),
                   "equal counts")


@pytest.mark.parametrize(("call", "message"), [
    (lambda: combine_gradients([torch.zeros(2)], [1, 2]),
     "combine_gradients: expected one count per gradient, got 1 gradients and 2 counts"),
    (lambda: combine_gradients([], []),
     "combine_gradients: expected one count per gradient, got 0 gradients and 0 counts"),
    (lambda: combine_gradients([torch.zeros(2)] * 2, [3, 0]),
     "combine_gradients: expected positive example counts, got [3, 0]"),
], ids=["lengths", "empty", "zero count"])
def test_combine_gradients_errors(call, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        call()


def test_all_reduced_gradients_of_a_mean_loss_are_the_whole_batchs():
    per_rank = _result(2, "data_parallel")
    X, y = _batch(32, seed=1)
    # 32 example terms, grouped in two halves, then averaged: 2 (n + width) EPS of their scale
    bound = [2 * (len(X) + WIDTH) * EPS64 * s for s in _example_scale(X, y)]
    whole = _gradient(X, y)
    for r in per_rank:
        _assert_within(r["mean"], whole, bound, "dist.all_reduce")
        _assert_within(r["mean_ring"], whole, bound, "ring_all_reduce")
        assert all(torch.equal(a, b) for a, b in zip(r["mean"], per_rank[0]["mean"],
                                                     strict=True))
    summed = _gradient(X, y, reduction="sum")  # the sum-reduced loss's whole-batch gradient
    for r in per_rank:
        # average=False: the sum over ranks of the parts' sums is the whole batch's sum ...
        _assert_within(r["sum_summed"], summed, [b * len(X) for b in bound], "sum, summed")
        # ... and the default average gives 1/N of it: B (= 16) times the mean-loss gradient,
        # so a sum-reduced loss needs average=False (or a learning rate N times larger)
        _assert_within(r["sum_averaged"], [s / 2 for s in summed],
                       [b * len(X) for b in bound], "sum, averaged")
        _assert_within(r["sum_averaged"], [16 * w for w in whole], [b * len(X) for b in bound],
                       "sum, averaged = B x mean")


def test_sgd_on_all_reduced_gradients_keeps_the_ranks_equal_and_equals_one_process():
    per_rank = _result(2, "data_parallel")
    one = _mlp()
    opt = torch.optim.SGD(one.parameters(), lr=LR)
    bound = [torch.zeros_like(p) for p in one.parameters()]
    for step in range(SGD_STEPS):
        X, y = _batch(32, seed=100 + step)
        opt.zero_grad()
        F.cross_entropy(one(X), y).backward()
        opt.step()
        # each step adds lr x the gradient's bound (see the test above; the scale is taken at
        # the initial weights, which five small steps barely move) ...
        bound = [b + LR * 2 * (len(X) + WIDTH) * EPS64 * s
                 for b, s in zip(bound, _example_scale(X, y), strict=True)]
    # ... and the map w -> w - lr grad(w) passes earlier gaps on with a factor 1 + lr |H| < 2
    bound = [b * 2 ** SGD_STEPS for b in bound]
    assert all(torch.equal(a, b) for a, b in zip(per_rank[0]["sgd"], per_rank[1]["sgd"],
                                                 strict=True))  # in lockstep, bit for bit
    _assert_within(per_rank[0]["sgd"], _params(one), bound, "5 SGD steps")
    assert (per_rank[0]["sgd"][0] - _params(_mlp())[0]).abs().max() > 1e-3  # and they moved


def test_ddp_steps_to_the_same_parameters_as_all_reduce_gradients():
    per_rank = _result(2, "ddp")
    for r in per_rank:
        # DDP divides each rank's gradient by N = 2 before summing, we after: both exact
        # (a power of 2), so the two runs compute the same numbers in the same order
        assert all(torch.equal(a, b) for a, b in zip(r["ddp"], r["manual"], strict=True))
        assert all(torch.equal(a, b) for a, b in zip(r["ddp"], per_rank[0]["ddp"], strict=True))


def test_ddp_no_sync_accumulation_equals_one_big_batch_gradient():
    per_rank = _result(2, "ddp")
    X, y = _batch(2 * 3 * 4, seed=7)
    whole = _gradient(X, y)
    # 24 example terms in groups of 4, scaled by 1/k = 1/3 (a rounding) and 1/2
    bound = [2 * (len(X) + WIDTH) * EPS64 * s for s in _example_scale(X, y)]
    for r in per_rank:
        _assert_within(r["accumulated"], whole, bound, "no_sync then sync")
    # inside no_sync nothing was exchanged: each rank had only its own micro-batches
    assert (per_rank[0]["unsynced"][0] - per_rank[1]["unsynced"][0]).abs().max() > 1e-3


# ---------------------------------------------------------------- synchronised BatchNorm
def test_sync_batch_norm_equals_batchnorm1d_on_the_whole_batch_forward_and_backward():
    per_rank = _result(2, "sync_bn")
    X, G, weight, bias = _bn_case()
    bn = nn.BatchNorm1d(3, dtype=torch.float64).train()
    with torch.no_grad():
        bn.weight.copy_(weight)
        bn.bias.copy_(bias)
    x = X.clone().requires_grad_()
    out = bn(x)
    (out * G).sum().backward()
    # Ours takes the variance as E[x^2] - mean^2, BatchNorm in two passes. With |mean| = 0.5
    # and a spread of 1.5, E[x^2] / var < 2: the cancellation costs one bit; each statistic is
    # a sum of 12 terms (12 EPS), and a few of them meet in every output and gradient: 4 x 12
    # EPS of each quantity's magnitude (the largest output, the largest x.grad, and for the
    # parameters the sums of |G out| and |G| that their gradients add up)
    tol = 4 * len(X) * EPS64
    for rank, part in enumerate(BN_PARTS):
        r = per_rank[rank]
        _assert_within(r["out"], out[part].detach(), tol * out.abs().max(), "forward")
        _assert_within(r["x"], x.grad[part], tol * x.grad.abs().max(), "x.grad")
    # each rank's parameter gradient is its own examples' part: they add up to the whole's
    _assert_within(per_rank[0]["weight"] + per_rank[1]["weight"], bn.weight.grad,
                   tol * (G * out).abs().sum(0), "weight.grad")
    _assert_within(per_rank[0]["bias"] + per_rank[1]["bias"], bn.bias.grad,
                   tol * G.abs().sum(0), "bias.grad")
    # the local statistics would not do: rank 0's 5 examples alone normalise differently
    local = nn.functional.batch_norm(X[:5], None, None, weight, bias, training=True)
    assert (local - out[:5].detach()).abs().max() > 1e-2


@pytest.mark.parametrize("x", [torch.zeros(4, 3, 2), torch.zeros(4, 2), torch.zeros(4)],
                         ids=["3-d", "wrong width", "1-d"])
def test_sync_batch_norm_checks_the_shape_before_any_message(x):
    with pytest.raises(ValueError, match=re.escape(
            f"sync_batch_norm: expected x of shape (b, 3), got {tuple(x.shape)}")):
        sync_batch_norm(x, torch.ones(3), torch.zeros(3))


# ---------------------------------------------------------------- ZeRO-1
def _adam_one_process() -> list[torch.Tensor]:
    model = _mlp()
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    for step in range(ADAM_STEPS):
        X, y = _batch(24, seed=200 + step)
        opt.zero_grad()
        F.cross_entropy(model(X), y).backward()
        opt.step()
    return _params(model)


@pytest.mark.parametrize("world_size", [2, 3])
def test_sharded_adam_equals_adam_in_one_process_and_zero_redundancy_optimizer(world_size):
    per_rank = _result(world_size, "sharded_adam")
    for r in per_rank:  # every rank holds the whole model again after the broadcasts
        assert all(torch.equal(a, b) for a, b in zip(r["ours"], per_rank[0]["ours"],
                                                     strict=True))
    # Adam moves each weight by about lr m / sqrt(v) per step, a ratio of gradients: their
    # relative rounding (2 (n + width) EPS, see the SGD test) moves it by as much, relative to
    # lr. Five steps add up; the gradient's dependence on the weights is second order here.
    bound = ADAM_STEPS * 0.01 * 2 * (24 + WIDTH) * EPS64 * 4
    _assert_within(per_rank[0]["ours"], _adam_one_process(),
                   [torch.full_like(p, bound) for p in per_rank[0]["ours"]], "torch.optim.Adam")
    _assert_within(per_rank[0]["ours"], per_rank[0]["zero"],
                   [torch.full_like(p, bound) for p in per_rank[0]["ours"]],
                   "ZeroRedundancyOptimizer")
    assert (per_rank[0]["ours"][0] - _params(_mlp())[0]).abs().max() > 1e-3  # and they moved


@pytest.mark.parametrize("world_size", [2, 3])
def test_sharded_adam_keeps_a_1_over_n_slice_of_the_moments(world_size):
    per_rank = _result(world_size, "sharded_adam")
    total = sum(p.numel() for p in _mlp().parameters())  # 6 * 8 + 8 + 8 * 3 + 3 = 83
    full = 2 * total * 8  # Adam's two float64 moments, on one process
    model = _mlp()  # torch's Adam, one step, for its moments' bytes
    adam = torch.optim.Adam(model.parameters())
    F.cross_entropy(model(_batch(4, 0)[0]), _batch(4, 0)[1]).backward()
    adam.step()
    assert full == sum(t.numel() * t.element_size() for s in adam.state.values()
                       for k, t in s.items() if k in ("exp_avg", "exp_avg_sq"))
    ours = [r["state_bytes"] for r in per_rank]
    assert ours == [2 * 8 * (s.stop - s.start) for s in
                    (shard(total, r, world_size) for r in range(world_size))]
    assert sum(ours) == full and max(ours) <= 2 * 8 * math.ceil(total / world_size)
    # torch's ZeRO shards whole tensors (uneven with 4 tensors), but also totals the full state
    assert sum(r["zero_state_bytes"] for r in per_rank) == full


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"lr": 0.0}, "ShardedAdam: expected lr > 0 and betas in [0, 1), got lr=0.0, "
                  "betas=(0.9, 0.999)"),
    ({"betas": (0.9, 1.0)}, "ShardedAdam: expected lr > 0 and betas in [0, 1), got lr=0.001, "
                            "betas=(0.9, 1.0)"),
    ({"betas": (-0.1, 0.9)}, "ShardedAdam: expected lr > 0 and betas in [0, 1), got lr=0.001, "
                             "betas=(-0.1, 0.9)"),
], ids=["lr", "beta2", "beta1"])
def test_sharded_adam_errors(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        ShardedAdam(_mlp().parameters(), **kwargs)
    frozen = _mlp().requires_grad_(False)
    with pytest.raises(ValueError, match=re.escape(
            "ShardedAdam: expected at least one parameter that requires grad")):
        ShardedAdam(frozen.parameters())


# ---------------------------------------------------------------- the cost model
SIZES = [8 * 4**k for k in range(12)]  # 8 bytes to 33 MB


@SETTINGS
@given(alpha=st.floats(1e-7, 1e-3), beta=st.floats(1e-11, 1e-7))
def test_fit_alpha_beta_recovers_exact_data(alpha, beta):
    times = [alpha + beta * m for m in SIZES]
    a, b = fit_alpha_beta(SIZES, times)
    # a least-squares solve of 12 exact equations with condition number < 1e6 or so
    assert math.isclose(a, alpha, rel_tol=1e-6) and math.isclose(b, beta, rel_tol=1e-6)


@pytest.mark.parametrize("n", [2, 3, 8])
def test_fit_alpha_beta_with_a_world_size_gives_one_messages_alpha_and_beta(n):
    alpha, beta = 3e-5, 2e-10
    a, b = fit_alpha_beta(SIZES, [ring_time(m, n, alpha, beta) for m in SIZES], world_size=n)
    # exact data, as above
    assert math.isclose(a, alpha, rel_tol=1e-6) and math.isclose(b, beta, rel_tol=1e-6)
    with pytest.raises(ValueError, match=re.escape(
            "fit_alpha_beta: a ring needs world_size >= 2, got 1")):
        fit_alpha_beta(SIZES, [ring_time(m, n, alpha, beta) for m in SIZES], world_size=1)


def test_lockstep_times_charges_every_rank_the_slower_ranks_time():
    per_rank = _result(2, "lockstep")
    assert per_rank[0] == per_rank[1]  # the slowest rank's times, on every rank
    times = per_rank[0]
    assert len(times["fast"]) == len(times["slow"]) == LOCKSTEP_REPEATS
    # rank 0 sleeps 0 s in "slow", rank 1 sleeps LOCKSTEP_SLEEP: the reported time is rank 1's
    assert min(times["slow"]) >= LOCKSTEP_SLEEP
    assert max(times["fast"]) < LOCKSTEP_SLEEP  # a no-op, started together after a barrier


def test_lockstep_times_errors_before_any_message():
    with pytest.raises(ValueError, match=re.escape("lockstep_times: give at least one callable")):
        lockstep_times({})
    with pytest.raises(ValueError, match=re.escape(
            "lockstep_times: expected repeats >= 1 and warmup >= 0, got repeats=0, warmup=2")):
        lockstep_times({"f": print}, repeats=0)


def test_fit_alpha_beta_on_noisy_data():
    alpha, beta = 2e-5, 1e-9
    noise = np.random.default_rng(0).uniform(-0.02, 0.02, len(SIZES))
    times = [(alpha + beta * m) * (1 + e) for m, e in zip(SIZES, noise, strict=True)]
    a, b = fit_alpha_beta(SIZES, times)
    # every time is within 2 %: the small messages pin alpha, the large ones beta, each to a
    # few per cent; 10 % leaves room for the middle sizes' pull on both
    assert math.isclose(a, alpha, rel_tol=0.1) and math.isclose(b, beta, rel_tol=0.1)


@pytest.mark.parametrize(("sizes", "times", "message"), [
    ([8], [1e-5], "fit_alpha_beta: expected two 1-D sequences of one length >= 2, got shapes "
                  "(1,) and (1,)"),
    ([8, 16], [1e-5], "fit_alpha_beta: expected two 1-D sequences of one length >= 2, got "
                      "shapes (2,) and (1,)"),
    ([8, 16], [1e-5, 0.0], "fit_alpha_beta: expected sizes >= 0 and times > 0"),
    ([-8, 16], [1e-5, 2e-5], "fit_alpha_beta: expected sizes >= 0 and times > 0"),
    ([8, 8], [1e-5, 2e-5], "fit_alpha_beta: expected at least two different sizes"),
], ids=["one point", "lengths", "zero time", "negative size", "one size"])
def test_fit_alpha_beta_errors(sizes, times, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        fit_alpha_beta(sizes, times)


@pytest.mark.parametrize("n", [1, 2, 3, 8, 64])
def test_ring_time_is_2_n_minus_1_latencies_plus_the_ring_bytes_over_the_bandwidth(n):
    alpha, beta, size = 3e-5, 2e-10, 1e6
    assert math.isclose(ring_time(size, n, alpha, beta),
                        2 * (n - 1) * alpha + 2 * (n - 1) / n * size * beta, rel_tol=4 * EPS64)
    assert math.isclose(ring_time(size, n, alpha, beta),
                        2 * (n - 1) * alpha + ring_bytes(size, n) * beta, rel_tol=4 * EPS64)
    assert ring_time(size, n, 0.0, beta) <= 2 * size * beta  # under 2 S beta, for any N


@pytest.mark.parametrize("n", [2, 4, 64])
def test_bus_bandwidth_of_a_large_ring_all_reduce_is_the_link_bandwidth(n):
    alpha, beta = 3e-5, 2e-10
    bus = [bus_bandwidth(s, ring_time(s, n, alpha, beta), n) for s in (1e3, 1e6, 1e9, 1e13)]
    assert bus == sorted(bus) and bus[0] < 0.5 / beta  # latency-bound for small messages ...
    # ... and at S = 1e13 the latency is 2 (N - 1) alpha / (2 S beta) < 1e-6 of the time
    assert math.isclose(bus[-1], 1 / beta, rel_tol=1e-6)
    assert bus_bandwidth(1e6, 1e-3, 2) == 1e9 * 2 * 1 / 2


@SETTINGS
@given(compute=st.floats(1e-4, 1.0), gradient_bytes=st.floats(1e3, 1e9),
       alpha=st.floats(1e-7, 1e-3), beta=st.floats(1e-11, 1e-8), overlap=st.floats(0.0, 0.99))
def test_scaling_efficiency_falls_with_ranks_and_bytes_and_is_1_with_full_overlap(
        compute, gradient_bytes, alpha, beta, overlap):
    def eff(n, s=gradient_bytes, o=overlap):
        return scaling_efficiency(compute, s, n, alpha, beta, o)
    assert eff(1) == 1.0 and eff(8, o=1.0) == 1.0 and eff(64, o=1.0) == 1.0
    by_ranks = [eff(n) for n in (2, 3, 4, 8, 64)]
    assert all(a > b for a, b in itertools.pairwise(by_ranks)) and 0 < by_ranks[-1] < 1
    by_bytes = [eff(8, s) for s in (gradient_bytes, 2 * gradient_bytes, 10 * gradient_bytes)]
    assert all(a > b for a, b in itertools.pairwise(by_bytes))
    exposed = (1 - overlap) * ring_time(gradient_bytes, 8, alpha, beta)
    assert math.isclose(eff(8), compute / (compute + exposed), rel_tol=4 * EPS64)


def test_zero_bytes_reproduces_figure_1_of_the_zero_paper():
    # Rajbhandari et al. 2020, Figure 1: Psi = 7.5B parameters, N_d = 64, K = 12, in GB
    psi, n = 7.5e9, 64
    figure = {0: 120, 1: 31.4, 2: 16.6, 3: 1.9}
    assert {s: round(zero_bytes(psi, n, s) / 1e9, 1) for s in figure} == figure
    assert zero_bytes(psi, n, 0) == 16 * psi  # (2 + 2 + K) Psi
    assert zero_bytes(psi, 1, 3) == zero_bytes(psi, 1, 0)  # one rank: nothing to shard
    assert zero_bytes(psi, n, 1, k=4) == psi * (2 + 2 + 4 / n)


@pytest.mark.parametrize(("call", "message"), [
    (lambda: ring_time(1e6, 0, 1e-5, 1e-9), "ring_time: expected world_size >= 1, got 0"),
    (lambda: bus_bandwidth(1e6, 0.0, 2), "bus_bandwidth: expected seconds > 0, got 0.0"),
    (lambda: scaling_efficiency(1.0, 1e6, 2, 1e-5, 1e-9, overlap=1.5),
     "scaling_efficiency: expected 0 <= overlap <= 1, got 1.5"),
    (lambda: scaling_efficiency(0.0, 1e6, 2, 1e-5, 1e-9),
     "scaling_efficiency: expected compute_seconds > 0, got 0.0"),
    (lambda: zero_bytes(1e9, 8, 4), "zero_bytes: expected stage 0 (DDP), 1, 2 or 3, got 4"),
    (lambda: zero_bytes(1e9, 0, 1), "zero_bytes: expected world_size >= 1, got 0"),
], ids=["ring ranks", "bus seconds", "overlap", "compute", "stage", "zero ranks"])
def test_cost_errors(call, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        call()


# ---------------------------------------------------------------- federated averaging
def _labels(counts: list[int], seed: int) -> np.ndarray:
    return np.random.default_rng(seed).permutation(np.repeat(np.arange(len(counts)), counts))


@SETTINGS
@given(n_classes=st.integers(2, 10), classes_per_client=st.integers(1, 3),
       multiple=st.integers(1, 3), spare=st.lists(st.integers(0, 9), min_size=10, max_size=10),
       seed=st.integers(0, 1000))
def test_non_iid_split_deals_each_client_distinct_classes_in_equal_disjoint_parts(
        n_classes, classes_per_client, multiple, spare, seed):
    classes_per_client = min(classes_per_client, n_classes)
    n_clients = n_classes // math.gcd(n_classes, classes_per_client) * multiple
    per_class = n_clients * classes_per_client // n_classes  # shards of each class
    y = _labels([3 * per_class + s for s in spare[:n_classes]], seed)
    parts = non_iid_split(y, n_clients, classes_per_client, seed=seed)
    assert len(parts) == n_clients and len({len(p) for p in parts}) == 1 and len(parts[0]) > 0
    assert all(len(np.unique(y[p])) == classes_per_client for p in parts)
    every = np.concatenate(parts)
    assert len(np.unique(every)) == len(every)  # disjoint
    # every class gives the same number of examples (per_class shards of one size)
    assert len({int((y[every] == c).sum()) for c in range(n_classes)}) == 1
    again = non_iid_split(y, n_clients, classes_per_client, seed=seed)
    assert all(np.array_equal(a, b) for a, b in zip(parts, again, strict=True))


def test_non_iid_split_depends_on_its_seed():
    y = _labels([50] * 10, 0)
    a, b = non_iid_split(y, 10, 2, seed=0), non_iid_split(y, 10, 2, seed=1)
    assert any(not np.array_equal(p, q) for p, q in zip(a, b, strict=True))


def test_non_iid_split_finds_a_deal_whenever_one_exists():
    y = _labels([30] * 10, 0)
    parts = non_iid_split(y, 10, 10, seed=0)  # each of 10 clients gets a shard of every class
    assert all(len(np.unique(y[p])) == 10 for p in parts)


def test_iid_split_gives_disjoint_parts_of_the_size_asked():
    parts = iid_split(100, 4, 20, seed=0)
    assert [len(p) for p in parts] == [20] * 4
    every = np.concatenate(parts)
    assert len(np.unique(every)) == 80 and every.min() >= 0 and every.max() < 100
    assert all(np.array_equal(p, np.sort(p)) for p in parts)
    assert all(np.array_equal(a, b) for a, b in zip(parts, iid_split(100, 4, 20, seed=0),
                                                    strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(parts, iid_split(100, 4, 20, seed=1),
                                                        strict=True))


@pytest.mark.parametrize(("call", "message"), [
    (lambda: non_iid_split(np.repeat(np.arange(10), 5), 3, 2), "non_iid_split: expected "
     "n_clients * classes_per_client to be a multiple of the 10 classes, with 1 <= "
     "classes_per_client <= 10; got 3 x 2"),
    (lambda: non_iid_split(np.repeat(np.arange(3), 5), 3, 4), "non_iid_split: expected "
     "n_clients * classes_per_client to be a multiple of the 3 classes, with 1 <= "
     "classes_per_client <= 3; got 3 x 4"),
    (lambda: non_iid_split(np.repeat(np.arange(3), 5), 0, 3), "got 0 x 3"),
    (lambda: non_iid_split(np.repeat(np.arange(2), [6, 1]), 4, 1),
     "non_iid_split: a class has fewer than 2 examples"),
    (lambda: iid_split(10, 3, 4), "iid_split: 3 clients x 4 examples exceed the 10 given"),
    (lambda: weighted_average([torch.zeros(2)], [1, 1]),
     "weighted_average: expected one count per tensor, got 1 tensors and 2 counts"),
    (lambda: weighted_average([], []),
     "weighted_average: expected one count per tensor, got 0 tensors and 0 counts"),
    (lambda: weighted_average([torch.zeros(2)] * 2, [1, -1]),
     "weighted_average: expected positive counts, got [1, -1]"),
    (lambda: fedavg([(torch.zeros(3, 2), torch.zeros(3, dtype=torch.long)),
                     (torch.zeros(4, 2), torch.zeros(4, dtype=torch.long))],
                    torch.zeros(1, 2), torch.zeros(1, dtype=torch.long), FedConfig()),
     "fedavg: the batched simulation expects clients of equal size, got sizes [3, 4]"),
], ids=["not a multiple", "too many classes", "no clients", "tiny class",
        "iid too many", "average lengths", "average empty", "average count", "unequal clients"])
def test_fedavg_helpers_errors(call, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        call()


def test_weighted_average_is_the_weighted_sum_and_with_equal_counts_the_mean():
    g = _gen(0)
    tensors = [torch.randn(3, 4, generator=g, dtype=torch.float64) for _ in range(5)]
    counts = [1, 2, 3, 4, 10]
    manual = sum(t * (c / sum(counts)) for t, c in zip(tensors, counts, strict=True))
    # five products and four additions, each a rounding of terms <= sum |t|: 8 EPS of it
    magnitude = sum(t.abs() for t in tensors)
    _assert_within(weighted_average(tensors, counts), manual, 8 * EPS64 * magnitude, "weighted")
    _assert_within(weighted_average(tensors, [7] * 5), torch.stack(tensors).mean(0),
                   8 * EPS64 * magnitude, "equal counts")
    assert (weighted_average(tensors, counts) - torch.stack(tensors).mean(0)).abs().max() > 0.1


def _clients(k: int, n: int, seed: int):
    g = _gen(seed)
    return [(torch.randn(n, 5, generator=g), torch.randint(0, 4, (n,), generator=g))
            for _ in range(k)]


def _gd(params, X, y, lr, steps):
    """Plain full-batch gradient descent with autograd: the snapshots after each step."""
    params = {k: v.clone().requires_grad_() for k, v in params.items()}
    out = []
    for _ in range(steps):
        grads = torch.autograd.grad(F.cross_entropy(mlp_logits(params, X), y),
                                    list(params.values()))
        with torch.no_grad():
            for p, gr in zip(params.values(), grads, strict=True):
                p -= lr * gr
        out.append({k: v.detach().clone() for k, v in params.items()})
    return out


# float32 GD on a 5 -> 16 -> 4 MLP: fedavg's batched products (a leading client dimension)
# and _gd's plain ones may round differently. A gradient entry is a mean of <= 60 terms of
# magnitude <= 1 (inputs ~ N(0, 1), weights < 1): 60 EPS32 at most; FedSGD takes 4 steps of
# lr = 0.5, and the weights feed the gap back (x 2). The local-SGD test (16 steps of lr 0.3
# on 5 examples) stays inside the same bound. Measured: at most 2e-7.
FED_ATOL = 4 * 0.5 * 60 * EPS32 * 2


@pytest.mark.parametrize("k", [1, 3], ids=["one client", "three clients"])
def test_fedsgd_is_full_batch_gradient_descent_on_the_union_of_the_clients(k):
    clients = _clients(k, 20, seed=1)
    X_val, y_val = _clients(1, 10, seed=2)[0]
    config = FedConfig(rounds=4, batch_size=None, lr=0.5, hidden=16)
    history = fedavg(clients, X_val, y_val, config, seed=3)
    # fedavg's initial weights: init_mlp from a generator seeded with seed_for(seed)
    start = init_mlp(5, 16, 4, torch.Generator().manual_seed(seed_for(3)))
    X = torch.cat([c[0] for c in clients])
    y = torch.cat([c[1] for c in clients])
    # equal clients: the mean of their mean-loss gradients is the union's mean-loss gradient
    for got, want in zip(history.snapshots, _gd(start, X, y, 0.5, 4), strict=True):
        for name in want:
            _assert_within(got[name], want[name], FED_ATOL, f"FedSGD, {name}")
    assert (history.snapshots[-1]["W1"] - start["W1"]).abs().max() > 1e-2  # it did move
    with torch.no_grad():
        acc = (mlp_logits(history.snapshots[-1], X_val).argmax(1) == y_val).double().mean()
    assert history.accuracy[-1] == acc.item()


def test_fedavg_trains_each_client_as_if_alone_and_replays_with_its_seed():
    clients = _clients(3, 20, seed=4)
    X_val, y_val = _clients(1, 10, seed=5)[0]
    config = FedConfig(rounds=2, local_epochs=2, batch_size=5, lr=0.3, hidden=16)
    history = fedavg(clients, X_val, y_val, config, seed=6)
    # Alone: each client runs SGD from the global weights on the minibatches that fedavg draws
    # (one shuffle per epoch, from the generator that drew the weights, shared by the clients)
    generator = torch.Generator().manual_seed(seed_for(6))
    params = init_mlp(5, 16, 4, generator)
    for round_ in range(config.rounds):
        batches = [b for _ in range(config.local_epochs)
                   for b in torch.randperm(20, generator=generator).split(config.batch_size)]
        local = []
        for X, y in clients:
            w = {k: v.clone() for k, v in params.items()}
            for idx in batches:
                w = _gd(w, X[idx], y[idx], config.lr, 1)[0]
            local.append(w)
        params = {k: weighted_average([w[k] for w in local], [20] * 3) for k in params}
        drift = torch.stack([torch.cat([(w[k] - params[k]).reshape(-1) for k in params]).norm()
                             for w in local]).mean().item()
        for name in params:
            _assert_within(history.snapshots[round_][name], params[name], FED_ATOL, name)
        # a norm of the 180 weights' gaps: the weights' tolerance times sqrt(180)
        assert math.isclose(history.drift[round_], drift, abs_tol=FED_ATOL * 180**0.5)
    assert history.drift[0] > 0.01  # non-trivial: the clients did part ways
    again = fedavg(clients, X_val, y_val, config, seed=6)
    assert again.accuracy == history.accuracy and again.drift == history.drift
    other = fedavg(clients, X_val, y_val, config, seed=7)
    assert other.drift != history.drift


# ---------------------------------------------------------------- torchrun
SCRIPT_OK = """
import json, os, sys
import torch, torch.distributed as dist
dist.init_process_group("gloo")
x = torch.tensor([dist.get_rank() + 1.0])
dist.all_reduce(x)
with open(f"{sys.argv[1]}.{dist.get_rank()}", "w") as f:
    json.dump({"rank": dist.get_rank(), "world": dist.get_world_size(), "sum": x.item(),
               "ifname": os.environ["GLOO_SOCKET_IFNAME"], "threads": torch.get_num_threads()}, f)
dist.destroy_process_group()
"""


def test_torchrun_runs_a_script_on_two_ranks_of_one_group(tmp_path):
    import json

    script = tmp_path / "ok.py"
    script.write_text(SCRIPT_OK)
    torchrun(script, tmp_path / "out", nproc=2, timeout=TIMEOUT)
    found = [json.loads((tmp_path / f"out.{r}").read_text()) for r in range(2)]
    assert [f["rank"] for f in found] == [0, 1]
    assert all(f["world"] == 2 and f["sum"] == 3.0 for f in found)  # 1 + 2, on both ranks
    assert all(f["ifname"] == loopback_interface() and f["threads"] == 1 for f in found)
    assert not _no_worker_left()


def test_torchrun_reports_a_failing_script_with_its_output(tmp_path):
    import subprocess

    script = tmp_path / "fails.py"
    script.write_text("raise SystemExit('the script gives up')\n")
    with pytest.raises(subprocess.CalledProcessError) as info:
        torchrun(script, nproc=2, timeout=TIMEOUT)
    assert "the script gives up" in info.value.output
    assert not _no_worker_left()


def test_torchrun_kills_a_hanging_script_and_every_rank(tmp_path):
    script = tmp_path / "hangs.py"
    script.write_text("import time\ntime.sleep(600)\n")
    start = time.monotonic()
    with pytest.raises(TimeoutError, match=re.escape(
            f"torchrun: hangs.py did not finish within {HANG_TIMEOUT} s")):
        torchrun(script, nproc=2, timeout=HANG_TIMEOUT)
    assert time.monotonic() - start <= HANG_TIMEOUT + REAP_SECONDS
    assert not _no_worker_left()
    assert not [p for p in psutil.process_iter(["cmdline"])
                if "hangs.py" in " ".join(p.info["cmdline"] or [])]


def test_torchrun_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="torchrun: expected a Python script, got"):
        torchrun(tmp_path / "missing.py")
    (tmp_path / "s.py").write_text("")
    with pytest.raises(ValueError, match=re.escape(
            "torchrun: expected nproc to be an int >= 1, got 0")):
        torchrun(tmp_path / "s.py", nproc=0)
