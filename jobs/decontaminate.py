"""Benchmark decontamination by 13-gram overlap (drop or cut matching documents).

    spark-submit jobs/decontaminate.py --input out/dedup_paragraphs --output out/decontaminated \
        [--config configs/decontaminate.yaml] [--benchmarks-root DIR]

The benchmark test sets are read on the driver and their n-grams hashed into a sorted array of
64-bit hashes (its size is logged and written to ``_stats.json`` under ``benchmark_index``), which
is broadcast; each task scans its documents against it in a ``mapInArrow`` function. Dropped
documents go to ``OUT/_rejects`` as ``decontam:<benchmark>`` or ``decontam:too_many_cuts``; the
counters ``decontam.<benchmark>.docs`` and ``decontam.<benchmark>.ngrams`` say what matched where.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa

from datapipe.config import load_config
from datapipe.decontam import BenchmarkIndex, DecontamConfig, Decontaminator, build_index
from jobs.common import (
    STAGED_SCHEMA,
    StagedWriter,
    commit_stage,
    iter_documents,
    main_wrapper,
    read_documents,
    spark_schema,
    spark_session,
    stage_parser,
)

STAGE = "decontaminate"


def decontam_partition(config: DecontamConfig, index_broadcast):
    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        index: BenchmarkIndex = index_broadcast.value
        scanner = Decontaminator(index, config)
        out = StagedWriter(STAGE)
        for doc in iter_documents(batches):
            outcome = scanner.process(out.take(doc).text)
            for name, count in outcome.matches.items():
                out.counters[f"decontam.{name}.docs"] += 1
                out.counters[f"decontam.{name}.ngrams"] += count
            if outcome.text is None:
                yield from out.reject(doc, outcome.reason)
                continue
            if outcome.cuts:
                out.counters["decontam.docs_cut"] += 1
                out.counters["decontam.cuts"] += outcome.cuts
                out.counters["decontam.chars_removed"] += outcome.chars_removed
                doc.annotations["decontam.ngrams"] = float(sum(outcome.matches.values()))
                doc.annotations["decontam.chars_removed"] = float(outcome.chars_removed)
                doc.text = outcome.text
            yield from out.keep(doc)
        yield from out.finish()

    return run


def run(argv: list[str] | None = None) -> dict:
    parser = stage_parser("decontaminate", __doc__.split("\n\n")[0])
    parser.add_argument("--benchmarks-root", default=None, help="directory the benchmark paths are relative to (overrides the config's root)")
    args = parser.parse_args(argv)
    config = load_config(DecontamConfig, args.config)
    if args.benchmarks_root:
        config.root = str(Path(args.benchmarks_root).resolve())
    started = time.time()
    index = build_index(config)  # before Spark starts: a bad benchmark file fails fast
    spark = spark_session(f"teleflm-{STAGE}", args.master)
    inputs, docs = read_documents(spark, args)
    index_broadcast = spark.sparkContext.broadcast(index)
    staged = docs.mapInArrow(decontam_partition(config, index_broadcast), spark_schema(STAGED_SCHEMA))
    try:
        return commit_stage(
            spark,
            staged,
            stage=STAGE,
            output=args.output,
            inputs=inputs,
            config=config.model_dump(),
            started=started,
            extra={"benchmark_index": index.report},
        )
    finally:
        index_broadcast.destroy()


main = main_wrapper(run)

if __name__ == "__main__":
    raise SystemExit(main())
