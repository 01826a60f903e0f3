"""Domain ingest: the non-web sources of a config (code, books, encyclopedias, QA, LaTeX papers,
profession texts, classical Chinese) -> documents with their domain set, as a stage output.

    spark-submit jobs/ingest.py --config configs/domains.yaml --output out/domains [--root DATA_ROOT] [--strict]

Each source's paths (files, directories or globs, relative to the data root: ``root`` in the config,
a relative one taken from the config file's directory, or ``--root``; absolute paths and URIs as
they are) are listed on the driver; files its reader does not take are ignored and counted. Files are spread over partitions by size
(never split) and read and cleaned on the executors by the pure-Python readers of
``datapipe.domains``; languages that a source does not set are identified with lid.176 in batches.
A path that matches nothing is a warning and a counted skip, or an error with ``--strict``.

Counters: ``domain.<Domain>.docs``/``.bytes``/``.rejected``, ``source.<name>.files``/``.docs``,
``source.<name>.skip.<reason>`` (what a reader could not make a document of) and the readers'
informational counts (``source.code.license_header_removed``, ...); rejects carry the domain
cleaning's reason (``code:generated``, ``latex:no_document_body``, ``too_short``, ...).
"""

from __future__ import annotations

import argparse
import logging
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa

from datapipe.domains import DomainsConfig, Outcome, Reader, assign_languages, load_domains_config, make_reader, resolve_root
from datapipe.langid import LanguageIdentifier
from jobs.common import (
    STAGED_SCHEMA,
    HadoopFS,
    StagedWriter,
    StageError,
    commit_stage,
    distribute,
    doc_bytes,
    main_wrapper,
    spark_schema,
    spark_session,
)
from jobs.extract import open_input

STAGE = "ingest"
log = logging.getLogger("jobs.ingest")

FILE_SCHEMA = "path string, source int, relpath string"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ingest", description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", "-c", required=True, help="YAML list of sources (configs/domains.yaml)")
    p.add_argument("--output", "-o", required=True, help="output directory (replaced atomically)")
    p.add_argument("--root", default=None, help="data root the source paths are relative to (overrides the config's)")
    p.add_argument("--strict", action="store_true", help="fail when a source path matches no file")
    p.add_argument("--master", default=None, help="Spark master when not run by spark-submit (default local[*])")
    p.add_argument("--partitions", type=int, default=None, help="number of partitions (default: from partition_bytes)")
    return p


def list_sources(spark, config: DomainsConfig, root: str, strict: bool) -> tuple[list[tuple[str, int, str, int]], Counter]:
    """``(file URI, source index, path relative to the root, size)`` for every file to read, and the
    driver's counters (files per source, ignored files, paths that matched nothing)."""
    fs = HadoopFS(spark)
    root_q = fs.qualify(root.rstrip("/"))
    counters: Counter = Counter()
    files = []
    for index, source in enumerate(config.sources):
        reader = make_reader(source)
        for pattern in source.paths:
            uri = pattern if "://" in pattern or pattern.startswith("/") else f"{root_q}/{pattern}"
            try:
                listed = fs.list_files([uri], hidden=(".",))  # code sources have __init__.py
            except StageError:
                listed = []
            if not listed:
                if strict:
                    raise StageError(f"source {source.name!r}: no file matches {uri}")
                log.warning("source %r: no file matches %s; skipped", source.name, uri)
                counters[f"source.{source.name}.skip.missing_path"] += 1
                continue
            for path, size in listed:
                relpath = path[len(root_q) + 1 :] if path.startswith(root_q + "/") else path
                if not reader.accepts(relpath):
                    counters[f"source.{source.name}.ignored_files"] += 1
                    continue
                files.append((path, index, relpath, size))
                counters[f"source.{source.name}.files"] += 1
    return files, counters


def ingest_partition(config: DomainsConfig, driver_counters: Counter):
    """The ``mapInArrow`` function: file rows in, staged documents and a counters row out. The
    driver's counters ride with partition 0, so that they are summed with the others exactly once."""

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        from pyspark import TaskContext

        out = StagedWriter(STAGE)
        readers: dict[int, Reader] = {}
        counters: Counter = Counter()

        def outcomes() -> Iterator[Outcome]:
            for batch in batches:
                for path, index, relpath in zip(*(batch.column(c).to_pylist() for c in ("path", "source", "relpath"))):
                    if index not in readers:
                        readers[index] = make_reader(config.sources[index])
                    try:
                        stream = open_input(path)
                    except OSError:
                        readers[index].skip("unreadable_file")
                        continue
                    with stream:
                        yield from readers[index].read(stream, relpath, path)

        identify = LanguageIdentifier(max_chars=config.langid_max_chars).predict
        for o in assign_languages(outcomes(), identify, config.langid_batch_size):
            doc = out.take(o.doc)
            if o.reason:
                counters[f"domain.{doc.domain}.rejected"] += 1
                yield from out.reject(doc, o.reason)
                continue
            counters[f"domain.{doc.domain}.docs"] += 1
            counters[f"domain.{doc.domain}.bytes"] += doc_bytes(doc)
            counters[f"source.{o.source}.docs"] += 1
            yield from out.keep(doc)
        for index, reader in readers.items():
            name = config.sources[index].name
            counters.update({f"source.{name}.{k}": v for k, v in reader.counters.items() if v})
        if TaskContext.get().partitionId() == 0:
            counters.update(driver_counters)
        yield from out.finish(counters)

    return run


def run(argv: list[str] | None = None) -> dict:
    args = parser().parse_args(argv)
    config, root = load_domains_config(args.config)
    if args.root:
        root = resolve_root(args.root, Path.cwd())
    strict = args.strict or config.strict
    started = time.time()
    spark = spark_session(f"teleflm-{STAGE}", args.master)
    fs = HadoopFS(spark)
    files, driver_counters = list_sources(spark, config, root, strict)
    if not files:
        raise StageError(f"no input files for any source under {root}")
    total = sum(f[3] for f in files)
    n_parts = args.partitions or max(spark.sparkContext.defaultParallelism, -(-total // config.partition_bytes))
    rows, n_groups = distribute(spark, files, min(n_parts, len(files)))
    staged = spark.createDataFrame(rows, FILE_SCHEMA).mapInArrow(ingest_partition(config, driver_counters), spark_schema(STAGED_SCHEMA))
    return commit_stage(
        spark,
        staged,
        stage=STAGE,
        output=args.output,
        inputs=[fs.qualify(root)],
        config=config.model_dump(),
        started=started,
        extra={"config_file": str(args.config), "root": fs.qualify(root), "files": len(files), "partitions": n_groups},
    )


main = main_wrapper(run)

if __name__ == "__main__":
    raise SystemExit(main())
