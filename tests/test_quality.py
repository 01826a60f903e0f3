"""The quality classifier without Spark: inputs, preprocessing, training on real reference and web text,
held-out metrics, determinism, and the threshold and Pareto keeping rules.

Positives (reference text, all in ../shared/data): Chinese Wikipedia paragraphs (CMRC 2018 contexts),
classical Chinese and its modern translation (NiuTrans Classical-Modern: 老子 论语 孙子兵法 荀子), the
UDHR in English and Chinese, and the Stacks project's LaTeX (academic English). Negatives: our own
extractor's output over real web pages: the magic-html forum pages (73 English, 20 Chinese), the
Chinese news and encyclopedia pages of trafilatura's evaluation set, and the real crawls among the
WARC files (Chinese spam pages, Semantic Scholar, IANA).
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from pydantic import BaseModel

from datapipe.config import ConfigError, load_config
from datapipe.document import DOCUMENT_SCHEMA, Document
from datapipe.extract import Extractor
from datapipe.quality.config import (
    REJECT_BELOW_THRESHOLD,
    REJECT_PARETO,
    SCORE_ANNOTATION,
    QualityConfig,
    QualityDataError,
    ScoreConfig,
)
from datapipe.quality.features import chunk_text, preprocess
from datapipe.quality.scoring import QualityModels, QualityStage, pareto_keep, positive_probability
from datapipe.quality.sources import iter_source, strip_latex
from datapipe.quality.training import balanced_split, classification_metrics, collect_examples, roc_auc, train_quality_models
from datapipe.stage import run_documents
from datapipe.warc import RawRecord
from jobs import quality_model
from tests.conftest import ROOT, shared

DEFAULT_YAML = ROOT / "configs" / "quality.yaml"

# Small-data settings: 200-character examples give the 33 Chinese web documents ~150 examples; with
# ~100-700 examples per class fastText needs more passes and a larger step than its defaults.
TEST_CONFIG = {
    "train": {
        "languages": ["en", "zh", "de"],  # no German reference text: de is skipped, and reported
        "chunk_chars": 200,
        "min_example_chars": 50,
        "heldout_fraction": 0.3,
        "max_examples_per_class": 1000,
        "text_field": "context",
        "quantize": False,
        "fasttext": {"dim": 16, "bucket": 20000, "epoch": 25, "lr": 0.5},
    }
}
WARC_FILES = [
    ("warc", "resiliparse", "tests", "data", "warcfile.warc.gz"),
    ("warc", "dolma", "tests", "data", "warc", "sample-0000.warc.gz"),
    ("warc", "dolma", "tests", "data", "warc", "sample-0001.warc.gz"),
    ("warc", "pywb", "sample_archive", "warcs", "iana.warc.gz"),
]
CHINESE_EVAL_SITES = ("xinhuanet", "banyuetan", "baidu")


@dataclass
class Corpus:
    positives: list[str]
    negatives: list[str]
    web_docs: list[Document]


def _web_pages() -> list[tuple[str, Path]]:
    forum = shared("html", "magic-html", "benchmark", "data", "forum")
    pages = [(v["url"], forum / "htmls" / f"{k}.html.gz") for k, v in sorted(json.loads((forum / "base.json").read_text()).items())]
    evaldata = json.loads(shared("html", "trafilatura", "tests", "evaldata.json").read_text())
    for url, v in sorted(evaldata.items()):
        if any(site in url for site in CHINESE_EVAL_SITES):
            for base in (shared("html", "trafilatura_eval_gz", "tests", "eval"), shared("html", "trafilatura", "tests", "cache")):
                if (base / f"{v['file']}.gz").exists():
                    pages.append((url, base / f"{v['file']}.gz"))
                    break
    return [(u, p) for u, p in pages if p.exists()]


def extract_web_documents() -> list[Document]:
    """Unfiltered web extractions: our extractor over real pages and real WARC crawls, one per id."""
    ex = Extractor()
    docs: dict[str, Document] = {}
    for parts in WARC_FILES:
        path = shared(*parts)
        with open(path, "rb") as f:
            for doc in ex.documents_from_archive(f, str(path)):
                docs.setdefault(doc.id, doc)
    pages = []
    for url, path in _web_pages():
        record = RawRecord("response", url, None, 0, None, 200, "text/html", gzip.decompress(path.read_bytes()), False)
        doc = ex.document_from_record(record, str(path))
        if doc is not None:
            pages.append(doc)
    for doc in ex._identify(pages):
        docs.setdefault(doc.id, doc)
    return list(docs.values())


def write_stage_output(path: Path, docs: list[Document]) -> Path:
    path.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist([d.to_row() for d in docs], schema=DOCUMENT_SCHEMA), path / "part-00000.parquet")
    (path / "_SUCCESS").write_text("")
    return path


def reference_inputs(tmp: Path) -> list[str]:
    """Reference-quality inputs: shared files as they are, CMRC 2018 (SQuAD JSON) as gzipped JSONL."""
    squad = json.loads(gzip.decompress(shared("chinese_modern", "cmrc2018", "squad-style-data", "cmrc2018_dev.json.gz").read_bytes()))
    lines = [json.dumps({"context": p["context"]}, ensure_ascii=False) for art in squad["data"] for p in art["paragraphs"]]
    cmrc = tmp / "cmrc2018_contexts.jsonl.gz"
    cmrc.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode("utf-8")))
    niutrans = shared("chinese_classical", "NiuTrans_Classical-Modern", "双语数据")
    tex = sorted(p for p in shared("math", "stacks-project").glob("*.tex") if p.name != "preamble.tex")
    udhr = shared("multilingual", "udhr", "txt")
    return [str(cmrc), str(udhr / "eng.txt"), str(udhr / "cmn_hans.txt")] + [str(p) for p in tex] + sorted(
        str(p) for p in niutrans.glob("*/*/*.txt") if p.name in ("source.txt", "target.txt")
    )


_CACHE: dict = {}


def quality_corpus(tmp_path_factory) -> Corpus:
    """Built once per test session (the Spark tests use it too): extraction takes a while."""
    if "corpus" not in _CACHE:
        tmp = tmp_path_factory.mktemp("quality-corpus")
        web = extract_web_documents()
        negatives = write_stage_output(tmp / "extracted", web)
        _CACHE["corpus"] = Corpus(reference_inputs(tmp), [str(negatives)], web)
    return _CACHE["corpus"]


def trained_models(tmp_path_factory) -> tuple[Path, dict]:
    """The test-sized models and their report, trained once per session."""
    if "model" not in _CACHE:
        corpus = quality_corpus(tmp_path_factory)
        out = tmp_path_factory.mktemp("quality-model") / "quality-model"
        report = train_quality_models(corpus.positives, corpus.negatives, out, QualityConfig.model_validate(TEST_CONFIG))
        _CACHE["model"] = (out, report)
    return _CACHE["model"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Corpus:
    return quality_corpus(tmp_path_factory)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, dict]:
    return trained_models(tmp_path_factory)


# --- config --------------------------------------------------------------------------------------


def test_defaults_equal_the_shipped_yaml():
    loaded = load_config(QualityConfig, DEFAULT_YAML)
    assert loaded == QualityConfig()
    raw = yaml.safe_load(DEFAULT_YAML.read_text(encoding="utf-8"))

    def check(model: BaseModel, section: dict, where: str) -> None:  # the YAML spells out every key
        for name in type(model).model_fields:
            assert name in section, f"{where}{name}"
            value = getattr(model, name)
            if isinstance(value, BaseModel):
                check(value, section[name], f"{where}{name}.")

    check(QualityConfig(), raw, "")


@pytest.mark.parametrize(
    "text, key",
    [
        ("score:\n  thresholds: {en: 1.5}\n", "score.thresholds.en"),
        ("score:\n  domains: [Web]\n", "score.domains"),
        ("train:\n  positive_domains: [Books]\n", "train.positive_domains"),
        ("score:\n  mode: top_k\n", "score.mode"),
        ("score:\n  pareto_alpha: 0\n", "score.pareto_alpha"),
        ("train:\n  heldout_fraction: 1.0\n", "train.heldout_fraction"),
        ("train:\n  languages: [en, en]\n", "train.languages"),
        ("train:\n  languages: [English]\n", "train.languages.0"),
        ("train:\n  fasttext: {word_ngrams: 0}\n", "train.fasttext.word_ngrams"),
        ("preprocess:\n  max_chars: 10\n", "preprocess.max_chars"),
        ("score:\n  threshold: 0.5\n", "score.threshold"),  # unknown key (the setting is default_threshold)
    ],
)
def test_config_errors_name_the_key(tmp_path, text, key):
    path = tmp_path / "quality.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(QualityConfig, path)
    assert f"  {key}:" in str(err.value) and str(path) in str(err.value)


def test_per_language_threshold_falls_back_to_the_default():
    c = ScoreConfig(thresholds={"zh": 0.3}, default_threshold=0.6)
    assert c.threshold("zh") == 0.3 and c.threshold("en") == 0.6


# --- text preparation and inputs -----------------------------------------------------------------


def test_preprocess_gives_one_lowercase_line_of_tokens():
    text = "The Committee's REPORT, in 2024:\n\n  e-mail  us!\t第一章　總則ＡＢＣ１２"
    assert preprocess(text, 1000) == "the committee's report , in 2024 : e-mail us ! 第 一 章 總 則 abc12"
    assert "\n" not in preprocess("a\nb\r\nc", 1000)
    assert preprocess("x" * 50 + " tail", 50) == "x" * 50
    # Chinese without spaces still yields one token per character, so fastText's bigrams are character bigrams
    assert preprocess("机器学习是人工智能的一个分支。", 100).split() == list("机器学习是人工智能的一个分支。")


def test_chunk_text_splits_at_lines_and_cuts_long_lines():
    text = "aaaa\nbb\ncccccccccccc\n\nd"
    assert chunk_text(text, 5) == ["aaaa\nbb", "ccccc", "ccccc", "cc\nd"]
    assert chunk_text(text, 0) == [text]
    assert "".join(chunk_text(text, 5)).replace("\n", "") == text.replace("\n", "")


def test_strip_latex_keeps_the_prose_of_the_stacks_project():
    tex = shared("math", "stacks-project", "sets.tex").read_text(encoding="utf-8")
    text = strip_latex(tex)
    assert "\\" not in text and "{" not in text and "}" not in text
    assert "We need some set theory every now and then." in text
    assert "OK, start here" not in text  # a comment
    assert "section-introduction" not in text  # a label
    assert "Set Theory" in text  # \title{Set Theory}


def test_input_formats(tmp_path):
    (tmp_path / "a.txt").write_text("first doc line one\nline two\n\n\nsecond doc\n")
    (tmp_path / "b.jsonl.gz").write_bytes(gzip.compress(b'{"body": "x", "lang": "fr"}\n\n{"body": "y"}\n'))
    (tmp_path / "c.tex").write_text("\\section{Intro}\n% comment\nSome \\emph{text}.\n\n\\label{x}\n")
    assert [(d.key, d.text) for d in iter_source(str(tmp_path / "a.txt"))] == [("0", "first doc line one\nline two"), ("1", "second doc")]
    assert [(d.text, d.lang) for d in iter_source(str(tmp_path / "b.jsonl.gz"), "body")] == [("x", "fr"), ("y", None)]
    assert [d.text for d in iter_source(str(tmp_path / "c.tex"))] == ["Intro\nSome text."]
    with pytest.raises(QualityDataError, match="no string field 'text'"):
        list(iter_source(str(tmp_path / "b.jsonl.gz")))
    with pytest.raises(QualityDataError, match="input not found"):
        list(iter_source(str(tmp_path / "nope")))
    (tmp_path / "d.csv").write_text("x\n")
    with pytest.raises(QualityDataError, match="unsupported input"):
        list(iter_source(str(tmp_path / "d.csv")))


def test_parquet_input_needs_a_complete_stage_output_and_skips_rejects(tmp_path):
    docs = [Document(id="k1", text="kept one", lang="en"), Document(id="k2", text="kept two")]
    out = write_stage_output(tmp_path / "stage", docs)
    (out / "_rejects").mkdir()
    pq.write_table(pa.Table.from_pylist([Document(id="r", text="rejected").to_row()], schema=DOCUMENT_SCHEMA), out / "_rejects" / "part-0.parquet")
    assert [(d.key, d.text, d.lang) for d in iter_source(str(out))] == [("k1", "kept one", "en"), ("k2", "kept two", None)]
    (out / "_SUCCESS").unlink()
    with pytest.raises(QualityDataError, match="no _SUCCESS"):
        list(iter_source(str(out)))


def test_examples_identify_missing_languages_and_hold_out_whole_documents(tmp_path):
    udhr = shared("multilingual", "udhr", "txt")
    en = [Document(id=f"e{i}", text=p, lang=None) for i, p in enumerate(udhr.joinpath("eng.txt").read_text().split("\n")) if len(p) > 60]
    code = [Document(id=f"c{i}", text="def f(x):\n    return x * 2\n" * 5, domain="Code") for i in range(3)]
    stage = write_stage_output(tmp_path / "stage", en + code)
    zh = tmp_path / "zh.txt"  # one paragraph per block
    zh.write_text("\n\n".join(p for p in udhr.joinpath("cmn_hans.txt").read_text().split("\n") if len(p) > 30))
    config = QualityConfig.model_validate({"train": {"chunk_chars": 80, "min_example_chars": 20, "heldout_fraction": 0.5}})
    examples, summary = collect_examples({"positive": [str(zh)], "negative": [str(stage)]}, config)
    assert summary["inputs"][str(stage)]["languages"] == {"en": len(en)}  # lid.176 filled the null lang column
    assert summary["inputs"][str(stage)]["other_domains_skipped"] == {"Code": 3}  # negatives: WebText only
    assert summary["inputs"][str(zh)]["languages"] == {"zh": zh.read_text().count("\n\n") + 1}
    neg = examples[("en", "negative")]
    split_of = {}
    for e in neg:
        assert split_of.setdefault(e.group, e.heldout) == e.heldout  # every piece of a document on one side
    assert 0 < sum(split_of.values()) < len(split_of)
    pos = examples[("zh", "positive")]
    train_p, train_n = balanced_split(pos, neg, heldout=False)
    n_train = min(sum(not e.heldout for e in pos), sum(not e.heldout for e in neg))
    assert len(train_p) == len(train_n) == n_train > 0  # the majority class is downsampled ...
    assert train_p == sorted(e for e in pos if not e.heldout)[:n_train]  # ... to its seeded sample


# --- metrics -------------------------------------------------------------------------------------


def test_roc_auc_equals_the_pairwise_definition():
    rng = np.random.default_rng(5)
    labels = rng.integers(0, 2, 300)
    scores = np.round(rng.random(300) * 0.5 + labels * 0.3, 2)  # overlapping classes, many ties
    pos, neg = scores[labels == 1], scores[labels == 0]
    pairwise = ((pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()) / (len(pos) * len(neg))
    assert roc_auc(scores, labels) == pytest.approx(pairwise, abs=1e-12)
    assert roc_auc([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1]) == 1.0
    assert roc_auc([0.9, 0.8, 0.2, 0.1], [0, 0, 1, 1]) == 0.0
    assert roc_auc([0.5] * 4, [0, 1, 0, 1]) == 0.5
    with pytest.raises(ValueError):
        roc_auc([0.1, 0.2], [1, 1])


def test_classification_metrics_at_the_threshold():
    m = classification_metrics([0.9, 0.8, 0.3, 0.1], [1, 0, 1, 0], 0.5)
    # predicted positive: 0.9 (right) and 0.8 (wrong); 0.3 is a missed positive
    assert (m["precision"], m["recall"], m["f1"], m["accuracy"]) == (0.5, 0.5, 0.5, 0.5)
    assert m["auc"] == 0.75 and m["n_positive"] == 2 and m["n_negative"] == 2


# --- training on real data -----------------------------------------------------------------------


def test_classifier_separates_heldout_reference_text_from_web_text(trained, corpus):
    model_dir, report = trained
    en, zh = report["languages"]["en"], report["languages"]["zh"]
    # Measured (seed 1): en 0.989 on 298 held-out examples per class, zh 0.902 on 149 (seeds 1-8:
    # en 0.986-1.000, zh 0.902-0.995). English reference text here is mostly the Stacks project, so
    # en is largely "mathematical prose vs web"; zh rests on 33 web documents and moves the most with
    # the documents a seed holds out.
    assert en["heldout"]["auc"] >= 0.97
    assert zh["heldout"]["auc"] >= 0.85
    for r in (en, zh):
        assert r["train_examples"]["positive"] == r["train_examples"]["negative"] >= 50  # balanced
        assert r["heldout"]["n_positive"] == r["heldout"]["n_negative"] >= 40
    assert zh["examples"]["negative"]["sampled"] < zh["examples"]["positive"]["sampled"] == 1000  # majority capped, then downsampled
    assert zh["examples"]["negative"]["documents"] == sum(d.lang == "zh" for d in corpus.web_docs)
    assert report["skipped_languages"]["de"]["train_examples"]["positive"] < 20
    assert (model_dir / "quality.en.bin").is_file() and (model_dir / "quality.zh.bin").is_file()
    assert not (model_dir / "quality.de.bin").exists()
    manifest = json.loads((model_dir / "model.json").read_text())
    assert manifest["languages"] == {"en": "quality.en.bin", "zh": "quality.zh.bin"}
    assert json.loads((model_dir / "report.json").read_text())["languages"]["zh"]["heldout"] == zh["heldout"]
    md = (model_dir / "report.md").read_text()
    assert f"{zh['heldout']['auc']:.4f}" in md and "| de | skipped" in md
    assert not list(model_dir.parent.glob("*._tmp-*"))


def test_training_is_reproducible(trained, corpus, tmp_path):
    """Same data and seed: byte-identical models, identical predictions."""
    model_dir, _ = trained
    config = QualityConfig.model_validate({"train": {**TEST_CONFIG["train"], "languages": ["zh"]}})
    again = tmp_path / "again"
    train_quality_models(corpus.positives, corpus.negatives, again, config)
    assert (again / "quality.zh.bin").read_bytes() == (model_dir / "quality.zh.bin").read_bytes()
    texts = [d.text for d in corpus.web_docs if d.lang == "zh"]
    assert QualityModels(again).score("zh", texts) == QualityModels(model_dir).score("zh", texts)


def test_scorer_prepares_text_as_training_did(trained, corpus):
    model_dir, _ = trained
    models = QualityModels(model_dir)
    web = [d.text for d in corpus.web_docs if d.lang == "en"]
    scores = models.score("en", web)
    assert all(0.0 <= s <= 1.0 for s in scores) and len(set(scores)) > len(web) // 2
    assert models.max_chars == QualityConfig().preprocess.max_chars  # from model.json
    raw = models._models["en"]
    assert scores == positive_probability(raw, [preprocess(t, models.max_chars) for t in web])
    # P(positive) is the complement of P(negative) whichever label fastText ranks first
    labels, probs = raw.predict([preprocess(t, models.max_chars) for t in web], k=1)
    for s, lab, p in zip(scores, labels, probs):
        assert s == (min(float(p[0]), 1.0) if lab[0] == "__label__hq" else 1.0 - min(float(p[0]), 1.0))


def test_quantized_model_is_kept_only_within_the_auc_tolerance(trained, corpus, tmp_path):
    train = {**TEST_CONFIG["train"], "languages": ["en"], "quantize": True, "quantize_cutoff": 5000}
    loose = train_quality_models(corpus.positives, corpus.negatives, tmp_path / "loose", QualityConfig.model_validate({"train": {**train, "quantize_max_auc_drop": 1.0}}))
    q = loose["languages"]["en"]
    assert q["model"] == "quality.en.ftz" and q["quantize"]["kept"] and q["heldout"]["auc"] == q["quantize"]["auc_quantized"]
    assert q["model_bytes"] < (trained[0] / "quality.en.bin").stat().st_size / 3  # same settings, unquantized
    assert q["heldout"]["auc"] >= 0.95  # still separates the held-out split
    scores = QualityModels(tmp_path / "loose").score("en", [d.text for d in corpus.web_docs if d.lang == "en"])
    assert all(0.0 <= s <= 1.0 for s in scores)
    strict = train_quality_models(corpus.positives, corpus.negatives, tmp_path / "strict", QualityConfig.model_validate({"train": {**train, "quantize_max_auc_drop": 0.0}}))
    s = strict["languages"]["en"]
    assert s["quantize"]["kept"] == (s["quantize"]["auc_quantized"] >= s["quantize"]["auc_full"])
    assert s["model"] == ("quality.en.ftz" if s["quantize"]["kept"] else "quality.en.bin")


def test_model_directory_is_replaced_atomically(corpus, tmp_path):
    out = tmp_path / "model"
    out.mkdir()
    (out / "stale.txt").write_text("old")
    with pytest.raises(QualityDataError, match="no language has enough examples"):
        train_quality_models([str(shared("multilingual", "udhr", "txt", "eng.txt"))], corpus.negatives, out, QualityConfig.model_validate(TEST_CONFIG))
    assert (out / "stale.txt").read_text() == "old"  # a failed training leaves the old model alone
    config = QualityConfig.model_validate({"train": {**TEST_CONFIG["train"], "languages": ["zh"]}})
    train_quality_models(corpus.positives, corpus.negatives, out, config)
    assert not (out / "stale.txt").exists() and (out / "quality.zh.bin").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_training_cli(corpus, tmp_path, capsys):
    conf = tmp_path / "quality.yaml"
    conf.write_text(yaml.safe_dump({"train": {**TEST_CONFIG["train"], "languages": ["zh"]}}))
    out = tmp_path / "m"
    assert quality_model.main(["--positives", *corpus.positives, "--negatives", *corpus.negatives, "--output", str(out), "--config", str(conf)]) == 0
    assert "| zh | quality.zh.bin |" in capsys.readouterr().out and (out / "model.json").is_file()
    assert quality_model.main(["--positives", str(tmp_path / "nope.jsonl"), "--negatives", *corpus.negatives, "--output", str(out)]) == 2
    assert "nope.jsonl" in capsys.readouterr().err
    conf.write_text("train:\n  seeed: 3\n")
    assert quality_model.main(["-p", "x.txt", "-n", "y.txt", "-o", str(out), "-c", str(conf)]) == 2
    assert "train.seeed" in capsys.readouterr().err
    proc = subprocess.run([sys.executable, "-m", "jobs.quality_model", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "--positives" in proc.stdout


# --- keeping rules -------------------------------------------------------------------------------


def test_threshold_rule_per_language_and_domain(trained, corpus):
    model_dir, _ = trained
    models = QualityModels(model_dir)
    web = [d for d in corpus.web_docs if d.lang in ("en", "zh")]
    en_scores = [round(s, 6) for s in models.score("en", [d.text for d in web if d.lang == "en"])]  # as stored
    cut = float(np.median(en_scores))
    config = ScoreConfig(thresholds={"en": cut}, default_threshold=0.4)
    docs = [Document(id=d.id, text=d.text, lang=d.lang) for d in web]
    docs += [Document(id="book", text=web[0].text, lang=web[0].lang, domain="Book")]
    docs += [Document(id="de", text="Die Kommission hat den Bericht veröffentlicht.", lang="de")]
    docs += [Document(id="nolang", text=shared("multilingual", "udhr", "txt", "cmn_hans.txt").read_text(), lang=None)]
    qf = QualityStage(config, lambda: str(model_dir))
    outcomes = run_documents(qf, docs)
    reasons = [o.reason for o in outcomes]
    docs = [o.doc for o in outcomes]
    by_id = dict(zip((d.id for d in docs), reasons))
    for doc, reason in zip(docs, reasons):
        if doc.id == "de":
            assert reason is None and SCORE_ANNOTATION not in doc.annotations
            continue
        score = doc.annotations[SCORE_ANNOTATION]
        if doc.domain == "Book":
            assert reason is None  # scored, not filtered
        else:
            lang = doc.lang or "zh"
            assert (reason is None) == (score >= config.threshold(lang)), (doc.id, score)
            assert reason in (None, REJECT_BELOW_THRESHOLD)
    assert docs[-1].lang is None and qf.counters["scored.zh"] == 1 + sum(d.lang == "zh" for d in docs)  # identified as zh, left unchanged
    n_en = sum(d.lang == "en" for d in web)
    assert sum(by_id[d.id] is None for d in web if d.lang == "en") in (n_en // 2, (n_en + 1) // 2)  # median threshold
    c = qf.counters
    assert c["scored"] == len(docs) - 1 and c["unscored"] == 1 and c["not_filtered_domain"] == 1 and c["language_identified"] == 1
    assert c["scored.en"] == n_en


def test_pareto_keep_rate_follows_the_score():
    """P(keep) = P(pareto(alpha) > 1 - s) = (2 - s) ** -alpha for numpy's Lomax-shaped pareto."""
    alpha, n = 9.0, 4000
    rates = []
    for s in (0.0, 0.5, 0.8, 0.9, 1.0):
        kept = sum(pareto_keep(f"doc-{i}", s, alpha) for i in range(n))
        p = (2 - s) ** -alpha
        assert abs(kept / n - p) <= 4 * (p * (1 - p) / n) ** 0.5 + 1e-9, s
        rates.append(kept / n)
    assert rates == sorted(rates) and rates[-1] == 1.0 and rates[0] < 0.01


def test_pareto_decisions_do_not_depend_on_partitioning(trained, corpus):
    model_dir, _ = trained
    config = ScoreConfig(mode="pareto", pareto_alpha=3.0)  # a milder alpha keeps a mix to compare
    web = [d for d in corpus.web_docs if d.lang in ("en", "zh")]

    def decisions(partitions: list[list[Document]]) -> dict[str, str | None]:
        out = {}
        for part in partitions:  # a fresh filter per partition, as in Spark tasks
            docs = [Document(id=d.id, text=d.text, lang=d.lang) for d in part]
            out.update((o.doc.id, o.reason) for o in run_documents(QualityStage(config, lambda: str(model_dir)), docs))
        return out

    whole = decisions([web])
    assert decisions([web[i::3] for i in range(3)]) == whole
    assert decisions([list(reversed(web))]) == whole
    assert set(whole.values()) == {None, REJECT_PARETO}
    salted = {}
    for d in web:
        doc = Document(id=d.id, text=d.text, lang=d.lang)
        salted[d.id] = run_documents(QualityStage(config.model_copy(update={"seed": 1}), lambda: str(model_dir)), [doc])[0].reason
    assert salted != whole  # the seed salts every draw
