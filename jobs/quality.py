"""Stage 4: quality filter: a fastText reference-vs-web score per document, kept by threshold or Pareto rule.

    spark-submit jobs/quality.py --input out/dedup_paragraphs --output out/quality \\
        --model models/quality [--config configs/quality.yaml]

Every document whose language has a model gets ``annotations["quality.score"]`` (probability of the
reference class). Documents of the filtered domains (``score.domains``, WebText by default) are kept
when the score reaches the language's threshold, or by GPT-3's Pareto rule (``score.mode: pareto``);
the others go to ``OUT/_rejects`` as ``quality:below_threshold`` / ``quality:pareto``. Documents in
a language without a model are kept unscored.

The model directory (from ``jobs/quality_model.py``; any Hadoop URI) travels with the job: each
executor gets a local copy through ``SparkFiles`` and every Python worker loads it once.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlparse

import pyarrow as pa

from datapipe.config import load_config
from datapipe.quality import MANIFEST_FILE, PREPROCESS_VERSION, QualityConfig, QualityFilter, ScoreConfig, load_models
from jobs.common import (
    STAGED_SCHEMA,
    HadoopFS,
    StagedWriter,
    StageError,
    commit_stage,
    iter_documents,
    main_wrapper,
    read_documents,
    spark_schema,
    spark_session,
    stage_parser,
)

STAGE = "quality"


def score_partition(config: ScoreConfig, model_name: str):
    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        from pyspark import SparkFiles

        qf = QualityFilter(config, load_models(SparkFiles.get(model_name)))
        out = StagedWriter(STAGE)
        for batch in batches:
            docs = [out.take(doc) for doc in iter_documents(iter([batch]))]
            for doc, reason in zip(docs, qf.decide(docs)):
                if reason is None:
                    yield from out.keep(doc)
                else:
                    yield from out.reject(doc, reason)
        yield from out.finish(qf.counters)

    return run


def _is_local_master(master: str) -> bool:
    return master == "local" or master.startswith("local[")  # Spark's own test (local-cluster is a cluster)


@contextmanager
def shipped_model(spark, model_uri: str) -> Iterator[str]:
    """Make the model directory available on every executor; yields the name ``SparkFiles.get`` resolves.

    ``addFile(recursive=True)`` ships a directory from any Hadoop file system, but from the driver's
    local disk only in local mode (Spark refuses local directories on a cluster); there the directory
    travels as a zip (``addArchive``), which every executor unpacks under the same name.
    """
    sc = spark.sparkContext
    name = model_uri.rstrip("/").rsplit("/", 1)[-1]
    if not model_uri.startswith("file:") or _is_local_master(sc.master):
        sc.addFile(model_uri, recursive=True)
        yield name
        return
    staging = tempfile.mkdtemp(prefix="quality-model-")
    try:
        archive = shutil.make_archive(f"{staging}/{name}", "zip", root_dir=urlparse(model_uri).path)
        sc.addArchive(f"{archive}#{name}")
        yield name
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def read_manifest(fs: HadoopFS, model_uri: str) -> dict:
    """The model directory's manifest, checked on the driver before any task starts."""
    path = f"{model_uri}/{MANIFEST_FILE}"
    if not fs.exists(path):
        raise StageError(f"not a quality model directory (no {MANIFEST_FILE}): {model_uri}")
    manifest = json.loads(fs.read_text(path))
    version = manifest["preprocess"]["version"]
    if version != PREPROCESS_VERSION:
        raise StageError(f"{model_uri}: trained with preprocessing v{version}, this code has v{PREPROCESS_VERSION}; retrain it")
    return manifest


def run(argv: list[str] | None = None) -> dict:
    parser = stage_parser("quality", __doc__.split("\n\n")[0])
    parser.add_argument("--model", "-m", default=None, help="model directory from jobs/quality_model.py (default: score.model_dir)")
    args = parser.parse_args(argv)
    config = load_config(QualityConfig, args.config)
    model_dir = args.model or config.score.model_dir
    if not model_dir:
        raise StageError("no model: pass --model MODEL_DIR or set score.model_dir in the config")
    started = time.time()
    spark = spark_session(f"teleflm-{STAGE}", args.master)
    fs = HadoopFS(spark)
    model_uri = fs.qualify(model_dir.rstrip("/"))
    manifest = read_manifest(fs, model_uri)
    inputs, docs = read_documents(spark, args)
    with shipped_model(spark, model_uri) as name:
        staged = docs.mapInArrow(score_partition(config.score, name), spark_schema(STAGED_SCHEMA))
        model = {"uri": model_uri, "languages": manifest["languages"], "preprocess": manifest["preprocess"]}
        config_dump = {"score": config.score.model_dump()}
        return commit_stage(spark, staged, stage=STAGE, output=args.output, inputs=inputs, config=config_dump, started=started, extra={"model": model})


main = main_wrapper(run)

if __name__ == "__main__":
    raise SystemExit(main())
