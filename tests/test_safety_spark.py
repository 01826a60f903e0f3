"""The URL filter and safety jobs end to end in Spark local mode, one after the other on a handful of
documents in the stage file format, with small lists written to tmp_path: rejects with their
reasons, the counters and list reports in _stats.json, and masked text in the kept documents."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from datapipe.document import Document
from jobs import safety, url_filter
from tests.test_jobs_spark import _write_docs, read_docs, read_rejects, stats

pytestmark = pytest.mark.spark


def test_url_filter_then_safety(spark, tmp_path):
    lists = tmp_path / "lists"
    (lists / "ldnoobw").mkdir(parents=True)
    (lists / "adult_domains").write_text("0.0.0.0 adult-site.com\n", encoding="utf-8")
    (lists / "adult_urls").write_text("pages.example.org/adult/\n", encoding="utf-8")
    (lists / "ldnoobw" / "en").write_text("damn\ncrap\n", encoding="utf-8")
    config = tmp_path / "safety.yaml"
    config.write_text(yaml.safe_dump({
        "root": str(lists),
        "url_filter": {"blocklists": [{"name": "adult", "domains": ["adult_domains", "not_here"], "urls": ["adult_urls"]}],
                       "banned_words": {"entries": ["porn"]}, "banned_subwords": {"entries": []},
                       "soft_words": {"entries": []}},
        "badwords": {"ignore": {}},
    }), encoding="utf-8")
    page = "The city council met on Monday to discuss the new library. "
    docs = [
        Document(id="adult", url="https://www.adult-site.com/video/1", text=page, lang="en"),
        Document(id="adult-page", url="http://pages.example.org/adult/2", text=page, lang="en"),
        Document(id="porn-url", url="https://example.com/free-porn/", text=page, lang="en"),
        Document(id="contact", url="https://news.example.org/a", lang="en",
                 text=page + "Write to editor@example.org or call +44 20 7946 0958."),
        Document(id="rant", url="https://blog.example.net/b", lang="en", text="damn this damn crap, damn it all. " + page),
        Document(id="wiki", url="enwiki:english/enwiki2015/wiki_00.gz#1", domain="WorldKnowledge", lang="en",
                 text="Contact: someone@example.com, damn crap damn."),
        Document(id="law", url="laws:x.md", domain="Profession-Law", lang="zh", text="身份证号码11010519491231002X，电话13812345678。"),
    ]
    inp, filtered, out = tmp_path / "in", tmp_path / "filtered", tmp_path / "safety"
    _write_docs(inp, docs)

    url_filter.run(["--input", str(inp), "--output", str(filtered), "--config", str(config)])
    rejects = {r["id"]: (r["reject_stage"], r["reject_reason"], r["reject_detail"]) for r in read_rejects(filtered)}
    assert rejects == {
        "adult": ("url_filter", "url:blocklist:adult", "domain adult-site.com"),
        "adult-page": ("url_filter", "url:blocklist:adult", "url pages.example.org/adult"),
        "porn-url": ("url_filter", "url:banned_words", "porn"),
    }
    st = stats(filtered)
    c = st["counters"]
    assert (c["docs_in"], c["docs_out"], c["url.checked"], c["url.not_web"]) == (7, 4, 5, 2)
    assert c["drop.url:blocklist:adult"] == 2 and c["drop.url:banned_words"] == 1
    report = st["url_lists"]
    assert report["domains"] == 1 and report["url_prefixes"] == 1 and report["files_missing"] == 1
    assert report["missing"] == [str(lists / "not_here")]

    safety.run(["--input", str(filtered), "--output", str(out), "--config", str(config)])
    rejects = {r["id"]: (r["reject_reason"], r["reject_detail"]) for r in read_rejects(out)}
    assert list(rejects) == ["rant"] and rejects["rant"][0] == "badwords:en"
    assert rejects["rant"][1].endswith("4 matches: damn 3, crap 1")
    kept = {d["id"]: d for d in read_docs(out)}
    assert set(kept) == {"contact", "wiki", "law"}
    assert kept["contact"]["text"] == page + "Write to <EMAIL> or call <PHONE>."
    assert dict(kept["contact"]["annotations"]) == {"pii.masked": 2.0}
    assert kept["law"]["text"] == "身份证号码<ID_CN>，电话<PHONE>。"
    assert kept["wiki"]["text"] == docs[5].text  # neither rated nor masked: not a configured domain
    st = stats(out)
    c = st["counters"]
    assert (c["docs_in"], c["docs_out"], c["drop.badwords:en"]) == (4, 3, 1)
    assert (c["badwords.en.docs"], c["badwords.en.matches"]) == (2, 4)
    assert (c["pii.email"], c["pii.phone"], c["pii.id_cn"], c["pii.docs"]) == (1, 2, 1, 2)
    assert st["word_lists"]["languages"]["en"] == {"words": 2, "ignored": 0, "substring": False}
    assert (Path(out) / "_SUCCESS").exists()
