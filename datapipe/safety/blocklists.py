"""Block-list files, and the compact tables the safety stages build from them on the driver.

Formats read (one entry per line; blank lines and lines starting with ``#`` are skipped; ``.gz``
files are read transparently):

- domain lists: a domain per line (UT1 ``domains``, plain lists) or hosts-file lines
  (``0.0.0.0 example.com www.example.com``; ``localhost`` entries are left out). Entries are lower
  case and IDNA-encoded; an entry without a dot would block a whole top-level domain and is skipped;
- URL lists (UT1 ``urls``): ``host/path``, matching that page and everything below it;
- expression lists (UT1 ``expressions``): a regular expression per line, searched in the URL;
- word lists (LDNOOBW): a word or phrase per line, lower-cased, inner whitespace collapsed.

The tables (``UrlLists``, ``WordLists``) are plain sets, dicts and strings: built once before Spark
starts, broadcast, and compiled to patterns once per task. A missing file is skipped with a warning
and counted in the report (``strict``: an error), like the decontamination stage's benchmarks.
"""

from __future__ import annotations

import glob
import gzip
import logging
import pickle
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from datapipe.config import ConfigError

from .config import Entries, SafetyConfig

log = logging.getLogger(__name__)

_LANGUAGE_FILE = re.compile(r"^[a-z]{2,3}(?:-[A-Za-z0-9]+)*$")
_HOSTNAME = re.compile(r"^(?:[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?\.)+[a-z0-9_-]{1,63}$")
_HOSTS_ADDRESS = re.compile(r"^(?:\d{1,3}(?:\.\d{1,3}){3}|[0-9a-fA-F:]*:[0-9a-fA-F:.]*)$")
_HOSTS_LOCAL_NAMES = {"localhost", "localhost.localdomain", "local", "broadcasthost", "ip6-localhost", "ip6-loopback"}
_WWW = re.compile(r"^www\d*\.")
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://", re.I)
_TOKEN = re.compile(r"^[a-z0-9]+$")
_SPACES = re.compile(r"\s+")


def normalize_host(name: str) -> str | None:
    """A host name as the lists and URLs are compared: lower case, no trailing dot, IDNA-encoded;
    None when it is not a host name with at least two labels."""
    host = name.strip().strip(".").lower()
    if host.startswith("*."):
        host = host[2:]
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    return host if "." in host and _HOSTNAME.match(host) else None


def strip_www(host: str) -> str:
    """``www.``, ``www2.``, ... removed: UT1 URL entries are written without them."""
    return _WWW.sub("", host, count=1)


def hosts_line_names(line: str) -> list[str]:
    """The domain names on one line of a domain list: the line itself, or for a hosts-file line
    (an address, then names) the names after the address; a trailing ``# comment`` is left out."""
    fields = line.split("#", 1)[0].split()  # a hosts file's comment runs from "#" to the end of the line
    if len(fields) > 1 and _HOSTS_ADDRESS.match(fields[0]):
        return [f for f in fields[1:] if f.lower() not in _HOSTS_LOCAL_NAMES]
    return fields[:1]


def normalize_word(word: str) -> str:
    """A list entry or matched text as bad words are compared: lower case, single spaces."""
    return _SPACES.sub(" ", word.strip().lower())


class ListFiles:
    """Resolves list paths against the root and reads their lines; records what is missing (or,
    with ``strict``, stops at the first missing file)."""

    def __init__(self, root: Path, strict: bool):
        self.root, self.strict = root, strict
        self.missing: list[str] = []
        self.files_read = 0

    def _full(self, name: str) -> Path:
        path = Path(name).expanduser()
        return path if path.is_absolute() else self.root / path

    def _missing(self, what: str, path: Path) -> None:
        if self.strict:
            raise ConfigError(f"{what}: {path} not found (strict: true)")
        log.warning("%s: %s not found; skipped", what, path)
        self.missing.append(str(path))

    def files(self, pattern: str, what: str) -> list[Path]:
        found = sorted(Path(p) for p in glob.glob(str(self._full(pattern))) if Path(p).is_file())
        if not found:
            self._missing(what, self._full(pattern))
        return found

    def directory(self, name: str, what: str) -> Path | None:
        path = self._full(name)
        if path.is_dir():
            return path
        self._missing(what, path)
        return None

    def lines(self, patterns: list[str], what: str) -> Iterator[str]:
        """The entries of every file of ``patterns``: stripped lines, blank and ``#`` lines left out."""
        for pattern in patterns:
            for path in self.files(pattern, what):
                self.files_read += 1
                data = path.read_bytes()
                if path.name.endswith(".gz"):
                    data = gzip.decompress(data)
                for line in data.decode("utf-8", "replace").splitlines():
                    line = line.strip()
                    if line and not line.startswith("#"):
                        yield line

    def entries(self, source: Entries, what: str) -> Iterator[str]:
        yield from source.entries
        yield from self.lines(source.paths, what)


# --------------------------------------------------------------------------------------------
# URL lists
# --------------------------------------------------------------------------------------------


@dataclass
class UrlLists:
    """What the URL filter compares URLs with (see ``datapipe.safety.urls``)."""

    names: list[str]
    """Block list names; the tables below refer to them by index."""
    domains: dict[str, int] = field(default_factory=dict)
    """Blocked domain -> list; a host matches when it or a parent domain is here."""
    url_prefixes: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    """Host (without ``www.``) -> (path prefix, list) of blocked pages."""
    expressions: list[tuple[int, str]] = field(default_factory=list)
    """(list, one alternation of the list's expressions)."""
    allow: frozenset[str] = frozenset()
    banned_words: frozenset[str] = frozenset()
    banned_subwords: tuple[str, ...] = ()
    soft_words: frozenset[str] = frozenset()
    soft_words_min: int = 2
    report: dict = field(default_factory=dict)


def _url_entry(line: str) -> tuple[str, str] | None:
    """(host without ``www.``, lower-case path prefix) of a UT1 ``urls`` line. The fragment is no
    part of the page (``example.com/#gallery`` is the home page) and a trailing slash is dropped
    (``example.com/en/`` is also ``example.com/en``; the prefix still ends at a ``/``, see
    ``datapipe.safety.urls``)."""
    rest = _SCHEME.sub("", line.strip())
    host, slash, path = rest.partition("/")
    host = normalize_host(host.split(":", 1)[0])
    prefix = ("/" + path.split("#", 1)[0]).lower()
    prefix = prefix.rstrip("/") or "/"
    return (strip_www(host), prefix) if host else None


def _valid_expression(expression: str) -> bool:
    try:
        re.compile(expression)
        return True
    except re.error:
        return False


def _tokens(files: ListFiles, source: Entries, what: str, report: dict) -> list[str]:
    """The entries of ``source`` that are single URL tokens (letters and digits); others counted."""
    words = [normalize_word(w) for w in files.entries(source, what)]
    tokens = sorted({w for w in words if _TOKEN.match(w)})
    report[what] = {"entries": len(tokens), "not_a_token": len(words) - sum(1 for w in words if _TOKEN.match(w))}
    return tokens


def load_url_lists(config: SafetyConfig) -> UrlLists:
    """Read the URL filter's block lists, allow list and URL words (before Spark starts: a bad
    path fails fast)."""
    cfg = config.url_filter
    files = ListFiles(config.root_path(), config.strict)
    lists = UrlLists(names=[b.name for b in cfg.blocklists], soft_words_min=cfg.soft_words_min)
    per_list: dict[str, dict] = {}
    for index, blocklist in enumerate(cfg.blocklists):
        what = f"block list {blocklist.name}"
        counts = dict.fromkeys(("domains", "urls", "expressions", "invalid_lines"), 0)
        before = len(files.missing)
        for line in files.lines(blocklist.domains, what):
            for name in hosts_line_names(line):
                host = normalize_host(name)
                if host is None:
                    counts["invalid_lines"] += 1
                elif host not in lists.domains:
                    lists.domains[host] = index
                    counts["domains"] += 1
        for line in files.lines(blocklist.urls, what):
            entry = _url_entry(line)
            if entry is None:
                counts["invalid_lines"] += 1
            else:
                lists.url_prefixes.setdefault(entry[0], []).append((entry[1], index))
                counts["urls"] += 1
        expressions = []
        for line in files.lines(blocklist.expressions, what):
            if _valid_expression(line):
                expressions.append(line)
            else:
                log.warning("%s: not a valid regular expression, skipped: %s", what, line[:200])
                counts["invalid_lines"] += 1
        if expressions:
            lists.expressions.append((index, "|".join(f"(?:{e})" for e in expressions)))
            counts["expressions"] = len(expressions)
        per_list[blocklist.name] = {**counts, "files_missing": len(files.missing) - before}
    allow = {normalize_host(h) for h in files.entries(cfg.allow, "allow list")}
    lists.allow = frozenset(h for h in allow if h)
    words: dict[str, dict] = {}
    lists.banned_words = frozenset(_tokens(files, cfg.banned_words, "banned_words", words))
    lists.soft_words = frozenset(_tokens(files, cfg.soft_words, "soft_words", words))
    lists.banned_subwords = tuple(_tokens(files, cfg.banned_subwords, "banned_subwords", words))
    lists.report = {
        "lists": per_list,
        "domains": len(lists.domains),
        "url_prefixes": sum(len(v) for v in lists.url_prefixes.values()),
        "allow": len(lists.allow),
        "words": words,
        "files_read": files.files_read,
        "files_missing": len(files.missing),
        "missing": files.missing,
    }
    lists.report["bytes"] = len(pickle.dumps(lists))
    log.info("URL block lists: %d domains, %d URL prefixes, %.1f MB, %d files missing",
             len(lists.domains), lists.report["url_prefixes"], lists.report["bytes"] / 1e6, len(files.missing))
    return lists


# --------------------------------------------------------------------------------------------
# Word lists
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LanguageWords:
    """One language's bad words, the entries matched but not counted, and how they are matched."""

    words: tuple[str, ...]
    ignore: tuple[str, ...]
    substring: bool


@dataclass
class WordLists:
    """Per language code: its words (see ``datapipe.safety.badwords``)."""

    languages: dict[str, LanguageWords] = field(default_factory=dict)
    report: dict = field(default_factory=dict)


def load_word_lists(config: SafetyConfig) -> WordLists:
    """Read the bad-word lists: every language file of ``directory`` and the extra ``lists``."""
    cfg = config.badwords
    files = ListFiles(config.root_path(), config.strict)
    sources: dict[str, list[str]] = {}
    folder = files.directory(cfg.directory, "bad-word directory") if cfg.directory else None
    for path in sorted(folder.iterdir()) if folder else []:
        if path.is_file() and _LANGUAGE_FILE.match(path.name):
            sources.setdefault(cfg.file_languages.get(path.name, path.name), []).append(str(path))
    for lang, paths in cfg.lists.items():
        sources.setdefault(lang, []).extend(paths)
    lists = WordLists()
    for lang, paths in sorted(sources.items()):
        words = sorted({normalize_word(w) for w in files.lines(paths, f"bad words {lang}")} - {""})
        if words:
            ignore = tuple(sorted({normalize_word(w) for w in cfg.ignore.get(lang, [])}))
            lists.languages[lang] = LanguageWords(tuple(words), ignore, lang in cfg.substring_languages)
    lists.report = {
        "languages": {lang: {"words": len(w.words), "ignored": len(w.ignore), "substring": w.substring}
                      for lang, w in lists.languages.items()},
        "words": sum(len(w.words) for w in lists.languages.values()),
        "files_read": files.files_read,
        "files_missing": len(files.missing),
        "missing": files.missing,
    }
    lists.report["bytes"] = len(pickle.dumps(lists))
    if not lists.languages:
        log.warning("no bad-word list could be read: no page will be rejected for its words")
    log.info("bad-word lists: %d languages, %d words, %d files missing", len(lists.languages),
             lists.report["words"], len(files.missing))
    return lists
