"""Domain ingest: the non-web sources of a config (code, books, encyclopedias, QA, LaTeX papers,
profession texts, classical Chinese) -> documents with their domain set, as a stage output.

    spark-submit jobs/ingest.py --config configs/domains.yaml --output out/domains [--root DATA_ROOT] [--strict]

Each source's paths (files, directories or globs, relative to the data root: ``root`` in the config,
a relative one taken from the config file's directory, or ``--root``; absolute paths and URIs as
they are) are listed on the driver; files its reader does not take are ignored and counted. Files are
spread over partitions by size (never split) and read and cleaned on the executors by the pure-Python
readers of ``datapipe.domains`` (``IngestStage``); languages that a source does not set are identified
with lid.176 in batches. A path that matches nothing is a warning and a counted skip, or an error with
``--strict``.

Counters: ``domain.<Domain>.docs``/``.bytes``/``.rejected``, ``source.<name>.files``/``.docs``,
``source.<name>.skip.<reason>`` (what a reader could not make a document of) and the readers'
informational counts (``source.code.license_header_removed``, ...); rejects carry the domain
cleaning's reason (``code:generated``, ``latex:no_document_body``, ``too_short``, ...).
"""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

from datapipe import io
from datapipe.domains import DomainsConfig, IngestStage, make_reader, resolve_root
from jobs.runner import Job, Plan, StageError, StageJob, distribute, documents

log = logging.getLogger("jobs.ingest")

FILE_SCHEMA = "path string, source int, relpath string"


def arguments(parser) -> None:
    parser.add_argument("--root", default=None, help="data root the source paths are relative to (overrides the config's)")
    parser.add_argument("--strict", action="store_true", help="fail when a source path matches no file")


def list_sources(config: DomainsConfig, root: str, strict: bool) -> tuple[list[tuple[str, int, str, int]], Counter]:
    """``(file URI, source index, path relative to the root, size)`` for every file to read, and the
    driver's counters (files per source, ignored files, paths that matched nothing)."""
    root_q = io.qualify(root)
    counters: Counter = Counter()
    files = []
    for index, source in enumerate(config.sources):
        reader = make_reader(source)
        for pattern in source.paths:
            uri = pattern if "://" in pattern or pattern.startswith("/") else io.join(root_q, pattern)
            try:
                listed = io.list_files([uri], hidden=(".",))  # code sources have __init__.py
            except FileNotFoundError:
                listed = []
            if not listed:
                if strict:
                    raise StageError(f"source {source.name!r}: no file matches {uri}")
                log.warning("source %r: no file matches %s; skipped", source.name, uri)
                counters[f"source.{source.name}.skip.missing_path"] += 1
                continue
            for entry in listed:
                relpath = entry.uri[len(root_q) + 1 :] if entry.uri.startswith(root_q + "/") else entry.uri
                if not reader.accepts(relpath):
                    counters[f"source.{source.name}.ignored_files"] += 1
                    continue
                files.append((entry.uri, index, relpath, entry.size))
                counters[f"source.{source.name}.files"] += 1
    return files, counters


def listed_sources(args, config: DomainsConfig) -> tuple[str, list[tuple[str, int, str, int]], Counter]:
    """``list_sources`` before Spark starts, so that a wrong root (nothing to read) or, strict, a source
    path that matches nothing fails fast; returns the data root too."""
    # a relative root is relative to the config file (a sample's config and its data move together)
    root = resolve_root(args.root, Path.cwd()) if args.root else resolve_root(config.root, Path(args.config).resolve().parent)
    files, counters = list_sources(config, root, args.strict or config.strict)
    if not files:
        setting = "--root" if args.root else f"{args.config}: root"
        raise StageError(f"{setting}: no input files for any source under {root}" + ("" if io.exists(root) else " (no such directory)"))
    return root, files, counters


def plan(job: Job) -> Plan:
    config: DomainsConfig = job.config
    root, files, driver_counters = job.prepared
    job.inputs = [io.qualify(root)]
    total = sum(f[3] for f in files)
    n_parts = job.args.partitions or max(job.spark.sparkContext.defaultParallelism, -(-total // config.partition_bytes))
    rows, n_groups = distribute(job.spark, files, min(n_parts, len(files)), FILE_SCHEMA)
    extra = {"config_file": str(job.args.config), "root": io.qualify(root), "files": len(files), "partitions": n_groups}
    return Plan(IngestStage(config), rows, extra=extra, counters=driver_counters)


job = StageJob("ingest", __doc__, DomainsConfig, documents(plan), inputs=None, arguments=arguments, config_required=True,
               prepare=listed_sources)
run, main = job.run, job.main

if __name__ == "__main__":
    raise SystemExit(main())
