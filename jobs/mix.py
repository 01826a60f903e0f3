"""Stage: the domain-weighted mixture, with per-domain epochs (the report's Table 1 by default).

    spark-submit jobs/mix.py --input out/decontaminated [more stage outputs] --output out/mixture [--config configs/mix.yaml]

Domain sizes are measured with one aggregation (a row per domain reaches the driver), the epochs are
planned on the driver (``datapipe.mixture``), and every executor applies them to its documents: a
document is written ``copies`` times (annotation ``mix.copy`` numbers them), or goes to the rejects
(``mix:downsampled``). ``_manifest.json`` / ``_manifest.md`` give per domain the documents, bytes,
epochs, target and realised proportion.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator

import pyarrow as pa
from pyspark.sql import functions as F

from datapipe.config import load_config
from datapipe.mixture import MixConfig, copies, domain_size, plan_mixture
from jobs.common import (
    STAGED_SCHEMA,
    StagedWriter,
    commit_stage,
    doc_bytes,
    iter_documents,
    main_wrapper,
    read_documents,
    spark_schema,
    spark_session,
    stage_parser,
)

STAGE = "mix"
MANIFEST = "_manifest.json"


def mix_partition(epochs: dict[str, float], seed: int):
    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        out = StagedWriter(STAGE)
        for doc in iter_documents(batches):
            out.take(doc)
            n = copies(epochs.get(doc.domain, 0.0), seed, doc.id)
            if n == 0:
                yield from out.reject(doc, "mix:downsampled")
                continue
            out.counters[f"mix.{doc.domain}.docs_out"] += n
            out.counters[f"mix.{doc.domain}.bytes_out"] += n * doc_bytes(doc)
            for i in range(n):
                doc.annotations["mix.copy"] = float(i)
                yield from out.keep(doc)
        yield from out.finish()

    return run


def manifest(config: MixConfig, plans, warnings: list[str], counters: Counter) -> dict:
    out_units = {p.domain: domain_size(config, p.domain, counters.get(f"mix.{p.domain}.bytes_out", 0)) for p in plans}
    total = sum(out_units.values()) or 1.0
    return {
        "unit": config.unit,
        "seed": config.seed,
        "warnings": warnings,
        "domains": [
            {
                "domain": p.domain,
                "documents": p.documents,
                "size": round(p.size, 1),
                "epochs": round(p.epochs, 4),
                "target_share": round(p.target_share, 6),
                "documents_out": counters.get(f"mix.{p.domain}.docs_out", 0),
                "size_out": round(out_units[p.domain], 1),
                "realized_share": round(out_units[p.domain] / total, 6),
            }
            for p in plans
        ],
    }


def manifest_markdown(m: dict) -> str:
    lines = [
        f"| domain | documents | {m['unit']} | epochs | target | realised | documents out |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for d in m["domains"]:
        lines.append(
            f"| {d['domain']} | {d['documents']:,} | {d['size']:,.0f} | {d['epochs']:.3f} | "
            f"{100 * d['target_share']:.2f}% | {100 * d['realized_share']:.2f}% | {d['documents_out']:,} |"
        )
    lines += [f"\nwarning: {w}" for w in m["warnings"]]
    return "\n".join(lines) + "\n"


def run(argv: list[str] | None = None) -> dict:
    args = stage_parser("mix", __doc__.split("\n\n")[0]).parse_args(argv)
    config = load_config(MixConfig, args.config)
    started = time.time()
    spark = spark_session(f"teleflm-{STAGE}", args.master)
    inputs, docs = read_documents(spark, args)
    sizes = {
        r["domain"]: (r["documents"], r["bytes"] or 0)
        for r in docs.groupBy("domain").agg(F.count("*").alias("documents"), F.sum(F.octet_length("text")).alias("bytes")).collect()
    }
    plans, warnings = plan_mixture(config, sizes)
    epochs = {p.domain: p.epochs for p in plans}
    for w in warnings:
        print(f"warning: {w}")
    staged = docs.mapInArrow(mix_partition(epochs, config.seed), spark_schema(STAGED_SCHEMA))

    def reports(counters: Counter) -> dict[str, str]:
        m = manifest(config, plans, warnings, counters)
        print(manifest_markdown(m))
        return {MANIFEST: json.dumps(m, indent=2) + "\n", "_manifest.md": manifest_markdown(m)}

    return commit_stage(
        spark, staged, stage=STAGE, output=args.output, inputs=inputs, config=config.model_dump(), started=started, reports=reports
    )


main = main_wrapper(run)

if __name__ == "__main__":
    raise SystemExit(main())
