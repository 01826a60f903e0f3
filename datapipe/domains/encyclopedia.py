"""WorldKnowledge: encyclopedic articles and paragraphs (Wikipedia, Baidu Baike, SQuAD-style sets).

The end matter of an encyclopedia article (references, external links, see also, further reading)
is lists of titles and URLs, not knowledge: a section whose heading is one of those names is cut up
to the next heading that is not. Headings are recognised in the shapes extraction leaves them
(``References``, ``== References ==``, ``## See also``, ``References[edit]``, ``- 参考资料``,
``【参考文献】``); the same words inside a sentence are left alone. Inline citation marks ("[12]",
"[13-14]") go too.

WikiExtractor output (``<doc id=".." url=".." title="..">`` ... ``</doc>`` blocks, one paragraph per
line, section headings as short lines ending in a full stop, stray list tags and template debris) gives
one document per article: tags and wiki leftovers removed (``datapipe.markup.wikiextractor_to_text``),
end matter cut as above.

SQuAD-style JSON (cmrc2018: ``data[].paragraphs[].context`` with ``qas``) gives each distinct
context as a WorldKnowledge document, or each question with its first answer as a QA document.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from fnmatch import fnmatch
from typing import IO, Literal

from pydantic import Field

from datapipe.markup import wikiextractor_to_text

from .base import (
    JsonFileReader,
    Outcome,
    Reader,
    SourceBase,
    TextFileReader,
    content_sha1,
)
from .text import DEFAULT_QA_TEMPLATE, QATemplate, format_qa

DEFAULT_REFERENCE_HEADINGS = [
    "References",
    "External links",
    "See also",
    "Further reading",
    "Notes",
    "Footnotes",
    "Citations",
    "Bibliography",
    "参考文献",
    "参考资料",
    "外部链接",
    "延伸阅读",
    "相关条目",
    "参见",
    "注释",
    "脚注",
]

_EDIT_MARK = r"(?:\[(?:edit|编辑|編輯)\])?"
# A heading line: optional list/markdown/wiki decoration around a short title (WikiExtractor ends
# headings with a full stop).
_HEADING = re.compile(r"^\s*(?:[-*•]\s+|#{1,6}\s*|={1,6}\s*|【)?(?P<title>[^\n=#【】]{1,40}?)\s*" + _EDIT_MARK + r"\s*(?:={1,6}|】)?\s*[:：.]?\s*$")
_DECORATED_HEADING = re.compile(r"^\s*(#{1,6}\s*\S|={1,6}[^=]+={1,6}\s*$|【[^】]+】\s*$|.{1,60}\[(edit|编辑|編輯)\]\s*$)")
_CITATION = re.compile(r"\[\d+(?:\s*[-–,]\s*\d+)*\]")


class EncyclopediaSource(SourceBase):
    reader: Literal["encyclopedia"] = "encyclopedia"
    suffixes: list[str] = Field(default_factory=lambda: [".jsonl", ".jsonl.gz", ".txt"])
    title_field: str | None = Field("title", description="JSONL: prepended as the first line when present")
    text_field: str = "text"
    reference_headings: list[str] = Field(default_factory=lambda: list(DEFAULT_REFERENCE_HEADINGS))
    remove_citation_marks: bool = True


class WikiExtractorSource(SourceBase):
    reader: Literal["wikiextractor"] = "wikiextractor"
    file_pattern: str = Field("wiki_*", description="names of WikiExtractor's output files (a glob), optionally .gz")
    reference_headings: list[str] = Field(default_factory=lambda: list(DEFAULT_REFERENCE_HEADINGS))
    remove_citation_marks: bool = True


class SquadSource(SourceBase):
    reader: Literal["squad"] = "squad"
    suffixes: list[str] = Field(default_factory=lambda: [".json", ".json.gz"])
    emit: Literal["context", "qa"] = Field("context", description="distinct contexts, or question/answer pairs")
    template: QATemplate = DEFAULT_QA_TEMPLATE
    reference_headings: list[str] = Field(default_factory=lambda: list(DEFAULT_REFERENCE_HEADINGS))
    remove_citation_marks: bool = True


def _normalised_heading(line: str) -> str | None:
    m = _HEADING.match(line)
    return m.group("title").strip().casefold() if m else None


def strip_reference_sections(text: str, headings: list[str]) -> tuple[str, int]:
    """``text`` without its reference-like sections, and how many were removed. A section runs from
    its heading to the next decorated heading (markdown ``#``, wiki ``==``, ``【】``) that is not
    reference-like, or to the end of the text."""
    names = {h.casefold() for h in headings}
    out: list[str] = []
    skipping = False
    removed = 0
    for line in text.split("\n"):
        title = _normalised_heading(line)
        if title in names:
            skipping = True
            removed += 1
            continue
        if skipping and _DECORATED_HEADING.match(line):
            skipping = False
        if not skipping:
            out.append(line)
    return "\n".join(out).strip(), removed


def clean_article(text: str, headings: list[str], remove_citations: bool = True) -> tuple[str, int]:
    """Reference sections and (optionally) citation marks removed; lines left empty dropped."""
    text, removed = strip_reference_sections(text, headings)
    if remove_citations:
        text = _CITATION.sub("", text)
    return "\n".join(line.rstrip() for line in text.split("\n") if line.strip()), removed


class _ArticleCleaning(Reader):
    def clean(self, text: str) -> str:
        text, removed = clean_article(text, self.source.reference_headings, self.source.remove_citation_marks)
        self.counters["reference_sections_removed"] += removed
        return text


class EncyclopediaReader(_ArticleCleaning):
    """JSONL articles (``item`` = ``L<line>``) or one article per ``.txt`` file."""

    source: EncyclopediaSource

    def documents(self, stream: IO[bytes], relpath: str, source_file: str) -> Iterator[Outcome]:
        if relpath.lower().removesuffix(".gz").endswith(".txt"):
            raw = self.read_text(stream)
            if raw is not None:
                yield self.outcome(raw, self.clean(raw), relpath, source_file)
            return
        for number, line in enumerate(stream, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError:
                self.skip("invalid_json")
                continue
            body = record.get(self.source.text_field) if isinstance(record, dict) else None
            if not isinstance(body, str) or not body.strip():
                self.skip("missing_field")
                continue
            title = record.get(self.source.title_field) if self.source.title_field else None
            raw = f"{title.strip()}\n{body}" if isinstance(title, str) and title.strip() else body
            yield self.outcome(raw, self.clean(raw), relpath, source_file, f"L{number}")


class SquadReader(_ArticleCleaning, JsonFileReader):
    """``item`` is the paragraph's or the question's id (``DEV_0``, ``DEV_0_QUERY_1``)."""

    source: SquadSource

    def json_documents(self, data: object, relpath: str, source_file: str) -> Iterator[Outcome]:
        articles = data.get("data") if isinstance(data, dict) else None
        if not isinstance(articles, list):
            self.skip("not_squad")
            return
        seen: set[str] = set()
        for a, article in enumerate(articles):
            for p, para in enumerate(article.get("paragraphs") or []):
                pid = str(para.get("id") or f"{a}.{p}")
                if self.source.emit == "context":
                    context = para.get("context")
                    if not isinstance(context, str) or not context.strip():
                        self.skip("missing_context")
                        continue
                    digest = content_sha1(context)
                    if digest in seen:
                        self.skip("duplicate_context")
                        continue
                    seen.add(digest)
                    yield self.outcome(context, self.clean(context), relpath, source_file, pid)
                    continue
                for q, qa in enumerate(para.get("qas") or []):
                    question = (qa.get("question") or "").strip()
                    answers = [x.get("text", "").strip() for x in qa.get("answers") or [] if isinstance(x, dict)]
                    answers = [x for x in answers if x]
                    if not question or not answers:
                        self.skip("missing_answer")
                        continue
                    text = format_qa(question, answers[0], self.source.template)
                    yield self.outcome(text, text, relpath, source_file, str(qa.get("id") or f"{pid}.{q}"))



_WIKI_DOC = re.compile(r'<doc id="(?P<id>[^"]*)"[^>]*>\n?(?P<body>.*?)</doc>', re.S)


class WikiExtractorReader(_ArticleCleaning, TextFileReader):
    """``item`` is the article's id."""

    source: WikiExtractorSource

    def takes(self, relpath: str) -> bool:
        name = relpath.rsplit("/", 1)[-1]
        return fnmatch(name.removesuffix(".gz"), self.source.file_pattern)

    def text_documents(self, raw: str, relpath: str, source_file: str) -> Iterator[Outcome]:
        articles = 0
        for m in _WIKI_DOC.finditer(raw):
            articles += 1
            body = m.group("body")
            yield self.outcome(body, self.clean(wikiextractor_to_text(body)), relpath, source_file, m.group("id"))
        if not articles:
            self.skip("no_article")
