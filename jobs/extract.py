"""Stage 1: WARC/ARC files -> documents (main text, language), as Parquet.

    spark-submit jobs/extract.py --input 'data/warc/*.warc.gz' --output out/extracted [--config configs/extract.yaml]

Input files (a path, glob or directory; any Hadoop URI) are listed on the driver and spread over
partitions, a file per task for crawl-sized files and a few tasks per core for small ones; each task
streams its files, so no file is ever held
in memory whole. Local paths are opened directly; other schemes through pyarrow's file systems
(s3://, gs://, hdfs://, abfs://) on the executors.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from urllib.parse import urlparse

import pyarrow as pa

from datapipe.config import load_config
from datapipe.extract import ExtractConfig, Extractor
from jobs.common import (
    STAGED_SCHEMA,
    HadoopFS,
    StagedWriter,
    StageError,
    commit_stage,
    distribute,
    main_wrapper,
    spark_schema,
    spark_session,
    stage_parser,
)

STAGE = "extract"
_BYTES_PER_TASK = 1 << 30


def open_input(uri: str):
    """A seekable binary stream for a file URI, on an executor."""
    parsed = urlparse(uri)
    if parsed.scheme in ("", "file"):
        return open(parsed.path if parsed.scheme else uri, "rb", buffering=1 << 20)
    from pyarrow import fs as pafs

    scheme_fixed = uri.replace("s3a://", "s3://", 1).replace("s3n://", "s3://", 1)
    filesystem, path = pafs.FileSystem.from_uri(scheme_fixed)
    return filesystem.open_input_file(path)


def extract_partition(config: ExtractConfig):
    """The ``mapInArrow`` function: file URIs in, staged document rows and a counters row out."""

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        extractor = Extractor(config)
        out = StagedWriter(STAGE)
        for batch in batches:
            for uri in batch.column("path").to_pylist():
                try:
                    stream = open_input(uri)
                except OSError:
                    extractor.counters["warc.unreadable_file"] += 1
                    continue
                with stream:
                    for doc in extractor.documents_from_archive(stream, uri):
                        yield from out.keep(doc)
        yield from out.finish(extractor.counters)  # records in (docs_in) and read problems

    return run


def run(argv: list[str] | None = None) -> dict:
    parser = stage_parser("extract", __doc__.split("\n\n")[0])
    args = parser.parse_args(argv)
    config = load_config(ExtractConfig, args.config)
    started = time.time()
    spark = spark_session(f"teleflm-{STAGE}", args.master)
    fs = HadoopFS(spark)
    files = fs.list_files(args.input)
    if not files:
        raise StageError(f"no input files under {args.input}")
    # Crawl-sized files (~1 GB) get a task each; small ones are grouped by size into a few tasks per
    # core, since every task has a fixed cost (~0.2 s measured) that small files would not amortise.
    total = sum(size for _, size in files)
    n_parts = args.partitions or max(3 * spark.sparkContext.defaultParallelism, -(-total // _BYTES_PER_TASK))
    rows, _ = distribute(spark, files, min(n_parts, len(files)))
    paths = rows.toDF("path string")
    staged = paths.mapInArrow(extract_partition(config), spark_schema(STAGED_SCHEMA))
    return commit_stage(
        spark,
        staged,
        stage=STAGE,
        output=args.output,
        inputs=[fs.qualify(p) for p in args.input],
        config=config.model_dump(),
        started=started,
        extra={"files": len(files)},
    )


main = main_wrapper(run)

if __name__ == "__main__":
    raise SystemExit(main())
