"""The safety stages with their default lists (configs/safety.yaml) on real data from ../shared/data:
how much reference text the bad-word filter drops, whether adult pages are dropped, and what the URL
filter does to real page URLs and to the block lists' own entries. Sampled (seed 20240607) to run in
seconds; the full measurements are in configs/safety.yaml's comments.

Measured on this sample (printed with ``-s``):

- bad words, reference text read by the ingest readers: English Wikipedia 0 of 560 articles dropped
  (10 of 60 files), Chinese statutes 0 of 500, CCTV news 0 of 4,221 items (300 of 1,423 days); the
  full sets in configs/safety.yaml: 1 of 3,570, 0 of 3,477, 0 of 19,772;
- adult pages: 13 of 13 planted listing pages dropped (55.9 to 137.3 per 1,000 words), and the real
  one (0513mt.com, resiliparse's test WARC, through extract): 4.2 per 1,000 characters, 10 matches;
- URL filter: none of the 1,733 real page URLs (1,036 WARC responses, 697 Common Crawl 2019 WET
  documents) rejected; of the 3,957 English Wikipedia article URLs one (Anal_sex: url:soft_words);
  400 URLs on adult, gambling, dating and agressif domains and 200 UT1 adult pages all rejected;
- PII on the unplanted Wikipedia sample: 7 spans masked, all IP addresses of servers in the article
  on DNS (wiki_59 #8339), listed in ``REAL_PII``.
"""

from __future__ import annotations

import gzip
import json
import random
import re
from collections import Counter
from functools import cache
from pathlib import Path

import pytest

from datapipe.document import Document
from datapipe.extract import Extractor
from datapipe.safety.badwords import BadWordFilter
from datapipe.safety.blocklists import (
    UrlLists,
    WordLists,
    load_url_lists,
    load_word_lists,
)
from datapipe.safety.config import SafetyConfig
from datapipe.safety.pii import PiiFinder
from datapipe.safety.stage import SafetyStage
from datapipe.safety.urls import UrlFilterStage
from datapipe.stage import Outcome, run_documents
from datapipe.warc import iter_records
from tests.conftest import SHARED_DATA, shared
from tests.test_safety import reference_docs

SEED = 20240607
# (source, files sampled, measured drops on the sample, bound): configs/safety.yaml measured 1 of 3,570
# Wikipedia articles (0.03%; the article on BDSM), no statute and no news item.
REFERENCE = [("enwiki", 10, 0.005), ("laws", 500, 0.0), ("cctv-news", 300, 0.0)]
RESILIPARSE_WARC = ("warc", "resiliparse", "tests", "data", "warcfile.warc.gz")
WET_SAMPLE = ("web_corpus_samples", "dolma", "tests", "data", "formats", "gz", "CC-MAIN-20190717121559-20190717143559-00140.jsonl.gz")


@cache
def config() -> SafetyConfig:
    """The default settings, on the lists of the shared data set this suite reads."""
    return SafetyConfig(root=str(shared("blocklists")))


@cache
def word_lists() -> WordLists:
    return load_word_lists(config())


@cache
def url_lists() -> UrlLists:
    return load_url_lists(config())


def test_default_lists_load_completely():
    words, urls = word_lists().report, url_lists().report
    assert words["files_missing"] == 0 and urls["files_missing"] == 0
    assert words["languages"]["en"]["words"] == 403 and words["languages"]["zh"]["words"] >= 318
    assert words["languages"]["zh"]["ignored"] == len(config().badwords.ignore["zh"])
    lists = urls["lists"]
    assert lists["adult"]["domains"] == 11868 and lists["adult"]["urls"] == 1090
    assert lists["gambling"]["domains"] > 30000 and lists["dating"]["domains"] > 6000 and lists["agressif"]["domains"] > 300
    assert urls["words"]["soft_words"]["entries"] == 276


# --- bad words -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("source", "files", "bound"), REFERENCE)
def test_reference_text_is_not_dropped(source, files, bound):
    docs = reference_docs(source, files, SEED)
    bw = BadWordFilter(word_lists().languages, config().badwords)
    dropped = []
    for doc in docs:
        detail = bw.verdict(doc.lang, bw.scan(doc.lang, doc.text))
        if detail is not None:
            dropped.append((doc.url, detail))
    rate = len(dropped) / len(docs)
    print(f"\nbad words, {source}: {len(dropped)} of {len(docs)} dropped ({rate:.2%})", dropped)
    assert len(docs) > 400
    assert rate <= bound, dropped


def adult_titles() -> list[str]:
    """Page titles from the paths of UT1's adult URL list: the last path segment of words
    (``/boards/231587-bbw-bdsm-erotic-audio-clips`` -> ``bbw bdsm erotic audio clips``)."""
    titles = []
    for line in shared("blocklists", "ut1", "adult", "urls").read_text(encoding="utf-8").splitlines():
        _, _, path = line.strip().partition("/")
        for segment in reversed([s for s in re.split(r"[/?&=]", path) if s]):
            words = [w for w in re.split(r"[-_+]", re.sub(r"\.(html?|php|aspx?)$", "", segment)) if w and not w.isdigit()]
            if len(words) >= 2 and all(re.fullmatch(r"[A-Za-z]+", w) for w in words):
                titles.append(" ".join(words))
                break
    return titles


def test_planted_adult_listing_pages_are_dropped():
    titles = adult_titles()
    assert len(titles) > 600
    random.Random(SEED).shuffle(titles)
    pages = [Document(id=f"adult-{i}", text="\n".join(titles[25 * i : 25 * (i + 1)]), lang="en") for i in range(13)]
    stage = SafetyStage(config(), word_lists)
    outcomes = run_documents(stage, pages)
    rates = [float(o.detail.split(" per ")[0]) for o in outcomes if o.reason]
    print(f"\nplanted adult pages: {len(rates)} of {len(pages)} dropped, {min(rates)}-{max(rates)} per 1000 words")
    assert [o.reason for o in outcomes] == ["badwords:en"] * len(pages)
    assert min(rates) > 4 * config().badwords.max_per_thousand


@cache
def resiliparse_pages() -> tuple[Document, ...]:
    path = shared(*RESILIPARSE_WARC)
    with open(path, "rb") as fh:
        return tuple(Extractor().documents_from_archive(fh, str(path)))


def test_the_real_adult_page_is_dropped_and_its_neighbours_kept():
    pages = resiliparse_pages()
    (adult,) = [d for d in pages if "0513mt.com" in d.url]
    assert adult.lang == "zh"
    stage = SafetyStage(config(), word_lists)
    outcomes: list[Outcome] = run_documents(stage, pages)
    dropped = {o.doc.url: o.detail for o in outcomes if o.reason}
    print("\nreal adult page:", dropped)
    assert list(dropped) == [adult.url]
    assert [o.reason for o in outcomes if o.reason] == ["badwords:zh"]
    assert dropped[adult.url].startswith("4.2 per 1000 characters, 10 matches: 做爱 4")
    assert stage.counters["badwords.zh.docs"] >= 2 and stage.counters["drop.badwords:zh"] == 1


# --- URL filter ----------------------------------------------------------------------------------


@cache
def real_page_urls() -> tuple[str, ...]:
    """The URLs of every response record of the shared WARC/ARC files and of the WET sample."""
    urls = set()
    roots = [SHARED_DATA / "warc", SHARED_DATA / "warc_real_pages"]
    if not all(r.is_dir() for r in roots):
        pytest.skip(f"needs the shared WARC files under {SHARED_DATA}")
    for path in sorted(p for r in roots for p in r.rglob("*") if re.search(r"\.w?arc(\.gz|\.lz4)?$", p.name)):
        with open(path, "rb") as fh:
            for rec in iter_records(fh, Counter()):
                if rec.rec_type == "response" and rec.url and rec.url.lower().startswith(("http://", "https://")):
                    urls.add(rec.url)
    with gzip.open(shared(*WET_SAMPLE), "rt", encoding="utf-8") as fh:
        urls.update(json.loads(line)["metadata"]["warc_url"] for line in fh)
    return tuple(sorted(urls))


def filter_urls(urls: list[str]) -> tuple[list[Outcome], UrlFilterStage]:
    lists = url_lists()
    stage = UrlFilterStage(lambda: lists)
    return run_documents(stage, [Document(id=str(i), text="x", url=u) for i, u in enumerate(urls)]), stage


def test_real_page_urls_pass():
    urls = real_page_urls()
    outcomes, stage = filter_urls(list(urls))
    rejected = [(o.doc.url, o.reason, o.detail) for o in outcomes if o.reason]
    print(f"\nURL filter: {len(rejected)} of {len(urls)} real page URLs rejected", rejected)
    assert len(urls) > 1500 and stage.counters["url.checked"] == len(urls)
    assert rejected == []


def test_wikipedia_article_urls_pass_but_one():
    titles = []
    for path in sorted(shared("english", "enwiki2015").glob("wiki_*")):
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            titles += re.findall(r'<doc id="\d+" url="[^"]*" title="([^"]*)">', fh.read())
    urls = ["https://en.wikipedia.org/wiki/" + t.replace(" ", "_") for t in titles]
    outcomes, _ = filter_urls(urls)
    rejected = [(o.doc.url, o.reason, o.detail) for o in outcomes if o.reason]
    print(f"\nURL filter: {len(rejected)} of {len(urls)} Wikipedia article URLs rejected", rejected)
    assert len(urls) == 3957
    assert rejected == [("https://en.wikipedia.org/wiki/Anal_sex", "url:soft_words", "anal,sex")]


def test_block_list_entries_are_rejected():
    rng = random.Random(SEED)
    root = Path(config().root_path())
    urls = {}
    for name, path in [("adult", "pihole/pi_blocklist_porn_top1m.list"), ("gambling", "ut1/gambling/domains"),
                       ("dating", "ut1/dating/domains"), ("agressif", "ut1/agressif/domains")]:
        domains = [d.strip() for d in (root / path).read_text(encoding="utf-8").splitlines() if d.strip() and "." in d]
        for domain in rng.sample(domains, 100):
            sub = rng.choice(["", "www.", "m.", "cdn2.static."])
            urls[f"https://{sub}{domain}/{rng.choice(['', 'index.html', 'video/123?ref=x'])}"] = name
    adult_pages = [u.strip() for u in (root / "ut1/adult/urls").read_text(encoding="utf-8").splitlines() if "/" in u.strip()]
    for entry in rng.sample(adult_pages, 200):
        urls[f"http://{rng.choice(['', 'www.'])}{entry.rstrip('/')}{rng.choice(['', '/more'])}"] = "adult page"
    outcomes, _ = filter_urls(list(urls))
    reasons = Counter(o.reason for o in outcomes)
    print("\nURL filter on block list entries:", dict(reasons))
    passed = [o.doc.url for o in outcomes if not o.reason]
    assert passed == []
    assert all(o.reason.startswith("url:blocklist:") for o in outcomes)
    # domains are looked up before pages, and a domain on two lists is named by the first: the adult list
    # is first, so its domains are all "adult" (a page of UT1 adult's URL list on a dating domain is "dating")
    assert all(o.reason == "url:blocklist:adult" for o in outcomes if urls[o.doc.url] == "adult")
    assert Counter(urls.values()) == {"adult": 100, "gambling": 100, "dating": 100, "agressif": 100, "adult page": 200}


# --- PII on real text ----------------------------------------------------------------------------

# What the finder masks in the unplanted Wikipedia sample, each checked by eye: all in the article on
# the Domain Name System (wiki_59.gz #8339), the addresses of servers it uses as examples.
DNS_ARTICLE = "enwiki:english/enwiki2015/wiki_59.gz#8339"
REAL_PII = Counter({
    (DNS_ARTICLE, "ip", "93.184.216.119"): 1,  # example.com's IPv4 address
    (DNS_ARTICLE, "ip", "2606:2800:220:6d:26bf:1447:1097:aa7"): 1,  # and its IPv6 address
    (DNS_ARTICLE, "ip", "192.0.43.10"): 2,  # www.example.com (ICANN)
    (DNS_ARTICLE, "ip", "208.80.152.2"): 1,  # a Wikimedia server
    (DNS_ARTICLE, "ip", "2.152.80.208"): 2,  # the same address in its reverse-DNS name (2.152.80.208.in-addr.arpa)
})


def test_pii_masked_in_reference_text_is_real():
    finder = PiiFinder(config().pii)
    masked = Counter()
    for source, files, _ in REFERENCE:
        for doc in reference_docs(source, files, SEED):
            masked.update((doc.url, s.kind, doc.text[s.start : s.end]) for s in finder.find(doc.text))
    print(f"\nPII in the reference sample: {sum(masked.values())} spans", dict(masked))
    assert masked == REAL_PII
