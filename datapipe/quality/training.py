"""Training the per-language classifiers: examples from the inputs, a held-out split of whole documents,
balanced classes, fastText, held-out metrics (ROC AUC, precision, recall, F1), optional quantization,
and the model directory written atomically with its report (``jobs/quality_model.py``, one process)."""

from __future__ import annotations

import heapq
import json
import os
import tempfile
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from datapipe import io
from datapipe.langid import LanguageIdentifier

from .config import MANIFEST_FILE, NEGATIVE_LABEL, POSITIVE_LABEL, REPORT_JSON, REPORT_MD, QualityConfig, QualityDataError
from .features import PREPROCESS_VERSION, chunk_text, preprocess, stable_hash64
from .scoring import load_fasttext, positive_probability
from .sources import in_domains, iter_source, with_languages


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
        if not io.exists(path):
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
            docs = in_domains(iter_source(path, tc.text_field), domains, other_domains)
            for doc in with_languages(docs, langid, tc.langid_batch_size):
                langs[doc.lang] += 1
                if doc.lang not in tc.languages:
                    continue
                docs_per_class[(doc.lang, label)] += 1
                group = f"{path}#{doc.key}"
                heldout = stable_hash64(tc.seed, "split", doc.text) < tc.heldout_fraction * 2**64
                sample = samples.setdefault((doc.lang, label), _Sample(tc.max_examples_per_class))
                for chunk in chunk_text(doc.text, tc.chunk_chars):
                    if len(chunk) < tc.min_example_chars:
                        too_short += 1
                        continue
                    sample.add(Example(stable_hash64(tc.seed, "example", chunk), chunk, heldout, group))
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
    ft = load_fasttext()
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
    with io.staged_directory(output) as tmp:
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
