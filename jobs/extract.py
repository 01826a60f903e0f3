"""WARC/ARC files -> documents (main text, language), as Parquet.

    spark-submit jobs/extract.py --input 'data/warc/*.warc.gz' --output out/extracted [--config configs/extract.yaml]

Input files (a path, glob or directory; any URI ``datapipe.io`` opens) are listed on the driver and
spread over partitions, a file per task for crawl-sized files and a few tasks per core for small ones;
each task streams its files (``datapipe.extract.ExtractStage``), so no file is ever held in memory whole.
"""

from __future__ import annotations

from datapipe.extract import ExtractConfig, ExtractStage
from jobs.runner import Job, Plan, StageError, StageJob, distribute, documents, list_input_files

_BYTES_PER_TASK = 1 << 30


def plan(job: Job) -> Plan:
    files = list_input_files(job.args.input)
    if not files:
        raise StageError(f"no input files under {job.args.input}")
    # Crawl-sized files (~1 GB) get a task each; small ones are grouped by size into a few tasks per
    # core, since every task has a fixed cost (~0.2 s measured) that small files would not amortise.
    total = sum(f.size for f in files)
    n_parts = job.args.partitions or max(3 * job.spark.sparkContext.defaultParallelism, -(-total // _BYTES_PER_TASK))
    paths, _ = distribute(job.spark, [(f.uri, f.size) for f in files], min(n_parts, len(files)), "path string")
    return Plan(ExtractStage(job.config), paths, extra={"files": len(files)})


job = StageJob("extract", __doc__, ExtractConfig, documents(plan), inputs="files")
run, main = job.run, job.main

if __name__ == "__main__":
    raise SystemExit(main())
