"""Training the per-language classifiers (``jobs/quality_model.py``, one process): examples from the
inputs, cross-fitted fastText models, their held-out ROC AUC, optional quantization, and the model
directory written atomically with its report.

Positives are the reference text a language's config names: documents of ingest sources
(``positive_sources``, by the source name in their url) and files. Negatives are a seeded sample of
the web documents the quality stage will filter (the clean or paragraph-dedup stage's output).

Cross-fitting, not a held-out split: every negative is also a document the stage scores, and a
model scores the documents it trained on as more typical of their class than they are (fastText fits
its training set closely), so a held-out split would leave the training documents without an honest
score. Instead every document falls in one of ``folds`` folds by a hash of its id
(:func:`datapipe.quality.features.fold_of`); the model of fold k trains on the other folds, and the
scorer gives every document the model of its fold. So no document is ever scored by a model that
saw it, every training document is scored, each model trains on ``(folds - 1) / folds`` of the data,
and the held-out scores of all folds together are a cross-validated ROC AUC. A text that occurs in
documents of two folds (a re-crawled page under another id) is left out of training altogether.

A language is filtered only when it can be trusted: at least ``min_documents_per_class`` documents per
class and a held-out AUC of at least ``min_heldout_auc``; otherwise no model is written for it and
the report says why (its documents are then kept unscored). A pretrained model (DCLM's ``__label__hq``
convention) replaces training; it is evaluated on the same examples when there are any.
"""

from __future__ import annotations

import heapq
import json
import os
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from datapipe import io
from datapipe.langid import LanguageIdentifier
from datapipe.markup import strip_markup

from .config import (
    MANIFEST_FILE,
    NEGATIVE_LABEL,
    POSITIVE_LABEL,
    REPORT_JSON,
    REPORT_MD,
    QualityConfig,
    QualityDataError,
)
from .features import (
    PREPROCESS_VERSION,
    PREPROCESSORS,
    chunk_text,
    fold_of,
    stable_hash64,
    tokens,
)
from .scoring import cutoff_quantile, load_fasttext, positive_probability
from .sources import (
    SourceDoc,
    iter_file,
    iter_stage_output,
    of_domains,
    of_sources,
    with_languages,
)


@dataclass(order=True)
class Example:
    """A training or held-out example: a piece of a document of cross-fitting fold ``fold``."""

    priority: int
    text: str = field(compare=False)
    fold: int = field(compare=False)


class _Sample:
    """The ``cap`` examples of lowest priority seen so far: a bottom-k sample, in memory bounded by
    ``cap``. The priority is a seeded hash of the text, so the sample is a uniform one that does not
    depend on reading order, and a text seen again (boilerplate shared by pages, a re-crawled page)
    is recognised and counted once; one seen in two folds is left out (exactly below the cap)."""

    def __init__(self, cap: int):
        self.cap = cap
        self._heap: list[tuple[int, Example]] = []  # (-priority, example): a max-heap
        self._folds: dict[int, int] = {}
        self._in_two_folds: set[int] = set()
        self.seen = 0
        self.duplicates = 0

    def add(self, ex: Example) -> None:
        fold = self._folds.get(ex.priority)
        if fold is not None:
            self.duplicates += 1
            if fold != ex.fold:
                self._in_two_folds.add(ex.priority)
            return
        self.seen += 1
        if len(self._heap) < self.cap:
            heapq.heappush(self._heap, (-ex.priority, ex))
        elif ex.priority < -self._heap[0][0]:
            _, evicted = heapq.heapreplace(self._heap, (-ex.priority, ex))
            del self._folds[evicted.priority]
        else:
            return
        self._folds[ex.priority] = ex.fold

    def examples(self) -> list[Example]:
        return sorted(ex for _, ex in self._heap if ex.priority not in self._in_two_folds)

    def counts(self) -> dict:
        return {"examples": self.seen, "duplicates": self.duplicates, "in_two_folds": len(self._in_two_folds)}


class _Collector:
    """Examples per (language, class) and what was read, for :func:`collect_examples`."""

    def __init__(self, config: QualityConfig):
        self.tc = config.train
        self.samples: dict[tuple[str, str], _Sample] = {}
        self.documents: Counter = Counter()
        self.short_pieces: Counter = Counter()

    def add(self, doc: SourceDoc, label: str) -> None:
        tc = self.tc
        key = (doc.lang, label)
        self.documents[key] += 1
        fold = fold_of(doc.key, tc.seed, tc.folds)
        sample = self.samples.setdefault(key, _Sample(tc.max_examples_per_class))
        for chunk in chunk_text(strip_markup(doc.text), tc.chunk_chars):
            if len(chunk) < tc.min_example_chars:
                self.short_pieces[key] += 1
                continue
            sample.add(Example(stable_hash64(tc.seed, "example", chunk), chunk, fold))

    def class_counts(self, lang: str, label: str) -> dict:
        sample = self.samples.get((lang, label))
        return {
            "documents": self.documents[lang, label],
            "short_pieces_skipped": self.short_pieces[lang, label],
            **(sample.counts() if sample else {"examples": 0, "duplicates": 0, "in_two_folds": 0}),
        }


def collect_examples(
    positives: list[str], negatives: list[str], config: QualityConfig, langid: LanguageIdentifier | None = None
) -> tuple[dict[tuple[str, str], list[Example]], dict]:
    """Examples per (language, ``positive``/``negative``) and what was read: the configured sources of
    the ``positives`` stage outputs and each language's files, and the ``negative_domains`` documents of
    the ``negatives`` stage outputs. Documents are split into pieces of about ``chunk_chars`` (markup
    stripped first); every piece of a document is in the document's fold."""
    tc = config.train
    sources = {s for lang in tc.languages.values() for s in lang.positive_sources}
    if sources and not positives:
        raise QualityDataError(f"the config names positive sources ({', '.join(sorted(sources))}) but no --positives stage output was given")
    files = [p for lang in tc.languages.values() for p in lang.positive_files]
    for path in [*positives, *negatives, *files]:  # fail before reading anything
        if not io.exists(path):
            raise QualityDataError(f"input not found: {path}")
    langid = langid or LanguageIdentifier()
    collector = _Collector(config)
    read: dict[str, dict] = {}

    def documents(docs: Iterator[SourceDoc]) -> Iterator[SourceDoc]:
        return with_languages(docs, langid, tc.langid_batch_size)

    found: Counter = Counter()
    for path in positives:
        by_source: Counter = Counter()
        for doc in documents(iter_stage_output(path, of_sources(sources))):
            by_source[f"{doc.source}.{doc.lang}"] += 1
            found[doc.source] += 1
            if doc.lang in tc.languages and doc.source in tc.languages[doc.lang].positive_sources:
                collector.add(doc, "positive")
        read[path] = {"class": "positive", "documents": dict(sorted(by_source.items()))}
    missing = sorted(sources - set(found))
    if missing:
        raise QualityDataError(f"no document of the positive source(s) {', '.join(missing)} in {', '.join(positives)}")
    for lang, lang_config in tc.languages.items():
        for path in lang_config.positive_files:
            by_lang: Counter = Counter()
            for doc in documents(iter_file(path, tc.text_field)):
                by_lang[doc.lang] += 1
                if doc.lang == lang:
                    collector.add(doc, "positive")
            read[path] = {"class": "positive", "documents": dict(by_lang.most_common())}
    for path in negatives:
        by_lang = Counter()
        for doc in documents(iter_stage_output(path, of_domains(tc.negative_domains))):
            by_lang[doc.lang] += 1
            if doc.lang in tc.languages:
                collector.add(doc, "negative")
        read[path] = {"class": "negative", "documents": dict(by_lang.most_common())}
    examples = {key: sample.examples() for key, sample in collector.samples.items()}
    classes = {lang: {label: collector.class_counts(lang, label) for label in ("positive", "negative")} for lang in tc.languages}
    return examples, {"inputs": read, "classes": classes}


def capped(pos: list[Example], neg: list[Example], max_class_ratio: float) -> tuple[list[Example], list[Example]]:
    """The larger class cut to at most ``max_class_ratio`` times the smaller one, keeping the lowest
    priorities (a seeded sample: the lists are in priority order)."""
    limit = int(max_class_ratio * min(len(pos), len(neg)))
    return pos[:limit], neg[:limit]


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


def heldout_metrics(pos_scores: list[float], neg_scores: list[float], keep_fraction: float) -> dict:
    """ROC AUC, and the share of reference examples that the keep rule would keep: those scoring at or
    above the ``1 - keep_fraction`` quantile of the web examples."""
    cutoff = float(np.quantile(neg_scores, cutoff_quantile(keep_fraction), method="inverted_cdf"))  # as the stage does
    return {
        "auc": round(roc_auc(pos_scores + neg_scores, [1] * len(pos_scores) + [0] * len(neg_scores)), 6),
        "n_positive": len(pos_scores),
        "n_negative": len(neg_scores),
        "keep_fraction": keep_fraction,
        "reference_kept": round(float(np.mean(np.asarray(pos_scores) >= cutoff)), 6),
    }


# --- training ------------------------------------------------------------------------------------


def _write_training_file(path: Path, pos: list[Example], neg: list[Example], max_chars: int) -> None:
    rows = [(e.priority, POSITIVE_LABEL, e.text) for e in pos] + [(e.priority, NEGATIVE_LABEL, e.text) for e in neg]
    rows.sort()  # seeded-random interleaving of the classes, the order fastText's SGD sees
    with open(path, "w", encoding="utf-8") as f:
        for _, label, text in rows:
            f.write(f"{label} {tokens(text[:max_chars])}\n")


class _NotFiltered(Exception):
    """A language's classifier is not fit to filter; the message says why."""


def cross_fit(lang: str, pos: list[Example], neg: list[Example], config: QualityConfig, workdir: Path, outdir: Path) -> dict:
    """Train the ``folds`` models of a language (fold k: trained on the other folds, evaluated on fold
    k), save them as ``quality.<lang>.<k>.bin`` (``.ftz`` when quantizing all of them costs at most
    ``quantize_max_auc_drop`` of held-out AUC) into ``outdir``; returns the report."""
    tc, ft_params, max_chars = config.train, config.train.fasttext, config.preprocess.max_chars
    ft = load_fasttext()
    keep_fraction = config.score.keep_fraction_of(lang)
    scores: dict[str, tuple[list[float], list[float]]] = {"full": ([], []), "quantized": ([], [])}
    fold_auc, train_sizes, names = [], [], []
    started = time.time()
    for k in range(tc.folds):
        train = capped([e for e in pos if e.fold != k], [e for e in neg if e.fold != k], tc.max_class_ratio)
        held = [e for e in pos if e.fold == k], [e for e in neg if e.fold == k]
        if not train[0] or not held[0] or not held[1]:
            raise _NotFiltered(f"fold {k} has no reference or web examples to train or evaluate on")
        train_file = workdir / f"train.{lang}.{k}.txt"
        _write_training_file(train_file, *train, max_chars)
        model = ft.train_supervised(
            input=str(train_file), dim=ft_params.dim, epoch=ft_params.epoch, lr=ft_params.lr, wordNgrams=ft_params.word_ngrams,
            minCount=ft_params.min_count, minn=ft_params.minn, maxn=ft_params.maxn, bucket=ft_params.bucket,
            thread=ft_params.thread, seed=tc.seed, loss="softmax", verbose=0,
        )
        texts = [[tokens(e.text[:max_chars]) for e in side] for side in held]
        fold_scores = [positive_probability(model, t) for t in texts]
        fold_auc.append(round(roc_auc(fold_scores[0] + fold_scores[1], [1] * len(texts[0]) + [0] * len(texts[1])), 6))
        train_sizes.append({"positive": len(train[0]), "negative": len(train[1])})
        for side in (0, 1):
            scores["full"][side].extend(fold_scores[side])
        name = f"quality.{lang}.{k}"
        model.save_model(str(outdir / f"{name}.bin"))
        if tc.quantize:
            model.quantize(input=str(train_file), qnorm=True, retrain=False, cutoff=tc.quantize_cutoff)
            for side in (0, 1):
                scores["quantized"][side].extend(positive_probability(model, texts[side]))
            model.save_model(str(outdir / f"{name}.ftz"))
        names.append(name)
        train_file.unlink()
    heldout = heldout_metrics(*scores["full"], keep_fraction)
    report = {"train_examples_per_fold": train_sizes, "fold_auc": fold_auc, "train_seconds": round(time.time() - started, 2)}
    suffix = ".bin"
    if tc.quantize:
        quantized = heldout_metrics(*scores["quantized"], keep_fraction)
        kept = quantized["auc"] >= heldout["auc"] - tc.quantize_max_auc_drop
        report["quantize"] = {"auc_full": heldout["auc"], "auc_quantized": quantized["auc"], "kept": kept}
        if kept:
            heldout, suffix = quantized, ".ftz"
        for name in names:
            (outdir / f"{name}{'.bin' if kept else '.ftz'}").unlink()
    models = [f"{name}{suffix}" for name in names]
    return {"models": models, "heldout": heldout, **report, "model_bytes": sum((outdir / m).stat().st_size for m in models)}


def install_pretrained(lang: str, pos: list[Example], neg: list[Example], config: QualityConfig, outdir: Path) -> dict:
    """Copy a language's pretrained model into ``outdir`` (it must know ``__label__hq``) and evaluate it
    on all the language's examples, when there are both classes (it never trained on them)."""
    pretrained = config.train.languages[lang].pretrained
    suffix = ".ftz" if pretrained.path.lower().endswith(".ftz") else ".bin"
    name = f"quality.{lang}.pretrained{suffix}"
    if not io.exists(pretrained.path):
        raise QualityDataError(f"pretrained model of {lang} not found: {pretrained.path}")
    with io.open_input(pretrained.path) as src, open(outdir / name, "wb") as dst:
        while chunk := src.read(1 << 22):
            dst.write(chunk)
    try:
        model = load_fasttext().load_model(str(outdir / name))
    except ValueError as exc:
        raise QualityDataError(f"pretrained model of {lang} ({pretrained.path}) is not a fastText model: {exc}") from None
    if POSITIVE_LABEL not in model.get_labels():
        raise QualityDataError(f"pretrained model of {lang} ({pretrained.path}) has labels {model.get_labels()}, none is {POSITIVE_LABEL}")
    report: dict = {"models": [name], "pretrained": pretrained.model_dump(), "model_bytes": (outdir / name).stat().st_size}
    if pos and neg:
        prepare = PREPROCESSORS[pretrained.preprocess]
        max_chars = config.preprocess.max_chars
        sides = [positive_probability(model, [prepare(e.text, max_chars) for e in side]) for side in (pos, neg)]
        report["heldout"] = heldout_metrics(*sides, config.score.keep_fraction_of(lang))
    return report


def train_language(lang: str, pos: list[Example], neg: list[Example], counts: dict, config: QualityConfig, workdir: Path, outdir: Path) -> dict:
    """A language's report, with ``status`` ``filtered`` (its models moved into ``outdir``) or ``not
    filtered`` and the reason (no model written)."""
    tc = config.train
    pretrained = tc.languages[lang].pretrained
    staging = workdir / lang
    staging.mkdir()
    try:
        if pretrained is not None:
            report = install_pretrained(lang, pos, neg, config, staging)
        else:
            n_pos, n_neg = counts["positive"]["documents"], counts["negative"]["documents"]
            if min(n_pos, n_neg) < tc.min_documents_per_class:
                raise _NotFiltered(
                    f"too little training data: {n_pos} reference and {n_neg} web documents, "
                    f"fewer than min_documents_per_class {tc.min_documents_per_class}"
                )
            report = cross_fit(lang, pos, neg, config, workdir, staging)
    except _NotFiltered as exc:
        return {"status": "not filtered", "reason": str(exc), "examples": counts}
    auc = report.get("heldout", {}).get("auc")
    if auc is not None and auc < tc.min_heldout_auc:
        del report["models"]
        return {"status": "not filtered", "reason": f"held-out ROC AUC {auc:.4f} is below min_heldout_auc {tc.min_heldout_auc}",
                **report, "examples": counts}
    for name in report["models"]:
        (staging / name).rename(outdir / name)
    preprocessing = pretrained.preprocess if pretrained else "tokens"
    return {"status": "filtered", "preprocess": preprocessing, **report, "examples": counts}


def train_quality_models(
    positives: list[str], negatives: list[str], output: str | os.PathLike, config: QualityConfig, langid: LanguageIdentifier | None = None
) -> dict:
    """Train (or install) one classifier per configured language and write the model directory
    atomically (``OUTPUT._tmp-*`` renamed into place once complete); returns the report."""
    started = time.time()
    examples, summary = collect_examples(positives, negatives, config, langid)
    with io.staged_directory(output) as tmp, tempfile.TemporaryDirectory(prefix="quality-train-") as work:
        languages = {}
        for lang in config.train.languages:
            pos, neg = examples.get((lang, "positive"), []), examples.get((lang, "negative"), [])
            counts = summary["classes"][lang]
            for label, sampled in (("positive", pos), ("negative", neg)):
                counts[label]["sampled"] = len(sampled)
            languages[lang] = train_language(lang, pos, neg, counts, config, Path(work), tmp)
        manifest = {
            "preprocess": {"version": PREPROCESS_VERSION, **config.preprocess.model_dump()},
            "labels": {"positive": POSITIVE_LABEL, "negative": NEGATIVE_LABEL},
            "fold_seed": config.train.seed,
            "languages": {
                lang: {"models": r["models"], "preprocess": r["preprocess"]} for lang, r in languages.items() if r["status"] == "filtered"
            },
            "not_filtered": {lang: r["reason"] for lang, r in languages.items() if r["status"] != "filtered"},
        }
        report = {
            "output": str(output),
            "positives": positives,
            "negatives": negatives,
            "inputs": summary["inputs"],
            "languages": languages,
            "seconds": round(time.time() - started, 2),
            "config": config.model_dump(),
        }
        (tmp / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        (tmp / REPORT_JSON).write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        (tmp / REPORT_MD).write_text(render_report(report), encoding="utf-8")
    return report


def render_report(report: dict) -> str:
    """The report as markdown: per language its status, held-out metrics and example counts, and the inputs."""
    train = report["config"]["train"]
    lines = [
        "# Quality classifiers",
        "",
        f"Held-out: each example scored by the model of its document's fold ({train['folds']} folds, cross-fitted), "
        "the way the quality stage scores; `reference kept`: the share of reference examples scoring at or above the "
        "web examples' `1 - keep fraction` quantile.",
        "",
        "| lang | status | models | reference/web documents | reference/web training examples per fold | held-out reference/web | ROC AUC | reference kept at keep fraction |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for lang, r in report["languages"].items():
        c = r["examples"]
        docs = f"{c['positive']['documents']}/{c['negative']['documents']}"
        status = "filtered" if r["status"] == "filtered" else f"not filtered: {r['reason']}"
        models = ", ".join(r.get("models", [])) if r["status"] == "filtered" else ""
        sizes = ", ".join(f"{n['positive']}/{n['negative']}" for n in r.get("train_examples_per_fold", []))
        h = r.get("heldout")
        held = f"{h['n_positive']}/{h['n_negative']} | {h['auc']:.4f} | {h['reference_kept']:.3f} at {h['keep_fraction']:.2f}" if h else " | | "
        lines.append(f"| {lang} | {status} | {models} | {docs} | {sizes} | {held} |")
    lines += [
        "",
        f"Examples: distinct pieces of about {train['chunk_chars']} characters (0: whole documents), markup stripped; "
        "a piece in documents of two folds is left out; sampled: the seeded sample of at most `max_examples_per_class`.",
        "",
        "| lang | class | documents | examples | duplicates | in two folds | sampled |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for lang, r in report["languages"].items():
        for label in ("positive", "negative"):
            c = r["examples"][label]
            lines.append(f"| {lang} | {label} | {c['documents']} | {c['examples']} | {c['duplicates']} | {c['in_two_folds']} | {c['sampled']} |")
    lines += ["", "Inputs (documents read, per source and language or per language):", "", "| class | input | documents |", "|---|---|---|"]
    for path, r in report["inputs"].items():
        counts = ", ".join(f"{k} {v}" for k, v in list(r["documents"].items())[:8])
        lines.append(f"| {r['class']} | {path} | {counts} |")
    return "\n".join(lines) + "\n"
