"""The content plan of the sample crawl: every page and response it holds (articles in several
charsets, exact and near duplicates, repeated paragraphs, planted benchmark items, spam, non-HTML
and error responses, articles kept for malformed records), as typed records.

``build_plan`` runs small phases over one seeded RNG; the order of the phases and of the draws
inside them is part of the sample's bytes.  ``warcgen`` lays the plan out in files.
"""

from __future__ import annotations

import random
import re
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from functools import cache
from http import HTTPStatus

from . import resources
from .compose import CJK_LANGS, Article, Composer, jaccard, near_duplicate, shingles, text_size, topics_for
from .domaingen import benchmark_item, planted_text
from .domaintext import WEB_PLANTED_ITEMS
from .formats import http_date, sha1_b32
from .pages import (
    SPAM_PAGES,
    cookie_consent_js,
    error_page,
    json_bytes,
    pdf_bytes,
    png_bytes,
    redirect_page,
    render_article_page,
    site_css,
    slugify,
    spam_page,
)
from .textbank import language, news_sites

# number of distinct articles per language
ARTICLES = {"en": 100, "zh": 45, "de": 5, "fr": 5, "es": 5, "ja": 5, "ru": 5}

SERVERS = ["nginx", "nginx/1.18.0", "Apache", "Apache/2.4.57 (Debian)", "cloudflare", "openresty", "Tengine",
           "Microsoft-IIS/10.0", "LiteSpeed"]
SECTIONS = {"local": "local", "sports": "sports", "tech": "technology", "science": "science",
            "business": "business", "culture": "culture", "economy": "finance", "health": "health",
            "general": "news"}
ARTICLE_PATHS = {  # how each language's news sites lay out article URLs
    "en": "/{section}/{y}/{m}/{d}/{slug}-{aid}",
    "zh": "/{section}/{y}{m}{d}/{aid}.html",
    "de": "/region/{slug}-{aid}.html",
    "fr": "/actualites/{slug}_{aid}",
    "es": "/noticias/{y}/{m}/{d}/{slug}-{aid}.html",
    "ja": "/articles/{y}{m}{d}-{aid}",
    "ru": "/news/{aid}/",
}

TECH_SITE = "www.techbeat-weekly.com"  # carries about half of the English tech articles and no others
SPAM_HOSTS = {
    "keyword_stuffing": "www.cheap-flights-hotels-deals.biz",
    "repeated_lines": "megasale-outlet-store.shop",
    "link_farm": "www.top-casino-links-2024.info",
    "lorem_ipsum": "www.new-site-under-construction.net",
    "very_short": "comingsoon.brightlaunch.io",
    "random_chars": "x7qz-k2mv.xyz",
    "symbol_heavy": "win-prizes-now.top",
    "javascript_wall": "app.portal-dashboard.net",
    "keyword_stuffing_zh": "www.gaoqing-dianying-xiazai.cc",
}
SPAM_AT_SITE_ROOT = ("very_short", "javascript_wall")
SPAM_PATHS = ["index.html", "deals/", "page/1/", "home.php"]


@dataclass(frozen=True)
class Charset:
    """How a page is encoded and what declares it (HTTP header, meta tag, both or neither)."""

    variant: str  # the manifest's name for this combination
    encoding: str  # the true encoding (a Python codec name)
    http_content_type: str
    meta_charset: str | None
    meta_style: str | None  # html5 (<meta charset>) or http-equiv


def utf8_declared(http_content_type: str = "text/html; charset=utf-8") -> Charset:
    """The usual page: UTF-8, declared in the HTTP header and by ``<meta charset>``."""
    return Charset("utf8_declared", "utf-8", http_content_type, "utf-8", "html5")


# Pages in other charsets: the first articles of their language get them, in this order.
CHARSET_VARIANTS = {
    "zh": [Charset("gbk_declared", "gbk", "text/html; charset=gbk", "gbk", "html5"),
           Charset("gbk_declared", "gbk", "text/html; charset=GBK", "gbk", "http-equiv"),
           Charset("gbk_declared", "gbk", "text/html; charset=gbk", "gbk", "html5"),
           Charset("gb18030_http_only", "gb18030", "text/html; charset=GB18030", None, None),
           Charset("gbk_meta_only", "gbk", "text/html", "gbk", "http-equiv")],
    "de": [Charset("latin1_undeclared", "iso-8859-1", "text/html", None, None)],
    "fr": [Charset("cp1252_declared_utf8", "windows-1252", "text/html; charset=utf-8", "utf-8", "html5")],
    "ru": [Charset("cp1251_http_only", "windows-1251", "text/html; charset=windows-1251", None, None)],
    "ja": [Charset("shift_jis_meta_only", "shift_jis", "text/html", "Shift_JIS", "html5")],
}

# Articles that syndication partners copy with edits (the ones right after the charset variants):
# how many per language, and the range their length is drawn from.
NEAR_DUPLICATE_BASES = {"en": (5, (340, 440)), "zh": (2, (620, 800))}
BOILERPLATE_SHARE = {"en": 0.4, "zh": 0.35}  # of the UTF-8 articles that get a repeated paragraph


@dataclass(frozen=True)
class Malformation:
    description: str
    expected_symptom: str


@cache
def malformations() -> dict[str, Malformation]:
    """The malformed records, in planting order (``data/malformations.yaml``): the first three go to the
    first "bad" file, the next three to the second; ``truncated_last_member`` ends the last gzip file."""
    return {kind: Malformation(**text) for kind, text in resources.yaml_data("malformations.yaml").items()}


# ---------------------------------------------------------------------------------------------
# Records of the plan
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Site:
    host: str
    name: str
    lang: str
    ip: str
    server: str


@dataclass
class ArticlePage:
    """An article on a news site before it becomes a fetch; rendered again when its text changes."""

    article: Article
    site: Site
    url: str
    charset: Charset
    near_duplicate_base: bool = False
    near_duplicate_of: str | None = None
    malformation: str | None = None
    benchmark_item: str | None = None
    sidebar: list[tuple[str, str]] = field(default_factory=list)  # (url, headline) of the site's other pages
    body: bytes = b""

    def render(self) -> None:
        html = render_article_page(
            lang=self.article.lang, site_name=self.site.name, host=self.site.host, article=self.article,
            sidebar=self.sidebar, meta_charset=self.charset.meta_charset, meta_style=self.charset.meta_style or "html5")
        self.body = html.encode(self.charset.encoding)


@dataclass(frozen=True)
class PageLocation:
    file: str
    record_index: int
    offset: int
    warc_date: str


@dataclass(frozen=True)
class PageInfo:
    """What the manifest says about one HTML page with status 200 (``pages[]``), less where it lies."""

    url: str
    kind: str  # article, exact_duplicate, near_duplicate or spam
    lang: str | None
    topic: str | None
    site: str
    title: str
    charset: str
    charset_variant: str
    http_charset: str | None
    meta_charset: str | None
    size: int
    size_unit: str
    paragraphs: int | None  # None for spam pages, which are not articles
    boilerplate: list[int]  # indexes into the plan's repeated paragraphs
    expected_quality: str  # good, low or malformed
    payload_digest: str
    spam_kind: str | None = None
    duplicate_of: str | None = None
    near_duplicate_of: str | None = None
    malformed: str | None = None
    benchmark_item: str | None = None

    def manifest_entry(self, location: PageLocation) -> dict:
        """The ``pages[]`` entry; its key order is part of the manifest's bytes."""
        entry = {"url": self.url, "kind": self.kind}
        if self.spam_kind is not None:
            entry["spam_kind"] = self.spam_kind
        entry.update(lang=self.lang, topic=self.topic, site=self.site, title=self.title, charset=self.charset,
                     charset_variant=self.charset_variant, http_charset=self.http_charset,
                     meta_charset=self.meta_charset, size=self.size, size_unit=self.size_unit)
        if self.paragraphs is not None:
            entry["paragraphs"] = self.paragraphs
        entry.update(boilerplate=self.boilerplate, expected_quality=self.expected_quality,
                     payload_digest=self.payload_digest)
        if self.duplicate_of is not None:
            entry["duplicate_of"] = self.duplicate_of
        if self.near_duplicate_of is not None:
            entry["near_duplicate_of"] = self.near_duplicate_of
        # `benchmark_item` follows `malformed`, except on a page that carries a planted item, which names
        # it first (assigning an existing key keeps its place)
        if self.benchmark_item is not None:
            entry["benchmark_item"] = self.benchmark_item
        entry["malformed"] = self.malformed
        entry["benchmark_item"] = self.benchmark_item
        entry.update(asdict(location))
        return entry


@dataclass
class Fetch:
    """One HTTP exchange, written as request + response + metadata records."""

    key: str
    url: str
    status: int
    reason: str
    content_type: str | None
    body: bytes
    ident: str  # WARC-Identified-Payload-Type
    ip: str
    server: str
    lang_hint: str = "en"
    extra_headers: list[tuple[str, str]] = field(default_factory=list)
    page: PageInfo | None = None  # for HTML pages with status 200
    kind: str = "page"  # page, nonhtml, error or redirect
    malform: str | None = None
    full_length: int | None = None  # the HTTP Content-Length of a truncated body


@dataclass(frozen=True)
class RepeatedParagraph:
    lang: str
    text: str


@dataclass(frozen=True)
class ExactDuplicate:
    original: str
    duplicates: list[str]
    payload_digest: str


@dataclass(frozen=True)
class NearDuplicate:
    original: str
    variant: str
    lang: str
    edits: list[str]
    jaccard_5gram: float


@dataclass(frozen=True)
class PlantedItem:
    """A benchmark item planted in a web page (the manifest's ``benchmark.planted[]``)."""

    item: str
    where: str
    url: str
    lang: str


@dataclass
class Plan:
    """What the crawl holds, ready to be laid out in files."""

    fetches: list[Fetch]  # the well-formed fetches, which the layout spreads over the files
    malformed: list[Fetch]  # placed in the middle of their files
    truncated_last: Fetch  # ends the last gzip file
    revisit_count: int
    exact_duplicates: list[ExactDuplicate]
    near_duplicates: list[NearDuplicate]
    repeated_paragraphs: list[RepeatedParagraph]
    sites: dict[str, Site]
    benchmark_pages: list[PlantedItem]


# ---------------------------------------------------------------------------------------------
# Phases
# ---------------------------------------------------------------------------------------------

class _Draws:
    """The content RNG and what the plan has handed out so far: sites, IP addresses, article ids."""

    def __init__(self, seed: int):
        self.rng = random.Random(f"teleflm-sample/{seed}/content")
        self.composer = Composer(self.rng)
        self._ips: set[str] = set()
        self._article_ids: set[int] = set()
        self.sites = {s.host: Site(s.host, s.name, s.lang, self.new_ip(), self.rng.choice(SERVERS))
                      for s in news_sites()}
        self._sites_by_lang: dict[str, list[Site]] = {}
        for site in self.sites.values():
            self._sites_by_lang.setdefault(site.lang, []).append(site)

    def new_ip(self) -> str:
        while True:
            ip = f"{self.rng.choice(['192.0.2', '198.51.100', '203.0.113'])}.{self.rng.randint(2, 254)}"
            if ip not in self._ips:
                self._ips.add(ip)
                return ip

    def pick_site(self, lang: str, topic: str, exclude: str | None = None) -> Site:
        cands = [s for s in self._sites_by_lang[lang] if s.host != exclude]
        if lang == "en":
            tech = [s for s in cands if s.host == TECH_SITE]
            if topic == "tech" and tech and self.rng.random() < 0.5:
                return tech[0]
            cands = [s for s in cands if s.host != TECH_SITE] or cands
        return self.rng.choice(cands)

    def article_url(self, site: Site, article: Article) -> str:
        while True:
            aid = self.rng.randint(100000, 999999)
            if aid not in self._article_ids:
                self._article_ids.add(aid)
                break
        y, m, d = article.published.split("-")
        path = ARTICLE_PATHS[article.lang].format(section=SECTIONS.get(article.topic, "news"), y=y, m=m, d=d,
                                                 slug=slugify(article.headline), aid=aid)
        return f"https://{site.host}{path}"


def _compose_articles(draws: _Draws) -> list[ArticlePage]:
    """The distinct articles of every language, topics in turn: the first of a language get its charset
    variants, the next become near-duplicate bases (composed longer), the rest are plain UTF-8 pages."""
    rng = draws.rng
    pages = []
    for lang, count in ARTICLES.items():
        topics = topics_for(lang)
        variants = CHARSET_VARIANTS.get(lang, [])
        n_bases, base_size = NEAR_DUPLICATE_BASES.get(lang, (0, None))
        for i in range(count):
            variant = variants[i] if i < len(variants) else None
            is_base = len(variants) <= i < len(variants) + n_bases
            target = rng.randint(*base_size) if is_base else None
            encoding = variant.encoding if variant else "utf-8"
            article = draws.composer.article(lang, topic=topics[i % len(topics)], target=target,
                                             encoding=None if encoding == "utf-8" else encoding)
            site = draws.pick_site(lang, article.topic)
            url = draws.article_url(site, article)
            charset = variant or utf8_declared(rng.choice(["text/html; charset=utf-8", "text/html; charset=UTF-8"]))
            pages.append(ArticlePage(article, site, url, charset, near_duplicate_base=is_base))
    return pages


def _append_boilerplate(rng: random.Random, pages: list[ArticlePage]) -> list[RepeatedParagraph]:
    """Newsletter blurbs, disclaimers and newsroom bios appended to many English and Chinese UTF-8
    articles, so that paragraph-level deduplication has repeated paragraphs to remove; returns them all."""
    for page in pages:
        share = BOILERPLATE_SHARE.get(page.article.lang)
        if share is not None and page.charset.encoding == "utf-8" and rng.random() < share:
            page.article.extra.append(rng.choice(language(page.article.lang).boilerplate))
    return [RepeatedParagraph(lang, text) for lang in BOILERPLATE_SHARE for text in language(lang).boilerplate]


def _syndicate_near_duplicates(draws: _Draws,
                               pages: list[ArticlePage]) -> tuple[list[ArticlePage], list[NearDuplicate]]:
    """Copies of the near-duplicate bases on other sites (two of the first, one of each other), each
    with a sentence dropped, a number changed, words replaced and a republication note."""
    copies, records = [], []
    bases = [p for p in pages if p.near_duplicate_base]
    for k, base in enumerate(bases):
        for _ in range(2 if k == 0 else 1):
            original = base.article
            site = draws.pick_site(original.lang, original.topic, exclude=base.site.host)
            variant, edits = near_duplicate(original, draws.rng, base.site.name)
            url = draws.article_url(site, variant)
            copies.append(ArticlePage(variant, site, url, utf8_declared(), near_duplicate_of=base.url))
            similarity = jaccard(shingles(original.lang, "\n".join(original.paragraph_texts())),
                                 shingles(original.lang, "\n".join(variant.paragraph_texts())))
            records.append(NearDuplicate(base.url, url, original.lang, edits, round(similarity, 4)))
    return copies, records


def _compose_malformed_articles(draws: _Draws) -> list[ArticlePage]:
    """One article for each malformed record (English, the second of every three Chinese), not counted
    among the distinct articles."""
    pages = []
    for j, kind in enumerate(malformations()):
        lang = "zh" if j % 3 == 1 else "en"
        article = draws.composer.article(lang)
        site = draws.pick_site(lang, article.topic)
        pages.append(ArticlePage(article, site, draws.article_url(site, article), utf8_declared(), malformation=kind))
    return pages


def _render_with_sidebars(pages: list[ArticlePage]) -> None:
    """Every page's HTML; its "most read" sidebar links up to five other pages of the same site."""
    per_site: dict[str, list[ArticlePage]] = {}
    for page in pages:
        per_site.setdefault(page.site.host, []).append(page)
    for group in per_site.values():
        for idx, page in enumerate(group):
            others = [group[(idx + k) % len(group)] for k in range(1, min(6, len(group)))]
            page.sidebar = [(o.url, o.article.headline) for o in others]
            page.render()


def _page_info(page: ArticlePage, repeated: list[RepeatedParagraph]) -> PageInfo:
    art = page.article
    boiler_index = {p.text: i for i, p in enumerate(repeated)}
    http_charset = re.search(r"charset=([\w-]+)", page.charset.http_content_type)
    return PageInfo(
        url=page.url, kind="near_duplicate" if page.near_duplicate_of else "article", lang=art.lang, topic=art.topic,
        site=page.site.host, title=art.headline, charset=page.charset.encoding, charset_variant=page.charset.variant,
        http_charset=http_charset.group(1) if http_charset else None, meta_charset=page.charset.meta_charset,
        size=art.size(), size_unit="chars" if art.lang in CJK_LANGS else "words",
        paragraphs=len(art.paragraph_texts()), boilerplate=[boiler_index[t] for t in art.extra if t in boiler_index],
        expected_quality="malformed" if page.malformation else "good", payload_digest=sha1_b32(page.body),
        near_duplicate_of=page.near_duplicate_of, malformed=page.malformation, benchmark_item=page.benchmark_item)


def _article_fetch(draws: _Draws, page: ArticlePage, key: str, repeated: list[RepeatedParagraph]) -> Fetch:
    """The fetch of an article page; some responses say the crawler got them gzipped, some carry a
    Last-Modified header on the publication day."""
    rng = draws.rng
    extra = []
    if rng.random() < 0.4:
        extra.append(("X-Crawler-Content-Encoding", "gzip"))
    if rng.random() < 0.5:
        modified = datetime.fromisoformat(page.article.published).replace(
            hour=rng.randint(6, 20), minute=rng.randint(0, 59), tzinfo=timezone.utc)
        extra.append(("Last-Modified", http_date(modified)))
    return Fetch(key=key, url=page.url, status=200, reason="OK", content_type=page.charset.http_content_type,
                 body=page.body, ident="text/html", ip=page.site.ip, server=page.site.server,
                 lang_hint=page.article.lang, extra_headers=extra, page=_page_info(page, repeated))


def _mirror_url(url: str) -> str:
    return url.replace("https://www.", "https://mirror.", 1).replace("https://news.", "https://mirror.", 1)


# (language, which of its UTF-8 articles the original is drawn from, how the copies' URLs are made)
EXACT_DUPLICATES = (
    ("en", slice(0, 30), (lambda u: u + "?utm_source=newsletter&utm_medium=email",
                          lambda u: u.replace("https://", "http://", 1))),
    ("en", slice(30, 60), (_mirror_url,)),
    ("zh", slice(None), (lambda u: u + "?from=timeline&isappinstalled=0",)),
    ("en", slice(60, None), (lambda u: u + "?page=1", lambda u: u + "/amp")),
)


def _exact_duplicates(rng: random.Random, originals: list[Fetch]) -> tuple[list[Fetch], list[ExactDuplicate]]:
    """Articles served again, byte-identical, under other URLs (tracking parameters, plain http, a
    mirror host, /amp)."""
    picks = [rng.choice([f for f in originals if f.page.lang == lang][which]) for lang, which, _ in EXACT_DUPLICATES]
    fetches, records = [], []
    for d, (orig, (_, _, make_urls)) in enumerate(zip(picks, EXACT_DUPLICATES)):
        urls = [make_url(orig.url) for make_url in make_urls]
        for u_i, url in enumerate(urls):
            page = replace(orig.page, url=url, kind="exact_duplicate", duplicate_of=orig.url)
            fetches.append(Fetch(key=f"dup-{d}-{u_i}", url=url, status=200, reason="OK",
                                 content_type=orig.content_type, body=orig.body, ident="text/html", ip=orig.ip,
                                 server=orig.server, lang_hint=orig.lang_hint, page=page))
        records.append(ExactDuplicate(orig.url, urls, orig.page.payload_digest))
    return fetches, records


def _plant_benchmark_items(seed: int, pages: list[ArticlePage], fetches: list[Fetch], copied: set[str],
                           repeated: list[RepeatedParagraph]) -> list[PlantedItem]:
    """Benchmark items, as one paragraph, in UTF-8 articles that no page copies, so that each occurs
    exactly once in the crawl and decontamination has real work; ``fetches[n]`` is the fetch of
    ``pages[n]``."""
    rng = random.Random(f"teleflm-sample/{seed}/benchmark")
    copied = set(copied)
    planted = []
    for item_id in WEB_PLANTED_ITEMS:
        lang = benchmark_item(item_id)["lang"]
        cands = [n for n, p in enumerate(pages) if not p.near_duplicate_base and p.charset.encoding == "utf-8"
                 and p.article.lang == lang and p.url not in copied]
        n = rng.choice(cands)
        page = pages[n]
        page.article.paragraphs.insert(min(2, len(page.article.paragraphs)), [planted_text(item_id)])
        page.benchmark_item = item_id
        page.render()
        fetches[n].body = page.body
        fetches[n].page = _page_info(page, repeated)
        copied.add(page.url)
        planted.append(PlantedItem(item_id, "web_page", page.url, lang))
    return planted


def _spam_fetches(draws: _Draws) -> list[Fetch]:
    """Low-quality pages on hosts of their own, which the quality stage should drop."""
    rng = draws.rng
    fetches = []
    for kind in SPAM_PAGES:
        spam = spam_page(kind, rng)
        host = SPAM_HOSTS[kind]
        url = f"https://{host}/" + ("" if kind in SPAM_AT_SITE_ROOT else rng.choice(SPAM_PATHS))
        body = spam.html.encode("utf-8")
        page = PageInfo(
            url=url, kind="spam", spam_kind=kind, lang=spam.lang, topic=None, site=host,
            title=re.search(r"<title>(.*?)</title>", spam.html).group(1), charset="utf-8",
            charset_variant="utf8_declared", http_charset="utf-8", meta_charset="utf-8",
            size=text_size(spam.lang or "en", re.sub(r"<[^>]+>", " ", spam.html)),
            size_unit="chars" if spam.lang in CJK_LANGS else "words", paragraphs=None, boilerplate=[],
            expected_quality="low", payload_digest=sha1_b32(body))
        fetches.append(Fetch(key=f"spam-{kind}", url=url, status=200, reason="OK",
                             content_type="text/html; charset=utf-8", body=body, ident="text/html",
                             ip=draws.new_ip(), server=rng.choice(SERVERS), lang_hint=spam.lang or "en", page=page))
    return fetches


def _site_response(site: Site, path: str, status: int, content_type: str, body: bytes,
                   location: str | None = None) -> Fetch:
    kind = "nonhtml" if status == 200 else "redirect" if location else "error"
    return Fetch(key=f"{kind}-{site.host}{path}", url=f"https://{site.host}{path}", status=status,
                 reason=HTTPStatus(status).phrase, content_type=content_type, body=body,
                 ident=content_type.split(";")[0], ip=site.ip, server=site.server, lang_hint=site.lang,
                 extra_headers=[("Location", location)] if location else [], kind=kind)


def _non_html_fetches(sites: dict[str, Site], seed: int, en_originals: list[Fetch]) -> list[Fetch]:
    """Responses on the news sites that are not article pages: documents, images, an API response,
    static files, error pages and redirects."""
    html = "text/html; charset=utf-8"
    latest = json_bytes("www.techbeat-weekly.com", [(f.url, f.page.title) for f in en_originals[:6]])
    millbrook_home, minsheng_news = "https://www.millbrook-courier.com/", "https://www.minsheng-ribao.cn/news/"
    return [
        _site_response(sites["www.lakemont-herald.org"], "/files/annual-report-2023.pdf", 200, "application/pdf",
                       pdf_bytes("Lakemont Herald Annual Report 2023")),
        _site_response(sites["www.jiangnan-zaobao.cn"], "/uploads/2024/02/notice-0215.pdf", 200, "application/pdf",
                       pdf_bytes("Public notice 2024-02-15")),
        _site_response(sites["www.millbrook-courier.com"], "/static/img/logo.png", 200, "image/png",
                       png_bytes(24, 16, seed)),
        _site_response(sites["news.xinzhi-wang.com.cn"], "/images/banner-2024.png", 200, "image/png",
                       png_bytes(32, 8, seed + 1)),
        _site_response(sites["www.techbeat-weekly.com"], "/api/v1/latest.json", 200, "application/json; charset=utf-8",
                       latest),
        _site_response(sites["www.harborview-gazette.com"], "/static/css/site.css", 200, "text/css", site_css()),
        _site_response(sites["www.riverton-daily.net"], "/static/js/cookie-consent.js", 200, "application/javascript",
                       cookie_consent_js()),
        _site_response(sites["www.northvale-chronicle.com"], "/news/2023/11/02/road-closure-update-118733", 404, html,
                       error_page(404, "Not Found").encode()),
        _site_response(sites["www.chengshi-kuaixun.com"], "/local/20231105/000000.html", 404, html,
                       error_page(404, "Not Found").encode()),
        _site_response(sites["www.kingsbridge-post.co.uk"], "/search?q=budget+vote", 500, html,
                       error_page(500, "Internal Server Error").encode()),
        _site_response(sites["www.millbrook-courier.com"], "/index.php?page=home", 301, html,
                       redirect_page(millbrook_home).encode(), location=millbrook_home),
        _site_response(sites["www.minsheng-ribao.cn"], "/news/old/2019/index.shtml", 301, html,
                       redirect_page(minsheng_news).encode(), location=minsheng_news),
    ]


def _malformed_fetches(draws: _Draws, pages: list[ArticlePage], repeated: list[RepeatedParagraph]) -> list[Fetch]:
    """The fetches that will be written as malformed records; two of the defects are in the HTTP
    payload itself (a truncated body, broken chunked encoding), the others are made when writing."""
    fetches = []
    for page in pages:
        f = _article_fetch(draws, page, f"malformed-{page.malformation}", repeated)
        f.malform = page.malformation
        if f.malform == "truncated_http_body":
            f.full_length = len(f.body)
            cut = int(len(f.body) * 0.4)
            while f.body[cut - 1:cut] in (b">", b"<"):  # cut inside markup or text, not at a tag edge
                cut += 1
            lt = f.body.rfind(b"<", 0, cut)
            cut = lt + 3 if lt > 0 else cut  # mid-tag
            f.body = f.body[:cut]
        elif f.malform == "invalid_chunked_encoding":
            part = f.body[: len(f.body) // 2]
            f.body = b"%x\r\n" % (len(f.body) + 4096) + part + b"\r\nthis is not a chunk size\r\n" + f.body[len(part):]
            f.extra_headers = [h for h in f.extra_headers if h[0] != "X-Crawler-Content-Encoding"]
        fetches.append(f)
    return fetches


def build_plan(seed: int) -> Plan:
    draws = _Draws(seed)
    articles = _compose_articles(draws)
    repeated = _append_boilerplate(draws.rng, articles)
    near_copies, near_duplicates = _syndicate_near_duplicates(draws, articles)
    malformed_articles = _compose_malformed_articles(draws)
    _render_with_sidebars(articles + near_copies + malformed_articles)

    fetches = [_article_fetch(draws, page, f"{page.article.lang}-{n:03d}", repeated) for n, page in enumerate(articles)]
    originals = [f for f, page in zip(fetches, articles)
                 if page.charset.encoding == "utf-8" and not page.near_duplicate_base]
    fetches += [_article_fetch(draws, page, f"near-{n}", repeated) for n, page in enumerate(near_copies)]
    duplicate_fetches, exact_duplicates = _exact_duplicates(draws.rng, originals)
    benchmark_pages = _plant_benchmark_items(seed, articles, fetches, {d.original for d in exact_duplicates}, repeated)
    fetches += duplicate_fetches
    fetches += _spam_fetches(draws)
    fetches += _non_html_fetches(draws.sites, seed, [f for f in originals if f.page.lang == "en"])

    malformed = _malformed_fetches(draws, malformed_articles, repeated)
    truncated_last = malformed.pop()
    assert truncated_last.malform == "truncated_last_member"  # the last kind of malformations()
    return Plan(fetches=fetches, malformed=malformed, truncated_last=truncated_last, revisit_count=2,
                exact_duplicates=exact_duplicates, near_duplicates=near_duplicates, repeated_paragraphs=repeated,
                sites=draws.sites, benchmark_pages=benchmark_pages)
