"""trafilatura, faster: its pruning XPaths evaluated in Python, its parse with C-level element classes (both the
same output), and its fallbacks run only when needed.

Where ``trafilatura.extract`` spends its time on real pages (precision mode, with fallbacks), and what is done:

- about half in a dozen XPath expressions that test ``@id``/``@class`` against regular expressions (EXSLT
  ``re:test``): libxml2 calls back into Python for every element and every ``re:test``. Each ``Selector`` here
  is one pass over ``iterdescendants`` (tag-filtered in C) with every distinct ``(id, class)`` pair tested once
  per process, pages repeating their class names. A selector returns the nodes its XPath returns, in the same
  order, so the extraction is unchanged, character for character (``tests/test_trafilatura_accel.py`` checks
  every call on real pages). Each is written for one expression and knows a fingerprint of its source text:
  only the selectors whose expression is unchanged in the installed trafilatura are swapped in, so an upgrade
  that edits an expression falls back to trafilatura's own.
- a few percent in ``lxml.html``'s element class lookup, a Python call for every element proxy: the parser
  here has the same options and chooses the class in C (``fast_parser``).
- about a quarter in the comparison with readability and justext, which replace trafilatura's own extraction
  on few pages (7% on trafilatura's evaluation set, nearly all of them short or empty first passes), and the
  copy of the page it needs. ``gated_fallbacks`` runs both only when the first pass is ``doubtful``: shorter
  than a length, without paragraph text, made of tables more than paragraphs, or holding elements that send
  it to justext. Unlike the rest this can change an extraction; ``make bench-extract`` measures the speed and
  quality of each setting.

Everything is swapped into trafilatura's modules for the duration of a ``with accelerated(...)`` block only,
each part where the installed trafilatura has the code it was written for.
"""

from __future__ import annotations

import hashlib
import inspect
import re
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager

from lxml import etree

_MEMO_LIMIT = 200_000  # distinct attribute values remembered per test before the memo starts over


def _regex(pattern: str, flags: int = 0) -> Callable[[str | None], bool]:
    """``re:test(@attr, pattern)`` on one attribute value (None when absent, which XPath tests as '')."""
    rx = re.compile(pattern, flags)
    on_absent = rx.search("") is not None
    seen: dict[str, bool] = {}

    def test(value: str | None) -> bool:
        if value is None:
            return on_absent
        hit = seen.get(value)
        if hit is None:
            if len(seen) > _MEMO_LIMIT:
                seen.clear()
            hit = seen[value] = rx.search(value) is not None
        return hit

    return test


def _first(el, a: str, b: str) -> str | None:
    """The string value of ``@a|@b`` in XPath: the attribute that comes first in the element's source."""
    va, vb = el.get(a), el.get(b)
    if va is None or vb is None:
        return vb if va is None else va
    keys = el.keys()
    return va if keys.index(a) < keys.index(b) else vb


_BY_ORDER = object()


def _id_class_test(rule: Callable[[str | None, str | None, str | None], bool]) -> Callable:
    """A test of an element's ``id`` and ``class``: ``rule(id, class, first)``, ``first`` being the value of
    ``@id|@class``. Remembered per ``(id, class)`` pair; the source order is read only where it matters."""
    seen: dict[tuple, object] = {}

    def test(el) -> bool:
        id_, class_ = el.get("id"), el.get("class")
        key = (id_, class_)
        hit = seen.get(key)
        if hit is None:
            if len(seen) > _MEMO_LIMIT:
                seen.clear()
            if id_ is None or class_ is None:
                hit = rule(id_, class_, class_ if id_ is None else id_)
            else:
                id_first, class_first = rule(id_, class_, id_), rule(id_, class_, class_)
                hit = id_first if id_first == class_first else _BY_ORDER
            seen[key] = hit
        if hit is _BY_ORDER:
            return rule(id_, class_, _first(el, "id", "class"))
        return hit  # type: ignore[return-value]

    return test


def _contains(value: str | None, part: str) -> bool:
    return value is not None and part in value


class Selector:
    """``.//*[self::t1 or self::t2 ...][test]`` (``tags`` None: any element) over an element's descendants, in
    document order. ``first_child``: only the first match among each parent's children (a trailing ``[1]``);
    ``first``: only the first match (``( ... )[1]``)."""

    def __init__(self, source_hash: str, tags: tuple[str, ...] | None, test: Callable, first_child: bool = False, first: bool = False):
        self.source_hash = source_hash
        self.tags = tags
        self.test = test
        self.first_child = first_child
        self.first = first

    def _elements(self, tree) -> Iterator:
        return tree.iterdescendants(*self.tags) if self.tags else tree.iterdescendants(etree.Element)

    def __call__(self, tree) -> list:
        test = self.test
        if self.first:
            el = next((el for el in self._elements(tree) if test(el)), None)
            return [] if el is None else [el]
        if not self.first_child:
            return [el for el in self._elements(tree) if test(el)]
        found, parents = [], set()
        for el in self._elements(tree):
            if test(el):
                parent = el.getparent()
                if parent not in parents:
                    parents.add(parent)
                    found.append(el)
        return found


class Union:
    """``A|B``: the nodes of both selectors, without repeats, in document order."""

    def __init__(self, source_hash: str, *parts: Selector):
        self.source_hash = source_hash
        self.parts = parts

    def __call__(self, tree) -> list:
        found = {el for part in self.parts for el in part(tree)}
        if len(found) < 2:
            return list(found)
        return [el for el in tree.iterdescendants(etree.Element) if el in found]


def _always(el) -> bool:
    return True


# --- the expressions of trafilatura.xpaths ----------------------------------------------------------

_BLOCKS = ("div", "item", "list", "p", "section", "span")
_COMMENTS_ID = "[Cc]omment(?!ary)|comol"
_comments_id_or_disqus = _regex(f"^(?:{_COMMENTS_ID}|disqus_thread|dsq-comments)")
_comments_id = _regex(f"^(?:{_COMMENTS_ID})")
_comments_class = _regex("^[Cc]omment(?!ary)|(?:article|post)-comments")


# 0: no comment container; 1: a container, unless an ol/ul; 2: a container whatever the tag
_comment_kind = _id_class_test(
    lambda id_, class_, first: (2 if _comments_id(id_) or _comments_class(class_) else 1)
    if _comments_id_or_disqus(id_) or _comments_class(class_) else 0
)


def _comment_container(el) -> bool:
    return _comment_kind(el) > 0


def _comment_list(el) -> bool:
    kind = _comment_kind(el)
    return kind == 2 or (kind == 1 and el.tag not in ("ol", "ul"))


_appended = _regex("mvp-post-add-(?:box|wrap)|infinite-?scroll")
_appended_always = _regex("mvp-post-add-(?:box|wrap)")
# 0: not an appended-articles container; 1: one, unless it holds an h1; 2: one whatever it holds
_appended_kind = _id_class_test(
    lambda id_, class_, first: (2 if _appended_always(id_) or _appended_always(class_) else 1)
    if _appended(id_) or _appended(class_) else 0
)


def _appended_articles(el) -> bool:
    kind = _appended_kind(el)
    return kind == 2 or (kind == 1 and next(el.iterdescendants("h1"), None) is None)


def _share_buttons(el) -> bool:
    return _contains(el.get("class"), "elementor-share-buttons")


_BOTH = ("^shar", "social", "viral", "newsletter", "syndication", "tags", "sidebar", "banner", "bread-?crumb", "button", "author")
_ID_ONLY = ("^(?:jp-|dpsp-content)", "bmdh", "footer", "Footer", "share", "Share", "nav", "Nav", "menu", "related",
            "message-container", "premium", "^ad-")
_CLASS_ONLY = (
    "^(?:nav|post-nav|ZendeskForm)", "subnav", "avigation", "navbar", "navbox", "menu", "bar",
    " ad ", "-ad-", "(?:^| )ad-", "dfp[Aa]d", "outbrain", "taboola", "criteo", "paid-?content", "widget",
    "footer", "Footer", "byline", "Byline", "share-", "sociable", "embedded", "embed", "tag-list",
    "consent", "modal-content", "permission", "elated", "next-", "-stories", "most-popular", "more-on",
    "meta", "rating", "attachment", "timestamp", "user-info", "user-profile", "-icon", "article-infos",
    "message-container", "slide", "viewport", "overlay", "options", "expand", "obfuscated", "blurred",
    "mol-factbox", "yin", "zlylin", "nfoline",
)
_cookie = _regex("cookie")
_discard_id = _regex("|".join(_BOTH + _ID_ONLY))
_discard_class = _regex("|".join(_BOTH + _CLASS_ONLY))
_boilerplate_id_class = _id_class_test(lambda id_, class_, first: _discard_id(id_) or _discard_class(class_) or _cookie(first))


def _boilerplate(el) -> bool:
    if _boilerplate_id_class(el):
        return True
    get = el.get
    return (
        get("data-lp-replacement-content") is not None
        or "nav" in (get("role") or "").replace("N", "n")
        or _contains(get("data-component"), "MostPopularStories")
    )


_hidden_id_style = _regex("hidden")
_hidden_id = _regex("reader-comments|akismet")
_hidden_class = _regex("^hide-|comments-title|nocomments|-reply-|message|akismet|suggest-links|-hide-|hide-print| hidden| hide|noprint|notloaded")
# bit 1: hidden by its id and class alone; bit 2: "hidden" in its id (what counts when it has no style)
_hidden_bits = _id_class_test(
    lambda id_, class_, first: (
        class_ == "comments-title" or (first is not None and first.startswith("reply-")) or _hidden_id(id_) or _hidden_class(class_)
    ) | (_hidden_id_style(id_) << 1)
)


def _hidden(el) -> bool:
    bits = _hidden_bits(el)
    if bits & 1:
        return True
    get = el.get
    style = get("style")
    if style is None:
        if bits & 2:
            return True
    elif "display:none" in style or "display: none" in style or _hidden_id_style(_first(el, "id", "style")):
        return True
    return get("aria-hidden") == "true"


_teaser = _id_class_test(lambda id_, class_, first: "teaser" in (id_ or "").replace("T", "t") or "teaser" in (class_ or "").replace("T", "t"))
_bottom = _regex(r"(^|\s)bottom|bottom(\s|$)")
_link = _regex(r"(^|\s)link(\s|$)")
_bottom_or_link = _id_class_test(lambda id_, class_, first: _bottom(first) or _link(first))


def _precision(el) -> bool:
    return _bottom_or_link(el) or _contains(el.get("style"), "border")


_caption = _id_class_test(lambda id_, class_, first: _contains(id_, "caption") or _contains(class_, "caption"))

_CONTAINERS = ("article", "div", "main", "section")
_article_id = _regex("(?:entry|article|art)-content|article__content|article(?:-|__)?body|articleBody|body-text")
_article_class = _regex(
    "post[-_]text|post-body|post-?entry|post[-_]?content|postContent|post_inner_wrapper|article-?text|articleText|"
    "(?:entry|page|text|article|art)-content|article__content|article(?:-|__)?body|articleBody|ArticleContent|body-text|"
    "article__container"
)
_article_by_id_class = _id_class_test(
    lambda id_, class_, first: class_ in ("post", "entry") or id_ == "articleContent" or _article_id(id_) or _article_class(class_)
)


def _article_body(el) -> bool:
    return _article_by_id_class(el) or el.get("itemprop") == "articleBody"


_story_id = _regex("^primary|story-body")
_fulltext = _regex("fulltext", re.IGNORECASE)
_story_class = _regex(
    "^article |post-bodycopy|story-?content|(?:theme|blog|section|single)-content|single-post|main-column|"
    "wpb_text_column|story-body|field-body"
)
_story_by_id_class = _id_class_test(
    lambda id_, class_, first: id_ in ("article", "story") or class_ in ("postarea", "art-postcontent", "text", "cell", "story")
    or _story_id(id_) or _fulltext(class_) or _story_class(class_)
)


def _story(el) -> bool:
    return _story_by_id_class(el) or el.get("role") == "article"


_main_id = _regex("content-main|content-body|contentBody")
_main_class = _regex("content[-_]main|content(?:-|__)body")
_main_content = _id_class_test(
    lambda id_, class_, first: id_ == "content" or class_ == "content" or _main_id(id_) or _main_class(class_)
    or "main-content" in (id_ or "").replace("C", "c").replace("M", "m")
    or "main-content" in (class_ or "").replace("C", "c").replace("M", "m")
    or "page-content" in (class_ or "").replace("C", "c").replace("P", "p")
)


def _starts_main(el) -> bool:
    get = el.get
    return any((get(name) or "").startswith("main") for name in ("class", "id", "role"))


SELECTORS: dict[str, list[Selector | Union]] = {
    "RAW_TREE_PRUNE_XPATH": [
        Selector("c15751070b078a64", ("div", "section", "aside"), _appended_articles),
        Selector("12b073ccb20e9633", ("div", "section", "aside"), _share_buttons),
    ],
    "REMOVE_COMMENTS_XPATH": [Selector("97b3a45900e751de", ("div", "list", "section", "details"), _comment_container)],
    "REMOVE_COMMENTS_AND_LISTS_XPATH": [Selector("7e7d885e629a5119", ("div", "list", "section", "details", "ol", "ul"), _comment_list)],
    "OVERALL_DISCARD_XPATH": [Selector("d00545c1e3acd7dd", _BLOCKS, _boilerplate), Selector("8c88600b03181df7", None, _hidden)],
    "TEASER_DISCARD_XPATH": [Selector("db87f1790b6b7449", _BLOCKS, _teaser)],
    "PRECISION_DISCARD_XPATH": [Selector("e73d52598ccd5f51", ("header",), _always), Selector("1333a88a43255a90", _BLOCKS, _precision)],
    "DISCARD_IMAGE_ELEMENTS": [Selector("1c87660c9ae9af66", _BLOCKS, _caption)],
    "BODY_XPATH": [
        Selector("2465b9ddf0fc1b9b", _CONTAINERS, _article_body, first_child=True),
        Selector("91b22f3d0771189c", ("article",), _always, first=True),
        Selector("b9c180cd18240e44", _CONTAINERS, _story, first=True),
        Selector("1e7b8c5b36e9e0e8", _CONTAINERS, _main_content, first=True),
        Union("2cee30110a45e6bb", Selector("", ("article", "div", "section"), _starts_main, first=True), Selector("", ("main",), _always, first=True)),
    ],
}
"""trafilatura.xpaths list name -> a selector for each of its expressions, with the expression's fingerprint."""


def fingerprint(expression) -> str:
    """The expression's source text, whitespace included, hashed."""
    return hashlib.sha1(expression.path.encode("utf-8")).hexdigest()[:16]


def _plan() -> list[tuple[list, list]]:
    """(trafilatura's list, the same list with every expression we have a selector for replaced by it)."""
    from trafilatura import xpaths

    plan = []
    for name, selectors in SELECTORS.items():
        original = getattr(xpaths, name, None)
        if not isinstance(original, list):
            continue
        replaced = list(original)
        for i, expression in enumerate(original):
            if i < len(selectors) and hasattr(expression, "path") and fingerprint(expression) == selectors[i].source_hash:
                replaced[i] = selectors[i]
        plan.append((original, replaced))
    return plan


_PLAN: list[tuple[list, list]] | None = None


def _the_plan() -> list[tuple[list, list]]:
    global _PLAN
    if _PLAN is None:
        _PLAN = _plan()
    return _PLAN


def coverage() -> tuple[int, int]:
    """(expressions replaced, expressions we have selectors for) in the installed trafilatura."""
    replaced = sum(a is not b for original, fast in _the_plan() for a, b in zip(original, fast))
    return replaced, sum(map(len, SELECTORS.values()))


@contextmanager
def fast_selectors(wrap: Callable | None = None):
    """trafilatura with the selectors in place of its expressions, for the block. Its modules share the lists
    (``from .xpaths import ...``), so their contents are swapped in place and restored after.
    ``wrap(expression, selector)``, if given, builds what goes in instead (the tests run both and compare)."""
    plan = _the_plan()
    saved = [list(original) for original, _ in plan]
    try:
        for original, fast in plan:
            original[:] = fast if wrap is None else [f if f is o else wrap(o, f) for o, f in zip(list(original), fast)]
        yield
    finally:
        for (original, _), before in zip(plan, saved):
            original[:] = before


# --- the parser -------------------------------------------------------------------------------------

_PARSER_LINE = (
    'HTML_PARSER = HTMLParser(collect_ids=False, default_doctype=False, encoding="utf-8", remove_comments=True, remove_pis=True)'
)
_PARSER = None


def _parser():
    """trafilatura's HTML parser with its options, but lxml's plain ``HtmlElement`` for every element, chosen in C.
    ``lxml.html``'s own lookup is a Python method called for every element proxy trafilatura touches; it returns
    the same class but for form controls (``FormElement``, ``InputElement``, ...), whose extras trafilatura never
    uses. None where trafilatura's parser is not the one this mirrors."""
    global _PARSER
    if _PARSER is None:
        from lxml import html
        from trafilatura import utils

        mirrored = _PARSER_LINE in inspect.getsource(utils) and isinstance(getattr(utils, "HTML_PARSER", None), html.HTMLParser)
        parser = html.HTMLParser(collect_ids=False, default_doctype=False, encoding="utf-8", remove_comments=True, remove_pis=True)
        parser.set_element_class_lookup(
            etree.ElementDefaultClassLookup(element=html.HtmlElement, comment=html.HtmlComment, pi=html.HtmlProcessingInstruction)
        )
        _PARSER = parser if mirrored else False
    return _PARSER or None


@contextmanager
def fast_parser():
    """trafilatura parsing pages with ``_parser()``, for the block."""
    from trafilatura import utils

    parser = _parser()
    if parser is None:
        yield False
        return
    original = utils.HTML_PARSER
    utils.HTML_PARSER = parser
    try:
        yield True
    finally:
        utils.HTML_PARSER = original


# --- the fallback gate ------------------------------------------------------------------------------

_CASCADE_SOURCE_HASH = "0403601160963820"  # trafilatura.core._extract_and_compare, as mirrored below
_COMPARE_PARAMETERS = ["cleaned_tree", "raw_tree", "body", "text", "options"]


_CASCADE = None


def _cascade():
    """trafilatura's ``core`` module where its first two extraction stages are the ones mirrored by
    ``gated_fallbacks``; else None. Checked once per process (reading the source takes a millisecond)."""
    global _CASCADE
    if _CASCADE is None:
        _CASCADE = _mirrored_cascade() or False
    return _CASCADE or None


def _mirrored_cascade():
    from trafilatura import core, external

    names = ("_extract_and_compare", "extract_content", "compare_extraction", "copy")
    if not all(hasattr(core, name) for name in names) or not hasattr(external, "SANITIZED_XPATH"):
        return None
    if hashlib.sha1(inspect.getsource(core._extract_and_compare).encode("utf-8")).hexdigest()[:16] != _CASCADE_SOURCE_HASH:
        return None
    if list(inspect.signature(core.compare_extraction).parameters) != _COMPARE_PARAMETERS:
        return None
    return core


def doubtful(body, text: str, below_chars: int) -> bool:
    """Whether trafilatura's own extraction could be replaced by a fallback for a reason other than length:
    empty or short, no paragraph text, more tables than paragraphs (its ``_prefer_readability``), or elements
    that send it to justext (``SANITIZED_XPATH``)."""
    from trafilatura.external import SANITIZED_XPATH

    return (
        len(text) < below_chars
        or not body.xpath(".//p//text()")
        or len(body.findall(".//table")) > len(body.findall(".//p"))
        or bool(body.xpath(SANITIZED_XPATH))
    )


@contextmanager
def gated_fallbacks(below_chars: int):
    """trafilatura comparing its extraction with readability and justext only when ``doubtful``; the copy of
    the page the comparison works on is then made only when it runs."""
    core = _cascade()
    if core is None:
        yield False
        return
    original = core._extract_and_compare

    def extract_and_compare_if_doubtful(cleaned_tree, cleaned_tree_backup, tree, options):
        body, text = core.extract_content(cleaned_tree, options)
        if not options.fast and doubtful(body, text, below_chars):
            body, text = core.compare_extraction(cleaned_tree_backup, core.copy(tree), body, text, options)
        return body, text

    core._extract_and_compare = extract_and_compare_if_doubtful
    try:
        yield True
    finally:
        core._extract_and_compare = original


@contextmanager
def accelerated(exact: bool = True, fallback_below_chars: int | None = None):
    """trafilatura with the selectors and the parser (``exact``) and the fallback gate (``fallback_below_chars``
    not None)."""
    with ExitStack() as stack:
        if exact:
            stack.enter_context(fast_selectors())
            stack.enter_context(fast_parser())
        if fallback_below_chars is not None:
            stack.enter_context(gated_fallbacks(fallback_below_chars))
        yield
