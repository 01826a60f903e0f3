"""Article composition and page rendering for the sample corpus.

Everything here is driven by a caller-supplied ``random.Random`` so that a seed fixes every byte.
"""

from __future__ import annotations

import html
import json
import re
import struct
import unicodedata
import zlib
from collections import Counter
from dataclasses import dataclass, field

from . import textbank as tb

CJK_LANGS = ("zh", "ja")
_ALT = re.compile(r"\[([^\[\]]*)\]")
_NUM = re.compile(r"\d+")


# ---------------------------------------------------------------------------------------------
# Numbers and per-article context
# ---------------------------------------------------------------------------------------------

def _ordinal(n: int) -> str:
    if 10 <= n % 100 <= 20:
        suffix = "th"
    else:
        suffix = {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _group(n: int, sep: str) -> str:
    return f"{n:,}".replace(",", sep)


_ORD_WORDS = ["second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth"]


def numbers(lang: str, rng) -> dict:
    """Fresh numeric slot values; drawn again for every sentence."""
    n, k, m, n2 = rng.randint(2, 9), rng.randint(2, 9), rng.randint(10, 19), rng.randint(12, 60)
    big = rng.randint(120, 9500) * 10
    pct = rng.randint(4, 68)
    year = rng.randint(2012, 2022)
    if lang == "en":
        a = rng.randint(1, 4)
        if rng.random() < 0.6:
            money = f"${rng.randint(12, 480) / 10:.1f} million"
        else:
            money = f"${rng.randint(150, 950)},000"
        return {
            "n": n, "k": k, "m": m, "n2": n2, "staff": rng.randint(40, 900), "big": _group(big, ","), "pct": pct,
            "money": money, "money_small": f"${rng.randint(25, 190)}", "price": f"${rng.randint(185, 690)},000",
            "score": f"{a}-{rng.randint(0, a - 1)}", "minute_ord": _ordinal(rng.randint(3, 89)),
            "place": rng.choice(_ORD_WORDS), "ord": rng.choice(_ORD_WORDS[:4]), "year": year,
            "year_old": rng.randint(1958, 1989), "weekday": rng.choice(tb.EN_WEEKDAYS),
            "month": rng.choice(tb.EN_MONTHS),
        }
    if lang == "zh":
        a = rng.randint(1, 4)
        if rng.random() < 0.6:
            money = f"{rng.randint(12, 480) / 10:.1f}亿元"
        else:
            money = f"{rng.randint(300, 9500)}万元"
        return {
            "n": n, "k": k, "m": m, "n2": n2, "hundreds": rng.randint(120, 480), "big": big,
            "pct": f"{rng.randint(30, 480) / 10:.1f}", "pct_small": f"{rng.randint(35, 89) / 10:.1f}",
            "money": money, "score": f"{a}比{rng.randint(0, a - 1)}", "minute": rng.randint(3, 89),
            "age": rng.choice([60, 65, 70, 75, 80]), "alt": rng.randint(120, 320) * 10,
            "month": rng.randint(1, 12), "day": rng.randint(1, 28), "year": year,
            "weekday": rng.choice(tb.ZH_WEEKDAYS),
        }
    sep = {"de": ".", "es": ".", "fr": " ", "ru": " ", "ja": ","}[lang]
    out = {"n": n, "k": k, "m": m, "n2": n2, "staff": rng.randint(40, 900), "big": _group(big, sep), "pct": pct,
           "year": year}
    bank = MINOR[lang]
    if "weekdays" in bank:
        out["weekday"] = rng.choice(bank["weekdays"])
    if lang == "ja":
        out["month"] = rng.randint(1, 12)
    elif "months" in bank:
        out["month"] = rng.choice(bank["months"])
    return out


MINOR = {"de": tb.DE, "fr": tb.FR, "es": tb.ES, "ja": tb.JA, "ru": tb.RU}


def make_context(lang: str, rng) -> dict:
    """Entities fixed for the whole article (one city, one protagonist...)."""
    if lang == "en":
        city = rng.choice(tb.EN_CITIES)
        first, last = rng.choice(tb.EN_FIRST), rng.choice(tb.EN_LAST)
        first2, last2 = rng.choice(tb.EN_FIRST), rng.choice(tb.EN_LAST)
        rival_city = rng.choice([c for c in tb.EN_CITIES if c != city])
        nicks = rng.sample(tb.EN_TEAM_NICKS, 2)
        return {
            "city": city, "street": rng.choice(tb.EN_STREETS), "person": f"{first} {last}", "surname": last,
            "person2": f"{first2} {last2}", "company": rng.choice(tb.EN_COMPANIES),
            "team": f"{city} {nicks[0]}", "rival": f"{rival_city} {nicks[1]}",
            "uni": rng.choice([f"{city} State University", f"the University of {city}"]),
        }
    if lang == "zh":
        city = rng.choice(tb.ZH_CITIES)
        rival_city = rng.choice([c for c in tb.ZH_CITIES if c != city])
        nicks = rng.sample(tb.ZH_TEAM_NICKS, 2)
        return {
            "city": city, "district": rng.choice(tb.ZH_DISTRICTS),
            "person": rng.choice(tb.ZH_SURNAMES) + rng.choice(tb.ZH_GIVEN),
            "person2": rng.choice(tb.ZH_SURNAMES) + rng.choice(tb.ZH_GIVEN),
            "company": rng.choice(tb.ZH_COMPANIES), "team": f"{city}{nicks[0]}队",
            "rival": f"{rival_city}{nicks[1]}队", "uni": rng.choice([f"{city}大学", f"{city}理工大学"]),
        }
    bank = MINOR[lang]
    city = rng.choice(bank["cities"])
    ctx = dict(city) if isinstance(city, dict) else {"city": city}
    if lang == "ja":
        ctx["person"] = rng.choice(bank["last"]) + rng.choice(bank["first"])
    else:
        ctx["person"] = f"{rng.choice(bank['first'])} {rng.choice(bank['last'])}"
    return ctx


def fill(template: str, lang: str, ctx: dict, rng) -> str:
    text = _ALT.sub(lambda m: rng.choice(m.group(1).split("|")), template)
    values = numbers(lang, rng)
    values.update(ctx)
    text = text.format_map(values)
    text = re.sub(r"  +", " ", text).replace(" ,", ",").replace(" .", ".")
    return text[0].upper() + text[1:] if lang not in CJK_LANGS else text


# ---------------------------------------------------------------------------------------------
# Articles
# ---------------------------------------------------------------------------------------------

@dataclass
class Article:
    lang: str
    topic: str
    headline: str
    paragraphs: list[list[str]]
    author: str
    published: str  # YYYY-MM-DD
    extra: list[str] = field(default_factory=list)  # whole paragraphs appended (boilerplate, notes)

    def paragraph_texts(self) -> list[str]:
        joiner = "" if self.lang in CJK_LANGS else " "
        return [joiner.join(p) for p in self.paragraphs] + list(self.extra)

    def text(self) -> str:
        return "\n".join(self.paragraph_texts())

    def size(self) -> int:
        """Words for space-separated languages, characters for Chinese and Japanese."""
        return text_size(self.lang, self.text())


def text_size(lang: str, text: str) -> int:
    if lang in CJK_LANGS:
        return sum(1 for ch in text if not ch.isspace())
    return len(text.split())


def shingles(lang: str, text: str, n: int = 5) -> set:
    """Word n-grams, or character n-grams for Chinese/Japanese (punctuation and spaces removed)."""
    if lang in CJK_LANGS:
        chars = [c for c in text if c.isalnum()]
        return {"".join(chars[i:i + n]) for i in range(max(0, len(chars) - n + 1))}
    words = re.findall(r"\w+", text.lower())
    return {" ".join(words[i:i + n]) for i in range(max(0, len(words) - n + 1))}


def jaccard(a: set, b: set) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def _pools(lang: str, topic: str | None):
    if lang == "en":
        return tb.EN_TOPICS[topic], tb.EN_GENERAL
    if lang == "zh":
        return tb.ZH_TOPICS[topic], tb.ZH_GENERAL
    bank = MINOR[lang]
    return {"headlines": bank["headlines"], "sentences": bank["sentences"]}, []


def topics_for(lang: str) -> list[str]:
    if lang == "en":
        return list(tb.EN_TOPICS)
    if lang == "zh":
        return list(tb.ZH_TOPICS)
    return ["general"]


class Composer:
    """Composes articles; template use is balanced across articles so that no two share much text."""

    def __init__(self, rng):
        self.rng = rng
        self.usage: Counter = Counter()
        self.headline_usage: Counter = Counter()

    def _pick(self, key: tuple, pool: list[str], taken: set) -> int | None:
        cands = [i for i in range(len(pool)) if (key, i) not in taken]
        if not cands:
            return None
        low = min(self.usage[(key, i)] for i in cands)
        best = [i for i in cands if self.usage[(key, i)] == low]
        return self.rng.choice(best)

    def article(self, lang: str, *, topic: str | None = None, target: int | None = None,
                encoding: str | None = None) -> Article:
        """``target`` is in words (space-separated languages), characters (zh/ja) or sentences (minor)."""
        for _ in range(50):
            art = self._article(lang, topic, target)
            if encoding is None:
                return art
            try:
                (art.headline + art.text() + art.author).encode(encoding)
                return art
            except UnicodeEncodeError:
                continue
        raise RuntimeError(f"could not compose a {lang} article encodable in {encoding}")

    def _article(self, lang: str, topic: str | None, target: int | None) -> Article:
        rng = self.rng
        topic = topic or rng.choice(topics_for(lang))
        pool, general = _pools(lang, topic if lang in ("en", "zh") else None)
        ctx = make_context(lang, rng)
        hkey = (lang, topic)
        hl = min(range(len(pool["headlines"])), key=lambda i: (self.headline_usage[(hkey, i)], rng.random()))
        self.headline_usage[(hkey, hl)] += 1
        headline = fill(pool["headlines"][hl], lang, ctx, rng)

        if lang == "en":
            target = target or rng.randint(170, 430)
            unit = "words"
        elif lang == "zh":
            target = target or rng.randint(330, 750)
            unit = "chars"
        else:
            target = target or rng.randint(6, 9)
            unit = "sentences"

        # sources: the article's topic, the general pool and (en/zh) a second topic, by weight; the first
        # sentence(s) come from the topic
        sources = [((lang, topic, "t"), pool["sentences"], 0.6)]
        if general:
            second = rng.choice([t for t in topics_for(lang) if t != topic])
            sources += [((lang, "general"), general, 0.22),
                        ((lang, second, "t"), _pools(lang, second)[0]["sentences"], 0.18)]
        taken: set = set()
        sentences: list[str] = []
        while True:
            if len(sentences) < (3 if lang == "en" else 1):  # the opening stays on the article's own topic
                order = sources
            else:
                first = rng.choices(range(len(sources)), weights=[w for _, _, w in sources])[0]
                order = [sources[first]] + [s for j, s in enumerate(sources) if j != first]
            for key, src, _ in order:
                i = self._pick(key, src, taken)
                if i is not None:
                    break
            else:
                break
            taken.add((key, i))
            self.usage[(key, i)] += 1
            sentences.append(fill(src[i], lang, ctx, rng))
            if unit == "sentences":
                size = len(sentences)
            else:
                size = text_size(lang, ("" if unit == "chars" else " ").join(sentences))
            if size >= target:
                break

        paragraphs = _paragraphs(sentences, rng, (2, 5) if lang == "en" else (2, 4))
        if lang == "en":
            author = f"{rng.choice(tb.EN_FIRST)} {rng.choice(tb.EN_LAST)}"
        elif lang == "zh":
            author = rng.choice(tb.ZH_SURNAMES) + rng.choice(tb.ZH_GIVEN)
        elif lang == "ja":
            author = MINOR[lang]["last"][rng.randrange(8)] + MINOR[lang]["first"][rng.randrange(8)]
        else:
            bank = MINOR[lang]
            author = f"{rng.choice(bank['first'])} {rng.choice(bank['last'])}"
        published = f"2024-{rng.choice([1, 2]):02d}-{rng.randint(1, 18):02d}"
        return Article(lang, topic, headline, paragraphs, author, published)


def _paragraphs(sentences: list[str], rng, sizes: tuple[int, int]) -> list[list[str]]:
    out: list[list[str]] = []
    i = 0
    while i < len(sentences):
        k = rng.randint(*sizes)
        out.append(sentences[i:i + k])
        i += k
    if len(out) > 1 and len(out[-1]) < 2:
        out[-2].extend(out.pop())
    return out


def near_duplicate(article: Article, rng, source_name: str) -> tuple[Article, list[str]]:
    """A copy of ``article`` with small realistic edits; returns (variant, list of edit descriptions)."""
    paras = [list(p) for p in article.paragraphs]
    edits: list[str] = []
    # 1. drop one sentence from a paragraph that keeps at least two
    cands = [(pi, si) for pi, p in enumerate(paras) if len(p) >= 3 for si in range(len(p))]
    if cands:
        pi, si = rng.choice(cands)
        del paras[pi][si]
        edits.append(f"dropped sentence {si} of paragraph {pi}")
    # 2. change the numbers in one sentence
    flat = [(pi, si) for pi, p in enumerate(paras) for si, s in enumerate(p) if _NUM.search(s)]
    if flat:
        pi, si = rng.choice(flat)
        paras[pi][si] = _NUM.sub(lambda m: str(int(m.group()) + rng.randint(1, 9)), paras[pi][si], count=1)
        edits.append(f"changed a number in sentence {si} of paragraph {pi}")
    # 3. replace a word in every paragraph that has a replaceable one (as a rewording syndication
    #    does): no paragraph stays byte-identical, so only near-duplicate detection can catch the copy
    syn = tb.ZH_SYNONYMS if article.lang == "zh" else tb.EN_SYNONYMS
    order = list(range(len(syn)))
    rng.shuffle(order)
    for pi, p in enumerate(paras):
        done = False
        for j in order:
            old, new = syn[j]
            pat = re.compile(re.escape(old)) if article.lang == "zh" else re.compile(rf"\b{re.escape(old)}\b")
            for si, sent in enumerate(p):
                if pat.search(sent):
                    p[si] = pat.sub(new, sent, count=1)
                    edits.append(f"replaced '{old}' with '{new}' in paragraph {pi}")
                    done = True
                    break
            if done:
                break
    # 4. a republication note at the end
    note = (tb.ZH_REPUBLISHED if article.lang == "zh" else tb.EN_REPUBLISHED).format(source=source_name)
    edits.append("added republication note")
    variant = Article(article.lang, article.topic, article.headline, paras, article.author, article.published,
                      extra=list(article.extra) + [note])
    return variant, edits


# ---------------------------------------------------------------------------------------------
# HTML
# ---------------------------------------------------------------------------------------------

def esc(s: str) -> str:
    return html.escape(s, quote=False)


def attr(s: str) -> str:
    return html.escape(s, quote=True)


_SCRIPT = ("window.dataLayer = window.dataLayer || [];\n"
           "function gtag(){dataLayer.push(arguments);}\n"
           "gtag('js', new Date()); gtag('config', 'G-SAMPLE0001');")
_STYLE = "body{font-family:Georgia,serif;margin:0}.cookie-banner{position:fixed;bottom:0;background:#222;color:#fff}"


def _byline_date(lang: str, iso: str) -> str:
    y, m, d = iso.split("-")
    if lang in ("zh", "ja"):
        return f"{y}年{int(m)}月{int(d)}日"
    if lang == "en":
        return f"{tb.EN_MONTHS[int(m) - 1]} {int(d)}, {y}"
    return f"{int(d)}.{int(m)}.{y}" if lang in ("de", "ru") else f"{int(d)}/{int(m)}/{y}"


def render_article_page(*, lang: str, site_name: str, host: str, article: Article, sidebar: list[tuple[str, str]],
                        meta_charset: str | None, meta_style: str = "html5") -> str:
    ui = tb.UI[lang]
    head = []
    if meta_charset and meta_style == "html5":
        head.append(f'<meta charset="{meta_charset}">')
    elif meta_charset:
        head.append(f'<meta http-equiv="Content-Type" content="text/html; charset={meta_charset}">')
    paras = article.paragraph_texts()
    description = paras[0][:150] if paras else article.headline
    head += [
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(article.headline)} | {esc(site_name)}</title>",
        f'<meta name="description" content="{attr(description)}">',
        f'<meta property="og:site_name" content="{attr(site_name)}">',
        '<link rel="stylesheet" href="/static/css/site.css">',
        f"<style>{_STYLE}</style>",
        f'<script async src="https://{host}/static/js/analytics.js"></script>',
        f"<script>\n{_SCRIPT}\n</script>",
    ]
    nav = "".join(f'<li><a href="{attr(href)}">{esc(label)}</a></li>' for href, label in ui["nav"])
    side = "\n".join(f'<li><a href="{attr(u)}">{esc(h)}</a></li>' for u, h in sidebar)
    by = f"{ui['by']} {article.author}" if lang not in ("zh", "ja", "ru") else f"{ui['by']}{article.author}"
    body_ps = "\n".join(f"<p>{esc(p)}</p>" for p in paras)
    return f"""<!DOCTYPE html>
<html lang="{lang}">
<head>
{chr(10).join(head)}
</head>
<body>
<header class="site-header">
<a class="logo" href="/">{esc(site_name)}</a>
<form class="search" action="/search"><input type="text" name="q" placeholder="{attr(ui['search'])}"></form>
<nav class="main-nav"><ul>{nav}</ul></nav>
</header>
<div class="cookie-banner" id="cookie-banner">{esc(ui['cookie'])} <button type="button">{esc(ui['accept'])}</button></div>
<main class="container">
<article class="story">
<h1>{esc(article.headline)}</h1>
<p class="byline">{esc(by)} | <time datetime="{article.published}">{_byline_date(lang, article.published)}</time></p>
{body_ps}
<div class="share">{esc(ui['share'])}: <a href="#">Facebook</a> <a href="#">X</a> <a href="#">Email</a></div>
</article>
<aside class="sidebar">
<h2>{esc(ui['most_read'])}</h2>
<ul>
{side}
</ul>
<div class="ad-slot">{esc(ui['ad'])}</div>
</aside>
</main>
<footer class="site-footer">
<p>&copy; 2024 {esc(site_name)}. {esc(ui['rights'])}</p>
<p><a href="/privacy">{esc(ui['privacy'])}</a> | <a href="/terms">{esc(ui['terms'])}</a> | <a href="/cookies">{esc(ui['cookies'])}</a> | <a href="/contact">{esc(ui['contact'])}</a></p>
</footer>
</body>
</html>
"""


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


SPAM_KINDS = ["keyword_stuffing", "repeated_lines", "link_farm", "lorem_ipsum", "very_short", "random_chars",
              "symbol_heavy", "javascript_wall", "keyword_stuffing_zh"]


def spam_page(kind: str, rng) -> tuple[str, str | None]:
    """Returns (html, expected language or None)."""
    if kind == "keyword_stuffing":
        kws = tb.SPAM_KEYWORDS_EN
        paras = []
        for _ in range(6):
            words = [rng.choice(kws) for _ in range(rng.randint(25, 40))]
            paras.append("<p>" + " ".join(words) + "</p>")
        body = "<h1>Cheap flights cheap hotels best price cheap flights</h1>\n" + "\n".join(paras)
        return _simple_page("cheap flights cheap hotels cheap flights best price deals", body), "en"
    if kind == "repeated_lines":
        body = "\n".join(f"<p>{esc(tb.SPAM_REPEATED_LINE)}</p>" for _ in range(40))
        return _simple_page("Mega Sale", "<h1>MEGA SALE</h1>\n" + body), "en"
    if kind == "link_farm":
        items = []
        for i in range(80):
            w = rng.choice(tb.SPAM_LINK_WORDS)
            items.append(f'<li><a href="https://{slugify(w)}-{i}.example-partners.net/">{esc(w)} {i}</a></li>')
        body = "<h1>Top links</h1>\n<ul>\n" + "\n".join(items) + "\n</ul>"
        return _simple_page("Best casino links 2024", body), "en"
    if kind == "lorem_ipsum":
        paras = [" ".join(rng.sample(tb.LOREM, 4)) for _ in range(5)]
        body = "<h1>Lorem ipsum dolor sit amet</h1>\n" + "\n".join(f"<p>{esc(p)}</p>" for p in paras)
        return _simple_page("Lorem ipsum - Home", body), "la"
    if kind == "very_short":
        return _simple_page("Coming soon", "<p>Coming soon.</p>"), "en"
    if kind == "random_chars":
        alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789#$%&*+=@"
        lines = []
        for _ in range(30):
            words = ["".join(rng.choice(alphabet) for _ in range(rng.randint(3, 14)))
                     for _ in range(rng.randint(6, 12))]
            lines.append("<p>" + esc(" ".join(words)) + "</p>")
        return _simple_page("x7Qz" + "".join(rng.choice(alphabet) for _ in range(8)), "\n".join(lines)), None
    if kind == "symbol_heavy":
        lines = []
        for _ in range(25):
            n = rng.randint(1, 999)
            lines.append(f"<p>### WIN ${n} ### !!! ... #winner #free #prize ... &gt;&gt;&gt; CLICK ... ###</p>")
        return _simple_page("### WIN ###", "\n".join(lines)), "en"
    if kind == "javascript_wall":
        body = ("<noscript><p>Please enable JavaScript to view this page.</p></noscript>\n"
                "<p>This site requires JavaScript. Please enable JavaScript in your browser settings.</p>\n"
                "<p>By using this site you agree to our cookie policy and terms of use.</p>\n"
                "<div id=\"app\">{{ loading }}</div>\n"
                "<script>function init(){ var app = document.getElementById('app'); app.innerHTML = ''; }</script>")
        return _simple_page("Loading...", body), "en"
    if kind == "keyword_stuffing_zh":
        paras = []
        for _ in range(6):
            paras.append("<p>" + "".join(rng.choice(tb.SPAM_KEYWORDS_ZH) for _ in range(30)) + "</p>")
        body = "<h1>免费下载高清电影在线观看免费下载</h1>\n" + "\n".join(paras)
        return _simple_page("免费下载 高清电影 在线观看 免费下载", body, lang="zh"), "zh"
    raise ValueError(kind)


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


CSS_TEXT = """/* site.css */
html, body { margin: 0; padding: 0; }
body { font-family: Georgia, "Times New Roman", serif; color: #1a1a1a; background: #fff; }
.site-header { display: flex; align-items: center; padding: 12px 24px; border-bottom: 1px solid #ddd; }
.main-nav ul { list-style: none; display: flex; gap: 16px; margin: 0; padding: 0; }
.container { display: grid; grid-template-columns: 3fr 1fr; gap: 32px; max-width: 1100px; margin: 0 auto; }
.story h1 { font-size: 2.2rem; line-height: 1.2; }
.story p { font-size: 1.1rem; line-height: 1.6; }
.sidebar { font-family: Arial, sans-serif; font-size: 0.9rem; }
.cookie-banner { position: fixed; bottom: 0; left: 0; right: 0; padding: 12px; background: #222; color: #fff; }
.site-footer { padding: 24px; font-size: 0.8rem; color: #666; border-top: 1px solid #ddd; }
"""

JS_TEXT = """(function () {
  'use strict';
  var banner = document.getElementById('cookie-banner');
  if (banner && window.localStorage.getItem('cookies-accepted') === '1') { banner.style.display = 'none'; }
  document.addEventListener('click', function (e) {
    if (e.target && e.target.closest('#cookie-banner button')) {
      window.localStorage.setItem('cookies-accepted', '1');
      banner.style.display = 'none';
    }
  });
})();
"""
