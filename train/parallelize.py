"""Data x pipeline x tensor parallelism for the Tele-FLM model, from PyTorch's own building blocks.

One rank's share of the model is built in four steps, all on the meta device until the last:

1. **Pipeline cut** (``torch.distributed.pipelining``). The model is split into ``pp x stages_per_rank``
   stages of whole layers (``train.layout.stage_layers``): a stage is the full ``Transformer`` with the
   other layers deleted, the embedding kept in the first stage only and the norm and LM head in the
   last only, so every parameter keeps its fully-qualified name (``layers.7.attention.wq.weight``) at
   every layout. Stage ``s`` runs on pp rank ``s % pp``; ``Schedule1F1B`` runs one stage per rank,
   ``ScheduleInterleaved1F1B`` several (virtual stages).
2. **Tensor parallel** (DTensor ``parallelize_module``, Megatron's layout): q/k/v and the SwiGLU's
   w1/w3 column-wise, wo and w2 row-wise; the embedding row-wise over the vocabulary (each rank looks up
   its rows, the partial results are summed); the LM head column-wise with its logits left sharded on
   the vocabulary, the loss computed under ``loss_parallel`` so the full logits are never gathered. With
   sequence parallelism the norms and the residual stream are sharded on the sequence, and the
   all-reduce of plain TP becomes an all-gather before each attention / feed-forward and a
   reduce-scatter after it.
3. **Data parallel** (FSDP2, over the ``dp`` mesh dimension, one group per transformer block plus the
   stage's root). ``zero1``: ``fully_shard(reshard_after_forward=False)``: parameters are all-gathered
   once per step, before the forward, and kept for the backward; gradients are reduce-scattered;
   optimizer state lives only for the rank's shard: the communication and the sharded optimizer of
   Megatron's distributed optimizer (ZeRO-1/2), the parameters additionally sharded between steps.
   ``fsdp2``: ``reshard_after_forward=True`` (ZeRO-3: re-gathered in the backward). ``ddp``: FSDP2's
   ``replicate`` (gradients all-reduced, every rank keeps all state).
4. **Initialisation**: the meta parameters are allocated (``to_empty``) and every weight of the *whole*
   model is drawn in the order one process draws it (``init_like_one_process``), each rank keeping its
   own slice, so a parallel run starts from the same weights as a single process.

What overlaps with backward: FSDP2 issues one reduce-scatter (or all-reduce for ``ddp``) per block
from that block's post-backward hook while autograd goes on with the blocks below it (CUDA: on a
separate stream; gloo: on its worker thread), and waits for them only at the end of the backward.
With gradient accumulation (pp 1, several microbatches) only the last microbatch's backward reduces
(``set_requires_gradient_sync``), as Megatron does. Under a pipeline schedule the reduction of a stage
runs once, after its last microbatch's backward (the schedule's ``REDUCE_GRAD``), overlapping with
the other stages' work but not with its own. Tensor-parallel collectives are on the critical path.

Gradient clipping uses the norm over every shard of every stage: DTensor norms are reduced over their
mesh, then the squares are summed over the pipeline ranks.
"""

from __future__ import annotations

import os
from contextlib import nullcontext

import torch
import torch.distributed as dist
from torch import nn
from torch.distributed._composable.replicate_with_fsdp import replicate
from torch.distributed.device_mesh import DeviceMesh, init_device_mesh
from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard
from torch.distributed.pipelining import (
    PipelineStage,
    Schedule1F1B,
    ScheduleGPipe,
    ScheduleInterleaved1F1B,
)
from torch.distributed.pipelining.schedules import ScheduleLoopedBFS
from torch.distributed.tensor import DTensor, Replicate, Shard, distribute_tensor
from torch.distributed.tensor.parallel import (
    ColwiseParallel,
    PrepareModuleInput,
    RowwiseParallel,
    SequenceParallel,
    loss_parallel,
    parallelize_module,
)

from datapipe.config import ConfigError
from train import mup
from train.config import MESH_DIMS, ModelConfig, ParallelConfig, TrainConfig
from train.layout import microbatches_per_step, stage_layers
from train.model import Transformer, cross_entropy_loss, rope_tables

BACKENDS = {"cuda": "nccl", "cpu": "gloo"}


def launched_ranks() -> int:
    """Processes torchrun started (1 without torchrun)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_parallel(parallel: ParallelConfig) -> bool:
    """Whether a run takes the parallel path: under torchrun with several ranks, or a layout of several."""
    return launched_ranks() > 1 or parallel.world_size > 1


def init_mesh(parallel: ParallelConfig, device_type: str) -> DeviceMesh:
    """Join torchrun's process group (NCCL on GPUs, gloo on CPU) and build the ``(dp, pp, tp)`` mesh.
    tp is the innermost dimension, so a tensor-parallel group is consecutive ranks: one node's GPUs."""
    ranks = launched_ranks()
    if ranks != parallel.world_size:
        raise ConfigError(f"the layout dp {parallel.dp} x pp {parallel.pp} x tp {parallel.tp} needs "
                          f"{parallel.world_size} processes, but {ranks} were started "
                          f"(torchrun --nproc-per-node {parallel.world_size} ..., or change --dp/--pp/--tp)")
    if device_type == "cuda":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    if not dist.is_initialized():
        dist.init_process_group(BACKENDS[device_type])
    return init_device_mesh(device_type, parallel.mesh_shape, mesh_dim_names=MESH_DIMS)


# --- 1. pipeline cut ------------------------------------------------------------------------------


def stage_ids(parallel: ParallelConfig, pp_rank: int) -> list[int]:
    """The pipeline stages a pp rank runs ("loop" placement: stage s on rank s % pp)."""
    return list(range(pp_rank, parallel.n_stages, parallel.pp))


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
                "attention": PrepareModuleInput(input_layouts=(Shard(1), None, None),
                                                desired_input_layouts=(Replicate(), None, None)),
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
            input_layouts=(Shard(1), None, None), desired_input_layouts=(Shard(1), None, None), use_local_output=True))


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


def local_shard(full: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """This rank's part of ``full`` in the layout of parameter ``like`` (plain, TP, FSDP or both)."""
    if isinstance(like, DTensor):  # src_data_rank=None: every rank cuts its own shard, no communication
        return distribute_tensor(full, like.device_mesh, like.placements, src_data_rank=None).to_local()
    return full


@torch.no_grad()
def init_like_one_process(parts: list[Transformer], model_cfg: ModelConfig, seed: int, device: torch.device) -> None:
    """Draw every weight of the whole model in one process's order (``Transformer.init_weights`` after
    ``torch.manual_seed(seed)``), one full tensor at a time, and keep this rank's shard of its own
    parameters; the RoPE tables are recomputed. Costs one full draw per weight up to the rank's last,
    and the memory of the largest weight."""
    with torch.device("meta"):
        full_model = Transformer(model_cfg)
    local = {name: p for part in parts for name, p in part.named_parameters()}
    torch.manual_seed(seed)
    for name, meta_param in full_model.named_parameters():
        if not local:
            break
        full = torch.empty(meta_param.shape, dtype=meta_param.dtype, device=device)
        mup.init_parameters([(name, full)], model_cfg)
        if name in local:
            param = local.pop(name)
            target = param.to_local() if isinstance(param, DTensor) else param
            target.copy_(local_shard(full, param))
    for part in parts:
        part.rope_cos, part.rope_sin = rope_tables(model_cfg.head_dim, model_cfg.max_seq_len, model_cfg.rope_theta,
                                                   device=device)


# --- gradient norm --------------------------------------------------------------------------------


def _mesh_key(t: torch.Tensor):
    return (t.device_mesh, tuple(t.placements)) if isinstance(t, DTensor) else None


@torch.no_grad()
def clip_grad_norm_(params: list[torch.Tensor], max_norm: float | None, pp_group: dist.ProcessGroup | None) -> float:
    """The L2 norm of the gradient of the whole model (every shard, every stage), and clip to ``max_norm``.
    Gradients are grouped by layout (plain, or DTensor on one mesh with one placement), as foreach ops need."""
    by_layout: dict = {}
    for p in params:
        if p.grad is not None:
            by_layout.setdefault(_mesh_key(p.grad), []).append(p)
    squares = torch.zeros((), dtype=torch.float32, device=params[0].device if params else None)
    for same_layout in by_layout.values():
        norm = torch.nn.utils.get_total_norm([p.grad for p in same_layout], 2.0)
        if isinstance(norm, DTensor):
            norm = norm.full_tensor()
        squares += norm.float() ** 2
    if pp_group is not None:
        dist.all_reduce(squares, group=pp_group)
    total = squares.sqrt()
    if max_norm is not None:
        for same_layout in by_layout.values():
            torch.nn.utils.clip_grads_with_norm_(same_layout, max_norm, total)
    return float(total)


# --- the model of one rank ------------------------------------------------------------------------


class ParallelModel:
    """One rank's pipeline stages (TP and DP applied, initialised like one process), a muP AdamW per
    stage, and the pipeline schedule. ``forward_backward`` runs one global batch's share of this
    rank's data-parallel group and returns the mean loss over the whole global batch."""

    def __init__(self, model_cfg: ModelConfig, run: TrainConfig, mesh: DeviceMesh, device: torch.device,
                 autocast: torch.dtype | None):
        p = run.parallel
        self.parallel, self.device, self.autocast = p, device, autocast
        self.dp_rank, self.pp_rank, self.tp_rank = (mesh[d].get_local_rank() for d in MESH_DIMS)
        self.n_microbatches = microbatches_per_step(run, p)
        self.pp_group = mesh["pp"].get_group() if p.pp > 1 else None
        layers = stage_layers(model_cfg, p)
        self.stage_ids = stage_ids(p, self.pp_rank)
        self.parts = [stage_module(model_cfg, layers[s], s == 0, s == p.n_stages - 1) for s in self.stage_ids]
        mp_policy = MixedPrecisionPolicy(param_dtype=autocast, reduce_dtype=torch.float32) if autocast else MixedPrecisionPolicy()
        for part in self.parts:
            if p.tp > 1:
                apply_tensor_parallel(part, mesh["tp"], p.sequence_parallel)
            if p.dp > 1:
                apply_data_parallel(part, mesh["dp"], p.data_parallel, mp_policy)
            part.to_empty(device=device)
        init_like_one_process(self.parts, model_cfg, run.seed, device)
        o = run.optimizer
        self.optimizers = [mup.build_optimizer(part, model_cfg, lr=o.lr, betas=o.betas, eps=o.eps,
                                               weight_decay=o.weight_decay) for part in self.parts]
        self.has_first = 0 in self.stage_ids
        self.has_last = p.n_stages - 1 in self.stage_ids
        self.schedule = self._schedule(self.n_microbatches, cross_entropy_loss) if p.pp > 1 else None
        self.eval_schedule = self._schedule(1, None) if p.pp > 1 else None

    def _schedule(self, n_microbatches: int, loss_fn):
        """The training schedule (with ``loss_fn``) or a forward-only one of one microbatch (evaluation)."""
        stages = [PipelineStage(part, s, self.parallel.n_stages, self.device, group=self.pp_group)
                  for part, s in zip(self.parts, self.stage_ids)]
        if loss_fn is None:
            return ScheduleGPipe(stages[0], n_microbatches) if len(stages) == 1 else ScheduleLoopedBFS(stages, n_microbatches)
        if self.parallel.pp_schedule == "1f1b":
            return Schedule1F1B(stages[0], n_microbatches, loss_fn=loss_fn)
        return ScheduleInterleaved1F1B(stages, n_microbatches, loss_fn=loss_fn)

    def _context(self):
        """Autocast, and loss parallelism when the logits are sharded over TP ranks (forward and backward)."""
        autocast = torch.autocast(self.device.type, dtype=self.autocast, enabled=self.autocast is not None)
        return autocast, (loss_parallel() if self.parallel.tp > 1 else nullcontext())

    def forward_backward(self, inputs: torch.Tensor, targets: torch.Tensor) -> float:
        """Gradients of this rank's ``inputs``/``targets`` (its data-parallel share of the global batch),
        in ``n_microbatches`` microbatches; returns the mean loss of the whole global batch."""
        autocast, loss_ctx = self._context()
        local = torch.zeros((), device=self.device)
        with loss_ctx:
            if self.schedule is not None:
                losses: list[torch.Tensor] = []
                with autocast:
                    self.schedule.step(*([inputs] if self.has_first else []), target=targets if self.has_last else None,
                                       losses=losses)
                if self.has_last:
                    local = torch.stack([_local_value(loss) for loss in losses]).sum() / self.n_microbatches
            else:
                part = self.parts[0]
                for m, (x, y) in enumerate(zip(inputs.chunk(self.n_microbatches), targets.chunk(self.n_microbatches))):
                    # zero1/ddp reduce once, in the last microbatch's backward; fsdp2 (ZeRO-3) reduces every
                    # microbatch so that no unsharded gradient is kept between them
                    if self.parallel.dp > 1 and self.parallel.data_parallel != "fsdp2":
                        part.set_requires_gradient_sync(m == self.n_microbatches - 1)
                    with autocast:
                        loss = cross_entropy_loss(part(x), y) / self.n_microbatches
                    loss.backward()
                    local += _local_value(loss)
        return self.global_mean(local if self.has_last and self.tp_rank == 0 else torch.zeros_like(local))

    def global_mean(self, local: torch.Tensor) -> float:
        """Mean over the data-parallel ranks of a value held by one rank of each pipeline (zero elsewhere)."""
        total = local.clone()
        dist.all_reduce(total)
        return float(total) / self.parallel.dp

    def clip_grad_norm_(self, max_norm: float | None) -> float:
        return clip_grad_norm_([p for part in self.parts for p in part.parameters()], max_norm, self.pp_group)

    def eval_model(self, batch_size: int, seq_len: int) -> nn.Module:
        """A module mapping tokens (at most ``batch_size`` x ``seq_len``) to full logits on every rank, for
        ``train.evaluate.bits_per_byte`` (which all ranks run in step)."""
        return _GatheredLogits(self, batch_size, seq_len)

    @torch.no_grad()
    def full_logits(self, tokens: torch.Tensor, batch_size: int, seq_len: int) -> torch.Tensor:
        """Float32 logits of ``tokens``, gathered over TP ranks and sent from the last pipeline stage to
        every rank. Evaluation is the one place the full logits exist (``bits_per_byte`` needs them).

        Tokens are padded at the end (causal attention: padding never reaches the real positions; the
        padding's logits are dropped): to ``batch_size x seq_len`` under a pipeline, whose stages' buffers
        have one shape, and to a multiple of tp under sequence parallelism, which splits the sequence evenly."""
        rows, length = tokens.shape
        if self.eval_schedule is not None:
            shape = (batch_size, seq_len)
        elif self.parallel.tp > 1 and self.parallel.sequence_parallel:
            shape = (rows, -(-length // self.parallel.tp) * self.parallel.tp)
        else:
            shape = (rows, length)
        padded = torch.zeros(shape, dtype=tokens.dtype, device=tokens.device)
        padded[:rows, :length] = tokens
        autocast, _ = self._context()
        if self.eval_schedule is None:
            with autocast:
                logits = self.parts[0](padded)
            logits = logits.full_tensor() if isinstance(logits, DTensor) else logits
            return logits[:rows, :length].float()
        out = torch.empty(*shape, self.parts[0].config.embedding_rows, dtype=torch.float32, device=self.device)
        with autocast:
            logits = self.eval_schedule.eval(*([padded] if self.has_first else []))
        if self.has_last:
            out.copy_(logits.full_tensor() if isinstance(logits, DTensor) else logits)
        dist.broadcast(out, group=self.pp_group, group_src=self.parallel.pp - 1)
        return out[:rows, :length]


def _local_value(loss: torch.Tensor) -> torch.Tensor:
    """A detached loss as a plain tensor (under ``loss_parallel`` it is a replicated DTensor)."""
    loss = loss.detach()
    return loss.to_local() if isinstance(loss, DTensor) else loss


class _GatheredLogits(nn.Module):
    """``ParallelModel.full_logits`` as a module (``bits_per_byte`` calls ``model(tokens)`` and ``model.eval()``)."""

    def __init__(self, model: ParallelModel, batch_size: int, seq_len: int):
        super().__init__()
        self.model, self.batch_size, self.seq_len = model, batch_size, seq_len
        self.parts = nn.ModuleList(model.parts)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.model.full_logits(tokens, self.batch_size, self.seq_len)
