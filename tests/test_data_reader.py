"""The trainer's sample reader: deterministic for a seed, resumable at any index, domain proportions as
weighted, every sample a real window of its domain's stream, every window once per epoch."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from datapipe.indexed import write_indexed_dataset
from jobs.shards import Shard, TokenizeConfig, TokenizerInfo, build_manifest
from train.data import DomainSchedule, Permutation, TokenSamples, valid_sets

SEQ = 16
BASE = {"Big": 0, "Mid": 1_000_000, "Rare": 2_000_000, "Stub": 3_000_000}
"""Token ``BASE[domain] + position``: a token says where in which domain's stream it comes from."""
WEIGHTS = {"Big": 0.747, "Mid": 0.25, "Rare": 0.003, "Stub": 0.0}


def write_shards(root, sizes: dict[str, list[int]], weights: dict[str, float], valid_docs: int = 3) -> None:
    """Shards of train tokens numbered along each domain's stream (``sizes``: tokens per shard, cut
    into documents of random length), a valid shard per domain, and the stage's manifest."""
    import json

    rng = np.random.default_rng(0)
    shards, rows = [], []
    for domain, shard_tokens in sizes.items():
        pos = BASE[domain]
        for i, n in enumerate(shard_tokens):
            cuts = np.sort(rng.choice(np.arange(1, n), size=min(n - 1, n // 40), replace=False))
            docs = np.split(np.arange(pos, pos + n), cuts)
            pos += n
            shards.append(Shard(domain, "train", i))
            rows.append({"shard": len(rows), "text_bytes": 4 * n, **write_indexed_dataset(root / shards[-1].name, docs, np.int32)})
        valid = [np.arange(7) + 10 * k + 9_000_000 for k in range(valid_docs)]
        shards.append(Shard(domain, "valid", 0))
        rows.append({"shard": len(rows), "text_bytes": 25 * valid_docs, **write_indexed_dataset(root / shards[-1].name, valid, np.int32)})
    info = TokenizerInfo("file:/tok.json", "tok.json", "0" * 64, 80_000, 0)
    manifest = build_manifest(shards, rows, info, np.dtype(np.int32), TokenizeConfig(), ["file:/in"], weights)
    (root / "manifest.json").write_text(json.dumps(manifest))


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    root = tmp_path_factory.mktemp("shards")
    write_shards(root, {"Big": [9_000, 7_001], "Mid": [2_500, 1_000, 1_100], "Rare": [400], "Stub": [300]}, WEIGHTS)
    return root


def test_samples_are_real_windows_of_their_domain(shards):
    ds = TokenSamples(shards, SEQ, seed=1)
    assert ds.domains == ["Big", "Mid", "Rare"]  # zero weight: not sampled
    assert ds.samples_per_epoch == {"Big": (16_001 - 1) // SEQ, "Mid": (4_600 - 1) // SEQ, "Rare": (400 - 1) // SEQ}
    batch = ds.batch(np.arange(3000))
    domain, _, window = ds.locate(np.arange(3000))
    assert batch.shape == (3000, SEQ + 1) and batch.dtype == np.int64
    for row, d, w in zip(batch, domain, window):
        start = row[0] - BASE[ds.domains[d]]
        assert 0 <= start and start == w * SEQ  # windows start every seq_len tokens of the stream
        assert np.array_equal(row, row[0] + np.arange(SEQ + 1))  # consecutive tokens, across documents and shards
    assert ds.domain_of(5) == ds.domains[domain[5]] and np.array_equal(ds[5], batch[5])


def test_deterministic_for_a_seed(shards):
    a, b = TokenSamples(shards, SEQ, seed=7), TokenSamples(shards, SEQ, seed=7)
    idx = np.arange(0, 5000, 3)
    assert np.array_equal(a.batch(idx), b.batch(idx[::-1])[::-1])  # random access, any order
    assert a.fingerprint() == b.fingerprint()
    other = TokenSamples(shards, SEQ, seed=8)
    assert not np.array_equal(a.batch(idx), other.batch(idx)) and a.fingerprint() != other.fingerprint()


def test_resume_from_any_index_continues_the_sequence(shards):
    ds = TokenSamples(shards, SEQ, seed=3, block_size=64)
    run = ds.batches(batch_size=24)
    straight = [next(run) for _ in range(12)]
    resume_at = straight[4][0]  # the next_start a checkpoint after batch 5 stores
    resumed = TokenSamples(shards, SEQ, seed=3, block_size=64).batches(batch_size=24, start=resume_at)
    for (n1, b1), (n2, b2) in zip(straight[5:], resumed):
        assert n1 == n2 and np.array_equal(b1, b2)
    # two data-parallel ranks split each global batch between them, without overlap
    ranks = [ds.batches(batch_size=12, rank=r, world_size=2) for r in range(2)]
    for n, full in straight[:4]:
        parts = [next(r) for r in ranks]
        assert all(p[0] == n for p in parts) and np.array_equal(np.concatenate([p[1] for p in parts]), full)


def test_domain_proportions_follow_the_weights(shards):
    ds = TokenSamples(shards, SEQ, seed=0, block_size=500)
    domain, _, _ = ds.locate(np.arange(20_000))
    counts = np.bincount(domain, minlength=3)
    w = np.array([WEIGHTS[d] for d in ds.domains]) / sum(WEIGHTS[d] for d in ds.domains)
    assert np.all(np.abs(counts - 20_000 * w) <= 1.5)  # exact up to a sample or so, also the 0.3% domain
    for start in range(0, 20_000, 500):  # every block holds its exact share too
        block = np.bincount(domain[start : start + 500], minlength=3)
        assert np.all(np.abs(block - 500 * w) <= 2)
    assert not np.array_equal(domain[:500], np.sort(domain[:500]))  # positions shuffled inside a block
    epochs = ds.epochs_after(20_000)
    assert epochs["Rare"] == pytest.approx(counts[2] / ds.samples_per_epoch["Rare"])


def test_every_window_once_per_epoch(shards):
    ds = TokenSamples(shards, SEQ, seed=5, block_size=128)
    domain, epoch, window = ds.locate(np.arange(12_000))
    n_mid = ds.samples_per_epoch["Mid"]
    mid = domain == ds.domains.index("Mid")
    assert mid.sum() > 2 * n_mid
    first, second = window[mid & (epoch == 0)], window[mid & (epoch == 1)]
    assert sorted(first) == list(range(n_mid)) and sorted(second) == list(range(n_mid))
    assert not np.array_equal(first, second)  # a new order each epoch
    at = np.arange(12_000)  # epochs follow each other, mixed only inside the block where one ends
    assert at[mid & (epoch == 0)].max() < at[mid & (epoch == 1)].min() + 128


def test_weights_override_small_domains_and_errors(shards, caplog):
    with caplog.at_level(logging.WARNING, logger="train.data"):
        ds = TokenSamples(shards, 512, weights={"Big": 1, "Mid": 1, "Rare": 1})
    assert ds.domains == ["Big", "Mid"] and ds.skipped == ["Rare"] and "Rare" in caplog.text
    assert ds.weights.tolist() == [0.5, 0.5]
    with pytest.raises(ValueError, match="not in"):
        TokenSamples(shards, SEQ, weights={"Nope": 1.0})
    with pytest.raises(ValueError, match="no domain"):
        TokenSamples(shards, 100_000)
    with pytest.raises(FileNotFoundError, match="manifest.json"):
        TokenSamples(shards / "train", SEQ)


def test_valid_sets(shards):
    sets = valid_sets(shards)
    assert set(sets) == set(BASE)
    v = sets["Mid"]
    assert v.documents == 3 and v.tokens == 21 and v.text_bytes == 75
    assert [d.tolist() for d in v.iter_documents()] == [(np.arange(7) + 10 * k + 9_000_000).tolist() for k in range(3)]


def test_permutation_and_schedule():
    for n in (1, 2, 3, 17, 1000, 4097):
        assert sorted(Permutation(n, 11)(np.arange(n)).tolist()) == list(range(n))
    assert not np.array_equal(Permutation(1000, 1)(np.arange(1000)), Permutation(1000, 2)(np.arange(1000)))
    with pytest.raises(IndexError):
        Permutation(10, 0)([10])
    table1 = [75.21, 9.81, 7.17, 2.87, 2.12, 0.99, 1.04, 0.62, 0.14, 0.02, 0.02]
    s = DomainSchedule(table1)
    w = np.array(table1) / sum(table1)
    prev = s.prefix_counts(0)
    for n in range(1, 2000):  # one sample more, one domain's count one higher: never a count going back
        cur = s.prefix_counts(n)
        assert (cur - prev).min() == 0 and (cur - prev).sum() == 1
        assert np.abs(cur - n * w).max() <= len(w) / 2  # the largest domain absorbs the others' rounding
        assert np.abs(cur - n * w)[1:].max() < 1
        prev = cur
    assert np.abs(s.prefix_counts(10**12) - 10**12 * w).max() <= len(w) / 2
