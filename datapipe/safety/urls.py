"""URL filtering, as RefinedWeb and FineWeb start: block lists, then banned words in the URL.

A web document (an ``http(s)`` URL) is rejected when, in this order:

1. its host or a parent domain is on a block list's domain list (``url:blocklist:<list>``, detail
   ``domain <entry>``), its page is on a URL list (``url <entry>``) or an expression matches it
   (``expression``);
2. a token of the URL (a run of letters and digits, lower case) is a banned word
   (``url:banned_words``);
3. the URL, lower case with everything but letters and digits removed, contains a banned subword
   (``url:banned_subwords``): concatenated host names such as ``freeporntube.com``;
4. ``soft_words_min`` distinct tokens are soft words (``url:soft_words``): RefinedWeb's softer rule
   for words that alone are too common.

A host on the allow list (or under an allowed domain) passes every rule. Domain documents
(``<source>:<path>`` URLs) and documents without a URL pass untouched and are counted.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cached_property
from urllib.parse import urlsplit

from datapipe.document import Document
from datapipe.stage import Decision, DocumentStage, Reject

from .blocklists import UrlLists, normalize_host, strip_www

_NOT_ALNUM = re.compile(r"[^a-z0-9]+")
_IP_LITERAL = re.compile(r"^[0-9.]+$|:")


def parent_domains(host: str) -> list[str]:
    """``host`` and each parent domain of at least two labels (a.b.example.com, b.example.com,
    example.com); an IP address only itself."""
    if _IP_LITERAL.search(host):
        return [host]
    labels = host.split(".")
    return [".".join(labels[i:]) for i in range(max(1, len(labels) - 1))]


class UrlMatcher:
    """Decides about URLs with a :class:`UrlLists` (one per task: it compiles the patterns)."""

    def __init__(self, lists: UrlLists):
        self.lists = lists

    @cached_property
    def _expressions(self) -> list[tuple[int, re.Pattern]]:
        return [(index, re.compile(pattern, re.I)) for index, pattern in self.lists.expressions]

    @cached_property
    def _subwords(self) -> re.Pattern | None:
        words = self.lists.banned_subwords
        return re.compile("|".join(map(re.escape, sorted(words, key=len, reverse=True)))) if words else None

    def allowed(self, host: str) -> bool:
        return any(d in self.lists.allow for d in parent_domains(host))

    def blocked(self, host: str, path: str, url: str) -> Reject | None:
        """The block list rule a URL breaks, if any (``path``: lower case, with the query if any)."""
        lists = self.lists
        for domain in parent_domains(host):
            index = lists.domains.get(domain)
            if index is not None:
                return Reject(f"url:blocklist:{lists.names[index]}", f"domain {domain}")
        bare = strip_www(host)
        for prefix, index in lists.url_prefixes.get(bare, ()):
            if path == prefix or (path.startswith(prefix) and (prefix.endswith("/") or path[len(prefix)] in "/?#;&")):
                return Reject(f"url:blocklist:{lists.names[index]}", f"url {bare}{prefix}")
        without_scheme = url.split("://", 1)[-1]
        for index, pattern in self._expressions:
            m = pattern.search(without_scheme)
            if m:
                return Reject(f"url:blocklist:{lists.names[index]}", f"expression {m.group()[:100]}")
        return None

    def banned(self, url: str) -> Reject | None:
        """The banned-word rule a URL breaks, if any."""
        lower = url.lower()
        tokens = set(_NOT_ALNUM.split(lower))
        hard = sorted(tokens & self.lists.banned_words)
        if hard:
            return Reject("url:banned_words", ",".join(hard))
        if self._subwords is not None:
            m = self._subwords.search(_NOT_ALNUM.sub("", lower))
            if m:
                return Reject("url:banned_subwords", m.group())
        soft = sorted(tokens & self.lists.soft_words)
        if len(soft) >= self.lists.soft_words_min:
            return Reject("url:soft_words", ",".join(soft))
        return None


class UrlFilterStage(DocumentStage):
    """Rejects web documents by URL (see the module). Counters: ``url.checked``, ``url.allowed``,
    ``url.not_web`` (domain documents, no URL), ``url.unparseable``. ``lists`` gives the tables on
    the machine that runs the stage (on Spark: the broadcast's value)."""

    name = "url_filter"

    def __init__(self, lists: Callable[[], UrlLists]):
        super().__init__()
        self.lists = lists

    def setup(self) -> None:
        self.matcher = UrlMatcher(self.lists())

    def process(self, doc: Document) -> Decision:
        url = doc.url or ""
        if not url.lower().startswith(("http://", "https://")):
            self.counters["url.not_web"] += 1
            return doc
        try:
            parts = urlsplit(url)
            hostname = parts.hostname
        except ValueError:
            hostname = None
        if not hostname:
            self.counters["url.unparseable"] += 1
            return doc
        host = normalize_host(hostname) or hostname  # IP addresses as they are
        self.counters["url.checked"] += 1
        if self.matcher.allowed(host):
            self.counters["url.allowed"] += 1
            return doc
        # The query is part of the page: UT1 lists pages such as "example.es/?v=da7f24de4c8e".
        path = (parts.path or "/") + ("?" + parts.query if parts.query else "")
        return self.matcher.blocked(host, path.lower(), url) or self.matcher.banned(url) or doc
