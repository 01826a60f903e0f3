"""Text preparation, identical for training and scoring.

:func:`preprocess` is the one function both apply, and a model's manifest records its version and
settings, so a model is always scored the way it was trained: NFKC, lower case, the first
``max_chars`` characters, one line, and tokens separated by spaces: words, single punctuation marks,
and single Han/kana characters. fastText splits on whitespace only, so unsegmented Chinese would
otherwise be one token per sentence; character tokens plus fastText's word bigrams (``word_ngrams:
2``) give character unigrams and bigrams, which stand in for words without a segmenter and work for
classical Chinese too (a dictionary segmenter such as jieba is built for modern text and adds a
dependency and time).
"""

from __future__ import annotations

import hashlib
import unicodedata

import regex

from datapipe.text import HAN_CLASS, KANA_CLASS, split_lines

PREPROCESS_VERSION = 1
"""Bumped whenever :func:`preprocess` changes; the scorer refuses a model trained with another one."""

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


def stable_hash64(*parts: object) -> int:
    """A 64-bit hash of the parts, the same on every machine and in every process (seeded draws)."""
    return int.from_bytes(hashlib.blake2b("\x1f".join(map(str, parts)).encode("utf-8", "surrogatepass"), digest_size=8).digest(), "big")
