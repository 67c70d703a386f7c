"""Start a group of worker processes that talk over ``torch.distributed`` on this machine.

``launch(fn, world_size)`` runs ``fn(*args)`` in ``world_size`` fresh processes (the *ranks*),
joined into one ``gloo`` process group on the loopback address 127.0.0.1, and returns what each
rank returned, in rank order. It is built for notebooks:

- **spawn, not fork.** A forked child inherits the parent's threads and locks (OpenMP's among
  them) and can deadlock; Colab and macOS also dislike fork. A spawned child is a fresh
  interpreter, so it cannot see functions defined in a notebook cell. We ship ``fn`` with
  ``cloudpickle``, which pickles such functions by value, so a cell's function runs in the
  workers exactly as written.
- **Loopback only.** The rendezvous and gloo's own sockets use the loopback interface.
- **No hangs, no strays.** Every collective has a ``timeout``; the parent waits at most
  ``timeout`` seconds for the results, raises a clear error naming the failing rank (with its
  traceback), and kills every worker that is still alive before it returns or raises.
"""

from __future__ import annotations

import datetime
import os
import pickle
import queue
import socket
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cloudpickle
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

__all__ = ["RankFailed", "free_port", "launch", "loopback_interface", "torchrun"]

LOOPBACK = "127.0.0.1"


class RankFailed(RuntimeError):
    """A worker rank raised; the message carries its rank and traceback."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def loopback_interface() -> str:
    """The loopback interface's name: ``lo`` on Linux, ``lo0`` on macOS."""
    for _, name in socket.if_nameindex():
        if name.startswith("lo"):
            return name
    raise RuntimeError(f"no loopback interface among {[n for _, n in socket.if_nameindex()]}")


def _worker(rank: int, world_size: int, port: int, payload: bytes, threads: int,
            timeout: float, results: Any) -> None:
    """One rank: join the group, run the function, send back its result or its traceback."""
    try:
        os.environ["GLOO_SOCKET_IFNAME"] = loopback_interface()  # gloo's sockets: loopback only
        torch.set_num_threads(threads)
        fn, args, kwargs = pickle.loads(payload)
        wait = datetime.timedelta(seconds=timeout)
        if rank == 0:  # the rendezvous store listens on 127.0.0.1 only, not on every interface
            listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            listener.bind((LOOPBACK, port))
            listener.listen()
            store = dist.TCPStore(LOOPBACK, port, world_size, True, wait,
                                  master_listen_fd=listener.detach())
        else:
            store = dist.TCPStore(LOOPBACK, port, world_size, False, wait)
        dist.init_process_group("gloo", store=store, rank=rank, world_size=world_size,
                                timeout=wait)
        out = fn(*args, **kwargs)
        results.put((rank, True, cloudpickle.dumps(out)))
    except BaseException:  # every failure goes back to the parent, as text
        results.put((rank, False, traceback.format_exc()))
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def launch(fn: Callable[..., Any], world_size: int, *args: Any, timeout: float = 60.0,
           threads: int = 1, **kwargs: Any) -> list[Any]:
    """Run ``fn(*args, **kwargs)`` on ``world_size`` ranks of a gloo group; return their results.

    Inside ``fn``, ``dist.get_rank()`` and ``dist.get_world_size()`` say who is who. Each rank
    uses ``threads`` intra-op threads (1 by default, so ranks do not fight over cores).
    Raises ``RankFailed`` if a rank raises, and ``TimeoutError`` if the ranks have not all
    finished within ``timeout`` seconds; either way no worker survives the call.
    """
    if not callable(fn):
        raise TypeError(f"launch: expected a callable to run on each rank, got {type(fn).__name__}")
    if isinstance(world_size, bool) or not isinstance(world_size, int) or world_size < 1:
        raise ValueError(f"launch: expected world_size to be an int >= 1, got {world_size!r}")
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"launch: expected threads to be an int >= 1, got {threads!r}")
    if not timeout > 0:
        raise ValueError(f"launch: expected a timeout in seconds > 0, got {timeout!r}")
    payload = cloudpickle.dumps((fn, args, kwargs))
    ctx = mp.get_context("spawn")
    results = ctx.Queue()
    port = free_port()
    workers = [ctx.Process(target=_worker, daemon=True,
                           args=(rank, world_size, port, payload, threads, timeout, results))
               for rank in range(world_size)]
    for w in workers:
        w.start()
    out: dict[int, Any] = {}
    deadline = time.monotonic() + timeout
    try:
        while len(out) < world_size:
            left = deadline - time.monotonic()
            try:  # wake up twice a second to notice a rank that died without a word
                rank, ok, body = results.get(timeout=min(max(left, 0.01), 0.5))
            except queue.Empty:
                dead = [r for r, w in enumerate(workers) if r not in out and w.exitcode is not None]
                if dead and results.empty():  # a crash, os._exit, the OOM killer
                    raise RankFailed(f"launch: rank {dead[0]} of {world_size} exited with code "
                                     f"{workers[dead[0]].exitcode} before returning a result"
                                     ) from None
                if time.monotonic() < deadline:
                    continue
                missing = sorted(set(range(world_size)) - set(out))
                raise TimeoutError(f"launch: ranks {missing} of {world_size} did not finish within "
                                   f"{timeout} s (a rank waiting for a message that never comes?); "
                                   "every worker was stopped") from None
            if not ok:
                raise RankFailed(f"rank {rank} of {world_size} raised:\n{body}")
            out[rank] = pickle.loads(body)
    finally:
        for w in workers:  # the ranks exit on their own once done; a stuck one is killed
            w.join(timeout=5 if len(out) == world_size else 0.1)
        for w in workers:
            if w.is_alive():
                w.kill()
            w.join()
        results.close()
    return [out[r] for r in range(world_size)]


def _kill_tree(pid: int) -> None:
    """Kill a process and all its descendants. torchrun starts its ranks in sessions of their
    own, so killing its process group would leave them running: list the tree first."""
    import psutil

    try:
        root = psutil.Process(pid)
        tree = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return
    for p in tree:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(tree, timeout=5)


def torchrun(script: str | Path, *args: str, nproc: int = 2, timeout: float = 300.0,
             env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run ``torchrun --standalone --nproc_per_node=<nproc> script *args`` on this machine.

    It is the command a reader types, run with this Python (``python -m torch.distributed.run``)
    on the loopback interface, one thread per rank. Raises
    ``subprocess.CalledProcessError`` (with the ranks' output) when it fails, and
    ``TimeoutError`` after ``timeout`` seconds, having killed torchrun and every rank.
    """
    script = Path(script)
    if not script.is_file():
        raise FileNotFoundError(f"torchrun: expected a Python script, got {script} (no such file)")
    if isinstance(nproc, bool) or not isinstance(nproc, int) or nproc < 1:
        raise ValueError(f"torchrun: expected nproc to be an int >= 1, got {nproc!r}")
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               f"--nproc_per_node={nproc}", str(script), *map(str, args)]
    environment = {**os.environ, "GLOO_SOCKET_IFNAME": loopback_interface(),
                   "OMP_NUM_THREADS": "1", **(env or {})}
    process = subprocess.Popen(command, env=environment, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_tree(process.pid)  # torchrun and every rank it started
        process.communicate()
        raise TimeoutError(f"torchrun: {script.name} did not finish within {timeout} s; "
                           "torchrun and its ranks were killed") from None
    if process.returncode != 0:
        raise subprocess.CalledProcessError(process.returncode, command, output)
    return subprocess.CompletedProcess(command, 0, output)
