"""Supervised fine-tuning: a pretrained checkpoint on selected conversations, loss on the assistant's tokens only.

    python -m train.sft --config configs/train/sft_demo.yaml --init out/demo/run --data out/sft/conversations.jsonl --out out/sft/run
    make sft CKPT=out/demo/run DATA=out/sft-select OUT=out/sft/run

The run is a pretraining run (``train.pretrain.Trainer``: the same step, layouts, checkpoints, bit-exact
resume, metrics) with other data and another loss:

- **Data** (``SFTData``): the conversations (``datapipe.instruct``'s JSONL) in the chat format
  (``tokenizer.chat``: the ids ``apply_chat_template`` gives), the first ``valid_conversations`` by a hash
  of their id held out. A conversation longer than ``seq_len + 1`` tokens is left out (counted). Each is a
  pair (inputs, targets) shifted by one, the targets -100 (no loss) where the next token is not an
  assistant's; with ``pack``, pairs fill rows of ``seq_len`` in a seeded order, each position tagged
  with its conversation so that attention stays within it and positions restart at it
  (``train.model.document_positions_and_mask``), first fit in a seeded order; without, one conversation
  per row. Rows are built once;
  every epoch reads them in a new seeded order, ``global_batch_tokens / seq_len`` rows per step.
- **Loss**: the sum of the assistant tokens' losses over the whole global batch divided by their number
  in the whole batch (every rank counts it from the data, which each holds), so the loss is the same
  however the conversations are packed into rows, microbatches and ranks (tested: packed and unpacked
  batches agree in fp32 to 1e-6), and prompt tokens get no gradient.
- **Start**: the pretrained checkpoint's weights (any layout; the optimizer starts fresh, with the run
  config's own schedule); the model config must be the pretrained run's (the context, ``max_seq_len``,
  may be longer: no weight depends on it).
- **Validation**: the mean loss over the held-out conversations' assistant tokens, one conversation per
  row, at any layout, also before the first step (the pretrained model's); ``metrics.jsonl`` and
  ``loss.png`` show it as ``loss``.

Packing needs the positions of each row's conversations in every layer, which pipeline stages after the
first do not receive: with ``pp > 1`` rows are unpacked (one conversation per row; the same loss).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import sys
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from pydantic import Field, PositiveInt

from datapipe.cli import main_of
from datapipe.config import ConfigError, StrictModel, require_existing
from datapipe.instruct.conversation import ConversationError, read_jsonl, validate
from tokenizer.chat import chat_tokenizer, encode_conversation
from tokenizer.vocab import PADDING
from train import checkpoint as ckpt
from train.collectives import sum_over_ranks
from train.config import TrainConfig, load_train_config
from train.evaluate import EvaluationError, find_checkpoint, manifest_tokenizer_file
from train.pretrain import Trainer, TrainingStopped, _local_value

log = logging.getLogger("train.sft")

IGNORE = -100


class SFTSection(StrictModel):
    """The ``sft:`` section of a run config: where the model and the conversations come from."""

    init: str = Field(description="pretrained checkpoint: a run directory (its newest) or a step directory")
    tokenizer: str | None = Field(None, description="the pretrained tokenizer (dir or tokenizer.json); None: the "
                                                    "pretrained run's shards' tokenizer")
    pack: bool = Field(True, description="pack several conversations per row (attention within each)")
    valid_conversations: PositiveInt = Field(200, description="conversations held out for the validation loss")


class SFTConfig(TrainConfig):
    """A run config with an ``sft`` section; ``data`` is the conversations (JSONL, or a directory holding
    ``conversations.jsonl``)."""

    sft: SFTSection


def conversations_file(path: str | Path) -> Path:
    path = Path(path)
    return path / "conversations.jsonl" if path.is_dir() else path


class SFTData:
    """Conversations as training rows and held-out examples (see the module docstring)."""

    def __init__(self, path: str | Path, tokenizer, seq_len: int, pack: bool, valid_conversations: int, seed: int):
        self.path, self.seq_len, self.pack, self.seed = conversations_file(path), seq_len, pack, seed
        self.pad_id = tokenizer.token_to_id(PADDING)
        examples, self.too_long = [], 0
        for conv in read_jsonl(self.path):
            try:
                validate(conv)
            except ConversationError as exc:
                raise ConversationError(f"{self.path}: {exc}") from None
            ids, trained = encode_conversation(tokenizer, [{"role": m.role, "content": m.content} for m in conv.messages])
            if len(ids) - 1 > seq_len:
                self.too_long += 1
                continue
            targets = [t if keep else IGNORE for t, keep in zip(ids[1:], trained[1:])]
            examples.append((hashlib.sha256(conv.id.encode()).hexdigest(), ids[:-1], targets))
        if len(examples) <= valid_conversations:
            raise ConfigError(f"sft.valid_conversations: {valid_conversations} held out of {len(examples)} usable "
                              f"conversations in {self.path} leaves nothing to train on")
        examples.sort(key=lambda e: e[0])
        self.valid = [(i, t) for _, i, t in examples[:valid_conversations]]
        self.train = [(i, t) for _, i, t in examples[valid_conversations:]]
        self.inputs, self.targets, self.documents = self._rows()
        self.trained_tokens = int((self.targets != IGNORE).sum())
        self.digest = hashlib.sha256(self.path.read_bytes()).hexdigest()

    def _rows(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        order = np.random.default_rng(self.seed).permutation(len(self.train))
        rows: list[list[int]] = []
        free: list[int] = []  # room left in each row
        for i in order:  # first fit, in the seeded order
            length = len(self.train[i][0])
            fits = next((r for r, room in enumerate(free) if room >= length), None) if self.pack else None
            if fits is None:
                rows.append([int(i)])
                free.append(self.seq_len - length)
            else:
                rows[fits].append(int(i))
                free[fits] -= length
        inputs = np.full((len(rows), self.seq_len), self.pad_id, dtype=np.int64)
        targets = np.full((len(rows), self.seq_len), IGNORE, dtype=np.int64)
        documents = np.full((len(rows), self.seq_len), -1, dtype=np.int64)  # padding: a document of its own
        for r, members in enumerate(rows):
            at = 0
            for doc, i in enumerate(members):
                ids, tgt = self.train[i]
                inputs[r, at:at + len(ids)], targets[r, at:at + len(ids)], documents[r, at:at + len(ids)] = ids, tgt, doc
                at += len(ids)
        return inputs, targets, documents

    def fingerprint(self) -> dict:
        return {"conversations": self.digest, "seq_len": self.seq_len, "pack": self.pack, "seed": self.seed,
                "valid": len(self.valid), "rows": len(self.inputs)}

    def rows_of(self, start: int, count: int) -> np.ndarray:
        """Row indices ``[start, start + count)`` of the endless sequence of epochs, each in its own order."""
        n = len(self.inputs)
        out = []
        for position in range(start, start + count):
            epoch, index = divmod(position, n)
            out.append(np.random.default_rng([self.seed, epoch]).permutation(n)[index])
        return np.asarray(out)


class SFTTrainer(Trainer):
    """``Trainer`` with ``SFTData``, the assistant-token loss and the pretrained start; see the module docstring."""

    EVAL_METRIC = ("loss", "SFT loss (nats per assistant token)")
    EVAL_AT_START = True

    def _setup_data(self, cfg: SFTConfig) -> int:
        if cfg.growth:
            raise ConfigError("growth: an SFT run does not grow")
        self.init_path = find_checkpoint(cfg.sft.init)
        tokenizer_path = cfg.sft.tokenizer or self._pretrained_tokenizer()
        tok = chat_tokenizer(tokenizer_path)
        pack = cfg.sft.pack and cfg.parallel.pp == 1
        if cfg.sft.pack and not pack:
            log.info("pp %d: conversations one per row (packing needs every stage to see the positions)", cfg.parallel.pp)
        self.data = SFTData(cfg.data, tok, cfg.seq_len, pack, cfg.sft.valid_conversations, cfg.seed)
        log.info("SFT data: %d training conversations in %d rows of %d (%s), %d held out, %d left out as longer than "
                 "seq_len + 1; %d assistant tokens per epoch", len(self.data.train), len(self.data.inputs), cfg.seq_len,
                 "packed" if pack else "one per row", len(self.data.valid), self.data.too_long, self.data.trained_tokens)
        return tok.get_vocab_size()

    def _pretrained_tokenizer(self) -> Path:
        run = json.loads((self.init_path / ckpt.TRAINER_FILE).read_text())["trainer"]["config"]["run"]
        path = manifest_tokenizer_file(json.loads((Path(run["data"]) / "manifest.json").read_text()))
        if path is None:
            raise ConfigError(f"sft.tokenizer: the pretrained run's tokenizer (manifest of {run['data']}) is gone or "
                              "changed; give it")
        return path

    def _initial_weights(self) -> None:
        saved = json.loads((self.init_path / ckpt.TRAINER_FILE).read_text())["trainer"]["config"]["model"]
        context = {"max_seq_len": self.model_cfg.max_seq_len}  # no weight depends on it
        if {**saved, **context} != self.model_cfg.model_dump():
            raise ConfigError(f"model: {self.run_cfg.model} is not the model of {self.init_path} (with the tokenizer's "
                              "vocabulary); SFT continues the pretrained model as it is")
        ckpt.load_model_weights(self.init_path, self.parts)
        log.info("started from the weights of %s", self.init_path)

    def local_batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]:
        """This data-parallel rank's rows of step ``step``: inputs, targets, documents, and the number of
        assistant tokens in the whole global batch."""
        g, dp = self.cfg.global_batch_samples, self.cfg.parallel.dp
        rows = self.data.rows_of(step * g, g)
        count = int((self.data.targets[rows] != IGNORE).sum())
        mine = rows[self.mesh.dp_rank * (g // dp):(self.mesh.dp_rank + 1) * (g // dp)]
        to = lambda a: torch.from_numpy(a[mine]).to(self.device)  # noqa: E731
        return to(self.data.inputs), to(self.data.targets), to(self.data.documents), count

    def loss_sum(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.cross_entropy(logits.flatten(0, 1).float(), targets.flatten(0, 1),
                                                 ignore_index=IGNORE, reduction="sum")

    def forward_backward(self, step: int) -> float:
        """As ``Trainer.forward_backward``, with the loss of each microbatch its assistant tokens' summed loss
        over the global batch's count. Data parallelism averages the ranks' gradients, so each rank's share
        goes into the backward times dp (the average of the shares times dp is their sum)."""
        inputs, targets, documents, count = self.local_batch(step)
        count = max(count, 1) / self.cfg.parallel.dp
        autocast, loss_ctx = self._contexts()
        n = self.n_microbatches
        local = torch.zeros((), device=self.device)
        with loss_ctx:
            if self.schedule is not None:  # pp > 1: unpacked rows, the schedule's loss is this step's sum / count
                self._count = count
                losses: list[torch.Tensor] = []
                with autocast:
                    self.schedule.step(*([inputs] if self.has_first else []), target=targets if self.has_last else None,
                                       losses=losses)
                if self.has_last:
                    local = torch.stack([_local_value(loss) for loss in losses]).sum() / self.cfg.parallel.dp
            else:
                part = self.parts[0]
                packed = self.data.pack
                for m, (x, y, d) in enumerate(zip(inputs.chunk(n), targets.chunk(n), documents.chunk(n))):
                    self._sync_only_at_last(part, m == n - 1)
                    with autocast:
                        loss = self.loss_sum(part(x, d) if packed else part(x), y) / count
                    loss.backward()
                    local += _local_value(loss) / self.cfg.parallel.dp
        holds_loss = self.has_last and self.mesh.tp_rank == 0
        return float(sum_over_ranks(local if holds_loss else torch.zeros_like(local)))

    SCHEDULE_SCALES_GRADS = False

    def schedule_loss(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return self.loss_sum(logits, targets) / self._count

    @torch.no_grad()
    def validate(self) -> dict[str, dict]:
        """Mean loss per assistant token over the held-out conversations (one per row)."""
        total, count = 0.0, 0
        b = self.cfg.micro_batch_size
        for start in range(0, len(self.data.valid), b):
            chunk = self.data.valid[start:start + b]
            length = max(len(ids) for ids, _ in chunk)
            inputs = torch.full((len(chunk), length), self.data.pad_id, dtype=torch.long)
            targets = torch.full((len(chunk), length), IGNORE, dtype=torch.long)
            for r, (ids, tgt) in enumerate(chunk):
                inputs[r, :len(ids)], targets[r, :len(ids)] = torch.tensor(ids), torch.tensor(tgt)
            logits = self.full_logits(inputs.to(self.device))
            total += float(self.loss_sum(logits, targets.to(self.device)))
            count += int((targets != IGNORE).sum())
        return {"held-out": {"loss": total / max(count, 1), "tokens": count}}


def run(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m train.sft", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 2)[2])
    p.add_argument("--config", required=True, help="SFT run config (configs/train/sft_*.yaml)")
    p.add_argument("--init", default=None, help="override sft.init: the pretrained run or step directory")
    p.add_argument("--data", default=None, help="override data: conversations JSONL or a selection's directory")
    p.add_argument("--out", default=None, help="override the run directory")
    p.add_argument("--resume", default="auto", help="auto (default), none, or a checkpoint directory")
    p.add_argument("--max-steps", type=int, default=None, help="override max_steps")
    args = p.parse_args(argv)
    rank = int(os.environ.get("RANK", "0"))
    logging.basicConfig(level=logging.INFO if rank == 0 else logging.WARNING,
                        format=f"%(asctime)s %(levelname)s %(name)s{f' [rank {rank}]' if rank else ''}: %(message)s")
    overrides = {k: v for k, v in (("data", args.data), ("out", args.out), ("max_steps", args.max_steps)) if v is not None}
    try:
        cfg = load_train_config(args.config, overrides, SFTConfig)
        if args.init:
            cfg = SFTConfig.model_validate({**cfg.model_dump(), "sft": {**cfg.sft.model_dump(), "init": args.init}})
        require_existing("data", conversations_file(cfg.data), args.config, "conversations")
        require_existing("sft.init", cfg.sft.init, args.config, "pretrained run or checkpoint")
        if cfg.sft.tokenizer is not None:
            require_existing("sft.tokenizer", cfg.sft.tokenizer, args.config, "tokenizer")
        SFTTrainer(cfg, resume=args.resume).run()
        return 0
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


main = main_of(run, ckpt.CheckpointError, TrainingStopped, EvaluationError, FileNotFoundError, ConversationError)


if __name__ == "__main__":
    sys.exit(main())
