"""The tokenizer's sample (weights, shortfall, held-out split, copies) and training: the 80k vocabulary
on real text from ../shared/data, lossless round trips on hostile strings, special tokens, the
transformers load, the CLI and its config errors."""

from __future__ import annotations

import gzip
import json
import random
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from tokenizers import decoders

from datapipe.config import ConfigError, load_config
from datapipe.document import DOCUMENT_SCHEMA, Document, document_id
from datapipe.heldout import is_heldout
from tests.conftest import ROOT, SHARED_DATA, shared
from tokenizer.config import TokenizerConfig
from tokenizer.sample import (
    HeldoutSelection,
    SampleError,
    TrainingSample,
    allocate,
    load_weights,
    report_category,
)
from tokenizer.train import VocabularyShortError, main, new_tokenizer, train_tokenizer
from tokenizer.vocab import END_OF_TEXT, SPECIAL_TOKENS, load_tokenizer

REAL_VOCAB = 80_000
REAL_SAMPLE_BYTES = 6_000_000
"""Enough of the real data for 80k entries (4.9 MB of it already gives them), and a ~15 s training."""


def write_stage(path: Path, docs: list[Document], files: int = 1) -> Path:
    """A stage output as the Spark stages write it: Parquet parts of DOCUMENT_SCHEMA and _SUCCESS."""
    path.mkdir(parents=True)
    for i in range(files):
        rows = [d.to_row() for d in docs[i::files]]
        pq.write_table(pa.Table.from_pylist(rows, schema=DOCUMENT_SCHEMA), path / f"part-{i:05d}.parquet")
    (path / "_SUCCESS").write_text("")
    return path


def write_config(path: Path, **values) -> Path:
    path.write_text(json.dumps(values))  # JSON is YAML
    return path


def doc(i: int, domain: str = "WebText", lang: str | None = "en", size: int = 100, **annotations) -> Document:
    """A document whose text starts with its id and is ``size`` bytes long."""
    doc_id = f"id{i:06d}"
    return Document(id=doc_id, text=f"{doc_id} ".ljust(size, "x"), domain=domain, lang=lang, annotations=annotations)


def sampled_ids(sample: TrainingSample) -> list[str]:
    return [text.split(" ", 1)[0] for text in sample]


# --- configuration and CLI -------------------------------------------------------------------------


def test_config_files_load_and_yaml_matches_defaults():
    assert load_config(TokenizerConfig, ROOT / "configs" / "tokenizer.yaml") == TokenizerConfig()
    demo = load_config(TokenizerConfig, ROOT / "configs" / "demo" / "tokenizer.yaml")
    assert demo.vocab_size < TokenizerConfig().vocab_size and demo.heldout_fraction > TokenizerConfig().heldout_fraction


@pytest.mark.parametrize(
    "values, message",
    [
        ({"vocab_size": 300}, "leaves no room for merges"),
        ({"heldout_fraction": 1.0}, "heldout_fraction"),
        ({"max_unspaced_run": 0}, "max_unspaced_run"),
        ({"sample_bytes": "lots"}, "sample_bytes"),
        ({"vocab": 80000}, "vocab: Extra inputs are not permitted"),
    ],
)
def test_config_errors_name_the_key(tmp_path, values, message):
    with pytest.raises(ConfigError, match=message):
        load_config(TokenizerConfig, write_config(tmp_path / "t.yaml", **values))


def test_cli_turns_config_errors_into_one_line_and_exit_2(tmp_path, capsys):
    stage = write_stage(tmp_path / "in", [doc(i) for i in range(3)])
    bad = write_config(tmp_path / "bad.yaml", min_frequency=0)
    assert main(["--input", str(stage), "--output", str(tmp_path / "out"), "--config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "min_frequency" in err and "Traceback" not in err
    assert main(["--input", str(tmp_path / "missing"), "--output", str(tmp_path / "out")]) == 2
    assert "no _SUCCESS" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_help():
    res = subprocess.run([sys.executable, "-m", "tokenizer.train", "--help"], cwd=ROOT, capture_output=True, text=True)
    assert res.returncode == 0 and "--weights" in res.stdout and "--input" in res.stdout


# --- sample: weights, shortfall, copies, held-out ----------------------------------------------------


def test_report_categories():
    assert report_category("Code", "python") == "Code"
    assert report_category("ClassicalChinese", "zh") == "Classical Chinese"
    assert report_category("AcademicPaper", "en") == report_category("Profession-Math", "zh") == "Math"
    assert report_category("WebText", "zh") == report_category("WorldKnowledge", "zh_Hant") == "Chinese"
    assert report_category("Book", "en") == "English"
    assert report_category("WebText", "fr") == report_category("Profession-Law", "ja") == "Multilingual"
    assert report_category("WebText", None) is None and report_category("WebText", "und") is None


def test_allocation_redistributes_a_shortfall_in_proportion():
    # Shares 1:4:3 of 1000 ask 125, 500, 375. B has 50: its shortfall goes to A and C 1:3, which asks
    # 712.5 of C; C has 450, so A gets the rest. D has no weight.
    take = allocate({"A": 10_000, "B": 50, "C": 450, "D": 7}, {"A": 1, "B": 4, "C": 3}, 1000)
    assert take["B"] == 50 and take["C"] == 450 and take["D"] == 0
    assert take["A"] == pytest.approx(500)
    assert allocate({"A": 10, "B": 20}, {"A": 1, "B": 1}, 1000) == {"A": 10, "B": 20}  # less text than asked: all of it


def test_sample_follows_weights_with_shortfall_skips_copies_and_holds_out(tmp_path):
    web = [doc(i, "WebText", size=100) for i in range(4000)]
    code = [doc(10_000 + i, "Code", "python", size=100) for i in range(100)]
    book = [doc(20_000 + i, "Book", size=100) for i in range(500)]
    copies = [doc(i, "WebText", size=100, **{"mix.copy": 1.0}) for i in range(0, 4000, 2)]  # repeats of web docs
    stage = write_stage(tmp_path / "mix", web + code + book + copies, files=3)
    config = TokenizerConfig(sample_bytes=100_000, heldout_fraction=0.1, show_progress=False)
    sample = TrainingSample([str(stage)], {"WebText": 50, "Code": 50}, config)
    ids = sampled_ids(sample)
    stats = {r["domain"]: r for r in sample.domain_rows()}

    assert len(ids) == len(set(ids)), "a mixture's repeated copies must not be sampled twice"
    heldout = {d.id for d in web + code + book if is_heldout(d.id, 0.1, 0)}
    assert 400 < len(heldout) < 520
    assert not set(ids) & heldout
    # Code has 100 docs, ~90 after the held-out ones: all of them, its shortfall to WebText.
    assert stats["Code"]["docs"] == stats["Code"]["available_docs"] == sum(1 for d in code if d.id not in heldout)
    assert stats["Code"]["target_share"] == pytest.approx(0.5)
    assert stats["WebText"]["target_bytes"] == pytest.approx(100_000 - stats["Code"]["bytes"])
    assert stats["WebText"]["bytes"] == pytest.approx(stats["WebText"]["target_bytes"], rel=0.1)
    assert stats["Book"]["docs"] == 0 and any("Book" in w and "no weight" in w for w in sample.warnings)
    assert stats["WebText"]["realised_share"] + stats["Code"]["realised_share"] == pytest.approx(1.0)
    assert {r["id"] for r in sample.heldout.records()} <= heldout


def test_sample_does_not_depend_on_file_order_and_changes_with_the_seed(tmp_path):
    docs = [doc(i, random.Random(i).choice(["WebText", "Code"]), size=50 + i % 200) for i in range(3000)]
    config = TokenizerConfig(sample_bytes=60_000, heldout_fraction=0.05, heldout_bytes_per_category=3000, show_progress=False)
    weights = {"WebText": 3, "Code": 1}
    a = TrainingSample([str(write_stage(tmp_path / "a", docs, files=1))], weights, config)
    b = TrainingSample([str(write_stage(tmp_path / "b1", docs[::-1][:1000], files=2)),
                        str(write_stage(tmp_path / "b2", docs[::-1][1000:], files=3))], weights, config)
    assert sorted(sampled_ids(a)) == sorted(sampled_ids(b))
    assert a.heldout.records() == b.heldout.records()
    reseeded = TrainingSample([str(tmp_path / "a")], weights, config.model_copy(update={"seed": 1}))
    assert sorted(sampled_ids(reseeded)) != sorted(sampled_ids(a))


def test_heldout_selection_takes_the_smallest_draws_up_to_the_cap():
    rng = random.Random(0)
    items = [(f"d{i}", rng.random(), rng.randint(1, 300)) for i in range(400)]
    cap = 5000
    expected, total = [], 0
    for doc_id, _, size in sorted(items, key=lambda x: x[1]):
        if total >= cap:
            break
        expected.append(doc_id)
        total += size
    for order in (items, items[::-1], sorted(items, key=lambda x: x[2])):
        sel = HeldoutSelection(cap)
        for doc_id, draw, size in order:
            sel.offer("English", draw, size, {"id": doc_id})
        assert [r["id"] for r in sel.records()] == expected
        assert len(sel.heaps["English"]) == len(expected)  # memory: only what is kept


def test_weights_from_mix_config_and_manifest(tmp_path):
    assert load_weights(ROOT / "configs" / "mix.yaml")["WebText"] == pytest.approx(75.21)
    manifest = tmp_path / "_manifest.json"
    manifest.write_text(json.dumps({"domains": [{"domain": "WebText", "target_share": 0.8}, {"domain": "Code", "target_share": 0.2}]}))
    assert load_weights(manifest) == {"WebText": 0.8, "Code": 0.2}
    manifest.write_text(json.dumps({"unit": "bytes"}))
    with pytest.raises(ConfigError, match="not a mixture manifest"):
        load_weights(manifest)
    bad_mix = write_config(tmp_path / "mix.yaml", domains={"Web": {"share": 1}})
    with pytest.raises(ConfigError, match="unknown domain"):
        load_weights(bad_mix)


def test_no_weighted_domain_with_documents_is_an_error(tmp_path):
    stage = write_stage(tmp_path / "in", [doc(i, "Code") for i in range(5)])
    with pytest.raises(SampleError, match="no domain with a weight"):
        TrainingSample([str(stage)], {"WebText": 1}, TokenizerConfig(show_progress=False)).plan()


# --- pre-tokenizer -----------------------------------------------------------------------------------


def pieces(text: str, **config) -> list[str]:
    """The pre-tokens of ``text``, as text (the ByteLevel step maps bytes to printable symbols)."""
    tok = new_tokenizer(TokenizerConfig(**config))
    return [decoders.ByteLevel().decode([p]) for p, _ in tok.pre_tokenizer.pre_tokenize_str(text)]


def test_pretokenizer_splits_digits_scripts_indentation_and_contractions():
    assert pieces("in 2024 we") == ["in", " ", "2", "0", "2", "4", " we"]
    assert pieces("用Python写的中文abc日本語です") == ["用", "Python", "写的中文", "abc", "日本語です"]
    assert pieces("这是一个没有标点符号的很长的中文句子", max_unspaced_run=4) == ["这是一个", "没有标点", "符号的很", "长的中文", "句子"]
    assert pieces("def f():\n        return x") == ["def", " f", "():\n", "       ", " return", " x"]
    assert pieces("I don't, WE'LL") == ["I", " don", "'t", ",", " WE", "'LL"]
    assert pieces("नमस्ते e\u0301te\u0301") == ["नमस्ते", " e\u0301te\u0301"]  # combining marks stay in the word
    assert pieces("ok 👩\u200d👩\u200d👧 ok") == ["ok", " 👩\u200d👩\u200d👧", " ok"]


# --- the 80k tokenizer on real text ------------------------------------------------------------------


def _listed(source) -> list[Path]:
    files = []
    for pattern in source.paths:
        for p in sorted(SHARED_DATA.glob(pattern)):
            files += [p] if p.is_file() else sorted(x for x in p.rglob("*") if x.is_file())
    return files


def real_documents() -> list[Document]:
    """The shared data as documents: the domain readers over their sources (code, LaTeX math,
    cmrc2018, chinese-poetry, NiuTrans, UDHR), plus web text (Common Crawl samples from dolma, THUCNews
    articles) as WebText; languages not known from the source come from lid.176."""
    from datapipe.domains import DomainsConfig, assign_languages, make_reader
    from datapipe.langid import LanguageIdentifier

    for part in ("chinese_classical", "chinese_modern", "code", "math", "multilingual/udhr/txt", "web_corpus_samples"):
        shared(part)
    outcomes = []
    small = {"code", "stacks-project", "cmrc2018-contexts", "cmrc2018-qa", "chinese-poetry", "niutrans-classical", "udhr"}
    for source in (s for s in DomainsConfig().sources if s.name in small):  # a few MB of every kind, not all 200 MB
        reader = make_reader(source)
        for path in _listed(source):
            rel = path.relative_to(SHARED_DATA).as_posix()
            if reader.accepts(rel):
                with open(path, "rb") as fh:
                    outcomes += [o for o in reader.read(fh, rel, path.as_uri()) if o.reason is None]
    identify = LanguageIdentifier().predict
    docs = [o.doc for o in assign_languages(outcomes, identify, 256)]
    web = []
    for path in sorted((SHARED_DATA / "web_corpus_samples").rglob("*.json*.gz")):
        if "attributes" not in path.parts:  # span annotations, not documents
            for i, line in enumerate(gzip.open(path, "rt", encoding="utf-8")):
                text = json.loads(line).get("text")
                if text:
                    web.append(Document(id=document_id(f"{path.name}#{i}", ""), text=text))
    for doc_, (lang, score) in zip(web, identify([d.text for d in web])):
        doc_.lang, doc_.lang_score = lang, score
    news = SHARED_DATA / "chinese_modern/THUCNews_cnews/data/cnews/cnews.val.txt.gz"
    for i, line in enumerate(gzip.open(news, "rt", encoding="utf-8")):
        web.append(Document(id=document_id(f"thucnews#{i}", ""), text=line.rstrip("\n").partition("\t")[2], lang="zh"))
    return docs + web


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    """One training run of the CLI on the real data: (output dir, the documents, training report)."""
    tmp = tmp_path_factory.mktemp("tokenizer")
    docs = real_documents()
    stage = write_stage(tmp / "decontaminated", docs, files=2)
    config = write_config(
        tmp / "tokenizer.yaml", vocab_size=REAL_VOCAB, sample_bytes=REAL_SAMPLE_BYTES, heldout_fraction=0.02,
        heldout_bytes_per_category=200_000, show_progress=False,
    )
    out = tmp / "tokenizer"
    argv = ["--input", str(stage), "--output", str(out), "--config", str(config), "--weights", str(ROOT / "configs" / "mix.yaml")]
    assert main(argv) == 0
    return out, docs, json.loads((out / "training_report.json").read_text())


HOSTILE = [
    "",
    " ",
    "\x00",
    "a\x00b\x00\x00",
    "\r\n\r\n",
    "\r",
    "line\r\nline\n\rline",
    "\t\t\tindented\ttabs",
    "\x01\x02\x07\x1b[31mred\x1b[0m\x7f\x80\x85\x9f",
    "\u200b\u200c\u200d\u2060\ufeff",
    "👩\u200d👩\u200d👧\u200d👦 👍🏽 🇨🇳🇺🇸 🏳\ufe0f\u200d🌈",
    "e\u0301\u0302\u0303 Z\u0324\u0354\u0367\u0311a\u0356\u032d\u0308\u0307l\u036e\u0312g\u030c\u0317o\u0319",
    "Å vs A\u030a, ﬁ ligature, ｆｕｌｌｗｉｄｔｈ，标点！？（）【】「」",
    "𓀀𓁐𓂀 𐌰𐌱𐌲 ᚠᛇᚻ ᠮᠣᠩᠭᠣᠯ ꦗꦮ བོད་ཡིག ܐܪܡܝܐ",
    "بِسْمِ اللَّهِ שָׁלוֹם नमस्ते দুনিয়া தமிழ் ಕನ್ನಡ",
    "ภาษาไทยไม่มีช่องว่างระหว่างคำเลยแม้แต่น้อย ພາສາລາວ ភាសាខ្មែរ မြန်မာ",
    "中文English日本語한국어Русский",
    "天地玄黄宇宙洪荒日月盈昃辰宿列张寒来暑往秋收冬藏闰余成岁律吕调阳云腾致雨露结为霜金生丽水玉出昆冈",
    "\ue000\uf8ff\U000f0000\U0010ffff\ufffe\uffff\U000e0001\U000e0041",
    "\u2028\u2029\u3000\u00a0\u202f",
    "<|endoftext|> <|begin_of_text|><|pad|><|reserved_0|> <|endoftext",
    " " * 200 + "\n" * 50 + "=" * 500,
    "3.14159e-10 + 1234567890 = ¹²³ ① Ⅻ ٣٤٥ ४५६",
    "    def f(x):\n\t\treturn {'a': [1, 2]}  # ok\r\n",
]


def random_unicode(rng: random.Random, n: int) -> str:
    """Valid UTF-8 text: random code points of every plane, surrogates excluded."""
    out = []
    while len(out) < n:
        cp = rng.choice([rng.randrange(0x80), rng.randrange(0x800), rng.randrange(0x10000), rng.randrange(0x110000)])
        if not 0xD800 <= cp <= 0xDFFF:
            out.append(chr(cp))
    return "".join(out)


def test_real_vocabulary_is_exactly_80k_with_special_tokens_first(real):
    out, _, report = real
    tok, eot = load_tokenizer(out)
    assert tok.get_vocab_size() == REAL_VOCAB == report["vocab_size"]
    assert [tok.token_to_id(t) for t in SPECIAL_TOKENS] == list(range(len(SPECIAL_TOKENS)))
    assert eot == 0
    assert report["merges"] == REAL_VOCAB - len(SPECIAL_TOKENS) - 256
    assert report["sample"]["bytes"] <= REAL_SAMPLE_BYTES * 1.1 and report["peak_rss_bytes"] > 0
    assert {d["domain"] for d in report["sample"]["domains"] if d["docs"]} >= {"WebText", "Code", "ClassicalChinese"}
    md = (out / "training_report.md").read_text()
    assert "| WebText |" in md and "Peak RSS" in md
    assert not list(out.parent.glob("tokenizer._tmp-*"))


def test_round_trip_is_lossless_on_hostile_strings(real):
    tok, _ = load_tokenizer(real[0])
    rng = random.Random(0)
    texts = HOSTILE + [random_unicode(rng, rng.randint(1, 80)) for _ in range(300)]
    for text in texts:
        assert tok.decode(tok.encode(text).ids) == text, repr(text)
    assert tok.decode(tok.encode("".join(HOSTILE)).ids) == "".join(HOSTILE)


def test_special_tokens_are_single_ids_and_literal_ones_in_text_stay_text(real):
    tok, eot = load_tokenizer(real[0])
    text = f"end {END_OF_TEXT} of text"
    ids = tok.encode(text).ids
    assert eot not in ids and tok.decode(ids) == text
    raw = type(tok).from_file(str(real[0] / "tokenizer.json"))  # the control form: special tokens recognised
    for i, special in enumerate(SPECIAL_TOKENS[:5]):
        assert raw.encode(special).ids == [i]


def test_heldout_file_is_held_out_documents_per_category(real):
    out, docs, _ = real
    records = [json.loads(line) for line in (out / "heldout.jsonl").read_text(encoding="utf-8").splitlines()]
    held = {report_category(d.domain, d.lang) for d in docs if is_heldout(d.id, 0.02, 0)} - {None}
    assert {r["category"] for r in records} == held >= {"English", "Chinese", "Classical Chinese", "Code", "Multilingual"}
    for r in records:
        assert set(r) == {"id", "domain", "lang", "category", "text"}
        assert is_heldout(r["id"], 0.02, 0) and report_category(r["domain"], r["lang"]) == r["category"]
    # compression on held-out text: far below a byte per token (no merges would give 1.0)
    tok, _ = load_tokenizer(out)
    for category in ("English", "Chinese", "Code"):
        texts = [r["text"] for r in records if r["category"] == category]
        tokens = sum(len(e.ids) for e in tok.encode_batch(texts))
        assert tokens / sum(len(t.encode()) for t in texts) < 0.4, category


def test_transformers_loads_the_directory_and_gives_the_same_ids(real, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # a local directory; nothing may be downloaded
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    out = real[0]
    tok, eot = load_tokenizer(out)
    auto = AutoTokenizer.from_pretrained(str(out))
    fast = PreTrainedTokenizerFast(tokenizer_file=str(out / "tokenizer.json"))
    assert auto.eos_token_id == eot and len(auto) == REAL_VOCAB
    records = [json.loads(line) for line in (out / "heldout.jsonl").read_text(encoding="utf-8").splitlines()[:50]]
    for text in HOSTILE + [r["text"] for r in records]:
        ids = tok.encode(text).ids
        assert auto(text)["input_ids"] == ids  # literal special tokens stay text, as with load_tokenizer
        assert auto.decode(ids) == text
        if END_OF_TEXT not in text and "<|" not in text:
            assert fast(text)["input_ids"] == ids


# --- errors and atomic output --------------------------------------------------------------------------


def test_too_little_text_is_an_error_that_says_how_much_is_needed(tmp_path, capsys):
    texts = ["a small text, with few pairs to merge"] * 3
    with pytest.raises(VocabularyShortError, match=r"bytes at least are needed") as err:
        train_tokenizer(texts, TokenizerConfig(vocab_size=2000, show_progress=False))
    assert f"{len(''.join(texts)):,} bytes" in str(err.value)
    stage = write_stage(tmp_path / "in", [Document(id=f"d{i}", text=f"tiny {i}") for i in range(30)])
    config = write_config(tmp_path / "t.yaml", vocab_size=2000, show_progress=False, heldout_fraction=0.0)
    assert main(["--input", str(stage), "--output", str(tmp_path / "out"), "--config", str(config)]) == 2
    assert "vocabulary entries" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in", "t.yaml"]  # no output, no temporary left


def test_output_is_replaced_atomically(tmp_path):
    rng = random.Random(0)
    words = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 9))) for _ in range(300)]
    docs = [Document(id=f"d{i}", text=" ".join(rng.choices(words, k=50))) for i in range(200)]
    stage = write_stage(tmp_path / "in", docs)
    config = write_config(tmp_path / "t.yaml", vocab_size=1000, show_progress=False, heldout_fraction=0.1)
    out = tmp_path / "out"
    out.mkdir()
    (out / "stale.txt").write_text("from an older run")
    assert main(["--input", str(stage), "--output", str(out), "--config", str(config)]) == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "heldout.jsonl", "special_tokens_map.json", "tokenizer.json", "tokenizer_config.json",
        "training_report.json", "training_report.md",
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in", "out", "t.yaml"]
