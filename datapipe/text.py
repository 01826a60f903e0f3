"""Shared text utilities for the data pipeline (cleaning, dedup, stats).

Everything here is a pure function over ``str`` with precompiled patterns, so it is cheap to call
once per document in a Spark Python worker. Costs are linear in the text length except where a
docstring says otherwise (the n-gram statistics sort, so they are O(N log N) in the token count).

Conventions used across the pipeline:

* A *line* is a ``"\\n"``-separated unit. Text extracted by trafilatura separates paragraphs/blocks
  with a single newline, so for that text a line is an HTML block (paragraph, heading, list item).
* A *paragraph* is a blank-line-separated unit (``"\\n\\n"``), as in the Gopher paper.
* A *word* (space-delimited languages) is a maximal run of word characters (letters, combining
  marks, digits, underscore), optionally joined by an inner apostrophe, hyphen or period
  ("don't", "e-mail", "3.14", "U.S").
  Punctuation-only tokens are not words, which matches datatrove's practice of dropping pure
  punctuation tokens before counting words. Unsegmented scripts (Han, kana) come out as one word
  per run, so word statistics are only meaningful for space-delimited languages.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

import numpy as np
import regex

# --------------------------------------------------------------------------------------------
# Lines, paragraphs, words, sentences
# --------------------------------------------------------------------------------------------

_BLANK_LINE = regex.compile(r"\n[^\S\n]*\n\s*")
# ``regex``'s \w is Unicode-complete (letters, marks, digits, connector punctuation), unlike ``re``'s
# which splits Indic words at vowel signs; it is also faster than spelled-out property classes.
WORD_RE = regex.compile(r"\w+(?:['’.\-]\w+)*")
_LETTER = regex.compile(r"\p{L}")
_LOWER = regex.compile(r"\p{Ll}")
_LOWER_RUN = regex.compile(r"\p{Ll}+")
_NO_LETTER_TOKEN = regex.compile(r"(?:^|(?<=\x00))[^\p{L}\x00]+(?=\x00|$)")
_UPPER_RUN = regex.compile(r"\p{Lu}+")
# A sentence ends at a run of terminal marks followed by closing quotes/brackets and then
# whitespace or the end of the line; CJK full stops end a sentence without a following space.
_SENTENCE_END = regex.compile(r"(?:[.!?]+['\"”’)\]]*(?=\s|$))|[。！？]+[」』”’）]*")


def split_lines(text: str) -> list[str]:
    """Non-empty lines of ``text``, stripped. Blank lines carry no content and are dropped."""
    return [s for s in (line.strip() for line in text.split("\n")) if s]


def split_paragraphs(text: str) -> list[str]:
    """Blank-line separated paragraphs, stripped, empty ones dropped (Gopher's definition)."""
    return [s for s in (p.strip() for p in _BLANK_LINE.split(text)) if s]


def words(text: str) -> list[str]:
    """Words of a space-delimited language (see module docstring for the definition)."""
    return WORD_RE.findall(text)


def count_words(text: str) -> int:
    """Number of words, without building the list of words when the caller only needs a count."""
    return sum(1 for _ in WORD_RE.finditer(text))


def has_letter(s: str) -> bool:
    """True when ``s`` has at least one alphabetic character in any script."""
    return _LETTER.search(s) is not None


def count_words_without_letter(tokens: Sequence[str]) -> int:
    """How many tokens have no alphabetic character (numbers, codes), in one C-level pass."""
    if not tokens:
        return 0
    return len(_NO_LETTER_TOKEN.findall("\x00".join(tokens)))


def has_lowercase_at_least(s: str, k: int) -> bool:
    """True when ``s`` has at least ``k`` lowercase letters; stops scanning at the k-th one."""
    if k <= 0:
        return True
    for i, _ in enumerate(_LOWER.finditer(s), 1):
        if i >= k:
            return True
    return False


def count_lowercase(s: str) -> int:
    """Number of lowercase letters (Unicode category Ll)."""
    return len(s) - len(_LOWER_RUN.sub("", s))


def count_uppercase(s: str) -> int:
    """Number of uppercase letters (Unicode category Lu)."""
    return len(s) - len(_UPPER_RUN.sub("", s))


def count_sentences(line: str) -> int:
    """Rough sentence count of one line: terminal-mark runs followed by space or end of line.

    A regex stand-in for NLTK punkt (which C4 used); it over-counts after abbreviations such as
    "Mr." and never returns less than 1 for a non-empty line.
    """
    if not line:
        return 0
    return max(1, sum(1 for _ in _SENTENCE_END.finditer(line)))


# --------------------------------------------------------------------------------------------
# Character classes
# --------------------------------------------------------------------------------------------

#: Han ideographs: CJK Unified Ideographs, extensions A-H, compatibility ideographs, plus the
#: ideographic iteration/number marks 々 〇 〻 that behave like Han characters.
HAN_CLASS = (
    "\u3005\u3007\u303b"
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
    "\U00020000-\U0002a6df\U0002a700-\U0002ebef\U0002f800-\U0002fa1f\U00030000-\U000323af"
)
HIRAGANA_CLASS = "\u3041-\u309f"
#: Katakana, phonetic extensions, prolonged sound mark (inside 30A0-30FF) and half-width katakana.
KATAKANA_CLASS = "\u30a0-\u30ff\u31f0-\u31ff\uff66-\uff9f"
KANA_CLASS = HIRAGANA_CLASS + KATAKANA_CLASS
#: Scripts written without spaces between words, besides Han and kana: Thai, Lao, Khmer, Myanmar and
#: Tibetan (their blocks and extensions). A run of them is one "word" to a space-based tokenizer.
THAI_CLASS = "\u0e00-\u0e7f"
LAO_CLASS = "\u0e80-\u0eff"
KHMER_CLASS = "\u1780-\u17ff\u19e0-\u19ff"
MYANMAR_CLASS = "\u1000-\u109f\ua9e0-\ua9ff\uaa60-\uaa7f"
TIBETAN_CLASS = "\u0f00-\u0fff"
UNSPACED_CLASS = HAN_CLASS + KANA_CLASS + THAI_CLASS + LAO_CLASS + KHMER_CLASS + MYANMAR_CLASS + TIBETAN_CLASS
UNSPACED_LANGUAGES = ("zh", "ja", "yue", "wuu", "th", "lo", "km", "my", "bo")
"""lid.176 codes of the languages written in those scripts (yue, wuu: Han-script Chinese varieties)."""
CHARS_PER_HAN = {"th": 3, "lo": 4, "km": 4, "my": 5, "bo": 5}
"""How many characters of an alphabetic unspaced script say what one Han character does, rounded:
the Universal Declaration of Human Rights, one text in every language, takes 8,950 non-whitespace
characters in Thai, 9,973 in Lao, 10,107 in Khmer, 13,906 in Burmese and 12,442 in Tibetan against
2,743 in Chinese (3.3x, 3.6x, 3.7x, 5.1x, 4.5x). Character n-gram rules and shingles calibrated on
Chinese use n-grams this many times longer in these languages (1 for the others)."""
#: Hangul syllables and jamo (Korean is space-delimited, but the class is useful for script stats).
HANGUL_CLASS = "\u1100-\u11ff\u3130-\u318f\ua960-\ua97f\uac00-\ud7af\ud7b0-\ud7ff"
#: CJK punctuation: CJK Symbols and Punctuation (minus the Han-like marks above), full-width ASCII
#: punctuation, half-width CJK punctuation, and the quotes/ellipsis/dashes used in CJK text.
CJK_PUNCT_CLASS = (
    "\u3001-\u3004\u3008-\u3011\u3014-\u301f\u3030\u303d"
    "\uff01-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff65"
    "\u2018\u2019\u201c\u201d\u2026\u2014\u00b7\u30fb"
)
#: Characters that signal broken text: U+FFFD (decoding replacement), C0 controls other than
#: tab and newline, DEL and C1 controls, lone surrogates (from surrogateescape decoding),
#: private-use areas (icon fonts, mis-mapped legacy encodings) and the non-characters FFFE/FFFF.
GARBLED_CLASS = (
    "\x00-\x08\x0b-\x1f\x7f-\x9f"
    "\ud800-\udfff\ue000-\uf8ff\ufffd\ufffe\uffff"
    "\U000f0000-\U000ffffd\U00100000-\U0010fffd"
)

_RUN = {}


def _run(cls: str) -> regex.Pattern:
    pat = _RUN.get(cls)
    if pat is None:
        pat = _RUN[cls] = regex.compile(f"[{cls}]+")
    return pat


HAN_RE = _run(HAN_CLASS)
KANA_RE = _run(KANA_CLASS)
HIRAGANA_RE = _run(HIRAGANA_CLASS)
KATAKANA_RE = _run(KATAKANA_CLASS)
HANGUL_RE = _run(HANGUL_CLASS)
CJK_RE = _run(HAN_CLASS + KANA_CLASS)  # "CJK characters" for share-of-text statistics
UNSPACED_RE = _run(UNSPACED_CLASS)
CJK_PUNCT_RE = _run(CJK_PUNCT_CLASS)
GARBLED_RE = _run(GARBLED_CLASS)
_WS_RUN = regex.compile(r"\s+")
_WORD_CHAR_RUN = regex.compile(r"\w+")


def count_class(pattern: regex.Pattern, text: str) -> int:
    """Characters of ``text`` matched by a character-run ``pattern`` (one C-level pass)."""
    return len(text) - len(pattern.sub("", text))


def count_han(text: str) -> int:
    """Han ideographs in ``text``."""
    return count_class(HAN_RE, text)


def count_kana(text: str) -> int:
    """Hiragana and katakana characters in ``text``."""
    return count_class(KANA_RE, text)


def count_hangul(text: str) -> int:
    """Hangul syllables and jamo in ``text``."""
    return count_class(HANGUL_RE, text)


def count_cjk(text: str) -> int:
    """Han plus kana characters: the script share used to tell Chinese/Japanese text apart."""
    return count_class(CJK_RE, text)


def count_cjk_punct(text: str) -> int:
    """CJK punctuation characters in ``text``."""
    return count_class(CJK_PUNCT_RE, text)


def count_word_chars(text: str) -> int:
    """Word characters (letters, marks, digits, underscore): the content units of unsegmented text."""
    return count_class(_WORD_CHAR_RUN, text)


def count_non_whitespace(text: str) -> int:
    """Characters that are not whitespace; the denominator of script-share ratios."""
    return len(text) - count_class(_WS_RUN, text)


def is_garbled_char(ch: str) -> bool:
    """True for replacement, control (except tab/newline), surrogate and private-use characters."""
    return GARBLED_RE.fullmatch(ch) is not None


def count_garbled(text: str) -> int:
    """Garbled characters (see :data:`GARBLED_CLASS`) in ``text``."""
    return count_class(GARBLED_RE, text)


def remove_garbled(text: str) -> tuple[str, int]:
    """``text`` without garbled characters, and how many were removed."""
    cleaned = GARBLED_RE.sub("", text)
    return cleaned, len(text) - len(cleaned)


def unspaced_ratio(text: str) -> float:
    """Share of characters of the unspaced scripts (Han, kana, Thai, Lao, Khmer, Myanmar, Tibetan) among
    non-whitespace characters (0.0 for empty text): whether a text needs character-based rules."""
    total = count_non_whitespace(text)
    return count_class(UNSPACED_RE, text) / total if total else 0.0


def cjk_ratio(text: str) -> float:
    """Share of Han+kana characters among non-whitespace characters (0.0 for empty text)."""
    total = count_non_whitespace(text)
    return count_cjk(text) / total if total else 0.0


# --------------------------------------------------------------------------------------------
# n-grams and repetition statistics
# --------------------------------------------------------------------------------------------


def word_ngrams(tokens: Sequence[str], n: int) -> list[tuple[str, ...]]:
    """All contiguous n-grams of ``tokens`` as tuples (empty when there are fewer than n)."""
    if n <= 0:
        raise ValueError("n must be positive")
    return list(zip(*(tokens[i:] for i in range(n))))


def char_ngrams(s: str, n: int) -> list[str]:
    """All contiguous character n-grams of ``s`` (empty when ``len(s) < n``)."""
    if n <= 0:
        raise ValueError("n must be positive")
    return [s[i : i + n] for i in range(len(s) - n + 1)]


def duplicate_items(items: Iterable[str]) -> tuple[int, int]:
    """(count, characters) of items equal to an earlier item: every copy after the first.

    This is the duplicate-line/paragraph measure of Gopher as implemented in datatrove and the
    Swallow corpus: a line repeated k times contributes k-1 duplicates.
    """
    seen: set[str] = set()
    dup = dup_chars = 0
    for it in items:
        if it in seen:
            dup += 1
            dup_chars += len(it)
        else:
            seen.add(it)
    return dup, dup_chars


def token_ids(tokens: Sequence[str]) -> np.ndarray:
    """Dense integer ids (first-seen order) for a token sequence, as int64."""
    vocab = {t: i for i, t in enumerate(dict.fromkeys(tokens))}
    return np.fromiter(map(vocab.__getitem__, tokens), dtype=np.int64, count=len(tokens))


def codepoint_ids(s: str) -> np.ndarray:
    """Code points of ``s`` as int64: token ids for character n-grams, without a Python loop."""
    return np.frombuffer(s.encode("utf-32-le"), dtype="<u4").astype(np.int64)


def iter_ngram_ids(unigram_ids: np.ndarray, max_n: int) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """Yield ``(n, ids, counts)`` for n = 1..max_n (fewer if the sequence is shorter).

    ``ids[i]`` identifies the n-gram starting at token i (equal n-grams get equal ids) and
    ``counts[ids[i]]`` is how often it occurs. The ids are exact ranks, not hashes: the n-gram id
    is the rank of the pair ((n-1)-gram id, last token id), so there are no collisions.
    Cost: one sort per n, O(N log N).
    """
    base = np.asarray(unigram_ids, dtype=np.int64)
    size = base.shape[0]
    if size == 0 or max_n < 1:
        return
    _, uni, counts = np.unique(base, return_inverse=True, return_counts=True)
    uni = uni.reshape(-1).astype(np.int64, copy=False)
    width = np.int64(counts.shape[0])  # ids < width, so (prev * width + last) is a unique pair key
    ids = uni
    yield 1, ids, counts
    for n in range(2, max_n + 1):
        m = size - n + 1
        if m <= 0:
            return
        pair = ids[:m] * width + uni[n - 1 :]
        _, ids, counts = np.unique(pair, return_inverse=True, return_counts=True)
        ids = ids.reshape(-1).astype(np.int64, copy=False)
        yield n, ids, counts


def covered_weight(starts: np.ndarray, n: int, weights: np.ndarray | None, size: int) -> int:
    """Total weight of the tokens covered by the n-token spans starting at ``starts``.

    Overlapping spans are counted once (union of the spans). ``weights`` holds each token's
    character length; ``None`` means every token weighs 1 (character n-grams).
    """
    if starts.size == 0:
        return 0
    diff = np.zeros(size + 1, dtype=np.int32)
    diff[starts] += 1  # starts are distinct, so fancy-index += is safe
    diff[starts + n] -= 1
    covered = np.cumsum(diff[:size]) > 0
    if weights is None:
        return int(np.count_nonzero(covered))
    return int(weights[covered].sum())


def iter_ngram_char_fractions(
    unigram_ids: np.ndarray,
    weights: np.ndarray | None,
    top_ns: Iterable[int] = (),
    dup_ns: Iterable[int] = (),
) -> Iterator[tuple[str, int, float]]:
    """Gopher n-gram repetition statistics, lazily, in increasing n ("top" before "dup" per n).

    Yields ``("top", n, f)`` where f is the fraction of characters covered by the occurrences of
    the most frequent n-gram (0.0 when no n-gram occurs twice), and ``("dup", n, f)`` where f is
    the fraction of characters covered by all n-grams that occur more than once. Following the
    Gopher paper (Rae et al. 2021, appendix A), characters inside overlapping occurrences are
    counted once. Characters are token characters (``weights``; whitespace excluded); ``None``
    weights mean one character per token (character n-grams). Because the generator is lazy, a
    caller that stops at the first failing statistic skips the work for larger n; once no n-gram
    repeats, no longer n-gram can, so the remaining statistics are yielded as 0.0 without work.
    """
    top = set(top_ns)
    dup = set(dup_ns)
    wanted = sorted(top | dup)
    if not wanted:
        return
    size = int(np.asarray(unigram_ids).shape[0])
    total = int(weights.sum()) if weights is not None else size
    done = 0  # number of entries of ``wanted`` already yielded
    if total > 0:
        for n, ids, counts in iter_ngram_ids(unigram_ids, wanted[-1]):
            if n != wanted[done]:
                continue
            if int(counts.max()) <= 1:
                break  # nothing repeats at this n, hence at no larger n
            if n in top:
                best = int(np.argmax(counts))
                starts = np.flatnonzero(ids == best)
                yield "top", n, covered_weight(starts, n, weights, size) / total
            if n in dup:
                starts = np.flatnonzero(counts[ids] > 1)
                yield "dup", n, covered_weight(starts, n, weights, size) / total
            done += 1
            if done == len(wanted):
                return
    for n in wanted[done:]:
        if n in top:
            yield "top", n, 0.0
        if n in dup:
            yield "dup", n, 0.0


def ngram_char_fractions(
    tokens: Sequence[str] | str, top_ns: Iterable[int] = (), dup_ns: Iterable[int] = ()
) -> dict[tuple[str, int], float]:
    """All requested repetition statistics at once (see :func:`iter_ngram_char_fractions`).

    ``tokens`` is a list of words (weighted by their lengths) or a string (character n-grams).
    """
    if isinstance(tokens, str):
        ids, weights = codepoint_ids(tokens), None
    else:
        ids = token_ids(tokens)
        weights = np.fromiter(map(len, tokens), dtype=np.int64, count=len(tokens))
    return {(kind, n): f for kind, n, f in iter_ngram_char_fractions(ids, weights, top_ns, dup_ns)}
