"""Distributed and federated training: the engine of ``torch.distributed``, built from its parts.

- ``launch``: run a function on N ranks of a gloo group on 127.0.0.1, with timeouts, from a
  notebook (spawned processes; cloudpickle ships the notebook's functions).
- ``collectives``: the naive and the ring all-reduce on send/recv, with the bytes they send.
- ``data_parallel``: sharding a batch, averaging gradients, BatchNorm with synchronised statistics.
- ``zero``: ZeRO stage 1 (Adam's state sharded over the ranks).
- ``cost``: the alpha-beta model, scaling efficiency and ZeRO's memory arithmetic.
- ``fedavg``: federated averaging on non-IID clients, simulated in one process.
"""

from aibook.distributed.collectives import (
    lockstep_times,
    naive_all_reduce,
    naive_bytes,
    recv_chunk,
    ring_all_reduce,
    ring_bytes,
    send_chunk,
    simulate_ring,
)
from aibook.distributed.cost import (
    bus_bandwidth,
    fit_alpha_beta,
    ring_time,
    scaling_efficiency,
    zero_bytes,
)
from aibook.distributed.data_parallel import (
    all_reduce_gradients,
    combine_gradients,
    shard,
    sync_batch_norm,
)
from aibook.distributed.fedavg import (
    FedConfig,
    FedHistory,
    fedavg,
    iid_split,
    init_mlp,
    mlp_logits,
    non_iid_split,
    weighted_average,
)
from aibook.distributed.launch import (
    RankFailed,
    free_port,
    launch,
    loopback_interface,
    torchrun,
)
from aibook.distributed.zero import ShardedAdam

__all__ = [
    "FedConfig", "FedHistory", "RankFailed", "ShardedAdam", "all_reduce_gradients",
    "bus_bandwidth", "combine_gradients", "fedavg", "fit_alpha_beta", "free_port", "iid_split",
    "init_mlp", "launch", "lockstep_times", "loopback_interface", "mlp_logits",
    "naive_all_reduce", "naive_bytes",
    "non_iid_split", "recv_chunk", "ring_all_reduce", "ring_bytes", "ring_time",
    "scaling_efficiency", "send_chunk", "shard", "simulate_ring", "sync_batch_norm", "torchrun",
    "weighted_average", "zero_bytes",
]
