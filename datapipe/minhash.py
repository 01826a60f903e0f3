"""MinHash LSH near-duplicate detection: shingling, signatures, bands and the verification cut.

Pure Python and numpy; the Spark stage (``jobs/dedup_minhash.py``) groups documents by band keys,
verifies candidate pairs and computes connected components.

Shingles. Text is normalised (NFKC, lower case, numbers become ``0``, punctuation and symbols become
spaces); space-delimited languages are cut into words (``datapipe.text.words``) and shingled as word
n-grams; languages written without spaces between words (Chinese, Japanese, Thai, Lao, Khmer,
Burmese, Tibetan: by ``lang``, or by script share when ``lang`` is unknown) keep only word characters
(punctuation and whitespace dropped) and are shingled as character n-grams, ``datapipe.text.
CHARS_PER_HAN`` times longer in the alphabetic ones. A document with fewer tokens than n is one shingle (all its tokens), so short documents match only
their exact (normalised) copies instead of all colliding on an empty set; a document without any
token has no signature and passes the stage untouched.

Hashing. A token hashes to 64 bits (BLAKE2b of its UTF-8); a shingle's 64-bit hash is the
polynomial ``((t1*K + t2)*K + ...)`` mod 2^64 of its tokens' hashes, avalanched with MurmurHash3's
finaliser and cut to its top 32 bits (:func:`shingle_hash32`). Combining token hashes keeps the
hashing vectorised: each distinct token is hashed once per partition, each shingle costs a few
numpy operations. Signatures are exactly ``datasketch.MinHash(num_perm, seed,
hashfunc=shingle_hash32)`` (its default ``affine32`` scheme): odd ``a``/any ``b`` drawn from
``RandomState(seed)``, ``min over shingles of a * fmix32(h) + b mod 2^32``.

Banding. ``b`` bands of ``r`` rows minimise the weighted areas of false positives (below the
threshold) and false negatives (above it) under the candidate curve ``1 - (1 - J^r)^b``, as
datasketch's ``MinHashLSH`` does; the integrals are exact here (Gauss-Legendre on a polynomial).
"""

from __future__ import annotations

import hashlib
import math
import unicodedata
from collections.abc import Sequence
from typing import Annotated

import numpy as np
import regex
from pydantic import Field, model_validator

from .config import StrictModel
from .document import Document
from .stage import Decision, DocumentStage, Reject
from .text import CHARS_PER_HAN, UNSPACED_LANGUAGES, unspaced_ratio, words

DUPLICATE_REASON = "minhash:duplicate"
QUALITY_KEY = "quality.score"
MISSING_QUALITY = 1.0
"""Rank of a document without a quality score (non-web domains): above any scored web text."""

CLUSTER_KEY = "minhash.cluster"
CLUSTER_SIZE_KEY = "minhash.cluster_size"

_MASK64 = (1 << 64) - 1
_POLY = 0x9E3779B97F4A7C15  # odd multiplier (2^64 / golden ratio) of the shingle polynomial
_FMIX64 = (33, 0xFF51AFD7ED558CCD, 33, 0xC4CEB9FE1A85EC53, 33)  # MurmurHash3 fmix64
_FMIX32 = (16, 0x85EBCA6B, 13, 0xC2B2AE35, 16)  # MurmurHash3 fmix32, datasketch's affine32 pre-mix
_NUMBER = regex.compile(r"\d+(?:[.,]\d+)*")
_PUNCTUATION = regex.compile(r"[^\w\s]+")
_NON_WORD_CHARS = regex.compile(r"[\W_]+")

Fraction = Annotated[float, Field(gt=0.0, lt=1.0)]
LangCode = Annotated[str, Field(min_length=2, max_length=16, pattern=r"^[A-Za-z]{2,3}([_-][A-Za-z0-9]+)*$")]


class MinHashConfig(StrictModel):
    """Settings of the MinHash near-duplicate stage (``configs/dedup_minhash.yaml``)."""

    threshold: Fraction = Field(0.8, description="Jaccard similarity of shingle sets at which documents are near duplicates")
    num_perm: int = Field(128, ge=16, le=1024, description="signature length (hash permutations)")
    seed: int = Field(1, ge=0, lt=2**32, description="seed of the permutations (datasketch's RandomState seed)")
    false_positive_weight: float = Field(0.05, ge=0.0, le=1.0, description="weight of the false-positive area when choosing bands")
    false_negative_weight: float = Field(0.95, ge=0.0, le=1.0, description="weight of the false-negative area when choosing bands")
    word_ngram: int = Field(5, ge=1, le=32, description="shingle size in words, space-delimited languages")
    char_ngram: int = Field(
        5, ge=1, le=32, description="shingle size in Han characters, char_ngram_languages (times datapipe.text.CHARS_PER_HAN in alphabetic scripts)"
    )
    char_ngram_languages: list[LangCode] = Field(
        default_factory=lambda: list(UNSPACED_LANGUAGES), description="lid.176 codes shingled by characters"
    )
    auto_char_min_ratio: float = Field(
        0.3, ge=0.0, le=1.0, description="lang unknown: share of unspaced-script characters at which text is shingled by characters"
    )
    verify: bool = Field(True, description="drop candidate pairs whose signatures disagree too much (false positives of banding)")
    verify_miss_rate: Fraction = Field(
        0.01, description="chance that a pair exactly at `threshold` fails verification; sets the cut on the estimated Jaccard"
    )
    checkpoint_interval: int = Field(2, ge=1, description="connected components: checkpoint the edge set every this many rounds")
    max_iterations: int = Field(60, ge=1, description="connected components: fail rather than run more rounds than this")
    driver_components_max_edges: int = Field(
        2_000_000, ge=0, description="connected components on the driver when there are at most this many verified edges (0: always on Spark)"
    )

    @model_validator(mode="after")
    def _weights_sum_to_one(self) -> "MinHashConfig":
        if not math.isclose(self.false_positive_weight + self.false_negative_weight, 1.0, abs_tol=1e-9):
            raise ValueError("false_positive_weight + false_negative_weight must be 1")
        return self


# --- banding -------------------------------------------------------------------------------------


def candidate_probability(jaccard: float | np.ndarray, bands: int, rows: int) -> float | np.ndarray:
    """Chance that two documents with this Jaccard similarity share at least one band."""
    return 1.0 - (1.0 - np.asarray(jaccard, dtype=np.float64) ** rows) ** bands


def optimal_bands(threshold: float, num_perm: int, false_positive_weight: float = 0.5, false_negative_weight: float = 0.5) -> tuple[int, int]:
    """(bands, rows) with ``bands * rows <= num_perm`` minimising
    ``fp_weight * area(P, 0..threshold) + fn_weight * area(1 - P, threshold..1)`` of the candidate
    probability P. The integrand is a polynomial of degree ``bands * rows <= num_perm``, so Gauss-Legendre
    quadrature with ``num_perm // 2 + 1`` nodes integrates it exactly. Ties go to fewer bands, then fewer
    rows, as in datasketch's ``_optimal_param``."""
    nodes, weights = np.polynomial.legendre.leggauss(num_perm // 2 + 1)

    def on(lo: float, hi: float) -> tuple[np.ndarray, np.ndarray]:
        return (hi - lo) / 2 * nodes + (hi + lo) / 2, (hi - lo) / 2 * weights

    s_fp, w_fp = on(0.0, threshold)
    s_fn, w_fn = on(threshold, 1.0)
    best, best_error = (1, 1), math.inf
    for b in range(1, num_perm + 1):
        r = np.arange(1, num_perm // b + 1)[:, None]
        fp = (candidate_probability(s_fp[None, :], b, r) * w_fp).sum(axis=1)
        fn = ((1.0 - candidate_probability(s_fn[None, :], b, r)) * w_fn).sum(axis=1)
        error = false_positive_weight * fp + false_negative_weight * fn
        i = int(np.argmin(error))
        if error[i] < best_error:
            best, best_error = (b, i + 1), float(error[i])
    return best


def detection_curve(bands: int, rows: int, points: Sequence[float] = tuple(np.round(np.arange(0.5, 1.0001, 0.05), 2))) -> dict[str, float]:
    """P(candidate | J) at the given similarities, keyed ``"0.50"``..``"1.00"`` (for logs and stats)."""
    return {f"{j:.2f}": round(float(candidate_probability(j, bands, rows)), 4) for j in points}


def verify_min_matches(threshold: float, num_perm: int, miss_rate: float) -> int:
    """Fewest equal signature positions a verified pair needs. For a pair of true similarity J each
    position agrees with probability J, so the count is Binomial(num_perm, J); the cut is the largest k
    with ``P(Binomial(num_perm, threshold) < k) <= miss_rate``."""
    log_p, log_q = math.log(threshold), math.log1p(-threshold)
    cdf = 0.0
    for k in range(num_perm + 1):
        log_comb = math.lgamma(num_perm + 1) - math.lgamma(k + 1) - math.lgamma(num_perm - k + 1)
        cdf += math.exp(log_comb + k * log_p + (num_perm - k) * log_q)
        if cdf > miss_rate:
            return k
    return num_perm


# --- hashing -------------------------------------------------------------------------------------


def token_hash(token: str) -> int:
    """Stable 64-bit hash of a token (the same in every process, unlike ``hash()``)."""
    return int.from_bytes(hashlib.blake2b(token.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "little")


def _fmix64_int(h: int) -> int:
    s1, m1, s2, m2, s3 = _FMIX64
    h ^= h >> s1
    h = (h * m1) & _MASK64
    h ^= h >> s2
    h = (h * m2) & _MASK64
    return h ^ (h >> s3)


def shingle_hash32(shingle: Sequence[str]) -> int:
    """32-bit hash of a shingle (a sequence of tokens): the reference of the vectorised hashing, and the
    ``hashfunc`` that makes ``datasketch.MinHash`` compute this module's signatures."""
    h = 0
    for i, token in enumerate(shingle):
        h = token_hash(token) if i == 0 else (h * _POLY + token_hash(token)) & _MASK64
    return _fmix64_int(h) >> 32


def _fmix(h: np.ndarray, constants: tuple[int, ...]) -> np.ndarray:
    """MurmurHash3's finaliser over an unsigned array (``_FMIX64`` for uint64, ``_FMIX32`` for uint32)."""
    s1, m1, s2, m2, s3 = (h.dtype.type(x) for x in constants)
    h = h ^ (h >> s1)
    h *= m1
    h ^= h >> s2
    h *= m2
    return h ^ (h >> s3)


def permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(a, b)`` of datasketch's ``affine32`` scheme: the same draws from ``RandomState(seed)``."""
    gen = np.random.RandomState(seed)
    a = gen.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = gen.randint(0, 1 << 32, num_perm, dtype=np.uint32)
    return a, b


def cluster_key(survivor_id: str) -> float:
    """A cluster's id as an annotation value: 53 bits of the survivor id's hash, exact in a float64."""
    return float(token_hash(survivor_id) >> 11)


def survivor_rank(quality: float | None) -> float:
    """Sort key of a cluster member, smallest survives: the negated quality score, a missing score
    ranking as :data:`MISSING_QUALITY` and an unusable one (NaN) as 0."""
    if quality is None:
        quality = MISSING_QUALITY
    elif math.isnan(quality):
        quality = 0.0
    return 0.0 - quality


def component_minima(a: np.ndarray, b: np.ndarray, nodes: int) -> np.ndarray:
    """For nodes ``0..nodes-1`` joined by the edges ``(a[i], b[i])``: the smallest node of each one's
    connected component. Minimum-label propagation over the edges, each pass followed by pointer
    jumping until every label is a root, so a long path takes a logarithmic number of passes."""
    label = np.arange(nodes, dtype=np.int64)
    while True:
        before = label.copy()
        low = np.minimum(label[a], label[b])
        np.minimum.at(label, a, low)
        np.minimum.at(label, b, low)
        while not np.array_equal(jumped := label[label], label):
            label = jumped
        if np.array_equal(label, before):
            return label


# --- shingling and signatures --------------------------------------------------------------------


def normalize(text: str) -> str:
    """NFKC, lower case, every number (``1,299.00`` too) as ``0``, punctuation and symbols as spaces:
    edits of case, width, numbers and punctuation do not count, and words glued by a missing space
    after a full stop ("end.Next") still come apart."""
    return _PUNCTUATION.sub(" ", _NUMBER.sub("0", unicodedata.normalize("NFKC", text).lower()))


class MinHasher:
    """Signatures of documents under one config; keeps a per-process cache of token hashes."""

    _CACHE_LIMIT = 1 << 20

    def __init__(self, config: MinHashConfig):
        self.config = config
        self.a, self.b = permutations(config.num_perm, config.seed)
        self._char_langs = frozenset(config.char_ngram_languages)
        self._cache: dict[str, int] = {}

    def by_chars(self, text: str, lang: str | None) -> bool:
        """Whether a document is shingled by characters: its language is listed, or unknown and
        written mostly in scripts without spaces between words."""
        if lang and lang != "und":
            return lang in self._char_langs
        return unspaced_ratio(text) >= self.config.auto_char_min_ratio

    def tokens(self, text: str, lang: str | None) -> tuple[list[str], int]:
        """The normalised tokens of a document and the shingle size that applies to them."""
        norm = normalize(text)
        if self.by_chars(text, lang):
            return list(_NON_WORD_CHARS.sub("", norm)), self.config.char_ngram * CHARS_PER_HAN.get(lang or "", 1)
        return words(norm), self.config.word_ngram

    def shingles(self, text: str, lang: str | None) -> list[tuple[str, ...]]:
        """A document's shingles as token tuples (what the signature summarises)."""
        toks, n = self.tokens(text, lang)
        if not toks:
            return []
        if len(toks) < n:
            return [tuple(toks)]
        return list(zip(*(toks[i:] for i in range(n))))

    def _token_hashes(self, toks: list[str]) -> np.ndarray:
        cache = self._cache
        missing = set(toks).difference(cache)
        if missing:
            if len(cache) + len(missing) > self._CACHE_LIMIT:
                cache.clear()
                missing = set(toks)
            for t in missing:
                cache[t] = token_hash(t)
        return np.fromiter(map(cache.__getitem__, toks), dtype=np.uint64, count=len(toks))

    def shingle_hashes(self, text: str, lang: str | None) -> np.ndarray:
        """:func:`shingle_hash32` of every shingle of :meth:`shingles`, vectorised (uint32)."""
        toks, n = self.tokens(text, lang)
        if not toks:
            return np.empty(0, dtype=np.uint32)
        th = self._token_hashes(toks)
        width = min(n, len(th))
        m = len(th) - width + 1
        h = th[:m].copy()
        poly = np.uint64(_POLY)
        for k in range(1, width):
            h *= poly
            h += th[k : k + m]
        return (_fmix(h, _FMIX64) >> np.uint64(32)).astype(np.uint32)

    def signatures(self, texts: Sequence[str], langs: Sequence[str | None], block_rows: int = 4096) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Signatures of a batch: ``(sigs, has_signature, short)``; ``sigs`` is (documents, num_perm)
        uint32 with rows of documents without tokens left at the maximum; ``short`` marks documents
        with fewer tokens than n (one shingle). The shingles of the whole batch go through the
        permutations in blocks of ``block_rows`` (a block holds ``block_rows * num_perm`` uint32)."""
        per_doc = [self.shingle_hashes(t, lang) for t, lang in zip(texts, langs)]
        sizes = np.fromiter(map(len, per_doc), dtype=np.int64, count=len(per_doc))
        has_sig = sizes > 0
        short = np.zeros(len(per_doc), dtype=bool)
        for i in np.flatnonzero(sizes == 1):
            toks, n = self.tokens(texts[i], langs[i])
            short[i] = len(toks) < n
        sigs = np.full((len(per_doc), self.config.num_perm), np.iinfo(np.uint32).max, dtype=np.uint32)
        if has_sig.any():
            hv = _fmix(np.concatenate(per_doc), _FMIX32)
            offsets = np.concatenate([[0], np.cumsum(sizes[has_sig])])
            sigs[has_sig] = self._segment_minima(hv, offsets, block_rows)
        return sigs, has_sig, short

    def _segment_minima(self, hv: np.ndarray, offsets: np.ndarray, block_rows: int) -> np.ndarray:
        """Per segment ``[offsets[i], offsets[i+1])`` of ``hv`` (all non-empty): min of ``a * hv + b``."""
        out = np.full((len(offsets) - 1, len(self.a)), np.iinfo(np.uint32).max, dtype=np.uint32)
        buf = np.empty((min(block_rows, len(hv)), len(self.a)), dtype=np.uint32)
        for start in range(0, len(hv), block_rows):
            end = min(start + block_rows, len(hv))
            block = buf[: end - start]
            np.multiply(hv[start:end, None], self.a[None, :], out=block)
            block += self.b
            first = int(np.searchsorted(offsets, start, side="right")) - 1
            last = int(np.searchsorted(offsets, end - 1, side="right")) - 1
            starts = np.maximum(offsets[first : last + 1], start) - start
            np.minimum(out[first : last + 1], np.minimum.reduceat(block, starts, axis=0), out=out[first : last + 1])
        return out


def band_keys(sigs: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """(documents, bands) int64: a 64-bit hash of each band's ``rows`` signature values. Two documents
    fall into one bucket of band i when their keys in column i are equal."""
    keys = np.zeros((sigs.shape[0], bands), dtype=np.uint64)
    poly = np.uint64(_POLY)
    for i in range(bands):
        h = keys[:, i]
        for col in sigs[:, i * rows : (i + 1) * rows].T:
            h *= poly
            h += col.astype(np.uint64)
        keys[:, i] = _fmix(h, _FMIX64)
    return keys.view(np.int64)


def jaccard(a: set, b: set) -> float:
    """Exact Jaccard similarity of two sets (1.0 for two empty sets)."""
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


class ClusterStage(DocumentStage):
    """Applies the clusters the job found: every member of a cluster, kept or not, carries
    ``minhash.cluster`` and ``minhash.cluster_size``; the survivor is kept, every other member is
    rejected as a duplicate naming the survivor (``survivor_id`` None: no near-duplicate)."""

    name = "dedup_minhash"
    columns = ("survivor_id", "cluster_size")

    def process(self, doc: Document, survivor_id: str | None = None, cluster_size: int | None = None) -> Decision:
        if survivor_id is None:
            return doc
        doc.annotations[CLUSTER_KEY] = cluster_key(survivor_id)
        doc.annotations[CLUSTER_SIZE_KEY] = float(cluster_size)
        if survivor_id != doc.id:
            return Reject(DUPLICATE_REASON, survivor_id)
        self.counters["clusters"] += 1
        return doc
