"""Text preparation, identical for training and scoring, and the fold a document belongs to.

:func:`preprocess` is the one function both apply, and a model's manifest records its version and
settings, so a model is always scored the way it was trained: markup stripped, NFKC, lower case, the
first ``max_chars`` characters, one line, and tokens separated by spaces: words, single punctuation
marks, and single Han/kana characters.

Markup goes first (``datapipe.markup.strip_markup``): reference text arrives as Markdown (statutes, news
transcripts), wiki extraction (Wikipedia) or LaTeX (papers), web text as plain text, so a classifier
that saw ``#`` headings, ``[[links]]`` or ``\\section`` would learn which source a text came from, not
how well it is written. fastText splits on whitespace only, so unsegmented Chinese would otherwise be
one token per sentence; character tokens plus fastText's word bigrams (``word_ngrams: 2``) give
character unigrams and bigrams, which stand in for words without a segmenter and work for classical
Chinese too (a dictionary segmenter such as jieba is built for modern text and adds a dependency and
time). A change here or in ``datapipe.markup`` bumps :data:`PREPROCESS_VERSION`.
"""

from __future__ import annotations

import hashlib
import unicodedata

import regex

from datapipe.markup import strip_markup
from datapipe.text import HAN_CLASS, KANA_CLASS, split_lines

PREPROCESS_VERSION = 3
"""Bumped whenever :func:`preprocess` changes; the scorer refuses a model trained with another one."""

_CJK = HAN_CLASS + KANA_CLASS
_TOKEN = regex.compile(rf"[{_CJK}]|[\w--[{_CJK}]]+(?:['’.\-][\w--[{_CJK}]]+)*|[^\s\w]", regex.V1)

def tokens(text: str) -> str:
    """Text without markup as one lower-case line of space-separated tokens (see the module docstring)."""
    return " ".join(_TOKEN.findall(unicodedata.normalize("NFKC", text).lower()))


def preprocess(text: str, max_chars: int) -> str:
    """What a classifier sees of a text: :func:`tokens` of its start without markup; identical for
    training (whose examples are stripped once, before they are cut into pieces) and scoring."""
    return tokens(strip_markup(text[:max_chars]))


def joined_lines(text: str, max_chars: int) -> str:
    """DCLM's preparation for its fastText classifiers: the lines joined by spaces, nothing else."""
    return " ".join(text[:max_chars].strip().splitlines())


PREPROCESSORS = {"tokens": preprocess, "joined_lines": joined_lines}
"""The preparations a manifest can name per language: ours, or DCLM's for its pretrained models."""


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


def fold_of(doc_id: str, seed: int, folds: int) -> int:
    """The cross-fitting fold of a document, from its id: training leaves fold k out of the model that
    scores fold k, wherever and in whatever order the document is read."""
    return stable_hash64(seed, "fold", doc_id) % folds
