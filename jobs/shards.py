"""Stage: documents tokenized into Megatron indexed-dataset shards (``.bin``/``.idx``), train and valid.

    spark-submit jobs/shards.py --input out/mixture --tokenizer out/tokenizer --output out/shards [--config configs/tokenize.yaml]

Every document becomes its tokens followed by the end-of-text id, one sequence of a shard
(``datapipe.indexed``). A document is ``valid`` when ``datapipe.heldout.is_heldout`` says so, with the
held-out fraction and seed of ``configs/tokenize.yaml``, and ``train`` otherwise, so the trainer's
bits-per-byte evaluation runs on documents it never trained on. The mixture stage's repeated copies
(annotation ``mix.copy``, or recorded in one row: ``mix.copies``) are all written to train shards; a
held-out document is written to valid once.

Each shard holds one domain and one split; a domain gets ``ceil(bytes / shard_bytes)`` shards per
split. A hash of (id, copy) picks the shard and the document's place in it, so the same input gives
byte-identical shards on any partitioning and any machine.

How it runs: one aggregation measures the domains (bytes per domain, for the shard plan); tasks
tokenize their input partition (the tokenizer file travels with ``SparkFiles`` and is loaded once per
Python worker; ``encode_batch`` on ~2M characters a call); the token rows are shuffled by shard and
sorted by the hash, and the writing tasks (one per full-size shard) stream them into
``OUT._tmp-*/{split}/{domain}-{index}.{bin,idx}`` (a retried task rewrites its own files). The driver
collects one row per shard, writes ``manifest.json`` (tokenizer checksum, vocabulary, dtype, shards
with documents, tokens, text bytes and SHA-256, per-domain weights), ``manifest.md``, and, as every
stage does (``jobs.runner.finish_output``), ``_stats.json``, ``_funnel.md`` and ``_SUCCESS``, and
publishes the directory into place.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import logging
import math
import os
import re
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import urlparse

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from datapipe import io
from datapipe.config import StrictModel
from datapipe.heldout import is_heldout
from datapipe.indexed import (
    MANIFEST_FILE,
    MANIFEST_VERSION,
    IndexedDatasetWriter,
    token_dtype,
)
from datapipe.mixture import COPIES_ANNOTATION, COPY_ANNOTATION, PREFIX_CHARS_ANNOTATION
from jobs.runner import Job, StageError, StageJob, finish_output, progress, spark_schema, stage_stats
from tokenizer.vocab import TOKENIZER_FILE, load_tokenizer

log = logging.getLogger("jobs.shards")

STAGE = "shards"
MANIFEST_MD = "manifest.md"
MIXTURE_MANIFEST = "_manifest.json"
TOKENIZER_REPORT = "training_report.json"
SPLITS = ("train", "valid")


class HeldoutConfig(StrictModel):
    """The held-out split; the same rule (``datapipe.heldout``) and defaults as the tokenizer's sample
    (``configs/tokenizer.yaml``), so valid documents are ones the tokenizer never saw either.

    Draws are nested: with the same seed, every document held out at a fraction is also held out at any
    larger one, so a fraction at or below the tokenizer's keeps that true; the stage checks it against
    the tokenizer's ``training_report.json`` when there is one."""

    fraction: float = Field(0.01, ge=0, lt=1, description="share of documents in the valid split")
    seed: int = 0


class TokenizeConfig(StrictModel):
    """Settings of the tokenize stage (``configs/tokenize.yaml``)."""

    heldout: HeldoutConfig = Field(default_factory=HeldoutConfig)
    shard_bytes: int = Field(1_000_000_000, gt=0, description="target UTF-8 text bytes per shard (per domain and split)")
    encode_batch_chars: int = Field(
        2_000_000, gt=0, description="characters per encode_batch call: bounds the memory of the Encoding objects (~100 bytes a token)"
    )
    seed: int = Field(0, description="seed of the hash that places documents in shards and orders them there")


# --- shard plan and placement --------------------------------------------------------------------


@dataclass(frozen=True)
class Shard:
    domain: str
    split: str
    index: int

    @property
    def name(self) -> str:
        """Path of the shard's files inside the output, without ``.bin``/``.idx``."""
        return f"{self.split}/{re.sub(r'[^A-Za-z0-9._-]', '_', self.domain)}-{self.index:05d}"


def plan_shards(sizes: dict[str, tuple[int, int]], config: TokenizeConfig) -> list[Shard]:
    """The shards of every domain and split, from ``{domain: (bytes of all rows, bytes of first copies)}``:
    train holds the non-held-out share of every copy, valid the held-out share of the first copies."""
    f = config.heldout.fraction
    shards = []
    for domain, (all_bytes, first_bytes) in sorted(sizes.items()):
        expected = {"train": (1 - f) * all_bytes, "valid": f * first_bytes}
        for split in SPLITS:
            if split == "valid" and f == 0:
                continue
            n = max(1, math.ceil(expected[split] / config.shard_bytes))
            shards.extend(Shard(domain, split, i) for i in range(n))
    return shards


def writer_tasks(shards: list[Shard], sizes: dict[str, tuple[int, int]], config: TokenizeConfig, cores: int) -> int:
    """Tasks that write the shards: one per shard for full-size shards; on a small input, where every
    domain and split still has a shard of its own, no more than the cores (a task costs ~0.1 s)."""
    full = math.ceil(sum(b for b, _ in sizes.values()) / config.shard_bytes)
    return min(len(shards), max(cores, full))


def placement(doc_id: str, copy: int, seed: int) -> int:
    """A signed 64-bit hash of (seed, id, copy): its residue picks the shard, its value orders the shard."""
    digest = hashlib.blake2b(f"tokenize:{seed}:{doc_id}:{copy}".encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


# --- executors: tokenize, then write shards ------------------------------------------------------

TOKENIZED_SCHEMA = pa.schema(
    [
        pa.field("shard", pa.int32(), nullable=False),
        pa.field("order", pa.int64(), nullable=False),
        pa.field("id", pa.string(), nullable=False),
        pa.field("copy", pa.int32(), nullable=False),
        pa.field("tokens", pa.binary(), nullable=False),
        pa.field("text_bytes", pa.int64(), nullable=False),
    ]
)
"""One tokenized document: its shard (index into the plan), its place there, its tokens (raw bytes in
the shard dtype, end-of-text included) and its text's UTF-8 size."""

SHARD_SCHEMA = pa.schema(
    [
        pa.field("shard", pa.int32(), nullable=False),
        pa.field("documents", pa.int64(), nullable=False),
        pa.field("tokens", pa.int64(), nullable=False),
        pa.field("text_bytes", pa.int64(), nullable=False),
        pa.field("bin_sha256", pa.string(), nullable=False),
        pa.field("idx_sha256", pa.string(), nullable=False),
    ]
)
"""What the task that wrote a shard reports to the driver."""

_WORKER_TOKENIZERS: dict[str, tuple] = {}


def worker_tokenizer(path: str):
    """The tokenizer and end-of-text id, loaded once per Python worker (workers are reused across tasks).

    A task is one core's work: the tokenizer's own thread pool is switched off, or every task would
    start one thread per core."""
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    if path not in _WORKER_TOKENIZERS:
        _WORKER_TOKENIZERS[path] = load_tokenizer(path)
    return _WORKER_TOKENIZERS[path]


def encode_documents(tok, eot: int, texts: list[str], dtype: np.dtype, batch_chars: int) -> list[bytes]:
    """Each text's tokens and the end-of-text id, as raw bytes in ``dtype``; ``encode_batch`` over
    consecutive runs of texts of at most ``batch_chars`` characters (at least one text a run)."""
    out: list[bytes] = []
    start = 0
    while start < len(texts):
        stop, size = start, 0
        while stop < len(texts) and (stop == start or size + len(texts[stop]) <= batch_chars):
            size += len(texts[stop])
            stop += 1
        for enc in tok.encode_batch(texts[start:stop], add_special_tokens=False):
            ids = enc.ids
            ids.append(eot)
            out.append(np.array(ids, dtype=dtype).tobytes())
        start = stop
    return out


def tokenize_partition(tokenizer_name: str, dtype: np.dtype, layout: dict[tuple[str, str], tuple[int, int]], config: TokenizeConfig):
    """The first ``mapInArrow`` function: documents (id, domain, text, copy) in, TOKENIZED_SCHEMA rows out.
    ``layout`` maps (domain, split) to (first shard index in the plan, number of shards).

    Spark's Arrow batches (512 rows) are gathered up to ``encode_batch_chars`` characters before they
    are encoded: ``encode_batch`` is ~25% slower on 512 documents a call than on thousands."""
    heldout, seed, batch_chars = config.heldout, config.seed, config.encode_batch_chars

    def placed(batch: pa.RecordBatch) -> pa.RecordBatch:
        """The batch's rows that go to a shard, with the shard and their place in it."""
        keep, shard, order = [], [], []
        rows = zip(batch.column("id").to_pylist(), batch.column("domain").to_pylist(), batch.column("copy").to_pylist())
        for i, (doc_id, domain, copy) in enumerate(rows):
            split = "valid" if is_heldout(doc_id, heldout.fraction, heldout.seed) else "train"
            if split == "valid" and copy > 0:
                continue  # evaluation counts each held-out document once
            h = placement(doc_id, copy, seed)
            first, n = layout[(domain, split)]
            keep.append(i)
            shard.append(first + (h % n))
            order.append(h)
        picked = pa.array(keep, pa.int64())
        return pa.RecordBatch.from_arrays(
            [pa.array(shard, pa.int32()), pa.array(order, pa.int64()), batch.column("id").take(picked),
             batch.column("copy").take(picked), batch.column("text").take(picked)],
            names=["shard", "order", "id", "copy", "text"],
        )

    def encoded(pending: list[pa.RecordBatch], tok, eot: int) -> pa.RecordBatch:
        rows = pa.Table.from_batches(pending).combine_chunks().to_batches()[0]
        texts = rows.column("text")
        tokens = encode_documents(tok, eot, texts.to_pylist(), dtype, batch_chars)
        columns = [rows.column(name) for name in ("shard", "order", "id", "copy")]
        columns += [pa.array(tokens, pa.binary()), pc.binary_length(texts).cast(pa.int64())]
        return pa.RecordBatch.from_arrays(columns, schema=TOKENIZED_SCHEMA)

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        from pyspark import SparkFiles

        tok, eot = worker_tokenizer(SparkFiles.get(tokenizer_name))
        pending, chars = [], 0
        for batch in batches:
            rows = placed(batch)
            if rows.num_rows:
                pending.append(rows)
                chars += pc.sum(pc.utf8_length(rows.column("text"))).as_py()
            if chars >= batch_chars:
                yield encoded(pending, tok, eot)
                pending, chars = [], 0
        if pending:
            yield encoded(pending, tok, eot)

    return run


def write_partition(root: str, shards: list[Shard], dtype: np.dtype):
    """The second ``mapInArrow`` function: TOKENIZED_SCHEMA rows sorted by (shard, order, id, copy) in,
    one SHARD_SCHEMA row per shard written to ``root`` out."""

    def finish(index: int, writer: IndexedDatasetWriter, bin_file, text_bytes: int) -> pa.RecordBatch:
        bin_file.close()
        with io.open_output(f"{root}/{shards[index].name}.idx") as idx_file:
            idx_sha = writer.write_index(idx_file)
        row = {
            "shard": index,
            "documents": writer.documents,
            "tokens": writer.tokens,
            "text_bytes": text_bytes,
            "bin_sha256": writer.bin_sha256.hexdigest(),
            "idx_sha256": idx_sha,
        }
        return pa.RecordBatch.from_pylist([row], schema=SHARD_SCHEMA)

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        current, writer, bin_file, text_bytes = None, None, None, 0
        for batch in batches:
            for index, tokens, nbytes in zip(
                batch.column("shard").to_pylist(), batch.column("tokens").to_pylist(), batch.column("text_bytes").to_pylist()
            ):
                if index != current:
                    if writer is not None:
                        yield finish(current, writer, bin_file, text_bytes)
                    current, text_bytes = index, 0
                    bin_file = io.open_output(f"{root}/{shards[index].name}.bin")
                    writer = IndexedDatasetWriter(bin_file, dtype)
                writer.add_raw(tokens)
                text_bytes += nbytes
        if writer is not None:
            yield finish(current, writer, bin_file, text_bytes)

    return run


# --- driver --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TokenizerInfo:
    uri: str
    name: str  # what SparkFiles.get resolves on the executors
    sha256: str
    vocab_size: int
    eot_id: int


_STAGING: list[str] = []
"""The driver's directory of tokenizer copies for SparkFiles, removed when the driver exits."""


def _staging_dir() -> str:
    if not _STAGING:
        _STAGING.append(tempfile.mkdtemp(prefix="teleflm-tokenize-"))
        atexit.register(shutil.rmtree, _STAGING[0], True)
    return _STAGING[0]


def ship_tokenizer(spark, path: str) -> TokenizerInfo:
    """Check the tokenizer (a ``tokenizer.json`` or a directory holding one; any Hadoop URI) on the
    driver and make it available to every executor.

    The copy that travels is named by its contents (Spark refuses two different files of one name in a
    session) and lives as long as the driver: executors fetch an added file at their next task, even
    one of a later job after this stage failed, so it must not disappear when the stage ends."""
    uri = io.qualify(path)
    if io.is_dir(uri):
        uri = io.join(uri, TOKENIZER_FILE)
    if not io.exists(uri):
        raise StageError(f"tokenizer not found: {path} (expected a {TOKENIZER_FILE} or a directory holding one)")
    data = io.read_bytes(uri)
    sha = hashlib.sha256(data).hexdigest()
    local = os.path.join(_staging_dir(), f"tokenizer-{sha[:16]}.json")
    if not os.path.exists(local):
        with open(f"{local}.tmp", "wb") as f:
            f.write(data)
        os.replace(f"{local}.tmp", local)
    try:
        tok, eot = load_tokenizer(local)
    except Exception as exc:  # not JSON, not a tokenizer, no end-of-text token
        raise StageError(f"{uri}: not a usable tokenizer: {exc}") from None
    sc = spark.sparkContext
    if not any(urlparse(f).path == local for f in sc.listFiles):
        sc.addFile(local)
    return TokenizerInfo(uri, os.path.basename(local), sha, tok.get_vocab_size(with_added_tokens=True), eot)


def check_heldout(tokenizer_uri: str, heldout: HeldoutConfig) -> None:
    """Refuse a held-out split with documents the tokenizer was trained on (when its training report says)."""
    report_uri = f"{tokenizer_uri.rsplit('/', 1)[0]}/{TOKENIZER_REPORT}"
    if not io.exists(report_uri):
        return
    trained = json.loads(io.read_text(report_uri)).get("heldout", {})
    if "fraction" not in trained:
        return
    if heldout.fraction > 0 and (heldout.seed != trained["seed"] or heldout.fraction > trained["fraction"]):
        raise StageError(
            f"held-out split (fraction {heldout.fraction}, seed {heldout.seed}) would validate on documents the tokenizer "
            f"was trained on: it held out fraction {trained['fraction']} with seed {trained['seed']} ({report_uri}); "
            "use its seed and at most its fraction"
        )


def mixture_planned_shares(inputs: list[str]) -> dict[str, float] | None:
    """The mixture stage's planned share per domain (Table 1 after water-filling: within every domain's
    epoch cap), when the single input is a mixture stage output."""
    if len(inputs) != 1 or not io.exists(io.join(io.resolve(inputs[0]), MIXTURE_MANIFEST)):
        return None
    manifest = json.loads(io.read_text(io.join(io.resolve(inputs[0]), MIXTURE_MANIFEST)))
    return {d["domain"]: float(d["planned_share"]) for d in manifest["domains"]}


def build_manifest(shards: list[Shard], rows: list[dict], tokenizer: TokenizerInfo, dtype: np.dtype, config: TokenizeConfig,
                   inputs: list[str], mixture_shares: dict[str, float] | None) -> dict:
    """manifest.json: what the trainer needs to read the shards and weigh the domains."""
    entries = []
    per_domain: dict[str, dict[str, Counter]] = {}
    for row in sorted(rows, key=lambda r: r["shard"]):
        shard = shards[row["shard"]]
        entries.append({
            "path": f"{shard.name}.bin", "domain": shard.domain, "split": shard.split,
            **{k: row[k] for k in ("documents", "tokens", "text_bytes", "bin_sha256", "idx_sha256")},
        })
        c = per_domain.setdefault(shard.domain, {s: Counter() for s in SPLITS})[shard.split]
        c.update(documents=row["documents"], tokens=row["tokens"], text_bytes=row["text_bytes"], shards=1)
    train_tokens = sum(d["train"]["tokens"] for d in per_domain.values()) or 1
    in_train = [d for d, s in per_domain.items() if s["train"]["tokens"]]
    share_total = sum(mixture_shares.get(d, 0.0) for d in in_train) if mixture_shares else 0.0
    domains = {}
    for domain, splits in sorted(per_domain.items()):
        token_share = splits["train"]["tokens"] / train_tokens
        share = mixture_shares.get(domain) if mixture_shares else None
        weight = (share or 0.0) / share_total if share_total else token_share
        domains[domain] = {
            "weight": round(weight if domain in in_train else 0.0, 8),
            "mixture_share": share,
            "token_share": round(token_share, 8),
            **{split: {k: counts[k] for k in ("documents", "tokens", "text_bytes", "shards")} for split, counts in splits.items()},
        }
    return {
        "format": "megatron-indexed-dataset",
        "format_version": MANIFEST_VERSION,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "inputs": inputs,
        "tokenizer": {"uri": tokenizer.uri, "sha256": tokenizer.sha256, "vocab_size": tokenizer.vocab_size, "eot_id": tokenizer.eot_id},
        "dtype": dtype.name,
        "heldout": config.heldout.model_dump(),
        "weights_from": "mixture's planned shares" if share_total else "train token share",
        "domains": domains,
        "shards": entries,
    }


def manifest_markdown(m: dict) -> str:
    t = m["tokenizer"]
    lines = [
        f"# Token shards ({m['dtype']}, vocabulary {t['vocab_size']:,}, end-of-text id {t['eot_id']})",
        "",
        f"Tokenizer sha256 `{t['sha256']}`; held-out fraction {m['heldout']['fraction']} (seed {m['heldout']['seed']}); "
        f"weights from the {m['weights_from']}.",
        "",
        "| domain | weight | mixture share | token share | train docs | train tokens | bytes/token | shards | valid docs | valid tokens |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for domain, d in m["domains"].items():
        tr, va = d["train"], d["valid"]
        bpt = tr["text_bytes"] / tr["tokens"] if tr["tokens"] else 0.0
        share = f"{100 * d['mixture_share']:.2f}%" if d["mixture_share"] is not None else "-"
        lines.append(
            f"| {domain} | {100 * d['weight']:.2f}% | {share} | {100 * d['token_share']:.2f}% | {tr['documents']:,} | "
            f"{tr['tokens']:,} | {bpt:.2f} | {tr['shards']} | {va['documents']:,} | {va['tokens']:,} |"
        )
    total = {s: sum(d[s]["tokens"] for d in m["domains"].values()) for s in SPLITS}
    lines += ["", f"{len(m['shards'])} shards; {total['train']:,} train and {total['valid']:,} valid tokens."]
    return "\n".join(lines) + "\n"


def stage_counters(m: dict, docs_in: int, bytes_in: int) -> Counter:
    """The stage's counters in the project's conventions (``datapipe.stats``), from the written shards."""
    c: Counter = Counter(docs_in=docs_in, bytes_in=bytes_in)
    for s in m["shards"]:
        c["docs_out"] += s["documents"]
        c["bytes_out"] += s["text_bytes"]
        c["tokens"] += s["tokens"]
        for key in ("documents", "tokens", "text_bytes"):
            c[f"shards.{s['domain']}.{s['split']}.{key}"] += s[key]
    c["drop.heldout_repeat"] = docs_in - c["docs_out"]  # copies of held-out documents
    return c


def input_documents(job: Job):
    """The input documents as (id, domain, text, copy), ``copy`` being the mixture's ``mix.copy`` (0 when
    absent); a row that records its copies (``datapipe.mixture.expand_copies``) is expanded into them."""
    from pyspark.sql import functions as F

    docs = job.docs
    missing = {"id", "domain", "text"} - set(docs.columns)
    if missing:
        raise StageError(f"input has no column(s) {sorted(missing)}: not documents of this project's schema ({', '.join(job.inputs)})")
    if "annotations" not in docs.columns:
        return docs.select("id", "domain", "text", F.lit(0).alias("copy"))
    annotation = F.col("annotations").getItem
    copies, prefix = annotation(COPIES_ANNOTATION).cast("int"), annotation(PREFIX_CHARS_ANNOTATION).cast("int")
    written = docs.where(copies.isNull()).select(
        "id", "domain", "text", F.coalesce(annotation(COPY_ANNOTATION), F.lit(0.0)).cast("int").alias("copy"))
    recorded = docs.where(copies.isNotNull())
    numbers = F.when(copies > 0, F.sequence(F.lit(0), copies - 1)).otherwise(F.array().cast("array<int>"))
    whole = recorded.select("id", "domain", "text", F.explode(numbers).alias("copy"))
    prefixes = recorded.where(prefix.isNotNull()).select("id", "domain", F.substring("text", 1, prefix).alias("text"), copies.alias("copy"))
    return written.unionByName(whole).unionByName(prefixes)


def domain_sizes(docs) -> tuple[dict[str, tuple[int, int]], int]:
    """``{domain: (bytes of all rows, bytes of first copies)}`` and the number of rows (one aggregation)."""
    from pyspark.sql import functions as F

    rows = docs.groupBy("domain").agg(
        F.count("*").alias("documents"),
        F.sum(F.octet_length("text")).alias("bytes"),
        F.sum(F.when(F.col("copy") == 0, F.octet_length("text")).otherwise(0)).alias("first_bytes"),
    ).collect()
    return {r["domain"]: (r["bytes"] or 0, r["first_bytes"] or 0) for r in rows}, sum(r["documents"] for r in rows)


def tokenize_to_shards(spark, docs, tokenizer: TokenizerInfo, dtype: np.dtype, shards: list[Shard], tasks: int,
                       config: TokenizeConfig, root: str) -> list[dict]:
    """Tokenize, shuffle by shard, sort, write the shards under ``root``; one row per shard written."""
    layout: dict[tuple[str, str], tuple[int, int]] = {}
    for i, s in enumerate(shards):
        first, n = layout.get((s.domain, s.split), (i, 0))
        layout[(s.domain, s.split)] = (first, n + 1)
    tokenized = docs.mapInArrow(tokenize_partition(tokenizer.name, dtype, layout, config), spark_schema(TOKENIZED_SCHEMA))
    written = (
        tokenized.repartition(tasks, "shard")
        .sortWithinPartitions("shard", "order", "id", "copy")
        .mapInArrow(write_partition(root, shards, dtype), spark_schema(SHARD_SCHEMA))
    )
    with progress(spark, STAGE):
        return [r.asDict() for r in written.collect()]


def write_shards(job: Job) -> dict:
    config: TokenizeConfig = job.config
    docs = input_documents(job)
    tokenizer = ship_tokenizer(job.spark, job.args.tokenizer)
    check_heldout(tokenizer.uri, config.heldout)
    dtype = token_dtype(tokenizer.vocab_size)
    sizes, documents = domain_sizes(docs)
    if not documents:
        raise StageError(f"no documents in the input ({', '.join(job.inputs)})")
    shards = plan_shards(sizes, config)
    tasks = writer_tasks(shards, sizes, config, job.spark.sparkContext.defaultParallelism)
    text_bytes = sum(b for b, _ in sizes.values())
    log.info("tokenizing %d documents (%.1f MB) of %d domains into %d shards (%s) written by %d tasks",
             documents, text_bytes / 1e6, len(sizes), len(shards), dtype.name, tasks)
    tmp = io.temporary_sibling(job.output)
    try:
        rows = tokenize_to_shards(job.spark, docs, tokenizer, dtype, shards, tasks, config, tmp)
        m = build_manifest(shards, rows, tokenizer, dtype, config, job.inputs, mixture_planned_shares(job.inputs))
        stats = stage_stats(job, stage_counters(m, documents, text_bytes), {"tokenizer": m["tokenizer"]})
        funnel = finish_output(tmp, job.output, stats, {MANIFEST_FILE: json.dumps(m, indent=2, ensure_ascii=False) + "\n",
                                                        MANIFEST_MD: manifest_markdown(m)})
    finally:
        io.discard(tmp, job.output)  # a killed driver leaves ._tmp-* behind, never a complete-looking output
    print(manifest_markdown(m))
    print(funnel)
    return stats


def arguments(parser) -> None:
    parser.add_argument("--tokenizer", "-t", required=True, help=f"{TOKENIZER_FILE} or the tokenizer directory holding it")


job = StageJob(STAGE, __doc__, TokenizeConfig, write_shards, arguments=arguments)
run, main = job.run, job.main

if __name__ == "__main__":
    # Run the importable module's main, not this script's copy: its functions then travel to the
    # executors by reference, so the per-worker tokenizer cache lives as long as the worker.
    from jobs import shards as stage

    raise SystemExit(stage.main())
