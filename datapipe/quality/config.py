"""Settings of quality training and scoring (``configs/quality.yaml``), and the names both share."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator

from datapipe.config import StrictModel
from datapipe.document import DOMAINS

POSITIVE_LABEL = "__label__hq"
NEGATIVE_LABEL = "__label__lq"
SCORE_ANNOTATION = "quality.score"
REJECT_BELOW_THRESHOLD = "quality:below_threshold"
REJECT_PARETO = "quality:pareto"
MANIFEST_FILE = "model.json"
REPORT_JSON = "report.json"
REPORT_MD = "report.md"

Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
LangCode = Annotated[str, Field(pattern=r"^[a-z]{2,3}(_[A-Za-z0-9]+)?$")]


class QualityDataError(ValueError):
    """Training inputs or a model directory are missing, unreadable or too small; the message says which."""


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
