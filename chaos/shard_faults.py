"""Corrupted token shards: a bit flipped in a ``.bin``, an ``.idx`` cut short, a shard file deleted. The
trainer must refuse to start, before its first step, with an error that names the damaged file, and write
no checkpoint.

    python -m chaos.shard_faults      (a few trials; ``make chaos`` runs ``run`` through ``chaos.suite``)

``run``: small shards are built once per call; each trial damages a fresh copy of them in one way drawn by the
trial's seeded ``random.Random``, then starts training on it: in-process through ``train.pretrain.Trainer``
(which opens the data with ``train.data``'s ``TokenSamples`` and ``valid_sets``), and in the first trial
through the real command line, ``python -m train.pretrain``. Survived: the start was refused, the error
names the damaged file, and the run directory holds no checkpoint. Lost: trials that did not end so (a
damage that went unnoticed would train, and its checkpoints are written from the first step).
``recover_s``: from the start to the error (the command line's includes starting Python and torch).
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
FAULTS = {"bit flip": ("bit flip in .bin", "bit flips in .bin"), "truncated .idx": ("truncated .idx", "truncated .idx"),
          "missing file": ("missing file", "missing files")}
"""The damages, each with how the report counts one and several."""
TIMEOUT_S = 300


def _shards(work: Path) -> Path:
    from tests.test_pretrain import write_shards

    shards = work / "shards"
    shutil.rmtree(shards, ignore_errors=True)
    shards.mkdir(parents=True)
    write_shards(shards)
    return shards


def _config(trial: Path, shards: Path) -> Path:
    """A tiny run that checkpoints after its first step, so that a damage that goes unnoticed shows."""
    cfg = {
        "model": str(ROOT / "configs" / "model" / "tiny.yaml"), "data": str(shards), "out": str(trial / "run"), "seq_len": 32,
        "micro_batch_size": 4, "global_batch_tokens": 256, "max_steps": 2, "seed": 3, "device": "cpu",
        "optimizer": {"warmup_steps": 1}, "log_interval": 1, "eval_interval": None, "eval_tokens": 512, "checkpoint_interval": 1,
    }
    path = trial / "run.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def inject(shards: Path, rng: random.Random) -> tuple[str, Path]:
    """Damage one shard file in one of ``FAULTS``; returns the fault and the file."""
    from datapipe.indexed import load_manifest, manifest_files

    files = [shards / f.path for f in manifest_files(load_manifest(shards))]
    fault = rng.choice(list(FAULTS))
    if fault == "bit flip":
        target = rng.choice([f for f in files if f.suffix == ".bin"])
        data = bytearray(target.read_bytes())
        data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        target.write_bytes(bytes(data))
    elif fault == "truncated .idx":
        target = rng.choice([f for f in files if f.suffix == ".idx"])
        data = target.read_bytes()
        target.write_bytes(data[: rng.randrange(len(data))])
    else:
        target = rng.choice(files)
        target.unlink()
    return fault, target


def _start_in_process(config: Path) -> str:
    """Train as the command line would; the error's message, or "" when training went ahead."""
    from datapipe.indexed import ShardVerificationError
    from train.config import load_train_config
    from train.pretrain import Trainer

    try:
        trainer = Trainer(load_train_config(config), resume="none")
    except ShardVerificationError as exc:
        return str(exc)
    trainer.run()
    return ""


def _start_command_line(config: Path) -> str:
    """``python -m train.pretrain``; its stderr when it failed, "" when it trained."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "train.pretrain", "--config", str(config), "--resume", "none"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=TIMEOUT_S)
    return done.stderr if done.returncode else ""


def run(trials: int, work: Path, seed: int = 0) -> dict:
    work = Path(work).resolve()
    base = _shards(work)
    survived, seconds, faults, missed = 0, [], Counter(), []
    for i in range(trials):
        trial = work / f"trial-{i:03d}"
        shutil.rmtree(trial, ignore_errors=True)
        shards = trial / "shards"
        shutil.copytree(base, shards)
        fault, target = inject(shards, random.Random(f"shard_faults:{seed}:{i}"))
        faults[fault] += 1
        config = _config(trial, shards)
        start = time.perf_counter()
        try:
            error = (_start_command_line if i == 0 else _start_in_process)(config)
        except Exception as exc:  # another error than the check's: the damage reached the reader or the model
            error = f"{type(exc).__name__}: {exc}"
        seconds.append(time.perf_counter() - start)
        checkpoints = list((trial / "run" / "checkpoints").glob("step-*"))
        if error and str(target) in error and not checkpoints:
            survived += 1
        else:
            missed.append(f"{fault} in {target.relative_to(trial)}: " + (f"error {error.strip()[-200:]!r}" if error else "trained")
                          + (f", {len(checkpoints)} checkpoint(s)" if checkpoints else ""))
    injected = ", ".join(f"{faults[f]} {FAULTS[f][faults[f] != 1]}" for f in FAULTS if faults[f])
    outcome = "every one named in the error before training, no checkpoint" if not missed else "not caught: " + "; ".join(missed)
    return {"fault": "corrupted token shards", "trials": trials, "survived": survived, "lost": trials - survived,
            "recover_s": sum(seconds) / len(seconds) if seconds else None,
            "detail": f"{injected} (the first through python -m train.pretrain); {outcome}"}


if __name__ == "__main__":
    with tempfile.TemporaryDirectory(prefix="shard-faults-") as scratch:
        print(run(4, Path(scratch)))
