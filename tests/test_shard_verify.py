"""Token shards are checked against their manifest before training: a flipped byte, a truncated index or a
missing file stops the run before its first step with an error naming the file; unchanged files are not
hashed again; under a process group the ranks share the hashing and raise the same error."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import threading

import pytest
import torch.distributed as dist

import train.data
from datapipe import indexed
from datapipe.indexed import VERIFIED_FILE, ShardVerificationError, load_manifest, manifest_files, verify_shards
from tests.conftest import ROOT
from tests.test_parallel import launch
from tests.test_pretrain import run_config, write_shards
from train.data import TokenSamples, valid_sets

SEQ = 32


@pytest.fixture
def shards(tmp_path):
    """Four shards (two domains, train and valid) and their manifest, fresh for each test: tests damage them."""
    root = tmp_path / "shards"
    root.mkdir()
    write_shards(root)
    return root


@pytest.fixture
def hashed(monkeypatch) -> list[str]:
    """Paths of the files hashed, in the order they were (from every thread)."""
    paths, real = [], indexed.sha256_file

    def counting(path):
        paths.append(str(path))
        return real(path)

    monkeypatch.setattr(indexed, "sha256_file", counting)
    return paths


def flip_bit(path, offset: int) -> None:
    """One bit of one byte flipped in place; the mtime moved on by a second, so that the change shows even
    where the file system's clock is coarse."""
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x10
    stat = path.stat()
    path.write_bytes(bytes(data))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))


def test_intact_shards_pass_and_are_remembered(shards, hashed, monkeypatch, caplog):
    monkeypatch.setattr(indexed, "PROGRESS_INTERVAL_S", 0.0)  # a progress line after every file
    with caplog.at_level(logging.INFO, "datapipe.indexed"):
        assert TokenSamples(shards, SEQ).domains == ["Alpha", "Beta"]
        assert set(valid_sets(shards)) == {"Alpha", "Beta"}
    listed = sorted(f.path for f in manifest_files(load_manifest(shards)))
    assert len(listed) == 8 and sorted(hashed) == sorted(str(shards / p) for p in listed)
    assert sorted(json.loads((shards / VERIFIED_FILE).read_text())["files"]) == listed
    assert caplog.text.count("GB of shards") == 8 and caplog.text.count("4 shard files checked") == 2


def test_flipped_bit_in_a_bin_is_named(shards):
    target = shards / "train" / "Beta-00000.bin"
    flip_bit(target, 101)
    expected = next(s["bin_sha256"] for s in load_manifest(shards)["shards"] if s["path"] == "train/Beta-00000.bin")
    found = indexed.sha256_file(target)
    with pytest.raises(ShardVerificationError) as error:
        TokenSamples(shards, SEQ)
    assert str(error.value) == (f"{target}: SHA-256 differs from manifest.json (expected {expected[:12]}…, found {found[:12]}…); "
                                "the shard is corrupt: rebuild it with the shards stage")


def test_truncated_idx_is_named_before_any_dataset_is_opened(shards, monkeypatch):
    target = shards / "train" / "Alpha-00000.idx"
    data = target.read_bytes()
    target.write_bytes(data[: len(data) // 3])
    opened = []
    monkeypatch.setattr(train.data, "IndexedDataset", opened.append)
    with pytest.raises(ShardVerificationError, match=re.escape(f"{target}: {len(data) // 3:,} bytes, manifest.json "
                                                               f"describes {len(data):,} (truncated or padded)")):
        TokenSamples(shards, SEQ)
    assert opened == []


def test_missing_files_are_named(shards):
    bin_file, idx_file = shards / "valid" / "Alpha-00000.bin", shards / "valid" / "Beta-00000.idx"
    bin_file.unlink()
    idx_file.unlink()
    TokenSamples(shards, SEQ)  # the train split is intact
    with pytest.raises(ShardVerificationError) as error:
        valid_sets(shards)
    assert str(error.value) == (f"{bin_file}: missing (listed in manifest.json); {idx_file}: missing (listed in manifest.json); "
                                "2 shard files are corrupt: rebuild them with the shards stage")


def test_unchanged_files_are_not_hashed_again_changed_ones_are(shards, hashed):
    manifest = load_manifest(shards)
    verify_shards(shards, manifest)
    assert len(hashed) == 8
    hashed.clear()
    verify_shards(shards, manifest)
    assert hashed == []  # every file has the size and mtime it had when it matched
    target = shards / "train" / "Alpha-00000.bin"
    stat = target.stat()
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # touched: hashed again, still the same bytes
    verify_shards(shards, manifest)
    assert hashed == [str(target)]
    hashed.clear()
    flip_bit(target, 7)
    for _ in range(2):  # a mismatch is not remembered: the next check hashes the file again and fails again
        with pytest.raises(ShardVerificationError, match=re.escape(f"{target}: SHA-256 differs")):
            verify_shards(shards, manifest)
    assert hashed == [str(target)] * 2
    flip_bit(target, 7)  # repaired, then padded: a size that differs needs no hashing
    with target.open("ab") as f:
        f.write(b"\0\0")
    hashed.clear()
    with pytest.raises(ShardVerificationError, match=re.escape(f"{target}: {stat.st_size + 2:,} bytes, manifest.json describes")):
        verify_shards(shards, manifest)
    assert hashed == []


def test_without_a_writable_cache_every_check_hashes(shards, hashed, monkeypatch):
    def read_only(*args, **kwargs):
        raise PermissionError(13, "Read-only file system")

    (shards / VERIFIED_FILE).write_text("{not json")  # an unreadable cache is no cache
    monkeypatch.setattr(indexed, "atomic_file", read_only)
    for _ in range(2):
        verify_shards(shards, load_manifest(shards))
    assert len(hashed) == 16 and (shards / VERIFIED_FILE).read_text() == "{not json"


def test_ranks_share_the_files_and_raise_the_same_error(shards, hashed):
    """Two ranks as threads, with a gather over a barrier: each file is hashed once, by one rank."""
    target = shards / "valid" / "Beta-00000.bin"
    flip_bit(target, 3)
    manifest, world, box = load_manifest(shards), 2, {}
    barrier, errors = threading.Barrier(2), {}

    def gather(rank: int, obj) -> list:
        box[rank] = obj
        barrier.wait()
        return [box[r] for r in range(world)]

    def rank_main(rank: int) -> None:
        try:
            verify_shards(shards, manifest, rank=rank, world_size=world, gather=lambda obj: gather(rank, obj))
        except ShardVerificationError as exc:
            errors[rank] = str(exc)

    ranks = [threading.Thread(target=rank_main, args=(r,)) for r in range(world)]
    for t in ranks:
        t.start()
    for t in ranks:
        t.join()
    assert errors[0] == errors[1] and errors[0].startswith(f"{target}: SHA-256 differs")
    assert sorted(hashed) == sorted(str(shards / f.path) for f in manifest_files(manifest))
    assert sorted(len(matched) for _, matched, _ in box.values()) == [3, 4]  # 4 files a rank; the corrupt one is not remembered


def _open_in_process_group(rank: int, world: int, port: int, jobs: list[tuple[str, str]], queue) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(world), RANK=str(rank))
    dist.init_process_group("gloo")
    hashed, real = [], indexed.sha256_file
    indexed.sha256_file = lambda path: hashed.append(str(path)) or real(path)
    results = []
    for directory, _ in jobs:
        try:
            TokenSamples(directory, SEQ)
            results.append({"hashed": hashed[:], "error": None})
        except ShardVerificationError as exc:
            results.append({"hashed": hashed[:], "error": str(exc)})
    queue.put((rank, results))
    dist.destroy_process_group()


def test_under_a_process_group_every_rank_raises_the_error(shards):
    target = shards / "train" / "Alpha-00000.idx"
    target.write_bytes(target.read_bytes()[:-8])
    (result,) = launch(2, [(str(shards), "")], worker=_open_in_process_group)
    assert result[0]["error"] == result[1]["error"] and result[0]["error"].startswith(f"{target}: ")
    train_files = {str(shards / f.path) for f in manifest_files(load_manifest(shards), "train")} - {str(target)}
    assert sorted(result[0]["hashed"] + result[1]["hashed"]) == sorted(train_files)  # each once, by one rank


def test_training_on_corrupt_shards_stops_before_the_first_step(tmp_path, shards):
    target = shards / "train" / "Beta-00000.bin"
    flip_bit(target, 40)
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "train.pretrain", "--config", run_config(tmp_path, shards), "--out", str(out)],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 2, proc.stderr
    assert f"error: {target}: SHA-256 differs from manifest.json" in proc.stderr and "Traceback" not in proc.stderr
    assert "step 1/" not in proc.stdout and not out.exists()  # no step, no checkpoint, not even the run directory
