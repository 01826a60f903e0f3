"""The words of the sample's web pages, read from ``data/``: sentence templates, names and places, site
chrome per language, the news sites and the words of the spam pages.

Templates (``data/languages/<lang>/templates.txt``, one a line) use two kinds of markup:

* ``{slot}``  -- filled from the article context (city, person, company...) or from freshly drawn numbers;
* ``[a|b|c]`` -- one alternative is chosen at random each time the template is used (an empty
  alternative is allowed).  Alternatives keep two articles that use the same template from sharing
  long word n-grams, so distinct articles stay far apart under MinHash/5-gram Jaccard.

``== <topic> headlines ==`` and ``== <topic> sentences ==`` open a topic's two pools.  English and Chinese
have several topics plus ``== shared sentences ==``, which fit any topic; the other languages have one
topic, ``general``.  The order of topics and templates is part of the sample: seeded choices index them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from . import resources

LANGUAGES = ("en", "zh", "de", "fr", "es", "ja", "ru")
_SHARED_POOL = "shared"


@dataclass(frozen=True)
class TopicTemplates:
    headlines: tuple[str, ...]
    sentences: tuple[str, ...]


@dataclass(frozen=True)
class PageChrome:
    """What surrounds an article on a news page: navigation, search box, cookie banner, byline, share
    line, sidebar and footer."""

    nav: tuple[tuple[str, str], ...]  # (href, label)
    search: str
    cookie: str
    accept: str
    by: str
    share: str
    most_read: str
    ad: str
    rights: str
    privacy: str
    terms: str
    cookies: str
    contact: str


@dataclass(frozen=True)
class Language:
    """Everything the composer and the page renderer need to write in one language (``words.yaml`` gives
    the word lists; the lists a language does not use stay empty)."""

    code: str
    topics: dict[str, TopicTemplates]
    shared_sentences: tuple[str, ...]
    chrome: PageChrome
    cities: tuple  # names, or (Russian) the case forms that the templates use, as slot -> word
    given_names: tuple[str, ...]
    family_names: tuple[str, ...]
    weekdays: tuple[str, ...] = ()
    months: tuple[str, ...] = ()
    ordinals: tuple[str, ...] = ()
    districts: tuple[str, ...] = ()
    streets: tuple[str, ...] = ()
    companies: tuple[str, ...] = ()
    team_nicknames: tuple[str, ...] = ()
    boilerplate: tuple[str, ...] = ()  # paragraphs appended to many article bodies
    synonyms: tuple[tuple[str, str], ...] = ()  # (word, replacement) for near-duplicate copies
    republished: str = ""  # the note that ends a near-duplicate copy, with a {source} slot


@cache
def language(code: str) -> Language:
    pools = resources.sections(f"languages/{code}/templates.txt")
    topic_names = [title.rsplit(" ", 1)[0] for title in pools if title.endswith(" headlines")]
    topics = {t: TopicTemplates(pools[f"{t} headlines"], pools[f"{t} sentences"]) for t in topic_names}
    words = {key: _frozen(value) for key, value in resources.yaml_data(f"languages/{code}/words.yaml").items()}
    chrome = PageChrome(**{key: _frozen(value) for key, value in words.pop("chrome").items()})
    return Language(code=code, topics=topics, shared_sentences=pools.get(f"{_SHARED_POOL} sentences", ()),
                    chrome=chrome, **words)


def _frozen(value):
    """YAML lists as tuples, nested ones too, so that no caller can change the cached banks."""
    return tuple(_frozen(item) for item in value) if isinstance(value, list) else value


@dataclass(frozen=True)
class NewsSite:
    host: str
    name: str
    lang: str


@cache
def news_sites() -> tuple[NewsSite, ...]:
    """The sites that publish the sample's articles, in the order that the seeded draws follow."""
    return tuple(NewsSite(**site) for site in resources.yaml_data("sites.yaml"))


@dataclass(frozen=True)
class SpamWords:
    keywords_en: tuple[str, ...]
    keywords_zh: tuple[str, ...]
    repeated_line: str
    link_words: tuple[str, ...]
    lorem: tuple[str, ...]


@cache
def spam_words() -> SpamWords:
    return SpamWords(**{key: _frozen(value) for key, value in resources.yaml_data("spam.yaml").items()})
