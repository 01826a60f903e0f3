"""Benchmark decontamination without Spark: real test items planted into real text are found under
the right benchmark and dropped or cut; clean text is not flagged; every file format loads with its
configured fields; missing files and bad configs are reported clearly.

Benchmarks and corpora are read in place from ../shared/data (skipped when it is absent); derived
files (other formats of real items) are written to the test's tmp_path only.
"""

from __future__ import annotations

import csv
import gzip
import json
import logging
import re
from functools import cache
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from datapipe.config import ConfigError, load_config
from datapipe.decontam import (
    BenchmarkSource,
    DecontamConfig,
    Decontaminator,
    TokenHasher,
    benchmark_files,
    build_index,
    cut_spans,
    iter_items,
    ngram_hashes,
    read_records,
    token_spans,
    tokens,
)
from tests.conftest import ROOT, shared

DEFAULT_YAML = ROOT / "configs" / "decontaminate.yaml"
WEB = ("web_corpus_samples", "dolma", "tests", "data", "formats", "gz", "CC-MAIN-20190717121559-20190717143559-00140.jsonl.gz")
CMRC = ("chinese_modern", "cmrc2018", "squad-style-data", "cmrc2018_dev.json.gz")
THUCNEWS = ("chinese_modern", "THUCNews_cnews", "data", "cnews", "cnews.val.txt.gz")
GSM8K = ("benchmarks", "gsm8k", "grade_school_math", "data", "test.jsonl")
ARC = ("benchmarks", "ARC-Challenge", "data", "arc", "ARC-Challenge-Test.jsonl")


# --- real data ----------------------------------------------------------------------------------


@cache
def web_docs() -> list[str]:
    """Common Crawl 2019-30 documents (cleaned WET text, 697 documents)."""
    with gzip.open(shared(*WEB), "rt", encoding="utf-8") as f:
        return [json.loads(line)["text"] for line in f]


@cache
def cmrc_paragraphs() -> list[str]:
    """Simplified-Chinese Wikipedia paragraphs of the cmrc2018 dev set."""
    with gzip.open(shared(*CMRC), "rt", encoding="utf-8") as f:
        data = json.load(f)["data"]
    return [p["context"] for article in data for p in article["paragraphs"]]


@cache
def thucnews() -> list[str]:
    with gzip.open(shared(*THUCNEWS), "rt", encoding="utf-8") as f:
        return [line.split("\t", 1)[1] for line in f]


@cache
def gsm8k_questions() -> list[str]:
    return [json.loads(line)["question"] for line in shared(*GSM8K).read_text(encoding="utf-8").splitlines()]


def first_field_values(source: BenchmarkSource, root: Path, count: int, min_tokens: int = 20) -> list[str]:
    """The first configured field of the first ``count`` records whose value has ``min_tokens`` tokens:
    the question alone, as a page that quotes a benchmark item would show it."""
    files, _ = benchmark_files(source, root)
    out = []
    for path in files:
        for record in read_records(path, source):
            value = record
            for key in source.fields[0].split("."):
                value = value[key]
            if len(tokens(value)) >= min_tokens:
                out.append(value)
                if len(out) == count:
                    return out
    return out


def plant(doc: str, item: str) -> str:
    """``item`` inserted as a paragraph in the middle of ``doc``."""
    lines = doc.split("\n")
    mid = len(lines) // 2
    return "\n".join(lines[:mid] + [item] + lines[mid:])


def plant_zh(paragraph: str, item: str) -> str:
    """``item`` inserted after the sentence end nearest the middle of a Chinese paragraph."""
    ends = [m.end() for m in re.finditer("。", paragraph)] or [len(paragraph)]
    cut = min(ends, key=lambda e: abs(e - len(paragraph) // 2))
    return paragraph[:cut] + item + paragraph[cut:]


@pytest.fixture(scope="module")
def root() -> Path:
    return shared("benchmarks")


@pytest.fixture(scope="module")
def config(root) -> DecontamConfig:
    return DecontamConfig(root=str(root), mode="drop")


@pytest.fixture(scope="module")
def index(config):
    return build_index(config)


@pytest.fixture(scope="module")
def dropper(index, config) -> Decontaminator:
    return Decontaminator(index, config)


@pytest.fixture(scope="module")
def cutter(index, config) -> Decontaminator:
    return Decontaminator(index, DecontamConfig(**{**config.model_dump(), "mode": "cut"}))


# --- config -------------------------------------------------------------------------------------


def test_defaults_equal_the_shipped_yaml():
    loaded = load_config(DecontamConfig, DEFAULT_YAML)
    defaults = DecontamConfig()
    for key in DecontamConfig.model_fields:
        assert getattr(loaded, key) == getattr(defaults, key), key
    raw = yaml.safe_load(DEFAULT_YAML.read_text(encoding="utf-8"))
    assert set(raw) == set(DecontamConfig.model_fields)  # the YAML documents every setting explicitly
    for bench in raw["benchmarks"]:
        assert set(bench) == set(BenchmarkSource.model_fields), bench["name"]


def _load(tmp_path: Path, data: dict) -> DecontamConfig:
    path = tmp_path / "decontam.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return load_config(DecontamConfig, path)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"no_such_key": 1}, "no_such_key"),
        ({"mode": "erase"}, "mode"),
        ({"word_ngram": 0}, "word_ngram"),
        ({"min_letter_tokens": 14}, "min_letter_tokens"),
        ({"benchmarks": [{"name": "a", "paths": ["x.jsonl"], "fields": ["q"]}] * 2}, "unique"),
        ({"benchmarks": [{"name": "too_many_cuts", "paths": ["x.jsonl"], "fields": ["q"]}]}, "reject reason"),
        ({"benchmarks": [{"name": "a.b", "paths": ["x.jsonl"], "fields": ["q"]}]}, "benchmarks.0.name"),
        ({"benchmarks": [{"name": "a", "paths": ["x.jsonl"]}]}, "fields are required"),
        ({"benchmarks": [{"name": "a", "paths": [], "fields": ["q"]}]}, "benchmarks.0.paths"),
        ({"benchmarks": [{"name": "a", "paths": ["x.csv"], "fields": ["q"], "csv_header": False}]}, "column numbers"),
        ({"benchmarks": [{"name": "a", "paths": ["x.jsonl"], "fields": ["q"], "strip_pattern": "(["}]}, "regular expression"),
        ({"benchmarks": [{"name": "a", "paths": ["x.jsonl"], "fields": ["q"], "format": "xml"}]}, "format"),
    ],
)
def test_config_validation(tmp_path, data, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        _load(tmp_path, data)


def test_txt_benchmarks_need_no_fields(tmp_path):
    cfg = _load(tmp_path, {"benchmarks": [{"name": "lines", "paths": ["items/*.txt.gz"]}]})
    assert cfg.benchmarks[0].fields == []


# --- normalisation and hashing ------------------------------------------------------------------


def test_normalisation_ignores_case_punctuation_apostrophes_and_full_width():
    assert tokens("Janet’s ducks lay 16 eggs... She DOESN'T eat them!") == tokens("janets ducks, lay 16 eggs; she doesnt eat them")
    assert tokens("ＡＢＣ　１２３") == ["abc", "123"]
    # Han and kana are one token per character, other scripts one token per word, in one stream
    assert tokens("下列说法中，正确的是 ABC-12") == ["下", "列", "说", "法", "中", "正", "确", "的", "是", "abc", "12"]
    assert tokens("カタカナ・ひらがな") == ["カ", "タ", "カ", "ナ", "ひ", "ら", "が", "な"]


def test_fast_tokens_equal_the_tokens_with_spans_on_real_text():
    """Documents are hashed from :func:`tokens`; cut mode locates matches with :func:`token_spans`."""
    udhr = sorted(shared("multilingual", "udhr", "txt").glob("*.txt"))
    texts = web_docs()[:150] + thucnews()[:50] + cmrc_paragraphs()[:50] + [p.read_text(encoding="utf-8") for p in udhr]
    for text in texts:
        toks, spans = token_spans(text)
        assert toks == tokens(text)
        assert all(text[s:e] for s, e in spans)


def test_rolling_ngram_hashes_equal_hashing_each_ngram_on_its_own():
    toks = tokens(web_docs()[0])
    th = TokenHasher().hashes(toks)
    n = 13
    expected = []
    for i in range(len(toks) - n + 1):
        h = 0
        for j in range(n):
            h = (h * 0x9E3779B97F4A7C15 + int(th[i + j])) % 2**64
        expected.append(h)
    assert ngram_hashes(th, n).tolist() == expected
    assert ngram_hashes(th[:5], n).size == 0


def test_no_hash_collisions_among_the_ngrams_of_a_real_corpus():
    hasher = TokenHasher()
    grams, hashes = set(), set()
    for text in web_docs():
        toks = tokens(text)
        grams.update(zip(*(toks[i:] for i in range(13))))
        hashes.update(ngram_hashes(hasher.hashes(toks), 13).tolist())
    assert len(grams) > 300_000 and len(hashes) == len(grams)


# --- the default benchmark index ----------------------------------------------------------------


def test_default_benchmarks_load_with_their_fields(index):
    rep = index.report["benchmarks"]
    # item counts as documented in benchmarks/SOURCES.md and the upstream data sets
    expected = {"gsm8k": 1319, "humaneval": 164, "mmlu": 14042, "cmmlu": 11582, "arc_challenge": 1150, "math": 5000}
    assert {name: r["items"] for name, r in rep.items()} == expected
    assert rep["mmlu"]["files"] == 57 and rep["cmmlu"]["files"] == 67
    assert rep["cmmlu"]["items_cjk"] > 0.95 * expected["cmmlu"]
    assert all(r["items_cjk"] == 0 for name, r in rep.items() if name != "cmmlu")
    for name, r in rep.items():  # nearly every item can be found: few are shorter than an n-gram
        assert r["items_without_ngrams"] < 0.02 * r["items"], name
        assert r["ngrams"] > 10 * r["items"], name
    assert index.report["files_missing"] == 0 and index.report["benchmarks_skipped"] == 0
    # compact: 8 bytes of hash and 1 byte of benchmark mask per n-gram, about 2 million n-grams
    assert index.report["ngrams"] == index.hashes.size and index.report["bytes"] == 9 * index.hashes.size
    assert 1_000_000 < index.hashes.size < 5_000_000
    assert np.all(index.hashes[1:] > index.hashes[:-1])  # sorted and unique, as the binary search needs


def test_gsm8k_question_in_an_english_web_page_is_dropped(dropper):
    doc, question = web_docs()[5], gsm8k_questions()[100]
    assert dropper.scan(doc).matches == {}
    outcome = dropper.scan(plant(doc, question))
    assert outcome.text is None and outcome.reason == "decontam:gsm8k"
    assert set(outcome.matches) == {"gsm8k"} and outcome.matches["gsm8k"] >= len(tokens(question)) - 12 - 2
    # as a page would reformat it: upper case, other punctuation and spacing, straight quotes
    reformatted = question.upper().replace(",", " ;").replace("’", "'").replace(" ", "  ")
    assert dropper.scan(plant(doc, reformatted)).reason == "decontam:gsm8k"


def test_cmmlu_question_in_a_chinese_wikipedia_paragraph_is_dropped(dropper, root, config):
    cmmlu = next(b for b in config.benchmarks if b.name == "cmmlu")
    questions = first_field_values(cmmlu, root, 20, min_tokens=20)
    paragraphs = cmrc_paragraphs()
    for k, question in enumerate(questions):
        para = paragraphs[k * 7]
        assert dropper.scan(para).matches == {}
        outcome = dropper.scan(plant_zh(para, question))
        assert outcome.reason == "decontam:cmmlu", question


def test_cmmlu_question_quoted_in_an_english_page_is_found(dropper, root, config):
    cmmlu = next(b for b in config.benchmarks if b.name == "cmmlu")
    (question,) = first_field_values(cmmlu, root, 1, min_tokens=25)
    assert dropper.scan(plant(web_docs()[10], question)).reason == "decontam:cmmlu"


@pytest.mark.parametrize("name", ["gsm8k", "humaneval", "mmlu", "cmmlu", "arc_challenge", "math"])
def test_items_of_every_benchmark_are_found_under_their_name(dropper, root, config, name):
    source = next(b for b in config.benchmarks if b.name == name)
    items = first_field_values(source, root, 10)
    assert len(items) == 10
    docs = web_docs()
    for k, item in enumerate(items):
        outcome = dropper.scan(plant(docs[100 + k], item))
        assert outcome.reason == f"decontam:{name}" and name in outcome.matches, item[:80]


def test_clean_corpora_are_not_flagged(dropper):
    """False-positive rate on real text that does not quote any benchmark: 0 on 697 English web
    pages; on 1,348 Chinese Wikipedia paragraphs and news articles at most 0.3% (two documents name
    a statute or state body that CMMLU law questions quote word for word)."""
    web = [i for i, text in enumerate(web_docs()) if dropper.scan(text).matches]
    assert web == []
    chinese = cmrc_paragraphs() + thucnews()
    flagged = [i for i, text in enumerate(chinese) if dropper.scan(text).matches]
    assert len(flagged) <= 0.003 * len(chinese), flagged


def test_cut_mode_removes_the_match_with_its_window_and_keeps_the_rest(cutter):
    doc = next(d for d in web_docs() if len(d) > 3000 and d.count("\n") > 8)
    question = gsm8k_questions()[7]
    planted = plant(doc, question)
    outcome = cutter.scan(planted)
    assert outcome.text is not None and outcome.cuts == 1 and set(outcome.matches) == {"gsm8k"}
    start = planted.index(question)
    end = start + max(m.end() for m in re.finditer(r"\w", question))  # the last word character
    assert outcome.text == planted[: start - 200].strip() + "\n" + planted[end + 200 :].strip()
    assert outcome.chars_removed == len(planted) - len(outcome.text)
    assert cutter.scan(outcome.text).matches == {}
    first, last = doc.split("\n")[0], doc.split("\n")[-1]
    assert outcome.text.startswith(first) and outcome.text.endswith(last)


def test_cut_mode_drops_documents_cut_into_too_many_pieces(cutter):
    paragraphs = [p for d in web_docs() for p in d.split("\n") if len(p) > 650][:12]
    questions = gsm8k_questions()[200:212]

    def interleave(k: int) -> str:
        parts = [paragraphs[0]]
        for q, p in zip(questions[:k], paragraphs[1:]):
            parts += [q, p]
        return "\n".join(parts)

    nine = cutter.scan(interleave(9))  # 10 pieces: kept
    assert nine.text is not None and nine.cuts == 9 and nine.text.count("\n") == 9
    eleven = cutter.scan(interleave(11))  # 12 pieces
    assert eleven.text is None and eleven.reason == "decontam:too_many_cuts" and eleven.matches["gsm8k"] > 11


def test_cut_mode_drops_a_document_with_no_piece_long_enough(cutter):
    question = gsm8k_questions()[3]
    outcome = cutter.scan(f"Homework help, problem 4.\n{question}\nPlease show your work.")
    assert outcome.text is None and outcome.reason == "decontam:gsm8k"


def test_cut_spans_merges_overlapping_windows():
    text = "a" * 100 + "X" * 10 + "b" * 50 + "Y" * 10 + "c" * 100
    pieces, removals = cut_spans(text, [(100, 110), (160, 170)], 20)
    assert removals == 2 and pieces == ["a" * 80, "b" * 10, "c" * 80]
    pieces, removals = cut_spans(text, [(100, 110), (160, 170)], 30)
    assert removals == 1 and pieces == ["a" * 70, "c" * 70]


# --- benchmark files ----------------------------------------------------------------------------


def _arc_records(count: int = 40) -> list[dict]:
    lines = shared(*ARC).read_text(encoding="utf-8").splitlines()[:count]
    return [json.loads(line) for line in lines]


def _write_formats(tmp_path: Path, records: list[dict]) -> list[dict]:
    """The same real items in every supported format; returns their benchmark entries."""
    flat = [[r["question"]["stem"]] + [c["text"] for c in r["question"]["choices"]] for r in records]
    width = max(map(len, flat))
    d = tmp_path / "bench"
    d.mkdir()
    jsonl = "".join(json.dumps(r) + "\n" for r in records)
    (d / "arc.jsonl").write_text(jsonl, encoding="utf-8")
    (d / "arc.jsonl.gz").write_bytes(gzip.compress(jsonl.encode()))
    (d / "arc.json").write_text(json.dumps({"data": {"items": records}}), encoding="utf-8")
    with open(d / "arc.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["stem"] + [f"c{i}" for i in range(width - 1)] + ["answer"])
        w.writerows(row + [""] * (width - len(row)) + ["A"] for row in flat)
    with open(d / "arc-noheader.csv", "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(["x"] + row for row in flat)
    pq.write_table(pa.Table.from_pylist(records), d / "arc.parquet")
    (d / "arc.parquet.gz").write_bytes(gzip.compress((d / "arc.parquet").read_bytes()))
    (d / "arc.txt.gz").write_bytes(gzip.compress("\n\n".join(" ".join(row) for row in flat).encode()))
    nested = ["question.stem", "question.choices.text"]
    return [
        {"name": "jsonl", "paths": ["arc.jsonl"], "fields": nested},
        {"name": "jsonl_gz", "paths": ["arc.jsonl.gz"], "fields": nested},
        {"name": "json", "paths": ["arc.json"], "fields": nested, "records": "data.items"},
        {"name": "csv", "paths": ["arc.csv"], "fields": ["stem"] + [f"c{i}" for i in range(width - 1)]},
        {"name": "csv_noheader", "paths": ["arc-noheader.csv"], "fields": [str(i) for i in range(1, width + 1)], "csv_header": False},
        {"name": "parquet", "paths": ["arc.parquet"], "fields": nested},
        {"name": "parquet_gz", "paths": ["arc.parquet.gz"], "fields": nested},
        {"name": "txt_gz", "paths": ["arc.txt.gz"]},
    ]


def test_every_file_format_loads_the_same_items(tmp_path):
    records = _arc_records()
    entries = _write_formats(tmp_path, records)
    cfg = DecontamConfig(mode="drop", root=str(tmp_path / "bench"), benchmarks=entries)
    index = build_index(cfg)
    rep = index.report["benchmarks"]
    assert {r["items"] for r in rep.values()} == {len(records)}
    assert len({r["ngrams"] for r in rep.values()}) == 1 and rep["jsonl"]["ngrams"] > 10 * len(records)
    assert np.all(index.owners == (1 << len(entries)) - 1)  # every n-gram comes from every copy
    stem = records[3]["question"]["stem"]
    outcome = Decontaminator(index, cfg).scan(plant(web_docs()[20], stem))
    assert outcome.reason == "decontam:jsonl" and set(outcome.matches) == {e["name"] for e in entries}


def test_a_field_missing_from_the_records_is_a_config_error(tmp_path):
    entries = _write_formats(tmp_path, _arc_records(5))
    entry = {**entries[0], "fields": ["question.stem", "question.options"]}
    with pytest.raises(ConfigError, match="no field 'question.options'"):
        build_index(DecontamConfig(root=str(tmp_path / "bench"), benchmarks=[entry]))


def test_an_unreadable_file_is_a_config_error_naming_it(tmp_path):
    bad = tmp_path / "broken.jsonl"
    bad.write_text('{"q": "fine"}\n{"q": \n', encoding="utf-8")
    with pytest.raises(ConfigError, match="cannot read .*broken.jsonl"):
        build_index(DecontamConfig(root=str(tmp_path), benchmarks=[{"name": "b", "paths": ["broken.jsonl"], "fields": ["q"]}]))


def test_missing_benchmark_files_are_skipped_with_a_warning_and_counted(root, caplog):
    gsm8k = {"name": "gsm8k", "paths": ["gsm8k/grade_school_math/data/test.jsonl", "gsm8k/no_such_split.jsonl"], "fields": ["question", "answer"]}
    gone = {"name": "gone", "paths": ["no_such_benchmark/test-*.parquet"], "fields": ["question"]}
    cfg = DecontamConfig(mode="drop", root=str(root), benchmarks=[gsm8k, gone])
    with caplog.at_level(logging.WARNING, logger="datapipe.decontam"):
        index = build_index(cfg)
    assert any("gone" in r.message and "no_such_benchmark/test-*.parquet" in r.message for r in caplog.records)
    rep = index.report
    assert rep["files_missing"] == 2 and rep["benchmarks_skipped"] == 1
    assert rep["benchmarks"]["gone"] == {"files": 0, "missing": 1, "skipped": True}
    assert rep["benchmarks"]["gsm8k"]["files"] == 1 and rep["benchmarks"]["gsm8k"]["missing"] == 1
    assert index.names == ["gsm8k"]
    outcome = Decontaminator(index, cfg).scan(plant(web_docs()[1], gsm8k_questions()[0]))
    assert outcome.reason == "decontam:gsm8k"
    with pytest.raises(ConfigError, match="no file matches .*no_such_split.jsonl .*strict"):
        build_index(DecontamConfig(root=str(root), strict=True, benchmarks=[gsm8k]))


def test_relative_root_is_resolved_against_the_project_root():
    assert DecontamConfig().root_path() == ROOT / "../shared/data/benchmarks"
    assert DecontamConfig(root="/data/benchmarks").root_path() == Path("/data/benchmarks")


# --- which n-grams count as evidence ------------------------------------------------------------


def test_ngrams_in_too_many_items_are_ignored(tmp_path):
    """A real sentence shared by 11 items is boilerplate at max_items_per_ngram 10, evidence without it."""
    questions = gsm8k_questions()
    shared_sentence, own = questions[0], questions[1:12]
    (tmp_path / "items.txt").write_text("".join(f"{shared_sentence} {q}\n" for q in own), encoding="utf-8")
    bench = [{"name": "lines", "paths": ["items.txt"]}]
    doc = plant(web_docs()[30], shared_sentence)
    filtered = DecontamConfig(mode="drop", root=str(tmp_path), benchmarks=bench)
    index = build_index(filtered)
    assert index.report["ngrams_too_common"] > 0
    assert Decontaminator(index, filtered).scan(doc).matches == {}
    assert Decontaminator(index, filtered).scan(plant(web_docs()[30], own[4])).reason == "decontam:lines"
    unfiltered = DecontamConfig(mode="drop", root=str(tmp_path), benchmarks=bench, max_items_per_ngram=None)
    assert Decontaminator(build_index(unfiltered), unfiltered).scan(doc).reason == "decontam:lines"


def test_number_runs_are_not_evidence(root, config):
    """MATH solutions list runs of numbers that tables and listings on clean pages share."""
    math = [b for b in config.benchmarks if b.name == "math"]
    numbers = " ".join(str(i) for i in range(1, 40))
    doc = plant(web_docs()[40], numbers)
    with_rule = DecontamConfig(mode="drop", root=str(root), benchmarks=math)
    assert Decontaminator(build_index(with_rule), with_rule).scan(doc).matches == {}
    without = DecontamConfig(mode="drop", root=str(root), benchmarks=math, min_letter_tokens=0)
    assert Decontaminator(build_index(without), without).scan(doc).reason == "decontam:math"


def test_iter_items_joins_the_configured_fields(root, config):
    arc = next(b for b in config.benchmarks if b.name == "arc_challenge")
    files, _ = benchmark_files(arc, root)
    first = next(iter_items(arc, files))
    record = _arc_records(1)[0]
    assert first == "\n".join([record["question"]["stem"]] + [c["text"] for c in record["question"]["choices"]])
    gsm = next(b for b in config.benchmarks if b.name == "gsm8k")
    answer = next(iter_items(gsm, benchmark_files(gsm, root)[0]))
    assert "<<" not in answer and "9 duck eggs" in answer  # calculator annotations stripped
