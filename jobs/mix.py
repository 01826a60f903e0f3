"""The pre-training mixture: Table 1's shares of tokens and epochs, exact per-domain quotas (``datapipe.mixture``).

    spark-submit jobs/mix.py --input out/decontaminated --tokenizer out/tokenizer --output out/mixture [--config configs/mix.yaml]

No task sees more than its partition; the driver receives a row per domain, language, weight or
histogram bucket, and the documents of one histogram bucket per domain:

1. sizes: documents and bytes per domain (with ``--tokenizer``: for the measuring sample's rates);
2. bytes per token (with ``--tokenizer``): the tokenizer, shipped with ``SparkFiles``, encodes a seeded
   sample of about ``measure_bytes`` of every domain on the executors; without it, the config's estimate;
3. supply: tokens per domain and quality weight (rows of id, domain, tokens, weight, kept for 4 and 5);
   the driver plans the quotas (water-filling, the size rule);
4. the histogram of the extra-copy keys per domain; the driver picks each domain's boundary bucket;
5. the boundary buckets' documents come to the driver, which places each domain's cutoff;
6. every task applies the plan to its documents (``MixStage``): a document is written as many times
   as it is drawn (annotation ``mix.copy`` numbers the copies), or once with its copies recorded
   (``write_copies: false``; the shards stage expands them), or goes to the rejects.

``_manifest.json`` / ``_manifest.md``: per domain the documents, tokens, bytes, bytes per token and how
they were found, target share (Table 1), planned share (after water-filling), realised share, epochs,
cap, whether short, quota and tokens out; warnings, among them every realised share further than
``tolerance`` from its planned share.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from datapipe.mixture import (
    Cutoff,
    MixConfig,
    MixStage,
    MixturePlan,
    PartialCopy,
    TokenRates,
    boundaries,
    boundary_entry,
    domain_supply,
    histogram_entry,
    place_cutoffs,
    plan_mixture,
    share_deviations,
)
from jobs.runner import (
    Job,
    Plan,
    StageError,
    StageJob,
    documents,
    progress,
    spark_schema,
)
from jobs.shards import (
    TokenizerInfo,
    encode_documents,
    ship_tokenizer,
    worker_tokenizer,
)
from tokenizer.vocab import TOKENIZER_FILE

MANIFEST = "_manifest.json"
MANIFEST_MD = "_manifest.md"
ENCODE_BATCH_CHARS = 2_000_000

SUPPLY_SCHEMA = pa.schema([("id", pa.string()), ("domain", pa.string()), ("bytes", pa.int64()),
                           ("tokens", pa.int64()), ("weight", pa.float64())])
MEASURED_SCHEMA = pa.schema([("domain", pa.string()), ("bytes", pa.int64()), ("tokens", pa.int64())])
HISTOGRAM_SCHEMA = pa.schema([("domain", pa.string()), ("bucket", pa.int32()), ("whole_tokens", pa.int64()),
                              ("extra_tokens", pa.int64())])
BOUNDARY_SCHEMA = pa.schema([("domain", pa.string()), ("key", pa.float64()), ("id", pa.string()), ("tokens", pa.int64())])


def row_map(fn: Callable[[dict], tuple | None], schema: pa.Schema) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """A ``mapInArrow`` function: ``fn`` on every row, the rows (tuples of ``schema``'s fields) it returns out."""

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            rows = [out for row in batch.to_pylist() if (out := fn(row)) is not None]
            if rows:
                yield pa.RecordBatch.from_arrays([pa.array(column, f.type) for column, f in zip(zip(*rows), schema)], schema=schema)

    return run


# --- 2. bytes per token ---------------------------------------------------------------------------


def measure_partition(tokenizer_name: str):
    """Sampled documents (domain, text) in, (domain, bytes, tokens) out, one row per document."""

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        from pyspark import SparkFiles

        tok, eot = worker_tokenizer(SparkFiles.get(tokenizer_name))
        for batch in batches:
            encoded = encode_documents(tok, eot, batch.column("text").to_pylist(), np.dtype(np.int32), ENCODE_BATCH_CHARS)
            yield pa.RecordBatch.from_arrays(
                [batch.column("domain"), pc.binary_length(batch.column("text")).cast(pa.int64()),
                 pa.array([len(e) // 4 - 1 for e in encoded], pa.int64())],  # int32 ids, end-of-text left out
                schema=MEASURED_SCHEMA,
            )

    return run


def measure_bytes_per_token(job: Job, tokenizer: TokenizerInfo, seed: int) -> dict[str, dict]:
    """Per domain: bytes per token of a seeded sample of about ``measure_bytes``, with its size."""
    from pyspark.sql import functions as F

    sizes = {r["domain"]: r["bytes"] or 0 for r in
             job.docs.groupBy("domain").agg(F.sum(F.octet_length("text")).alias("bytes")).collect()}
    rates = {d: min(1.0, job.config.measure_bytes / b) for d, b in sizes.items() if b}
    rate = F.create_map(*[x for d, r in sorted(rates.items()) for x in (F.lit(d), F.lit(r))])
    drawn = F.xxhash64(F.lit(f"measure:{seed}"), "id").bitwiseAND((1 << 53) - 1) / float(1 << 53)  # uniform in [0, 1)
    sample = job.docs.select("id", "domain", "text").where(drawn < rate[F.col("domain")])
    measured = sample.mapInArrow(measure_partition(tokenizer.name), spark_schema(MEASURED_SCHEMA))
    rows = measured.groupBy("domain").agg(F.count("*").alias("documents"), F.sum("bytes").alias("bytes"),
                                          F.sum("tokens").alias("tokens")).collect()
    return {r["domain"]: {"documents": r["documents"], "bytes": r["bytes"], "tokens": r["tokens"],
                          "bytes_per_token": r["bytes"] / r["tokens"]} for r in rows if r["tokens"]}


# --- 3. supply, 4 and 5. cutoffs -------------------------------------------------------------------


def supply_rows(job: Job, rates: TokenRates):
    """(id, domain, bytes, tokens, weight) per document, persisted for the passes that follow."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    quality = job.config.quality
    facts = job.docs.select("id", "domain", "lang", F.octet_length("text").alias("bytes"),
                            F.col("annotations").getItem(quality.annotation).alias("quality"))

    def measure(row: dict) -> tuple:
        d = row["domain"]
        return row["id"], d, row["bytes"], rates.tokens(d, row["lang"], row["bytes"]), quality.weight(d, row["quality"])

    return facts.mapInArrow(row_map(measure, SUPPLY_SCHEMA), spark_schema(SUPPLY_SCHEMA)).persist(StorageLevel.MEMORY_AND_DISK)


def supply_sums(supply) -> list[tuple[str, float, int, int, int]]:
    """(domain, weight, documents, bytes, tokens) per domain and quality weight."""
    from pyspark.sql import functions as F

    rows = supply.groupBy("domain", "weight").agg(F.count("*"), F.sum("bytes"), F.sum("tokens")).collect()
    return [tuple(r) for r in rows]


def cutoffs(supply, plan: MixturePlan, seed: int) -> tuple[dict[str, Cutoff], dict[str, PartialCopy]]:
    """The cutoff (and the partial copy past it) of every domain that needs extra copies: the histogram
    of the extra-copy keys, then the documents of each domain's boundary bucket."""
    from pyspark.sql import functions as F

    scales = plan.scales()
    histogram = (supply.mapInArrow(row_map(lambda row: histogram_entry(row, scales, seed), HISTOGRAM_SCHEMA),
                                   spark_schema(HISTOGRAM_SCHEMA))
                 .groupBy("domain", "bucket").agg(F.sum("whole_tokens"), F.sum("extra_tokens")))
    bounds = boundaries(plan, [tuple(r) for r in histogram.collect()])
    entries = supply.mapInArrow(row_map(lambda row: boundary_entry(row, scales, seed, bounds), BOUNDARY_SCHEMA),
                                spark_schema(BOUNDARY_SCHEMA))
    return place_cutoffs(bounds, [tuple(r) for r in entries.collect()])


# --- manifest -------------------------------------------------------------------------------------


def manifest(config: MixConfig, plan: MixturePlan, measured: dict[str, dict], sums: list[tuple[str, float, int, int, int]],
             tokenizer: TokenizerInfo | None, counters: Counter) -> dict:
    """The mixture's record: the plan, how tokens were counted, what came out, and the warnings."""
    tokens_out = {p.domain: counters.get(f"mix.{p.domain}.tokens_out", 0) for p in plan.domains}
    total_out = sum(tokens_out.values()) or 1
    domains = []
    for p in plan.domains:
        s = p.supply
        entry = {
            "domain": p.domain,
            "documents": s.documents,
            "bytes": s.bytes,
            "tokens": s.tokens,
            "bytes_per_token": round(s.bytes / s.tokens, 4) if s.tokens else None,
            "bytes_per_token_from": (f"measured on {measured[p.domain]['documents']:,} documents, "
                                     f"{measured[p.domain]['bytes']:,} bytes" if p.domain in measured else "estimated"),
            "target_share": round(p.target_share, 6),
            "planned_share": round(p.planned_share, 6),
            "realised_share": round(tokens_out[p.domain] / total_out, 6),
            "max_epochs": p.max_epochs,
            "cap_tokens": round(p.max_epochs * s.tokens),
            "epochs": round(p.epochs, 4),
            "short": p.short,
            "quota_tokens": p.quota,
            "tokens_out": tokens_out[p.domain],
            "documents_out": counters.get(f"mix.{p.domain}.docs_out", 0),
            "bytes_out": counters.get(f"mix.{p.domain}.bytes_out", 0),
        }
        if config.quality.applies(p.domain):
            entry["quality_weights"] = [
                {"weight": w, "documents": docs, "tokens": tokens, "tokens_out": counters.get(f"mix.{p.domain}.weight={w:g}.tokens_out", 0)}
                for d, w, docs, _, tokens in sorted(sums) if d == p.domain
            ]
        domains.append(entry)
    return {
        "unit": "tokens",
        "bytes_per_token": (f"measured with the tokenizer on a seeded sample of about {config.measure_bytes:,} bytes per domain"
                            if tokenizer else "estimated: configs bytes_per_token (per domain, else per language)"),
        "tokenizer": {"uri": tokenizer.uri, "sha256": tokenizer.sha256} if tokenizer else None,
        "total_tokens": plan.total_tokens,
        "size_rule": plan.size_rule,
        "seed": config.seed,
        "tolerance": config.tolerance,
        "warnings": plan.warnings + share_deviations(plan, tokens_out, config.tolerance),
        "domains": domains,
    }


def manifest_markdown(m: dict) -> str:
    lines = [
        f"# Mixture: {m['total_tokens']:,} tokens planned",
        "",
        f"Size: {m['size_rule']}. Bytes per token: {m['bytes_per_token']}.",
        "",
        "| domain | documents | tokens | bytes/token | target | planned | realised | max epochs | epochs | short | quota | tokens out |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|",
    ]
    for d in m["domains"]:
        bpt = f"{d['bytes_per_token']:.2f} ({'measured' if d['bytes_per_token_from'] != 'estimated' else 'est.'})" if d["tokens"] else "-"
        lines.append(
            f"| {d['domain']} | {d['documents']:,} | {d['tokens']:,} | {bpt} | {100 * d['target_share']:.2f}% | "
            f"{100 * d['planned_share']:.2f}% | {100 * d['realised_share']:.2f}% | {d['max_epochs']:g} | {d['epochs']:.3f} | "
            f"{'short' if d['short'] else ''} | {d['quota_tokens']:,} | {d['tokens_out']:,} |"
        )
    for d in m["domains"]:
        if d.get("quality_weights"):
            lines += ["", f"Quality weights in {d['domain']}:", "", "| weight | documents | tokens | tokens out |", "|---:|---:|---:|---:|"]
            lines += [f"| {w['weight']:g} | {w['documents']:,} | {w['tokens']:,} | {w['tokens_out']:,} |" for w in d["quality_weights"]]
    lines += [""] + [f"warning: {w}" for w in m["warnings"]]
    return "\n".join(lines) + "\n"


# --- the job --------------------------------------------------------------------------------------


def plan(job: Job) -> Plan:
    config: MixConfig = job.config
    tokenizer = ship_tokenizer(job.spark, job.args.tokenizer) if job.args.tokenizer else None
    with progress(job.spark, job.name):
        measured = measure_bytes_per_token(job, tokenizer, config.seed) if tokenizer else {}
        rates = TokenRates(config.bytes_per_token, {d: m["bytes_per_token"] for d, m in measured.items()})
        supply = supply_rows(job, rates)
        try:
            sums = supply_sums(supply)
            try:
                mixture = plan_mixture(config, domain_supply(sums))
            except ValueError as exc:  # nothing to mix, or total_tokens beyond every cap
                raise StageError(str(exc)) from None
            domain_cutoffs, partials = cutoffs(supply, mixture, config.seed)
        finally:
            supply.unpersist()
    for w in mixture.warnings:
        print(f"warning: {w}")

    def reports(counters: Counter) -> dict[str, str]:
        m = manifest(config, mixture, measured, sums, tokenizer, counters)
        text = manifest_markdown(m)
        print(text)
        return {MANIFEST: json.dumps(m, indent=2, ensure_ascii=False) + "\n", MANIFEST_MD: text}

    stage = MixStage(mixture.scales(), config.seed, domain_cutoffs, rates, config.quality, partials, config.write_copies)
    return Plan(stage, job.docs, reports=reports)


def arguments(parser) -> None:
    parser.add_argument("--tokenizer", "-t", default=None,
                        help=f"{TOKENIZER_FILE} or the tokenizer directory holding it: bytes per token measured with it "
                             "(default: the config's estimate)")


job = StageJob("mix", __doc__, MixConfig, documents(plan), arguments=arguments)
run, main = job.run, job.main

if __name__ == "__main__":
    # Run the importable module's main, not this script's copy: its functions then travel to the
    # executors by reference, so the per-worker tokenizer cache lives as long as the worker.
    from jobs import mix as stage

    raise SystemExit(stage.main())
