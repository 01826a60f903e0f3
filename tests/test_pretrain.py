"""The training loop: loss goes down, a stopped and resumed run is bit-identical to an uninterrupted one,
corrupt or truncated checkpoints are refused and skipped, NaN and spiking steps are skipped and counted."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
import yaml

from datapipe.config import ConfigError
from datapipe.indexed import write_indexed_dataset
from jobs.shards import Shard, TokenizeConfig, TokenizerInfo, build_manifest
from train import checkpoint as ckpt
from train import hparams
from train.config import load_train_config
from train.pretrain import Trainer, TrainingStopped, main
from train.schedule import lr_factor

VOCAB = 512


def write_shards(root) -> None:
    """Two domains of documents that follow simple rules (a learnable stream), train and valid shards."""
    rng = np.random.default_rng(0)
    shards, rows = [], []
    for d, domain in enumerate(("Alpha", "Beta")):
        for split, n_docs in (("train", 60), ("valid", 6)):
            docs = []
            for _ in range(n_docs):
                start, step = rng.integers(1, VOCAB), 1 + d
                docs.append(np.append((start + step * np.arange(rng.integers(20, 80))) % (VOCAB - 1) + 1, 0))
            shards.append(Shard(domain, split, 0))
            row = write_indexed_dataset(root / shards[-1].name, docs, np.uint16)
            rows.append({"shard": len(rows), "text_bytes": 3 * sum(len(x) - 1 for x in docs), **row})
    info = TokenizerInfo("file:/tok.json", "tok.json", "0" * 64, VOCAB, 0)
    manifest = build_manifest(shards, rows, info, np.dtype(np.uint16), TokenizeConfig(), ["file:/in"], {"Alpha": 0.7, "Beta": 0.3})
    (root / "manifest.json").write_text(json.dumps(manifest))


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    root = tmp_path_factory.mktemp("shards")
    write_shards(root)
    return root


def run_config(tmp_path, shards, **overrides) -> str:
    cfg = {
        "model": "configs/model/tiny.yaml", "data": str(shards), "out": str(tmp_path / "run"), "seq_len": 32,
        "micro_batch_size": 4, "global_batch_tokens": 256, "max_steps": 12, "seed": 3,
        "optimizer": {"lr_vector": 3e-3, "lr_matrix": 3e-3, "lr_min": 3e-4, "warmup_steps": 3, "decay_steps": 12},
        "log_interval": 1, "eval_interval": None, "eval_tokens": 512, "checkpoint_interval": 4, "keep_checkpoints": None,
    }
    for key, value in overrides.items():
        cfg[key] = {**cfg.get(key, {}), **value} if isinstance(value, dict) else value
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


def losses(run_dir) -> list[tuple[int, float]]:
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [(r["step"], r["loss"]) for r in rows if "loss" in r]


def test_loss_goes_down_and_outputs_are_written(tmp_path, shards):
    trainer = Trainer(load_train_config(run_config(tmp_path, shards, max_steps=30, optimizer={"decay_steps": 30})), resume="none")
    history = trainer.run()
    first, last = np.mean([r["loss"] for r in history[:3]]), np.mean([r["loss"] for r in history[-5:]])
    assert last < 0.85 * first
    assert all(r["skipped"] is None for r in history)
    run = tmp_path / "run"
    assert (run / "loss.png").stat().st_size > 5_000 and list((run / "tensorboard").iterdir())
    evals = [json.loads(line)["eval"] for line in (run / "metrics.jsonl").read_text().splitlines() if "eval" in line]
    assert set(evals[-1]) == {"Alpha", "Beta"} and all(0 < v < 20 for v in evals[-1].values())
    assert [p.name for p in ckpt.list_checkpoints(run / "checkpoints")] == [f"step-{s:08d}" for s in (4, 8, 12, 16, 20, 24, 28, 30)]


def test_stopped_and_resumed_run_is_bit_identical(tmp_path, shards):
    straight_dir, resumed_dir = tmp_path / "straight", tmp_path / "resumed"
    straight_dir.mkdir(), resumed_dir.mkdir()
    straight = Trainer(load_train_config(run_config(straight_dir, shards)), resume="none")
    straight.run()
    # The same run stopped after step 6 (its last checkpoint), then resumed from there.
    first = Trainer(load_train_config(run_config(resumed_dir, shards, max_steps=6)), resume="none")
    torch.rand(3)  # the RNG moves on (as dropout would move it); the checkpoint records where it is
    first.run()
    saved_rng = torch.get_rng_state()
    resumed = Trainer(load_train_config(run_config(resumed_dir, shards)), resume="auto")
    assert resumed.state.step == 6  # the checkpoint written when the first part stopped
    assert torch.equal(torch.get_rng_state(), saved_rng)  # not the fresh trainer's
    resumed.run()
    assert losses(straight_dir / "run") == losses(resumed_dir / "run")
    (straight_model,), (resumed_model,) = straight.parts, resumed.parts
    for (name, a), (_, b) in zip(straight_model.state_dict().items(), resumed_model.state_dict().items()):
        assert torch.equal(a, b), name
    params_b = dict(resumed_model.named_parameters())
    for name, p in straight_model.named_parameters():
        a, b = straight.optimizers[0].state[p], resumed.optimizers[0].state[params_b[name]]
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), name


def test_corrupt_or_truncated_checkpoint_is_refused_and_auto_falls_back(tmp_path, shards, caplog):
    Trainer(load_train_config(run_config(tmp_path, shards, max_steps=8)), resume="none").run()
    root = tmp_path / "run" / "checkpoints"
    newest = ckpt.step_dir(root, 8)
    (shard_file,) = newest.glob("__0_*.distcp")  # one process: one file of weights and AdamW state
    data = shard_file.read_bytes()
    shard_file.write_bytes(data[: len(data) // 2])
    with pytest.raises(ckpt.CheckpointError, match="truncated"):
        ckpt.verify(newest)
    shard_file.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))  # same size, one bit flipped
    with pytest.raises(ckpt.CheckpointError, match="corrupt"):
        ckpt.verify(newest)
    assert ckpt.latest_checkpoint(root) == ckpt.step_dir(root, 4)
    assert "skipping checkpoint" in caplog.text
    resumed = Trainer(load_train_config(run_config(tmp_path, shards)), resume="auto")
    assert resumed.state.step == 4
    # A crash mid-save leaves only a ._tmp- directory, never taken for a checkpoint; nor is one without trainer.json.
    (root / "step-00000012._tmp-dead").mkdir()
    shutil.copytree(ckpt.step_dir(root, 4), ckpt.step_dir(root, 16))
    (ckpt.step_dir(root, 16) / ckpt.TRAINER_FILE).unlink()
    assert ckpt.latest_checkpoint(root) == ckpt.step_dir(root, 4)
    ckpt.prune(root, None)  # as after every save: the interrupted save's directory goes, the checkpoints stay
    assert not (root / "step-00000012._tmp-dead").exists() and len(ckpt.list_checkpoints(root)) == 3
    # A named checkpoint that is corrupt is a clear error from the CLI.
    code = main(["--config", run_config(tmp_path, shards), "--resume", str(newest)])
    assert code == 2


def test_nan_and_spike_steps_are_skipped_and_too_many_stop(tmp_path, shards):
    trainer = Trainer(load_train_config(run_config(tmp_path, shards, spikes={"warmup_steps": 0, "max_consecutive": 3})), resume="none")
    trainer.train_step()
    (model,) = trainer.parts
    before = {k: v.clone() for k, v in model.state_dict().items()}
    trainer.state.loss_ema = 0.01  # any real loss is now a spike
    row = trainer.train_step()
    assert row["skipped"] == "spike" and trainer.state.skipped_total == 1
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # no update
    with torch.no_grad():
        model.output.weight[0, 0] = float("nan")
    assert trainer.train_step()["skipped"] == "nan"
    with pytest.raises(TrainingStopped, match="3 steps skipped in a row"):
        trainer.train_step()


def test_every_group_follows_the_schedule_from_its_own_peak_to_the_same_fraction(tmp_path, shards):
    """The trainer's per-group LRs are the ones ``train.hparams`` prints: peaks lr_vector and lr_matrix / width
    multiplier (tiny: 128 / 64 = 2), both ending at lr_min / lr_vector of their peak."""
    cfg = load_train_config(run_config(tmp_path, shards, optimizer={"lr_vector": 3e-3, "lr_matrix": 8e-3, "lr_min": 6e-4}))
    trainer = Trainer(cfg, resume="none")
    printed = {g["group"]: g for g in hparams.effective(trainer.model_cfg, cfg.optimizer)["groups"]}

    def group_lrs() -> dict[str, float]:
        return {g["name"]: g["lr"] for g in trainer.optimizers[0].param_groups}

    trainer.set_lr(cfg.optimizer.warmup_steps)  # the peak
    assert group_lrs() == pytest.approx({"embedding": 3e-3, "readout": 3e-3, "norm": 3e-3, "matrix": 4e-3})
    assert group_lrs() == pytest.approx({name: printed[name]["lr"] for name in group_lrs()})
    trainer.set_lr(cfg.max_steps)  # the floor
    assert group_lrs() == pytest.approx({"embedding": 6e-4, "readout": 6e-4, "norm": 6e-4, "matrix": 8e-4})
    assert group_lrs() == pytest.approx({name: printed[name]["lr_min"] for name in group_lrs()})


def test_schedule_warmup_cosine_and_floor():
    f = [lr_factor(s, warmup_steps=10, decay_steps=110, min_lr_ratio=0.1) for s in range(200)]
    assert f[0] == pytest.approx(0.1) and f[9] == pytest.approx(1.0)
    assert f[60] == pytest.approx(0.1 + 0.9 * 0.5 * (1 + np.cos(np.pi * 0.5)))
    assert all(a >= b for a, b in zip(f[9:], f[10:])) and f[110] == f[199] == 0.1


def test_bad_configs_are_clear_errors(tmp_path, shards):
    with pytest.raises(ConfigError, match="multiple of seq_len"):
        load_train_config(run_config(tmp_path, shards, global_batch_tokens=100))
    with pytest.raises(ConfigError, match="lr_min"):
        load_train_config(run_config(tmp_path, shards, optimizer={"lr_min": 1.0}))
    with pytest.raises(ConfigError, match="optimizer.lr: Extra inputs"):  # one LR no longer says which group it is for
        load_train_config(run_config(tmp_path, shards, optimizer={"lr": 1e-3}))


def test_help():
    out = subprocess.run([sys.executable, "-m", "train.pretrain", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "--resume" in out.stdout


@pytest.mark.parametrize("wrapped", [False, True])
@pytest.mark.parametrize("free", [0, 10 << 30])
def test_a_checkpoint_write_that_fills_the_disk_is_a_full_disk(tmp_path, monkeypatch, free, wrapped):
    """torch's zip writer reports a write cut short by a full disk as "unexpected pos", not ENOSPC, and DCP
    wraps a rank's error in a CheckpointException, a BaseException: with no room left the save fails as a
    full disk (one line from the CLI); with room, the error is kept."""
    from collections import namedtuple

    from torch.distributed.checkpoint.api import CheckpointException

    from datapipe.cli import full_disk

    def short_write(*args, **kwargs):
        error = RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 704 vs 598")
        raise CheckpointException("write", {0: (error, None)}) if wrapped else error

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(ckpt.dcp, "save", short_write)
    monkeypatch.setattr(ckpt.shutil, "disk_usage", lambda path: usage(64 << 20, (64 << 20) - free, free))
    model = torch.nn.Linear(2, 2)
    with pytest.raises(BaseException) as caught:
        ckpt.save_checkpoint(tmp_path / "checkpoints", 1, [model], [torch.optim.AdamW(model.parameters())], {})
    assert not list((tmp_path / "checkpoints").glob("step-*"))  # nothing left that looks like a checkpoint
    if free:
        assert isinstance(caught.value, CheckpointException if wrapped else RuntimeError) and full_disk(caught.value) is None
    else:
        assert isinstance(caught.value, OSError) and "No space left on device" in full_disk(caught.value)
