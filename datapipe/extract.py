"""From WARC records to documents: response selection, charset decoding, main-text extraction, language ID.

Pure Python; ``ExtractStage`` (run by ``jobs/extract.py``) reads every input file through
``Extractor.documents_from_archive``. Every record counts in ``docs_in``; one that does not become a
document increments exactly one ``drop.<reason>`` counter (the documents out are counted by the stage).
"""

from __future__ import annotations

import codecs
import hashlib
import re
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

from pydantic import Field, field_validator, model_validator

from . import io
from .config import StrictModel
from .document import DOMAINS, Document, document_id, web_document_id
from .langid import LanguageIdentifier
from .stage import Outcome, SourceStage
from .trafilatura_accel import accelerated
from .warc import RawRecord, is_io_error, iter_records


class ExtractConfig(StrictModel):
    """Settings of the extract stage (``configs/extract.yaml``)."""

    favor_precision: bool = True
    favor_recall: bool = False
    include_comments: bool = False
    include_tables: bool = True
    fast: bool = Field(False, description="skip trafilatura's fallback extractors (faster, lower recall)")
    accelerate: bool = Field(
        True,
        description="trafilatura's pruning XPaths evaluated in Python and its parse with C-level element classes "
        "(datapipe.trafilatura_accel): the same output, faster",
    )
    fallback_below_chars: int | None = Field(
        2000,
        ge=0,
        description="compare trafilatura's extraction with its fallbacks (readability, justext) only when it is doubtful: "
        "shorter than this, without paragraph text, table-dominated, or with elements that call for justext; "
        "null: on every page, as trafilatura does",
    )
    timeout_seconds: float = Field(5.0, gt=0, description="wall-clock limit per page for extraction")
    max_payload_bytes: int = Field(5 << 20, gt=0, description="payloads are cut at this size (CC cuts at 1 MiB)")
    min_text_chars: int = Field(1, ge=1, description="shorter extractions are dropped as empty")
    html_content_types: list[str] = ["text/html", "application/xhtml+xml"]
    langid_max_chars: int = Field(2000, gt=0)
    langid_batch_size: int = Field(256, gt=0)
    domain: str = "WebText"
    open_attempts: int = Field(3, ge=1, description="tries to open an input file (1 s, 2 s, ... apart) before it counts as unreadable")
    on_read_error: Literal["fail", "skip"] = Field(
        "fail",
        description="an input file that cannot be opened or read to its end: fail the task (Spark retries it, then fails "
        "the job naming the file), or keep what was read and list the file in the rejects (extract:unreadable_file)",
    )

    @field_validator("domain")
    @classmethod
    def _known_domain(cls, v: str) -> str:
        if v not in DOMAINS:
            raise ValueError(f"unknown domain {v!r}; expected one of {', '.join(DOMAINS)}")
        return v

    @model_validator(mode="after")
    def _one_bias(self) -> "ExtractConfig":
        if self.favor_precision and self.favor_recall:
            raise ValueError("favor_precision and favor_recall are mutually exclusive")
        return self


# --- charset -------------------------------------------------------------------------------------

_META_CHARSET = re.compile(rb"""<meta[^>]{0,200}?charset\s*=\s*["']?\s*([A-Za-z0-9_\-:.]{2,40})""", re.I)
_HTTP_CHARSET = re.compile(r"charset\s*=\s*[\"']?\s*([A-Za-z0-9_\-:.]{2,40})", re.I)
# What browsers really decode a declared label as (WHATWG Encoding Standard): the declared legacy
# charsets are subsets of these, and pages labelled with them routinely contain the superset's bytes.
_WHATWG_SUPERSET = {
    "latin-1": "cp1252",
    "iso8859-1": "cp1252",
    "ascii": "cp1252",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "shift_jis": "cp932",
    "euc_kr": "cp949",
    "tis-620": "cp874",
    "iso8859-9": "cp1254",
    "iso8859-11": "cp874",
    "big5": "big5hkscs",
}
_MAX_REPLACEMENT_SHARE = 0.001


def _codec(label: str | None) -> str | None:
    if not label:
        return None
    try:
        name = codecs.lookup(label.strip().strip("\"'").lower()).name
    except LookupError:
        return None
    return _WHATWG_SUPERSET.get(name, name)


def http_charset(content_type: str | None) -> str | None:
    m = _HTTP_CHARSET.search(content_type or "")
    return m.group(1) if m else None


def decode_html(payload: bytes, declared: str | None = None) -> tuple[str, str] | None:
    """Decode an HTML payload: BOM, then the HTTP charset, the meta charset, UTF-8, then detection.

    Returns ``(text, codec)`` or None when no candidate decodes the bytes cleanly.
    """
    if payload.startswith(codecs.BOM_UTF8):
        return payload[3:].decode("utf-8", "replace"), "utf-8"
    if payload.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return payload.decode("utf-16", "replace"), "utf-16"
    meta = _META_CHARSET.search(payload[:8192])
    candidates = [_codec(declared), _codec(meta.group(1).decode("ascii") if meta else None), "utf-8"]
    tried = []
    for enc in candidates:
        if enc and enc not in tried:
            tried.append(enc)
            try:
                return payload.decode(enc), enc
            except (UnicodeDecodeError, LookupError):
                pass
    # A UTF-8 page with a few stray bytes is still a UTF-8 page.
    text = payload.decode("utf-8", "replace")
    if text.count("\ufffd") <= _MAX_REPLACEMENT_SHARE * len(text):
        return text, "utf-8"
    from charset_normalizer import from_bytes

    best = from_bytes(payload[: 1 << 20]).best()
    if best is not None and best.encoding:
        enc = _codec(best.encoding) or best.encoding
        text = payload.decode(enc, "replace")
        if text.count("\ufffd") <= _MAX_REPLACEMENT_SHARE * len(text):
            return text, enc
    return None


# --- extraction ----------------------------------------------------------------------------------


class ExtractionTimeout(Exception):
    pass


def _raise_timeout(signum, frame):
    raise ExtractionTimeout()


@contextmanager
def time_limit(seconds: float):
    """Raise ExtractionTimeout after ``seconds`` of wall time (SIGALRM; main thread only, where Spark's
    Python workers run tasks). Elsewhere it is a no-op, which the caller can see from ``enforced``."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield False
        return
    previous = signal.signal(signal.SIGALRM, _raise_timeout)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield True
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def trafilatura_settings(config: ExtractConfig) -> dict:
    """The keyword arguments of ``trafilatura.extract`` for the stage's config (plain text, paragraphs
    separated by newlines); the extraction benchmark's bare loop uses the same."""
    return dict(
        favor_precision=config.favor_precision,
        favor_recall=config.favor_recall,
        include_comments=config.include_comments,
        include_tables=config.include_tables,
        no_fallback=config.fast,
        deduplicate=False,
        with_metadata=False,
        output_format="txt",
    )


def extract_main_text(html: str, url: str | None, config: ExtractConfig) -> str | None:
    """trafilatura with the stage's settings, accelerated as configured, within the per-page time limit
    (``ExtractionTimeout``). The limit is the inner block: an alarm never interrupts the swap back."""
    import trafilatura

    with accelerated(config.accelerate, config.fallback_below_chars), time_limit(config.timeout_seconds):
        return trafilatura.extract(html, url=url, **trafilatura_settings(config))


_HTML_SNIFF = re.compile(rb"^\s*(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html|head|body)", re.I | re.S)


class Extractor:
    """Turns the records of archives into documents, counting why the others were skipped."""

    def __init__(self, config: ExtractConfig | None = None, counters: Counter | None = None):
        self.config = config or ExtractConfig()
        self.counters: Counter = Counter() if counters is None else counters
        self.langid = LanguageIdentifier(max_chars=self.config.langid_max_chars)

    def _drop(self, reason: str) -> None:
        self.counters[f"drop.{reason}"] += 1

    def _is_html(self, rec: RawRecord) -> bool:
        ctype = (rec.content_type or "").split(";")[0].strip().lower()
        if ctype:
            return ctype in self.config.html_content_types
        return bool(rec.payload and _HTML_SNIFF.match(rec.payload[:2048]))

    def document_from_record(self, rec: RawRecord, source_file: str) -> Document | None:
        """The document of one record, or None with the reason counted; language is set later in batches."""
        self.counters["docs_in"] += 1  # for this stage the unit in is a WARC record
        self.counters[f"records.{rec.rec_type}"] += 1
        if rec.rec_type != "response":
            self._drop("not_response")
            return None
        if rec.http_status != 200:
            self._drop("http_status")
            return None
        if not self._is_html(rec):
            self._drop("not_html")
            return None
        if not rec.payload or not rec.payload.strip():
            self._drop("empty_payload")
            return None
        if not rec.url:
            self._drop("missing_url")
            return None
        if rec.truncated:
            self.counters["truncated_payload"] += 1  # kept: a cut page still has its main text
        decoded = decode_html(rec.payload, http_charset(rec.content_type))
        if decoded is None:
            self._drop("undecodable")
            return None
        html, _ = decoded
        try:
            text = extract_main_text(html, rec.url, self.config)
        except ExtractionTimeout:
            self._drop("extraction_timeout")
            return None
        except Exception:  # lxml/trafilatura failures on hostile markup
            self._drop("extraction_error")
            return None
        if not text or len(text.strip()) < self.config.min_text_chars:
            self._drop("empty_extraction")
            return None
        digest = rec.digest or "sha1:" + hashlib.sha1(rec.payload).hexdigest()
        return Document(
            id=web_document_id(rec.record_id, rec.url, digest, rec.date, source_file.rsplit("/", 1)[-1], rec.offset),
            text=text.strip(),
            url=rec.url,
            domain=self.config.domain,
            source_file=source_file,
            source_offset=rec.offset,
            crawl_date=rec.date,
        )

    def _identify(self, docs: list[Document]) -> list[Document]:
        for doc, (lang, score) in zip(docs, self.langid.predict([d.text for d in docs])):
            doc.lang, doc.lang_score = lang, round(score, 4)
        return docs

    def documents_from_archive(self, stream, source_file: str) -> Iterator[Document]:
        """All documents of one open archive stream, in file order."""
        self.counters["files"] += 1
        batch: list[Document] = []
        for rec in iter_records(stream, self.counters, max_payload_bytes=self.config.max_payload_bytes):
            self.counters["bytes_in"] += len(rec.payload or b"")
            doc = self.document_from_record(rec, source_file)
            if doc is not None:
                batch.append(doc)
                if len(batch) >= self.config.langid_batch_size:
                    yield from self._identify(batch)
                    batch = []
        if batch:
            yield from self._identify(batch)


UNREADABLE_FILE = "extract:unreadable_file"


class ReadError(OSError):
    """An input file could not be opened or read to its end."""


class ExtractStage(SourceStage):
    """WARC/ARC files (rows with their ``path``) to documents, the records counted by ``Extractor``.

    Opening a file is tried ``open_attempts`` times. A storage error that persists, or one in the middle
    of a file, is raised as ``ReadError`` naming the file (``on_read_error: fail``: the task fails and
    Spark retries it, so a transient error loses nothing), or (``skip``) the documents read before it are
    kept and the file becomes a reject row (``extract:unreadable_file``, the error in its detail, the
    file in ``url`` and ``source_file``), counted in ``warc.unreadable_file``: never a silent loss."""

    name = "extract"
    backoff = staticmethod(time.sleep)
    """Waits ``attempt`` seconds between tries to open a file."""

    def __init__(self, config: ExtractConfig):
        super().__init__()
        self.config = config

    def setup(self) -> None:
        self.extractor = Extractor(self.config, self.counters)

    def _open(self, path: str):
        for attempt in range(1, self.config.open_attempts + 1):
            try:
                return io.open_input(path)
            except OSError:
                if attempt == self.config.open_attempts:
                    raise
                self.counters["warc.open_retries"] += 1
                self.backoff(attempt)

    def read(self, row: dict) -> Iterator[Outcome]:
        path = row["path"]
        done = 0
        try:
            with self._open(path) as stream:
                for doc in self.extractor.documents_from_archive(stream, path):
                    yield Outcome(doc)
                    done += 1
        except Exception as exc:
            if not is_io_error(exc):
                raise
            error = f"{type(exc).__name__}: {exc}".strip()[:500]
            where = f" after {done} documents" if done else ""
            if self.config.on_read_error == "fail":
                raise ReadError(f"{path}: unreadable{where}: {error}") from exc
            self.counters["warc.unreadable_file"] += 1
            listed = Document(id=document_id("unreadable-file", path), text="", url=path, domain=self.config.domain, source_file=path)
            yield Outcome(listed, UNREADABLE_FILE, f"{error}{where}")
