"""The cleaning stage: routes a document to the space-delimited or the CJK rules."""

from __future__ import annotations

from datapipe.clean.config import CleanConfig
from datapipe.clean.english import SpaceDelimitedCleaner
from datapipe.clean.outcome import CleanOutcome
from datapipe.clean.unspaced import UnspacedCleaner
from datapipe.document import Document
from datapipe.stage import Decision, DocumentStage, Reject
from datapipe.text import count_non_whitespace, remove_garbled, unspaced_ratio

_UNKNOWN = frozenset({"", "und", "unk", "unknown", "none", "null"})


def normalize_lang(lang: str | None) -> str | None:
    """Lower-case ISO code from a lid.176 label ("__label__zh", "zh-Hans", "ZH" -> "zh")."""
    if not lang:
        return None
    code = lang.strip().lower().removeprefix("__label__")
    code = code.replace("_", "-").split("-", 1)[0]
    return None if code in _UNKNOWN else code


class Cleaner:
    """Heuristic document cleaner; build once per worker and call :meth:`clean` per document."""

    def __init__(self, config: CleanConfig | None = None):
        self.config = config if config is not None else CleanConfig()
        self._space = SpaceDelimitedCleaner(self.config)
        self._unspaced = UnspacedCleaner(self.config)
        self._unspaced_langs = frozenset(self.config.unspaced_languages)

    def is_unspaced(self, text: str, lang: str | None) -> bool:
        """Whether the character-based CJK rules apply (by language, or by script when unknown)."""
        code = normalize_lang(lang)
        if code is not None:
            return code in self._unspaced_langs
        return unspaced_ratio(text) >= self.config.auto_unspaced_min_ratio

    def clean(self, text: str | None, lang: str | None = None) -> CleanOutcome:
        """Clean one document. ``lang`` is the lid.176 code of the text, or None when unknown."""
        if text is None or not text.strip():
            return CleanOutcome(None, "empty:input")
        if "\r" in text:  # CRLF / CR line ends are line breaks, not garbled control characters
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        chars_removed = 0
        garbled = self.config.garbled
        if garbled.enabled:
            cleaned, removed = remove_garbled(text)
            if removed:
                if garbled.max_ratio is not None:
                    total = count_non_whitespace(text)
                    if removed / total > garbled.max_ratio:
                        return CleanOutcome(None, "garbled:max_ratio", 0, removed)
                text, chars_removed = cleaned, removed
                if not text.strip():
                    return CleanOutcome(None, "empty:after_corrections", 0, chars_removed)
        code = normalize_lang(lang)
        if self.is_unspaced(text, code):
            if not self.config.unspaced.enabled:
                return CleanOutcome(_passthrough(text), None, 0, chars_removed)
            return self._unspaced.clean(text, code, chars_removed)
        return self._space.clean(text, code, chars_removed)

    def possible_reasons(self) -> list[str]:
        """Every reason :meth:`clean` can return under this config (for counters/dashboards)."""
        cfg = self.config
        out = ["empty:input", "empty:after_corrections", "garbled:max_ratio", "refinedweb:too_much_removed"]
        out += [f"c4:{r}" for r in ("max_word_length", "lorem_ipsum", "curly_bracket", "min_sentences")]
        out += [f"gopher_quality:{r}" for r in _GOPHER_QUALITY_RULES]
        out += [f"fineweb:{r}" for r in _FINEWEB_RULES]
        rep = cfg.gopher_repetition
        out += [f"gopher_repetition:{r}" for r in _DUP_UNIT_RULES]
        out += [f"gopher_repetition:top_{n}gram_char_frac" for n in rep.top_ngram_max_char_frac]
        out += [f"gopher_repetition:dup_{n}gram_char_frac" for n in rep.dup_ngram_max_char_frac]
        rules = cfg.unspaced
        out += [f"unspaced:{r}" for r in _CJK_RULES]
        out += [f"unspaced:top_{n}gram_char_frac" for n in rules.top_ngram_max_char_frac]
        out += [f"unspaced:dup_{n}gram_char_frac" for n in rules.dup_ngram_max_char_frac]
        return out


class CleanStage(DocumentStage):
    """Line-level corrections, then document filters; a kept document carries the corrected text."""

    name = "clean"

    def __init__(self, config: CleanConfig):
        super().__init__()
        self.config = config

    def setup(self) -> None:
        self.cleaner = Cleaner(self.config)

    def process(self, doc: Document) -> Decision:
        result = self.cleaner.clean(doc.text, doc.lang)
        self.counters["lines_removed"] += result.lines_removed
        self.counters["chars_removed"] += result.chars_removed
        if result.text is None:
            return Reject(result.reason)
        doc.text = result.text
        doc.annotations["clean.lines_removed"] = float(result.lines_removed)
        return doc


_GOPHER_QUALITY_RULES = (
    "min_words",
    "max_words",
    "min_mean_word_length",
    "max_mean_word_length",
    "hash_word_ratio",
    "ellipsis_word_ratio",
    "bullet_lines_ratio",
    "ellipsis_lines_ratio",
    "alpha_words_ratio",
    "stop_words",
)
_FINEWEB_RULES = ("line_punct_ratio", "short_line_ratio", "dup_line_char_ratio", "newline_word_ratio")
_DUP_UNIT_RULES = ("dup_line_frac", "dup_line_char_frac", "dup_para_frac", "dup_para_char_frac")
_CJK_RULES = (
    "too_much_removed",
    "min_chars",
    "min_script_ratio",
    "min_mean_line_length",
    "punct_line_ratio",
    "dup_line_frac",
    "dup_line_char_frac",
)


def _passthrough(text: str) -> str:
    return "\n".join(s for s in (line.strip() for line in text.split("\n")) if s)
