"""AcademicPaper: LaTeX sources, cleaned as for the arXiv part of RedPajama (Together 2023):
comments removed, the preamble (everything before ``\\begin{document}``) removed, the bibliography
removed; the body, math included, stays LaTeX.

A ``%`` starts a comment unless it is escaped (an odd number of backslashes before it, ``\\%``);
whole-line comments are removed with their line, so they leave no paragraph break. ``verbatim``-like
environments keep their ``%``; ``comment`` environments (package verbatim) are removed. A file with
``\\documentclass`` but no ``\\begin{document}`` is a preamble or macro file and is rejected
(``latex:no_document_body``); a file with neither is a chapter meant for ``\\input`` and is kept whole.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Literal

from pydantic import Field

from .base import Outcome, SourceBase, TextFileReader

_VERBATIM_ENVS = ("verbatim", "verbatim*", "Verbatim", "lstlisting", "minted", "alltt")
_BEGIN_VERBATIM = re.compile(r"\\begin\{(" + "|".join(re.escape(e) for e in _VERBATIM_ENVS) + r")\}")
_COMMENT_ENV = re.compile(r"\\begin\{comment\}.*?\\end\{comment\}[^\n]*\n?", re.S)
_UNESCAPED_PERCENT = re.compile(r"(?<!\\)(?:\\\\)*%")
_BEGIN_DOCUMENT = re.compile(r"\\begin\{document\}")
_END_DOCUMENT = re.compile(r"\\end\{document\}")
_DOCUMENTCLASS = re.compile(r"\\documentclass\b")
_BIBLIOGRAPHY = re.compile(
    r"\\begin\{thebibliography\}.*?\\end\{thebibliography\}"
    r"|\\(?:bibliography|bibliographystyle|addbibresource)\s*\{[^}]*\}"
    r"|\\printbibliography(?:\[[^\]]*\])?",
    re.S,
)
_BLANK_RUN = re.compile(r"\n[ \t]*(?:\n[ \t]*){2,}")


class LatexSource(SourceBase):
    reader: Literal["latex"] = "latex"
    suffixes: list[str] = Field(default_factory=lambda: [".tex", ".tex.gz"])
    remove_comments: bool = True
    remove_preamble: bool = True
    remove_bibliography: bool = True


def strip_comments(tex: str) -> tuple[str, int]:
    """``tex`` without comments, and how many were removed (see the module docstring)."""
    tex, envs = _COMMENT_ENV.subn("", tex)
    out: list[str] = []
    verbatim_end: str | None = None
    removed = envs
    for line in tex.split("\n"):
        if verbatim_end is not None:
            out.append(line)
            if verbatim_end in line:
                verbatim_end = None
            continue
        m = _UNESCAPED_PERCENT.search(line)
        code = line if m is None else line[: m.end() - 1]
        if m is not None:
            removed += 1
            if not code.strip():
                continue  # a whole-line comment goes with its line
        out.append(code.rstrip() if m is not None else code)
        v = _BEGIN_VERBATIM.search(code)
        if v and f"\\end{{{v.group(1)}}}" not in code[v.end() :]:
            verbatim_end = f"\\end{{{v.group(1)}}}"
    return "\n".join(out), removed


def document_body(tex: str) -> str | None:
    """The text between ``\\begin{document}`` and ``\\end{document}``; the whole text when there
    is no ``\\begin{document}`` and no ``\\documentclass``; None for a preamble-only file."""
    begin = _BEGIN_DOCUMENT.search(tex)
    if begin is None:
        return None if _DOCUMENTCLASS.search(tex) else tex
    end = _END_DOCUMENT.search(tex, begin.end())
    return tex[begin.end() : end.start() if end else len(tex)]


def strip_bibliography(tex: str) -> tuple[str, int]:
    """``tex`` without ``thebibliography`` environments and bibliography commands."""
    return _BIBLIOGRAPHY.subn("", tex)


class LatexReader(TextFileReader):
    source: LatexSource

    def text_documents(self, raw: str, relpath: str, source_file: str) -> Iterator[Outcome]:
        s = self.source
        tex = raw
        if s.remove_comments:
            tex, n = strip_comments(tex)
            self.counters["comments_removed"] += n
        if s.remove_preamble:
            body = document_body(tex)
            if body is None:
                yield self.outcome(raw, raw, relpath, source_file, reason="latex:no_document_body")
                return
            self.counters["preamble_removed"] += len(body) < len(tex)
            tex = body
        if s.remove_bibliography:
            tex, n = strip_bibliography(tex)
            self.counters["bibliography_removed"] += n
        yield self.outcome(raw, _BLANK_RUN.sub("\n\n", tex).strip(), relpath, source_file)
