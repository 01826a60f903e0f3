"""Our indexed-dataset files against megatron-core's own reader and writer, and against the layout as
specified (read here with struct + numpy, independently of ``datapipe.indexed``)."""

from __future__ import annotations

import os
import struct
import warnings
from pathlib import Path

import numpy as np
import pytest

from datapipe.indexed import IndexedDataset, IndexedDatasetWriter, token_dtype, write_indexed_dataset


def documents(n: int, vocab: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    docs = [rng.integers(0, vocab, size=int(rng.integers(1, 300))) for _ in range(n)]
    docs[3] = np.array([vocab - 1])  # the largest id survives
    return docs


def read_by_spec(prefix: Path) -> tuple[int, list[np.ndarray], np.ndarray]:
    """The format as written down (megatron/core/datasets/indexed_dataset.py, _IndexWriter)."""
    idx = Path(f"{prefix}.idx").read_bytes()
    magic, version, code, n_seq, n_doc = struct.unpack_from("<9sQBQQ", idx, 0)
    assert magic == b"MMIDIDX\x00\x00" and version == 1
    dtype = {4: np.int32, 8: np.uint16}[code]
    offset = 9 + 8 + 1 + 8 + 8
    lengths = np.frombuffer(idx, "<i4", n_seq, offset)
    pointers = np.frombuffer(idx, "<i8", n_seq, offset + 4 * n_seq)
    doc_idx = np.frombuffer(idx, "<i8", n_doc, offset + 12 * n_seq)
    assert len(idx) == offset + 12 * n_seq + 8 * n_doc
    data = Path(f"{prefix}.bin").read_bytes()
    seqs = [np.frombuffer(data, dtype, int(n), int(p)) for n, p in zip(lengths, pointers)]
    return code, seqs, doc_idx


@pytest.mark.parametrize("vocab, code", [(80_000, 4), (1_200, 8)])
def test_layout_as_specified(tmp_path, vocab, code):
    docs = documents(50, vocab)
    info = write_indexed_dataset(tmp_path / "shard", docs, token_dtype(vocab))
    got_code, seqs, doc_idx = read_by_spec(tmp_path / "shard")
    assert got_code == code
    assert len(seqs) == 50 and all(np.array_equal(a, b) for a, b in zip(seqs, docs))
    assert doc_idx.tolist() == list(range(51))  # starts at 0, one entry more than documents
    assert info["documents"] == 50 and info["tokens"] == sum(len(d) for d in docs)
    assert sorted(os.listdir(tmp_path)) == ["shard.bin", "shard.idx"]  # no temporary file left


@pytest.fixture(scope="module")
def megatron():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Transformer Engine and Apex are not installed"
        return pytest.importorskip("megatron.core.datasets.indexed_dataset", reason="needs megatron-core (pip install megatron-core)")


@pytest.mark.parametrize("vocab", [80_000, 1_200])
def test_megatron_reads_our_shards(tmp_path, megatron, vocab):
    docs = documents(40, vocab, seed=1)
    write_indexed_dataset(tmp_path / "ours", docs, token_dtype(vocab))
    ds = megatron.IndexedDataset(str(tmp_path / "ours"))
    assert len(ds) == 40 and ds.index.dtype == np.dtype(token_dtype(vocab))
    assert all(np.array_equal(ds[i], docs[i]) for i in range(40))
    assert ds.document_indices.tolist() == list(range(41))
    assert megatron.DType.optimal_dtype(vocab) == token_dtype(vocab)


@pytest.mark.parametrize("vocab", [80_000, 1_200])
def test_megatron_builder_writes_the_same_bytes(tmp_path, megatron, vocab):
    import torch

    docs = documents(30, vocab, seed=2)
    dtype = megatron.DType.optimal_dtype(vocab)
    builder = megatron.IndexedDatasetBuilder(str(tmp_path / "theirs.bin"), dtype=dtype)
    for d in docs:
        builder.add_item(torch.from_numpy(d.astype(np.int64)))
        builder.end_document()
    builder.finalize(str(tmp_path / "theirs.idx"))
    write_indexed_dataset(tmp_path / "ours", docs, token_dtype(vocab))
    for ext in ("bin", "idx"):
        assert (tmp_path / f"ours.{ext}").read_bytes() == (tmp_path / f"theirs.{ext}").read_bytes()
    ours = IndexedDataset(tmp_path / "theirs")
    assert all(np.array_equal(ours[i], docs[i]) for i in range(30))


def test_reader_is_memory_mapped_and_checks_the_files(tmp_path):
    docs = documents(10, 80_000)
    write_indexed_dataset(tmp_path / "s", docs, np.int32)
    ds = IndexedDataset(tmp_path / "s")
    assert isinstance(ds.tokens, np.memmap) and np.array_equal(ds.tokens, np.concatenate(docs))
    assert len(ds) == 10 and ds.num_tokens == sum(len(d) for d in docs)

    (tmp_path / "t.bin").write_bytes((tmp_path / "s.bin").read_bytes()[:-4])
    (tmp_path / "t.idx").write_bytes((tmp_path / "s.idx").read_bytes())
    with pytest.raises(ValueError, match="bytes, the index describes"):
        IndexedDataset(tmp_path / "t")
    (tmp_path / "t.bin").write_bytes((tmp_path / "s.bin").read_bytes())
    (tmp_path / "t.idx").write_bytes(b"NOTANIDX!" + (tmp_path / "s.idx").read_bytes()[9:])
    with pytest.raises(ValueError, match="not a Megatron indexed-dataset index"):
        IndexedDataset(tmp_path / "t")


def test_empty_dataset_and_out_of_range_ids(tmp_path):
    write_indexed_dataset(tmp_path / "empty", [], np.uint16)
    ds = IndexedDataset(tmp_path / "empty")
    assert len(ds) == 0 and ds.num_tokens == 0
    with open(tmp_path / "x.bin", "wb") as f:
        writer = IndexedDatasetWriter(f, np.uint16)
        with pytest.raises(ValueError, match="do not fit uint16"):
            writer.add_document(np.array([1, 70_000]))
        with pytest.raises(ValueError, match="no whole number"):
            writer.add_raw(b"\x01\x02\x03")
