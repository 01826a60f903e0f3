"""Pre-training: the Tele-FLM model on the tokenize stage's shards, with muP AdamW, checkpoints and validation.

    python -m train.pretrain --config configs/train/demo.yaml [--resume auto|none|CHECKPOINT_DIR] [--max-steps N]
    torchrun --standalone --nproc-per-node 4 -m train.pretrain --config configs/train/demo.yaml --tp 2 --pp 2
    python -m train.pretrain --config configs/train/52b.yaml --dry-run

Each optimizer step takes ``global_batch_tokens`` tokens: ``global_batch_samples`` samples of
``seq_len + 1`` tokens (``train.data.TokenSamples``: step ``s`` reads samples ``[s * G, (s + 1) * G)``, so the
data position is the step), in micro-batches whose gradients accumulate. The learning rate of every
muP group follows ``train.schedule.lr_factor``. A step whose loss or gradient norm is not finite, or whose
loss spikes above the running mean, is skipped and counted; too many stop the run. Every
``log_interval`` steps a line goes to the console, ``metrics.jsonl`` and TensorBoard (loss, gradient norm,
LR, tokens/s and MFU as defined in ``train.flops``); every ``eval_interval`` steps the held-out bits per
byte per domain; every ``checkpoint_interval`` steps an atomic checkpoint (``train.checkpoint``), from
which ``--resume auto`` continues bit-exactly on CPU.

Under torchrun with several processes (or a ``parallel:`` layout of several ranks) the same loop runs on
``train.parallelize.ParallelModel``: data-parallel rank ``r`` of ``dp`` reads samples
``[s * G + r * G / dp, s * G + (r + 1) * G / dp)`` (the same samples as one process), each pipeline
runs them in the layout's microbatches, the loss and gradient norm are reduced over all ranks, so that
every rank takes the same decisions; rank 0 logs, validates the gathered logits and writes metrics;
checkpoints are distributed (``train.dist_checkpoint``) and resume at any layout. ``--dry-run`` prints the
layout, its checks and the memory per GPU (``train.layout``) without torchrun or allocating the model.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.distributed as dist

from datapipe.config import ConfigError
from train import checkpoint as ckpt
from train import dist_checkpoint, mup, parallelize
from train.config import TrainConfig, load_model_config, load_train_config
from train.data import TokenSamples, valid_sets
from train.evaluate import bits_per_byte, manifest_tokenizer, token_byte_lengths
from train.flops import flops_per_token, peak_flops
from train.layout import dry_run_report, layout_errors
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


class Trainer:
    """The model, optimizer, data and state of one run; ``run()`` trains to ``max_steps``.

    One process: ``model`` and ``optimizer``. Several (``parallel``, a ``ParallelModel``): this rank's
    pipeline stages and their optimizers. ``parts`` and ``optimizers`` are the lists either way."""

    def __init__(self, cfg: TrainConfig, resume: str = "auto", parallel: bool | None = None):
        """``parallel``: take the parallel path (None: under torchrun with several ranks or for a layout
        of several; True also for one rank, e.g. to measure the parallel path's overhead on one GPU)."""
        self.cfg = cfg
        self.out = Path(cfg.out)
        manifest = json.loads((Path(cfg.data) / "manifest.json").read_text())
        self.model_cfg = cfg.build_model_config(manifest["tokenizer"]["vocab_size"])
        errors = layout_errors(self.model_cfg, cfg)
        if errors:
            raise ConfigError("the parallel layout does not fit the model or the batch:\n  " + "\n  ".join(errors))
        if parallel is None:
            parallel = parallelize.is_parallel(cfg.parallel)
        mesh = parallelize.init_mesh(cfg.parallel, device_type(cfg)) if parallel else None
        self.rank, self.world_size = (dist.get_rank(), dist.get_world_size()) if mesh is not None else (0, 1)
        self.device, self.autocast = resolve_device(cfg)
        if self.rank == 0:
            self.out.mkdir(parents=True, exist_ok=True)
        o = cfg.optimizer
        if mesh is None:
            torch.manual_seed(cfg.seed)
            with torch.device("meta"):
                self.model = Transformer(self.model_cfg)
            self.model.to_empty(device=self.device)
            self.model.init_weights(self.device)
            self.optimizer = mup.build_optimizer(self.model, self.model_cfg, lr=o.lr, betas=o.betas, eps=o.eps,
                                                 weight_decay=o.weight_decay)
            self.parallel = None
            self.parts, self.optimizers = [self.model], [self.optimizer]
        else:
            self.parallel = parallelize.ParallelModel(self.model_cfg, cfg, mesh, self.device, self.autocast)
            self.parts, self.optimizers = self.parallel.parts, self.parallel.optimizers
        self.data = TokenSamples(cfg.data, cfg.seq_len, split="train", seed=cfg.seed)
        self.valid = valid_sets(cfg.data)
        tokenizer = manifest_tokenizer(manifest)  # exact bytes of a capped validation; apportioned without it
        self.token_bytes = token_byte_lengths(tokenizer) if tokenizer is not None else None
        self.state = RunState()
        self.micro_steps = cfg.global_batch_samples // cfg.micro_batch_size
        with torch.device("meta"):
            whole = Transformer(self.model_cfg)
        self.n_parameters = sum(p.numel() for p in whole.parameters())
        self.flops_per_token = flops_per_token(whole, self.model_cfg.n_layers, self.model_cfg.dim, cfg.seq_len)
        self.peak, self.peak_source = peak_flops(self.device, self.autocast or torch.float32)
        self._resume(resume)

    # --- checkpoints ------------------------------------------------------------------------------

    def trainer_state(self) -> dict:
        return {"state": asdict(self.state), "data": self.data.fingerprint(),
                "config": {"run": self.cfg.model_dump(), "model": self.model_cfg.model_dump()}}

    def save(self) -> Path:
        root, step, keep = self.out / CHECKPOINT_DIR, self.state.step, self.cfg.keep_checkpoints
        if self.parallel is None:
            path = ckpt.save_checkpoint(root, step, self.model, self.optimizer, self.trainer_state(), keep_last=keep)
        else:
            path = dist_checkpoint.save_checkpoint(root, step, self.parts, self.optimizers, self.trainer_state(), keep_last=keep)
        log.info("checkpoint %s", path)
        return path

    def _resume(self, resume: str) -> None:
        """Continue from a checkpoint of either format, written at any layout (``train.dist_checkpoint``)."""
        if resume == "none":
            return
        root = self.out / CHECKPOINT_DIR
        path = dist_checkpoint.latest_checkpoint(root) if resume == "auto" else Path(resume)
        if path is None:
            log.info("no checkpoint under %s: starting from scratch", root)
            return
        if self.parallel is None and dist_checkpoint.checkpoint_format(path) != dist_checkpoint.FORMAT:
            restored = ckpt.load_checkpoint(path, self.model, self.optimizer)
        else:
            restored = dist_checkpoint.load_checkpoint(path, self.parts, self.optimizers)
        saved = restored.trainer
        if saved["data"] != self.data.fingerprint():
            raise ckpt.CheckpointError(f"{path}: made on other data or another seed/seq_len ({saved['data']})")
        if saved["config"]["model"] != self.model_cfg.model_dump():
            raise ckpt.CheckpointError(f"{path}: made for another model config")
        self.state = RunState(**saved["state"])
        log.info("resumed from %s at step %d", path, self.state.step)

    # --- one optimizer step -----------------------------------------------------------------------

    def set_lr(self, step: int) -> float:
        o = self.cfg.optimizer
        factor = lr_factor(step, warmup_steps=o.warmup_steps, decay_steps=o.decay_steps or self.cfg.max_steps,
                           min_lr_ratio=o.min_lr / o.lr)
        for optimizer in self.optimizers:
            for group in optimizer.param_groups:
                group["lr"] = o.lr * group["lr_multiplier"] * factor
        return o.lr * factor

    def micro_batches(self, step: int):
        g, mb = self.cfg.global_batch_samples, self.cfg.micro_batch_size
        for m in range(self.micro_steps):
            start = step * g + m * mb
            tokens = torch.from_numpy(self.data.batch(range(start, start + mb))).to(self.device)
            yield tokens[:, :-1], tokens[:, 1:]

    def local_batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """This data-parallel rank's share of the global batch of ``step``: inputs and targets."""
        g, dp = self.cfg.global_batch_samples, self.cfg.parallel.dp
        rows = g // dp
        start = step * g + self.parallel.dp_rank * rows
        tokens = torch.from_numpy(self.data.batch(range(start, start + rows))).to(self.device)
        return tokens[:, :-1], tokens[:, 1:]

    def forward_backward(self, step: int) -> float:
        """Accumulate the gradient of one global batch; returns its mean loss."""
        if self.parallel is not None:
            return self.parallel.forward_backward(*self.local_batch(step))
        total = torch.zeros((), device=self.device)
        for inputs, targets in self.micro_batches(step):
            with torch.autocast(self.device.type, dtype=self.autocast, enabled=self.autocast is not None):
                loss = cross_entropy_loss(self.model(inputs), targets) / self.micro_steps
            loss.backward()
            total += loss.detach()
        return float(total)

    def train_step(self) -> dict:
        step, s, sp = self.state.step, self.state, self.cfg.spikes
        lr = self.set_lr(step)
        loss = self.forward_backward(step)
        clip = self.cfg.optimizer.grad_clip
        if self.parallel is None:
            params = [p for p in self.model.parameters() if p.grad is not None]
            grad_norm = float(torch.nn.utils.clip_grad_norm_(params, clip if clip else float("inf")))
        else:
            grad_norm = self.parallel.clip_grad_norm_(clip)
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
        return {"step": s.step, "loss": loss, "grad_norm": grad_norm, "lr": lr, "skipped": reason}

    # --- validation -------------------------------------------------------------------------------

    def validate(self) -> dict[str, dict]:
        """Held-out bits per byte; in a parallel run every rank runs it on the gathered logits, in step."""
        batch = self.cfg.micro_batch_size
        model = self.model if self.parallel is None else self.parallel.eval_model(batch, self.cfg.seq_len)
        return bits_per_byte(model, self.valid, self.cfg.seq_len, batch, self.device,
                             max_tokens=self.cfg.eval_tokens, token_bytes=self.token_bytes)

    # --- the loop ---------------------------------------------------------------------------------

    def run(self) -> list[dict]:
        """Train to ``max_steps``; rank 0 logs and writes the metrics, every rank takes part in each step,
        validation and checkpoint."""
        cfg, main = self.cfg, self.rank == 0
        metrics = MetricsLog(self.out, self.state.step) if main else None
        log.info("model: %s parameters, %.3g FLOPs/token; %d micro-batches of %d x %d tokens per step; peak %.3g FLOP/s (%s)"
                 "; %d rank(s), layout %s", f"{self.n_parameters:,}", self.flops_per_token, self.micro_steps,
                 cfg.micro_batch_size, cfg.seq_len, self.peak, self.peak_source, self.world_size,
                 cfg.parallel.model_dump() if self.parallel is not None else "one process")
        history = []
        window_start, window_tokens = time.perf_counter(), 0
        try:
            while self.state.step < cfg.max_steps:
                row = self.train_step()
                window_tokens += cfg.global_batch_tokens
                step = self.state.step
                if step % cfg.log_interval == 0 or step == cfg.max_steps:
                    elapsed = time.perf_counter() - window_start
                    tps = window_tokens / elapsed
                    mfu = tps * self.flops_per_token / (self.peak * self.world_size)
                    row.update(tokens=self.state.tokens, tokens_per_s=tps, mfu=mfu, skipped_total=self.state.skipped_total)
                    history.append(row)
                    if main:
                        metrics.write(row)
                        eta = (cfg.max_steps - step) * elapsed / max(1, window_tokens // cfg.global_batch_tokens)
                        print(f"step {step}/{cfg.max_steps} | loss {row['loss']:.4f} | grad norm {row['grad_norm']:.3f} | "
                              f"lr {row['lr']:.3g} | {tps:,.0f} tok/s | MFU {100 * row['mfu']:.1f}% | "
                              f"skipped {self.state.skipped_total} | eta {eta:.0f}s", flush=True)
                    window_start, window_tokens = time.perf_counter(), 0
                if cfg.eval_interval and step % cfg.eval_interval == 0 and step < cfg.max_steps:
                    bpb = self.validate()
                    if main:
                        metrics.write_eval(step, bpb)
                if step % cfg.checkpoint_interval == 0 or step == cfg.max_steps:
                    self.save()
            bpb = self.validate()
            if main:
                metrics.write_eval(self.state.step, bpb)
        finally:
            if main:
                metrics.close()
        return history


class MetricsLog:
    """``metrics.jsonl`` (one JSON object per logged step or validation), TensorBoard scalars, and a
    ``loss.png`` curve. On resume, records of steps after the checkpoint are dropped first, so the file
    holds one curve."""

    def __init__(self, out: Path, start_step: int):
        self.path = out / METRICS_FILE
        kept = []
        if self.path.exists():
            kept = [line for line in self.path.read_text().splitlines() if line and json.loads(line)["step"] <= start_step]
        self.path.write_text("".join(line + "\n" for line in kept))
        self.file = self.path.open("a")
        from torch.utils.tensorboard import SummaryWriter

        self.tb = SummaryWriter(str(out / "tensorboard"), purge_step=start_step + 1 if start_step else None)

    def write(self, row: dict) -> None:
        self.file.write(json.dumps(row) + "\n")
        self.file.flush()
        for key in ("loss", "grad_norm", "lr", "tokens_per_s", "mfu"):
            self.tb.add_scalar(f"train/{key}", row[key], row["step"])

    def write_eval(self, step: int, bpb: dict[str, dict]) -> None:
        self.file.write(json.dumps({"step": step, "eval": {d: r["bpb"] for d, r in bpb.items()}}) + "\n")
        self.file.flush()
        for domain, r in bpb.items():
            self.tb.add_scalar(f"valid_bpb/{domain}", r["bpb"], step)
        print(f"step {step} validation bits per byte: " + ", ".join(f"{d} {r['bpb']:.3f}" for d, r in bpb.items()), flush=True)

    def close(self) -> None:
        self.file.close()
        self.tb.close()
        plot_curves(self.path, self.path.with_name("loss.png"))


def plot_curves(metrics_path: Path, png: Path) -> None:
    """Training loss and validation bits per byte against step."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [json.loads(line) for line in metrics_path.read_text().splitlines() if line]
    train = [r for r in rows if "loss" in r]
    evals = [r for r in rows if "eval" in r]
    if not train:
        return
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    axes[0].plot([r["step"] for r in train], [r["loss"] for r in train])
    axes[0].set(xlabel="step", ylabel="training loss (nats/token)", title="training loss")
    for domain in sorted({d for r in evals for d in r["eval"]}):
        pts = [(r["step"], r["eval"][domain]) for r in evals if domain in r["eval"]]
        axes[1].plot(*zip(*pts), marker="o", label=domain)
    axes[1].set(xlabel="step", ylabel="bits per byte", title="held-out bits per byte")
    if evals:
        axes[1].legend(fontsize=7)
    fig.tight_layout()
    tmp = png.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(png)


def dry_run(cfg: TrainConfig) -> int:
    """Print the layout report; 2 when the layout cannot run. The vocabulary is the shards' when they
    exist (the model config's otherwise), so it works for a 52B or 1T config on a laptop."""
    manifest = Path(cfg.data) / "manifest.json"
    vocab = json.loads(manifest.read_text())["tokenizer"]["vocab_size"] if manifest.is_file() else None
    model_cfg = cfg.build_model_config(vocab) if vocab else load_model_config(cfg.model)
    if model_cfg.max_seq_len < cfg.seq_len:
        model_cfg = model_cfg.with_changes(max_seq_len=cfg.seq_len)
    print(dry_run_report(model_cfg, cfg))
    errors = layout_errors(model_cfg, cfg)
    for error in errors:
        print(f"error: {error}", file=sys.stderr)
    return 2 if errors else 0


PARALLEL_FLAGS = {"tp": int, "pp": int, "dp": int, "pp_schedule": str, "stages_per_rank": int, "microbatches": int,
                  "data_parallel": str}


def main(argv: list[str] | None = None) -> int:
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
        trainer = Trainer(cfg, resume=args.resume)
        trainer.run()
    except (ConfigError, ckpt.CheckpointError, TrainingStopped, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
