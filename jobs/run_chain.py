"""The whole data pipeline as a chain of jobs, from WARC files to the token shards the trainer reads.

    python -m jobs.run_chain --config configs/pipeline.yaml [--master spark://...] [--force] [--from STAGE] [--until STAGE]

Stages run in order, each as its own ``spark-submit`` application (``local[*]`` by default, any
master), except the tokenizer's training and report, which are single-process Python programs. A
stage is skipped when its output is complete (``_SUCCESS``) and was made from the same
arguments, config files and upstream outputs (a fingerprint kept in ``OUT/_chain/``); ``--force`` or
``--from`` re-runs. The final report (``OUT/report/``: funnel as markdown, CSV and a PNG chart) covers
every stage of the chain.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import os
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import Field

from datapipe.cli import main_of
from datapipe.config import ConfigError, StrictModel, load_config, load_named_config, require_existing
from datapipe.io import exists, join, list_files, read_text, resolve, write_bytes, write_text
from datapipe.plots import png, pyplot
from datapipe.stats import funnel_rows, render_funnel

ROOT = Path(__file__).resolve().parent.parent


class StageConfigs(StrictModel):
    """The config file of each stage (paths relative to the working directory)."""

    extract: str = "configs/extract.yaml"
    safety: str = "configs/safety.yaml"
    clean: str = "configs/clean.yaml"
    dedup_paragraphs: str = "configs/dedup_paragraphs.yaml"
    quality: str = "configs/quality.yaml"
    dedup_minhash: str = "configs/dedup_minhash.yaml"
    decontaminate: str = "configs/decontaminate.yaml"
    mix: str = "configs/mix.yaml"
    sample_quality: str = "configs/sample_quality.yaml"
    sample_tokenizer: str = "configs/sample_tokenizer.yaml"
    tokenizer: str = "configs/tokenizer.yaml"
    tokenizer_report: str = "configs/tokenizer_report.yaml"
    tokenize: str = "configs/tokenize.yaml"


class PipelineConfig(StrictModel):
    """What the chain reads, where it writes, and how it submits (``configs/pipeline.yaml``)."""

    out: str = Field("out/pipeline", description="directory (any Hadoop URI) that receives every stage's output")
    warc: list[str] = Field(default_factory=lambda: ["../shared/data/warc", "../shared/data/warc_real_pages"], min_length=1)
    domains: str = Field("configs/domains.yaml", description="the ingest stage's source list")
    domains_root: str | None = Field(None, description="root for the relative paths in `domains` (default: its own)")
    benchmarks_root: str | None = Field(None, description="root of the benchmark files for decontamination")
    master: str = "local[*]"
    driver_memory: str = "4g"
    spark_args: list[str] = Field(default_factory=list, description="extra spark-submit arguments")
    rejects: Literal["text", "ids"] = Field("text", description="what each stage's _rejects keep of a dropped document: "
                                            "everything, or all but the text (ids, reasons, source file and offset)")
    configs: StageConfigs = Field(default_factory=StageConfigs)


@dataclass
class Step:
    name: str
    script: str
    args: list[str]
    output: str
    upstream: list[str] = field(default_factory=list)
    config_files: list[str] = field(default_factory=list)
    external: list[str] = field(default_factory=list)
    """Input files from outside the chain (paths, globs or directories): their listing, with sizes
    and modification times, is part of the fingerprint, so new or changed input re-runs the stage."""
    marker: str = "_SUCCESS"
    """The file whose presence says the output is complete."""
    documents: bool = True
    """Whether the output is a stage of the documents' path (with ``_stats.json``, a row of the funnel);
    not the samples drawn for one-process programs, nor models, tokenizers and shards."""
    spark: bool = True
    """Submitted with spark-submit; otherwise ``script`` is a module run by this Python (``python -m``)."""


def plan(cfg: PipelineConfig) -> list[Step]:
    """The chain: web text through extract, the URL filter, clean, paragraph dedup and safety (bad
    words, PII); the other domains through ingest and safety; a quality model trained on a bounded
    sample of both (drawn by Spark); then quality, MinHash dedup (after masking, so masked copies still
    collapse), decontamination; the tokenizer (trained on a sample Spark draws from the distinct
    decontaminated documents with the mixture's domain weights) and
    its compression report; the mixture, its token counts measured with that tokenizer; and the
    mixture tokenized into shards."""
    o = cfg.out.rstrip("/")
    c = cfg.configs
    out = {name: f"{o}/{name}" for name in ("extracted", "url_filtered", "cleaned", "dedup_paragraphs", "safety_web",
                                            "domains", "safety_domains", "quality_sample_web", "quality_sample_domains",
                                            "quality_model", "quality", "dedup_minhash", "decontaminated", "tokenizer_sample",
                                            "mixture", "tokenizer", "tokenizer_report", "shards")}
    ingest_args = ["--config", cfg.domains, "--output", out["domains"]]
    if cfg.domains_root:
        ingest_args += ["--root", cfg.domains_root]
    domains_root = cfg.domains_root or _domains_root(cfg.domains)
    safety_root = _safety_root(c.safety)
    decontam_args = ["--input", out["dedup_minhash"], "--output", out["decontaminated"], "--config", c.decontaminate]
    if cfg.benchmarks_root:
        decontam_args += ["--benchmarks-root", cfg.benchmarks_root]
    steps = [
        Step("extract", "jobs/extract.py", ["--input", *cfg.warc, "--output", out["extracted"], "--config", c.extract],
             out["extracted"], [], [c.extract], external=list(cfg.warc)),
        Step("url_filter", "jobs/url_filter.py", ["--input", out["extracted"], "--output", out["url_filtered"], "--config", c.safety],
             out["url_filtered"], ["extract"], [c.safety], external=[safety_root]),
        Step("clean", "jobs/clean.py", ["--input", out["url_filtered"], "--output", out["cleaned"], "--config", c.clean],
             out["cleaned"], ["url_filter"], [c.clean]),
        Step("dedup_paragraphs", "jobs/dedup_paragraphs.py",
             ["--input", out["cleaned"], "--output", out["dedup_paragraphs"], "--config", c.dedup_paragraphs],
             out["dedup_paragraphs"], ["clean"], [c.dedup_paragraphs]),
        Step("safety_web", "jobs/safety.py", ["--input", out["dedup_paragraphs"], "--output", out["safety_web"], "--config", c.safety],
             out["safety_web"], ["dedup_paragraphs"], [c.safety], external=[safety_root]),
        Step("ingest", "jobs/ingest.py", ingest_args, out["domains"], [], [cfg.domains], external=[domains_root]),
        Step("safety_domains", "jobs/safety.py", ["--input", out["domains"], "--output", out["safety_domains"], "--config", c.safety],
             out["safety_domains"], ["ingest"], [c.safety], external=[safety_root]),
        Step("quality_sample_web", "jobs/sample.py",
             ["--input", out["safety_web"], "--output", out["quality_sample_web"], "--config", c.sample_quality],
             out["quality_sample_web"], ["safety_web"], [c.sample_quality], documents=False),
        Step("quality_sample_domains", "jobs/sample.py",
             ["--input", out["safety_domains"], "--output", out["quality_sample_domains"], "--config", c.sample_quality],
             out["quality_sample_domains"], ["safety_domains"], [c.sample_quality], documents=False),
        Step("quality_model", "jobs/quality_model.py",
             ["--positives", out["quality_sample_domains"], "--negatives", out["quality_sample_web"], "--output", out["quality_model"],
              "--config", c.quality],
             out["quality_model"], ["quality_sample_web", "quality_sample_domains"], [c.quality], marker="model.json", documents=False),
        Step("quality", "jobs/quality.py",
             ["--input", out["safety_web"], "--output", out["quality"], "--model", out["quality_model"], "--config", c.quality],
             out["quality"], ["safety_web", "quality_model"], [c.quality]),
        Step("dedup_minhash", "jobs/dedup_minhash.py",
             ["--input", out["quality"], out["safety_domains"], "--output", out["dedup_minhash"], "--config", c.dedup_minhash],
             out["dedup_minhash"], ["quality", "safety_domains"], [c.dedup_minhash]),
        Step("decontaminate", "jobs/decontaminate.py", decontam_args, out["decontaminated"], ["dedup_minhash"], [c.decontaminate],
             external=[_benchmarks_root(c.decontaminate, cfg.benchmarks_root)]),
        Step("tokenizer_sample", "jobs/sample.py",
             ["--input", out["decontaminated"], "--output", out["tokenizer_sample"], "--config", c.sample_tokenizer,
              "--tokenizer-config", c.tokenizer],
             out["tokenizer_sample"], ["decontaminate"], [c.sample_tokenizer, c.tokenizer], documents=False),
        Step("tokenizer", "tokenizer.train",
             ["--input", out["tokenizer_sample"], "--weights", c.mix, "--output", out["tokenizer"], "--config", c.tokenizer],
             out["tokenizer"], ["tokenizer_sample"], [c.mix, c.tokenizer], marker="tokenizer.json", documents=False, spark=False),
        Step("tokenizer_report", "tokenizer.report",
             ["--tokenizer", out["tokenizer"], "--heldout", f"{out['tokenizer']}/heldout.jsonl", "--output",
              out["tokenizer_report"], "--config", c.tokenizer_report],
             out["tokenizer_report"], ["tokenizer"], [c.tokenizer_report], marker="compression.md", documents=False, spark=False),
        Step("mix", "jobs/mix.py",
             ["--input", out["decontaminated"], "--tokenizer", out["tokenizer"], "--output", out["mixture"], "--config", c.mix],
             out["mixture"], ["decontaminate", "tokenizer"], [c.mix]),
        Step("shards", "jobs/shards.py",
             ["--input", out["mixture"], "--tokenizer", out["tokenizer"], "--output", out["shards"], "--config", c.tokenize],
             out["shards"], ["mix", "tokenizer"], [c.tokenize], documents=False),
    ]
    if cfg.rejects != "text":
        for step in steps:
            if step.documents and step.spark:
                step.args += ["--rejects", cfg.rejects]
    return steps


def _domains_root(domains_config: str) -> str:
    from datapipe.domains.config import load_domains_config

    return load_domains_config(domains_config)[1] if Path(domains_config).is_file() else domains_config


def _benchmarks_root(decontam_config: str, override: str | None) -> str:
    from datapipe.decontam import DecontamConfig

    if override:
        return override
    return str(load_config(DecontamConfig, decontam_config).root_path()) if Path(decontam_config).is_file() else ""


def _safety_root(safety_config: str) -> str:
    from datapipe.safety.config import SafetyConfig

    return str(load_config(SafetyConfig, safety_config).root_path()) if Path(safety_config).is_file() else ""


def stage_config_models() -> dict[str, type[StrictModel]]:
    """The model of each stage config the chain names (``StageConfigs``), imported only when checked."""
    from datapipe.clean import CleanConfig
    from datapipe.decontam import DecontamConfig
    from datapipe.extract import ExtractConfig
    from datapipe.minhash import MinHashConfig
    from datapipe.mixture import MixConfig
    from datapipe.paragraphs import ParagraphDedupConfig
    from datapipe.quality.config import QualityConfig
    from datapipe.safety.config import SafetyConfig
    from datapipe.sample import SampleConfig
    from jobs.shards import TokenizeConfig
    from tokenizer.config import TokenizerConfig
    from tokenizer.report import ReportConfig

    return {"extract": ExtractConfig, "safety": SafetyConfig, "clean": CleanConfig, "dedup_paragraphs": ParagraphDedupConfig,
            "quality": QualityConfig, "dedup_minhash": MinHashConfig, "decontaminate": DecontamConfig, "mix": MixConfig,
            "sample_quality": SampleConfig, "sample_tokenizer": SampleConfig, "tokenizer": TokenizerConfig,
            "tokenizer_report": ReportConfig, "tokenize": TokenizeConfig}


def check_inputs(cfg: PipelineConfig, path: str) -> None:
    """Before any stage runs: every stage config and the domain sources' config load, and the WARC input
    and the domains' data root are there; an error names the setting of the chain's config (``path``), not
    a stage that would fail hours later."""
    from datapipe.domains.config import DomainsConfig, resolve_root

    for stage, model in stage_config_models().items():
        load_named_config(model, getattr(cfg.configs, stage), f"configs.{stage}", path)
    domains = load_named_config(DomainsConfig, cfg.domains, "domains", path)
    root = cfg.domains_root or resolve_root(domains.root, Path(cfg.domains).resolve().parent)
    require_existing("domains_root" if cfg.domains_root else "domains", root, path, "data root of the domain sources")
    for i, pattern in enumerate(cfg.warc):
        try:
            list_files([pattern])
        except FileNotFoundError:
            raise ConfigError(f"{path}: warc.{i}: no file matches {pattern}") from None


def list_inputs(patterns: list[str]) -> list[tuple[str, int, int]]:
    """(URI, size, mtime in ns) of every file under the given paths, globs or directories (none when missing)."""
    found = []
    for pattern in patterns:
        try:
            found += [(e.uri, e.size, e.mtime_ns) for e in list_files([pattern], hidden=())]
        except FileNotFoundError:
            pass
    return sorted(found)


def fingerprint(step: Step, upstream: dict[str, str]) -> str:
    h = hashlib.sha256()
    h.update(json.dumps([step.script, step.args, list_inputs(step.external)]).encode())
    for path in step.config_files:
        h.update(Path(path).read_bytes() if Path(path).is_file() else b"<missing>")
    for name in step.upstream:
        h.update(upstream[name].encode())
    return h.hexdigest()


def spark_submit(cfg: PipelineConfig, master: str) -> list[str]:
    python = sys.executable
    return [
        str(Path(python).parent / "spark-submit"),
        "--master", master,
        "--driver-memory", cfg.driver_memory,
        "--driver-java-options", f"-Dlog4j2.configurationFile={ROOT / 'configs' / 'log4j2.properties'}",
        "--conf", "spark.ui.enabled=false",
        "--conf", f"spark.pyspark.python={os.environ.get('PYSPARK_PYTHON', python)}",
        *cfg.spark_args,
    ]


def select(steps: list[Step], until: str | None) -> list[Step]:
    """The chain up to and including stage ``until`` (all of it when None)."""
    names = [s.name for s in steps]
    if until is not None and until not in names:
        raise ConfigError(f"unknown stage {until!r}; stages: {', '.join(names)}")
    return steps[: names.index(until) + 1] if until else steps


def run_chain(cfg: PipelineConfig, *, master: str | None = None, force: bool = False, start: str | None = None,
              until: str | None = None) -> list[dict]:
    """Run (or skip) every stage (up to ``until``); returns the stats of each document stage, in chain order."""
    steps = select(plan(cfg), until)
    names = [s.name for s in steps]
    if start is not None and start not in names:
        raise ConfigError(f"unknown stage {start!r}; stages: {', '.join(names)}")
    rerun_from = names.index(start) if start else (0 if force else None)
    prints: dict[str, str] = {}
    chain_dir = f"{cfg.out.rstrip('/')}/_chain"
    submit = spark_submit(cfg, master or cfg.master)
    env = {**os.environ, "PYSPARK_PYTHON": os.environ.get("PYSPARK_PYTHON", sys.executable),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    for i, step in enumerate(steps):
        fp = fingerprint(step, prints)
        prints[step.name] = fp
        record = f"{chain_dir}/{step.name}.json"
        forced = rerun_from is not None and i >= rerun_from
        done = exists(join(resolve(step.output), step.marker)) and exists(record) and json.loads(read_text(record)).get("fingerprint") == fp
        if done and not forced:
            print(f"[{i + 1}/{len(steps)}] {step.name}: complete, skipped ({step.output})", flush=True)
            continue
        cmd = (submit + [str(ROOT / step.script)] if step.spark else [sys.executable, "-m", step.script]) + step.args
        print(f"[{i + 1}/{len(steps)}] {step.name}: {shlex.join(cmd)}", flush=True)
        started = time.time()
        proc = subprocess.run(cmd, env=env)
        if proc.returncode != 0:
            raise SystemExit(f"stage {step.name} failed with exit code {proc.returncode}; later stages not run")
        write_text(record, json.dumps({"fingerprint": fp, "seconds": round(time.time() - started, 1)}) + "\n")
    return [{**json.loads(read_text(join(resolve(s.output), "_stats.json"))), "stage": s.name} for s in steps if s.documents]


def write_report(cfg: PipelineConfig, stats: list[dict]) -> str:
    """Funnel of the whole chain as markdown, CSV and PNG under ``OUT/report``; returns the markdown."""
    rows = funnel_rows(stats)
    md = render_funnel(rows)
    report = f"{cfg.out.rstrip('/')}/report"
    write_text(f"{report}/funnel.md", md + "\n")
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["stage", "docs_in", "docs_out", "kept_pct", "bytes_in", "bytes_out", "seconds", "drops", "pii_masked"])
    for r in rows:
        w.writerow([r["stage"], r["docs_in"], r["docs_out"], r["kept_pct"], r["bytes_in"], r["bytes_out"], r["seconds"],
                    json.dumps(r["drops"]), json.dumps(r["masked"])])
    write_text(f"{report}/funnel.csv", buf.getvalue())
    write_bytes(f"{report}/funnel.png", funnel_png(rows))
    return md


def funnel_png(rows: list[dict]) -> bytes:
    """Documents and bytes in and out per stage, side by side, as a PNG."""
    plt = pyplot()

    names = [r["stage"] for r in rows]
    fig, axes = plt.subplots(1, 2, figsize=(12, 0.5 * len(rows) + 1.8), sharey=True)
    for ax, (unit, scale, label) in zip(axes, (("docs", 1, "documents"), ("bytes", 1e6, "MB of text"))):
        ins = [r[f"{unit}_in"] / scale for r in rows]
        outs = [r[f"{unit}_out"] / scale for r in rows]
        y = range(len(rows))
        ax.barh([v + 0.2 for v in y], ins, height=0.4, color="#c7d4e8", label="in")
        ax.barh([v - 0.2 for v in y], outs, height=0.4, color="#2f5d9e", label="out")
        for v, (i_, o_) in zip(y, zip(ins, outs)):
            ax.text(o_, v - 0.2, f" {o_:,.0f}" if unit == "docs" else f" {o_:,.2f}", va="center", fontsize=8)
        ax.set_xlabel(label)
        ax.legend(loc="lower right", fontsize=8)
    axes[0].set_yticks(range(len(rows)), names)
    axes[0].invert_yaxis()
    fig.suptitle("Data pipeline funnel")
    fig.tight_layout()
    return png(fig)


def run(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="run_chain", description=__doc__.split("\n\n")[0])
    p.add_argument("--config", default="configs/pipeline.yaml", help="pipeline config (YAML)")
    p.add_argument("--master", default=None, help="Spark master for every stage (overrides the config)")
    p.add_argument("--force", action="store_true", help="re-run every stage even if its output is complete")
    p.add_argument("--from", dest="start", default=None, help="re-run from this stage on")
    p.add_argument("--until", default=None, help="stop after this stage")
    p.add_argument("--plan", action="store_true", help="print the stages and their commands, run nothing")
    args = p.parse_args(argv)
    cfg = load_config(PipelineConfig, args.config)
    check_inputs(cfg, args.config)
    if args.plan:
        for i, s in enumerate(select(plan(cfg), args.until)):
            print(f"[{i + 1}] {s.name}: {s.script} {shlex.join(s.args)}")
        return
    stats = run_chain(cfg, master=args.master, force=args.force, start=args.start, until=args.until)
    print("\nPipeline funnel (" + cfg.out.rstrip("/") + "/report/funnel.{md,csv,png}):")
    print(write_report(cfg, stats))


main = main_of(run)


if __name__ == "__main__":
    raise SystemExit(main())
