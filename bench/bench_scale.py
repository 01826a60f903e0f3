"""How the chain's Spark stages scale with the corpus on this machine: time per document, task skew
and shuffle volume at 20k, 80k and 320k synthetic web pages.

    make bench-scale              # = .venv/bin/python bench/bench_scale.py
    .venv/bin/python bench/bench_scale.py --sizes 2000 8000 --stages dedup_paragraphs dedup_minhash
    .venv/bin/python bench/bench_scale.py --code /tmp/scale-before --out /tmp/scale-before-results
    .venv/bin/python bench/bench_scale.py --standalone      # a 2-worker standalone cluster on 127.0.0.1

What one run does, for every size of ``--sizes`` (default 20,000 80,000 320,000 documents):

1. builds a synthetic corpus (deterministic from ``--seed``; cached in ``--work`` as
   ``corpus-<size>-seed<seed>-cluster<n>``, reused by later runs) as a complete stage output: Parquet part files
   of exactly ``DOCUMENT_SCHEMA`` (at least 4 files, at most ~20,000 documents each, row groups of
   5,000), ``_stats.json`` (stage ``synthetic``) and ``_SUCCESS``. Web pages (domain WebText, lang en,
   unique 24-hex ids, URLs, WARC-style crawl dates with 5% missing, ``quality.score`` annotations) made
   of real English sentences of 40-110 characters from ../shared/data/english/enwiki2015 (~140k
   distinct ones): a page is 5-15 paragraphs of two random sentences (~1.6 KB); drawing pairs from that
   pool makes accidental duplicate paragraphs negligible (~250 in 3 million). Planted structure:
   - one near-duplicate cluster of ``--cluster`` pages (default 10,000 at every size: a skew that does
     not grow with the corpus; at most half of a smaller corpus): one site's article, two long
     paragraphs (11-13 sentences each) between four site-template paragraphs (two above, two below,
     shared verbatim; ~2.4 KB a page); every copy has one word replaced in each article paragraph (a
     word or two per copy: Jaccard of word 5-grams ~0.93 to the original, ~0.87 between two copies).
     Paragraph dedup removes the template from all copies but the earliest and leaves each copy's
     (edited, hence unique) article, so the MinHash stage downstream still sees ~10,000 near
     duplicates; the paragraph stage sees four paragraphs with 10,000 copies each;
   - small near-duplicate families: ~12% of the other pages are in families of 2-5 copies, made the
     same way (a header and a footer paragraph of the family, two article paragraphs edited per copy);
   - boilerplate: one paragraph (>= 60 characters) in 30% of all pages, five more in 3%, 2.5%, 2%,
     1.5% and 1% of the pages (last or first paragraph);
   the pages are shuffled before they are split into files.
2. runs the stages (``--stages``), each as its own ``spark-submit`` application, the way the Makefile's
   SUBMIT does (``--master local[2] --driver-memory 4g``, log4j2 config, no UI, PYSPARK_PYTHON the
   venv's python), with the configs of the code under test (``CODE/configs/<stage>.yaml``) and event
   logging on (``spark.eventLog.enabled``, uncompressed). In chain order, each on its upstream's output
   when that upstream runs too, else on the corpus:
   - ``floor``: the corpus, through ``bench/floor_stage.py`` (this checkout's, whatever ``--code``): a stage that
     keeps every document unchanged through the same runner (read, ``mapInArrow`` into Python, write,
     commit). It is the peer of the others: what a stage costs before it does any work, fixed per-job
     costs included;
   - ``dedup_paragraphs``: the corpus;
   - ``dedup_minhash``: the output of dedup_paragraphs;
   - ``mix``: the output of dedup_minhash, without a tokenizer (bytes per token from the config);
   - ``clean``: the corpus (a map-only stage, for reference: no shuffle, one task per input split).
3. reads every application's event log (JSON lines) and reports per stage and size:
   - ``seconds_per_doc``: (completion of the last Spark job - submission of the first) / input
     documents: JVM, session start-up and the driver's work before the first and after the last job
     are left out (they do not scale). ``wall_s``, the whole spark-submit, is kept too;
   - ``marginal_seconds_per_doc``: the extra Spark time over the extra input documents from the
     previous size: what a stage costs per document once its fixed per-job costs (job scheduling,
     Python workers, a pass over a constant-size cluster) are paid, flat when it scales linearly;
   - ``max_over_median_task``: over the Spark stages with at least ``--min-tasks`` tasks whose summed
     task time is at least 5% of the application's (smaller ones are noise), the largest ratio of the
     longest task to the median task, task time being the executor run time (``Executor Run Time``:
     deserialisation, scheduler delay and result fetching left out; the Python workers' time is in
     it). ``--min-tasks`` is 2 by default, not 4: on ``local[2]`` the jobs' Spark stages have 2 to 4
     tasks (a scan is cut in two splits, a shuffle has the runner's 4 partitions, fewer once AQE
     coalesces them), so 4 would leave almost nothing to measure; with 2 tasks the ratio is at most
     2 (max / mean of the two). The Spark stage it came from (``skew_stage``) is named by the Python
     call that ran it (e.g. ``first at jobs/dedup_minhash.py:253``) and its operators; every Spark
     stage's tasks, median, max, launch-to-finish max/median, share of the task time and shuffle
     bytes are in ``detail``;
   - ``shuffle_bytes_per_input_byte``: shuffle bytes written by the whole application / bytes of the
     input's Parquet files on disk (near-duplicate pages compress well: at 20,000 pages, half of them
     in the big cluster, the corpus takes ~0.9 KB of Parquet per page, at 80,000 and more ~1.3 KB).
   The load average before and after every spark-submit is kept too: other work on the machine
   inflates the times.
   Stage outputs are deleted once a size is done; the event logs and spark-submit logs stay in
   ``--work`` (``run-<time>-<pid>/``).

Results: a table on stdout, ``OUT/scale.json`` and ``OUT/scale.md`` (default ``out/bench``); with
``--standalone``, ``OUT/scale-standalone.{json,md}`` (same structure, so the two never overwrite each
other). ``--standalone`` starts a Spark standalone master and two workers (1 core, 2 GB each) on
127.0.0.1 from pyspark's SPARK_HOME, submits every stage to it with the code under test zipped for
``--py-files`` (``jobs.dist.build_zip`` of that code) and executors of 2 GB, and stops the cluster at
the end. The jobs keep their own settings: the runner before commit fd16c3e set 4 shuffle partitions on
``local`` masters only, so on the cluster its shuffles have Spark's 200 (``sql_shuffle_partitions`` in
``detail`` says what a run had).

``--code DIR`` measures another checkout of the project (e.g. an earlier commit, for a before/after
comparison): the job scripts ``DIR/jobs/*.py`` and configs ``DIR/configs/*.yaml``, with
``PYTHONPATH=DIR`` so that the driver and the local executors import that checkout's packages (checked
before the first run). The baseline of the skew work (fd16c3e) is its parent, 1c668ed::

    mkdir -p /tmp/scale-before && git archive 1c668ed | tar -x -C /tmp/scale-before
    .venv/bin/python bench/bench_scale.py --code /tmp/scale-before --out /tmp/scale-before-results

The default run (three sizes, four stages, local[2]) took 23 minutes on this machine's 2 cores while
other work kept its load average at 5-7 (1c668ed: 3 minutes at 20,000 pages, 5 at 80,000, 15 at
320,000), plus ~25 seconds to build the three corpora the first time. The clean stage stays in:
320,000 pages took it 4.7 minutes under that load, within the ~5 minutes it was allowed.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.compute as pc  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from datapipe.document import DOCUMENT_SCHEMA, document_id  # noqa: E402
from datapipe.minhash import QUALITY_KEY  # noqa: E402
from jobs.standalone import Standalone  # noqa: E402

SHARED = Path(os.environ.get("TELEFLM_SHARED_DATA", ROOT.parent / "shared" / "data"))
ENWIKI = SHARED / "english" / "enwiki2015"

DEFAULT_SIZES = [20_000, 80_000, 320_000]
# stage -> (job script in CODE/jobs, the floor's in this checkout's bench/; upstream stage whose output it reads when that one runs too, config file)
STAGES = {
    "floor": ("floor_stage.py", None, None),
    "dedup_paragraphs": ("dedup_paragraphs.py", None, "dedup_paragraphs.yaml"),
    "dedup_minhash": ("dedup_minhash.py", "dedup_paragraphs", "dedup_minhash.yaml"),
    "mix": ("mix.py", "dedup_minhash", "mix.yaml"),
    "clean": ("clean.py", None, "clean.yaml"),
}
FLOOR = "floor"
DEFAULT_STAGES = list(STAGES)
DOCS_PER_FILE = 20_000
MIN_FILES = 4
ROW_GROUP = 5_000
MIN_TASKS = 4  # a Spark stage needs this many tasks to count for the skew figure
MIN_SHARE = 0.05  # ... and this share of the application's summed task time
SUBMIT_TIMEOUT = 3600

BOILERPLATE = [  # (paragraph, share of pages)
    ("Subscribe to our newsletter to get the latest stories, expert analysis and exclusive offers delivered straight "
     "to your inbox every week.", 0.30),
    ("We use cookies to improve your experience on our website. By continuing to browse the site you agree to our "
     "use of cookies.", 0.03),
    ("Share this article with your friends and colleagues on Facebook, Twitter, LinkedIn or by email.", 0.025),
    ("The views expressed in the comments section are those of the readers and do not necessarily reflect the "
     "views of the editors.", 0.02),
    ("This material may not be published, broadcast, rewritten or redistributed in whole or in part without "
     "prior written permission.", 0.015),
    ("Thank you for reading. If you found this article useful, please consider supporting our independent "
     "journalism with a small donation.", 0.01),
]
BOILERPLATE_FIRST = 0.2  # share of boilerplate insertions that open the page instead of closing it
FAMILY_SHARE = 0.12  # share of the pages outside the big cluster that are in small near-duplicate families
MISSING_DATE = 0.05

T0 = time.perf_counter()


def log(msg: str) -> None:
    print(f"[{time.perf_counter() - T0:7.1f}s] {msg}", flush=True)


# --- the corpus ----------------------------------------------------------------------------------


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")
_WORD = re.compile(r"^[a-z]{3,12}$")


def sentence_pool() -> tuple[list[str], list[str]]:
    """Distinct sentences of 40-110 characters and at least 7 words from English Wikipedia's article
    paragraphs (titles and headings left out), in a fixed order; and a vocabulary of their lower-case
    words (for the near duplicates' word replacements)."""
    files = sorted(ENWIKI.glob("wiki_*.gz"))
    if not files:
        raise SystemExit(f"error: the shared data set is absent ({ENWIKI}); see ../shared/data/english/SOURCES.md")
    seen: set[str] = set()
    pool: list[str] = []
    for path in files:
        with gzip.open(path, "rt", encoding="utf-8") as f:
            title = False
            for line in f:
                if line.startswith("<doc"):
                    title = True
                    continue
                if title or line.startswith("</doc") or len(line) < 80:
                    title = False
                    continue
                for s in _SENTENCE_END.split(line.strip()):
                    if 40 <= len(s) <= 110 and s[-1] in ".!?" and s.count(" ") >= 6 and s not in seen:
                        seen.add(s)
                        pool.append(s)
    vocab = sorted({w for s in pool[::20] for w in s.split(" ") if _WORD.match(w)})
    return pool, vocab


def _join(strings: pa.Array, offsets: np.ndarray, sep: str) -> pa.Array:
    """Strings joined by ``sep`` in consecutive runs given by ``offsets`` (n + 1 of them)."""
    return pc.binary_join(pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), strings), pa.scalar(sep, strings.type))


def build_corpus(n: int, seed: int, cluster: int, out: Path) -> dict:
    """Write the corpus of ``n`` pages to ``out`` (see the module docstring); returns its description."""
    started = time.perf_counter()
    rng = np.random.default_rng([seed, n])
    pool, vocab = sentence_pool()
    sentences = pa.array(pool, pa.string())

    def random_paragraphs(count: int, per: int) -> list[str]:
        """``count`` paragraphs of ``per`` random sentences."""
        idx = rng.integers(0, len(pool), count * per)
        return _join(sentences.take(pa.array(idx)), np.arange(0, count * per + 1, per), " ").to_pylist()

    def edited(paragraph: str) -> str:
        """The paragraph with one word (not the first) replaced by another from the vocabulary."""
        words = paragraph.split(" ")
        j = int(rng.integers(1, len(words)))
        new = vocab[int(rng.integers(0, len(vocab)))]
        while new == words[j]:
            new = vocab[int(rng.integers(0, len(vocab)))]
        words[j] = new
        return " ".join(words)

    cluster = min(cluster, n // 2)
    rest = n - cluster
    sizes = rng.integers(2, 6, max(1, rest // 2))
    n_families = int(np.searchsorted(np.cumsum(sizes), FAMILY_SHARE * rest))
    family_sizes = sizes[:n_families].tolist()
    n_plain = rest - sum(family_sizes)

    # the paragraph table: plain pages' paragraphs first, then every special paragraph appended
    n_paras = rng.integers(5, 16, n_plain)
    table: list[str] = random_paragraphs(int(n_paras.sum()), 2)
    pages: list[list[int]] = []  # paragraph indices of each page
    kinds: list[int] = []  # 0 plain, 1 the big cluster, 2 a small family
    hosts: list[int] = []
    start = 0
    for k in n_paras.tolist():
        pages.append(list(range(start, start + k)))
        start += k
    kinds += [0] * n_plain
    hosts += rng.integers(0, 4000, n_plain).tolist()

    def add(text: str) -> int:
        table.append(text)
        return len(table) - 1

    def family(copies: int, template: list[str], split: int, kind: int, host: int) -> None:
        """``copies`` pages: ``template[:split]``, the two article paragraphs (edited in every copy but
        the first), ``template[split:]``."""
        head = [add(t) for t in template[:split]]
        tail = [add(t) for t in template[split:]]
        article = ["".join(random_paragraphs(1, int(rng.integers(11, 14)))) for _ in range(2)]
        for c in range(copies):
            body = [add(p if c == 0 else edited(p)) for p in article]
            pages.append(head + body + tail)
            kinds.append(kind)
            hosts.append(host)

    if cluster:
        family(cluster, random_paragraphs(4, 2), 2, 1, 4000)
    for i, size in enumerate(family_sizes):
        family(size, random_paragraphs(2, 2), 1, 2, 4001 + i % 2000)

    # boilerplate paragraphs, each in its share of all pages, last (or first) paragraph
    boiler = [add(text) for text, _ in BOILERPLATE]
    boiler_pages = []
    for b, (_, share) in zip(boiler, BOILERPLATE):
        chosen = np.flatnonzero(rng.random(n) < share)
        first = rng.random(len(chosen)) < BOILERPLATE_FIRST
        for p, f in zip(chosen.tolist(), first.tolist()):
            pages[p] = [b] + pages[p] if f else pages[p] + [b]
        boiler_pages.append(len(chosen))

    order = rng.permutation(n)
    pages = [pages[i] for i in order]
    kinds = np.asarray(kinds)[order]
    hosts = np.asarray(hosts)[order]
    offsets = np.zeros(n + 1, np.int64)
    offsets[1:] = np.cumsum([len(p) for p in pages])
    flat = np.fromiter((i for p in pages for i in p), np.int64, int(offsets[-1]))
    # large strings: past ~1M pages the corpus text outgrows a string array's 2 GB of offsets (cast per file below)
    text = _join(pa.array(table, pa.large_string()).take(pa.array(flat)), offsets, "\n")

    ids = [document_id("bench-scale", str(seed), str(n), str(i)) for i in range(n)]
    names = ["news", "blog", "forum", "shop", "wiki", "daily", "review", "guide"]
    urls = [f"https://www.{names[h % 8]}{h}.example.com/{['a', 'article', 'p'][k]}/{i[:16]}"
            for h, k, i in zip(hosts.tolist(), kinds.tolist(), ids)]
    t0 = datetime(2019, 1, 1, tzinfo=timezone.utc).timestamp()
    seconds = (t0 + rng.integers(0, 6 * 365 * 86400, n)).astype("datetime64[s]")
    dates = pc.strftime(pa.array(seconds, pa.timestamp("s")), format="%Y-%m-%dT%H:%M:%SZ")
    dates = pc.if_else(pa.array(rng.random(n) < MISSING_DATE), pa.nulls(n, pa.string()), dates)
    quality = pa.MapArray.from_arrays(pa.array(np.arange(n + 1), pa.int32()), pa.array([QUALITY_KEY] * n),
                                      pa.array(rng.beta(2.0, 2.0, n)))
    files = max(MIN_FILES, -(-n // DOCS_PER_FILE))
    table_out = pa.Table.from_arrays(
        [pa.array(ids), pa.array(urls), pa.array(["WebText"] * n), pa.array(["en"] * n),
         pa.array(rng.uniform(0.85, 1.0, n)), text,
         pa.array([f"synthetic/seed{seed}-{n}-{i * files // n:05d}.warc.gz" for i in range(n)]),
         pa.array(np.arange(n, dtype=np.int64) * 4096), dates, quality],
        schema=DOCUMENT_SCHEMA.set(DOCUMENT_SCHEMA.get_field_index("text"), DOCUMENT_SCHEMA.field("text").with_type(pa.large_string())),
    )  # fmt: skip

    tmp = out.parent / f"._tmp-{out.name}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    bounds = [i * n // files for i in range(files + 1)]
    for f in range(files):
        part = table_out.take(pa.array(np.arange(bounds[f], bounds[f + 1])))  # a copy: a slice's cast checks the whole buffer
        pq.write_table(part.cast(DOCUMENT_SCHEMA), tmp / f"part-{f:05d}.parquet", row_group_size=ROW_GROUP)
    text_bytes = int(pc.sum(pc.binary_length(text)).as_py())
    desc = {
        "docs": n,
        "files": files,
        "text_bytes": text_bytes,
        "mean_doc_bytes": round(text_bytes / n),
        "parquet_bytes": sum(p.stat().st_size for p in tmp.glob("*.parquet")),
        "sentence_pool": len(pool),
        "cluster": cluster,
        "families": len(family_sizes),
        "family_docs": int(sum(family_sizes)),
        "boilerplate_pages": boiler_pages,
        "missing_dates": int(dates.null_count),
        "seed": seed,
        "build_s": round(time.perf_counter() - started, 1),
    }
    stats = {
        "stage": "synthetic",
        "output": "file:" + str(out.resolve()),
        "inputs": [],
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "seconds": desc["build_s"],
        "counters": {"docs_in": 0, "docs_out": n, "bytes_in": 0, "bytes_out": text_bytes},
        "config": {"generator": "bench/bench_scale.py", **{k: desc[k] for k in ("seed", "cluster", "families", "family_docs")}},
        "corpus": desc,
    }
    (tmp / "_stats.json").write_text(json.dumps(stats, indent=2) + "\n")
    (tmp / "_SUCCESS").write_text("")
    if (out / "_SUCCESS").exists():  # another run built it meanwhile: same seed, same corpus
        shutil.rmtree(tmp)
        return json.loads((out / "_stats.json").read_text())["corpus"]
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return desc


def corpus(work: Path, n: int, seed: int, cluster: int) -> tuple[Path, dict]:
    """The corpus of ``n`` pages under ``work``, built unless a complete one with the same parameters is there."""
    out = work / f"corpus-{n}-seed{seed}-cluster{cluster}"
    if (out / "_SUCCESS").exists():
        desc = json.loads((out / "_stats.json").read_text())["corpus"]
        log(f"corpus of {n:,} documents: reusing {out}")
        return out, desc
    log(f"corpus of {n:,} documents: building {out}")
    desc = build_corpus(n, seed, cluster, out)
    log(f"corpus of {n:,} documents: built in {desc['build_s']} s, {desc['parquet_bytes'] / 1e6:.1f} MB Parquet, "
        f"{desc['mean_doc_bytes']} bytes/doc, cluster {desc['cluster']:,}, {desc['families']:,} families ({desc['family_docs']:,} docs)")
    return out, desc


def dataset_files(directory: Path) -> list[Path]:
    """The Parquet files Spark reads of a stage output (hidden and ``_`` entries left out, as Spark does)."""
    hidden = ("_", ".")
    return sorted(p for p in directory.rglob("*.parquet") if not any(part.startswith(hidden) for part in p.relative_to(directory).parts))


def dataset_size(directory: Path) -> tuple[int, int]:
    """(documents, bytes on disk) of a stage output's documents."""
    files = dataset_files(directory)
    return sum(pq.ParquetFile(p).metadata.num_rows for p in files), sum(p.stat().st_size for p in files)


# --- event logs ----------------------------------------------------------------------------------


def read_events(log_dir: Path) -> list[dict]:
    """The events of the one application that logged into ``log_dir`` (a plain event log file, or a
    rolling one: a directory of ``events_<n>_*`` files)."""
    entries = [p for p in log_dir.iterdir() if not p.name.startswith(".")]
    if len(entries) != 1:
        raise ValueError(f"expected one event log in {log_dir}, found {[p.name for p in entries]}")
    entry = entries[0]
    if entry.is_dir():
        files = sorted(entry.glob("events_*"), key=lambda p: int(p.name.split("_")[1]))
    else:
        files = [entry]
    events = []
    for path in files:
        with open(path, encoding="utf-8") as f:
            events += [json.loads(line) for line in f if line.strip()]
    return events


def _operators(stage_info: dict) -> str:
    """A Spark stage's operators in lineage order (RDD id), codegen wrappers left out."""
    names = []
    for rdd in sorted(stage_info.get("RDD Info", []), key=lambda r: r["RDD ID"]):
        scope = json.loads(rdd["Scope"])["name"].strip() if rdd.get("Scope") else rdd["Name"]
        if not scope.startswith("WholeStageCodegen") and (not names or names[-1] != scope):
            names.append(scope)
    return " > ".join(names)


def _ratio(values: list[float]) -> float | None:
    med = statistics.median(values)
    return round(max(values) / med, 2) if med > 0 else None


_CODE_PATH = re.compile(r"(?<= at )\S*?/(?=(?:jobs|datapipe|tokenizer|train)/)")


SPARK_PROPERTIES = ("spark.master", "spark.driver.memory", "spark.executor.memory", "spark.executor.cores", "spark.default.parallelism",
                    "spark.cores.max", "spark.sql.shuffle.partitions")


def analyse(events: list[dict], input_docs: int, input_bytes: int, min_tasks: int) -> dict:
    """Timing, task skew and shuffle volume of one application (see the module docstring). A Spark
    stage is named by the Python call that ran its first job (the SQL execution's description, or the
    job's call site, with the path up to the project's package cut) and by its operators."""
    job_start, job_end, job_site, sql = {}, {}, {}, {}
    shuffle_partitions = None
    stages: dict[tuple[int, int], dict] = {}
    tasks: dict[tuple[int, int], list[dict]] = {}
    props: dict = {}
    for e in events:
        kind = e["Event"]
        if kind == "SparkListenerJobStart":
            job_start[e["Job ID"]] = e["Submission Time"]
            props_ = e.get("Properties") or {}
            if "spark.sql.shuffle.partitions" in props_:
                shuffle_partitions = props_["spark.sql.shuffle.partitions"]
            site = sql.get(props_.get("spark.sql.execution.id")) or props_.get("callSite.short")
            for sid in e["Stage IDs"]:
                job_site.setdefault(sid, _CODE_PATH.sub("", site) if site else site)
        elif kind.endswith("SparkListenerSQLExecutionStart"):
            sql[str(e["executionId"])] = e.get("description")
        elif kind == "SparkListenerJobEnd":
            job_end[e["Job ID"]] = e["Completion Time"]
        elif kind == "SparkListenerStageCompleted":
            info = e["Stage Info"]
            stages[(info["Stage ID"], info["Stage Attempt ID"])] = info
        elif kind == "SparkListenerTaskEnd":
            tasks.setdefault((e["Stage ID"], e["Stage Attempt ID"]), []).append(e)
        elif kind == "SparkListenerEnvironmentUpdate":
            props = dict(e.get("Spark Properties") or {})
    if not job_start:
        raise ValueError("the event log has no Spark job")
    spark_s = (max(job_end.values()) - min(job_start.values())) / 1000
    detail = []
    totals = {"run_ms": 0, "shuffle_write": 0, "shuffle_read": 0, "input_read": 0, "tasks": 0, "failed_tasks": 0}
    for key in sorted(tasks):
        ok = [t for t in tasks[key] if t["Task End Reason"]["Reason"] == "Success" and t.get("Task Metrics")]
        totals["failed_tasks"] += len(tasks[key]) - len(ok)
        if not ok:
            continue
        run = [t["Task Metrics"]["Executor Run Time"] for t in ok]
        wall = [t["Task Info"]["Finish Time"] - t["Task Info"]["Launch Time"] for t in ok]
        sw = sum(t["Task Metrics"]["Shuffle Write Metrics"]["Shuffle Bytes Written"] for t in ok)
        reads = [t["Task Metrics"]["Shuffle Read Metrics"] for t in ok]
        sr = sum(m["Remote Bytes Read"] + m["Local Bytes Read"] for m in reads)
        inp = sum(t["Task Metrics"]["Input Metrics"]["Bytes Read"] for t in ok)
        info = stages.get(key, {})
        detail.append({
            "stage_id": key[0], "attempt": key[1],
            "name": info.get("Stage Name", "?"), "call_site": job_site.get(key[0]), "operators": _operators(info) if info else "?",
            "tasks": len(ok), "run_ms_sum": sum(run), "run_ms_median": statistics.median(run), "run_ms_max": max(run),
            "max_over_median": _ratio(run), "launch_to_finish_max_over_median": _ratio(wall),
            "duration_s": round((info["Completion Time"] - info["Submission Time"]) / 1000, 2) if info.get("Completion Time") else None,
            "shuffle_write_bytes": sw, "shuffle_read_bytes": sr, "input_bytes_read": inp,
        })  # fmt: skip
        totals["run_ms"] += sum(run)
        totals["shuffle_write"] += sw
        totals["shuffle_read"] += sr
        totals["input_read"] += inp
        totals["tasks"] += len(ok)
    for d in detail:
        d["share_of_run_time"] = round(d["run_ms_sum"] / totals["run_ms"], 4) if totals["run_ms"] else 0.0
        d["counts_for_skew"] = d["tasks"] >= min_tasks and d["share_of_run_time"] >= MIN_SHARE and d["max_over_median"] is not None
    counted = [d for d in detail if d["counts_for_skew"]]
    worst = max(counted, key=lambda d: d["max_over_median"]) if counted else None
    return {
        "input_docs": input_docs,
        "input_bytes": input_bytes,
        "spark_s": round(spark_s, 2),
        "seconds_per_doc": spark_s / input_docs if input_docs else None,
        "max_over_median_task": worst["max_over_median"] if worst else None,
        "skew_stage": f"stage {worst['stage_id']} ({worst['call_site'] or '?'}): {worst['operators']}" if worst else None,
        "skew_stage_tasks": worst["tasks"] if worst else None,
        "shuffle_bytes": totals["shuffle_write"],
        "shuffle_read_bytes": totals["shuffle_read"],
        "shuffle_bytes_per_input_byte": totals["shuffle_write"] / input_bytes if input_bytes else None,
        "input_bytes_read": totals["input_read"],
        "tasks": totals["tasks"],
        "failed_tasks": totals["failed_tasks"],
        "spark_jobs": len(job_start),
        "spark_stages": len(detail),
        "task_run_s": round(totals["run_ms"] / 1000, 2),
        "spark_properties": {k: v for k, v in props.items() if k in SPARK_PROPERTIES},
        "sql_shuffle_partitions": shuffle_partitions,
        "detail": detail,
    }  # fmt: skip


# --- running a stage -----------------------------------------------------------------------------


def build_code_zip(code: Path, out: Path) -> Path:
    """The code under test's packages zipped for ``--py-files`` (its own ``jobs.dist.build_zip``)."""
    env = {**os.environ, "PYTHONPATH": str(code)}
    subprocess.run([sys.executable, "-c", "import sys; from jobs.dist import build_zip; build_zip(sys.argv[1])", str(out)],
                   cwd=code, env=env, check=True)
    return out


def submit_command(stage: str, code: Path, master: str, inputs: Path, output: Path, event_dir: Path, cluster: Standalone | None,
                   py_files: Path | None) -> list[str]:
    script, _, config = STAGES[stage]
    log4j = code / "configs" / "log4j2.properties"
    if not log4j.exists():
        log4j = ROOT / "configs" / "log4j2.properties"
    cmd = [str(Path(sys.executable).parent / "spark-submit"), "--master", master, "--driver-memory", "4g",
           "--driver-java-options", f"-Dlog4j2.configurationFile={log4j}", "--conf", "spark.ui.enabled=false",
           "--conf", "spark.eventLog.enabled=true", "--conf", f"spark.eventLog.dir=file:{event_dir}",
           "--conf", "spark.eventLog.compress=false"]  # fmt: skip
    if cluster:
        cmd += ["--py-files", str(py_files), "--conf", f"spark.pyspark.python={sys.executable}", "--executor-memory", cluster.memory]
    # the floor is this checkout's: it measures Spark and the runner, not a stage of the code under test
    cmd += [str(ROOT / "bench" / script if stage == FLOOR else code / "jobs" / script), "--input", str(inputs), "--output", str(output)]
    if config and (code / "configs" / config).exists():
        cmd += ["--config", str(code / "configs" / config)]
    return cmd


def run_stage(label: str, cmd: list[str], code: Path, env: dict, log_path: Path) -> tuple[float, int]:
    """Run one spark-submit, logging to ``log_path`` and saying every minute that it still runs;
    returns (wall seconds, exit code)."""
    started = time.perf_counter()
    done = threading.Event()

    def heartbeat():
        while not done.wait(60):
            log(f"{label}: running for {time.perf_counter() - started:.0f} s")

    threading.Thread(target=heartbeat, daemon=True).start()
    with open(log_path, "w") as out:
        out.write(" ".join(cmd) + "\n\n")
        out.flush()
        proc = subprocess.Popen(cmd, cwd=code, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            rc = proc.wait(timeout=SUBMIT_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGTERM)
            rc = proc.wait()
        except KeyboardInterrupt:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait()
            raise
        finally:
            done.set()
    return time.perf_counter() - started, rc


def stage_counters(output: Path) -> dict:
    """What the stage's ``_stats.json`` says about its documents (and the MinHash clusters)."""
    stats = json.loads((output / "_stats.json").read_text())
    c = stats.get("counters", {})
    out = {k: c[k] for k in ("docs_in", "docs_out", "bytes_in", "bytes_out", "paragraphs_in", "paragraphs_removed", "docs_with_removals")
           if k in c}  # fmt: skip
    out["drops"] = {k[5:]: v for k, v in c.items() if k.startswith("drop.")}
    if "minhash" in stats:
        m = stats["minhash"]
        hist = m.get("cluster_size_histogram", {})
        out["minhash"] = {k: m.get(k) for k in ("candidate_pairs", "verified_pairs", "cc_rounds", "clusters", "duplicates_removed")}
        out["minhash"]["largest_cluster"] = max((int(s) for s in hist), default=0)
    return out


# --- report --------------------------------------------------------------------------------------


METRICS = ("seconds_per_doc", "max_over_median_task", "shuffle_bytes_per_input_byte")
SERIES = METRICS + ("skew_stage", "wall_s", "spark_s", "input_docs", "input_bytes", "shuffle_bytes", "tasks")


def _fmt(value, spec: str, none: str = "-") -> str:
    return none if value is None else format(value, spec)


def marginal_seconds_per_doc(series: dict) -> list[float | None]:
    """Spark seconds per extra input document from the previous size to each size: the slope that
    stays flat when a stage scales linearly, whatever its fixed per-job cost (None at the first size)."""
    out: list[float | None] = [None]
    for i in range(1, len(series["spark_s"])):
        t0, t1, n0, n1 = series["spark_s"][i - 1], series["spark_s"][i], series["input_docs"][i - 1], series["input_docs"][i]
        out.append((t1 - t0) / (n1 - n0) if None not in (t0, t1, n0, n1) and n1 != n0 else None)
    return out


def smallest_over_largest(values: list[float | None]) -> float | None:
    """Time per document at the smallest size over that at the largest: above 1 where fixed costs weigh on
    the small runs, above 1 for the floor too; below 1 where a stage slows down with size."""
    return values[0] / values[-1] if len(values) > 1 and values[0] and values[-1] else None


def render_markdown(r: dict) -> str:
    sizes = r["sizes"]
    corp = [r["corpora"].get(str(n), {}) for n in sizes]
    where = (f"standalone cluster, {r['standalone']['workers']} workers x {r['standalone']['cores']} core, {r['standalone']['memory']} each"
             if r.get("standalone") else r["master"])
    lines = [
        "# Scaling of the chain's Spark stages" + (" (standalone cluster)" if r.get("standalone") else ""),
        "",
        f"{where}; code {r['code']}{' (' + r['code_commit'][:10] + ')' if r.get('code_commit') else ''}; {r['machine']}.",
        "Corpora: " + "; ".join(f"{c.get('docs', n):,} pages ({c.get('parquet_bytes', 0) / 1e6:.0f} MB Parquet, cluster of "
                                 f"{c.get('cluster', 0):,}, {c.get('family_docs', 0):,} pages in {c.get('families', 0):,} small families)"
                                 for n, c in zip(sizes, corp)) + ".",
        f"ms/doc: (last Spark job end - first job start) / input documents; marginal: the extra Spark time over the extra "
        "documents from the previous size (free of the fixed per-job costs). max/median: longest over median task "
        f"(executor run time) of the worst Spark stage with >= {r['min_tasks']} tasks and >= {100 * MIN_SHARE:g}% of the "
        "application's task time. shuffle/input: shuffle bytes written / input Parquet bytes.",
        "",
        "| stage | metric | " + " | ".join(f"{n:,}" for n in sizes) + " |",
        "|---|---|" + "---:|" * len(sizes),
    ]
    for stage, s in r["stages"].items():
        rows = [
            ("ms per document", [_fmt(v and 1000 * v, ".3f") for v in s["seconds_per_doc"]]),
            ("marginal ms per document", [_fmt(v and 1000 * v, ".3f") for v in marginal_seconds_per_doc(s)]),
            ("max/median task", [_fmt(v, ".2f") for v in s["max_over_median_task"]]),
            ("shuffle bytes / input byte", [_fmt(v, ".3f") for v in s["shuffle_bytes_per_input_byte"]]),
            ("spark-submit wall s", [_fmt(v, ".1f") for v in s["wall_s"]]),
        ]
        for i, (name, values) in enumerate(rows):
            lines.append(f"| {stage if i == 0 else ''} | {name} | " + " | ".join(values) + " |")
    ratios = {stage: smallest_over_largest(s["seconds_per_doc"]) for stage, s in r["stages"].items()}
    if any(ratios.values()):
        lines += ["", f"ms per document at {sizes[0]:,} over {sizes[-1]:,} documents: "
                  + ", ".join(f"{stage} {_fmt(v, '.2f')}x" for stage, v in ratios.items()) + "."]
    lines += ["", "Spark stage with the largest max/median task, per stage and size:", "",
              "| stage | size | docs in | Spark s | max/median | Spark stage (operators) | its tasks |",
              "|---|---:|---:|---:|---:|---|---:|"]
    for stage, s in r["stages"].items():
        for i, n in enumerate(sizes):
            d = r["detail"].get(stage, {}).get(str(n))
            if d is None:
                continue
            if "error" in d:
                lines.append(f"| {stage} | {n:,} | | | | {d['error']} | |")
                continue
            lines.append(f"| {stage} | {n:,} | {d['input_docs']:,} | {d['spark_s']:.1f} | {_fmt(d['max_over_median_task'], '.2f')} | "
                         f"{d['skew_stage'] or '-'} | {_fmt(d['skew_stage_tasks'], 'd')} |")
    if r.get("notes"):
        lines += [""] + [f"Note: {n}" for n in r["notes"]]
    return "\n".join(lines)


def git_commit(code: Path) -> str | None:
    try:
        proc = subprocess.run(["git", "-C", str(code), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
    except OSError:
        return None
    if proc.returncode != 0:
        return None
    dirty = subprocess.run(["git", "-C", str(code), "status", "--porcelain", "--", "jobs", "datapipe", "configs"],
                           capture_output=True, text=True, timeout=30)
    return proc.stdout.strip() + (" + uncommitted changes in jobs/, datapipe/ or configs/" if dirty.stdout.strip() else "")


def local_cores(master: str) -> int:
    m = re.fullmatch(r"local\[(\d+|\*)(?:,\s*\d+)?\]", master)
    if m:
        return os.cpu_count() or 1 if m.group(1) == "*" else int(m.group(1))
    return 1 if master == "local" else 0


# --- main ----------------------------------------------------------------------------------------


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="See the module docstring (bench/bench_scale.py) for what is measured and how.")
    p.add_argument("--sizes", type=int, nargs="+", default=DEFAULT_SIZES, help="corpus sizes in documents (default: 20000 80000 320000)")
    p.add_argument("--stages", nargs="+", default=DEFAULT_STAGES, choices=list(STAGES),
                   help=f"stages to run, in chain order (default: {' '.join(DEFAULT_STAGES)})")
    p.add_argument("--master", default="local[2]", help="Spark master (default: local[2])")
    p.add_argument("--standalone", action="store_true",
                   help="start a standalone master and two workers (1 core, 2 GB each) on 127.0.0.1 and submit to it")
    p.add_argument("--code", default=str(ROOT), help="checkout of the project whose jobs/ and configs/ run (default: this one)")
    p.add_argument("--out", default=str(ROOT / "out" / "bench"), help="where scale.{json,md} go (default: out/bench)")
    p.add_argument("--work", default=str(ROOT / "out" / "bench" / "scale-work"),
                   help="scratch directory: corpora (kept and reused), stage outputs (deleted per size), event logs and logs "
                        "(default: out/bench/scale-work)")
    p.add_argument("--seed", type=int, default=2024, help="corpus seed (default: 2024)")
    p.add_argument("--cluster", type=int, default=10_000,
                   help="pages in the big near-duplicate cluster (default: 10000; at most half a corpus)")
    p.add_argument("--min-tasks", type=int, default=2, help="tasks a Spark stage needs to count for max/median (default: 2)")
    p.add_argument("--keep-outputs", action="store_true", help="keep the stage outputs in --work")
    args = p.parse_args()

    code = Path(args.code).resolve()
    if not (code / "jobs" / "runner.py").is_file():
        raise SystemExit(f"error: {code} is not a checkout of the project (no jobs/runner.py)")
    stages = [s for s in STAGES if s in args.stages]
    sizes = sorted(set(args.sizes))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    work = Path(args.work).resolve()
    run_dir = work / f"run-{datetime.now().strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    run_dir.mkdir(parents=True)
    name = "scale-standalone" if args.standalone else "scale"

    env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "PYTHONPATH": str(code)}
    probe = subprocess.run([sys.executable, "-c", "import jobs.runner, datapipe; print(jobs.runner.__file__)"], cwd=code, env=env,
                           capture_output=True, text=True)  # fmt: skip
    if probe.returncode != 0 or not Path(probe.stdout.strip()).resolve().is_relative_to(code):
        raise SystemExit(f"error: with PYTHONPATH={code} the jobs package comes from {probe.stdout.strip() or probe.stderr[-500:]}")

    cluster, py_files, master = None, None, args.master
    result = {
        "bench": "scale",
        "sizes": sizes,
        "stage_order": stages,
        "master": master,
        "cores": local_cores(master),
        "standalone": None,
        "code": str(code),
        "code_commit": git_commit(code),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "seed": args.seed,
        "cluster": args.cluster,
        "task_time": "executor run time (Executor Run Time of successful tasks)",
        "min_tasks": args.min_tasks,
        "min_share": MIN_SHARE,
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "run_dir": str(run_dir),
        "corpora": {},
        "stages": {s: {k: [None] * len(sizes) for k in SERIES} for s in stages},
        "detail": {s: {} for s in stages},
        "notes": [],
    }

    def save() -> None:
        result["total_s"] = round(time.perf_counter() - T0, 1)
        for series in result["stages"].values():
            series["marginal_seconds_per_doc"] = marginal_seconds_per_doc(series)
            series["seconds_per_doc_smallest_over_largest"] = smallest_over_largest(series["seconds_per_doc"])
        (out / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
        (out / f"{name}.md").write_text(render_markdown(result) + "\n")

    failed = False
    try:
        if args.standalone:
            log("starting a standalone master and 2 workers (1 core, 2g each) on 127.0.0.1")
            try:
                cluster = Standalone(run_dir / "cluster")
            except RuntimeError as exc:
                raise SystemExit(f"error: {exc}") from None
            master = cluster.master
            py_files = build_code_zip(code, run_dir / "code.zip")
            env["SPARK_LOCAL_IP"] = "127.0.0.1"
            result.update(master=master, cores=cluster.workers * cluster.cores,
                          standalone={"workers": cluster.workers, "cores": cluster.cores, "memory": cluster.memory})
            log(f"standalone master {master} with {cluster.workers} workers up")
        log(f"stages {', '.join(stages)} on {master}, code {code}, sizes {', '.join(f'{n:,}' for n in sizes)}; logs in {run_dir}")
        for i, n in enumerate(sizes):
            corpus_dir, desc = corpus(work, n, args.seed, args.cluster)
            result["corpora"][str(n)] = desc
            outputs: dict[str, Path] = {}
            for stage in stages:
                upstream = STAGES[stage][1]
                if upstream in stages and upstream not in outputs:
                    result["detail"][stage][str(n)] = {"error": f"not run: {upstream} failed"}
                    continue
                source = upstream if upstream in outputs else "corpus"
                inputs = outputs.get(upstream, corpus_dir)
                docs, nbytes = dataset_size(inputs)
                output = run_dir / f"{n}" / stage
                event_dir = run_dir / "eventlogs" / f"{n}-{stage}"
                event_dir.mkdir(parents=True)
                label = f"{stage} @ {n:,}"
                log(f"{label}: on {source} ({docs:,} documents, {nbytes / 1e6:.1f} MB)")
                cmd = submit_command(stage, code, master, inputs, output, event_dir, cluster, py_files)
                load_before = os.getloadavg()[0]
                wall, rc = run_stage(label, cmd, code, env, run_dir / f"{n}-{stage}.log")
                load = {"before": round(load_before, 2), "after_1min": round(os.getloadavg()[0], 2)}
                if rc != 0 or not (output / "_SUCCESS").exists():
                    failed = True
                    tail = (run_dir / f"{n}-{stage}.log").read_text(errors="replace")[-3000:]
                    log(f"{label}: FAILED (exit code {rc}) after {wall:.0f} s; log {run_dir / f'{n}-{stage}.log'}:\n{tail}")
                    result["detail"][stage][str(n)] = {"error": f"failed, exit code {rc}", "wall_s": round(wall, 1)}
                    save()
                    continue
                outputs[stage] = output
                a = analyse(read_events(event_dir), docs, nbytes, args.min_tasks)
                a.update(wall_s=round(wall, 1), input=source, load_average=load, counters=stage_counters(output))
                result["detail"][stage][str(n)] = a
                for k in SERIES:
                    result["stages"][stage][k][i] = a[k]
                log(f"{label}: wall {wall:.1f} s, Spark jobs {a['spark_s']:.1f} s ({1000 * a['seconds_per_doc']:.3f} ms/doc), "
                    f"max/median task {_fmt(a['max_over_median_task'], '.2f')} ({a['skew_stage'] or 'no Spark stage counts'}), "
                    f"shuffle {a['shuffle_bytes'] / 1e6:.1f} MB = {a['shuffle_bytes_per_input_byte']:.3f} x input; "
                    f"load average {load['before']:.1f} before, {load['after_1min']:.1f} after")
                save()
            if not args.keep_outputs:
                shutil.rmtree(run_dir / f"{n}", ignore_errors=True)
    finally:
        if cluster:
            log("stopping the standalone cluster")
            cluster.stop()
        save()
    print()
    print(render_markdown(result))
    log(f"done in {time.perf_counter() - T0:.0f} s: {out / name}.json, {out / name}.md")
    if failed:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
