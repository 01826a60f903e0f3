"""The WARC reader on real files, malformed ones included, and on corruption we plant ourselves."""

from __future__ import annotations

import gzip
import io
from collections import Counter

import pytest

from datapipe.warc import iter_records, write_html_warc
from tests.conftest import shared


def read_all(path) -> tuple[list, Counter]:
    counters: Counter = Counter()
    with open(path, "rb") as fh:
        return list(iter_records(fh, counters)), counters


def test_every_shared_warc_is_read_without_raising():
    files = [p for p in shared("warc").rglob("*") if p.is_file()]
    assert len(files) > 50
    total = Counter()
    for path in files:
        records, counters = read_all(path)
        total["records"] += len(records)
        total.update(counters)
    assert total["records"] > 800
    assert total["warc.malformed_record"] > 0 and total["warc.resync"] > 0


def test_wrong_content_length_resyncs_and_keeps_later_records():
    path = shared("warc", "webarchive-commons", "src", "test", "resources", "org", "archive", "resource", "html", "link-extraction-test.warc")
    records, counters = read_all(path)
    # warcio alone stops at the bad record after 3 responses; the resync finds the others.
    assert sum(r.rec_type == "response" for r in records) == 6
    assert counters["warc.malformed_record"] >= 1 and counters["warc.resync"] >= 1


def test_whole_file_gzip_is_read_as_a_stream():
    records, counters = read_all(shared("warc", "warcio", "test", "data", "example-bad-non-chunked.warc.gz"))
    plain, _ = read_all(shared("warc", "warcio", "test", "data", "example.warc"))
    assert counters["warc.whole_file_gzip"] == 1
    assert [r.rec_type for r in records] == [r.rec_type for r in plain]


def test_lz4_and_gzip_give_the_same_records():
    base = shared("warc", "resiliparse", "tests", "data")
    gz, _ = read_all(base / "warcfile.warc.gz")
    lz, _ = read_all(base / "warcfile.warc.lz4")
    assert len(gz) == len(lz) == 50
    assert [(r.url, r.payload) for r in gz] == [(r.url, r.payload) for r in lz]


def test_not_an_archive_is_counted():
    records, counters = read_all(shared("warc", "commoncrawl_whirlwind", "CC-MAIN-2024-22.warc.paths.gz"))
    assert records == [] and counters["warc.not_an_archive"] == 1


def test_angle_bracket_target_uri_is_unwrapped():
    records, _ = read_all(shared("warc", "dolma", "tests", "data", "warc", "sample-0000.warc.gz"))
    urls = [r.url for r in records if r.rec_type == "response"]
    assert urls and all(u.startswith("http") and not u.startswith("<") for u in urls)


def _pages(n):
    return [(f"https://example.org/{i}", f"<html><body><p>page {i}</p></body></html>".encode()) for i in range(n)]


def test_corrupt_member_in_the_middle_loses_only_that_record(tmp_path):
    path = tmp_path / "x.warc.gz"
    write_html_warc(str(path), _pages(6))
    good, _ = read_all(path)
    assert [r.url for r in good] == [u for u, _ in _pages(6)]
    data = bytearray(path.read_bytes())
    third = good[3].offset
    for i in range(third + 20, third + 60):  # garble the deflate stream of record 3
        data[i] ^= 0x5A
    path.write_bytes(bytes(data))
    records, counters = read_all(path)
    urls = [r.url for r in records]
    assert urls[:3] == [u for u, _ in _pages(3)]
    assert urls[-2:] == ["https://example.org/4", "https://example.org/5"]
    assert "https://example.org/3" not in urls
    assert counters["warc.malformed_record"] >= 1


def test_truncated_file_keeps_every_record_before_the_cut(tmp_path):
    path = tmp_path / "t.warc.gz"
    write_html_warc(str(path), _pages(5))
    good, _ = read_all(path)
    path.write_bytes(path.read_bytes()[: good[4].offset + 30])
    records, counters = read_all(path)
    assert [r.url for r in records] == [r.url for r in good[:4]]
    assert counters["warc.truncated_tail"] == 1


def test_plain_warc_with_garbage_between_records(tmp_path):
    gz = tmp_path / "a.warc.gz"
    write_html_warc(str(gz), _pages(4))
    plain = b"".join(gzip.open(io.BytesIO(m)).read() for m in _split_members(gz.read_bytes()))
    marker = b"WARC/1."
    second = plain.index(marker, 10)
    broken = plain[:second] + b"garbage line\r\nContent-Length: 999999\r\n\r\n" + plain[second:]
    path = tmp_path / "b.warc"
    path.write_bytes(broken)
    records, counters = read_all(path)
    assert [r.url for r in records] == [u for u, _ in _pages(4)]


def _split_members(data: bytes) -> list[bytes]:
    starts = [i for i in range(len(data)) if data.startswith(b"\x1f\x8b\x08", i)]
    return [data[a:b] for a, b in zip(starts, starts[1:] + [len(data)])]


@pytest.mark.parametrize("limit", [10, 100])
def test_payload_limit_marks_truncation(tmp_path, limit):
    path = tmp_path / "l.warc.gz"
    write_html_warc(str(path), [("https://example.org/big", b"<html>" + b"x" * 500 + b"</html>")])
    counters: Counter = Counter()
    with open(path, "rb") as fh:
        (rec,) = list(iter_records(fh, counters, max_payload_bytes=limit))
    assert rec.truncated and len(rec.payload) == limit


def test_every_good_record_of_the_sample_corpus_is_read_at_its_offset(tmp_path):
    """The sample plants malformed records mid-file; each good record must come back, at its own offset."""
    import json

    from sample_corpus import MANIFEST_NAME, write_sample_corpus

    write_sample_corpus(tmp_path)
    manifest = json.loads((tmp_path / MANIFEST_NAME).read_text())
    for entry in manifest["files"]:
        bad = {m["record_index"] for m in entry["malformed"]}
        expected = [(r["offset"], r["type"]) for r in entry["records"] if r["index"] not in bad]
        records, counters = read_all(tmp_path / entry["name"])
        got = {(r.offset, r.rec_type) for r in records}
        assert set(expected) <= got, (entry["name"], sorted(set(expected) - got)[:3])
        if bad:
            assert any(k in counters for k in ("warc.malformed_record", "warc.short_block")), entry["name"]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_real_warc_with_corrupted_members_keeps_every_intact_record(tmp_path, seed):
    """A real crawl file, gzip per record, with members flipped, cut short, replaced and interleaved with
    garbage: every record of an intact member comes back, no damaged one passes for data, each damage counts."""
    import random

    from chaos.faults import corrupt_members, gzip_members

    data = shared("warc_real_pages", "news_and_article_fixtures.warc.gz").read_bytes()
    members = gzip_members(data[: 8 << 20])[:-1]  # whole members of the first 8 MB
    original = data[: members[-1][1]]
    records, _ = read_all(_write(tmp_path / "o.warc.gz", original))
    assert len(records) == len(members) > 100
    mutated = corrupt_members(original, random.Random(seed))
    assert len(mutated.damaged) >= 10
    got, counters = read_all(_write(tmp_path / "m.warc.gz", mutated.data))
    expected = {(records[i].url, records[i].payload) for i in mutated.intact}
    returned = {(r.url, r.payload) for r in got}
    assert expected <= returned  # nothing intact is lost
    assert returned <= {(r.url, r.payload) for r in records}  # nothing damaged passes as data
    assert counters["warc.malformed_record"] >= len(mutated.damaged) - (len(returned) - len(expected))


def _write(path, data: bytes):
    path.write_bytes(data)
    return path
