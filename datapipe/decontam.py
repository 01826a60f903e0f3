"""Benchmark decontamination by n-gram overlap, as in GPT-3 (Brown et al. 2020, appendix C).

The test items of the configured benchmarks are normalised, cut into n-grams and hashed to 64 bits
(a sorted ``uint64`` array with a bitmask of the benchmarks each n-gram comes from: compact enough
to broadcast to every Spark task). A document that shares an n-gram with it is either dropped
(``mode: drop``) or cut GPT-3 style (``mode: cut``): every matching span is removed together with a
window of characters on each side, the document is split there, pieces shorter than a minimum are
dropped, and a document cut into too many pieces is dropped whole.

Normalisation (GPT-3 and the Llama-2 contamination analysis: lower case, no punctuation, words):
lower case, full-width ASCII folded to ASCII, apostrophes deleted ("don't" = "dont",
"farmer’s" = "farmer's"), and tokens are runs of word characters, except that every Han or kana
character is a token of its own, since Chinese and Japanese are not space-delimited. Punctuation
and whitespace only separate tokens. An item whose text is mostly Han/kana uses n-grams of
``cjk_ngram`` tokens (characters), any other item n-grams of ``word_ngram`` tokens (words);
documents are scanned for both lengths (the second only when they contain Han or kana), so a
Chinese question quoted in an English page, or the reverse, is found too.

Hashing is linear in the document length: each token is hashed once (BLAKE2b-64, cached), and the
n-gram hashes are a polynomial over the token hashes modulo 2^64, computed with ``n`` vectorised
multiply-adds over the whole token array. With random token hashes and an odd multiplier the
n-gram hash of two different n-grams collides with probability about 2^-64.
"""

from __future__ import annotations

import csv
import glob
import gzip
import hashlib
import io
import json
import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import regex
from pydantic import Field, field_validator, model_validator

from .config import ConfigError, StrictModel, require_unique_names
from .document import Document
from .stage import Decision, DocumentStage, Reject
from .text import CJK_RE, HAN_CLASS, KANA_CLASS, cjk_ratio, has_letter

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
"""Relative benchmark roots are resolved against the directory that holds ``datapipe/``."""

TOO_MANY_CUTS = "too_many_cuts"
REASON_PREFIX = "decontam:"

# --------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------

BenchmarkName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]*$", max_length=64)]
Format = Literal["auto", "jsonl", "json", "csv", "parquet", "txt"]
_SUFFIX_FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".csv": "csv", ".parquet": "parquet", ".txt": "txt"}


class BenchmarkSource(StrictModel):
    """One benchmark: its test files and the fields of each record that hold the item's text."""

    name: BenchmarkName = Field(description="used in counters (decontam.<name>.docs) and reject reasons")
    paths: list[str] = Field(min_length=1, description="files or globs, relative to the config's root (or absolute)")
    format: Format = Field("auto", description="auto: from the suffix (.jsonl .json .csv .parquet .txt, optionally .gz)")
    fields: list[str] = Field(
        default_factory=list,
        description="dotted paths into a record (lists are traversed: question.choices.text); CSV: column names, "
        "or 0-based column numbers when csv_header is false; ignored for txt (one item per non-blank line)",
    )
    records: str | None = Field(None, description="JSON only: dotted path to the list of records inside the document")
    csv_header: bool = Field(True, description="CSV only: the first row names the columns")
    strip_pattern: str | None = Field(None, description="regex removed from each item before tokenising (annotations)")

    @field_validator("strip_pattern")
    @classmethod
    def _compiles(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                re.compile(v)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression: {exc}") from None
        return v

    @model_validator(mode="after")
    def _fields_fit_the_format(self) -> "BenchmarkSource":
        txt_only = self.format == "txt" or (self.format == "auto" and all(_format_of(p) == "txt" for p in self.paths))
        if not txt_only and not self.fields:
            raise ValueError(f"benchmark {self.name}: fields are required (only txt files have none)")
        if not self.csv_header and not all(f.isdigit() for f in self.fields):
            raise ValueError(f"benchmark {self.name}: without a CSV header, fields are column numbers")
        return self


def default_benchmarks() -> list[BenchmarkSource]:
    """The test sets under ``../shared/data/benchmarks`` (see its SOURCES.md)."""
    b = BenchmarkSource
    return [
        b(name="gsm8k", paths=["gsm8k/grade_school_math/data/test.jsonl"], fields=["question", "answer"], strip_pattern=r"<<[^>]*>>"),
        b(name="humaneval", paths=["human-eval/data/HumanEval.jsonl.gz"], fields=["prompt", "canonical_solution"]),
        b(name="mmlu", paths=["MMLU/data/mmlu/test/*_test.csv*"], fields=["question", "choice0", "choice1", "choice2", "choice3"]),
        b(name="cmmlu", paths=["CMMLU/data/test/*.csv"], fields=["Question", "A", "B", "C", "D"]),
        b(name="arc_challenge", paths=["ARC-Challenge/data/arc/ARC-Challenge-Test.jsonl"], fields=["question.stem", "question.choices.text"]),
        b(name="math", paths=["math-evaluation-harness/data/math/test.jsonl.gz"], fields=["problem", "solution"]),
    ]


class DecontamConfig(StrictModel):
    """Settings of the decontamination stage (``configs/decontaminate.yaml`` repeats the defaults)."""

    root: str = Field("../shared/data/benchmarks", description="benchmark paths are relative to this; relative roots to the project root")
    strict: bool = Field(False, description="a missing benchmark file is an error instead of a warning")
    mode: Literal["drop", "cut"] = Field("cut", description="cut the matches out (GPT-3), or drop a matching document")
    word_ngram: int = Field(13, ge=1, le=100, description="n-gram length in words (GPT-3: 13)")
    cjk_ngram: int = Field(13, ge=1, le=100, description="n-gram length in characters for Chinese/Japanese items")
    cjk_item_min_ratio: float = Field(0.3, ge=0.0, le=1.0, description="Han+kana share at which an item uses cjk_ngram")
    max_items_per_ngram: int | None = Field(10, ge=1, description="n-grams in more benchmark items are ignored; null: none")
    min_letter_tokens: int = Field(3, ge=0, description="n-grams with fewer tokens that contain a letter are ignored")
    cut_window_chars: int = Field(200, ge=0, description="characters removed on each side of a match (GPT-3: 200)")
    min_piece_chars: int = Field(200, ge=0, description="pieces shorter than this are dropped (GPT-3: 200)")
    max_pieces: int = Field(10, ge=1, description="a document cut into more pieces is dropped (GPT-3: 10)")
    benchmarks: list[BenchmarkSource] = Field(default_factory=default_benchmarks, max_length=64)

    @field_validator("benchmarks")
    @classmethod
    def _unique_names(cls, v: list[BenchmarkSource]) -> list[BenchmarkSource]:
        require_unique_names(v, "benchmark")
        if TOO_MANY_CUTS in (b.name for b in v):
            raise ValueError(f"{TOO_MANY_CUTS!r} is a reject reason, not a benchmark name")
        return v

    @model_validator(mode="after")
    def _letters_fit_in_an_ngram(self) -> "DecontamConfig":
        if self.min_letter_tokens > min(self.word_ngram, self.cjk_ngram):
            raise ValueError("min_letter_tokens cannot exceed word_ngram or cjk_ngram: no n-gram would count")
        return self

    def root_path(self) -> Path:
        root = Path(self.root).expanduser()
        return root if root.is_absolute() else PROJECT_ROOT / root


# --------------------------------------------------------------------------------------------
# Normalisation, tokens and n-gram hashes
# --------------------------------------------------------------------------------------------

_CJK = HAN_CLASS + KANA_CLASS
_APOSTROPHES = "'\u2019\uff07\u02bc"
# Han, kana or full-width ASCII: text without them needs only lower-casing and the plain word pattern
# (most text; Python's re finds out about twice as fast as regex).
_WIDE_RE = re.compile(f"[{_CJK}\uff01-\uff5e]")
_FULLWIDTH_RE = regex.compile("[\uff01-\uff5e]+")
_TO_ASCII = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)}
# A Han/kana letter is a token by itself; any other run of word characters is a token. Text without
# Han or kana takes the plain pattern, which gives the same tokens twice as fast.
_TOKEN_RE = regex.compile(rf"[^\W{_CJK}]+|[[{_CJK}]&&\w]", regex.V1)
_WORD_RE = regex.compile(r"\w+")
# The same tokens on the original text, with their spans: words may contain apostrophes there.
_SPAN_RE = regex.compile(rf"[^\W{_CJK}]+(?:[{_APOSTROPHES}]+[^\W{_CJK}]+)*|[[{_CJK}]&&\w]", regex.V1)
_NGRAM_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)  # odd: multiplying by it is a bijection mod 2^64


def _normalize(text: str) -> tuple[str, bool]:
    """The normalised text, and whether it has Han, kana or full-width characters."""
    s = text.lower()
    for a in _APOSTROPHES:
        if a in s:
            s = s.replace(a, "")
    if _WIDE_RE.search(s) is None:
        return s, False
    return _FULLWIDTH_RE.sub(lambda m: m.group().translate(_TO_ASCII), s), True


def normalize(text: str) -> str:
    """Lower case, apostrophes deleted, full-width ASCII folded; no other character changes."""
    return _normalize(text)[0]


def tokens(text: str) -> list[str]:
    """The normalised tokens of ``text`` (see the module docstring)."""
    return _tokenize(text)[0]


def _tokenize(text: str) -> tuple[list[str], bool]:
    """Tokens, and whether the text has Han or kana (then the character n-gram length applies)."""
    s, wide = _normalize(text)
    has_cjk = wide and CJK_RE.search(s) is not None
    return (_TOKEN_RE if has_cjk else _WORD_RE).findall(s), has_cjk


def token_spans(text: str) -> tuple[list[str], list[tuple[int, int]]]:
    """The same tokens as :func:`tokens`, with their (start, end) in ``text``; slower, used to cut."""
    toks, spans = [], []
    for m in _SPAN_RE.finditer(text):
        tok = normalize(m.group())
        if tok:  # a lone modifier apostrophe (U+02BC) is a word character that normalises to nothing
            toks.append(tok)
            spans.append(m.span())
    return toks, spans


class TokenHasher(dict):
    """64-bit token hashes (BLAKE2b), cached: natural text repeats most of its tokens."""

    max_size = 1 << 18  # about 40 MB of cached tokens per task

    def __missing__(self, token: str) -> int:
        h = int.from_bytes(hashlib.blake2b(token.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "little")
        self[token] = h
        return h

    def hashes(self, toks: list[str]) -> np.ndarray:
        if len(self) > self.max_size:
            self.clear()
        return np.fromiter(map(self.__getitem__, toks), dtype=np.uint64, count=len(toks))


def ngram_hashes(token_hashes: np.ndarray, n: int) -> np.ndarray:
    """Hash of the n-gram starting at every position: sum of h[i+j] * M^(n-1-j) mod 2^64."""
    m = token_hashes.shape[0] - n + 1
    if m <= 0:
        return np.empty(0, dtype=np.uint64)
    out = token_hashes[:m].copy()
    for j in range(1, n):
        out *= _NGRAM_MULTIPLIER
        out += token_hashes[j : j + m]
    return out


# --------------------------------------------------------------------------------------------
# Benchmark files
# --------------------------------------------------------------------------------------------


def _format_of(path: str) -> str:
    p = path[:-3] if path.endswith(".gz") else path
    for suffix, fmt in _SUFFIX_FORMATS.items():
        if p.endswith(suffix):
            return fmt
    return "unknown"


def _read_bytes(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if path.name.endswith(".gz") else data


def read_records(path: Path, source: BenchmarkSource) -> Iterator[object]:
    """The records of one benchmark file: parsed JSON values, CSV rows as dicts (keyed by column name,
    or by column number without a header), or the non-blank lines of a txt file."""
    fmt = source.format if source.format != "auto" else _format_of(path.name)
    if fmt == "parquet":
        yield from pq.read_table(io.BytesIO(_read_bytes(path))).to_pylist()
        return
    text = _read_bytes(path).decode("utf-8-sig")
    if fmt == "jsonl":
        for line in text.splitlines():
            if line.strip():
                yield json.loads(line)
    elif fmt == "json":
        doc = json.loads(text)
        if source.records:
            yield from _lookup(doc, source.records.split("."))
        else:
            yield from doc if isinstance(doc, list) else [doc]
    elif fmt == "csv":
        rows = csv.reader(io.StringIO(text, newline=""))
        if source.csv_header:
            header = next(rows, [])
            for row in rows:
                yield dict(zip(header, row))
        else:
            for row in rows:
                yield {str(i): v for i, v in enumerate(row)}
    elif fmt == "txt":
        yield from (line for line in text.splitlines() if line.strip())
    else:
        raise ConfigError(f"benchmark {source.name}: cannot tell the format of {path}; set `format`")


def _lookup(value: object, keys: list[str]) -> list[object]:
    """Values at a dotted path; lists along the way are traversed, so one path can give many values."""
    if isinstance(value, list):
        return [v for item in value for v in _lookup(item, keys)]
    if not keys:
        return [value]
    if not isinstance(value, dict) or keys[0] not in value:
        raise KeyError(keys[0])
    return _lookup(value[keys[0]], keys[1:])


def item_text(record: object, source: BenchmarkSource) -> str:
    """The text of one benchmark item: its configured fields, one per line."""
    if isinstance(record, str):
        parts = [record]
    else:
        parts = []
        for name in source.fields:
            try:
                values = _lookup(record, name.split("."))
            except KeyError:
                raise ConfigError(f"benchmark {source.name}: a record has no field {name!r}: {str(record)[:200]}") from None
            if any(isinstance(v, dict) for v in values):
                raise ConfigError(f"benchmark {source.name}: field {name!r} holds a mapping, not text; name a field inside it")
            parts.extend(str(v) for v in values if v is not None)
    text = "\n".join(parts)
    if source.strip_pattern:
        text = re.sub(source.strip_pattern, " ", text)
    return text


def benchmark_files(source: BenchmarkSource, root: Path) -> tuple[list[Path], list[str]]:
    """(files found, configured paths that match nothing), in config order, each glob sorted."""
    found: list[Path] = []
    missing: list[str] = []
    for pattern in source.paths:
        full = pattern if Path(pattern).is_absolute() else str(root / pattern)
        matches = sorted(Path(p) for p in glob.glob(full, recursive=True) if Path(p).is_file())
        if matches:
            found.extend(matches)
        else:
            missing.append(full)
    return found, missing


def iter_items(source: BenchmarkSource, files: list[Path]) -> Iterator[str]:
    """The text of every item in ``files``; an unreadable file is a config error naming it."""
    for path in files:
        try:
            records = list(read_records(path, source))
        except ConfigError:
            raise
        except (OSError, ValueError, UnicodeError, csv.Error, pa.ArrowException) as exc:
            raise ConfigError(f"benchmark {source.name}: cannot read {path}: {exc}") from None
        for record in records:
            yield item_text(record, source)


# --------------------------------------------------------------------------------------------
# The benchmark index
# --------------------------------------------------------------------------------------------


@dataclass
class BenchmarkIndex:
    """Sorted n-gram hashes of every benchmark item, with the benchmarks each one occurs in."""

    names: list[str]
    hashes: np.ndarray  # sorted, unique, uint64
    owners: np.ndarray  # bit b set: the n-gram occurs in benchmark names[b]
    word_ngram: int
    cjk_ngram: int
    report: dict = field(default_factory=dict)

    @property
    def nbytes(self) -> int:
        return int(self.hashes.nbytes + self.owners.nbytes)

    @cached_property
    def _prefilter(self) -> tuple[np.ndarray, np.uint64]:
        """A bitmap over the top bits of the hashes, about 16 bits per n-gram: most n-grams of a
        document are ruled out with one memory access instead of a binary search (~21 accesses).
        Built where it is used (on the executors), so it is not part of the broadcast."""
        bits = max(10, int(np.ceil(np.log2(max(self.hashes.size, 1) * 16))))
        shift = np.uint64(64 - bits)
        table = np.zeros(1 << bits, dtype=bool)
        table[self.hashes >> shift] = True
        return np.packbits(table, bitorder="little"), shift

    def find(self, hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Positions in ``hashes`` of the benchmark n-grams, and their owner bitmasks."""
        if self.hashes.size == 0 or hashes.size == 0:
            return np.empty(0, dtype=np.intp), np.empty(0, dtype=self.owners.dtype)
        bitmap, shift = self._prefilter
        slot = hashes >> shift
        maybe = np.flatnonzero((bitmap[slot >> np.uint64(3)] >> (slot & np.uint64(7)).astype(np.uint8)) & 1)
        candidates = hashes[maybe]
        pos = np.searchsorted(self.hashes, candidates)
        np.minimum(pos, self.hashes.size - 1, out=pos)
        hit = self.hashes[pos] == candidates
        return maybe[hit], self.owners[pos[hit]]


def _owner_dtype(count: int) -> np.dtype:
    for dt in (np.uint8, np.uint16, np.uint32, np.uint64):
        if count <= np.dtype(dt).itemsize * 8:
            return np.dtype(dt)
    raise ConfigError(f"at most 64 benchmarks, got {count}")


def item_ngrams(text: str, config: DecontamConfig, hasher: TokenHasher) -> tuple[np.ndarray, bool]:
    """Distinct hashes of the n-grams of one item that count as evidence, and whether the item is
    Chinese/Japanese (then its n-grams are ``cjk_ngram`` characters long)."""
    toks, has_cjk = _tokenize(text)
    cjk = has_cjk and cjk_ratio(text) >= config.cjk_item_min_ratio
    n = config.cjk_ngram if cjk else config.word_ngram
    grams = ngram_hashes(hasher.hashes(toks), n)
    if grams.size and config.min_letter_tokens:
        letters = np.concatenate(([0], np.cumsum(np.fromiter(map(has_letter, toks), dtype=np.int64, count=len(toks)))))
        grams = grams[letters[n:] - letters[:-n] >= config.min_letter_tokens]
    return np.unique(grams), cjk


def build_index(config: DecontamConfig) -> BenchmarkIndex:
    """Read every benchmark (skipping missing files with a warning unless ``strict``) and hash its items."""
    root = config.root_path()
    hasher = TokenHasher()
    names: list[str] = []
    chunks: list[np.ndarray] = []  # per item: its distinct n-gram hashes
    chunk_owner: list[int] = []
    per_benchmark: dict[str, dict] = {}
    missing_files: list[str] = []
    skipped = 0
    found = [(source, *benchmark_files(source, root)) for source in config.benchmarks]
    for source, _, missing in found:  # all of them before reading any: a strict run fails fast
        for path in missing:
            if config.strict:
                raise ConfigError(f"benchmark {source.name}: no file matches {path} (strict: true)")
            log.warning("benchmark %s: no file matches %s; skipped", source.name, path)
            missing_files.append(path)
    for source, files, missing in found:
        if not files:
            per_benchmark[source.name] = {"files": 0, "missing": len(missing), "skipped": True}
            skipped += 1
            continue
        b = len(names)
        names.append(source.name)
        items = without = cjk_items = 0
        for text in iter_items(source, files):
            items += 1
            grams, cjk = item_ngrams(text, config, hasher)
            cjk_items += cjk
            if grams.size == 0:
                without += 1
                continue
            chunks.append(grams)
            chunk_owner.append(b)
        per_benchmark[source.name] = {
            "files": len(files),
            "missing": len(missing),
            "items": items,
            "items_cjk": cjk_items,
            "items_without_ngrams": without,
        }
    index, report = _merge(names, chunks, chunk_owner, config)
    for name in names:
        per_benchmark[name].update(report.pop(name))
    report.update(benchmarks=per_benchmark, benchmarks_skipped=skipped, files_missing=len(missing_files), missing=missing_files)
    index.report = report
    if not names:
        log.warning("no benchmark could be read: no document will be removed")
    log.info(
        "benchmark index: %d n-grams, %.1f MB, from %d benchmarks (%d skipped)",
        index.hashes.size,
        index.nbytes / 1e6,
        len(names),
        skipped,
    )
    return index


def _merge(names: list[str], chunks: list[np.ndarray], chunk_owner: list[int], config: DecontamConfig) -> tuple[BenchmarkIndex, dict]:
    """One sorted hash array; n-grams in more than ``max_items_per_ngram`` items are left out."""
    dtype = _owner_dtype(max(len(names), 1))
    all_h = np.concatenate(chunks) if chunks else np.empty(0, dtype=np.uint64)
    all_b = np.repeat(np.asarray(chunk_owner, dtype=np.uint64), [c.size for c in chunks])
    uniq, inverse, item_counts = np.unique(all_h, return_inverse=True, return_counts=True)
    owners = np.zeros(uniq.size, dtype=dtype)
    np.bitwise_or.at(owners, inverse, (np.uint64(1) << all_b).astype(dtype))
    keep = item_counts <= config.max_items_per_ngram if config.max_items_per_ngram else np.ones(uniq.size, dtype=bool)
    report: dict = {"ngrams_distinct": int(uniq.size), "ngrams_too_common": int(uniq.size - keep.sum())}
    for b, name in enumerate(names):
        mine = (owners & dtype.type(1 << b)) != 0
        report[name] = {"ngrams": int((mine & keep).sum()), "ngrams_too_common": int((mine & ~keep).sum())}
    index = BenchmarkIndex(names, uniq[keep], owners[keep], config.word_ngram, config.cjk_ngram)
    report.update(ngrams=int(index.hashes.size), bytes=index.nbytes)
    return index, report


# --------------------------------------------------------------------------------------------
# Scanning documents
# --------------------------------------------------------------------------------------------


@dataclass
class ScanResult:
    """What decontamination does to one text."""

    text: str | None  # the text to keep (cut when ``cuts``); None: drop the document
    reason: str | None = None  # reject reason when dropped
    matches: dict[str, int] = field(default_factory=dict)  # matching n-gram positions per benchmark
    cuts: int = 0  # removals from a kept document (cut mode; overlapping windows merged)
    chars_removed: int = 0  # characters a kept document lost


class Decontaminator:
    """Scans documents against a :class:`BenchmarkIndex`; one per Spark task (it caches token hashes)."""

    def __init__(self, index: BenchmarkIndex, config: DecontamConfig):
        self.index = index
        self.config = config
        self.hasher = TokenHasher()
        self._lengths = sorted({index.word_ngram, index.cjk_ngram})

    def _hits(self, toks: list[str], has_cjk: bool) -> list[tuple[int, int, int]]:
        """(start token, n, owner bitmask) of every n-gram of ``toks`` found in the index."""
        th = self.hasher.hashes(toks)
        hits = []
        for n in self._lengths:
            if n != self.index.word_ngram and not has_cjk:
                continue  # only Han/kana items use the character n-gram length
            positions, owners = self.index.find(ngram_hashes(th, n))
            hits.extend(zip(positions.tolist(), [n] * positions.size, owners.tolist()))
        return hits

    def _matches(self, hits: list[tuple[int, int, int]]) -> dict[str, int]:
        counts = {}
        for b, name in enumerate(self.index.names):
            c = sum(1 for _, _, mask in hits if mask >> b & 1)
            if c:
                counts[name] = c
        return counts

    def scan(self, text: str) -> ScanResult:
        toks, has_cjk = _tokenize(text)
        hits = self._hits(toks, has_cjk)
        if not hits:
            return ScanResult(text)
        matches = self._matches(hits)
        top = max(matches, key=lambda name: matches[name])  # ties: the first benchmark in config order
        if self.config.mode == "drop":
            return ScanResult(None, REASON_PREFIX + top, matches)
        toks, spans = token_spans(text)
        hits = self._hits(toks, has_cjk)
        cut = [(spans[i][0], spans[i + n - 1][1]) for i, n, _ in hits]
        pieces, cuts = cut_spans(text, cut, self.config.cut_window_chars)
        if len(pieces) > self.config.max_pieces:
            return ScanResult(None, REASON_PREFIX + TOO_MANY_CUTS, matches)
        kept = "\n".join(p for p in pieces if len(p) >= self.config.min_piece_chars)
        if not kept:
            return ScanResult(None, REASON_PREFIX + top, matches)
        return ScanResult(kept, None, matches, cuts, len(text) - len(kept))


class DecontamStage(DocumentStage):
    """Drops (or cuts) documents that share an n-gram with a benchmark item; counts the matches per
    benchmark (``decontam.<benchmark>.docs`` and ``.ngrams``). ``index`` gives the benchmark index on
    the machine that runs the stage (on Spark: the broadcast's value)."""

    name = "decontaminate"

    def __init__(self, config: DecontamConfig, index: Callable[[], BenchmarkIndex]):
        super().__init__()
        self.config, self.index = config, index

    def setup(self) -> None:
        self.scanner = Decontaminator(self.index(), self.config)

    def process(self, doc: Document) -> Decision:
        result = self.scanner.scan(doc.text)
        for name, count in result.matches.items():
            self.counters[f"decontam.{name}.docs"] += 1
            self.counters[f"decontam.{name}.ngrams"] += count
        if result.text is None:
            return Reject(result.reason)
        if not result.cuts:
            return doc
        self.counters["decontam.docs_cut"] += 1
        self.counters["decontam.cuts"] += result.cuts
        self.counters["decontam.chars_removed"] += result.chars_removed
        doc.text = result.text
        doc.annotations["decontam.ngrams"] = float(sum(result.matches.values()))
        doc.annotations["decontam.chars_removed"] = float(result.chars_removed)
        return doc


def cut_spans(text: str, spans: list[tuple[int, int]], window: int) -> tuple[list[str], int]:
    """GPT-3's cut: remove each span with ``window`` characters on both sides and split the text
    there. Returns the non-empty pieces (stripped) and the number of removals (overlapping
    windows merged)."""
    windows = sorted((max(0, s - window), min(len(text), e + window)) for s, e in spans)
    merged: list[list[int]] = []
    for s, e in windows:
        if merged and s <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], e)
        else:
            merged.append([s, e])
    pieces, prev = [], 0
    for s, e in merged:
        pieces.append(text[prev:s].strip())
        prev = e
    pieces.append(text[prev:].strip())
    return [p for p in pieces if p], len(merged)
