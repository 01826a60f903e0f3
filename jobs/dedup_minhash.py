"""MinHash LSH near-duplicate removal across the whole corpus (web text and other domains).

    spark-submit jobs/dedup_minhash.py --input out/quality out/domains --output out/dedup_minhash \\
        [--config configs/dedup_minhash.yaml]

Plan (all shuffles of small rows; signatures and the graph stay on the executors, the text where it lies):
1. signatures: one pass over the documents computes each one's MinHash signature and band keys
   (``datapipe.minhash``) and writes them, with the input file and per-partition counters, under
   ``OUT._tmp-*-minhash``;
2. candidates: documents sharing a band key form a bucket; each bucket gives edges from its smallest
   node to every other member (linear in the bucket, not quadratic);
3. verification (``verify``, on by default): an edge survives when the two signatures agree in at
   least ``verify_min_matches`` positions, which cuts the false positives of banding;
4. connected components: a graph of at most ``driver_components_max_edges`` verified edges is collected
   and solved on the driver (``datapipe.minhash.component_minima``); a larger one with the large-star /
   small-star iteration of Kiveris et al. 2014 ("Connected Components in MapReduce and Beyond"), until
   a round changes no edge;
5. every clustered document's survivor and cluster size are written by input file
   (``jobs.runner.Decisions``); a map over the documents where they lie attaches them and applies the
   clusters (``datapipe.minhash.ClusterStage``): the cluster's smallest node survives, the others go to
   ``_rejects`` as ``minhash:duplicate`` with the survivor's id as ``reject_detail``.

No task's work grows with the largest bucket, cluster or hub node: every per-key minimum and count
is an aggregation, combined map-side, and is brought back to the rows with ``jobs.skew.join_per_key``,
which splits a heavy key into pieces; a window partitioned by a bucket or a node would put all its rows
in one task.

A node is ``(rank, id)`` with ``rank`` the negated quality score (``annotations["quality.score"]``;
a document without one ranks as 1.0, above scored web text): node order is survivor preference,
so each component's minimum, where the iteration leaves every member pointing, is the survivor:
highest quality, then smallest id. Survivors and duplicates carry ``minhash.cluster_size`` and
``minhash.cluster`` (53 bits of the survivor id's hash: equal on a duplicate and its survivor).
Documents are told apart by ``id`` (unique by construction: URL and payload digest); input rows
sharing an id and a rank are one node and share its fate.

The edge set is persisted every round and checkpointed to the output's file system every
``checkpoint_interval`` rounds. Reliable checkpoints (``setCheckpointDir`` under the scratch directory)
rather than ``localCheckpoint``: a local checkpoint lives in the executors' block managers and dies
with an executor, which on a preemptible cluster fails the job; a reliable one only costs writing the
(small) edge set. Either one cuts the lineage, which otherwise grows with every round.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from datapipe import io
from datapipe.minhash import (
    QUALITY_KEY,
    ClusterStage,
    MinHashConfig,
    MinHasher,
    band_keys,
    component_minima,
    detection_curve,
    optimal_bands,
    survivor_rank,
    verify_min_matches,
)
from jobs.runner import FILE_KEY, FILE_ROW, Decisions, Job, Plan, StageError, StageJob, documents, spark_schema
from jobs.skew import join_per_key, with_group_min

SIGNATURE_SCHEMA = pa.schema(
    [
        pa.field(FILE_KEY, pa.int64()),
        pa.field(FILE_ROW, pa.int64()),
        pa.field("id", pa.string()),
        pa.field("rank", pa.float64()),
        pa.field("sig", pa.list_(pa.int32())),
        pa.field("bands", pa.list_(pa.int64())),
        pa.field("stats_json", pa.string()),
    ]
)
"""Signature pass output: one row per document with tokens, one counters row per partition."""

log = logging.getLogger("jobs.dedup_minhash")


# --- 1. signatures -------------------------------------------------------------------------------


def _list_column(values, dtype: pa.DataType) -> pa.Array:
    """A 2-D numpy array as an Arrow list column (one list per row)."""
    rows, width = values.shape
    offsets = pa.array(np.arange(0, rows * width + 1, width, dtype=np.int32))
    return pa.ListArray.from_arrays(offsets, pa.array(values.reshape(-1), dtype))


def signature_partition(config: MinHashConfig, bands: int, rows: int):
    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        hasher = MinHasher(config)
        counters: Counter = Counter()
        for batch in batches:
            texts, langs = batch.column("text").to_pylist(), batch.column("lang").to_pylist()
            sigs, has_sig, short = hasher.signatures(texts, langs)
            by_chars = [hasher.by_chars(t, lang) for t, lang in zip(texts, langs)]
            counters["docs_char_shingles"] += sum(by_chars)
            counters["docs_short"] += int(short.sum())
            counters["docs_no_tokens"] += int((~has_sig).sum())
            if not has_sig.any():
                continue
            keep = pa.array(has_sig)
            quality = pc.map_lookup(batch.column("annotations"), QUALITY_KEY, "first").filter(keep).to_pylist()
            yield pa.RecordBatch.from_arrays(
                [
                    batch.column(FILE_KEY).filter(keep),
                    batch.column(FILE_ROW).filter(keep),
                    batch.column("id").filter(keep),
                    pa.array([survivor_rank(q) for q in quality], pa.float64()),
                    _list_column(sigs[has_sig].view("int32"), pa.int32()),
                    _list_column(band_keys(sigs[has_sig], bands, rows), pa.int64()),
                    pa.nulls(int(has_sig.sum()), pa.string()),
                ],
                schema=SIGNATURE_SCHEMA,
            )
        yield pa.RecordBatch.from_pylist([{"stats_json": json.dumps(dict(counters))}], schema=SIGNATURE_SCHEMA)

    return run


# --- 2.-3. candidate edges -----------------------------------------------------------------------


def candidate_edges(sigs: DataFrame, cache: list[DataFrame] | None = None) -> DataFrame:
    """``(a, b)`` with ``b`` the smallest node of a bucket and ``a`` another member, deduplicated."""
    buckets = sigs.select("node", F.posexplode("bands").alias("band", "key"))
    return (
        with_group_min(buckets, ["band", "key"], "node", "b", shared_only=True, cache=cache)
        .where(F.col("node") != F.col("b"))
        .select(F.col("node").alias("a"), "b")
        .distinct()
    )


def with_matches(edges: DataFrame, sigs: DataFrame, cache: list[DataFrame] | None = None) -> DataFrame:
    """``edges`` plus ``matches``: how many signature positions the two documents share. A node has
    at most one edge per band as ``a``, but may be the ``b`` of a whole cluster: that side is split."""
    sig_a = sigs.select(F.col("node").alias("a"), F.col("sig").alias("sig_a"))
    sig_b = sigs.select(F.col("node").alias("b"), F.col("sig").alias("sig_b"))
    per_b = edges.groupBy("b").agg(F.count(F.lit(1)).alias("edges")).join(sig_b, "b")
    equal = F.zip_with("sig_a", "sig_b", lambda x, y: (x == y).cast("int"))
    return join_per_key(edges.join(sig_a, "a"), per_b, ["b"], "edges", cache=cache).select(
        "a", "b", F.aggregate(equal, F.lit(0), lambda acc, x: acc + x).alias("matches")
    )


# --- 4. connected components ---------------------------------------------------------------------


def _large_star(edges: DataFrame) -> DataFrame:
    """Every node links its larger neighbours to the smallest node of its closed neighbourhood."""
    both = F.array(
        F.struct(F.col("a").alias("u"), F.col("b").alias("v")),
        F.struct(F.col("b").alias("u"), F.col("a").alias("v")),
    )
    sym = edges.select(F.explode(both).alias("e")).select("e.u", "e.v")
    smallest = F.least(F.col("u"), F.col("min_v"))
    return (
        with_group_min(sym, ["u"], "v", "min_v")
        .where(F.col("v") > F.col("u"))
        .select(F.col("v").alias("a"), smallest.alias("b"), (smallest != F.col("u")).alias("changed"))
    )


def _small_star(edges: DataFrame) -> DataFrame:
    """Every node and its smaller neighbours link to the smallest of them; duplicates merged."""
    x = with_group_min(edges, ["a"], "b", "m")
    changed = F.col("changed") | (F.col("b") != F.col("m"))
    both = F.array(
        F.struct(F.col("a").alias("a"), F.col("m").alias("b"), changed.alias("changed")),
        F.struct(F.col("b").alias("a"), F.col("m").alias("b"), changed.alias("changed")),
    )
    return (
        x.select(F.explode(both).alias("e"))
        .select("e.*")
        .where(F.col("a") != F.col("b"))
        .groupBy("a", "b")
        .agg(F.max("changed").alias("changed"))
    )


def connected_components(edges: DataFrame, checkpoint_interval: int, max_iterations: int) -> tuple[DataFrame, int]:
    """Stars ``(a, b)``: every node of a component but its smallest, ``a``, with that smallest
    node, ``b`` (persisted or checkpointed: the caller unpersists it); and the number of rounds. ``edges`` holds ``(a, b)`` with ``a > b``. A round is a
    large-star then a small-star step; the iteration stops after a round that changed nothing,
    which leaves every component a star around its minimum. Needs a checkpoint directory."""
    current = edges.select("a", "b").persist(StorageLevel.MEMORY_AND_DISK)
    for rounds in range(1, max_iterations + 1):
        # the per-node minima are not cached: unpersisting them would drop nxt's cache with them
        nxt = _small_star(_large_star(current)).persist(StorageLevel.MEMORY_AND_DISK)
        row = nxt.agg(F.count(F.lit(1)).alias("edges"), F.sum(F.col("changed").cast("long")).alias("changed")).first()
        changed = row["changed"] or 0
        log.info("connected components: round %d, %d edges, %d changed", rounds, row["edges"], changed)
        if rounds % checkpoint_interval == 0:
            checkpointed = nxt.checkpoint(eager=True)
            nxt.unpersist()
            nxt = checkpointed
        current.unpersist()
        current = nxt
        if not changed:
            return current, rounds
    current.unpersist()
    raise StageError(f"connected components did not converge in {max_iterations} rounds (max_iterations)")


# --- 5. survivors and duplicates -----------------------------------------------------------------


MEMBERS_SCHEMA = "node struct<rank: double, id: string>, survivor_id string, cluster_size long"
"""One row per document in a cluster: its node, the cluster's survivor and the cluster's size."""


def membership_on_driver(edges: DataFrame) -> tuple[pa.Table, Counter]:
    """What ``connected_components`` then ``membership`` give (``MEMBERS_SCHEMA``), computed on the
    driver from the collected edges, and the cluster-size histogram. Nodes are numbered in node order
    (Arrow sorts strings by their bytes, as Spark does), so a component's smallest number is its survivor."""
    ends = edges.select(F.col("a.rank").alias("a_rank"), F.col("a.id").alias("a_id"),
                        F.col("b.rank").alias("b_rank"), F.col("b.id").alias("b_id")).toArrow()
    count = len(ends)
    ends = pa.concat_tables(
        [ends.select([f"{side}_rank", f"{side}_id"]).rename_columns(["rank", "id"]) for side in ("a", "b")]
    ).append_column("end", pa.array(np.arange(2 * count)))
    nodes = ends.group_by(["rank", "id"]).aggregate([]).sort_by([("rank", "ascending"), ("id", "ascending")]).combine_chunks()
    nodes = nodes.append_column("index", pa.array(np.arange(len(nodes))))
    index = ends.join(nodes, ["rank", "id"]).sort_by("end").column("index").to_numpy()
    minima = component_minima(index[:count], index[count:], len(nodes))
    sizes = np.bincount(minima, minlength=len(nodes))
    members = pa.table(
        {
            "node": pa.StructArray.from_arrays([nodes.column("rank").chunk(0), nodes.column("id").chunk(0)], ["rank", "id"]),
            "survivor_id": nodes.column("id").take(pa.array(minima)),
            "cluster_size": pa.array(sizes[minima]),
        }
    )
    roots = minima == np.arange(len(nodes))
    return members, Counter(sizes[roots].tolist())


def membership(stars: DataFrame, cache: list[DataFrame] | None = None) -> DataFrame:
    """``(node, survivor_id, cluster_size)`` for every document in a cluster."""
    sizes = stars.groupBy("b").agg((F.count(F.lit(1)) + 1).alias("cluster_size"))
    members = stars.select(F.col("a").alias("node"), "b").unionByName(sizes.select(F.col("b").alias("node"), "b"))
    return join_per_key(members, sizes, ["b"], "cluster_size", cache=cache).select("node", F.col("b.id").alias("survivor_id"), "cluster_size")


# --- the stage -----------------------------------------------------------------------------------


def log_banding(config: MinHashConfig, bands: int, rows: int, min_matches: int, curve: dict) -> None:
    log.info("threshold %.2f, %d permutations: %d bands x %d rows", config.threshold, config.num_perm, bands, rows)
    log.info("P(candidate | J): %s", ", ".join(f"{j}: {p:.3f}" for j, p in curve.items()))
    if config.verify:
        log.info("verification: >= %d of %d signature positions equal (estimated J >= %.3f)", min_matches, config.num_perm,
                 min_matches / config.num_perm)


@contextmanager
def plan(job: Job) -> Iterator[Plan]:
    """Signatures, candidates, verification, components and decisions under a scratch directory beside
    the output (removed at the end); yields the documents with the decisions about them."""
    config: MinHashConfig = job.config
    bands, rows = optimal_bands(config.threshold, config.num_perm, config.false_positive_weight, config.false_negative_weight)
    min_matches = verify_min_matches(config.threshold, config.num_perm, config.verify_miss_rate)
    curve = detection_curve(bands, rows)
    log_banding(config, bands, rows, min_matches, curve)
    spark, docs = job.spark, job.docs
    scratch = f"{io.temporary_sibling(job.output)}-minhash"
    spark.sparkContext.setCheckpointDir(io.join(scratch, "checkpoints"))
    cached: list[DataFrame] = []
    try:
        docs.select(FILE_KEY, FILE_ROW, "id", "lang", "text", "annotations").mapInArrow(
            signature_partition(config, bands, rows), spark_schema(SIGNATURE_SCHEMA)
        ).write.parquet(io.join(scratch, "signatures"))
        written = spark.read.parquet(io.join(scratch, "signatures"))
        shingling: Counter = Counter()
        for row in written.where(F.col("stats_json").isNotNull()).select("stats_json").collect():
            shingling.update(json.loads(row.stats_json))
        sigs = written.where(F.col("stats_json").isNull()).select(F.struct("rank", "id").alias("node"), "sig", "bands", FILE_KEY, FILE_ROW)

        candidates = candidate_edges(sigs, cached).persist(StorageLevel.MEMORY_AND_DISK)
        cached.append(candidates)
        if config.verify:
            edges = with_matches(candidates, sigs, cached).withColumn("verified", F.col("matches") >= min_matches)
        else:
            edges = candidates.withColumn("verified", F.lit(True))
        edges = edges.persist(StorageLevel.MEMORY_AND_DISK)
        cached.append(edges)
        counts = edges.agg(F.count(F.lit(1)).alias("candidates"), F.sum(F.col("verified").cast("long")).alias("verified")).first()
        verified = edges.where("verified").select("a", "b")
        rounds = None
        if (counts["verified"] or 0) <= config.driver_components_max_edges:
            local, histogram = membership_on_driver(verified)
            members = spark.createDataFrame(local, MEMBERS_SCHEMA)
        else:
            stars, rounds = connected_components(verified, config.checkpoint_interval, config.max_iterations)
            cached.append(stars)
            members = membership(stars, cached).persist(StorageLevel.MEMORY_AND_DISK)
            cached.append(members)
            histogram = Counter({
                int(r["cluster_size"]): int(r["clusters"])
                for r in members.where(F.col("node.id") == F.col("survivor_id")).groupBy("cluster_size").agg(F.count(F.lit(1)).alias("clusters")).collect()
            })
        report = {
            "num_perm": config.num_perm,
            "bands": bands,
            "rows": rows,
            "detection_curve": curve,
            "verify_min_matches": min_matches if config.verify else None,
            "shingling": dict(sorted(shingling.items())),
            "candidate_pairs": int(counts["candidates"]),
            "verified_pairs": int(counts["verified"] or 0),
            "components_on": "spark" if rounds else "driver",
            "cc_rounds": rounds,
            "clusters": sum(histogram.values()),
            "docs_in_clusters": sum(size * n for size, n in histogram.items()),
            "duplicates_removed": sum((size - 1) * n for size, n in histogram.items()),
            "cluster_size_histogram": {str(size): histogram[size] for size in sorted(histogram)},
        }
        decisions = Decisions(io.join(scratch, "decisions"), ClusterStage.columns)
        decisions.write(sigs.select("node", FILE_KEY, FILE_ROW).join(members, "node").select(FILE_KEY, FILE_ROW, *ClusterStage.columns))
        yield Plan(ClusterStage(), docs, extra={"minhash": report}, decisions=decisions)
    finally:
        for df in reversed(cached):  # dependents first: unpersisting a cached input re-plans what uses it
            df.unpersist()
        io.delete(scratch)
    print(render_report(report))


def render_report(report: dict) -> str:
    curve = ", ".join(f"{j}: {p:.3f}" for j, p in report["detection_curve"].items())
    hist = ", ".join(f"{size}: {n}" for size, n in report["cluster_size_histogram"].items()) or "none"
    where = f"in {report['cc_rounds']} rounds on Spark" if report["cc_rounds"] else "on the driver"
    return "\n".join(
        [
            f"MinHash: {report['num_perm']} permutations, {report['bands']} bands x {report['rows']} rows",
            f"P(candidate | J): {curve}",
            f"candidate pairs {report['candidate_pairs']:,}, verified {report['verified_pairs']:,}, "
            f"connected components {where}",
            f"clusters {report['clusters']:,} ({report['docs_in_clusters']:,} documents), "
            f"duplicates removed {report['duplicates_removed']:,}",
            f"cluster sizes (size: clusters): {hist}",
        ]
    )


job = StageJob("dedup_minhash", __doc__, MinHashConfig, documents(plan), file_keys=True)
run, main = job.run, job.main

if __name__ == "__main__":
    raise SystemExit(main())
