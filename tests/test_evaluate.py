"""Bits per byte per domain (train/evaluate.py): against hand computations and a plain per-document loop."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from datapipe.indexed import token_dtype, write_indexed_dataset
from jobs.shards import Shard, TokenizeConfig, TokenizerInfo, build_manifest
from tokenizer.vocab import END_OF_TEXT, SPECIAL_TOKENS, load_tokenizer
from train.checkpoint import save_checkpoint
from train.config import MODEL_CONFIG_DIR, load_model_config
from train.data import valid_sets
from train.evaluate import EvaluationError, bits_per_byte, main, token_byte_lengths
from train.model import Transformer

ROOT = Path(__file__).resolve().parent.parent
SEQ_LEN = 16

CORPUS = {
    "WebText": [
        "The quick brown fox jumps over the lazy dog. " * 3,
        "Bits per byte divides the total negative log-likelihood by the size of the text.",
        "北京市是中国的首都，也是一座历史悠久的文化名城。长城和故宫吸引了世界各地的游客。",
        "上海位于长江入海口，是中国最大的经济中心之一。",
        "Short.",
    ],
    "Code": [
        "def add(a, b):\n    return a + b\n\n\nprint(add(1, 2))\n",
        "for i in range(10):\n    if i % 2 == 0:\n        print(i)\n",
        "# 注释：计算平方\nsquares = [x * x for x in range(5)]\n",
    ],
}


def small_tokenizer(path: Path, texts: list[str], vocab_size: int = 450) -> Path:
    """A byte-level BPE with this project's special tokens first (ids 0, 1, 2, ...), saved as tokenizer.json."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(texts * 20, trainer)
    path.mkdir(parents=True, exist_ok=True)
    tok.save(str(path / "tokenizer.json"))
    return path


def write_shards(out: Path, corpus: dict[str, list[str]], tok_dir: Path) -> Path:
    """The tokenize stage's layout for ``corpus``: per domain one train and one valid shard (the documents
    in the given order, each with its end-of-text), and manifest.json from jobs.shards.build_manifest."""
    tok, eot = load_tokenizer(tok_dir)
    vocab = tok.get_vocab_size(with_added_tokens=True)
    dtype = token_dtype(vocab)
    shards, rows = [], []
    for domain, texts in corpus.items():
        docs = [np.array(tok.encode(t).ids + [eot]) for t in texts]
        for split in ("train", "valid"):
            shard = Shard(domain, split, 0)
            info = write_indexed_dataset(out / shard.name, docs, dtype)
            rows.append({"shard": len(shards), "text_bytes": sum(len(t.encode("utf-8")) for t in texts), **info})
            shards.append(shard)
    info = TokenizerInfo(f"file:{tok_dir / 'tokenizer.json'}", "tokenizer.json", "0" * 64, vocab, eot)
    manifest = build_manifest(shards, rows, info, dtype, TokenizeConfig(), ["test"], None)
    (out / "manifest.json").write_text(json.dumps(manifest))
    return out


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("evaluate")
    tok_dir = small_tokenizer(tmp / "tokenizer", [t for texts in CORPUS.values() for t in texts])
    return tok_dir, write_shards(tmp / "shards", CORPUS, tok_dir)


def tiny_config(vocab_size: int, **changes):
    return load_model_config(MODEL_CONFIG_DIR / "tiny.yaml").with_changes(vocab_size=vocab_size, **changes)


def random_model(vocab_size: int, **changes) -> Transformer:
    torch.manual_seed(0)
    model = Transformer(tiny_config(vocab_size, **changes))
    with torch.no_grad():
        model.output.weight.mul_(30)  # logits of order 1, so that context matters to the loss
    return model


def text_tokens(tok_dir: Path, text: str) -> list[int]:
    return load_tokenizer(tok_dir)[0].encode(text).ids


def reference_nll(model: Transformer, tokens: list[int], eot: int, seq_len: int) -> float:
    """One document, one window at a time: [end-of-text] + tokens, each token predicted from those before it."""
    stream = torch.tensor([eot, *tokens])
    total = 0.0
    with torch.no_grad():
        for start in range(0, len(tokens), seq_len):
            window = stream[start : start + seq_len + 1]
            logp = F.log_softmax(model(window[None, :-1])[0].double(), dim=-1)
            total -= logp.gather(1, window[1:, None]).sum().item()
    return total


def test_uniform_model_gives_the_hand_computed_bpb_over_utf8_bytes(data):
    tok_dir, shards = data
    model = Transformer(tiny_config(load_tokenizer(tok_dir)[0].get_vocab_size(with_added_tokens=True),
                                    readout_zero_init=True, pad_vocab_to_multiple_of=128))
    rows = model.config.embedding_rows  # zero LM head: every target costs ln(rows) nats, padding rows included
    result = bits_per_byte(model, valid_sets(shards), SEQ_LEN, batch_size=3, device="cpu")
    for domain, texts in CORPUS.items():
        n_tokens = sum(len(text_tokens(tok_dir, t)) for t in texts)
        n_bytes = sum(len(t.encode("utf-8")) for t in texts)
        r = result[domain]
        assert r["tokens"] == n_tokens  # end-of-text targets are not counted
        assert r["bytes"] == n_bytes and r["bytes_from"] == "manifest"
        assert n_bytes > sum(len(t) for t in texts)  # the Chinese text: bytes, not characters
        assert r["nll_nats"] == pytest.approx(n_tokens * math.log(rows), rel=1e-6)
        assert r["bpb"] == pytest.approx(n_tokens * math.log(rows) / (math.log(2) * n_bytes), rel=1e-6)
        assert r["documents"] == len(texts)


def test_batched_windows_equal_a_plain_per_document_loop(data):
    tok_dir, shards = data
    tok, eot = load_tokenizer(tok_dir)
    model = random_model(tok.get_vocab_size(with_added_tokens=True))
    result = bits_per_byte(model, valid_sets(shards), SEQ_LEN, batch_size=3, device="cpu")
    for domain, texts in CORPUS.items():
        assert max(len(text_tokens(tok_dir, t)) for t in texts) > 2 * SEQ_LEN  # several windows in a document
        nll = sum(reference_nll(model, text_tokens(tok_dir, t), eot, SEQ_LEN) for t in texts)
        assert result[domain]["nll_nats"] == pytest.approx(nll, rel=1e-5)
        assert result[domain]["bpb"] == pytest.approx(nll / (math.log(2) * sum(len(t.encode()) for t in texts)), rel=1e-5)
    longer = bits_per_byte(model, valid_sets(shards), 4 * SEQ_LEN, batch_size=3, device="cpu")
    assert longer["WebText"]["nll_nats"] != pytest.approx(result["WebText"]["nll_nats"], rel=1e-3)  # context is used


def test_max_tokens_counts_the_bytes_of_the_documents_evaluated(data):
    tok_dir, shards = data
    tok, eot = load_tokenizer(tok_dir)
    model = random_model(tok.get_vocab_size(with_added_tokens=True))
    token_bytes = token_byte_lengths(tok)
    texts = CORPUS["WebText"]
    lengths = [len(text_tokens(tok_dir, t)) for t in texts]
    assert sum(int(token_bytes[text_tokens(tok_dir, t)].sum()) for t in texts) == sum(len(t.encode()) for t in texts)

    first_three = sum(lengths[:3])  # a document boundary: exact bytes of three whole documents, one of them Chinese
    r = bits_per_byte(model, valid_sets(shards), SEQ_LEN, 2, "cpu", max_tokens=first_three, token_bytes=token_bytes)["WebText"]
    assert (r["tokens"], r["documents"], r["bytes_from"]) == (first_three, 3, "tokens")
    assert r["bytes"] == sum(len(t.encode("utf-8")) for t in texts[:3])
    assert r["nll_nats"] == pytest.approx(sum(reference_nll(model, text_tokens(tok_dir, t), eot, SEQ_LEN) for t in texts[:3]), rel=1e-5)

    cut = lengths[0] + 5  # inside the second document, without a tokenizer: bytes apportioned by tokens
    r = bits_per_byte(model, valid_sets(shards), SEQ_LEN, 2, "cpu", max_tokens=cut)["WebText"]
    total_bytes = sum(len(t.encode()) for t in texts)
    assert (r["tokens"], r["documents"], r["bytes_from"]) == (cut, 2, "apportioned")
    assert r["bytes"] == round(total_bytes * cut / sum(lengths))


def test_token_byte_lengths_refuse_a_tokenizer_that_is_not_byte_level():
    from tokenizers import Tokenizer, models, normalizers

    tok = Tokenizer(models.WordLevel({"a": 0, END_OF_TEXT: 1}, unk_token=END_OF_TEXT))
    tok.normalizer = normalizers.NFKC()
    with pytest.raises(EvaluationError, match="byte-level"):
        token_byte_lengths(tok)


def save_run(run: Path, model: Transformer, trainer_config: dict) -> Path:
    return save_checkpoint(run / "checkpoints", 12, [model], [torch.optim.AdamW(model.parameters())], {"config": trainer_config})


def test_cli_writes_the_table_from_the_saved_config_or_a_config_file(data, tmp_path, capsys):
    tok_dir, shards = data
    vocab = load_tokenizer(tok_dir)[0].get_vocab_size(with_added_tokens=True)
    model = random_model(vocab)
    save_run(tmp_path / "run", model, {"model": model.config.model_dump(), "run": {"seq_len": SEQ_LEN}})
    out = tmp_path / "eval"
    assert main(["--checkpoint", str(tmp_path / "run"), "--data", str(shards), "--output", str(out), "--batch-size", "2"]) == 0
    report = json.loads((out / "bpb.json").read_text())
    (row,) = report["checkpoints"]
    assert (row["label"], row["step"], row["seq_len"]) == ("run step 12", 12, SEQ_LEN)
    direct = bits_per_byte(model, valid_sets(shards), SEQ_LEN, 2, "cpu")
    for domain in CORPUS:
        assert row["domains"][domain]["bpb"] == pytest.approx(direct[domain]["bpb"], rel=1e-6)
    assert row["avg"] == pytest.approx(sum(direct[d]["bpb"] for d in CORPUS) / len(CORPUS), rel=1e-6)
    csv_lines = (out / "bpb.csv").read_text().splitlines()
    assert csv_lines[0] == "model,step,Code,WebText,avg,weighted_avg" and csv_lines[1].startswith("run step 12,12,")
    assert "| Model | Code | WebText | Avg. | Weighted avg. |" in (out / "bpb.md").read_text()
    assert "| run step 12 |" in capsys.readouterr().out

    # the model config from a YAML file, the vocabulary from the manifest; the step directory given directly
    tiny = Transformer(tiny_config(vocab))
    tiny.load_state_dict(model.state_dict())
    step = save_run(tmp_path / "bare", tiny, {})
    out2 = tmp_path / "eval2"
    args = ["--checkpoint", str(step), "--data", str(shards), "--output", str(out2), "--seq-len", str(SEQ_LEN)]
    assert main([*args, "--model-config", str(MODEL_CONFIG_DIR / "tiny.yaml")]) == 0
    row2 = json.loads((out2 / "bpb.json").read_text())["checkpoints"][0]
    assert row2["domains"]["Code"]["bpb"] == pytest.approx(direct["Code"]["bpb"], rel=1e-6)
    assert main(args) == 2
    assert "holds no model config" in capsys.readouterr().err


def test_cli_errors_are_one_line_with_exit_code_2(data, tmp_path, capsys):
    _, shards = data
    assert main(["--checkpoint", str(tmp_path / "nowhere"), "--data", str(shards), "--output", str(tmp_path / "o")]) == 2
    assert capsys.readouterr().err.strip() == f"error: checkpoint not found: {tmp_path / 'nowhere'}"
    (tmp_path / "empty_run" / "checkpoints").mkdir(parents=True)
    assert main(["--checkpoint", str(tmp_path / "empty_run"), "--data", str(shards), "--output", str(tmp_path / "o")]) == 2
    assert "no complete checkpoint" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_help():
    proc = subprocess.run([sys.executable, "-m", "train.evaluate", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "--checkpoint" in proc.stdout and "bits per byte" in proc.stdout.lower()
