"""Distributed checkpoints (``torch.distributed.checkpoint``) that resume at any layout and never run code on load.

A parallel run writes ``ROOT/step-00000100/``::

    .metadata            DCP's index: which file holds which slice of every tensor, by fully-qualified name
    __<rank>_<i>.distcp  the shards each rank wrote: model weights and AdamW state
    trainer.json         format, step, run state, data fingerprint, configs, RNG states, and the size and
                         SHA-256 of every other file

Model and optimizer go through ``get_state_dict`` / ``set_state_dict`` (``torch.distributed.checkpoint.
state_dict``): weights keyed by parameter name, AdamW state and hyper-parameters flattened per parameter
(``optimizer.state.layers.3.attention.wq.weight.exp_avg``), so nothing depends on how the model was cut
or sharded; on load DCP reads every rank's slices from whichever files hold them (DP 2 -> TP 2, PP 2 ->
PP 1, ... or one process). The trainer state is JSON, taken from rank 0.

Atomic: every rank writes into ``ROOT/.tmp-step-*`` (the name chosen by rank 0), each rank hashes the
files it wrote, rank 0 writes ``trainer.json`` last, renames the directory into place and fsyncs; the
other ranks wait at a barrier. ``verify`` checks every recorded file (the hashing split over the ranks),
so ``latest_checkpoint`` skips a corrupt or incomplete checkpoint, as ``train.checkpoint`` does for the
single-process format, whose checkpoints it also finds and loads (the two formats share a root, so a
run can change between one process and several). ``python -m train.dist_checkpoint STEP_DIR --output
ROOT`` rewrites a distributed checkpoint in the single-process format, for evaluation and export.

Safe loading: DCP's ``FileSystemReader`` reads ``.metadata`` with ``pickle.load`` and its default planner
reads non-tensor values with ``torch.load(weights_only=False)``; either would run whatever code a crafted
file names. ``SafeFileSystemReader`` unpickles the metadata with an allow-list (DCP's metadata
dataclasses, ``torch.Size``, torch dtypes and layouts, a few builtins; any other global is refused) and
``SafeLoadPlanner`` reads values with ``weights_only=True``; tensors are already read with
``weights_only=True`` by DCP itself. The allow-list holds classes whose unpickling only builds data
(dataclasses, ``torch.Size``, ``pathlib.PosixPath``) and ``torch.serialization._get_layout``, which
looks a layout up by name.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import logging
import pickle
import shutil
import sys
import uuid
import warnings
from pathlib import Path

import torch
import torch.distributed as dist
import torch.distributed.checkpoint as dcp
from safetensors.torch import load_file
from torch import nn
from torch.distributed.checkpoint import FileSystemReader, FileSystemWriter
from torch.distributed.checkpoint import metadata as dcp_metadata
from torch.distributed.checkpoint._traverse import set_element
from torch.distributed.checkpoint.default_planner import DefaultLoadPlanner
from torch.distributed.checkpoint.filesystem import _StorageInfo
from torch.distributed.checkpoint.planner import ReadItem
from torch.distributed.checkpoint.state_dict import (
    StateDictOptions,
    get_model_state_dict,
    get_optimizer_state_dict,
    set_model_state_dict,
    set_optimizer_state_dict,
)
from torch.distributed.tensor import DTensor, distribute_tensor

from train import checkpoint as ckpt
from train import mup
from train.checkpoint import CheckpointError, fsync_path, sha256_file
from train.config import ModelConfig, TrainConfig
from train.model import Transformer

log = logging.getLogger("train.dist_checkpoint")

FORMAT = "dcp-1"
METADATA_FILE = ".metadata"
FLAT = StateDictOptions(flatten_optimizer_state_dict=True)


# --- safe loading -----------------------------------------------------------------------------------

_ALLOWED_GLOBALS = {
    *((dcp_metadata.__name__, name) for name in (
        "Metadata", "MetadataIndex", "TensorStorageMetadata", "BytesStorageMetadata", "ChunkStorageMetadata",
        "TensorProperties", "StorageMeta", "_MEM_FORMAT_ENCODING")),
    (_StorageInfo.__module__, _StorageInfo.__name__),
    ("torch", "Size"),
    ("torch.serialization", "_get_layout"),  # a torch.layout by its name ("torch.strided"): a dict lookup
    ("pathlib", "PosixPath"),  # StorageMeta.checkpoint_id
    ("collections", "OrderedDict"),
    ("builtins", "set"), ("builtins", "frozenset"), ("builtins", "tuple"), ("builtins", "list"), ("builtins", "dict"),
}


class _MetadataUnpickler(pickle.Unpickler):
    """Unpickles DCP's metadata and nothing else: every global outside the allow-list is refused."""

    def find_class(self, module: str, name: str):
        if (module, name) in _ALLOWED_GLOBALS:
            return super().find_class(module, name)
        if module == "torch" and isinstance(getattr(torch, name, None), torch.dtype):
            return getattr(torch, name)
        raise CheckpointError(f"checkpoint metadata names {module}.{name}, which is not DCP metadata: refusing to load it")


class SafeFileSystemReader(FileSystemReader):
    """DCP's file reader with the metadata unpickled through ``_MetadataUnpickler``."""

    def read_metadata(self, *args, **kwargs) -> dcp_metadata.Metadata:
        rank = kwargs.get("rank")
        with self.fs.create_stream(self._get_metadata_path(rank), "rb") as f:
            metadata = _MetadataUnpickler(f).load()
        if not isinstance(metadata, dcp_metadata.Metadata):
            raise CheckpointError(f"{self.path}: {METADATA_FILE} holds a {type(metadata).__name__}, not DCP metadata")
        if getattr(metadata, "storage_meta", None) is None:
            metadata.storage_meta = dcp_metadata.StorageMeta()
        metadata.storage_meta.load_id = self.load_id
        return metadata


class SafeLoadPlanner(DefaultLoadPlanner):
    """DCP's default planner, reading non-tensor values (hyper-parameters) with ``weights_only=True``."""

    def load_bytes(self, read_item: ReadItem, value: io.BytesIO) -> None:
        loaded = torch.load(value, weights_only=True)
        if self.flatten_state_dict:
            set_element(self.original_state_dict, self.mappings[read_item.dest_index.fqn], loaded)
        else:
            self.state_dict[read_item.dest_index.fqn] = loaded


# --- distributed helpers (one process: no process group) ------------------------------------------


def _rank_world() -> tuple[int, int]:
    return (dist.get_rank(), dist.get_world_size()) if dist.is_initialized() else (0, 1)


def _from_rank0(obj):
    if not dist.is_initialized():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def _gather_to_all(obj) -> list:
    if not dist.is_initialized():
        return [obj]
    out = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def _barrier() -> None:
    if dist.is_initialized():
        dist.barrier()


# --- state --------------------------------------------------------------------------------------------


def rng_state_json() -> dict:
    """Rank 0's RNG states as JSON (every rank draws the same numbers: all start from the run's seed)."""
    tensors, meta = ckpt.rng_state()
    return {"tensors": {k: base64.b64encode(v.numpy().tobytes()).decode() for k, v in tensors.items()}, **meta}


def set_rng_state_json(state: dict) -> None:
    tensors = {k: torch.frombuffer(bytearray(base64.b64decode(v)), dtype=torch.uint8) for k, v in state["tensors"].items()}
    ckpt.set_rng_state(tensors, {"python": state["python"]})


def _part_states(parts: list[nn.Module], optimizers: list[torch.optim.Optimizer]) -> list[tuple[dict, dict]]:
    """Each stage's model and flattened optimizer state dicts, keys by fully-qualified name."""
    return [(get_model_state_dict(part), get_optimizer_state_dict(part, opt, options=FLAT))
            for part, opt in zip(parts, optimizers)]


def _merged(states: list[tuple[dict, dict]]) -> dict:
    return {"model": {k: v for m, _ in states for k, v in m.items()},
            "optimizer": {k: v for _, o in states for k, v in o.items()}}


# --- save -----------------------------------------------------------------------------------------------


def save_checkpoint(root: str | Path, step: int, parts: list[nn.Module], optimizers: list[torch.optim.Optimizer],
                    trainer_state: dict, keep_last: int | None = None) -> Path:
    """Write the checkpoint of ``step`` from every rank (a collective: all ranks call it)."""
    root = Path(root)
    rank, world = _rank_world()
    final = ckpt.step_dir(root, step)
    tmp = Path(_from_rank0(str(root / f".tmp-{final.name}-{uuid.uuid4().hex[:8]}")))
    if rank == 0:
        tmp.mkdir(parents=True)
    _barrier()
    try:
        dcp.save(_merged(_part_states(parts, optimizers)), storage_writer=FileSystemWriter(tmp))
        mine = sorted(tmp.glob(f"__{rank}_*")) + ([tmp / METADATA_FILE] if rank == 0 else [])
        files = {}
        for rank_files in _gather_to_all({f.name: {"bytes": f.stat().st_size, "sha256": sha256_file(f)} for f in mine}):
            files.update(rank_files)
        if rank == 0:
            unrecorded = sorted({f.name for f in tmp.iterdir()} - set(files))
            if unrecorded:
                raise CheckpointError(f"{tmp}: files no rank accounts for: {unrecorded[:5]}")
            meta = {"format": FORMAT, "step": step, "world_size": world, "files": files, "rng": rng_state_json(),
                    "trainer": trainer_state}
            (tmp / ckpt.TRAINER_FILE).write_text(json.dumps(meta, indent=1) + "\n")
            fsync_path(tmp / ckpt.TRAINER_FILE)
            ckpt.publish(tmp, final)
    except BaseException:
        if rank == 0:
            shutil.rmtree(tmp, ignore_errors=True)
        raise
    _barrier()
    if rank == 0:
        ckpt.prune(root, keep_last)
    return final


# --- verify and find ------------------------------------------------------------------------------------


def checkpoint_format(path: Path) -> str | None:
    """``FORMAT`` for a DCP checkpoint, ``train.checkpoint``'s version for a single-process one, None when unreadable."""
    try:
        return json.loads((path / ckpt.TRAINER_FILE).read_text()).get("format")
    except (OSError, json.JSONDecodeError, UnicodeDecodeError, AttributeError):
        return None


def _verify_files(path: Path, files: dict, share: slice) -> list[str]:
    problems = []
    for name in sorted(files)[share]:
        want, f = files[name], path / name
        if not f.is_file():
            problems.append(f"{f}: missing")
        elif f.stat().st_size != want["bytes"]:
            problems.append(f"{f}: truncated or padded ({f.stat().st_size} bytes, expected {want['bytes']})")
        elif sha256_file(f) != want["sha256"]:
            problems.append(f"{f}: corrupt (SHA-256 differs from the one recorded at save time)")
    return problems


def verify(path: str | Path) -> dict:
    """The ``trainer.json`` of a checkpoint of either format once every file checks out. Under a process
    group it is a collective, so that all ranks decide alike: each rank hashes a share of a distributed
    checkpoint's files; a single-process checkpoint is small enough for every rank to check all of it."""
    path = Path(path)
    rank, world = _rank_world()
    if checkpoint_format(path) != FORMAT:
        try:
            meta, problems = ckpt.verify(path), []
        except CheckpointError as exc:
            meta, problems = None, [str(exc)]
    else:
        meta = json.loads((path / ckpt.TRAINER_FILE).read_text())
        problems = _verify_files(path, meta["files"], slice(rank, None, world))
    problems = [p for rank_problems in _gather_to_all(problems) for p in rank_problems]
    if problems:
        raise CheckpointError("; ".join(dict.fromkeys(problems)))
    return meta


def latest_checkpoint(root: str | Path) -> Path | None:
    """The newest checkpoint of either format that verifies; newer corrupt or incomplete ones are skipped."""
    for path in reversed(ckpt.list_checkpoints(root)):
        try:
            verify(path)
            return path
        except CheckpointError as exc:
            log.warning("skipping checkpoint: %s", exc)
    return None


# --- load ---------------------------------------------------------------------------------------------


def load_checkpoint(path: str | Path, parts: list[nn.Module], optimizers: list[torch.optim.Optimizer]) -> ckpt.Restored:
    """Load a verified checkpoint of either format into this rank's stages and optimizers (whatever layout
    wrote it), restore the RNG states, and return the step and the trainer state."""
    path = Path(path)
    meta = verify(path)
    states = _part_states(parts, optimizers)
    merged = _merged(states)
    if meta["format"] == FORMAT:
        with warnings.catch_warnings():  # one process reading a distributed checkpoint is meant, not an accident
            warnings.filterwarnings("ignore", message="torch.distributed is disabled")
            dcp.load(merged, storage_reader=SafeFileSystemReader(path), planner=SafeLoadPlanner(),
                     no_dist=not dist.is_initialized())
    else:
        merged = _laid_out_like(_single_process_state(path, meta), merged, path)
    for (model_sd, optim_sd), part, opt in zip(states, parts, optimizers):
        set_model_state_dict(part, {k: merged["model"][k] for k in model_sd}, options=FLAT)
        set_optimizer_state_dict(part, opt, {k: merged["optimizer"][k] for k in optim_sd}, options=FLAT)
    if meta["format"] == FORMAT:
        set_rng_state_json(meta["rng"])
    else:
        ckpt.set_rng_state({k: v for k, v in load_file(path / ckpt.OPTIMIZER_FILE).items() if k.startswith("rng/")},
                           meta["rng"])
    return ckpt.Restored(step=meta["step"], trainer=meta["trainer"])


def _laid_out_like(full: dict, local: dict, path: Path) -> dict:
    """Full tensors cut into this rank's shards: each value takes the layout (plain or DTensor mesh and
    placements) of the same key in ``local``; every rank cuts its own shard, no communication."""
    out = {}
    for section, values in local.items():
        missing = sorted(set(values) - set(full[section]))
        if missing:
            raise CheckpointError(f"{path}: the model does not match (missing {missing[:5]})")
        out[section] = {}
        for key, like in values.items():
            value = full[section][key]
            if isinstance(like, DTensor):
                value = distribute_tensor(value.to(like.device), like.device_mesh, like.placements, src_data_rank=None)
            elif torch.is_tensor(like):
                value = value.to(like.device)
            out[section][key] = value
    return out


def _single_process_state(path: Path, meta: dict) -> dict:
    """A ``train.checkpoint`` checkpoint in the flattened, name-keyed form of ``_merged`` (full tensors)."""
    optimizer: dict = {}
    for key, value in load_file(path / ckpt.OPTIMIZER_FILE).items():
        if not key.startswith("rng/"):
            name, _, state_key = key.rpartition("/")
            optimizer[f"state.{name}.{state_key}"] = value
    for group in meta["optimizer_groups"]:
        for name in group["params"]:
            for key, value in group.items():
                if key != "params":
                    optimizer[f"param_groups.{name}.{key}"] = tuple(value) if key == "betas" else value
    return {"model": load_file(path / ckpt.MODEL_FILE), "optimizer": optimizer}


# --- one process's copy ------------------------------------------------------------------------------------


def to_single_process(path: str | Path, output_root: str | Path) -> Path:
    """Rewrite a distributed checkpoint as a ``train.checkpoint`` one (``OUTPUT_ROOT/step-N``), the format
    ``train.evaluate`` and ``train.export_hf`` read; it is loaded in one process (the whole model in memory)."""
    path = Path(path)
    if checkpoint_format(path) != FORMAT:
        raise CheckpointError(f"{path}: not a distributed checkpoint ({ckpt.TRAINER_FILE} format is not {FORMAT!r})")
    trainer = json.loads((path / ckpt.TRAINER_FILE).read_text())["trainer"]
    model_cfg = ModelConfig.model_validate(trainer["config"]["model"])
    o = TrainConfig.model_validate(trainer["config"]["run"]).optimizer
    with torch.device("meta"):
        model = Transformer(model_cfg)
    model.to_empty(device="cpu")
    model.init_weights("cpu")  # RoPE tables; every weight is then loaded
    optimizer = mup.build_optimizer(model, model_cfg, lr=o.lr, betas=o.betas, eps=o.eps, weight_decay=o.weight_decay)
    restored = load_checkpoint(path, [model], [optimizer])
    return ckpt.save_checkpoint(output_root, restored.step, model, optimizer, restored.trainer)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="train.dist_checkpoint",
                                description="Rewrite a distributed checkpoint in the single-process format "
                                            "(for train.evaluate and train.export_hf).")
    p.add_argument("checkpoint", help="a distributed checkpoint's step directory (RUN/checkpoints/step-N)")
    p.add_argument("--output", required=True, help="checkpoint root to write step-N into (e.g. RUN-one/checkpoints)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        print(to_single_process(args.checkpoint, args.output))
    except (CheckpointError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
