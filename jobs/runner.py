"""The one way a stage runs on Spark: arguments, config, session, input, map, commit.

A job module names its stage and says what to map (``Plan``); ``StageJob`` does the rest::

    job = StageJob("clean", __doc__, CleanConfig, documents(lambda job: Plan(CleanStage(job.config), job.docs)))
    run, main = job.run, job.main

The stage (``datapipe.stage``) runs once per task in a ``mapInArrow`` function that emits *staged* rows:
kept documents (``kind=doc``), dropped ones with their reason (``kind=reject``) and one counters row
per task (``kind=stats``), written in one pass, partitioned by ``kind``, into ``OUT._tmp-*``. The driver
then sums the counters from the committed files (so retried or speculative tasks never count twice),
moves documents and rejects into place, writes ``_stats.json``, the reports, ``_funnel.md`` and
``_SUCCESS``, and publishes the directory onto the output path (``datapipe.io.publish``): a killed job
leaves only a ``._tmp-*`` directory behind. Output layout of every document stage::

    OUT/part-*.parquet        documents (DOCUMENT_SCHEMA)
    OUT/_rejects/*.parquet    dropped documents with reject_stage, reject_reason, reject_detail (REJECT_SCHEMA;
                              the text empty with ``--rejects ids``)
    OUT/_stats.json           counters, config, timing, inputs
    OUT/_funnel.md            the funnel over this stage and every stage upstream of it
    OUT/_SUCCESS

On an object store the same layout lies in ``OUT/_attempt-*/`` (rejects beside it) and ``OUT/_SUCCESS``
records where (``datapipe.io.publish``, ``datapipe.io.resolve``): nothing is renamed there.

A stage that decides about documents from the whole corpus (paragraph dedup, MinHash) writes its
decisions as small rows keyed by the input file of each document (``Decisions``); the apply pass is a
map over the documents where they lie, each task reading the decisions about its own files, so the
text is never shuffled to meet them.

Stages that write other files (the token shards) use the same session, arguments and ``finish_output``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import pyarrow as pa
from pydantic import BaseModel

from datapipe import io
from datapipe.cli import main_of
from datapipe.config import load_config
from datapipe.document import DOCUMENT_SCHEMA, REJECT_SCHEMA
from datapipe.stage import Outcome, Stage
from datapipe.stats import funnel_rows, render_funnel
from jobs.progress import StageProgress

log = logging.getLogger("jobs")

STATS_FILE = "_stats.json"
FUNNEL_FILE = "_funnel.md"
REJECTS_DIR = "_rejects"
SUCCESS_FILE = "_SUCCESS"
REJECT_MODES = ("text", "ids")

STAGED_SCHEMA = pa.schema(
    [f.with_nullable(f.nullable or f.name not in DOCUMENT_SCHEMA.names) for f in REJECT_SCHEMA]
    + [pa.field("kind", pa.string(), nullable=False), pa.field("stats_json", pa.string())]
)
"""Rows a stage's partition function emits (see the module docstring)."""

_BATCH_ROWS = 512

FILE_KEY, FILE_ROW = "file_key", "file_row"
"""Columns of a document stage's input rows: a 64-bit hash of the Parquet file the row was read from, and
the row's index in that file; together they name one input row (ids repeat when a record is read twice)."""

SHUFFLE_PARTITION_BYTES = 128 << 20
"""Input bytes per shuffle partition when the deployment does not set ``spark.sql.shuffle.partitions``."""


class StageError(RuntimeError):
    """A stage cannot run: bad arguments, missing input. Printed without a traceback."""


# --- Spark session -------------------------------------------------------------------------------


def spark_session(app_name: str, master: str | None = None):
    """The session for a stage. Under spark-submit the master comes from there; otherwise ``local[*]``."""
    from pyspark.sql import SparkSession

    # Executors run the same interpreter as the driver unless the deployment says otherwise
    # (an archived venv on a cluster sets PYSPARK_PYTHON to its own python).
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.appName(app_name)
    # spark-submit starts the JVM first and hands its gateway to Python: the master is already set.
    if master or "PYSPARK_GATEWAY_PORT" not in os.environ:
        builder = builder.master(master or "local[*]")
    # Stage outputs are partitioned by a 3-valued `kind`: write them with concurrent writers instead of
    # sorting every task's rows by kind first.
    builder = builder.config("spark.sql.optimizer.plannedWrite.enabled", "false")
    builder = builder.config("spark.sql.maxConcurrentOutputFileWriters", "4")
    builder = builder.config("spark.sql.execution.arrow.maxRecordsPerBatch", str(_BATCH_ROWS))
    builder = builder.config("spark.ui.showConsoleProgress", str(sys.stderr.isatty()).lower())
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    return spark


def size_shuffle_partitions(spark, input_bytes: int) -> int:
    """Set ``spark.sql.shuffle.partitions`` from the input: one per ``SHUFFLE_PARTITION_BYTES``, at
    least two per core, unless the deployment set it (``--conf``); Spark's fixed default of 200 would be
    too many for a small input and far too few for a crawl. Returns the number in effect."""
    if spark.sparkContext.getConf().contains("spark.sql.shuffle.partitions"):
        return int(spark.conf.get("spark.sql.shuffle.partitions"))
    n = max(2 * spark.sparkContext.defaultParallelism, -(-input_bytes // SHUFFLE_PARTITION_BYTES))
    spark.conf.set("spark.sql.shuffle.partitions", str(n))
    return n


def spark_schema(arrow_schema: pa.Schema):
    """The Spark StructType of an Arrow schema (the schema itself is defined once, in Arrow)."""
    from pyspark.sql.pandas.types import from_arrow_schema

    return from_arrow_schema(arrow_schema)


@contextmanager
def progress(spark, label: str, every: float = 30.0) -> Iterator[None]:
    """Log the tasks done of the running Spark stages every ``every`` seconds (the console progress bar
    shows only on a terminal)."""
    tracker, stop = spark.sparkContext.statusTracker(), threading.Event()

    def report() -> None:
        while not stop.wait(every):
            for sid in tracker.getActiveStageIds():
                info = tracker.getStageInfo(sid)
                if info:
                    log.info("%s: Spark stage %d: %d of %d tasks done", label, sid, info.numCompletedTasks, info.numTasks)

    thread = threading.Thread(target=report, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()


# --- inputs --------------------------------------------------------------------------------------


def list_input_files(patterns: list[str], hidden: tuple[str, ...] = io.HIDDEN_PREFIXES) -> list[io.FileEntry]:
    try:
        return io.list_files(patterns, hidden)
    except FileNotFoundError as exc:
        raise StageError(str(exc)) from None


def balance(items: list[tuple], n_parts: int) -> list[list[tuple]]:
    """Rows ``(*fields, size)`` in at most ``n_parts`` groups of similar total size (largest first, each
    to the lightest group; deterministic), without the size; empty groups are left out."""
    groups: list[list[tuple]] = [[] for _ in range(max(1, n_parts))]
    loads = [0] * len(groups)
    for item in sorted(items, key=lambda it: (-it[-1], it[:-1])):
        g = loads.index(min(loads))
        groups[g].append(item[:-1])
        loads[g] += max(item[-1], 1)
    return [g for g in groups if g]


def distribute(spark, items: list[tuple], n_parts: int, schema: str):
    """A DataFrame of the rows of ``items`` (``(*fields, size)``, the fields in ``schema``), one
    size-balanced group per partition; and the number of partitions."""
    groups = balance(items, n_parts)
    rdd = spark.sparkContext.parallelize(groups, len(groups)).flatMap(lambda group: group)
    return spark.createDataFrame(rdd, schema), len(groups)


def require_stage_output(uri: str) -> str:
    """An input that must be a complete stage output (``_SUCCESS`` present); returns it qualified."""
    q = io.qualify(uri)
    if not io.exists(q):
        raise StageError(f"input not found: {uri}")
    if not io.exists(io.join(q, SUCCESS_FILE)):
        raise StageError(f"input is not a complete stage output (no {SUCCESS_FILE}): {uri}")
    return q


# --- staged rows ---------------------------------------------------------------------------------


def _staged_batch(rows: list[dict]) -> pa.RecordBatch:
    return pa.RecordBatch.from_pylist(rows, schema=STAGED_SCHEMA)


def _staged_row(outcome: Outcome, stage: str, reject_text: bool) -> dict:
    row = outcome.doc.to_row()
    if outcome.reason is None:
        row.update(kind="doc", reject_stage=None, reject_reason=None, reject_detail=None, stats_json=None)
    else:
        row.update(kind="reject", reject_stage=stage, reject_reason=outcome.reason, reject_detail=outcome.detail,
                   stats_json=None)
        if not reject_text:
            row["text"] = ""
    return row


def _stats_batch(stage: str, counters: Counter) -> pa.RecordBatch:
    row = {name: None for name in STAGED_SCHEMA.names}
    row.update(id="", domain="", text="", kind="stats", reject_stage=stage, reject_reason="", stats_json=json.dumps(dict(counters)))
    return _staged_batch([row])


# --- decisions ------------------------------------------------------------------------------------


def with_file_key(docs):
    """``docs`` (as read from Parquet) with ``FILE_KEY`` and ``FILE_ROW``: where each row lies, for ``Decisions``."""
    from pyspark.sql import functions as F

    return docs.select("*", F.xxhash64(F.col("_metadata.file_path")).alias(FILE_KEY), F.col("_metadata.row_index").alias(FILE_ROW))


@dataclass(frozen=True)
class Decisions:
    """Decision columns about some input rows (``FILE_KEY``, ``FILE_ROW``), stored under ``uri`` by
    ``FILE_KEY``: a task of the apply pass reads those of the files it maps, a row without any gets None
    in each column."""

    uri: str
    columns: tuple[str, ...]
    cache_files: int = 16

    def write(self, decided, clustered: bool = False) -> None:
        """Write ``decided`` (``FILE_KEY``, ``FILE_ROW`` and the columns): one Parquet file per input file
        (``clustered``: ``decided`` is already partitioned by ``FILE_KEY``)."""
        rows = decided.select(FILE_KEY, FILE_ROW, *self.columns)
        (rows if clustered else rows.repartition(FILE_KEY)).write.partitionBy(FILE_KEY).parquet(self.uri)

    def read(self, file_key: int) -> dict[int, dict]:
        import pyarrow.dataset as ds

        uri = io.join(self.uri, f"{FILE_KEY}={file_key}")
        if not io.exists(uri):
            return {}
        filesystem, path = io.filesystem(uri)
        table = ds.dataset(path, format="parquet", filesystem=filesystem).to_table(columns=[FILE_ROW, *self.columns])
        return {row.pop(FILE_ROW): row for row in table.to_pylist()}

    def attach(self, rows: Iterator[dict]) -> Iterator[dict]:
        """``rows`` (with ``FILE_KEY`` and ``FILE_ROW``, dropped here) with the decision columns set."""
        tables: dict[int, dict[int, dict]] = {}
        none = dict.fromkeys(self.columns)
        for row in rows:
            key, index = row.pop(FILE_KEY), row.pop(FILE_ROW)
            if key not in tables:
                if len(tables) >= self.cache_files:  # rows come file by file: keep the latest few
                    del tables[next(iter(tables))]
                tables[key] = self.read(key)
            row.update(tables[key].get(index, none))
            yield row


def stage_partition(stage: Stage, decisions: Decisions | None = None,
                    reject_text: bool = True) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """The ``mapInArrow`` function of a stage: its input rows (with ``decisions`` attached) in, staged
    rows (rejects without their text unless ``reject_text``) and one counters row out."""

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        rows = (row for batch in batches for row in batch.to_pylist())
        if decisions is not None:
            rows = decisions.attach(rows)
        pending: list[dict] = []
        for outcome in stage.run(rows):
            pending.append(_staged_row(outcome, stage.name, reject_text))
            if len(pending) >= _BATCH_ROWS:
                yield _staged_batch(pending)
                pending = []
        if pending:
            yield _staged_batch(pending)
        yield _stats_batch(stage.name, stage.counters)

    return run


# --- output: stats, funnel, publish -----------------------------------------------------------------


def read_stats(directory: str) -> dict | None:
    uri = io.join(io.resolve(directory), STATS_FILE)
    return json.loads(io.read_text(uri)) if io.exists(uri) else None


def collect_upstream_stats(stats: dict) -> list[dict]:
    """This stage's stats preceded by its inputs' stats, recursively (first input of each stage)."""
    chain = [stats]
    seen = {stats["output"]}
    current = stats
    while current.get("inputs"):
        parent = current["inputs"][0]
        if parent in seen:
            break
        seen.add(parent)
        try:
            up = read_stats(parent) if io.is_dir(parent) else None
        except (OSError, ValueError):  # a glob or a file is not a stage output
            up = None
        if up is None:
            break
        chain.append(up)
        current = up
    return list(reversed(chain))


def stage_stats(job: Job, counters: Counter, extra: dict | None = None) -> dict:
    """The ``_stats.json`` of a run of the stage."""
    return {
        "stage": job.name,
        "output": job.output,
        "inputs": job.inputs,
        "started": datetime.fromtimestamp(job.started, timezone.utc).isoformat(timespec="seconds"),
        "seconds": round(time.time() - job.started, 2),
        "counters": dict(sorted(counters.items())),
        "config": job.config.model_dump(),
        **(extra or {}),
    }


def finish_output(tmp: str, output: str, stats: dict, files: dict[str, str] | None = None, parts: dict[str, str] | None = None) -> str:
    """Write ``_stats.json``, ``files`` (name -> text), ``_funnel.md`` and ``_SUCCESS`` into the complete
    directory ``tmp`` and publish it as ``output`` (with ``parts`` lying elsewhere: ``datapipe.io.publish``);
    returns the funnel."""
    io.write_text(io.join(tmp, STATS_FILE), json.dumps(stats, indent=2, ensure_ascii=False) + "\n")
    for name, text in (files or {}).items():
        io.write_text(io.join(tmp, name), text)
    funnel = render_funnel(funnel_rows(collect_upstream_stats(stats)))
    io.write_text(io.join(tmp, FUNNEL_FILE), funnel + "\n")
    io.write_text(io.join(tmp, SUCCESS_FILE), "")
    io.publish(tmp, output, parts=parts)
    return funnel


def commit_documents(job: Job, staged_df, plan: Plan) -> dict:
    """Write the staged rows of ``plan``'s stage atomically to the job's output with stats and funnel.
    Where directories rename cheaply the documents and rejects are moved into the output's layout; on
    an object store they stay where Spark wrote them and the commit records where they are
    (``datapipe.io.publish``), so no data is copied."""
    tmp = io.temporary_sibling(job.output)
    staged = io.join(tmp, "staged")
    renames = io.renames_directories(job.output)
    final = io.join(tmp, "final") if renames else io.join(staged, "kind=doc")
    try:
        with progress(job.spark, job.name):
            staged_df.write.partitionBy("kind").parquet(staged)
        counters: Counter = Counter(plan.counters)
        if io.exists(io.join(staged, "kind=stats")):
            for row in job.spark.read.parquet(io.join(staged, "kind=stats")).select("stats_json").collect():
                counters.update(json.loads(row.stats_json))
        if not io.exists(io.join(staged, "kind=doc")):  # every document dropped: still a readable, empty dataset
            job.spark.createDataFrame([], spark_schema(DOCUMENT_SCHEMA)).write.parquet(io.join(staged, "kind=doc"))
        parts = {}
        if renames:
            io.rename(io.join(staged, "kind=doc"), final)
            if io.exists(io.join(staged, "kind=reject")):
                io.rename(io.join(staged, "kind=reject"), io.join(final, REJECTS_DIR))
            io.delete(staged)
        else:
            io.delete(io.join(staged, "kind=stats"))
            if io.exists(io.join(staged, "kind=reject")):
                parts[REJECTS_DIR] = io.join(staged, "kind=reject")
        stats = stage_stats(job, counters, plan.extra)
        funnel = finish_output(final, job.output, stats, plan.reports(counters) if plan.reports else None, parts)
    finally:
        io.discard(tmp, job.output)  # a killed driver leaves ._tmp-* (_attempt-*) behind, never a complete-looking output
    print(funnel)
    return stats


# --- jobs ----------------------------------------------------------------------------------------


@dataclass
class Job:
    """One run of a stage: its arguments, validated config and session; ``inputs`` qualified, ``docs``
    the input documents of a document stage, ``prepared`` what the job's ``prepare`` made."""

    name: str
    args: argparse.Namespace
    config: BaseModel
    spark: Any
    started: float
    output: str
    inputs: list[str] = field(default_factory=list)
    docs: Any = None
    prepared: Any = None


@dataclass
class Plan:
    """What a document job maps: ``stage`` over ``rows`` (the input documents, or the job's file
    listing) with ``decisions`` attached, with more ``_stats.json`` fields (``extra``), report files made
    from the summed counters (``reports``), and the driver's own ``counters``."""

    stage: Stage
    rows: Any
    decisions: Decisions | None = None
    extra: dict = field(default_factory=dict)
    reports: Callable[[Counter], dict[str, str]] | None = None
    counters: Counter = field(default_factory=Counter)


def documents(plan: Callable[[Job], Plan | AbstractContextManager[Plan]]) -> Callable[[Job], dict]:
    """The body of a document job: map the planned stage over its rows and commit (``plan`` may be a
    context manager, for what must outlive the commit: a broadcast, a shipped model, scratch space)."""

    def body(job: Job) -> dict:
        planned = plan(job)
        with planned if isinstance(planned, AbstractContextManager) else nullcontext(planned) as p:
            partition = stage_partition(p.stage, p.decisions, reject_text=job.args.rejects == "text")
            staged = p.rows.mapInArrow(partition, spark_schema(STAGED_SCHEMA))
            return commit_documents(job, staged, p)

    body.writes_documents = True  # StageJob offers --rejects
    return body


def broadcast_plan(stage: Callable[[Job, Callable[[], Any]], Stage], report: str) -> Callable[[Job], AbstractContextManager[Plan]]:
    """The plan of a job whose ``prepare`` built a read-only table on the driver (benchmark n-grams,
    block lists): the table is broadcast while ``stage(job, value)`` runs, ``value()`` giving it on
    the executor, and the table's ``report`` goes to ``_stats.json`` under ``report``."""

    @contextmanager
    def plan(job: Job) -> Iterator[Plan]:
        broadcast = job.spark.sparkContext.broadcast(job.prepared)
        try:
            yield Plan(stage(job, lambda: broadcast.value), job.docs, extra={report: job.prepared.report})
        finally:
            broadcast.destroy()

    return plan


class StageJob:
    """A stage's command line and run: parse, load the config, ``prepare(args, config)`` (what must
    fail before Spark starts: reading benchmark files), start the session, read the input
    (``inputs="documents"``: complete stage outputs, with ``FILE_KEY``/``FILE_ROW`` when ``file_keys``; ``"files"``:
    paths, globs or directories; None: no ``--input``), size the shuffle partitions from it, then
    ``body(job)``, which returns the stats. ``main`` turns a config or input error into one line on
    stderr and exit code 2."""

    def __init__(self, name: str, doc: str, config: type[BaseModel], body: Callable[[Job], dict], *,
                 inputs: str | None = "documents", arguments: Callable[[argparse.ArgumentParser], None] | None = None,
                 config_required: bool = False, prepare: Callable[[argparse.Namespace, BaseModel], Any] | None = None,
                 file_keys: bool = False):
        self.name, self.doc, self.config, self.body = name, doc, config, body
        self.inputs, self.arguments, self.config_required, self.prepare = inputs, arguments, config_required, prepare
        self.file_keys = file_keys

    def parser(self) -> argparse.ArgumentParser:
        p = argparse.ArgumentParser(prog=self.name, description=self.doc.split("\n\n")[0],
                                    formatter_class=argparse.RawDescriptionHelpFormatter)
        if self.inputs:
            p.add_argument("--input", "-i", required=True, nargs="+",
                           help="input path(s): " + ("stage outputs" if self.inputs == "documents" else "files, directories or globs")
                           + "; any Hadoop URI")
        p.add_argument("--output", "-o", required=True, help="output directory (replaced atomically)")
        p.add_argument("--config", "-c", required=self.config_required, default=None,
                       help="YAML config" + ("" if self.config_required else " (defaults when omitted)"))
        p.add_argument("--master", default=None, help="Spark master when not run by spark-submit (default local[*])")
        p.add_argument("--partitions", type=int, default=None, help="number of partitions to process with")
        if getattr(self.body, "writes_documents", False):
            p.add_argument("--rejects", choices=REJECT_MODES, default="text",
                           help=f"what {REJECTS_DIR}/ keeps of a dropped document: all its columns (text), or all but its text "
                           "(ids: id, url, source file and offset, annotations, reason, detail)")
        if self.arguments:
            self.arguments(p)
        return p

    def run(self, argv: list[str] | None = None) -> dict:
        args = self.parser().parse_args(argv)
        config = load_config(self.config, args.config)
        started = time.time()
        prepared = self.prepare(args, config) if self.prepare else None
        spark = spark_session(f"teleflm-{self.name}", args.master)
        job = Job(self.name, args, config, spark, started, io.qualify(args.output), prepared=prepared)
        input_bytes = 0
        if self.inputs == "documents":
            job.inputs = [require_stage_output(p) for p in args.input]
            committed = [io.resolve(p) for p in job.inputs]
            input_bytes = sum(f.size for f in list_input_files(committed))
            job.docs = spark.read.parquet(*committed)
            if self.file_keys:
                job.docs = with_file_key(job.docs)
            if args.partitions:
                job.docs = job.docs.repartition(args.partitions)
        elif self.inputs == "files":
            job.inputs = [io.qualify(p) for p in args.input]
            input_bytes = sum(f.size for f in list_input_files(job.inputs))
        size_shuffle_partitions(spark, input_bytes)
        with StageProgress(spark, self.name):
            return self.body(job)

    def main(self, argv: list[str] | None = None) -> int:
        return main_of(self.run, StageError, logs=True)(argv)
