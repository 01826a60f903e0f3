"""Quality filtering with fastText classifiers: reference-quality text versus unfiltered web text.

As in GPT-3 (Brown et al. 2020, appendix A) and CCNet/RedPajama's Wikipedia-reference classifiers,
one supervised fastText model per language learns to tell reference text (encyclopedic, book and
academic text: the positives, label ``__label__hq``) from raw web extractions (the negatives,
``__label__lq``). Its probability of the positive class is a document's quality score.

Training (``jobs/quality_model.py``, pure Python) reads the inputs, splits long documents into
examples, holds out whole documents for evaluation, balances the classes, trains, measures ROC AUC
and precision/recall/F1, and writes ``MODEL_DIR`` atomically::

    MODEL_DIR/model.json           manifest the scorer reads: per-language files, preprocessing
    MODEL_DIR/quality.<lang>.bin   (or .ftz, when quantizing keeps the held-out AUC)
    MODEL_DIR/report.json, report.md

Scoring (``jobs/quality.py``, Spark) writes the score to ``annotations["quality.score"]`` and keeps
a document by a per-language threshold or by GPT-3's Pareto rule.

Preprocessing (:func:`preprocess`) is one function used for training and scoring, and the model's
manifest records its version and settings, so a model is always scored the way it was trained:
NFKC, lower case, the first ``max_chars`` characters, one line, and tokens separated by spaces:
words, single punctuation marks, and single Han/kana characters. fastText splits on whitespace
only, so unsegmented Chinese would otherwise be one token per sentence; character tokens plus
fastText's word bigrams (``word_ngrams: 2``) give character unigrams and bigrams, which stand in
for words without a segmenter and work for classical Chinese too (a dictionary segmenter such as
jieba is built for modern text and adds a dependency and time).
"""

from __future__ import annotations

import hashlib
import heapq
import io
import json
import os
import tempfile
import time
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
import regex
from pydantic import Field, field_validator

from .atomic import staged_directory
from .config import StrictModel
from .document import DOMAINS, Document
from .langid import LanguageIdentifier
from .text import HAN_CLASS, KANA_CLASS, split_lines

POSITIVE_LABEL = "__label__hq"
NEGATIVE_LABEL = "__label__lq"
SCORE_ANNOTATION = "quality.score"
REJECT_BELOW_THRESHOLD = "quality:below_threshold"
REJECT_PARETO = "quality:pareto"
MANIFEST_FILE = "model.json"
REPORT_JSON = "report.json"
REPORT_MD = "report.md"
PREPROCESS_VERSION = 1
"""Bumped whenever :func:`preprocess` changes; the scorer refuses a model trained with another one."""

Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
LangCode = Annotated[str, Field(pattern=r"^[a-z]{2,3}(_[A-Za-z0-9]+)?$")]


class QualityDataError(ValueError):
    """Training inputs are missing, unreadable or too small; the message says which."""


# --- config --------------------------------------------------------------------------------------


def _known_domains(domains: list[str]) -> list[str]:
    unknown = [d for d in domains if d not in DOMAINS]
    if unknown:
        raise ValueError(f"unknown domain(s) {', '.join(map(repr, unknown))}; expected some of {', '.join(DOMAINS)}")
    return domains


class PreprocessConfig(StrictModel):
    """Text preparation before fastText; recorded in the model's manifest and used from there when scoring."""

    max_chars: int = Field(20_000, ge=100, description="only the first max_chars characters of a document are looked at")


class FastTextParams(StrictModel):
    """``fasttext.train_supervised`` arguments (fastText's names in snake case). fastText's own defaults,
    except word bigrams (as in the fastText classification paper) and one thread (reproducible)."""

    dim: int = Field(100, ge=2)
    epoch: int = Field(5, ge=1)
    lr: float = Field(0.1, gt=0)
    word_ngrams: int = Field(2, ge=1, le=5)
    min_count: int = Field(1, ge=1)
    minn: int = Field(0, ge=0)
    maxn: int = Field(0, ge=0)
    bucket: int = Field(2_000_000, ge=1000)
    thread: int = Field(1, ge=1, description="1 makes training reproducible: fastText's Hogwild threads race")


class TrainConfig(StrictModel):
    """How training examples are drawn from the inputs and the classifiers trained and evaluated."""

    languages: list[LangCode] = Field(default_factory=lambda: ["en", "zh"], min_length=1)
    seed: int = 1
    heldout_fraction: float = Field(0.2, gt=0, lt=1)
    chunk_chars: int = Field(2000, ge=0, description="documents are split at line breaks into examples of about this size; 0: whole documents")
    min_example_chars: int = Field(100, ge=1)
    max_examples_per_class: int = Field(200_000, ge=10)
    min_examples_per_class: int = Field(20, ge=1, description="a language with fewer training examples of a class is skipped")
    text_field: str = Field("text", min_length=1, description="field holding the text in .jsonl inputs")
    positive_domains: list[str] = Field(
        default_factory=lambda: [d for d in DOMAINS if d not in ("WebText", "Code", "QA")],
        description="documents of stage-output positives outside these domains are skipped (files have no domain)",
    )
    negative_domains: list[str] = Field(default_factory=lambda: ["WebText"], description="the same for negatives")
    langid_batch_size: int = Field(256, ge=1)
    fasttext: FastTextParams = Field(default_factory=FastTextParams)
    quantize: bool = True
    quantize_cutoff: int = Field(100_000, ge=0, description="words and n-grams kept by quantize (0: all)")
    quantize_max_auc_drop: float = Field(0.005, ge=0, le=1)

    @field_validator("languages")
    @classmethod
    def _distinct(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError("languages must be distinct")
        return v

    @field_validator("positive_domains", "negative_domains")
    @classmethod
    def _domains(cls, v: list[str]) -> list[str]:
        return _known_domains(v)


class ScoreConfig(StrictModel):
    """The scoring stage: which model, which documents are filtered, and the keeping rule."""

    model_dir: str | None = Field(None, description="model directory (any Hadoop URI); --model overrides it")
    mode: Literal["threshold", "pareto"] = "threshold"
    default_threshold: Fraction = 0.5
    thresholds: dict[LangCode, Fraction] = Field(default_factory=dict)
    pareto_alpha: float = Field(9.0, gt=0)
    seed: int = 0
    domains: list[str] = Field(default_factory=lambda: ["WebText"])
    batch_size: int = Field(256, ge=1)

    @field_validator("domains")
    @classmethod
    def _domains(cls, v: list[str]) -> list[str]:
        return _known_domains(v)

    def threshold(self, lang: str) -> float:
        return self.thresholds.get(lang, self.default_threshold)


class QualityConfig(StrictModel):
    """``configs/quality.yaml``: ``train`` and ``preprocess`` for jobs/quality_model.py, ``score`` for jobs/quality.py."""

    preprocess: PreprocessConfig = Field(default_factory=PreprocessConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    score: ScoreConfig = Field(default_factory=ScoreConfig)


# --- text preparation ----------------------------------------------------------------------------

_CJK = HAN_CLASS + KANA_CLASS
_TOKEN = regex.compile(rf"[{_CJK}]|[\w--[{_CJK}]]+(?:['’.\-][\w--[{_CJK}]]+)*|[^\s\w]", regex.V1)


def preprocess(text: str, max_chars: int) -> str:
    """One line of space-separated tokens (see the module docstring); identical for training and scoring."""
    text = unicodedata.normalize("NFKC", text[:max_chars]).lower()
    return " ".join(_TOKEN.findall(text))


def chunk_text(text: str, chunk_chars: int) -> list[str]:
    """Consecutive lines grouped into pieces of at least ``chunk_chars`` characters (the last may be
    shorter); a single longer line is cut every ``chunk_chars`` characters. 0 keeps the whole text."""
    if chunk_chars <= 0:
        return [text]
    pieces: list[str] = []
    current: list[str] = []
    size = 0
    for line in split_lines(text):
        while len(line) > chunk_chars:
            if current:
                pieces.append("\n".join(current))
                current, size = [], 0
            pieces.append(line[:chunk_chars])
            line = line[chunk_chars:]
        current.append(line)
        size += len(line)
        if size >= chunk_chars:
            pieces.append("\n".join(current))
            current, size = [], 0
    if current:
        pieces.append("\n".join(current))
    return pieces


_TEX_COMMENT = regex.compile(r"(?<!\\)%.*")
_TEX_DROP = regex.compile(
    r"\\(?:begin|end|label|ref|eqref|cite|input|include|usepackage|documentclass|newcommand|def)\*?(?:\[[^\]]*\])?(?:\{[^{}]*\})*"
)
_TEX_WITH_ARG = regex.compile(r"\\[A-Za-z]+\*?(?:\[[^\]]*\])?\{([^{}]*)\}")
_TEX_COMMAND = regex.compile(r"\\[A-Za-z]+\*?|\\.")
_TEX_BRACES = regex.compile(r"[{}]")
_SPACES = regex.compile(r"[^\S\n]+")


def strip_latex(tex: str) -> str:
    """LaTeX to readable text, lightly: comments, environments and cross-references go, commands
    with an argument become the argument (``\\emph{x}`` -> ``x``), other commands go; math stays."""
    text = _TEX_COMMENT.sub("", tex)
    text = _TEX_DROP.sub("", text)
    for _ in range(4):  # nested arguments, innermost first
        text, n = _TEX_WITH_ARG.subn(r"\1", text)
        if not n:
            break
    text = _TEX_BRACES.sub("", _TEX_COMMAND.sub("", text))
    return "\n".join(s for s in (_SPACES.sub(" ", line).strip() for line in text.split("\n")) if s)


# --- training inputs -----------------------------------------------------------------------------


@dataclass
class SourceDoc:
    """A document of a training input: ``key`` is unique within its input, ``lang`` None until
    identified, ``domain`` None for files (only stage outputs have one)."""

    key: str
    text: str
    lang: str | None = None
    domain: str | None = None


def _filesystem(path: str):
    """A pyarrow file system and the path in it: local paths directly, URIs (s3://, gs://, hdfs://) by scheme."""
    from pyarrow import fs

    if "://" in path:
        return fs.FileSystem.from_uri(path)
    return fs.LocalFileSystem(), os.path.abspath(path)


def _lines(path: str) -> Iterator[str]:
    """The lines of a text file, streamed and decompressed (pyarrow detects gzip from the .gz suffix)."""
    filesystem, p = _filesystem(path)
    with filesystem.open_input_stream(p) as stream, io.TextIOWrapper(stream, encoding="utf-8") as text:
        for line in text:
            yield line.rstrip("\r\n")


def _blocks(lines: Iterable[str]) -> Iterator[str]:
    """Blank-line separated blocks: one document each in .txt and .tex inputs."""
    current: list[str] = []
    for line in lines:
        if line.strip():
            current.append(line.rstrip())
        elif current:
            yield "\n".join(current)
            current = []
    if current:
        yield "\n".join(current)


def _iter_parquet(path: str) -> Iterator[SourceDoc]:
    import pyarrow.dataset as ds

    filesystem, p = _filesystem(path)
    if filesystem.get_file_info(f"{p}/_SUCCESS").type.name == "NotFound":
        raise QualityDataError(f"{path}: a directory input must be a complete stage output (no _SUCCESS)")
    dataset = ds.dataset(p, format="parquet", filesystem=filesystem)  # skips _rejects, _stats.json, ...
    names = set(dataset.schema.names)
    if "text" not in names:
        raise QualityDataError(f"{path}: no 'text' column")
    columns = [c for c in ("id", "lang", "domain", "text") if c in names]
    row = 0
    for batch in dataset.to_batches(columns=columns):
        for r in batch.to_pylist():
            yield SourceDoc(r.get("id") or str(row), r["text"] or "", r.get("lang"), r.get("domain"))
            row += 1


def iter_source(path: str, text_field: str = "text") -> Iterator[SourceDoc]:
    """Documents of one training input, by its kind:

    - a directory (or URI without a file suffix below): a stage output (Parquet with ``text``,
      optionally ``id``, ``lang`` and ``domain``; ``_SUCCESS`` required, ``_rejects`` ignored);
    - ``.jsonl[.gz]``: one JSON object per line, the text in ``text_field``, ``lang`` used when present;
    - ``.txt[.gz]``: blank-line separated blocks, one document each;
    - ``.tex[.gz]``: blank-line separated blocks with LaTeX markup stripped (:func:`strip_latex`).
    """
    name = path.rstrip("/").lower().removesuffix(".gz")
    if name.endswith(".jsonl"):
        for i, line in enumerate(_lines(path)):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise QualityDataError(f"{path}:{i + 1}: not JSON: {exc}") from None
            text = obj.get(text_field) if isinstance(obj, dict) else None
            if not isinstance(text, str):
                raise QualityDataError(f"{path}:{i + 1}: no string field {text_field!r}")
            yield SourceDoc(str(i), text, obj.get("lang") if isinstance(obj.get("lang"), str) else None)
    elif name.endswith(".txt"):
        for i, block in enumerate(_blocks(_lines(path))):
            yield SourceDoc(str(i), block)
    elif name.endswith(".tex"):
        for i, block in enumerate(_blocks(_lines(path))):
            text = strip_latex(block)
            if text:
                yield SourceDoc(str(i), text)
    else:
        filesystem, p = _filesystem(path)
        info = filesystem.get_file_info(p)
        if info.type.name == "NotFound":
            raise QualityDataError(f"input not found: {path}")
        if info.type.name != "Directory":
            raise QualityDataError(f"{path}: unsupported input (a stage output directory, .jsonl, .txt or .tex, optionally .gz)")
        yield from _iter_parquet(path)


def _in_domains(docs: Iterator[SourceDoc], domains: set[str], skipped: Counter) -> Iterator[SourceDoc]:
    """Documents without a domain or of one of ``domains``; the others are counted in ``skipped``."""
    for doc in docs:
        if doc.domain is None or doc.domain in domains:
            yield doc
        else:
            skipped[doc.domain] += 1


def _identified(docs: Iterator[SourceDoc], langid: LanguageIdentifier, batch_size: int) -> Iterator[SourceDoc]:
    """Documents with ``lang`` set, lid.176 filling the gaps in batches."""
    pending: list[SourceDoc] = []

    def flush() -> Iterator[SourceDoc]:
        missing = [d for d in pending if not d.lang]
        for d, (lang, _) in zip(missing, langid.predict([d.text for d in missing])):
            d.lang = lang
        yield from pending
        pending.clear()

    for doc in docs:
        pending.append(doc)
        if len(pending) >= batch_size:
            yield from flush()
    yield from flush()


# --- examples, split, balance --------------------------------------------------------------------


def _hash64(*parts: object) -> int:
    return int.from_bytes(hashlib.blake2b("\x1f".join(map(str, parts)).encode("utf-8", "surrogatepass"), digest_size=8).digest(), "big")


@dataclass(order=True)
class Example:
    """A training or held-out example: a piece of the document ``group`` (input path and document key)."""

    priority: int
    text: str = field(compare=False)
    heldout: bool = field(compare=False)
    group: str = field(compare=False)


class _Sample:
    """The ``cap`` examples of lowest priority seen so far: a bottom-k sample, in memory bounded by
    ``cap``. The priority is a seeded hash of the text, so the sample is a uniform one that does not
    depend on reading order, and a text seen again (boilerplate shared by pages, a re-crawled page)
    is recognised and counted once (exactly below the cap; above it a repeat of a text the sample
    has dropped counts in ``seen`` again, though it cannot enter the sample either)."""

    def __init__(self, cap: int):
        self.cap = cap
        self._heap: list[tuple[int, Example]] = []  # (-priority, example): a max-heap
        self._priorities: set[int] = set()
        self.seen = 0
        self.duplicates = 0

    def add(self, ex: Example) -> None:
        if ex.priority in self._priorities:
            self.duplicates += 1
            return
        self.seen += 1
        if len(self._heap) < self.cap:
            heapq.heappush(self._heap, (-ex.priority, ex))
        elif ex.priority < -self._heap[0][0]:
            _, evicted = heapq.heapreplace(self._heap, (-ex.priority, ex))
            self._priorities.discard(evicted.priority)
        else:
            return
        self._priorities.add(ex.priority)

    def examples(self) -> list[Example]:
        return sorted(item[1] for item in self._heap)


def collect_examples(
    inputs: dict[str, list[str]], config: QualityConfig, langid: LanguageIdentifier | None = None
) -> tuple[dict[tuple[str, str], list[Example]], dict]:
    """Examples per (language, label) from ``{label: [paths]}``, and what was read.

    Documents are split into pieces of about ``chunk_chars``; the held-out split takes whole
    documents (a seeded hash of the document's text below ``heldout_fraction``: the same data split
    the same way wherever it is stored and in whatever order it is read), so no held-out example
    shares a document with a training example, and a text repeated anywhere is one example.
    """
    tc = config.train
    for path in (p for paths in inputs.values() for p in paths):  # fail before reading anything
        filesystem, p = _filesystem(path)
        if filesystem.get_file_info(p).type.name == "NotFound":
            raise QualityDataError(f"input not found: {path}")
    langid = langid or LanguageIdentifier()
    samples: dict[tuple[str, str], _Sample] = {}
    read: dict[str, dict] = {}
    docs_per_class: Counter = Counter()
    for label, paths in inputs.items():
        domains = set(tc.positive_domains if label == "positive" else tc.negative_domains)
        for path in paths:
            langs: Counter = Counter()
            too_short = 0
            other_domains: Counter = Counter()
            docs = _in_domains(iter_source(path, tc.text_field), domains, other_domains)
            for doc in _identified(docs, langid, tc.langid_batch_size):
                langs[doc.lang] += 1
                if doc.lang not in tc.languages:
                    continue
                docs_per_class[(doc.lang, label)] += 1
                group = f"{path}#{doc.key}"
                heldout = _hash64(tc.seed, "split", doc.text) < tc.heldout_fraction * 2**64
                sample = samples.setdefault((doc.lang, label), _Sample(tc.max_examples_per_class))
                for chunk in chunk_text(doc.text, tc.chunk_chars):
                    if len(chunk) < tc.min_example_chars:
                        too_short += 1
                        continue
                    sample.add(Example(_hash64(tc.seed, "example", chunk), chunk, heldout, group))
            read[path] = {
                "label": label,
                "documents": sum(langs.values()),
                "languages": dict(langs.most_common()),
                "short_pieces_skipped": too_short,
                "other_domains_skipped": dict(other_domains.most_common()),
            }
    examples = {key: s.examples() for key, s in samples.items()}
    classes = {
        f"{lang}.{label}": {"documents": n, "examples": samples[lang, label].seen, "duplicates": samples[lang, label].duplicates}
        for (lang, label), n in sorted(docs_per_class.items())
    }
    return examples, {"inputs": read, "classes": classes}


def balanced_split(pos: list[Example], neg: list[Example], heldout: bool) -> tuple[list[Example], list[Example]]:
    """Positives and negatives of one split, the majority class downsampled (lowest priorities kept)."""
    p = [e for e in pos if e.heldout == heldout]
    n = [e for e in neg if e.heldout == heldout]
    k = min(len(p), len(n))
    return p[:k], n[:k]  # already in priority order


# --- metrics -------------------------------------------------------------------------------------


def roc_auc(scores: Iterable[float], labels: Iterable[int]) -> float:
    """Area under the ROC curve: the probability that a random positive scores above a random
    negative, ties counting one half (Mann-Whitney U from average ranks)."""
    s = np.asarray(list(scores), dtype=np.float64)
    y = np.asarray(list(labels), dtype=bool)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError("ROC AUC needs at least one positive and one negative")
    _, inverse, counts = np.unique(s, return_inverse=True, return_counts=True)
    average_rank = np.cumsum(counts) - (counts - 1) / 2.0  # 1-based, shared by equal scores
    u = average_rank[inverse.reshape(-1)][y].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def classification_metrics(scores: list[float], labels: list[int], threshold: float) -> dict:
    """Precision, recall, F1 and accuracy of ``score >= threshold`` as the positive prediction, and ROC AUC."""
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels, dtype=bool)
    pred = s >= threshold
    tp, fp, fn = int((pred & y).sum()), int((pred & ~y).sum()), int((~pred & y).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "threshold": threshold,
        "n_positive": int(y.sum()),
        "n_negative": int((~y).sum()),
        "auc": round(roc_auc(s, y), 6),
        "precision": round(precision, 6),
        "recall": round(recall, 6),
        "f1": round(f1, 6),
        "accuracy": round(float((pred == y).mean()), 6),
    }


# --- models --------------------------------------------------------------------------------------


def _fasttext():
    import fasttext

    fasttext.FastText.eprint = lambda *args, **kwargs: None  # silence the load-time warning
    return fasttext


def positive_probability(model, lines: list[str]) -> list[float]:
    """P(positive) for preprocessed lines. fastText-wheel 0.9.2 under numpy 2 only predicts lists, and
    with k > 1 it repeats the top probability for every label, so the top label alone is asked for
    (there is always one: fastText adds an end-of-line token to every input); it reports
    exp(log(p + 1e-5)), hence the clip."""
    if not lines:
        return []
    labels, probs = model.predict(lines, k=1)
    out = []
    for lab, prob in zip(labels, probs):
        p = min(float(prob[0]), 1.0)
        out.append(p if lab[0] == POSITIVE_LABEL else 1.0 - p)
    return out


class QualityModels:
    """The per-language classifiers of a model directory and the preprocessing they were trained with."""

    def __init__(self, directory: str | os.PathLike):
        self.directory = Path(directory)
        manifest_path = self.directory / MANIFEST_FILE
        if not manifest_path.is_file():
            raise QualityDataError(f"{directory}: not a quality model directory (no {MANIFEST_FILE})")
        self.manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        pre = self.manifest["preprocess"]
        if pre["version"] != PREPROCESS_VERSION:
            raise QualityDataError(f"{directory}: trained with preprocessing v{pre['version']}, this code has v{PREPROCESS_VERSION}")
        self.max_chars = int(pre["max_chars"])
        ft = _fasttext()
        self._models = {lang: ft.load_model(str(self.directory / name)) for lang, name in self.manifest["languages"].items()}

    @property
    def languages(self) -> list[str]:
        return sorted(self._models)

    def score(self, lang: str, texts: list[str]) -> list[float]:
        return positive_probability(self._models[lang], [preprocess(t, self.max_chars) for t in texts])


@lru_cache(maxsize=2)
def load_models(directory: str) -> QualityModels:
    """The models of ``directory``, loaded once per process (each Spark Python worker)."""
    return QualityModels(directory)


# --- training ------------------------------------------------------------------------------------


def _write_training_file(path: Path, pos: list[Example], neg: list[Example], max_chars: int) -> None:
    rows = [(e.priority, POSITIVE_LABEL, e.text) for e in pos] + [(e.priority, NEGATIVE_LABEL, e.text) for e in neg]
    rows.sort()  # seeded-random interleaving of the classes, the order fastText's SGD sees
    with open(path, "w", encoding="utf-8") as f:
        for _, label, text in rows:
            f.write(f"{label} {preprocess(text, max_chars)}\n")


def train_language(
    lang: str,
    train: tuple[list[Example], list[Example]],
    heldout: tuple[list[Example], list[Example]],
    config: QualityConfig,
    workdir: Path,
    outdir: Path,
) -> dict:
    """Train, evaluate on the held-out split, and save ``quality.<lang>.bin`` (or ``.ftz`` when
    quantizing costs at most ``quantize_max_auc_drop`` of AUC) into ``outdir``; returns the report."""
    tc, ft_params = config.train, config.train.fasttext
    ft = _fasttext()
    train_file = workdir / f"train.{lang}.txt"
    _write_training_file(train_file, *train, config.preprocess.max_chars)
    started = time.time()
    model = ft.train_supervised(
        input=str(train_file),
        dim=ft_params.dim,
        epoch=ft_params.epoch,
        lr=ft_params.lr,
        wordNgrams=ft_params.word_ngrams,
        minCount=ft_params.min_count,
        minn=ft_params.minn,
        maxn=ft_params.maxn,
        bucket=ft_params.bucket,
        thread=ft_params.thread,
        seed=tc.seed,
        loss="softmax",
        verbose=0,
    )
    train_seconds = time.time() - started
    texts = [preprocess(e.text, config.preprocess.max_chars) for e in heldout[0] + heldout[1]]
    labels = [1] * len(heldout[0]) + [0] * len(heldout[1])
    threshold = config.score.threshold(lang)
    started = time.time()
    metrics = classification_metrics(positive_probability(model, texts), labels, threshold)
    score_seconds = time.time() - started
    name = f"quality.{lang}.bin"
    model.save_model(str(outdir / name))
    report = {
        "model": name,
        "train_examples": {"positive": len(train[0]), "negative": len(train[1])},
        "heldout": metrics,
        "train_seconds": round(train_seconds, 3),
        "heldout_examples_per_second": round(len(texts) / score_seconds, 1) if score_seconds > 0 else None,
    }
    if tc.quantize:
        started = time.time()
        model.quantize(input=str(train_file), qnorm=True, retrain=False, cutoff=tc.quantize_cutoff)
        quantized = classification_metrics(positive_probability(model, texts), labels, threshold)
        kept = quantized["auc"] >= metrics["auc"] - tc.quantize_max_auc_drop
        report["quantize"] = {"auc_full": metrics["auc"], "auc_quantized": quantized["auc"], "kept": kept, "seconds": round(time.time() - started, 3)}
        if kept:
            (outdir / name).unlink()
            name = f"quality.{lang}.ftz"
            model.save_model(str(outdir / name))
            report.update(model=name, heldout=quantized)
    report["model_bytes"] = (outdir / name).stat().st_size
    return report


def train_quality_models(
    positives: list[str], negatives: list[str], output: str | os.PathLike, config: QualityConfig, langid: LanguageIdentifier | None = None
) -> dict:
    """Train one classifier per configured language and write the model directory atomically
    (``OUTPUT._tmp-*`` renamed into place once complete); returns the report."""
    started = time.time()
    output = Path(output).absolute()
    examples, summary = collect_examples({"positive": positives, "negative": negatives}, config, langid)
    with staged_directory(output) as tmp:
        languages, skipped = {}, {}
        with tempfile.TemporaryDirectory(prefix="quality-train-") as work:
            for lang in config.train.languages:
                pos, neg = examples.get((lang, "positive"), []), examples.get((lang, "negative"), [])
                counts = {}
                for label, sampled in (("positive", pos), ("negative", neg)):
                    read = summary["classes"].get(f"{lang}.{label}", {"documents": 0, "examples": 0, "duplicates": 0})
                    counts[label] = {**read, "sampled": len(sampled), "sampled_heldout": sum(e.heldout for e in sampled)}
                train = balanced_split(pos, neg, heldout=False)
                heldout = balanced_split(pos, neg, heldout=True)
                if len(train[0]) < config.train.min_examples_per_class or not heldout[0]:
                    skipped[lang] = {
                        "reason": f"fewer than {config.train.min_examples_per_class} training or no held-out examples per class",
                        "train_examples": {"positive": len(train[0]), "negative": len(train[1])},
                        "heldout_examples": {"positive": len(heldout[0]), "negative": len(heldout[1])},
                        "examples": counts,
                    }
                    continue
                languages[lang] = {**train_language(lang, train, heldout, config, Path(work), tmp), "examples": counts}
        if not languages:
            raise QualityDataError(f"no language has enough examples to train: {json.dumps(skipped)}")
        manifest = {
            "preprocess": {"version": PREPROCESS_VERSION, **config.preprocess.model_dump()},
            "labels": {"positive": POSITIVE_LABEL, "negative": NEGATIVE_LABEL},
            "languages": {lang: r["model"] for lang, r in languages.items()},
        }
        report = {
            "output": str(output),
            "positives": positives,
            "negatives": negatives,
            "inputs": summary["inputs"],
            "languages": languages,
            "skipped_languages": skipped,
            "seconds": round(time.time() - started, 2),
            "config": config.model_dump(),
        }
        (tmp / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        (tmp / REPORT_JSON).write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        (tmp / REPORT_MD).write_text(render_report(report), encoding="utf-8")
    return report


def render_report(report: dict) -> str:
    """The report as markdown: held-out metrics and example counts per language, and the inputs."""
    lines = [
        "# Quality classifiers",
        "",
        "Held-out split: whole documents; both splits balanced by downsampling the majority class.",
        "",
        "| lang | model | train pos/neg | held-out pos/neg | ROC AUC | threshold | precision | recall | F1 | train (s) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for lang, r in report["languages"].items():
        h = r["heldout"]
        lines.append(
            f"| {lang} | {r['model']} | {r['train_examples']['positive']}/{r['train_examples']['negative']} | "
            f"{h['n_positive']}/{h['n_negative']} | {h['auc']:.4f} | {h['threshold']:.2f} | {h['precision']:.3f} | "
            f"{h['recall']:.3f} | {h['f1']:.3f} | {r['train_seconds']:.1f} |"
        )
    for lang, r in report["skipped_languages"].items():
        t, h = r["train_examples"], r["heldout_examples"]
        lines.append(f"| {lang} | skipped: {r['reason']} | {t['positive']}/{t['negative']} | {h['positive']}/{h['negative']} | | | | | | |")
    lines += [
        "",
        f"Examples: distinct pieces of about {report['config']['train']['chunk_chars']} characters (0: whole documents); "
        "sampled: the seeded sample of at most `max_examples_per_class`.",
        "",
        "| lang | class | documents | examples | duplicates | sampled | of which held out |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for lang, r in {**report["languages"], **report["skipped_languages"]}.items():
        for label in ("positive", "negative"):
            c = r["examples"][label]
            lines.append(f"| {lang} | {label} | {c['documents']} | {c['examples']} | {c['duplicates']} | {c['sampled']} | {c['sampled_heldout']} |")
    lines += ["", "Inputs (documents per detected language):", "", "| class | input | documents | languages | other domains skipped |", "|---|---|---:|---|---|"]
    for path, r in report["inputs"].items():
        langs = ", ".join(f"{k} {v}" for k, v in list(r["languages"].items())[:4])
        skipped = ", ".join(f"{k} {v}" for k, v in r["other_domains_skipped"].items())
        lines.append(f"| {r['label']} | {path} | {r['documents']} | {langs} | {skipped} |")
    return "\n".join(lines) + "\n"


# --- keeping rules -------------------------------------------------------------------------------


def pareto_keep(doc_id: str, score: float, alpha: float, seed: int = 0) -> bool:
    """GPT-3's rule (Brown et al. 2020, appendix A): keep when ``np.random.pareto(alpha) > 1 - score``.
    The draw comes from a generator seeded with the document id, so a document's fate does not depend
    on partitioning or order. A document is kept with probability ``(2 - score) ** -alpha``."""
    rng = np.random.default_rng([seed, _hash64("pareto", doc_id)])
    return bool(rng.pareto(alpha) > 1.0 - score)


class QualityFilter:
    """Scores documents with the model of their language and applies the keeping rule.

    Counters: ``scored`` and ``scored.<lang>``; ``unscored`` (no model for the language: kept);
    ``not_filtered_domain`` (domain outside ``domains``: kept, scored when possible); the stage adds
    ``drop.quality:below_threshold`` or ``drop.quality:pareto`` for each rejected document.
    """

    def __init__(self, config: ScoreConfig, models: QualityModels, langid: LanguageIdentifier | None = None):
        self.config = config
        self.models = models
        self.counters: Counter = Counter()
        self._langid = langid

    def _languages(self, docs: list[Document]) -> list[str | None]:
        langs = [d.lang for d in docs]
        missing = [i for i, lang in enumerate(langs) if not lang]
        if missing:
            if self._langid is None:
                self._langid = LanguageIdentifier()
            for i, (lang, _) in zip(missing, self._langid.predict([docs[i].text for i in missing])):
                langs[i] = lang
            self.counters["language_identified"] += len(missing)
        return langs

    def decide(self, docs: list[Document]) -> list[str | None]:
        """The reject reason of each document (None: keep); scored documents get ``quality.score``."""
        langs = self._languages(docs)
        by_lang: dict[str, list[int]] = defaultdict(list)
        for i, lang in enumerate(langs):
            if lang in self.models.languages:
                by_lang[lang].append(i)
        scores: dict[int, float] = {}
        for lang, idx in by_lang.items():
            for start in range(0, len(idx), self.config.batch_size):
                part = idx[start : start + self.config.batch_size]
                scores.update(zip(part, self.models.score(lang, [docs[i].text for i in part])))
        reasons: list[str | None] = []
        for i, doc in enumerate(docs):
            reasons.append(self._rule(doc, langs[i], scores.get(i)))
        return reasons

    def _rule(self, doc: Document, lang: str | None, score: float | None) -> str | None:
        if score is None:
            self.counters["unscored"] += 1
        else:
            score = round(score, 6)  # the stored value decides, so the rule can be re-applied from it
            doc.annotations[SCORE_ANNOTATION] = score
            self.counters["scored"] += 1
            self.counters[f"scored.{lang}"] += 1
        if doc.domain not in self.config.domains:
            self.counters["not_filtered_domain"] += 1
            return None
        if score is None:
            return None
        if self.config.mode == "threshold":
            return None if score >= self.config.threshold(lang) else REJECT_BELOW_THRESHOLD
        return None if pareto_keep(doc.id, score, self.config.pareto_alpha, self.config.seed) else REJECT_PARETO
