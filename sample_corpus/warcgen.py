"""WARC assembly for the sample corpus: file layout, records, gzip members, malformations, manifest.

``render`` lays a content plan (:mod:`sample_corpus.plan`) out in files and returns their bytes plus
the manifest; ``sample_corpus.write_sample_corpus`` writes them.  See the package docstring for what
is planted where.
"""

from __future__ import annotations

import hashlib
import io
import random
import re
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Callable

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from .formats import gzip_member, gzip_member_ok, http_date, sha1_b32, warc_date
from .identity import GENERATOR, GENERATOR_VERSION, USER_AGENT
from .plan import Fetch, PageLocation, Plan, malformations

CRAWL_NAME = "TELEFLM-SAMPLE-2024-08"
CRAWL_START = datetime(2024, 2, 20, tzinfo=timezone.utc)
CRAWL_DAYS = 14
ACCEPT_LANGUAGE = {"en": "en-US,en;q=0.8", "zh": "zh-CN,zh;q=0.9,en;q=0.5", "de": "de-DE,de;q=0.9,en;q=0.5",
                   "fr": "fr-FR,fr;q=0.9,en;q=0.5", "es": "es-ES,es;q=0.9,en;q=0.5", "ja": "ja,en;q=0.5",
                   "ru": "ru-RU,ru;q=0.9,en;q=0.5"}


# ---------------------------------------------------------------------------------------------
# Files and records
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RecordEntry:
    """Where one record lies in its file (the manifest's ``files[].records[]``)."""

    index: int
    offset: int
    length: int  # of the gzip member, or of the record plus its trailing CRLFs in the plain file
    type: str
    uri: str | None
    record_id: str
    malformed: str | None = None

    def manifest_entry(self) -> dict:
        entry = {"index": self.index, "offset": self.offset, "length": self.length, "type": self.type,
                 "uri": self.uri, "record_id": self.record_id}
        if self.malformed:
            entry["malformed"] = self.malformed
        return entry


@dataclass(frozen=True)
class MalformedRecord:
    """A planted malformed record (the manifest's ``files[].malformed[]``)."""

    kind: str
    record_index: int
    offset: int
    length: int
    uri: str
    record_id: str
    description: str
    expected_symptom: str


@dataclass
class FileOut:
    name: str
    compressed: bool
    data: bytearray = field(default_factory=bytearray)
    records: list[RecordEntry] = field(default_factory=list)
    malformed: list[MalformedRecord] = field(default_factory=list)


@dataclass(frozen=True)
class Revisit:
    """A later fetch of an article page with the same payload (identical-payload-digest profile)."""

    original: Fetch


@dataclass(frozen=True)
class Resource:
    """A ``dns:`` lookup record of one of the file's hosts."""

    host: str
    ip: str


class _Ids:
    """WARC record ids drawn from their own seeded RNG."""

    def __init__(self, rng: random.Random):
        self.rng = rng

    def __call__(self) -> str:
        return f"<urn:uuid:{uuid.UUID(int=self.rng.getrandbits(128), version=4)}>"


class _Writer:
    """Serializes records with warcio (uncompressed) and frames them (gzip member per record or plain)."""

    def __init__(self, out: FileOut, ids: _Ids, info_id: str):
        self.out = out
        self.ids = ids
        self.info_id = info_id

    def emit(self, raw: bytes, rtype: str, uri: str | None, rid: str, malform: str | None = None,
             frame: Callable[[bytes], bytes] | None = None) -> RecordEntry:
        member = gzip_member(raw) if self.out.compressed else raw
        if frame is not None:
            member = frame(member)
        entry = RecordEntry(len(self.out.records), len(self.out.data), len(member), rtype, uri, rid, malform)
        self.out.data += member
        self.out.records.append(entry)
        return entry

    def emit_record(self, uri: str, rtype: str, headers: dict, *, payload: bytes | None = None,
                    content_type: str = "", http_headers: StatusAndHeaders | None = None) -> RecordEntry:
        """A record with our own WARC headers (ids, dates, links); warcio adds the digests and lengths."""
        record = WARCWriter(io.BytesIO(), gzip=False).create_warc_record(
            uri, rtype, payload=None if payload is None else io.BytesIO(payload),
            length=None if payload is None else len(payload), warc_content_type=content_type,
            warc_headers_dict=headers, http_headers=http_headers)
        return self.emit(_serialize(record), rtype, uri or None, headers["WARC-Record-ID"])


def _serialize(record) -> bytes:
    buf = io.BytesIO()
    WARCWriter(buf, gzip=False).write_record(record)
    return buf.getvalue()


def _warc_headers(*pairs) -> dict:
    return {k: v for k, v in pairs if v is not None}


# ---------------------------------------------------------------------------------------------
# Layout
# ---------------------------------------------------------------------------------------------

def render(plan: Plan, seed: int, n_files: int, include_plain: bool) -> tuple[list[FileOut], dict]:
    """The files (``sample-NNNN.warc.gz``, then the plain ``.warc``) and the manifest."""
    rng = random.Random(f"teleflm-sample/{seed}/layout")
    ids = _Ids(random.Random(f"teleflm-sample/{seed}/ids"))
    files = [FileOut(f"sample-{i:04d}.warc.gz", True) for i in range(n_files)]
    if include_plain:
        files.append(FileOut(f"sample-{n_files:04d}.warc", False))
    slots = _distribute_fetches(rng, plan.fetches, n_files, include_plain)
    _insert_dns_lookups(rng, plan, slots)
    _insert_revisits(rng, plan.revisit_count, slots, n_files)
    _insert_malformed(plan, slots, n_files)
    page_locations = _write_files(rng, ids, files, slots, seed)
    return files, _manifest(plan, files, page_locations, seed, n_files, include_plain)


def _distribute_fetches(rng: random.Random, fetches: list[Fetch], n_files: int, include_plain: bool) -> list[list]:
    """The well-formed fetches in random order, dealt out to the gzip files; the plain file gets a
    tenth of them first."""
    items = list(fetches)
    rng.shuffle(items)
    slots: list[list] = [[] for _ in range(n_files + (1 if include_plain else 0))]
    plain_share = max(1, len(items) // 10) if include_plain else 0
    if include_plain:
        slots[-1] = items[:plain_share]
    for i, it in enumerate(items[plain_share:]):
        slots[i % n_files].append(it)
    return slots


def _insert_dns_lookups(rng: random.Random, plan: Plan, slots: list[list]) -> None:
    """One ``dns:`` resource record near the start of every file, for a host the file fetches from."""
    for items in slots:
        pos = rng.randint(0, min(3, len(items)))
        items.insert(pos, Resource(*_dns_target(plan, items)))


def _dns_target(plan: Plan, items: list) -> tuple[str, str]:
    for it in items:
        if isinstance(it, Fetch) and it.page and it.page.site in plan.sites:
            s = plan.sites[it.page.site]
            return s.host, s.ip
    s = next(iter(plan.sites.values()))
    return s.host, s.ip


def _is_article_fetch(it) -> bool:
    return isinstance(it, Fetch) and it.page is not None and it.page.kind == "article"


def _insert_revisits(rng: random.Random, count: int, slots: list[list], n_files: int) -> None:
    """Revisits of article pages of the first file, placed later in the crawl: in the second half of
    the last gzip file (with one gzip file, in its last quarter, of pages from its first half)."""
    last_gz = n_files - 1
    for r in range(count):
        if n_files > 1:
            src = [f for f in slots[0] if _is_article_fetch(f)]
            pos_range = (len(slots[last_gz]) // 2, len(slots[last_gz]))
        else:
            src = [f for f in slots[0][: len(slots[0]) // 2] if _is_article_fetch(f)]
            pos_range = (len(slots[0]) * 3 // 4, len(slots[0]))
        orig = src[r * 3 % len(src)]
        slots[last_gz].insert(rng.randint(*pos_range), Revisit(orig))


def _malformed_targets(n_files: int) -> list[int]:
    """The file of each malformed record: the first three in the second file, the next three in the
    third (both in the second with two files, all in the only one with one)."""
    bad = list(range(1, n_files)) or [0]
    return [bad[0]] * 3 + [bad[min(1, len(bad) - 1)]] * 3


def _insert_malformed(plan: Plan, slots: list[list], n_files: int) -> None:
    """Malformed records evenly inside their files, good records on both sides; the truncated member
    ends the last gzip file."""
    by_target: dict[int, list[Fetch]] = {}
    for f, t in zip(plan.malformed, _malformed_targets(n_files)):
        by_target.setdefault(t, []).append(f)
    for t, fs in by_target.items():
        for j, f in enumerate(fs):
            frac = (j + 1) / (len(fs) + 1)
            slots[t].insert(int(len(slots[t]) * frac), f)
    slots[n_files - 1].append(plan.truncated_last)


def _write_files(rng: random.Random, ids: _Ids, files: list[FileOut], slots: list[list],
                 seed: int) -> dict[str, PageLocation]:
    """Write every file's records with increasing dates (file ``i`` covers the ``i``-th slice of the
    crawl period); returns where each HTML page landed, by fetch key."""
    seg = timedelta(days=CRAWL_DAYS) / len(files)
    page_locations: dict[str, PageLocation] = {}
    fetch_dates: dict[str, str] = {}
    for i, (fo, items) in enumerate(zip(files, slots)):
        start = CRAWL_START + seg * i
        secs = sorted(rng.randint(60, int(seg.total_seconds()) - 60) for _ in items)
        info_id = ids()
        w = _Writer(fo, ids, info_id)
        _write_warcinfo(w, fo.name, start, seed)
        for it, s in zip(items, secs):
            dt = start + timedelta(seconds=s)
            if isinstance(it, Resource):
                _write_resource(w, it, dt)
            elif isinstance(it, Revisit):
                _write_revisit(w, it, dt, fetch_dates[it.original.key], rng)
            else:
                resp = _write_fetch(w, it, dt, rng)
                fetch_dates[it.key] = warc_date(dt)
                if it.page is not None:
                    page_locations[it.key] = PageLocation(fo.name, resp.index, resp.offset, warc_date(dt))
    return page_locations


# ---------------------------------------------------------------------------------------------
# Records
# ---------------------------------------------------------------------------------------------

def _write_warcinfo(w: _Writer, filename: str, dt: datetime, seed: int) -> None:
    fields = [
        ("isPartOf", CRAWL_NAME), ("publisher", f"teleflm-repro {GENERATOR}"),
        ("description", f"Synthetic sample crawl generated by {GENERATOR} (seed={seed}); every page is "
                        "machine-generated text, any resemblance to real sites is coincidental."),
        ("operator", "teleflm-repro"), ("hostname", "sample-generator"),
        ("software", f"{GENERATOR}/{GENERATOR_VERSION} (warcio)"),
        ("robots", "checked via sample rules"), ("http-header-user-agent", USER_AGENT),
        ("format", "WARC File Format 1.0"),
        ("conformsTo", "https://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.0/"),
    ]
    payload = "".join(f"{k}: {v}\r\n" for k, v in fields).encode("utf-8")
    w.emit_record("", "warcinfo", _warc_headers(
        ("WARC-Type", "warcinfo"), ("WARC-Date", warc_date(dt)), ("WARC-Filename", filename),
        ("WARC-Record-ID", w.info_id), ("Content-Length", "0"), ("Content-Type", "application/warc-fields")),
        payload=payload, content_type="application/warc-fields")


def _request(w: _Writer, url: str, lang: str, dt: datetime, rid: str, ip: str) -> None:
    host, _, path = url.split("://", 1)[1].partition("/")
    hdrs = [("Host", host), ("User-Agent", USER_AGENT),
            ("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
            ("Accept-Language", ACCEPT_LANGUAGE.get(lang, "en-US,en;q=0.8")), ("Accept-Encoding", "br,gzip"),
            ("Connection", "Keep-Alive")]
    http = StatusAndHeaders(f"GET /{path} HTTP/1.1", hdrs, is_http_request=True)
    w.emit_record(url, "request", _warc_headers(
        ("WARC-Type", "request"), ("WARC-Date", warc_date(dt)), ("WARC-Record-ID", rid), ("Content-Length", "0"),
        ("Content-Type", "application/http; msgtype=request"), ("WARC-Warcinfo-ID", w.info_id),
        ("WARC-IP-Address", ip), ("WARC-Target-URI", url)), http_headers=http)


def _metadata(w: _Writer, url: str, dt: datetime, concurrent: str, rng) -> None:
    rid = w.ids()
    payload = f"fetchTimeMs: {rng.randint(35, 2400)}\r\n".encode()
    w.emit_record(url, "metadata", _warc_headers(
        ("WARC-Type", "metadata"), ("WARC-Date", warc_date(dt)), ("WARC-Record-ID", rid), ("Content-Length", "0"),
        ("Content-Type", "application/warc-fields"), ("WARC-Warcinfo-ID", w.info_id),
        ("WARC-Concurrent-To", concurrent), ("WARC-Target-URI", url)),
        payload=payload, content_type="application/warc-fields")


def _http_headers(f: Fetch, dt: datetime) -> list:
    h = [("Date", http_date(dt)), ("Server", f.server)]
    if f.content_type:
        h.append(("Content-Type", f.content_type))
    h += f.extra_headers
    if f.malform == "invalid_chunked_encoding":
        h.append(("Transfer-Encoding", "chunked"))
    elif f.malform == "truncated_http_body":
        h.append(("Content-Length", str(f.full_length)))
    else:
        h.append(("Content-Length", str(len(f.body))))
    h += [("Cache-Control", "max-age=300" if f.kind == "page" else "public, max-age=86400"),
          ("Connection", "close")]
    return h


def _broken_http_response(wh: dict, f: Fetch, dt: datetime) -> bytes:
    """A response record whose HTTP header block is garbage (letters for digits, lines without colons,
    binary junk) while the WARC headers and Content-Length stay correct."""
    block = (f"HTTP/1.1 2OO 0K\r\nDate {http_date(dt)}\r\nServer: {f.server}\r\n"
             f"Content-Type text/html; charset=utf-8\r\n").encode() + b"X-Debug: \x00\xff\xfe\x01\r\n" \
        + b"\x89\x12\x07\x1b[binary junk]\r\n\r\n" + f.body
    wh["WARC-Block-Digest"] = sha1_b32(block)
    wh["Content-Length"] = str(len(block))
    return b"WARC/1.0\r\n" + "".join(f"{k}: {v}\r\n" for k, v in wh.items()).encode() + b"\r\n" + block + b"\r\n\r\n"


def _shift_content_length(raw: bytes, delta: int) -> bytes:
    """The record with its WARC Content-Length off by ``delta`` bytes."""
    head_end = raw.index(b"\r\n\r\n")
    head = re.sub(rb"\r\nContent-Length: (\d+)\r\n",
                  lambda m: b"\r\nContent-Length: %d\r\n" % (int(m.group(1)) + delta), raw[:head_end + 2], count=1)
    return head + raw[head_end + 2:]


def _corrupt(member: bytes) -> bytes:
    """The gzip member with 32 bytes of its deflate stream XOR-ed, at a place where zlib notices."""
    start, end = 10, len(member) - 8
    for frac in (0.5, 0.4, 0.6, 0.3, 0.7, 0.2):
        pos = start + int((end - start) * frac)
        bad = bytearray(member)
        for j in range(pos, min(pos + 32, end)):
            bad[j] ^= 0xA5
        if not gzip_member_ok(bytes(bad)):
            return bytes(bad)
    raise RuntimeError("could not corrupt gzip member")


def _truncate_member(member: bytes) -> bytes:
    return member[: int(len(member) * 0.55)]


_MEMBER_FRAMES = {"corrupt_gzip_member": _corrupt, "truncated_last_member": _truncate_member}
_CONTENT_LENGTH_ERRORS = {"content_length_too_short": -400, "content_length_too_long": 2048}


def _write_fetch(w: _Writer, f: Fetch, dt: datetime, rng) -> RecordEntry:
    """Request, response and (unless the file ends there) metadata record of one fetch, with its
    planted malformation if it has one; returns the response's entry."""
    req_id, resp_id = w.ids(), w.ids()
    _request(w, f.url, f.lang_hint, dt, req_id, f.ip)
    wh = _warc_headers(
        ("WARC-Type", "response"), ("WARC-Date", warc_date(dt)), ("WARC-Record-ID", resp_id),
        ("Content-Length", "0"), ("Content-Type", "application/http; msgtype=response"),
        ("WARC-Warcinfo-ID", w.info_id), ("WARC-Concurrent-To", req_id), ("WARC-IP-Address", f.ip),
        ("WARC-Target-URI", f.url), ("WARC-Identified-Payload-Type", f.ident))
    if f.malform == "broken_http_headers":
        raw = _broken_http_response(wh, f, dt)
    else:
        http = StatusAndHeaders(f"{f.status} {f.reason}", _http_headers(f, dt), protocol="HTTP/1.1")
        rec = WARCWriter(io.BytesIO(), gzip=False).create_warc_record(
            f.url, "response", payload=io.BytesIO(f.body), length=len(f.body), http_headers=http, warc_headers_dict=wh)
        raw = _serialize(rec)
        if f.malform in _CONTENT_LENGTH_ERRORS:
            raw = _shift_content_length(raw, _CONTENT_LENGTH_ERRORS[f.malform])
    entry = w.emit(raw, "response", f.url, resp_id, f.malform, _MEMBER_FRAMES.get(f.malform))
    if f.malform:
        m = malformations()[f.malform]
        w.out.malformed.append(MalformedRecord(f.malform, entry.index, entry.offset, entry.length, f.url, resp_id,
                                               m.description, m.expected_symptom))
    if f.malform != "truncated_last_member":
        _metadata(w, f.url, dt, resp_id, rng)
    return entry


def _write_revisit(w: _Writer, r: Revisit, dt: datetime, refers_date: str, rng) -> None:
    f = r.original
    req_id, rid = w.ids(), w.ids()
    _request(w, f.url, f.lang_hint, dt, req_id, f.ip)
    hdrs = [("Date", http_date(dt)), ("Server", f.server), ("Content-Type", f.content_type),
            ("Content-Length", str(len(f.body))), ("Cache-Control", "max-age=300"), ("Connection", "close")]
    http = StatusAndHeaders("200 OK", hdrs, protocol="HTTP/1.1")
    rec = WARCWriter(io.BytesIO(), gzip=False).create_revisit_record(
        f.url, sha1_b32(f.body), f.url, refers_date, http_headers=http, warc_headers_dict=_warc_headers(
            ("WARC-Type", "revisit"), ("WARC-Date", warc_date(dt)), ("WARC-Record-ID", rid), ("Content-Length", "0"),
            ("Content-Type", "application/http; msgtype=response"), ("WARC-Warcinfo-ID", w.info_id),
            ("WARC-Concurrent-To", req_id), ("WARC-IP-Address", f.ip), ("WARC-Target-URI", f.url)))
    w.emit(_serialize(rec), "revisit", f.url, rid)
    _metadata(w, f.url, dt, rid, rng)


def _write_resource(w: _Writer, r: Resource, dt: datetime) -> None:
    rid = w.ids()
    uri = f"dns:{r.host}"
    payload = f"{dt.strftime('%Y%m%d%H%M%S')}\n{r.host}.\t300\tIN\tA\t{r.ip}\n".encode()
    w.emit_record(uri, "resource", _warc_headers(
        ("WARC-Type", "resource"), ("WARC-Date", warc_date(dt)), ("WARC-Record-ID", rid), ("Content-Length", "0"),
        ("Content-Type", "text/dns"), ("WARC-Warcinfo-ID", w.info_id), ("WARC-Target-URI", uri)),
        payload=payload, content_type="text/dns")


# ---------------------------------------------------------------------------------------------
# Manifest
# ---------------------------------------------------------------------------------------------

def _file_entry(fo: FileOut, pages: list[dict]) -> dict:
    return {
        "name": fo.name, "compressed": fo.compressed, "size": len(fo.data),
        "sha256": hashlib.sha256(bytes(fo.data)).hexdigest(),
        "well_formed": not fo.malformed, "record_count": len(fo.records),
        "records_by_type": dict(sorted(Counter(r.type for r in fo.records).items())),
        "html_pages": sum(1 for p in pages if p["file"] == fo.name),
        "malformed": [asdict(m) for m in fo.malformed], "records": [r.manifest_entry() for r in fo.records],
    }


def _manifest(plan: Plan, files: list[FileOut], locations: dict[str, PageLocation], seed: int, n_files: int,
              include_plain: bool) -> dict:
    """The manifest less its ``domains`` and ``benchmark`` sections; its key order is part of its bytes."""
    pages = [f.page.manifest_entry(locations[f.key]) for f in plan.fetches + plan.malformed + [plan.truncated_last]
             if f.page is not None and f.key in locations]
    order = {fo.name: i for i, fo in enumerate(files)}
    pages.sort(key=lambda p: (order[p["file"]], p["offset"]))
    repeated = [{"lang": r.lang, "text": r.text, "pages": []} for r in plan.repeated_paragraphs]
    for p in pages:
        for b in p["boilerplate"]:
            repeated[b]["pages"].append(p["url"])
    for r in repeated:
        r["count"] = len(r["pages"])

    langs = Counter(p["lang"] for p in pages if p["kind"] in ("article", "exact_duplicate", "near_duplicate")
                    and not p["malformed"])
    kinds = Counter(p["kind"] for p in pages if not p["malformed"])
    records_by_type = sum((Counter(r.type for r in f.records) for f in files), Counter())
    return {
        "generator": GENERATOR, "version": GENERATOR_VERSION, "seed": seed, "n_files": n_files,
        "include_plain": include_plain, "crawl": {"name": CRAWL_NAME, "start": warc_date(CRAWL_START),
                                                  "days": CRAWL_DAYS},
        "totals": {
            "files": len(files), "records": sum(len(f.records) for f in files),
            "records_by_type": dict(sorted(records_by_type.items())),
            "html_pages": len(pages), "html_pages_by_kind": dict(sorted(kinds.items())),
            "malformed_records": sum(len(f.malformed) for f in files),
        },
        "languages": dict(sorted(langs.items(), key=lambda kv: (-kv[1], kv[0]))),
        "files": [_file_entry(fo, pages) for fo in files],
        "pages": pages,
        "exact_duplicates": [asdict(d) for d in plan.exact_duplicates],
        "near_duplicates": [asdict(d) for d in plan.near_duplicates],
        "repeated_paragraphs": repeated,
        "spam": [{"url": p["url"], "spam_kind": p["spam_kind"], "lang": p["lang"], "file": p["file"]}
                 for p in pages if p["kind"] == "spam"],
        "non_html": [{"url": f.url, "status": f.status, "content_type": f.content_type, "kind": f.kind}
                     for f in plan.fetches if f.page is None],
        "charset_variants": [{"url": p["url"], "variant": p["charset_variant"], "charset": p["charset"],
                              "http_charset": p["http_charset"], "meta_charset": p["meta_charset"],
                              "lang": p["lang"]} for p in pages if p["charset_variant"] != "utf8_declared"],
    }
