"""The trainer's data: fixed-length token samples drawn across domains from the tokenize stage's shards.

Reads the output of ``jobs/shards.py`` (``manifest.json`` and Megatron ``.bin``/``.idx`` shards,
memory-mapped through ``datapipe.indexed``); needs numpy only. Sample ``i`` is a pure function of
``i``, the seed and the manifest, found in O(1) (plus O(domains^2 log i) once per block of samples), so
a run resumed at sample ``k`` continues exactly where it stopped and never replays data.

How sample ``i`` is found:

1. **Domain.** Domains take turns in a fixed order that follows the weights exactly: the ``k``-th
   sample of domain ``d`` is due at time ``(k + 1/2) / w_d`` and samples are sorted by due time (ties
   by domain). After ``N`` samples every domain has had ``w_d N`` of them up to rounding: less than
   one sample for the small domains, at most half the number of domains for the largest, which
   absorbs the others' rounding (the Sainte-Lague divisor method, evaluated exactly in integers for
   any ``N`` by binary search); a domain of 0.02% weight gets its 0.02% too. Samples come in blocks of ``block_size``; inside a block their positions are
   shuffled by a seeded permutation, so a batch mixes domains at random while every block keeps the
   exact counts.
2. **Window.** A domain's shards, concatenated, are one token stream (documents end with the
   end-of-text id), cut into windows of ``seq_len + 1`` tokens starting every ``seq_len`` tokens
   (consecutive windows share one token: inputs ``w[:-1]``, targets ``w[1:]``). The domain's ``j``-th
   sample is window ``perm_e(j mod n)`` of epoch ``e = j // n``, a fresh seeded permutation per epoch,
   so every window is used once per epoch before any is used again.

The permutations are 4-round Feistel networks over integers with cycle walking: a bijection of
``range(n)`` evaluated pointwise in O(1) time and memory, from integer arithmetic only (no dependence on
numpy's random streams, which may change between versions).

The ``valid`` split is read document by document for evaluation (``valid_sets``), with the UTF-8
size of the documents' text for bits per byte.

Both check a split's shard files against the manifest (size and SHA-256, ``datapipe.indexed.verify_shards``)
before they open any, so a run on corrupt shards stops before its first step with an error that names
the file; under a torch.distributed process group the ranks share the hashing.
"""

from __future__ import annotations

import hashlib
import logging
import math
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from datapipe.indexed import IndexedDataset, load_manifest, verify_shards

log = logging.getLogger("train.data")

_MASK64 = (1 << 64) - 1
_WEIGHT_SCALE = 1 << 40
"""Weights become integers in units of 2**-40 so that the domain order is computed exactly."""


def _hash64(*parts) -> int:
    return int.from_bytes(hashlib.blake2b(repr(parts).encode(), digest_size=8).digest(), "big")


def _mix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser on uint64 arrays (wrapping arithmetic)."""
    x = x ^ (x >> np.uint64(30))
    x = x * np.uint64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> np.uint64(27))
    x = x * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


class Permutation:
    """A seeded pseudo-random bijection of ``range(n)``, evaluated pointwise (Feistel network over the
    smallest even number of bits covering ``n``, cycle walking back into range: fewer than 4 rounds of
    walking on average)."""

    ROUNDS = 4

    def __init__(self, n: int, key: int):
        if n < 1:
            raise ValueError("a permutation needs n >= 1")
        self.n = n
        self._half = max(1, math.ceil(math.log2(n) / 2)) if n > 1 else 1
        self._mask = np.uint64((1 << self._half) - 1)
        self._keys = [np.uint64(_hash64("feistel", key, r)) for r in range(self.ROUNDS)]

    def _network(self, x: np.ndarray) -> np.ndarray:
        h = np.uint64(self._half)
        left, right = x >> h, x & self._mask
        for k in self._keys:
            left, right = right, left ^ (_mix64(right ^ k) & self._mask)
        return (left << h) | right

    def __call__(self, i) -> np.ndarray:
        x = np.asarray(i, dtype=np.uint64).copy()
        if x.size and int(x.max()) >= self.n:
            raise IndexError(f"index out of range(0, {self.n})")
        todo = np.ones(x.shape, dtype=bool)
        while todo.any():
            x[todo] = self._network(x[todo])
            todo = x >= np.uint64(self.n)
        return x.astype(np.int64)


class DomainSchedule:
    """Which domain each sample position belongs to: ``prefix_counts(N)[d]`` is how many of the first
    ``N`` samples come from domain ``d`` (see the module docstring, step 1)."""

    def __init__(self, weights: list[float]):
        total = sum(weights)
        if total <= 0 or min(weights) < 0:
            raise ValueError(f"weights must be non-negative with a positive sum, got {weights}")
        self.weights = [max(0, round(w / total * _WEIGHT_SCALE)) for w in weights]

    def _rank(self, e: int, j: int) -> int:
        """How many samples are due before the ``j``-th one of domain ``e``."""
        we, rank = self.weights[e], 0
        for d, wd in enumerate(self.weights):
            if wd:
                x = (2 * j + 1) * wd
                m = x // we if d < e else (x - 1) // we  # odd multiples 2k+1 with (2k+1) we <(=) x
                rank += (m + 1) // 2
        return rank

    def prefix_counts(self, n: int) -> np.ndarray:
        counts = np.zeros(len(self.weights), dtype=np.int64)
        for e, we in enumerate(self.weights):
            if not we:
                continue
            lo, hi = 0, n  # the smallest j whose rank reaches n
            while lo < hi:
                mid = (lo + hi) // 2
                if self._rank(e, mid) >= n:
                    hi = mid
                else:
                    lo = mid + 1
            counts[e] = lo
        assert counts.sum() == n, (counts, n)
        return counts


class TokenStream:
    """One domain's shards of a split, concatenated into one memory-mapped token stream."""

    def __init__(self, datasets: list[IndexedDataset]):
        self.parts = [ds.tokens for ds in datasets if ds.num_tokens]
        self.starts = np.cumsum([0] + [len(p) for p in self.parts])
        self.num_tokens = int(self.starts[-1])

    def read(self, start: int, length: int) -> np.ndarray:
        """Tokens ``[start, start + length)`` as int64 (a copy; may span shards)."""
        if start < 0 or start + length > self.num_tokens:
            raise IndexError(f"tokens [{start}, {start + length}) outside the stream of {self.num_tokens}")
        out = np.empty(length, dtype=np.int64)
        k = int(np.searchsorted(self.starts, start, side="right")) - 1
        pos, filled = start, 0
        while filled < length:
            part = self.parts[k]
            offset = pos - int(self.starts[k])
            take = min(length - filled, len(part) - offset)
            out[filled : filled + take] = part[offset : offset + take]
            filled, pos, k = filled + take, pos + take, k + 1
        return out


def _process_group() -> dict:
    """``verify_shards``'s rank, world size and gather under a torch.distributed process group (none
    without one). Without torch.distributed imported there is no process group, so torch is not imported
    here: reading shards needs numpy only."""
    if "torch.distributed" not in sys.modules:
        return {}
    from train.collectives import gather_to_all, rank_and_world

    rank, world_size = rank_and_world()
    return {"rank": rank, "world_size": world_size, "gather": gather_to_all}


def _split_streams(directory: Path, manifest: dict, split: str) -> dict[str, list[IndexedDataset]]:
    by_domain: dict[str, list[IndexedDataset]] = {}
    for shard in manifest["shards"]:  # manifest order: by domain, then shard index
        if shard["split"] == split:
            by_domain.setdefault(shard["domain"], []).append(IndexedDataset(directory / shard["path"].removesuffix(".bin")))
    return by_domain


class TokenSamples:
    """Samples of ``seq_len + 1`` tokens from a split's shards, mixed across domains by the manifest's
    weights (or ``weights``); deterministic for a seed, random access by sample index.

    Domains whose stream is shorter than one window are left out (with a warning) and the other
    weights renormalised. ``verify``: check the split's shard files against the manifest first (under a
    process group every rank must construct it then: the check is a collective)."""

    def __init__(self, directory: str | Path, seq_len: int, *, split: str = "train", seed: int = 0,
                 block_size: int = 1024, weights: dict[str, float] | None = None, verify: bool = True):
        if seq_len < 1 or block_size < 1:
            raise ValueError("seq_len and block_size must be positive")
        self.directory = Path(directory)
        self.manifest = load_manifest(self.directory)
        if verify:
            verify_shards(self.directory, self.manifest, split, **_process_group())
        self.seq_len, self.split, self.seed, self.block_size = seq_len, split, seed, block_size
        weights = weights if weights is not None else {d: v["weight"] for d, v in self.manifest["domains"].items()}
        unknown = sorted(set(weights) - set(self.manifest["domains"]))
        if unknown:
            raise ValueError(f"weights for domains not in {self.directory}: {unknown}")
        streams = _split_streams(self.directory, self.manifest, split)
        self.domains: list[str] = []
        self.streams: list[TokenStream] = []
        self.skipped: list[str] = []
        for domain in sorted(streams):
            stream = TokenStream(streams[domain])
            if weights.get(domain, 0.0) <= 0:
                continue
            if stream.num_tokens < seq_len + 1:
                self.skipped.append(domain)
                log.warning("domain %s has %d %s tokens, fewer than one sample of %d: left out", domain, stream.num_tokens, split, seq_len + 1)
                continue
            self.domains.append(domain)
            self.streams.append(stream)
        if not self.domains:
            raise ValueError(f"{self.directory}: no domain of the {split} split has a positive weight and a full sample of {seq_len + 1} tokens")
        raw = np.array([weights[d] for d in self.domains], dtype=np.float64)
        self.weights = raw / raw.sum()
        self.windows = [(s.num_tokens - 1) // seq_len for s in self.streams]
        self._schedule = DomainSchedule(list(self.weights))
        self._blocks: dict[int, tuple[np.ndarray, np.ndarray, Permutation]] = {}
        self._epochs: dict[tuple[int, int], Permutation] = {}

    @property
    def samples_per_epoch(self) -> dict[str, int]:
        """Windows of each domain: the samples after which that domain starts its next epoch."""
        return dict(zip(self.domains, self.windows))

    def fingerprint(self) -> dict:
        """What decides the sample sequence; a checkpoint stores it so a resume can check it is the same."""
        shards = hashlib.sha256("".join(s["bin_sha256"] for s in self.manifest["shards"]).encode()).hexdigest()
        return {"seq_len": self.seq_len, "split": self.split, "seed": self.seed, "block_size": self.block_size,
                "domains": self.domains, "weights": [round(float(w), 12) for w in self.weights], "shards_sha256": shards}

    def _block(self, b: int) -> tuple[np.ndarray, np.ndarray, Permutation]:
        """Block ``b``: samples of each domain before it, the block's layout boundaries, its permutation."""
        if b not in self._blocks:
            if len(self._blocks) > 64:
                self._blocks.clear()
            before = self._schedule.prefix_counts(b * self.block_size)
            after = self._schedule.prefix_counts((b + 1) * self.block_size)
            bounds = np.cumsum(after - before)
            self._blocks[b] = (before, bounds, Permutation(self.block_size, _hash64("block", self.seed, b)))
        return self._blocks[b]

    def _epoch(self, d: int, e: int) -> Permutation:
        if (d, e) not in self._epochs:
            if len(self._epochs) > 1024:
                self._epochs.clear()
            self._epochs[(d, e)] = Permutation(self.windows[d], _hash64("epoch", self.seed, self.domains[d], e))
        return self._epochs[(d, e)]

    def locate(self, indices) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For sample indices: their domain (index into ``domains``), that domain's epoch, and the window."""
        idx = np.atleast_1d(np.asarray(indices, dtype=np.int64))
        if idx.size and idx.min() < 0:
            raise IndexError("sample indices must be non-negative")
        domain, local = np.empty_like(idx), np.empty_like(idx)
        blocks = idx // self.block_size
        for b in np.unique(blocks):
            sel = blocks == b
            before, bounds, perm = self._block(int(b))
            pos = perm(idx[sel] % self.block_size)
            d = np.searchsorted(bounds, pos, side="right")
            domain[sel] = d
            local[sel] = before[d] + pos - np.where(d > 0, bounds[np.maximum(d - 1, 0)], 0)
        epoch, within = np.divmod(local, np.asarray(self.windows, dtype=np.int64)[domain])
        window = np.empty_like(idx)
        for d, e in {(int(d), int(e)) for d, e in zip(domain, epoch)}:
            sel = (domain == d) & (epoch == e)
            window[sel] = self._epoch(d, e)(within[sel])
        return domain, epoch, window

    def domain_of(self, index: int) -> str:
        return self.domains[int(self.locate(index)[0][0])]

    def batch(self, indices) -> np.ndarray:
        """Samples at ``indices`` as an int64 array of shape (len(indices), seq_len + 1)."""
        domain, _, window = self.locate(indices)
        out = np.empty((len(domain), self.seq_len + 1), dtype=np.int64)
        for row, (d, w) in enumerate(zip(domain, window)):
            out[row] = self.streams[d].read(int(w) * self.seq_len, self.seq_len + 1)
        return out

    def __getitem__(self, index: int) -> np.ndarray:
        return self.batch([index])[0]

    def epochs_after(self, n_samples: int) -> dict[str, float]:
        """How many epochs of each domain the first ``n_samples`` samples use."""
        counts = self._schedule.prefix_counts(n_samples)
        return {d: float(c) / w for d, c, w in zip(self.domains, counts, self.windows)}

    def batches(self, batch_size: int, start: int = 0, rank: int = 0, world_size: int = 1) -> Iterator[tuple[int, np.ndarray]]:
        """Endless ``(next_start, batch)`` pairs from sample ``start`` on: each global batch is
        ``batch_size * world_size`` consecutive samples, of which this rank takes its contiguous share.
        Resume by passing the last ``next_start``."""
        step = batch_size * world_size
        while True:
            first = start + rank * batch_size
            yield start + step, self.batch(np.arange(first, first + batch_size))
            start += step


@dataclass
class ValidSet:
    """One domain's held-out documents: their tokens (end-of-text included) and text size for bits per byte."""

    domain: str
    datasets: list[IndexedDataset] = field(repr=False)
    documents: int
    tokens: int
    text_bytes: int

    def iter_documents(self) -> Iterator[np.ndarray]:
        for ds in self.datasets:
            for i in range(len(ds)):
                yield np.asarray(ds[i], dtype=np.int64)


def valid_sets(directory: str | Path, verify: bool = True) -> dict[str, ValidSet]:
    """The ``valid`` split per domain, for evaluation; ``verify`` as for ``TokenSamples``."""
    directory = Path(directory)
    manifest = load_manifest(directory)
    if verify:
        verify_shards(directory, manifest, "valid", **_process_group())
    out = {}
    for domain, datasets in sorted(_split_streams(directory, manifest, "valid").items()):
        entries = [s for s in manifest["shards"] if s["split"] == "valid" and s["domain"] == domain]
        out[domain] = ValidSet(domain, datasets, sum(len(ds) for ds in datasets), sum(ds.num_tokens for ds in datasets),
                               sum(s["text_bytes"] for s in entries))
    return out
