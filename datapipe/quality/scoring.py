"""Scoring: the per-language models of a model directory, loaded once per worker, and the keeping rule.

This is all a Spark executor imports of quality filtering. ``QualityStage`` writes the score to
``annotations["quality.score"]`` and keeps a document of a filtered domain by a per-language threshold
or by GPT-3's Pareto rule; documents in a language without a model are kept unscored.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

import numpy as np

from datapipe.document import Document
from datapipe.langid import LanguageIdentifier
from datapipe.stage import Decision, DocumentStage, Reject

from .config import (
    MANIFEST_FILE,
    POSITIVE_LABEL,
    REJECT_BELOW_THRESHOLD,
    REJECT_PARETO,
    SCORE_ANNOTATION,
    QualityDataError,
    ScoreConfig,
)
from .features import PREPROCESS_VERSION, preprocess, stable_hash64


def load_fasttext():
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
        ft = load_fasttext()
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


def pareto_keep(doc_id: str, score: float, alpha: float, seed: int = 0) -> bool:
    """GPT-3's rule (Brown et al. 2020, appendix A): keep when ``np.random.pareto(alpha) > 1 - score``.
    The draw comes from a generator seeded with the document id, so a document's fate does not depend
    on partitioning or order. A document is kept with probability ``(2 - score) ** -alpha``."""
    rng = np.random.default_rng([seed, stable_hash64("pareto", doc_id)])
    return bool(rng.pareto(alpha) > 1.0 - score)


class QualityStage(DocumentStage):
    """Scores documents with the model of their language and applies the keeping rule. ``model_dir``
    gives the model directory on the machine that runs the stage (on Spark: the shipped copy).

    Counters: ``scored`` and ``scored.<lang>``; ``unscored`` (no model for the language: kept);
    ``not_filtered_domain`` (domain outside ``domains``: kept, scored when possible);
    ``language_identified`` (no language yet: lid.176 gave one).
    """

    name = "quality"

    def __init__(self, config: ScoreConfig, model_dir: Callable[[], str], langid: LanguageIdentifier | None = None):
        super().__init__()
        self.config, self.model_dir, self._langid = config, model_dir, langid
        self.batch_size = config.batch_size

    def setup(self) -> None:
        self.models = load_models(self.model_dir())

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

    def process_batch(self, docs: list[Document], columns: list[dict]) -> list[Decision]:
        """Every document scored by its language's model (``quality.score``), then kept or rejected."""
        langs = self._languages(docs)
        by_lang: dict[str, list[int]] = defaultdict(list)
        for i, lang in enumerate(langs):
            if lang in self.models.languages:
                by_lang[lang].append(i)
        scores: dict[int, float] = {}
        for lang, idx in by_lang.items():
            scores.update(zip(idx, self.models.score(lang, [docs[i].text for i in idx])))
        return [self._decide(doc, langs[i], scores.get(i)) for i, doc in enumerate(docs)]

    def _decide(self, doc: Document, lang: str | None, score: float | None) -> Decision:
        if score is None:
            self.counters["unscored"] += 1
        else:
            score = round(score, 6)  # the stored value decides, so the rule can be re-applied from it
            doc.annotations[SCORE_ANNOTATION] = score
            self.counters["scored"] += 1
            self.counters[f"scored.{lang}"] += 1
        if doc.domain not in self.config.domains:
            self.counters["not_filtered_domain"] += 1
            return doc
        if score is None:
            return doc
        if self.config.mode == "threshold":
            return doc if score >= self.config.threshold(lang) else Reject(REJECT_BELOW_THRESHOLD)
        return doc if pareto_keep(doc.id, score, self.config.pareto_alpha, self.config.seed) else Reject(REJECT_PARETO)
