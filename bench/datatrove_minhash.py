"""datatrove's MinHash pipeline on a JSONL corpus; run by bench_dedup.py in datatrove's own virtualenv.

    bench/.venv-datatrove/bin/python bench/datatrove_minhash.py --input DIR --work DIR --bands 14 --rows 9

The four steps of datatrove's MinHash deduplication (examples/minhash_deduplication.py): signatures,
buckets, clusters (one task), filter; the filter writes kept and removed documents with their cluster id
(``metadata.minhash_cluster_id``, -1 outside any cluster) under WORK/kept and WORK/removed.
"""

from __future__ import annotations

import argparse

from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.dedup.minhash import (
    MinhashConfig,
    MinhashDedupBuckets,
    MinhashDedupCluster,
    MinhashDedupFilter,
    MinhashDedupSignature,
)
from datatrove.pipeline.readers import JsonlReader
from datatrove.pipeline.writers import JsonlWriter


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--input", required=True, help="directory of *.jsonl.gz files with id and text")
    p.add_argument("--work", required=True, help="directory for signatures, buckets, clusters and output")
    p.add_argument("--bands", type=int, required=True)
    p.add_argument("--rows", type=int, required=True)
    p.add_argument("--ngram", type=int, default=5)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--tasks", type=int, default=8, help="tasks of the signature and filter steps (one per input file)")
    p.add_argument("--workers", type=int, default=2, help="processes running tasks at once")
    args = p.parse_args()

    config = MinhashConfig(n_grams=args.ngram, num_buckets=args.bands, hashes_per_bucket=args.rows, seed=args.seed)
    work, logs = args.work.rstrip("/"), f"{args.work.rstrip('/')}/logs"

    def reader():
        return JsonlReader(args.input, glob_pattern="*.jsonl.gz", text_key="text", id_key="id")

    signatures = LocalPipelineExecutor(
        pipeline=[reader(), MinhashDedupSignature(output_folder=f"{work}/signatures", config=config, language="en")],
        tasks=args.tasks, workers=args.workers, logging_dir=f"{logs}/signatures",
    )  # fmt: skip
    buckets = LocalPipelineExecutor(
        pipeline=[MinhashDedupBuckets(input_folder=f"{work}/signatures", output_folder=f"{work}/buckets", config=config)],
        tasks=config.num_buckets, workers=args.workers, logging_dir=f"{logs}/buckets", depends=signatures,
    )  # fmt: skip
    clusters = LocalPipelineExecutor(
        pipeline=[MinhashDedupCluster(input_folder=f"{work}/buckets", output_folder=f"{work}/remove_ids", config=config, save_cluster_id=True)],
        tasks=1, logging_dir=f"{logs}/clusters", depends=buckets,
    )  # fmt: skip
    filtered = LocalPipelineExecutor(
        pipeline=[
            reader(),
            MinhashDedupFilter(input_folder=f"{work}/remove_ids", exclusion_writer=JsonlWriter(f"{work}/removed"), load_cluster_ids=True),
            JsonlWriter(f"{work}/kept"),
        ],
        tasks=args.tasks, workers=args.workers, logging_dir=f"{logs}/filter", depends=clusters,
    )  # fmt: skip
    filtered.run()


if __name__ == "__main__":
    main()
