"""Article composition for the sample corpus: templates filled with a per-article context and fresh
numbers, balanced so that no two articles share much text, and near-duplicate copies of articles.

Everything here is driven by a caller-supplied ``random.Random`` so that a seed fixes every byte; the
order of the draws is therefore part of the sample.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from .textbank import Language, TopicTemplates, language

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


def _money(rng, large: str, small: str, small_range: tuple[int, int]) -> str:
    """A sum in millions (or 亿) with one decimal 60% of the time, else a smaller round one."""
    if rng.random() < 0.6:
        return large.format(rng.randint(12, 480) / 10)
    return small.format(rng.randint(*small_range))


_THOUSANDS_SEPARATOR = {"de": ".", "es": ".", "fr": " ", "ru": " ", "ja": ","}


def numbers(lang: str, rng) -> dict:
    """Fresh numeric slot values; drawn again for every sentence."""
    n, k, m, n2 = rng.randint(2, 9), rng.randint(2, 9), rng.randint(10, 19), rng.randint(12, 60)
    big = rng.randint(120, 9500) * 10
    pct = rng.randint(4, 68)
    year = rng.randint(2012, 2022)
    words = language(lang)
    if lang == "en":
        goals = rng.randint(1, 4)
        money = _money(rng, "${:.1f} million", "${},000", (150, 950))
        return {
            "n": n, "k": k, "m": m, "n2": n2, "staff": rng.randint(40, 900), "big": _group(big, ","), "pct": pct,
            "money": money, "money_small": f"${rng.randint(25, 190)}", "price": f"${rng.randint(185, 690)},000",
            "score": f"{goals}-{rng.randint(0, goals - 1)}", "minute_ord": _ordinal(rng.randint(3, 89)),
            "place": rng.choice(words.ordinals), "ord": rng.choice(words.ordinals[:4]), "year": year,
            "year_old": rng.randint(1958, 1989), "weekday": rng.choice(words.weekdays),
            "month": rng.choice(words.months),
        }
    if lang == "zh":
        goals = rng.randint(1, 4)
        money = _money(rng, "{:.1f}亿元", "{}万元", (300, 9500))
        return {
            "n": n, "k": k, "m": m, "n2": n2, "hundreds": rng.randint(120, 480), "big": big,
            "pct": f"{rng.randint(30, 480) / 10:.1f}", "pct_small": f"{rng.randint(35, 89) / 10:.1f}",
            "money": money, "score": f"{goals}比{rng.randint(0, goals - 1)}", "minute": rng.randint(3, 89),
            "age": rng.choice([60, 65, 70, 75, 80]), "alt": rng.randint(120, 320) * 10,
            "month": rng.randint(1, 12), "day": rng.randint(1, 28), "year": year,
            "weekday": rng.choice(words.weekdays),
        }
    out = {"n": n, "k": k, "m": m, "n2": n2, "staff": rng.randint(40, 900),
           "big": _group(big, _THOUSANDS_SEPARATOR[lang]), "pct": pct, "year": year}
    if words.weekdays:
        out["weekday"] = rng.choice(words.weekdays)
    if lang == "ja":
        out["month"] = rng.randint(1, 12)
    elif words.months:
        out["month"] = rng.choice(words.months)
    return out


def person_name(words: Language, rng) -> tuple[str, str]:
    """A full name and its family name; Chinese and Japanese names put the family name first, without a
    space."""
    if words.code in CJK_LANGS:
        family = rng.choice(words.family_names)
        return family + rng.choice(words.given_names), family
    given = rng.choice(words.given_names)
    family = rng.choice(words.family_names)
    return f"{given} {family}", family


def make_context(lang: str, rng) -> dict:
    """Entities fixed for the whole article (one city, one protagonist...)."""
    words = language(lang)
    city = rng.choice(words.cities)
    if lang == "en":
        person, surname = person_name(words, rng)
        person2, _ = person_name(words, rng)
        rival_city = rng.choice([c for c in words.cities if c != city])
        nicks = rng.sample(words.team_nicknames, 2)
        return {
            "city": city, "street": rng.choice(words.streets), "person": person, "surname": surname,
            "person2": person2, "company": rng.choice(words.companies),
            "team": f"{city} {nicks[0]}", "rival": f"{rival_city} {nicks[1]}",
            "uni": rng.choice([f"{city} State University", f"the University of {city}"]),
        }
    if lang == "zh":
        rival_city = rng.choice([c for c in words.cities if c != city])
        nicks = rng.sample(words.team_nicknames, 2)
        return {
            "city": city, "district": rng.choice(words.districts),
            "person": person_name(words, rng)[0], "person2": person_name(words, rng)[0],
            "company": rng.choice(words.companies), "team": f"{city}{nicks[0]}队",
            "rival": f"{rival_city}{nicks[1]}队", "uni": rng.choice([f"{city}大学", f"{city}理工大学"]),
        }
    ctx = dict(city) if isinstance(city, dict) else {"city": city}
    ctx["person"] = person_name(words, rng)[0]
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


def topics_for(lang: str) -> list[str]:
    return list(language(lang).topics)


@dataclass(frozen=True)
class ArticleShape:
    """How long an article of a language is and how it is cut into paragraphs."""

    unit: str  # what ``size`` counts: words, chars or sentences
    size: tuple[int, int]  # drawn when the caller gives no target
    on_topic_opening: int  # sentences that come from the article's own topic before any other pool
    paragraph_sentences: tuple[int, int]


_SHAPES = {"en": ArticleShape("words", (170, 430), 3, (2, 5)), "zh": ArticleShape("chars", (330, 750), 1, (2, 4))}
_OTHER_SHAPE = ArticleShape("sentences", (6, 9), 1, (2, 4))


class Composer:
    """Composes articles; template use is balanced across articles so that no two share much text."""

    def __init__(self, rng):
        self.rng = rng
        self.usage: Counter = Counter()
        self.headline_usage: Counter = Counter()

    def _pick(self, key: tuple, pool: tuple[str, ...], taken: set) -> int | None:
        cands = [i for i in range(len(pool)) if (key, i) not in taken]
        if not cands:
            return None
        low = min(self.usage[(key, i)] for i in cands)
        best = [i for i in cands if self.usage[(key, i)] == low]
        return self.rng.choice(best)

    def article(self, lang: str, *, topic: str | None = None, target: int | None = None,
                encoding: str | None = None) -> Article:
        """``target`` is in words (space-separated languages), characters (zh) or sentences (the other
        languages); an article that ``encoding`` cannot encode is composed again."""
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
        words = language(lang)
        topic = topic or rng.choice(topics_for(lang))
        templates = words.topics[topic]
        ctx = make_context(lang, rng)
        headline = fill(self._headline(lang, topic, templates), lang, ctx, rng)
        shape = _SHAPES.get(lang, _OTHER_SHAPE)
        target = target or rng.randint(*shape.size)
        sentences = self._sentences(words, topic, templates, shape, target, ctx)
        paragraphs = _paragraphs(sentences, rng, shape.paragraph_sentences)
        author = person_name(words, rng)[0]
        published = f"2024-{rng.choice([1, 2]):02d}-{rng.randint(1, 18):02d}"
        return Article(lang, topic, headline, paragraphs, author, published)

    def _headline(self, lang: str, topic: str, templates: TopicTemplates) -> str:
        """The topic's least used headline template (ties broken at random)."""
        key = (lang, topic)
        pick = min(range(len(templates.headlines)), key=lambda i: (self.headline_usage[(key, i)], self.rng.random()))
        self.headline_usage[(key, pick)] += 1
        return templates.headlines[pick]

    def _sentence_sources(self, words: Language, topic: str, templates: TopicTemplates) -> list[tuple]:
        """``(usage key, pool, weight)``: the article's topic and, where the language has them, the shared
        pool and a second topic."""
        lang = words.code
        sources = [((lang, topic, "t"), templates.sentences, 0.6)]
        if words.shared_sentences:
            second = self.rng.choice([t for t in topics_for(lang) if t != topic])
            sources += [((lang, "general"), words.shared_sentences, 0.22),
                        ((lang, second, "t"), words.topics[second].sentences, 0.18)]
        return sources

    def _sentences(self, words: Language, topic: str, templates: TopicTemplates, shape: ArticleShape,
                   target: int, ctx: dict) -> list[str]:
        """Filled templates, each used once per article, until the article reaches ``target``; the
        opening stays on the article's own topic, then the pools are drawn by weight."""
        rng = self.rng
        lang = words.code
        sources = self._sentence_sources(words, topic, templates)
        taken: set = set()
        sentences: list[str] = []
        while True:
            if len(sentences) < shape.on_topic_opening:
                order = sources
            else:
                first = rng.choices(range(len(sources)), weights=[w for _, _, w in sources])[0]
                order = [sources[first]] + [s for j, s in enumerate(sources) if j != first]
            for key, pool, _ in order:
                i = self._pick(key, pool, taken)
                if i is not None:
                    break
            else:
                return sentences
            taken.add((key, i))
            self.usage[(key, i)] += 1
            sentences.append(fill(pool[i], lang, ctx, rng))
            if shape.unit == "sentences":
                size = len(sentences)
            else:
                size = text_size(lang, ("" if shape.unit == "chars" else " ").join(sentences))
            if size >= target:
                return sentences


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
    words = language(article.lang)
    order = list(range(len(words.synonyms)))
    rng.shuffle(order)
    for pi, p in enumerate(paras):
        edit = _replace_a_synonym(p, article.lang, words.synonyms, order)
        if edit:
            edits.append(f"{edit} in paragraph {pi}")
    # 4. a republication note at the end
    note = words.republished.format(source=source_name)
    edits.append("added republication note")
    variant = Article(article.lang, article.topic, article.headline, paras, article.author, article.published,
                      extra=list(article.extra) + [note])
    return variant, edits


def _replace_a_synonym(paragraph: list[str], lang: str, synonyms: tuple[tuple[str, str], ...],
                       order: list[int]) -> str | None:
    """Replace the first word of ``order`` found in the paragraph, in its first sentence that has it."""
    for j in order:
        old, new = synonyms[j]
        pat = re.compile(re.escape(old)) if lang == "zh" else re.compile(rf"\b{re.escape(old)}\b")
        for si, sent in enumerate(paragraph):
            if pat.search(sent):
                paragraph[si] = pat.sub(new, sent, count=1)
                return f"replaced '{old}' with '{new}'"
    return None
