"""Quality filter: a fastText reference-vs-web score per document, kept by threshold or Pareto rule.

    spark-submit jobs/quality.py --input out/dedup_paragraphs --output out/quality \\
        --model models/quality [--config configs/quality.yaml]

Every document whose language has a model gets ``annotations["quality.score"]`` (probability of the
reference class). Documents of the filtered domains (``score.domains``, WebText by default) are kept
when the score reaches the language's threshold, or by GPT-3's Pareto rule (``score.mode: pareto``);
the others go to ``OUT/_rejects`` as ``quality:below_threshold`` / ``quality:pareto``. Documents in
a language without a model are kept unscored (``datapipe.quality.scoring.QualityStage``).

The model directory (from ``jobs/quality_model.py``; any Hadoop URI) travels with the job: each
executor gets a local copy through ``SparkFiles`` and every Python worker loads it once.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial

from datapipe import io
from datapipe.quality.config import MANIFEST_FILE, QualityConfig
from datapipe.quality.features import PREPROCESS_VERSION
from datapipe.quality.scoring import QualityStage
from jobs.runner import Job, Plan, StageError, StageJob, documents


def arguments(parser) -> None:
    parser.add_argument("--model", "-m", default=None, help="model directory from jobs/quality_model.py (default: score.model_dir)")


def shipped_copy(name: str) -> str:
    """The executor's local copy of a file or directory the driver added to the job."""
    from pyspark import SparkFiles

    return SparkFiles.get(name)


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
    if not io.is_local(model_uri) or _is_local_master(sc.master):
        sc.addFile(model_uri, recursive=True)
        yield name
        return
    staging = tempfile.mkdtemp(prefix="quality-model-")
    try:
        archive = shutil.make_archive(f"{staging}/{name}", "zip", root_dir=io.local_path(model_uri))
        sc.addArchive(f"{archive}#{name}")
        yield name
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def read_manifest(model_uri: str) -> dict:
    """The model directory's manifest, checked on the driver before any task starts."""
    path = io.join(model_uri, MANIFEST_FILE)
    if not io.exists(path):
        raise StageError(f"not a quality model directory (no {MANIFEST_FILE}): {model_uri}")
    manifest = json.loads(io.read_text(path))
    version = manifest["preprocess"]["version"]
    if version != PREPROCESS_VERSION:
        raise StageError(f"{model_uri}: trained with preprocessing v{version}, this code has v{PREPROCESS_VERSION}; retrain it")
    return manifest


@contextmanager
def plan(job: Job) -> Iterator[Plan]:
    config: QualityConfig = job.config
    model_dir = job.args.model or config.score.model_dir
    if not model_dir:
        raise StageError("no model: pass --model MODEL_DIR or set score.model_dir in the config")
    model_uri = io.qualify(model_dir)
    manifest = read_manifest(model_uri)
    with shipped_model(job.spark, model_uri) as name:
        model = {"uri": model_uri, "languages": manifest["languages"], "preprocess": manifest["preprocess"]}
        yield Plan(QualityStage(config.score, partial(shipped_copy, name)), job.docs,
                   extra={"config": {"score": config.score.model_dump()}, "model": model})


job = StageJob("quality", __doc__, QualityConfig, documents(plan), arguments=arguments)
run, main = job.run, job.main

if __name__ == "__main__":
    raise SystemExit(main())
