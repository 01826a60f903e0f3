"""Corruptions of real files, reproducible from a seeded ``random.Random``: gzip members of a WARC file."""

from __future__ import annotations

import random
import zlib
from dataclasses import dataclass

_GZIP_HEADER = 10  # magic, method, flags, mtime, xfl, os: the deflate stream starts after it (no optional fields)
_GZIP_TRAILER = 8  # CRC-32 and size


def gzip_members(data: bytes) -> list[tuple[int, int]]:
    """``(start, end)`` of every gzip member, found by decompressing them one after the other."""
    members, pos = [], 0
    while pos < len(data):
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        d.decompress(data[pos:])
        if not d.eof:
            break
        end = len(data) - len(d.unused_data)
        members.append((pos, end))
        pos = end
    return members


@dataclass
class MutatedArchive:
    data: bytes
    intact: list[int]
    """Indexes of the original members left untouched."""
    damaged: dict[int, str]
    """Index of every damaged original member -> what was done to it."""
    inserted: int
    """Members of garbage inserted between good ones."""
    starts: list[int]
    """Where each original member (damaged or not) starts in ``data``."""


def corrupt_members(data: bytes, rng: random.Random, share: float = 0.15) -> MutatedArchive:
    """Damage about ``share`` of the members of a gzip-per-record file, each in one of three ways: bits
    flipped inside its deflate stream (its CRC check then fails), cut short (the next member follows at
    once), or replaced by garbage that starts like a gzip member. Garbage members are also inserted
    between some good ones. The first and last members are damaged too when drawn."""
    members = gzip_members(data)
    if not members:
        raise ValueError("not a gzip-per-record file")
    out = bytearray()
    damaged: dict[int, str] = {}
    starts: list[int] = []
    inserted = 0
    for i, (start, end) in enumerate(members):
        member = bytearray(data[start:end])
        body = range(_GZIP_HEADER + 2, len(member) - _GZIP_TRAILER)
        if rng.random() < share / 3 and len(out):
            out += b"\x1f\x8b\x08" + rng.randbytes(rng.randrange(20, 400))
            inserted += 1
        if rng.random() < share and len(body) > 16:
            kind = rng.choice(("bit flips", "cut short", "garbage"))
            if kind == "bit flips":
                for _ in range(rng.randrange(1, 4)):
                    member[rng.choice(body)] ^= 1 << rng.randrange(8)
            elif kind == "cut short":
                member = member[: rng.randrange(body.start, body.stop)]
            else:
                member = bytearray(b"\x1f\x8b\x08" + rng.randbytes(len(member) - 3))
            damaged[i] = kind
        starts.append(len(out))
        out += member
    return MutatedArchive(bytes(out), [i for i in range(len(members)) if i not in damaged], damaged, inserted, starts)
