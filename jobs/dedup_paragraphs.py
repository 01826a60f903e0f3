"""Paragraph-level exact dedup across the whole corpus.

    spark-submit jobs/dedup_paragraphs.py --input out/cleaned --output out/dedup_paragraphs

Plan (shuffles of small rows only, nothing collected on the driver but the heavy hashes):
1. every paragraph becomes a row (input file, doc id, sort key, index, 128-bit hash of its normalised
   text), written to scratch space beside the output;
2. per hash, its first occurrence in the order (crawl date, id, input file and row, index) and its count: an aggregation,
   combined map-side, so a paragraph on millions of pages costs no single task more than any other;
3. the occurrences of hashes seen more than once meet their hash's first occurrence
   (``jobs.skew.join_per_key``: a hash on more pages than a share of a partition is split into pieces);
   every occurrence but the first is a removal, grouped per document into ``drop_idx`` and written by
   input file (``jobs.runner.Decisions``);
4. a map over the documents where they lie attaches each one's removals, and
   ``datapipe.paragraphs.ParagraphDedupStage`` drops those paragraphs; documents left shorter than
   ``min_doc_chars`` go to the rejects. The text is read twice and never shuffled.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pyarrow as pa

from datapipe import io
from datapipe.paragraphs import ParagraphDedupConfig, ParagraphDedupStage, paragraph_hashes
from jobs.runner import FILE_KEY, FILE_ROW, Decisions, Job, Plan, StageJob, documents, spark_schema
from jobs.skew import join_per_key

PARAGRAPH_SCHEMA = pa.schema(
    [pa.field(FILE_KEY, pa.int64()), pa.field(FILE_ROW, pa.int64()), pa.field("id", pa.string()), pa.field("crawl_date", pa.string()), pa.field("idx", pa.int32()),
     pa.field("h", pa.binary())]
)


def hash_partition(min_chars: int):
    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            keys, rows, ids, dates, idxs, hashes = [], [], [], [], [], []
            for row in batch.to_pylist():
                for idx, h in paragraph_hashes(row["text"], min_chars):
                    keys.append(row[FILE_KEY])
                    rows.append(row[FILE_ROW])
                    ids.append(row["id"])
                    dates.append(row["crawl_date"])
                    idxs.append(idx)
                    hashes.append(h)
            yield pa.RecordBatch.from_arrays(
                [pa.array(keys, pa.int64()), pa.array(rows, pa.int64()), pa.array(ids, pa.string()), pa.array(dates, pa.string()),
                 pa.array(idxs, pa.int32()), pa.array(hashes, pa.binary())],
                schema=PARAGRAPH_SCHEMA,
            )

    return run


@contextmanager
def plan(job: Job) -> Iterator[Plan]:
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    config: ParagraphDedupConfig = job.config
    spark, docs = job.spark, job.docs
    scratch = f"{io.temporary_sibling(job.output)}-paragraphs"
    firsts = None
    try:
        docs.select(FILE_KEY, FILE_ROW, "id", "crawl_date", "text").mapInArrow(
            hash_partition(config.min_paragraph_chars), spark_schema(PARAGRAPH_SCHEMA)
        ).write.parquet(io.join(scratch, "paragraphs"))
        # copies of one record (one id) read twice are told apart by where they lie
        location = [F.col(FILE_KEY), F.col(FILE_ROW), F.col("idx")]
        order = [F.col("id"), *location]
        if config.order == "crawl_date":  # earliest crawl first, undated last
            order = [F.col("crawl_date").isNull(), F.col("crawl_date")] + order
        paragraphs = spark.read.parquet(io.join(scratch, "paragraphs"))
        # per hash, where its first occurrence lies (the order only travels through the aggregation)
        firsts = (
            paragraphs.groupBy("h").agg(F.min(F.struct(*order)).alias("first"), F.count(F.lit(1)).alias("copies"))
            .where(F.col("copies") > 1)
            .select("h", "copies", F.struct(*[F.col("first")[c].alias(c) for c in (FILE_KEY, FILE_ROW, "idx")]).alias("first"))
            .persist(StorageLevel.MEMORY_AND_DISK)
        )
        occurrences = paragraphs.select("h", F.struct(*location).alias("at"))
        removals = (
            join_per_key(occurrences, firsts, ["h"], "copies")
            .where(F.col("at") != F.col("first"))
            .select(F.col(f"at.{FILE_KEY}").alias(FILE_KEY), F.col(f"at.{FILE_ROW}").alias(FILE_ROW), F.col("at.idx").alias("idx"))
            .repartition(FILE_KEY)  # the grouping and the decisions' files reuse this one shuffle
            .groupBy(FILE_KEY, FILE_ROW)
            .agg(F.sort_array(F.collect_list("idx")).alias("drop_idx"))
        )
        decisions = Decisions(io.join(scratch, "decisions"), ("drop_idx",))
        decisions.write(removals, clustered=True)
        yield Plan(ParagraphDedupStage(config), docs, decisions=decisions)
    finally:
        if firsts is not None:
            firsts.unpersist()
        io.delete(scratch)


job = StageJob("dedup_paragraphs", __doc__, ParagraphDedupConfig, documents(plan), file_keys=True)
run, main = job.run, job.main

if __name__ == "__main__":
    raise SystemExit(main())
