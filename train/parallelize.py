"""Data x pipeline x tensor parallelism for the Tele-FLM model, from PyTorch's own building blocks.

``parallelize`` applies a layout to the model and returns this rank's parts (its pipeline stages); it owns
no optimizer and runs no step: the trainer (``train.pretrain.Trainer``) does, the same way at every
layout. One process is the layout of size 1: no process group and no mesh (``MeshRank.mesh`` is None),
one part that is the whole plain ``Transformer``, initialised by the same code.

A rank's parts are built in four steps, all on the meta device until the last:

1. **Pipeline cut** (``torch.distributed.pipelining``). The model is split into ``pp x stages_per_rank``
   stages of whole layers (``train.layout.stage_layers``): a stage is the full ``Transformer`` with the
   other layers deleted, the embedding kept in the first stage only and the norm and LM head in the
   last only, so every parameter keeps its fully-qualified name (``layers.7.attention.wq.weight``) at
   every layout. Stage ``s`` runs on pp rank ``s % pp``; ``pipeline_schedule`` drives a rank's stages
   with ``Schedule1F1B`` (one stage per rank) or ``ScheduleInterleaved1F1B`` (virtual stages).
2. **Tensor parallel** (DTensor ``parallelize_module``, Megatron's layout): q/k/v and the SwiGLU's
   w1/w3 column-wise, wo and w2 row-wise; the embedding row-wise over the vocabulary (each rank looks up
   its rows, the partial results are summed); the LM head column-wise with its logits left sharded on
   the vocabulary, the loss computed under ``loss_parallel`` so the full logits are never gathered. With
   sequence parallelism the norms and the residual stream are sharded on the sequence, and the
   all-reduce of plain TP becomes an all-gather before each attention / feed-forward and a
   reduce-scatter after it.
3. **Data parallel** (FSDP2, over the ``dp`` mesh dimension, one group per transformer block plus the
   stage's root). ``zero1``: ``fully_shard(reshard_after_forward=False)``, and the trainer (or the
   pipeline schedule) keeps the parameters gathered from one microbatch's backward to the next forward:
   each unit is all-gathered once per step, in the first forward, and resharded after the last backward,
   which reduce-scatters the gradients accumulated whole until then; optimizer state lives only for the
   rank's shard: the communication and the sharded optimizer of Megatron's distributed optimizer
   (ZeRO-1; ZeRO-2 with one microbatch per step), the parameters additionally sharded between steps.
   ``fsdp2``: ``reshard_after_forward=True`` (ZeRO-3: re-gathered in the backward, reduced every
   microbatch). ``ddp``: FSDP2's ``replicate`` (gradients all-reduced, every rank keeps all state).
4. **Initialisation**: the meta parameters are allocated (``to_empty``) and each rank draws only its own
   shard of each of its weights (``init_like_one_process``): a weight is drawn in blocks seeded by its name
   (``train.mup.init_parameter``), so a shard is the blocks it overlaps, and every layout starts from the
   same weights as one process.

What overlaps with backward: FSDP2 issues one reduce-scatter (or all-reduce for ``ddp``) per block
from that block's post-backward hook while autograd goes on with the blocks below it (CUDA: on a
separate stream; gloo: on its worker thread), and waits for them only at the end of the backward.
With gradient accumulation (pp 1, several microbatches) the trainer lets only the last microbatch's
backward reduce under zero1 and ddp (``set_requires_gradient_sync``), as Megatron does. Under a
pipeline schedule the reduction of a stage runs once, after its last microbatch's backward (the
schedule's ``REDUCE_GRAD``), overlapping with the other stages' work but not with its own. Tensor-parallel collectives are on the
critical path.
"""

from __future__ import annotations

import os
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist
from torch.distributed._composable.replicate_with_fsdp import replicate
from torch.distributed.device_mesh import DeviceMesh, init_device_mesh
from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard
from torch.distributed.pipelining import (
    PipelineStage,
    Schedule1F1B,
    ScheduleGPipe,
    ScheduleInterleaved1F1B,
)
from torch.distributed.pipelining.schedules import (
    PipelineScheduleMulti,
    PipelineScheduleSingle,
    ScheduleLoopedBFS,
)
from torch.distributed.tensor import DTensor, Replicate, Shard
from torch.distributed.tensor._utils import compute_local_shape_and_global_offset
from torch.distributed.tensor.parallel import (
    ColwiseParallel,
    PrepareModuleInput,
    RowwiseParallel,
    SequenceParallel,
    parallelize_module,
)

from datapipe.config import ConfigError
from train import mup
from train.config import MESH_DIMS, ModelConfig, ParallelConfig, TrainConfig
from train.layout import stage_layers
from train.model import Transformer

BACKENDS = {"cuda": "nccl", "cpu": "gloo"}


def launched_ranks() -> int:
    """Processes torchrun started (1 without torchrun)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


@dataclass(frozen=True)
class MeshRank:
    """This process's place in the ``(dp, pp, tp)`` mesh. One process: no mesh, every coordinate 0."""

    parallel: ParallelConfig
    mesh: DeviceMesh | None = None

    def coordinate(self, dim: str) -> int:
        return self.mesh[dim].get_local_rank() if self.mesh is not None else 0

    def group(self, dim: str) -> dist.ProcessGroup | None:
        """The process group of one mesh dimension; None when that dimension has one rank."""
        return self.mesh[dim].get_group() if self.mesh is not None and self.mesh[dim].size() > 1 else None

    @property
    def dp_rank(self) -> int:
        return self.coordinate("dp")

    @property
    def tp_rank(self) -> int:
        return self.coordinate("tp")

    @property
    def stage_ids(self) -> list[int]:
        """The pipeline stages this rank runs ("loop" placement: stage s on pp rank s % pp)."""
        return list(range(self.coordinate("pp"), self.parallel.n_stages, self.parallel.pp))


def init_mesh(parallel: ParallelConfig, device_type: str, timeout_s: float = 600.0) -> MeshRank:
    """Join torchrun's process group (NCCL on GPUs, gloo on CPU) and build the ``(dp, pp, tp)`` mesh; a
    layout of one rank in one process needs neither. tp is the innermost dimension, so a tensor-parallel
    group is consecutive ranks: one node's GPUs. Every group of the mesh fails a collective that waits
    ``timeout_s`` for a peer, so a dead or stuck rank ends the run (or torchrun restarts it) instead of
    leaving the others blocked."""
    ranks = launched_ranks()
    if ranks != parallel.world_size:
        raise ConfigError(f"the layout dp {parallel.dp} x pp {parallel.pp} x tp {parallel.tp} needs "
                          f"{parallel.world_size} processes, but {ranks} were started "
                          f"(torchrun --nproc-per-node {parallel.world_size} ..., or change --dp/--pp/--tp)")
    if ranks == 1:
        return MeshRank(parallel)
    if device_type == "cuda":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    timeout = timedelta(seconds=timeout_s)
    if not dist.is_initialized():
        join_process_group(BACKENDS[device_type], timeout)
    # a dimension spanning every rank is the default group; the others are new groups, which would
    # otherwise get torch's default timeout (30 minutes under gloo)
    options = {dim: group_options(device_type, timeout) for dim, size in zip(MESH_DIMS, parallel.mesh_shape) if size < ranks}
    return MeshRank(parallel, init_device_mesh(device_type, parallel.mesh_shape, mesh_dim_names=MESH_DIMS, backend_override=options))


def group_options(device_type: str, timeout: timedelta):
    """Options of a new process group of ``device_type``'s backend with ``timeout``."""
    options = dist.ProcessGroupNCCL.Options() if device_type == "cuda" else dist.ProcessGroupGloo._Options()
    options._timeout = timeout
    return options


def join_process_group(backend: str, timeout: timedelta) -> None:
    """The default process group of the ranks torchrun started, on a store that holds no key of an
    earlier start of them.

    torchrun's c10d rendezvous (PyTorch 2.5 and later) hands the workers its own TCPStore
    (``TORCHELASTIC_USE_AGENT_STORE``), and the same one to the workers it starts again after a failure
    (``--max-restarts``), with every key the first workers wrote still in it. ``init_process_group``
    writes and reads fixed keys (gloo: each rank's listening address; NCCL: its unique id), so a restarted
    rank can read a dead rank's value: gloo then connects to a closed port (connection refused, the group
    exits) or both ranks of a pair wait for the other to connect (a hang until the timeout). Here the
    group uses keys under a prefix that this start of the ranks alone knows (``launch_prefix``)."""
    if os.environ.get("TORCHELASTIC_USE_AGENT_STORE") != "True":
        dist.init_process_group(backend, timeout=timeout)
        return
    rank, world_size = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    store = dist.TCPStore(os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]), is_master=False, timeout=timeout)
    prefix = launch_prefix(store, rank, world_size, timeout)
    dist.init_process_group(backend, store=dist.PrefixStore(prefix, store), rank=rank, world_size=world_size, timeout=timeout)


LAUNCH_KEYS = "train.launch"


def launch_prefix(store: dist.Store, rank: int, world_size: int, timeout: timedelta) -> str:
    """A key prefix shared by the ranks of this start alone, agreed through a store that may hold the keys
    of earlier starts. A value read under a fixed key may be stale, so every rank waits only for keys named
    after its own fresh random token: rank ``r`` posts its token under ``hello/r``; rank 0 answers each token
    it reads there, stale or not, with its own token (the prefix) under ``answer/<that token>``, until every
    rank has acknowledged under the prefix; a rank reads the answer to its own token."""
    token = uuid.uuid4().hex
    if rank:
        store.set(f"{LAUNCH_KEYS}/hello/{rank}", token)
        prefix = f"{LAUNCH_KEYS}/{store.get(f'{LAUNCH_KEYS}/answer/{token}').decode()}"
        store.set(f"{prefix}/joined/{rank}", b"")
        return prefix
    prefix = f"{LAUNCH_KEYS}/{token}"
    hellos = [f"{LAUNCH_KEYS}/hello/{r}" for r in range(1, world_size)]
    joined = [f"{prefix}/joined/{r}" for r in range(1, world_size)]
    answered: set[bytes] = set()
    deadline = time.monotonic() + timeout.total_seconds()
    store.wait(hellos)
    while not store.check(joined):
        if time.monotonic() > deadline:
            raise dist.DistStoreError(f"ranks did not join the process group within {timeout.total_seconds():.0f} s")
        for hello in set(store.multi_get(hellos)) - answered:
            store.set(f"{LAUNCH_KEYS}/answer/{hello.decode()}", token)
            answered.add(hello)
        time.sleep(0.05)
    return prefix


def parallelize(model_cfg: ModelConfig, run: TrainConfig, mesh: MeshRank, device: torch.device,
                autocast: torch.dtype | None) -> list[Transformer]:
    """This rank's pipeline stages of the model, with tensor and data parallelism applied, allocated on
    ``device`` and initialised like one process (the module docstring's four steps)."""
    p = run.parallel
    layers = stage_layers(model_cfg, p)
    parts = [stage_module(model_cfg, layers[s], s == 0, s == p.n_stages - 1) for s in mesh.stage_ids]
    mp_policy = MixedPrecisionPolicy(param_dtype=autocast, reduce_dtype=torch.float32) if autocast else MixedPrecisionPolicy()
    for part in parts:
        if p.tp > 1:
            apply_tensor_parallel(part, mesh.mesh["tp"], p.sequence_parallel)
        if p.dp > 1:
            apply_data_parallel(part, mesh.mesh["dp"], p.data_parallel, mp_policy)
        part.to_empty(device=device)
    init_like_one_process(parts, model_cfg, run.seed, device)
    return parts


# --- 1. pipeline cut ------------------------------------------------------------------------------


def stage_module(model_cfg: ModelConfig, layers: range, first: bool, last: bool) -> Transformer:
    """The model with everything outside one stage deleted, on the meta device."""
    with torch.device("meta"):
        module = Transformer(model_cfg)
    for key in list(module.layers):
        if int(key) not in layers:
            del module.layers[key]
    if not first:
        module.tok_embeddings = None
    if not last:
        module.norm = None
        module.output = None
    return module


def pipeline_schedule(parts: list[Transformer], mesh: MeshRank, device: torch.device, n_microbatches: int,
                      loss_fn=None, scale_grads: bool = True) -> PipelineScheduleSingle | PipelineScheduleMulti:
    """The schedule that drives this rank's stages: the training one (``loss_fn`` given: 1F1B or
    interleaved 1F1B, as the layout says), or a forward-only one (GPipe, or looped BFS for several stages
    per rank) for evaluation. Each schedule has its own ``PipelineStage`` objects over the same parts."""
    p = mesh.parallel
    stages = [PipelineStage(part, s, p.n_stages, device, group=mesh.group("pp")) for part, s in zip(parts, mesh.stage_ids)]
    if loss_fn is None:
        return ScheduleGPipe(stages[0], n_microbatches) if len(stages) == 1 else ScheduleLoopedBFS(stages, n_microbatches)
    if p.pp_schedule == "1f1b":
        return Schedule1F1B(stages[0], n_microbatches, loss_fn=loss_fn, scale_grads=scale_grads)
    return ScheduleInterleaved1F1B(stages, n_microbatches, loss_fn=loss_fn, scale_grads=scale_grads)


# --- 2. tensor parallel ---------------------------------------------------------------------------


def apply_tensor_parallel(module: Transformer, tp_mesh: DeviceMesh, sequence_parallel: bool) -> None:
    """Megatron's column/row-wise plan on one stage (see the module docstring)."""
    residual = Shard(1) if sequence_parallel else Replicate()  # layout of the residual stream
    root_plan = {}
    if module.tok_embeddings is not None:
        root_plan["tok_embeddings"] = RowwiseParallel(input_layouts=Replicate(), output_layouts=residual)
    if module.output is not None:
        if sequence_parallel:
            root_plan["norm"] = SequenceParallel()
        root_plan["output"] = ColwiseParallel(input_layouts=residual, output_layouts=Shard(-1), use_local_output=False)
    parallelize_module(module, tp_mesh, root_plan)
    for block in module.layers.values():
        plan = {
            "attention.wq": ColwiseParallel(),
            "attention.wk": ColwiseParallel(),
            "attention.wv": ColwiseParallel(),
            "attention.wo": RowwiseParallel(output_layouts=residual),
            "feed_forward.w1": ColwiseParallel(),
            "feed_forward.w3": ColwiseParallel(),
            "feed_forward.w2": RowwiseParallel(output_layouts=residual),
        }
        if sequence_parallel:
            plan |= {
                "attention_norm": SequenceParallel(),
                "attention": PrepareModuleInput(input_layouts=(Shard(1), None, None, None),
                                                desired_input_layouts=(Replicate(), None, None, None)),
                "ffn_norm": SequenceParallel(),
                "feed_forward": PrepareModuleInput(input_layouts=(Shard(1),), desired_input_layouts=(Replicate(),)),
            }
        parallelize_module(block, tp_mesh, plan)
    if sequence_parallel and module.tok_embeddings is None:
        # A later stage receives this rank's sequence shard of the hidden states. The model reads the
        # sequence length off its input (for the RoPE tables), so the shard enters as a DTensor of the
        # full sequence and is turned back into the local shard at the first block.
        parallelize_module(module, tp_mesh, PrepareModuleInput(input_layouts=(Shard(1),),
                                                               desired_input_layouts=(Shard(1),)))
        first_block = module.layers[min(module.layers, key=int)]
        parallelize_module(first_block, tp_mesh, PrepareModuleInput(
            input_layouts=(Shard(1), None, None, None), desired_input_layouts=(Shard(1), None, None, None), use_local_output=True))


# --- 3. data parallel -----------------------------------------------------------------------------


def apply_data_parallel(module: Transformer, dp_mesh: DeviceMesh, mode: str, mp_policy: MixedPrecisionPolicy) -> None:
    """FSDP2 per transformer block, then the stage's root (embedding, norm, head): see the module docstring."""
    for block in module.layers.values():
        if mode == "ddp":
            replicate(block, mesh=dp_mesh, mp_policy=mp_policy)
        else:
            fully_shard(block, mesh=dp_mesh, reshard_after_forward=mode == "fsdp2", mp_policy=mp_policy)
    if mode == "ddp":
        replicate(module, mesh=dp_mesh, mp_policy=mp_policy)
    else:  # the root's parameters are needed again first thing in the backward: keep them
        fully_shard(module, mesh=dp_mesh, reshard_after_forward=False, mp_policy=mp_policy)


# --- 4. initialisation ----------------------------------------------------------------------------


@torch.no_grad()
def init_like_one_process(parts: list[Transformer], model_cfg: ModelConfig, seed: int, device: torch.device) -> int:
    """Initialise this rank's shard of each of its parameters (plain, TP, FSDP or both) as one process
    initialises the whole model from ``seed``, drawing only the blocks of each weight that its shard
    overlaps; the RoPE tables are recomputed. Returns the number of values this rank drew."""
    drawn = 0
    for part in parts:
        for name, param in part.named_parameters():
            if isinstance(param, DTensor):  # where the local shard sits in the whole weight (as DCP computes it)
                shape, offset = compute_local_shape_and_global_offset(param.shape, param.device_mesh, param.placements)
                local = param.to_local()
                assert tuple(local.shape) == tuple(shape), (name, local.shape, shape)
                drawn += mup.init_parameter(name, local, model_cfg, seed, shape=tuple(param.shape), offset=offset)
            else:
                drawn += mup.init_parameter(name, param, model_cfg, seed)
        part.init_rope(device)
    return drawn
