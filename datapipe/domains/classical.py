"""ClassicalChinese: the chinese-poetry JSON collections and NiuTrans Classical-Modern text files.

chinese-poetry (github.com/chinese-poetry/chinese-poetry) stores works in many JSON shapes: lists of
poems (``title``/``rhythmic``, ``author``, ``paragraphs``), single works (``{chapter, paragraphs}``),
``content`` as a list of lines or one string, and collections nesting works under ``content``
(蒙学: 古文观止, 唐诗三百首). Every object whose first present body field (``paragraphs``,
``para``, ``content``) holds text is one work and one document: its title and author lines, then
its lines; a body field holding objects is walked into; an object with no body field (author
lists, introductions) is skipped and counted. ``item`` is the JSON pointer of the work
(``#/12``, ``#/content/3/content/0``). Notes, commentary and pinyin fields are left out.

NiuTrans Classical-Modern (``双语数据/<book>/<chapter>/source.txt``, with the line-aligned modern
translation in ``target.txt``): one document per chapter file, one sentence per line.

Characters are kept as they are: 全唐诗 is in Traditional characters, 宋词 in Simplified.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

from pydantic import Field

from .base import JsonFileReader, Outcome, SourceBase, TextFileReader


class ChinesePoetrySource(SourceBase):
    reader: Literal["chinese_poetry"] = "chinese_poetry"
    suffixes: list[str] = Field(default_factory=lambda: [".json", ".json.gz"])
    body_fields: list[str] = Field(default_factory=lambda: ["paragraphs", "para", "content"], min_length=1)
    title_fields: list[str] = Field(default_factory=lambda: ["title", "rhythmic", "chapter"])
    include_title: bool = True
    include_author: bool = True


class NiuTransSource(SourceBase):
    reader: Literal["niutrans"] = "niutrans"
    side: Literal["source", "target"] = Field("source", description="source.txt (classical) or target.txt (modern)")


def _lines(value: Any) -> list[str] | None:
    """A work's lines from a body value, or None when the value holds no text (objects, numbers)."""
    if isinstance(value, str):
        return [s for s in (line.strip() for line in value.split("\n")) if s]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return [s for s in (v.strip() for v in value) if s]
    return None


def iter_works(node: Any, body_fields: list[str], pointer: str = "") -> Iterator[tuple[str, dict | None, list[str]]]:
    """``(pointer, work, lines)`` for every work under ``node``; ``work`` is None for an object
    without a body field (lines empty), so that the caller can count it."""
    if isinstance(node, list):
        for i, child in enumerate(node):
            yield from iter_works(child, body_fields, f"{pointer}/{i}")
        return
    if not isinstance(node, dict):
        return
    field = next((f for f in body_fields if f in node), None)
    if field is None:
        yield pointer, None, []
        return
    lines = _lines(node[field])
    if lines is None:
        yield from iter_works(node[field], body_fields, f"{pointer}/{field}")
    else:
        yield pointer, node, lines


def work_text(work: dict, lines: list[str], title_fields: list[str], include_title: bool, include_author: bool) -> str:
    head = []
    if include_title:
        title = next((work[f] for f in title_fields if isinstance(work.get(f), str) and work[f].strip()), None)
        if title:
            head.append(title.strip())
    author = work.get("author")
    if include_author and isinstance(author, str) and author.strip():
        head.append(author.strip())
    return "\n".join(head + lines)


class ChinesePoetryReader(JsonFileReader):
    source: ChinesePoetrySource

    def json_documents(self, data: object, relpath: str, source_file: str) -> Iterator[Outcome]:
        s = self.source
        for pointer, work, lines in iter_works(data, s.body_fields):
            if work is None:
                self.skip("no_body_field")
                continue
            if not lines:
                self.skip("empty")
                continue
            text = work_text(work, lines, s.title_fields, s.include_title, s.include_author)
            yield self.outcome(text, text, relpath, source_file, pointer or "/")


class NiuTransReader(TextFileReader):
    source: NiuTransSource

    def takes(self, relpath: str) -> bool:
        return relpath.rsplit("/", 1)[-1] == f"{self.source.side}.txt"

    def text_documents(self, raw: str, relpath: str, source_file: str) -> Iterator[Outcome]:
        text = "\n".join(s for s in (line.strip() for line in raw.split("\n")) if s)
        if not text:
            self.skip("empty")
            return
        yield self.outcome(raw, text, relpath, source_file)
