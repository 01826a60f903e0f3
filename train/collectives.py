"""The few collectives the trainer and its checkpoints use, written so that one process needs no process group.

Under torchrun with several ranks they are ``torch.distributed`` calls over the default group; in one
process (no process group) each is the identity or a no-op, so the trainer and the checkpoint code run
the same lines at every layout.
"""

from __future__ import annotations

import torch
import torch.distributed as dist


def rank_and_world() -> tuple[int, int]:
    """This process's global rank and the number of ranks (0 and 1 without a process group)."""
    return (dist.get_rank(), dist.get_world_size()) if dist.is_initialized() else (0, 1)


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()


def from_rank0(obj):
    """Rank 0's ``obj`` on every rank (a picklable object: a path, a small dict)."""
    if not dist.is_initialized():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def gather_to_all(obj) -> list:
    """Every rank's ``obj``, in rank order, on every rank."""
    if not dist.is_initialized():
        return [obj]
    out = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def sum_over_ranks(tensor: torch.Tensor) -> torch.Tensor:
    """``tensor`` summed in place over every rank; itself in one process."""
    if dist.is_initialized():
        dist.all_reduce(tensor)
    return tensor
