"""A stage submitted with spark-submit to a real standalone cluster (master and worker on 127.0.0.1)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pyspark
import pytest

from jobs.dist import build_zip
from jobs.standalone import Standalone, master_state
from tests.conftest import ROOT, shared

pytestmark = pytest.mark.cluster
SPARK_HOME = Path(pyspark.__file__).parent


def _wait(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.5)
    raise TimeoutError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def standalone(tmp_path_factory):
    work = tmp_path_factory.mktemp("standalone")
    with Standalone(work, workers=1, cores=2, memory="2g") as cluster:
        yield cluster.master, cluster.env, work, cluster.ui


def test_extract_through_spark_submit_on_a_standalone_cluster(standalone):
    master, env, work, ui = standalone
    zip_path = build_zip(work / "teleflm.zip")
    out = work / "out"
    src = shared("warc", "resiliparse", "tests", "data", "warcfile.warc.gz")
    cmd = [str(SPARK_HOME / "bin" / "spark-submit"), "--master", master, "--py-files", str(zip_path),
           "--conf", "spark.ui.enabled=false", "--conf", f"spark.pyspark.python={sys.executable}",
           "--executor-memory", "1g", str(ROOT / "jobs" / "extract.py"), "--input", str(src), "--output", str(out)]
    proc = subprocess.run(cmd, env=env, cwd=work, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    stats = json.loads((out / "_stats.json").read_text())
    assert stats["counters"]["docs_out"] >= 10 and (out / "_SUCCESS").exists()
    # The application really ran on the cluster, and its executors finished cleanly.
    _wait(lambda: master_state(ui).get("completedapps"), 30, "the master to record the finished application")
    apps = master_state(ui)["completedapps"]
    assert [a["name"] for a in apps] == ["teleflm-extract"] and apps[0]["state"] == "FINISHED"


def test_the_whole_chain_on_the_sample_through_the_cluster(standalone, tmp_path):
    """run_chain submits every data stage to the standalone master; a second run skips them all."""
    import yaml

    from sample_corpus import MANIFEST_NAME, write_sample_corpus

    master, env, work, _ = standalone
    sample = tmp_path / "sample"
    write_sample_corpus(sample)
    decontam = tmp_path / "decontaminate.yaml"
    decontam.write_text(yaml.safe_dump({"root": str(sample), "benchmarks": [
        {"name": "sample_bench", "paths": ["benchmarks/sample_bench.jsonl"], "fields": ["question", "answer"]}]}))
    out = tmp_path / "out"
    pipeline = tmp_path / "pipeline.yaml"
    pipeline.write_text(yaml.safe_dump({
        "out": str(out), "warc": [str(sample / "*.warc*")], "domains": str(sample / "domains.yaml"),
        "driver_memory": "1g", "spark_args": ["--py-files", str(build_zip(work / "chain.zip")), "--executor-memory", "1g"],
        "configs": {"quality": str(ROOT / "configs" / "demo" / "quality.yaml"), "decontaminate": str(decontam),
                    "tokenizer": str(ROOT / "configs" / "demo" / "tokenizer.yaml"),
                    "tokenizer_report": str(ROOT / "configs" / "demo" / "tokenizer_report.yaml")},
    }))
    cmd = [sys.executable, "-m", "jobs.run_chain", "--config", str(pipeline), "--master", master, "--until", "mix"]
    proc = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=1500)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    funnel = (out / "report" / "funnel.md").read_text()
    stages = [line.split("|")[1].strip() for line in funnel.splitlines()[2:]]
    assert stages == ["extract", "url_filter", "clean", "dedup_paragraphs", "safety_web", "ingest", "safety_domains", "quality",
                      "dedup_minhash", "decontaminate", "mix"]
    assert (out / "report" / "funnel.png").stat().st_size > 10_000 and (out / "report" / "funnel.csv").exists()
    manifest = json.loads((sample / MANIFEST_NAME).read_text())
    decontam_stats = json.loads((out / "decontaminated" / "_stats.json").read_text())["counters"]
    assert decontam_stats["decontam.sample_bench.docs"] == len(manifest["benchmark"]["planted"])  # each cut or dropped
    assert json.loads((out / "dedup_minhash" / "_stats.json").read_text())["counters"].get("drop.minhash:duplicate", 0) >= 1
    mix = json.loads((out / "mixture" / "_manifest.json").read_text())
    assert {d["domain"] for d in mix["domains"]} >= {"WebText", "Code", "ClassicalChinese"}

    again = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and again.stdout.count("complete, skipped") == 17, again.stdout[-2000:]
