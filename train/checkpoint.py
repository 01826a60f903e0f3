"""Atomic, pickle-free training checkpoints that resume bit-exactly.

A checkpoint is a directory ``ROOT/step-00000100/``::

    model.safetensors      the model's state dict
    optimizer.safetensors  every tensor of the optimizer state, keyed ``<param name>/<state key>``
    trainer.json           step, schedule, data position, RNG states, the optimizer's param groups,
                           the config, and the SHA-256 and size of both tensor files

It is written into ``ROOT/.tmp-step-*``, every file fsynced, then renamed into place and the parent
fsynced: a crash leaves a ``.tmp-*`` directory that is never taken for a checkpoint. Loading reads
safetensors and JSON only, so a checkpoint can never run code (no unpickling); a file whose size or
digest differs from what ``trainer.json`` recorded is reported as corrupt, and ``latest`` falls back
to the newest checkpoint that verifies.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

log = logging.getLogger("train.checkpoint")

MODEL_FILE = "model.safetensors"
OPTIMIZER_FILE = "optimizer.safetensors"
TRAINER_FILE = "trainer.json"
FORMAT_VERSION = 1


class CheckpointError(RuntimeError):
    """A checkpoint is missing, incomplete or corrupt; the message says which file and why."""


def step_dir(root: str | Path, step: int) -> Path:
    return Path(root) / f"step-{step:08d}"


# --- RNG state ----------------------------------------------------------------------------------


def rng_state() -> tuple[dict[str, torch.Tensor], dict]:
    """Every RNG the training step draws from: tensors for torch (CPU and each CUDA device), JSON for Python."""
    tensors = {"rng/torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng/cuda{i}"] = s
    version, internal, gauss = random.getstate()
    return tensors, {"python": [version, list(internal), gauss]}


def set_rng_state(tensors: dict[str, torch.Tensor], meta: dict) -> None:
    torch.set_rng_state(tensors["rng/torch"])
    cuda = [tensors[k] for k in sorted(k for k in tensors if k.startswith("rng/cuda"))]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda)
    version, internal, gauss = meta["python"]
    random.setstate((version, tuple(internal), gauss))


# --- optimizer state as flat tensors + JSON --------------------------------------------------------


def optimizer_to_flat(optimizer: torch.optim.Optimizer, names: dict[int, str]) -> tuple[dict[str, torch.Tensor], list[dict]]:
    """The optimizer state as ``{"<param name>/<key>": tensor}`` and its param groups as JSON-able dicts
    (parameters by name, so a checkpoint does not depend on the order parameters were registered)."""
    sd = optimizer.state_dict()
    index_to_name = {}
    for group, sd_group in zip(optimizer.param_groups, sd["param_groups"]):
        for p, idx in zip(group["params"], sd_group["params"]):
            index_to_name[idx] = names[id(p)]
    tensors = {}
    for idx, state in sd["state"].items():
        for key, value in state.items():
            if not torch.is_tensor(value):
                value = torch.tensor(value)
            tensors[f"{index_to_name[idx]}/{key}"] = value.detach().contiguous().cpu()
    groups = []
    for g in sd["param_groups"]:
        out = {k: (list(v) if isinstance(v, tuple) else v) for k, v in g.items() if k != "params"}
        out["params"] = [index_to_name[i] for i in g["params"]]
        groups.append(out)
    return tensors, groups


def optimizer_from_flat(optimizer: torch.optim.Optimizer, names: dict[int, str], tensors: dict[str, torch.Tensor],
                        groups: list[dict]) -> None:
    current = [[names[id(p)] for p in g["params"]] for g in optimizer.param_groups]
    saved = [g["params"] for g in groups]
    if current != saved:
        raise CheckpointError("the optimizer's parameter groups differ from the checkpoint's (another model or config?)")
    name_to_index = {name: i for i, name in enumerate(n for g in current for n in g)}
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        name, _, skey = key.rpartition("/")
        state.setdefault(name_to_index[name], {})[skey] = value
    param_groups = []
    for g in groups:
        g = dict(g)
        g["params"] = [name_to_index[n] for n in g["params"]]
        if "betas" in g:
            g["betas"] = tuple(g["betas"])
        param_groups.append(g)
    optimizer.load_state_dict({"state": state, "param_groups": param_groups})


# --- save / load ---------------------------------------------------------------------------------


def sha256_file(path: Path) -> str:
    """SHA-256 of a file, read in 4 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()


def fsync_path(path: Path) -> None:
    """Flush a file or a directory (a rename is durable once its directory is) to the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def save_checkpoint(root: str | Path, step: int, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                    trainer_state: dict, keep_last: int | None = None) -> Path:
    """Write the checkpoint of ``step`` atomically; ``trainer_state`` is JSON (schedule, data position,
    counters, config). Keeps the newest ``keep_last`` complete checkpoints when given."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    final = step_dir(root, step)
    tmp = root / f".tmp-{final.name}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        names = {id(p): n for n, p in model.named_parameters()}
        model_sd = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
        opt_tensors, groups = optimizer_to_flat(optimizer, names)
        rng_tensors, rng_meta = rng_state()
        save_file(model_sd, tmp / MODEL_FILE)
        save_file({**opt_tensors, **rng_tensors}, tmp / OPTIMIZER_FILE)
        files = {name: {"bytes": (tmp / name).stat().st_size, "sha256": sha256_file(tmp / name)} for name in (MODEL_FILE, OPTIMIZER_FILE)}
        meta = {"format": FORMAT_VERSION, "step": step, "files": files, "optimizer_groups": groups, "rng": rng_meta,
                "trainer": trainer_state}
        (tmp / TRAINER_FILE).write_text(json.dumps(meta, indent=1) + "\n")
        for name in (MODEL_FILE, OPTIMIZER_FILE, TRAINER_FILE):
            fsync_path(tmp / name)
        publish(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    prune(root, keep_last)
    return final


def publish(tmp: Path, final: Path) -> None:
    """Make the complete, fsynced checkpoint directory ``tmp`` the checkpoint ``final``, durably."""
    fsync_path(tmp)
    if final.exists():  # a re-run of the same step: replace it only now that the new one is complete
        shutil.rmtree(final)
    os.replace(tmp, final)
    fsync_path(final.parent)


def prune(root: str | Path, keep_last: int | None) -> None:
    """Remove all but the newest ``keep_last`` checkpoints (none when ``keep_last`` is None)."""
    if keep_last:
        for old in list_checkpoints(root)[:-keep_last]:
            shutil.rmtree(old, ignore_errors=True)


def list_checkpoints(root: str | Path) -> list[Path]:
    """Checkpoint directories under ``root``, oldest first (complete or not: see ``verify``)."""
    root = Path(root)
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and p.name.startswith("step-") and p.name[5:].isdigit())


def verify(path: Path) -> dict:
    """The checkpoint's ``trainer.json`` once every file is present with the recorded size and digest."""
    meta_path = path / TRAINER_FILE
    if not meta_path.is_file():
        raise CheckpointError(f"{path}: incomplete, {TRAINER_FILE} is missing")
    try:
        meta = json.loads(meta_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{meta_path}: corrupt ({exc})") from None
    if meta.get("format") != FORMAT_VERSION:
        raise CheckpointError(f"{meta_path}: format {meta.get('format')!r}, expected {FORMAT_VERSION}")
    for name, want in meta["files"].items():
        f = path / name
        if not f.is_file():
            raise CheckpointError(f"{f}: missing")
        if f.stat().st_size != want["bytes"]:
            raise CheckpointError(f"{f}: truncated or padded ({f.stat().st_size} bytes, expected {want['bytes']})")
        if sha256_file(f) != want["sha256"]:
            raise CheckpointError(f"{f}: corrupt (SHA-256 differs from the one recorded at save time)")
    return meta


def latest_checkpoint(root: str | Path) -> Path | None:
    """The newest checkpoint that verifies; corrupt or incomplete newer ones are skipped with a warning."""
    for path in reversed(list_checkpoints(root)):
        try:
            verify(path)
            return path
        except CheckpointError as exc:
            log.warning("skipping checkpoint: %s", exc)
    return None


@dataclass
class Restored:
    step: int
    trainer: dict


def load_checkpoint(path: str | Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer | None) -> Restored:
    """Load a verified checkpoint into ``model`` (and ``optimizer``), restore the RNG states, and return
    the step and the trainer state."""
    path = Path(path)
    meta = verify(path)
    device = next(model.parameters()).device
    model_sd = load_file(path / MODEL_FILE, device=str(device))
    missing, unexpected = model.load_state_dict(model_sd, strict=False)
    if missing or unexpected:
        raise CheckpointError(f"{path}: the model does not match (missing {missing[:5]}, unexpected {unexpected[:5]})")
    rest = load_file(path / OPTIMIZER_FILE)
    rng = {k: v for k, v in rest.items() if k.startswith("rng/")}
    if optimizer is not None:
        names = {id(p): n for n, p in model.named_parameters()}
        opt = {k: v.to(device) if not k.endswith("/step") else v for k, v in rest.items() if not k.startswith("rng/")}
        optimizer_from_flat(optimizer, names, opt, meta["optimizer_groups"])
    set_rng_state(rng, meta["rng"])
    return Restored(step=meta["step"], trainer=meta["trainer"])
