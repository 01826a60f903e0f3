"""Export to a Hugging Face Llama checkpoint (train/export_hf.py): transformers' logits equal ours, tokenizer round trip."""

from __future__ import annotations

import json
import math

import pytest
import torch
import transformers
from safetensors.torch import load_file, save_file

from tests.test_evaluate import CORPUS, small_tokenizer
from tokenizer.vocab import BEGIN_OF_TEXT, END_OF_TEXT, PADDING, load_tokenizer
from train import checkpoint as ckpt
from train.checkpoint import save_checkpoint
from train.config import MODEL_CONFIG_DIR, load_model_config
from train.evaluate import EvaluationError, find_checkpoint, load_model
from train.export_hf import check_export, export, main
from train.model import Transformer

TEXTS = [t for texts in CORPUS.values() for t in texts]


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory):
    return small_tokenizer(tmp_path_factory.mktemp("tokenizer"), TEXTS)


@pytest.fixture(scope="module")
def run(tokenizer_dir, tmp_path_factory):
    """A muP model (input_mult 3, output_mult 0.5, width multiplier 2, GQA, vocabulary padded to 512 rows)
    with non-trivial norm gains, saved as a run's checkpoint."""
    vocab = load_tokenizer(tokenizer_dir)[0].get_vocab_size(with_added_tokens=True)
    config = load_model_config(MODEL_CONFIG_DIR / "tiny.yaml").with_changes(
        vocab_size=vocab, pad_vocab_to_multiple_of=128, input_mult=3.0, output_mult=0.5, n_kv_heads=2)
    assert config.width_mult == 2 and config.embedding_rows == 512 > vocab
    torch.manual_seed(0)
    model = Transformer(config)
    with torch.no_grad():
        model.output.weight.mul_(30)
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.uniform_(0.5, 1.5)
    root = tmp_path_factory.mktemp("run")
    save_checkpoint(root / "checkpoints", 3, [model], [torch.optim.AdamW(model.parameters())], {"config": {"model": config.model_dump()}})
    return root, model


@pytest.mark.parametrize("max_shard_mb", [5000, 1])
def test_llama_logits_equal_ours(run, tokenizer_dir, tmp_path, max_shard_mb):
    root, model = run
    out = export(root, tokenizer_dir, tmp_path / "hf", max_shard_mb=max_shard_mb)
    files = {p.name for p in out.iterdir()}
    assert {"config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"} <= files
    assert ("model.safetensors" in files) == (max_shard_mb == 5000)
    assert ("model.safetensors.index.json" in files) == (max_shard_mb == 1)

    hf = transformers.LlamaForCausalLM.from_pretrained(out, dtype=torch.float32).eval()
    assert hf.config.vocab_size == 512 and not hf.config.tie_word_embeddings
    # the released config.json's muP keys, recorded as folded into the weights (the logits below prove it)
    assert json.loads((out / "config.json").read_text())["teleflm_mup"] == {
        "use_mup": True, "input_mult": 3.0, "output_mult": 0.5, "mup_scale_factor": 2.0, "folded_into_weights": True}
    assert (hf.config.bos_token_id, hf.config.eos_token_id, hf.config.pad_token_id) == (1, 0, 2)
    torch.manual_seed(1)
    tokens = torch.randint(0, model.config.vocab_size, (2, 48))
    with torch.no_grad():
        ours = model.eval()(tokens)
        theirs = hf(tokens).logits
    assert ours.std() > 1  # logits large enough for the comparison to mean something
    assert (ours - theirs).abs().max() < 1e-4


def test_bfloat16_export_is_close(run, tokenizer_dir, tmp_path):
    root, model = run
    out = export(root, tokenizer_dir, tmp_path / "hf", dtype="bfloat16")
    assert json.loads((out / "config.json").read_text())["torch_dtype"] == "bfloat16"
    hf = transformers.LlamaForCausalLM.from_pretrained(out).eval()
    assert hf.dtype == torch.bfloat16
    tokens = torch.arange(40)[None]
    with torch.no_grad():
        diff = (model.eval()(tokens) - hf.float()(tokens).logits).abs().max()
    assert diff < 0.1 * model(tokens).abs().max()


def test_export_and_evaluation_read_only_the_weights(run, tokenizer_dir, tmp_path, monkeypatch):
    """Neither reads the optimizer state; the export reads one output file's tensors per load (1 MiB here)."""
    loads = []

    class RecordingReader(ckpt.SafeFileSystemReader):
        def read_data(self, plan, planner):
            loads.append({item.dest_index.fqn: math.prod(item.lengths) for item in plan.items})
            return super().read_data(plan, planner)

    monkeypatch.setattr(ckpt, "SafeFileSystemReader", RecordingReader)
    root, model = run
    export(root, tokenizer_dir, tmp_path / "hf", max_shard_mb=1)
    weights = sorted("model." + name for name in model.state_dict())
    assert sorted(name for load in loads for name in load) == weights  # each weight once, nothing else
    largest = max(p.numel() for p in model.parameters())
    assert len(loads) > 1 and all(4 * sum(load.values()) <= max(2**20, 4 * largest) for load in loads)
    loads.clear()
    load_model(find_checkpoint(root), model.config, torch.device("cpu"))
    assert [sorted(load) for load in loads] == [weights]


def test_autotokenizer_round_trip(run, tokenizer_dir, tmp_path):
    root, _ = run
    out = export(root, tokenizer_dir, tmp_path / "hf")
    hf_tok = transformers.AutoTokenizer.from_pretrained(out)
    ours, eot = load_tokenizer(tokenizer_dir)
    assert len(hf_tok) == ours.get_vocab_size(with_added_tokens=True)
    assert (hf_tok.eos_token, hf_tok.bos_token, hf_tok.pad_token) == (END_OF_TEXT, BEGIN_OF_TEXT, PADDING)
    assert (hf_tok.eos_token_id, hf_tok.bos_token_id, hf_tok.pad_token_id) == (eot, ours.token_to_id(BEGIN_OF_TEXT), ours.token_to_id(PADDING))
    for text in [*TEXTS, "混合 mixed text, 数字 12345 and émojis 🙂"]:
        ids = hf_tok(text)["input_ids"]
        assert ids == ours.encode(text).ids  # no BOS added: the ids the model was trained on
        assert hf_tok.decode(ids) == text
    generation = transformers.GenerationConfig.from_pretrained(out)
    assert (generation.bos_token_id, generation.eos_token_id, generation.pad_token_id) == (1, 0, 2)


def test_errors(run, tokenizer_dir, tmp_path, capsys):
    root, _ = run
    other = small_tokenizer(tmp_path / "other", TEXTS, vocab_size=420)
    with pytest.raises(EvaluationError, match="vocabulary"):
        export(root, other, tmp_path / "hf")
    assert not (tmp_path / "hf").exists()
    assert main(["--checkpoint", str(tmp_path / "missing"), "--tokenizer", str(tokenizer_dir), "--output", str(tmp_path / "hf")]) == 2
    assert capsys.readouterr().err.strip() == f"error: checkpoint not found: {tmp_path / 'missing'}"
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0 and "--tokenizer" in capsys.readouterr().out


def test_check_loads_the_export_in_transformers(run, tokenizer_dir, tmp_path, capsys):
    """``--check``: LlamaForCausalLM on the export against the checkpoint's model; a tampered export fails it."""
    root, _ = run
    args = ["--checkpoint", str(root), "--tokenizer", str(tokenizer_dir), "--output", str(tmp_path / "hf"), "--check"]
    assert main(args) == 0
    assert "checked: transformers' LlamaForCausalLM loads" in capsys.readouterr().out
    weights = load_file(tmp_path / "hf" / "model.safetensors")
    weights["model.norm.weight"] = weights["model.norm.weight"] * 1.01
    save_file(weights, tmp_path / "hf" / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(EvaluationError, match="logits differ"):
        check_export(root, tmp_path / "hf", "float32")
