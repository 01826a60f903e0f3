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
from dataclasses import asdict, dataclass, field

import yaml

from datapipe.domains import DomainsConfig, source_url
from datapipe.domains.classical import ChinesePoetrySource, NiuTransSource
from datapipe.domains.code import CodeSource
from datapipe.domains.encyclopedia import EncyclopediaSource
from datapipe.domains.latex import LatexSource
from datapipe.domains.text import JsonlSource, QASource, TextSource

from . import domaintext as dt
from .identity import GENERATOR

CONFIG_NAME = "domains.yaml"
BENCHMARK_PATH = "benchmarks/sample_bench.jsonl"
BENCHMARK_FIELDS = ["question", "answer"]
WRAP = 70


def _jsonl(records: list[dict]) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode("utf-8")


def _json(data) -> bytes:
    return (json.dumps(data, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def _wrapped(paragraphs: tuple[str, ...], width: int = WRAP) -> list[str]:
    return [textwrap.fill(p, width) for p in paragraphs]


def benchmark_item(item_id: str) -> dict:
    return next(b for b in dt.benchmark_items() if b["id"] == item_id)


def planted_text(item_id: str) -> str:
    """How a benchmark item is planted in a web article: question and answer as one paragraph."""
    item = benchmark_item(item_id)
    joiner = "" if item["lang"] == "zh" else " "
    return f"{item['question']}{joiner}{item['answer']}"


def book_text() -> str:
    """The book as Project Gutenberg publishes one: framing around hard-wrapped chapters."""
    chapters = [f"{head}\n\n" + "\n\n".join(_wrapped(paras)) for head, paras in dt.BOOK_CHAPTERS]
    return dt.gutenberg_frame().replace("{chapters}", "\n\n\n".join(chapters))


def patent_text() -> str:
    sections = ["\n\n".join([head] + _wrapped(paras, 72)) for head, paras in dt.patent_sections()]
    return "\n\n".join(sections) + "\n"


def _qa_planted_line() -> int:
    """The 1-based line of the QA file that holds the planted benchmark item."""
    return next(n for n, r in enumerate(dt.qa_records(), 1) if "benchmark_item" in r)


def qa_records() -> list[dict]:
    """The QA file's records, the planted benchmark item written out as question and answer."""
    return [{k: benchmark_item(r["benchmark_item"])[k] for k in BENCHMARK_FIELDS} if "benchmark_item" in r else r
            for r in dt.qa_records()]


@dataclass
class SourceExpectation:
    """What ingest must give for one source: the manifest's ``domains.sources[]`` entry."""

    name: str
    domain: str
    reader: str
    documents: int
    rejects: dict = field(default_factory=dict)
    skips: dict = field(default_factory=dict)
    ignored_files: int = 0
    counters: dict = field(default_factory=dict)


class _DomainSample:
    """The files of the domain sources, their config entries and what the manifest expects of them."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.sources: list = []
        self.expected: list[SourceExpectation] = []
        self.checks: list[dict] = []

    def add(self, source, documents: int, **expected) -> None:
        self.sources.append(source)
        self.expected.append(SourceExpectation(source.name, source.domain, source.reader, documents, **expected))

    def check(self, source, path: str, item: str | None = None, **what) -> None:
        """A feature to check in one document: ``what``, then ``absent``/``present`` substrings, whole
        ``lines`` or the ``reject_reason``."""
        self.checks.append({"url": source_url(source.name, path, item), **what})


def _code(sample: _DomainSample) -> None:
    """Five hand-written files (one with a license header), one generated, one minified, a README."""
    code = CodeSource(name="code", domain="Code", paths=["domains/code"])
    for name in dt.CODE_FILES:
        sample.files[f"domains/code/{name}"] = dt.code_text(name).encode("utf-8")
    sample.files["domains/code/carousel.min.js"] = dt.minified_js().encode("utf-8")
    sample.add(code, 5, rejects={"code:generated": 1, "code:max_line_length": 1}, ignored_files=1,
               counters={"license_header_removed": 1})
    sample.check(code, "domains/code/stats_util.py", what="license header removed",
                 absent=[dt.license_header_line(), "SPDX-License-Identifier"],
                 present=['"""Small descriptive statistics', "def median"])
    sample.check(code, "domains/code/weather_pb2.py", what="generated file", reject_reason="code:generated")
    sample.check(code, "domains/code/carousel.min.js", what="minified file", reject_reason="code:max_line_length")


def _book(sample: _DomainSample) -> None:
    """Project Gutenberg framing, hard wraps, three chapters."""
    book = TextSource(name="book", domain="Book", paths=["domains/book"], split="chapter")
    path = "domains/book/keeper_of_gull_rock.txt"
    sample.files[path] = book_text().encode("utf-8")
    sample.add(book, len(dt.BOOK_CHAPTERS), counters={"gutenberg_stripped": 1})
    sample.check(book, path, "chapter-1", what="Gutenberg header removed, lines unwrapped",
                 absent=["*** START OF", "Release date", "Project Gutenberg eBook"], lines=list(dt.BOOK_CHAPTERS[0][1]))
    sample.check(book, path, f"chapter-{len(dt.BOOK_CHAPTERS)}", what="Gutenberg footer removed",
                 absent=["*** END OF", "Updated editions"], lines=list(dt.BOOK_CHAPTERS[-1][1]))


def _encyclopedia(sample: _DomainSample) -> None:
    """English and Chinese articles ending in reference sections."""
    enc = EncyclopediaSource(name="encyclopedia", domain="WorldKnowledge", paths=["domains/encyclopedia"])
    path = "domains/encyclopedia/articles.jsonl"
    articles = dt.encyclopedia_articles()
    sample.files[path] = _jsonl([{"title": a["title"], "text": "\n".join(a["body"] + a["end"])} for a in articles])
    sample.add(enc, len(articles),
               counters={"reference_sections_removed": sum(a["reference_sections"] for a in articles)})
    for n, a in enumerate(articles, 1):
        sample.check(enc, path, f"L{n}", what=f"reference sections removed ({a['lang']})",
                     absent=a["end"] + ["[1]", "[2]", "[3]"], present=[a["title"], a["body"][0][:30]])


def _qa(sample: _DomainSample) -> dict:
    """Question/answer records, one of them a benchmark item, one without an answer; returns the
    benchmark section's entry for the planted item."""
    qa = QASource(name="qa", domain="QA", paths=["domains/qa"])
    path = "domains/qa/qa.jsonl"
    records = qa_records()
    sample.files[path] = _jsonl(records)
    sample.add(qa, sum(1 for r in records if "answer" in r),
               skips={"missing_field": sum(1 for r in records if "answer" not in r)})
    line = _qa_planted_line()
    item_id = dt.qa_records()[line - 1]["benchmark_item"]
    item = benchmark_item(item_id)
    sample.check(qa, path, f"L{line}", what="benchmark item planted", present=[item["question"], item["answer"]])
    return {"item": item_id, "where": "domain_document", "source": qa.name, "domain": qa.domain,
            "url": source_url(qa.name, path, f"L{line}")}


def _paper(sample: _DomainSample) -> None:
    """A LaTeX paper: preamble, comments and bibliography around a body with math."""
    paper = LatexSource(name="papers", domain="AcademicPaper", paths=["domains/papers"], lang="en")
    path = "domains/papers/odd_numbers.tex"
    sample.files[path] = dt.latex_paper().encode("utf-8")
    sample.add(paper, 1)
    sample.check(paper, path, what="preamble, comments and bibliography removed, math kept",
                 absent=["\\documentclass", "\\usepackage", "\\newcommand", "TODO", "rewritten after review",
                         "an even n is assumed", "\\bibitem", "thebibliography", "\\bibliographystyle",
                         "\\end{document}"],
                 present=["50\\%", "\\sum_{k=1}^{n} (2k-1) = n^2", "\\begin{proof}", "\\maketitle", "\\cite{heath}"])


def _professions(sample: _DomainSample) -> None:
    """Law as plain text, medicine as JSONL text, a hard-wrapped patent, mathematics as QA JSONL."""
    law = TextSource(name="law", domain="Profession-Law", paths=["domains/law"])
    law_path = "domains/law/model_tenancy_code.txt"
    sample.files[law_path] = dt.law_text().encode("utf-8")
    sample.add(law, 1)
    sample.check(law, law_path, what="one paragraph per line kept", lines=dt.law_text().strip().split("\n"))
    medical = JsonlSource(name="medical", domain="Profession-Medical", paths=["domains/medical"],
                          text_fields=["title", "text"])
    sample.files["domains/medical/health_notes.jsonl"] = _jsonl(dt.medical_records())
    sample.add(medical, len(dt.medical_records()))
    patent = TextSource(name="patent", domain="Profession-Patent", paths=["domains/patent"])
    patent_path = "domains/patent/gutter_guard.txt"
    sample.files[patent_path] = patent_text().encode("utf-8")
    sample.add(patent, 1)
    sections = dt.patent_sections()
    sample.check(patent, patent_path, what="hard wraps joined, headings and claims kept apart",
                 lines=[head for head, _ in sections] + [p for _, paras in sections for p in paras])
    math = QASource(name="math", domain="Profession-Math", paths=["domains/math"], question_field="problem",
                    answer_field="solution")
    sample.files["domains/math/problems.jsonl"] = _jsonl(dt.math_records())
    sample.add(math, len(dt.math_records()))


def _classical_poetry(sample: _DomainSample) -> None:
    """chinese-poetry layouts: flat Traditional (全唐诗), gzipped (宋词), nested (蒙学), no body (authors)."""
    poetry = ChinesePoetrySource(name="classical-poetry", domain="ClassicalChinese", lang="zh", min_chars=8,
                                 paths=["domains/classical/chinese-poetry"])
    directory = "domains/classical/chinese-poetry"
    tang, ci = dt.chinese_poetry("tang"), dt.chinese_poetry("ci")
    sanzijing, authors = dt.chinese_poetry("sanzijing"), dt.chinese_poetry("authors")
    sample.files[f"{directory}/tang.json"] = _json(tang)
    sample.files[f"{directory}/ci.json.gz"] = gzip.compress(_json(ci), compresslevel=9, mtime=0)
    sample.files[f"{directory}/sanzijing.json"] = _json(sanzijing)
    sample.files[f"{directory}/authors.json"] = _json(authors)
    sample.add(poetry, len(tang) + len(ci) + len(sanzijing["content"]), skips={"no_body_field": len(authors)})
    poem = tang[0]
    sample.check(poetry, f"{directory}/tang.json", "/0", what="Traditional characters kept",
                 lines=[poem["title"], poem["author"]] + poem["paragraphs"])
    song = ci[1]
    sample.check(poetry, f"{directory}/ci.json.gz", "/1", what="gzipped collection, tune name as title",
                 lines=[song["rhythmic"], song["author"]] + song["paragraphs"])
    chapter = sanzijing["content"][1]
    sample.check(poetry, f"{directory}/sanzijing.json", "/content/1", what="nested work",
                 lines=[chapter["chapter"]] + chapter["paragraphs"])


def _niutrans(sample: _DomainSample) -> None:
    """NiuTrans layout: line-aligned classical ``source.txt`` and modern ``target.txt`` per chapter."""
    niutrans = NiuTransSource(name="classical-niutrans", domain="ClassicalChinese", lang="zh", min_chars=8,
                              paths=["domains/classical/niutrans"])
    chapters = dt.niutrans_chapters()
    for chapter_name, lines in chapters.items():
        base = f"domains/classical/niutrans/双语数据/论语/{chapter_name}"
        sample.files[f"{base}/source.txt"] = ("\n".join(lines["source"]) + "\n").encode("utf-8")
        sample.files[f"{base}/target.txt"] = ("\n".join(lines["target"]) + "\n").encode("utf-8")
        provenance = f"参考资料：\n1、示例.论语·{chapter_name}.https://example.org/lunyu\n"
        sample.files[f"{base}/数据来源.txt"] = provenance.encode("utf-8")
        sample.check(niutrans, f"{base}/source.txt", what="classical original, one sentence per line",
                     lines=lines["source"], absent=[lines["target"][0]])
    sample.add(niutrans, len(chapters), ignored_files=2 * len(chapters))


def build_domain_files() -> tuple[dict[str, bytes], dict, dict]:
    """``({relative path: bytes}, domains manifest section, benchmark manifest section)``; the
    benchmark section's ``planted`` lists the domain document only (the web pages are added by
    the WARC plan)."""
    sample = _DomainSample()
    _code(sample)
    _book(sample)
    _encyclopedia(sample)
    qa_planted = _qa(sample)
    _paper(sample)
    _professions(sample)
    _classical_poetry(sample)
    _niutrans(sample)

    files = sample.files
    files[CONFIG_NAME] = config_yaml(DomainsConfig(root=".", sources=sample.sources)).encode("utf-8")
    items = dt.benchmark_items()
    files[BENCHMARK_PATH] = _jsonl([{k: b[k] for k in ("id", *BENCHMARK_FIELDS)} for b in items])

    domains = {
        "config": CONFIG_NAME,
        "sources": [asdict(e) for e in sample.expected],
        "checks": sample.checks,
        "files": [{"path": p, "size": len(b), "sha256": hashlib.sha256(b).hexdigest()}
                  for p, b in sorted(files.items())],
    }
    benchmark = {"file": BENCHMARK_PATH, "fields": BENCHMARK_FIELDS, "items": len(items), "planted": [qa_planted]}
    return files, domains, benchmark


def config_yaml(config: DomainsConfig) -> str:
    """The sample's ingest config: only what differs from the defaults, paths relative to its directory."""
    sources = [{"name": s.name, "domain": s.domain, "reader": s.reader, **s.model_dump(exclude_defaults=True)}
               for s in config.sources]
    head = (
        f"# Ingest config of the built-in sample's non-web domain sources (written by {GENERATOR}).\n"
        "#   python -m jobs.ingest --config <this file> --output <dir>\n"
        "# root is this file's directory; every option not given here has its default (configs/domains.yaml).\n"
    )
    body = yaml.safe_dump({"root": config.root, "sources": sources}, sort_keys=False, allow_unicode=True, width=120)
    return head + body
