"""Settings of quality training and scoring (``configs/quality.yaml``), and the names both share.

What the quality stage leaves on a document, for the stages after it (MinHash survivors, the mixture's
up- and down-sampling of web subsets):

- ``annotations["quality.score"]`` (:data:`SCORE_ANNOTATION`): the classifier's probability that the
  document is reference text (label ``__label__hq``), in [0, 1]. Set on every document whose language
  has a model, whatever its domain. Scores of different languages or model directories are not on one
  scale.
- ``annotations["quality.rank"]`` (:data:`RANK_ANNOTATION`): the score as a quantile among the documents
  of the filtered domains (``score.domains``, WebText) of the same language in the stage's input, in
  [0, 1]: 0.7 means the document scores above about 70% of that language's web documents (a document
  counts half itself, and ties take the middle of their range). Exact to the quantile sketch's error
  plus ``1 / RANK_GRID``. It is on one scale across languages and models, so it is the one to sample
  by: the keep rule keeps about ``rank >= 1 - keep_fraction``, and a web subset's mean rank says how
  its text compares to its language's web text. Documents of other domains get one too (reference
  text ranks near 1); a language without web documents in the stage's input has no rank.

Documents in a language without a model (unconfigured, or not filtered for too little training data
or a poor held-out AUC: see the model's ``report.md``) get neither and are kept.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from datapipe.config import StrictModel
from datapipe.document import DOMAINS

POSITIVE_LABEL = "__label__hq"
"""The reference class; DCLM's fastText classifiers use the same label, so their models score as ours."""
NEGATIVE_LABEL = "__label__lq"
SCORE_ANNOTATION = "quality.score"
RANK_ANNOTATION = "quality.rank"
RANK_GRID = 1000
"""The quality stage estimates 1001 quantiles (0, 0.001, ..., 1) per language; ranks interpolate them."""
REJECT_BELOW_CUTOFF = "quality:below_cutoff"
REJECT_PARETO = "quality:pareto"
MANIFEST_FILE = "model.json"
REPORT_JSON = "report.json"
REPORT_MD = "report.md"

Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
LangCode = Annotated[str, Field(pattern=r"^[a-z]{2,3}(_[A-Za-z0-9]+)?$")]
SourceName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]
"""An ingest source's name (``configs/domains.yaml``): the part of a domain document's url before ``:``."""


class QualityDataError(ValueError):
    """Training inputs or a model directory are missing, unreadable or misnamed; the message says which."""


def _known_domains(domains: list[str]) -> list[str]:
    unknown = [d for d in domains if d not in DOMAINS]
    if unknown:
        raise ValueError(f"unknown domain(s) {', '.join(map(repr, unknown))}; expected some of {', '.join(DOMAINS)}")
    return domains


class PreprocessConfig(StrictModel):
    """Text preparation before fastText; recorded in the model's manifest and used from there when scoring."""

    max_chars: int = Field(20_000, ge=100, description="only the first max_chars characters of a document are looked at")


class PretrainedModel(StrictModel):
    """A fastText classifier trained elsewhere, used instead of training one: its positive label must be
    ``__label__hq`` (DCLM's convention) and the score is P(hq). Read from ``path`` when the model
    directory is written (a local path or any URI ``datapipe.io`` opens; nothing is downloaded)."""

    path: str = Field(min_length=1)
    preprocess: Literal["joined_lines", "tokens"] = Field(
        "joined_lines", description="joined_lines: the text's lines joined by spaces (DCLM); tokens: ours (datapipe.quality.features)"
    )


class LanguageConfig(StrictModel):
    """One language's classifier: its reference (positive) text, or a pretrained model."""

    positive_sources: list[SourceName] = Field(default_factory=list, description="ingest sources whose documents of this language are positives")
    positive_files: list[str] = Field(default_factory=list, description=".jsonl, .txt or .tex files (optionally .gz) of reference text")
    pretrained: PretrainedModel | None = None


class FastTextParams(StrictModel):
    """``fasttext.train_supervised`` arguments (fastText's names in snake case); the defaults and their
    sources are in ``configs/quality.yaml``."""

    dim: int = Field(16, ge=2)
    epoch: int = Field(25, ge=1)
    lr: float = Field(0.5, gt=0)
    word_ngrams: int = Field(2, ge=1, le=5)
    min_count: int = Field(1, ge=1)
    minn: int = Field(0, ge=0)
    maxn: int = Field(0, ge=0)
    bucket: int = Field(200_000, ge=1000)
    thread: int = Field(1, ge=1, description="1 makes training reproducible: fastText's Hogwild threads race")


def _default_languages() -> dict[str, LanguageConfig]:
    return {
        "en": LanguageConfig(positive_sources=["enwiki"]),
        "zh": LanguageConfig(positive_sources=["laws", "cmrc2018-contexts", "cctv-news"]),
    }


class TrainConfig(StrictModel):
    """Where the examples come from, how they are drawn, and how the classifiers are trained, cross-fitted
    and judged fit to filter."""

    languages: dict[LangCode, LanguageConfig] = Field(default_factory=_default_languages, min_length=1)
    negative_domains: list[str] = Field(default_factory=lambda: ["WebText"], description="documents of the negative inputs outside these are skipped")
    folds: int = Field(5, ge=2, le=20, description="cross-fitting: the model of fold k trains on the other folds and scores fold k")
    seed: int = 1
    chunk_chars: int = Field(2000, ge=0, description="documents are split at line breaks into examples of about this size; 0: whole documents")
    min_example_chars: int = Field(100, ge=1)
    max_examples_per_class: int = Field(200_000, ge=10)
    max_class_ratio: float = Field(10.0, ge=1.0, description="the larger class is cut to at most this many times the smaller one")
    min_documents_per_class: int = Field(100, ge=1, description="a language with fewer training documents of a class is not filtered")
    min_heldout_auc: Fraction = Field(0.9, description="a language whose cross-fitted ROC AUC is lower is not filtered")
    text_field: str = Field("text", min_length=1, description="field holding the text in .jsonl inputs")
    langid_batch_size: int = Field(256, ge=1)
    fasttext: FastTextParams = Field(default_factory=FastTextParams)
    quantize: bool = True
    quantize_cutoff: int = Field(100_000, ge=0, description="words and n-grams kept by quantize (0: all)")
    quantize_max_auc_drop: float = Field(0.005, ge=0, le=1)

    @field_validator("negative_domains")
    @classmethod
    def _domains(cls, v: list[str]) -> list[str]:
        return _known_domains(v)


class ScoreConfig(StrictModel):
    """The scoring stage: which model, which documents are filtered, and the keep rule."""

    model_dir: str | None = Field(None, description="model directory (any Hadoop URI); --model overrides it")
    mode: Literal["keep_fraction", "pareto"] = "keep_fraction"
    default_keep_fraction: Fraction = 0.9
    keep_fraction: dict[LangCode, Fraction] = Field(default_factory=dict, description="per language; others keep default_keep_fraction")
    min_keep_fraction: Fraction = Field(0.5, description="a language keeping less stops the job before its output is published")
    quantile_accuracy: int = Field(10_000, ge=100, description="Spark percentile_approx accuracy: rank error at most 1/accuracy")
    pareto_alpha: float = Field(9.0, gt=0)
    seed: int = 0
    domains: list[str] = Field(default_factory=lambda: ["WebText"])
    batch_size: int = Field(256, ge=1)

    @field_validator("domains")
    @classmethod
    def _domains(cls, v: list[str]) -> list[str]:
        return _known_domains(v)

    @model_validator(mode="after")
    def _fractions_above_the_floor(self) -> ScoreConfig:
        if self.mode == "keep_fraction":
            low = {k: v for k, v in {"default": self.default_keep_fraction, **self.keep_fraction}.items() if v < self.min_keep_fraction}
            if low:
                raise ValueError(f"keep fractions {low} are below min_keep_fraction {self.min_keep_fraction}")
        return self

    def keep_fraction_of(self, lang: str) -> float:
        return self.keep_fraction.get(lang, self.default_keep_fraction)


class QualityConfig(StrictModel):
    """``configs/quality.yaml``: ``train`` and ``preprocess`` for jobs/quality_model.py, ``score`` for jobs/quality.py."""

    preprocess: PreprocessConfig = Field(default_factory=PreprocessConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    score: ScoreConfig = Field(default_factory=ScoreConfig)
