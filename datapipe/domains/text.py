"""Plain text and JSONL records: books, profession texts (law, medicine, patents, mathematics) and QA.

Books come as hard-wrapped plain text: the Project Gutenberg header and footer are cut away, lines
wrapped at a fixed width are joined back into paragraphs (one per line, the pipeline's convention),
and a book is one document or one per chapter. JSONL records become documents from configured
fields: free text (``jsonl``) or a question and its answer (``qa``, "Question: ...\\nAnswer: ...").
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import IO, Annotated, Any, Literal

from pydantic import AfterValidator, Field, field_validator

from datapipe.markup import markdown_to_text
from datapipe.text import HAN_CLASS

from .base import Outcome, Reader, SourceBase, TextFileReader

GUTENBERG_START = re.compile(r"(?im)^\*{3}\s*START OF (THE|THIS) PROJECT GUTENBERG E-?BOOK\b.*$")
GUTENBERG_END = re.compile(
    r"(?im)^(\*{3}\s*END OF (THE|THIS) PROJECT GUTENBERG E-?BOOK\b.*|End of (the )?Project Gutenberg'?s?\b.*)$"
)
DEFAULT_CHAPTER_PATTERN = (
    r"^\s*((CHAPTER|Chapter|BOOK|Book|PART|Part)\s+([IVXLCDM]+|\d+|[A-Z][a-z]+)\b.*"
    r"|第[0-9一二三四五六七八九十百千零〇]+[章回节卷].*)$"
)
DEFAULT_QA_TEMPLATE = "Question: {question}\nAnswer: {answer}"

# A line starting like this (list item, numbered or lettered item, all-capitals heading) starts a new
# paragraph even after a long line.
_BLOCK_START = re.compile(r"^\s*([-*•]\s|\(?(\d+|[A-Za-z])[.)]\s|[A-Z][A-Z .,'-]{3,}$)")
_HAN_END = re.compile(f"[{HAN_CLASS}，。、；：！？」』）]$")
_HAN_START = re.compile(f"^[{HAN_CLASS}，。、；：！？「『（]")


def _qa_placeholders(v: str) -> str:
    if "{question}" not in v or "{answer}" not in v:
        raise ValueError("template must contain {question} and {answer}")
    return v


QATemplate = Annotated[str, AfterValidator(_qa_placeholders)]


class TextSource(SourceBase):
    reader: Literal["text"] = "text"
    suffixes: list[str] = Field(default_factory=lambda: [".txt", ".txt.gz"])
    split: Literal["file", "chapter"] = Field("file", description="one document per file, or per chapter heading")
    chapter_pattern: str = Field(DEFAULT_CHAPTER_PATTERN, description="a line that starts a chapter (split: chapter)")
    strip_gutenberg: bool = True
    unwrap: bool = Field(True, description="join hard-wrapped lines into paragraphs")

    @field_validator("chapter_pattern")
    @classmethod
    def _compiles(cls, v: str) -> str:
        try:
            re.compile(v)
        except re.error as exc:
            raise ValueError(f"bad regular expression: {exc}") from None
        return v


class MarkdownSource(SourceBase):
    reader: Literal["markdown"] = "markdown"
    suffixes: list[str] = Field(default_factory=lambda: [".md", ".md.gz"])
    split_level: int | None = Field(
        None, ge=1, le=6, description="one document per section at this heading level (text before the first is left out); None: per file"
    )
    skip_sections: list[str] = Field(default_factory=list, description="sections (of any level) whose heading is one of these are left out")


class JsonlSource(SourceBase):
    reader: Literal["jsonl"] = "jsonl"
    suffixes: list[str] = Field(default_factory=lambda: [".jsonl", ".jsonl.gz"])
    text_fields: list[str] = Field(default_factory=lambda: ["text"], min_length=1, description="joined with a newline; dotted paths")


class QASource(SourceBase):
    reader: Literal["qa"] = "qa"
    suffixes: list[str] = Field(default_factory=lambda: [".jsonl", ".jsonl.gz"])
    question_field: str = "question"
    answer_field: str = "answer"
    template: QATemplate = DEFAULT_QA_TEMPLATE


# --- cleaning functions --------------------------------------------------------------------------


def strip_gutenberg(text: str) -> tuple[str, bool]:
    """The text between Project Gutenberg's START and END lines, and whether a marker was found."""
    start = GUTENBERG_START.search(text)
    end = GUTENBERG_END.search(text, start.end() if start else 0)
    if not start and not end:
        return text, False
    return text[start.end() if start else 0 : end.start() if end else len(text)], True


def wrap_width(lines: list[str]) -> int | None:
    """The width a text is hard-wrapped at: the 95th percentile of its line lengths, or None when
    lines are longer than any usual wrap width (one paragraph per line) or there are too few."""
    lengths = sorted(len(line.rstrip()) for line in lines if line.strip())
    if len(lengths) < 5:
        return None
    width = lengths[int(0.95 * (len(lengths) - 1))]
    return width if 40 <= width <= 100 else None


def _join(a: str, b: str) -> str:
    return a + b if _HAN_END.search(a) and _HAN_START.search(b) else f"{a} {b}"


def unwrap_paragraphs(text: str) -> str:
    """One paragraph per line: inside a blank-line separated block a line continues into the next
    when it reaches at least 70% of the text's wrap width (short lines, as in verse, lists and
    headings, keep their breaks). Text without a wrap width only loses its blank lines."""
    lines = text.split("\n")
    width = wrap_width(lines)
    out: list[str] = []
    continues = False
    for line in lines:
        stripped = line.strip()
        if not stripped:
            continues = False
            continue
        if continues and not _BLOCK_START.match(line):
            out[-1] = _join(out[-1], stripped)
        else:
            out.append(stripped)
        continues = width is not None and len(line.rstrip()) >= 0.7 * width
    return "\n".join(out)


def split_chapters(text: str, pattern: str) -> list[tuple[int, str]]:
    """(chapter number from 1, its text with the heading) per chapter heading; what comes before
    the first heading (title, contents) goes with chapter 1. Without headings: the whole text."""
    heads = [m.start() for m in re.finditer(pattern, text, flags=re.M)]
    if not heads:
        return [(1, text)]
    bounds = [0] + heads[1:] + [len(text)]
    return [(n, text[bounds[n - 1] : bounds[n]]) for n in range(1, len(bounds))]


def field_value(record: Any, path: str) -> Any:
    """A dotted path into nested JSON: ``answers.0.text``; None when absent."""
    node = record
    for part in path.split("."):
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node


def as_text(value: Any) -> str | None:
    """Record values as text: strings stripped, lists of strings joined by lines, numbers printed."""
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return "\n".join(v.strip() for v in value if v.strip()) or None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return None


def format_qa(question: str, answer: str, template: str = DEFAULT_QA_TEMPLATE) -> str:
    return template.replace("{question}", question).replace("{answer}", answer)


# --- readers -------------------------------------------------------------------------------------


class TextReader(TextFileReader):
    source: TextSource

    def text_documents(self, raw: str, relpath: str, source_file: str) -> Iterator[Outcome]:
        body = raw
        if self.source.strip_gutenberg:
            body, found = strip_gutenberg(raw)
            self.counters["gutenberg_stripped"] += found
        if self.source.split == "file":
            yield self.outcome(raw, self._clean(body), relpath, source_file)
            return
        for number, chapter in split_chapters(body, self.source.chapter_pattern):
            if chapter.strip():
                yield self.outcome(chapter, self._clean(chapter), relpath, source_file, f"chapter-{number}")

    def _clean(self, text: str) -> str:
        return unwrap_paragraphs(text) if self.source.unwrap else text.strip()


_MD_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")


def markdown_sections(text: str) -> list[tuple[int, str, str]]:
    """``(level, title, markdown)`` of each section, a heading to the next heading; text before the
    first heading is a section of level 0 with no title."""
    sections: list[tuple[int, str, list[str]]] = [(0, "", [])]
    fence = False
    for line in text.split("\n"):
        if line.lstrip().startswith(("```", "~~~")):
            fence = not fence
        heading = None if fence else _MD_HEADING.match(line)
        if heading:
            sections.append((len(heading.group(1)), heading.group(2), []))
        sections[-1][2].append(line)
    return [(level, title, "\n".join(lines)) for level, title, lines in sections if lines]


class MarkdownReader(TextFileReader):
    """``item`` is ``s<number>`` of a section (split_level), none for a whole file."""

    source: MarkdownSource

    def text_documents(self, raw: str, relpath: str, source_file: str) -> Iterator[Outcome]:
        s = self.source
        skipped_level = None  # inside a skipped section until a heading of this level or above
        kept: list[tuple[int, str, str]] = []
        for level, title, section in markdown_sections(raw):
            if skipped_level is not None and 0 < level <= skipped_level:
                skipped_level = None
            if title in s.skip_sections:
                skipped_level = level
                self.counters["sections_skipped"] += 1
            if skipped_level is None:
                kept.append((level, title, section))
        if s.split_level is None:
            body = "\n".join(section for _, _, section in kept)
            yield self.outcome(raw, markdown_to_text(body), relpath, source_file)
            return
        number, current = 0, None
        for level, _, section in kept + [(s.split_level, "", "")]:
            if level == s.split_level:
                if current:
                    yield self.outcome(current, markdown_to_text(current), relpath, source_file, f"s{number}")
                number, current = number + 1, section
            elif current is not None and level > s.split_level:
                current += "\n" + section  # a subsection stays with its section


class JsonlReader(Reader):
    """One record per line; ``item`` is ``L<line number>``."""

    def records(self, stream: IO[bytes]) -> Iterator[tuple[int, Any]]:
        for number, line in enumerate(stream, 1):
            if not line.strip():
                continue
            try:
                yield number, json.loads(line)
            except ValueError:  # invalid JSON or not UTF-8
                self.skip("invalid_json")

    def documents(self, stream: IO[bytes], relpath: str, source_file: str) -> Iterator[Outcome]:
        for number, record in self.records(stream):
            text = self.record_text(record)
            if text is None:
                self.skip("missing_field")
                continue
            yield self.outcome(text, text, relpath, source_file, f"L{number}")

    def record_text(self, record: Any) -> str | None:
        parts = [as_text(field_value(record, f)) for f in self.source.text_fields]
        parts = [p for p in parts if p]
        return "\n".join(parts) if parts else None


class QAReader(JsonlReader):
    source: QASource

    def record_text(self, record: Any) -> str | None:
        question = as_text(field_value(record, self.source.question_field))
        answer = as_text(field_value(record, self.source.answer_field))
        if question is None or answer is None:
            return None
        return format_qa(question, answer, self.source.template)
