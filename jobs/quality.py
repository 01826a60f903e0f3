"""Quality filter: a fastText reference-vs-web score per document; each language keeps its best-scoring share.

    spark-submit jobs/quality.py --input out/dedup_paragraphs --output out/quality \\
        --model out/quality_model [--config configs/quality.yaml]

Two passes over the input. The first scores the documents of the filtered domains (``score.domains``,
WebText by default) and estimates, per language, the quantiles of their scores with Spark's
``percentile_approx`` (a sketch: ranks exact to ``1 / score.quantile_accuracy``, 0.0001 by default;
only 1001 quantiles per language reach the driver, never the scores). The second scores again (the
same model on the same text gives the same score) and writes ``annotations["quality.score"]`` and
``annotations["quality.rank"]`` (the score's quantile in its language, ``datapipe.quality.config``),
then keeps a filtered document when its score reaches the ``1 - keep_fraction`` quantile of its
language (``quality:below_cutoff`` otherwise), or by GPT-3's Pareto rule (``score.mode: pareto``,
``quality:pareto``). Documents in a language without a model (``not_filtered`` in the model's
manifest, or not configured) are kept unscored; ``_stats.json`` says per language what happened.

A language keeping less than ``score.min_keep_fraction`` of its filtered documents stops the job
before the output is published (one line, exit code 2). ``OUT/_quality.md`` gives, per language, the
documents filtered and kept, the cutoff and the model.

The model directory (from ``jobs/quality_model.py``; any Hadoop URI) travels with the job: each
executor gets a local copy through ``SparkFiles`` and every Python worker loads it once.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial

import pyarrow as pa

from datapipe import io
from datapipe.config import require_existing
from datapipe.document import Document
from datapipe.quality.config import MANIFEST_FILE, QualityConfig, ScoreConfig
from datapipe.quality.features import PREPROCESS_VERSION
from datapipe.quality.scoring import (
    RANK_POINTS,
    QualityScorer,
    QualityStage,
    ScoreDistribution,
    cutoff_quantile,
)
from jobs.runner import Job, Plan, StageError, StageJob, documents, spark_schema

SCORE_SCHEMA = pa.schema([pa.field("lang", pa.string()), pa.field("score", pa.float64())])
QUALITY_REPORT = "_quality.md"


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


def score_partition(scorer: QualityScorer) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """The first pass's ``mapInArrow`` function: (language, score) of every document with a model."""

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        scorer.setup()
        for batch in batches:
            docs = [Document(id=r["id"], text=r["text"], lang=r["lang"]) for r in batch.to_pylist()]
            langs, _ = scorer.languages(docs)
            pairs = [(lang, s) for lang, s in zip(langs, scorer.scores(docs, langs)) if s is not None]
            yield pa.RecordBatch.from_pylist([{"lang": lang, "score": s} for lang, s in pairs], schema=SCORE_SCHEMA)

    return run


def score_distributions(job: Job, model_dir: Callable[[], str], languages: list[str]) -> dict[str, ScoreDistribution]:
    """Per language, the distribution of the filtered documents' scores (the first pass)."""
    from pyspark.sql import functions as F

    config: ScoreConfig = job.config.score
    fractions = sorted({config.keep_fraction_of(lang) for lang in languages})
    points = list(RANK_POINTS) + [cutoff_quantile(f) for f in fractions]
    filtered = job.docs.where(F.col("domain").isin(config.domains)).select("id", "lang", "text")
    scores = filtered.mapInArrow(score_partition(QualityScorer(model_dir)), spark_schema(SCORE_SCHEMA))
    rows = scores.groupBy("lang").agg(
        F.count("*").alias("documents"), F.percentile_approx("score", points, config.quantile_accuracy).alias("quantiles")
    ).collect()
    grid = len(RANK_POINTS)
    return {
        r.lang: ScoreDistribution(
            r.documents, tuple(r.quantiles[:grid]), r.quantiles[grid + fractions.index(config.keep_fraction_of(r.lang))]
        )
        for r in rows
    }


def language_report(manifest: dict, distributions: dict[str, ScoreDistribution], config: ScoreConfig) -> dict:
    """What the stage does with each language the model directory knows (``_stats.json``)."""
    report = {lang: {"status": "not filtered", "reason": reason} for lang, reason in manifest.get("not_filtered", {}).items()}
    for lang, entry in manifest["languages"].items():
        d = distributions.get(lang)
        by_fraction = d is not None and config.mode == "keep_fraction"
        report[lang] = {"status": "filtered", "models": entry["models"], "documents": d.documents if d else 0,
                        "keep_fraction": config.keep_fraction_of(lang) if by_fraction else None, "cutoff": d.cutoff if by_fraction else None}
    return dict(sorted(report.items()))


def check_and_report(languages: dict, config: ScoreConfig, counters: Counter) -> dict[str, str]:
    """``_quality.md`` from the summed counters; a language keeping less than ``min_keep_fraction``
    stops the job here, before the output is published."""
    lines = ["# Quality filter", "", f"Mode: {config.mode}; documents of {', '.join(config.domains) or 'no domain'} are filtered.", "",
             "| lang | status | filtered | kept | kept fraction | cutoff |", "|---|---|---:|---:|---:|---|"]
    too_low = []
    for lang, r in languages.items():
        if r["status"] != "filtered":
            lines.append(f"| {lang} | not filtered: {r['reason']} | | | | |")
            continue
        n, kept = counters[f"filtered.{lang}"], counters[f"kept.{lang}"]
        share = kept / n if n else None
        if share is not None and share < config.min_keep_fraction:
            too_low.append(f"{lang} keeps {kept} of {n} documents ({share:.3f})")
        cutoff = f"{r['cutoff']:.6f}" if r.get("cutoff") is not None else ""
        lines.append(f"| {lang} | filtered | {n} | {kept} | {'' if share is None else f'{share:.3f}'} | {cutoff} |")
    unscored = {key.split(".", 1)[1]: n for key, n in counters.items() if key.startswith("unscored.")}
    if unscored:
        lines += ["", "Kept unscored (no model for the language): " + ", ".join(f"{lang} {n}" for lang, n in sorted(unscored.items(), key=lambda x: -x[1]))]
    if too_low:
        raise StageError(f"quality: {'; '.join(too_low)}, below score.min_keep_fraction {config.min_keep_fraction} (mode {config.mode}); nothing was published")
    return {QUALITY_REPORT: "\n".join(lines) + "\n"}


def model_manifest(args, config: QualityConfig) -> tuple[str, dict]:
    """Before Spark starts: the model directory (``--model``, else ``score.model_dir``), which must be
    there, and its manifest."""
    model_dir = args.model or config.score.model_dir
    if not model_dir:
        raise StageError("no model: pass --model MODEL_DIR or set score.model_dir in the config")
    model_uri = io.qualify(model_dir)
    require_existing("--model" if args.model else "score.model_dir", model_uri, None if args.model else args.config,
                     "quality model directory")
    return model_uri, read_manifest(model_uri)


@contextmanager
def plan(job: Job) -> Iterator[Plan]:
    config: QualityConfig = job.config
    model_uri, manifest = job.prepared
    with shipped_model(job.spark, model_uri) as name:
        local_model = partial(shipped_copy, name)
        distributions = score_distributions(job, local_model, list(manifest["languages"]))
        languages = language_report(manifest, distributions, config.score)
        model = {"uri": model_uri, "languages": manifest["languages"], "preprocess": manifest["preprocess"]}
        yield Plan(QualityStage(config.score, local_model, distributions), job.docs,
                   extra={"config": {"score": config.score.model_dump()}, "model": model, "languages": languages},
                   reports=partial(check_and_report, languages, config.score))


job = StageJob("quality", __doc__, QualityConfig, documents(plan), arguments=arguments, prepare=model_manifest)
run, main = job.run, job.main

if __name__ == "__main__":
    raise SystemExit(main())
