"""Section 2: how many documents of each language and domain the filtering left, counted in the data
itself (the ``domain`` and ``lang`` columns), not in counters, which only some stages keep per domain."""

from __future__ import annotations

from collections import Counter

import pyarrow.dataset as ds

from report.html import charts, count, details, not_in_run, note, pct, table
from report.layout import Run, parquet_files
from report.svg import bar_chart

TITLE = "Documents per language and domain"

WEB_BRANCH = ("quality", "safety_web", "dedup_paragraphs", "clean", "url_filter", "extract")
DOMAIN_BRANCH = ("safety_domains", "ingest")
TOP_LANGUAGES = 20


def final_stages(run: Run) -> list[str]:
    """The stages whose documents are the run's filtered corpus: decontamination's output (the distinct
    documents the mixture samples from), else the last stage done on each branch of the chain."""
    for name in ("decontaminate", "dedup_minhash"):
        if run.stats(name) is not None:
            return [name]
    last = [next((n for n in branch if run.stats(n) is not None), None) for branch in (WEB_BRANCH, DOMAIN_BRANCH)]
    return [n for n in last if n]


def documents_by_domain_and_language(run: Run, stages: list[str]) -> Counter:
    """(domain, lang) -> documents over the stages' Parquet files (a missing language is ``unknown``)."""
    files = [str(f) for name in stages for f in parquet_files(run.output(name))]
    if not files:
        return Counter()
    grouped = ds.dataset(files, format="parquet").to_table(columns=["domain", "lang"]).group_by(["domain", "lang"]).aggregate(
        [([], "count_all")])
    return Counter({(d or "unknown", lang or "unknown"): n for d, lang, n in
                    zip(*(grouped.column(c).to_pylist() for c in ("domain", "lang", "count_all")))})


def _top(counter: Counter, k: int) -> str:
    return ", ".join(f"{key} {n:,}" for key, n in counter.most_common(k)) + (f", +{len(counter) - k} more" if len(counter) > k else "")


def body(run: Run) -> str:
    stages = final_stages(run)
    counts = documents_by_domain_and_language(run, stages)
    if not counts:
        return not_in_run("no document stage output to count")
    total = sum(counts.values())
    by_domain, by_lang = Counter(), Counter()
    langs_of: dict[str, Counter] = {}
    domains_of: dict[str, Counter] = {}
    for (domain, lang), n in counts.items():
        by_domain[domain] += n
        by_lang[lang] += n
        langs_of.setdefault(domain, Counter())[lang] += n
        domains_of.setdefault(lang, Counter())[domain] += n
    domain_rows = [[d, count(n), pct(n / total, 1), _top(langs_of[d], 5)] for d, n in by_domain.most_common()]
    lang_rows = [[lang, count(n), pct(n / total, 1), _top(domains_of[lang], 3)] for lang, n in by_lang.most_common()]
    top = by_lang.most_common(TOP_LANGUAGES)
    rest = total - sum(n for _, n in top)
    lang_labels = [lang for lang, _ in top] + ([f"other ({len(by_lang) - TOP_LANGUAGES})"] if rest else [])
    lang_values = [n for _, n in top] + ([rest] if rest else [])
    where = " and ".join(f"{run.output(s).name}/" for s in stages)
    what = ("the filtered, deduplicated and decontaminated corpus before the mixture samples and repeats it (the mixture's "
            "documents per domain are in its section)" if stages == ["decontaminate"] else
            "the last stage this run completed on each branch of the chain; the stages after it would filter further")
    source = note(f"{total:,} documents in {where} (stage {', '.join(stages)}), counted from the domain and lang columns of "
                  f"the Parquet files: {what}.")
    domain_chart = bar_chart([d for d, _ in by_domain.most_common()], {"documents": [n for _, n in by_domain.most_common()]},
                             title="Documents per domain", x_label="documents", width=520)
    lang_chart = bar_chart(lang_labels, {"documents": lang_values}, title="Documents per language", x_label="documents", width=520)
    return (source + charts(domain_chart, lang_chart)
            + table(["domain", "documents", "share", "languages"], domain_rows, numeric=(1, 2))
            + table(["language", "documents", "share", "domains"], lang_rows[:TOP_LANGUAGES], numeric=(1, 2))
            + (details(f"{len(lang_rows) - TOP_LANGUAGES} more languages",
                       table(["language", "documents", "share", "domains"], lang_rows[TOP_LANGUAGES:], numeric=(1, 2)))
               if len(lang_rows) > TOP_LANGUAGES else ""))
