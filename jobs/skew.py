"""Joins and group minima whose tasks do not grow with the largest key.

A web corpus is skewed by nature: one boilerplate paragraph is on millions of pages, one near-duplicate
cluster or one LSH bucket holds a hundred thousand documents, one node of the duplicate graph has that
many neighbours. A window or a join partitioned by such a key puts all its rows in one task, which then
runs for hours while the others idle (and may not fit in its memory). Here:

- a per-key value (a minimum, a count) is an aggregation, which Spark combines map-side: each task
  sends one partial row per key, whatever the key's size;
- bringing the per-key value back to the rows (``join_per_key``) splits every *heavy* key, one with
  more rows than a share of a shuffle partition, into pieces: its rows get a salt from a hash of
  their columns (deterministic, so a retried task salts alike), its one row on the per-key side is
  repeated once per piece. The heavy keys are few by construction (at most a few per shuffle
  partition) and go to the executors as a broadcast table.
"""

from __future__ import annotations

from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import IntegerType

PIECES_PER_PARTITION = 4
"""A heavy key is cut into pieces of at most 1/``PIECES_PER_PARTITION`` of an average shuffle partition."""
MIN_PIECE_ROWS = 10_000
"""Below this many rows a key is never split: a task that small is no straggler."""

_SALT, _PIECES = "_skew_salt", "_skew_pieces"


def piece_rows(total_rows: int, partitions: int) -> int:
    """Rows per piece of a heavy key, for ``total_rows`` joined over ``partitions`` shuffle partitions."""
    return max(MIN_PIECE_ROWS, -(-total_rows // (PIECES_PER_PARTITION * max(1, partitions))))


def join_per_key(rows: DataFrame, per_key: DataFrame, key: list[str], sizes: str, how: str = "inner",
                 cache: list[DataFrame] | None = None) -> DataFrame:
    """``rows`` joined with ``per_key`` (one row per key, ``sizes``: how many of ``rows`` have that key)
    on ``key``, heavy keys split into pieces (see the module). ``per_key`` is used twice (its summary, the
    join): with ``cache`` it is persisted once and appended there, for the caller to unpersist once the
    result is materialised. ``how``: ``inner`` or ``left`` (rows kept)."""
    if cache is not None:
        per_key = per_key.persist(StorageLevel.MEMORY_AND_DISK)
        cache.append(per_key)
    spark = rows.sparkSession
    big = F.when(F.col(sizes) > MIN_PIECE_ROWS, F.struct(*[F.col(k) for k in key], F.col(sizes).alias(_PIECES)))
    summary = per_key.agg(F.sum(sizes).alias("total"), F.collect_list(big).alias("big")).first()
    limit = piece_rows(int(summary["total"] or 0), int(spark.conf.get("spark.sql.shuffle.partitions")))
    heavy_rows = [(*r[:-1], -(-r[-1] // limit)) for r in summary["big"] if r[-1] > limit]
    if not heavy_rows:
        return rows.join(per_key, key, how)
    heavy = F.broadcast(spark.createDataFrame(heavy_rows, per_key.select(*key).schema.add(_PIECES, IntegerType(), False)))
    salted_rows = rows.join(heavy, key, "left").withColumn(
        _SALT, F.when(F.col(_PIECES).isNull(), F.lit(0)).otherwise(F.pmod(F.xxhash64(*rows.columns), F.col(_PIECES))).cast("int")
    )
    salted_per_key = per_key.join(heavy, key, "left").withColumn(
        _SALT, F.explode(F.sequence(F.lit(0), F.coalesce(F.col(_PIECES), F.lit(1)) - 1))
    )
    return salted_rows.drop(_PIECES).join(salted_per_key.drop(_PIECES), [*key, _SALT], how).drop(_SALT)


def with_group_min(rows: DataFrame, key: list[str], value: str, out: str, shared_only: bool = False,
                   cache: list[DataFrame] | None = None) -> DataFrame:
    """``rows`` plus ``out``: the minimum of ``value`` over the rows that share ``key`` (what a window
    ``min(value) over (partition by key)`` gives, without a task per key). ``shared_only``: only the rows
    of keys that more than one row has (a singleton's minimum is its own value). ``cache``: as for
    ``join_per_key``."""
    per_key = rows.groupBy(*key).agg(F.min(value).alias(out), F.count(F.lit(1)).alias("_rows"))
    if shared_only:
        per_key = per_key.where(F.col("_rows") > 1)
    return join_per_key(rows, per_key, key, "_rows", cache=cache).drop("_rows")
