"""Corrupted gzip members in real crawl files: every intact record is kept, no damaged one passes as data.

Each trial damages about 15% of the members of a real gzip-per-record WARC file (``chaos.faults``: bits
flipped, members cut short, members replaced by or interleaved with garbage) and reads it with the stage's
reader, then extracts it with the stage's ``Extractor``: the records of the intact members must all come
back, with their payloads, and the documents extracted from them must equal those extracted from the same
records of the undamaged file.
"""

from __future__ import annotations

import io
import random
import time
from collections import Counter
from pathlib import Path

from chaos.faults import corrupt_members, gzip_members
from datapipe.warc import iter_records

FILES = ("warc_real_pages/news_and_article_fixtures.warc.gz", "warc/resiliparse/tests/data/warcfile.warc.gz",
         "warc/dolma/tests/data/warc/sample-0000.warc.gz")
MAX_BYTES = 8 << 20  # the first members of each file: enough members, a bounded time per trial


def _documents(data: bytes) -> list:
    from datapipe.extract import Extractor

    return list(Extractor().documents_from_archive(io.BytesIO(data), "chaos.warc.gz"))


def _load(shared: Path, name: str) -> bytes:
    data = (shared / name).read_bytes()[: MAX_BYTES + (1 << 20)]
    members = gzip_members(data)
    return data[: members[-1][1]] if data.startswith(b"\x1f\x8b") and len(members) > 1 else data


def run(trials: int, work: Path, seed: int = 0, shared: Path | None = None, extract: bool = True) -> dict:
    from tests.conftest import SHARED_DATA

    shared = shared or SHARED_DATA
    rng = random.Random(seed)
    originals = {name: _load(shared, name) for name in FILES if (shared / name).exists()}
    if not originals:
        raise FileNotFoundError(f"none of the WARC files {FILES} under {shared}")
    reference = {name: list(iter_records(io.BytesIO(data), Counter())) for name, data in originals.items()}
    survived = lost = damaged_total = passed_damaged = extracted_lost = 0
    seconds = []
    for trial in range(trials):
        name = rng.choice(sorted(originals))
        records = reference[name]
        mutated = corrupt_members(originals[name], random.Random(rng.random()))
        started = time.perf_counter()
        counters: Counter = Counter()
        got = list(iter_records(io.BytesIO(mutated.data), counters))
        seconds.append(time.perf_counter() - started)
        expected = {(records[i].url, records[i].payload) for i in mutated.intact}
        returned = {(r.url, r.payload) for r in got}
        missing = len(expected - returned)
        damaged_pass = len(returned - {(r.url, r.payload) for r in records})
        ok = not missing and not damaged_pass
        if ok and extract and trial < 3:  # the stage end to end on a few trials: documents of intact records
            index = {r.offset: i for i, r in enumerate(records)}
            intact = set(mutated.intact)
            expected_docs = {(d.url, d.text) for d in _documents(originals[name]) if index[d.source_offset] in intact}
            gone = expected_docs - {(d.url, d.text) for d in _documents(mutated.data)}
            extracted_lost += len(gone)
            ok = not gone
        survived += ok
        lost += missing
        damaged_total += len(mutated.damaged) + mutated.inserted
        passed_damaged += damaged_pass
    return {
        "fault": "corrupted gzip members (WARC)",
        "trials": trials,
        "survived": survived,
        "lost": lost + extracted_lost,
        "recover_s": sum(seconds) / len(seconds) if seconds else None,
        "detail": f"{damaged_total} members damaged or inserted (bit flips, cut short, garbage) in {trials} mutated copies of "
                  f"{len(originals)} real files; intact records lost: {lost}; damaged records passed as data: {passed_damaged}; "
                  f"documents of intact records lost by the extract stage: {extracted_lost}",
    }


if __name__ == "__main__":
    import tempfile

    print(run(5, Path(tempfile.mkdtemp())))
