"""Every stage's command line: --help, and clear errors before any Spark work on bad config or input."""

from __future__ import annotations

import subprocess
import sys

import pytest

from jobs import clean, decontaminate, dedup_minhash, dedup_paragraphs, extract, mix, quality, safety, url_filter
from tests.conftest import ROOT

STAGES = [extract, url_filter, clean, dedup_paragraphs, safety, quality, dedup_minhash, decontaminate, mix]


@pytest.mark.parametrize(
    "module",
    ["jobs.extract", "jobs.url_filter", "jobs.clean", "jobs.dedup_paragraphs", "jobs.safety", "jobs.ingest", "jobs.quality_model", "jobs.sample",
     "jobs.quality", "jobs.dedup_minhash", "jobs.decontaminate", "jobs.mix", "jobs.shards", "jobs.run_chain", "jobs.dist", "sample_corpus",
     "tokenizer.train", "tokenizer.report", "train.pretrain", "train.evaluate", "train.export_hf", "train.params",
     "train.coord_check", "train.hparams", "train.mup_search", "train.mup_transfer", "report", "chaos.suite"],
)
def test_help(module):
    proc = subprocess.run([sys.executable, "-m", module, "--help"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "usage:" in proc.stdout


@pytest.mark.parametrize("stage", STAGES, ids=lambda m: m.__name__)
def test_bad_config_is_reported_with_the_key(stage, tmp_path, capsys):
    conf = tmp_path / "bad.yaml"
    conf.write_text("no_such_setting: 1\n")
    assert stage.main(["--input", str(tmp_path), "--output", str(tmp_path / "o"), "--config", str(conf)]) == 2
    err = capsys.readouterr().err
    assert "no_such_setting" in err and str(conf) in err


def test_missing_config_file(tmp_path, capsys):
    assert extract.main(["--input", str(tmp_path), "--output", str(tmp_path / "o"), "--config", str(tmp_path / "nope.yaml")]) == 2
    assert "config file not found" in capsys.readouterr().err


def test_no_job_script_shadows_a_standard_library_module():
    """``spark-submit jobs/x.py`` puts ``jobs/`` first on ``sys.path``: a ``jobs/tokenize.py`` would be imported
    as the standard library's ``tokenize`` by every job (pyarrow then fails at start-up)."""
    clashes = sorted(p.name for p in (ROOT / "jobs").glob("*.py") if p.stem in sys.stdlib_module_names)
    assert clashes == []


def test_a_full_disk_is_one_line_and_exit_code_1(capsys):
    import errno

    from datapipe.cli import full_disk, main_of

    def fills(argv):
        raise RuntimeError("Job aborted.") from OSError(errno.ENOSPC, "No space left on device", "/data/out/part-0")

    assert main_of(fills)([]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: [Errno 28] No space left on device: '/data/out/part-0'") and "\n" not in err
    spark = RuntimeError("An error occurred while calling o88.parquet.\n: org.apache.spark.SparkException: Job aborted.\n"
                         "\tat org.apache.spark...\nCaused by: java.io.IOException: No space left on device\n\tat java.io...")
    assert full_disk(spark) == "java.io.IOException: No space left on device"
    assert full_disk(ValueError("a bug")) is None
    with pytest.raises(ValueError):
        main_of(lambda argv: (_ for _ in ()).throw(ValueError("a bug")))([])
