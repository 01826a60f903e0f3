"""Robust WARC/ARC reading: every good record is kept, every bad one is counted and skipped.

warcio parses the records. This module adds what a crawl-scale reader needs around it:
- compression is detected from the magic bytes, not the file name (``.gz.bad``, LZ4 files);
- after a malformed record (wrong Content-Length or chunk sizes, corrupt gzip member) the reader
  resynchronises on the next gzip member or ``WARC/`` line, so records after a bad one survive;
- a file gzipped as one stream instead of per record (which warcio refuses) is read as a stream;
- a truncated file keeps every record before the cut.
"""

from __future__ import annotations

import gzip
import io
import logging
import re
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

from warcio.archiveiterator import ArchiveIterator
from warcio.bufferedreaders import DecompressingBufferedReader
from warcio.exceptions import ArchiveLoadFailed

log = logging.getLogger(__name__)

GZIP_MAGIC = b"\x1f\x8b\x08"
LZ4_MAGIC = b"\x04\x22\x4d\x18"
_RECORD_START = re.compile(rb"(?:^|\n)(WARC/1\.[01]\r?\n)")
_SCAN_CHUNK = 1 << 20


@dataclass
class RawRecord:
    """One WARC record, parsed just enough for the extraction decisions."""

    rec_type: str
    url: str | None
    date: str | None
    offset: int
    digest: str | None
    http_status: int | None
    content_type: str | None
    payload: bytes | None
    truncated: bool
    """True when the payload was cut at ``max_payload_bytes`` (or the crawler marked it truncated)."""
    record_id: str | None = None
    """WARC-Record-ID; None for ARC records (warcio's conversion invents a random one)."""


def _clean_target_uri(uri: str | None) -> str | None:
    if not uri:
        return None
    uri = uri.strip()
    if uri.startswith("<") and uri.endswith(">"):  # WARC/1.1 draft wrapped URIs in angle brackets
        uri = uri[1:-1]
    return uri


def _sniff(stream) -> str | None:
    """Compression from the magic bytes; None for an uncompressed file that is neither WARC nor ARC."""
    head = stream.read(64)
    stream.seek(0)
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head.startswith(LZ4_MAGIC):
        return "lz4"
    if head.lstrip().startswith((b"WARC/", b"filedesc://")):
        return "plain"
    return None


def _head(stream, compression: str) -> bytes | None:
    """The first bytes of the file's content (decompressed from its first gzip member), None when that
    member cannot be read; the stream is left at its start."""
    stream.seek(0)
    head = stream.read(1 << 16)
    stream.seek(0)
    if compression == "gzip":
        try:
            head = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(head, 64)
        except zlib.error:
            return None
    return head.lstrip()


def _is_arc(stream, compression: str) -> bool:
    """Whether the archive is ARC (its records come converted to WARC, with invented record ids)."""
    return (_head(stream, compression) or b"").startswith(b"filedesc://")


class CorruptMember(ValueError):
    """A gzip member failed to decompress part-way (a flipped bit, a cut, a CRC mismatch)."""


class _StrictReader(DecompressingBufferedReader):
    """warcio's decompressing reader, except that a member failing raises ``CorruptMember``: warcio prints
    the zlib error and returns no data, which reads as the end of the file and silently loses every record
    after the corrupt one. In a gzip file (``gzip_only``) a member failing in its first block raises too;
    elsewhere that is warcio's test for an uncompressed file. ``members`` counts the members started after
    the first."""

    members = 0
    gzip_only = False
    ended = False
    """Whether the member being read had reached its checked end when warcio closed the reader."""

    def close_decompressor(self):
        self.ended = bool(getattr(self.decompressor, "eof", False))
        super().close_decompressor()

    def read_next_member(self):
        started = super().read_next_member()
        self.members += bool(started)
        return started

    def _decompress(self, data):
        if self.decompressor and data and (self.num_block_read or self.gzip_only):
            try:
                return self.decompressor.decompress(data)
            except zlib.error as exc:
                raise CorruptMember(str(exc)) from exc
        return super()._decompress(data)


def _archive_iterator(stream, compression: str) -> ArchiveIterator:
    it = ArchiveIterator(stream, arc2warc=True)
    it.reader = _StrictReader(it.fh, block_size=it.reader.block_size)  # records are read lazily: not yet used
    it.reader.gzip_only = compression == "gzip"
    return it


def _head_is_archive(stream, compression: str) -> bool | None:
    """Whether the file starts like a WARC or ARC file: None when its first gzip member cannot be read
    (a corrupt first record of an archive, not proof of another kind of file)."""
    head = _head(stream, compression)
    return None if head is None else head.startswith((b"WARC/", b"filedesc://"))


def _first_member_whole(stream) -> bool:
    """Whether the file's first gzip member decompresses to its checked end (a file gzipped as one stream
    does; a damaged first member of a gzip-per-record file does not)."""
    stream.seek(0)
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        while not d.eof:
            chunk = stream.read(_SCAN_CHUNK)
            if not chunk:
                return False
            while chunk and not d.eof:
                d.decompress(chunk, _SCAN_CHUNK)
                chunk = d.unconsumed_tail
        return True
    except zlib.error:
        return False
    finally:
        stream.seek(0)


def _find_next_start(stream, start: int, compression: str) -> int | None:
    """Offset of the next plausible record start at or after ``start``, or None at end of file."""
    pos = start
    overlap = 16
    while True:
        stream.seek(pos)
        chunk = stream.read(_SCAN_CHUNK)
        if not chunk:
            return None
        if compression == "gzip":
            i = chunk.find(GZIP_MAGIC)
            if i >= 0:
                return pos + i
        else:
            m = _RECORD_START.search(chunk)
            if m:
                return pos + m.start(1)
        if len(chunk) < _SCAN_CHUNK:
            return None
        pos += len(chunk) - overlap


class _Reader:
    """Iterates the records of one open archive, resynchronising after errors."""

    def __init__(self, stream, counters: Counter, max_payload_bytes: int, max_resyncs: int, arc: bool = False):
        self.stream = stream
        self.arc = arc
        self.counters = counters
        self.max_payload_bytes = max_payload_bytes
        self.max_resyncs = max_resyncs

    def _record(self, rec) -> RawRecord:
        http = rec.http_headers
        status = None
        ctype = None
        if http is not None and rec.rec_type in ("response", "revisit"):
            try:
                status = int(http.get_statuscode())
            except (TypeError, ValueError):
                status = None
            ctype = http.get_header("Content-Type")
        elif rec.rec_type == "resource":
            ctype = rec.rec_headers.get_header("Content-Type")
        payload = None
        truncated = bool(rec.rec_headers.get_header("WARC-Truncated"))
        if rec.rec_type in ("response", "resource"):
            payload = rec.content_stream().read(self.max_payload_bytes + 1)
            if len(payload) > self.max_payload_bytes:
                payload = payload[: self.max_payload_bytes]
                truncated = True
            elif getattr(rec.raw_stream, "limit", 0) > 0:
                # the block ended before its declared Content-Length (a cut or mis-sized record)
                self.counters["warc.short_block"] += 1
                truncated = True
        return RawRecord(
            rec_type=rec.rec_type,
            url=_clean_target_uri(rec.rec_headers.get_header("WARC-Target-URI")),
            date=rec.rec_headers.get_header("WARC-Date"),
            offset=-1,
            digest=rec.rec_headers.get_header("WARC-Payload-Digest"),
            http_status=status,
            content_type=ctype,
            payload=payload,
            truncated=truncated,
            record_id=None if self.arc else rec.rec_headers.get_header("WARC-Record-ID"),
        )

    def _check_tail(self, end: int) -> None:
        """warcio ends quietly at a cut-off last record; count bytes left after the last good one."""
        self.stream.seek(end)
        if self.stream.read(64 << 10).strip(b"\r\n\x00 "):
            self.counters["warc.truncated_tail"] += 1

    def iter_from(self, base: int, seekable: bool, compression: str) -> Iterator[RawRecord]:
        resyncs = 0
        records = 0
        while True:
            if seekable:
                self.stream.seek(base)
            it = _archive_iterator(self.stream, compression)
            reader = it.reader  # warcio drops its reader when the iteration ends
            last_offset = base
            # A record is yielded once warcio has moved past it: its gzip member then decompressed to the end
            # and passed the CRC check. A record whose member fails, or never reaches its end before an error
            # (a member cut short runs on into the next one's bytes), is dropped, not passed on as data.
            pending: RawRecord | None = None
            pending_member = -1
            try:
                for rec in it:
                    if rec.rec_type is None:  # garbage that happened to parse as headers
                        self.counters["warc.malformed_record"] += 1
                        continue
                    raw = self._record(rec)
                    # warcio knows a record's offset (absolute: it starts from tell()) only once the record is read
                    raw.offset = it.get_record_offset()
                    last_offset = raw.offset
                    if pending is not None:
                        yield pending
                        records += 1
                    pending, pending_member = raw, reader.members
                end = it.get_record_offset() + it.get_record_length()
                if compression == "gzip" and seekable and (_find_next_start(self.stream, end, compression) or 0) > base:
                    # warcio saw the end of the file inside a member: a damaged one (cut short, a garbage block
                    # length) swallowed what follows it, where whole members may still lie. Look for them.
                    raise CorruptMember("gzip members follow where the file seemed to end")
                if pending is not None:
                    yield pending
                    records += 1
                    pending = None
                if seekable and records:
                    self._check_tail(end)
                return
            except Exception as exc:  # warcio, zlib, http-header and chunked-decoding errors alike
                if is_io_error(exc):  # the storage failed, not the data: the caller retries or reports
                    raise
                if (isinstance(exc, ArchiveLoadFailed) and "non-chunked gzip" in str(exc) and compression == "gzip" and base == 0
                        and _first_member_whole(self.stream)):
                    raise _WholeGzip() from exc  # a first member that fails, or one after a resync, is damage
                first = records == 0 and base == 0
                reason = "not_an_archive" if first and seekable and _head_is_archive(self.stream, compression) is False else "malformed_record"
                if isinstance(exc, CorruptMember):
                    self.counters["warc.corrupt_member"] += 1
                self.counters[f"warc.{reason}"] += 1
                log.info("%s at offset %d: %s", reason, last_offset, str(exc).strip()[:200])
                if pending is not None:
                    ended = reader.decompressor.eof if reader.decompressor is not None else reader.ended
                    unverified = compression == "gzip" and reader.members == pending_member and not ended
                    if unverified:  # read whole, but its member never reached a checked end: damaged data
                        self.counters["warc.corrupt_record"] += 1
                    else:
                        yield pending
                        records += 1
                if reason == "not_an_archive":
                    return
            if not seekable or resyncs >= self.max_resyncs:
                self.counters["warc.unreadable_tail"] += 1
                return
            nxt = _find_next_start(self.stream, last_offset + 1, compression)
            if nxt is None:
                if records:
                    self.counters["warc.truncated_tail"] += 1  # the file ends in the damage
                return
            resyncs += 1
            self.counters["warc.resync"] += 1
            base = nxt


def is_io_error(exc: BaseException) -> bool:
    """Whether reading failed in the storage (a reset connection, a vanished file) rather than in the
    bytes read: an ``OSError`` other than gzip's own ``BadGzipFile``."""
    return isinstance(exc, OSError) and not isinstance(exc, gzip.BadGzipFile)


class _WholeGzip(Exception):
    """The file is one gzip stream holding many records; read it through a decompressing stream."""


def iter_records(
    stream, counters: Counter, *, max_payload_bytes: int = 5 << 20, max_resyncs: int = 1000
) -> Iterator[RawRecord]:
    """Yield the records of an open binary archive stream (WARC or ARC, plain, gzip or LZ4).

    Problems of the data are counted in ``counters`` as ``warc.<event>`` (``malformed_record``, ``resync``,
    ``unreadable_tail``, ``not_an_archive``, ``whole_file_gzip``) and never raised, so one bad file or record
    cannot fail a task; errors of the storage (``is_io_error``) are raised, so that they are not taken for
    the end of the file.
    """
    seekable = stream.seekable()
    compression = _sniff(stream) if seekable else "plain"
    if compression is None:
        counters["warc.not_an_archive"] += 1
        return
    arc = compression in ("gzip", "plain") and _is_arc(stream, compression)
    reader = _Reader(stream, counters, max_payload_bytes, max_resyncs, arc)
    seen = 0
    try:
        if compression == "lz4":
            import lz4.frame

            inner = lz4.frame.open(stream, "rb")
            for rec in _Reader(inner, counters, max_payload_bytes, 0).iter_from(0, False, "plain"):
                seen += 1
                yield rec
            return
        for rec in reader.iter_from(0, seekable, compression):
            seen += 1
            yield rec
    except _WholeGzip:
        # Records before the point where warcio noticed were already yielded; skip them again.
        stream.seek(0)
        inner = gzip.GzipFile(fileobj=stream, mode="rb")
        counters["warc.whole_file_gzip"] += 1
        skipped = 0
        for rec in _Reader(inner, counters, max_payload_bytes, 0, arc).iter_from(0, False, "plain"):
            if skipped < seen:
                skipped += 1
                continue
            yield rec


def open_archive(path: str) -> io.BufferedReader:
    """Open a local archive for reading (the job layer resolves remote URIs)."""
    return open(path, "rb", buffering=1 << 20)


def write_html_warc(path: str, pages: list[tuple[str, bytes]], date: str = "2024-01-01T00:00:00Z") -> None:
    """Write ``(url, html_bytes)`` pages as HTTP 200 responses, gzipped per record (the Common Crawl
    layout), atomically. Used to pack evaluation pages for tests and benchmarks."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    from .io import atomic_file

    with atomic_file(path) as out:
        writer = WARCWriter(out, gzip=True)
        for url, html in pages:
            http = StatusAndHeaders("200 OK", [("Content-Type", "text/html"), ("Content-Length", str(len(html)))], protocol="HTTP/1.1")
            rec = writer.create_warc_record(url, "response", payload=io.BytesIO(html), http_headers=http, warc_headers_dict={"WARC-Date": date})
            writer.write_record(rec)
