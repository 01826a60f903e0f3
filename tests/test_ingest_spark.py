"""The domain ingest stage (jobs/ingest.py) in local Spark: the built-in sample's domain sources end to
end against the sample manifest, missing sources, the command line."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from datapipe.document import DOMAINS
from jobs import ingest
from sample_corpus import DOMAINS_CONFIG, MANIFEST_NAME, write_sample_corpus
from tests.conftest import ROOT

pytestmark = pytest.mark.spark


def read_rows(path: Path, sub: str = "") -> list[dict]:
    return [r for f in sorted((path / sub).glob("*.parquet")) for r in pq.read_table(f).to_pylist()]


@pytest.fixture(scope="module")
def sample_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("sample")
    write_sample_corpus(out, n_files=1, include_plain=False)
    return out


@pytest.fixture(scope="module")
def ingested(spark, sample_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("ingest") / "domains"
    stats = ingest.run(["--config", str(sample_dir / DOMAINS_CONFIG), "--output", str(out)])
    manifest = json.loads((sample_dir / MANIFEST_NAME).read_text())
    return out, stats, manifest


def test_every_domain_of_the_sample_is_ingested(ingested):
    out, stats, manifest = ingested
    docs, rejects = read_rows(out), read_rows(out, "_rejects")
    c = stats["counters"]
    assert {d["domain"] for d in docs} == set(DOMAINS) - {"WebText"}
    assert c["docs_in"] == c["docs_out"] + len(rejects) and c["docs_out"] == len(docs)
    for domain, n in Counter(d["domain"] for d in docs).items():
        assert c[f"domain.{domain}.docs"] == n
    for expected in manifest["domains"]["sources"]:
        name = expected["name"]
        assert c.get(f"source.{name}.docs", 0) == expected["documents"], name
        assert Counter(r["reject_reason"] for r in rejects if r["url"].startswith(f"{name}:")) == expected["rejects"], name
        assert {k.split(".skip.")[1]: v for k, v in c.items() if k.startswith(f"source.{name}.skip.")} == expected["skips"], name
        assert c.get(f"source.{name}.ignored_files", 0) == expected["ignored_files"], name
        for counter, value in expected["counters"].items():
            assert c[f"source.{name}.{counter}"] == value, (name, counter)
    assert all(r["reject_stage"] == "ingest" for r in rejects)
    assert (out / "_SUCCESS").exists() and "| ingest |" in (out / "_funnel.md").read_text()


def test_documents_carry_ids_urls_and_languages(ingested, sample_dir):
    out, _, _ = ingested
    docs = read_rows(out)
    assert len({d["id"] for d in docs}) == len(docs)
    for d in docs:
        name, rel = d["url"].split(":", 1)
        assert Path(d["source_file"].removeprefix("file:")).resolve() == (sample_dir / rel.split("#")[0]).resolve()
        assert d["lang"] and d["crawl_date"] is None and d["text"].strip()
    natural = [d for d in docs if d["domain"] != "Code"]
    assert Counter(d["lang"] for d in natural)["en"] > 10 and any(d["lang"] == "zh" for d in natural)


def test_planted_features_in_the_stage_output(ingested):
    out, _, manifest = ingested
    by_url = {r["url"]: r for r in read_rows(out) + read_rows(out, "_rejects")}
    for check in manifest["domains"]["checks"]:
        row = by_url[check["url"]]
        assert row.get("reject_reason") == check.get("reject_reason"), check["url"]
        if "reject_reason" in check:
            continue
        lines = row["text"].split("\n")
        assert not [a for a in check.get("absent", []) if a in row["text"]], check["url"]
        assert not [p for p in check.get("present", []) if p not in row["text"]], check["url"]
        assert not [x for x in check.get("lines", []) if x not in lines], check["url"]
    (planted,) = [p for p in manifest["benchmark"]["planted"] if p["where"] == "domain_document"]
    assert by_url[planted["url"]]["domain"] == planted["domain"] == "QA"


def _config(tmp_path: Path, sources: list[dict], root: str = "no-such-root") -> Path:
    path = tmp_path / "domains.yaml"
    path.write_text(yaml.safe_dump({"root": root, "sources": sources}, allow_unicode=True))
    return path


def test_missing_source_paths_warn_or_fail(spark, sample_dir, tmp_path, capsys):
    sources = [
        {"name": "law", "domain": "Profession-Law", "reader": "text", "paths": ["domains/law", "domains/law-2024/*.txt"]},
        {"name": "ghost", "domain": "Book", "reader": "text", "paths": ["domains/no-such-dir"]},
    ]
    conf = _config(tmp_path, sources)
    out = tmp_path / "out"
    stats = ingest.run(["--config", str(conf), "--output", str(out), "--root", str(sample_dir)])  # --root wins
    c = stats["counters"]
    assert c["source.ghost.skip.missing_path"] == 1 and c["source.law.skip.missing_path"] == 1
    assert c["source.law.docs"] == 1 and {d["domain"] for d in read_rows(out)} == {"Profession-Law"}
    assert ingest.main(["--config", str(conf), "--output", str(tmp_path / "o2"), "--root", str(sample_dir), "--strict"]) == 2
    err = capsys.readouterr().err
    assert "error:" in err and "no file matches" in err and "law-2024" in err
    assert not (tmp_path / "o2").exists()
    # nothing at all to read is an error too
    assert ingest.main(["--config", str(_config(tmp_path, sources[1:])), "--output", str(tmp_path / "o3")]) == 2
    assert "no input files" in capsys.readouterr().err


def test_command_line(tmp_path, capsys):
    proc = subprocess.run([sys.executable, "-m", "jobs.ingest", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "usage:" in proc.stdout
    assert all(flag in proc.stdout for flag in ("--config", "--output", "--root", "--strict"))
    with pytest.raises(SystemExit) as exc:
        ingest.run(["--output", str(tmp_path / "o")])  # --config is required
    assert exc.value.code == 2
    assert ingest.main(["--config", str(tmp_path / "nope.yaml"), "--output", str(tmp_path / "o")]) == 2
    assert "config file not found" in capsys.readouterr().err
    bad = _config(tmp_path, [{"name": "x", "domain": "Webtext", "reader": "text", "paths": ["a"]}])
    assert ingest.main(["--config", str(bad), "--output", str(tmp_path / "o")]) == 2
    assert "domain" in capsys.readouterr().err
