"""Pre-training: the Tele-FLM model on the tokenize stage's shards, with muP AdamW, checkpoints and validation.

    python -m train.pretrain --config configs/train/demo.yaml [--resume auto|none|CHECKPOINT_DIR] [--max-steps N]

Each optimizer step takes ``global_batch_tokens`` tokens: ``global_batch_samples`` samples of
``seq_len + 1`` tokens (``train.data.TokenSamples``: step ``s`` reads samples ``[s * G, (s + 1) * G)``, so the
data position is the step), in micro-batches whose gradients accumulate. The learning rate of every
muP group follows ``train.schedule.lr_factor``. A step whose loss or gradient norm is not finite, or whose
loss spikes above the running mean, is skipped and counted; too many stop the run. Every
``log_interval`` steps a line goes to the console, ``metrics.jsonl`` and TensorBoard (loss, gradient norm,
LR, tokens/s and MFU as defined in ``train.flops``); every ``eval_interval`` steps the held-out bits per
byte per domain; every ``checkpoint_interval`` steps an atomic checkpoint (``train.checkpoint``), from
which ``--resume auto`` continues bit-exactly on CPU.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from datapipe.config import ConfigError
from train import checkpoint as ckpt
from train import mup
from train.config import TrainConfig, load_train_config
from train.data import TokenSamples, valid_sets
from train.evaluate import bits_per_byte, manifest_tokenizer, token_byte_lengths
from train.flops import flops_per_token, peak_flops
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


def resolve_device(cfg: TrainConfig) -> tuple[torch.device, torch.dtype | None]:
    """The device, and the autocast dtype (None: plain fp32)."""
    if cfg.device == "cuda" or (cfg.device == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise ConfigError("device: cuda asked for, but torch sees no GPU")
        device = torch.device("cuda", torch.cuda.current_device())
    else:
        device = torch.device("cpu")
    if cfg.dtype == "bfloat16" or (cfg.dtype == "auto" and device.type == "cuda"):
        return device, torch.bfloat16
    return device, None


class Trainer:
    """The model, optimizer, data and state of one run; ``run()`` trains to ``max_steps``."""

    def __init__(self, cfg: TrainConfig, resume: str = "auto"):
        self.cfg = cfg
        self.out = Path(cfg.out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.device, self.autocast = resolve_device(cfg)
        manifest = json.loads((Path(cfg.data) / "manifest.json").read_text())
        self.model_cfg = cfg.build_model_config(manifest["tokenizer"]["vocab_size"])
        torch.manual_seed(cfg.seed)
        self.model = Transformer(self.model_cfg).to(self.device)
        o = cfg.optimizer
        self.optimizer = mup.build_optimizer(self.model, self.model_cfg, lr=o.lr, betas=o.betas, eps=o.eps,
                                             weight_decay=o.weight_decay)
        self.data = TokenSamples(cfg.data, cfg.seq_len, split="train", seed=cfg.seed)
        self.valid = valid_sets(cfg.data)
        tokenizer = manifest_tokenizer(manifest)  # exact bytes of a capped validation; apportioned without it
        self.token_bytes = token_byte_lengths(tokenizer) if tokenizer is not None else None
        self.state = RunState()
        self.micro_steps = cfg.global_batch_samples // cfg.micro_batch_size
        self.flops_per_token = flops_per_token(self.model, self.model_cfg.n_layers, self.model_cfg.dim, cfg.seq_len)
        self.peak, self.peak_source = peak_flops(self.device, self.autocast or torch.float32)
        self._resume(resume)

    # --- checkpoints ------------------------------------------------------------------------------

    def trainer_state(self) -> dict:
        return {"state": asdict(self.state), "data": self.data.fingerprint(),
                "config": {"run": self.cfg.model_dump(), "model": self.model_cfg.model_dump()}}

    def save(self) -> Path:
        path = ckpt.save_checkpoint(self.out / CHECKPOINT_DIR, self.state.step, self.model, self.optimizer,
                                    self.trainer_state(), keep_last=self.cfg.keep_checkpoints)
        log.info("checkpoint %s", path)
        return path

    def _resume(self, resume: str) -> None:
        if resume == "none":
            return
        path = ckpt.latest_checkpoint(self.out / CHECKPOINT_DIR) if resume == "auto" else Path(resume)
        if path is None:
            log.info("no checkpoint under %s: starting from scratch", self.out / CHECKPOINT_DIR)
            return
        restored = ckpt.load_checkpoint(path, self.model, self.optimizer)
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
        for group in self.optimizer.param_groups:
            group["lr"] = o.lr * group["lr_multiplier"] * factor
        return o.lr * factor

    def micro_batches(self, step: int):
        g, mb = self.cfg.global_batch_samples, self.cfg.micro_batch_size
        for m in range(self.micro_steps):
            start = step * g + m * mb
            tokens = torch.from_numpy(self.data.batch(range(start, start + mb))).to(self.device)
            yield tokens[:, :-1], tokens[:, 1:]

    def forward_backward(self, step: int) -> float:
        """Accumulate the gradient of one global batch; returns its mean loss."""
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
        params = [p for p in self.model.parameters() if p.grad is not None]
        clip = self.cfg.optimizer.grad_clip
        grad_norm = float(torch.nn.utils.clip_grad_norm_(params, clip if clip else float("inf")))
        reason = None
        if not math.isfinite(loss) or not math.isfinite(grad_norm):
            reason = "nan"
        elif s.loss_ema is not None and s.accepted_steps >= sp.warmup_steps and loss > sp.factor * s.loss_ema:
            reason = "spike"
        if reason is None:
            self.optimizer.step()
            s.accepted_steps += 1
            s.skipped_consecutive = 0
            s.loss_ema = loss if s.loss_ema is None else sp.ema * s.loss_ema + (1 - sp.ema) * loss
        else:
            s.skipped_total += 1
            s.skipped_consecutive += 1
            log.warning("step %d skipped (%s): loss %.4g, gradient norm %.4g", step, reason, loss, grad_norm)
        self.optimizer.zero_grad(set_to_none=True)
        s.step += 1
        s.tokens += self.cfg.global_batch_tokens
        if s.skipped_consecutive >= sp.max_consecutive or s.skipped_total >= sp.max_total:
            raise TrainingStopped(f"{s.skipped_consecutive} steps skipped in a row, {s.skipped_total} in all: stopping "
                                  f"(last good checkpoint under {self.out / CHECKPOINT_DIR})")
        return {"step": s.step, "loss": loss, "grad_norm": grad_norm, "lr": lr, "skipped": reason}

    # --- validation -------------------------------------------------------------------------------

    def validate(self) -> dict[str, dict]:
        return bits_per_byte(self.model, self.valid, self.cfg.seq_len, self.cfg.micro_batch_size, self.device,
                             max_tokens=self.cfg.eval_tokens, token_bytes=self.token_bytes)

    # --- the loop ---------------------------------------------------------------------------------

    def run(self) -> list[dict]:
        cfg = self.cfg
        metrics = MetricsLog(self.out, self.state.step)
        log.info("model: %s parameters, %.3g FLOPs/token; %d micro-batches of %d x %d tokens per step; peak %.3g FLOP/s (%s)",
                 f"{sum(p.numel() for p in self.model.parameters()):,}", self.flops_per_token, self.micro_steps,
                 cfg.micro_batch_size, cfg.seq_len, self.peak, self.peak_source)
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
                    row.update(tokens=self.state.tokens, tokens_per_s=tps, mfu=tps * self.flops_per_token / self.peak,
                               skipped_total=self.state.skipped_total)
                    metrics.write(row)
                    history.append(row)
                    eta = (cfg.max_steps - step) * elapsed / max(1, window_tokens // cfg.global_batch_tokens)
                    print(f"step {step}/{cfg.max_steps} | loss {row['loss']:.4f} | grad norm {row['grad_norm']:.3f} | "
                          f"lr {row['lr']:.3g} | {tps:,.0f} tok/s | MFU {100 * row['mfu']:.1f}% | "
                          f"skipped {self.state.skipped_total} | eta {eta:.0f}s", flush=True)
                    window_start, window_tokens = time.perf_counter(), 0
                if cfg.eval_interval and step % cfg.eval_interval == 0 and step < cfg.max_steps:
                    metrics.write_eval(step, self.validate())
                if step % cfg.checkpoint_interval == 0 or step == cfg.max_steps:
                    self.save()
            metrics.write_eval(self.state.step, self.validate())
        finally:
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


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="train.pretrain", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 2)[2])
    p.add_argument("--config", required=True, help="run config (configs/train/*.yaml)")
    p.add_argument("--resume", default="auto", help="auto: newest complete checkpoint of the run (default); none; or a checkpoint dir")
    p.add_argument("--max-steps", type=int, default=None, help="override max_steps")
    p.add_argument("--out", default=None, help="override the run directory")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    overrides = {k: v for k, v in (("max_steps", args.max_steps), ("out", args.out)) if v is not None}
    try:
        cfg = load_train_config(args.config, overrides)
        trainer = Trainer(cfg, resume=args.resume)
        trainer.run()
    except (ConfigError, ckpt.CheckpointError, TrainingStopped, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
