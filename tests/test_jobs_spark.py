"""The Spark stages in local mode: real outcomes on real WARC files, atomic output, the funnel."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from datapipe.config import StrictModel
from datapipe.document import DOCUMENT_SCHEMA, Document
from datapipe.extract import Extractor
from datapipe.stage import DocumentStage
from datapipe.warc import RawRecord, write_html_warc
from jobs import dedup_paragraphs, extract
from jobs.runner import Plan, StageJob, documents
from tests.conftest import shared
from tests.test_extract import gold_pages, snippet_scores

pytestmark = pytest.mark.spark


def read_docs(path: Path) -> list[dict]:
    files = sorted(p for p in Path(path).glob("*.parquet"))
    rows = [r for f in files for r in pq.read_table(f).to_pylist()]
    return sorted(rows, key=lambda r: r["id"])


def read_rejects(path: Path) -> list[dict]:
    return [r for f in sorted((Path(path) / "_rejects").glob("*.parquet")) for r in pq.read_table(f).to_pylist()]


def stats(path: Path) -> dict:
    return json.loads((Path(path) / "_stats.json").read_text())


@pytest.fixture(scope="module")
def extracted_shared(spark, tmp_path_factory):
    out = tmp_path_factory.mktemp("extract") / "out"
    extract.run(["--input", str(shared("warc")), "--output", str(out)])
    return out


def test_extract_every_shared_warc(extracted_shared):
    st = stats(extracted_shared)
    c = st["counters"]
    drops = sum(v for k, v in c.items() if k.startswith("drop."))
    assert c["docs_in"] == c["docs_out"] + drops  # every record is a document or a counted drop
    docs = read_docs(extracted_shared)
    assert len(docs) == c["docs_out"] >= 150
    assert c["warc.malformed_record"] >= 5 and c["warc.resync"] >= 3 and c["warc.whole_file_gzip"] == 3
    assert c["drop.not_response"] > 500 and c["drop.http_status"] > 0 and c["drop.not_html"] > 0
    by_file = {}
    for d in docs:
        by_file.setdefault(Path(d["source_file"]).name, []).append(d)
    # This page comes after a record with a wrong Content-Length: only the resync reaches it.
    assert "http://www.example.com/data-href.examples.html" in {d["url"] for d in by_file["link-extraction-test.warc"]}
    assert all(d["lang"] and 0 < d["lang_score"] <= 1 for d in docs)
    assert {"en", "ja"} <= {d["lang"] for d in docs}
    assert (extracted_shared / "_SUCCESS").exists() and (extracted_shared / "_funnel.md").exists()


def test_extract_gold_pages_through_spark(spark, tmp_path):
    pages = gold_pages()
    write_html_warc(str(tmp_path / "gold-0.warc.gz"), [(u, h) for u, h, _ in pages[::2]])
    write_html_warc(str(tmp_path / "gold-1.warc.gz"), [(u, h) for u, h, _ in pages[1::2]])
    out = tmp_path / "out"
    extract.run(["--input", str(tmp_path / "gold-*.warc.gz"), "--output", str(out)])
    docs = read_docs(out)
    texts = {d["url"]: d["text"] for d in docs}
    with_share, without_share = snippet_scores(texts, pages)
    assert with_share >= 0.85 and without_share >= 0.88
    # The Spark stage gives exactly what the pure-Python extractor gives on the same records.
    ex = Extractor()
    for url, html, _ in pages[:20]:
        doc = ex.document_from_record(RawRecord("response", url, None, 0, None, 200, "text/html", html, False), "x")
        assert texts.get(url) == (doc.text if doc else None)


def test_rerun_gives_the_same_result(spark, tmp_path):
    src = shared("warc", "resiliparse", "tests", "data", "warcfile.warc.gz")
    a, b = tmp_path / "a", tmp_path / "b"
    extract.run(["--input", str(src), "--output", str(a)])
    extract.run(["--input", str(src), "--output", str(b)])
    extract.run(["--input", str(src), "--output", str(b)])  # replacing an existing output
    assert read_docs(a) == read_docs(b) and len(read_docs(a)) > 5
    assert not list(tmp_path.glob("*._tmp-*")) and not list(tmp_path.glob("*._old-*"))


class NoSettings(StrictModel):
    """The config of the stages below: none."""


class KeepAll(DocumentStage):
    name = "keep_all"

    def process(self, doc):
        return doc


class FailMidway(DocumentStage):
    name = "fail_midway"

    def process(self, doc):
        if doc.id == "id3":
            raise RuntimeError("task killed midway")
        return doc


def test_failed_stage_leaves_previous_output_untouched(spark, tmp_path):
    inp, out = tmp_path / "in", tmp_path / "out"
    _write_docs(inp, [Document(id=f"id{i}", text="kept") for i in range(4)])
    StageJob("keep_all", "test", NoSettings, documents(lambda job: Plan(KeepAll(), job.docs))).run(["--input", str(inp), "--output", str(out)])
    before = read_docs(out)
    assert len(before) == 4
    with pytest.raises(Exception, match="task killed midway"):
        StageJob("fail_midway", "test", NoSettings, documents(lambda job: Plan(FailMidway(), job.docs))).run(
            ["--input", str(inp), "--output", str(out)])
    assert read_docs(out) == before and stats(out)["stage"] == "keep_all"
    assert not list(tmp_path.glob("out._tmp-*"))


def test_python_workers_run_tasks_on_their_main_thread(spark):
    """The per-page time limit uses SIGALRM, which only works on a process's main thread."""

    def probe(batches):
        for batch in batches:
            yield pa.RecordBatch.from_pylist([{"main": threading.current_thread() is threading.main_thread()}] * batch.num_rows)

    rows = spark.range(4).mapInArrow(probe, "main boolean").collect()
    assert rows and all(r.main for r in rows)


def _write_docs(path: Path, docs: list[Document]) -> None:
    path.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist([d.to_row() for d in docs], schema=DOCUMENT_SCHEMA), path / "part-0.parquet")
    (path / "_SUCCESS").write_text("")


LONG = " ".join(["The committee discussed the proposal at length and agreed to publish a report."] * 4)


def test_paragraph_dedup(spark, tmp_path):
    boiler = "Subscribe to our newsletter for weekly updates from the editors."
    docs = [
        Document(id="b", crawl_date="2024-01-02T00:00:00Z", text=f"{LONG} B\n{boiler}\nOnly in b."),
        Document(id="a", crawl_date="2024-01-03T00:00:00Z", text=f"{LONG} A\nSUBSCRIBE to our newsletter, for weekly updates from the editors!\nOnly in a."),
        Document(id="c", crawl_date="2024-01-01T00:00:00Z", text=f"{boiler}\n{boiler}\nshort"),
        Document(id="d", crawl_date=None, text=f"{LONG} D\n{boiler}"),
    ]
    inp, out = tmp_path / "in", tmp_path / "out"
    _write_docs(inp, docs)
    dedup_paragraphs.run(["--input", str(inp), "--output", str(out), "--config", str(_yaml(tmp_path, "min_doc_chars: 0\n"))])
    kept = {d["id"]: d["text"] for d in read_docs(out)}
    rejects = {r["id"]: r["reject_reason"] for r in read_rejects(out)}
    # c is crawled first: it owns the boilerplate (its own second copy is removed); the others lose it,
    # the normalised variant in a included.
    assert kept["c"] == f"{boiler}\nshort"
    assert kept["b"] == f"{LONG} B\nOnly in b."
    assert kept["a"] == f"{LONG} A\nOnly in a."
    assert kept["d"] == f"{LONG} D"
    assert rejects == {}
    c = stats(out)["counters"]
    assert c["paragraphs_removed"] == 4 and c["docs_out"] == 4


def test_paragraph_dedup_drops_documents_left_too_short(spark, tmp_path):
    shared_para = "This paragraph is shared by both documents and carries most of their text. " * 4
    docs = [Document(id="x1", text=f"{shared_para}\n{LONG}"), Document(id="x2", text=f"{shared_para}\ntail")]
    inp, out = tmp_path / "in", tmp_path / "out"
    _write_docs(inp, docs)
    dedup_paragraphs.run(["--input", str(inp), "--output", str(out), "--config", str(_yaml(tmp_path, "order: id\nmin_doc_chars: 100\n"))])
    assert [d["id"] for d in read_docs(out)] == ["x1"]
    (rej,) = read_rejects(out)
    assert rej["id"] == "x2" and rej["reject_reason"] == "too_short_after_dedup" and rej["reject_stage"] == "dedup_paragraphs"
    assert rej["text"] == f"{shared_para}\ntail"  # rejects keep the document as it came in


def test_paragraph_dedup_leaves_headings_and_short_lines(spark, tmp_path):
    """Lines too short to be evidence of copying (headings, labels) stay in every document."""
    docs = [Document(id=f"w{n}", text=f"History\n{LONG} {n}\nEarly life and education\n{LONG} more {n}\n国内联播快讯") for n in ("one", "two", "three")]
    inp, out = tmp_path / "in", tmp_path / "out"
    _write_docs(inp, docs)
    dedup_paragraphs.run(["--input", str(inp), "--output", str(out)])
    kept = {d["id"]: d["text"].split("\n") for d in read_docs(out)}
    assert all(lines[0] == "History" and lines[2] == "Early life and education" and lines[-1] == "国内联播快讯" for lines in kept.values())
    assert stats(out)["counters"].get("paragraphs_removed", 0) == 0


def test_identical_recrawls_are_two_documents_and_one_survives_each_dedup(spark, tmp_path):
    """The same unchanged page captured in two crawls: two records, two ids; paragraph dedup keeps the
    earlier capture whole and rejects the later one, and MinHash alone also keeps exactly one."""
    from jobs import dedup_minhash

    url, html, _ = next(p for p in gold_pages() if len(p[1]) > 20_000)
    write_html_warc(str(tmp_path / "crawl-1.warc.gz"), [(url, html)], date="2024-01-01T00:00:00Z")
    write_html_warc(str(tmp_path / "crawl-2.warc.gz"), [(url, html)], date="2024-03-01T00:00:00Z")
    ex, para, mh = tmp_path / "extracted", tmp_path / "para", tmp_path / "minhash"
    extract.run(["--input", str(tmp_path / "crawl-*.warc.gz"), "--output", str(ex)])
    pages = read_docs(ex)
    assert len(pages) == 2 and pages[0]["id"] != pages[1]["id"] and pages[0]["text"] == pages[1]["text"]

    dedup_paragraphs.run(["--input", str(ex), "--output", str(para), "--config", str(_yaml(tmp_path, "min_doc_chars: 200\n"))])
    (survivor,) = read_docs(para)
    assert survivor["crawl_date"] == "2024-01-01T00:00:00Z" and survivor["text"] == pages[0]["text"]
    assert [r["reject_reason"] for r in read_rejects(para)] == ["too_short_after_dedup"]

    dedup_minhash.run(["--input", str(ex), "--output", str(mh)])
    (kept,) = read_docs(mh)
    (dup,) = read_rejects(mh)
    assert dup["reject_reason"] == "minhash:duplicate" and dup["reject_detail"] == kept["id"]


def _yaml(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "conf.yaml"
    p.write_text(text)
    return p


def test_stage_reports_missing_input_clearly(spark, tmp_path, capsys):
    assert dedup_paragraphs.main(["--input", str(tmp_path / "nope"), "--output", str(tmp_path / "o")]) == 2
    assert "input not found" in capsys.readouterr().err
    half = tmp_path / "half"
    half.mkdir()
    assert dedup_paragraphs.main(["--input", str(half), "--output", str(tmp_path / "o")]) == 2
    assert "no _SUCCESS" in capsys.readouterr().err


def test_chain_on_the_sample_corpus(spark, tmp_path):
    """extract -> clean -> dedup_paragraphs on the built-in sample, checked against its manifest."""
    from jobs import clean
    from sample_corpus import MANIFEST_NAME, write_sample_corpus

    warc = tmp_path / "warc"
    write_sample_corpus(warc)
    manifest = json.loads((warc / MANIFEST_NAME).read_text())
    ex, cl, dp = tmp_path / "extracted", tmp_path / "cleaned", tmp_path / "dedup"
    extract.run(["--input", str(warc / "*.warc*"), "--output", str(ex)])
    clean.run(["--input", str(ex), "--output", str(cl)])
    dedup_paragraphs.run(["--input", str(cl), "--output", str(dp)])

    extracted = {d["url"]: d for d in read_docs(ex)}
    good = [p for p in manifest["pages"] if p["expected_quality"] == "good"]
    assert {p["url"] for p in good} <= set(extracted)
    for p in good:  # language and charset: GBK, Shift_JIS, undeclared Latin-1, ... all decoded
        doc = extracted[p["url"]]
        assert doc["lang"] == p["lang"] and "\ufffd" not in doc["text"], p["url"]

    kept = {d["url"] for d in read_docs(cl)}
    rejected = {r["url"]: r["reject_reason"] for r in read_rejects(cl)}
    spam = [p["url"] for p in manifest["pages"] if p["kind"] == "spam"]
    assert spam and all(u in rejected for u in spam)
    assert sum(p["url"] in kept for p in good) >= 0.95 * len(good)

    final = read_docs(dp)
    corpus = "\n".join(d["text"] for d in final)
    for para in manifest["repeated_paragraphs"]:  # boilerplate planted on many pages survives once
        assert corpus.count(para["text"]) <= 1, para["text"][:40]
    funnel = (dp / "_funnel.md").read_text()
    assert [line.split("|")[1].strip() for line in funnel.splitlines()[2:]] == ["extract", "clean", "dedup_paragraphs"]


def test_rejects_as_ids_keep_everything_but_the_text(spark, tmp_path):
    docs = [Document(id="keep", text=LONG, crawl_date="2024-01-01"),
            Document(id="drop", text=f"{LONG}\nshort", crawl_date="2024-02-01", source_file="s3://crawl/x.warc.gz", source_offset=42)]
    inp = tmp_path / "in"
    _write_docs(inp, docs)
    conf = _yaml(tmp_path, "min_doc_chars: 100\n")
    dedup_paragraphs.run(["--input", str(inp), "--output", str(tmp_path / "full"), "--config", str(conf)])
    dedup_paragraphs.run(["--input", str(inp), "--output", str(tmp_path / "ids"), "--config", str(conf), "--rejects", "ids"])
    full, ids = read_rejects(tmp_path / "full"), read_rejects(tmp_path / "ids")
    assert [r["text"] for r in full] == [f"{LONG}\nshort"] and [r["text"] for r in ids] == [""]
    for r in full + ids:
        r.pop("text")
    assert full == ids and ids[0]["source_offset"] == 42
    assert [d["text"] for d in read_docs(tmp_path / "ids")] == [LONG]


def test_stages_on_an_object_store_commit_without_renames(spark, tmp_path, monkeypatch):
    """Where a rename is a copy, a stage's data stays where Spark wrote it, the commit is one small
    file, and the next stage, the stats chain and the rejects are found through it."""
    from datapipe import io
    from jobs import clean
    from jobs.runner import read_stats

    monkeypatch.setattr(io, "renames_directories", lambda uri: False)
    renamed = []
    monkeypatch.setattr(io, "rename", lambda src, dst: renamed.append(src))
    docs = [Document(id="keep", text=LONG, crawl_date="2024-01-01"),
            Document(id="drop", text=f"{LONG}\nshort", crawl_date="2024-02-01")]
    inp, dedup, cleaned = tmp_path / "in", tmp_path / "dedup", tmp_path / "cleaned"
    _write_docs(inp, docs)
    conf = _yaml(tmp_path, "min_doc_chars: 100\n")
    for _ in range(2):  # the second run replaces the first
        dedup_paragraphs.run(["--input", str(inp), "--output", str(dedup), "--config", str(conf)])
    clean.run(["--input", str(dedup), "--output", str(cleaned)])
    assert renamed == []
    attempts = [p.name for p in dedup.iterdir() if p.name.startswith("_attempt-")]
    assert len(attempts) == 1 and json.loads((dedup / "_SUCCESS").read_text())["committed"].startswith(attempts[0])
    assert [d["id"] for d in read_docs(Path(io.resolve(str(dedup))))] == ["keep"]
    assert read_stats(str(cleaned))["counters"]["docs_in"] == 1
    rejects = [r for f in Path(io.resolve(str(dedup), "_rejects")).glob("*.parquet") for r in pq.read_table(f).to_pylist()]
    assert [r["id"] for r in rejects] == ["drop"]
    assert read_stats(str(cleaned))["inputs"] == [f"file:{dedup}"] and "| dedup_paragraphs |" in (Path(io.resolve(str(cleaned))) / "_funnel.md").read_text()


@pytest.mark.parametrize("files", [1, 2])
def test_paragraph_dedup_keeps_one_of_the_copies_of_a_record_read_twice(spark, tmp_path, files):
    """The same WARC record twice (one id), in one input file or two: one copy keeps its paragraphs, not
    none (nor both)."""
    page = Document(id="same", text=f"{LONG} one\n{LONG} two", crawl_date="2024-01-01")
    inp = tmp_path / "in"
    inp.mkdir()
    rows = [page.to_row(), page.to_row()]
    for i in range(files):
        pq.write_table(pa.Table.from_pylist(rows[i::files], schema=DOCUMENT_SCHEMA), inp / f"part-{i}.parquet")
    (inp / "_SUCCESS").write_text("")
    dedup_paragraphs.run(["--input", str(inp), "--output", str(tmp_path / "out"), "--config", str(_yaml(tmp_path, "min_doc_chars: 100\n"))])
    assert [d["text"] for d in read_docs(tmp_path / "out")] == [page.text]
    assert [r["reject_reason"] for r in read_rejects(tmp_path / "out")] == ["too_short_after_dedup"]
