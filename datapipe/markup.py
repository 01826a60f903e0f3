"""Markup to plain text: Markdown, wiki syntax and the leftovers of wiki extraction, LaTeX.

Training text keeps its words and its paragraph breaks (one paragraph per line, the pipeline's
convention) and loses what only says how it was formatted: a model that learned ``#`` headings, ``**``
emphasis or ``[[links]]`` would learn the source, not the language. Each function is a sequence of
conservative regular expressions: markup characters inside prose (an asterisk in "5 * 3", a ``#`` in
"C#") stay, because every rule anchors on the shape a markup construct has.
"""

from __future__ import annotations

import re

_FRONT_MATTER = re.compile(r"\A\s*---\s*\n.*?\n---\s*(?:\n|\Z)", re.S)
_HTML_COMMENT = re.compile(r"<!--.*?-->", re.S)
_HTML_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9-]*(?:\s[^<>]*)?/?>")
_FENCE = re.compile(r"^\s*(```|~~~)")
_ATX_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$")
_SETEXT_UNDERLINE = re.compile(r"^\s{0,3}(=+|-+)\s*$")
_RULE = re.compile(r"^\s{0,3}([-*_])(\s*\1){2,}\s*$")
_BULLET = re.compile(r"^\s*(?:[-*+]|\d{1,3}[.)])\s+")
_QUOTE = re.compile(r"^\s*(?:>\s?)+")
_TABLE_SEPARATOR = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$")
_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_LINK = re.compile(r"\[([^\]]+)\]\((?:[^()]|\([^)]*\))*\)")
_REFERENCE_LINK = re.compile(r"\[([^\]]+)\]\[[^\]]*\]")
_LINK_DEFINITION = re.compile(r"^\s{0,3}\[[^\]]+\]:\s+\S+.*$")
_EMPHASIS = re.compile(r"(\*\*|\*|~~)(?=\S)(.+?)(?<=\S)\1")
_UNDERSCORE_EMPHASIS = re.compile(r"(?<!\w)(__|_)(?=\S)(.+?)(?<=\S)\1(?!\w)")  # never inside a word: snake_case stays
_CODE_SPAN = re.compile(r"`+([^`]+)`+")

_WIKI_REF = re.compile(r"<ref[^>/]*/>|<ref[^>]*>.*?</ref>", re.S | re.I)
_WIKI_TEMPLATE = re.compile(r"\{\{[^{}]*\}\}")
_WIKI_TABLE = re.compile(r"^\s*\{\|.*?^\s*\|\}", re.S | re.M)
_WIKI_LINK = re.compile(r"\[\[(?:[^|\]]*\|)?([^\]]+)\]\]")
_WIKI_EXTERNAL = re.compile(r"\[(?:https?|ftp)://\S+\s+([^\]]+)\]")
_WIKI_BARE_EXTERNAL = re.compile(r"\[(?:https?|ftp)://[^\]\s]+\]")
_WIKI_HEADING = re.compile(r"^\s*(={1,6})\s*(.*?)\s*\1\s*$")
_WIKI_QUOTES = re.compile(r"'{2,5}")
_WIKI_LIST = re.compile(r"^\s*(?:[*#:;]*[#:;][*#:;]*\s*|\*+\s+)")  # "**bold**" at a line's start is Markdown, not a list

_BLANK = re.compile(r"[ \t]+")


def _lines_out(lines: list[str]) -> str:
    """Non-empty lines, inner whitespace runs folded: one paragraph per line."""
    return "\n".join(s for s in (_BLANK.sub(" ", line).strip() for line in lines) if s)


def _inline_markdown(line: str) -> str:
    line = _IMAGE.sub(r"\1", line)
    line = _LINK.sub(r"\1", line)
    line = _REFERENCE_LINK.sub(r"\1", line)
    line = _CODE_SPAN.sub(r"\1", line)
    for _ in range(2):  # **_nested_** emphasis
        line = _UNDERSCORE_EMPHASIS.sub(r"\2", _EMPHASIS.sub(r"\2", line))
    return _HTML_TAG.sub("", line)


def markdown_to_text(text: str) -> str:
    """Markdown as plain text: front matter, comments, HTML tags, rules, link definitions and fences
    go; headings, list items, quotes and table cells keep their text; links keep their label."""
    text = _HTML_COMMENT.sub("", _FRONT_MATTER.sub("", text))
    out: list[str] = []
    for line in text.split("\n"):
        if _FENCE.match(line) or _RULE.match(line) or _LINK_DEFINITION.match(line) or _TABLE_SEPARATOR.match(line):
            continue
        if _SETEXT_UNDERLINE.match(line) and out and out[-1].strip():
            continue
        heading = _ATX_HEADING.match(line)
        if heading:
            line = heading.group(1)
        line = _QUOTE.sub("", line)
        line = _BULLET.sub("", line)
        if line.lstrip().startswith("|"):
            line = " ".join(cell.strip() for cell in line.strip().strip("|").split("|"))
        out.append(_inline_markdown(line))
    return _lines_out(out)


def wiki_to_text(text: str) -> str:
    """MediaWiki syntax (and what WikiExtractor leaves of it) as plain text: references, templates,
    tables and tags go; links keep their label, headings and list items their text, bold and italic quotes go."""
    text = _WIKI_REF.sub("", _HTML_COMMENT.sub("", text))
    for _ in range(3):  # nested templates, innermost first
        text, n = _WIKI_TEMPLATE.subn("", text)
        if not n:
            break
    text = _WIKI_TABLE.sub("", text)
    text = _WIKI_LINK.sub(r"\1", text)
    text = _WIKI_EXTERNAL.sub(r"\1", text)
    text = _WIKI_BARE_EXTERNAL.sub("", text)
    out: list[str] = []
    for line in text.split("\n"):
        heading = _WIKI_HEADING.match(line)
        if heading:
            line = heading.group(2)
        line = _WIKI_LIST.sub("", line)
        out.append(_HTML_TAG.sub("", _WIKI_QUOTES.sub("", line)))
    return _lines_out(out)


_TEX_DROP = re.compile(
    r"\\(?:begin|end|label|ref|eqref|cite|input|include|usepackage|documentclass|newcommand|def)\*?(?:\[[^\]]*\])?(?:\{[^{}]*\})*"
)
_TEX_WITH_ARG = re.compile(r"\\[A-Za-z]+\*?(?:\[[^\]]*\])?\{([^{}]*)\}")
_TEX_COMMAND = re.compile(r"\\[A-Za-z]+\*?|\\.")
_TEX_DELIMITERS = re.compile(r"[{}$]")
# What wiki extraction leaves of parser functions, templates and tables: lines such as " #if: ",
# "| {{#if:||}}{{", "}}{{", "| ()", 'class="navbox collapsible"', '!colspan="70" class="x"', and cell
# attributes ('|style="padding-left:0;"|1641').
_WIKI_DEBRIS = re.compile(
    r'^\W*#(?:if|ifeq|switch|expr|tag|invoke)\b.*$|^\W*(?:[\w-]+="[^"]*"\s*)+$|^(?=.*[{}|])[\W_]*$'
)
_WIKI_CELL_ATTRIBUTES = re.compile(r'(?:[\w-]+="[^"\n]*"\s*)+\|')
_WIKI_SINGLE_CELL = re.compile(r"^\s*[|!]\s*(?=[^|]*$)")  # "|1641": one cell of a wiki table (Markdown rows have more pipes)
_WIKI_UPDATE_MARK = re.compile(r"\[\s*\[update\]\]")  # what {{As of}} leaves: "As of 2013[ [update]]"


def latex_to_text(text: str) -> str:
    """LaTeX as readable text: environments and cross-references go, commands with an argument become
    the argument (``\\emph{x}`` -> ``x``), other commands, braces and ``$`` go; the math's symbols stay.
    Comments are not touched (``%`` is a percent sign outside LaTeX files)."""
    text = _TEX_DROP.sub("", text)
    for _ in range(4):  # nested arguments, innermost first
        text, n = _TEX_WITH_ARG.subn(r"\1", text)
        if not n:
            break
    return _TEX_DELIMITERS.sub("", _TEX_COMMAND.sub("", text))


def wikiextractor_to_text(text: str) -> str:
    """WikiExtractor output as plain text: what the extraction left of templates, parser functions and
    tables goes (debris lines, cell attributes, ``[ [update]]`` marks), then the wiki syntax."""
    text = _WIKI_UPDATE_MARK.sub("", _WIKI_CELL_ATTRIBUTES.sub("", text))
    lines = (_WIKI_SINGLE_CELL.sub("", line) for line in text.split("\n") if not _WIKI_DEBRIS.match(line))
    return wiki_to_text("\n".join(lines))


def strip_markup(text: str) -> str:
    """Text without wiki syntax, LaTeX, Markdown and HTML tags, one paragraph per line, whatever its
    source: a classifier that saw markup would learn where a text came from; plain text passes unchanged
    but for whitespace and list bullets."""
    return markdown_to_text(latex_to_text(wikiextractor_to_text(text)))


