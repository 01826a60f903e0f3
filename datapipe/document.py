"""The one document schema shared by every stage.

A document is a small record (as in datatrove). Between stages it is stored as a Parquet row with
exactly the columns of ``DOCUMENT_SCHEMA``; Spark's schema is derived from the Arrow one
(``jobs.runner.spark_schema``), so the columns are defined here and nowhere else.

``annotations`` is where later stages add what they measure (quality score, lines removed, ...):
a map of name -> float, so a new annotation never changes the file schema.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import pyarrow as pa

DOMAINS = (
    "WebText",
    "Code",
    "Book",
    "WorldKnowledge",
    "QA",
    "AcademicPaper",
    "Profession-Law",
    "Profession-Medical",
    "Profession-Patent",
    "Profession-Math",
    "ClassicalChinese",
)
"""Data domains of the Tele-FLM report's Table 1 (``Profession-*`` spelled out)."""

DOCUMENT_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("url", pa.string()),
        pa.field("domain", pa.string(), nullable=False),
        pa.field("lang", pa.string()),
        pa.field("lang_score", pa.float64()),
        pa.field("text", pa.string(), nullable=False),
        pa.field("source_file", pa.string()),
        pa.field("source_offset", pa.int64()),
        pa.field("crawl_date", pa.string()),
        pa.field("annotations", pa.map_(pa.string(), pa.float64())),
    ]
)
"""Columns of every stage's document output, in order."""

REJECT_SCHEMA = pa.schema(
    list(DOCUMENT_SCHEMA)
    + [
        pa.field("reject_stage", pa.string(), nullable=False),
        pa.field("reject_reason", pa.string(), nullable=False),
        pa.field("reject_detail", pa.string()),
    ]
)
"""A dropped document keeps all its columns plus which stage dropped it, why, and optionally a detail
(e.g. the id of the document it duplicates)."""


def document_id(*parts: str) -> str:
    """A stable 24-hex-digit id from the parts that identify one document (SHA-1 of them, one per line)."""
    return hashlib.sha1("\n".join(parts).encode("utf-8", "surrogatepass")).hexdigest()[:24]


def web_document_id(record_id: str | None, url: str, digest: str, date: str | None, file_name: str, offset: int) -> str:
    """The id of a web page: one per WARC record, so two captures of the same unchanged page (a re-crawl)
    are two documents, which the dedup stages resolve to one. From the record's WARC-Record-ID (globally
    unique by the WARC standard); a record without one (ARC) by URL, payload digest, capture date and
    its place (file name and offset)."""
    if record_id:
        return document_id("warc-record", record_id)
    return document_id(url, digest, date or "", file_name, str(offset))


@dataclass
class Document:
    """One document as the pure-Python transforms see it; ``to_row``/``from_row`` map it to the schema."""

    id: str
    text: str
    url: str | None = None
    domain: str = "WebText"
    lang: str | None = None
    lang_score: float | None = None
    source_file: str | None = None
    source_offset: int | None = None
    crawl_date: str | None = None
    annotations: dict[str, float] = field(default_factory=dict)

    def to_row(self) -> dict:
        return {
            "id": self.id,
            "url": self.url,
            "domain": self.domain,
            "lang": self.lang,
            "lang_score": self.lang_score,
            "text": self.text,
            "source_file": self.source_file,
            "source_offset": self.source_offset,
            "crawl_date": self.crawl_date,
            "annotations": sorted(self.annotations.items()),
        }

    @classmethod
    def from_row(cls, row: dict) -> "Document":
        ann = row.get("annotations") or {}
        if not isinstance(ann, dict):  # Arrow returns maps as lists of (key, value) pairs
            ann = dict(ann)
        return cls(
            id=row["id"],
            text=row["text"],
            url=row.get("url"),
            domain=row.get("domain") or "WebText",
            lang=row.get("lang"),
            lang_score=row.get("lang_score"),
            source_file=row.get("source_file"),
            source_offset=row.get("source_offset"),
            crawl_date=row.get("crawl_date"),
            annotations=ann,
        )
