"""The non-web domain readers (datapipe.domains), pure Python: each on real data from ../shared/data,
and all of them on the built-in sample's domain sources against its manifest. No Spark here; the
ingest stage is tested in tests/test_ingest_spark.py."""

from __future__ import annotations

import gzip
import io
import json
import re
from collections import Counter
from pathlib import Path

import pytest
import yaml

from datapipe.config import ConfigError, load_config
from datapipe.document import DOMAINS
from datapipe.domains import DomainsConfig, assign_languages, load_domains_config, make_reader
from datapipe.domains.classical import ChinesePoetrySource, NiuTransSource, iter_works
from datapipe.domains.code import CodeSource, line_statistics, strip_license_header
from datapipe.domains.encyclopedia import (
    DEFAULT_REFERENCE_HEADINGS,
    SquadSource,
    clean_article,
    strip_reference_sections,
)
from datapipe.domains.latex import LatexSource, document_body, strip_bibliography, strip_comments
from datapipe.domains.text import QASource, TextSource, split_chapters, strip_gutenberg, unwrap_paragraphs
from datapipe.langid import LanguageIdentifier
from datapipe.stage import Outcome
from tests.conftest import ROOT, SHARED_DATA, shared

DEFAULT_YAML = ROOT / "configs" / "domains.yaml"


def read_files(source, root: Path, paths: list[Path]) -> tuple[list[Outcome], Counter]:
    """Run a source's reader over files, as the ingest stage's executors do."""
    reader = make_reader(source)
    outcomes = []
    for path in paths:
        rel = path.relative_to(root).as_posix()
        if reader.accepts(rel):
            with open(path, "rb") as fh:
                outcomes += list(reader.read(fh, rel, path.as_uri()))
    return outcomes, reader.counters


def listed(source, root: Path) -> list[Path]:
    """A source's files as the driver lists them (paths, directories recursively, globs)."""
    files = []
    for pattern in source.paths:
        for p in sorted(root.glob(pattern)):
            files += [p] if p.is_file() else sorted(x for x in p.rglob("*") if x.is_file())
    return files


def kept(outcomes: list[Outcome]) -> list:
    return [o.doc for o in outcomes if o.reason is None]


def one(source, path: Path, root: Path) -> Outcome:
    (o,) = read_files(source, root, [path])[0]
    return o


# --- config ----------------------------------------------------------------------------------


def test_defaults_equal_the_shipped_yaml():
    config, root = load_domains_config(DEFAULT_YAML)
    assert config.model_dump() == DomainsConfig().model_dump()
    assert Path(root) == SHARED_DATA.resolve()  # `root` is relative to configs/


def test_yaml_sets_every_option_explicitly():
    """The YAML documents the defaults: every key of every source is written out."""
    raw = yaml.safe_load(DEFAULT_YAML.read_text(encoding="utf-8"))
    dumped = DomainsConfig().model_dump()
    assert set(raw) == set(dumped)
    for written, source in zip(raw["sources"], dumped["sources"]):
        assert set(written) == set(source), source["name"]


def test_every_default_source_path_exists():
    root = shared()
    config, _ = load_domains_config(DEFAULT_YAML)
    for source in config.sources:
        for pattern in source.paths:
            assert list(root.glob(pattern)), (source.name, pattern)


@pytest.mark.parametrize(
    "source,key",
    [
        ({"name": "x", "domain": "Poetry", "reader": "text", "paths": ["a"]}, "domain"),
        ({"name": "x", "domain": "Book", "reader": "pdf", "paths": ["a"]}, "sources.0"),
        ({"name": "x", "domain": "Code", "reader": "code", "paths": ["a"], "lang": "en"}, "lang"),
        ({"name": "x", "domain": "Code", "reader": "code", "paths": ["a"], "generated_markers": ["(unclosed"]}, "generated_markers"),
        ({"name": "x", "domain": "Code", "reader": "code", "paths": ["a"], "extensions": {"py": "python"}}, "extensions"),
        ({"name": "x", "domain": "QA", "reader": "qa", "paths": ["a"], "template": "Q: {question}"}, "template"),
        ({"name": "x", "domain": "Book", "reader": "text", "paths": []}, "paths"),
        ({"name": "a b", "domain": "Book", "reader": "text", "paths": ["a"]}, "name"),
        ({"name": "x", "domain": "Book", "reader": "text", "paths": ["a"], "no_such_option": 1}, "no_such_option"),
    ],
)
def test_bad_source_is_reported_with_the_key(tmp_path, source, key):
    conf = tmp_path / "bad.yaml"
    conf.write_text(yaml.safe_dump({"sources": [source]}))
    with pytest.raises(ConfigError) as exc:
        load_config(DomainsConfig, conf)
    assert key in str(exc.value) and str(conf) in str(exc.value)


def test_duplicate_source_names_are_an_error(tmp_path):
    conf = tmp_path / "dup.yaml"
    src = {"name": "x", "domain": "Book", "reader": "text", "paths": ["a"]}
    conf.write_text(yaml.safe_dump({"sources": [src, dict(src, domain="QA", reader="qa")]}))
    with pytest.raises(ConfigError, match="unique"):
        load_config(DomainsConfig, conf)


def test_relative_root_is_taken_from_the_config_file(tmp_path):
    (tmp_path / "sub").mkdir()
    conf = tmp_path / "sub" / "d.yaml"
    conf.write_text(yaml.safe_dump({"root": "../data", "sources": [{"name": "b", "domain": "Book", "reader": "text", "paths": ["x"]}]}))
    assert load_domains_config(conf)[1] == str(tmp_path / "data")
    conf.write_text(yaml.safe_dump({"root": "s3a://bucket/data/", "sources": [{"name": "b", "domain": "Book", "reader": "text", "paths": ["x"]}]}))
    assert load_domains_config(conf)[1] == "s3a://bucket/data"


# --- code ------------------------------------------------------------------------------------

CODE = CodeSource(name="code", domain="Code", paths=["code"])


@pytest.fixture(scope="module")
def code_outcomes():
    root = shared()
    files = listed(CODE, root)
    outcomes, counters = read_files(CODE, root, files)
    return files, outcomes, counters


def test_code_reader_on_six_real_repositories(code_outcomes):
    files, outcomes, counters = code_outcomes
    by_ext = Counter(p.suffix for p in files if p.read_text(encoding="utf-8").strip())
    empty = sum(1 for p in files if p.suffix != ".md" and not p.read_text(encoding="utf-8").strip())
    docs = kept(outcomes)
    # hand-written code: nothing generated or minified; only empty files skipped
    assert [o.reason for o in outcomes if o.reason] == []
    assert counters["skip.empty"] == empty > 0
    langs = Counter(d.lang for d in docs)
    expected = {"python": by_ext[".py"], "cpp": by_ext[".cpp"], "java": by_ext[".java"], "rust": by_ext[".rs"],
                "go": by_ext[".go"], "javascript": by_ext[".js"]}
    assert langs == expected and min(expected.values()) >= 40
    assert all(d.domain == "Code" and d.url == f"code:{Path(d.source_file[7:]).relative_to(shared()).as_posix()}" for d in docs)
    assert len({d.id for d in docs}) == len(docs)


def test_license_headers_removed_from_real_files(code_outcomes):
    _, outcomes, counters = code_outcomes
    docs = {d.url: d.text for d in kept(outcomes)}
    factors = docs["code:code/TheAlgorithms_JavaScript/Maths/Factors.js"]
    original = (shared("code", "TheAlgorithms_JavaScript", "Maths", "Factors.js")).read_text()
    assert "License: GPL-3.0" in original and "License" not in factors
    assert factors.startswith("const factorsOfANumber") and original.endswith(factors)
    search = docs["code:code/TheAlgorithms_C-Plus-Plus/search/exponential_search.cpp"]
    assert "\\copyright" not in search and search.startswith("#include <cassert>")
    assert counters["license_header_removed"] == 2


def test_prose_saying_generated_by_is_not_a_generated_file(code_outcomes):
    _, outcomes, _ = code_outcomes
    docs = {d.url for d in kept(outcomes)}
    for rel in ("TheAlgorithms_C-Plus-Plus/numerical_methods/inverse_fast_fourier_transform.cpp",
                "TheAlgorithms_Python/project_euler/problem_002/sol3.py"):
        head = "\n".join(shared("code", *rel.split("/")).read_text().split("\n")[:20])
        assert "generated by" in head and f"code:code/{rel}" in docs


def _code_outcome(text: str, name: str, **options) -> Outcome:
    reader = make_reader(CodeSource(name="code", domain="Code", paths=["x"], **options))
    (o,) = list(reader.read(io.BytesIO(text.encode()), name, "file:/x/" + name))
    return o


def test_generated_files_are_rejected():
    real = shared("code", "TheAlgorithms_Go", "structure", "linkedlist", "doubly.go").read_text()
    for marker in ("// Code generated by protoc-gen-go. DO NOT EDIT.", "// Autogenerated file, regenerate with make gen",
                   "// @generated by the build", "// This file was automatically generated from schema.json"):
        o = _code_outcome(f"{marker}\n\n{real}", "doubly.go")
        assert o.reason == "code:generated" and o.doc.text.startswith(marker), marker  # the reject keeps the file as read
    assert _code_outcome(real, "doubly.go").reason is None


def test_minified_and_data_files_are_rejected():
    real = shared("code", "TheAlgorithms_JavaScript", "Maths", "Factors.js").read_text()
    # minify a real file: no comments, no line breaks, no spaces around punctuation
    code = re.sub(r"/\*.*?\*/", "", real, flags=re.S)
    minified = re.sub(r"\s*([=(){},;:+*/<>?!|&-])\s*", r"\1", re.sub(r"\s+", " ", code)).strip()
    o = _code_outcome((minified + ";") * 8, "factors.min.js")
    assert o.reason == "code:max_line_length" and line_statistics(o.doc.text)[0] > 1000
    assert _code_outcome(minified, "factors.min.js").reason == "code:mean_line_length"  # one line, 100+ chars
    folded = "\n".join(minified[i : i + 80] for i in range(0, len(minified), 80))  # short lines, no spaces
    assert _code_outcome(folded, "factors.min.js").reason == "code:whitespace_ratio"
    blob = "\n".join("const DATA_%d = '%s';" % (i, "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo" * 3) for i in range(40))
    assert _code_outcome(blob, "data.js").reason == "code:mean_line_length"


def test_size_limit_and_undecodable_files_are_counted_skips():
    reader = make_reader(CodeSource(name="code", domain="Code", paths=["x"], max_bytes=100))
    assert list(reader.read(io.BytesIO(b"x = 1\n" * 50), "big.py", "f")) == []
    assert list(reader.read(io.BytesIO(b"\xff\xfe\x00bad = 1\n" * 3), "bad.py", "f")) == []
    assert reader.counters["skip.too_large"] == 1 and reader.counters["skip.undecodable"] == 1


def test_strip_license_header_keeps_shebang_and_non_license_comments():
    code = "#!/usr/bin/env python3\n# -*- coding: utf-8 -*-\n# Copyright 2020 A. Person\n# Licensed under the Apache License 2.0\n\n# Parses the input.\nimport sys\n"
    out, removed = strip_license_header(code, "python")
    assert removed and out == "#!/usr/bin/env python3\n# -*- coding: utf-8 -*-\n# Parses the input.\nimport sys\n"
    doc = '"""Utility module.\n\nSPDX-License-Identifier: MIT\n"""\nimport os\n'
    assert strip_license_header(doc, "python") == ("import os\n", True)
    go = "// Package tree implements trees.\npackage tree\n"
    assert strip_license_header(go, "go") == (go, False)
    c = "/*\n * (c) 2019 Someone\n */\n// SPDX-License-Identifier: GPL-2.0\n#include <x.h>\n"
    assert strip_license_header(c, "c") == ("#include <x.h>\n", True)


# --- books and plain text --------------------------------------------------------------------


def test_hard_wrapped_real_text_is_unwrapped_into_paragraphs():
    path = shared("math", "stacks-project", "COPYING")  # the GFDL, wrapped at 70 columns
    original = path.read_text()
    source = TextSource(name="gfdl", domain="Profession-Law", paths=["COPYING"], suffixes=["COPYING"])
    o = one(source, path, path.parent)
    lines = o.doc.text.split("\n")
    blocks = [b for b in re.split(r"\n\s*\n", original) if b.strip()]
    preamble = next(b for b in blocks if b.startswith("The purpose of this License"))
    assert " ".join(line.strip() for line in preamble.split("\n")) in lines
    assert "0. PREAMBLE" in lines and "4. MODIFICATIONS" in lines
    assert "D. Preserve all the copyright notices of the Document." in lines  # a list item stays apart
    assert len(lines) < len(original.split("\n")) / 4
    assert sorted("".join(o.doc.text.split())) == sorted("".join(original.split()))  # no character lost


def test_paragraph_per_line_text_is_not_joined():
    udhr = sorted(shared("multilingual", "udhr", "txt").glob("*.txt"))
    english = next(p for p in udhr if p.read_text().startswith("Universal Declaration of Human Rights\n"))
    original = [line.strip() for line in english.read_text().split("\n") if line.strip()]
    assert unwrap_paragraphs(english.read_text()).split("\n") == original


def test_languages_are_identified_in_batches():
    udhr = sorted(shared("multilingual", "udhr", "txt").glob("*.txt"))
    english = next(p for p in udhr if p.read_text().startswith("Universal Declaration of Human Rights\n"))
    chinese = next(p for p in udhr if p.read_text().startswith("世界人权宣言\n"))
    source = TextSource(name="udhr", domain="Profession-Law", paths=["txt"])
    outcomes, _ = read_files(source, english.parent, [english, chinese] + udhr[:30])
    calls = []

    def identify(texts):
        calls.append(len(texts))
        return LanguageIdentifier().predict(texts)

    docs = [o.doc for o in assign_languages(outcomes, identify, batch_size=8)]
    assert [d.url for d in docs] == [o.doc.url for o in outcomes]  # order kept
    assert calls == [8, 8, 8, 8] and all(d.lang and 0 < d.lang_score <= 1 for d in docs)
    assert (docs[0].lang, docs[1].lang) == ("en", "zh")


def test_gutenberg_framing_and_chapters(tmp_path):
    from sample_corpus.domaingen import book_text
    from sample_corpus.domaintext import BOOK_CHAPTERS

    book = book_text()
    body, found = strip_gutenberg(book)
    assert found and "START OF THE PROJECT" not in body and "Updated editions" not in body
    chapters = split_chapters(body, TextSource.model_fields["chapter_pattern"].default)
    assert [n for n, _ in chapters] == [1, 2, 3]
    assert chapters[0][1].strip().startswith("THE KEEPER OF GULL ROCK")  # the title goes with chapter 1
    assert all(text.lstrip("\n").split("\n")[0].startswith("CHAPTER") for _, text in chapters[1:])
    assert strip_gutenberg("no framing here") == ("no framing here", False)
    for (_, paras), (_, text) in zip(BOOK_CHAPTERS, chapters):
        assert all(p in unwrap_paragraphs(text).split("\n") for p in paras)


def test_qa_records_with_configured_fields():
    records = [{"q": {"text": "What is 2 + 2?"}, "a": ["4"]}, {"q": {"text": "Missing answer?"}}, "not json", {"q": {"text": "Why?"}, "a": "Because."}]
    data = "\n".join(r if isinstance(r, str) else json.dumps(r) for r in records).encode()
    source = QASource(name="qa", domain="QA", paths=["x"], question_field="q.text", answer_field="a", min_chars=1)
    reader = make_reader(source)
    outs = list(reader.read(io.BytesIO(data), "qa.jsonl", "f"))
    assert [o.doc.text for o in outs] == ["Question: What is 2 + 2?\nAnswer: 4", "Question: Why?\nAnswer: Because."]
    assert [o.doc.url for o in outs] == ["qa:qa.jsonl#L1", "qa:qa.jsonl#L4"]
    assert reader.counters["skip.missing_field"] == 1 and reader.counters["skip.invalid_json"] == 1


# --- encyclopedias ---------------------------------------------------------------------------


def _extracted(name: str, url: str) -> str:
    from datapipe.extract import Extractor
    from datapipe.warc import RawRecord

    html = gzip.decompress(shared("html", *name.split("/")).read_bytes())
    return Extractor().document_from_record(RawRecord("response", url, None, 0, None, 200, "text/html", html, False), "x").text


def test_reference_sections_removed_from_real_wikipedia_page():
    text = _extracted("trafilatura/tests/cache/en.wikipedia.org.tsne.html.gz", "https://en.wikipedia.org/wiki/T-SNE")
    assert "References[edit]" in text and "External links[edit]" in text
    cleaned, removed = clean_article(text, DEFAULT_REFERENCE_HEADINGS)
    assert removed == 2
    assert "van der Maaten, L.J.P.; Hinton" not in cleaned and "Google Tech Talk" not in cleaned
    assert "Software[edit]" in cleaned and "ELKI contains tSNE" in cleaned  # the section before them stays
    assert cleaned.split("\n")[0] == text.split("\n")[0] and len(cleaned) > 0.5 * len(text)


def test_reference_sections_removed_from_real_baike_page():
    text = _extracted("trafilatura_eval_gz/tests/eval/baike.baidu.com.tanya.html.gz", "https://baike.baidu.com/item/x")
    assert "- 参考资料" in text and "[61]" in text
    cleaned, removed = clean_article(text, DEFAULT_REFERENCE_HEADINGS)
    assert removed == 1
    assert "第十七届台湾金曲奖完全入围名单" not in cleaned and "引用日期" not in cleaned
    assert "作为创作人，蔡健雅善于反省" in cleaned and "[61]" not in cleaned


def test_reference_words_inside_a_sentence_are_kept():
    text = "这一段提到参考文献\n参考文献\n1. 某书\n== 历史 ==\n历史部分。\nSee also the map below.\nSee also:\n* X"
    cleaned, removed = strip_reference_sections(text, DEFAULT_REFERENCE_HEADINGS)
    assert cleaned == "这一段提到参考文献\n== 历史 ==\n历史部分。\nSee also the map below." and removed == 2


def test_cmrc2018_contexts_and_qa_pairs():
    path = shared("chinese_modern", "cmrc2018", "squad-style-data", "cmrc2018_dev.json.gz")
    data = json.loads(gzip.decompress(path.read_bytes()))
    paras = [p for a in data["data"] for p in a["paragraphs"]]
    contexts = list(dict.fromkeys(p["context"] for p in paras))
    root = shared()
    ctx = make_reader(SquadSource(name="cmrc", domain="WorldKnowledge", paths=["x"], lang="zh"))
    docs = [o.doc for o in ctx.read(io.BytesIO(path.read_bytes()), path.relative_to(root).as_posix(), path.as_uri())]
    assert len(docs) == len(contexts) == 848
    assert [d.text for d in docs] == [re.sub(r"\[\d+(?:\s*[-–,]\s*\d+)*\]", "", c) for c in contexts]
    assert any("参考文献" in d.text for d in docs)  # the word inside a sentence is not a heading
    assert all(d.domain == "WorldKnowledge" and d.lang == "zh" and "#DEV_" in d.url for d in docs)
    qa = make_reader(SquadSource(name="cmrc-qa", domain="QA", paths=["x"], lang="zh", emit="qa"))
    pairs = [o.doc for o in qa.read(io.BytesIO(gzip.decompress(path.read_bytes())), "cmrc2018_dev.json", "f")]
    answered = [q for p in paras for q in p["qas"] if any(a["text"].strip() for a in q["answers"])]
    assert len(pairs) == len(answered) > 3000
    first = answered[0]
    assert pairs[0].text == f"Question: {first['question'].strip()}\nAnswer: {first['answers'][0]['text'].strip()}"
    assert pairs[0].url == f"cmrc-qa:cmrc2018_dev.json#{first['id']}"


# --- LaTeX -----------------------------------------------------------------------------------


def test_stacks_project_latex():
    root = shared()
    source = LatexSource(name="stacks", domain="AcademicPaper", paths=["math/stacks-project/*.tex"], lang="en")
    files = listed(source, root)
    outcomes, counters = read_files(source, root, files)
    rejected = {o.doc.url: o.reason for o in outcomes if o.reason}
    assert rejected == {"stacks:math/stacks-project/preamble.tex": "latex:no_document_body"}
    docs = kept(outcomes)
    assert len(docs) == len(files) - 1 == 15
    percent = re.compile(r"(?<!\\)(?:\\\\)*%")
    for doc, path in zip(docs, [f for f in files if f.name != "preamble.tex"]):
        original = path.read_text()
        assert "\\begin{document}" in original and "\\bibliography{my}" in original
        text = doc.text
        for gone in ("\\input{preamble}", "\\begin{document}", "\\end{document}", "\\bibliography{", "\\bibliographystyle"):
            assert gone not in text, (path.name, gone)
        assert not any(percent.search(line) for line in text.split("\n")), path.name
        # the mathematics stays: every display environment of the original body is still there
        for env in ("equation", "align", "lemma", "proof"):
            assert text.count(f"\\begin{{{env}}}") == original.count(f"\\begin{{{env}}}"), (path.name, env)
        assert len(text) > 0.9 * len(original)
    sets = next(d.text for d in docs if d.url.endswith("/sets.tex"))
    assert sets.startswith("\\title{Set Theory}") and "OK, start here." not in sets
    assert counters["preamble_removed"] == 15 and counters["bibliography_removed"] == 30


def test_latex_comment_rules():
    tex = "\\documentclass{article}\n\\begin{document}\n50\\% done % a comment\nline\\\\% comment after a linebreak\n% whole line\n\\begin{verbatim}\nkeep % this\n\\end{verbatim}\n\\begin{comment}\nhidden\n\\end{comment}\nend\n\\end{document}\n"
    stripped, n = strip_comments(tex)
    assert "50\\% done" in stripped and "a comment" not in stripped and "line\\\\\n" in stripped
    assert "whole line" not in stripped and "keep % this" in stripped and "hidden" not in stripped
    assert n == 4  # three comments and one comment environment
    assert document_body(stripped).strip().startswith("50\\% done")
    assert document_body("\\documentclass{article}\n\\usepackage{x}") is None
    assert document_body("\\section{A chapter for \\input}") == "\\section{A chapter for \\input}"
    bib = "text\n\\begin{thebibliography}{9}\n\\bibitem{a} A.\n\\end{thebibliography}\n\\bibliographystyle{plain}\n\\printbibliography[heading=none]"
    assert strip_bibliography(bib) == ("text\n\n\n", 3)


# --- classical Chinese -----------------------------------------------------------------------

POETRY = ChinesePoetrySource(name="poetry", domain="ClassicalChinese", paths=["x"], lang="zh", min_chars=8)
TRADITIONAL = set("無為來東長時見聞風雲門開書說")
SIMPLIFIED = set("无为来东长时见闻风云门开书说")


def _poetry(*parts: str):
    root = shared("chinese_classical", "chinese-poetry")
    return read_files(POETRY, root, [root.joinpath(*parts)])


def _script_counts(docs) -> tuple[int, int]:
    text = "".join(d.text for d in docs)
    return sum(text.count(c) for c in TRADITIONAL), sum(text.count(c) for c in SIMPLIFIED)


def test_quan_tang_shi_list_layout_keeps_traditional_characters():
    path = shared("chinese_classical", "chinese-poetry", "全唐诗", "poet.tang.0.json")
    poems = json.loads(path.read_text())
    outcomes, counters = _poetry("全唐诗", "poet.tang.0.json")
    docs = kept(outcomes)
    assert len(docs) + counters["skip.empty"] == len(poems) == 1000
    by_url = {d.url: d.text for d in docs}
    for i, p in enumerate(poems[:50]):
        assert by_url[f"poetry:全唐诗/poet.tang.0.json#/{i}"] == "\n".join([p["title"], p["author"]] + p["paragraphs"])
    traditional, simplified = _script_counts(docs)
    assert traditional > 20 * max(simplified, 1)
    song_ci = kept(_poetry("宋词", "ci.song.0.json")[0])
    traditional, simplified = _script_counts(song_ci)
    assert simplified > 20 * max(traditional, 1) and song_ci[0].text.split("\n")[0] == json.loads(
        shared("chinese_classical", "chinese-poetry", "宋词", "ci.song.0.json").read_text())[0]["rhythmic"]


def test_gzipped_yuanqu_and_content_layouts():
    yuanqu = json.loads(gzip.decompress(shared("chinese_classical", "chinese-poetry", "元曲", "yuanqu.json.gz").read_bytes()))
    outcomes, counters = _poetry("元曲", "yuanqu.json.gz")
    assert len(kept(outcomes)) + counters["skip.empty"] == len(yuanqu) > 10000
    shijing = json.loads(shared("chinese_classical", "chinese-poetry", "诗经", "shijing.json").read_text())
    docs = kept(_poetry("诗经", "shijing.json")[0])
    assert len(docs) == len(shijing) and docs[0].text.split("\n") == [shijing[0]["title"]] + shijing[0]["content"]
    youmeng = kept(_poetry("幽梦影", "youmengying.json")[0])  # `content` is one string
    assert len(youmeng) == len(json.loads(shared("chinese_classical", "chinese-poetry", "幽梦影", "youmengying.json").read_text()))


def test_nested_collections_and_objects_without_text():
    data = json.loads(shared("chinese_classical", "chinese-poetry", "蒙学", "guwenguanzhi.json").read_text())
    docs = kept(_poetry("蒙学", "guwenguanzhi.json")[0])
    leaves = [w for part in data["content"] for w in part["content"]]
    assert len(docs) == len(leaves) > 100
    assert docs[0].url.endswith("#/content/0/content/0")
    assert docs[0].text == "\n".join([leaves[0]["chapter"], leaves[0]["author"].strip()] + leaves[0]["paragraphs"])
    outcomes, counters = _poetry("五代诗词", "nantang", "authors.json")
    assert outcomes == [] and counters["skip.no_body_field"] == 2
    assert [p for p, w, _ in iter_works({"title": "t", "paragraphs": []}, ["paragraphs"])] == [""]


def test_niutrans_chapters():
    root = shared("chinese_classical", "NiuTrans_Classical-Modern")
    sources = sorted(root.rglob("source.txt"))
    classical = NiuTransSource(name="niutrans", domain="ClassicalChinese", paths=["x"], lang="zh", min_chars=8)
    outcomes, _ = read_files(classical, root, sorted(root.rglob("*.txt")))
    docs = kept(outcomes)
    assert len(docs) == len(sources) == 127
    for doc, path in zip(docs, sources):
        lines = [line.strip() for line in path.read_text().split("\n") if line.strip()]
        target = [line for line in (path.parent / "target.txt").read_text().split("\n") if line.strip()]
        assert doc.text.split("\n") == lines and len(lines) == len(target)
        assert doc.url == f"niutrans:{path.relative_to(root).as_posix()}" and doc.domain == "ClassicalChinese"
    xueer = next(d for d in docs if "论语/学而篇" in d.url)
    assert xueer.text.startswith("子曰： 学而时习之，不亦说乎？")
    modern = NiuTransSource(name="modern", domain="ClassicalChinese", paths=["x"], lang="zh", side="target")
    outcomes = read_files(modern, root, sorted(root.rglob("*.txt")))[0]
    assert len(kept(outcomes)) == 126 and any(d.text.startswith("孔子说：") for d in kept(outcomes))
    (short,) = [o for o in outcomes if o.reason]  # 老子 第十一章's translation: 19 characters
    assert short.reason == "too_short" and short.doc.text == (root / short.doc.url.split(":", 1)[1]).read_text()


# --- the built-in sample's domain sources, against its manifest ---------------------------------


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    from sample_corpus import DOMAINS_CONFIG, MANIFEST_NAME, write_sample_corpus

    out = tmp_path_factory.mktemp("sample")
    write_sample_corpus(out, n_files=1, include_plain=False)
    config, root = load_domains_config(out / DOMAINS_CONFIG)
    manifest = json.loads((out / MANIFEST_NAME).read_text())
    results = {}
    identify = LanguageIdentifier().predict
    for source in config.sources:
        reader = make_reader(source)
        files = listed(source, Path(root))
        outcomes = []
        for path in files:
            rel = path.relative_to(root).as_posix()
            if reader.accepts(rel):
                with open(path, "rb") as fh:
                    outcomes += list(reader.read(fh, rel, path.as_uri()))
        outcomes = list(assign_languages(outcomes, identify, 64))
        ignored = sum(1 for p in files if not reader.accepts(p.relative_to(root).as_posix()))
        results[source.name] = (outcomes, reader.counters, ignored)
    return manifest, results


def test_sample_sources_give_what_the_manifest_says(sample):
    manifest, results = sample
    assert {s["domain"] for s in manifest["domains"]["sources"]} == set(DOMAINS) - {"WebText"}
    for expected in manifest["domains"]["sources"]:
        outcomes, counters, ignored = results[expected["name"]]
        assert len(kept(outcomes)) == expected["documents"], expected["name"]
        assert dict(Counter(o.reason for o in outcomes if o.reason)) == expected["rejects"], expected["name"]
        assert {k[5:]: v for k, v in counters.items() if k.startswith("skip.")} == expected["skips"], expected["name"]
        assert ignored == expected["ignored_files"], expected["name"]
        assert {k: counters[k] for k in expected["counters"]} == expected["counters"], expected["name"]
        assert all(o.doc.domain == expected["domain"] for o in outcomes)


def test_sample_planted_features(sample):
    manifest, results = sample
    by_url = {o.doc.url: o for outcomes, _, _ in results.values() for o in outcomes}
    for check in manifest["domains"]["checks"]:
        o = by_url[check["url"]]
        if "reject_reason" in check:
            assert o.reason == check["reject_reason"], check
            continue
        assert o.reason is None, check
        lines = o.doc.text.split("\n")
        assert [a for a in check.get("absent", []) if a in o.doc.text] == [], check["url"]
        assert [p for p in check.get("present", []) if p not in o.doc.text] == [], check["url"]
        assert [line for line in check.get("lines", []) if line not in lines] == [], check["url"]


def test_sample_languages(sample):
    _, results = sample
    langs = {name: Counter(d.lang for d in kept(outcomes)) for name, (outcomes, _, _) in results.items()}
    assert langs["encyclopedia"] == {"en": 3, "zh": 2} and set(langs["book"]) == {"en"}
    assert set(langs["code"]) == {"python", "cpp", "java", "rust", "go"}
    assert set(langs["classical-poetry"]) == {"zh"} and langs["qa"]["zh"] == 2
