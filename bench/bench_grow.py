"""MSG growth against training from scratch at equal training FLOPs, on real text, on CPU.

    python bench/bench_grow.py [--out out/bench] [--quick]

What is measured, and why: masked structural growth (``train.grow``, run from the trainer's ``growth:``
stages) is meant to save compute: a small model trains cheaply, is grown function-preserving into the
target model, and the target then trains on from there. So the question is whether, for the same training
FLOPs, the grown target ends at a lower held-out loss than the target trained from scratch, and how the
depth rule (where the new layers go) matters. Runs, all on the same data, batch, seed and LR schedule
shape (linear warmup, then cosine to ``lr_min`` at the run's last step), fp32 on the CPU:

- ``grown-distance``, ``grown-uniform``, ``grown-stack``: ``configs/model/tiny.yaml`` (2 layers x 128, 4
  heads, FFN 336) for ``grow_at`` steps, grown in the loop to ``configs/model/tiny_wide_deep.yaml`` (4 x 192,
  6 heads, FFN 504: width with heads, FFN and depth at once) with that depth rule, masks ramping to 1 over
  ``ramp`` steps, then trained on to ``steps``;
- ``scratch``: the target from scratch for the steps that cost the same training FLOPs, from the trainers'
  own ``flops_per_token`` (``train.flops``: small x grow_at + target x (steps - grow_at) = target x
  scratch steps, rounded to a whole step; the table gives each run's exact FLOPs).

Reported per run: held-out bits per byte per domain and their mean at the end, training FLOPs, wall
time (training and validation; the validation part is given too), the training loss at the end (mean of
the last steps), and for the grown runs the bits per byte just before and just after the growth (the
trainer's growth event: equal when the growth preserves the function) and the training loss around it.
The verdict under the table is computed from these numbers. One seed per run: no seed-to-seed spread is
measured.

Data, built on first use and cached under ``OUT/grow-data`` (rebuilt when the build settings change): the
first 3 MB of English Wikipedia (``../shared/data/english/enwiki2015``, one document per article) and of
the CCTV evening news transcripts (``../shared/data/chinese_modern/cctv_news``, one per day, HTML tags
and source links removed); 10% of the documents held out by the project's rule (``datapipe.heldout``); a
4,096-entry byte-level BPE (``tokenizer.train.train_tokenizer``) trained on the training documents; train
and valid shards and ``manifest.json`` as the tokenize stage writes them (equal domain weights).

Results: ``OUT/grow.md``, ``OUT/grow.json``, ``OUT/grow.png`` (training loss and held-out bits per byte
against cumulative training FLOPs, growth marked); each run's directory, console and metrics under
``OUT/grow-runs``. About 10 minutes on two quiet cores; ``--quick`` (about 1-2 minutes) runs the same
comparison for a few dozen steps, as a smoke test whose numbers mean little.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import hashlib
import json
import os
import re
import shutil
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from datapipe.heldout import is_heldout  # noqa: E402
from datapipe.indexed import token_dtype, write_indexed_dataset  # noqa: E402
from datapipe.io import write_files  # noqa: E402
from datapipe.plots import png, pyplot  # noqa: E402
from jobs.shards import (  # noqa: E402
    HeldoutConfig,
    Shard,
    TokenizeConfig,
    TokenizerInfo,
    build_manifest,
    encode_documents,
    placement,
)
from tokenizer.config import TokenizerConfig  # noqa: E402
from tokenizer.train import train_tokenizer  # noqa: E402
from tokenizer.vocab import TOKENIZER_FILE, load_tokenizer  # noqa: E402
from train.config import load_model_config, load_train_config  # noqa: E402
from train.pretrain import METRICS_FILE, Trainer  # noqa: E402

SHARED = Path(os.environ.get("TELEFLM_SHARED_DATA", ROOT.parent / "shared" / "data"))
SMALL_MODEL = ROOT / "configs" / "model" / "tiny.yaml"
TARGET_MODEL = ROOT / "configs" / "model" / "tiny_wide_deep.yaml"
DEPTH_RULES = ("distance", "uniform", "stack")

# the data set: per domain, the first TEXT_BYTES of UTF-8 text of its source (train and held out together)
SOURCES = {"en_wiki": "english/enwiki2015", "zh_news": "chinese_modern/cctv_news"}
TEXT_BYTES = 3_000_000
HELDOUT_FRACTION = 0.1
VOCAB_SIZE = 4096
DATA_SPEC = {"sources": SOURCES, "text_bytes": TEXT_BYTES, "heldout_fraction": HELDOUT_FRACTION, "vocab_size": VOCAB_SIZE,
             "version": 1}

AROUND_GROWTH = 10  # training steps averaged before and after the growth, and at the end of a run


@dataclass(frozen=True)
class Plan:
    """Steps and evaluation of one bench (the grown runs' total ``steps``; the scratch run's follow from FLOPs)."""

    steps: int
    grow_at: int
    ramp: int
    warmup: int
    eval_interval: int
    eval_tokens: int
    seq_len: int = 128
    micro_batch_size: int = 16
    batch_tokens: int = 2048
    seed: int = 0
    lr: float = 3e-3
    lr_min: float = 3e-4


FULL = Plan(steps=420, grow_at=140, ramp=40, warmup=30, eval_interval=35, eval_tokens=16_384)
QUICK = Plan(steps=48, grow_at=16, ramp=8, warmup=6, eval_interval=8, eval_tokens=4096)


# --- data ----------------------------------------------------------------------------------------


def _gunzip_text(path: Path) -> str:
    return gzip.decompress(path.read_bytes()).decode("utf-8")


def enwiki_documents(directory: Path):
    """(id, text) of every WikiExtractor article, in file order."""
    pattern = re.compile(r'<doc id="(\d+)"[^>]*>\n(.*?)\n</doc>', re.DOTALL)
    for path in sorted(directory.glob("wiki_*.gz")):
        for match in pattern.finditer(_gunzip_text(path)):
            yield f"enwiki-{match[1]}", match[2].strip()


def cctv_documents(directory: Path):
    """(id, text) of every day's transcript, in date order, without HTML tags and "view the original" links."""
    for path in sorted(directory.glob("*.md.gz")):
        text = re.sub(r"^\[查看原文\]\(.*?\)\s*$", "", _gunzip_text(path), flags=re.MULTILINE)
        text = re.sub(r"<[^>]+>", "", text)
        yield f"cctv-{path.name.removesuffix('.md.gz')}", re.sub(r"\n{3,}", "\n\n", text).strip()


READERS = {"en_wiki": enwiki_documents, "zh_news": cctv_documents}


def read_domain(domain: str) -> list[tuple[str, str]]:
    """The first documents of a domain's source up to ``TEXT_BYTES`` of text."""
    directory = SHARED / SOURCES[domain]
    if not directory.is_dir():
        raise SystemExit(f"error: the shared data set is absent ({directory}); see ../shared/data/*/SOURCES.md")
    docs, size = [], 0
    for doc_id, text in READERS[domain](directory):
        if size >= TEXT_BYTES:
            break
        docs.append((doc_id, text))
        size += len(text.encode("utf-8"))
    return docs


def build_data(root: Path) -> dict:
    """Tokenizer, token shards and manifest under ``root`` (kept when built with the same settings);
    returns a summary of the data set."""
    spec_path = root / "bench-data.json"
    if spec_path.is_file() and json.loads(spec_path.read_text())["spec"] == DATA_SPEC:
        return json.loads(spec_path.read_text())["summary"]
    started = time.perf_counter()
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    docs = {domain: read_domain(domain) for domain in SOURCES}
    split_of = {doc_id: "valid" if is_heldout(doc_id, HELDOUT_FRACTION) else "train" for d in docs.values() for doc_id, _ in d}
    tok = train_tokenizer([text for d in docs.values() for doc_id, text in d if split_of[doc_id] == "train"],
                          TokenizerConfig(vocab_size=VOCAB_SIZE, show_progress=False))
    tok_path = root / TOKENIZER_FILE
    tok.save(str(tok_path))
    tok, eot = load_tokenizer(tok_path)
    dtype = token_dtype(VOCAB_SIZE)
    config = TokenizeConfig(heldout=HeldoutConfig(fraction=HELDOUT_FRACTION))
    shards, rows = [], []
    for domain, domain_docs in docs.items():
        for split in ("train", "valid"):
            # in the tokenize stage's order (its placement hash), so a capped validation takes a random sample
            part = sorted((d for d in domain_docs if split_of[d[0]] == split), key=lambda d: placement(d[0], 0, config.seed))
            encoded = encode_documents(tok, eot, [text for _, text in part], dtype, config.encode_batch_chars)
            tokens = [np.frombuffer(doc, dtype=dtype) for doc in encoded]
            shards.append(Shard(domain, split, 0))
            rows.append({"shard": len(rows), "text_bytes": sum(len(t.encode("utf-8")) for _, t in part),
                         **write_indexed_dataset(root / shards[-1].name, tokens, dtype)})
    info = TokenizerInfo(f"file:{tok_path.resolve()}", TOKENIZER_FILE, hashlib.sha256(tok_path.read_bytes()).hexdigest(),
                         VOCAB_SIZE, eot)
    manifest = build_manifest(shards, rows, info, dtype, config, [str(SHARED / s) for s in SOURCES.values()],
                              {domain: 1.0 for domain in SOURCES})
    write_files(root, {"manifest.json": json.dumps(manifest, indent=1)})
    summary = {"domains": {d: {split: manifest["domains"][d][split] for split in ("train", "valid")} for d in SOURCES},
               "vocab_size": VOCAB_SIZE, "build_seconds": time.perf_counter() - started}
    write_files(root, {spec_path.name: json.dumps({"spec": DATA_SPEC, "summary": summary}, indent=1)})
    return summary


# --- runs ----------------------------------------------------------------------------------------


class TimedTrainer(Trainer):
    """The trainer, adding up the seconds its validations take (``eval_seconds``)."""

    def __init__(self, *args, **kwargs):
        self.eval_seconds = 0.0
        super().__init__(*args, **kwargs)

    def validate(self) -> dict[str, dict]:
        started = time.perf_counter()
        try:
            return super().validate()
        finally:
            self.eval_seconds += time.perf_counter() - started


def run_config(plan: Plan, data: Path, run_dir: Path, model: Path, steps: int, growth: dict | None) -> dict:
    """A run config (``configs/train/*.yaml``'s fields) of this bench."""
    return {
        "model": str(model), "data": str(data), "out": str(run_dir), "seq_len": plan.seq_len,
        "micro_batch_size": plan.micro_batch_size, "global_batch_tokens": plan.batch_tokens, "max_steps": steps,
        "seed": plan.seed, "device": "cpu", "dtype": "float32",
        "optimizer": {"lr_vector": plan.lr, "lr_matrix": plan.lr, "lr_min": plan.lr_min, "warmup_steps": plan.warmup},
        "log_interval": 1, "eval_interval": plan.eval_interval, "eval_tokens": plan.eval_tokens,
        "checkpoint_interval": steps, "keep_checkpoints": 1, "growth": [growth] if growth else [],
    }


def train(name: str, config: dict, runs: Path) -> dict:
    """Train one run (its console to ``runs/NAME.log``) and return its metrics rows, FLOPs per token before
    and after growth, and times (wall, CPU of this process, validation); its checkpoints are removed afterwards."""
    run_dir = Path(config["out"])
    shutil.rmtree(run_dir, ignore_errors=True)
    path = runs / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    print(f"{name}: {config['max_steps']} steps ...", end=" ", flush=True)
    with open(runs / f"{name}.log", "w") as console, contextlib.redirect_stdout(console):
        trainer = TimedTrainer(load_train_config(path), resume="none")
        flops_start = trainer.flops_per_token
        started, cpu = time.perf_counter(), time.process_time()
        trainer.run()
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    shutil.rmtree(run_dir / "checkpoints")
    rows = [json.loads(line) for line in (run_dir / METRICS_FILE).read_text().splitlines() if line]
    print(f"{wall:.0f} s", flush=True)
    return {"rows": rows, "flops_per_token": [flops_start, trainer.flops_per_token], "wall_seconds": wall,
            "cpu_seconds": cpu, "eval_seconds": trainer.eval_seconds, "parameters": trainer.n_parameters}


def cumulative_flops(step: int, flops_per_token: list[float], grow_at: int | None, batch_tokens: int) -> float:
    """Training FLOPs of the first ``step`` steps: the small model's before ``grow_at``, the target's after."""
    before = step if grow_at is None else min(step, grow_at)
    return batch_tokens * (flops_per_token[0] * before + flops_per_token[-1] * (step - before))


def mean(values) -> float:
    values = list(values)
    return sum(values) / len(values)


def summarize(name: str, rule: str | None, result: dict, plan: Plan) -> dict:
    """One run's numbers for the table, the verdict and the plot."""
    rows = result["rows"]
    growth = next((r for r in rows if "growth" in r), None)
    grow_at = growth["step"] if growth else None
    fpt = result["flops_per_token"]
    losses = [(r["step"], r["loss"]) for r in rows if "loss" in r]
    evals = [(r["step"], r["eval"]) for r in rows if "eval" in r]
    steps = losses[-1][0]
    final = evals[-1][1]
    out = {
        "run": name, "depth_rule": rule, "steps": steps, "tokens": steps * plan.batch_tokens,
        "flops": cumulative_flops(steps, fpt, grow_at, plan.batch_tokens), "flops_per_token": fpt,
        "parameters": result["parameters"], **{k: result[k] for k in ("wall_seconds", "cpu_seconds", "eval_seconds")},
        "bpb": final, "mean_bpb": mean(final.values()), "end_loss": mean(v for _, v in losses[-AROUND_GROWTH:]),
        "loss_curve": [(s, cumulative_flops(s, fpt, grow_at, plan.batch_tokens), v) for s, v in losses],
        "eval_curve": [(s, cumulative_flops(s, fpt, grow_at, plan.batch_tokens), b, mean(b.values())) for s, b in evals],
    }
    if growth:
        g = growth["growth"]
        loss = dict(losses)  # row "step" k: the loss of the k-th step; step grow_at + 1 is the first at the target size

        def window(first: int, n: int) -> list[float]:
            return [loss[s] for s in range(first, first + n) if s in loss]

        out["growth"] = {
            "step": grow_at, "old_layers": g["old_layers"], "distances": g["distances"],
            "bpb_before": g["bpb_before"], "bpb_after": g["bpb_after"],
            "max_bpb_change": max(abs(g["bpb_after"][d] - g["bpb_before"][d]) for d in g["bpb_before"]),
            "loss_last_before": loss[grow_at], "loss_first_after": loss[grow_at + 1],
            "loss_before": mean(window(grow_at - AROUND_GROWTH + 1, AROUND_GROWTH)),
            "loss_after": mean(window(grow_at + 1, AROUND_GROWTH)),
            "loss_max_in_ramp": max(window(grow_at + 1, plan.ramp)),
            "loss_max_before_ramp": max(window(grow_at - plan.ramp + 1, plan.ramp)),
        }
    return out


def flops_to_reach(run: dict, bpb: float) -> float | None:
    """Training FLOPs at which a run's mean held-out bits per byte first fell to ``bpb`` (linear between
    validations); None when it never did."""
    previous = None
    for _, flops, _, value in run["eval_curve"]:
        if value <= bpb:
            if previous is None:
                return flops
            f0, v0 = previous
            return f0 + (flops - f0) * (v0 - bpb) / (v0 - value)
        previous = (flops, value)
    return None


# --- report --------------------------------------------------------------------------------------


def verdict(results: list[dict], plan: Plan) -> list[str]:
    """What the numbers say, as sentences computed from them."""
    scratch = next(r for r in results if r["depth_rule"] is None)
    grown = [r for r in results if r["depth_rule"] is not None]
    default = next(r for r in grown if r["depth_rule"] == "distance")
    gain = scratch["mean_bpb"] - default["mean_bpb"]
    per_domain = ", ".join(f"{d} {default['bpb'][d] - scratch['bpb'][d]:+.4f}" for d in scratch["bpb"])
    lines = [(f"- **Growth vs scratch** at {default['flops'] / scratch['flops']:.4f}x scratch's training FLOPs: the grown "
             f"model (distance rule) ends at {default['mean_bpb']:.4f} mean held-out bits per byte, scratch at "
             f"{scratch['mean_bpb']:.4f}: growth is {'lower' if gain > 0 else 'higher'} by {abs(gain):.4f} "
             f"({100 * abs(gain) / scratch['mean_bpb']:.1f}%; per domain, grown - scratch: {per_domain}).")]
    reached = flops_to_reach(default, scratch["mean_bpb"])
    if reached is None:
        lines.append("- The grown run (distance) never got down to scratch's final bits per byte at any validation.")
    else:
        lines.append(f"- The grown run (distance) first reached scratch's final {scratch['mean_bpb']:.4f} bits per byte at "
                     f"{reached:.3g} training FLOPs, {100 * reached / scratch['flops']:.0f}% of scratch's "
                     f"{scratch['flops']:.3g} (linear between validations).")
    worst = max(r["growth"]["max_bpb_change"] for r in grown)
    lines.append(f"- **Function preservation**: the largest change of held-out bits per byte across the growth, over "
                 f"every grown run and domain, is {worst:.2e} ({'equal' if worst < 1e-5 else 'NOT equal'} within 1e-5).")
    g = default["growth"]  # up to the first step after the growth every rule runs the same function on the same batches
    spikes = [r["depth_rule"] for r in grown if r["growth"]["loss_max_in_ramp"] > r["growth"]["loss_max_before_ramp"]]
    lines.append(
        f"- **Training loss across the growth** (each step on its own batch): {g['loss_last_before']:.3f} at the last step "
        f"before, {g['loss_first_after']:.3f} at the first after (masks at 0: the old function); mean of the "
        f"{AROUND_GROWTH} steps before {g['loss_before']:.3f}, of the {AROUND_GROWTH} after " + ", ".join(
            f"{r['depth_rule']} {r['growth']['loss_after']:.3f}" for r in grown)
        + f". Highest step loss in the {plan.ramp}-step ramp: " + ", ".join(
            f"{r['depth_rule']} {r['growth']['loss_max_in_ramp']:.3f}" for r in grown)
        + f", against {g['loss_max_before_ramp']:.3f} in the {plan.ramp} steps before: "
        + (f"above it for {', '.join(spikes)}." if spikes else "no loss spike above the steps before the growth."))
    ranked = sorted(grown, key=lambda r: r["mean_bpb"])
    spread = ranked[-1]["mean_bpb"] - ranked[0]["mean_bpb"]
    order = ", ".join(f"{r['depth_rule']} {r['mean_bpb']:.4f}" for r in ranked)
    share = f", {100 * spread / abs(gain):.0f}% of the gap between growth and scratch" if gain else ""
    below = sum(r["mean_bpb"] < scratch["mean_bpb"] for r in grown)
    placed = ", ".join(f"{r['depth_rule']} {r['growth']['old_layers']}" for r in grown)
    distances = ", ".join(f"{d:.3f}" for d in g["distances"])
    lines.append(f"- **Depth rules** (final mean bits per byte, best first): {order}; best to worst {spread:.4f}{share}; "
                 f"{below} of {len(grown)} end below scratch. Where the old layers went (their indices among the "
                 f"{load_model_config(TARGET_MODEL).n_layers} layers): {placed}; the old layers' distances (mean 1 - cos "
                 f"of a layer's input and output, which the distance rule ranks): {distances}. One seed per run: no "
                 "seed-to-seed spread was measured.")
    return lines


def markdown(plan: Plan, data: dict, results: list[dict], notes: list[str]) -> str:
    domains = list(results[0]["bpb"])
    grown = next(r for r in results if r["depth_rule"] is not None)
    scratch = next(r for r in results if r["depth_rule"] is None)
    train_tokens = ", ".join(f"{d} {v['train']['tokens']:,} train / {v['valid']['tokens']:,} held-out tokens"
                             for d, v in data["domains"].items())
    # the held-out text tokens (not the documents' end-of-text) evaluated per domain, at most eval_tokens
    evaluated = ", ".join(f"{d} {min(plan.eval_tokens, v['valid']['tokens'] - v['valid']['documents']):,}"
                          for d, v in data["domains"].items())
    lines = [
        "# MSG growth vs training from scratch at equal training FLOPs (CPU, fp32)",
        "",
        (f"Data: {train_tokens} ({data['vocab_size']:,}-entry byte-level BPE); held-out tokens evaluated: "
        f"{evaluated}. Batch {plan.batch_tokens:,} tokens "
        f"({plan.batch_tokens // plan.seq_len} x {plan.seq_len}), seed {plan.seed}, LR {plan.lr:g} (muP base), "
        f"{plan.warmup} warmup steps, cosine to {plan.lr_min:g} at each run's last step."),
        (f"Grown runs: {SMALL_MODEL.name} ({grown['flops_per_token'][0]:.3g} FLOPs/token) for {plan.grow_at} steps, grown to "
        f"{TARGET_MODEL.name} ({grown['flops_per_token'][1]:.3g} FLOPs/token, {grown['parameters']:,} parameters), masks "
        f"ramping over {plan.ramp} steps, {plan.steps} steps in all. Scratch: {TARGET_MODEL.name} for {scratch['steps']} steps."),
        "",
        "| run | steps | tokens | train FLOPs | wall s (validation; CPU) | " + " | ".join(f"{d} BPB" for d in domains)
        + f" | mean BPB | end loss (mean of last {AROUND_GROWTH} steps) | BPB before -> after growth | training loss "
        f"around growth: last step before -> first after; mean of {AROUND_GROWTH} steps before -> after; max in ramp |",
        "|---|---:|---:|---:|---:|" + "---:|" * len(domains) + "---:|---:|---|---|",
    ]
    for r in results:
        g = r.get("growth")
        bpb_growth = "-" if g is None else "; ".join(f"{d} {g['bpb_before'][d]:.5f} -> {g['bpb_after'][d]:.5f}" for d in domains)
        loss_growth = "-" if g is None else (f"{g['loss_last_before']:.3f} -> {g['loss_first_after']:.3f}; "
                                             f"{g['loss_before']:.3f} -> {g['loss_after']:.3f}; {g['loss_max_in_ramp']:.3f}")
        lines.append(f"| {r['run']} | {r['steps']} | {r['tokens']:,} | {r['flops']:.4g} | {r['wall_seconds']:.0f} "
                     f"({r['eval_seconds']:.0f}; {r['cpu_seconds']:.0f}) | " + " | ".join(f"{r['bpb'][d]:.4f}" for d in domains)
                     + f" | {r['mean_bpb']:.4f} | {r['end_loss']:.3f} | {bpb_growth} | {loss_growth} |")
    return "\n".join(lines + ["", "What is seen:", "", *verdict(results, plan), "", *notes]) + "\n"


def plot(results: list[dict], plan: Plan) -> bytes:
    """Training loss (moving mean over ``AROUND_GROWTH`` steps) and mean held-out bits per byte against
    cumulative training FLOPs; the growth and the end of its ramp marked."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for r in results:
        style = {"color": "black", "linestyle": "--"} if r["depth_rule"] is None else {}
        label = r["run"]
        _, flops, loss = zip(*r["loss_curve"])
        k = min(AROUND_GROWTH, len(loss))
        smooth = np.convolve(loss, np.ones(k) / k, mode="valid")
        axes[0].plot(flops[k - 1:], smooth, label=label, **style)
        _, flops, _, bpb = zip(*r["eval_curve"])
        axes[1].plot(flops, bpb, marker="o", markersize=3, label=label, **style)
    grown = next(r for r in results if r.get("growth"))  # every grown run grows at the same step and FLOPs
    at, fpt = grown["growth"]["step"], grown["flops_per_token"]
    start, end = (cumulative_flops(step, fpt, at, plan.batch_tokens) for step in (at, at + plan.ramp))
    for ax in axes:
        ax.axvline(start, color="grey", linestyle=":", linewidth=1)
        ax.axvspan(start, end, color="grey", alpha=0.12)
    tail = [v for r in results for _, _, _, v in r["eval_curve"][len(r["eval_curve"]) // 4:]]
    axes[1].set_ylim(min(tail) - 0.05, max(tail) + 0.05)
    axes[0].set(xlabel="cumulative training FLOPs", ylabel=f"training loss (nats/token, mean of {AROUND_GROWTH} steps)",
                title="training loss")
    axes[1].set(xlabel="cumulative training FLOPs", ylabel="mean held-out bits per byte", title="held-out bits per byte")
    for ax in axes:
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    axes[0].text(0.99, 0.75, "dotted: growth; shaded: mask ramp", transform=axes[0].transAxes, ha="right", fontsize=7)
    fig.tight_layout()
    return png(fig, dpi=110)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="out/bench", help="output directory (default out/bench)")
    p.add_argument("--quick", action="store_true", help=f"a smoke run: {QUICK.steps} steps instead of {FULL.steps}")
    args = p.parse_args(argv)
    torch.set_num_threads(2)
    plan = QUICK if args.quick else FULL
    out = Path(args.out)
    runs = out / "grow-runs"
    runs.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    data_dir = out / "grow-data"
    data = build_data(data_dir)
    sizes = ", ".join(f"{d} {v['train']['tokens']:,} train tokens" for d, v in data["domains"].items())
    print(f"data: {data_dir} ({sizes})")

    results = []
    for rule in DEPTH_RULES:
        name = f"grown-{rule}"
        stage = {"at_step": plan.grow_at, "model": str(TARGET_MODEL), "ramp_steps": plan.ramp, "depth_rule": rule}
        config = run_config(plan, data_dir, runs / name, SMALL_MODEL, plan.steps, stage)
        results.append(summarize(name, rule, train(name, config, runs), plan))
    small, target = results[0]["flops_per_token"]
    scratch_steps = round((small * plan.grow_at + target * (plan.steps - plan.grow_at)) / target)
    config = run_config(plan, data_dir, runs / "scratch", TARGET_MODEL, scratch_steps, None)
    results.append(summarize("scratch", None, train("scratch", config, runs), plan))

    notes = [(f"Wall time of the whole bench: {time.perf_counter() - started:.0f} s on {torch.get_num_threads()} threads. "
             "A run's wall time is its training loop with its validations and checkpoints; in brackets the validations' "
             "part and the process's CPU seconds (about 2x wall when the 2 threads have the cores to themselves). "
             "FLOPs per token: 6 x matmul weights + 12 x layers x width x seq (``train.flops``); a grown run counts the "
             "target's FLOPs from the growth on (the masked forward is the target's). Validation, growth and the "
             "distance rule's calibration forward are not training FLOPs.")]
    if args.quick:
        notes.append(f"Quick mode ({plan.steps} steps): a smoke test, the comparison is not meaningful at this length.")
    md = markdown(plan, data, results, notes)
    write_files(out, {"grow.md": md, "grow.png": plot(results, plan),
                      "grow.json": json.dumps({"plan": asdict(plan), "data": data, "small_model": str(SMALL_MODEL),
                                               "target_model": str(TARGET_MODEL), "results": results, "notes": notes},
                                              indent=1) + "\n"})
    print(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
