"""Paragraph-level exact deduplication: splitting, normalisation and hashing of paragraphs.

A paragraph is a line of the extracted text (trafilatura puts each block on its own line).
Normalisation follows CCNet (Wenzek et al. 2020): Unicode NFKC, lower case, accents stripped,
digits mapped to 0, punctuation and symbols removed, whitespace collapsed; so "Posted 3 May 2021 |"
and "posted 14 may 2021" are one paragraph. A paragraph too short to be evidence of copying is never
removed (``evidence_length``): repeated short lines are section headings and list items ("History",
"Early life and education", "国内联播快讯"), which every document of a kind shares. The Spark job (``jobs/dedup_paragraphs.py``) finds, for
each paragraph hash, its first occurrence in a deterministic order; ``ParagraphDedupStage`` removes the
others from each document.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from typing import Literal

from pydantic import Field

from .config import StrictModel
from .document import Document
from .stage import Decision, DocumentStage, Reject
from .text import count_cjk

_DIGITS = re.compile(r"\d")
_WS = re.compile(r"\s+")


class ParagraphDedupConfig(StrictModel):
    """Settings of the paragraph dedup stage (``configs/dedup_paragraphs.yaml``)."""

    min_paragraph_chars: int = Field(
        30, ge=1, description="paragraphs whose normalised evidence_length is below this are never removed"
    )
    min_doc_chars: int = Field(200, ge=0, description="documents shorter than this after removal are dropped")
    order: Literal["crawl_date", "id"] = Field(
        "crawl_date", description="which copy keeps a paragraph: earliest crawl (ties by id) or smallest id"
    )


def split_paragraphs(text: str) -> list[str]:
    return text.split("\n")


def normalize_paragraph(paragraph: str) -> str:
    s = unicodedata.normalize("NFKC", paragraph).lower()
    s = unicodedata.normalize("NFD", s)
    s = "".join(ch for ch in s if not unicodedata.category(ch).startswith(("M", "P", "S", "C")) or ch.isspace())
    s = _DIGITS.sub("0", s)
    return _WS.sub(" ", s).strip()


def paragraph_hash(normalized: str) -> bytes:
    """128-bit hash: at 10^12 distinct paragraphs the chance of any collision stays below 10^-14."""
    return hashlib.blake2b(normalized.encode("utf-8", "surrogatepass"), digest_size=16).digest()


def evidence_length(normalized: str) -> int:
    """The length of a normalised paragraph with every Han or kana character counted twice: a
    Chinese or Japanese character carries about what two letters of a space-delimited language do."""
    return len(normalized) + count_cjk(normalized)


def paragraph_hashes(text: str, min_chars: int = 1) -> list[tuple[int, bytes]]:
    """``(index, hash)`` of every paragraph long enough to be deduplicated."""
    out = []
    for idx, para in enumerate(split_paragraphs(text)):
        norm = normalize_paragraph(para)
        if norm and evidence_length(norm) >= min_chars:
            out.append((idx, paragraph_hash(norm)))
    return out


def remove_paragraphs(text: str, drop: set[int]) -> str:
    """The text without the paragraphs at the ``drop`` indices (as numbered by ``split_paragraphs``)."""
    if not drop:
        return text
    return "\n".join(p for i, p in enumerate(split_paragraphs(text)) if i not in drop).strip()


class ParagraphDedupStage(DocumentStage):
    """Removes the paragraphs the job found to be later copies (``drop_idx``: their indices, None when
    the document has none); a document left shorter than ``min_doc_chars`` is rejected."""

    name = "dedup_paragraphs"
    columns = ("drop_idx",)

    def __init__(self, config: ParagraphDedupConfig):
        super().__init__()
        self.config = config

    def process(self, doc: Document, drop_idx: list[int] | None = None) -> Decision:
        self.counters["paragraphs_in"] += len(split_paragraphs(doc.text))
        if not drop_idx:
            return doc
        self.counters["docs_with_removals"] += 1
        self.counters["paragraphs_removed"] += len(drop_idx)
        doc.annotations["para_dedup.removed"] = float(len(drop_idx))
        text = remove_paragraphs(doc.text, set(drop_idx))
        if len(text) < self.config.min_doc_chars:
            return Reject("too_short_after_dedup")
        doc.text = text
        return doc
