"""Benchmark decontamination by 13-gram overlap (drop or cut matching documents).

    spark-submit jobs/decontaminate.py --input out/dedup_minhash --output out/decontaminated \
        [--config configs/decontaminate.yaml] [--benchmarks-root DIR]

The benchmark test sets are read on the driver and their n-grams hashed into a sorted array of
64-bit hashes (its size is logged and written to ``_stats.json`` under ``benchmark_index``), which
is broadcast; each task scans its documents against it (``datapipe.decontam.DecontamStage``).
Dropped documents go to ``OUT/_rejects`` as ``decontam:<benchmark>`` or ``decontam:too_many_cuts``;
the counters ``decontam.<benchmark>.docs`` and ``decontam.<benchmark>.ngrams`` say what matched where.
"""

from __future__ import annotations

from pathlib import Path

from datapipe.config import require_existing
from datapipe.decontam import BenchmarkIndex, DecontamConfig, DecontamStage, build_index
from jobs.runner import StageJob, broadcast_plan, documents


def arguments(parser) -> None:
    parser.add_argument("--benchmarks-root", default=None, help="directory the benchmark paths are relative to (overrides the config's root)")


def benchmark_index(args, config: DecontamConfig) -> BenchmarkIndex:
    """Built before Spark starts: a bad benchmark file fails fast, and so does a missing root when ``strict``
    (otherwise every benchmark under it is a missing file: a warning)."""
    if args.benchmarks_root:
        config.root = str(Path(args.benchmarks_root).resolve())
    if config.strict:
        require_existing("--benchmarks-root" if args.benchmarks_root else "root", config.root_path(),
                         None if args.benchmarks_root else args.config, "benchmark root (strict: true)")
    return build_index(config)


plan = broadcast_plan(lambda job, index: DecontamStage(job.config, index), "benchmark_index")
job = StageJob("decontaminate", __doc__, DecontamConfig, documents(plan), arguments=arguments, prepare=benchmark_index)
run, main = job.run, job.main

if __name__ == "__main__":
    raise SystemExit(main())
