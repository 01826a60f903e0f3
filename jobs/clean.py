"""Stage 2: heuristic cleaning: line-level corrections and document filters (English and CJK rules).

    spark-submit jobs/clean.py --input out/extracted --output out/cleaned [--config configs/clean.yaml]

Kept documents carry the corrected text; every dropped document goes, unchanged and with its
reason, to ``OUT/_rejects``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pyarrow as pa

from datapipe.clean import CleanConfig, Cleaner
from datapipe.config import load_config
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

STAGE = "clean"


def clean_partition(config: CleanConfig):
    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        cleaner = Cleaner(config)
        out = StagedWriter(STAGE)
        for doc in iter_documents(batches):
            result = cleaner.clean(out.take(doc).text, doc.lang)
            out.counters["lines_removed"] += result.lines_removed
            out.counters["chars_removed"] += result.chars_removed
            if result.text is None:
                yield from out.reject(doc, result.reason)
                continue
            doc.text = result.text
            doc.annotations["clean.lines_removed"] = float(result.lines_removed)
            yield from out.keep(doc)
        yield from out.finish()

    return run


def run(argv: list[str] | None = None) -> dict:
    args = stage_parser("clean", __doc__.split("\n\n")[0]).parse_args(argv)
    config = load_config(CleanConfig, args.config)
    started = time.time()
    spark = spark_session(f"teleflm-{STAGE}", args.master)
    inputs, docs = read_documents(spark, args)
    staged = docs.mapInArrow(clean_partition(config), spark_schema(STAGED_SCHEMA))
    return commit_stage(spark, staged, stage=STAGE, output=args.output, inputs=inputs, config=config.model_dump(), started=started)


main = main_wrapper(run)

if __name__ == "__main__":
    raise SystemExit(main())
