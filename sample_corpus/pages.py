"""What the sample's crawl fetches besides article text: the HTML of article pages, spam and
low-quality pages, error and redirect pages, and non-HTML payloads (PDF, PNG, JSON, CSS, JavaScript).

Random content is drawn from a caller-supplied ``random.Random``, so a seed fixes every byte.
"""

from __future__ import annotations

import html
import json
import re
import struct
import unicodedata
import zlib
from dataclasses import dataclass
from functools import cache
from string import Template
from typing import Callable

from . import resources
from .compose import Article
from .textbank import language, spam_words


def esc(s: str) -> str:
    return html.escape(s, quote=False)


def attr(s: str) -> str:
    return html.escape(s, quote=True)


# ---------------------------------------------------------------------------------------------
# Article pages
# ---------------------------------------------------------------------------------------------

@cache
def _article_template() -> Template:
    return Template(resources.text("web/article_page.html"))


_CHROME_TEXTS = ("cookie", "accept", "share", "most_read", "ad", "rights", "privacy", "terms", "cookies", "contact")


def _byline_date(lang: str, iso: str) -> str:
    y, m, d = iso.split("-")
    if lang in ("zh", "ja"):
        return f"{y}年{int(m)}月{int(d)}日"
    if lang == "en":
        return f"{language('en').months[int(m) - 1]} {int(d)}, {y}"
    return f"{int(d)}.{int(m)}.{y}" if lang in ("de", "ru") else f"{int(d)}/{int(m)}/{y}"


def render_article_page(*, lang: str, site_name: str, host: str, article: Article, sidebar: list[tuple[str, str]],
                        meta_charset: str | None, meta_style: str = "html5") -> str:
    """A full news page (``data/web/article_page.html``): head with the charset declaration asked for
    (``<meta charset>``, ``<meta http-equiv>`` or none), navigation, cookie banner, the article, a "most
    read" sidebar of ``(url, headline)`` links and a footer."""
    chrome = language(lang).chrome
    if not meta_charset:
        charset_meta = ""
    elif meta_style == "html5":
        charset_meta = f'<meta charset="{meta_charset}">\n'
    else:
        charset_meta = f'<meta http-equiv="Content-Type" content="text/html; charset={meta_charset}">\n'
    paras = article.paragraph_texts()
    byline = f"{chrome.by}{article.author}" if lang in ("zh", "ja", "ru") else f"{chrome.by} {article.author}"
    slots = {name: esc(getattr(chrome, name)) for name in _CHROME_TEXTS}
    slots.update(
        lang=lang, charset_meta=charset_meta, headline=esc(article.headline), site_name=esc(site_name),
        site_name_attr=attr(site_name), description=attr(paras[0][:150] if paras else article.headline),
        host=host, search=attr(chrome.search),
        nav="".join(f'<li><a href="{attr(href)}">{esc(label)}</a></li>' for href, label in chrome.nav),
        byline=esc(byline), published=article.published, published_text=_byline_date(lang, article.published),
        paragraphs="\n".join(f"<p>{esc(p)}</p>" for p in paras),
        sidebar="\n".join(f'<li><a href="{attr(u)}">{esc(h)}</a></li>' for u, h in sidebar),
    )
    return _article_template().substitute(slots)


def slugify(text: str, max_words: int = 8) -> str:
    t = text.replace("ß", "ss").replace("ä", "ae").replace("ö", "oe").replace("ü", "ue")
    t = unicodedata.normalize("NFKD", t).encode("ascii", "ignore").decode("ascii").lower()
    words = re.findall(r"[a-z0-9]+", t)
    return "-".join(words[:max_words]) or "article"


# ---------------------------------------------------------------------------------------------
# Spam and low-quality pages
# ---------------------------------------------------------------------------------------------

def _simple_page(title: str, body: str, lang: str = "en", charset: str = "utf-8") -> str:
    return (f'<!DOCTYPE html>\n<html lang="{lang}">\n<head>\n<meta charset="{charset}">\n'
            f"<title>{esc(title)}</title>\n</head>\n<body>\n{body}\n</body>\n</html>\n")


@dataclass(frozen=True)
class SpamPage:
    html: str
    lang: str | None  # the language a classifier should see, None for random characters


def _keyword_stuffing(rng) -> SpamPage:
    paras = []
    for _ in range(6):
        words = [rng.choice(spam_words().keywords_en) for _ in range(rng.randint(25, 40))]
        paras.append("<p>" + " ".join(words) + "</p>")
    body = "<h1>Cheap flights cheap hotels best price cheap flights</h1>\n" + "\n".join(paras)
    return SpamPage(_simple_page("cheap flights cheap hotels cheap flights best price deals", body), "en")


def _repeated_lines(rng) -> SpamPage:
    body = "\n".join(f"<p>{esc(spam_words().repeated_line)}</p>" for _ in range(40))
    return SpamPage(_simple_page("Mega Sale", "<h1>MEGA SALE</h1>\n" + body), "en")


def _link_farm(rng) -> SpamPage:
    items = []
    for i in range(80):
        w = rng.choice(spam_words().link_words)
        items.append(f'<li><a href="https://{slugify(w)}-{i}.example-partners.net/">{esc(w)} {i}</a></li>')
    body = "<h1>Top links</h1>\n<ul>\n" + "\n".join(items) + "\n</ul>"
    return SpamPage(_simple_page("Best casino links 2024", body), "en")


def _lorem_ipsum(rng) -> SpamPage:
    paras = [" ".join(rng.sample(spam_words().lorem, 4)) for _ in range(5)]
    body = "<h1>Lorem ipsum dolor sit amet</h1>\n" + "\n".join(f"<p>{esc(p)}</p>" for p in paras)
    return SpamPage(_simple_page("Lorem ipsum - Home", body), "la")


def _very_short(rng) -> SpamPage:
    return SpamPage(_simple_page("Coming soon", "<p>Coming soon.</p>"), "en")


_RANDOM_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789#$%&*+=@"


def _random_chars(rng) -> SpamPage:
    lines = []
    for _ in range(30):
        words = ["".join(rng.choice(_RANDOM_ALPHABET) for _ in range(rng.randint(3, 14)))
                 for _ in range(rng.randint(6, 12))]
        lines.append("<p>" + esc(" ".join(words)) + "</p>")
    title = "x7Qz" + "".join(rng.choice(_RANDOM_ALPHABET) for _ in range(8))
    return SpamPage(_simple_page(title, "\n".join(lines)), None)


def _symbol_heavy(rng) -> SpamPage:
    lines = []
    for _ in range(25):
        n = rng.randint(1, 999)
        lines.append(f"<p>### WIN ${n} ### !!! ... #winner #free #prize ... &gt;&gt;&gt; CLICK ... ###</p>")
    return SpamPage(_simple_page("### WIN ###", "\n".join(lines)), "en")


def _javascript_wall(rng) -> SpamPage:
    body = ("<noscript><p>Please enable JavaScript to view this page.</p></noscript>\n"
            "<p>This site requires JavaScript. Please enable JavaScript in your browser settings.</p>\n"
            "<p>By using this site you agree to our cookie policy and terms of use.</p>\n"
            "<div id=\"app\">{{ loading }}</div>\n"
            "<script>function init(){ var app = document.getElementById('app'); app.innerHTML = ''; }</script>")
    return SpamPage(_simple_page("Loading...", body), "en")


def _keyword_stuffing_zh(rng) -> SpamPage:
    paras = ["<p>" + "".join(rng.choice(spam_words().keywords_zh) for _ in range(30)) + "</p>" for _ in range(6)]
    body = "<h1>免费下载高清电影在线观看免费下载</h1>\n" + "\n".join(paras)
    return SpamPage(_simple_page("免费下载 高清电影 在线观看 免费下载", body, lang="zh"), "zh")


SPAM_PAGES: dict[str, Callable[..., SpamPage]] = {
    "keyword_stuffing": _keyword_stuffing, "repeated_lines": _repeated_lines, "link_farm": _link_farm,
    "lorem_ipsum": _lorem_ipsum, "very_short": _very_short, "random_chars": _random_chars,
    "symbol_heavy": _symbol_heavy, "javascript_wall": _javascript_wall, "keyword_stuffing_zh": _keyword_stuffing_zh,
}
"""Spam page makers by kind, in the order the crawl plants them."""


def spam_page(kind: str, rng) -> SpamPage:
    return SPAM_PAGES[kind](rng)


# ---------------------------------------------------------------------------------------------
# Error pages and non-HTML payloads
# ---------------------------------------------------------------------------------------------

def error_page(status: int, reason: str) -> str:
    return _simple_page(f"{status} {reason}", f"<h1>{status} {esc(reason)}</h1>\n<p>nginx</p>")


def redirect_page(location: str) -> str:
    return _simple_page("301 Moved Permanently",
                        "<h1>Moved Permanently</h1>\n"
                        f'<p>The document has moved <a href="{attr(location)}">here</a>.</p>')


def pdf_bytes(title: str) -> bytes:
    """A small, structurally valid single-page PDF (correct xref offsets)."""
    stream = f"BT /F1 18 Tf 72 720 Td ({title}) Tj ET\nBT /F1 11 Tf 72 690 Td (Generated sample document.) Tj ET"
    objs = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        "/Resources << /Font << /F1 5 0 R >> >> >>",
        f"<< /Length {len(stream)} >>\nstream\n{stream}\nendstream",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"
    offsets = []
    for i, o in enumerate(objs, 1):
        offsets.append(len(out))
        out += f"{i} 0 obj\n{o}\nendobj\n".encode("latin-1")
    xref = len(out)
    out += f"xref\n0 {len(objs) + 1}\n0000000000 65535 f \n".encode()
    for off in offsets:
        out += f"{off:010d} 00000 n \n".encode()
    out += f"trailer\n<< /Size {len(objs) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return out


def png_bytes(w: int, h: int, seed: int) -> bytes:
    """A small RGB gradient PNG."""
    raw = bytearray()
    for y in range(h):
        raw.append(0)
        for x in range(w):
            raw += bytes(((x * 255) // max(1, w - 1), (y * 255) // max(1, h - 1), (seed * 37) % 256))

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(bytes(raw), 9)) + chunk(b"IEND", b""))


def json_bytes(host: str, items: list[tuple[str, str]]) -> bytes:
    data = {"status": "ok", "source": host, "count": len(items),
            "items": [{"id": i + 1, "url": u, "title": t} for i, (u, t) in enumerate(items)]}
    return json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True).encode("utf-8")


def site_css() -> bytes:
    return resources.text("web/site.css").encode("utf-8")


def cookie_consent_js() -> bytes:
    return resources.text("web/cookie-consent.js").encode("utf-8")
