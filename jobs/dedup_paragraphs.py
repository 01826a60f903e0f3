"""Stage 3: paragraph-level exact dedup across the whole corpus.

    spark-submit jobs/dedup_paragraphs.py --input out/cleaned --output out/dedup_paragraphs

Plan (all shuffles, nothing collected on the driver):
1. every paragraph becomes a row (doc id, sort key, index, 128-bit hash of its normalised text);
2. a window over each hash, ordered by (crawl date, id, index), marks every occurrence but the first;
3. the marked indices are grouped per document and joined back to the documents, which drop those
   paragraphs; documents left shorter than ``min_doc_chars`` go to the rejects.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pyarrow as pa
from pyspark.sql import Window
from pyspark.sql import functions as F

from datapipe.config import load_config
from datapipe.paragraphs import ParagraphDedupConfig, paragraph_hashes, remove_paragraphs, split_paragraphs
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

STAGE = "dedup_paragraphs"
PARAGRAPH_SCHEMA = pa.schema(
    [pa.field("id", pa.string()), pa.field("crawl_date", pa.string()), pa.field("idx", pa.int32()), pa.field("h", pa.binary())]
)


def hash_partition(min_chars: int):
    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            ids, dates, idxs, hashes = [], [], [], []
            for row in batch.to_pylist():
                for idx, h in paragraph_hashes(row["text"], min_chars):
                    ids.append(row["id"])
                    dates.append(row["crawl_date"])
                    idxs.append(idx)
                    hashes.append(h)
            yield pa.RecordBatch.from_arrays(
                [pa.array(ids, pa.string()), pa.array(dates, pa.string()), pa.array(idxs, pa.int32()), pa.array(hashes, pa.binary())],
                schema=PARAGRAPH_SCHEMA,
            )

    return run


def apply_partition(config: ParagraphDedupConfig):
    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        out = StagedWriter(STAGE)
        for batch in batches:
            drop_lists = batch.column("drop_idx").to_pylist()
            docs = iter_documents(iter([batch.drop_columns(["drop_idx"])]))
            for doc, drop in zip(docs, drop_lists):
                out.take(doc)
                out.counters["paragraphs_in"] += len(split_paragraphs(doc.text))
                if drop:
                    out.counters["docs_with_removals"] += 1
                    out.counters["paragraphs_removed"] += len(drop)
                    doc.annotations["para_dedup.removed"] = float(len(drop))
                    text = remove_paragraphs(doc.text, set(drop))
                    if len(text) < config.min_doc_chars:
                        yield from out.reject(doc, "too_short_after_dedup")
                        continue
                    doc.text = text
                yield from out.keep(doc)
        yield from out.finish()

    return run


def run(argv: list[str] | None = None) -> dict:
    args = stage_parser("dedup_paragraphs", __doc__.split("\n\n")[0]).parse_args(argv)
    config = load_config(ParagraphDedupConfig, args.config)
    started = time.time()
    spark = spark_session(f"teleflm-{STAGE}", args.master)
    inputs, docs = read_documents(spark, args)

    paragraphs = docs.select("id", "crawl_date", "text").mapInArrow(hash_partition(config.min_paragraph_chars), spark_schema(PARAGRAPH_SCHEMA))
    order = [F.col("id"), F.col("idx")]
    if config.order == "crawl_date":
        order = [F.col("crawl_date").asc_nulls_last()] + order
    first_wins = Window.partitionBy("h").orderBy(*order)
    duplicates = (
        paragraphs.withColumn("rank", F.row_number().over(first_wins))
        .where(F.col("rank") > 1)
        .groupBy("id")
        .agg(F.collect_list("idx").alias("drop_idx"))
    )
    joined = docs.join(duplicates, on="id", how="left").select(*docs.columns, "drop_idx")
    staged = joined.mapInArrow(apply_partition(config), spark_schema(STAGED_SCHEMA))
    return commit_stage(spark, staged, stage=STAGE, output=args.output, inputs=inputs, config=config.model_dump(), started=started)


main = main_wrapper(run)

if __name__ == "__main__":
    raise SystemExit(main())
