"""Paragraph-level exact dedup across the whole corpus.

    spark-submit jobs/dedup_paragraphs.py --input out/cleaned --output out/dedup_paragraphs

Plan (all shuffles, nothing collected on the driver):
1. every paragraph becomes a row (doc id, sort key, index, 128-bit hash of its normalised text);
2. a window over each hash, ordered by (crawl date, id, index), marks every occurrence but the first;
3. the marked indices are grouped per document and joined back to the documents, which drop those
   paragraphs (``datapipe.paragraphs.ParagraphDedupStage``); documents left shorter than
   ``min_doc_chars`` go to the rejects.
"""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa

from datapipe.paragraphs import ParagraphDedupConfig, ParagraphDedupStage, paragraph_hashes
from jobs.runner import Job, Plan, StageJob, documents, spark_schema

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


def plan(job: Job) -> Plan:
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    config: ParagraphDedupConfig = job.config
    docs = job.docs
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
    return Plan(ParagraphDedupStage(config), joined)


job = StageJob("dedup_paragraphs", __doc__, ParagraphDedupConfig, documents(plan))
run, main = job.run, job.main

if __name__ == "__main__":
    raise SystemExit(main())
