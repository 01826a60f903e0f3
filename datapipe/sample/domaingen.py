"""The sample corpus's non-web domain sources, their ingest config and the sample benchmark file.

``build_domain_files`` returns the files (relative path -> bytes) and the manifest's ``domains`` and
``benchmark`` sections: what every source must give after ingest (documents, rejects with reasons,
skips, ignored files, counters) and the planted features to check in single documents (text that
must be gone, text that must stay, lines that must be whole paragraphs).

The files do not depend on the seed: they are fixed texts (``domaintext``) laid out in the formats
of the real sources, and gzip members carry mtime 0.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import textwrap

import yaml

from datapipe.domains import DomainsConfig, source_url
from datapipe.domains.classical import ChinesePoetrySource, NiuTransSource
from datapipe.domains.code import CodeSource
from datapipe.domains.encyclopedia import EncyclopediaSource
from datapipe.domains.latex import LatexSource
from datapipe.domains.text import JsonlSource, QASource, TextSource

from . import domaintext as dt

CONFIG_NAME = "domains.yaml"
BENCHMARK_PATH = "benchmarks/sample_bench.jsonl"
BENCHMARK_FIELDS = ["question", "answer"]
WRAP = 70


def _jsonl(records: list[dict]) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode("utf-8")


def _json(data) -> bytes:
    return (json.dumps(data, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def _wrapped(paragraphs: list[str]) -> str:
    return "\n\n".join(textwrap.fill(p, WRAP) for p in paragraphs)


def benchmark_item(item_id: str) -> dict:
    return next(b for b in dt.BENCHMARK_ITEMS if b["id"] == item_id)


def planted_text(item_id: str) -> str:
    """How a benchmark item is planted in a web article: question and answer as one paragraph."""
    item = benchmark_item(item_id)
    joiner = "" if item["lang"] == "zh" else " "
    return f"{item['question']}{joiner}{item['answer']}"


def book_text() -> str:
    chapters = [f"{head}\n\n{_wrapped(paras)}" for head, paras in dt.BOOK_CHAPTERS]
    return dt.BOOK_FRONT + "\n\n\n".join(chapters) + dt.BOOK_BACK


def patent_text() -> str:
    sections = []
    for head, paras in dt.PATENT_SECTIONS:
        sections.append("\n\n".join([head] + [textwrap.fill(p, 72) for p in paras]))
    return "\n\n".join(sections) + "\n"


def qa_records() -> list[dict]:
    return [
        {k: benchmark_item(r)[k] for k in BENCHMARK_FIELDS} if isinstance(r, str) else r for r in dt.QA_RECORDS
    ]


def build_domain_files() -> tuple[dict[str, bytes], dict, dict]:
    """``({relative path: bytes}, domains manifest section, benchmark manifest section)``; the
    benchmark section's ``planted`` lists the domain document only (the web pages are added by
    the WARC plan)."""
    files: dict[str, bytes] = {}
    sources: list = []
    expected: list[dict] = []
    checks: list[dict] = []

    def add(source, documents: int, rejects=None, skips=None, ignored: int = 0, counters=None) -> None:
        sources.append(source)
        expected.append({
            "name": source.name, "domain": source.domain, "reader": source.reader, "documents": documents,
            "rejects": rejects or {}, "skips": skips or {}, "ignored_files": ignored, "counters": counters or {},
        })

    def check(source, path: str, item: str | None = None, **what) -> None:
        checks.append({"url": source_url(source.name, path, item), **what})

    # code: five hand-written files (one with a license header), one generated, one minified, a README
    code = CodeSource(name="code", domain="Code", paths=["domains/code"])
    code_files = {
        "stats_util.py": dt.CODE_STATS_PY,
        "ring_buffer.cpp": dt.CODE_RING_BUFFER_CPP,
        "BoundedQueue.java": dt.CODE_BOUNDED_QUEUE_JAVA,
        "matrix.rs": dt.CODE_MATRIX_RS,
        "wordcount.go": dt.CODE_WORDCOUNT_GO,
        "weather_pb2.py": dt.CODE_GENERATED_PB2_PY,
        "carousel.min.js": dt.minified_js(),
        "NOTES.md": dt.CODE_NOTES_MD,
    }
    for name, text in code_files.items():
        files[f"domains/code/{name}"] = text.encode("utf-8")
    add(code, 5, rejects={"code:generated": 1, "code:max_line_length": 1}, ignored=1,
        counters={"license_header_removed": 1})
    check(code, "domains/code/stats_util.py", what="license header removed",
          absent=[dt.LICENSE_HEADER_LINE, "SPDX-License-Identifier"], present=['"""Small descriptive statistics', "def median"])
    check(code, "domains/code/weather_pb2.py", what="generated file", reject_reason="code:generated")
    check(code, "domains/code/carousel.min.js", what="minified file", reject_reason="code:max_line_length")

    # book: Project Gutenberg framing, hard wraps, three chapters
    book = TextSource(name="book", domain="Book", paths=["domains/book"], split="chapter")
    book_path = "domains/book/keeper_of_gull_rock.txt"
    files[book_path] = book_text().encode("utf-8")
    add(book, len(dt.BOOK_CHAPTERS), counters={"gutenberg_stripped": 1})
    check(book, book_path, "chapter-1", what="Gutenberg header removed, lines unwrapped",
          absent=["*** START OF", "Release date", "Project Gutenberg eBook"], lines=dt.BOOK_CHAPTERS[0][1])
    last = len(dt.BOOK_CHAPTERS)
    check(book, book_path, f"chapter-{last}", what="Gutenberg footer removed",
          absent=["*** END OF", "Updated editions"], lines=dt.BOOK_CHAPTERS[-1][1])

    # encyclopedia: English and Chinese articles ending in reference sections
    enc = EncyclopediaSource(name="encyclopedia", domain="WorldKnowledge", paths=["domains/encyclopedia"])
    enc_path = "domains/encyclopedia/articles.jsonl"
    files[enc_path] = _jsonl([{"title": a["title"], "text": "\n".join(a["body"] + a["end"])} for a in dt.ENCYCLOPEDIA_ARTICLES])
    add(enc, len(dt.ENCYCLOPEDIA_ARTICLES),
        counters={"reference_sections_removed": sum(a["reference_sections"] for a in dt.ENCYCLOPEDIA_ARTICLES)})
    for n, a in enumerate(dt.ENCYCLOPEDIA_ARTICLES, 1):
        check(enc, enc_path, f"L{n}", what=f"reference sections removed ({a['lang']})",
              absent=a["end"] + ["[1]", "[2]", "[3]"], present=[a["title"], a["body"][0][:30]])

    # QA: question/answer records, one of them a benchmark item, one without an answer
    qa = QASource(name="qa", domain="QA", paths=["domains/qa"])
    qa_path = "domains/qa/qa.jsonl"
    records = qa_records()
    files[qa_path] = _jsonl(records)
    add(qa, sum(1 for r in records if "answer" in r), skips={"missing_field": sum(1 for r in records if "answer" not in r)})
    planted_line = dt.QA_RECORDS.index(dt.QA_PLANTED_ITEM) + 1
    item = benchmark_item(dt.QA_PLANTED_ITEM)
    check(qa, qa_path, f"L{planted_line}", what="benchmark item planted", present=[item["question"], item["answer"]])

    # academic paper: preamble, comments, bibliography around a body with math
    paper = LatexSource(name="papers", domain="AcademicPaper", paths=["domains/papers"], lang="en")
    paper_path = "domains/papers/odd_numbers.tex"
    files[paper_path] = dt.LATEX_PAPER.encode("utf-8")
    add(paper, 1)
    check(paper, paper_path, what="preamble, comments and bibliography removed, math kept",
          absent=["\\documentclass", "\\usepackage", "\\newcommand", "TODO", "rewritten after review", "an even n is assumed",
                  "\\bibitem", "thebibliography", "\\bibliographystyle", "\\end{document}"],
          present=["50\\%", "\\sum_{k=1}^{n} (2k-1) = n^2", "\\begin{proof}", "\\maketitle", "\\cite{heath}"])

    # professions: law as plain text, medicine as JSONL text, patent hard-wrapped, mathematics as QA JSONL
    law = TextSource(name="law", domain="Profession-Law", paths=["domains/law"])
    files["domains/law/model_tenancy_code.txt"] = dt.LAW_TEXT.encode("utf-8")
    add(law, 1)
    check(law, "domains/law/model_tenancy_code.txt", what="one paragraph per line kept", lines=dt.LAW_TEXT.strip().split("\n"))
    medical = JsonlSource(name="medical", domain="Profession-Medical", paths=["domains/medical"], text_fields=["title", "text"])
    files["domains/medical/health_notes.jsonl"] = _jsonl(dt.MEDICAL_RECORDS)
    add(medical, len(dt.MEDICAL_RECORDS))
    patent = TextSource(name="patent", domain="Profession-Patent", paths=["domains/patent"])
    files["domains/patent/gutter_guard.txt"] = patent_text().encode("utf-8")
    add(patent, 1)
    check(patent, "domains/patent/gutter_guard.txt", what="hard wraps joined, headings and claims kept apart",
          lines=[head for head, _ in dt.PATENT_SECTIONS] + [p for _, paras in dt.PATENT_SECTIONS for p in paras])
    math = QASource(name="math", domain="Profession-Math", paths=["domains/math"], question_field="problem", answer_field="solution")
    files["domains/math/problems.jsonl"] = _jsonl(dt.MATH_RECORDS)
    add(math, len(dt.MATH_RECORDS))

    # classical Chinese: chinese-poetry layouts (flat Traditional, gzipped, nested, no body) and NiuTrans
    poetry = ChinesePoetrySource(name="classical-poetry", domain="ClassicalChinese", lang="zh", min_chars=8,
                                 paths=["domains/classical/chinese-poetry"])
    poetry_dir = "domains/classical/chinese-poetry"
    files[f"{poetry_dir}/tang.json"] = _json(dt.TANG_POEMS)
    files[f"{poetry_dir}/ci.json.gz"] = gzip.compress(_json(dt.SONG_CI), compresslevel=9, mtime=0)
    files[f"{poetry_dir}/sanzijing.json"] = _json(dt.SANZIJING)
    files[f"{poetry_dir}/authors.json"] = _json(dt.POETRY_AUTHORS)
    add(poetry, len(dt.TANG_POEMS) + len(dt.SONG_CI) + len(dt.SANZIJING["content"]),
        skips={"no_body_field": len(dt.POETRY_AUTHORS)})
    poem = dt.TANG_POEMS[0]
    check(poetry, f"{poetry_dir}/tang.json", "/0", what="Traditional characters kept",
          lines=[poem["title"], poem["author"]] + poem["paragraphs"])
    ci = dt.SONG_CI[1]
    check(poetry, f"{poetry_dir}/ci.json.gz", "/1", what="gzipped collection, tune name as title",
          lines=[ci["rhythmic"], ci["author"]] + ci["paragraphs"])
    chapter = dt.SANZIJING["content"][1]
    check(poetry, f"{poetry_dir}/sanzijing.json", "/content/1", what="nested work", lines=[chapter["chapter"]] + chapter["paragraphs"])

    niutrans = NiuTransSource(name="classical-niutrans", domain="ClassicalChinese", lang="zh", min_chars=8,
                              paths=["domains/classical/niutrans"])
    for chapter_name, (source_lines, target_lines) in dt.NIUTRANS_CHAPTERS.items():
        base = f"domains/classical/niutrans/双语数据/论语/{chapter_name}"
        files[f"{base}/source.txt"] = ("\n".join(source_lines) + "\n").encode("utf-8")
        files[f"{base}/target.txt"] = ("\n".join(target_lines) + "\n").encode("utf-8")
        files[f"{base}/数据来源.txt"] = f"参考资料：\n1、示例.论语·{chapter_name}.https://example.org/lunyu\n".encode("utf-8")
        check(niutrans, f"{base}/source.txt", what="classical original, one sentence per line",
              lines=source_lines, absent=[target_lines[0]])
    add(niutrans, len(dt.NIUTRANS_CHAPTERS), ignored=2 * len(dt.NIUTRANS_CHAPTERS))

    config = DomainsConfig(root=".", sources=sources)
    files[CONFIG_NAME] = config_yaml(config).encode("utf-8")
    files[BENCHMARK_PATH] = _jsonl([{k: b[k] for k in ("id", *BENCHMARK_FIELDS)} for b in dt.BENCHMARK_ITEMS])

    domains = {
        "config": CONFIG_NAME,
        "sources": expected,
        "checks": checks,
        "files": [{"path": p, "size": len(b), "sha256": hashlib.sha256(b).hexdigest()} for p, b in sorted(files.items())],
    }
    benchmark = {
        "file": BENCHMARK_PATH,
        "fields": BENCHMARK_FIELDS,
        "items": len(dt.BENCHMARK_ITEMS),
        "planted": [{"item": dt.QA_PLANTED_ITEM, "where": "domain_document", "source": qa.name, "domain": qa.domain,
                     "url": source_url(qa.name, qa_path, f"L{planted_line}")}],
    }
    return files, domains, benchmark


def config_yaml(config: DomainsConfig) -> str:
    """The sample's ingest config: only what differs from the defaults, paths relative to its directory."""
    sources = [{"name": s.name, "domain": s.domain, "reader": s.reader, **s.model_dump(exclude_defaults=True)} for s in config.sources]
    head = (
        "# Ingest config of the built-in sample's non-web domain sources (written by datapipe.sample).\n"
        "#   python -m jobs.ingest --config <this file> --output <dir>\n"
        "# root is this file's directory; every option not given here has its default (configs/domains.yaml).\n"
    )
    return head + yaml.safe_dump({"root": config.root, "sources": sources}, sort_keys=False, allow_unicode=True, width=120)
