"""Byte-level details of the crawl shared by the content plan and the WARC writer: payload digests,
WARC and HTTP dates, reproducible gzip members."""

from __future__ import annotations

import base64
import hashlib
import struct
import zlib
from datetime import datetime
from email.utils import format_datetime


def sha1_b32(data: bytes) -> str:
    return "sha1:" + base64.b32encode(hashlib.sha1(data).digest()).decode("ascii")


def warc_date(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def http_date(dt: datetime) -> str:
    return format_datetime(dt, usegmt=True)


def gzip_member(data: bytes) -> bytes:
    """One gzip member with a fixed header (no name, mtime 0, XFL 2, OS 255) so the bytes are reproducible."""
    comp = zlib.compressobj(9, zlib.DEFLATED, -15, 9)
    deflated = comp.compress(data) + comp.flush()
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    return header + deflated + struct.pack("<II", zlib.crc32(data) & 0xFFFFFFFF, len(data) & 0xFFFFFFFF)


def gzip_member_ok(member: bytes) -> bool:
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        d.decompress(member)
        d.flush()
    except zlib.error:
        return False
    return d.eof and not d.unused_data
