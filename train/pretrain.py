"""Pre-training: the Tele-FLM model on the tokenize stage's shards, with muP AdamW, checkpoints and validation.

    python -m train.pretrain --config configs/train/demo.yaml [--resume auto|none|CHECKPOINT_DIR] [--max-steps N]
    torchrun --standalone --nproc-per-node 4 -m train.pretrain --config configs/train/demo.yaml --tp 2 --pp 2
    python -m train.pretrain --config configs/train/52b.yaml --dry-run

Each optimizer step takes ``global_batch_tokens`` tokens: ``global_batch_samples`` samples of
``seq_len + 1`` tokens (``train.data.TokenSamples``: step ``s`` reads samples ``[s * G, (s + 1) * G)``, so the
data position is the step). The learning rate of every muP group (its peak: ``lr_vector``, or ``lr_matrix``
over the width multiplier) follows ``train.schedule.lr_factor``, down to the same fraction
``lr_min / lr_vector`` of every peak.
A step whose loss or gradient norm is not finite, or whose loss spikes above the running mean, is
skipped and counted; too many stop the run. Every ``log_interval`` steps a line goes to the console,
``metrics.jsonl`` and TensorBoard (loss, gradient norm, LR, tokens/s and MFU as defined in
``train.flops``); every ``eval_interval`` steps the held-out bits per byte per domain; every
``checkpoint_interval`` steps an atomic checkpoint (``train.checkpoint``), from which ``--resume auto``
continues bit-exactly on CPU, at this layout or another.

One training path at every layout: one process is the layout dp 1 x pp 1 x tp 1, without a process
group. ``train.parallelize`` gives this rank's model parts (its pipeline stages, tensor and data
parallelism applied; one process: the whole model); the trainer owns the step: data-parallel rank ``r``
of ``dp`` reads samples ``[s * G + r * G / dp, s * G + (r + 1) * G / dp)`` (together, the samples of one
process), runs them in the layout's microbatches (accumulated, or through the pipeline schedule when
pp > 1), and reduces the loss and the gradient norm over all ranks, so that every rank takes the same
decisions; rank 0 logs and writes metrics, every rank validates on the gathered logits.
``--dry-run`` prints the layout, its checks and the memory per GPU (``train.layout``) without torchrun
or allocating the model.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn
from torch.distributed.fsdp import FSDPModule
from torch.distributed.tensor import DTensor
from torch.distributed.tensor.parallel import loss_parallel

from datapipe.cli import main_of
from datapipe.config import ConfigError
from datapipe.indexed import ShardVerificationError
from train import checkpoint as ckpt
from train import flops, mup, parallelize
from train.collectives import rank_and_world, sum_over_ranks
from train.config import ModelConfig, ParallelConfig, TrainConfig, load_train_config
from train.data import TokenSamples, valid_sets
from train.evaluate import bits_per_byte, manifest_tokenizer, token_byte_lengths
from train.grow import (
    Growth,
    MaskRamp,
    ProbeLayerDistances,
    check_growth,
    grow_from_checkpoint,
    keep_vocabulary_rows,
    plan_growth,
    set_masks,
)
from train.layout import dry_run_report, layout_errors, microbatches_per_step, ramp_memory_lines
from train.model import Transformer, cross_entropy_loss
from train.schedule import lr_factor

log = logging.getLogger("train")

METRICS_FILE = "metrics.jsonl"
CHECKPOINT_DIR = "checkpoints"


class TrainingStopped(RuntimeError):
    """The run cannot go on (too many skipped steps); the last checkpoint is intact."""


@dataclass
class RunState:
    """What the loop carries from step to step, saved in every checkpoint."""

    step: int = 0
    tokens: int = 0
    accepted_steps: int = 0
    skipped_total: int = 0
    skipped_consecutive: int = 0
    loss_ema: float | None = None


def device_type(cfg: TrainConfig) -> str:
    if cfg.device == "cuda" or (cfg.device == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise ConfigError("device: cuda asked for, but torch sees no GPU")
        return "cuda"
    return "cpu"


def resolve_device(cfg: TrainConfig) -> tuple[torch.device, torch.dtype | None]:
    """The device (under torchrun: this rank's GPU, once the mesh has set it), and the autocast dtype (None: plain fp32)."""
    if device_type(cfg) == "cuda":
        device = torch.device("cuda", torch.cuda.current_device())
    else:
        device = torch.device("cpu")
    if cfg.dtype == "bfloat16" or (cfg.dtype == "auto" and device.type == "cuda"):
        return device, torch.bfloat16
    return device, None


def _local_value(loss: torch.Tensor) -> torch.Tensor:
    """A detached loss as a plain tensor (under ``loss_parallel`` it is a replicated DTensor)."""
    loss = loss.detach()
    return loss.to_local() if isinstance(loss, DTensor) else loss


@torch.no_grad()
def clip_grad_norm_(params: list[torch.Tensor], max_norm: float | None, pp_group: dist.ProcessGroup | None) -> float:
    """The L2 norm of the gradient of the whole model (every shard, every stage), and clip to ``max_norm``.
    Gradients are grouped by layout (plain, or DTensor on one mesh with one placement), as foreach ops
    need; DTensor norms are reduced over their mesh, then the squares are summed over the pipeline ranks."""
    by_layout: dict = {}
    for p in params:
        if p.grad is not None:
            key = (p.grad.device_mesh, tuple(p.grad.placements)) if isinstance(p.grad, DTensor) else None
            by_layout.setdefault(key, []).append(p)
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


def planned_stages(cfg: TrainConfig, vocab: int | None) -> tuple[list[ModelConfig], list[ParallelConfig]]:
    """The model and the layout before any growth (index 0) and after each of the run's growth stages."""
    models, layouts = [cfg.build_model_config(vocab)], [cfg.parallel]
    for stage in cfg.growth:
        models.append(keep_vocabulary_rows(models[-1], cfg.build_model_config(vocab, stage.model)))
        layouts.append(stage.parallel or layouts[-1])
    return models, layouts


def check_plan(models: list[ModelConfig], layouts: list[ParallelConfig], cfg: TrainConfig) -> None:
    """Before any work: each growth stage's model is a growth of the one before, and every model fits its layout."""
    for i in range(1, len(models)):
        try:
            check_growth(models[i - 1], models[i])
        except ValueError as exc:
            raise ConfigError(f"growth.{i - 1}.model ({cfg.growth[i - 1].model}): {exc}") from None
    for i, (model, layout) in enumerate(zip(models, layouts)):
        errors = layout_errors(model, cfg, layout)
        if errors:
            where = "" if i == 0 else f" after growth.{i - 1} ({cfg.growth[i - 1].model})"
            raise ConfigError(f"the parallel layout does not fit the model or the batch{where}:\n  " + "\n  ".join(errors))


class Trainer:
    """The model parts, optimizers, data and state of one run on this rank; ``run()`` trains to ``max_steps``.

    ``parts`` are this rank's pipeline stages (one process: one part, the whole model), each with its muP
    AdamW in ``optimizers``; the same code runs at every layout."""

    EVAL_METRIC = ("bpb", "bits per byte")
    """What ``validate`` measures per held-out set: its key and its name in the logs."""
    EVAL_AT_START = False
    """Validate before the first step too (a fine-tuning run: the starting model's score)."""

    def __init__(self, cfg: TrainConfig, resume: str = "auto"):
        self.run_cfg = cfg
        self.out = Path(cfg.out)
        # the model and layout after each growth stage: index 0 before any, k after k stages
        self.planned_models, self.planned_layouts = planned_stages(cfg, self._setup_data(cfg))
        check_plan(self.planned_models, self.planned_layouts, cfg)
        self.mesh = None
        self.mesh = self._mesh(cfg.parallel)
        self.rank, self.world_size = rank_and_world()
        if self.rank == 0:
            self.out.mkdir(parents=True, exist_ok=True)
        torch.manual_seed(cfg.seed)  # the weights do not come from it (train.mup draws them by name); a resume restores it
        self.state = RunState()
        self.stages_done = 0  # growth stages applied
        self.growth: Growth | None = None  # the growth whose masks are ramping, None once folded
        found = self._find_checkpoint(resume)
        if found is None:
            self._build(self.planned_models[0], cfg.parallel)
            self._initial_weights()
        else:
            self._resume(*found)

    def _setup_data(self, cfg: TrainConfig) -> int:
        """The training and held-out data; returns the vocabulary size (the shards' tokenizer's)."""
        manifest = json.loads((Path(cfg.data) / "manifest.json").read_text())
        self.data = TokenSamples(cfg.data, cfg.seq_len, split="train", seed=cfg.seed, verify=cfg.verify_shards)
        self.valid = valid_sets(cfg.data, verify=cfg.verify_shards)
        tokenizer = manifest_tokenizer(manifest)  # exact bytes of a capped validation; apportioned without it
        self.token_bytes = token_byte_lengths(tokenizer) if tokenizer is not None else None
        return manifest["tokenizer"]["vocab_size"]

    def _initial_weights(self) -> None:
        """The weights of a run that starts from no checkpoint of its own: as drawn from the seed."""

    def _mesh(self, layout: ParallelConfig) -> parallelize.MeshRank:
        """The mesh of ``layout`` (the process group, once made, is kept across layouts)."""
        if self.mesh is not None and self.mesh.parallel == layout:
            return self.mesh
        return parallelize.init_mesh(layout, device_type(self.run_cfg), self.run_cfg.collective_timeout_s)

    def _build(self, model_cfg: ModelConfig, layout: ParallelConfig) -> None:
        """This rank's model parts for ``model_cfg`` at ``layout``, initialised from the seed, with fresh
        optimizers and pipeline schedules; ``self.cfg`` is the run config with the layout in effect."""
        cfg = self.cfg = self.run_cfg.model_copy(update={"parallel": layout})
        self.model_cfg = model_cfg
        self.mesh = self._mesh(layout)
        self.device, self.autocast = resolve_device(cfg)
        self.parts = parallelize.parallelize(model_cfg, cfg, self.mesh, self.device, self.autocast)
        o = cfg.optimizer
        self.optimizers = [mup.build_optimizer(part, model_cfg, o.lr_vector, o.lr_matrix, betas=o.betas, eps=o.eps,
                                               weight_decay=o.weight_decay) for part in self.parts]
        self.n_microbatches = microbatches_per_step(cfg, layout)
        self.has_first, self.has_last = 0 in self.mesh.stage_ids, layout.n_stages - 1 in self.mesh.stage_ids
        self.pp_group = self.mesh.group("pp")
        pipelined = layout.pp > 1
        self.schedule = parallelize.pipeline_schedule(self.parts, self.mesh, self.device, self.n_microbatches,
                                                      self.schedule_loss, self.SCHEDULE_SCALES_GRADS) if pipelined else None
        self.eval_schedule = parallelize.pipeline_schedule(self.parts, self.mesh, self.device, 1) if pipelined else None
        with torch.device("meta"):
            whole = Transformer(model_cfg)
        self.n_parameters = sum(p.numel() for p in whole.parameters())
        self.flops_per_token = flops.flops_per_token(whole, model_cfg.n_layers, model_cfg.dim, cfg.seq_len)
        device_name, dtype = flops.device_name(self.device), self.autocast or torch.float32
        self.peak = flops.peak_flops(device_name, dtype)
        if self.peak is None and self.rank == 0:
            log.warning("no peak FLOP/s known for %s in %s: training goes on without MFU (add the GPU to "
                        "train.flops.GPU_PEAKS)", device_name, dtype)

    # --- checkpoints ------------------------------------------------------------------------------

    def trainer_state(self) -> dict:
        return {"state": asdict(self.state), "data": self.data.fingerprint(),
                "config": {"run": self.cfg.model_dump(), "model": self.model_cfg.model_dump()},
                "growth": {"stages_done": self.stages_done, "ramping": self.growth.to_json() if self.growth else None}}

    def save(self) -> Path:
        path = ckpt.save_checkpoint(self.out / CHECKPOINT_DIR, self.state.step, self.parts, self.optimizers,
                                    self.trainer_state(), keep_last=self.cfg.keep_checkpoints)
        log.info("checkpoint %s", path)
        return path

    def _find_checkpoint(self, resume: str) -> tuple[Path, dict] | None:
        if resume == "none":
            return None
        root = self.out / CHECKPOINT_DIR
        found = ckpt.newest_verified(root) if resume == "auto" else (Path(resume), ckpt.verify(resume))
        if found is None:
            log.info("no checkpoint under %s: starting from scratch", root)
        return found

    def _resume(self, path: Path, meta: dict) -> None:
        """Continue from a checkpoint written at any layout (each rank reads only its own shards), with the
        model it holds: the run config's at that point of its growth plan, or one grown from it offline
        (``python -m train.grow``); a checkpoint written during a growth ramp brings back its masks."""
        saved = meta["trainer"]
        if saved["data"] != self.data.fingerprint():
            raise ckpt.CheckpointError(f"{path}: made on other data or another seed/seq_len ({saved['data']})")
        growth = saved.get("growth") or {}
        done = growth.get("stages_done", 0)
        if done > len(self.run_cfg.growth):
            raise ckpt.CheckpointError(f"{path}: {done} growth stage(s) done, the run config has {len(self.run_cfg.growth)}")
        planned = self.planned_models[done]
        model_cfg = ModelConfig.model_validate(saved["config"]["model"])
        if model_cfg != planned:
            try:
                check_growth(planned, model_cfg)
            except ValueError:
                raise ckpt.CheckpointError(f"{path}: made for another model config (not the run config's after {done} "
                                           "growth stage(s), nor one grown from it)") from None
            log.info("%s holds a model grown from the run config's (%d layers x %d -> %d x %d): continuing with it",
                     path, planned.n_layers, planned.dim, model_cfg.n_layers, model_cfg.dim)
        self.stages_done = done
        self._build(model_cfg, self.planned_layouts[done])
        rng_restored = ckpt.load_checkpoint(path, meta, self.parts, self.optimizers)
        self.state = RunState(**saved["state"])
        self.growth = Growth.from_json(growth["ramping"]) if growth.get("ramping") else None
        self._set_masks()
        log.info("resumed from %s (written by %d rank(s)) at step %d%s", path, meta["world_size"], self.state.step,
                 "" if rng_restored else "; random generators not restored (the checkpoint has another number of ranks)")

    # --- growth -----------------------------------------------------------------------------------

    def _set_masks(self) -> None:
        """The growth masks at this step's ramp value; at 1 they fold away and the growth is over."""
        if self.growth is None:
            return
        value = self.growth.ramp.value(self.state.step)
        set_masks(self.parts, self.growth, value, self.mesh.tp_rank, self.cfg.parallel.tp)
        if value == 1.0:
            log.info("step %d: growth ramp done, masks folded: a plain %d x %d model", self.state.step,
                     self.model_cfg.n_layers, self.model_cfg.dim)
            self.growth = None

    def layer_distances(self, step: int) -> list[float]:
        """``train.grow.layer_distances`` of the model in training, on the first micro-batch of ``step``'s
        data on every data-parallel rank, at any layout."""
        inputs, _ = self.local_batch(step)
        probe = ProbeLayerDistances(self.parts, self.model_cfg.n_layers, self.device)
        self.full_logits(inputs[: self.cfg.micro_batch_size])
        return probe.distances()

    def grow(self) -> dict:
        """The next growth stage, at the start of its step: from this step's checkpoint (written now if it is
        not there) into parts built at the target config and the stage's layout, masks at 0. Returns the
        growth event: held-out bits per byte just before and just after (equal: function-preserving)."""
        stage, step = self.run_cfg.growth[self.stages_done], self.state.step
        target = self.planned_models[self.stages_done + 1]
        try:
            check_growth(self.model_cfg, target)
        except ValueError as exc:
            raise ConfigError(f"growth at step {step} to {stage.model}: {exc}") from None
        path = ckpt.step_dir(self.out / CHECKPOINT_DIR, step)
        try:  # this step's checkpoint, when the run has it complete and of the model in training
            usable = ckpt.verify(path)["trainer"]["config"]["model"] == self.model_cfg.model_dump()
        except ckpt.CheckpointError:
            usable = False
        if not usable:
            path = self.save()
        before = self.validate()
        distances = None
        if target.n_layers > self.model_cfg.n_layers and stage.depth_rule == "distance":
            distances = self.layer_distances(step)
        growth = plan_growth(self.model_cfg, target, MaskRamp(stage.ramp_steps, step), stage.depth_rule, distances)
        self.parts = self.optimizers = self.schedule = self.eval_schedule = None
        self._build(target, self.planned_layouts[self.stages_done + 1])
        grow_from_checkpoint(path, growth, self.parts, self.optimizers)
        self.stages_done += 1
        self.growth = growth
        self._set_masks()
        after = self.validate()
        if self.rank == 0:
            log.info("step %d: grown to %s (%s parameters; old layers now %s), ramp %d steps", step, stage.model,
                     f"{self.n_parameters:,}", list(growth.old_layers), stage.ramp_steps)
        return {"step": step, "growth": {"to": stage.model, "parameters": self.n_parameters, "old_layers": list(growth.old_layers),
                                          "ramp_steps": stage.ramp_steps, "depth_rule": stage.depth_rule, "distances": distances,
                                          "bpb_before": {d: r["bpb"] for d, r in before.items()},
                                          "bpb_after": {d: r["bpb"] for d, r in after.items()}}}

    # --- one optimizer step -----------------------------------------------------------------------

    def set_lr(self, step: int) -> float:
        """Every group's LR for ``step``: its peak times the schedule; returns the factor."""
        o = self.cfg.optimizer
        factor = lr_factor(step, warmup_steps=o.warmup_steps, decay_steps=o.decay_steps or self.cfg.max_steps,
                           min_lr_ratio=o.min_lr_ratio)
        for optimizer in self.optimizers:
            for group in optimizer.param_groups:
                group["lr"] = group["peak_lr"] * factor
        return factor

    def local_batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """This data-parallel rank's share of the global batch of ``step``: inputs and targets."""
        g, dp = self.cfg.global_batch_samples, self.cfg.parallel.dp
        rows = g // dp
        start = step * g + self.mesh.dp_rank * rows
        tokens = torch.from_numpy(self.data.batch(range(start, start + rows))).to(self.device)
        return tokens[:, :-1], tokens[:, 1:]

    def _contexts(self):
        """Autocast, and loss parallelism when the logits are sharded over TP ranks (forward and backward)."""
        autocast = torch.autocast(self.device.type, dtype=self.autocast, enabled=self.autocast is not None)
        return autocast, (loss_parallel() if self.cfg.parallel.tp > 1 else nullcontext())

    def _sync_only_at_last(self, part: nn.Module, last: bool) -> None:
        """Data-parallel communication of one microbatch's backward: zero1 and ddp reduce once, in the last
        microbatch's backward; fsdp2 (ZeRO-3) reduces every microbatch so that no unsharded gradient is kept
        between them. zero1 keeps the parameters it gathered in the first forward until the last backward:
        one all-gather per step, however many microbatches."""
        mode = self.cfg.parallel.data_parallel if isinstance(part, FSDPModule) else None
        if mode in ("zero1", "ddp"):
            part.set_requires_gradient_sync(last)
        if mode == "zero1":
            part.set_reshard_after_backward(last)

    def schedule_loss(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """The loss of one microbatch under a pipeline schedule, which divides the gradients by the
        number of microbatches (``SCHEDULE_SCALES_GRADS``)."""
        return cross_entropy_loss(logits, targets)

    SCHEDULE_SCALES_GRADS = True

    def forward_backward(self, step: int) -> float:
        """Accumulate the gradient of this rank's share of the global batch of ``step`` in ``n_microbatches``
        microbatches; returns the mean loss of the whole global batch (the same on every rank)."""
        inputs, targets = self.local_batch(step)
        autocast, loss_ctx = self._contexts()
        n = self.n_microbatches
        local = torch.zeros((), device=self.device)
        with loss_ctx:
            if self.schedule is not None:
                losses: list[torch.Tensor] = []
                with autocast:
                    self.schedule.step(*([inputs] if self.has_first else []), target=targets if self.has_last else None,
                                       losses=losses)
                if self.has_last:
                    local = torch.stack([_local_value(loss) for loss in losses]).sum() / n
            else:
                part = self.parts[0]
                for m, (x, y) in enumerate(zip(inputs.chunk(n), targets.chunk(n))):
                    self._sync_only_at_last(part, m == n - 1)
                    with autocast:
                        loss = cross_entropy_loss(part(x), y) / n
                    loss.backward()
                    local += _local_value(loss)
        # one rank of each pipeline holds its loss (the last stage's, tp rank 0): summed, then averaged over dp
        holds_loss = self.has_last and self.mesh.tp_rank == 0
        return float(sum_over_ranks(local if holds_loss else torch.zeros_like(local))) / self.cfg.parallel.dp

    def train_step(self) -> dict:
        step, s, sp = self.state.step, self.state, self.cfg.spikes
        factor = self.set_lr(step)
        o = self.cfg.optimizer
        lr, lr_matrix = o.lr_vector * factor, o.lr_matrix / self.model_cfg.width_mult * factor
        loss = self.forward_backward(step)
        grad_norm = clip_grad_norm_([p for part in self.parts for p in part.parameters()], self.cfg.optimizer.grad_clip,
                                    self.pp_group)
        reason = None
        if not math.isfinite(loss) or not math.isfinite(grad_norm):
            reason = "nan"
        elif s.loss_ema is not None and s.accepted_steps >= sp.warmup_steps and loss > sp.factor * s.loss_ema:
            reason = "spike"
        if reason is None:
            for optimizer in self.optimizers:
                optimizer.step()
            s.accepted_steps += 1
            s.skipped_consecutive = 0
            s.loss_ema = loss if s.loss_ema is None else sp.ema * s.loss_ema + (1 - sp.ema) * loss
        else:
            s.skipped_total += 1
            s.skipped_consecutive += 1
            if self.rank == 0:
                log.warning("step %d skipped (%s): loss %.4g, gradient norm %.4g", step, reason, loss, grad_norm)
        for optimizer in self.optimizers:
            optimizer.zero_grad(set_to_none=True)
        s.step += 1
        s.tokens += self.cfg.global_batch_tokens
        if s.skipped_consecutive >= sp.max_consecutive or s.skipped_total >= sp.max_total:
            raise TrainingStopped(f"{s.skipped_consecutive} steps skipped in a row, {s.skipped_total} in all: stopping "
                                  f"(last good checkpoint under {self.out / CHECKPOINT_DIR})")
        return {"step": s.step, "loss": loss, "grad_norm": grad_norm, "lr": lr, "lr_matrix": lr_matrix, "skipped": reason}

    def mfu(self, tokens_per_s: float) -> float | None:
        """Model FLOPs utilisation of all ranks at ``tokens_per_s``; None when the device's peak is not known."""
        if self.peak is None:
            return None
        return tokens_per_s * self.flops_per_token / (self.peak.flops * self.world_size)

    # --- validation -------------------------------------------------------------------------------

    def validate(self) -> dict[str, dict]:
        """Held-out bits per byte; every rank runs it in step, on the logits gathered to every rank."""
        return bits_per_byte(FullLogits(self), self.valid, self.cfg.seq_len, self.cfg.micro_batch_size, self.device,
                             max_tokens=self.cfg.eval_tokens, token_bytes=self.token_bytes)

    @torch.no_grad()
    def full_logits(self, tokens: torch.Tensor) -> torch.Tensor:
        """Float32 logits of ``tokens`` (at most ``micro_batch_size x seq_len``) on every rank: gathered over
        TP ranks and sent from the last pipeline stage to every rank. Evaluation is the one place the full
        logits exist (``bits_per_byte`` needs them).

        Tokens are padded at the end (causal attention: padding never reaches the real positions; the
        padding's logits are dropped): to ``micro_batch_size x seq_len`` under a pipeline, whose stages'
        buffers have one shape, and to a multiple of tp under sequence parallelism, which splits the
        sequence evenly."""
        p = self.cfg.parallel
        rows, length = tokens.shape
        if self.eval_schedule is not None:
            shape = (self.cfg.micro_batch_size, self.cfg.seq_len)
        elif p.tp > 1 and p.sequence_parallel:
            shape = (rows, -(-length // p.tp) * p.tp)
        else:
            shape = (rows, length)
        padded = torch.zeros(shape, dtype=tokens.dtype, device=tokens.device)
        padded[:rows, :length] = tokens
        autocast, _ = self._contexts()
        if self.eval_schedule is None:
            with autocast:
                logits = self.parts[0](padded)
            logits = logits.full_tensor() if isinstance(logits, DTensor) else logits
            return logits[:rows, :length].float()
        out = torch.empty(*shape, self.model_cfg.embedding_rows, dtype=torch.float32, device=self.device)
        with autocast:
            logits = self.eval_schedule.eval(*([padded] if self.has_first else []))
        if self.has_last:
            out.copy_(logits.full_tensor() if isinstance(logits, DTensor) else logits)
        dist.broadcast(out, group=self.pp_group, group_src=p.pp - 1)
        return out[:rows, :length]

    # --- the loop ---------------------------------------------------------------------------------

    def run(self) -> list[dict]:
        """Train to ``max_steps``; rank 0 logs and writes the metrics, every rank takes part in each step,
        validation and checkpoint."""
        cfg, main = self.run_cfg, self.rank == 0
        p = self.cfg.parallel
        metrics = MetricsLog(self.out, self.state.step, *self.EVAL_METRIC) if main else None
        peak = f"peak {self.peak.flops:.3g} FLOP/s ({self.peak.source})" if self.peak else "no peak known, no MFU"
        log.info("model: %s parameters, %.3g FLOPs/token; %d micro-batches of %d x %d tokens per step; %s"
                 "; %d rank(s): dp %d x pp %d x tp %d", f"{self.n_parameters:,}", self.flops_per_token, self.n_microbatches,
                 cfg.global_batch_samples // (p.dp * self.n_microbatches), cfg.seq_len, peak, self.world_size, p.dp, p.pp, p.tp)
        history = []
        window_start, window_tokens = time.perf_counter(), 0
        try:
            if self.EVAL_AT_START and self.state.step == 0:
                bpb = self.validate()
                if main:
                    metrics.write_eval(0, bpb)
            while self.state.step < cfg.max_steps:
                if self.stages_done < len(cfg.growth) and self.state.step == cfg.growth[self.stages_done].at_step:
                    paused = time.perf_counter()
                    event = self.grow()
                    if main:
                        metrics.write_growth(event)
                    window_start += time.perf_counter() - paused
                self._set_masks()
                row = self.train_step()
                window_tokens += cfg.global_batch_tokens
                step = self.state.step
                if step % cfg.log_interval == 0 or step == cfg.max_steps:
                    elapsed = time.perf_counter() - window_start
                    tps = window_tokens / elapsed
                    row.update(tokens=self.state.tokens, tokens_per_s=tps, skipped_total=self.state.skipped_total)
                    mfu = self.mfu(tps)
                    if mfu is not None:  # absent, not 0, on a device whose peak is not known
                        row["mfu"] = mfu
                    history.append(row)
                    if main:
                        metrics.write(row)
                        eta = (cfg.max_steps - step) * elapsed / max(1, window_tokens // cfg.global_batch_tokens)
                        mfu_text = "" if mfu is None else f"MFU {100 * mfu:.1f}%{' (est.)' if self.peak.estimate else ''} | "
                        print(f"step {step}/{cfg.max_steps} | loss {row['loss']:.4f} | grad norm {row['grad_norm']:.3f} | "
                              f"lr {row['lr']:.3g} | {tps:,.0f} tok/s | {mfu_text}"
                              f"skipped {self.state.skipped_total} | eta {eta:.0f}s", flush=True)
                    window_start, window_tokens = time.perf_counter(), 0
                paused = time.perf_counter()  # validation and checkpoints are not training time
                if cfg.eval_interval and step % cfg.eval_interval == 0 and step < cfg.max_steps:
                    bpb = self.validate()
                    if main:
                        metrics.write_eval(step, bpb)
                if step % cfg.checkpoint_interval == 0 or step == cfg.max_steps:
                    self.save()
                window_start += time.perf_counter() - paused
            bpb = self.validate()
            if main:
                metrics.write_eval(self.state.step, bpb)
        finally:
            if main:
                metrics.close()
        return history


class FullLogits(nn.Module):
    """``Trainer.full_logits`` as a module (``bits_per_byte`` calls ``model(tokens)`` and ``model.eval()``)."""

    def __init__(self, trainer: Trainer):
        super().__init__()
        self.trainer = trainer
        self.parts = nn.ModuleList(trainer.parts)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.trainer.full_logits(tokens)


class MetricsLog:
    """``metrics.jsonl`` (one JSON object per logged step or validation), TensorBoard scalars, and a
    ``loss.png`` curve. On resume, records of steps after the checkpoint are dropped first, so the file
    holds one curve."""

    def __init__(self, out: Path, start_step: int, metric: str = "bpb", label: str = "bits per byte"):
        self.metric, self.label = metric, label
        self.path = out / METRICS_FILE
        kept = []
        if self.path.exists():  # a growth at the resume step happens again
            kept = [line for line in self.path.read_text().splitlines() if line and
                    (json.loads(line)["step"] < start_step or (json.loads(line)["step"] == start_step and "growth" not in json.loads(line)))]
        self.path.write_text("".join(line + "\n" for line in kept))
        self.file = self.path.open("a")
        from torch.utils.tensorboard import SummaryWriter

        self.tb = SummaryWriter(str(out / "tensorboard"), purge_step=start_step + 1 if start_step else None)

    def write(self, row: dict) -> None:
        self.file.write(json.dumps(row) + "\n")
        self.file.flush()
        for key in ("loss", "grad_norm", "lr", "lr_matrix", "tokens_per_s", "mfu"):
            if key in row:
                self.tb.add_scalar(f"train/{key}", row[key], row["step"])

    def write_eval(self, step: int, bpb: dict[str, dict]) -> None:
        self.file.write(json.dumps({"step": step, "eval": {d: r[self.metric] for d, r in bpb.items()}}) + "\n")
        self.file.flush()
        for domain, r in bpb.items():
            self.tb.add_scalar(f"valid_{self.metric}/{domain}", r[self.metric], step)
        print(f"step {step} validation {self.label}: " + ", ".join(f"{d} {r[self.metric]:.4f}" for d, r in bpb.items()), flush=True)

    def write_growth(self, event: dict) -> None:
        self.file.write(json.dumps(event) + "\n")
        self.file.flush()
        g = event["growth"]
        pairs = ", ".join(f"{d} {g['bpb_before'][d]:.5f} -> {g['bpb_after'][d]:.5f}" for d in g["bpb_after"])
        print(f"step {event['step']} growth to {g['to']} ({g['parameters']:,} parameters), held-out bits per byte "
              f"before -> after: {pairs}", flush=True)

    def close(self) -> None:
        self.file.close()
        self.tb.close()
        plot_curves(self.path, self.path.with_name("loss.png"), self.label)


def plot_curves(metrics_path: Path, png: Path, label: str = "bits per byte") -> None:
    """Training loss and the held-out metric (bits per byte, or an SFT run's loss) against step."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [json.loads(line) for line in metrics_path.read_text().splitlines() if line]
    train = [r for r in rows if "loss" in r]
    evals = [r for r in rows if "eval" in r]
    growths = [r for r in rows if "growth" in r]
    if not train:
        return
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    axes[0].plot([r["step"] for r in train], [r["loss"] for r in train])
    axes[0].set(xlabel="step", ylabel="training loss (nats/token)", title="training loss")
    for domain in sorted({d for r in evals for d in r["eval"]}):
        pts = [(r["step"], r["eval"][domain]) for r in evals if domain in r["eval"]]
        axes[1].plot(*zip(*pts), marker="o", label=domain)
    axes[1].set(xlabel="step", ylabel=label, title=f"held-out {label}")
    for ax in axes:
        for r in growths:
            ax.axvline(r["step"], color="grey", linestyle=":", linewidth=1)
    if growths:
        axes[0].text(0.99, 0.98, "dotted: growth steps", transform=axes[0].transAxes, ha="right", va="top", fontsize=7)
    if evals:
        axes[1].legend(fontsize=7)
    fig.tight_layout()
    tmp = png.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(png)


def dry_run(cfg: TrainConfig) -> int:
    """Print the layout report of the model at each stage of the run (its growth stages' models at their
    layouts, with the memory during each ramp); 2 when a layout cannot run. The vocabulary is the shards'
    when they exist (the model config's otherwise), so it works for a 52B or 1T config on a laptop."""
    manifest = Path(cfg.data) / "manifest.json"
    vocab = json.loads(manifest.read_text())["tokenizer"]["vocab_size"] if manifest.is_file() else None
    models, layouts = planned_stages(cfg, vocab)
    errors = []
    for i, (model_cfg, layout) in enumerate(zip(models, layouts)):
        if i:
            stage = cfg.growth[i - 1]
            print(f"\n=== growth.{i - 1}: at step {stage.at_step:,} to {stage.model}, ramp {stage.ramp_steps} steps, "
                  f"depth rule {stage.depth_rule} ===")
            try:
                check_growth(models[i - 1], model_cfg)
            except ValueError as exc:
                errors.append(f"growth.{i - 1}.model: {exc}")
                continue
        print(dry_run_report(model_cfg, cfg.model_copy(update={"model": cfg.growth[i - 1].model}) if i else cfg, layout))
        stage_errors = layout_errors(model_cfg, cfg, layout)
        errors += stage_errors
        if i and not stage_errors:
            print("\n".join(ramp_memory_lines(models[i - 1], model_cfg, cfg, layout)))
    for error in errors:
        print(f"error: {error}", file=sys.stderr)
    return 2 if errors else 0


PARALLEL_FLAGS = {"tp": int, "pp": int, "dp": int, "pp_schedule": str, "stages_per_rank": int, "microbatches": int,
                  "data_parallel": str}


def run(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="train.pretrain", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 2)[2])
    p.add_argument("--config", required=True, help="run config (configs/train/*.yaml)")
    p.add_argument("--resume", default="auto", help="auto: newest complete checkpoint of the run (default); none; or a checkpoint dir")
    p.add_argument("--max-steps", type=int, default=None, help="override max_steps")
    p.add_argument("--out", default=None, help="override the run directory")
    for name, kind in PARALLEL_FLAGS.items():
        p.add_argument(f"--{name.replace('_', '-')}", type=kind, default=None, help=f"override parallel.{name}")
    p.add_argument("--dry-run", action="store_true", help="print the layout, its checks and memory per GPU, and exit")
    args = p.parse_args(argv)
    rank = int(os.environ.get("RANK", "0"))
    logging.basicConfig(level=logging.INFO if rank == 0 else logging.WARNING,
                        format=f"%(asctime)s %(levelname)s %(name)s{f' [rank {rank}]' if rank else ''}: %(message)s")
    overrides = {k: v for k, v in (("max_steps", args.max_steps), ("out", args.out)) if v is not None}
    layout = {k: getattr(args, k) for k in PARALLEL_FLAGS if getattr(args, k) is not None}
    try:
        cfg = load_train_config(args.config, overrides)
        if layout:
            cfg = load_train_config(args.config, {**overrides, "parallel": {**cfg.parallel.model_dump(), **layout}})
        if args.dry_run:
            return dry_run(cfg)
        from datapipe.config import require_existing

        require_existing("data", Path(cfg.data) / "manifest.json", args.config, "tokenized shards (manifest.json)")
        Trainer(cfg, resume=args.resume).run()
        return 0
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


main = main_of(run, ckpt.CheckpointError, TrainingStopped, FileNotFoundError, ShardVerificationError)


if __name__ == "__main__":
    raise SystemExit(main())
