"""Robust WARC/ARC reading: every intact record is kept, every damaged one is counted and skipped.

- Compression is detected from the magic bytes, not the file name (``.gz.bad``, LZ4 files).
- A gzip file is decompressed member by member (ISA-L's inflate). A member's records are passed on once it
  has decompressed to its end and passed its trailer's CRC and length checks, so a damaged member (flipped
  bits, cut short, replaced by garbage) costs only its own records and never passes as data.
- After damage the reader looks for the next gzip header from just after the damaged member's start, and
  trusts a candidate only once it has decompressed whole, starting with a record: gzip-looking bytes in
  garbage cannot hide the real next member.
- Records are framed by their Content-Length and read as warcio reads them (plain ASCII headers here, the
  rest by warcio's parser). A record followed by garbage was framed wrongly (a bad Content-Length): it is
  dropped and the reader resynchronises on the next ``WARC/`` (or ARC header) line.
- A file gzipped as one stream is read as it decompresses, and keeps the records before any damage: as its
  CRC is checked only at its end, each record must match its block digest before it is passed on.
- A truncated file keeps every record before the cut.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import logging
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

from isal import isal_zlib
from warcio.bufferedreaders import BufferedReader
from warcio.recordloader import ArcWarcRecordLoader

log = logging.getLogger(__name__)

GZIP_MAGIC = b"\x1f\x8b\x08"
LZ4_MAGIC = b"\x04\x22\x4d\x18"
_CHUNK = 1 << 20
"""Bytes read from the stream at a time."""
_PIECE = 1 << 16
"""Compressed bytes fed to zlib at a time: bounds the copy zlib makes of the input left after a member."""
_MAX_HEADER = 1 << 16
"""A record header longer than this is garbage."""
_BIG_BLOCK = 64 << 20
"""A longer record block is not held whole: its payload is read from its start and the rest skipped."""
_PADDING = b"\r\n\t \x00"
_LEADING = re.compile(rb"[\r\n\t \x00]*")
_HEADER_END = re.compile(rb"\n[\r\t \x0b\x0c]*\n")
_CONTENT_LENGTH = re.compile(rb"\ncontent-length[ \t]*:[ \t]*(\d+)", re.IGNORECASE)
_ODD = re.compile(rb"[^\t\n\r\x20-\x7e]")
"""A byte that warcio's header parser may read otherwise than plain ASCII."""
_WARC_VERSIONS = ("WARC/1.1", "WARC/1.0", "WARC/0.17", "WARC/0.18")
_ARC_LINE = re.compile(rb"[a-z][a-z0-9+.-]*:[^\n]* \S+ \d{8,} \S+ (\S+)\r?\n", re.IGNORECASE)
_WARC_START = re.compile(rb"(?:^|\n)(WARC/\d\.\d+\r?\n)")
_ARC_START = re.compile(rb"(?:^|\n)([a-z][a-z0-9+.-]*:[^\n]* \S+ \d{8,} \S+ \S+\r?\n)", re.IGNORECASE)


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


def is_io_error(exc: BaseException) -> bool:
    """Whether reading failed in the storage (a reset connection, a vanished file) rather than in the
    bytes read: an ``OSError`` other than gzip's own ``BadGzipFile``."""
    return isinstance(exc, OSError) and not isinstance(exc, gzip.BadGzipFile)


class _Input:
    """The archive's bytes by offset, read in chunks. A stream that cannot seek only goes forward: offsets
    before its buffer are out of reach (``reachable``)."""

    def __init__(self, stream):
        self.stream = stream
        self.seekable = stream.seekable()
        if self.seekable:
            stream.seek(0)
        self.buf = b""
        self.off = 0

    def reachable(self, pos: int) -> int:
        return pos if self.seekable else max(pos, self.off)

    def view(self, pos: int, want: int = 1) -> memoryview:
        """The bytes from ``pos`` on that are at hand, at least ``want`` of them unless the file ends first."""
        i = pos - self.off
        if not 0 <= i <= len(self.buf):
            self.stream.seek(pos)
            self.buf, self.off, i = b"", pos, 0
        while len(self.buf) - i < want:
            chunk = self.stream.read(_CHUNK)
            if not chunk:
                break
            self.buf = self.buf[i:] + chunk if i < len(self.buf) else chunk
            self.off, i = pos, 0
        return memoryview(self.buf)[i:]

    def find(self, magic: bytes, pos: int) -> int | None:
        while True:
            if len(self.view(pos, len(magic))) < len(magic):
                return None
            i = self.buf.find(magic, pos - self.off)
            if i >= 0:
                return self.off + i
            pos = self.off + len(self.buf) - len(magic) + 1

    def skip_padding(self, pos: int) -> int:
        """The first offset from ``pos`` on that is not padding (blank lines, NUL bytes)."""
        while True:
            piece = self.view(pos)[:_PIECE].tobytes()
            skipped = len(piece) - len(piece.lstrip(_PADDING))
            pos += skipped
            if skipped < len(piece) or not piece:
                return pos

    def chunks(self, pos: int) -> Iterator[bytes]:
        """The bytes from ``pos`` to the end of the file (the end of this input's use)."""
        view = self.view(pos)
        if view:
            yield self.buf if pos == self.off else view.tobytes()
        while chunk := self.stream.read(_CHUNK):
            yield chunk


_MORE, _END, _BAD, _RECORD = range(4)
_HOLD_LIMIT = 64 << 20
"""Payload bytes of a gzip member's records that may wait for its CRC once its data looks damaged."""
_WARCIO = object()
"""``fast_record``'s answer where warcio's parser must read the record."""
_DECODERS = frozenset(BufferedReader.get_supported_decompressors())
"""The Content-Encodings that warcio's ``content_stream`` decodes."""


def _digest_matches(digest: str, block) -> bool | None:
    """Whether a WARC digest (``algorithm:value``, the value in base 32, 16 or 64) is that of ``block``; None
    when it cannot be told (an unknown algorithm, a value that does not decode)."""
    algorithm, _, value = digest.partition(":")
    try:
        expected = hashlib.new(algorithm.strip().lower().replace("-", ""))
    except ValueError:
        return None
    expected.update(block)
    expected = expected.digest()
    value = value.strip().rstrip("=")
    try:
        if len(value) == 2 * len(expected):
            got = bytes.fromhex(value)
        elif len(value) == -(-8 * len(expected) // 5):
            got = base64.b32decode(value.upper() + "=" * (-len(value) % 8))
        else:
            got = base64.urlsafe_b64decode(value.replace("+", "-").replace("/", "_") + "=" * (-len(value) % 4))
    except ValueError:
        return None
    return got == expected if len(got) == len(expected) else None


def _fields(text: str) -> tuple[str, dict[str, str]]:
    """The first line and the fields of a header block, as warcio's parser reads them (names folded to lower
    case, the first of repeated names kept, continuation lines appended)."""
    lines = text.split("\n")
    fields: dict[str, str] = {}
    i = 1
    while i < len(lines):
        name, colon, value = lines[i].rstrip().partition(":")
        i += 1
        while i < len(lines) and lines[i].startswith((" ", "\t")):
            value += lines[i].rstrip()
            i += 1
        if colon:
            fields.setdefault(name.rstrip(" \t").lower(), value.lstrip())
    return lines[0].rstrip(), fields


class _Parser:
    """Cuts uncompressed archive bytes, fed in pieces, into records.

    A record is released (``out``) once it is confirmed: followed by the start of another record, or by the
    end of the data (``finish``: the end of a gzip member that passed its checks, or of the file). One
    followed by garbage was framed wrongly: it is dropped, and the parser resynchronises on the next record
    start line. In a gzip member, whose CRC is checked only at its end, a record confirmed by the next one
    must also match its block digest, and once the data shows garbage the rest waits for the CRC
    (``unchecked``). Offsets of records are ``base`` plus their offset in the data.
    """

    def __init__(self, reader: _Reader, base: int, candidate: bool = False, checked_at_end: bool = False):
        self.r = reader
        self.base = base
        self.candidate = candidate
        """Give up at once when the data does not start with a record (a resync candidate)."""
        self.checked_at_end = checked_at_end
        """The data is checked once all of it has come (a gzip member's CRC)."""
        self.unchecked: list[RawRecord] | None = [] if candidate else None
        """Confirmed records that wait for the data's checks (``finish``): those of a resync candidate, and all
        of a gzip member once it showed garbage."""
        self.events = Counter()
        """Kept apart until the data starts with a record: a resync candidate or a gzip file holding no archive
        counts nothing (``_Reader`` merges them)."""
        self.data = b""
        self.bio = io.BytesIO()
        self.start = 0  # offset of data[0] in the stream
        self.parts: list[bytes] = []  # fed, not yet joined to data
        self.size = 0  # len(data) + the bytes in parts
        self.pos = 0  # where parsing goes on, in data
        self.need = 0  # parse again once the stream has this many bytes
        self.skip = 0  # bytes of an oversized block still to drop
        self.pending: RawRecord | None = None
        self.pending_at = -1  # its offset in the stream; -1 when its bytes are gone
        self.after_block = False  # at the end of a block, where warcio tolerates one stray line
        self.misframed = False  # the pending record's block is not followed by a blank line
        self.scanning = False  # looking for the next record start after a malformed one
        self.started: bool | None = None  # whether the data starts with a record, once known
        self.gave_up = False
        """Stopped: the resync budget is spent, or the data is rejected."""
        self.rejected = False
        """The data is not to be trusted: a resync candidate not starting with a record, or a gzip member whose
        records failed their digests and that holds back too much to wait for its CRC."""
        self.held = 0  # payload bytes in unchecked
        self.check: tuple[int, int, str] | None = None  # the pending record's block (stream offsets) and digest
        self.records = 0
        self.out: list[RawRecord] = []

    def feed(self, piece: bytes) -> None:
        if self.skip:
            dropped = min(self.skip, len(piece))
            self.skip -= dropped
            self.start += dropped
            piece = piece[dropped:]
        if piece:
            self.parts.append(piece)
            self.size += len(piece)
        if self.start + self.size >= self.need and not self.gave_up:
            self._advance(False)

    def finish(self) -> None:
        """The data ended where it should and passed its checks: the last record is confirmed, those that
        waited for the checks are released."""
        if self.skip:  # the data ended inside an oversized block
            self.events["warc.short_block"] += 1
            self.skip = 0
        self._advance(True)
        if self.unchecked and not self.rejected:
            self.out += self.unchecked
        self.unchecked = None

    def abort(self) -> None:
        """The data ended in damage: what it confirmed is kept, the record in reading is dropped."""
        if not self.gave_up and not self.skip:
            self._advance(False)
        dropped = len(self.unchecked or ()) + (self.pending is not None)
        if dropped:
            self.events["warc.corrupt_record"] += dropped
        self.pending = self.unchecked = None

    def _join(self) -> None:
        if not self.parts:
            return
        cut = self.pos
        if self.pending is not None and self.pending_at >= self.start:
            cut = min(cut, self.pending_at - self.start)  # kept to look inside it again should it be framed wrongly
        if cut < len(self.data):
            self.parts.insert(0, self.data[cut:])
        self.data = b"".join(self.parts)
        self.parts = []
        self.start += cut
        self.pos -= cut
        self.size = len(self.data)
        self.bio = io.BytesIO(self.data)

    def _confirm(self) -> None:
        if self.pending is None:
            return
        if self.unchecked is None:
            self.out.append(self.pending)
        else:
            self.unchecked.append(self.pending)
            self.held += len(self.pending.payload or b"")
            if self.held > _HOLD_LIMIT and not self.candidate:
                self.gave_up = self.rejected = True
        self.pending = None

    def _confirm_by_next(self) -> None:
        """Confirm the pending record: the next record starts where it ends. In a gzip member that is still
        unchecked, its block digest (when it has one) must hold too: damage that zlib does not notice at once
        may decode to plausible records (copies of earlier ones) until the CRC at the member's end fails."""
        if self.checked_at_end and self.unchecked is None and self.check is not None:
            block_start, block_end, digest = self.check
            if block_start >= self.start and _digest_matches(digest, memoryview(self.data)[block_start - self.start:block_end - self.start]) is False:
                self.unchecked = []  # (a writer's wrong digests would only hold the records back until the CRC)
        self._confirm()

    def _is_start(self, pos: int) -> bool:
        data = self.data
        return data.startswith(b"WARC/", pos) or (self.r.fmt != "warc" and _ARC_LINE.match(data, pos, pos + _MAX_HEADER) is not None)

    def _advance(self, final: bool) -> None:
        self._join()
        data, n = self.data, len(self.data)
        while not self.gave_up:
            if self.scanning:
                m = (_ARC_START if self.r.fmt == "arc" else _WARC_START).search(data, self.pos)
                if m is None:
                    self.pos = n if final else max(self.pos, n - 64)
                    self.need = self.start + n + 1
                    return
                self.pos, self.scanning = m.start(1), False
            if self.after_block:
                pos = self.pos
                if pos == n and not final:
                    self.need = self.start + n + 1
                    return
                if pos < n and data[pos] not in _PADDING:  # no blank line after the block
                    if not self._is_start(pos):  # warcio reads the first line after a block as its end
                        nl = data.find(b"\n", pos)
                        if nl < 0 and not final:
                            self.need = self.start + n + 1
                            return
                        self.pos = n if nl < 0 else nl + 1
                    self.misframed = True
                    if self.r.fmt == "warc":  # WARC blocks end in a blank line: the Content-Length is off
                        self.events["warc.malformed_record"] += 1
                self.after_block = False
            self.pos = _LEADING.match(data, self.pos).end()
            if self.pending is not None and self._is_start(self.pos):
                self._confirm_by_next()
            kind, *rest = self._parse(self.pos, final)
            if kind == _MORE:
                self.need = rest[0]
                return
            if kind == _END:
                self._confirm()
                self.pos = n
                return
            if kind == _BAD:
                if self._malformed():
                    continue
                return
            raw, at, end, self.check = rest
            self.misframed = False
            self.records += 1
            if self.started is None:
                self.started = True
                if not self.candidate:
                    self.r.counters.update(self.events)
                    self.events = self.r.counters
            if raw is None:  # a header block without a record type
                self.events["warc.malformed_record"] += 1
            else:
                self.pending, self.pending_at = raw, self.start + at
            self.pos, self.after_block = end, True
            if self.skip:  # an oversized block: its payload is read, the rest of it is dropped as it comes
                self.start += n
                self.data, self.bio, self.pos, self.size, self.pending_at, self.check = b"", io.BytesIO(), 0, 0, -1, None
                return

    def _malformed(self) -> bool:
        """Count a malformed record and resynchronise; False when the parser gives up."""
        if self.started is None:
            self.started = False
            if self.candidate:
                self.gave_up = self.rejected = True
                return False
        frm = self.pos + 1
        if self.pending is not None and self.misframed:
            # framed wrongly, and followed by garbage: dropped; its bytes may hold the next record's start
            if self.r.fmt != "warc":  # (a WARC one was counted when its block ended without a blank line)
                self.events["warc.malformed_record"] += 1
            if self.pending_at >= self.start:
                frm = self.pending_at - self.start + 1
            self.pending = None
        else:
            self.events["warc.malformed_record"] += 1
            if self.checked_at_end and self.unchecked is None:
                self.unchecked = []  # garbage in a gzip member: its records wait for the member's checks
            self._confirm()  # its block ended in a blank line: only what follows is bad
        if self.r.resyncs >= self.r.max_resyncs:
            self.r.counters["warc.unreadable_tail"] += 1
            self.gave_up = True
            return False
        self.r.resyncs += 1
        self.events["warc.resync"] += 1
        self.pos, self.scanning, self.after_block = frm, True, False
        return True

    def _parse(self, pos: int, final: bool) -> tuple:
        """``(_RECORD, raw, at, end, check)`` for the record at ``pos`` (raw None for one without a type; check:
        its block and block digest, see ``_confirm_by_next``), ``(_MORE, stream offset to wait for)``, ``(_END,)``
        at the end of the data, ``(_BAD,)``."""
        data, n = self.data, len(self.data)
        pos = _LEADING.match(data, pos).end()
        if pos == n:
            return (_END,) if final else (_MORE, self.start + n + 1)
        warc = data.startswith(b"WARC/", pos)
        arc = None if warc or self.r.fmt == "warc" else _ARC_LINE.match(data, pos, pos + _MAX_HEADER)
        fields = None
        if warc:
            m = _HEADER_END.search(data, pos, pos + _MAX_HEADER)
            if m is None:
                return (_MORE, self.start + n + 1) if not final and n - pos < _MAX_HEADER else (_BAD,)
            block = m.end()
            if _ODD.search(data, pos, m.start()) is None:  # plain ASCII headers: read here, as warcio would
                first, fields = _fields(data[pos:m.start()].decode("ascii"))
                length = fields.get("content-length")
                if not first.upper().startswith(_WARC_VERSIONS) or length is None:
                    return (_BAD,)
                try:
                    length = max(int(length), 0)
                except ValueError:
                    length = 0
            else:
                cl = _CONTENT_LENGTH.search(data, pos, m.end())
                length = int(cl.group(1)) if cl else 0
        elif arc:
            block, length = arc.end(), int(arc.group(1)) if arc.group(1).isdigit() else 0
        else:
            if not final and data.find(b"\n", pos, pos + _MAX_HEADER) < 0 and n - pos < _MAX_HEADER:
                return (_MORE, self.start + n + 1)  # the first line is not all here yet
            return (_BAD,)
        big = False
        if block + length > n and not final:
            if length <= self.r.big_block:
                return (_MORE, self.start + block + length)
            if n - block < self.r.keep:
                return (_MORE, self.start + block + self.r.keep)
            big = True
        try:
            raw = _WARCIO
            if fields is not None:
                end = block + length
                raw = self.r.fast_record(fields, data, block, end)
                digest = fields.get("warc-block-digest")
            if raw is _WARCIO:
                bio = self.bio
                bio.seek(pos)
                rec = self.r.loader.parse_record_stream(bio, known_format="warc" if warc else "arc")
                block = bio.tell() - rec.raw_stream.tell()  # where the block begins: warcio has read its HTTP headers
                end = block + rec.length
                if end > n and not final and not big:
                    return (_MORE, self.start + end)
                raw = self.r.record(rec, warc, short=end > n)
                digest = rec.rec_headers.get_header("WARC-Block-Digest") if warc else None
        except Exception as exc:  # warcio's and http-header errors alike
            if is_io_error(exc):
                raise
            return (_BAD,)
        if self.r.fmt is None:
            self.r.fmt = "warc" if warc else "arc"
        if end > n:
            if big:
                self.skip = end - n
            else:
                self.events["warc.short_block"] += 1  # the block ended before its declared Content-Length
            end = n
        if raw is not None:  # the first record of a gzip member is found at the member's start
            raw.offset = self.base + (0 if self.started is None else self.start + pos)
        check = (self.start + block, self.start + end, digest) if digest and not big and raw is not None and raw.rec_type != "revisit" else None
        return (_RECORD, raw, pos, end, check)


class _Reader:
    """Reads the records of one archive, counting what is wrong with it."""

    def __init__(self, counters: Counter, max_payload_bytes: int, max_resyncs: int):
        self.counters = counters
        self.max_payload_bytes = max_payload_bytes
        self.max_resyncs = max_resyncs
        self.resyncs = 0
        self.big_block = max(_BIG_BLOCK, 2 * max_payload_bytes)
        self.keep = max_payload_bytes + (1 << 20)
        """Bytes of an oversized block read for its payload (the HTTP headers, the payload, chunk sizes)."""
        self.fmt: str | None = None  # "warc" or "arc", from the first record
        self.loader = ArcWarcRecordLoader(verify_http=False, arc2warc=True)
        self.whole_file = False

    def fast_record(self, fields: dict[str, str], data: bytes, block: int, end: int):
        """The record whose WARC header fields ``_fields`` read and whose block is ``data[block:end]`` (cut where
        the data ends), as ``record`` makes it of warcio's parse; ``_WARCIO`` where only warcio's parser will do
        (HTTP headers that are not plain ASCII, chunked or compressed payloads)."""
        rec_type = fields.get("warc-type")
        if rec_type is None:
            return None
        uri = fields.get("warc-target-uri")
        if uri is not None:
            if uri.startswith("<") and uri.endswith(">"):
                uri = uri[1:-1]
            uri = uri.replace(" ", "%20")
        have = min(end, len(data))
        status = ctype = http = None
        payload_at = block
        if rec_type in ("response", "revisit", "request") and end > block:
            if uri is None:
                raise ValueError("no WARC-Target-URI")  # as warcio fails
            if rec_type != "request" and uri.startswith(("http:", "https:")):
                if have == block:  # no status line
                    if rec_type == "response":
                        raise EOFError("empty HTTP block")
                else:
                    m = _HEADER_END.search(data, block, have)
                    head_end = m.start() if m else have
                    if _ODD.search(data, block, head_end) is not None:
                        return _WARCIO
                    nl = data.find(b"\n", block, have)
                    if not data[block:nl if nl >= 0 else have].strip():  # an empty status line, no headers
                        http, payload_at = ("", {}), (nl + 1 if nl >= 0 else have)
                    else:
                        first, headers = _fields(data[block:head_end].decode("ascii"))
                        parts = first.split(" ", 1)
                        http = (parts[1].strip() if len(parts) > 1 else "", headers)
                        payload_at = m.end() if m else have
                    try:
                        status = int(http[0].split(" ", 1)[0])
                    except ValueError:
                        status = None
                    ctype = http[1].get("content-type")
        elif rec_type == "resource":
            ctype = fields.get("content-type")
        truncated = end > have or bool(fields.get("warc-truncated"))
        payload = None
        if rec_type in ("response", "resource"):
            if http is not None and (http[0] or http[1]):
                encoding = http[1].get("content-encoding")
                if http[1].get("transfer-encoding") == "chunked" or (encoding and encoding.lower() in _DECODERS):
                    return _WARCIO
            payload = data[payload_at:min(have, payload_at + self.max_payload_bytes)]
            truncated = truncated or have - payload_at > self.max_payload_bytes
        return RawRecord(
            rec_type=rec_type,
            url=_clean_target_uri(uri),
            date=fields.get("warc-date"),
            offset=-1,
            digest=fields.get("warc-payload-digest"),
            http_status=status,
            content_type=ctype,
            payload=payload,
            truncated=truncated,
            record_id=fields.get("warc-record-id"),
        )

    def record(self, rec, warc: bool, short: bool) -> RawRecord | None:
        """The record of warcio's parse (None for one without a type); ``short``: its block was cut."""
        if rec.rec_type is None:
            return None
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
        truncated = short or bool(rec.rec_headers.get_header("WARC-Truncated"))
        if rec.rec_type in ("response", "resource"):
            payload = rec.content_stream().read(self.max_payload_bytes + 1)
            if len(payload) > self.max_payload_bytes:
                payload = payload[: self.max_payload_bytes]
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
            record_id=rec.rec_headers.get_header("WARC-Record-ID") if warc else None,
        )

    def read(self, stream) -> Iterator[RawRecord]:
        """The records of the stream, as its first bytes say how to read it."""
        inp = _Input(stream)
        head = inp.view(0, 64)[:64].tobytes()
        if head.startswith(GZIP_MAGIC):
            yield from self._gzip(inp)
        elif head.startswith(LZ4_MAGIC):
            yield from self._plain(self._lz4(inp))
        elif head.lstrip().startswith((b"WARC/", b"filedesc://")):
            yield from self._plain(inp.chunks(0))
        else:
            self.counters["warc.not_an_archive"] += 1

    def _plain(self, chunks: Iterator[bytes]) -> Iterator[RawRecord]:
        parser = _Parser(self, 0)
        try:
            for chunk in chunks:
                parser.feed(chunk)
                yield from self._take(parser)
                if parser.gave_up:
                    break
            else:
                parser.finish()
        except _Damaged as exc:
            log.info("unreadable after offset %d: %s", parser.start + parser.pos, exc)
            self.counters["warc.malformed_record"] += 1
            self.counters["warc.unreadable_tail"] += 1
            parser.abort()
        yield from self._take(parser)
        if parser.events is not self.counters:
            self.counters.update(parser.events)
        if parser.scanning and not parser.gave_up:
            self.counters["warc.truncated_tail"] += 1  # the file ends in the damage

    @staticmethod
    def _take(parser: _Parser) -> list[RawRecord]:
        out, parser.out = parser.out, []
        return out

    def _lz4(self, inp: _Input) -> Iterator[bytes]:
        import lz4.frame

        d, inside = lz4.frame.LZ4FrameDecompressor(), False
        for chunk in inp.chunks(0):
            while chunk:
                try:
                    out = d.decompress(chunk)
                except RuntimeError as exc:
                    raise _Damaged(str(exc)) from exc
                inside = True
                if out:
                    yield out
                if not d.eof:
                    break
                chunk, d, inside = d.unused_data, lz4.frame.LZ4FrameDecompressor(), False  # a next frame
        if inside:
            raise _Damaged("the file ends inside an LZ4 frame")

    def _gzip(self, inp: _Input) -> Iterator[RawRecord]:
        pos = 0
        while True:
            head = inp.view(pos, 3)[:3].tobytes()
            if not head:
                return
            if head != GZIP_MAGIC:
                pos = inp.skip_padding(pos)
                if not inp.view(pos):
                    return
                if inp.view(pos, 3)[:3].tobytes() != GZIP_MAGIC:
                    log.info("garbage between gzip members at offset %d", pos)
                    self.counters["warc.malformed_record"] += 1
                    pos = yield from self._resync(inp, pos)
                    if pos is None:
                        return
                continue
            ok, end, parser = yield from self._member(inp, pos, candidate=False)
            if parser.gave_up and not parser.rejected:
                return
            if ok:
                if parser.started is False and pos == 0:
                    self.counters["warc.not_an_archive"] += 1
                    return
                pos = end
                continue
            log.info("corrupt gzip member at offset %d", pos)
            self.counters["warc.corrupt_member"] += 1
            self.counters["warc.malformed_record"] += 1
            pos = yield from self._resync(inp, pos)
            if pos is None:
                return

    def _resync(self, inp: _Input, damaged: int):
        """Offset of the next gzip member that decompresses whole and starts with a record, whose records it
        yields; None at the end of the file or of the resync budget."""
        if self.resyncs >= self.max_resyncs:
            self.counters["warc.unreadable_tail"] += 1
            return None
        self.resyncs += 1
        self.counters["warc.resync"] += 1
        pos = inp.reachable(damaged + 1)
        while (pos := inp.find(GZIP_MAGIC, pos)) is not None:
            ok, end, parser = yield from self._member(inp, pos, candidate=True)
            if ok:
                return end
            if parser.gave_up and not parser.rejected:
                return None
            self.counters["warc.corrupt_member"] += 1  # another damaged member (or gzip magic in garbage)
            self.counters["warc.malformed_record"] += 1
            pos = inp.reachable(pos + 1)
        self.counters["warc.truncated_tail"] += 1  # the file ends in the damage
        return None

    def _member(self, inp: _Input, start: int, candidate: bool):
        """Decompress the gzip member at ``start``, yielding its records as they are confirmed (see ``_Parser``;
        a whole-file gzip streams, and keeps the records before any damage), those of a resync candidate only
        once it has passed its checks. Returns (passed its checks, end, parser)."""
        d = isal_zlib.decompressobj(16 + isal_zlib.MAX_WBITS)
        parser = _Parser(self, start, candidate=candidate, checked_at_end=True)
        if _swallows_members(inp, start):
            return False, start, parser
        pos, ok = start, False
        while not ok:
            piece = inp.view(pos)[:_PIECE]
            if not piece:  # the file ends inside the member
                break
            try:
                out = d.decompress(piece)
            except isal_zlib.error:
                break
            ok = d.eof
            pos += len(piece) - len(d.unused_data) if ok else len(piece)
            parser.feed(out)
            if ok and not parser.gave_up:
                parser.finish()
            if parser.gave_up:
                break
            if parser.started:
                yield from self._take(parser)
        ok = ok and not parser.gave_up
        if not ok:
            parser.abort()
        no_archive = start == 0 and parser.started is False  # the file's first member holds no record
        if ok and not no_archive:
            yield from self._take(parser)
            if parser.events is not self.counters:
                self.counters.update(parser.events)
        elif not candidate and parser.started:
            yield from self._take(parser)  # confirmed before the damage
        if parser.records > 1 and not self.whole_file and (ok or not candidate):
            self.whole_file = True
            self.counters["warc.whole_file_gzip"] += 1
        return ok, pos, parser


def _swallows_members(inp: _Input, start: int) -> bool:
    """Whether the gzip header at ``start`` has an extra field holding another gzip header: garbage whose
    random length field would have zlib skip the members after it, and take a later one for its own."""
    head = inp.view(start, 12)[:12]
    if len(head) < 12 or not head[3] & 4:  # FEXTRA
        return False
    length = head[10] | head[11] << 8
    return inp.view(start, 12 + length)[12:12 + length].tobytes().find(GZIP_MAGIC) >= 0


class _Damaged(Exception):
    """A compressed stream failed to decompress."""


def iter_records(
    stream, counters: Counter, *, max_payload_bytes: int = 5 << 20, max_resyncs: int = 1000
) -> Iterator[RawRecord]:
    """Yield the records of an open binary archive stream (WARC or ARC, plain, gzip or LZ4).

    Problems of the data are counted in ``counters`` as ``warc.<event>`` (``malformed_record``,
    ``corrupt_member``, ``corrupt_record``, ``resync``, ``short_block``, ``truncated_tail``,
    ``unreadable_tail``, ``not_an_archive``, ``whole_file_gzip``) and never raised, so one bad file or record
    cannot fail a task; errors of the storage (``is_io_error``) are raised, so that they are not taken for
    the end of the file.
    """
    return _Reader(counters, max_payload_bytes, max_resyncs).read(stream)


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
