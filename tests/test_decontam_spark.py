"""The decontamination stage end to end in Spark local mode, on a small Parquet input of real web
pages and Chinese Wikipedia paragraphs with real benchmark questions planted in some of them."""

from __future__ import annotations

import csv
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from datapipe.decontam import DecontamConfig, Decontaminator, build_index
from datapipe.document import DOCUMENT_SCHEMA, Document
from jobs import decontaminate
from tests.conftest import ROOT, shared
from tests.test_decontam import cmrc_paragraphs, gsm8k_questions, plant, plant_zh, web_docs
from tests.test_jobs_spark import _write_docs, read_docs, read_rejects, stats

pytestmark = pytest.mark.spark

# A subset, to keep the test small: the MMLU and CMMLU subjects the planted questions come from.
BENCHMARKS = [
    {"name": "gsm8k", "paths": ["gsm8k/grade_school_math/data/test.jsonl"], "fields": ["question", "answer"], "strip_pattern": "<<[^>]*>>"},
    {"name": "mmlu", "paths": ["MMLU/data/mmlu/test/anatomy_test.csv"], "fields": ["question", "choice0", "choice1", "choice2", "choice3"]},
    {"name": "cmmlu", "paths": ["CMMLU/data/test/professional_law.csv"], "fields": ["Question", "A", "B", "C", "D"]},
    {"name": "not_here", "paths": ["no_such_benchmark/test.jsonl"], "fields": ["question"]},
]
MMLU_QUESTION = (
    "A lesion causing compression of the facial nerve at the stylomastoid foramen will cause ipsilateral "
    "paralysis of the facial muscles, loss of taste, lacrimation and decreased salivation."
)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> tuple[Path, list[Document], dict[str, str]]:
    """30 web pages and 10 Chinese paragraphs in two Parquet files; which ones have a benchmark question
    planted in them, and from which benchmark (questions in three long pages and in one paragraph)."""
    web, zh = web_docs()[200:230], cmrc_paragraphs()[300:310]
    texts = {f"w{i:02d}": t for i, t in enumerate(web)} | {f"z{i:02d}": t for i, t in enumerate(zh)}
    questions = gsm8k_questions()
    cmmlu_question = "下列关于掩饰、隐瞒犯罪所得、犯罪所得收益罪的说法，错误的是"
    long_pages = [k for k in sorted(texts) if k[0] == "w" and len(texts[k]) > 2000]
    planted = {long_pages[0]: "gsm8k", long_pages[1]: "gsm8k", long_pages[2]: "mmlu", "z02": "cmmlu"}
    texts[long_pages[0]] = plant(texts[long_pages[0]], questions[11])
    texts[long_pages[1]] = plant(texts[long_pages[1]], questions[500])
    texts[long_pages[2]] = plant(texts[long_pages[2]], MMLU_QUESTION)
    texts["z02"] = plant_zh(texts["z02"], cmmlu_question)
    docs = [Document(id=k, text=v, lang="zh" if k[0] == "z" else "en", crawl_date="2024-01-01T00:00:00Z") for k, v in texts.items()]
    inp = tmp_path_factory.mktemp("decontam") / "in"
    _write_docs(inp, docs[:20])
    pq.write_table(pa.Table.from_pylist([d.to_row() for d in docs[20:]], schema=DOCUMENT_SCHEMA), inp / "part-1.parquet")
    return inp, docs, planted


def _config(tmp_path: Path, **settings) -> Path:
    path = tmp_path / "decontam.yaml"
    path.write_text(yaml.safe_dump({"benchmarks": BENCHMARKS, **settings}), encoding="utf-8")
    return path


def test_drop_mode(spark, corpus, tmp_path):
    inp, docs, planted = corpus
    out = tmp_path / "out"
    root = str(shared("benchmarks"))
    decontaminate.run(["--input", str(inp), "--output", str(out), "--config", str(_config(tmp_path, mode="drop")), "--benchmarks-root", root, "--partitions", "3"])

    kept = {d["id"] for d in read_docs(out)}
    rejects = {r["id"]: (r["reject_stage"], r["reject_reason"]) for r in read_rejects(out)}
    assert rejects == {k: ("decontaminate", f"decontam:{b}") for k, b in planted.items()}
    assert kept == {d.id for d in docs} - set(planted)

    st = stats(out)
    c = st["counters"]
    assert c["docs_in"] == len(docs) and c["docs_out"] == len(docs) - len(planted)
    assert (c["decontam.gsm8k.docs"], c["decontam.mmlu.docs"], c["decontam.cmmlu.docs"]) == (2, 1, 1)
    assert c["drop.decontam:gsm8k"] == 2 and c["drop.decontam:mmlu"] == 1 and c["drop.decontam:cmmlu"] == 1
    # the Spark stage counts exactly what the pure-Python scanner finds
    config = DecontamConfig(root=root, benchmarks=BENCHMARKS)
    scanner = Decontaminator(build_index(config), config)
    expected = Counter()
    for d in docs:
        expected.update(scanner.scan(d.text).matches)
    assert {b: c[f"decontam.{b}.ngrams"] for b in expected} == dict(expected)

    index = st["benchmark_index"]
    assert index["files_missing"] == 1 and index["benchmarks_skipped"] == 1 and index["benchmarks"]["not_here"]["skipped"]
    assert index["ngrams"] > 100_000 and index["bytes"] == 9 * index["ngrams"]
    with open(Path(root) / BENCHMARKS[1]["paths"][0], newline="", encoding="utf-8") as f:
        assert index["benchmarks"]["mmlu"]["items"] == len(list(csv.DictReader(f)))
    assert (out / "_SUCCESS").exists() and "decontaminate" in (out / "_funnel.md").read_text()


def test_cut_mode(spark, corpus, tmp_path):
    inp, docs, planted = corpus
    out = tmp_path / "out"
    root = str(shared("benchmarks"))
    decontaminate.run(["--input", str(inp), "--output", str(out), "--config", str(_config(tmp_path, mode="cut", root=root))])

    config = DecontamConfig(root=root, benchmarks=BENCHMARKS, mode="cut")
    scanner = Decontaminator(build_index(config), config)
    expected = {d.id: scanner.scan(d.text) for d in docs}
    kept = {d["id"]: d for d in read_docs(out)}
    rejects = {r["id"]: r["reject_reason"] for r in read_rejects(out)}
    for doc in docs:
        outcome = expected[doc.id]
        if outcome.text is None:
            assert rejects[doc.id] == outcome.reason
        else:
            assert kept[doc.id]["text"] == outcome.text
    cut = [k for k in planted if expected[k].text is not None]
    assert sorted(cut) == sorted(k for k in planted if k[0] == "w")  # long pages keep their text around the question
    for k in cut:
        ann = dict(kept[k]["annotations"])
        assert ann["decontam.ngrams"] > 0 and ann["decontam.chars_removed"] > 0
        assert gsm8k_questions()[11][:40] not in kept[k]["text"] and MMLU_QUESTION[:40] not in kept[k]["text"]
    c = stats(out)["counters"]
    assert c["decontam.docs_cut"] == len(cut) and c["docs_out"] == len(docs) - len(rejects)
    assert c["decontam.gsm8k.docs"] == 2


def test_help():
    proc = subprocess.run([sys.executable, "-m", "jobs.decontaminate", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "usage:" in proc.stdout and "--benchmarks-root" in proc.stdout


def test_bad_config_and_strict_missing_files_stop_before_spark(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("mode: erase\n")
    assert decontaminate.main(["--input", str(tmp_path), "--output", str(tmp_path / "o"), "--config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "mode" in err and str(bad) in err
    strict = _config(tmp_path, strict=True, root=str(shared("benchmarks")))
    assert decontaminate.main(["--input", str(tmp_path), "--output", str(tmp_path / "o"), "--config", str(strict)]) == 2
    assert "no_such_benchmark/test.jsonl" in capsys.readouterr().err
