"""Bits per byte of a checkpoint on the held-out documents of every domain (the Tele-FLM report's Tables 5 and 6).

    python -m train.evaluate --checkpoint out/run [out/run2/checkpoints/step-00001000 ...] --data out/shards --output out/eval

What is summed, per domain, over the ``valid`` split of the tokenize stage's shards:

- Every document is its own token stream: its end-of-text id (the token every document ends with,
  and the one that precedes a document in the training stream) as context, then its text tokens.
  Every text token is a target, predicted from the tokens before it in the same document; the
  document's closing end-of-text is not a target, since it stands for no byte of text. Context never
  crosses documents, so the result does not depend on the order of the shards.
- A document longer than ``seq_len`` targets is cut into consecutive, non-overlapping windows of
  ``seq_len`` targets; a window's tokens see only the tokens before them in that window.
- NLL is the sum over targets of ``-ln p(target | context)`` in nats (float32 log-softmax, summed in
  float64); BPB = NLL / (ln 2 x bytes), bytes being the UTF-8 size of the text whose tokens were targets.
- ``max_tokens`` caps the targets of a domain: documents are taken in stored order (the tokenize
  stage's hash order, i.e. a random sample) and the last one is cut at the cap. Bytes then come from
  ``token_bytes`` (the UTF-8 size of each token id, exact for a byte-level BPE: see
  ``token_byte_lengths``) when given, and are otherwise apportioned: the domain's text bytes times the
  share of its text tokens evaluated. ``bytes_from`` in the result says which (``manifest`` when every
  document was evaluated: the tokenize stage's exact count).

Writes ``OUTPUT/bpb.{md,csv,json}`` atomically: one row per checkpoint, one BPB column per domain, their
plain average ("Avg.") and their average weighted by the mixture's domain weights ("Weighted avg.").
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import logging
import math
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import ValidationError

from datapipe.cli import main_of
from datapipe.indexed import ShardVerificationError, load_manifest
from datapipe.io import staged_directory
from tokenizer.vocab import load_tokenizer
from train.checkpoint import (
    TRAINER_FILE,
    CheckpointError,
    latest_checkpoint,
    load_model_tensors,
    tensor_shapes,
    verify,
)
from train.config import ModelConfig, load_model_config
from train.data import ValidSet, valid_sets
from train.grow import Growth, set_masks
from train.model import Transformer

log = logging.getLogger("train.evaluate")

IGNORE = -100
WINDOWS_PER_SORT = 256
"""Windows are sorted by length in groups of this many batches, so that a batch is padded little."""
RUN_CHECKPOINTS = "checkpoints"
OUTPUT_NAMES = ("bpb.md", "bpb.csv", "bpb.json")


class EvaluationError(RuntimeError):
    """Bad input to an evaluation or an export (a path, a checkpoint, a config); the message says which."""


# --- bits per byte -------------------------------------------------------------------------------


def document_windows(documents: Iterator[np.ndarray], seq_len: int, max_tokens: int | None) -> Iterator[np.ndarray]:
    """The windows of the module docstring, each ``context + targets`` (at most ``seq_len + 1`` tokens),
    until ``max_tokens`` targets."""
    budget = max_tokens
    for doc in documents:
        stream = np.concatenate([doc[-1:], doc[:-1]])  # end-of-text as context, then the text tokens
        n = len(stream) - 1
        if budget is not None:
            n = min(n, budget)
            budget -= n
        for start in range(0, n, seq_len):
            yield stream[start : min(start + seq_len, n) + 1]
        if budget == 0:
            return


def _batches(windows: Iterator[np.ndarray], batch_size: int) -> Iterator[list[np.ndarray]]:
    """Batches of windows of similar length (sorted inside groups of ``WINDOWS_PER_SORT`` batches)."""
    group: list[np.ndarray] = []
    for window in windows:
        group.append(window)
        if len(group) == batch_size * WINDOWS_PER_SORT:
            group.sort(key=len, reverse=True)
            yield from (group[i : i + batch_size] for i in range(0, len(group), batch_size))
            group = []
    group.sort(key=len, reverse=True)
    yield from (group[i : i + batch_size] for i in range(0, len(group), batch_size))


def _batch_nll(model: torch.nn.Module, batch: list[np.ndarray], device: torch.device) -> tuple[float, np.ndarray]:
    """Summed NLL (nats) of the batch's targets, and the targets. Rows are right-padded: under the causal
    mask padding never reaches a real position."""
    length = max(len(w) for w in batch) - 1
    inputs = np.zeros((len(batch), length), dtype=np.int64)
    targets = np.full((len(batch), length), IGNORE, dtype=np.int64)
    for row, w in enumerate(batch):
        inputs[row, : len(w) - 1] = w[:-1]
        targets[row, : len(w) - 1] = w[1:]
    x = torch.from_numpy(inputs).to(device)
    y = torch.from_numpy(targets).to(device)
    with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
        logits = model(x)
    # row by row: a float32 copy of one row's logits, not of the whole batch's
    nll = sum(F.cross_entropy(logits[r].float(), y[r], ignore_index=IGNORE, reduction="sum") for r in range(len(batch)))
    return float(nll), targets[targets != IGNORE]


@torch.no_grad()
def bits_per_byte(model: torch.nn.Module, valid: dict[str, ValidSet], seq_len: int, batch_size: int,
                  device: torch.device | str, max_tokens: int | None = None,
                  token_bytes: np.ndarray | None = None) -> dict[str, dict]:
    """Per domain: ``bpb``, ``nll_nats``, ``tokens`` (targets), ``bytes``, ``nats_per_token``, ``documents``
    (touched) and ``bytes_from`` (see the module docstring for what is summed). The model's train/eval mode is restored."""
    device = torch.device(device)
    was_training = model.training
    model.eval()
    results = {}
    try:
        for domain, vs in valid.items():
            text_tokens = vs.tokens - vs.documents  # one end-of-text per document
            todo = text_tokens if max_tokens is None else min(max_tokens, text_tokens)
            nll, tokens, nbytes, last_log = 0.0, 0, 0, time.monotonic()
            for batch in _batches(document_windows(vs.iter_documents(), seq_len, max_tokens), batch_size):
                batch_nll, targets = _batch_nll(model, batch, device)
                nll += batch_nll
                tokens += len(targets)
                if token_bytes is not None:
                    nbytes += int(token_bytes[targets].sum())
                if time.monotonic() - last_log > 30:
                    log.info("%s: %d of %d tokens", domain, tokens, todo)
                    last_log = time.monotonic()
            if tokens == text_tokens:
                nbytes, source = vs.text_bytes, "manifest"
            elif token_bytes is not None:
                source = "tokens"
            else:
                nbytes, source = round(vs.text_bytes * tokens / text_tokens), "apportioned"
            results[domain] = {
                "bpb": nll / (math.log(2) * nbytes) if nbytes else float("nan"),
                "nll_nats": nll, "tokens": tokens, "bytes": nbytes,
                "nats_per_token": nll / tokens if tokens else float("nan"),
                "documents": _documents_touched(vs, tokens), "bytes_from": source,
            }
            log.info("%s: %.4f bits per byte over %d tokens, %d bytes (%s)", domain, results[domain]["bpb"], tokens, nbytes, source)
    finally:
        model.train(was_training)
    return results


def _documents_touched(vs: ValidSet, targets: int) -> int:
    """How many documents (in stored order) the first ``targets`` text tokens of the domain reach into."""
    lengths = np.concatenate([ds.sequence_lengths for ds in vs.datasets]).astype(np.int64) - 1 if vs.datasets else np.zeros(0, np.int64)
    return int(np.searchsorted(np.cumsum(lengths), targets, side="left") + 1) if targets else 0


def token_byte_lengths(tokenizer) -> np.ndarray:
    """UTF-8 bytes of every token id of a byte-level BPE (special tokens: 0, they are not text).

    Byte-level BPE spells every byte as one character, so a token's string has one character per byte;
    this holds only without a normalizer, which would make the tokens' bytes differ from the text's."""
    spec = json.loads(tokenizer.to_str())
    if spec.get("normalizer") is not None or (spec.get("decoder") or {}).get("type") != "ByteLevel":
        raise EvaluationError("token byte lengths need a byte-level BPE without a normalizer")
    special = {t["id"] for t in spec.get("added_tokens", []) if t.get("special")}
    lengths = np.zeros(tokenizer.get_vocab_size(with_added_tokens=True), dtype=np.int64)
    for token, i in tokenizer.get_vocab(with_added_tokens=True).items():
        lengths[i] = 0 if i in special else len(token)
    return lengths


# --- checkpoints and model configs (shared with train.export_hf) ---------------------------------


def find_checkpoint(path: str | Path) -> Path:
    """A checkpoint step directory as given, or the newest verified one of a run (``RUN/checkpoints/``)
    or of a checkpoint root; verified either way."""
    path = Path(path)
    if not path.is_dir():
        raise EvaluationError(f"checkpoint not found: {path}")
    if (path / TRAINER_FILE).is_file():
        verify(path)
        return path
    root = path / RUN_CHECKPOINTS if (path / RUN_CHECKPOINTS).is_dir() else path
    found = latest_checkpoint(root)
    if found is None:
        raise EvaluationError(f"no complete checkpoint under {root} (expected step-XXXXXXXX/ directories with {TRAINER_FILE})")
    return found


def checkpoint_model_config(step_dir: Path, model_config: str | Path | None, vocab_size: int) -> ModelConfig:
    """The model config of a checkpoint: ``model_config`` (YAML) with the tokenizer's ``vocab_size`` when
    given, else the one the run saved in ``trainer.json``."""
    if model_config is not None:
        return load_model_config(model_config).with_vocab_size(vocab_size)
    saved = json.loads((step_dir / TRAINER_FILE).read_text()).get("trainer", {}).get("config", {}).get("model")
    if saved is None:
        raise EvaluationError(f"{step_dir / TRAINER_FILE} holds no model config (trainer.config.model): pass --model-config")
    try:
        config = ModelConfig.model_validate(saved)
    except ValidationError as exc:
        raise EvaluationError(f"{step_dir / TRAINER_FILE}: invalid model config: {exc.errors()[0]['loc']} {exc.errors()[0]['msg']}") from None
    if config.vocab_size != vocab_size:
        raise EvaluationError(f"{step_dir} was trained with a vocabulary of {config.vocab_size} tokens, the tokenizer has {vocab_size}")
    return config


def check_model_tensors(step_dir: Path, reference: Transformer) -> dict[str, tuple[int, ...]]:
    """The checkpoint's model tensor shapes in the order of ``reference`` (a model of the config, meta is
    enough), once every name and shape matches it (read from the checkpoint's metadata alone)."""
    expected = {k: tuple(v.shape) for k, v in reference.state_dict().items()}
    found = tensor_shapes(step_dir)
    if found != expected:
        missing, extra = sorted(set(expected) - set(found)), sorted(set(found) - set(expected))
        shapes = [f"{k} {found[k]} != {expected[k]}" for k in expected if k in found and found[k] != expected[k]]
        raise EvaluationError(f"{step_dir}: the weights do not fit the model config "
                              f"(missing {missing[:3]}, unexpected {extra[:3]}, shapes {shapes[:3]})")
    return expected


def checkpoint_growth(step_dir: Path) -> tuple[Growth, float] | None:
    """The growth a checkpoint was written in the ramp of, and its mask value there; None for a plain model."""
    meta = json.loads((step_dir / TRAINER_FILE).read_text())
    ramping = (meta.get("trainer", {}).get("growth") or {}).get("ramping")
    if not ramping:
        return None
    growth = Growth.from_json(ramping)
    return growth, growth.ramp.value(meta["step"])


def load_model(step_dir: Path, config: ModelConfig, device: torch.device) -> Transformer:
    """The checkpoint's weights in a model of ``config`` on ``device`` (strict: every name and shape must
    match); the weights are read straight from the checkpoint, without its optimizer state. A checkpoint of
    a growth ramp gets its masks at the ramp's value."""
    with torch.device("meta"):
        model = Transformer(config)
    check_model_tensors(step_dir, model)
    model.to_empty(device=device)
    model.init_rope(device)
    load_model_tensors(step_dir, model.state_dict())
    growth = checkpoint_growth(step_dir)
    if growth is not None:
        set_masks([model], *growth)
    return model


# --- report --------------------------------------------------------------------------------------


def averages(domains: dict[str, dict], weights: dict[str, float]) -> tuple[float, float]:
    """Plain mean of the domains' BPB, and the mean weighted by the mixture weights of those domains."""
    bpb = {d: r["bpb"] for d, r in domains.items()}
    total = sum(weights.get(d, 0.0) for d in bpb)
    weighted = sum(weights.get(d, 0.0) * b for d, b in bpb.items()) / total if total else float("nan")
    return sum(bpb.values()) / len(bpb), weighted


def render_csv(rows: list[dict], domains: list[str]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["model", "step", *domains, "avg", "weighted_avg"])
    for r in rows:
        writer.writerow([r["label"], r["step"], *(f"{r['domains'][d]['bpb']:.4f}" if d in r["domains"] else "" for d in domains),
                         f"{r['avg']:.4f}", f"{r['weighted_avg']:.4f}"])
    return buf.getvalue()


def render_markdown(report: dict, domains: list[str]) -> str:
    rows = report["checkpoints"]
    lines = [
        "# Bits per byte on the held-out documents, per domain",
        "",
        f"Data `{report['data']}`; {report['definition']}",
        "",
        "| Model | " + " | ".join(domains) + " | Avg. | Weighted avg. |",
        "|---|" + "---:|" * (len(domains) + 2),
    ]
    for r in rows:
        cells = [f"{r['domains'][d]['bpb']:.4f}" if d in r["domains"] else "-" for d in domains]
        lines.append(f"| {r['label']} | " + " | ".join(cells) + f" | {r['avg']:.4f} | {r['weighted_avg']:.4f} |")
    for r in rows:
        lines += ["", f"## {r['label']}", "", f"`{r['checkpoint']}`, windows of {r['seq_len']} tokens"
                  + (f", at most {r['max_tokens']:,} tokens per domain" if r["max_tokens"] else ""), "",
                  "| domain | documents | tokens | bytes | bytes from | nats/token | bits/byte |", "|---|---:|---:|---:|---|---:|---:|"]
        for d, x in r["domains"].items():
            lines.append(f"| {d} | {x['documents']:,} | {x['tokens']:,} | {x['bytes']:,} | {x['bytes_from']} | "
                         f"{x['nats_per_token']:.4f} | {x['bpb']:.4f} |")
    return "\n".join(lines) + "\n"


def write_report(report: dict, output: Path) -> None:
    domains = sorted({d for r in report["checkpoints"] for d in r["domains"]})
    with staged_directory(output) as tmp:
        (tmp / "bpb.md").write_text(render_markdown(report, domains), encoding="utf-8")
        (tmp / "bpb.csv").write_text(render_csv(report["checkpoints"], domains), encoding="utf-8")
        (tmp / "bpb.json").write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


# --- CLI -----------------------------------------------------------------------------------------


def manifest_tokenizer_file(manifest: dict) -> Path | None:
    """The shards' tokenizer file when it is still where the manifest says, with the same SHA-256; else None."""
    path = Path(manifest["tokenizer"]["uri"].removeprefix("file://").removeprefix("file:"))
    if not path.is_file() or hashlib.sha256(path.read_bytes()).hexdigest() != manifest["tokenizer"]["sha256"]:
        return None
    return path


def manifest_tokenizer(manifest: dict):
    """The shards' tokenizer (``manifest_tokenizer_file``), or None."""
    path = manifest_tokenizer_file(manifest)
    return None if path is None else load_tokenizer(path)[0]


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise EvaluationError("--device cuda asked for, but torch sees no GPU")
    return torch.device(name)


def run_label(step_dir: Path) -> str:
    """``RUN step N`` for ``RUN/checkpoints/step-N``."""
    run = step_dir.parent.parent if step_dir.parent.name == RUN_CHECKPOINTS else step_dir.parent
    return f"{run.name} step {int(step_dir.name.removeprefix('step-'))}"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m train.evaluate", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("--checkpoint", nargs="+", required=True,
                   help="run directories (their newest verified checkpoint) or checkpoint step directories: one row each")
    p.add_argument("--data", required=True, help="the tokenize stage's output (manifest.json and the valid shards)")
    p.add_argument("--output", "-o", required=True, help="output directory for bpb.{md,csv,json} (replaced atomically)")
    p.add_argument("--model-config", default=None,
                   help="model config YAML (vocabulary from the shards' manifest); default: the one saved in the checkpoint")
    p.add_argument("--seq-len", type=int, default=None, help="window length; default: the run's seq_len, else the model's max_seq_len")
    p.add_argument("--batch-size", type=int, default=4, help="windows per forward pass (default: %(default)s)")
    p.add_argument("--max-tokens", type=int, default=None, help="at most this many target tokens per domain (default: all)")
    p.add_argument("--tokenizer", default=None,
                   help="tokenizer for exact bytes under --max-tokens; default: the manifest's, if still there unchanged")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="default: cuda when available")
    return p


def evaluate_checkpoint(step_dir: Path, args, manifest: dict, valid: dict[str, ValidSet], device: torch.device,
                        token_bytes: np.ndarray | None) -> dict:
    config = checkpoint_model_config(step_dir, args.model_config, manifest["tokenizer"]["vocab_size"])
    meta = json.loads((step_dir / TRAINER_FILE).read_text())
    run_config = meta.get("trainer", {}).get("config", {}).get("run", {})
    seq_len = args.seq_len or run_config.get("seq_len") or config.max_seq_len
    if seq_len > config.max_seq_len:
        raise EvaluationError(f"--seq-len {seq_len} is longer than the model's max_seq_len {config.max_seq_len}")
    model = load_model(step_dir, config, device)
    log.info("evaluating %s (%s parameters) on %s, windows of %d", step_dir, f"{sum(p.numel() for p in model.parameters()):,}", device, seq_len)
    domains = bits_per_byte(model, valid, seq_len, args.batch_size, device, args.max_tokens, token_bytes)
    weights = {d: v["weight"] for d, v in manifest["domains"].items()}
    avg, weighted = averages(domains, weights)
    return {"label": run_label(step_dir), "checkpoint": str(step_dir), "step": meta["step"], "seq_len": seq_len,
            "max_tokens": args.max_tokens, "model": config.model_dump(), "domains": domains, "avg": avg, "weighted_avg": weighted}


def run(argv: list[str] | None = None) -> dict:
    args = parser().parse_args(argv)
    if args.batch_size < 1 or (args.seq_len is not None and args.seq_len < 1) or (args.max_tokens is not None and args.max_tokens < 1):
        raise EvaluationError("--batch-size, --seq-len and --max-tokens must be positive")
    if args.model_config is not None:
        load_model_config(args.model_config)  # a bad config fails before the shards are read
    step_dirs = [find_checkpoint(c) for c in args.checkpoint]
    try:
        manifest = load_manifest(args.data)
    except (FileNotFoundError, ValueError) as exc:
        raise EvaluationError(str(exc)) from None
    valid = {d: v for d, v in valid_sets(args.data).items() if v.tokens > v.documents}
    if not valid:
        raise EvaluationError(f"{args.data} has no valid split with text tokens to evaluate")
    token_bytes = None
    if args.max_tokens is not None:
        tok = load_tokenizer(args.tokenizer)[0] if args.tokenizer else manifest_tokenizer(manifest)
        if tok is None:
            log.warning("no tokenizer (--tokenizer, or the manifest's): bytes of truncated domains are apportioned by tokens")
        else:
            token_bytes = token_byte_lengths(tok)
    device = resolve_device(args.device)
    definition = ("BPB = NLL / (ln 2 x UTF-8 bytes): every text token of a held-out document predicted from the "
                  "preceding tokens of that document (its end-of-text as first context), end-of-text targets excluded.")
    report = {"data": str(args.data), "definition": definition,
              "checkpoints": [evaluate_checkpoint(s, args, manifest, valid, device, token_bytes) for s in step_dirs]}
    output = Path(args.output)
    write_report(report, output)
    domains = sorted({d for r in report["checkpoints"] for d in r["domains"]})
    print(render_markdown(report, domains))
    print(f"wrote {', '.join(str(output / n) for n in OUTPUT_NAMES)}")
    return report


main = main_of(run, EvaluationError, CheckpointError, FileNotFoundError, ShardVerificationError, logs=True)


if __name__ == "__main__":
    sys.exit(main())
