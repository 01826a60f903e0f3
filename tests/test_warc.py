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


def test_the_chaos_corruption_on_many_seeds_loses_and_passes_nothing():
    """The corruption of ``chaos.warc_faults`` on its three real files, many seeds: every record of an intact
    member comes back with its exact payload, no record of a damaged member passes, each damage counts."""
    import random

    from chaos import warc_faults
    from chaos.faults import corrupt_members

    originals = {name: warc_faults._load(shared(), name) for name in warc_faults.FILES}
    reference = {name: list(iter_records(io.BytesIO(data), Counter())) for name, data in originals.items()}
    trials = 0
    for seed in range(20):
        rng = random.Random(seed)
        for name in sorted(originals):
            records = reference[name]
            mutated = corrupt_members(originals[name], random.Random(rng.random()))
            counters: Counter = Counter()
            got = {(r.url, r.payload) for r in iter_records(io.BytesIO(mutated.data), counters)}
            expected = {(records[i].url, records[i].payload) for i in mutated.intact}
            assert expected <= got, (seed, name, len(expected - got))
            assert got <= {(r.url, r.payload) for r in records}, (seed, name)
            unchanged = len(got) - len(expected)  # "damage" that left a member as it was (a flipped padding bit)
            assert counters["warc.malformed_record"] >= len(mutated.damaged) + mutated.inserted - unchanged, (seed, name)
            trials += 1
    assert trials == 60


def _records(data: bytes, **kw) -> tuple[list, Counter]:
    counters: Counter = Counter()
    return list(iter_records(io.BytesIO(data), counters, **kw)), counters


def _member(url: str, payload: bytes) -> bytes:
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    out = io.BytesIO()
    writer = WARCWriter(out, gzip=True)
    http = StatusAndHeaders("200 OK", [("Content-Type", "text/html")], protocol="HTTP/1.1")
    fixed = {"WARC-Date": "2024-01-01T00:00:00Z", "WARC-Record-ID": f"<urn:uuid:{url}>"}
    writer.write_record(writer.create_warc_record(url, "response", payload=io.BytesIO(payload), http_headers=http,
                                                  warc_headers_dict=fixed))
    return out.getvalue()


def _random_pages(n: int, size: int) -> list[tuple[str, bytes]]:
    """Pages of random words: compressed by deflate's codes (damage to stored, incompressible blocks would
    go unseen until the CRC check at the member's end)."""
    import random

    rng = random.Random(7)
    words = [bytes(rng.choices(b"abcdefghijklmnopqrstuvwxyz", k=rng.randrange(2, 10))) for _ in range(5000)]
    return [(f"https://example.org/{i}", b" ".join(rng.choices(words, k=size // 6))[:size]) for i in range(n)]


def _whole_file_gzip(pages) -> bytes:
    return gzip.compress(b"".join(gzip.decompress(_member(u, p)) for u, p in pages), mtime=0)


class _CountingStream(io.BytesIO):
    """Counts the bytes read; ``seekable`` as told."""

    def __init__(self, data: bytes, seekable: bool = True):
        super().__init__(data)
        self.read_bytes, self._seekable = 0, seekable

    def read(self, n=-1):
        out = super().read(n)
        self.read_bytes += len(out)
        return out

    def seekable(self):
        return self._seekable


def test_a_whole_file_gzip_streams_its_records():
    pages = _random_pages(1000, 10_000)  # about 5 MB: several read chunks
    data = _whole_file_gzip(pages)
    stream = _CountingStream(data)
    records = iter_records(stream, Counter())
    first = next(records)
    assert (first.url, first.payload) == pages[0] and stream.read_bytes < len(data) // 2
    assert [(r.url, r.payload) for r in [first, *records]] == pages


def test_a_damaged_whole_file_gzip_keeps_the_records_before_the_damage():
    pages = _random_pages(1000, 10_000)
    data = bytearray(_whole_file_gzip(pages))
    for i in range(len(data) // 2, len(data) // 2 + 40):
        data[i] ^= 0x5A
    records, counters = _records(bytes(data))
    got = [(r.url, r.payload) for r in records]
    assert 100 < len(got) < len(pages) and got == pages[: len(got)]
    assert counters["warc.corrupt_member"] >= 1 and counters["warc.whole_file_gzip"] == 1


def test_gzip_magic_in_garbage_does_not_hide_the_next_member():
    pages = _random_pages(3, 2_000)
    a, b, c = (_member(u, p) for u, p in pages)
    garbage = b"\x1f\x8b\x08\x00" + bytes(range(256)) + b"\x1f\x8b\x08\x08" + b"x" * 100 + b"\x1f\x8b\x08"
    records, counters = _records(a + garbage + b + garbage[:50] + c)
    assert [(r.url, r.payload) for r in records] == pages
    assert counters["warc.malformed_record"] >= 2 and counters["warc.resync"] >= 2


def test_a_member_holding_several_records_keeps_them_all():
    pages = _random_pages(4, 500)
    members = [_member(u, p) for u, p in pages]
    two = gzip.compress(gzip.decompress(members[1]) + gzip.decompress(members[2]), mtime=0)
    records, counters = _records(members[0] + two + members[3])
    assert [(r.url, r.payload) for r in records] == pages
    assert [r.offset for r in records][:2] == [0, len(members[0])] and counters["warc.whole_file_gzip"] == 1


def test_a_stream_that_cannot_seek_is_read_and_resynchronised():
    pages = _random_pages(5, 3_000)
    members = [_member(u, p) for u, p in pages]
    broken = bytearray(members[2])
    for i in range(30, 70):
        broken[i] ^= 0x5A
    data = b"".join(members[:2]) + bytes(broken) + b"".join(members[3:])
    counters: Counter = Counter()
    records = list(iter_records(_CountingStream(data, seekable=False), counters))
    assert [(r.url, r.payload) for r in records] == pages[:2] + pages[3:]
    assert counters["warc.corrupt_member"] >= 1


def test_a_storage_error_is_raised_not_taken_for_the_end():
    class Failing(io.BytesIO):
        def read(self, n=-1):
            if self.tell() > 5_000:
                raise ConnectionResetError("connection reset by peer")
            return super().read(min(n, 1_000) if n >= 0 else 1_000)

    data = b"".join(_member(u, p) for u, p in _random_pages(10, 2_000))
    with pytest.raises(ConnectionResetError):
        list(iter_records(Failing(data), Counter()))


def test_a_gzip_header_whose_extra_field_swallows_members_is_garbage():
    """Garbage that starts like a gzip header with an extra field: its length would have zlib skip the next
    member and decode the one after it as the garbage's own."""
    pages = _random_pages(4, 2_000)
    a, b, c, d = (_member(u, p) for u, p in pages)
    extra = b + c[:10]
    garbage = b"\x1f\x8b\x08\x04" + bytes(6) + len(extra).to_bytes(2, "little") + extra
    records, counters = _records(a + garbage + c[10:] + d)  # b and c follow a, and start inside the garbage
    assert [(r.url, r.payload) for r in records] == pages
    assert counters["warc.corrupt_member"] >= 1
