"""The tokenize stage on Spark: every document's tokens once per copy, the held-out split, byte-identical
shards on any partitioning, manifest checksums and weights, clear errors on bad input."""

from __future__ import annotations

import hashlib
import json
import random
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from datapipe.document import DOCUMENT_SCHEMA, Document
from datapipe.heldout import is_heldout
from datapipe.indexed import IndexedDataset, load_manifest
from jobs import shards
from sample_corpus.compose import Composer
from tests.conftest import ROOT
from tokenizer.vocab import END_OF_TEXT, PADDING, SPECIAL_TOKENS, load_tokenizer
from train.data import valid_sets

pytestmark = pytest.mark.spark

HELDOUT = 0.2
TARGETS = {"WebText": 0.7, "Book": 0.2, "Code": 0.1}


def train_small_tokenizer(path: Path, texts: list[str], vocab_size: int = 1200, truncate: int | None = None) -> Path:
    """A byte-level BPE with this project's special tokens first, saved as tokenizer.json (with
    ``truncate``: also with truncation and padding switched on, as some tokenizer files are)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
    )
    tok.train_from_iterator(texts, trainer)
    if truncate:
        tok.enable_truncation(truncate)
        tok.enable_padding(pad_id=tok.token_to_id(PADDING), pad_token=PADDING)
    path.mkdir(parents=True, exist_ok=True)
    tok.save(str(path / "tokenizer.json"))
    return path


def full_encoder(tok_dir: Path):
    """The tokenizer as the stage must apply it: special-token strings as text, every token, no padding."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(tok_dir / "tokenizer.json"))
    tok.encode_special_tokens = True
    tok.no_truncation()
    tok.no_padding()
    return tok, tok.token_to_id(END_OF_TEXT)


def sample_documents(n: int = 240, seed: int = 0) -> list[Document]:
    """Articles of four languages in three domains, some repeated as the mixture stage repeats them
    (``mix.copy`` 0, 1, ...), plus hostile texts: empty, the end-of-text string as plain text, emoji."""
    rng = random.Random(seed)
    composer = Composer(rng)
    docs = []
    for i in range(n):
        domain = rng.choices(list(TARGETS), weights=[5, 2, 1])[0]
        text = composer.article(rng.choice(["en", "zh", "de", "ja"])).text()
        for copy in range(rng.choice([1, 1, 2, 3])):
            docs.append(Document(id=f"doc-{i:04d}", text=text, domain=domain, annotations={"mix.copy": float(copy)}))
    docs.append(Document(id="hostile-empty", text="", domain="WebText"))
    docs.append(Document(id="hostile-eot", text=f"before {END_OF_TEXT} after\n\t👩‍👩‍👧 ok", domain="Book"))
    return docs


def write_stage_output(path: Path, docs: list[Document], files: int = 2, planned: dict[str, float] | None = None) -> Path:
    """Documents as a stage output: Parquet files, ``_SUCCESS`` and, for a mixture, ``_manifest.json``."""
    path.mkdir(parents=True)
    for i in range(files):
        rows = [d.to_row() for d in docs[i::files]]
        pq.write_table(pa.Table.from_pylist(rows, schema=DOCUMENT_SCHEMA), path / f"part-{i:05d}.parquet")
    if planned:
        manifest = {"domains": [{"domain": d, "planned_share": s} for d, s in planned.items()]}
        (path / "_manifest.json").write_text(json.dumps(manifest))
    (path / "_SUCCESS").write_text("")
    return path


def config_file(tmp: Path, **overrides) -> Path:
    conf = {"heldout": {"fraction": HELDOUT, "seed": 3}, "shard_bytes": 60_000, "encode_batch_chars": 50_000} | overrides
    path = tmp / "tokenize.yaml"
    path.write_text(yaml.safe_dump(conf))
    return path


def shard_files(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.suffix in (".bin", ".idx")}


@pytest.fixture(scope="module")
def corpus(spark, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tokenize")
    docs = sample_documents()
    tok_dir = train_small_tokenizer(tmp / "tok", [d.text for d in docs], truncate=40)
    from tokenizers import Tokenizer

    assert len(Tokenizer.from_file(str(tok_dir / "tokenizer.json")).encode(docs[0].text).ids) == 40  # the file truncates; the stage must not
    mixture = write_stage_output(tmp / "mixture", docs, planned=TARGETS)
    conf = config_file(tmp)
    out = tmp / "shards"
    # Arrow batches of 16 rows: the stage gathers several of them for one encode_batch call
    key = "spark.sql.execution.arrow.maxRecordsPerBatch"
    before = spark.conf.get(key)
    spark.conf.set(key, "16")
    try:
        stats = shards.run(["--input", str(mixture), "--tokenizer", str(tok_dir), "--output", str(out), "--config", str(conf), "--partitions", "3"])
    finally:
        spark.conf.set(key, before)
    return docs, tok_dir, mixture, conf, out, stats


def test_every_document_once_per_copy_in_its_split(corpus):
    docs, tok_dir, _, _, out, stats = corpus
    tok, eot = full_encoder(tok_dir)
    expected: dict[tuple[str, str], Counter] = {}
    for d in docs:
        split = "valid" if is_heldout(d.id, HELDOUT, 3) else "train"
        if split == "valid" and d.annotations.get("mix.copy", 0) > 0:
            continue
        expected.setdefault((d.domain, split), Counter())[tuple(tok.encode(d.text).ids) + (eot,)] += 1
    m = load_manifest(out)
    found: dict[tuple[str, str], Counter] = {}
    for s in m["shards"]:
        ds = IndexedDataset(out / s["path"].removesuffix(".bin"))
        assert s["path"].startswith(f"{s['split']}/")
        assert len(ds) == s["documents"] and ds.num_tokens == s["tokens"]
        found.setdefault((s["domain"], s["split"]), Counter()).update(tuple(int(t) for t in ds[i]) for i in range(len(ds)))
    assert found == expected
    assert {split for _, split in found} == {"train", "valid"}
    # the end-of-text id only where the stage put it, although a text contains the string
    assert all(seq.count(eot) == 1 and seq[-1] == eot for c in found.values() for seq in c)
    assert any(len(seq) > 10 for seq in found[("Book", "train" if not is_heldout("hostile-eot", HELDOUT, 3) else "valid")])
    c = stats["counters"]
    assert c["docs_in"] == len(docs) and c["docs_out"] == sum(sum(x.values()) for x in expected.values())
    assert c["drop.heldout_repeat"] == c["docs_in"] - c["docs_out"] > 0
    assert c["tokens"] == sum(s["tokens"] for s in m["shards"])


def test_shards_split_domains_by_size(corpus):
    docs, *_, out, _ = corpus
    m = load_manifest(out)
    webtext_train = [s for s in m["shards"] if s["domain"] == "WebText" and s["split"] == "train"]
    webtext_bytes = sum(len(d.text.encode()) for d in docs if d.domain == "WebText")
    assert len(webtext_train) == -(-int((1 - HELDOUT) * webtext_bytes) // 60_000) > 1  # ceil(bytes / shard_bytes)
    assert all(s["documents"] > 0 for s in webtext_train)
    assert m["dtype"] == "uint16" and m["heldout"] == {"fraction": HELDOUT, "seed": 3}
    assert (out / "manifest.md").read_text().count("| WebText |") == 1
    assert (out / "_SUCCESS").exists() and (out / "_funnel.md").exists() and json.loads((out / "_stats.json").read_text())["stage"] == "shards"


def test_manifest_checksums_and_weights(corpus):
    docs, tok_dir, *_, out, _ = corpus
    m = load_manifest(out)
    for s in m["shards"]:
        prefix = out / s["path"].removesuffix(".bin")
        assert hashlib.sha256(Path(f"{prefix}.bin").read_bytes()).hexdigest() == s["bin_sha256"]
        assert hashlib.sha256(Path(f"{prefix}.idx").read_bytes()).hexdigest() == s["idx_sha256"]
    tok = m["tokenizer"]
    assert tok["sha256"] == hashlib.sha256((tok_dir / "tokenizer.json").read_bytes()).hexdigest()
    assert tok["eot_id"] == 0 and tok["vocab_size"] == load_tokenizer(tok_dir)[0].get_vocab_size()
    assert m["weights_from"] == "mixture's planned shares"
    assert {d: v["weight"] for d, v in m["domains"].items()} == pytest.approx(TARGETS)
    assert sum(v["token_share"] for v in m["domains"].values()) == pytest.approx(1.0)
    for domain, v in m["domains"].items():
        bytes_ = sum(len(d.text.encode()) for d in docs if d.domain == domain and not is_heldout(d.id, HELDOUT, 3))
        assert v["train"]["text_bytes"] == bytes_


def test_valid_documents_for_evaluation(corpus):
    docs, tok_dir, *_, out, _ = corpus
    tok, eot = full_encoder(tok_dir)
    sets = valid_sets(out)
    held = {d.id: d for d in docs if is_heldout(d.id, HELDOUT, 3)}
    assert set(sets) == {d.domain for d in held.values()}
    for domain, vs in sets.items():
        mine = [d for d in held.values() if d.domain == domain]
        assert vs.documents == len(mine) and vs.text_bytes == sum(len(d.text.encode()) for d in mine)
        got = sorted(tuple(int(t) for t in seq) for seq in vs.iter_documents())
        assert got == sorted(tuple(tok.encode(d.text).ids) + (eot,) for d in mine)
        assert vs.tokens == sum(len(s) for s in got)


def test_byte_identical_on_any_partitioning_also_as_a_script(corpus, tmp_path):
    """Run as spark-submit would (the file as a script, its own JVM), on one partition and one core,
    with Spark's usual Arrow batches."""
    _, tok_dir, mixture, conf, out, _ = corpus
    again = tmp_path / "again"
    cmd = [sys.executable, "jobs/shards.py", "--input", str(mixture), "--tokenizer", str(tok_dir / "tokenizer.json"),
           "--output", str(again), "--config", str(conf), "--partitions", "1", "--master", "local[1]"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert shard_files(again) == shard_files(out) and len(shard_files(out)) > 6
    assert load_manifest(again)["shards"] == load_manifest(out)["shards"]


def test_plain_stage_output_weighs_by_tokens_and_rerun_replaces(spark, corpus, tmp_path):
    docs, tok_dir, *_ = corpus
    inp = write_stage_output(tmp_path / "docs", docs[:60], files=1)
    out = tmp_path / "out"
    for _ in range(2):  # the second run replaces the first output
        shards.run(["--input", str(inp), "--tokenizer", str(tok_dir), "--output", str(out), "--config", str(config_file(tmp_path, heldout={"fraction": 0.0, "seed": 0}))])
    m = load_manifest(out)
    assert m["weights_from"] == "train token share" and {s["split"] for s in m["shards"]} == {"train"}
    assert all(v["weight"] == v["token_share"] and v["mixture_share"] is None for v in m["domains"].values())
    assert not list(tmp_path.glob("out._tmp-*")) and not list(tmp_path.glob("out._old-*"))


def test_bad_input_is_a_clear_error(spark, corpus, tmp_path, capsys):
    _, tok_dir, mixture, *_ = corpus
    incomplete = tmp_path / "incomplete"
    incomplete.mkdir()
    (incomplete / "part-0.parquet").write_bytes((mixture / "part-00000.parquet").read_bytes())
    other = tmp_path / "other"
    other.mkdir()
    pq.write_table(pa.table({"id": ["a"], "body": ["x"]}), other / "part-0.parquet")
    (other / "_SUCCESS").write_text("")
    no_eot = tmp_path / "no-eot.json"
    no_eot.write_text((tok_dir / "tokenizer.json").read_text().replace(END_OF_TEXT, "<|not-eot|>"))
    trained_other = tmp_path / "tok-other-heldout"
    trained_other.mkdir()
    (trained_other / "tokenizer.json").write_bytes((tok_dir / "tokenizer.json").read_bytes())
    (trained_other / "training_report.json").write_text(json.dumps({"heldout": {"fraction": 0.1, "seed": 3}}))
    cases = [
        (incomplete, tok_dir, "no _SUCCESS"),
        (mixture, trained_other, "would validate on documents the tokenizer was trained on"),
        (tmp_path / "nowhere", tok_dir, "input not found"),
        (other, tok_dir, "no column(s) ['domain', 'text']"),
        (mixture, tmp_path / "no-tokenizer", "tokenizer not found"),
        (mixture, no_eot, "not a usable tokenizer"),
    ]
    for inp, tok, message in cases:
        assert shards.main(["--input", str(inp), "--tokenizer", str(tok), "--output", str(tmp_path / "o")]) == 2
        assert message in capsys.readouterr().err
    assert not (tmp_path / "o").exists() and not list(tmp_path.glob("o._tmp-*"))
    bad_conf = tmp_path / "bad.yaml"
    bad_conf.write_text("heldout: {fraction: 1.5}\n")
    assert shards.main(["--input", str(mixture), "--tokenizer", str(tok_dir), "--output", str(tmp_path / "o"), "--config", str(bad_conf)]) == 2
    assert "heldout.fraction" in capsys.readouterr().err


def test_help():
    for cmd in (["jobs/shards.py"], ["-m", "jobs.shards"]):
        proc = subprocess.run([sys.executable, *cmd, "--help"], cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0 and "--tokenizer" in proc.stdout


def test_default_config_is_the_file_and_agrees_with_the_tokenizer():
    from datapipe.config import load_config
    from tokenizer.config import TokenizerConfig

    config = load_config(shards.TokenizeConfig, ROOT / "configs" / "tokenize.yaml")
    assert config == shards.TokenizeConfig()
    tok = load_config(TokenizerConfig, ROOT / "configs" / "tokenizer.yaml")
    assert config.heldout.seed == tok.heldout_seed and config.heldout.fraction <= tok.heldout_fraction
