"""The held-out split: documents that no tokenizer, training shard or model ever sees in training.

One deterministic rule for the whole project, so the tokenizer's compression report, the validation
shards and the trainer's bits-per-byte evaluation all use the same documents, whatever the
partitioning or the machine: a document is held out when a hash of (seed, id) falls below
``fraction``.
"""

from __future__ import annotations

import hashlib

_SCALE = float(1 << 64)


def heldout_draw(doc_id: str, seed: int = 0) -> float:
    """A uniform number in [0, 1) fixed by the document id and the seed."""
    digest = hashlib.blake2b(f"heldout:{seed}:{doc_id}".encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big") / _SCALE


def is_heldout(doc_id: str, fraction: float, seed: int = 0) -> bool:
    """Whether the document belongs to the held-out split (a share ``fraction`` of all documents)."""
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"held-out fraction must be in [0, 1), got {fraction}")
    return fraction > 0.0 and heldout_draw(doc_id, seed) < fraction


def sample_draw(doc_id: str, seed: int) -> float:
    """A uniform number in [0, 1) fixed by (seed, id), independent of the held-out draw: a document is in
    a sample of rate ``r`` when its draw is below ``r`` (so a sample at a higher rate holds it too)."""
    digest = hashlib.blake2b(f"tokenizer-sample:{seed}:{doc_id}".encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big") / _SCALE

