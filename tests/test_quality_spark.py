"""The quality scoring stage on Spark: model shipped to the executors, scores, keeping rules, rejects, counters."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from datapipe.document import Document
from datapipe.quality.config import REJECT_BELOW_THRESHOLD, REJECT_PARETO, SCORE_ANNOTATION, ScoreConfig
from datapipe.quality.scoring import QualityStage
from datapipe.stage import run_documents
from jobs import quality
from tests.conftest import ROOT, shared
from tests.test_quality import quality_corpus, trained_models, write_stage_output

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
    """Web documents of every language, reference paragraphs posing as web pages (half without a
    language, as if lid had not run), and Book-domain documents."""
    web = quality_corpus(tmp_path_factory).web_docs
    udhr = shared("multilingual", "udhr", "txt")
    reference = [Document(id=f"udhr-en-{i}", text=t, lang="en") for i, t in enumerate(udhr.joinpath("eng.txt").read_text().split("\n")) if len(t) > 200]
    reference += [Document(id=f"udhr-zh-{i}", text=t, lang=None) for i, t in enumerate(udhr.joinpath("cmn_hans.txt").read_text().split("\n")) if len(t) > 80]
    books = [Document(id=f"book-{d.id}", text=d.text, lang=d.lang, domain="Book") for d in web if d.lang in ("en", "zh")][:20]
    docs = web + reference + books
    return write_stage_output(tmp_path_factory.mktemp("quality-in") / "docs", docs), docs


def _conf(tmp_path: Path, score: dict) -> Path:
    path = tmp_path / "quality.yaml"
    path.write_text(yaml.safe_dump({"score": score}))
    return path


def test_threshold_stage_end_to_end(spark, model_dir, stage_input, tmp_path):
    inp, docs = stage_input
    out = tmp_path / "out"
    conf = _conf(tmp_path, {"thresholds": {"zh": 0.7}, "default_threshold": 0.5})
    stats = quality.run(["--input", str(inp), "--output", str(out), "--model", str(model_dir), "--config", str(conf), "--partitions", "3"])

    kept, rejected = read_rows(out), read_rows(out / "_rejects")
    assert len(kept) + len(rejected) == len(docs)
    # The executors scored exactly what the pure-Python filter gives on the same documents.
    expected = [Document(id=d.id, text=d.text, lang=d.lang, domain=d.domain) for d in docs]
    outcomes = run_documents(QualityStage(ScoreConfig(thresholds={"zh": 0.7}), lambda: str(model_dir)), expected)
    reasons = {o.doc.id: o.reason for o in outcomes}
    scores = {o.doc.id: o.doc.annotations.get(SCORE_ANNOTATION) for o in outcomes}
    for row in kept + rejected:
        assert annotations(row).get(SCORE_ANNOTATION) == scores[row["id"]], row["id"]
        assert row.get("reject_reason") == reasons[row["id"]]
    assert {r["reject_reason"] for r in rejected} == {REJECT_BELOW_THRESHOLD} and {r["reject_stage"] for r in rejected} == {"quality"}
    for r in rejected:  # documents without a language are the Chinese UDHR paragraphs
        assert r["domain"] == "WebText" and annotations(r)[SCORE_ANNOTATION] < (0.7 if (r["lang"] or "zh") == "zh" else 0.5)
    by_id = {r["id"]: r for r in kept}
    assert all(d.id in by_id for d in docs if d.domain == "Book")  # other domains pass through, scored
    assert all(SCORE_ANNOTATION in annotations(by_id[d.id]) for d in docs if d.domain == "Book")
    unscored = [d for d in docs if d.lang not in ("en", "zh", None)]
    assert unscored and all(d.id in by_id and SCORE_ANNOTATION not in annotations(by_id[d.id]) for d in unscored)
    assert len(kept) > 20 and len(rejected) > 20
    c = stats["counters"]
    assert c["docs_in"] == len(docs) and c["docs_out"] == len(kept) and c["drop.quality:below_threshold"] == len(rejected)
    assert c["unscored"] == len(unscored) and c["scored"] == len(docs) - len(unscored)
    assert c["scored.en"] + c["scored.zh"] == c["scored"] and c["not_filtered_domain"] == 20
    assert c["language_identified"] == sum(d.lang is None for d in docs)
    saved = json.loads((out / "_stats.json").read_text())
    assert saved["model"]["languages"] == {"en": "quality.en.bin", "zh": "quality.zh.bin"} and saved["config"]["score"]["thresholds"] == {"zh": 0.7}


def test_pareto_stage_does_not_depend_on_partitioning(spark, model_dir, stage_input, tmp_path):
    """Four Spark partitions decide exactly as one pure-Python pass over all documents."""
    inp, docs = stage_input
    out = tmp_path / "out"
    conf = _conf(tmp_path, {"mode": "pareto", "pareto_alpha": 3.0})
    stats = quality.run(["--input", str(inp), "--output", str(out), "--model", str(model_dir), "--config", str(conf), "--partitions", "4"])
    kept, rejected = {r["id"] for r in read_rows(out)}, {r["id"]: r["reject_reason"] for r in read_rows(out / "_rejects")}
    assert kept and rejected and set(rejected.values()) == {REJECT_PARETO}
    expected = [Document(id=d.id, text=d.text, lang=d.lang, domain=d.domain) for d in docs]
    outcomes = run_documents(QualityStage(ScoreConfig(mode="pareto", pareto_alpha=3.0), lambda: str(model_dir)), expected)
    assert {o.doc.id for o in outcomes if o.kept} == kept
    assert stats["counters"]["drop.quality:pareto"] == len(rejected)


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

