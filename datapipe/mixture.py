"""The pre-training mixture: the Tele-FLM report's Table 1 (shares of tokens, epochs per domain).

Units. A share is a share of tokens. A document's tokens are its UTF-8 bytes divided by its domain's
bytes per token, rounded to a whole number, so that every sum below is exact integer arithmetic and
the same on any partitioning. Bytes per token are measured with the trained tokenizer on a seeded
sample of each domain (``jobs.mix --tokenizer``); without a tokenizer they are the config's estimate
per domain or language (``BytesPerTokenEstimate``). On our data they range from 2.2 (languages the
tokenizer saw little of) through 3.3 (code) and 4.3 (Chinese) to 5.9 (Chinese legal text): shares of
bytes are not shares of tokens.

Water-filling (UniMax, Chung et al. 2023). A domain may give at most ``max_epochs x tokens`` (its
cap). For a mixture of ``T`` tokens each domain's quota is ``min(cap, share x level)``, the level
being where the quotas sum to ``T``: a domain that cannot fill its share gives all it has, and its
shortfall is spread over the others in proportion to their shares.

Size. ``total_tokens``, or by default the largest mixture in which the domain with the largest share
(WebText in Table 1) is not short: its cap sets the level. "No domain exceeds its cap" cannot size
the mixture: with water-filling it holds for every total up to the sum of all caps, where every
domain is at its cap and Table 1 is lost. "No domain is short" lets the scarcest domain size the
whole mixture (two web pages did, on our data). The dominant domain is most of the mixture: at its
cap the mixture is as large as its bulk allows, every domain that can fill its share has exactly its
share (raised by the shortfall of the others), and only domains too small for their share deviate.

Exact quotas. A document of quality weight ``w`` (``QualityWeighting``; 1 otherwise) is expected to
appear ``e = w x scale`` times, ``scale`` being the domain's quota over its weighted tokens. It
appears ``floor(e)`` times, and once more when it comes before the domain's cutoff in the order of a
seeded key ``u / frac(e)`` (``u`` uniform from a hash of (seed, id)). The cutoff is the last document
whose extra copy still fits in what the whole copies leave of the quota; the next one gives a prefix
of whole paragraphs cut to what is left (``PartialCopy``). So a domain gets exactly its quota (to a
token's rounding), whatever the partitioning, even a domain of a few large documents with a small quota
(15 LaTeX chapters of ~60,000 tokens for an 80,000-token quota). Ordering by ``u / frac(e)`` makes the
chance of the extra copy proportional to ``frac(e)`` (sequential Poisson sampling, Ohlsson 1998). The cutoff is
found without a task ever holding a domain: a histogram of the keys (``BUCKETS`` buckets per domain,
token sums) is aggregated on Spark, the driver picks the bucket in which the quota is reached, and
only that bucket's documents come to the driver to place the cutoff (``jobs.mix``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Literal

from pydantic import Field, PositiveFloat, field_validator, model_validator

from .config import StrictModel
from .document import DOMAINS, Document
from .stage import Decision, DocumentStage, Reject, doc_bytes, with_annotations

TELEFLM_TABLE1 = {
    "WebText": (75.21, 1.0),
    "Code": (9.81, 1.0),
    "Book": (7.17, 0.8),
    "WorldKnowledge": (2.87, 2.5),
    "QA": (2.12, 1.0),
    "AcademicPaper": (0.99, 1.0),
    "Profession-Law": (1.04, 1.0),
    "Profession-Math": (0.62, 2.0),
    "Profession-Patent": (0.14, 1.0),
    "Profession-Medical": (0.02, 1.0),
    "ClassicalChinese": (0.02, 2.5),
}
"""Tele-FLM technical report (arXiv:2404.16645), Table 1: per domain the sampling proportion (percent
of tokens) and the epochs."""

BUCKETS = 1 << 14
"""Histogram buckets of the extra-copy keys per domain: the driver receives at most this many rows per
domain, then the documents of one bucket (a domain of 10^9 documents: ~61,000)."""

COPY_ANNOTATION = "mix.copy"
COPIES_ANNOTATION = "mix.copies"
PREFIX_CHARS_ANNOTATION = "mix.prefix_chars"
"""A mixture written with ``write_copies: false`` has one row per drawn document: ``mix.copies`` whole
copies of it, then, with ``mix.prefix_chars``, a copy of its first that many characters; the shards
stage expands them (``expand_copies``)."""


def _known_domains(names, what: str) -> None:
    unknown = sorted(set(names) - set(DOMAINS))
    if unknown:
        raise ValueError(f"unknown domain(s) {unknown} in {what}; expected some of {', '.join(DOMAINS)}")


class DomainTarget(StrictModel):
    share: float = Field(ge=0, description="target share of the mixture's tokens (any scale; normalised)")
    max_epochs: float = Field(1.0, gt=0, description="the most times the domain's tokens may be used, on average")


class BytesPerTokenEstimate(StrictModel):
    """Bytes per token without a tokenizer: a domain's own figure (code, math, classical Chinese are
    their own kinds of text), else the document's language's (``lang``, the part before ``-``/``_``),
    else ``default``. The defaults were measured once with our 80k tokenizer on held-out real text
    (``configs/mix.yaml`` says how)."""

    domains: dict[str, PositiveFloat] = Field(
        default_factory=lambda: {"Code": 3.3, "Profession-Math": 3.5, "ClassicalChinese": 3.7})
    languages: dict[str, PositiveFloat] = Field(default_factory=lambda: {"en": 3.5, "zh": 4.3})
    default: PositiveFloat = 2.2

    @field_validator("domains")
    @classmethod
    def _domains_known(cls, v: dict[str, float]) -> dict[str, float]:
        _known_domains(v, "bytes_per_token.domains")
        return v

    def lookup(self, domain: str, lang: str | None) -> float:
        if domain in self.domains:
            return self.domains[domain]
        base = (lang or "").replace("_", "-").split("-")[0].lower()
        return self.languages.get(base, self.default)


class QualityBucket(StrictModel):
    """Documents whose quality value is in ``[low, high)`` (``high`` 1 includes 1) get ``weight``."""

    low: float = Field(ge=0, le=1)
    high: float = Field(ge=0, le=1)
    weight: PositiveFloat

    @model_validator(mode="after")
    def _ordered(self) -> QualityBucket:
        if self.low >= self.high:
            raise ValueError(f"low ({self.low}) must be below high ({self.high})")
        return self

    def holds(self, value: float) -> bool:
        return self.low <= value < self.high or value == self.high == 1.0


class QualityWeighting(StrictModel):
    """Up- and down-sampling by quality inside a domain's quota: a document's expected copies are
    proportional to its bucket's weight (1 outside every bucket or without the annotation), and the
    domain's tokens stay its quota, so its epochs stay within ``max_epochs`` on average while a
    high-weight document may be repeated more often. No buckets: off."""

    domains: list[str] = Field(default_factory=lambda: ["WebText"])
    annotation: Literal["quality.rank", "quality.score"] = "quality.rank"
    buckets: list[QualityBucket] = Field(default_factory=list)

    @field_validator("domains")
    @classmethod
    def _domains_known(cls, v: list[str]) -> list[str]:
        _known_domains(v, "quality.domains")
        return v

    @field_validator("buckets")
    @classmethod
    def _disjoint(cls, v: list[QualityBucket]) -> list[QualityBucket]:
        ranges = sorted((b.low, b.high) for b in v)
        for (low1, high1), (low2, high2) in pairwise(ranges):
            if low2 < high1:
                raise ValueError(f"buckets [{low1}, {high1}) and [{low2}, {high2}) overlap")
        return v

    def applies(self, domain: str) -> bool:
        return bool(self.buckets) and domain in self.domains

    def weight(self, domain: str, value: float | None) -> float:
        """The weight of a document of ``domain`` with quality ``value`` (None: not scored)."""
        if value is None or not self.applies(domain):
            return 1.0
        return next((b.weight for b in self.buckets if b.holds(value)), 1.0)


def _table1_targets() -> dict[str, DomainTarget]:
    return {d: DomainTarget(share=share, max_epochs=epochs) for d, (share, epochs) in TELEFLM_TABLE1.items()}


class MixConfig(StrictModel):
    """Settings of the mixture stage (``configs/mix.yaml``)."""

    total_tokens: int | None = Field(None, gt=0, description="mixture size; None: the largest in which the largest-share domain is not short")
    seed: int = 0
    tolerance: float = Field(0.10, gt=0, description="relative deviation of a realised share from its planned share that is warned about")
    measure_bytes: int = Field(4_000_000, gt=0, description="text per domain the tokenizer measures bytes per token on")
    bytes_per_token: BytesPerTokenEstimate = Field(default_factory=BytesPerTokenEstimate)
    quality: QualityWeighting = Field(default_factory=QualityWeighting)
    domains: dict[str, DomainTarget] = Field(default_factory=_table1_targets)
    write_copies: bool = Field(True, description="write every copy of a document as a row; false: one row per drawn document, "
                               "the copies recorded in its annotations (mix.copies, mix.prefix_chars) for the shards stage to expand")

    @field_validator("domains")
    @classmethod
    def _targets_usable(cls, v: dict[str, DomainTarget]) -> dict[str, DomainTarget]:
        _known_domains(v, "domains")
        if not any(t.share > 0 for t in v.values()):
            raise ValueError("at least one domain needs a positive share")
        return v


# --- per document: tokens, weight, copies -------------------------------------------------------


@dataclass(frozen=True)
class TokenRates:
    """Bytes per token: ``measured`` per domain where the tokenizer measured it, else the estimate."""

    estimate: BytesPerTokenEstimate
    measured: dict[str, float] = field(default_factory=dict)

    def bytes_per_token(self, domain: str, lang: str | None) -> float:
        return self.measured.get(domain) or self.estimate.lookup(domain, lang)

    def tokens(self, domain: str, lang: str | None, n_bytes: int) -> int:
        """A document's tokens: at least one for any text."""
        return max(1, round(n_bytes / self.bytes_per_token(domain, lang))) if n_bytes else 0


def uniform(seed: int, doc_id: str) -> float:
    """A number in [0, 1) fixed by (seed, id)."""
    digest = hashlib.blake2b(f"mix:{seed}:{doc_id}".encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big") / float(1 << 64)


@dataclass(frozen=True, order=True)
class Cutoff:
    """The last document, in (bucket, key, id) order, that gets its extra copy."""

    bucket: int
    key: float
    doc_id: str


NO_EXTRA_COPIES = Cutoff(-1, 0.0, "")


@dataclass(frozen=True)
class PartialCopy:
    """The document just past a domain's cutoff: its extra copy is a prefix of ``tokens`` tokens (whole
    paragraphs where they fit), so the domain gets exactly its quota however large its documents are."""

    doc_id: str
    tokens: int


@dataclass(frozen=True)
class Draw:
    """Where a document stands: its whole copies and the (bucket, key) of its extra copy; a document
    without a fractional part has bucket ``BUCKETS`` and key infinity (never drawn)."""

    whole: int
    bucket: int
    key: float

    @property
    def has_fraction(self) -> bool:
        return self.bucket < BUCKETS

    def copies(self, doc_id: str, cutoff: Cutoff) -> int:
        return self.whole + int(self.has_fraction and Cutoff(self.bucket, self.key, doc_id) <= cutoff)


def draw(seed: int, doc_id: str, expected: float) -> Draw:
    """The draw of a document expected to appear ``expected`` times (see the module)."""
    whole = math.floor(expected)
    fraction = expected - whole
    if fraction <= 0:
        return Draw(whole, BUCKETS, math.inf)
    key = uniform(seed, doc_id) / fraction
    return Draw(whole, min(BUCKETS - 1, int(BUCKETS * key / (1.0 + key))), key)


# --- the plan (driver) ----------------------------------------------------------------------------


@dataclass(frozen=True)
class DomainSupply:
    """What a domain has: documents, UTF-8 bytes, tokens, tokens times the documents' quality weights."""

    documents: int
    bytes: int
    tokens: int
    weighted_tokens: float


def domain_supply(sums: list[tuple[str, float, int, int, int]]) -> dict[str, DomainSupply]:
    """Every domain's supply from (domain, weight, documents, bytes, tokens) sums, one per domain and
    weight; added up in a fixed order, so the plan is the same whatever order the sums come in."""
    supply: dict[str, DomainSupply] = {}
    for domain, weight, documents, n_bytes, tokens in sorted(sums):
        s = supply.get(domain, DomainSupply(0, 0, 0, 0.0))
        supply[domain] = DomainSupply(s.documents + documents, s.bytes + n_bytes, s.tokens + tokens,
                                      s.weighted_tokens + weight * tokens)
    return supply


@dataclass(frozen=True)
class DomainPlan:
    domain: str
    supply: DomainSupply
    max_epochs: float
    target_share: float
    """Share in the config (Table 1), normalised over the domains with a share."""
    planned_share: float
    """Share after water-filling: the share of the quota in the planned total."""
    quota: int
    """Tokens planned."""
    short: bool
    """The domain cannot fill its target share at its cap and gives all it has."""

    @property
    def epochs(self) -> float:
        return self.quota / self.supply.tokens if self.supply.tokens else 0.0

    @property
    def scale(self) -> float:
        """Copies expected of a document of weight 1."""
        return self.quota / self.supply.weighted_tokens if self.supply.weighted_tokens else 0.0


@dataclass(frozen=True)
class MixturePlan:
    total_tokens: int
    size_rule: str
    domains: list[DomainPlan]
    warnings: list[str]

    def scales(self) -> dict[str, float]:
        """Copies expected of a document of weight 1, per domain with a share."""
        return {p.domain: p.scale for p in self.domains if p.target_share}


def water_level(shares: dict[str, float], caps: dict[str, float], total: float) -> float:
    """The level at which the quotas ``min(cap, share x level)`` sum to ``total`` (at most the sum of
    the caps): domains saturate in the order of cap / share, the rest share what is left."""
    filled, mass = 0.0, sum(shares.values())
    order = sorted(shares, key=lambda d: caps[d] / shares[d])
    for d in order:
        level = (total - filled) / mass
        if level <= caps[d] / shares[d] or d == order[-1]:
            return level
        filled += caps[d]
        mass -= shares[d]
    raise ValueError("no domain has a share")


def plan_mixture(config: MixConfig, supply: dict[str, DomainSupply]) -> MixturePlan:
    """Every domain's quota from what the domains have (see the module): water-filling at the level
    that ``total_tokens`` or the largest-share domain sets. Data of a domain without a share is left out."""
    warnings = []
    shares_in = {d: t.share for d, t in config.domains.items() if t.share > 0}
    norm = sum(shares_in.values())
    shares = {d: s / norm for d, s in shares_in.items()}
    empty = DomainSupply(0, 0, 0, 0.0)
    caps = {d: config.domains[d].max_epochs * supply.get(d, empty).tokens for d in shares}
    for d in sorted(d for d in shares if not caps[d]):
        warnings.append(f"domain {d} has a target share but no documents: its share goes to the others")
    for d in sorted(set(supply) - set(shares)):
        warnings.append(f"domain {d} has documents but no target share: it is left out of the mixture")
    if not any(caps.values()):
        raise ValueError("no domain with a target share has any documents")
    if config.total_tokens is None:
        anchor = max((d for d in shares if caps[d]), key=lambda d: (shares[d], d))
        level = caps[anchor] / shares[anchor]
        size_rule = f"the largest mixture in which {anchor} (the largest share) is not short: {anchor} at its cap"
    else:
        if config.total_tokens > sum(caps.values()):
            raise ValueError(f"total_tokens {config.total_tokens:,} is more than every domain at its max_epochs gives "
                             f"({sum(caps.values()):,.0f} tokens)")
        level = water_level(shares, caps, config.total_tokens)
        size_rule = f"total_tokens {config.total_tokens:,}"
    allotted = {d: min(caps[d], shares[d] * level) for d in shares}
    quotas = {d: round(a) for d, a in allotted.items()}
    plans = [
        DomainPlan(
            domain=d, supply=supply.get(d, empty), max_epochs=config.domains[d].max_epochs if d in config.domains else 0.0,
            target_share=shares.get(d, 0.0), planned_share=allotted.get(d, 0.0) / sum(allotted.values()),
            quota=quotas.get(d, 0),
            short=d in shares and caps[d] < shares[d] * level * (1 - 1e-9),
        )
        for d in sorted(set(shares) | set(supply))
    ]
    return MixturePlan(sum(quotas.values()), size_rule, plans, warnings)


# Both passes over the documents see rows of (id, domain, tokens, weight).


def histogram_entry(row: dict, scales: dict[str, float], seed: int) -> tuple[str, int, int, int] | None:
    """A document's part of its domain's histogram: (domain, bucket, tokens of its whole copies,
    its tokens if it may get an extra copy, else 0); None for a domain without a share."""
    if row["domain"] not in scales:
        return None
    drawn = draw(seed, row["id"], row["weight"] * scales[row["domain"]])
    return row["domain"], drawn.bucket, drawn.whole * row["tokens"], row["tokens"] if drawn.has_fraction else 0


@dataclass(frozen=True)
class Boundary:
    """The bucket in which a domain's extra copies reach ``remainder`` tokens (what the whole copies
    leave of the quota), and the extra-copy tokens of the buckets below it."""

    bucket: int
    below: int
    remainder: int


def boundaries(plan: MixturePlan, histogram: list[tuple[str, int, int, int]]) -> dict[str, Boundary]:
    """Every domain's boundary from its histogram, summed per (domain, bucket); a domain that needs no
    extra copy has none. When the extra copies cannot reach the remainder, the last bucket (all of them)."""
    whole: dict[str, int] = {}
    extra: dict[str, list[tuple[int, int]]] = {}
    for domain, bucket, whole_tokens, extra_tokens in sorted(histogram):
        whole[domain] = whole.get(domain, 0) + whole_tokens
        if extra_tokens:
            extra.setdefault(domain, []).append((bucket, extra_tokens))
    found = {}
    for p in plan.domains:
        remainder, below = p.quota - whole.get(p.domain, 0), 0
        buckets = extra.get(p.domain, []) if remainder > 0 else []
        for i, (bucket, tokens) in enumerate(buckets):
            if below + tokens >= remainder or i == len(buckets) - 1:
                found[p.domain] = Boundary(bucket, below, remainder)
                break
            below += tokens
    return found


def boundary_entry(row: dict, scales: dict[str, float], seed: int, bounds: dict[str, Boundary]) -> tuple[str, float, str, int] | None:
    """(domain, key, id, tokens) of a document in its domain's boundary bucket; None for the others."""
    if row["domain"] not in bounds:
        return None
    drawn = draw(seed, row["id"], row["weight"] * scales[row["domain"]])
    if drawn.bucket != bounds[row["domain"]].bucket:
        return None
    return row["domain"], drawn.key, row["id"], row["tokens"]


def place_cutoffs(bounds: dict[str, Boundary], entries: list[tuple[str, float, str, int]]) -> tuple[dict[str, Cutoff], dict[str, PartialCopy]]:
    """Every boundary's cutoff from the documents of its bucket: the last one whose extra copy still fits
    in the remainder, and the next one, whose extra copy is cut to what is left (when anything is)."""
    in_bucket: dict[str, list[tuple[float, str, int]]] = {d: [] for d in bounds}
    for domain, key, doc_id, tokens in entries:
        in_bucket[domain].append((key, doc_id, tokens))
    cutoffs, partials = {}, {}
    for domain, b in bounds.items():
        cutoffs[domain], selected = Cutoff(b.bucket, -1.0, ""), b.below
        for key, doc_id, tokens in sorted(in_bucket[domain]):
            if selected + tokens > b.remainder:
                if b.remainder > selected:
                    partials[domain] = PartialCopy(doc_id, b.remainder - selected)
                break
            selected += tokens
            cutoffs[domain] = Cutoff(b.bucket, key, doc_id)
    return cutoffs, partials


def text_prefix(text: str, max_bytes: int) -> str:
    """The longest run of whole paragraphs (lines) within ``max_bytes`` UTF-8 bytes; when even the first
    does not fit, as much of it as does, cut at a character."""
    kept, size = [], 0
    for line in text.split("\n"):
        line_bytes = len(line.encode("utf-8", "surrogatepass")) + (1 if kept else 0)
        if size + line_bytes > max_bytes:
            break
        kept.append(line)
        size += line_bytes
    if kept:
        return "\n".join(kept)
    return text.encode("utf-8", "surrogatepass")[:max_bytes].decode("utf-8", "ignore")


def share_deviations(plan: MixturePlan, tokens_out: dict[str, int], tolerance: float) -> list[str]:
    """A warning for every domain whose realised share deviates from its planned share by more than
    ``tolerance`` (relative)."""
    total = sum(tokens_out.values()) or 1
    warnings = []
    for p in plan.domains:
        realised = tokens_out.get(p.domain, 0) / total
        if p.planned_share and abs(realised / p.planned_share - 1) > tolerance:
            warnings.append(f"domain {p.domain}: realised share {100 * realised:.3f}% deviates from its planned "
                            f"{100 * p.planned_share:.3f}% by more than {100 * tolerance:g}%")
    return warnings


# --- the stage ------------------------------------------------------------------------------------


class MixStage(DocumentStage):
    """Writes each document as often as the plan says (annotation ``mix.copy`` numbers the copies; with
    ``write_copies`` false once, the copies recorded), or rejects it: ``mix:downsampled`` (no copy),
    ``mix:no_share`` (its domain has no share).

    ``scales``: copies expected per domain of a document of weight 1; ``cutoffs``: per domain, the last
    document that gets its extra copy (none where absent); ``partials``: per domain, the document whose
    extra copy is a prefix (annotation ``mix.prefix``: the share of the text it keeps)."""

    name = "mix"

    def __init__(self, scales: dict[str, float], seed: int, cutoffs: dict[str, Cutoff] | None = None,
                 rates: TokenRates | None = None, quality: QualityWeighting | None = None,
                 partials: dict[str, PartialCopy] | None = None, write_copies: bool = True):
        super().__init__()
        self.scales, self.seed, self.cutoffs, self.partials = scales, seed, cutoffs or {}, partials or {}
        self.write_copies = write_copies
        self.rates = rates or TokenRates(BytesPerTokenEstimate())
        self.quality = quality or QualityWeighting()

    def process(self, doc: Document) -> Decision:
        scale = self.scales.get(doc.domain)
        if scale is None:
            return Reject("mix:no_share")
        weight = self.quality.weight(doc.domain, doc.annotations.get(self.quality.annotation))
        n = draw(self.seed, doc.id, weight * scale).copies(doc.id, self.cutoffs.get(doc.domain, NO_EXTRA_COPIES))
        copies = [with_annotations(doc, **{COPY_ANNOTATION: float(i)}) for i in range(n)]
        partial = self.partials.get(doc.domain)
        if partial is not None and partial.doc_id == doc.id:
            max_bytes = int(partial.tokens * self.rates.bytes_per_token(doc.domain, doc.lang))
            prefix = with_annotations(doc, **{COPY_ANNOTATION: float(n)})
            prefix.text = text_prefix(doc.text, max_bytes)
            prefix.annotations["mix.prefix"] = round(len(prefix.text) / max(1, len(doc.text)), 6)
            copies.append(prefix)
        if not copies:
            return Reject("mix:downsampled")
        weight_key = f"mix.{doc.domain}.weight={weight:g}.tokens_out" if self.quality.applies(doc.domain) else None
        for copy in copies:
            n_bytes = doc_bytes(copy)
            tokens = self.rates.tokens(doc.domain, doc.lang, n_bytes)
            self.counters[f"mix.{doc.domain}.docs_out"] += 1
            self.counters[f"mix.{doc.domain}.bytes_out"] += n_bytes
            self.counters[f"mix.{doc.domain}.tokens_out"] += tokens
            if weight_key:
                self.counters[weight_key] += tokens
        if self.write_copies:
            return copies
        recorded = {COPIES_ANNOTATION: float(n)}
        if len(copies) > n:
            recorded[PREFIX_CHARS_ANNOTATION] = float(len(copies[-1].text))
            recorded["mix.prefix"] = copies[-1].annotations["mix.prefix"]
        return with_annotations(doc, **recorded)


def expand_copies(doc: Document) -> list[Document]:
    """The rows a ``write_copies: true`` mixture would hold for a row of a recorded one (itself, when it
    records no copies)."""
    if COPIES_ANNOTATION not in doc.annotations:
        return [doc]
    n = int(doc.annotations[COPIES_ANNOTATION])
    base = {k: v for k, v in doc.annotations.items() if k not in (COPIES_ANNOTATION, PREFIX_CHARS_ANNOTATION, "mix.prefix")}
    copies = [dataclasses.replace(doc, annotations={**base, COPY_ANNOTATION: float(i)}) for i in range(n)]
    if PREFIX_CHARS_ANNOTATION in doc.annotations:
        prefix = {**base, COPY_ANNOTATION: float(n), "mix.prefix": doc.annotations["mix.prefix"]}
        copies.append(dataclasses.replace(doc, text=doc.text[: int(doc.annotations[PREFIX_CHARS_ANNOTATION])], annotations=prefix))
    return copies
