"""The accelerated trafilatura: selectors that return what trafilatura's XPaths return, on real pages, and the
fallback gate."""

from __future__ import annotations

import gzip
import itertools
from collections import Counter

import pytest
import trafilatura
from trafilatura import xpaths

from datapipe import trafilatura_accel as accel
from datapipe.extract import ExtractConfig, decode_html, http_charset, trafilatura_settings
from datapipe.warc import iter_records
from tests.conftest import shared

SETTINGS = trafilatura_settings(ExtractConfig())


def real_pages(per_source: int = 25) -> list[tuple[str, str]]:
    """(url, decoded html) of real pages: crawled news and articles, 2008 and 2009 crawls, trafilatura's
    evaluation pages."""
    pages = []
    for name in ("news_and_article_fixtures.warc.gz", "clueweb09_sample.warc.gz", "archiveorg2008_web_sample.warc.gz"):
        with open(shared("warc_real_pages", name), "rb") as stream:
            html = (r for r in iter_records(stream, Counter()) if r.rec_type == "response" and "html" in (r.content_type or "") and r.payload)
            for rec in itertools.islice(html, per_source):
                decoded = decode_html(rec.payload, http_charset(rec.content_type))
                if decoded:
                    pages.append((rec.url, decoded[0]))
    cache = shared("html", "trafilatura", "tests", "cache")
    for path in sorted(cache.glob("*.html.gz"))[:per_source]:
        pages.append((f"https://eval.example.org/{path.name}", gzip.decompress(path.read_bytes()).decode("utf-8", "replace")))
    return pages


def test_every_expression_of_the_installed_trafilatura_has_its_selector():
    replaced, written = accel.coverage()
    assert replaced == written == 15


def test_selectors_return_the_nodes_of_the_xpaths_on_real_pages():
    calls: Counter = Counter()
    differ: list[str] = []

    def both(expression, selector):
        def call(tree):
            expected, got = expression(tree), selector(tree)
            calls[expression.path] += 1
            if got != expected:
                differ.append(f"{expression.path.split()[0][:60]}: {len(expected)} nodes, selector {len(got)}")
            return expected

        return call

    pages = real_pages()
    assert len(pages) >= 70
    for url, html in pages:
        bare = trafilatura.extract(html, url=url, **SETTINGS)
        with accel.fast_selectors(both):
            checked = trafilatura.extract(html, url=url, **SETTINGS)
        with accel.accelerated():
            fast = trafilatura.extract(html, url=url, **SETTINGS)
        assert bare == checked == fast, url
    assert not differ, differ[:5]
    assert len(calls) == 15 and min(calls.values()) >= 10, calls  # every selector compared, often


def test_everything_is_swapped_back_after_the_block_even_on_error():
    from trafilatura import core, utils

    before = [list(getattr(xpaths, name)) for name in accel.SELECTORS]
    parser, cascade = utils.HTML_PARSER, core._extract_and_compare
    with pytest.raises(RuntimeError), accel.accelerated(fallback_below_chars=2000):
        assert xpaths.OVERALL_DISCARD_XPATH[0] is accel.SELECTORS["OVERALL_DISCARD_XPATH"][0]
        assert utils.HTML_PARSER is not parser and core._extract_and_compare is not cascade
        raise RuntimeError
    assert [list(getattr(xpaths, name)) for name in accel.SELECTORS] == before
    assert utils.HTML_PARSER is parser and core._extract_and_compare is cascade


def test_the_parser_builds_plain_html_elements():
    from lxml import html

    with accel.fast_parser() as swapped:
        assert swapped
        tree = trafilatura.utils.load_html("<html><body><form><input name='q'></form><p>text</p></body></html>")
    assert {type(el) for el in tree.iter()} == {html.HtmlElement}
    assert type(trafilatura.utils.load_html("<html><body><form></form><p>x</p></body></html>").find(".//form")) is html.FormElement


def test_an_edited_expression_keeps_trafilatura_s_own(monkeypatch):
    selector = accel.SELECTORS["TEASER_DISCARD_XPATH"][0]
    monkeypatch.setattr(selector, "source_hash", "0" * 16)
    monkeypatch.setattr(accel, "_PLAN", None)
    assert accel.coverage() == (14, 15)
    with accel.fast_selectors():
        assert xpaths.TEASER_DISCARD_XPATH[0] is not selector
        assert xpaths.OVERALL_DISCARD_XPATH[0] is accel.SELECTORS["OVERALL_DISCARD_XPATH"][0]


def test_source_order_decides_which_of_id_and_class_is_tested():
    # XPath's string(@id|@class) is the attribute written first: re:test(@id|@class, '(^|\s)link(\s|$)')
    page = '<html><body><div><div {}>x</div><p>text</p></div></body></html>'
    precision = accel.SELECTORS["PRECISION_DISCARD_XPATH"][1]
    for attrs in ('id="a" class="link"', 'class="link" id="a"', 'id="link" class="a"', 'class="a" id="link"'):
        tree = trafilatura.utils.load_html(page.format(attrs))
        assert precision(tree) == xpaths.PRECISION_DISCARD_XPATH[1](tree), attrs


def _article(paragraphs: int) -> str:
    body = "".join(f"<p>Paragraph {i} of a long article about river ecology and the towns along its banks.</p>" for i in range(paragraphs))
    return f"<html><body><nav><a href='/'>Home</a></nav><article>{body}</article></body></html>"


def test_the_gate_runs_the_fallbacks_only_on_doubtful_extractions(monkeypatch):
    from trafilatura import core

    compared = []
    compare = core.compare_extraction

    def spy(cleaned_tree, raw_tree, body, text, options):
        compared.append(len(text))
        return compare(cleaned_tree, raw_tree, body, text, options)

    monkeypatch.setattr(core, "compare_extraction", spy)
    long_page, short_page = _article(60), _article(2)
    with accel.gated_fallbacks(2000) as gated:
        assert gated
        long_text = trafilatura.extract(long_page, **SETTINGS)
        short_text = trafilatura.extract(short_page, **SETTINGS)
    assert core.compare_extraction is spy
    assert len(compared) == 1 and compared[0] < 2000  # only the short page was compared
    assert long_text == trafilatura.extract(long_page, **SETTINGS)  # no fallback would have replaced it
    assert short_text == trafilatura.extract(short_page, **SETTINGS)


def test_the_gate_stands_aside_where_trafilatura_differs(monkeypatch):
    from trafilatura import core

    def edited(cleaned_tree, cleaned_tree_backup, tree, options):
        return core.extract_content(cleaned_tree, options)

    monkeypatch.setattr(core, "_extract_and_compare", edited)
    monkeypatch.setattr(accel, "_CASCADE", None)
    with accel.gated_fallbacks(2000) as gated:
        assert not gated
        assert core._extract_and_compare is edited


def test_a_page_over_the_time_limit_is_dropped_and_trafilatura_restored(monkeypatch):
    import time

    from trafilatura import core, utils

    from datapipe.extract import Extractor
    from datapipe.warc import RawRecord

    def stuck(*args, **kwargs):
        time.sleep(5)

    monkeypatch.setattr(trafilatura, "extract", stuck)
    before, parser = list(xpaths.OVERALL_DISCARD_XPATH), utils.HTML_PARSER
    ex = Extractor(ExtractConfig(timeout_seconds=0.2))
    record = RawRecord("response", "https://example.org/", None, 0, None, 200, "text/html", _article(3).encode(), False)
    started = time.monotonic()
    assert ex.document_from_record(record, "f.warc.gz") is None
    assert time.monotonic() - started < 2
    assert ex.counters["drop.extraction_timeout"] == 1
    assert xpaths.OVERALL_DISCARD_XPATH == before and utils.HTML_PARSER is parser
    assert core._extract_and_compare.__module__ == "trafilatura.core"
