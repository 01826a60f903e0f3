"""The cleaner on real text from /work/shared/data (read in place, never copied into the repo).

Real clean text (Wikipedia paragraphs, news, the UDHR, CCNet "head" web documents) must mostly
be kept; synthetic spam and boilerplate built around real text must be dropped with the expected
reason. Skipped when the shared data folder is absent.
"""

from __future__ import annotations

import gzip
import json
import re
import time
from collections import Counter
from pathlib import Path

import pytest

from datapipe.clean import Cleaner
from datapipe.clean.english import CITATION_RE
from datapipe.text import ngram_char_fractions, remove_garbled

DATA = Path("/work/shared/data")
THUCNEWS = DATA / "chinese_modern/THUCNews_cnews/data/cnews/cnews.val.txt.gz"
CMRC = DATA / "chinese_modern/cmrc2018/squad-style-data/cmrc2018_dev.json.gz"
UDHR = DATA / "multilingual/udhr/txt"
CCNET = [DATA / f"web_corpus_samples/dolma/tests/data/multiple_files/cc_en_head-{n}.jsonl.gz" for n in ("0091", "0174")]


def _need(*paths: Path) -> None:
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        pytest.skip(f"shared test data not available: {', '.join(missing)}")


@pytest.fixture(scope="module")
def cleaner() -> Cleaner:
    return Cleaner()


@pytest.fixture(scope="module")
def thucnews() -> list[str]:
    _need(THUCNEWS)
    with gzip.open(THUCNEWS, "rt", encoding="utf-8") as f:
        return [line.split("\t", 1)[1].strip() for line in f if "\t" in line]


@pytest.fixture(scope="module")
def cmrc() -> list[str]:
    _need(CMRC)
    with gzip.open(CMRC, "rt", encoding="utf-8") as f:
        data = json.load(f)
    return [p["context"] for art in data["data"] for p in art["paragraphs"]]


@pytest.fixture(scope="module")
def ccnet() -> list[str]:
    _need(*CCNET)
    docs = []
    for path in CCNET:
        with gzip.open(path, "rt", encoding="utf-8") as f:
            docs += [json.loads(line)["text"] for line in f]
    return docs


def udhr(code: str) -> str:
    path = UDHR / f"{code}.txt"
    _need(path)
    return path.read_text(encoding="utf-8")


ENDS_SENTENCE = ("。", "！", "？", "”", "」")


def _self_duplicated(text: str) -> bool:
    """Articles whose body is pasted twice (present in the THUCNews sample)."""
    return ngram_char_fractions("".join(text.split()), dup_ns=[20])[("dup", 20)] > 0.9


# ---------------------------------------------------------------------------------------------
# real text is kept
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("code, lang", [("eng", "en"), ("deu_1996", "de"), ("fra", "fr"), ("rus", "ru")])
def test_udhr_space_delimited_languages_are_kept(cleaner, code, lang):
    text = udhr(code)
    out = cleaner.clean(text, lang)
    assert out.reason is None
    # C4 removes the headings ("Article 1") and the preamble clauses ending in a comma
    assert 0.5 < len(out.text) / len(text) < 1.0
    source_lines = set(line.strip() for line in text.split("\n"))
    assert all(line in source_lines for line in out.text.split("\n"))


@pytest.mark.parametrize("code, lang", [("cmn_hans", "zh"), ("cmn_hans", None), ("jpn", "ja")])
def test_udhr_chinese_and_japanese_are_kept(cleaner, code, lang):
    text = udhr(code)
    out = cleaner.clean(text, lang)
    assert out.reason is None
    # only the short headings ("序言", "第一条") go: at most 4 word characters, no punctuation
    removed = [s for s in text.split("\n") if s.strip() and s.strip() not in out.text.split("\n")]
    assert len(removed) == out.lines_removed
    assert all(len(s.strip()) <= 6 for s in removed), removed


def test_ccnet_english_web_documents_are_mostly_kept(cleaner, ccnet):
    outcomes = [cleaner.clean(doc, "en") for doc in ccnet]
    kept = [o for o in outcomes if o.reason is None]
    assert len(kept) >= 0.7 * len(ccnet), Counter(o.reason for o in outcomes)
    for doc, out in zip(ccnet, outcomes):
        if out.reason is None:
            # cleaning only removes or shortens lines (C4 also drops "[12]"-style citation marks,
            # and with them bracketed years; control characters go too), it never invents text
            without_citations = CITATION_RE.sub("", remove_garbled(doc)[0])
            assert all(line in without_citations for line in out.text.split("\n"))
            assert len(out.text) + out.chars_removed <= len(doc)


def test_chinese_wikipedia_paragraphs_are_kept(cleaner, cmrc):
    outcomes = [cleaner.clean(p, "zh") for p in cmrc]
    reasons = Counter(o.reason for o in outcomes)
    assert reasons[None] >= 0.8 * len(cmrc), reasons
    # each cmrc context is one line; the ones ending a sentence are kept nearly always
    finished = [o for p, o in zip(cmrc, outcomes) if p.rstrip().endswith(ENDS_SENTENCE)]
    assert sum(o.reason is None for o in finished) >= 0.97 * len(finished)
    allowed = set(cleaner.possible_reasons())
    assert set(reasons) - {None} <= allowed


def test_chinese_news_is_kept(cleaner, thucnews):
    outcomes = [cleaner.clean(t, "zh") for t in thucnews]
    reasons = Counter(o.reason for o in outcomes)
    assert reasons[None] >= 0.6 * len(thucnews), reasons
    # The sample stores each article on one line; articles that end a sentence, are long
    # enough and are not pasted twice are all but always kept.
    normal = [
        o for t, o in zip(thucnews, outcomes) if t.endswith(ENDS_SENTENCE) and len(t) >= 200 and not _self_duplicated(t)
    ]
    assert len(normal) > 150
    assert sum(o.reason is None for o in normal) >= 0.97 * len(normal)
    # the self-duplicated articles are all dropped, mostly by the repetition rules (the others
    # fail an earlier rule first)
    dup = [o for t, o in zip(thucnews, outcomes) if len(t) >= 200 and _self_duplicated(t)]
    assert dup and all(o.reason for o in dup)
    assert sum(o.reason.startswith("unspaced:dup_") for o in dup) >= 0.5 * len(dup)


def test_lang_none_routes_real_chinese_to_character_rules(cleaner, cmrc):
    for p in cmrc[:50]:
        assert cleaner.clean(p, None) == cleaner.clean(p, "zh")


# ---------------------------------------------------------------------------------------------
# spam and boilerplate built around real text are dropped with the expected reason
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def en_article(cleaner, ccnet) -> str:
    """A real English web document that the cleaner keeps unchanged."""
    for doc in sorted(ccnet, key=len):
        out = cleaner.clean(doc, "en")
        if out.reason is None and out.lines_removed == 0 and len(doc.split()) > 300:
            return doc
    pytest.skip("no suitable English document")


@pytest.fixture(scope="module")
def zh_article(cleaner, thucnews) -> str:
    """A real Chinese news article, one sentence per line (as trafilatura would give paragraphs)."""
    for t in thucnews:
        sentences = re.findall(r"[^。！？]+[。！？]", t)
        doc = "\n".join(s.strip() for s in sentences)
        if len(sentences) >= 15 and cleaner.clean(doc, "zh").reason is None:
            return doc
    pytest.skip("no suitable Chinese article")


def test_real_article_with_some_boilerplate_is_cleaned(cleaner, en_article):
    doc = "\n".join(["Skip to content", "HOME", en_article, "12 likes", "Share 5", "Read more »"])
    out = cleaner.clean(doc, "en")
    assert out.reason is None
    assert out.text == cleaner.clean(en_article, "en").text
    assert out.lines_removed == 5


def test_navigation_menu_page(cleaner, en_article):
    menu = ["Home", "About", "Services", "Portfolio", "Blog", "Careers", "Contact", "Login"] * 3
    first_paragraph = en_article.split("\n")[0]
    out = cleaner.clean("\n".join(menu + [first_paragraph]), "en")
    assert out.reason == "refinedweb:too_much_removed"


def test_repeated_call_to_action_lines(cleaner, en_article):
    cta = "Click here to subscribe to our weekly newsletter today."
    out = cleaner.clean(en_article + "\n" + "\n".join([cta] * 8), "en")
    assert out.reason == "fineweb:dup_line_char_ratio"  # FineWeb runs before Gopher repetition


def test_repeated_document_body(cleaner, en_article):
    lines = en_article.split("\n")
    fineweb_off = Cleaner(
        cleaner.config.model_copy(update={"fineweb": cleaner.config.fineweb.model_copy(update={"enabled": False})})
    )
    out = fineweb_off.clean("\n".join(lines + lines), "en")
    assert out.reason == "gopher_repetition:dup_line_frac"


def test_keyword_stuffing(cleaner):
    keywords = "cheap flights, cheap hotels, best deals, cheap car rental, book now"
    spam = "\n".join(f"Find the {keywords} and the best {keywords} for trip {i}." for i in range(30))
    assert cleaner.clean(spam, "en").reason == "gopher_repetition:top_3gram_char_frac"
    no_stop_words = "\n".join(f"{keywords} in city number {i} today." for i in range(30))
    assert cleaner.clean(no_stop_words, "en").reason == "gopher_quality:stop_words"


def test_lorem_ipsum_template_page(cleaner, en_article):
    out = cleaner.clean(en_article + "\nLorem ipsum dolor sit amet, consectetur adipiscing elit.", "en")
    assert out.reason == "c4:lorem_ipsum"


def test_chinese_article_with_navigation(cleaner, zh_article):
    nav = ["首页", "新闻", "体育", "娱乐", "财经", "科技", "登录 | 注册"]
    out = cleaner.clean("\n".join(nav + [zh_article, "分享到：", "返回顶部"]), "zh")
    assert out.reason is None
    assert out.text == zh_article
    assert out.lines_removed == len(nav) + 2


def test_chinese_navigation_page(cleaner, zh_article):
    nav = ["首页 | 新闻 | 体育 | 娱乐 | 财经 | 科技", "上一篇：中超联赛第五轮综述", "下一篇：湖人主场迎战马刺",
           "相关新闻", "热门推荐", "阅读 1234", "评论(56)", "分享到：微信 微博 QQ空间", "返回顶部",
           "版权所有 © 1996-2011 新浪网"]  # fmt: skip
    first = "\n".join(zh_article.split("\n")[:4])
    assert cleaner.clean("\n".join(nav + [first]), "zh").reason == "unspaced:too_much_removed"


def test_chinese_repeated_paragraphs(cleaner, zh_article):
    lines = zh_article.split("\n")[:5]
    assert cleaner.clean("\n".join(lines * 3), "zh").reason == "unspaced:dup_line_frac"


def test_chinese_seo_spam(cleaner):
    line = "二手车出售，二手车价格，二手车交易市场，北京二手车，{}年二手车报价。"
    spam = "\n".join(line.format(y) for y in range(2000, 2020))
    assert cleaner.clean(spam, "zh").reason == "unspaced:top_2gram_char_frac"


def test_mojibake_is_dropped(cleaner, zh_article):
    broken = "".join("\ufffd" if i % 7 == 0 else ch for i, ch in enumerate(zh_article))
    assert cleaner.clean(broken, "zh").reason == "garbled:max_ratio"


# ---------------------------------------------------------------------------------------------
# cost
# ---------------------------------------------------------------------------------------------


def test_cost_is_roughly_linear_in_length(cleaner, ccnet, thucnews):
    en = "\n".join(ccnet)  # ~155k characters
    zh = "\n".join(t for t in thucnews if t.endswith("。"))  # ~200k characters

    def best(text: str, lang: str) -> float:
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            cleaner.clean(text, lang)
            times.append(time.perf_counter() - t0)
        return min(times)

    for text, lang in ((en, "en"), (zh, "zh")):
        small, large = best(text[: len(text) // 4], lang), best(text, lang)
        assert large < 2.0, (lang, large)  # generous bound for a shared 2-core machine
        assert large / max(small, 1e-4) < 8.0, (lang, small, large)  # 4x the text, not 16x the time
