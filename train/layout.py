"""The parallel layout of a run: the (dp, pp, tp) mesh, its checks, and a per-GPU memory estimate.

``ParallelConfig`` is the ``parallel:`` section of a run config (``configs/train/*.yaml``);
``train/parallelize.py`` builds the device mesh and each rank's model parts from it. Everything here is
arithmetic on the configs (parameter counts from ``train.params``): nothing is allocated and no
process group is needed, so ``--dry-run`` can check the report's 896-GPU layouts on a laptop.

Ranks are laid out as a ``(dp, pp, tp)`` mesh with tp innermost (``MESH_DIMS``): a tensor-parallel
group is ``tp`` consecutive ranks, which torchrun and Slurm place on the same node, so tensor-parallel
collectives run over NVLink (the Tele-FLM report, sec. 3.4: "prioritizing allocation of tensor
parallelism groups ... to the same node").
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from train.config import ModelConfig, ParallelConfig, TrainConfig
from train.params import count_parameters

GPU_MEMORY_BYTES = 80 * 2**30
"""The budget each layout is compared against: an 80 GB A800 (the reports' GPU) or H100."""


# --- placement ---------------------------------------------------------------------------------


def rank_of(parallel: ParallelConfig, dp: int, pp: int, tp: int) -> int:
    """The global rank at mesh coordinates (dp, pp, tp)."""
    return tp + parallel.tp * (pp + parallel.pp * dp)


def coords_of(parallel: ParallelConfig, rank: int) -> dict[str, int]:
    """Mesh coordinates and node of a global rank (torchrun numbers ranks node by node)."""
    return {"dp": rank // (parallel.tp * parallel.pp), "pp": rank // parallel.tp % parallel.pp,
            "tp": rank % parallel.tp, "node": rank // parallel.gpus_per_node}


def stage_layers(model: ModelConfig, parallel: ParallelConfig) -> list[range]:
    """Layer indices of each pipeline stage, in stage order. Stage ``s`` runs on pp rank ``s % pp``
    (torch's "loop" stage-to-rank mapping); the embedding is in stage 0 and the norm and LM head in
    the last. Layers must split evenly (``layout_errors`` says so otherwise): one rule, no remainder
    placement to explain or to keep in step with ``train/parallelize.py``."""
    per_stage = model.n_layers // parallel.n_stages
    return [range(s * per_stage, (s + 1) * per_stage) for s in range(parallel.n_stages)]


def microbatches_per_step(run: TrainConfig, parallel: ParallelConfig) -> int:
    """Microbatches each data-parallel rank runs per optimizer step (pipelined, or accumulated at pp 1)."""
    if parallel.microbatches is not None:
        return parallel.microbatches
    return max(1, run.global_batch_samples // (parallel.dp * run.micro_batch_size))


# --- checks ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    """One layout check: FAIL is an error, WARN runs but deserves a look."""

    name: str
    status: Literal["OK", "WARN", "FAIL"]
    detail: str


def _divides(name: str, what: str, count: int, by: str, size: int, hint: str = "", per: str = "rank") -> Check:
    if count % size == 0:
        return Check(name, "OK", f"{what} {count:,} / {by} {size} = {count // size:,} per {per}")
    return Check(name, "FAIL", f"{what} {count:,} is not divisible by {by} {size}" + (f" ({hint})" if hint else ""))


def _tp_placement(p: ParallelConfig) -> Check:
    """TP inside a node, or over whole nodes. The 1T run's TP 32 on 8-GPU A800 servers (896 GPUs =
    112 nodes x 8, TP 32 x PP 28 x DP 1) cannot be inside one node; a TP group of whole nodes still
    communicates in lockstep and is allowed with a warning. A group that straddles a node boundary
    (e.g. TP 12 on 8-GPU nodes) is an error: its ranks would be split unevenly between nodes."""
    node = p.gpus_per_node
    if node % p.tp == 0:
        return Check("tp placement", "OK", f"tp {p.tp} inside one node of {node} GPUs")
    if p.tp % node == 0:
        return Check("tp placement", "WARN", f"tp {p.tp} spans {p.tp // node} nodes of {node} GPUs: "
                     "tensor-parallel collectives cross the inter-node network (as in the 1T run)")
    return Check("tp placement", "FAIL", f"tp {p.tp} straddles nodes of {node} GPUs: "
                 f"it must divide {node} (inside a node) or be a multiple of it (whole nodes)")


def _schedule(p: ParallelConfig, m: int) -> Check:
    """The microbatch rules of torch 2.13's schedules (torch/distributed/pipelining/schedules.py):
    Schedule1F1B raises unless microbatches >= stages; ScheduleInterleaved1F1B runs
    ``rounds = max(1, m // pp)`` and raises unless ``m % rounds == 0`` (it relaxes Megatron's
    "a multiple of pp")."""
    if p.pp == 1:
        return Check("schedule", "OK", f"no pipeline: {m} microbatch(es) accumulated")
    if p.pp_schedule == "1f1b":
        if m >= p.pp:
            return Check("schedule", "OK", f"1f1b: {m} microbatches >= pp {p.pp}")
        return Check("schedule", "FAIL", f"1f1b needs microbatches >= pp: {m} < {p.pp}")
    rounds = max(1, m // p.pp)
    if m % rounds == 0:
        return Check("schedule", "OK", f"interleaved_1f1b: {m} microbatches in {rounds} round(s) of {m // rounds}")
    return Check("schedule", "FAIL", f"interleaved_1f1b needs microbatches a multiple of its rounds "
                 f"max(1, m // pp) = {rounds}: {m} is not (use a multiple of pp {p.pp})")


def layout_checks(model: ModelConfig, run: TrainConfig, parallel: ParallelConfig | None = None) -> list[Check]:
    """Every divisibility and placement check of the layout, in the order the dry run prints them."""
    p = parallel or run.parallel
    checks = [
        _divides("heads", "attention heads", model.n_heads, "tp", p.tp),
        _divides("kv heads", "key/value heads", model.kv_heads, "tp", p.tp),
        _divides("ffn", "ffn_dim", model.ffn_dim, "tp", p.tp),
        _divides("vocab rows", "embedding/LM-head rows", model.embedding_rows, "tp", p.tp,
                 f"pad the vocabulary: pad_vocab_to_multiple_of: {128 * p.tp}"),
        _divides("layers", "layers", model.n_layers, "pp x stages_per_rank", p.n_stages, per="stage"),
    ]
    per_step = p.dp * run.micro_batch_size
    if run.global_batch_samples % per_step:
        checks.append(Check("batch", "FAIL", f"global batch of {run.global_batch_samples:,} samples is not divisible "
                            f"by dp {p.dp} x micro_batch_size {run.micro_batch_size} = {per_step:,}"))
    elif p.microbatches is not None and p.microbatches * per_step != run.global_batch_samples:
        checks.append(Check("batch", "FAIL", f"microbatches {p.microbatches} x dp {p.dp} x micro_batch_size "
                            f"{run.micro_batch_size} = {p.microbatches * per_step:,} samples, but the global batch "
                            f"is {run.global_batch_samples:,}"))
    else:
        m = run.global_batch_samples // per_step
        checks.append(Check("batch", "OK", f"{run.global_batch_samples:,} samples / dp {p.dp} = "
                            f"{m} microbatches x {run.micro_batch_size} sample(s)"))
    checks.append(_schedule(p, microbatches_per_step(run, p)))
    checks.append(_tp_placement(p))
    if p.tp > 1 and p.sequence_parallel:
        checks.append(_divides("sequence parallel", "seq_len", run.seq_len, "tp", p.tp))
    if p.world_size > p.gpus_per_node and p.world_size % p.gpus_per_node:
        checks.append(Check("nodes", "FAIL", f"world size {p.world_size} is not a whole number of "
                            f"{p.gpus_per_node}-GPU nodes"))
    else:
        checks.append(Check("nodes", "OK", f"{p.world_size} ranks on {math.ceil(p.world_size / p.gpus_per_node)} "
                            f"node(s) of {p.gpus_per_node}"))
    return checks


def layout_errors(model: ModelConfig, run: TrainConfig, parallel: ParallelConfig | None = None) -> list[str]:
    """Every problem that makes the layout unrunnable, one message each naming the numbers; empty when fine."""
    return [f"{c.name}: {c.detail}" for c in layout_checks(model, run, parallel) if c.status == "FAIL"]


# --- memory ------------------------------------------------------------------------------------


def _activations_per_layer(model: ModelConfig, run: TrainConfig, p: ParallelConfig) -> float:
    """Bytes one transformer layer keeps for backward, per microbatch, per GPU.

    Korthikanti et al. 2022, "Reducing Activation Recomputation in Large Transformer Models", eq. (2)
    and sec. 4.2.2: ``s b h (34 + 5 a s / h) / t`` bytes with tensor and sequence parallelism (16-bit
    activations). Its terms, recounted for this model: flash attention (SDPA) keeps no s x s matrices,
    so the ``5 a s / h`` term goes; there is no dropout (the paper's 2 s b h of masks); SwiGLU keeps its
    input (2 s b h) and four s x f tensors (gate and up outputs, silu output, product: 8 s b f) where
    the paper's 4h GELU MLP keeps 19 s b h; GQA shrinks K and V. Counted the paper's way, term by term
    (norm inputs 4, QKV input 2, Q 2, K and V 4 kv/h, attention output 2, MLP), this model keeps
    ``s b h (12 + 4 kv/h + 8 f/h) / t``; the paper's own model gives its 34. Without sequence
    parallelism the two norm inputs and the two linear inputs (8 s b h) are replicated, not split.
    """
    sbh = run.seq_len * run.micro_batch_size * model.dim
    split = 4 + 4 * model.kv_heads / model.n_heads + 8 * model.ffn_dim / model.dim
    replicated = 8.0
    if p.sequence_parallel or p.tp == 1:
        return sbh * (split + replicated) / p.tp
    return sbh * (split / p.tp + replicated)


def _chunks_in_flight(p: ParallelConfig, pp_rank: int, m: int) -> int:
    """Stage-microbatches whose activations a pp rank holds at its peak, from torch's schedules:
    1F1B runs ``pp - 1 - rank`` warm-up forwards, then one more before its first backward; the
    interleaved schedule runs ``(v - 1) * microbatches_per_round + 2 (pp - 1 - rank)`` warm-up forwards
    (``_get_warmup_ops``), capped at all ``m v``. On the first rank that is Korthikanti et al.'s
    ``pp (1 + (pp - 1) / (pp v))`` microbatches of a whole stage."""
    if p.pp == 1:
        return 1
    if p.pp_schedule == "1f1b":
        return min(p.pp - pp_rank, m)
    v = p.stages_per_rank
    per_round = m // max(1, m // p.pp)
    warmup = min((v - 1) * per_round + 2 * (p.pp - 1 - pp_rank), m * v)
    return min(warmup + 1, m * v)


def compute_bytes(run: TrainConfig) -> int:
    """Bytes per weight of the copy the matmuls read: 2 under bf16 autocast (``dtype: auto`` on a GPU,
    or ``bfloat16``), 4 for a run in fp32."""
    return 4 if run.dtype == "float32" else 2


def _rank_memory(model: ModelConfig, run: TrainConfig, p: ParallelConfig, pp_rank: int, param_bytes: int) -> dict:
    count = count_parameters(model)
    layers = model.n_layers // p.pp
    norms = 2 * model.dim                          # RMSNorm gains: replicated over tp, not split
    layer_params = (count.per_layer - norms) / p.tp + norms
    params = layers * layer_params
    first, last = pp_rank == 0, pp_rank == p.pp - 1
    params += count.embedding / p.tp if first else 0
    params += count.final_norm + count.output / p.tp if last else 0

    m = microbatches_per_step(run, p)
    copy = param_bytes if param_bytes < 4 else 0   # bf16: a copy for the matmuls; fp32: the weights themselves
    if p.dp == 1 or p.data_parallel == "ddp":      # all of it on every rank
        weights, grads, optimizer = (4 + copy) * params, 4 * params, 8 * params
    else:
        # FSDP2: fp32 weight shards (the optimizer's) and Adam m and v for them; the weights gathered in
        # the compute dtype: zero1 the whole stage for the whole step; fsdp2 two layers at a time (the one
        # computing, the one prefetched), or the whole stage under a pipeline schedule, which keeps a
        # stage gathered after each backward but its last
        in_flight = min(2, layers) * layer_params
        whole_step = p.data_parallel == "zero1" or p.pp > 1
        weights = 4 * params / p.dp + param_bytes * (params if whole_step else in_flight)
        # unreduced gradients accumulate whole until the step's last backward reduce-scatters them (zero1,
        # and any pipeline); otherwise each unit's are reduce-scattered as its backward ends
        grads = 4 * params if whole_step and m > 1 else 4 * params / p.dp + 4 * in_flight
        optimizer = 8 * params / p.dp

    chunks = _chunks_in_flight(p, pp_rank, m)
    activations = chunks * (layers / p.stages_per_rank) * _activations_per_layer(model, run, p)
    if last:  # fp32 logits of the vocab-parallel loss, one microbatch (Korthikanti sec. 4.3: 4 s b v / t)
        activations += 4 * run.seq_len * run.micro_batch_size * model.embedding_rows / p.tp
    total = weights + grads + optimizer + activations
    return {"pp_rank": pp_rank, "params": round(params), "weights": weights, "gradients": grads,
            "optimizer": optimizer, "activations": activations, "microbatches_in_flight": chunks,
            "total": total}


def memory_by_pp_rank(model: ModelConfig, run: TrainConfig, parallel: ParallelConfig | None = None, *,
                      param_bytes: int | None = None) -> list[dict]:
    """``memory_estimate`` for every pipeline rank (all tp and dp ranks of a pp rank hold the same)."""
    p = parallel or run.parallel
    return [_rank_memory(model, run, p, r, param_bytes or compute_bytes(run)) for r in range(p.pp)]


def memory_estimate(model: ModelConfig, run: TrainConfig, parallel: ParallelConfig | None = None, *,
                    param_bytes: int | None = None, budget: int = GPU_MEMORY_BYTES) -> dict:
    """Per-GPU bytes of weights, gradients, optimizer state and activations on the fullest GPU, as this
    trainer keeps them at the peak of a step (``train/parallelize.py``, ``Trainer.forward_backward``).

    Parameters per GPU (P): the stage's layers (``n_layers / pp`` per rank, all its virtual stages), plus
    the embedding on pp rank 0 and the final norm and LM head on the last, matrices split over tp
    and norm gains replicated. The model's weights, gradients and Adam m and v are fp32; under bf16
    autocast (``param_bytes=2``, the GPU default; ``compute_bytes``) the matmuls read bf16 copies of the
    weights. Per data-parallel layout, in bytes per parameter under bf16:

    - one dp rank, or ``ddp``: everything on every rank: fp32 weights and their bf16 copy (autocast's, or
      ``replicate``'s mixed-precision one), fp32 gradients, Adam: 4 + 2 + 4 + 8 = 18.
    - ``zero1`` (ZeRO-1): fp32 weights and Adam sharded over dp (12/dp); the bf16 weights gathered in
      the step's first forward and kept to its last backward (2); gradients accumulated whole in fp32
      until the last microbatch reduce-scatters them (4): 6 + 12/dp, Megatron's distributed optimizer's
      figure. With one microbatch per step, each unit's gradients are reduce-scattered as its backward
      ends (ZeRO-2): 4/dp, plus the units in flight.
    - ``fsdp2`` (ZeRO-3): weights, gradients and Adam sharded (16/dp), plus the bf16 weights of the two
      layers in flight and their gradients before the reduce-scatter. Under a pipeline the schedule keeps
      a stage gathered and its gradients whole until the stage's last backward, as zero1 does.

    ``param_bytes=4`` (a fp32 run) has no copy beside the weights at one dp rank and gathers fp32
    weights under FSDP. Activations: ``_activations_per_layer`` times the layers and microbatches in
    flight on that rank (``_chunks_in_flight``), plus the last stage's logits.

    Not counted: the CUDA context, NCCL and cuBLAS workspaces, allocator fragmentation, pipeline
    send/receive buffers (a few GB together), so "fits" should keep some headroom.
    Returns the pp rank with the largest total; ``budget`` and ``fits`` compare it to the GPU.
    """
    fullest = max(memory_by_pp_rank(model, run, parallel, param_bytes=param_bytes), key=lambda row: row["total"])
    return {**fullest, "budget": budget, "fits": fullest["total"] <= budget}


# --- the dry-run report ------------------------------------------------------------------------


def _in(unit: int, n: float) -> str:
    return f"{n / unit:,.1f}"


def _groups_of_rank0(p: ParallelConfig) -> list[str]:
    def listing(ranks: list[int]) -> str:
        shown = ", ".join(map(str, ranks[:4]))
        return f"[{shown}{', ...' if len(ranks) > 4 else ''}] ({len(ranks)} ranks)"
    return [f"  tp group of rank 0: {listing([rank_of(p, 0, 0, t) for t in range(p.tp)])}",
            f"  pp group of rank 0: {listing([rank_of(p, 0, s, 0) for s in range(p.pp)])}",
            f"  dp group of rank 0: {listing([rank_of(p, d, 0, 0) for d in range(p.dp)])}"]


def _pipeline_lines(model: ModelConfig, p: ParallelConfig) -> list[str]:
    if model.n_layers % p.n_stages:
        return [f"  (no stage split: {model.n_layers} layers do not divide into {p.n_stages} stages)"]
    lines = []
    stages = stage_layers(model, p)
    for s, layers in enumerate(stages):
        span = f"layer {layers.start}" if len(layers) == 1 else f"layers {layers.start}-{layers.stop - 1}"
        parts = (["embedding"] if s == 0 else []) + [span]
        parts += ["norm + LM head"] if s == len(stages) - 1 else []
        lines.append(f"  stage {s:>3} on pp rank {s % p.pp:>3}: {' + '.join(parts)}")
    return lines


def _sharding(p: ParallelConfig, m: int, compute: str) -> str:
    """What the data-parallel layout keeps on each rank (``memory_estimate``), in words."""
    if p.dp == 1:
        return "one data-parallel rank: nothing sharded"
    if p.data_parallel == "ddp":
        return f"ddp over dp {p.dp}: nothing sharded"
    if p.data_parallel == "zero1":
        step = (f"kept for its {m} microbatches, gradients accumulated whole and reduce-scattered once per step"
                if m > 1 else "gradients reduce-scattered as each layer's backward ends (ZeRO-2)")
        return f"zero1 over dp {p.dp} (ZeRO-1): fp32 weights and Adam sharded, {compute} weights gathered once per step, {step}"
    gathered = "a stage gathered through the pipeline schedule" if p.pp > 1 else "two layers gathered at a time"
    return f"fsdp2 over dp {p.dp} (ZeRO-3): weights, grads and Adam sharded, {compute} weights of {gathered}"


def _memory_lines(model: ModelConfig, run: TrainConfig, p: ParallelConfig, param_bytes: int) -> list[str]:
    rows = memory_by_pp_rank(model, run, p, param_bytes=param_bytes)
    fullest = memory_estimate(model, run, p, param_bytes=param_bytes)
    shown = sorted({0, p.pp - 1, fullest["pp_rank"]})
    compute = "bf16" if param_bytes == 2 else "fp32"
    precision = ("bf16 autocast: fp32 weights, grads and Adam, bf16 copies of the weights for the matmuls"
                 if param_bytes == 2 else "fp32 weights, grads and Adam")
    sharding = _sharding(p, microbatches_per_step(run, p), compute)
    unit, name = (2**30, "GiB") if fullest["total"] >= 2**30 else (2**20, "MiB")
    header = (f"  {'pp rank':>7} | {'params':>14} | {'weights':>7} | {'grads':>7} | {'optim':>7} | "
              f"{'activ':>7} (n mb) | {'total':>7}")
    lines = [f"Memory per GPU, {name}: {precision};", f"  {sharding};",
             f"  activations per Korthikanti et al. 2022 with flash attention, seq {run.seq_len} x micro batch "
             f"{run.micro_batch_size}, n mb = (stage-)microbatches in flight", header]
    for r in shown:
        row = rows[r]
        weights, grads, optim, activ, total = (_in(unit, row[k]) for k in
                                               ("weights", "gradients", "optimizer", "activations", "total"))
        lines.append(f"  {r:>7} | {row['params']:>14,} | {weights:>7} | {grads:>7} | {optim:>7} | {activ:>7} "
                     f"({row['microbatches_in_flight']:>4}) | {total:>7}")
    verdict = "fits" if fullest["fits"] else "DOES NOT FIT"
    lines.append(f"  fullest: pp rank {fullest['pp_rank']}, {_in(2**30, fullest['total'])} of "
                 f"{_in(2**30, fullest['budget'])} GiB: {verdict} "
                 "(not counted: CUDA context, NCCL/cuBLAS workspaces, fragmentation)")
    return lines


def dry_run_report(model: ModelConfig, run: TrainConfig, parallel: ParallelConfig | None = None, *,
                   param_bytes: int | None = None) -> str:
    """The printable layout: mesh and rank placement, stage -> layers, batch split, checks, memory."""
    p = parallel or run.parallel
    nodes = math.ceil(p.world_size / p.gpus_per_node)
    count = count_parameters(model)
    m = microbatches_per_step(run, p)
    lines = [
        f"Layout of {run.model}: {count.total:,} parameters, {model.n_layers} layers x {model.dim:,}",
        f"Mesh (dp, pp, tp) = ({p.dp}, {p.pp}, {p.tp}): {p.world_size} ranks on {nodes} node(s) "
        f"of {p.gpus_per_node} GPUs",
        f"  rank = tp_rank + {p.tp} * (pp_rank + {p.pp} * dp_rank); node = rank // {p.gpus_per_node}",
        *_groups_of_rank0(p),
        f"  last rank {p.world_size - 1}: "
        + ", ".join(f"{k} {v}" for k, v in coords_of(p, p.world_size - 1).items()),
        f"Data parallel: {p.data_parallel}; tensor parallel: {p.tp}"
        + (" with sequence parallel" if p.tp > 1 and p.sequence_parallel else ""),
        f"Pipeline: {p.pp_schedule}, {p.n_stages} stage(s), {p.stages_per_rank} per rank",
        *_pipeline_lines(model, p),
        f"Batch: {run.global_batch_tokens:,} tokens = {run.global_batch_samples:,} samples x {run.seq_len}; "
        f"/ dp {p.dp} = {run.global_batch_samples / p.dp:,.4g} samples per dp rank = {m:,} microbatch(es) "
        f"x {run.micro_batch_size}",
        "Checks:",
        *(f"  {c.status:<4} {c.name:<17} {c.detail}" for c in layout_checks(model, run, p)),
    ]
    if layout_errors(model, run, p):
        lines.append("Memory: not estimated until the FAIL checks above pass")
    else:
        lines += _memory_lines(model, run, p, param_bytes or compute_bytes(run))
    return "\n".join(lines)


# --- memory during a growth ramp ---------------------------------------------------------------------


def ramp_memory(old: ModelConfig, model: ModelConfig, run: TrainConfig, parallel: ParallelConfig | None = None, *,
                param_bytes: int | None = None, budget: int = GPU_MEMORY_BYTES) -> dict:
    """Per-GPU bytes while a model grown from ``old`` ramps its masks in (``train.grow``), on the fullest pp
    rank: the grown model's step as ``memory_estimate`` counts it (its AdamW state is the grown model's,
    old moments copied, zero elsewhere: the same size as from scratch), plus

    - the masks: non-persistent fp32 buffers, per layer a hidden-size residual mask and this TP shard's
      head and FFN-unit masks, and the embedding's (kilobytes);
    - the mask-aware RMSNorm: while the hidden size ramps, the norm runs unfused in fp32 and autograd keeps
      its fp32 input and normalised output (8 bytes per element, two norms per layer, split over tp
      with sequence parallelism) where the fused norm keeps its input, already counted.

    And on the host, once at the growth: each rank reads one old tensor at a time, whole, with its two Adam
    moments (fp32), so the largest old tensor three times (``train.grow.grow_from_checkpoint``)."""
    p = parallel or run.parallel
    param_bytes = param_bytes or compute_bytes(run)
    m = microbatches_per_step(run, p)
    sbh = run.seq_len * run.micro_batch_size * model.dim
    norm_extra = 2 * 8 * sbh / (p.tp if p.sequence_parallel or p.tp == 1 else 1) if model.dim != old.dim else 0.0
    rows = []
    for row in memory_by_pp_rank(model, run, p, param_bytes=param_bytes):
        layers = model.n_layers // p.pp
        masks = 4 * (model.dim + layers * (model.dim + (model.n_heads + model.ffn_dim) / p.tp))
        chunks = _chunks_in_flight(p, row["pp_rank"], m)
        extra = chunks * (layers / p.stages_per_rank) * norm_extra
        rows.append({**row, "masks": masks, "norm_activations": extra, "ramp_total": row["total"] + masks + extra})
    fullest = max(rows, key=lambda r: r["ramp_total"])
    count = count_parameters(old)
    largest = max(count.embedding, count.output, old.dim * old.ffn_dim, old.dim * old.n_heads * old.head_dim)
    return {**fullest, "budget": budget, "fits": fullest["ramp_total"] <= budget, "host_read_bytes": 3 * 4 * largest}


def ramp_memory_lines(old: ModelConfig, model: ModelConfig, run: TrainConfig, parallel: ParallelConfig | None = None) -> list[str]:
    r = ramp_memory(old, model, run, parallel)
    verdict = "fits" if r["fits"] else "DOES NOT FIT"
    return [f"During the growth ramp (masks from the old {old.n_layers} x {old.dim} model's structure), fullest pp rank "
            f"{r['pp_rank']}: the step above {_in(2**30, r['total'])} GiB + masks {r['masks'] / 2**10:,.1f} KiB + "
            f"unfused mask-aware norms {_in(2**30, r['norm_activations'])} GiB = {_in(2**30, r['ramp_total'])} of "
            f"{_in(2**30, r['budget'])} GiB: {verdict}",
            f"  growing reads one old tensor at a time with its two Adam moments: {_in(2**30, r['host_read_bytes'])} GiB "
            "of host memory per rank at the growth step"]
