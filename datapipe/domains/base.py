"""What every non-web domain reader shares: the source settings, the reader protocol, decoding, ids,
and language identification in batches.

A reader turns one input file into ``Outcome``s (``datapipe.stage``): a document to keep, or one to
reject with the reason its domain's cleaning dropped it (the rejected document keeps the text as it
was read). What
never became a document (an unreadable file, a record without text, a file over the size limit) is
counted in ``reader.counters`` as ``skip.<reason>``; other counters there are informational
(``license_header_removed``, ``reference_sections_removed``, ...).

Every document gets ``url = "<source name>:<path relative to the data root>[#<item>]"`` (stable
wherever the data root lives) and ``id = document_id(url, sha1 of the item's text as read)``, so
the id does not change when a cleaning rule does, as the WARC payload digest does for web pages.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import zlib
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from fnmatch import fnmatch
from typing import IO, Annotated

from pydantic import Field, field_validator

from datapipe.config import StrictModel
from datapipe.document import DOMAINS, Document, document_id
from datapipe.stage import Outcome

SourceName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]
LangCode = Annotated[str, Field(pattern=r"^[a-z]{2,3}([_-][A-Za-z0-9]+)*$")]

INVALID_JSON = object()
"""What ``Reader.read_json`` returns for a file that is not JSON (``null`` is valid JSON)."""


class SourceBase(StrictModel):
    """Settings every source has; each reader kind adds its own (see its module)."""

    name: SourceName = Field(description="names the source in urls and counters")
    domain: str = Field(description="a domain of datapipe.document.DOMAINS (WebText for curated web-like text such as news transcripts)")
    paths: list[str] = Field(min_length=1, description="files, directories or globs, relative to the data root")
    exclude: list[str] = Field(default_factory=list, description="file names (globs) under the paths that are not read")
    lang: LangCode | None = Field(None, description="the source's known language; None: lid.176 decides per document")
    min_chars: int = Field(20, ge=1, description="shorter cleaned documents are rejected (too_short)")

    @field_validator("domain")
    @classmethod
    def _known_domain(cls, v: str) -> str:
        if v not in DOMAINS:
            raise ValueError(f"unknown domain {v!r}; expected one of {', '.join(DOMAINS)}")
        return v


def source_url(source: str, relpath: str, item: str | None = None) -> str:
    return f"{source}:{relpath}" + (f"#{item}" if item is not None else "")


def source_of(url: str) -> str:
    """The source name of a domain document's url (names have no ``:``)."""
    return url.split(":", 1)[0]


def content_sha1(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()


def decode_text(data: bytes) -> str | None:
    """UTF-8 text (a BOM dropped, line ends normalised to ``\\n``), or None when it is not UTF-8."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None
    return text.replace("\r\n", "\n").replace("\r", "\n")


class Reader(ABC):
    """Base of the readers: file selection, gzip, skip counting and document construction."""

    def __init__(self, source: SourceBase):
        self.source = source
        self.counters: Counter = Counter()

    def accepts(self, relpath: str) -> bool:
        """Whether a listed file is one this source reads (others are ignored and counted by the job):
        not ``exclude``d and, unless the reader says otherwise (``takes``), a name ending with one of the
        source's ``suffixes``."""
        name = relpath.rsplit("/", 1)[-1]
        return not any(fnmatch(name, pattern) for pattern in self.source.exclude) and self.takes(relpath)

    def takes(self, relpath: str) -> bool:
        return relpath.lower().endswith(tuple(s.lower() for s in self.source.suffixes))

    def read(self, stream: IO[bytes], relpath: str, source_file: str) -> Iterator[Outcome]:
        """The outcomes of one file; a file that cannot be read to the end is counted, not raised."""
        if relpath.lower().endswith(".gz"):
            stream = gzip.GzipFile(fileobj=stream, mode="rb")
        try:
            yield from self.documents(stream, relpath, source_file)
        except (OSError, EOFError, zlib.error):
            self.skip("unreadable_file")

    @abstractmethod
    def documents(self, stream: IO[bytes], relpath: str, source_file: str) -> Iterator[Outcome]:
        """The outcomes of one (decompressed) file."""

    def skip(self, reason: str) -> None:
        self.counters[f"skip.{reason}"] += 1

    def read_json(self, stream: IO[bytes]) -> object:
        """The whole file parsed as JSON, or ``INVALID_JSON`` (counted) when it is not JSON."""
        try:
            return json.loads(stream.read())
        except ValueError:
            self.skip("invalid_json")
            return INVALID_JSON

    def read_text(self, stream: IO[bytes]) -> str | None:
        """The whole file as text; None (counted) when it is not UTF-8 or holds only whitespace."""
        text = decode_text(stream.read())
        if text is None:
            self.skip("undecodable")
        elif not text.strip():
            self.skip("empty")
            return None
        return text

    def outcome(
        self,
        raw: str,
        text: str,
        relpath: str,
        source_file: str,
        item: str | None = None,
        *,
        lang: str | None = None,
        reason: str | None = None,
    ) -> Outcome:
        """A document from one item: ``raw`` as read (kept in rejects, hashed into the id), ``text``
        cleaned; rejected with ``reason``, or ``too_short`` when the cleaned text is too short."""
        url = source_url(self.source.name, relpath, item)
        if reason is None and len(text.strip()) < self.source.min_chars:
            reason = "too_short"
        doc = Document(
            id=document_id(url, content_sha1(raw)),
            text=raw if reason else text,
            url=url,
            domain=self.source.domain,
            lang=lang or self.source.lang,
            source_file=source_file,
        )
        return Outcome(doc, reason)


class TextFileReader(Reader):
    """A reader of whole UTF-8 text files: a file that is not UTF-8, or blank, is a counted skip."""

    def documents(self, stream: IO[bytes], relpath: str, source_file: str) -> Iterator[Outcome]:
        raw = self.read_text(stream)
        if raw is not None:
            yield from self.text_documents(raw, relpath, source_file)

    @abstractmethod
    def text_documents(self, raw: str, relpath: str, source_file: str) -> Iterator[Outcome]:
        """The outcomes of one file's text."""


class JsonFileReader(Reader):
    """A reader of whole JSON files: a file that is not JSON is a counted skip."""

    def documents(self, stream: IO[bytes], relpath: str, source_file: str) -> Iterator[Outcome]:
        data = self.read_json(stream)
        if data is not INVALID_JSON:
            yield from self.json_documents(data, relpath, source_file)

    @abstractmethod
    def json_documents(self, data: object, relpath: str, source_file: str) -> Iterator[Outcome]:
        """The outcomes of one file's parsed JSON."""


def assign_languages(
    outcomes: Iterable[Outcome], identify: Callable[[list[str]], list[tuple[str, float]]], batch_size: int
) -> Iterator[Outcome]:
    """Fill ``lang``/``lang_score`` of kept documents whose source has no known language, calling
    ``identify`` (``LanguageIdentifier.predict``) once per ``batch_size`` outcomes; order is kept."""
    pending: list[Outcome] = []
    for o in outcomes:
        pending.append(o)
        if len(pending) >= batch_size:
            yield from _identify(pending, identify)
            pending = []
    yield from _identify(pending, identify)


def _identify(pending: list[Outcome], identify) -> list[Outcome]:
    unknown = [o.doc for o in pending if o.reason is None and o.doc.lang is None]
    if not unknown:
        return pending
    for doc, (lang, score) in zip(unknown, identify([d.text for d in unknown])):
        doc.lang, doc.lang_score = lang, score
    return pending
