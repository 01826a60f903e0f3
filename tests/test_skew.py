"""Skew-free joins and group minima: the same rows as a plain join or window, a heavy key's rows spread
over many tasks; and the dedup jobs decide alike whether heavy keys are split or not."""

from __future__ import annotations

import random

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyspark.sql import Window
from pyspark.sql import functions as F

from datapipe.document import DOCUMENT_SCHEMA, Document
from jobs import dedup_minhash, dedup_paragraphs, skew
from tests.test_minhash import planted_corpus

pytestmark = pytest.mark.spark


@pytest.fixture
def no_aqe(spark):
    """Fixed shuffle partitions (AQE would merge the small test partitions into one)."""
    spark.conf.set("spark.sql.adaptive.enabled", "false")
    spark.conf.set("spark.sql.shuffle.partitions", "8")
    yield spark
    spark.conf.set("spark.sql.adaptive.enabled", "true")
    spark.conf.set("spark.sql.shuffle.partitions", "4")


def _skewed_rows(spark):
    rng = random.Random(0)
    rows = [("hot", i, rng.random()) for i in range(3000)] + [(f"k{i % 500}", 10_000 + i, rng.random()) for i in range(1000)]
    return spark.createDataFrame(rows, "key string, n long, v double")


def test_join_per_key_splits_a_heavy_key_and_keeps_every_row(no_aqe, monkeypatch):
    spark = no_aqe
    monkeypatch.setattr(skew, "MIN_PIECE_ROWS", 50)
    rows = _skewed_rows(spark)
    per_key = rows.groupBy("key").agg(F.count(F.lit(1)).alias("size"), F.max("v").alias("top"))
    joined = skew.join_per_key(rows, per_key, ["key"], "size")
    plain = rows.join(per_key, "key")
    assert sorted(joined.select("key", "n", "size", "top").collect()) == sorted(plain.select("key", "n", "size", "top").collect())
    per_task = joined.groupBy(F.spark_partition_id().alias("task")).count().collect()
    hot_tasks = joined.where("key = 'hot'").select(F.spark_partition_id()).distinct().count()
    # a plain join puts the 3000 hot rows in one task; split, no task holds more than a fraction of them
    assert hot_tasks >= 6 and max(r["count"] for r in per_task) < 1500
    # a left join keeps the rows without a per-key row
    left = skew.join_per_key(rows, per_key.where("key != 'k1'"), ["key"], "size", how="left")
    assert left.count() == rows.count() and left.where("key = 'k1'").where(F.col("size").isNull()).count() == 2


def test_with_group_min_is_the_window_minimum(no_aqe, monkeypatch):
    spark = no_aqe
    monkeypatch.setattr(skew, "MIN_PIECE_ROWS", 50)
    rows = _skewed_rows(spark)
    want = rows.withColumn("m", F.min("v").over(Window.partitionBy("key")))
    got = skew.with_group_min(rows, ["key"], "v", "m")
    assert sorted(got.collect()) == sorted(want.select(*got.columns).collect())
    shared = skew.with_group_min(rows, ["key"], "v", "m", shared_only=True)
    assert shared.count() == rows.count()  # every key here has at least two rows
    lone = rows.unionByName(spark.createDataFrame([("alone", 1, 0.5)], rows.schema))
    assert skew.with_group_min(lone, ["key"], "v", "m", shared_only=True).where("key = 'alone'").count() == 0


def _write(path, docs: list[Document], files: int = 3) -> None:
    path.mkdir(parents=True)
    rows = [d.to_row() for d in docs]
    for i in range(files):
        pq.write_table(pa.Table.from_pylist(rows[i::files], schema=DOCUMENT_SCHEMA), path / f"part-{i}.parquet")
    (path / "_SUCCESS").write_text("")


def _outcome(path) -> tuple[dict, dict]:
    kept = {r["id"]: (r["text"], sorted(dict(r["annotations"] or []).items())) for f in path.glob("*.parquet") for r in pq.read_table(f).to_pylist()}
    rejects = {r["id"]: (r["reject_reason"], r["reject_detail"]) for f in (path / "_rejects").glob("*.parquet") for r in pq.read_table(f).to_pylist()}
    return kept, rejects


def test_paragraph_dedup_decides_alike_with_heavy_paragraphs_split(spark, tmp_path, monkeypatch):
    rng = random.Random(1)
    words = "river market council school harbour winter garden museum railway village festival bridge".split()
    boiler = "Subscribe to our newsletter for weekly updates from the editors of this site."
    docs = []
    for i in range(600):
        body = [" ".join(rng.choice(words) for _ in range(14)) for _ in range(4)]
        if i % 3:
            body.insert(rng.randrange(5), boiler)
        docs.append(Document(id=f"d{i:04d}", crawl_date=f"2024-01-{1 + i % 28:02d}" if i % 7 else None, text="\n".join(body)))
    _write(tmp_path / "in", docs)
    conf = tmp_path / "conf.yaml"
    conf.write_text("min_doc_chars: 0\n")
    dedup_paragraphs.run(["--input", str(tmp_path / "in"), "--output", str(tmp_path / "whole"), "--config", str(conf)])
    monkeypatch.setattr(skew, "MIN_PIECE_ROWS", 20)
    dedup_paragraphs.run(["--input", str(tmp_path / "in"), "--output", str(tmp_path / "split"), "--config", str(conf)])
    whole, split = _outcome(tmp_path / "whole"), _outcome(tmp_path / "split")
    assert whole == split
    owners = [d for d, (text, _) in whole[0].items() if boiler in text]
    assert len(owners) == 1  # the earliest crawl's copy; 399 others lost it


def test_minhash_decides_alike_with_heavy_buckets_and_hubs_split(spark, tmp_path, monkeypatch):
    corpus = planted_corpus(60, 40)
    _write(tmp_path / "in", corpus.docs)
    dedup_minhash.run(["--input", str(tmp_path / "in"), "--output", str(tmp_path / "whole")])
    monkeypatch.setattr(skew, "MIN_PIECE_ROWS", 2)
    monkeypatch.setattr(skew, "PIECES_PER_PARTITION", 1000)  # every bucket, hub and cluster of 3+ split
    on_spark = tmp_path / "on_spark.yaml"  # the star rounds' hub nodes split too
    on_spark.write_text("driver_components_max_edges: 0\n")
    dedup_minhash.run(["--input", str(tmp_path / "in"), "--output", str(tmp_path / "split"), "--config", str(on_spark)])
    whole, split = _outcome(tmp_path / "whole"), _outcome(tmp_path / "split")
    assert whole == split and whole[1]
