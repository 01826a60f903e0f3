"""Training throughput: tokens/s and MFU of the real training step (``train.pretrain.Trainer``).

    python bench/bench_train.py [--steps 8] [--out out/bench]

CPU: a narrow Tele-FLM (the proxy's width, 4 layers, the 80k vocabulary) for a few steps, fp32, on
this machine's cores; MFU is against an estimated peak, the best of several 4096^3 fp32 matmuls on the
same cores (see ``train.flops``). GPU (when torch sees one): a ~1B configuration (16 layers x 2048, FFN 5,504,
context 4,096) in bf16 autocast, MFU against the data-sheet dense bf16 peak. Both go through the
trainer's own step (data reader, accumulation, clipping, muP AdamW), on shards of random tokens written
here, so nothing but the step is measured. Results: ``OUT/train.md`` and ``OUT/train.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from datapipe.indexed import write_indexed_dataset  # noqa: E402
from jobs.shards import Shard, TokenizeConfig, TokenizerInfo, build_manifest  # noqa: E402
from train.config import load_train_config  # noqa: E402
from train.pretrain import Trainer  # noqa: E402

VOCAB = 80_000
CASES = {
    "cpu": {"model": {"dim": 512, "n_layers": 4, "n_heads": 4, "head_dim": 128, "ffn_dim": 1344, "base_dim": 512},
            "seq_len": 512, "micro_batch_size": 2, "global_batch_tokens": 4096},
    "gpu": {"model": {"dim": 2048, "n_layers": 16, "n_heads": 16, "head_dim": 128, "ffn_dim": 5504, "base_dim": 512},
            "seq_len": 4096, "micro_batch_size": 4, "global_batch_tokens": 4 * 4096 * 4},
}


def write_random_shards(root: Path, tokens: int) -> None:
    rng = np.random.default_rng(0)
    docs = np.split(rng.integers(1, VOCAB, size=tokens, dtype=np.int32), np.arange(2000, tokens, 2000))
    shards, rows = [Shard("WebText", "train", 0), Shard("WebText", "valid", 0)], []
    for i, shard in enumerate(shards):
        part = docs if shard.split == "train" else docs[:4]
        rows.append({"shard": i, "text_bytes": 4 * sum(len(d) for d in part), **write_indexed_dataset(root / shard.name, part, np.int32)})
    info = TokenizerInfo("file:/random", "random", "0" * 64, VOCAB, 0)
    manifest = build_manifest(shards, rows, info, np.dtype(np.int32), TokenizeConfig(), ["file:/random"], {"WebText": 1.0})
    (root / "manifest.json").write_text(json.dumps(manifest))


def run_case(name: str, steps: int, work: Path) -> dict:
    case = CASES[name]
    model_yaml = work / f"{name}-model.yaml"
    model_yaml.write_text(yaml.safe_dump({**case["model"], "vocab_size": VOCAB, "max_seq_len": case["seq_len"], "use_mup": True}))
    shards = work / f"{name}-shards"
    shards.mkdir()
    write_random_shards(shards, (steps + 2) * case["global_batch_tokens"] + 10_000)
    run_yaml = work / f"{name}-run.yaml"
    run_yaml.write_text(yaml.safe_dump({
        "model": str(model_yaml), "data": str(shards), "out": str(work / f"{name}-run"), "seq_len": case["seq_len"],
        "micro_batch_size": case["micro_batch_size"], "global_batch_tokens": case["global_batch_tokens"],
        "max_steps": steps + 1, "device": "cuda" if name == "gpu" else "cpu",
        "optimizer": {"warmup_steps": 1}, "log_interval": 1, "eval_interval": None, "eval_tokens": 1024,
        "checkpoint_interval": 10_000,
    }))
    trainer = Trainer(load_train_config(run_yaml), resume="none")
    trainer.train_step()  # warm-up step: allocator, kernels, threads
    if trainer.device.type == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    for _ in range(steps):
        trainer.train_step()
    if trainer.device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - started
    tps = steps * case["global_batch_tokens"] / seconds
    return {
        "case": name, "device": str(trainer.device) if trainer.device.type == "cpu" else torch.cuda.get_device_name(),
        "dtype": str(trainer.autocast or torch.float32), "params": trainer.n_parameters, "seq_len": case["seq_len"],
        "batch_tokens": case["global_batch_tokens"], "steps": steps, "seconds_per_step": seconds / steps,
        "tokens_per_s": tps, "tokens_per_s_per_core": tps / torch.get_num_threads() if trainer.device.type == "cpu" else None,
        "flops_per_token": trainer.flops_per_token, "peak_flops": trainer.peak.flops if trainer.peak else None,
        "peak_source": trainer.peak.source if trainer.peak else "no peak known for this device", "mfu": trainer.mfu(tps),
    }


def markdown(results: list[dict], notes: list[str]) -> str:
    lines = ["| case | device | dtype | params | seq | tokens/step | s/step | tokens/s | MFU | peak (FLOP/s, source) |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---|"]
    for r in results:
        mfu = "-" if r["mfu"] is None else f"{100 * r['mfu']:.1f}%"
        peak = "-" if r["peak_flops"] is None else f"{r['peak_flops']:.3g}"
        lines.append(f"| {r['case']} | {r['device']} | {r['dtype']} | {r['params'] / 1e6:,.1f}M | {r['seq_len']} | "
                     f"{r['batch_tokens']:,} | {r['seconds_per_step']:.2f} | {r['tokens_per_s']:,.0f} | {mfu} | "
                     f"{peak} ({r['peak_source']}) |")
    return "\n".join(lines + [""] + notes) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=8, help="timed steps per case (after one warm-up step)")
    p.add_argument("--out", default="out/bench", help="output directory")
    args = p.parse_args(argv)
    results, notes = [], ["FLOPs per token: 6 x (weights of every linear layer, LM head included) + 12 x layers x width x seq "
                          "(PaLM appendix B, as Megatron-LM counts)."]
    with tempfile.TemporaryDirectory() as tmp:
        results.append(run_case("cpu", args.steps, Path(tmp)))
        if torch.cuda.is_available():
            results.append(run_case("gpu", args.steps, Path(tmp)))
        else:
            notes.append("No GPU visible: the ~1B bf16 case (target MFU >= 45% on an H100) was not run.")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    md = markdown(results, notes)
    (out / "train.md").write_text(md)
    (out / "train.json").write_text(json.dumps({"results": results, "notes": notes}, indent=2) + "\n")
    print(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
