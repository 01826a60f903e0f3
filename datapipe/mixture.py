"""Domain-weighted sampling with per-domain epochs (the Tele-FLM report's Table 1 as the default).

Given each domain's size and its target share of the mixture, the mixture size is the largest one in
which no domain is repeated more than its ``max_epochs`` (or a fixed budget), and each domain's epochs
follow: ``epochs_d = target_d * total / size_d``. A document then appears ``floor(epochs_d)`` times,
plus once more with probability ``frac(epochs_d)``; below one epoch it is kept with probability
``epochs_d``. The draw for a document is a hash of (seed, id), so the result does not depend on
partitioning, order or the machine.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Literal

from pydantic import Field, field_validator, model_validator

from .config import StrictModel
from .document import DOMAINS, Document
from .stage import Decision, DocumentStage, Reject, doc_bytes, with_annotations

# Tele-FLM technical report (arXiv:2404.16645), Table 1: sampling proportion per domain, in percent.
TELEFLM_TABLE1 = {
    "WebText": 75.21,
    "Code": 9.81,
    "Book": 7.17,
    "WorldKnowledge": 2.87,
    "QA": 2.12,
    "AcademicPaper": 0.99,
    "Profession-Law": 1.04,
    "Profession-Math": 0.62,
    "Profession-Patent": 0.14,
    "Profession-Medical": 0.02,
    "ClassicalChinese": 0.02,
}


class DomainTarget(StrictModel):
    share: float = Field(ge=0, description="target share of the mixture (any scale; normalised)")
    max_epochs: float = Field(4.0, gt=0, description="the most times this domain's documents may be repeated")


class MixConfig(StrictModel):
    """Settings of the mixture stage (``configs/mix.yaml``)."""

    unit: Literal["bytes", "tokens"] = Field(
        "bytes", description="what the shares measure: UTF-8 bytes, or tokens estimated as bytes / bytes_per_token"
    )
    bytes_per_token: dict[str, float] = Field(
        default_factory=dict, description="per-domain bytes per token for unit=tokens (default 4.0)"
    )
    total: float | None = Field(None, gt=0, description="mixture size in units; None: largest allowed by max_epochs")
    seed: int = 0
    domains: dict[str, DomainTarget] = Field(
        default_factory=lambda: {d: DomainTarget(share=s) for d, s in TELEFLM_TABLE1.items()}
    )

    @field_validator("domains")
    @classmethod
    def _known_domains(cls, v: dict[str, DomainTarget]) -> dict[str, DomainTarget]:
        unknown = sorted(set(v) - set(DOMAINS))
        if unknown:
            raise ValueError(f"unknown domain(s) {unknown}; expected some of {', '.join(DOMAINS)}")
        if not any(t.share > 0 for t in v.values()):
            raise ValueError("at least one domain needs a positive share")
        return v

    @model_validator(mode="after")
    def _bpt_positive(self) -> "MixConfig":
        bad = {k: x for k, x in self.bytes_per_token.items() if x <= 0}
        if bad:
            raise ValueError(f"bytes_per_token must be positive: {bad}")
        return self


@dataclass(frozen=True)
class DomainPlan:
    domain: str
    documents: int
    size: float
    target_share: float
    epochs: float


def domain_size(cfg: MixConfig, domain: str, n_bytes: int) -> float:
    if cfg.unit == "bytes":
        return float(n_bytes)
    return n_bytes / cfg.bytes_per_token.get(domain, 4.0)


def plan_mixture(cfg: MixConfig, sizes: dict[str, tuple[int, int]]) -> tuple[list[DomainPlan], list[str]]:
    """Epochs per domain from ``sizes`` (domain -> (documents, bytes)); also the warnings to report.

    Domains with a target but no data drop out and the other targets are renormalised; data of a
    domain without a target is not sampled (epochs 0).
    """
    warnings = []
    targets = {d: t for d, t in cfg.domains.items() if t.share > 0}
    present = {d: t for d, t in targets.items() if sizes.get(d, (0, 0))[1] > 0}
    for d in sorted(set(targets) - set(present)):
        warnings.append(f"domain {d} has a target share but no documents; the other shares are renormalised")
    for d in sorted(set(sizes) - set(targets)):
        warnings.append(f"domain {d} has documents but no target share; it is left out of the mixture")
    if not present:
        raise ValueError("no domain with a target share has any documents")
    norm = sum(t.share for t in present.values())
    shares = {d: t.share / norm for d, t in present.items()}
    units = {d: domain_size(cfg, d, sizes[d][1]) for d in present}
    allowed = min(units[d] * present[d].max_epochs / shares[d] for d in present)
    total = cfg.total if cfg.total is not None else allowed
    if total > allowed * (1 + 1e-9):
        raise ValueError(f"total {total:.4g} needs more than max_epochs of some domain (at most {allowed:.4g})")
    plans = []
    for d in sorted(set(sizes) | set(present)):
        docs, _ = sizes.get(d, (0, 0))
        epochs = shares[d] * total / units[d] if d in present else 0.0
        plans.append(DomainPlan(d, docs, units.get(d, 0.0), shares.get(d, 0.0), epochs))
    return plans, warnings


def _uniform(seed: int, doc_id: str) -> float:
    """A number in [0, 1) fixed by (seed, id)."""
    h = hashlib.blake2b(f"{seed}:{doc_id}".encode(), digest_size=8).digest()
    return int.from_bytes(h, "big") / 2.0**64


def copies(epochs: float, seed: int, doc_id: str) -> int:
    """How many times a document appears in the mixture: floor(epochs) plus a seeded Bernoulli draw."""
    whole = math.floor(epochs)
    return whole + (1 if _uniform(seed, doc_id) < epochs - whole else 0)


class MixStage(DocumentStage):
    """Writes each document ``copies`` times (annotation ``mix.copy`` numbers them), or rejects it
    (``mix:downsampled``), by its domain's planned epochs."""

    name = "mix"

    def __init__(self, epochs: dict[str, float], seed: int):
        super().__init__()
        self.epochs, self.seed = epochs, seed

    def process(self, doc: Document) -> Decision:
        n = copies(self.epochs.get(doc.domain, 0.0), self.seed, doc.id)
        if n == 0:
            return Reject("mix:downsampled")
        self.counters[f"mix.{doc.domain}.docs_out"] += n
        self.counters[f"mix.{doc.domain}.bytes_out"] += n * doc_bytes(doc)
        return [with_annotations(doc, **{"mix.copy": float(i)}) for i in range(n)]
