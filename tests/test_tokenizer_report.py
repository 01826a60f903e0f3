"""The compression report: reference tokenizers from local files, evaluation text, the numbers, outputs."""

from __future__ import annotations

import csv
import gzip
import json
import os
import random
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from datapipe.config import ConfigError
from tests.conftest import ROOT, shared
from tokenizer import report as R
from tokenizer.reference import ReferenceSpec, load_reference, load_references
from tokenizer.vocab import SPECIAL_TOKENS

# Published ids: tiktoken's own tests (cl100k_base, o200k_base, GPT-2), Meta's Llama 2 tokenizer
# tests, Qwen's BPE (shared by Qwen-1 and Qwen2); Llama 3's first 100k ranks are cl100k_base's.
KNOWN_IDS = [
    ("cl100k_base", "tiktoken", "cl100k_base.tiktoken", "cl100k", "hello world", [15339, 1917]),
    ("cl100k_base", "tiktoken", "cl100k_base.tiktoken", "cl100k", "<|endoftext|>", [27, 91, 8862, 728, 428, 91, 29]),
    ("o200k_base", "tiktoken", "o200k_base.tiktoken", "o200k", "hello world", [24912, 2375]),
    ("llama3", "tiktoken", "llama3_tokenizer.model", "llama3", "hello world", [15339, 1917]),
    ("qwen", "tiktoken", "qwen.tiktoken", "qwen", "hello world", [14990, 1879]),
    ("qwen", "tiktoken", "qwen.tiktoken", "qwen", "你好，世界！", [108386, 3837, 99489, 6313]),
    ("llama2", "sentencepiece", "llama2_tokenizer.model", None, "hello world", [22172, 3186]),
    ("gpt2", "hf", "gpt2/tokenizer.json", None, "hello world", [31373, 995]),
    ("gpt2", "hf", "gpt2/tokenizer.json", None, "<|endoftext|>", [27, 91, 437, 1659, 5239, 91, 29]),
]


def train_tokenizer(path: Path, vocab_size: int) -> Path:
    """A small byte-level BPE with our special tokens, saved as tokenizer.json in ``path``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    corpus = ["the quick brown fox jumps over the lazy dog. " * 20, "我们的模型在中文文本上压缩得更好。" * 20,
              "学而时习之，不亦说乎。" * 20, "def add(a, b):\n    return a + b\n" * 20]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(corpus, trainer)
    path.mkdir(parents=True, exist_ok=True)
    tok.save(str(path / "tokenizer.json"))
    return path / "tokenizer.json"


def hand_count(tokenizer_json: Path, texts: list[str]) -> int:
    """Tokens of ``texts`` straight from the tokenizers library, special-token strings as text."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(tokenizer_json))
    tok.encode_special_tokens = True
    return sum(len(tok.encode(t, add_special_tokens=False).ids) for t in texts)


@pytest.fixture(scope="module")
def tokenizers_dir(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("tokenizers")
    train_tokenizer(base / "ours", 400)
    train_tokenizer(base / "small", 300)
    return base


# --- reference tokenizers ------------------------------------------------------------------------


@pytest.mark.parametrize("name,kind,path,pattern,text,ids", KNOWN_IDS)
def test_reference_counts_known_strings(name, kind, path, pattern, text, ids):
    counter = load_reference(ReferenceSpec(name=name, kind=kind, path=path, pattern=pattern), shared("tokenizers"))
    assert counter.encode(text) == ids
    assert counter.count(text) == len(ids)
    assert counter.count_batch([text, text + " " + text, ""]) == [len(ids), counter.count(text + " " + text), 0]


def test_tokenizer_json_settings_do_not_truncate():
    """GPT-2's tokenizer.json truncates at 50 tokens; a count is of the whole text."""
    counter = load_reference(ReferenceSpec(name="gpt2", kind="hf", path="gpt2/tokenizer.json"), shared("tokenizers"))
    text = " ".join(["hello world"] * 100)
    assert counter.count(text) == 200 and counter.count_batch([text]) == [200]


def test_sentencepiece_round_trip():
    counter = load_reference(ReferenceSpec(name="llama2", kind="sentencepiece", path="llama2_tokenizer.model"), shared("tokenizers"))
    text = "Hello, 世界! 12345\n  two spaces\tand a tab 😀 <s>"
    ids = counter.encode(text)
    assert counter.decode(ids) == text
    assert 1 not in ids  # "<s>" in the text is text, and no BOS is added


def test_tiktoken_reads_the_file_directly(monkeypatch, tmp_path):
    """No cache under the system temp dir (nor under TIKTOKEN_CACHE_DIR), no network call."""

    def no_network(*args, **kwargs):
        raise AssertionError("network access")

    monkeypatch.setattr("requests.get", no_network)
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path / "cache"))
    counter = load_reference(ReferenceSpec(name="cl100k_base", kind="tiktoken", path="cl100k_base.tiktoken", pattern="cl100k"),
                             shared("tokenizers"))
    assert counter.count("hello world") == 2
    assert not (tmp_path / "cache").exists()
    assert os.environ["TIKTOKEN_CACHE_DIR"] == str(tmp_path / "cache")


def test_unavailable_references_are_skipped_with_the_reason(tmp_path, tokenizers_dir):
    (tmp_path / "garbage.tiktoken").write_text("not a rank file\n")
    (tmp_path / "ok.json").write_bytes((tokenizers_dir / "small" / "tokenizer.json").read_bytes())
    specs = [
        ReferenceSpec(name="ok", kind="hf", path="ok.json"),
        ReferenceSpec(name="missing", kind="sentencepiece", path="absent.model"),
        ReferenceSpec(name="changed", kind="hf", path="ok.json", sha256="0" * 64),
        ReferenceSpec(name="corrupt", kind="tiktoken", path="garbage.tiktoken", pattern="cl100k"),
    ]
    loaded, skipped = load_references(specs, tmp_path)
    assert [spec.name for spec, _ in loaded] == ["ok"]
    reasons = {s["name"]: s["reason"] for s in skipped}
    assert reasons["missing"] == f"missing: tokenizer file not found: {tmp_path / 'absent.model'}"
    assert "expected " + "0" * 64 in reasons["changed"]
    assert reasons["corrupt"].startswith(f"corrupt: cannot load {tmp_path / 'garbage.tiktoken'}")


def test_reference_spec_requires_a_pattern_exactly_for_tiktoken():
    with pytest.raises(ValidationError, match="pattern"):
        ReferenceSpec(name="x", kind="tiktoken", path="x.tiktoken")
    with pytest.raises(ValidationError, match="pattern"):
        ReferenceSpec(name="x", kind="sentencepiece", path="x.model", pattern="cl100k")


# --- selection and arithmetic --------------------------------------------------------------------


def test_select_takes_documents_in_hash_order_up_to_the_budget():
    docs = [R.EvalDoc(f"s:{i}", "s", "English", f"{i:03d}" + "x" * 97) for i in range(50)]
    texts, corpus = R.select(docs, max_bytes=1000, max_chars=10_000)
    assert corpus["English"] == {"documents": 10, "bytes": 1000, "available_documents": 50, "sources": {"s": 10}}
    assert texts["English"] != [d.text for d in docs[:10]]  # not the order the documents came in
    shuffled = docs[:]
    random.Random(1).shuffle(shuffled)
    assert R.select(shuffled, 1000, 10_000)[0] == texts
    assert R.select(docs, 950, 10_000)[1]["English"]["documents"] == 10  # the one that crosses the budget is in
    assert R.select(docs, 1000, 50)[1]["English"]["bytes"] == 20 * 50  # each cut to 50 characters first


def test_truncate_cuts_at_a_line_end():
    text = "a" * 60 + "\n" + "b" * 60
    assert R.truncate(text, 200) == text
    assert R.truncate(text, 100) == "a" * 60
    assert R.truncate("c" * 300, 100) == "c" * 100


def test_weighted_average_renormalises_over_measured_categories():
    weights = {"English": 0.5, "Chinese": 0.3, "Code": 0.2}
    avg, used = R.weighted_average({"English": 0.2, "Code": 0.4}, weights)
    assert used == pytest.approx({"English": 0.5 / 0.7, "Code": 0.2 / 0.7})
    assert avg == pytest.approx((0.5 * 0.2 + 0.2 * 0.4) / 0.7)
    assert R.weighted_average({"Math": 0.3}, weights) == (None, {})


def test_targets_met_not_met_and_unknown():
    targets = [R.Target(category="Chinese", reference="ref", max_ratio=0.7),
               R.Target(category="English", reference="ref", max_ratio=1.15),
               R.Target(category="Code", reference="ref", max_ratio=1.0)]
    rates = {R.OURS: {"Chinese": 0.24, "English": 0.30}, "ref": {"Chinese": 0.40, "English": 0.25}}
    zh, en, code = R.evaluate_targets(targets, rates)
    assert (zh["status"], zh["ratio"], zh["margin"]) == ("MET", pytest.approx(0.6), pytest.approx(0.1))
    assert (en["status"], en["ratio"], en["margin"]) == ("NOT MET", pytest.approx(1.2), pytest.approx(-0.05))
    assert code["status"] == "UNKNOWN"
    assert "MET (margin 0.100)" in R.target_line(zh) and "40.0% fewer tokens" in R.target_line(zh)
    assert "NOT MET (short by 0.050)" in R.target_line(en) and "20.0% more tokens" in R.target_line(en)


# --- the report end to end -----------------------------------------------------------------------

HELDOUT = [
    {"id": "h1", "category": "English", "text": "the lazy dog sleeps. <|endoftext|> then wakes"},
    {"id": "h2", "category": "Chinese", "text": "我们的模型很好。"},
    {"id": "h3", "category": "Classical Chinese", "text": "学而时习之"},
    {"id": "h4", "category": "Poetry", "text": "not a category of the report"},
    {"id": "h5", "category": "Code", "text": "   "},
]


def write_eval_tree(root: Path) -> dict[str, list[str]]:
    """Extra sources in every format; returns the texts each category should get from them."""
    (root / "en").mkdir(parents=True)
    (root / "en" / "a.txt").write_text("a quick fox\nover the dog\n", encoding="utf-8")
    (root / "en" / ".hidden.txt").write_text("never read", encoding="utf-8")
    with gzip.open(root / "news.tsv.gz", "wt", encoding="utf-8") as f:
        f.write("体育\t中文文本压缩\n\n科技\t模型更好\n短\n")
    with open(root / "code.jsonl", "w", encoding="utf-8") as f:
        f.write(json.dumps({"prompt": "def add(a, b):\n", "solution": "    return a + b\n"}) + "\n")
        f.write("{not json\n")
        f.write(json.dumps({"prompt": "x = 1\n"}) + "\n")
    return {"English": ["a quick fox\nover the dog\n"], "Chinese": ["中文文本压缩", "模型更好"],
            "Code": ["def add(a, b):\n    return a + b\n", "x = 1\n"]}


def write_config(path: Path, **overrides) -> Path:
    config = {
        "reference_root": "refs",
        "eval_root": "eval",
        "training_sources": None,
        "references": [{"name": "small", "kind": "hf", "path": "small/tokenizer.json"},
                       {"name": "absent", "kind": "tiktoken", "path": "absent.tiktoken", "pattern": "cl100k"}],
        "weights": {"English": 0.5, "Chinese": 0.3, "Classical Chinese": 0.05, "Code": 0.1, "Math": 0.05},
        "targets": [{"category": "Chinese", "reference": "small", "max_ratio": 0.7},
                    {"category": "English", "reference": "small", "max_ratio": 1.15}],
        "eval_sources": [
            {"name": "en-text", "category": "English", "paths": ["en"], "format": "text"},
            {"name": "news", "category": "Chinese", "paths": ["*.tsv.gz"], "format": "lines", "column": 1},
            {"name": "code", "category": "Code", "paths": ["code.jsonl"], "format": "jsonl",
             "text_fields": ["prompt", "solution"], "separator": ""},
        ],
        **overrides,
    }
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    return path


def test_report_numbers_equal_tokens_over_bytes_by_hand(tmp_path, tokenizers_dir):
    (tmp_path / "refs").symlink_to(tokenizers_dir)
    extra = write_eval_tree(tmp_path / "eval")
    ours_dir = tmp_path / "trained"
    ours_dir.mkdir()
    (ours_dir / "tokenizer.json").write_bytes((tokenizers_dir / "ours" / "tokenizer.json").read_bytes())
    with open(ours_dir / "heldout.jsonl", "w", encoding="utf-8") as f:
        for d in HELDOUT:
            f.write(json.dumps(d, ensure_ascii=False) + "\n")
        f.write("{broken\n")
    config = write_config(tmp_path / "report.yaml")
    out = tmp_path / "out"

    assert R.main(["--tokenizer", str(ours_dir), "--config", str(config), "--output", str(out)]) == 0

    report = json.loads((out / "compression.json").read_text(encoding="utf-8"))
    expected = {c: list(extra.get(c, [])) for c in R.CATEGORIES}
    for d in HELDOUT[:3]:
        expected[d["category"]].append(d["text"])
    expected = {c: t for c, t in expected.items() if t}
    assert set(report["corpus"]) == set(expected)
    assert report["missing_categories"] == ["Multilingual", "Math"]
    assert report["skipped_lines"] == {"heldout.bad_json": 1, "heldout.no_text": 1, "heldout.unknown_category": 1, "code.bad_json": 1}
    assert report["corpus"]["English"]["sources"] == {"en-text": 1, "heldout": 1}
    rows = {r["name"]: r for r in report["tokenizers"]}
    assert list(rows) == ["ours", "small"]
    for name in rows:
        for cat, texts in expected.items():
            n_bytes = sum(len(t.encode("utf-8")) for t in texts)
            tokens = hand_count(tokenizers_dir / name / "tokenizer.json", texts)
            assert (report["corpus"][cat]["documents"], report["corpus"][cat]["bytes"]) == (len(texts), n_bytes)
            assert rows[name]["tokens"][cat] == tokens
            assert rows[name]["rates"][cat] == pytest.approx(tokens / n_bytes)
        w = {"English": 0.5, "Chinese": 0.3, "Classical Chinese": 0.05, "Code": 0.1}
        assert rows[name]["weighted_avg"] == pytest.approx(sum(rows[name]["rates"][c] * v for c, v in w.items()) / 0.95)
    zh = report["targets"][0]
    assert zh["ratio"] == pytest.approx(rows["ours"]["rates"]["Chinese"] / rows["small"]["rates"]["Chinese"])
    assert zh["status"] == ("MET" if zh["ratio"] <= 0.7 else "NOT MET")
    assert report["skipped_references"] == [
        {"name": "absent", "reason": f"absent: tokenizer file not found: {tokenizers_dir / 'absent.tiktoken'}"}]

    md = (out / "compression.md").read_text(encoding="utf-8")
    assert "| tokenizer | vocab | English | Chinese | Classical Chinese | Code | Multilingual | Math | weighted avg |" in md
    assert "absent.tiktoken" in md and "## Tele-FLM report, Table 3" in md
    assert f"| ours | {rows['ours']['vocab_size']:,} | {rows['ours']['rates']['English']:.3f} |" in md
    with open(out / "compression.csv", encoding="utf-8") as f:
        table = list(csv.DictReader(f))
    assert len(table) == 2 * (len(expected) + 1)
    assert float(next(r for r in table if r["tokenizer"] == "small" and r["category"] == "Code")["tokens_per_byte"]) == pytest.approx(
        rows["small"]["rates"]["Code"], abs=1e-6)
    assert (out / "compression.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["eval", "out", "refs", "report.yaml", "trained"]


def test_output_replaces_a_previous_report(tmp_path, tokenizers_dir):
    (tmp_path / "refs").symlink_to(tokenizers_dir)
    write_eval_tree(tmp_path / "eval")
    config = write_config(tmp_path / "report.yaml")
    out = tmp_path / "out"
    out.mkdir()
    (out / "stale.txt").write_text("old")
    args = ["--tokenizer", str(tokenizers_dir / "ours"), "--config", str(config), "--output", str(out)]
    assert R.main(args) == 0  # no heldout.jsonl beside this tokenizer: extra sources only
    assert sorted(p.name for p in out.iterdir()) == sorted(R.OUTPUT_NAMES)
    assert json.loads((out / "compression.json").read_text())["heldout"] is None


def test_eval_text_the_pipeline_ingests_is_refused(tmp_path):
    books = tmp_path / "data" / "books"
    books.mkdir(parents=True)
    (books / "a.txt").write_text("a book the pipeline reads")
    domains = tmp_path / "domains.yaml"
    domains.write_text(yaml.safe_dump({"root": "data", "sources": [
        {"name": "books", "domain": "Book", "reader": "text", "paths": ["books/*.txt"]}]}))
    config = write_config(tmp_path / "report.yaml", eval_root="data", training_sources="domains.yaml", eval_sources=[
        {"name": "sneaky", "category": "English", "paths": ["books"], "format": "text"}])
    with pytest.raises(ConfigError, match="'sneaky' lists .*a.txt, which source 'books'"):
        R.check_not_training_text(R.load_settings(config))


def test_language_filter_keeps_only_the_listed_languages():
    from datapipe.langid import LanguageIdentifier

    docs = [R.EvalDoc("s:1", "s", "English", "This is a plain English sentence about the weather today."),
            R.EvalDoc("s:2", "s", "English", "Ceci est une phrase en français sur le temps qu'il fait aujourd'hui.")]
    skipped = Counter()
    kept = R.keep_languages(docs, ["en"], LanguageIdentifier(), skipped, "s")
    assert [d.key for d in kept] == ["s:1"] and skipped == {"s.other_language": 1}


# --- the project's config ------------------------------------------------------------------------


def test_project_config_weights_reproduce_table3_averages():
    settings = R.load_settings(R.DEFAULT_CONFIG)
    assert settings.reference_root == (ROOT.parent / "shared" / "data" / "tokenizers").resolve()
    assert settings.training_sources == ROOT / "configs" / "domains.yaml"
    assert sum(settings.config.weights.values()) == pytest.approx(1.0)
    for name, avg in R.paper_reproduction(settings.config.weights).items():
        assert avg == pytest.approx(R.TELEFLM_TABLE3["rows"][name]["weighted_avg"], abs=0.0015), name
    assert {(t.category, t.max_ratio) for t in settings.config.targets} == {("Chinese", 0.7), ("Classical Chinese", 0.7), ("English", 1.15)}


def test_project_config_runs_on_the_shared_data(tmp_path, tokenizers_dir):
    """Every reference loads and every eval source has files, none of them ingested by the pipeline."""
    shared("tokenizers")
    settings = R.load_settings(R.DEFAULT_CONFIG)
    R.check_not_training_text(settings)
    for source in settings.config.eval_sources:
        assert R.matching_files(settings.eval_root, source.paths), source.name
    data = yaml.safe_load(R.DEFAULT_CONFIG.read_text(encoding="utf-8"))
    data.update(reference_root=str(settings.reference_root), eval_root=str(settings.eval_root),
                training_sources=None, max_bytes_per_category=20_000)
    config = tmp_path / "small.yaml"
    config.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    out = tmp_path / "out"
    assert R.main(["--tokenizer", str(tokenizers_dir / "ours"), "--config", str(config), "--output", str(out)]) == 0
    report = json.loads((out / "compression.json").read_text(encoding="utf-8"))
    assert report["skipped_references"] == []
    assert [r["name"] for r in report["tokenizers"]] == ["ours", "cl100k_base", "o200k_base", "llama3", "llama2", "qwen", "gpt2"]
    assert set(report["corpus"]) == set(R.CATEGORIES) - {"Classical Chinese"}  # all of it is ingested: held-out only
    assert all(t["status"] in ("MET", "NOT MET", "UNKNOWN") for t in report["targets"])


# --- CLI -----------------------------------------------------------------------------------------


def test_help():
    done = subprocess.run([sys.executable, "-m", "tokenizer.report", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    assert "--tokenizer" in done.stdout and "--heldout" in done.stdout and "--output" in done.stdout


def test_bad_config_and_missing_tokenizer_exit_2(tmp_path, tokenizers_dir, capsys):
    bad = write_config(tmp_path / "bad.yaml", weights={"English": 0.5})
    assert R.main(["--tokenizer", str(tokenizers_dir / "ours"), "--config", str(bad), "--output", str(tmp_path / "o")]) == 2
    assert "weights must be >= 0 and sum to 1" in capsys.readouterr().err
    good = write_config(tmp_path / "good.yaml")
    assert R.main(["--tokenizer", str(tmp_path / "none"), "--config", str(good), "--output", str(tmp_path / "o")]) == 2
    assert capsys.readouterr().err.startswith("error: tokenizer file not found")
    assert not (tmp_path / "o").exists()
