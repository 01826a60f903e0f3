"""Scoring: the per-language models of a model directory, loaded once per worker, and the keep rule.

This is all a Spark executor imports of quality filtering. Every document is scored by the model of
its language and cross-fitting fold (``datapipe.quality.training``: that model never trained on it);
``QualityStage`` writes ``quality.score`` and ``quality.rank`` (``datapipe.quality.config``) and keeps a
document of a filtered domain when its score reaches its language's cutoff (the ``1 - keep_fraction``
quantile of the language's scores in the stage's input, so at least ``keep_fraction`` is kept: ties at
the cutoff all stay) or by GPT-3's Pareto rule. Documents in a language without a model are kept unscored.
"""

from __future__ import annotations

import json
import os
from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from datapipe.document import Document
from datapipe.langid import LanguageIdentifier
from datapipe.stage import Decision, DocumentStage, Reject

from .config import (
    MANIFEST_FILE,
    POSITIVE_LABEL,
    RANK_ANNOTATION,
    RANK_GRID,
    REJECT_BELOW_CUTOFF,
    REJECT_PARETO,
    SCORE_ANNOTATION,
    QualityDataError,
    ScoreConfig,
)
from .features import PREPROCESS_VERSION, PREPROCESSORS, fold_of, stable_hash64


def load_fasttext():
    import fasttext

    fasttext.FastText.eprint = lambda *args, **kwargs: None  # silence the load-time warning
    return fasttext


_PROBABILITY_FLOOR = 1e-5
"""fastText reports a label's probability as exp(log(p + 1e-5))."""


def positive_probability(model, lines: list[str]) -> list[float]:
    """P(``__label__hq``) of each prepared line, over all the model's labels. fastText-wheel 0.9.2's batch
    predict repeats the top probability for every label under numpy 2, so each line goes through the
    binding's one-line predict; the floor fastText adds is taken off again, so that confident scores
    stay apart (0.00001 and 0.0000001) instead of collapsing onto 0 and 1."""
    out = []
    for line in lines:
        probs = {label: max(p - _PROBABILITY_FLOOR, 0.0) for p, label in model.f.predict(line + "\n", -1, 0.0, "strict")}
        out.append(probs.get(POSITIVE_LABEL, 0.0) / sum(probs.values()))
    return out


class QualityModels:
    """The classifiers of a model directory: per language, one per cross-fitting fold (or one
    pretrained), and the preparation each was trained with."""

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
        self.fold_seed = int(self.manifest["fold_seed"])
        ft = load_fasttext()
        languages = self.manifest["languages"]
        self._models = {lang: [ft.load_model(str(self.directory / name)) for name in entry["models"]] for lang, entry in languages.items()}
        self._prepare = {lang: PREPROCESSORS[entry["preprocess"]] for lang, entry in languages.items()}

    @property
    def languages(self) -> list[str]:
        return sorted(self._models)

    def score(self, lang: str, ids: list[str], texts: list[str]) -> list[float]:
        """P(reference) of each text by the model of its document's fold."""
        models, prepare = self._models[lang], self._prepare[lang]
        by_fold: dict[int, list[int]] = defaultdict(list)
        for i, doc_id in enumerate(ids):
            by_fold[fold_of(doc_id, self.fold_seed, len(models))].append(i)
        scores = [0.0] * len(ids)
        for fold, idx in by_fold.items():
            for i, p in zip(idx, positive_probability(models[fold], [prepare(texts[i], self.max_chars) for i in idx])):
                scores[i] = p
        return scores


@lru_cache(maxsize=2)
def load_models(directory: str) -> QualityModels:
    """The models of ``directory``, loaded once per process (each Spark Python worker)."""
    return QualityModels(directory)


class QualityScorer:
    """Languages and scores of documents, on the machine that runs it: lid.176 for documents without a
    language, then the model of each document's language and fold."""

    def __init__(self, model_dir: Callable[[], str], langid: LanguageIdentifier | None = None):
        self.model_dir, self._langid = model_dir, langid
        self.models: QualityModels | None = None

    def setup(self) -> None:
        self.models = load_models(self.model_dir())

    def languages(self, docs: list[Document]) -> tuple[list[str | None], int]:
        """Each document's language, and how many lid.176 gave."""
        langs = [d.lang for d in docs]
        missing = [i for i, lang in enumerate(langs) if not lang]
        if missing:
            if self._langid is None:
                self._langid = LanguageIdentifier()
            for i, (lang, _) in zip(missing, self._langid.predict([docs[i].text for i in missing])):
                langs[i] = lang
        return langs, len(missing)

    def scores(self, docs: list[Document], langs: list[str | None]) -> list[float | None]:
        """Each document's score, None where its language has no model."""
        by_lang: dict[str, list[int]] = defaultdict(list)
        for i, lang in enumerate(langs):
            if lang in self.models.languages:
                by_lang[lang].append(i)
        scores: list[float | None] = [None] * len(docs)
        for lang, idx in by_lang.items():
            for i, s in zip(idx, self.models.score(lang, [docs[i].id for i in idx], [docs[i].text for i in idx])):
                scores[i] = s
        return scores


def cutoff_quantile(keep_fraction: float) -> float:
    """``1 - keep_fraction`` without the float error that would move the cutoff one score up
    (1 - 0.7 is 0.30000000000000004, and the 0.3 quantile of ten scores is the third)."""
    return round(1.0 - keep_fraction, 9)


RANK_POINTS = tuple(i / RANK_GRID for i in range(RANK_GRID + 1))
"""The quantiles a :class:`ScoreDistribution` holds: 0, 1/RANK_GRID, ..., 1."""


@dataclass(frozen=True)
class ScoreDistribution:
    """A language's scores in the filtered domains of the stage's input: how many, their quantiles at
    ``RANK_POINTS`` and the keep rule's cutoff (the ``1 - keep_fraction`` quantile); each quantile
    ``p`` is the smallest score with at least a share ``p`` of the scores at or below it, as Spark's
    ``percentile_approx`` gives it."""

    documents: int
    quantiles: tuple[float, ...]
    cutoff: float

    def rank(self, score: float) -> float:
        """The share of the language's scores below ``score`` (the middle of a run of equal ones), read
        off the quantiles, in [0, 1]."""
        below, upto = bisect_left(self.quantiles, score), bisect_right(self.quantiles, score)
        return round(min(1.0, max(0.0, ((below + upto) / 2 - 0.5) / RANK_GRID)), 4)

    @classmethod
    def exact(cls, scores: list[float], keep_fraction: float) -> ScoreDistribution:
        """The distribution of ``scores`` held in memory (tests, one-process runs)."""
        values = np.asarray(scores, dtype=np.float64)
        quantiles = np.quantile(values, RANK_POINTS, method="inverted_cdf")
        cutoff = np.quantile(values, cutoff_quantile(keep_fraction), method="inverted_cdf")
        return cls(len(scores), tuple(float(q) for q in quantiles), float(cutoff))


def pareto_keep(doc_id: str, score: float, alpha: float, seed: int = 0) -> bool:
    """GPT-3's rule (Brown et al. 2020, appendix A): keep when ``np.random.pareto(alpha) > 1 - score``.
    The draw comes from a generator seeded with the document id, so a document's fate does not depend
    on partitioning or order. A document is kept with probability ``(2 - score) ** -alpha``."""
    rng = np.random.default_rng([seed, stable_hash64("pareto", doc_id)])
    return bool(rng.pareto(alpha) > 1.0 - score)


class QualityStage(DocumentStage):
    """Scores documents with the model of their language and fold, ranks them in their language's
    ``distributions`` (``ScoreDistribution``, measured over the stage's input first) and applies the keep
    rule. ``model_dir`` gives the model directory on the machine that runs the stage (on Spark: the
    shipped copy).

    Counters: ``scored`` and ``scored.<lang>``; ``unscored`` and ``unscored.<lang>`` (no model for the
    language: kept); ``filtered.<lang>`` and ``kept.<lang>`` (documents of the filtered domains, and
    those kept); ``not_filtered_domain`` (domain outside ``domains``: kept, scored when possible);
    ``language_identified`` (no language yet: lid.176 gave one).
    """

    name = "quality"

    def __init__(self, config: ScoreConfig, model_dir: Callable[[], str], distributions: dict[str, ScoreDistribution],
                 langid: LanguageIdentifier | None = None):
        super().__init__()
        self.config, self.distributions = config, distributions
        self.scorer = QualityScorer(model_dir, langid)
        self.batch_size = config.batch_size

    def setup(self) -> None:
        self.scorer.setup()

    def process_batch(self, docs: list[Document], columns: list[dict]) -> list[Decision]:
        """Every document scored and ranked, then kept or rejected."""
        langs, identified = self.scorer.languages(docs)
        self.counters["language_identified"] += identified
        return [self._decide(doc, lang, score) for doc, lang, score in zip(docs, langs, self.scorer.scores(docs, langs))]

    def _decide(self, doc: Document, lang: str | None, score: float | None) -> Decision:
        if score is None:
            self.counters["unscored"] += 1
            self.counters[f"unscored.{lang}"] += 1
            return doc
        doc.annotations[SCORE_ANNOTATION] = score
        distribution = self.distributions.get(lang)
        if distribution is not None:
            doc.annotations[RANK_ANNOTATION] = distribution.rank(score)
        self.counters["scored"] += 1
        self.counters[f"scored.{lang}"] += 1
        if doc.domain not in self.config.domains:
            self.counters["not_filtered_domain"] += 1
            return doc
        self.counters[f"filtered.{lang}"] += 1
        if self.config.mode == "keep_fraction":
            decision = doc if score >= distribution.cutoff else Reject(REJECT_BELOW_CUTOFF)
        else:
            decision = doc if pareto_keep(doc.id, score, self.config.pareto_alpha, self.config.seed) else Reject(REJECT_PARETO)
        if decision is doc:
            self.counters[f"kept.{lang}"] += 1
        return decision
