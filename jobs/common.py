"""What every Spark stage shares: the CLI, the session, file-system access, atomic output and stats.

A stage's Python transform emits *staged* rows: kept documents (``kind=doc``), dropped documents with
their reason (``kind=reject``) and one counters row per partition (``kind=stats``). They are written in
one pass, partitioned by ``kind``, into a temporary directory; the driver then sums the counters,
moves documents and rejects into place, writes ``_stats.json`` and ``_SUCCESS``, and renames the whole
directory onto the output path. Counters are thus read from committed task output, so retried or
speculative tasks never count twice, and a killed job leaves only a ``._tmp-*`` directory behind.

Output layout of every stage::

    OUT/part-*.parquet        documents (DOCUMENT_SCHEMA)
    OUT/_rejects/*.parquet    dropped documents with reject_stage and reject_reason (REJECT_SCHEMA)
    OUT/_stats.json           counters, config, timing, inputs
    OUT/_funnel.md            the funnel over this stage and every stage upstream of it
    OUT/_SUCCESS
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timezone
from typing import Any

import pyarrow as pa

from datapipe.config import ConfigError
from datapipe.document import DOCUMENT_SCHEMA, REJECT_SCHEMA, Document
from datapipe.stats import funnel_rows, render_funnel

log = logging.getLogger("jobs")

STATS_FILE = "_stats.json"
FUNNEL_FILE = "_funnel.md"
REJECTS_DIR = "_rejects"

STAGED_SCHEMA = pa.schema(
    [f.with_nullable(f.nullable or f.name not in DOCUMENT_SCHEMA.names) for f in REJECT_SCHEMA]
    + [pa.field("kind", pa.string(), nullable=False), pa.field("stats_json", pa.string())]
)
"""Rows a stage's partition function emits (see the module docstring)."""

_BATCH_ROWS = 512


class StageError(RuntimeError):
    """A stage cannot run: bad arguments, missing input. Printed without a traceback."""


# --- CLI -----------------------------------------------------------------------------------------


def stage_parser(prog: str, description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--input", "-i", required=True, nargs="+", help="input path(s): file, directory or glob; any Hadoop URI")
    p.add_argument("--output", "-o", required=True, help="output directory (replaced atomically)")
    p.add_argument("--config", "-c", default=None, help="YAML config (defaults when omitted)")
    p.add_argument("--master", default=None, help="Spark master when not run by spark-submit (default local[*])")
    p.add_argument("--partitions", type=int, default=None, help="number of partitions to process with")
    return p


def main_wrapper(run: Callable[[list[str] | None], Any]) -> Callable[[list[str] | None], int]:
    """Turn configuration and input errors into a one-line message and exit code 2."""

    def main(argv: list[str] | None = None) -> int:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        logging.getLogger("py4j").setLevel(logging.WARNING)
        try:
            run(argv)
        except (StageError, ConfigError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        return 0

    return main


# --- Spark session and file system ---------------------------------------------------------------


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
    conf = spark.sparkContext.getConf()
    if spark.sparkContext.master.startswith("local") and not conf.contains("spark.sql.shuffle.partitions"):
        # 200 shuffle partitions suit a cluster, not one machine
        spark.conf.set("spark.sql.shuffle.partitions", str(max(4, 2 * (os.cpu_count() or 2))))
    spark.sparkContext.setLogLevel("WARN")
    return spark


class HadoopFS:
    """Driver-side file operations through Hadoop's FileSystem, so any URI Spark reads works here too."""

    def __init__(self, spark):
        self._jvm = spark.sparkContext._jvm
        self._conf = spark.sparkContext._jsc.hadoopConfiguration()

    def _path(self, uri: str):
        return self._jvm.org.apache.hadoop.fs.Path(uri)

    def _fs(self, uri: str):
        return self._path(uri).getFileSystem(self._conf)

    def qualify(self, uri: str) -> str:
        p = self._path(uri)
        return str(p.getFileSystem(self._conf).makeQualified(p).toString())

    def exists(self, uri: str) -> bool:
        return bool(self._fs(uri).exists(self._path(uri)))

    def is_dir(self, uri: str) -> bool:
        return bool(self._fs(uri).getFileStatus(self._path(uri)).isDirectory())

    def delete(self, uri: str) -> None:
        self._fs(uri).delete(self._path(uri), True)

    def rename(self, src: str, dst: str) -> None:
        if not self._fs(src).rename(self._path(src), self._path(dst)):
            raise StageError(f"could not rename {src} to {dst}")

    def write_text(self, uri: str, text: str) -> None:
        out = self._fs(uri).create(self._path(uri), True)
        try:
            out.write(bytearray(text.encode("utf-8")))
        finally:
            out.close()

    def read_text(self, uri: str) -> str:
        stream = self._fs(uri).open(self._path(uri))
        try:
            return bytes(self._jvm.org.apache.hadoop.io.IOUtils.readFullyToByteArray(stream)).decode("utf-8")
        finally:
            stream.close()

    def list_files(self, patterns: Iterable[str], hidden: tuple[str, ...] = (".", "_")) -> list[tuple[str, int]]:
        """``(URI, size)`` of the files matching paths, directories (recursively) or globs, sorted by URI.
        Names starting with a ``hidden`` prefix are skipped (by default Hadoop's: checksums, markers)."""
        found: dict[str, int] = {}
        for pattern in patterns:
            fs = self._fs(pattern)
            statuses = fs.globStatus(self._path(pattern))
            if not statuses:
                raise StageError(f"input not found: {pattern}")
            for st in statuses:
                if st.isDirectory():
                    it = fs.listFiles(st.getPath(), True)
                    while it.hasNext():
                        f = it.next()
                        found[str(f.getPath().toString())] = int(f.getLen())
                else:
                    found[str(st.getPath().toString())] = int(st.getLen())
        return sorted((p, n) for p, n in found.items() if not p.rsplit("/", 1)[-1].startswith(hidden))


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


def distribute(spark, items: list[tuple], n_parts: int):
    """An RDD of the rows of ``items`` (``(*fields, size)``), one size-balanced group per partition."""
    groups = balance(items, n_parts)
    return spark.sparkContext.parallelize(groups, len(groups)).flatMap(lambda group: group), len(groups)


# --- staged rows ---------------------------------------------------------------------------------


def _staged_batch(rows: list[dict]) -> pa.RecordBatch:
    return pa.RecordBatch.from_pylist(rows, schema=STAGED_SCHEMA)


class StagedWriter:
    """Collects a partition's kept and rejected documents into Arrow batches of the staged schema,
    and keeps the counters every stage reports (see ``datapipe.stats``): ``take`` counts a document
    in, ``keep`` one out, ``reject`` a drop with its reason; stages add their own to ``counters``."""

    def __init__(self, stage: str):
        self.stage = stage
        self.counters: Counter = Counter()
        self._rows: list[dict] = []

    def take(self, doc: Document) -> Document:
        self.counters["docs_in"] += 1
        self.counters["bytes_in"] += doc_bytes(doc)
        return doc

    def keep(self, doc: Document) -> Iterator[pa.RecordBatch]:
        self.counters["docs_out"] += 1
        self.counters["bytes_out"] += doc_bytes(doc)
        row = doc.to_row()
        row.update(kind="doc", reject_stage=None, reject_reason=None, reject_detail=None, stats_json=None)
        return self._add(row)

    def reject(self, doc: Document, reason: str, detail: str | None = None) -> Iterator[pa.RecordBatch]:
        self.counters[f"drop.{reason}"] += 1
        row = doc.to_row()
        row.update(kind="reject", reject_stage=self.stage, reject_reason=reason, reject_detail=detail, stats_json=None)
        return self._add(row)

    def _add(self, row: dict) -> Iterator[pa.RecordBatch]:
        self._rows.append(row)
        if len(self._rows) >= _BATCH_ROWS:
            yield self.flush_batch()

    def flush_batch(self) -> pa.RecordBatch:
        batch, self._rows = _staged_batch(self._rows), []
        return batch

    def finish(self, extra: Counter | dict | None = None) -> Iterator[pa.RecordBatch]:
        """Flush the last documents and emit the partition's counters row (plus ``extra`` counters)."""
        if self._rows:
            yield self.flush_batch()
        counters = Counter(self.counters)
        counters.update(extra or {})
        stats_row = {name: None for name in STAGED_SCHEMA.names}
        stats_row.update(id="", domain="", text="", kind="stats", reject_stage=self.stage, reject_reason="", stats_json=json.dumps(dict(counters)))
        yield _staged_batch([stats_row])


def iter_documents(batches: Iterator[pa.RecordBatch]) -> Iterator[Document]:
    """Documents from the Arrow batches Spark hands a ``mapInArrow`` function."""
    for batch in batches:
        for row in batch.to_pylist():
            yield Document.from_row(row)


def spark_schema(arrow_schema: pa.Schema):
    """The Spark StructType of an Arrow schema (the schema itself is defined once, in Arrow)."""
    from pyspark.sql.pandas.types import from_arrow_schema

    return from_arrow_schema(arrow_schema)


# --- atomic output with stats --------------------------------------------------------------------


def doc_bytes(doc: Document) -> int:
    return len(doc.text.encode("utf-8", "surrogatepass"))


def commit_stage(
    spark,
    staged_df,
    *,
    stage: str,
    output: str,
    inputs: list[str],
    config: dict,
    started: float,
    extra: dict | None = None,
    reports: Callable[[Counter], dict[str, str]] | None = None,
) -> dict:
    """Write ``staged_df`` atomically to ``output`` with stats and funnel; returns the stats.

    ``reports`` turns the summed counters into extra files (name -> text) that are written into the
    output before it is renamed into place, so they are as atomic as the data."""
    fs = HadoopFS(spark)
    output = fs.qualify(output.rstrip("/"))
    tmp = f"{output}._tmp-{uuid.uuid4().hex[:12]}"
    staged = f"{tmp}/staged"
    try:
        staged_df.write.partitionBy("kind").parquet(staged)
    except BaseException:
        fs.delete(tmp)  # best effort; a killed driver leaves ._tmp-* behind, never a complete-looking output
        raise

    counters: Counter = Counter()
    if fs.exists(f"{staged}/kind=stats"):
        for row in spark.read.parquet(f"{staged}/kind=stats").select("stats_json").collect():
            counters.update(json.loads(row.stats_json))

    final = f"{tmp}/final"
    if fs.exists(f"{staged}/kind=doc"):
        fs.rename(f"{staged}/kind=doc", final)
    else:  # every document dropped: still a readable, empty dataset
        spark.createDataFrame([], spark_schema(DOCUMENT_SCHEMA)).write.parquet(final)
    if fs.exists(f"{staged}/kind=reject"):
        fs.rename(f"{staged}/kind=reject", f"{final}/{REJECTS_DIR}")
    fs.delete(staged)

    finished = time.time()
    stats = {
        "stage": stage,
        "output": output,
        "inputs": inputs,
        "started": datetime.fromtimestamp(started, timezone.utc).isoformat(timespec="seconds"),
        "seconds": round(finished - started, 2),
        "counters": dict(sorted(counters.items())),
        "config": config,
        **(extra or {}),
    }
    fs.write_text(f"{final}/{STATS_FILE}", json.dumps(stats, indent=2, ensure_ascii=False) + "\n")
    for name, text in (reports(counters) if reports else {}).items():
        fs.write_text(f"{final}/{name}", text)
    upstream = collect_upstream_stats(fs, stats)
    fs.write_text(f"{final}/{FUNNEL_FILE}", render_funnel(funnel_rows(upstream)) + "\n")
    if not fs.exists(f"{final}/_SUCCESS"):
        fs.write_text(f"{final}/_SUCCESS", "")

    # Swap into place: the old output (if any) is removed only once the new one is complete.
    trash = None
    if fs.exists(output):
        trash = f"{output}._old-{uuid.uuid4().hex[:12]}"
        fs.rename(output, trash)
    fs.rename(final, output)
    fs.delete(tmp)
    if trash:
        fs.delete(trash)
    print(render_funnel(funnel_rows(upstream)))
    return stats


def read_stats(fs: HadoopFS, directory: str) -> dict | None:
    uri = f"{directory.rstrip('/')}/{STATS_FILE}"
    if not fs.exists(uri):
        return None
    return json.loads(fs.read_text(uri))


def collect_upstream_stats(fs: HadoopFS, stats: dict) -> list[dict]:
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
            up = read_stats(fs, parent) if fs.exists(parent) and fs.is_dir(parent) else None
        except Exception:  # a glob or a file is not a stage output
            up = None
        if up is None:
            break
        chain.append(up)
        current = up
    return list(reversed(chain))


def read_documents(spark, args: argparse.Namespace):
    """The documents of the stage outputs named by ``--input`` (each must be complete), repartitioned
    when ``--partitions`` says so; returns the qualified input paths and the DataFrame."""
    fs = HadoopFS(spark)
    inputs = [require_stage_output(fs, p) for p in args.input]
    docs = spark.read.parquet(*inputs)
    if args.partitions:
        docs = docs.repartition(args.partitions)
    return inputs, docs


def require_stage_output(fs: HadoopFS, uri: str) -> str:
    """An input that must be a complete stage output (``_SUCCESS`` present)."""
    q = fs.qualify(uri.rstrip("/"))
    if not fs.exists(q):
        raise StageError(f"input not found: {uri}")
    if not fs.exists(f"{q}/_SUCCESS"):
        raise StageError(f"input is not a complete stage output (no _SUCCESS): {uri}")
    return q
