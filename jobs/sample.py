"""Stage: a bounded, uniform sample of stage outputs (``datapipe.sample``), drawn by Spark, for the
programs that then read it in one process (``tokenizer.train``, ``jobs.quality_model``).

    spark-submit jobs/sample.py --input out/decontaminated --output out/tokenizer_sample --config configs/sample_tokenizer.yaml

Two passes, nothing but one row per group reaching the driver:
1. sizes: bytes and documents per group, held out or not (copies left out), an aggregation;
2. the draw: each task keeps its documents whose draw is below their group's rate; the sample, which is
   bounded by the config, is sorted back into input order (input, file, row) and written.

``OUT/part-*.parquet`` (the document schema), ``_sample.json`` (config, per group the population,
rate and what was kept), ``_stats.json``, ``_funnel.md``, ``_SUCCESS``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pyarrow as pa

from datapipe import io
from datapipe.document import DOCUMENT_SCHEMA
from datapipe.heldout import is_heldout, sample_draw
from datapipe.mixture import COPY_ANNOTATION
from datapipe.sample import SAMPLE_FILE, SampleConfig, group_of, group_rates
from jobs.runner import Job, StageError, StageJob, finish_output, progress, spark_schema, stage_stats

SIZE_SCHEMA = pa.schema([pa.field("grp", pa.string()), pa.field("heldout", pa.bool_()), pa.field("bytes", pa.int64())])
ORDER = ("_input", "_file", "_row")


def size_partition(config: SampleConfig):
    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            ids, domains, langs = (batch.column(c).to_pylist() for c in ("id", "domain", "lang"))
            yield pa.RecordBatch.from_arrays(
                [pa.array([group_of(d, lang, config.group_by) for d, lang in zip(domains, langs)], pa.string()),
                 pa.array([is_heldout(i, config.heldout_fraction, config.heldout_seed) for i in ids], pa.bool_()),
                 batch.column("bytes")],
                schema=SIZE_SCHEMA,
            )

    return run


def draw_partition(config: SampleConfig, rates: dict[str, float]):
    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            ids, domains, langs = (batch.column(c).to_pylist() for c in ("id", "domain", "lang"))
            keep = [sample_draw(i, config.seed) < rates.get(group_of(d, lang, config.group_by), 0.0)
                    for i, d, lang in zip(ids, domains, langs)]
            yield batch.filter(pa.array(keep, pa.bool_()))

    return run


def write_sample(job: Job) -> dict:
    from pyspark.sql import functions as F

    config: SampleConfig = job.prepared
    copy = F.coalesce(F.col("annotations").getItem(COPY_ANNOTATION), F.lit(0.0))
    path = F.col("_metadata.file_path")
    position = F.lit(len(job.inputs))
    for i, root in reversed(list(enumerate(job.inputs))):
        position = F.when(path.startswith(io.resolve(root) + "/"), F.lit(i)).otherwise(position)
    docs = job.docs.select("*", position.alias("_input"), path.alias("_file"), F.col("_metadata.row_index").alias("_row")).where(copy == 0)
    with progress(job.spark, job.name):
        sized = (docs.select("id", "domain", "lang", F.octet_length("text").cast("long").alias("bytes"))
                 .mapInArrow(size_partition(config), spark_schema(SIZE_SCHEMA))
                 .groupBy("grp", "heldout").agg(F.count(F.lit(1)).alias("docs"), F.sum("bytes").alias("bytes")).collect())
    if not sized:
        raise StageError(f"no documents in the input ({', '.join(job.inputs)})")
    groups: dict[str, dict] = {}
    for r in sized:
        g = groups.setdefault(r["grp"], {"docs": 0, "bytes": 0, "heldout_docs": 0, "heldout_bytes": 0})
        prefix = "heldout_" if r["heldout"] else ""
        g[prefix + "docs"] += r["docs"]
        g[prefix + "bytes"] += r["bytes"] or 0
    rates = group_rates({g: v["bytes"] for g, v in groups.items()}, config.max_bytes_per_group)
    tmp = io.temporary_sibling(job.output)
    try:
        with progress(job.spark, job.name):
            drawn = docs.mapInArrow(draw_partition(config, rates), docs.schema).orderBy(*ORDER).drop(*ORDER)
            drawn.select(*DOCUMENT_SCHEMA.names).write.parquet(tmp)
        written = {(r["domain"], r["lang"]): (r["docs"], r["bytes"]) for r in job.spark.read.parquet(tmp).groupBy("domain", "lang").agg(
            F.count(F.lit(1)).alias("docs"), F.sum(F.octet_length("text")).alias("bytes")).collect()}
        sampled: dict[str, list[int]] = {}
        for (domain, lang), (n, b) in written.items():
            totals = sampled.setdefault(group_of(domain, lang, config.group_by), [0, 0])
            totals[0] += n
            totals[1] += b or 0
        for g, v in groups.items():
            v["rate"] = rates[g]
            v["sampled_docs"], v["sampled_bytes"] = sampled.get(g, (0, 0))
        record = {"config": config.model_dump(), "inputs": job.inputs, "groups": dict(sorted(groups.items()))}
        counters = {"docs_in": sum(v["docs"] + v["heldout_docs"] for v in groups.values()),
                    "bytes_in": sum(v["bytes"] + v["heldout_bytes"] for v in groups.values()),
                    "docs_out": sum(v["sampled_docs"] for v in groups.values()),
                    "bytes_out": sum(v["sampled_bytes"] for v in groups.values())}
        counters["drop.sample:not_drawn"] = counters["docs_in"] - counters["docs_out"]
        stats = stage_stats(job, counters, {"sample": record})
        funnel = finish_output(tmp, job.output, stats, {SAMPLE_FILE: json.dumps(record, indent=2, ensure_ascii=False) + "\n"})
    finally:
        io.discard(tmp, job.output)
    print(funnel)
    return stats


def for_tokenizer(args, config: SampleConfig) -> SampleConfig:
    """With ``--tokenizer-config``: the draw the tokenizer needs (its seed and held-out rule, groups by
    domain), so that it takes from the sample what it would take from the whole input."""
    if not args.tokenizer_config:
        return config
    from datapipe.config import load_config
    from tokenizer.config import TokenizerConfig

    tok = load_config(TokenizerConfig, args.tokenizer_config)
    if config.max_bytes_per_group < tok.sample_bytes:
        raise StageError(f"max_bytes_per_group {config.max_bytes_per_group:,} is below the tokenizer's sample_bytes "
                         f"{tok.sample_bytes:,} ({args.tokenizer_config})")
    config = config.model_copy(update={"group_by": "domain", "seed": tok.seed, "heldout_fraction": tok.heldout_fraction,
                                       "heldout_seed": tok.heldout_seed})
    return config


def arguments(parser) -> None:
    parser.add_argument("--tokenizer-config", default=None,
                        help="draw for this tokenizer config: its seed and held-out rule, groups by domain (the chain's tokenizer sample)")


job = StageJob("sample", __doc__, SampleConfig, write_sample, config_required=True, arguments=arguments, prepare=for_tokenizer)
run, main = job.run, job.main

if __name__ == "__main__":
    raise SystemExit(main())
