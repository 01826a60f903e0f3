"""Benchmark of tokenization: the Spark tokenize stage against bare ``encode_batch``, and the tokenizer's training.

    make bench-tokenize            # = .venv/bin/python bench/bench_tokenize.py
    .venv/bin/python bench/bench_tokenize.py --train-mb 100 --spark-mb 48

Text: every document of ``../shared/data`` that is text (UDHR translations, modern and classical
Chinese, code, LaTeX, Common Crawl samples, benchmark questions, and the visible text of the HTML
pages), de-duplicated: about 62 MB.

What one run does:

1. **Training** (first, since its tokenizer is the one tokenized with): ``tokenizer.train.train_tokenizer``
   with the default config (80k vocabulary) on ``--train-mb`` MB of that text (cycled when the distinct
   text is shorter; the output says how much is distinct), in a child process that streams the text
   from a file, so its peak RSS (``ru_maxrss``) is the trainer's own. Wall time and CPU time.
2. **Tokenize stage vs bare tokenizers** on ``--spark-mb`` MB of the documents, one core each, in the
   order bare, stage, bare, stage, bare (``--repeat`` stage runs; the means of both fall on the same
   moment, so a drift of the machine's speed cancels, and the rounds tame a shared machine's noise):
   - bare: ``Tokenizer.encode_batch`` on the same texts in the stage's batches, with the tokenizer's
     thread pool off (``TOKENIZERS_PARALLELISM=false``, ``RAYON_NUM_THREADS=1``) -> tokens/s;
   - the stage (``jobs.shards.run``, ``local[1]``) after a warm-up run on a tiny input (JVM, Python
     worker, tokenizer load) and a second tiny run (a run's fixed cost) -> tokens/s per core = tokens /
     wall seconds, with the CPU time of the driver, the JVM and the Python worker;
   - the stage's Python parts outside Spark, in CPU seconds, back to back with bare ``encode_batch``:
     ``encode_documents`` (``encode_batch`` plus the ids -> bytes conversion and the end-of-text id)
     and the per-document hashes (held-out rule and shard placement): where the stage's time goes
     besides ``encode_batch``.

Target: stage tokens/s per core >= 80% of bare ``encode_batch``'s, on wall-clock time when the machine
is quiet, else on CPU time (all the stage's processes: Python worker, JVM, driver). Results: a table on
stdout, ``OUT/tokenize.json`` and ``OUT/tokenize.md`` (default ``out/bench``), and the trained tokenizer as
``OUT/tokenize-bench-tokenizer.json`` (``--tokenizer`` reruns step 2 with it). About 6 minutes on 2 quiet cores.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import hashlib
import io
import json
import os
import platform
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench_extract import CpuMeter, write_atomic  # noqa: E402  (bench/ is this script's directory)

SHARED = Path(os.environ.get("TELEFLM_SHARED_DATA", ROOT.parent / "shared" / "data"))
TARGET = 0.80  # stage tokens/s per core over bare encode_batch tokens/s
TRAINED_TOKENIZER = "tokenize-bench-tokenizer.json"
BUSY_LIMIT_CORES = 0.3  # more other load than this during a timed run makes its wall-clock figure unreliable
CODE_SUFFIXES = (".py", ".cpp", ".java", ".js", ".rs", ".go")

T0 = time.perf_counter()


def log(msg: str) -> None:
    print(f"[{time.perf_counter() - T0:7.1f}s] {msg}", flush=True)


# --- the text ---------------------------------------------------------------------------------------


def _read(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


def _strings(obj) -> list[str]:
    if isinstance(obj, str):
        return [obj]
    if isinstance(obj, dict):
        return [s for v in obj.values() for s in _strings(v)]
    if isinstance(obj, list):
        return [s for v in obj for s in _strings(v)]
    return []


def _json_documents(obj) -> list[str]:
    """A JSON file's documents: the items of its outermost list (a poem, a SQuAD article), else the whole."""
    if isinstance(obj, dict):
        lists = [v for v in obj.values() if isinstance(v, list)]
        if len(lists) == 1:
            return _json_documents(lists[0])
    if isinstance(obj, list):
        return ["\n".join(_strings(item)) for item in obj]
    return ["\n".join(_strings(obj))]


def _html_text(data: bytes) -> str:
    import lxml.html

    try:
        page = lxml.html.fromstring(data)
    except Exception:  # not parseable as HTML: no text
        return ""
    for node in page.xpath("//script|//style"):
        node.drop_tree()
    return "\n".join(line.strip() for line in page.text_content().splitlines() if line.strip())


def collect_documents() -> list[tuple[str, str]]:
    """(domain, text) of every text document under ../shared/data, de-duplicated, in a fixed order."""
    if not SHARED.is_dir():
        raise SystemExit(f"error: the shared data set is absent ({SHARED}); see its SOURCES.md")
    docs: list[tuple[str, str]] = []

    def add(domain: str, texts) -> None:
        docs.extend((domain, t) for t in texts if t and t.strip())

    files = sorted(p for p in SHARED.rglob("*") if p.is_file() and p.name != "SOURCES.md")
    for path in files:
        rel, name = path.relative_to(SHARED), path.name.removesuffix(".gz")
        top = rel.parts[0]
        if top in ("tokenizers", "warc"):
            continue
        if top == "html":
            if name.endswith(".html"):
                add("WebText", [_html_text(_read(path))])
            continue
        text = _read(path).decode("utf-8", "replace")
        if name.endswith((".json", ".jsonl")):
            try:
                values = [json.loads(text)]
            except json.JSONDecodeError:  # JSON lines (not splitlines: U+2028 ends no line in JSON)
                values = [json.loads(line) for line in text.split("\n") if line.strip()]
            domain = {"chinese_classical": "ClassicalChinese", "chinese_modern": "WorldKnowledge", "benchmarks": "QA"}.get(top, "WebText")
            if len(values) == 1:
                add(domain, _json_documents(values[0]))
            else:
                add(domain, [v["text"] if isinstance(v, dict) and "text" in v else "\n".join(_strings(v)) for v in values])
        elif name.endswith(CODE_SUFFIXES):
            add("Code", [text])
        elif top == "math" and (name.endswith(".tex") or "." not in name):
            add("AcademicPaper", [text])
        elif name == "cnews.val.txt":
            add("WebText", [line.split("\t", 1)[-1] for line in text.splitlines()])
        elif name.endswith((".txt", ".csv", ".md")):
            domain = {"chinese_classical": "ClassicalChinese", "benchmarks": "QA", "multilingual": "WebText"}.get(top, "Book")
            add(domain, [text])
    seen, unique = set(), []
    for domain, text in docs:
        key = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()
        if key not in seen:
            seen.add(key)
            unique.append((domain, text))
    return unique


def take_mb(docs: list[tuple[str, str]], mb: float, seed: int = 0) -> list[tuple[str, str]]:
    """About ``mb`` MB of the documents in a seeded order (so every domain is represented)."""
    order = list(range(len(docs)))
    random.Random(seed).shuffle(order)
    out, size = [], 0
    for i in order:
        if size >= mb * 1e6:
            break
        out.append(docs[i])
        size += len(docs[i][1].encode("utf-8"))
    return out


# --- (b) tokenizer training in a child process --------------------------------------------------------


def train_child(texts_file: str, out_dir: str) -> None:
    """In the child: stream the texts, train with the default config, save, report on stdout as JSON."""
    from tokenizer.config import TokenizerConfig
    from tokenizer.train import train_tokenizer

    def texts():
        with open(texts_file, encoding="utf-8") as f:
            for line in f:
                yield json.loads(line)

    config = TokenizerConfig(show_progress=False)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started, cpu0 = time.perf_counter(), time.process_time()
    tok = train_tokenizer(texts(), config)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu0
    tok.save(str(Path(out_dir) / "tokenizer.json"))
    print(json.dumps({"wall_s": wall, "cpu_s": cpu, "vocab_size": tok.get_vocab_size(), "config": config.model_dump(),
                      "rss_before_training_mb": rss_before / 1024, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def bench_training(docs: list[tuple[str, str]], train_mb: float, work: Path) -> dict:
    distinct = sum(len(t.encode("utf-8")) for _, t in docs)
    texts_file, written, rounds = work / "train-texts.jsonl", 0, 0
    with open(texts_file, "w", encoding="utf-8") as f:
        while written < train_mb * 1e6:
            rounds += 1
            for _, text in docs:
                f.write(json.dumps(text, ensure_ascii=False) + "\n")
                written += len(text.encode("utf-8"))
                if written >= train_mb * 1e6:
                    break
    log(f"training the default 80k tokenizer on {written / 1e6:.1f} MB ({distinct / 1e6:.1f} MB distinct, "
        f"{rounds} pass(es) over it) in a child process")
    env = {k: v for k, v in os.environ.items() if k not in ("TOKENIZERS_PARALLELISM", "RAYON_NUM_THREADS")}
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, __file__, "--train-child", str(texts_file), str(work)],
                          capture_output=True, text=True, env=env, cwd=ROOT)
    if proc.returncode != 0:
        raise SystemExit(f"error: tokenizer training failed:\n{proc.stderr[-3000:]}")
    child = json.loads(proc.stdout.strip().splitlines()[-1])
    children_peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {**child, "process_wall_s": time.perf_counter() - started, "text_mb": written / 1e6, "distinct_mb": distinct / 1e6,
            "passes": rounds, "threads": os.cpu_count(), "children_peak_rss_mb": children_peak_mb,
            "tokenizer": str(work / "tokenizer.json")}


# --- (a) the tokenize stage vs bare encode_batch ------------------------------------------------------


def batches_of(texts: list[str], batch_chars: int) -> list[list[str]]:
    """The stage's batching (jobs.shards.encode_documents): runs of at most batch_chars characters."""
    out, cur, size = [], [], 0
    for t in texts:
        if cur and size + len(t) > batch_chars:
            out.append(cur)
            cur, size = [], 0
        cur.append(t)
        size += len(t)
    return out + ([cur] if cur else [])


def bench_bare(tok, batches: list[list[str]]) -> dict:
    tok.encode_batch(["warm-up of the tokenizer"])
    with CpuMeter() as cpu:
        started = time.perf_counter()
        tokens = sum(len(e.ids) for b in batches for e in tok.encode_batch(b, add_special_tokens=False))
        wall = time.perf_counter() - started
    return {"tokens": tokens, "wall_s": wall, "tokens_per_s": tokens / wall, **cpu.report(wall, tokens)}


def bench_stage_python(tok, eot: int, texts: list[str], ids: list[str], config) -> dict:
    """The stage's own Python work outside Spark, in CPU seconds (steady under other load), back to back
    with bare encode_batch: encode_documents (encode_batch plus ids -> bytes and the end-of-text id),
    and the two hashes per document (held-out rule, shard placement)."""
    import numpy as np

    from datapipe.heldout import is_heldout
    from datapipe.indexed import token_dtype
    from jobs.shards import encode_documents, placement

    dtype = np.dtype(token_dtype(tok.get_vocab_size()))
    started = time.process_time()
    for batch in batches_of(texts, config.encode_batch_chars):
        tok.encode_batch(batch, add_special_tokens=False)
    bare_cpu = time.process_time() - started
    started = time.process_time()
    encode_documents(tok, eot, texts, dtype, config.encode_batch_chars)
    encode_cpu = time.process_time() - started
    started = time.process_time()
    for i in ids:
        is_heldout(i, config.heldout.fraction, config.heldout.seed)
        placement(i, 0, config.seed)
    return {"bare_encode_batch_cpu_s": bare_cpu, "encode_documents_cpu_s": encode_cpu, "hashes_cpu_s": time.process_time() - started}


def write_input(path: Path, docs: list[tuple[str, str]], files: int) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from datapipe.document import DOCUMENT_SCHEMA, Document

    path.mkdir(parents=True)
    rows = [Document(id=f"bench-{i:07d}", text=t, domain=d).to_row() for i, (d, t) in enumerate(docs)]
    for k in range(files):
        pq.write_table(pa.Table.from_pylist(rows[k::files], schema=DOCUMENT_SCHEMA), path / f"part-{k:05d}.parquet")
    (path / "_SUCCESS").write_text("")
    return path


class StageBench:
    """The Spark stage on the benchmark documents: inputs written and the stage warmed up once, then
    measured runs (each into a fresh output: replacing an old one would be timed too)."""

    def __init__(self, docs: list[tuple[str, str]], tokenizer: str, work: Path):
        self.work, self.runs = work, 0
        self.input, tiny = write_input(work / "stage-in", docs, 4), write_input(work / "stage-tiny", docs[:20], 1)
        self.common = ["--tokenizer", tokenizer, "--master", "local[1]"]
        started = time.perf_counter()
        self._run(tiny, "out-warm")
        self.warmup_s = time.perf_counter() - started
        with CpuMeter(tree=True) as cpu:  # warm now: what a run costs beyond its documents
            started = time.perf_counter()
            self._run(tiny, "out-tiny")
            self.fixed_s = time.perf_counter() - started
        self.fixed_cpu_s = cpu.own_s
        log(f"  stage warm-up run on 20 documents: {self.warmup_s:.1f}s, a second one {self.fixed_s:.1f}s")

    def _run(self, inp: Path, name: str) -> dict:
        from jobs import shards as job

        with contextlib.redirect_stdout(io.StringIO()):  # the stage's tables, not the benchmark's
            return job.run(["--input", str(inp), "--output", str(self.work / name)] + self.common)

    def measure(self) -> dict:
        self.runs += 1
        with CpuMeter(tree=True) as cpu:
            started = time.perf_counter()
            stats = self._run(self.input, f"out-{self.runs}")
            wall = time.perf_counter() - started
        tokens = stats["counters"]["tokens"]
        return {"tokens": tokens, "documents": stats["counters"]["docs_out"], "wall_s": wall, "stage_seconds": stats["seconds"],
                "tokens_per_s_per_core": tokens / wall, **cpu.report(wall, tokens)}


def mean_of(runs: list[dict]) -> dict:
    """The runs' figures averaged (numbers, and numbers in nested dicts), the rest from the first run."""
    out = dict(runs[0])
    for key, first in runs[0].items():
        if isinstance(first, (int, float)) and not isinstance(first, bool):
            out[key] = sum(r[key] for r in runs) / len(runs)
        elif isinstance(first, dict):
            out[key] = {k: sum(r[key].get(k, 0) for r in runs) / len(runs) for k in first}
    return out


# --- report ---------------------------------------------------------------------------------------------


def render_markdown(r: dict) -> str:
    a, b = r["stage_vs_bare"], r["training"]
    bare, stage, py, q = a["bare"], a["stage"], a["stage_python"], a["ratios"]
    roles = stage.get("cpu_s_by_role", {})
    lines = [
        "# Tokenization benchmark",
        "",
        f"{r['env']['cpu']}, {r['env']['cpus']} cores; tokenizers {r['env']['tokenizers']}, pyspark {r['env']['pyspark']}.",
        "",
        f"## Tokenize stage vs bare `encode_batch` ({a['text_mb']:.1f} MB, {a['documents']:,} documents, {bare['tokens']:,} tokens, one core)",
        "",
        "| | wall s | CPU s | tokens/s (per core) |",
        "|---|---:|---:|---:|",
        f"| bare `encode_batch`, 1 thread (mean of {len(bare['runs'])} runs) | {bare['wall_s']:.2f} | {bare['cpu_s']:.2f} | {bare['tokens_per_s']:,.0f} |",
        f"| Spark stage `local[1]` (mean of {len(stage['runs'])} runs) | {stage['wall_s']:.2f} | {stage['cpu_s']:.2f} | {stage['tokens_per_s_per_core']:,.0f} |",
        "",
        "| stage / bare | whole run | without the run's fixed cost |",
        "|---|---:|---:|",
        f"| tokens per wall second | {q['wall']:.1%} | {q['wall_steady']:.1%} |",
        f"| tokens per CPU second (all the stage's processes) | {q['cpu']:.1%} | {q['cpu_steady']:.1%} |",
        "",
        f"**Verdict ({a['verdict_basis']} time, whole run): {q[a['verdict_basis']]:.1%} >= {TARGET:.0%}: "
        f"{'PASS' if a['pass'] else 'FAIL'}.** The fixed cost of a run ({stage['fixed_cost_s']:.1f} s wall, "
        f"{stage['fixed_cost_cpu_s']:.1f} CPU s: a warm run on 20 documents) vanishes on inputs of many GB.",
        "",
        "Where the stage's CPU time goes (seconds):",
        "",
        "| part | CPU s |",
        "|---|---:|",
        f"| `encode_batch` itself (bare, back to back with the next line) | {py['bare_encode_batch_cpu_s']:.2f} |",
        f"| `encode_documents`: the same plus ids -> token bytes and end-of-text | {py['encode_documents_cpu_s']:.2f} |",
        f"| held-out and placement hashes | {py['hashes_cpu_s']:.2f} |",
        f"| Python worker (all of the above, Arrow in and out, writing the shards) | {roles.get('python worker', 0):.2f} |",
        f"| JVM (Parquet read twice: sizes, then text; shuffle; sort; its threads run beside the worker) | {roles.get('jvm', 0):.2f} |",
        f"| driver | {roles.get('driver', 0):.2f} |",
        f"| fixed cost of a run, all processes (in the lines above) | {stage['fixed_cost_cpu_s']:.2f} |",
        "",
    ]
    if b is not None:
        lines += [
            f"## Tokenizer training (`tokenizer.train.train_tokenizer`, default config, vocabulary {b['vocab_size']:,})",
            "",
            f"- text: {b['text_mb']:.1f} MB ({b['distinct_mb']:.1f} MB distinct, {b['passes']} pass(es) over it), streamed from a file",
            f"- wall time {b['wall_s']:.1f} s, CPU time {b['cpu_s']:.1f} s ({b['threads']} threads available)",
            f"- peak RSS of the child process {b['peak_rss_mb']:,.0f} MB ({b['rss_before_training_mb']:,.0f} MB before training)",
            "",
        ]
    lines += ["Notes:", ""] + [f"- {n}" for n in r["notes"]]
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="out/bench", help="directory of tokenize.{md,json} (default: out/bench)")
    p.add_argument("--train-mb", type=float, default=100.0, help="MB of text for the tokenizer training (default: 100)")
    p.add_argument("--spark-mb", type=float, default=48.0, help="MB of text for the stage vs bare comparison (default: 48)")
    p.add_argument("--repeat", type=int, default=2, help="measured stage runs, each followed by a bare run (default: 2)")
    p.add_argument("--tokenizer", default=None, help="tokenize with this tokenizer.json and skip the training")
    p.add_argument("--train-child", nargs=2, metavar=("TEXTS", "OUT"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.train_mb <= 0 or args.spark_mb <= 0 or args.repeat < 1:
        p.error("--train-mb and --spark-mb must be positive, --repeat at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.train_child:
        train_child(*args.train_child)
        return 0
    # one thread for bare encode_batch, and the same for the stage's Python worker (which inherits it)
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    os.environ["RAYON_NUM_THREADS"] = "1"
    os.environ.setdefault("PYSPARK_SUBMIT_ARGS", "--driver-memory 4g --conf spark.ui.enabled=false pyspark-shell")
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))

    log(f"collecting the text documents under {SHARED}")
    docs = collect_documents()
    log(f"  {len(docs):,} distinct documents, {sum(len(t.encode()) for _, t in docs) / 1e6:.1f} MB")
    work = Path(tempfile.mkdtemp(prefix="bench-tokenize-"))
    notes: list[str] = []
    try:
        if args.tokenizer:
            training, tokenizer = None, args.tokenizer
            notes.append(f"training skipped (--tokenizer {args.tokenizer})")
        else:
            training = bench_training(docs, args.train_mb, work)
            # kept beside the results: `--tokenizer` reruns the comparison without training again
            tokenizer = str(Path(args.out).absolute() / TRAINED_TOKENIZER)
            Path(tokenizer).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(training.pop("tokenizer"), f"{tokenizer}.tmp")
            os.replace(f"{tokenizer}.tmp", tokenizer)
            training["tokenizer"] = tokenizer
            log(f"  trained in {training['wall_s']:.1f}s, peak RSS {training['peak_rss_mb']:,.0f} MB; saved as {tokenizer}")

        from datapipe.config import load_config
        from jobs.shards import TokenizeConfig
        from tokenizer.vocab import load_tokenizer

        config = load_config(TokenizeConfig, ROOT / "configs" / "tokenize.yaml")
        tok, eot = load_tokenizer(tokenizer)
        subset = take_mb(docs, args.spark_mb)
        texts = [t for _, t in subset]
        batches = batches_of(texts, config.encode_batch_chars)
        log(f"stage vs bare on {len(subset):,} documents ({sum(len(t.encode()) for t in texts) / 1e6:.1f} MB), "
            f"{len(batches)} encode_batch calls")
        stage_bench = StageBench(subset, tokenizer, work)
        # bare, stage, bare, stage, bare: the means of both fall on the same moment, so a drift of the
        # machine's speed cancels; repeated rounds tame the noise of a shared machine
        bare_runs, stage_runs = [bench_bare(tok, batches)], []
        log(f"  bare encode_batch: {bare_runs[-1]['tokens_per_s']:,.0f} tokens/s ({bare_runs[-1]['wall_s']:.1f}s wall)")
        for _ in range(args.repeat):
            stage_runs.append(stage_bench.measure())
            log(f"  stage local[1]: {stage_runs[-1]['tokens_per_s_per_core']:,.0f} tokens/s ({stage_runs[-1]['wall_s']:.1f}s wall)")
            bare_runs.append(bench_bare(tok, batches))
            log(f"  bare encode_batch: {bare_runs[-1]['tokens_per_s']:,.0f} tokens/s ({bare_runs[-1]['wall_s']:.1f}s wall)")
        stage = mean_of(stage_runs)
        stage.update(master="local[1]", runs=stage_runs, tokens_per_s_per_core=stage["tokens"] / stage["wall_s"],
                     warmup_wall_s=stage_bench.warmup_s, fixed_cost_s=stage_bench.fixed_s, fixed_cost_cpu_s=stage_bench.fixed_cpu_s)
        py = bench_stage_python(tok, eot, texts, [f"bench-{i:07d}" for i in range(len(subset))], config)
        from pyspark.sql import SparkSession

        if SparkSession.getActiveSession() is not None:
            SparkSession.getActiveSession().stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    bare = {k: sum(r[k] for r in bare_runs) / len(bare_runs) for k in ("wall_s", "cpu_s")}
    bare["tokens"] = bare_runs[0]["tokens"]
    bare["tokens_per_s"] = bare["tokens"] / bare["wall_s"]
    bare["runs"] = bare_runs
    if stage["tokens"] != bare["tokens"] + stage["documents"]:  # the stage adds one end-of-text per document
        notes.append(f"token counts differ: stage {stage['tokens']:,}, bare {bare['tokens']:,} + {stage['documents']:,} end-of-text ids")
    content = stage["tokens"] - stage["documents"]  # compare like with like: the text's own tokens
    ratios = {
        "wall": content / stage["wall_s"] / bare["tokens_per_s"],
        "cpu": bare["cpu_s"] / stage["cpu_s"],
        # a run's fixed cost (Spark jobs and tasks, manifest: a warm run on 20 documents) vanishes on inputs of many GB
        "wall_steady": content / (stage["wall_s"] - stage["fixed_cost_s"]) / bare["tokens_per_s"],
        "cpu_steady": bare["cpu_s"] / (stage["cpu_s"] - stage["fixed_cost_cpu_s"]),
    }
    busy = max((r.get("other_load_cores") or 0) + (r.get("steal_cores") or 0) for r in bare_runs + stage_runs)
    basis = "wall" if busy <= BUSY_LIMIT_CORES else "cpu"
    if basis == "cpu":
        notes.append(f"other processes (and the hypervisor) took up to {busy:.2f} cores during the runs (> {BUSY_LIMIT_CORES}): "
                     "wall-clock figures are unreliable, so the verdict uses CPU time (all of the stage's processes against "
                     "bare encode_batch's); rerun on a quiet machine for wall-clock figures")
    if (stage.get("cores_used") or 0) > 1.1:
        notes.append(f"the stage used {stage['cores_used']:.2f} cores on average for local[1] (JVM threads beside the Python worker)")
    notes.append("the stage's figures include the Parquet read, the shuffle, the sort and the shard writing; "
                 "the stage's tokens exclude its end-of-text ids for the ratio")

    import pyspark
    import tokenizers

    cpu_model = platform.processor() or ""
    with contextlib.suppress(OSError):
        cpu_model = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name"))
    result = {
        "benchmark": "tokenize",
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "env": {"cpu": cpu_model, "cpus": os.cpu_count(), "python": platform.python_version(),
                "tokenizers": tokenizers.__version__, "pyspark": pyspark.__version__},
        "stage_vs_bare": {"text_mb": sum(len(t.encode()) for t in texts) / 1e6, "documents": len(subset),
                          "batches": len(batches), "bare": bare, "stage": stage, "stage_python": py,
                          "ratios": ratios, "verdict_basis": basis, "target": TARGET, "pass": ratios[basis] >= TARGET},
        "training": training,
        "notes": notes,
        "total_runtime_s": time.perf_counter() - T0,
    }
    out = Path(args.out)
    md = render_markdown(result)
    write_atomic(out / "tokenize.json", json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    write_atomic(out / "tokenize.md", md)
    print()
    print(md)
    log(f"wrote {out / 'tokenize.json'} and {out / 'tokenize.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
