"""Megatron-LM's indexed dataset: token shards as a ``.bin``/``.idx`` pair, defined once for the project.

The layout is megatron-core's (``megatron/core/datasets/indexed_dataset.py``, ``_IndexWriter`` and
``_IndexReader``), so our shards also load in Megatron-LM and in every tool that reads its format:

``PREFIX.bin``: the tokens of every sequence, back to back, in the dataset's dtype, nothing else.

``PREFIX.idx``, all little-endian::

    b"MMIDIDX\\x00\\x00"            magic (9 bytes)
    <Q  1                          version
    <B  dtype code                 1 uint8, 2 int8, 3 int16, 4 int32, 5 int64, 6 float64, 7 float32, 8 uint16
    <Q  sequence count             N
    <Q  document count             D + 1 (the length of the document index array below)
    int32[N]   sequence lengths    tokens per sequence
    int64[N]   sequence pointers   byte offset of each sequence in the .bin
    int64[D+1] document indices    sequence index where each document starts, from 0, then N

We write one sequence per document (Megatron's ``preprocess_data.py`` without sentence splitting), so
the document indices are ``0, 1, ..., N``. Megatron picks uint16 for a vocabulary below 65,500 tokens
and int32 above (``DType.optimal_dtype``); we follow it, so the 80k vocabulary is int32 (code 4).

``verify_shards`` checks a directory of shards against its ``manifest.json`` (sizes and SHA-256) before
they are opened, so a damaged file is an error that names it rather than wrong tokens or a numpy error.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import struct
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from .io import atomic_file

log = logging.getLogger("datapipe.indexed")

MAGIC = b"MMIDIDX\x00\x00"
VERSION = 1
DTYPE_CODES: dict[int, np.dtype] = {
    1: np.dtype(np.uint8),
    2: np.dtype(np.int8),
    3: np.dtype(np.int16),
    4: np.dtype(np.int32),
    5: np.dtype(np.int64),
    6: np.dtype(np.float64),
    7: np.dtype(np.float32),
    8: np.dtype(np.uint16),
}
_CODE_OF = {dtype: code for code, dtype in DTYPE_CODES.items()}
_HEADER = struct.Struct("<9sQBQQ")
MANIFEST_FILE = "manifest.json"
MANIFEST_VERSION = 1
"""A directory of shards (the tokenize stage's output) describes them in ``manifest.json``: tokenizer,
dtype, and per shard its path (relative, ``.bin``), domain, split, documents, tokens, text bytes and
SHA-256 of both files; per domain its sampling weight."""
UINT16_VOCAB_LIMIT = 65_500
"""Megatron's threshold: vocabularies smaller than this are stored as uint16."""
VERIFIED_FILE = "_verified.json"
"""Beside the manifest: the shard files that matched it, with the size and mtime they had then, so that a
run started again does not hash unchanged files again (``verify_shards``). It lives with the shards, not
in a run directory, so every run, evaluation and growth reading them shares it; the ``_`` keeps it out of
stage listings, like ``_stats.json``."""
HASH_CHUNK = 8 << 20
"""Bytes read per ``update``: large enough that hashing, not Python, sets the pace."""
HASH_THREADS = min(4, os.cpu_count() or 1)
"""Files a process hashes at once: one core hashes ~1.3 GB/s, a parallel file system reads faster."""
PROGRESS_INTERVAL_S = 30.0
NAMED_PROBLEMS = 10
"""Files an error lists by name (a wrong mount would otherwise give one line per shard)."""


def token_dtype(vocab_size: int) -> np.dtype:
    """The token dtype Megatron would choose for a vocabulary of this size."""
    return np.dtype(np.uint16) if vocab_size < UINT16_VOCAB_LIMIT else np.dtype(np.int32)


def bin_path(prefix: str | Path) -> str:
    return f"{prefix}.bin"


def idx_path(prefix: str | Path) -> str:
    return f"{prefix}.idx"


class IndexedDatasetWriter:
    """Streams documents into a ``.bin`` file and then writes the matching ``.idx``.

    Works on any binary file object (a local file, a pyarrow output stream), so Spark tasks can write
    straight to the output file system; only the per-document lengths stay in memory. The SHA-256 of
    both files is computed while writing, for the manifest.
    """

    def __init__(self, bin_file: BinaryIO, dtype: np.dtype | type):
        self.dtype = np.dtype(dtype)
        if self.dtype not in _CODE_OF:
            raise ValueError(f"dtype {self.dtype} has no code in the indexed-dataset format")
        self._bin = bin_file
        self._lengths: list[int] = []
        self.tokens = 0
        self.bin_sha256 = hashlib.sha256()

    @property
    def documents(self) -> int:
        return len(self._lengths)

    def add_document(self, tokens: np.ndarray) -> None:
        """Append one document (one sequence) of token ids, which must fit the dataset's dtype."""
        tokens = np.asarray(tokens)
        if tokens.size and tokens.dtype != self.dtype:
            limits = np.iinfo(self.dtype)
            if tokens.min() < limits.min or tokens.max() > limits.max:
                raise ValueError(f"token ids {tokens.min()}..{tokens.max()} do not fit {self.dtype}")
        self.add_raw(np.ascontiguousarray(tokens, dtype=self.dtype).tobytes())

    def add_raw(self, data: bytes) -> None:
        """Append one document given as the raw bytes of its tokens in the dataset's dtype."""
        if len(data) % self.dtype.itemsize:
            raise ValueError(f"{len(data)} bytes are no whole number of {self.dtype} tokens")
        self._bin.write(data)
        self.bin_sha256.update(data)
        self._lengths.append(len(data) // self.dtype.itemsize)
        self.tokens += self._lengths[-1]

    def index_bytes(self) -> bytes:
        """The complete ``.idx`` contents for the documents added so far."""
        lengths = np.asarray(self._lengths, dtype=np.int64)
        if lengths.size and lengths.max() > np.iinfo(np.int32).max:
            raise ValueError("a document longer than 2**31 - 1 tokens does not fit the format")
        pointers = np.zeros(len(lengths), dtype=np.int64)
        np.cumsum(lengths[:-1] * self.dtype.itemsize, out=pointers[1:])
        document_indices = np.arange(len(lengths) + 1, dtype=np.int64)
        header = _HEADER.pack(MAGIC, VERSION, _CODE_OF[self.dtype], len(lengths), len(document_indices))
        return b"".join([header, lengths.astype("<i4").tobytes(), pointers.astype("<i8").tobytes(), document_indices.astype("<i8").tobytes()])

    def write_index(self, idx_file: BinaryIO) -> str:
        """Write the ``.idx`` and return its SHA-256 (hex)."""
        data = self.index_bytes()
        idx_file.write(data)
        return hashlib.sha256(data).hexdigest()


def write_indexed_dataset(prefix: str | Path, documents, dtype: np.dtype | type) -> dict:
    """Write local ``PREFIX.bin``/``PREFIX.idx`` from an iterable of token arrays, each file atomically
    (the index last, so an index never describes a half-written data file); returns documents, tokens and both SHA-256 digests."""
    prefix = Path(prefix)
    with atomic_file(bin_path(prefix)) as fb:
        writer = IndexedDatasetWriter(fb, dtype)
        for tokens in documents:
            writer.add_document(tokens)
    with atomic_file(idx_path(prefix)) as fi:
        idx_sha = writer.write_index(fi)
    return {"documents": writer.documents, "tokens": writer.tokens, "bin_sha256": writer.bin_sha256.hexdigest(), "idx_sha256": idx_sha}


class IndexedDataset:
    """A memory-mapped ``.bin``/``.idx`` pair: ``ds[i]`` is document ``i``'s tokens (a read-only view),
    ``ds.tokens`` the whole token stream, without reading the files into memory."""

    def __init__(self, prefix: str | Path):
        self.prefix = str(prefix)
        index = np.memmap(idx_path(prefix), dtype=np.uint8, mode="r")
        if len(index) < _HEADER.size:
            raise ValueError(f"{idx_path(prefix)}: too short for an indexed-dataset index")
        magic, version, code, n_seq, n_doc_idx = _HEADER.unpack_from(index, 0)
        if magic != MAGIC:
            raise ValueError(f"{idx_path(prefix)}: not a Megatron indexed-dataset index (magic {magic!r})")
        if version != VERSION:
            raise ValueError(f"{idx_path(prefix)}: index version {version}, only {VERSION} is known")
        if code not in DTYPE_CODES:
            raise ValueError(f"{idx_path(prefix)}: unknown dtype code {code}")
        self.dtype = DTYPE_CODES[code]
        offset = _HEADER.size
        self.sequence_lengths = np.frombuffer(index, dtype="<i4", count=n_seq, offset=offset)
        offset += 4 * n_seq
        self.sequence_pointers = np.frombuffer(index, dtype="<i8", count=n_seq, offset=offset)
        offset += 8 * n_seq
        self.document_indices = np.frombuffer(index, dtype="<i8", count=n_doc_idx, offset=offset)
        if offset + 8 * n_doc_idx != len(index):
            raise ValueError(f"{idx_path(prefix)}: {len(index)} bytes, the header announces {offset + 8 * n_doc_idx}")
        if n_doc_idx == 0 or self.document_indices[0] != 0 or self.document_indices[-1] != n_seq:
            raise ValueError(f"{idx_path(prefix)}: document indices must run from 0 to the sequence count {n_seq}")
        n_tokens = int(self.sequence_lengths.sum(dtype=np.int64))
        size = os.path.getsize(bin_path(prefix))
        if size != n_tokens * self.dtype.itemsize:
            raise ValueError(f"{bin_path(prefix)}: {size} bytes, the index describes {n_tokens} {self.dtype} tokens")
        # np.memmap refuses empty files; an empty shard is a valid, empty stream
        self.tokens = np.memmap(bin_path(prefix), dtype=self.dtype, mode="r") if n_tokens else np.zeros(0, self.dtype)

    def __len__(self) -> int:
        return len(self.sequence_lengths)

    def __getitem__(self, i: int) -> np.ndarray:
        start = int(self.sequence_pointers[i]) // self.dtype.itemsize
        return self.tokens[start : start + int(self.sequence_lengths[i])]

    @property
    def num_tokens(self) -> int:
        return len(self.tokens)


class ShardVerificationError(ValueError):
    """Shard files are missing or differ from what ``manifest.json`` records: the shards must be rebuilt."""


def index_size(sequences: int) -> int:
    """Bytes of the ``.idx`` of ``sequences`` sequences, each its own document."""
    return _HEADER.size + 12 * sequences + 8 * (sequences + 1)


@dataclass(frozen=True)
class ShardFile:
    """A file the manifest lists, with the size its counts imply and the SHA-256 it records."""

    path: str
    """Relative to the shards directory."""
    size: int
    sha256: str


def manifest_files(manifest: dict, split: str | None = None) -> list[ShardFile]:
    """The ``.bin`` and ``.idx`` of every shard of ``split`` (all splits when None)."""
    itemsize = np.dtype(manifest["dtype"]).itemsize
    files = []
    for shard in manifest["shards"]:
        if split is None or shard["split"] == split:
            prefix = shard["path"].removesuffix(".bin")
            files.append(ShardFile(bin_path(prefix), shard["tokens"] * itemsize, shard["bin_sha256"]))
            files.append(ShardFile(idx_path(prefix), index_size(shard["documents"]), shard["idx_sha256"]))
    return files


def sha256_file(path: str | Path) -> str:
    """SHA-256 of a file, read in ``HASH_CHUNK`` pieces into one buffer (hashlib lets go of the GIL while
    it hashes them, so threads hash files in parallel)."""
    digest, buffer = hashlib.sha256(), bytearray(HASH_CHUNK)
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as f:
        while n := f.readinto(buffer):
            digest.update(view[:n])
    return digest.hexdigest()


def _check_file(directory: Path, f: ShardFile, verified: dict) -> tuple[str | None, dict | None]:
    """What is wrong with one file (None: it matches the manifest) and, when it was hashed now and
    matched, its ``VERIFIED_FILE`` entry. A file that matched before and has its size and mtime of then
    is not hashed; only matches are remembered, so the cache can save work but never report corruption."""
    path = directory / f.path
    try:
        stat = path.stat()
        if stat.st_size != f.size:
            return f"{path}: {stat.st_size:,} bytes, {MANIFEST_FILE} describes {f.size:,} (truncated or padded)", None
        known = verified.get(f.path)
        if known == {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": f.sha256}:
            return None, None
        found = sha256_file(path)
    except FileNotFoundError:
        return f"{path}: missing (listed in {MANIFEST_FILE})", None
    except OSError as exc:
        return f"{path}: unreadable ({exc.strerror or exc})", None
    if found != f.sha256:
        return f"{path}: SHA-256 differs from {MANIFEST_FILE} (expected {f.sha256[:12]}…, found {found[:12]}…)", None
    return None, {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": found}


def _read_verified(directory: Path) -> dict:
    """``VERIFIED_FILE``'s entries by relative path; none when it is absent or unreadable."""
    try:
        files = json.loads((directory / VERIFIED_FILE).read_text(encoding="utf-8"))["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    return files if isinstance(files, dict) else {}


def _write_verified(directory: Path, files: dict) -> None:
    """Replace ``VERIFIED_FILE``; shards that cannot be written to (read-only) are just not cached."""
    try:
        with atomic_file(directory / VERIFIED_FILE, "w") as f:
            json.dump({"files": files}, f, indent=1, sort_keys=True)
    except OSError as exc:
        log.info("%s not written (%s): the next run hashes these shards again", directory / VERIFIED_FILE, exc)


def _gather_one(obj) -> list:
    return [obj]


def verify_shards(directory: str | Path, manifest: dict, split: str | None = None, *, rank: int = 0, world_size: int = 1,
                  gather: Callable[[object], list] = _gather_one) -> None:
    """Check every file the manifest lists (of ``split``; all when None) before any is opened: it exists,
    has the size the shard's counts and dtype imply, and its SHA-256 is the manifest's. Raises
    ``ShardVerificationError`` naming each file that differs.

    The work is split for terabytes of shards: each of ``world_size`` ranks checks a share of the files
    (largest first, dealt in turn), each file hashed by one of ``HASH_THREADS`` threads; ``gather`` (every
    rank's object, in rank order, on every rank: under a process group a collective) brings the shares
    together, so every rank raises the same error. Files unchanged since they last matched are not hashed
    again (``VERIFIED_FILE``)."""
    directory = Path(directory)
    start = time.perf_counter()
    files = sorted(manifest_files(manifest, split), key=lambda f: (-f.size, f.path))
    mine = files[rank::world_size]
    verified = _read_verified(directory)
    total = sum(f.size for f in mine)
    log.info("checking %d shard files (%.2f GB) of %s against %s%s", len(mine), total / 1e9, directory, MANIFEST_FILE,
             f" (rank {rank}'s share of {len(files)})" if world_size > 1 else "")
    problems, matched = [], {}
    checked = hashed = 0
    last_report = start
    with ThreadPoolExecutor(HASH_THREADS) as pool:
        for f, (problem, entry) in zip(mine, pool.map(lambda f: _check_file(directory, f, verified), mine)):
            checked += f.size
            if problem:
                problems.append(problem)
            if entry:
                matched[f.path] = entry
                hashed += f.size
            if time.perf_counter() - last_report >= PROGRESS_INTERVAL_S:
                last_report = time.perf_counter()
                log.info("checked %.2f of %.2f GB of shards (%.0f MB/s hashed)", checked / 1e9, total / 1e9,
                         hashed / 1e6 / (last_report - start))
    shares = gather((problems, matched, hashed))
    problems = sorted(p for share_problems, _, _ in shares for p in share_problems)
    matched = {path: entry for _, share_matched, _ in shares for path, entry in share_matched.items()}
    if matched and rank == 0:
        listed = {f.path for f in manifest_files(manifest)}
        _write_verified(directory, {p: e for p, e in {**verified, **matched}.items() if p in listed})
    seconds = time.perf_counter() - start
    hashed = sum(share_hashed for _, _, share_hashed in shares)
    log.info("%d shard files checked in %.1f s: %.2f GB hashed (%.0f MB/s), the rest unchanged since they matched",
             len(files), seconds, hashed / 1e9, hashed / 1e6 / max(seconds, 1e-9))
    if problems:
        more = f"; and {len(problems) - NAMED_PROBLEMS} more" if len(problems) > NAMED_PROBLEMS else ""
        verdict = ("the shard is corrupt: rebuild it" if len(problems) == 1
                   else f"{len(problems)} shard files are corrupt: rebuild them")
        raise ShardVerificationError("; ".join(problems[:NAMED_PROBLEMS]) + more + f"; {verdict} with the shards stage")


def load_manifest(directory: str | Path) -> dict:
    """The manifest of a shard directory, checked for a format version this code reads."""
    path = Path(directory) / MANIFEST_FILE
    if not path.is_file():
        raise FileNotFoundError(f"no {MANIFEST_FILE} in {directory}: not an output of the tokenize stage")
    manifest = json.loads(path.read_text(encoding="utf-8"))
    if manifest.get("format_version") != MANIFEST_VERSION:
        raise ValueError(f"{path}: format version {manifest.get('format_version')}, this code reads {MANIFEST_VERSION}")
    return manifest
