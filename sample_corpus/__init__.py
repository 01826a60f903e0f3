"""Built-in sample corpus: a small, deterministic, Common-Crawl-like WARC crawl plus the non-web domain
sources of the pipeline, made by the project itself.

``make demo`` runs the whole pipeline on this corpus, so a fresh machine needs no external data::

    from sample_corpus import write_sample_corpus
    paths = write_sample_corpus("data/sample", seed=0, n_files=3)

    python -m sample_corpus --out data/sample --seed 0
    python -m jobs.ingest --config data/sample/domains.yaml --output out/domains

All web text is composed by a seeded RNG from the sentence templates and word lists under
``data/languages/`` (:mod:`sample_corpus.textbank`); the domain sources are fixed texts under
``data/domains/`` (:mod:`sample_corpus.domaintext`); nothing is read from outside the package, and the
package is not shipped to Spark executors (``jobs/dist.py``).  For a given ``(seed, n_files,
include_plain)`` every output byte is fixed: record ids are UUIDs drawn from the seed, WARC-Dates are
spread over a fixed crawl period (2024-02-20 plus 14 days; file ``i`` covers the ``i``-th slice), gzip
headers carry mtime 0 and OS 255.  (The deflate stream comes
from zlib at level 9, so byte identity across machines assumes the same deflate implementation; the manifest's
per-record layout and the decompressed content do not depend on it.)  The domain sources and the benchmark
file are the same for every seed.

Files (defaults: ``n_files=3``, ``include_plain=True``)
-------------------------------------------------------
``sample-0000.warc.gz`` .. ``sample-{n_files-1:04d}.warc.gz``
    WARC/1.0, one gzip member per record, Common Crawl layout: a ``warcinfo`` record, then for every fetch a
    ``request``, a ``response`` (or ``revisit``) and a ``metadata`` record (``fetchTimeMs``), all linked by
    ``WARC-Concurrent-To`` / ``WARC-Warcinfo-ID``; plus one ``resource`` record (a ``dns:`` lookup) per file.
``sample-{n_files:04d}.warc``
    the same layout uncompressed, about a tenth of the fetches, well formed.
``domains/<source>/...``
    non-web domain sources in the layouts of the real ones (see ``sample_corpus.domaingen``):
    ``code/`` (Python with an MIT license header, C++, Java, Rust, Go, a protobuf-generated ``_pb2.py`` and
    a minified ``.min.js`` that the code reader rejects, a README it ignores), ``book/`` (a Project Gutenberg
    style book, hard-wrapped, three chapters), ``encyclopedia/articles.jsonl`` (English and Chinese articles
    ending in See also / References / External links / 参考文献 / 外部链接 sections, citation marks),
    ``qa/qa.jsonl`` (question/answer records, one without an answer), ``papers/odd_numbers.tex`` (preamble,
    comments, ``thebibliography``), ``law/``, ``medical/`` (JSONL), ``patent/`` (hard-wrapped), ``math/``
    (problem/solution JSONL), ``classical/chinese-poetry/`` (全唐诗 layout in Traditional characters, 宋词
    layout gzipped, a nested 蒙学 work, an author list without text) and ``classical/niutrans/双语数据/``
    (line-aligned ``source.txt``/``target.txt`` chapters).
``domains.yaml``
    the ingest config of those sources (``root: .``: paths relative to the file), for ``jobs/ingest.py``.
``benchmarks/sample_bench.jsonl``
    a small benchmark test set (``id``, ``question``, ``answer``): two items are planted verbatim (question
    and answer as one paragraph) in web article pages, one in a QA record, two appear nowhere else, so the
    decontamination stage has real work.
``sample-manifest.json``
    what was planted where (format below).

Content (about 200 HTML pages in total)
---------------------------------------
* 170 distinct news articles: 100 English, 45 Chinese (simplified), 5 each German, French, Spanish, Japanese,
  Russian; English about 170-500 words, Chinese about 330-900 characters, the others 6-9 sentences, in
  paragraphs of 2-5 (English) or 2-4 sentences, inside a full
  HTML5 page (``<title>``, ``<meta charset>``, ``<nav>`` menu, cookie banner, ``<article>`` with ``<h1>``,
  byline and ``<p>`` paragraphs, "most read" sidebar, footer with copyright / privacy / cookie links).
* Charsets: most pages UTF-8 declared in the HTTP header and a meta tag; 3 Chinese pages GBK (declared in both),
  1 Chinese GB18030 (HTTP header only), 1 Chinese GBK declared only by a ``<meta http-equiv>`` tag,
  1 German page ISO-8859-1 with no declaration at all, 1 French page windows-1252 wrongly declared UTF-8
  (header and meta), 1 Russian windows-1251 (HTTP header only), 1 Japanese Shift_JIS (meta tag only).
* Exact duplicates: 4 pages served again, byte-identical HTML, under 6 other URLs (tracking parameters,
  ``http://`` instead of ``https://``, a mirror host, ``/amp``).
* Near duplicates: 8 syndicated copies (6 English of 5 originals, 2 Chinese of 2 originals) on other sites, each
  with a sentence dropped, a number changed, up to 3 words replaced and a republication note added
  (word 5-gram Jaccard, character 5-grams for Chinese, recorded in the manifest; > 0.7).
* Repeated paragraphs: 3 English and 2 Chinese boilerplate paragraphs (newsletter blurb, disclaimer, newsroom
  bio) appended to the article body of about 40% / 35% of the pages.
* Benchmark contamination: one English and one Chinese article (UTF-8, never duplicated) carry a benchmark item
  of ``benchmarks/sample_bench.jsonl`` as their third paragraph (``benchmark_item`` in ``pages[]``).
* Spam / low quality (9 pages, ``expected_quality: low``): keyword stuffing (English and Chinese), 40 repeated
  lines, a link farm, lorem ipsum, a two-word page, random characters, a symbol-heavy page, a JavaScript wall.
* Non-HTML and non-200: 2 PDF, 2 PNG, 1 JSON, 1 CSS, 1 JavaScript response; two 404, one 500, two 301 with a
  ``Location`` header; 2 ``revisit`` records (identical-payload-digest profile) pointing at earlier pages.

Planted malformed records (each followed by good records, except the last one)
------------------------------------------------------------------------------
With ``n_files >= 3``, in ``sample-0001.warc.gz`` at about 1/4, 1/2 and 3/4 of the file:

1. ``content_length_too_short`` -- WARC Content-Length 400 bytes short; the rest of the block stays in the
   same gzip member.  warcio warns and then fails on the left-over bytes (``ArchiveLoadFailed``).
2. ``corrupt_gzip_member`` -- 32 bytes of the member's deflate stream XOR-ed; zlib fails on that member.
3. ``broken_http_headers`` -- HTTP status line ``HTTP/1.1 2OO 0K``, header lines without colons, binary junk.

and in ``sample-0002.warc.gz`` at about 1/4, 1/2 and 3/4:

4. ``content_length_too_long`` -- WARC Content-Length 2048 bytes too large; the block ends with the member.
5. ``truncated_http_body`` -- HTTP Content-Length announces the full page, only ~40% is there (cut mid-tag).
6. ``invalid_chunked_encoding`` -- ``Transfer-Encoding: chunked`` with a wrong first chunk size and no final
   chunk.

and the last record of the last gzip file (``sample-0002.warc.gz``):

7. ``truncated_last_member`` -- the final response's gzip member is cut after ~55% of its bytes.

With ``n_files == 2`` all of 1-6 go to ``sample-0001``; with ``n_files == 1`` everything is in ``sample-0000``.
``sample-0000.warc.gz`` (when ``n_files >= 2``) and the plain ``.warc`` are well formed.  The malformed
records carry HTML articles of their own (not counted among the 170); their request records come before them
and their metadata records after them.

Manifest (``sample-manifest.json``)
-----------------------------------
``generator, version, seed, n_files, include_plain, crawl``;
``totals``: files, records, records_by_type, html_pages, html_pages_by_kind, malformed_records;
``languages``: expected language -> number of well-formed article pages (articles + duplicates);
``files[]``: name, compressed, size, sha256, well_formed, record_count, records_by_type, html_pages,
``malformed[]`` (kind, record_index, offset, length, uri, record_id, description, expected_symptom) and
``records[]`` (index, offset, length -- of the gzip member, or of the record plus its trailing CRLFs in the
plain file --, type, uri, record_id, malformed);
``pages[]``: one per HTML 200 response: url, kind (article / exact_duplicate / near_duplicate / spam), lang, topic,
site, title, charset (true encoding), charset_variant, http_charset, meta_charset, size + size_unit,
paragraphs, boilerplate (indexes into repeated_paragraphs), expected_quality (good / low / malformed),
payload_digest, malformed, duplicate_of / near_duplicate_of / spam_kind, file, record_index, offset, warc_date;
``exact_duplicates[]`` (original, duplicates, payload_digest); ``near_duplicates[]`` (original, variant, lang,
edits, jaccard_5gram); ``repeated_paragraphs[]`` (lang, text, pages, count); ``spam[]``; ``non_html[]``;
``charset_variants[]``;
``domains``: config, ``sources[]`` (name, domain, reader and what ingest must give: documents, rejects by
reason, skips by reason, ignored_files, counters), ``checks[]`` (url of one document, what, and ``absent``
substrings, ``present`` substrings, whole ``lines``, or the ``reject_reason``), ``files[]`` (path, size,
sha256);
``benchmark``: file, fields, items, ``planted[]`` (item, where: web_page / domain_document, url, ...); a page
with a planted item has ``benchmark_item`` set in ``pages[]``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from dataclasses import asdict
from pathlib import Path

from .domaingen import BENCHMARK_PATH, CONFIG_NAME, build_domain_files
from .plan import build_plan
from .warcgen import render

MANIFEST_NAME = "sample-manifest.json"

__all__ = ["write_sample_corpus", "build_sample_corpus", "MANIFEST_NAME", "DOMAINS_CONFIG", "BENCHMARK_PATH", "main"]

DOMAINS_CONFIG = CONFIG_NAME


def build_sample_corpus(seed: int = 0, n_files: int = 3, include_plain: bool = True) -> tuple[dict, dict]:
    """Build the corpus in memory: ``({relative path: bytes}, manifest)``, the WARC files first (in
    order), then the domain sources, their config and the benchmark file (sorted by path)."""
    if n_files < 1:
        raise ValueError("n_files must be >= 1")
    plan = build_plan(seed)
    files, manifest = render(plan, seed, n_files, include_plain)
    domain_files, domains, benchmark = build_domain_files()
    benchmark["planted"] = [asdict(p) for p in plan.benchmark_pages] + benchmark["planted"]
    manifest["domains"] = domains
    manifest["benchmark"] = benchmark
    blobs = {f.name: bytes(f.data) for f in files}
    blobs.update(sorted(domain_files.items()))
    return blobs, manifest


def _atomic_write(path: Path, data: bytes) -> None:
    """Write to a temp name in the same directory, then ``os.replace`` (file mode follows the umask)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


_OUR_FILES = re.compile(r"sample-\d{4}\.warc(\.gz)?")


def write_sample_corpus(out_dir: str | os.PathLike, seed: int = 0, n_files: int = 3,
                        include_plain: bool = True) -> list[str]:
    """Write the sample WARC files, the domain sources (``domains/``, ``domains.yaml``), the benchmark
    file (``benchmarks/``) and ``sample-manifest.json`` into ``out_dir``; return the paths written.

    The WARC files come first in the returned list (in order), then the other files (sorted), the manifest
    last.  Deterministic for a given ``(seed, n_files, include_plain)``; every file is written atomically
    (temp file + ``os.replace``).  ``sample-NNNN.warc[.gz]`` files left in ``out_dir`` by an earlier run with
    more files are removed.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    blobs, manifest = build_sample_corpus(seed, n_files, include_plain)
    # drop WARC files of an earlier run with more files, so that globs downstream see only this corpus
    for old in out.iterdir():
        if _OUR_FILES.fullmatch(old.name) and old.name not in blobs:
            old.unlink()
    paths = []
    for name, data in blobs.items():
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        _atomic_write(out / name, data)
        paths.append(str(out / name))
    text = json.dumps(manifest, ensure_ascii=False, indent=1) + "\n"
    _atomic_write(out / MANIFEST_NAME, text.encode("utf-8"))
    paths.append(str(out / MANIFEST_NAME))
    return paths


def _summary(manifest: dict, paths: list[str]) -> str:
    lines = []
    for f, p in zip(manifest["files"], paths):
        kinds = ", ".join(f"{k}={v}" for k, v in f["records_by_type"].items())
        bad = f" malformed={len(f['malformed'])}" if f["malformed"] else ""
        lines.append(f"{p}  {f['size']:>9,d} bytes  records={f['record_count']} ({kinds}) "
                     f"html_pages={f['html_pages']}{bad}")
    lines.append(f"{paths[-1]}  (manifest)")
    t = manifest["totals"]
    lines.append("records by type: " + ", ".join(f"{k}={v}" for k, v in t["records_by_type"].items()))
    lines.append("html pages by kind: " + ", ".join(f"{k}={v}" for k, v in t["html_pages_by_kind"].items())
                 + f", malformed={t['malformed_records']}")
    lines.append("article languages: " + ", ".join(f"{k}={v}" for k, v in manifest["languages"].items()))
    lines.append("malformed records: " + ", ".join(
        f"{m['kind']}@{f['name']}:{m['offset']}" for f in manifest["files"] for m in f["malformed"]))
    d, b = manifest["domains"], manifest["benchmark"]
    lines.append(f"domain sources: {len(d['sources'])} ({', '.join(sorted({s['domain'] for s in d['sources']}))}), "
                 f"{len(d['files'])} files, config {d['config']}")
    lines.append(f"benchmark: {b['file']}, {b['items']} items, planted: "
                 + ", ".join(f"{p['item']}@{p['url']}" for p in b["planted"]))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m sample_corpus",
        description="Write the project's deterministic sample corpus: WARC files (multilingual HTML articles, "
                    "duplicates, spam, non-HTML and malformed records), non-web domain sources with their "
                    "ingest config domains.yaml, a benchmark file, and sample-manifest.json.")
    ap.add_argument("--out", default="data/sample", help="output directory (default: %(default)s)")
    ap.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    ap.add_argument("--n-files", type=int, default=3, help="number of .warc.gz files (default: %(default)s)")
    ap.add_argument("--no-plain", action="store_true", help="do not write the extra uncompressed .warc file")
    ap.add_argument("-q", "--quiet", action="store_true", help="only print the written paths")
    args = ap.parse_args(argv)
    if args.n_files < 1:
        ap.error("--n-files must be >= 1")
    paths = write_sample_corpus(args.out, seed=args.seed, n_files=args.n_files, include_plain=not args.no_plain)
    if args.quiet:
        print("\n".join(paths))
    else:
        manifest = json.loads(Path(paths[-1]).read_text(encoding="utf-8"))
        print(_summary(manifest, paths))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
