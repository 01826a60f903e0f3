"""WARC assembly for the sample corpus: content plan, file layout, records, gzip members, malformations.

``build_corpus`` returns the bytes of every file plus the manifest; ``datapipe.sample.write_sample_corpus``
writes them.  See the package docstring for what is planted where.
"""

from __future__ import annotations

import base64
import hashlib
import io
import random
import re
import struct
import uuid
import zlib
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from . import compose as cp
from . import domaingen as dg
from . import domaintext as dt
from . import textbank as tb

GENERATOR_VERSION = 2
CRAWL_NAME = "TELEFLM-SAMPLE-2024-08"
CRAWL_START = datetime(2024, 2, 20, tzinfo=timezone.utc)
CRAWL_DAYS = 14
USER_AGENT = "TeleFLM-SampleBot/1.0 (synthetic sample crawl; datapipe.sample)"

# number of distinct articles per language
ARTICLES = {"en": 100, "zh": 45, "de": 5, "fr": 5, "es": 5, "ja": 5, "ru": 5}

# (charset variant, language, python codec / declared name, HTTP Content-Type, meta charset, meta style)
CHARSET_VARIANTS = [
    ("gbk_declared", "zh", "gbk", "text/html; charset=gbk", "gbk", "html5"),
    ("gbk_declared", "zh", "gbk", "text/html; charset=GBK", "gbk", "http-equiv"),
    ("gbk_declared", "zh", "gbk", "text/html; charset=gbk", "gbk", "html5"),
    ("gb18030_http_only", "zh", "gb18030", "text/html; charset=GB18030", None, None),
    ("gbk_meta_only", "zh", "gbk", "text/html", "gbk", "http-equiv"),
    ("latin1_undeclared", "de", "iso-8859-1", "text/html", None, None),
    ("cp1252_declared_utf8", "fr", "windows-1252", "text/html; charset=utf-8", "utf-8", "html5"),
    ("cp1251_http_only", "ru", "windows-1251", "text/html; charset=windows-1251", None, None),
    ("shift_jis_meta_only", "ja", "shift_jis", "text/html", "Shift_JIS", "html5"),
]

# Malformed records, in planting order.  The first three go to the first "bad" file, the next three to
# the second (see _malformed_targets); "truncated_last_member" always ends the last gzip file.
MALFORMATIONS = {
    "content_length_too_short": (
        "WARC Content-Length is 400 bytes smaller than the record block; the rest of the block is left "
        "inside the same gzip member",
        "warcio reads a short block, warns 'Record not followed by newline' and then fails to parse the "
        "left-over bytes as the next record (ArchiveLoadFailed); the next gzip member is intact"),
    "corrupt_gzip_member": (
        "32 bytes in the middle of the record's deflate stream are XOR-ed with 0xA5",
        "zlib raises an error (invalid data or CRC mismatch) inside this member; the next member is intact"),
    "broken_http_headers": (
        "the HTTP header block has status line 'HTTP/1.1 2OO 0K' (letters O), header lines without a colon "
        "and a line of binary junk; the WARC headers and Content-Length are correct",
        "warcio parses the record but the HTTP status code is not numeric"),
    "content_length_too_long": (
        "WARC Content-Length is 2048 bytes larger than the record block (the gzip member ends early)",
        "warcio returns a block shorter than the declared Content-Length"),
    "truncated_http_body": (
        "HTTP Content-Length announces the full page but only ~40% of the HTML is present (cut mid-tag); no "
        "WARC-Truncated header",
        "the payload is shorter than the HTTP Content-Length and has no closing </html>"),
    "invalid_chunked_encoding": (
        "'Transfer-Encoding: chunked' with a first chunk size larger than the data that follows and no "
        "terminating 0-size chunk",
        "strict chunked decoding raises ChunkedDataException; warcio's lenient reader falls back to raw bytes"),
    "truncated_last_member": (
        "the file's last record (a response) is cut off after ~55% of its gzip member; no bytes follow",
        "the gzip member has no end-of-stream and the record block is shorter than its Content-Length"),
}

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
SERVERS = ["nginx", "nginx/1.18.0", "Apache", "Apache/2.4.57 (Debian)", "cloudflare", "openresty", "Tengine",
           "Microsoft-IIS/10.0", "LiteSpeed"]
ACCEPT_LANGUAGE = {"en": "en-US,en;q=0.8", "zh": "zh-CN,zh;q=0.9,en;q=0.5", "de": "de-DE,de;q=0.9,en;q=0.5",
                   "fr": "fr-FR,fr;q=0.9,en;q=0.5", "es": "es-ES,es;q=0.9,en;q=0.5", "ja": "ja,en;q=0.5",
                   "ru": "ru-RU,ru;q=0.9,en;q=0.5"}
SECTIONS = {"local": "local", "sports": "sports", "tech": "technology", "science": "science",
            "business": "business", "culture": "culture", "economy": "finance", "health": "health",
            "general": "news"}


def sha1_b32(data: bytes) -> str:
    return "sha1:" + base64.b32encode(hashlib.sha1(data).digest()).decode("ascii")


def gzip_member(data: bytes) -> bytes:
    """One gzip member with a fixed header (no name, mtime 0, XFL 2, OS 255) so the bytes are reproducible."""
    comp = zlib.compressobj(9, zlib.DEFLATED, -15, 9)
    deflated = comp.compress(data) + comp.flush()
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    return header + deflated + struct.pack("<II", zlib.crc32(data) & 0xFFFFFFFF, len(data) & 0xFFFFFFFF)


def gzip_member_ok(member: bytes) -> bool:
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        d.decompress(member)
        d.flush()
    except zlib.error:
        return False
    return d.eof and not d.unused_data


def warc_date(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def http_date(dt: datetime) -> str:
    return format_datetime(dt, usegmt=True)


# ---------------------------------------------------------------------------------------------
# Content plan
# ---------------------------------------------------------------------------------------------

@dataclass
class Site:
    host: str
    name: str
    lang: str
    ip: str
    server: str


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
    extra_headers: list = field(default_factory=list)
    page: dict | None = None  # manifest entry for HTML pages
    kind: str = "page"  # page | nonhtml | error | redirect
    malform: str | None = None
    full_length: int | None = None  # for truncated_http_body


@dataclass
class Revisit:
    key: str
    original: Fetch


@dataclass
class Resource:
    key: str
    host: str
    ip: str


@dataclass
class Plan:
    fetches: list[Fetch]
    malformed: list[Fetch]
    truncated_last: Fetch
    revisit_count: int
    exact_duplicates: list[dict]
    near_duplicates: list[dict]
    boilerplate: list[dict]
    sites: dict
    benchmark_pages: list[dict]


class _Ids:
    def __init__(self, rng: random.Random):
        self.rng = rng

    def __call__(self) -> str:
        return f"<urn:uuid:{uuid.UUID(int=self.rng.getrandbits(128), version=4)}>"


def _ip(rng: random.Random, used: set) -> str:
    while True:
        ip = f"{rng.choice(['192.0.2', '198.51.100', '203.0.113'])}.{rng.randint(2, 254)}"
        if ip not in used:
            used.add(ip)
            return ip


def _article_path(lang: str, art: cp.Article, aid: int) -> str:
    y, m, d = art.published.split("-")
    section = SECTIONS.get(art.topic, "news")
    slug = cp.slugify(art.headline)
    if lang == "en":
        return f"/{section}/{y}/{m}/{d}/{slug}-{aid}"
    if lang == "zh":
        return f"/{section}/{y}{m}{d}/{aid}.html"
    if lang == "de":
        return f"/region/{slug}-{aid}.html"
    if lang == "fr":
        return f"/actualites/{slug}_{aid}"
    if lang == "es":
        return f"/noticias/{y}/{m}/{d}/{slug}-{aid}.html"
    if lang == "ja":
        return f"/articles/{y}{m}{d}-{aid}"
    return f"/news/{aid}/"


def build_plan(seed: int) -> Plan:
    rng = random.Random(f"teleflm-sample/{seed}/content")
    composer = cp.Composer(rng)
    used_ips: set = set()
    sites = {h: Site(h, n, lang, _ip(rng, used_ips), rng.choice(SERVERS)) for h, n, lang in tb.SITES}
    by_lang: dict[str, list[Site]] = {}
    for s in sites.values():
        by_lang.setdefault(s.lang, []).append(s)
    aids: set = set()

    def new_aid() -> int:
        while True:
            a = rng.randint(100000, 999999)
            if a not in aids:
                aids.add(a)
                return a

    def pick_site(lang: str, topic: str, exclude: str | None = None) -> Site:
        cands = [s for s in by_lang[lang] if s.host != exclude]
        if lang == "en":
            tech = [s for s in cands if s.host == "www.techbeat-weekly.com"]
            if topic == "tech" and tech and rng.random() < 0.5:
                return tech[0]
            cands = [s for s in cands if s.host != "www.techbeat-weekly.com"] or cands
        return rng.choice(cands)

    # --- articles -------------------------------------------------------------------------
    # Each entry: dict(article, site, url, encoding, http_ct, meta_charset, meta_style, charset_variant, role)
    entries: list[dict] = []
    variants_by_lang: dict[str, list] = {}
    for v in CHARSET_VARIANTS:
        variants_by_lang.setdefault(v[1], []).append(v)
    nd_bases = {"en": 5, "zh": 2}
    for lang, count in ARTICLES.items():
        topics = cp.topics_for(lang)
        for i in range(count):
            topic = topics[i % len(topics)]
            variant = variants_by_lang.get(lang, [])[i] if i < len(variants_by_lang.get(lang, [])) else None
            role = "article"
            target = None
            if variant is None and lang in nd_bases and len(variants_by_lang.get(lang, [])) <= i < len(
                    variants_by_lang.get(lang, [])) + nd_bases[lang]:
                role = "near_dup_base"
                target = rng.randint(340, 440) if lang == "en" else rng.randint(620, 800)
            enc = variant[2] if variant else "utf-8"
            art = composer.article(lang, topic=topic, target=target, encoding=None if enc == "utf-8" else enc)
            site = pick_site(lang, art.topic)
            e = {"article": art, "site": site, "url": f"https://{site.host}{_article_path(lang, art, new_aid())}",
                 "encoding": enc, "role": role}
            if variant:
                e.update(charset_variant=variant[0], http_ct=variant[3], meta_charset=variant[4],
                         meta_style=variant[5])
            else:
                e.update(charset_variant="utf8_declared", http_ct=rng.choice(
                    ["text/html; charset=utf-8", "text/html; charset=UTF-8"]), meta_charset="utf-8",
                    meta_style="html5")
            entries.append(e)

    # --- repeated boilerplate paragraphs inside article bodies --------------------------------
    boiler = ([{"lang": "en", "text": t} for t in tb.EN_BOILERPLATE]
              + [{"lang": "zh", "text": t} for t in tb.ZH_BOILERPLATE])
    for e in entries:
        art = e["article"]
        if art.lang == "en" and rng.random() < 0.4:
            art.extra.append(rng.choice(tb.EN_BOILERPLATE))
        elif art.lang == "zh" and e["encoding"] == "utf-8" and rng.random() < 0.35:
            art.extra.append(rng.choice(tb.ZH_BOILERPLATE))

    # --- near duplicates ---------------------------------------------------------------------
    near_entries: list[dict] = []
    near_meta: list[dict] = []
    bases = [e for e in entries if e["role"] == "near_dup_base"]
    plan_nd = [(b, 2 if k == 0 else 1) for k, b in enumerate(bases)]
    for base, copies in plan_nd:
        for _ in range(copies):
            art = base["article"]
            site = pick_site(art.lang, art.topic, exclude=base["site"].host)
            variant, edits = cp.near_duplicate(art, rng, base["site"].name)
            url = f"https://{site.host}{_article_path(art.lang, variant, new_aid())}"
            ne = {"article": variant, "site": site, "url": url, "encoding": "utf-8", "role": "near_duplicate",
                  "charset_variant": "utf8_declared", "http_ct": "text/html; charset=utf-8",
                  "meta_charset": "utf-8", "meta_style": "html5", "near_duplicate_of": base["url"]}
            near_entries.append(ne)
            a = cp.shingles(art.lang, "\n".join(art.paragraph_texts()))
            b = cp.shingles(art.lang, "\n".join(variant.paragraph_texts()))
            near_meta.append({"original": base["url"], "variant": url, "lang": art.lang, "edits": edits,
                              "jaccard_5gram": round(cp.jaccard(a, b), 4)})

    # --- extra articles that will be written as malformed records ------------------------------
    malformed_entries = []
    for j, mkind in enumerate(MALFORMATIONS):
        lang = "zh" if j % 3 == 1 else "en"
        art = composer.article(lang)
        site = pick_site(lang, art.topic)
        malformed_entries.append({"article": art, "site": site, "encoding": "utf-8", "role": "article",
                                  "url": f"https://{site.host}{_article_path(lang, art, new_aid())}",
                                  "charset_variant": "utf8_declared", "http_ct": "text/html; charset=utf-8",
                                  "meta_charset": "utf-8", "meta_style": "html5", "malform": mkind})

    # --- render HTML ---------------------------------------------------------------------------
    all_entries = entries + near_entries + malformed_entries
    per_site: dict[str, list[dict]] = {}
    for e in all_entries:
        per_site.setdefault(e["site"].host, []).append(e)
    for group in per_site.values():
        for idx, e in enumerate(group):
            others = [group[(idx + k) % len(group)] for k in range(1, min(6, len(group)))]
            e["sidebar"] = [(o["url"], o["article"].headline) for o in others]
            _render(e)

    boiler_index = {b["text"]: i for i, b in enumerate(boiler)}

    def page_info(e: dict, kind: str) -> dict:
        art = e["article"]
        http_cs = re.search(r"charset=([\w-]+)", e["http_ct"] or "")
        return {
            "url": e["url"], "kind": kind, "lang": art.lang, "topic": art.topic, "site": e["site"].host,
            "title": art.headline, "charset": e["encoding"], "charset_variant": e["charset_variant"],
            "http_charset": http_cs.group(1) if http_cs else None, "meta_charset": e["meta_charset"],
            "size": art.size(), "size_unit": "chars" if art.lang in cp.CJK_LANGS else "words",
            "paragraphs": len(art.paragraph_texts()),
            "boilerplate": [boiler_index[t] for t in art.extra if t in boiler_index],
            "expected_quality": "good", "payload_digest": sha1_b32(e["body"]),
        }

    def fetch_for(e: dict, kind: str, key: str) -> Fetch:
        site = e["site"]
        extra = []
        if rng.random() < 0.4:
            extra.append(("X-Crawler-Content-Encoding", "gzip"))
        if rng.random() < 0.5:
            extra.append(("Last-Modified", http_date(datetime.fromisoformat(e["article"].published).replace(
                hour=rng.randint(6, 20), minute=rng.randint(0, 59), tzinfo=timezone.utc))))
        f = Fetch(key=key, url=e["url"], status=200, reason="OK", content_type=e["http_ct"], body=e["body"],
                  ident="text/html", ip=site.ip, server=site.server, lang_hint=e["article"].lang,
                  extra_headers=extra, page=page_info(e, kind))
        return f

    fetches: list[Fetch] = []
    originals_pool = []
    for n, e in enumerate(entries):
        f = fetch_for(e, "article", f"{e['article'].lang}-{n:03d}")
        fetches.append(f)
        if e["encoding"] == "utf-8" and e["role"] == "article":
            originals_pool.append(f)
    for n, e in enumerate(near_entries):
        f = fetch_for(e, "near_duplicate", f"near-{n}")
        f.page["near_duplicate_of"] = e["near_duplicate_of"]
        fetches.append(f)

    # --- exact duplicates: identical HTML under other URLs -------------------------------------
    en_orig = [f for f in originals_pool if f.page["lang"] == "en"]
    zh_orig = [f for f in originals_pool if f.page["lang"] == "zh"]
    picks = [rng.choice(en_orig[0:30]), rng.choice(en_orig[30:60]), rng.choice(zh_orig), rng.choice(en_orig[60:])]
    dup_urls = [
        [picks[0].url + "?utm_source=newsletter&utm_medium=email", picks[0].url.replace("https://", "http://", 1)],
        [picks[1].url.replace("https://www.", "https://mirror.", 1).replace("https://news.", "https://mirror.", 1)],
        [picks[2].url + "?from=timeline&isappinstalled=0"],
        [picks[3].url + "?page=1", picks[3].url + "/amp"],
    ]
    # --- benchmark items planted in article pages, for the decontamination stage -----------------
    # An item goes, as one paragraph, into a UTF-8 article that is not copied elsewhere (no exact or
    # near duplicate), so it occurs exactly once in the crawl.
    bench_rng = random.Random(f"teleflm-sample/{seed}/benchmark")
    copied = {f.url for f in picks}
    benchmark_pages = []
    for item_id in dt.WEB_PLANTED_ITEMS:
        lang = dg.benchmark_item(item_id)["lang"]
        cands = [n for n, e in enumerate(entries) if e["role"] == "article" and e["encoding"] == "utf-8"
                 and e["article"].lang == lang and e["url"] not in copied]
        n = bench_rng.choice(cands)
        e = entries[n]
        e["article"].paragraphs.insert(min(2, len(e["article"].paragraphs)), [dg.planted_text(item_id)])
        _render(e)
        fetches[n].body = e["body"]
        fetches[n].page = dict(page_info(e, "article"), benchmark_item=item_id)
        copied.add(e["url"])
        benchmark_pages.append({"item": item_id, "where": "web_page", "url": e["url"], "lang": lang})

    exact_meta = []
    for d, (orig, urls) in enumerate(zip(picks, dup_urls)):
        for u_i, u in enumerate(urls):
            page = dict(orig.page)
            page.update(url=u, kind="exact_duplicate", duplicate_of=orig.url)
            fetches.append(Fetch(key=f"dup-{d}-{u_i}", url=u, status=200, reason="OK",
                                 content_type=orig.content_type, body=orig.body, ident="text/html", ip=orig.ip,
                                 server=orig.server, lang_hint=orig.lang_hint, page=page))
        exact_meta.append({"original": orig.url, "duplicates": urls, "payload_digest": orig.page["payload_digest"]})

    # --- spam / low quality ---------------------------------------------------------------------
    for kind in cp.SPAM_KINDS:
        html_text, lang = cp.spam_page(kind, rng)
        host = SPAM_HOSTS[kind]
        url = f"https://{host}/" + ("" if kind in ("very_short", "javascript_wall") else
                                     rng.choice(["index.html", "deals/", "page/1/", "home.php"]))
        body = html_text.encode("utf-8")
        page = {"url": url, "kind": "spam", "spam_kind": kind, "lang": lang, "topic": None, "site": host,
                "title": re.search(r"<title>(.*?)</title>", html_text).group(1), "charset": "utf-8",
                "charset_variant": "utf8_declared", "http_charset": "utf-8", "meta_charset": "utf-8",
                "size": cp.text_size(lang or "en", re.sub(r"<[^>]+>", " ", html_text)),
                "size_unit": "chars" if lang in cp.CJK_LANGS else "words", "boilerplate": [],
                "expected_quality": "low", "payload_digest": sha1_b32(body)}
        fetches.append(Fetch(key=f"spam-{kind}", url=url, status=200, reason="OK",
                             content_type="text/html; charset=utf-8", body=body, ident="text/html",
                             ip=_ip(rng, used_ips), server=rng.choice(SERVERS), lang_hint=lang or "en", page=page))

    # --- non-HTML, errors, redirects --------------------------------------------------------------
    def site_fetch(host, path, status, reason, ctype, body, ident, kind, extra=()):
        s = sites[host]
        return Fetch(key=f"{kind}-{host}{path}", url=f"https://{host}{path}", status=status, reason=reason,
                     content_type=ctype, body=body, ident=ident, ip=s.ip, server=s.server, lang_hint=s.lang,
                     extra_headers=list(extra), kind=kind)

    en_titles = [(f.url, f.page["title"]) for f in en_orig[:6]]
    nonhtml = [
        site_fetch("www.lakemont-herald.org", "/files/annual-report-2023.pdf", 200, "OK", "application/pdf",
                   cp.pdf_bytes("Lakemont Herald Annual Report 2023"), "application/pdf", "nonhtml"),
        site_fetch("www.jiangnan-zaobao.cn", "/uploads/2024/02/notice-0215.pdf", 200, "OK", "application/pdf",
                   cp.pdf_bytes("Public notice 2024-02-15"), "application/pdf", "nonhtml"),
        site_fetch("www.millbrook-courier.com", "/static/img/logo.png", 200, "OK", "image/png",
                   cp.png_bytes(24, 16, seed), "image/png", "nonhtml"),
        site_fetch("news.xinzhi-wang.com.cn", "/images/banner-2024.png", 200, "OK", "image/png",
                   cp.png_bytes(32, 8, seed + 1), "image/png", "nonhtml"),
        site_fetch("www.techbeat-weekly.com", "/api/v1/latest.json", 200, "OK", "application/json; charset=utf-8",
                   cp.json_bytes("www.techbeat-weekly.com", en_titles), "application/json", "nonhtml"),
        site_fetch("www.harborview-gazette.com", "/static/css/site.css", 200, "OK", "text/css",
                   cp.CSS_TEXT.encode(), "text/css", "nonhtml"),
        site_fetch("www.riverton-daily.net", "/static/js/cookie-consent.js", 200, "OK", "application/javascript",
                   cp.JS_TEXT.encode(), "application/javascript", "nonhtml"),
        site_fetch("www.northvale-chronicle.com", "/news/2023/11/02/road-closure-update-118733", 404, "Not Found",
                   "text/html; charset=utf-8", cp.error_page(404, "Not Found").encode(), "text/html", "error"),
        site_fetch("www.chengshi-kuaixun.com", "/local/20231105/000000.html", 404, "Not Found",
                   "text/html; charset=utf-8", cp.error_page(404, "Not Found").encode(), "text/html", "error"),
        site_fetch("www.kingsbridge-post.co.uk", "/search?q=budget+vote", 500, "Internal Server Error",
                   "text/html; charset=utf-8", cp.error_page(500, "Internal Server Error").encode(), "text/html",
                   "error"),
        site_fetch("www.millbrook-courier.com", "/index.php?page=home", 301, "Moved Permanently",
                   "text/html; charset=utf-8", cp.redirect_page("https://www.millbrook-courier.com/").encode(),
                   "text/html", "redirect", [("Location", "https://www.millbrook-courier.com/")]),
        site_fetch("www.minsheng-ribao.cn", "/news/old/2019/index.shtml", 301, "Moved Permanently",
                   "text/html; charset=utf-8", cp.redirect_page("https://www.minsheng-ribao.cn/news/").encode(),
                   "text/html", "redirect", [("Location", "https://www.minsheng-ribao.cn/news/")]),
    ]
    fetches += nonhtml

    # --- malformed fetches ----------------------------------------------------------------------
    malformed: list[Fetch] = []
    for n, e in enumerate(malformed_entries):
        f = fetch_for(e, "article", f"malformed-{e['malform']}")
        f.malform = e["malform"]
        f.page["malformed"] = e["malform"]
        f.page["expected_quality"] = "malformed"
        if f.malform == "truncated_http_body":
            f.full_length = len(f.body)
            cut = int(len(f.body) * 0.4)
            while f.body[cut - 1:cut] in (b">", b"<"):  # make sure we cut inside markup/text, not at a tag edge
                cut += 1
            lt = f.body.rfind(b"<", 0, cut)
            cut = lt + 3 if lt > 0 else cut  # mid-tag
            f.body = f.body[:cut]
        elif f.malform == "invalid_chunked_encoding":
            part = f.body[: len(f.body) // 2]
            f.body = b"%x\r\n" % (len(f.body) + 4096) + part + b"\r\nthis is not a chunk size\r\n" + f.body[len(part):]
            f.extra_headers = [h for h in f.extra_headers if h[0] != "X-Crawler-Content-Encoding"]
        malformed.append(f)
    truncated_last = malformed.pop()  # truncated_last_member is the last MALFORMATIONS key
    assert truncated_last.malform == "truncated_last_member"

    return Plan(fetches=fetches, malformed=malformed, truncated_last=truncated_last, revisit_count=2,
                exact_duplicates=exact_meta, near_duplicates=near_meta,
                boilerplate=[dict(b, pages=[]) for b in boiler], sites=sites, benchmark_pages=benchmark_pages)


def _render(e: dict) -> None:
    """The entry's HTML page and its encoded bytes (again after a benchmark item is planted)."""
    art = e["article"]
    e["html"] = cp.render_article_page(
        lang=art.lang, site_name=e["site"].name, host=e["site"].host, article=art, sidebar=e["sidebar"],
        meta_charset=e["meta_charset"], meta_style=e["meta_style"] or "html5")
    e["body"] = e["html"].encode(e["encoding"])


# ---------------------------------------------------------------------------------------------
# Layout and rendering
# ---------------------------------------------------------------------------------------------

def _malformed_targets(n_files: int) -> list[int]:
    bad = list(range(1, n_files)) or [0]
    return [bad[0]] * 3 + [bad[min(1, len(bad) - 1)]] * 3


@dataclass
class FileOut:
    name: str
    compressed: bool
    data: bytearray = field(default_factory=bytearray)
    records: list = field(default_factory=list)
    malformed: list = field(default_factory=list)


class _Writer:
    """Serializes records with warcio (uncompressed) and frames them (gzip member per record or plain)."""

    def __init__(self, out: FileOut, ids: _Ids, info_id: str):
        self.out = out
        self.ids = ids
        self.info_id = info_id

    def _serialize(self, record) -> bytes:
        buf = io.BytesIO()
        WARCWriter(buf, gzip=False).write_record(record)
        return buf.getvalue()

    def emit(self, raw: bytes, rtype: str, uri: str | None, rid: str, malform: str | None = None,
             frame=None) -> dict:
        member = gzip_member(raw) if self.out.compressed else raw
        if frame is not None:
            member = frame(member)
        entry = {"index": len(self.out.records), "offset": len(self.out.data), "length": len(member),
                 "type": rtype, "uri": uri, "record_id": rid}
        if malform:
            entry["malformed"] = malform
        self.out.data += member
        self.out.records.append(entry)
        return entry


def _warc_headers(*pairs) -> dict:
    return {k: v for k, v in pairs if v is not None}


def render(plan: Plan, seed: int, n_files: int, include_plain: bool) -> tuple[list[FileOut], dict]:
    rng = random.Random(f"teleflm-sample/{seed}/layout")
    ids = _Ids(random.Random(f"teleflm-sample/{seed}/ids"))
    n_total = n_files + (1 if include_plain else 0)
    files = [FileOut(f"sample-{i:04d}.warc.gz", True) for i in range(n_files)]
    if include_plain:
        files.append(FileOut(f"sample-{n_files:04d}.warc", False))

    # distribute the regular fetches: the plain file gets a small share
    items = list(plan.fetches)
    rng.shuffle(items)
    slots: list[list] = [[] for _ in range(n_total)]
    plain_share = max(1, len(items) // 10) if include_plain else 0
    if include_plain:
        slots[-1] = items[:plain_share]
    for i, it in enumerate(items[plain_share:]):
        slots[i % n_files].append(it)
    for i in range(n_total):
        slots[i].insert(rng.randint(0, min(3, len(slots[i]))), Resource(f"dns-{i}", *_dns_target(plan, slots[i])))

    # revisits: same URL as an earlier HTML page, placed later in the crawl
    last_gz = n_files - 1
    for r in range(plan.revisit_count):
        if n_files > 1:
            src = [f for f in slots[0] if isinstance(f, Fetch) and f.page and f.page["kind"] == "article"]
            orig = src[r * 3 % len(src)]
            pos = rng.randint(len(slots[last_gz]) // 2, len(slots[last_gz]))
        else:
            src = [f for f in slots[0][: len(slots[0]) // 2] if isinstance(f, Fetch) and f.page
                   and f.page["kind"] == "article"]
            orig = src[r * 3 % len(src)]
            pos = rng.randint(len(slots[0]) * 3 // 4, len(slots[0]))
        slots[last_gz].insert(pos, Revisit(f"revisit-{r}", orig))

    # malformed records in the middle of their files, good records on both sides
    targets = _malformed_targets(n_files)
    by_target: dict[int, list[Fetch]] = {}
    for f, t in zip(plan.malformed, targets):
        by_target.setdefault(t, []).append(f)
    for t, fs in by_target.items():
        for j, f in enumerate(fs):
            frac = (j + 1) / (len(fs) + 1)
            slots[t].insert(int(len(slots[t]) * frac), f)
    slots[last_gz].append(plan.truncated_last)

    # dates: file i covers segment i of the crawl period, in increasing order
    seg = timedelta(days=CRAWL_DAYS) / n_total
    page_locations: dict[str, dict] = {}
    orig_dates: dict[str, str] = {}
    for i, (fo, items_i) in enumerate(zip(files, slots)):
        start = CRAWL_START + seg * i
        secs = sorted(rng.randint(60, int(seg.total_seconds()) - 60) for _ in items_i)
        info_id = ids()
        w = _Writer(fo, ids, info_id)
        _write_warcinfo(w, fo.name, start, info_id, seed, rng)
        for it, s in zip(items_i, secs):
            dt = start + timedelta(seconds=s)
            if isinstance(it, Resource):
                _write_resource(w, it, dt)
            elif isinstance(it, Revisit):
                _write_revisit(w, it, dt, orig_dates[it.original.key], rng)
            else:
                resp = _write_fetch(w, it, dt, rng)
                orig_dates[it.key] = warc_date(dt)
                if it.page is not None:
                    page_locations[it.key] = {"file": fo.name, "record_index": resp["index"],
                                              "offset": resp["offset"], "warc_date": warc_date(dt)}

    manifest = _manifest(plan, files, page_locations, seed, n_files, include_plain)
    return files, manifest


def _dns_target(plan: Plan, items: list) -> tuple[str, str]:
    for it in items:
        if isinstance(it, Fetch) and it.page and it.page["site"] in plan.sites:
            s = plan.sites[it.page["site"]]
            return s.host, s.ip
    s = next(iter(plan.sites.values()))
    return s.host, s.ip


def _write_warcinfo(w: _Writer, filename: str, dt: datetime, info_id: str, seed: int, rng) -> None:
    fields = [
        ("isPartOf", CRAWL_NAME), ("publisher", "teleflm-repro datapipe.sample"),
        ("description", f"Synthetic sample crawl generated by datapipe.sample (seed={seed}); every page is "
                        "machine-generated text, any resemblance to real sites is coincidental."),
        ("operator", "teleflm-repro"), ("hostname", "sample-generator"),
        ("software", f"datapipe.sample/{GENERATOR_VERSION} (warcio)"),
        ("robots", "checked via sample rules"), ("http-header-user-agent", USER_AGENT),
        ("format", "WARC File Format 1.0"),
        ("conformsTo", "https://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.0/"),
    ]
    payload = "".join(f"{k}: {v}\r\n" for k, v in fields).encode("utf-8")
    writer = WARCWriter(io.BytesIO(), gzip=False)
    rec = writer.create_warc_record("", "warcinfo", payload=io.BytesIO(payload), length=len(payload),
                                    warc_content_type="application/warc-fields",
                                    warc_headers_dict=_warc_headers(
                                        ("WARC-Type", "warcinfo"), ("WARC-Date", warc_date(dt)),
                                        ("WARC-Filename", filename), ("WARC-Record-ID", info_id),
                                        ("Content-Length", "0"), ("Content-Type", "application/warc-fields")))
    w.emit(w._serialize(rec), "warcinfo", None, info_id)


def _request(w: _Writer, f_url: str, lang: str, dt: datetime, rid: str, ip: str):
    rest = f_url.split("://", 1)[1]
    host, _, path = rest.partition("/")
    hdrs = [("Host", host), ("User-Agent", USER_AGENT),
            ("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
            ("Accept-Language", ACCEPT_LANGUAGE.get(lang, "en-US,en;q=0.8")), ("Accept-Encoding", "br,gzip"),
            ("Connection", "Keep-Alive")]
    http = StatusAndHeaders(f"GET /{path} HTTP/1.1", hdrs, is_http_request=True)
    writer = WARCWriter(io.BytesIO(), gzip=False)
    rec = writer.create_warc_record(f_url, "request", http_headers=http, warc_headers_dict=_warc_headers(
        ("WARC-Type", "request"), ("WARC-Date", warc_date(dt)), ("WARC-Record-ID", rid), ("Content-Length", "0"),
        ("Content-Type", "application/http; msgtype=request"), ("WARC-Warcinfo-ID", w.info_id),
        ("WARC-IP-Address", ip), ("WARC-Target-URI", f_url)))
    return w.emit(w._serialize(rec), "request", f_url, rid)


def _metadata(w: _Writer, url: str, dt: datetime, concurrent: str, rng) -> None:
    rid = w.ids()
    payload = f"fetchTimeMs: {rng.randint(35, 2400)}\r\n".encode()
    writer = WARCWriter(io.BytesIO(), gzip=False)
    rec = writer.create_warc_record(url, "metadata", payload=io.BytesIO(payload), length=len(payload),
                                    warc_content_type="application/warc-fields",
                                    warc_headers_dict=_warc_headers(
                                        ("WARC-Type", "metadata"), ("WARC-Date", warc_date(dt)),
                                        ("WARC-Record-ID", rid), ("Content-Length", "0"),
                                        ("Content-Type", "application/warc-fields"),
                                        ("WARC-Warcinfo-ID", w.info_id), ("WARC-Concurrent-To", concurrent),
                                        ("WARC-Target-URI", url)))
    w.emit(w._serialize(rec), "metadata", url, rid)


def _http_headers(f: Fetch, dt: datetime) -> list:
    h = [("Date", http_date(dt)), ("Server", f.server)]
    if f.content_type:
        h.append(("Content-Type", f.content_type))
    h += f.extra_headers
    if f.malform == "invalid_chunked_encoding":
        h.append(("Transfer-Encoding", "chunked"))
    elif f.malform == "truncated_http_body":
        h.append(("Content-Length", str(f.full_length)))
    else:
        h.append(("Content-Length", str(len(f.body))))
    h += [("Cache-Control", "max-age=300" if f.kind == "page" else "public, max-age=86400"),
          ("Connection", "close")]
    return h


def _write_fetch(w: _Writer, f: Fetch, dt: datetime, rng) -> dict:
    req_id, resp_id = w.ids(), w.ids()
    _request(w, f.url, f.lang_hint, dt, req_id, f.ip)
    hdrs = _http_headers(f, dt)
    wh = _warc_headers(
        ("WARC-Type", "response"), ("WARC-Date", warc_date(dt)), ("WARC-Record-ID", resp_id),
        ("Content-Length", "0"), ("Content-Type", "application/http; msgtype=response"),
        ("WARC-Warcinfo-ID", w.info_id), ("WARC-Concurrent-To", req_id), ("WARC-IP-Address", f.ip),
        ("WARC-Target-URI", f.url), ("WARC-Identified-Payload-Type", f.ident))
    frame = None
    if f.malform == "broken_http_headers":
        block = (f"HTTP/1.1 2OO 0K\r\nDate {http_date(dt)}\r\nServer: {f.server}\r\n"
                 f"Content-Type text/html; charset=utf-8\r\n").encode() + b"X-Debug: \x00\xff\xfe\x01\r\n" \
            + b"\x89\x12\x07\x1b[binary junk]\r\n\r\n" + f.body
        wh["WARC-Block-Digest"] = sha1_b32(block)
        wh["Content-Length"] = str(len(block))
        raw = b"WARC/1.0\r\n" + "".join(f"{k}: {v}\r\n" for k, v in wh.items()).encode() + b"\r\n" + block \
            + b"\r\n\r\n"
    else:
        http = StatusAndHeaders(f"{f.status} {f.reason}", hdrs, protocol="HTTP/1.1")
        writer = WARCWriter(io.BytesIO(), gzip=False)
        rec = writer.create_warc_record(f.url, "response", payload=io.BytesIO(f.body), length=len(f.body),
                                        http_headers=http, warc_headers_dict=wh)
        raw = w._serialize(rec)
        if f.malform in ("content_length_too_short", "content_length_too_long"):
            delta = -400 if f.malform == "content_length_too_short" else 2048
            head_end = raw.index(b"\r\n\r\n")
            head = re.sub(rb"\r\nContent-Length: (\d+)\r\n",
                          lambda m: b"\r\nContent-Length: %d\r\n" % (int(m.group(1)) + delta), raw[:head_end + 2],
                          count=1)
            raw = head + raw[head_end + 2:]
        elif f.malform == "corrupt_gzip_member":
            frame = _corrupt
        elif f.malform == "truncated_last_member":
            frame = lambda m: m[: int(len(m) * 0.55)]  # noqa: E731
    entry = w.emit(raw, "response", f.url, resp_id, f.malform, frame)
    if f.malform:
        desc, symptom = MALFORMATIONS[f.malform]
        w.out.malformed.append({"kind": f.malform, "record_index": entry["index"], "offset": entry["offset"],
                                "length": entry["length"], "uri": f.url, "record_id": resp_id,
                                "description": desc, "expected_symptom": symptom})
    if f.malform != "truncated_last_member":
        _metadata(w, f.url, dt, resp_id, rng)
    return entry


def _corrupt(member: bytes) -> bytes:
    start, end = 10, len(member) - 8
    for frac in (0.5, 0.4, 0.6, 0.3, 0.7, 0.2):
        pos = start + int((end - start) * frac)
        bad = bytearray(member)
        for j in range(pos, min(pos + 32, end)):
            bad[j] ^= 0xA5
        if not gzip_member_ok(bytes(bad)):
            return bytes(bad)
    raise RuntimeError("could not corrupt gzip member")


def _write_revisit(w: _Writer, r: Revisit, dt: datetime, refers_date: str, rng) -> None:
    f = r.original
    req_id, rid = w.ids(), w.ids()
    _request(w, f.url, f.lang_hint, dt, req_id, f.ip)
    hdrs = [("Date", http_date(dt)), ("Server", f.server), ("Content-Type", f.content_type),
            ("Content-Length", str(len(f.body))), ("Cache-Control", "max-age=300"), ("Connection", "close")]
    http = StatusAndHeaders("200 OK", hdrs, protocol="HTTP/1.1")
    writer = WARCWriter(io.BytesIO(), gzip=False)
    rec = writer.create_revisit_record(f.url, sha1_b32(f.body), f.url, refers_date, http_headers=http,
                                       warc_headers_dict=_warc_headers(
                                           ("WARC-Type", "revisit"), ("WARC-Date", warc_date(dt)),
                                           ("WARC-Record-ID", rid), ("Content-Length", "0"),
                                           ("Content-Type", "application/http; msgtype=response"),
                                           ("WARC-Warcinfo-ID", w.info_id), ("WARC-Concurrent-To", req_id),
                                           ("WARC-IP-Address", f.ip), ("WARC-Target-URI", f.url)))
    w.emit(w._serialize(rec), "revisit", f.url, rid)
    _metadata(w, f.url, dt, rid, rng)


def _write_resource(w: _Writer, r: Resource, dt: datetime) -> None:
    rid = w.ids()
    uri = f"dns:{r.host}"
    payload = f"{dt.strftime('%Y%m%d%H%M%S')}\n{r.host}.\t300\tIN\tA\t{r.ip}\n".encode()
    writer = WARCWriter(io.BytesIO(), gzip=False)
    rec = writer.create_warc_record(uri, "resource", payload=io.BytesIO(payload), length=len(payload),
                                    warc_content_type="text/dns", warc_headers_dict=_warc_headers(
                                        ("WARC-Type", "resource"), ("WARC-Date", warc_date(dt)),
                                        ("WARC-Record-ID", rid), ("Content-Length", "0"),
                                        ("Content-Type", "text/dns"), ("WARC-Warcinfo-ID", w.info_id),
                                        ("WARC-Target-URI", uri)))
    w.emit(w._serialize(rec), "resource", uri, rid)


# ---------------------------------------------------------------------------------------------
# Manifest
# ---------------------------------------------------------------------------------------------

def _manifest(plan: Plan, files: list[FileOut], locs: dict, seed: int, n_files: int, include_plain: bool) -> dict:
    pages = []
    all_fetches = plan.fetches + plan.malformed + [plan.truncated_last]
    for f in all_fetches:
        if f.page is None or f.key not in locs:
            continue
        p = dict(f.page)
        p.setdefault("malformed", None)
        p.setdefault("benchmark_item", None)
        p.update(locs[f.key])
        pages.append(p)
    order = {fo.name: i for i, fo in enumerate(files)}
    pages.sort(key=lambda p: (order[p["file"]], p["offset"]))
    boiler = [dict(b, pages=[]) for b in plan.boilerplate]
    for p in pages:
        for b in p["boilerplate"]:
            boiler[b]["pages"].append(p["url"])
    for b in boiler:
        b["count"] = len(b["pages"])

    langs = Counter(p["lang"] for p in pages if p["kind"] in ("article", "exact_duplicate", "near_duplicate")
                    and not p["malformed"])
    kinds = Counter(p["kind"] for p in pages if not p["malformed"])
    mf = []
    for fo in files:
        by_type = Counter(r["type"] for r in fo.records)
        mf.append({
            "name": fo.name, "compressed": fo.compressed, "size": len(fo.data),
            "sha256": hashlib.sha256(bytes(fo.data)).hexdigest(),
            "well_formed": not fo.malformed, "record_count": len(fo.records),
            "records_by_type": dict(sorted(by_type.items())),
            "html_pages": sum(1 for p in pages if p["file"] == fo.name),
            "malformed": fo.malformed, "records": fo.records,
        })
    return {
        "generator": "datapipe.sample", "version": GENERATOR_VERSION, "seed": seed, "n_files": n_files,
        "include_plain": include_plain, "crawl": {"name": CRAWL_NAME, "start": warc_date(CRAWL_START),
                                                  "days": CRAWL_DAYS},
        "totals": {
            "files": len(files), "records": sum(len(f.records) for f in files),
            "records_by_type": dict(sorted(sum((Counter(r["type"] for r in f.records) for f in files),
                                               Counter()).items())),
            "html_pages": len(pages), "html_pages_by_kind": dict(sorted(kinds.items())),
            "malformed_records": sum(len(f.malformed) for f in files),
        },
        "languages": dict(sorted(langs.items(), key=lambda kv: (-kv[1], kv[0]))),
        "files": mf,
        "pages": pages,
        "exact_duplicates": plan.exact_duplicates,
        "near_duplicates": plan.near_duplicates,
        "repeated_paragraphs": boiler,
        "spam": [{"url": p["url"], "spam_kind": p["spam_kind"], "lang": p["lang"], "file": p["file"]}
                 for p in pages if p["kind"] == "spam"],
        "non_html": [{"url": f.url, "status": f.status, "content_type": f.content_type, "kind": f.kind}
                     for f in plan.fetches if f.page is None],
        "charset_variants": [{"url": p["url"], "variant": p["charset_variant"], "charset": p["charset"],
                              "http_charset": p["http_charset"], "meta_charset": p["meta_charset"],
                              "lang": p["lang"]} for p in pages if p["charset_variant"] != "utf8_declared"],
    }
