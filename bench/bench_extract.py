"""Benchmark of the extract stage: Spark stage vs bare trafilatura, throughput and quality.

    make bench-extract            # = .venv/bin/python bench/bench_extract.py
    .venv/bin/python bench/bench_extract.py --cores 1,2 --max-pages 200

What one run does:

1. packs every HTML page under ``../shared/data/html`` (trafilatura's evaluation pages from
   ``tests/eval`` and ``tests/cache``, its HTML test fixtures, magic-html's forum pages; ~1,140 pages,
   172 MB) into WARC files, gzipped per record, in a temporary directory (balanced by size, so Spark's
   tasks are even);
2. in ``--repeat`` rounds, in palindromic order (bare, Spark, Extractor | Extractor, Spark, bare | ...):
   - bare trafilatura: ``trafilatura.extract(raw_html_bytes, ...)`` in a plain loop, one core, with the
     stage's settings -> docs/s;
   - the Spark stage itself (``jobs.extract.run``) in local mode, ``local[N]`` for each N of ``--cores``:
     a warm-up run (JVM, Python workers, trafilatura import, fastText model load are thus excluded), two
     warm runs on tiny inputs (fixed cost per stage run and per task), then the measured run
     -> docs/s per core = pages / wall seconds of ``run()`` / N, plus the CPU time of the Python workers,
     the JVM and the driver (from /proc) to show where the time goes;
   - the stage's pure-Python ``Extractor`` over the same WARC files, one core, timed per phase (WARC
     reading, charset decoding, trafilatura, language ID, the rest);
   figures are means over the rounds (the palindrome cancels a drift of the machine's speed);
3. a paired per-page check: bare trafilatura and the stage's decode + trafilatura, back to back per page;
4. quality on trafilatura's gold set (``evaldata.json``): share of "with" snippets found and of "without"
   snippets absent, for the Spark stage's output (joined by URL) and for bare trafilatura;
5. the speed/quality curve of the stage's per-page path over the settings of its trafilatura acceleration
   (``CURVE``: ``datapipe.trafilatura_accel``'s exact speedups on or off, fallbacks on every page
   or below a length, no fallbacks), every setting back to back per page;
6. quality also on magic-html's forum pages: token F1 against their gold main content, Chinese pages apart.

Targets: Spark stage per-core throughput >= 2x bare trafilatura's; stage quality no more than 0.5 point
(0.005) below bare trafilatura's on every score. Other load on the machine is measured; where it makes the
wall-clock ratio unreliable, the verdict uses the same ratio on CPU time. Results: a table on stdout,
``OUT/extract.json`` and ``OUT/extract.md`` (default ``out/bench``). About 7 minutes on 2 idle cores.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import io
import json
import os
import platform
import random
import re
import shutil
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SHARED_HTML = Path(os.environ.get("TELEFLM_SHARED_DATA", ROOT.parent / "shared" / "data")) / "html"
TRAF_TESTS = SHARED_HTML / "trafilatura" / "tests"
TRAF_EVAL = SHARED_HTML / "trafilatura_eval_gz" / "tests" / "eval"
FORUM = SHARED_HTML / "magic-html" / "benchmark" / "data" / "forum"
CONFIG_PATH = ROOT / "configs" / "extract.yaml"

THROUGHPUT_TARGET = 2.0  # Spark stage per-core docs/s over bare trafilatura docs/s
QUALITY_TOLERANCE_PTS = 0.5  # stage may be at most this many points (0.005) below bare trafilatura, on every score
QUALITY_SCORES = {"with_found": "'with' snippets found", "without_absent": "'without' snippets absent",
                  "f1_other": "magic-html token F1, non-Chinese pages", "f1_zh": "magic-html token F1, Chinese pages"}
CURVE = [  # (name, ExtractConfig overrides): the settings of the speed/quality curve
    ("not accelerated, fallbacks on every page (= bare)", {"accelerate": False, "fallback_below_chars": None}),
    ("accelerated (exact), fallbacks on every page", {"accelerate": True, "fallback_below_chars": None}),
    ("accelerated, fallbacks below 8000 chars", {"accelerate": True, "fallback_below_chars": 8000}),
    ("accelerated, fallbacks below 4000 chars", {"accelerate": True, "fallback_below_chars": 4000}),
    ("accelerated, fallbacks below 2000 chars", {"accelerate": True, "fallback_below_chars": 2000}),
    ("accelerated, fallbacks below 1000 chars", {"accelerate": True, "fallback_below_chars": 1000}),
    ("accelerated, no fallbacks (fast: true)", {"accelerate": True, "fast": True}),
]
BUSY_LIMIT_CORES = 0.3  # more other load than this during a timed run makes its wall-clock figure unreliable

T0 = time.perf_counter()


def log(msg: str) -> None:
    print(f"[{time.perf_counter() - T0:7.1f}s] {msg}", flush=True)


# --- the page set ---------------------------------------------------------------------------------


@dataclass
class Page:
    url: str
    html: bytes
    source: str  # trafilatura-eval | trafilatura-extra | trafilatura-fixture | magic-html-forum
    gold: dict | None = None  # evaldata.json entry: {file, with: [...], without: [...]}
    gold_text: str | None = None  # magic-html's main content of the page


def _read(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


def warc_url(url: str) -> str:
    """The URL as the stage will report it: its WARC reader strips the target URI and warcio's writer
    replaces spaces (invalid in a URI) with %20. The join between stage output and gold set needs this."""
    return url.strip().replace(" ", "%20")


def collect_pages() -> tuple[list[Page], dict]:
    """Every HTML page under ../shared/data/html, each with a unique http(s) URL."""
    if not TRAF_TESTS.is_dir():
        raise SystemExit(f"error: the shared data set is absent ({SHARED_HTML}); see its SOURCES.md")
    pages: list[Page] = []
    used_files: set[Path] = set()
    missing_gold = 0
    gold = json.loads((TRAF_TESTS / "evaldata.json").read_text(encoding="utf-8"))
    for key, entry in gold.items():
        name = entry["file"] + ".gz"
        path = next((p for p in (TRAF_TESTS / "cache" / name, TRAF_EVAL / name) if p.is_file()), None)
        if path is None:
            missing_gold += 1
            continue
        # "hard::<file>" keys are no URLs; warcio parses HTTP headers only for http(s) target URIs
        url = warc_url(key) if key.startswith(("http://", "https://")) else f"https://eval.example.org/{entry['file']}"
        pages.append(Page(url, _read(path), "trafilatura-eval", entry))
        used_files.add(path)
    # pages of tests/eval and tests/cache that evaldata.json does not reference: throughput only
    for d in (TRAF_EVAL, TRAF_TESTS / "cache"):
        for path in sorted(d.iterdir()):
            if path.is_file() and path not in used_files:
                pages.append(Page(f"https://extra.example.org/{d.name}/{path.name}", _read(path), "trafilatura-extra"))
    # trafilatura's HTML test fixtures (feeds, sitemaps and configs there are not pages)
    for path in sorted((TRAF_TESTS / "resources").iterdir()):
        if path.name.endswith((".html", ".html.gz")):
            pages.append(Page(f"https://fixtures.example.org/{path.name}", _read(path), "trafilatura-fixture"))
    # magic-html forum pages
    base = json.loads((FORUM / "base.json").read_text(encoding="utf-8"))
    for sha, entry in sorted(base.items()):
        path = FORUM / "htmls" / f"{sha}.html.gz"
        if path.is_file():
            url = warc_url(entry.get("url") or "")
            if not url.startswith(("http://", "https://")):
                url = f"https://forum.example.org/{sha}"
            pages.append(Page(url, _read(path), "magic-html-forum", gold_text=entry.get("content") or ""))
    # URLs are the join key between the stage's output and the gold set: make them unique
    seen: Counter = Counter()
    for p in pages:
        seen[p.url] += 1
        if seen[p.url] > 1:
            p.url = f"{p.url}#bench-dup-{seen[p.url]}"
    info = {"gold_entries": len(gold), "gold_pages_missing": missing_gold, "duplicate_urls_renamed": sum(n - 1 for n in seen.values())}
    return pages, info


def subsample(pages: list[Page], max_pages: int | None) -> list[Page]:
    """A fixed pseudo-random subset (same every run), keeping the mix of sources."""
    if not max_pages or max_pages >= len(pages):
        return pages
    rng = random.Random(20240101)
    idx = sorted(rng.sample(range(len(pages)), max_pages))
    return [pages[i] for i in idx]


def pack_warcs(pages: list[Page], directory: Path, n_files: int) -> list[Path]:
    """Pages into ``n_files`` WARC files (gzip per record), greedily balanced by size (largest first)."""
    from datapipe.warc import write_html_warc

    directory.mkdir(parents=True, exist_ok=True)
    n_files = max(1, min(n_files, len(pages)))
    bins: list[list[Page]] = [[] for _ in range(n_files)]
    load = [0] * n_files
    for p in sorted(pages, key=lambda p: len(p.html), reverse=True):
        i = load.index(min(load))
        bins[i].append(p)
        load[i] += len(p.html)
    paths = []
    for i, b in enumerate(bins):
        path = directory / f"pages-{i:03d}.warc.gz"
        write_html_warc(str(path), [(p.url, p.html) for p in b])
        paths.append(path)
    return paths


# --- measurements ---------------------------------------------------------------------------------


def _proc_tree() -> dict[int, tuple[str, float]] | None:
    """{pid: (role, CPU seconds)} for this process and its descendants. Roles: "driver" (this process),
    "jvm" (the Spark JVM it started), "python worker" (pyspark's daemon and the workers it forks), "other".
    CPU = user + system time of the process itself (all its threads); children are counted on their own."""
    tick = os.sysconf("SC_CLK_TCK")
    parent: dict[int, int] = {}
    cpu: dict[int, float] = {}
    try:
        entries = [e for e in os.listdir("/proc") if e.isdigit()]
    except OSError:
        return None
    for entry in entries:
        try:
            with open(f"/proc/{entry}/stat") as f:
                raw = f.read()
        except OSError:
            continue  # exited meanwhile
        fields = raw[raw.rindex(")") + 2 :].split()  # after "pid (comm) "
        pid = int(entry)
        parent[pid] = int(fields[1])
        cpu[pid] = (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    me = os.getpid()
    tree: dict[int, tuple[str, float]] = {}
    for pid, c in cpu.items():
        p, hops = pid, 0
        while p not in (me, 0, 1) and hops < 64:
            p, hops = parent.get(p, 0), hops + 1
        if p != me:
            continue
        role = "other"
        if pid == me:
            role = "driver"
        else:
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    cmd = f.read().replace(b"\0", b" ")
            except OSError:
                cmd = b""
            if b"pyspark.daemon" in cmd or b"pyspark.worker" in cmd:
                role = "python worker"
            elif b"java" in cmd.split(b" ", 1)[0]:
                role = "jvm"
        tree[pid] = (role, c)
    return tree


def _system_cpu_s() -> tuple[float, float] | None:
    """(busy, steal) CPU seconds of the whole machine since boot; steal = time the hypervisor gave our
    virtual CPUs to someone else while they had work."""
    try:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
    except OSError:
        return None
    fields += [0] * (8 - len(fields))
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    tick = os.sysconf("SC_CLK_TCK")
    return (user + nice + system + irq + softirq) / tick, steal / tick


class CpuMeter:
    """CPU seconds over a block: of this benchmark's processes (``own_s``: with ``tree=True`` this process and its
    descendants, by role, else this process alone), of the whole machine (``system_s``) and stolen by the
    hypervisor (``steal_s``). Other load and steal slow the wall-clock figures down."""

    def __init__(self, tree: bool = False):
        self.tree = tree
        self.own_s = self.system_s = self.steal_s = None
        self.by_role: dict[str, float] = {}
        self.lost_processes = 0

    def __enter__(self):
        self._sys = _system_cpu_s()
        self._tree = _proc_tree() if self.tree else None
        self._own = time.process_time()
        return self

    def __exit__(self, *exc):
        own = time.process_time() - self._own
        sys_ = _system_cpu_s()
        if self.tree and self._tree is not None:
            after = _proc_tree() or {}
            roles: Counter = Counter()
            for pid, (role, c) in after.items():
                roles[role] += c - (self._tree[pid][1] if pid in self._tree else 0.0)
            # a process that ended meanwhile took its CPU time along (pyspark reuses its workers: rare)
            self.lost_processes = sum(pid not in after for pid in self._tree)
            roles["driver"] = own  # exact, not in clock ticks
            self.by_role = dict(roles)
            self.own_s = sum(roles.values())
        else:
            self.own_s = own
        if sys_ is not None and self._sys is not None:
            self.system_s = sys_[0] - self._sys[0]
            self.steal_s = sys_[1] - self._sys[1]

    def report(self, wall: float, pages: int) -> dict:
        out = {
            "cpu_s": self.own_s,
            "cores_used": self.own_s / wall if self.own_s is not None else None,
            "docs_per_cpu_s": pages / self.own_s if self.own_s else None,
            "other_load_cores": max(0.0, self.system_s - self.own_s) / wall if None not in (self.own_s, self.system_s) else None,
            "steal_cores": self.steal_s / wall if self.steal_s is not None else None,
        }
        if self.tree:
            out["cpu_s_by_role"] = self.by_role
            out["processes_lost"] = self.lost_processes
        return out


def trafilatura_kwargs(config) -> dict:
    """The stage's trafilatura settings, for the bare loop."""
    from datapipe.extract import trafilatura_settings

    kw = trafilatura_settings(config)
    expected = dict(favor_precision=True, include_comments=False, include_tables=True, no_fallback=False)
    for k, v in expected.items():
        if kw[k] != v:
            log(f"WARNING: {CONFIG_PATH.name} sets {k}={kw[k]}, the benchmark's reference setting is {v}")
    return kw


def bench_bare(pages: list[Page], kwargs: dict, stage_timeout: float) -> dict:
    """trafilatura.extract on the raw HTML bytes, one page after the other, as a plain user would."""
    import trafilatura

    trafilatura.extract(b"<html><body><p>warm-up of the import and of lazy initialisation</p></body></html>", **kwargs)
    texts: dict[str, str] = {}
    per_page: list[float] = []
    empty = 0
    with CpuMeter() as cpu:
        started = time.perf_counter()
        for i, p in enumerate(pages, 1):
            t = time.perf_counter()
            text = trafilatura.extract(p.html, url=p.url, **kwargs)
            per_page.append(time.perf_counter() - t)
            if text and text.strip():
                texts[p.url] = text
            else:
                empty += 1
            if i % 250 == 0:
                log(f"  bare trafilatura: {i}/{len(pages)} pages")
        wall = time.perf_counter() - started
    slow = sorted(zip(per_page, (p.url for p in pages)), reverse=True)
    return {
        "pages": len(pages),
        "wall_s": wall,
        "docs_per_s": len(pages) / wall,
        "ms_per_page": 1000 * wall / len(pages),
        **cpu.report(wall, len(pages)),
        "empty_extractions": empty,
        "pages_over_stage_timeout": sum(t > stage_timeout for t in per_page),
        "slowest_pages": [{"url": u, "s": round(t, 3)} for t, u in slow[:5]],
        "_texts": texts,
    }


def bench_extractor(warcs: list[Path], config) -> dict:
    """The stage's pure-Python Extractor over the WARC files on one core, with each phase timed.

    The phases are timed by wrapping the functions the Extractor calls through module globals
    (iter_records, decode_html, extract_main_text, LanguageIdentifier.predict) for the duration of this
    measurement only; "other" is everything else (record selection, time limit, ids, Document objects)."""
    import datapipe.extract as dx
    from datapipe.langid import _load
    from datapipe.warc import open_archive

    timers: Counter = Counter()
    calls: Counter = Counter()

    def timed(name, fn):
        def wrapper(*args, **kwargs):
            t = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                timers[name] += time.perf_counter() - t
                calls[name] += 1

        return wrapper

    orig_iter, orig_decode, orig_extract, orig_predict = dx.iter_records, dx.decode_html, dx.extract_main_text, dx.LanguageIdentifier.predict

    def timed_iter(*args, **kwargs):
        gen = orig_iter(*args, **kwargs)
        while True:
            t = time.perf_counter()
            try:
                rec = next(gen)
            except StopIteration:
                timers["read"] += time.perf_counter() - t
                return
            timers["read"] += time.perf_counter() - t
            calls["read"] += 1
            yield rec

    extractor = dx.Extractor(config)
    _load(extractor.langid.model_path)  # model load is a once-per-worker cost, not per page
    orig_extract("<html><body><p>warm-up</p></body></html>", "https://example.org/", config)
    texts: dict[str, str] = {}
    dx.iter_records, dx.decode_html, dx.extract_main_text = timed_iter, timed("decode", orig_decode), timed("trafilatura", orig_extract)
    dx.LanguageIdentifier.predict = timed("langid", orig_predict)
    try:
        with CpuMeter() as cpu:
            started = time.perf_counter()
            for path in warcs:
                t = time.perf_counter()
                stream = open_archive(str(path))
                timers["read"] += time.perf_counter() - t
                with stream:
                    for doc in extractor.documents_from_archive(stream, str(path)):
                        texts[doc.url] = doc.text
            wall = time.perf_counter() - started
    finally:
        dx.iter_records, dx.decode_html, dx.extract_main_text, dx.LanguageIdentifier.predict = orig_iter, orig_decode, orig_extract, orig_predict
    pages = extractor.counters["docs_in"]
    phases = {k: timers[k] for k in ("read", "decode", "trafilatura", "langid")}
    phases["other"] = wall - sum(phases.values())
    return {
        "pages": pages,
        "docs_out": extractor.counters["docs_out"],
        "wall_s": wall,
        "docs_per_s": pages / wall,
        "ms_per_page": 1000 * wall / pages,
        **cpu.report(wall, pages),
        "phases_s": phases,
        "phases_ms_per_page": {k: 1000 * v / pages for k, v in phases.items()},
        "phases_share": {k: v / wall for k, v in phases.items()},
        "counters": {k: v for k, v in sorted(extractor.counters.items()) if k.startswith(("drop.", "warc.", "truncated"))},
        "_texts": texts,
    }


def bench_paired(pages: list[Page], kwargs: dict, config) -> dict:
    """Per page, back to back (order alternating): bare trafilatura on the bytes, and the stage's per-page path
    (decode_html, then trafilatura on the str under the SIGALRM time limit). Immune to drifts of the machine's
    speed, which the separate passes are not: it tells whether the stage's trafilatura call itself costs more."""
    import trafilatura

    from datapipe.extract import decode_html, extract_main_text, http_charset

    bare_s = stage_s = decode_s = 0.0
    for i, p in enumerate(pages):
        for which in (("bare", "stage") if i % 2 else ("stage", "bare")):
            t = time.perf_counter()
            if which == "bare":
                trafilatura.extract(p.html, url=p.url, **kwargs)
                bare_s += time.perf_counter() - t
            else:
                decoded = decode_html(p.html, http_charset("text/html"))
                decode_s += time.perf_counter() - t
                if decoded is not None:
                    try:
                        extract_main_text(decoded[0], p.url, config)
                    except Exception:  # the stage counts these as drops; the time is what matters here
                        pass
                stage_s += time.perf_counter() - t
    n = len(pages)
    return {"pages": n, "bare_s": bare_s, "stage_s": stage_s, "stage_decode_s": decode_s,
            "bare_ms_per_page": 1000 * bare_s / n, "stage_ms_per_page": 1000 * stage_s / n, "ratio": bare_s / stage_s}


def bench_curve(pages: list[Page], kwargs: dict, config) -> dict:
    """The speed/quality curve of the stage's per-page path (decode_html, then the accelerated trafilatura) over
    the settings in ``CURVE``, against bare trafilatura on the bytes. Per page, every setting runs back to back,
    the order rotating from page to page, so that a drift of the machine's speed favours none."""
    import trafilatura

    from datapipe.extract import decode_html, extract_main_text, http_charset

    settings = [("bare trafilatura (bytes in)", None)] + [(name, config.model_copy(update=update)) for name, update in CURVE]
    seconds = [0.0] * len(settings)
    texts: list[dict[str, str]] = [{} for _ in settings]
    for i, p in enumerate(pages):
        decoded = decode_html(p.html, http_charset("text/html"))
        for k in range(len(settings)):
            j = (i + k) % len(settings)
            cfg = settings[j][1]
            t = time.perf_counter()
            try:
                if cfg is None:
                    text = trafilatura.extract(p.html, url=p.url, **kwargs)
                else:
                    text = extract_main_text(decoded[0], p.url, cfg) if decoded else None
            except Exception:  # the stage counts these as drops
                text = None
            seconds[j] += time.perf_counter() - t
            if text and text.strip():
                texts[j][p.url] = text.strip() if cfg is not None else text
        if (i + 1) % 250 == 0:
            log(f"  speed/quality curve: {i + 1}/{len(pages)} pages")
    reference = texts[0]
    rows = []
    for (name, cfg), s, t in zip(settings, seconds, texts):
        rows.append({"setting": name, "overrides": dict(next((u for n, u in CURVE if n == name), {})),
                     "ms_per_page": 1000 * s / len(pages), "speedup": seconds[0] / s,
                     "pages_changed": sum((t.get(u) or "").strip() != (reference.get(u) or "").strip() for u in {p.url for p in pages}),
                     "quality": quality_scores(t, pages)})
    return {"pages": len(pages), "rows": rows}


def _stop_spark() -> None:
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        active.stop()


def _run_stage(argv: list[str]) -> tuple[dict, float, str]:
    """jobs.extract.run in-process; its funnel print goes to a string, not to the benchmark's table."""
    from jobs import extract as job

    captured = io.StringIO()
    started = time.perf_counter()
    with contextlib.redirect_stdout(captured):
        stats = job.run(argv)
    return stats, time.perf_counter() - started, captured.getvalue()


@dataclass
class TinyInputs:
    """Small WARC inputs for the Spark runs around the measured one: a warm-up (one file per core), and the same
    few tiny pages as one file and as one file each, to tell the fixed cost of a stage run from its cost per task."""

    warmup: Path
    one_file: Path
    many_files: Path
    pages: int
    files: int


def make_tiny_inputs(pages: list[Page], work: Path, n_files: int, max_cores: int) -> TinyInputs:
    tiny = sorted(pages, key=lambda p: len(p.html))[: max(n_files, 2 * max_cores)]
    pack_warcs(tiny, work / "tiny-warmup", max_cores)
    pack_warcs(tiny, work / "tiny-one", 1)
    many = pack_warcs(tiny, work / "tiny-many", n_files)
    return TinyInputs(work / "tiny-warmup", work / "tiny-one", work / "tiny-many", len(tiny), len(many))


def bench_spark(warcs_dir: Path, tiny: TinyInputs, work: Path, cores: int, n_pages: int) -> dict:
    """Warm-up run, two runs on tiny inputs (fixed costs), then the measured run of the Spark stage in local[cores]."""
    import pyarrow.dataset as pads
    from pyspark.sql import SparkSession

    master = f"local[{cores}]"
    active = SparkSession.getActiveSession()
    if active is not None and active.sparkContext.master != master:
        active.stop()  # another master needs another session
    common = ["--config", str(CONFIG_PATH), "--master", master]
    run_id = f"{cores}-{time.time_ns()}"
    outs = {name: work / f"{name}-{run_id}" for name in ("warmup", "tiny-one", "tiny-many", "spark")}
    try:
        log(f"  Spark {master}: warm-up run (JVM, Python workers, imports, fastText model)")
        _, warm_s, _ = _run_stage(["--input", str(tiny.warmup), "--output", str(outs["warmup"])] + common)
        # warm now: what a stage run costs beyond its pages, as one task and as one task per file
        _, one_s, _ = _run_stage(["--input", str(tiny.one_file), "--output", str(outs["tiny-one"])] + common)
        _, many_s, _ = _run_stage(["--input", str(tiny.many_files), "--output", str(outs["tiny-many"])] + common)
        log(f"  Spark {master}: warm-up {warm_s:.1f}s; warm runs on {tiny.pages} tiny pages: {one_s:.2f}s in 1 file, "
            f"{many_s:.2f}s in {tiny.files} files; now the measured run over {n_pages} pages")
        # a fresh output path: replacing an old output would be timed too
        with CpuMeter(tree=True) as cpu:
            stats, wall, _ = _run_stage(["--input", str(warcs_dir), "--output", str(outs["spark"])] + common)
        table = pads.dataset(str(outs["spark"]), format="parquet").to_table(columns=["url", "text"])
        texts = dict(zip(table.column("url").to_pylist(), table.column("text").to_pylist()))
    finally:
        for out in outs.values():
            shutil.rmtree(out, ignore_errors=True)
    counters = stats["counters"]
    pages = counters.get("docs_in", 0)
    if pages != n_pages:
        log(f"  WARNING: the stage read {pages} records, {n_pages} pages were packed")
    files = stats.get("files") or 1
    per_task_s = (many_s - one_s) / (tiny.files - 1) if tiny.files > 1 else None
    fixed_s = one_s + (per_task_s or 0) * (files - 1)  # the tiny runs' own pages cost a few ms: ignored
    return {
        "master": master,
        "cores": cores,
        "pages": pages,
        "docs_out": counters.get("docs_out", 0),
        "files": files,
        "warmup_wall_s": warm_s,
        "tiny_pages": tiny.pages,
        "tiny_one_file_wall_s": one_s,
        "tiny_many_files_wall_s": many_s,
        "tiny_many_files": tiny.files,
        "cost_per_run_s": one_s,
        "cost_per_task_s": per_task_s,
        "fixed_cost_s": fixed_s,
        "wall_s": wall,
        "stage_seconds": stats["seconds"],
        "docs_per_s": pages / wall,
        "docs_per_s_per_core": pages / wall / cores,
        # large files (a Common Crawl WARC holds ~40,000 pages) make the per-run and per-task costs vanish
        "steady_docs_per_s_per_core": pages / max(wall - fixed_s, 1e-9) / cores,
        **cpu.report(wall, pages),
        "counters": {k: v for k, v in counters.items() if k.startswith(("drop.", "warc.", "truncated"))},
        "_texts": texts,
    }


def _is_num(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def mean_of(rounds: list[dict]) -> dict:
    """One run's figures averaged over the rounds (numbers, and numbers in nested dicts), rates recomputed from
    the mean times. With the rounds in palindromic order (A B C, C B A, ...) the means of two runs are taken at
    the same mean moment, so a slow drift of the machine's speed cancels out; a minimum would not."""
    out: dict = {}
    for key, first in rounds[0].items():
        values = [run.get(key) for run in rounds]
        if all(v == first for v in values):
            out[key] = first  # counts, settings: the same every round
        elif _is_num(first) and all(_is_num(v) for v in values):
            out[key] = sum(values) / len(values)
        elif isinstance(first, dict) and first and all(_is_num(v) for v in first.values()):
            keys = list(dict.fromkeys(k for v in values if isinstance(v, dict) for k in v))
            out[key] = {k: sum((v or {}).get(k, 0.0) for v in values) / len(values) for k in keys}
        elif all(v is None or _is_num(v) for v in values) and any(_is_num(v) for v in values):
            nums = [v for v in values if _is_num(v)]
            out[key] = sum(nums) / len(nums)
        else:
            out[key] = first
    pages, cores = out["pages"], out.get("cores", 1)
    out["pages"] = rounds[0]["pages"]
    out["docs_per_s"] = pages / out["wall_s"]
    if "docs_per_s_per_core" in out:
        out["docs_per_s_per_core"] = pages / out["wall_s"] / cores
    if "steady_docs_per_s_per_core" in out:
        out["steady_docs_per_s_per_core"] = pages / max(out["wall_s"] - out["fixed_cost_s"], 1e-9) / cores
    if out.get("cpu_s"):
        out["docs_per_cpu_s"] = pages / out["cpu_s"]
        out["cores_used"] = out["cpu_s"] / out["wall_s"]
    if "ms_per_page" in out:
        out["ms_per_page"] = 1000 * out["wall_s"] / pages
    if "cores" in rounds[0]:
        out["cores"] = rounds[0]["cores"]
    out["rounds"] = [{k: run.get(k) for k in ("wall_s", "docs_per_s", "cpu_s", "docs_per_cpu_s", "other_load_cores", "steal_cores")}
                     for run in rounds]
    return out


_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_TOKEN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]|[^\W_]+")


def token_f1(text: str, gold: str) -> float:
    """F1 of the bags of tokens (words; CJK characters one by one), case-folded."""
    got, want = Counter(_TOKEN.findall(text.casefold())), Counter(_TOKEN.findall(gold.casefold()))
    overlap = sum((got & want).values())
    if not overlap:
        return float(not got and not want)
    precision, recall = overlap / sum(got.values()), overlap / sum(want.values())
    return 2 * precision * recall / (precision + recall)


def is_chinese(text: str) -> bool:
    head = text[:2000]
    return len(_CJK.findall(head)) > 0.1 * max(1, len(head.strip()))


def f1_scores(texts: dict[str, str], pages: list[Page]) -> dict:
    """Mean token F1 against magic-html's gold main content: all pages, the Chinese ones, the others."""
    scores: dict[str, list[float]] = {"zh": [], "other": []}
    for p in pages:
        if p.gold_text is not None:
            scores["zh" if is_chinese(p.gold_text) else "other"].append(token_f1(texts.get(p.url) or "", p.gold_text))
    every = scores["zh"] + scores["other"]
    mean = lambda xs: sum(xs) / len(xs) if xs else None  # noqa: E731
    return {"f1_pages": len(every), "f1": mean(every), "f1_zh_pages": len(scores["zh"]), "f1_zh": mean(scores["zh"]),
            "f1_other_pages": len(scores["other"]), "f1_other": mean(scores["other"])}


def quality_scores(texts: dict[str, str], pages: list[Page]) -> dict:
    return {**snippet_scores(texts, pages), **f1_scores(texts, pages)}


def snippet_scores(texts: dict[str, str], pages: list[Page]) -> dict:
    """trafilatura's evaluation: share of 'with' snippets found, share of 'without' snippets absent."""
    found = total_with = absent = total_without = 0
    for p in pages:
        if p.gold is None:
            continue
        text = texts.get(p.url) or ""
        found += sum(s in text for s in p.gold["with"])
        total_with += len(p.gold["with"])
        absent += sum(s not in text for s in p.gold["without"])
        total_without += len(p.gold["without"])
    return {
        "gold_pages": sum(p.gold is not None for p in pages),
        "with_found": found / total_with if total_with else None,
        "without_absent": absent / total_without if total_without else None,
        "snippets_correct": (found + absent) / (total_with + total_without) if total_with + total_without else None,
        "with_total": total_with,
        "without_total": total_without,
    }


# --- report ---------------------------------------------------------------------------------------


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def _pct2(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.2f}%"


def render_markdown(r: dict) -> str:
    bare, ex = r["bare_trafilatura"], r["extractor"]
    lines = [
        "# Extract stage benchmark: Spark stage vs bare trafilatura",
        "",
        f"{r['pages']['total']} pages ({', '.join(f'{v} {k}' for k, v in r['pages']['by_source'].items())}), "
        f"{r['pages']['html_mb']:.1f} MB of HTML, packed into {r['pages']['warc_files']} WARC files "
        f"({r['pages']['warc_mb']:.1f} MB gzipped per record). {r['pages']['note']}",
        "",
        f"Machine: {r['env']['cpu']} ({r['env']['cpus']} cores); Python {r['env']['python']}, trafilatura "
        f"{r['env']['trafilatura']}, pyspark {r['env']['pyspark']}. Settings: {CONFIG_PATH.relative_to(ROOT)} "
        f"(trafilatura {', '.join(f'{k}={v}' for k, v in r['trafilatura_settings'].items())}).",
        "",
        "## Throughput",
        "",
        "| run | pages | wall s | docs/s | docs/s per core | vs bare | every round, docs/s per core | CPU s | cores used "
        "| docs per CPU s | vs bare (CPU) | other load | steal |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    base = bare["docs_per_s"]
    base_cpu = bare.get("docs_per_cpu_s")
    rows = [("bare trafilatura (bytes in, 1 core)", bare, 1), ("stage Extractor, pure Python (1 core)", ex, 1)]
    rows += [(f"Spark stage {s['master']}", s, s["cores"]) for s in r["spark"]]
    for name, run, cores in rows:
        per_core = run["docs_per_s"] / cores
        lines.append(
            f"| {name} | {run['pages']} | {run['wall_s']:.1f} | {run['docs_per_s']:.2f} | {per_core:.2f} | {_pct(per_core / base)} | "
            f"{' / '.join(format(x['docs_per_s'] / cores, '.2f') for x in run.get('rounds', []))} | "
            f"{_num(run.get('cpu_s'), 1)} | {_num(run.get('cores_used'), 2)} | {_num(run.get('docs_per_cpu_s'), 2)} | "
            f"{_pct(run['docs_per_cpu_s'] / base_cpu) if run.get('docs_per_cpu_s') and base_cpu else 'n/a'} | "
            f"{_num(run.get('other_load_cores'), 2)} | {_num(run.get('steal_cores'), 2)} |"
        )
    lines += [
        "",
        "Spark wall s = the whole `jobs.extract.run()` call (file listing, job, Parquet write, commit), measured right after a "
        "warm-up run in the same session: JVM start, Python worker start, imports and the fastText model load are excluded. "
        "docs/s per core = pages / wall s / N for local[N]; the targets use it. CPU s = user+system CPU seconds of this "
        "benchmark's process tree (driver, Spark JVM, Python workers); cores used = CPU s / wall s; other load = cores kept "
        "busy by other processes on the machine meanwhile, steal = cores' worth of time the hypervisor took away (both slow "
        "the wall-clock figures down; the CPU figures less). Figures are means over the rounds, run in palindromic order "
        "(bare, Spark, Extractor | Extractor, Spark, bare | ...) so that a drift of the machine's speed cancels out.",
        "",
        "| target | measured | result |",
        "|---|---:|---|",
    ]
    for t in r["targets"]:
        result = "PASS" if t["pass"] else "FAIL"
        if t.get("reliable") is False:
            result += " (unreliable: machine busy)"
        lines.append(f"| {t['name']} | {t['measured']} | {result} |")
    lines.append(f"| **verdict** | | **{r['verdict']}** |")
    for s in r["spark"]:
        lines += [
            "",
            f"Spark {s['master']} without its fixed costs (per stage run and per task, see below; they vanish with Common "
            f"Crawl-sized WARC files of ~40,000 pages): {s['steady_docs_per_s_per_core']:.2f} docs/s per core = "
            f"{_pct(s['steady_docs_per_s_per_core'] / base)} of bare trafilatura. On CPU time (all of the stage's threads and "
            f"processes counted): {_pct(s['docs_per_cpu_s'] / base_cpu) if s.get('docs_per_cpu_s') and base_cpu else 'n/a'}.",
        ]
    for e in r.get("drift_free_estimates", []):
        lines += [
            "",
            f"Drift-free estimate for Spark {e['master']} (the paired per-page check below, plus the Extractor's other phases "
            f"{e['other_phases_ms']:.2f} ms/page and the Spark run's fixed costs {e['fixed_ms']:.2f} ms/page; Arrow and "
            f"Parquet work off the Python worker not counted): {_pct(e['ratio'])} of bare trafilatura per core, "
            f"{_pct(e['ratio_steady'])} without the fixed costs.",
        ]
    lines += [
        "",
        "## Where the stage's time goes (pure-Python Extractor, 1 core)",
        "",
        "| phase | s | ms/page | share |",
        "|---|---:|---:|---:|",
    ]
    for k, v in ex["phases_s"].items():
        lines.append(f"| {PHASE_NAMES[k]} | {v:.2f} | {ex['phases_ms_per_page'][k]:.2f} | {_pct(ex['phases_share'][k])} |")
    lines.append(f"| **total** | {ex['wall_s']:.2f} | {ex['ms_per_page']:.2f} | 100.0% |")
    lines.append(f"| *bare trafilatura, for comparison (includes its own byte decoding)* | {bare['wall_s']:.2f} | {bare['ms_per_page']:.2f} | |")
    pp = r.get("paired_per_page")
    if pp:
        lines += [
            "",
            f"Paired per-page check (immune to drifts of the machine's speed): on the same {pp['pages']} pages, back to back, bare "
            f"trafilatura on the bytes took {pp['bare_ms_per_page']:.2f} ms/page and the stage's per-page path (decode_html, "
            f"then trafilatura on the str under the time limit) {pp['stage_ms_per_page']:.2f} ms/page "
            f"(of which decode_html {1000 * pp['stage_decode_s'] / pp['pages']:.2f}): bare/stage = {_pct(pp['ratio'])}. "
            "The stage's WARC reading, language ID and the rest come on top (table above).",
        ]
    for s in r["spark"]:
        n, pages = s["cores"], s["pages"]
        ms = lambda sec: f"{1000 * sec / pages:.2f}"  # noqa: E731
        roles = s.get("cpu_s_by_role") or {}
        worker = roles.get("python worker")
        lines += [
            "",
            f"## Where the Spark stage's time goes ({s['master']}, mean of the rounds)",
            "",
            "| part | s | ms/page |",
            "|---|---:|---:|",
            f"| wall time of `run()` x {n} core(s) | {s['wall_s'] * n:.2f} | {ms(s['wall_s'] * n)} |",
            f"| CPU of the Python worker(s): the Extractor inside Spark, plus Arrow batches | {_num(worker, 2)} | "
            f"{ms(worker) if worker is not None else 'n/a'} |",
            f"| CPU of the JVM: scheduling, Arrow to rows, Parquet write, commit (partly on another core) | "
            f"{_num(roles.get('jvm'), 2)} | {ms(roles['jvm']) if 'jvm' in roles else 'n/a'} |",
            f"| CPU of the driver (this Python process, Py4J) | {_num(roles.get('driver'), 2)} | "
            f"{ms(roles['driver']) if 'driver' in roles else 'n/a'} |",
        ]
        if worker is not None:
            idle = s["wall_s"] * n - worker
            lines.append(f"| **worker cores not running Python** (wall x cores - worker CPU): Spark's cost on the critical path | "
                         f"{idle:.2f} | {ms(idle)} |")
        lines += [
            f"| fixed costs: {s['cost_per_run_s']:.2f} s per stage run + {_num(s['cost_per_task_s'], 2)} s per task x "
            f"{s['files']} tasks (warm runs on tiny inputs; they overlap the rows above) | {s['fixed_cost_s'] * n:.2f} | "
            f"{ms(s['fixed_cost_s'] * n)} |",
            f"| *pure-Python Extractor outside Spark (same pages), for comparison* | {ex['wall_s']:.2f} | {ex['ms_per_page']:.2f} |",
        ]
        if s.get("processes_lost"):
            lines.append(f"| *{s['processes_lost']} process(es) ended during the run: their CPU time is missing above* | | |")
    lines += [
        "",
        "## Quality on the gold sets",
        "",
        "trafilatura's evaluation set (evaldata.json: snippets that must and must not be extracted) and magic-html's forum "
        "pages (mean token F1 against the gold main content; CJK characters count one token each).",
        "",
        "| extractor | gold pages | 'with' snippets found | 'without' snippets absent | all snippets correct "
        "| magic-html F1, non-Chinese | magic-html F1, Chinese |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, q in r["quality"].items():
        lines.append(f"| {name} | {q['gold_pages']} | {_pct2(q['with_found'])} | {_pct2(q['without_absent'])} | "
                     f"{_pct2(q['snippets_correct'])} | {_pct2(q['f1_other'])} ({q['f1_other_pages']}) | {_pct2(q['f1_zh'])} ({q['f1_zh_pages']}) |")
    curve = r.get("curve")
    if curve:
        lines += [
            "",
            "## Speed/quality curve of the stage's extraction (decode + trafilatura, 1 core)",
            "",
            f"Every setting on each of the {curve['pages']} pages back to back, the order rotating: no drift favours one. "
            "Speedup = bare trafilatura's time / the setting's. Pages changed = extractions that differ from bare trafilatura's.",
            "",
            "| setting | ms/page | speedup | pages changed | 'with' found | 'without' absent | F1 non-Chinese | F1 Chinese |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for row in curve["rows"]:
            q = row["quality"]
            lines.append(f"| {row['setting']} | {row['ms_per_page']:.2f} | {row['speedup']:.2f}x | {row['pages_changed']} | "
                         f"{_pct2(q['with_found'])} | {_pct2(q['without_absent'])} | {_pct2(q['f1_other'])} | {_pct2(q['f1_zh'])} |")
    lines += ["", f"Total benchmark runtime: {r['total_runtime_s']:.0f} s."]
    if r.get("notes"):
        lines += ["", "Notes:", ""] + [f"- {n}" for n in r["notes"]]
    return "\n".join(lines) + "\n"


PHASE_NAMES = {
    "read": "WARC reading (gunzip, warcio parsing, payload read)",
    "decode": "charset decoding (decode_html)",
    "trafilatura": "trafilatura.extract on the decoded str",
    "langid": "language ID (fastText lid.176, batched)",
    "other": "other (record checks, time limit, ids, Document objects)",
}


def _num(x: float | None, digits: int) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def render_console(r: dict) -> str:
    md = render_markdown(r)
    # the markdown tables read fine on a terminal; drop the heading markers only
    return "\n".join(line.lstrip("# ") if line.startswith("#") else line for line in md.splitlines())


def write_atomic(path: Path, text: str) -> None:
    from datapipe.io import atomic_file

    with atomic_file(path, "w") as f:
        f.write(text)


# --- main -----------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="bench_extract",
        description="Extract stage benchmark: Spark stage (local mode) vs bare trafilatura, throughput and gold-set quality.",
    )
    p.add_argument("--cores", default="1",
                   help="comma-separated core counts N for the Spark runs in local[N] (default: 1; e.g. 1,2)")
    p.add_argument("--max-pages", type=int, default=None,
                   help="use a fixed pseudo-random subset of this many pages for a quick run "
                        "(default: all ~1,140 pages; a full run takes ~5 min on 2 idle cores)")
    p.add_argument("--out", default=str(ROOT / "out" / "bench"), help="directory for extract.json and extract.md (default: out/bench)")
    p.add_argument("--repeat", type=int, default=2,
                   help="measurement rounds, in palindromic order; means over the rounds are reported (default: 2, best even)")
    p.add_argument("--time-budget", type=float, default=540.0,
                   help="seconds: no further round is started when it would end after this (default: 540)")
    p.add_argument("--warc-files", type=int, default=8, help="number of WARC files to pack the pages into (default: 8)")
    p.add_argument("--keep-tmp", action="store_true", help="keep the temporary directory with WARC files and stage outputs")
    p.add_argument("--check", action="store_true", help="exit with status 1 when the verdict is FAIL (default: always 0)")
    args = p.parse_args(argv)
    try:
        args.cores = sorted({int(c) for c in str(args.cores).split(",") if c.strip()})
    except ValueError:
        p.error(f"--cores: expected comma-separated integers, got {args.cores!r}")
    if not args.cores or min(args.cores) < 1:
        p.error("--cores: core counts must be >= 1")
    if args.repeat < 1:
        p.error("--repeat must be >= 1")
    if args.max_pages is not None and args.max_pages < 1:
        p.error("--max-pages must be >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # the same JVM settings as `make extract`; only read when this process starts the JVM
    os.environ.setdefault("PYSPARK_SUBMIT_ARGS", "--driver-memory 4g --conf spark.ui.enabled=false pyspark-shell")
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    cpus = os.cpu_count() or 1
    if max(args.cores) > cpus:
        log(f"WARNING: local[{max(args.cores)}] on a machine with {cpus} cores: per-core figures will be low")

    from datapipe.config import load_config
    from datapipe.extract import ExtractConfig

    config = load_config(ExtractConfig, CONFIG_PATH)
    kwargs = trafilatura_kwargs(config)

    log(f"collecting pages under {SHARED_HTML}")
    all_pages, page_info = collect_pages()
    pages = subsample(all_pages, args.max_pages)
    by_source = Counter(p.source for p in pages)
    log(f"  {len(pages)} of {len(all_pages)} pages ({dict(by_source)}), {sum(len(p.html) for p in pages) / 1e6:.1f} MB of HTML")
    if page_info["gold_pages_missing"]:
        log(f"  {page_info['gold_pages_missing']} of {page_info['gold_entries']} evaldata.json entries have no page file")

    tmp = Path(tempfile.mkdtemp(prefix="bench-extract-"))
    try:
        warcs_dir = tmp / "warc"
        warcs = pack_warcs(pages, warcs_dir, args.warc_files)
        # warm-up input: a few of the smallest pages, one file per core so every worker slot starts
        tiny = make_tiny_inputs(pages, tmp, len(warcs), max(args.cores))
        warc_mb = sum(p.stat().st_size for p in warcs) / 1e6
        log(f"  packed into {len(warcs)} WARC files ({warc_mb:.1f} MB) in {warcs_dir}")

        skipped_rounds = 0
        bare_rounds: list[dict] = []
        ex_rounds: list[dict] = []
        spark_rounds: dict[int, list[dict]] = {n: [] for n in args.cores}
        try:
            round_s = 0.0
            for r in range(1, args.repeat + 1):
                elapsed = time.perf_counter() - T0
                if r > 1 and elapsed + round_s > args.time_budget:
                    skipped_rounds = args.repeat - r + 1
                    log(f"round {r}/{args.repeat} skipped: {elapsed:.0f}s spent, a round takes ~{round_s:.0f}s, "
                        f"the time budget is {args.time_budget:.0f}s (--time-budget)")
                    break
                round_started = time.perf_counter()
                # palindromic order (bare spark extractor | extractor spark bare | ...): the mean of each run falls
                # on the same moment, so a drift of the machine's speed does not favour one side
                steps = ["bare", "spark", "extractor"] if r % 2 else ["extractor", "spark", "bare"]
                log(f"round {r}/{args.repeat}: {' -> '.join(steps)}")
                for step in steps:
                    if step == "bare":
                        log(f"  bare trafilatura on the raw HTML bytes, plain loop, 1 core ({len(pages)} pages)")
                        run = bench_bare(pages, kwargs, config.timeout_seconds)
                        bare_rounds.append(run)
                        log(f"  bare trafilatura: {run['docs_per_s']:.2f} docs/s ({run['wall_s']:.1f}s wall, {_num(run['cpu_s'], 1)} CPU s)")
                    elif step == "extractor":
                        log("  the stage's pure-Python Extractor over the WARC files, 1 core, timed per phase")
                        run = bench_extractor(warcs, config)
                        ex_rounds.append(run)
                        log(f"  Extractor: {run['docs_per_s']:.2f} docs/s ({run['wall_s']:.1f}s wall): "
                            + ", ".join(f"{k} {100 * v:.1f}%" for k, v in run["phases_share"].items()))
                    else:
                        for n in args.cores:
                            run = bench_spark(warcs_dir, tiny, tmp, n, len(pages))
                            spark_rounds[n].append(run)
                            log(f"  Spark local[{n}]: {run['docs_per_s']:.2f} docs/s, {run['docs_per_s_per_core']:.2f} docs/s per core "
                                f"({run['wall_s']:.1f}s wall, stage's own 'seconds' {run['stage_seconds']:.1f})")
                # documents are the same every round: keep the first round's, for the quality scores
                for runs in [bare_rounds, ex_rounds, *spark_rounds.values()]:
                    for later in runs[1:]:
                        later.pop("_texts", None)
                round_s = time.perf_counter() - round_started
        finally:
            _stop_spark()

        log(f"paired per-page check: bare trafilatura vs the stage's decode + trafilatura, back to back ({len(pages)} pages)")
        paired_pages = bench_paired(pages, kwargs, config)
        log(f"  bare {paired_pages['bare_ms_per_page']:.2f} ms/page, stage path {paired_pages['stage_ms_per_page']:.2f} ms/page "
            f"(bare/stage {paired_pages['ratio']:.1%})")

        log(f"speed/quality curve of the stage's per-page path, {len(CURVE)} settings against bare trafilatura ({len(pages)} pages)")
        curve = bench_curve(pages, kwargs, config)
        for row in curve["rows"]:
            log(f"  {row['setting']}: {row['ms_per_page']:.2f} ms/page, {row['speedup']:.2f}x, {row['pages_changed']} pages changed")

        log("quality on the gold sets and report")
        bare, ex = mean_of(bare_rounds), mean_of(ex_rounds)
        spark_runs = [mean_of(spark_rounds[n]) for n in args.cores]
        # paired per round: the Spark run next to the bare run of the same round
        paired = [s["docs_per_s_per_core"] / b["docs_per_s"] for b, s in zip(bare_rounds, spark_rounds[args.cores[0]])]
        bare_texts, ex_texts = bare_rounds[0]["_texts"], ex_rounds[0]["_texts"]
        spark_texts = [spark_rounds[n][0]["_texts"] for n in args.cores]
        quality = {
            "bare trafilatura": quality_scores(bare_texts, pages),
            "stage Extractor (pure Python)": quality_scores(ex_texts, pages),
        }
        for s, texts in zip(spark_runs, spark_texts):
            quality[f"Spark stage {s['master']}"] = quality_scores(texts, pages)
    finally:
        if args.keep_tmp:
            log(f"  kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    import pyspark
    import trafilatura

    cpu_model = platform.processor() or ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break

    targets = []
    ref = spark_runs[0]  # the fewest cores: the cleanest per-core figure
    ratio = ref["docs_per_s_per_core"] / bare["docs_per_s"]
    busy = {name: (run.get("other_load_cores") or 0) + (run.get("steal_cores") or 0) for name, run in (("bare", bare), ("spark", ref))}
    wall_reliable = max(busy.values()) <= BUSY_LIMIT_CORES
    targets.append({"name": f"Spark stage {ref['master']} per-core docs/s / bare trafilatura docs/s >= {THROUGHPUT_TARGET:.1f}x",
                    "measured": f"{ratio:.2f}x" + (f" (rounds: {', '.join(f'{x:.2f}x' for x in paired)})" if len(paired) > 1 else ""),
                    "value": ratio, "per_round": paired, "pass": ratio >= THROUGHPUT_TARGET, "reliable": wall_reliable})
    cpu_ratio = (ref["docs_per_cpu_s"] / bare["docs_per_cpu_s"]) if ref.get("docs_per_cpu_s") and bare.get("docs_per_cpu_s") else None
    if cpu_ratio is not None:
        targets.append({"name": f"cross-check on CPU time (robust to other load): Spark stage docs per CPU s (all its processes) / "
                                f"bare trafilatura's >= {THROUGHPUT_TARGET:.1f}x",
                        "measured": f"{cpu_ratio:.2f}x", "value": cpu_ratio, "pass": cpu_ratio >= THROUGHPUT_TARGET,
                        "cross_check": True})
    qb, qs = quality["bare trafilatura"], quality[f"Spark stage {ref['master']}"]
    for key, label in QUALITY_SCORES.items():
        if qs.get(key) is None or qb.get(key) is None:
            continue
        diff_pts = 100 * (qs[key] - qb[key])
        targets.append({"name": f"quality, {label}: Spark stage - bare trafilatura >= -{QUALITY_TOLERANCE_PTS:g} point",
                        "measured": f"{diff_pts:+.2f} pts ({_pct2(qs[key])} vs {_pct2(qb[key])})", "value": diff_pts,
                        "pass": diff_pts >= -QUALITY_TOLERANCE_PTS})

    # from measurements that a drift of the machine's speed hardly moves: the paired per-page check, the small
    # phases around trafilatura, and the fixed costs of a Spark run
    other_ms = sum(ex["phases_ms_per_page"][k] for k in ("read", "langid", "other"))
    estimates = []
    for s in spark_runs:
        fixed_ms = 1000 * s["fixed_cost_s"] * s["cores"] / s["pages"]
        base_ms = paired_pages["stage_ms_per_page"] + other_ms
        estimates.append({"master": s["master"], "other_phases_ms": other_ms, "fixed_ms": fixed_ms,
                          "ratio": paired_pages["bare_ms_per_page"] / (base_ms + fixed_ms),
                          "ratio_steady": paired_pages["bare_ms_per_page"] / base_ms})

    # the verdict: the wall-clock ratio where the machine was quiet enough, else the CPU-time ratio
    verdict_rows = [t for t in targets if not t.get("cross_check")]
    if not wall_reliable and cpu_ratio is not None:
        verdict_rows = [t for t in targets if t.get("cross_check") or not t["name"].startswith("Spark stage")]
    verdict = all(t["pass"] for t in verdict_rows)

    notes = []
    if not wall_reliable:
        notes.append(f"the machine was busy (other processes and the hypervisor took {busy['bare']:.2f} cores during bare "
                     f"trafilatura's and {busy['spark']:.2f} during the Spark stage's runs on average, > {BUSY_LIMIT_CORES} allowed): "
                     "the wall-clock ratio is unreliable, so the verdict uses the CPU-time cross-check. Rerun on a quiet machine "
                     "for wall-clock figures.")
    if skipped_rounds:
        notes.append(f"{skipped_rounds} of {args.repeat} rounds skipped to stay within --time-budget {args.time_budget:.0f}s.")
    note_pages = ("all pages" if len(pages) == len(all_pages)
                  else f"a fixed subset of {len(pages)} of the {len(all_pages)} pages (--max-pages)")
    if bare["pages_over_stage_timeout"]:
        notes.append(f"{bare['pages_over_stage_timeout']} page(s) took bare trafilatura longer than the stage's per-page "
                     f"time limit ({config.timeout_seconds}s); the stage drops those.")
    for s in spark_runs:
        if s["counters"]:
            notes.append(f"Spark {s['master']} drop/WARC counters: {s['counters']}")
    page_urls = {p.url for p in pages}
    for run_name, texts in [("the Extractor", ex_texts)] + [(f"Spark {s['master']}", t) for s, t in zip(spark_runs, spark_texts)]:
        unmatched = [u for u in texts if u not in page_urls]
        if unmatched:
            notes.append(f"{len(unmatched)} document URL(s) of {run_name} match no packed page (join by URL lost them), "
                         f"e.g. {unmatched[0]!r}")
    if ex["pages"] != len(pages):
        notes.append(f"the Extractor read {ex['pages']} records for {len(pages)} packed pages")
    for run_name, run, cores in [("bare trafilatura", bare, 1), ("Extractor", ex, 1)] + [(f"Spark {s['master']}", s, s["cores"]) for s in spark_runs]:
        disturbance = (run.get("other_load_cores") or 0) + (run.get("steal_cores") or 0)
        if disturbance > 0.2:
            notes.append(f"other processes and the hypervisor took {disturbance:.2f} cores' worth of time during the "
                         f"{run_name} runs on average ({cpus} cores in all): its wall-clock figures are pessimistic.")
        if run.get("cores_used") is not None and run["cores_used"] > cores + 0.1:
            notes.append(f"{run_name} used {run['cores_used']:.2f} cores on average for local[{cores}] / {cores} core(s) "
                         f"(JVM threads beside the Python worker), so its per-core wall figure flatters it.")

    result = {
        "benchmark": "extract",
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "env": {"cpu": cpu_model, "cpus": cpus, "python": platform.python_version(),
                "trafilatura": trafilatura.__version__, "pyspark": pyspark.__version__},
        "config": config.model_dump(),
        "trafilatura_settings": {k: v for k, v in kwargs.items()},
        "pages": {"total": len(pages), "available": len(all_pages), "by_source": dict(by_source),
                  "html_mb": sum(len(p.html) for p in pages) / 1e6, "warc_files": len(warcs), "warc_mb": warc_mb,
                  "note": f"Measured on {note_pages}.", **page_info},
        "bare_trafilatura": {k: v for k, v in bare.items() if not k.startswith("_")},
        "extractor": {k: v for k, v in ex.items() if not k.startswith("_")},
        "paired_per_page": paired_pages,
        "curve": curve,
        "drift_free_estimates": estimates,
        "spark": [{k: v for k, v in s.items() if not k.startswith("_")} for s in spark_runs],
        "throughput_ratio": ratio,
        "throughput_ratio_steady": ref["steady_docs_per_s_per_core"] / bare["docs_per_s"],
        "throughput_ratio_cpu": (ref["docs_per_cpu_s"] / bare["docs_per_cpu_s"]) if ref.get("docs_per_cpu_s") and bare.get("docs_per_cpu_s") else None,
        "quality": quality,
        "targets": targets,
        "verdict": "PASS" if verdict else "FAIL",
        "notes": notes,
        "total_runtime_s": time.perf_counter() - T0,
    }
    out = Path(args.out)
    if not out.is_absolute():
        out = Path.cwd() / out
    md = render_markdown(result)
    write_atomic(out / "extract.json", json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    write_atomic(out / "extract.md", md)
    print()
    print(render_console(result))
    log(f"wrote {out / 'extract.json'} and {out / 'extract.md'}")
    return 1 if args.check and not verdict else 0


if __name__ == "__main__":
    raise SystemExit(main())
