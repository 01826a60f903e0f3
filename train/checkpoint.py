"""Training checkpoints: torch distributed checkpoints (DCP), atomic, resumable at any layout, never running code on load.

A checkpoint is a directory ``ROOT/step-00000100/``::

    .metadata            DCP's index: which file holds which slice of every tensor, by fully-qualified name
    __<rank>_<i>.distcp  the shards each rank wrote: model weights and AdamW state
    rng-<rank>.json      that rank's random number generator states (torch CPU, its CUDA device, Python)
    trainer.json         format, step, ranks, run state, data fingerprint, configs, and the size and
                         SHA-256 of every other file

One format at every layout, one process included (DCP saves and loads without a process group). The
state is ``{"model": ..., "optimizer": ...}`` from ``get_model_state_dict`` / ``get_optimizer_state_dict``:
weights keyed by parameter name, AdamW state and hyper-parameters flattened per parameter
(``optimizer.state.layers.3.attention.wq.weight.exp_avg``), so nothing depends on how the model was cut
or sharded. Every rank writes only its own shards, and loads into its own: DCP plans a rank's reads from
its state dict (the local DTensor shards of its pipeline stages), so each rank requests only the slices
of its own parameters and optimizer state (DP 2 -> TP 2, one process -> PP 2, PP 2 -> one process, ...)
and none holds the whole model. ``load_model_tensors`` reads some of the model's tensors (a partial state
dict, no optimizer state), which is how evaluation and the Hugging Face export read a checkpoint. Each
rank's generators are its own (their states differ as soon as ranks draw different numbers): each rank
saves its states and, resumed at the same number of ranks, restores its own; resumed at another layout
there is no rank to take them from, and the generators stay as the new run seeded them.

Atomic: every rank writes into ``ROOT/step-N._tmp-*`` (the name chosen by rank 0), fsyncs and hashes the
files it wrote; rank 0 writes ``trainer.json`` last and publishes the directory (fsync, rename, fsync of
the parent: ``datapipe.io.publish``); the other ranks wait at a barrier. ``verify`` checks every
recorded file (under a process group the hashing is split over the ranks), so ``latest_checkpoint``
skips a corrupt or incomplete checkpoint; only the newest ``keep_last`` are kept.

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

import base64
import errno
import hashlib
import io
import json
import logging
import os
import pickle
import random
import shutil
import warnings
from contextlib import contextmanager
from pathlib import Path

import torch
import torch.distributed.checkpoint as dcp
from torch import nn
from torch.distributed.checkpoint import FileSystemReader, FileSystemWriter
from torch.distributed.checkpoint import metadata as dcp_metadata
from torch.distributed.checkpoint._traverse import set_element
from torch.distributed.checkpoint.api import CheckpointException
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

from datapipe.cli import full_disk
from datapipe.io import fsync, publish, temporary_sibling
from train.collectives import barrier, from_rank0, gather_to_all, rank_and_world

log = logging.getLogger("train.checkpoint")

FORMAT = "dcp-1"
TRAINER_FILE = "trainer.json"
METADATA_FILE = ".metadata"
MODEL_KEY = "model"
FLAT = StateDictOptions(flatten_optimizer_state_dict=True)


class CheckpointError(RuntimeError):
    """A checkpoint is missing, incomplete, corrupt or unsafe; the message says which file and why."""


def step_dir(root: str | Path, step: int) -> Path:
    return Path(root) / f"step-{step:08d}"


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


@contextmanager
def _single_process_is_intended():
    """DCP warns when it runs without a process group; here one process is a layout like any other."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="torch.distributed is disabled")
        yield


def _dcp_load(state: dict, path: Path, local: bool = False) -> None:
    """Read ``state``'s tensors and values in place from the checkpoint ``path``: only what ``state`` holds.
    A failure on any rank is one ``CheckpointError`` naming the first rank's cause. ``local``: this rank
    alone reads (no collective), so ranks may read different tensors and a different number of times."""
    with _single_process_is_intended():
        try:
            dcp.load(state, storage_reader=SafeFileSystemReader(path), planner=SafeLoadPlanner(), no_dist=local)
        except CheckpointException as exc:
            cause = next(iter(exc.failures.values()))[0]
            if isinstance(cause, CheckpointError):
                raise cause from None
            raise CheckpointError(f"{path}: does not fit this model ({' '.join(str(cause).split())[:400]})") from None


# --- state ------------------------------------------------------------------------------------------


def rng_file(rank: int) -> str:
    """The file of one rank's generator states in a checkpoint."""
    return f"rng-{rank:05d}.json"


def rng_state() -> dict:
    """This process's RNG states as JSON: torch's (CPU, and the current CUDA device's) as base64 bytes,
    Python's as a list."""
    tensors = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        tensors["cuda"] = torch.cuda.get_rng_state()
    version, internal, gauss = random.getstate()
    return {"tensors": {k: base64.b64encode(v.numpy().tobytes()).decode() for k, v in tensors.items()},
            "python": [version, list(internal), gauss]}


def set_rng_state(state: dict) -> None:
    tensors = {k: torch.frombuffer(bytearray(base64.b64decode(v)), dtype=torch.uint8) for k, v in state["tensors"].items()}
    torch.set_rng_state(tensors["torch"])
    if "cuda" in tensors and torch.cuda.is_available():
        torch.cuda.set_rng_state(tensors["cuda"])
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))


def _part_states(parts: list[nn.Module], optimizers: list[torch.optim.Optimizer]) -> list[tuple[dict, dict]]:
    """Each part's model and flattened optimizer state dicts (this rank's shards), keyed by parameter name."""
    return [(get_model_state_dict(part), get_optimizer_state_dict(part, opt, options=FLAT))
            for part, opt in zip(parts, optimizers)]


def training_state(parts: list[nn.Module], optimizers: list[torch.optim.Optimizer]) -> dict:
    """What a checkpoint holds of this rank: ``{"model": {name: shard}, "optimizer": {flat key: value}}``."""
    return _merged(_part_states(parts, optimizers))


def _merged(states: list[tuple[dict, dict]]) -> dict:
    return {MODEL_KEY: {k: v for m, _ in states for k, v in m.items()},
            "optimizer": {k: v for _, o in states for k, v in o.items()}}


# --- save ---------------------------------------------------------------------------------------------


def sha256_file(path: Path) -> str:
    """SHA-256 of a file, read in 4 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()


def _record_written(path: Path) -> dict:
    """Flush a file this rank wrote to the disk; its size and SHA-256 for ``trainer.json``."""
    fsync(path)
    return {"bytes": path.stat().st_size, "sha256": sha256_file(path)}


def save_checkpoint(root: str | Path, step: int, parts: list[nn.Module], optimizers: list[torch.optim.Optimizer],
                    trainer_state: dict, keep_last: int | None = None) -> Path:
    """Write the checkpoint of ``step`` (every rank calls it: under a process group it is a collective);
    ``trainer_state`` is JSON. Keeps the newest ``keep_last`` checkpoints when given."""
    root = Path(root)
    rank, world = rank_and_world()
    final = step_dir(root, step)
    tmp = Path(from_rank0(temporary_sibling(str(final))))
    if rank == 0:
        tmp.mkdir(parents=True)
    barrier()
    try:
        with _single_process_is_intended():
            dcp.save(training_state(parts, optimizers), storage_writer=FileSystemWriter(tmp))
        (tmp / rng_file(rank)).write_text(json.dumps(rng_state()) + "\n")
        mine = sorted(tmp.glob(f"__{rank}_*")) + [tmp / rng_file(rank)] + ([tmp / METADATA_FILE] if rank == 0 else [])
        files = {}
        for rank_files in gather_to_all({f.name: _record_written(f) for f in mine}):
            files.update(rank_files)
        if rank == 0:
            unrecorded = sorted({f.name for f in tmp.iterdir()} - set(files))
            if unrecorded:
                raise CheckpointError(f"{tmp}: files no rank accounts for: {unrecorded[:5]}")
            meta = {"format": FORMAT, "step": step, "world_size": world, "files": files, "trainer": trainer_state}
            (tmp / TRAINER_FILE).write_text(json.dumps(meta, indent=1) + "\n")
            fsync(tmp / TRAINER_FILE)
            publish(tmp, final, durable=True)
    except BaseException as exc:
        # DCP's CheckpointException is a BaseException, and names ENOSPC only in its text, if at all
        full = isinstance(exc, (Exception, CheckpointException)) and (full_disk(exc) is not None or _no_room(tmp))
        if rank == 0:
            shutil.rmtree(tmp, ignore_errors=True)
        if full:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(tmp)) from exc
        raise
    barrier()
    if rank == 0:
        prune(root, keep_last)
    return final


NO_ROOM_BYTES = 1 << 20
"""A file system with less free space than this after a failed write has filled up."""


def _no_room(path: Path) -> bool:
    """Whether ``path``'s file system is full: a write that fills it can fail as torch's own error (its zip
    writer reports "unexpected pos" after a short write), not as ``ENOSPC``."""
    try:
        return shutil.disk_usage(path if path.exists() else path.parent).free < NO_ROOM_BYTES
    except OSError:
        return False


def prune(root: str | Path, keep_last: int | None) -> None:
    """Remove all but the newest ``keep_last`` checkpoints (none when ``keep_last`` is None), and what
    interrupted saves left (``step-N._tmp-*``): it runs once a save is complete, when none is in flight."""
    for leftover in Path(root).glob("step-*._tmp-*"):
        shutil.rmtree(leftover, ignore_errors=True)
    if keep_last:
        for old in list_checkpoints(root)[:-keep_last]:
            shutil.rmtree(old, ignore_errors=True)


# --- verify and find ------------------------------------------------------------------------------------


def list_checkpoints(root: str | Path) -> list[Path]:
    """Checkpoint directories under ``root``, oldest first (complete or not: see ``verify``)."""
    root = Path(root)
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and p.name.startswith("step-") and p.name[5:].isdigit())


def _read_trainer_file(path: Path) -> dict:
    """A checkpoint's ``trainer.json``, once it exists, parses and is of this format (files not checked)."""
    meta_path = path / TRAINER_FILE
    if not path.is_dir():
        raise CheckpointError(f"checkpoint not found: {path}")
    if not meta_path.is_file():
        raise CheckpointError(f"{path}: incomplete, {TRAINER_FILE} is missing")
    try:
        meta = json.loads(meta_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{meta_path}: corrupt ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        found = meta.get("format") if isinstance(meta, dict) else None
        raise CheckpointError(f"{meta_path}: format {found!r}, expected {FORMAT!r} (a torch distributed checkpoint)")
    return meta


def _file_problems(path: Path, files: dict, share: slice) -> list[str]:
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
    """The checkpoint's ``trainer.json`` once every file it records has the recorded size and SHA-256.
    Under a process group it is a collective, so that all ranks decide alike: each rank hashes a share."""
    path = Path(path)
    rank, world = rank_and_world()
    try:
        meta = _read_trainer_file(path)
        problems = _file_problems(path, meta["files"], slice(rank, None, world))
    except CheckpointError as exc:
        meta, problems = None, [str(exc)]
    problems = [p for rank_problems in gather_to_all(problems) for p in rank_problems]
    if problems:
        raise CheckpointError("; ".join(dict.fromkeys(problems)))
    return meta


def newest_verified(root: str | Path) -> tuple[Path, dict] | None:
    """The newest checkpoint that verifies and its ``trainer.json``; corrupt or incomplete newer ones are
    skipped with a warning."""
    for path in reversed(list_checkpoints(root)):
        try:
            return path, verify(path)
        except CheckpointError as exc:
            log.warning("skipping checkpoint: %s", exc)
    return None


def latest_checkpoint(root: str | Path) -> Path | None:
    found = newest_verified(root)
    return found[0] if found else None


# --- load ---------------------------------------------------------------------------------------------


def load_checkpoint(path: str | Path, meta: dict, parts: list[nn.Module], optimizers: list[torch.optim.Optimizer]) -> bool:
    """Load a verified checkpoint (``meta``: its ``trainer.json`` as ``verify`` returned it) into this rank's
    parts and optimizers, whatever layout wrote it, reading only their shards; restore this rank's RNG
    states when the checkpoint has as many ranks (returns whether it did)."""
    path = Path(path)
    states = _part_states(parts, optimizers)
    merged = _merged(states)
    _dcp_load(merged, path)
    for (model_sd, optim_sd), part, opt in zip(states, parts, optimizers):
        set_model_state_dict(part, {k: merged[MODEL_KEY][k] for k in model_sd}, options=FLAT)
        set_optimizer_state_dict(part, opt, {k: merged["optimizer"][k] for k in optim_sd}, options=FLAT)
    rank, world = rank_and_world()
    if meta["world_size"] != world:
        return False
    set_rng_state(json.loads((path / rng_file(rank)).read_text()))
    return True


def load_model_weights(path: str | Path, parts: list[nn.Module]) -> None:
    """Load only the model weights of a checkpoint (any layout) into this rank's parts, each reading its own
    shards: how a fine-tuning run starts from a pretrained one (its optimizer starts fresh)."""
    states = [get_model_state_dict(part) for part in parts]
    merged = {MODEL_KEY: {k: v for sd in states for k, v in sd.items()}}
    _dcp_load(merged, Path(path))
    for sd, part in zip(states, parts):
        set_model_state_dict(part, {k: merged[MODEL_KEY][k] for k in sd})


def tensor_shapes(path: str | Path, prefix: str = MODEL_KEY) -> dict[str, tuple[int, ...]]:
    """The shape of every tensor under ``prefix`` (``model``: by parameter name; ``optimizer``: by flat
    optimizer key, ``state.<name>.exp_avg``) of a checkpoint, from its metadata alone."""
    metadata = SafeFileSystemReader(Path(path)).read_metadata()
    prefix += "."
    return {key.removeprefix(prefix): tuple(md.size) for key, md in metadata.state_dict_metadata.items()
            if key.startswith(prefix) and isinstance(md, dcp_metadata.TensorStorageMetadata)}


def read_tensors(path: str | Path, model: dict[str, torch.Tensor], optimizer: dict[str, torch.Tensor]) -> None:
    """Fill whole tensors from the checkpoint, this rank alone: ``model`` by parameter name, ``optimizer`` by
    flat optimizer key (``state.<name>.exp_avg``)."""
    _dcp_load({MODEL_KEY: model, "optimizer": optimizer}, Path(path), local=True)


def load_model_tensors(path: str | Path, tensors: dict[str, torch.Tensor]) -> None:
    """Fill ``tensors`` (parameter name -> a full tensor of that parameter's shape, on any device; values are
    copied in, cast to its dtype) from the checkpoint: only those tensors are read, no optimizer state."""
    _dcp_load({MODEL_KEY: tensors}, Path(path))
