"""Configuration of the heuristic cleaning stage (validated with pydantic).

``CleanConfig()`` holds the published defaults; ``configs/clean.yaml`` repeats them with the source
of every number. Every rule can be switched off on its own: each section has ``enabled`` and each
threshold accepts ``null`` (YAML) / ``None`` to disable just that rule.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from datapipe.config import ConfigError, StrictModel, load_config
from datapipe.text import UNSPACED_LANGUAGES

__all__ = [
    "C4Config",
    "UnspacedConfig",
    "CleanConfig",
    "ConfigError",
    "FineWebConfig",
    "GarbledConfig",
    "GopherQualityConfig",
    "GopherRepetitionConfig",
    "RefinedWebConfig",
    "load_clean_config",
]

Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
NGramSize = Annotated[int, Field(ge=1, le=50)]
PositiveInt = Annotated[int, Field(ge=1)]
NonNegInt = Annotated[int, Field(ge=0)]
NonEmptyStr = Annotated[str, Field(min_length=1)]
LangCode = Annotated[str, Field(min_length=2, max_length=16, pattern=r"^[A-Za-z]{2,3}([_-][A-Za-z0-9]+)*$")]

# Table A1 of Rae et al. 2021 (Gopher / MassiveText).
GOPHER_TOP_NGRAMS = {2: 0.20, 3: 0.18, 4: 0.16}
GOPHER_DUP_NGRAMS = {5: 0.15, 6: 0.14, 7: 0.13, 8: 0.12, 9: 0.11, 10: 0.10}

# C4 (Raffel et al. 2020) / TFDS c4_utils end marks, plus "'" as in datatrove and the typographic
# closing quotes that trafilatura keeps (WET text of 2019 had mostly ASCII quotes).
LATIN_TERMINAL_PUNCT = [".", "?", "!", '"', "'", "\u201d", "\u2019"]
C4_POLICY_SUBSTRINGS = [
    "terms of use",
    "privacy policy",
    "cookie policy",
    "uses cookies",
    "use of cookies",
    "use cookies",
]
GOPHER_STOP_WORDS = {"en": ["the", "be", "to", "of", "and", "that", "have", "with"]}
BULLETS = ["•", "‣", "⁃", "◦", "●", "○", "▪", "▫", "■", "□", "►", "▶", "➢", "✓", "✔", "-", "*", "–", "—"]
UNSPACED_TERMINAL_PUNCT = [
    "。", "！", "？", "…", "」", "』", "”", "’", "）", "》", "～", "．", "｡",
    ".", "!", "?", '"', "'", ")",
    "។", "៕", "။", "།", "༎",  # Khmer khan and bariyoosan, Myanmar section mark, Tibetan shad and nyis shad
]  # fmt: skip
# Character n-gram duplicate limits for zh/ja, calibrated on clean Chinese reference text (see
# configs/clean.yaml): Gopher's word-level limits would drop about half of clean zh paragraphs.
CJK_DUP_NGRAMS = {5: 0.50, 6: 0.45, 7: 0.40, 8: 0.35, 9: 0.32, 10: 0.30}


class _Section(StrictModel):
    enabled: bool = True


class GarbledConfig(_Section):
    """Garbled characters: U+FFFD, control characters (not \\n, \\t), surrogates, private use.

    They are always removed when the section is enabled; the document is dropped when their share
    of the non-whitespace characters exceeds ``max_ratio`` (reason ``garbled:max_ratio``).
    """

    max_ratio: Fraction | None = 0.01


class RefinedWebConfig(_Section):
    """Line-wise corrections of RefinedWeb (Penedo et al. 2023, section 3 and appendix G.2)."""

    remove_counter_lines: bool = True
    remove_uppercase_lines: bool = True
    #: a line is "mainly uppercase" when this share of its cased letters is uppercase
    uppercase_min_ratio: Fraction = 0.9
    #: lines with fewer cased letters are never treated as uppercase lines
    uppercase_min_letters: PositiveInt = 2
    remove_numeric_lines: bool = True
    remove_single_word_lines: bool = True
    edit_navigation: bool = True
    #: navigation/button patterns and counters are only looked for in lines of at most this many words
    short_line_max_words: PositiveInt = 10
    #: drop the document when the corrections remove more than this share of its words
    max_removed_word_fraction: Fraction | None = 0.05


class C4Config(_Section):
    """C4 rules (Raffel et al. 2020, section 2.2; TFDS ``c4_utils.clean_page``)."""

    remove_citations: bool = True
    filter_no_terminal_punct: bool = True
    terminal_punctuation: list[NonEmptyStr] = Field(default_factory=lambda: list(LATIN_TERMINAL_PUNCT), min_length=1)
    min_words_per_line: PositiveInt | None = 3
    max_word_length: PositiveInt | None = 1000
    too_long_word_action: Literal["remove_line", "drop_document"] = "remove_line"
    filter_javascript: bool = True
    filter_policy: bool = True
    policy_substrings: list[NonEmptyStr] = Field(default_factory=lambda: list(C4_POLICY_SUBSTRINGS))
    filter_lorem_ipsum: bool = True
    filter_curly_bracket: bool = True
    min_num_sentences: PositiveInt | None = 5

    @field_validator("policy_substrings")
    @classmethod
    def _lower(cls, v: list[str]) -> list[str]:
        return [s.lower() for s in v]


class GopherQualityConfig(_Section):
    """Gopher quality filter (Rae et al. 2021, appendix A, "Quality filters")."""

    min_words: NonNegInt | None = 50
    max_words: PositiveInt | None = 100_000
    min_mean_word_length: Annotated[float, Field(ge=0)] | None = 3.0
    max_mean_word_length: Annotated[float, Field(gt=0)] | None = 10.0
    max_symbol_word_ratio: Annotated[float, Field(ge=0)] | None = 0.1
    max_bullet_lines_ratio: Fraction | None = 0.9
    bullets: list[NonEmptyStr] = Field(default_factory=lambda: list(BULLETS))
    max_ellipsis_lines_ratio: Fraction | None = 0.3
    min_alpha_words_ratio: Fraction | None = 0.8
    min_stop_words: NonNegInt | None = 2
    #: per-language stop words; the rule is skipped for languages without a list
    stop_words: dict[LangCode, list[NonEmptyStr]] = Field(
        default_factory=lambda: {k: list(v) for k, v in GOPHER_STOP_WORDS.items()}
    )

    @field_validator("stop_words")
    @classmethod
    def _lower_words(cls, v: dict[str, list[str]]) -> dict[str, list[str]]:
        return {lang.lower(): [w.lower() for w in ws] for lang, ws in v.items()}

    @model_validator(mode="after")
    def _ranges(self) -> GopherQualityConfig:
        if self.min_words is not None and self.max_words is not None and self.min_words > self.max_words:
            raise ValueError(f"min_words ({self.min_words}) > max_words ({self.max_words})")
        lo, hi = self.min_mean_word_length, self.max_mean_word_length
        if lo is not None and hi is not None and lo > hi:
            raise ValueError(f"min_mean_word_length ({lo}) > max_mean_word_length ({hi})")
        return self


def _ngram_map_validator(v: dict[int, float]) -> dict[int, float]:
    return dict(sorted(v.items()))


class GopherRepetitionConfig(_Section):
    """Gopher repetition filter (Rae et al. 2021, appendix A, table A1)."""

    #: which text the statistics are computed on: the text before line corrections ("raw", as in
    #: Gopher and RefinedWeb, where repetition removal runs before the line-wise corrections) or
    #: the corrected text
    measure_on: Literal["raw", "corrected"] = "raw"
    max_dup_line_frac: Fraction | None = 0.30
    max_dup_line_char_frac: Fraction | None = 0.20
    max_dup_para_frac: Fraction | None = 0.30
    max_dup_para_char_frac: Fraction | None = 0.20
    top_ngram_max_char_frac: dict[NGramSize, Fraction] = Field(default_factory=lambda: dict(GOPHER_TOP_NGRAMS))
    dup_ngram_max_char_frac: dict[NGramSize, Fraction] = Field(default_factory=lambda: dict(GOPHER_DUP_NGRAMS))

    sort_ngram_maps = field_validator("top_ngram_max_char_frac", "dup_ngram_max_char_frac")(_ngram_map_validator)


class FineWebConfig(_Section):
    """FineWeb custom filters (Penedo et al. 2024, section 3.5; datatrove ``FineWebQualityFilter``)."""

    min_line_punct_ratio: Fraction | None = 0.12
    stop_chars: list[NonEmptyStr] = Field(default_factory=lambda: [".", "'", '"', "!", "?"], min_length=1)
    max_short_line_ratio: Fraction | None = 0.67
    short_line_length: PositiveInt = 30
    max_dup_line_char_ratio: Fraction | None = 0.10
    max_newline_word_ratio: Annotated[float, Field(ge=0)] | None = 0.3


class UnspacedConfig(_Section):
    """Character-based rules for text written without spaces between words (Chinese, Japanese, Thai,
    Lao, Khmer, Myanmar, Tibetan)."""

    line_corrections: bool = True
    #: boilerplate/counter patterns remove whole lines of at most this many characters; longer
    #: lines only lose a trailing navigation phrase ("...我要评论", "...阅读全文")
    boilerplate_max_chars: PositiveInt = 60
    remove_symbol_lines: bool = True
    #: remove lines with at most this many word characters that do not end in terminal
    #: punctuation ("体育", "新闻中心", "参考文献"): RefinedWeb's single-word lines, for text
    #: where a word is ~1.5 characters
    short_line_max_word_chars: NonNegInt | None = 4
    #: drop the document when the line corrections remove more than this share of its word
    #: characters (Han, kana, letters, digits; separators and spaces do not count)
    max_removed_char_fraction: Fraction | None = 0.05
    min_chars: NonNegInt | None = 200
    min_script_ratio: Fraction | None = 0.3
    min_mean_line_length: Annotated[float, Field(ge=0)] | None = 10.0
    min_punct_line_ratio: Fraction | None = 0.106
    #: per-language replacements of min_punct_line_ratio (None: rule off for that language); Thai
    #: and Lao end sentences with a space, not a mark
    min_punct_line_ratio_by_language: dict[LangCode, Fraction | None] = Field(default_factory=lambda: {"th": None, "lo": None})
    terminal_punctuation: list[NonEmptyStr] = Field(default_factory=lambda: list(UNSPACED_TERMINAL_PUNCT), min_length=1)
    measure_repetition_on: Literal["raw", "corrected"] = "raw"
    max_dup_line_frac: Fraction | None = 0.30
    max_dup_line_char_frac: Fraction | None = 0.20
    top_ngram_max_char_frac: dict[NGramSize, Fraction] = Field(default_factory=lambda: dict(GOPHER_TOP_NGRAMS))
    dup_ngram_max_char_frac: dict[NGramSize, Fraction] = Field(default_factory=lambda: dict(CJK_DUP_NGRAMS))

    sort_ngram_maps = field_validator("top_ngram_max_char_frac", "dup_ngram_max_char_frac")(_ngram_map_validator)


class CleanConfig(StrictModel):
    """All settings of the cleaning stage; ``CleanConfig()`` gives the published defaults."""

    #: languages (lid.176 codes) cleaned by the character-based rules (section ``unspaced``)
    unspaced_languages: list[LangCode] = Field(default_factory=lambda: list(UNSPACED_LANGUAGES))
    #: when ``lang`` is None/"und", text whose share of unspaced-script characters (Han, kana, Thai,
    #: Lao, Khmer, Myanmar, Tibetan) reaches this value gets the character rules
    auto_unspaced_min_ratio: Fraction = 0.3
    garbled: GarbledConfig = Field(default_factory=GarbledConfig)
    refinedweb: RefinedWebConfig = Field(default_factory=RefinedWebConfig)
    c4: C4Config = Field(default_factory=C4Config)
    gopher_quality: GopherQualityConfig = Field(default_factory=GopherQualityConfig)
    fineweb: FineWebConfig = Field(default_factory=FineWebConfig)
    gopher_repetition: GopherRepetitionConfig = Field(default_factory=GopherRepetitionConfig)
    unspaced: UnspacedConfig = Field(default_factory=UnspacedConfig)

    @field_validator("unspaced_languages")
    @classmethod
    def _lower_langs(cls, v: list[str]) -> list[str]:
        return [x.lower() for x in v]


def load_clean_config(path: str | Path | None = "configs/clean.yaml") -> CleanConfig:
    """Load and validate a cleaning config; ``None`` gives the defaults.

    Raises :class:`datapipe.config.ConfigError` (a ``ValueError``) naming the file, the dotted key
    and the bad value for a missing file, invalid YAML, an unknown key or an invalid value.
    """
    return load_config(CleanConfig, path)
