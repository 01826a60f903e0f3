"""The quality scoring stage on Spark: model shipped to the executors, quantiles per language, scores and
ranks, the keep rules, the floor, rejects, counters and the per-language report."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from datapipe.document import Document
from datapipe.quality.config import (
    RANK_ANNOTATION,
    REJECT_BELOW_CUTOFF,
    REJECT_PARETO,
    SCORE_ANNOTATION,
    ScoreConfig,
)
from jobs import quality
from tests.conftest import ROOT, shared
from tests.test_quality import (
    quality_corpus,
    stage_run,
    trained_models,
    write_stage_output,
)

pytestmark = pytest.mark.spark


def read_rows(path: Path) -> list[dict]:
    return [r for f in sorted(path.glob("*.parquet")) for r in pq.read_table(f).to_pylist()]


def annotations(row: dict) -> dict:
    return dict(row["annotations"] or [])


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    return trained_models(tmp_path_factory)[0]


@pytest.fixture(scope="module")
def stage_input(tmp_path_factory) -> tuple[Path, list[Document]]:
    """Cleaned web documents of every language, the Chinese UDHR's paragraphs posing as web pages
    without a language (as if lid had not run), and Book-domain documents."""
    web = quality_corpus(tmp_path_factory).web_docs
    udhr = shared("multilingual", "udhr", "txt", "cmn_hans.txt").read_text().split("\n")
    pages = [Document(id=f"udhr-zh-{i}", text=t, lang=None) for i, t in enumerate(udhr) if len(t) > 80]
    books = [Document(id=f"book-{d.id}", text=d.text, lang=d.lang, domain="Book") for d in web if d.lang in ("en", "zh")][:20]
    docs = web + pages + books
    return write_stage_output(tmp_path_factory.mktemp("quality-in") / "docs", docs), docs


def _conf(tmp_path: Path, score: dict) -> Path:
    path = tmp_path / "quality.yaml"
    path.write_text(yaml.safe_dump({"score": score}))
    return path


def test_keep_fraction_stage_end_to_end(spark, model_dir, stage_input, tmp_path):
    inp, docs = stage_input
    out = tmp_path / "out"
    score = {"keep_fraction": {"zh": 0.5}, "default_keep_fraction": 0.7}
    stats = quality.run(["--input", str(inp), "--output", str(out), "--model", str(model_dir), "--config", str(_conf(tmp_path, score)), "--partitions", "3"])

    kept, rejected = read_rows(out), read_rows(out / "_rejects")
    assert len(kept) + len(rejected) == len(docs)
    # The executors decided exactly as the pure-Python stage over exact quantiles: Spark's sketch is
    # exact at this size.
    stage, outcomes = stage_run(model_dir, ScoreConfig(**score), docs)
    expected = {o.doc.id: o for o in outcomes}
    for row in kept + rejected:
        e = expected[row["id"]]
        assert annotations(row) == e.doc.annotations, row["id"]
        assert row.get("reject_reason") == e.reason
    assert {r["reject_reason"] for r in rejected} == {REJECT_BELOW_CUTOFF} and {r["reject_stage"] for r in rejected} == {"quality"}
    c = stats["counters"]
    for lang, f in (("en", 0.7), ("zh", 0.5)):
        n = c[f"filtered.{lang}"]
        assert c[f"kept.{lang}"] == stage.counters[f"kept.{lang}"] and f * n <= c[f"kept.{lang}"] <= f * n + 1
    assert c["filtered.zh"] == sum(d.lang == "zh" and d.domain == "WebText" for d in docs) + sum(d.id.startswith("udhr-zh") for d in docs)
    by_id = {r["id"]: r for r in kept}
    assert all(d.id in by_id and RANK_ANNOTATION in annotations(by_id[d.id]) for d in docs if d.domain == "Book")  # scored, not filtered
    unscored = [d for d in docs if d.lang not in ("en", "zh", None)]
    assert unscored and all(d.id in by_id and SCORE_ANNOTATION not in annotations(by_id[d.id]) for d in unscored)
    assert c["docs_in"] == len(docs) and c["docs_out"] == len(kept) and c["drop.quality:below_cutoff"] == len(rejected)
    assert c["unscored"] == len(unscored) and c["scored"] == len(docs) - len(unscored) and c["not_filtered_domain"] == 20
    assert c["language_identified"] == sum(d.lang is None for d in docs)
    saved = json.loads((out / "_stats.json").read_text())
    assert saved["languages"]["de"] == {"status": "not filtered", "reason": "too little training data: 91 reference and 0 web documents, fewer than min_documents_per_class 10"}
    en = saved["languages"]["en"]
    assert en["status"] == "filtered" and en["documents"] == c["filtered.en"] and en["keep_fraction"] == 0.7
    assert en["cutoff"] == min(annotations(r)[SCORE_ANNOTATION] for r in kept if r["lang"] == "en" and r["domain"] == "WebText")
    assert saved["model"]["languages"]["en"]["models"] == ["quality.en.0.bin", "quality.en.1.bin", "quality.en.2.bin"]
    report = (out / "_quality.md").read_text()
    assert f"| en | filtered | {c['filtered.en']} | {c['kept.en']} |" in report and "| de | not filtered: too little training data" in report


def test_a_language_below_the_floor_stops_the_job_before_publishing(spark, model_dir, stage_input, tmp_path, capsys):
    """GPT-3's rule at alpha 9 keeps almost no web text whose score is low (the classifiers score web text
    low): the floor stops the job with one line, and nothing is published."""
    inp, _ = stage_input
    out = tmp_path / "out"
    conf = _conf(tmp_path, {"mode": "pareto", "pareto_alpha": 9.0, "min_keep_fraction": 0.3})
    assert quality.main(["--input", str(inp), "--output", str(out), "--model", str(model_dir), "--config", str(conf)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "below score.min_keep_fraction 0.3 (mode pareto)" in err[0] and "en keeps" in err[0]
    assert not out.exists() and not list(tmp_path.glob("out._tmp-*"))


def test_pareto_stage_does_not_depend_on_partitioning(spark, model_dir, stage_input, tmp_path):
    """Four Spark partitions decide exactly as one pure-Python pass over all documents."""
    inp, docs = stage_input
    out = tmp_path / "out"
    score = {"mode": "pareto", "pareto_alpha": 1.0, "min_keep_fraction": 0.0}  # a mild alpha keeps a mix to compare
    stats = quality.run(["--input", str(inp), "--output", str(out), "--model", str(model_dir), "--config", str(_conf(tmp_path, score)), "--partitions", "4"])
    kept, rejected = {r["id"] for r in read_rows(out)}, {r["id"]: r["reject_reason"] for r in read_rows(out / "_rejects")}
    assert kept and rejected and set(rejected.values()) == {REJECT_PARETO}
    _, outcomes = stage_run(model_dir, ScoreConfig(**score), docs)
    assert {o.doc.id for o in outcomes if o.kept} == kept
    assert stats["counters"]["drop.quality:pareto"] == len(rejected)
    assert stats["languages"]["en"]["cutoff"] is None


def test_stage_errors_before_any_work(spark, model_dir, stage_input, tmp_path, capsys):
    inp, _ = stage_input
    assert quality.main(["--input", str(inp), "--output", str(tmp_path / "o")]) == 2
    assert "no model" in capsys.readouterr().err
    not_a_model = tmp_path / "empty"
    not_a_model.mkdir()
    assert quality.main(["--input", str(inp), "--output", str(tmp_path / "o"), "--model", str(not_a_model)]) == 2
    assert "not a quality model directory" in capsys.readouterr().err
    conf = _conf(tmp_path, {"domains": ["Webtext"]})
    assert quality.main(["--input", str(inp), "--output", str(tmp_path / "o"), "--model", str(model_dir), "--config", str(conf)]) == 2
    assert "score.domains" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
    proc = subprocess.run([sys.executable, "-m", "jobs.quality", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "--model" in proc.stdout
