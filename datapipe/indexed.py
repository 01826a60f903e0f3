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
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from pathlib import Path
from typing import BinaryIO

import numpy as np

from .io import atomic_file

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


def load_manifest(directory: str | Path) -> dict:
    """The manifest of a shard directory, checked for a format version this code reads."""
    path = Path(directory) / MANIFEST_FILE
    if not path.is_file():
        raise FileNotFoundError(f"no {MANIFEST_FILE} in {directory}: not an output of the tokenize stage")
    manifest = json.loads(path.read_text(encoding="utf-8"))
    if manifest.get("format_version") != MANIFEST_VERSION:
        raise ValueError(f"{path}: format version {manifest.get('format_version')}, this code reads {MANIFEST_VERSION}")
    return manifest
