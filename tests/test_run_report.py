"""The run report (``python -m report``): every section from a synthetic run in the layouts the chain
and the trainer write, the "not in this run" notes, real stage outputs read through Spark, and the
page rendered by headless Chromium with no console error."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from datapipe.document import DOCUMENT_SCHEMA, REJECT_SCHEMA, Document
from report import __main__ as cli
from report import training
from report.dedup import size_buckets
from report.html import pct
from report.page import SECTIONS
from report.svg import ticks

HEADINGS = [f"{i}. {m.TITLE}" for i, m in enumerate(SECTIONS, start=1)]
SPAM = "<script>alert('x')</script> BUY NOW " + "Word " * 200


def write_docs(directory: Path, docs: list[Document], rejects: Sequence[tuple[Document, str, str | None]] = (), *,
               ids_only: bool = False) -> None:
    """A document stage's Parquet output, and its ``_rejects/`` (text emptied as ``--rejects ids`` does)."""
    directory.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist([d.to_row() for d in docs], schema=DOCUMENT_SCHEMA), directory / "part-00000.parquet")
    if rejects:
        rows = [{**d.to_row(), "text": "" if ids_only else d.text, "reject_stage": "x", "reject_reason": reason, "reject_detail": detail}
                for d, reason, detail in rejects]
        (directory / "_rejects").mkdir()
        pq.write_table(pa.Table.from_pylist(rows, schema=REJECT_SCHEMA), directory / "_rejects" / "part-00000.parquet")
        (directory / "_rejects" / ".part-00000.parquet.crc").write_bytes(b"not parquet")  # hidden, as Spark leaves them
    (directory / "_SUCCESS").write_text("")


def write_stats(directory: Path, stage: str, counters: dict, **extra) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "_stats.json").write_text(json.dumps({"stage": stage, "seconds": 1.5, "counters": counters, **extra}))


def write_json(path: Path, obj: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj))


def synthetic_run(root: Path) -> Path:
    """A small run with every input of every section, shaped as the stages write them."""
    write_stats(root / "extracted", "extract", {"docs_in": 10, "docs_out": 6, "bytes_in": 9000, "bytes_out": 5000, "drop.not_html": 4})
    write_docs(root / "extracted", [])
    spam = Document(id="spam1", url="https://spam.example/<b>", text=SPAM, lang="en")
    write_stats(root / "cleaned", "clean", {"docs_in": 6, "docs_out": 4, "bytes_in": 5000, "bytes_out": 4000,
                                            "drop.c4:lorem_ipsum": 1, "drop.empty:after_corrections": 1})
    write_docs(root / "cleaned", [], [(spam, "c4:lorem_ipsum", None)])
    write_stats(root / "dedup_paragraphs", "dedup_paragraphs", {"docs_in": 4, "docs_out": 3, "bytes_in": 4000, "bytes_out": 3000,
                                                                "drop.too_short_after_dedup": 1})
    write_docs(root / "dedup_paragraphs", [], [(Document(id="short1", text="gone", url="https://a.example/1", source_file="s3://crawl/f.warc.gz",
                                                         source_offset=42), "too_short_after_dedup", None)], ids_only=True)
    scored = [Document(id=f"q{i}", text="t", lang="en", annotations={"quality.score": 10.0 ** -i}) for i in range(1, 9)]
    write_stats(root / "quality", "quality", {"docs_in": 12, "docs_out": 10, "scored.en": 10, "filtered.en": 10, "kept.en": 8,
                                              "unscored.zh": 2, "drop.quality:below_cutoff": 2},
                config={"score": {"mode": "keep_fraction", "domains": ["WebText"]}},
                languages={"en": {"status": "filtered", "cutoff": 1e-8}, "zh": {"status": "not filtered", "reason": "too little data"}})
    write_docs(root / "quality", scored + [Document(id="z1", text="中文", lang="zh"), Document(id="z2", text="中文", lang="zh")],
               [(Document(id=f"low{i}", text="low", lang="en", annotations={"quality.score": 1e-10}), "quality:below_cutoff", None)
                for i in range(2)])
    write_stats(root / "dedup_minhash", "dedup_minhash", {"docs_in": 10, "docs_out": 9, "drop.minhash:duplicate": 1},
                config={"threshold": 0.8}, minhash={"bands": 16, "rows": 8, "num_perm": 128, "candidate_pairs": 2, "verified_pairs": 1,
                                                    "clusters": 1, "docs_in_clusters": 2, "duplicates_removed": 1,
                                                    "cluster_size_histogram": {"2": 1}})
    write_stats(root / "decontaminated", "decontaminate",
                {"docs_in": 9, "docs_out": 8, "decontam.cuts": 2, "decontam.docs_cut": 1, "decontam.chars_removed": 300,
                 "decontam.mmlu.docs": 2, "decontam.mmlu.ngrams": 40, "drop.decontam:mmlu": 1},
                config={"mode": "cut", "word_ngram": 13},
                benchmark_index={"benchmarks": {"mmlu": {"items": 100, "ngrams": 5000}, "gsm8k": {"items": 50, "ngrams": 2000}}})
    kinds = [("en", "WebText")] * 5 + [("zh", "WebText"), ("zh", "Book"), (None, "Code")]
    write_docs(root / "decontaminated", [Document(id=f"d{i}", text="x", lang=lang, domain=d) for i, (lang, d) in enumerate(kinds)])
    write_json(root / "mixture" / "_manifest.json", {
        "unit": "tokens", "total_tokens": 1000, "size_rule": "WebText at its cap", "bytes_per_token": "measured",
        "warnings": ["domain Book: realised share deviates"],
        "domains": [{"domain": "WebText", "documents": 6, "tokens": 900, "target_share": 0.75, "planned_share": 0.9, "realised_share": 0.9,
                     "max_epochs": 1.0, "epochs": 1.0, "short": False, "tokens_out": 900, "documents_out": 6},
                    {"domain": "Book", "documents": 1, "tokens": 100, "target_share": 0.25, "planned_share": 0.1, "realised_share": 0.1,
                     "max_epochs": 2.0, "epochs": 2.0, "short": True, "tokens_out": 100, "documents_out": 2}]})
    write_json(root / "tokenizer_report" / "compression.json", {
        "tokenizer": "out/tokenizer", "heldout": "out/tokenizer/heldout.jsonl",
        "corpus": {"English": {"documents": 5, "bytes": 1000}, "Chinese": {"documents": 2, "bytes": 500}},
        "tokenizers": [{"name": "ours", "paper_row": "Tele-FLM", "vocab_size": 4096, "rates": {"English": 0.24, "Chinese": 0.29},
                        "weighted_avg": 0.26},
                       {"name": "cl100k_base", "paper_row": "GPT-4", "vocab_size": 100256, "rates": {"English": 0.2, "Chinese": 0.4},
                        "weighted_avg": 0.27}],
        "targets": [{"category": "Chinese", "reference": "cl100k_base", "max_ratio": 0.7, "ratio": 0.725, "status": "NOT MET"}],
        "paper_table3": {"source": "Tele-FLM report", "rows": {"GPT-4": {"vocab": "100k", "rates": [0.221, 0.42], "weighted_avg": 0.291}}}})
    write_json(root / "shards" / "manifest.json", {
        "format": "megatron-indexed-dataset", "dtype": "uint16", "tokenizer": {"vocab_size": 4096, "eot_id": 0},
        "heldout": {"fraction": 0.4, "seed": 0}, "weights_from": "mixture's planned shares",
        "domains": {"WebText": {"weight": 0.9, "mixture_share": 0.9,
                                "train": {"documents": 4, "tokens": 600, "text_bytes": 2400, "shards": 1},
                                "valid": {"documents": 2, "tokens": 300, "text_bytes": 1200, "shards": 1}},
                    "Book": {"weight": 0.1, "mixture_share": 0.1, "train": {"documents": 2, "tokens": 100, "text_bytes": 300, "shards": 1},
                             "valid": {"documents": 0, "tokens": 0, "text_bytes": 0, "shards": 0}}}})
    run = root / "run"
    run.mkdir()
    rows = [{"step": s, "loss": 8 - s / 10, "grad_norm": 0.5, "lr": 1e-3, "lr_matrix": 5e-4, "tokens": 100 * s, "tokens_per_s": 1000.0,
             "mfu": 0.1, "skipped_total": 0} for s in range(5, 35, 5)]
    rows.insert(3, {"step": 10, "eval": {"WebText": 2.0, "Book": 3.0}})
    rows.insert(4, {"step": 10, "growth": {"to": "configs/model/tiny_wide.yaml", "parameters": 123456,
                                           "bpb_before": {"WebText": 2.0}, "bpb_after": {"WebText": 2.0}}})
    rows.append({"step": 30, "eval": {"WebText": 1.5, "Book": 2.5}})
    (run / "metrics.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + '\n{"step": 35, "lo')  # cut short by a kill
    write_json(run / "checkpoints" / "step-00000030" / "trainer.json",
               {"trainer": {"config": {"run": {"model": "configs/model/tiny.yaml", "max_steps": 30}, "model": {"dim": 128}}}})
    write_json(root / "eval" / "bpb.json", {"definition": "BPB = NLL / (ln 2 x UTF-8 bytes)", "checkpoints": [
        {"label": "run step 30", "step": 30, "domains": {"WebText": {"bpb": 1.5}, "Book": {"bpb": 2.5}}, "weighted_avg": 1.6}]})
    return root


def report_of(root: Path, *args: str) -> str:
    out = root / "report.html"
    assert cli.main(["--run", str(root), "--out", str(out), *args]) == 0
    return out.read_text()


def test_every_section_from_a_synthetic_run(tmp_path):
    page = report_of(synthetic_run(tmp_path / "run"))
    assert all(f"{heading}</h2>" in page for heading in HEADINGS)
    assert "Not in this run" not in page and "could not be drawn" not in page
    # funnel: a rejected document's text escaped and cut; one kept as ids only points at its source
    assert f'<div class="excerpt">{html.escape(SPAM[:300])}…</div>' in page and "<script>" not in page
    assert "text not kept (rejects as ids); source: s3://crawl/f.warc.gz@42" in page
    assert "extract keeps no _rejects/" in page and "no example of this reason" in page  # empty:after_corrections
    # counts from the decontaminated documents: a missing language is "unknown"
    assert "8 documents in decontaminated/" in page and "<td>unknown</td>" in page
    # quality: spread over ten orders of magnitude, binned by log10, the cutoff marked; zh not filtered
    assert "log10(score)" in page and "keep ≥ 1e-08" in page and "not filtered: too little data" in page
    # dedup and decontamination, mixture, tokenizer, shards
    assert "<td>mmlu</td><td class=\"num\">100</td><td class=\"num\">5,000</td><td class=\"num\">2</td>" in page
    assert "<td>gsm8k</td>" in page and "Cluster sizes" in page
    assert "domain Book: realised share deviates" in page and "<td>short</td>" in page
    assert "NOT MET" in page and "Tokens per UTF-8 byte" in page and "Table 3" in page
    assert '<td>total</td><td class="num"></td><td class="num"></td><td class="num">2</td><td class="num">6</td>' in page
    # training: curves with the growth as a dotted line, BPB by step and by checkpoint, the config
    assert page.count('class="event"') == 5 and "grow → tiny_wide" in page
    assert "<td>step 30</td>" in page and "<td>run step 30</td>" in page and "Weighted avg." in page
    assert "max_steps: 30" in page and "Run configuration (from step-00000030)" in page


def test_self_contained(tmp_path):
    """No script and nothing fetched at view time: every link is an anchor in the page."""
    page = report_of(synthetic_run(tmp_path / "run"))
    assert "<script" not in page.lower()
    assert not re.findall(r"""(?:src|href)\s*=\s*["'](?!#)""", page)
    assert "@import" not in page and "url(" not in page


def test_empty_run_says_what_is_missing(tmp_path, capsys):
    page = report_of(tmp_path)
    assert page.count("Not in this run") == 9  # dedup has two parts
    assert all(f"{heading}</h2>" in page for heading in HEADINGS)
    assert "mixture/_manifest.json" in page and "compression.json" in page and "shards/manifest.json" in page
    assert f"wrote {tmp_path / 'report.html'}" in capsys.readouterr().out


def test_default_output_is_written_atomically_under_the_run(tmp_path):
    root = synthetic_run(tmp_path / "run")
    assert cli.main(["--run", str(root)]) == 0
    out = root / "report" / "index.html"
    assert out.read_text().startswith("<!DOCTYPE html>") and out.stat().st_mode & 0o777 == 0o644
    assert [p.name for p in out.parent.iterdir()] == ["index.html"]


def test_training_runs_found_and_given(tmp_path):
    root = synthetic_run(tmp_path / "run")
    other = tmp_path / "elsewhere" / "grow"
    other.mkdir(parents=True)
    (other / "metrics.jsonl").write_text(json.dumps({"step": 1, "loss": 3.0}) + "\n")
    page = report_of(root, "--train-run", str(other))
    assert f"Run {root / 'run'}</h3>" in page and f"Run {other}</h3>" in page
    assert "no checkpoint yet" in page


def test_metrics_of_a_resumed_and_killed_run(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"step": 1, "loss": 5.0}\n{"step": 2, "loss": 4.0}\n{"step": 2, "loss": 3.5}\n{"step": 2, "eval": {"A": 1.0}}\n{"st')
    train, evals, growth = training.read_metrics(path)
    assert list(train) == [1, 2] and train[2]["loss"] == 3.5 and evals == {2: {"A": 1.0}} and growth == []


def test_a_failing_section_leaves_the_others_and_fails_the_command(tmp_path, monkeypatch):
    root = synthetic_run(tmp_path / "run")

    def broken(run):
        raise KeyError("realised_share")

    monkeypatch.setattr("report.mixture.body", broken)
    out = tmp_path / "r.html"
    assert cli.main(["--run", str(root), "--out", str(out)]) == 1
    page = out.read_text()
    assert "This section could not be drawn: KeyError: &#x27;realised_share&#x27;" in page and "Tokens per UTF-8 byte" in page


def test_bad_arguments_are_one_line_errors(tmp_path, capsys):
    assert cli.main(["--run", str(tmp_path / "absent")]) == 2
    assert cli.main(["--run", str(tmp_path), "--train-run", str(tmp_path)]) == 2
    assert capsys.readouterr().err.count("error: ") == 2
    with pytest.raises(SystemExit) as exc:
        cli.main(["--help"])
    assert exc.value.code == 0 and "--train-run" in capsys.readouterr().out


def test_chart_helpers():
    assert ticks(0, 1) == pytest.approx([0, 0.2, 0.4, 0.6, 0.8, 1.0])
    assert ticks(25, 300) == [100, 200, 300] and ticks(0.0003, 0.003) == pytest.approx([0.001, 0.002, 0.003])
    assert size_buckets({"2": 5, "3": 2}) == [("2", 5), ("3", 2)]
    many = {str(s): 1 for s in range(2, 40)}
    assert size_buckets(many) == [("2", 1), ("3-4", 2), ("5-8", 4), ("9-16", 8), ("17-32", 16), ("33-64", 7)]
    assert pct(0.5) == "50.00%" and pct(1e-6) == "<0.01%" and pct(0) == "0.00%" and pct(None) == ""


# --- real stage outputs ------------------------------------------------------------------------------------


@pytest.mark.spark
def test_report_over_real_stage_outputs(spark, tmp_path):
    """extract, clean, paragraph dedup (rejects as ids), ingest and decontamination run on the built-in
    sample into the chain's layout (MinHash, the slowest, left out): the report reads what they really
    write, and says what is not in this run."""
    from jobs import clean, decontaminate, dedup_paragraphs, extract, ingest
    from sample_corpus import write_sample_corpus

    sample, out = tmp_path / "sample", tmp_path / "out"
    write_sample_corpus(sample)
    extract.run(["--input", str(sample / "*.warc*"), "--output", str(out / "extracted")])
    clean.run(["--input", str(out / "extracted"), "--output", str(out / "cleaned")])
    dedup_paragraphs.run(["--input", str(out / "cleaned"), "--output", str(out / "dedup_paragraphs"), "--rejects", "ids"])
    ingest.run(["--config", str(sample / "domains.yaml"), "--output", str(out / "domains")])
    bench = tmp_path / "decontaminate.yaml"
    bench.write_text(yaml.safe_dump({"root": str(sample), "benchmarks": [
        {"name": "sample_bench", "paths": ["benchmarks/sample_bench.jsonl"], "fields": ["question", "answer"]}]}))
    decontaminate.run(["--input", str(out / "dedup_paragraphs"), str(out / "domains"), "--output", str(out / "decontaminated"),
                       "--config", str(bench)])

    page = report_of(out)
    stages = re.findall(r"<tr><td>(\w+)</td><td class=\"num\">", page.split("</table>")[0])
    assert stages == ["extract", "clean", "dedup_paragraphs", "ingest", "decontaminate"]
    cleaned = json.loads((out / "cleaned" / "_stats.json").read_text())["counters"]
    reasons = [k[len("drop."):] for k, n in cleaned.items() if k.startswith("drop.") and n]
    assert reasons and all(f"<h4>{r} <span" in page for r in reasons)
    assert page.count('<div class="reject">') >= len(reasons) and "text not kept (rejects as ids)" in page
    docs = pq.read_table(out / "decontaminated", columns=["id"]).num_rows
    assert f"{docs:,} documents in decontaminated/" in page and "<td>WebText</td>" in page and "<td>ClassicalChinese</td>" in page
    matched = json.loads((out / "decontaminated" / "_stats.json").read_text())["counters"]["decontam.sample_bench.docs"]
    row = rf'<td>sample_bench</td><td class="num">5</td><td class="num">[\d,]+</td><td class="num">{matched}</td>'
    assert matched > 0 and re.search(row, page)
    notes = re.findall(r"Not in this run: ([^<]*)", page)
    for missing in ("dedup_minhash/_stats.json", "quality/_stats.json", "mixture/_manifest.json", "compression.json",
                    "shards/manifest.json", "no training run"):
        assert sum(missing in n for n in notes) == 1, (missing, notes)
    assert len(notes) == 6 and "could not be drawn" not in page


# --- headless Chromium -------------------------------------------------------------------------------------


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        pytest.skip("needs Debian's chromium package (apt-get install chromium), which .ci/run installs when apt is available")
    return found


def headless(binary: str, profile: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([binary, "--headless", "--disable-gpu", "--no-sandbox", "--no-first-run", f"--user-data-dir={profile}",
                           "--enable-logging=stderr", "--v=0", *args], capture_output=True, text=True, timeout=180)


def test_chromium_renders_the_page_without_console_errors(tmp_path):
    binary = chromium()
    root = synthetic_run(tmp_path / "run")
    page = tmp_path / "report.html"
    assert cli.main(["--run", str(root), "--out", str(page)]) == 0

    dom = headless(binary, tmp_path / "profile", "--dump-dom", page.as_uri())
    assert dom.returncode == 0, dom.stderr[-3000:]
    # --enable-logging logs every console message and uncaught exception as "...:CONSOLE(...)] message"
    console = [line for line in dom.stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]
    assert console == []
    assert re.findall(r"<h2>(.*?)</h2>", dom.stdout) == HEADINGS
    assert dom.stdout.count("<svg") >= 10 and "text not kept (rejects as ids)" in dom.stdout

    shot = tmp_path / "report.png"
    screenshot = headless(binary, tmp_path / "profile", "--hide-scrollbars", "--window-size=1400,3000", f"--screenshot={shot}",
                          page.as_uri())
    assert screenshot.returncode == 0, screenshot.stderr[-3000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 50_000
