"""Markup to plain text (datapipe.markup): Markdown, wiki syntax, WikiExtractor leftovers, LaTeX."""

from __future__ import annotations

import gzip
import re

from datapipe.markup import latex_to_text, markdown_to_text, strip_markup, wiki_to_text, wikiextractor_to_text
from tests.conftest import shared

MARKDOWN = """---
bookCollapseSection: true
---
# 中华人民共和国刑法

<!-- INFO END -->

## 第一章  一般规定

- item **bold** and _it_ and my_var_name and 5 * 3 * 2
1. [link](http://x.org/a(b)) ![img](p.png)
> quoted `code`

| a | b |
|---|---|
| 1 | 2 |
***
Title
=====
"""


def test_markdown_keeps_words_and_paragraphs_and_drops_the_markup():
    assert markdown_to_text(MARKDOWN).split("\n") == [
        "中华人民共和国刑法", "第一章 一般规定", "item bold and it and my_var_name and 5 * 3 * 2", "link img",
        "quoted code", "a b", "1 2", "Title"]


def test_wiki_syntax():
    wiki = ("== History ==\n'''Anarchism''' is [[political philosophy|a philosophy]] {{cite|x={{y}}}} see "
            "[http://a.b c d].<ref name=x>a source</ref>\n* item\n{| class=x\n|a\n|}")
    assert wiki_to_text(wiki).split("\n") == ["History", "Anarchism is a philosophy see c d.", "item"]
    assert strip_markup("**Bold** start of a Markdown line") == "Bold start of a Markdown line"  # not a wiki list


def test_wikiextractor_leftovers_go_and_the_prose_stays():
    raw = 'As of 2013[ [update]], the city had 5,000 people.\n #if: \n| {{#if:||}}{{\n|style="padding-left:0;"|1641\nProse stays.'
    assert wikiextractor_to_text(raw).split("\n") == ["As of 2013, the city had 5,000 people.", "1641", "Prose stays."]
    article = gzip.open(shared("english", "enwiki2015", "wiki_00.gz"), "rt", encoding="utf-8").read(200_000)
    text = wikiextractor_to_text(re.search(r"<doc[^>]*>\n(.*?)</doc>", article, re.S).group(1))
    assert text.startswith("Anarchism\nAnarchism is a political philosophy") and "</dl>" not in text and "<" not in text


def test_latex_keeps_the_argument_of_commands():
    assert latex_to_text(r"\section{Intro} We use \emph{sheaves} \cite{x} and $x^2$.") == "Intro We use sheaves  and x^2."
