"""The domain-weighted mixture, with per-domain epochs (the report's Table 1 by default).

    spark-submit jobs/mix.py --input out/decontaminated [more stage outputs] --output out/mixture [--config configs/mix.yaml]

Domain sizes are measured with one aggregation (a row per domain reaches the driver), the epochs are
planned on the driver (``datapipe.mixture``), and every executor applies them to its documents: a
document is written ``copies`` times (annotation ``mix.copy`` numbers them), or goes to the rejects
(``mix:downsampled``). ``_manifest.json`` / ``_manifest.md`` give per domain the documents, bytes,
epochs, target and realised proportion.
"""

from __future__ import annotations

import json
from collections import Counter

from datapipe.mixture import MixConfig, MixStage, domain_size, plan_mixture
from jobs.runner import Job, Plan, StageJob, documents

MANIFEST = "_manifest.json"


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


def plan(job: Job) -> Plan:
    from pyspark.sql import functions as F

    config: MixConfig = job.config
    sizes = {
        r["domain"]: (r["documents"], r["bytes"] or 0)
        for r in job.docs.groupBy("domain").agg(F.count("*").alias("documents"), F.sum(F.octet_length("text")).alias("bytes")).collect()
    }
    plans, warnings = plan_mixture(config, sizes)
    for w in warnings:
        print(f"warning: {w}")

    def reports(counters: Counter) -> dict[str, str]:
        m = manifest(config, plans, warnings, counters)
        print(manifest_markdown(m))
        return {MANIFEST: json.dumps(m, indent=2) + "\n", "_manifest.md": manifest_markdown(m)}

    return Plan(MixStage({p.domain: p.epochs for p in plans}, config.seed), job.docs, reports=reports)


job = StageJob("mix", __doc__, MixConfig, documents(plan))
run, main = job.run, job.main

if __name__ == "__main__":
    raise SystemExit(main())
