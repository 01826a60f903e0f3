"""A checkpoint as a Hugging Face Llama model that ``transformers`` loads without custom code.

    python -m train.export_hf --checkpoint out/run --tokenizer out/tokenizer --output out/hf [--dtype bfloat16] [--check]

Our decoder is Llama's computation (``train/model.py``) plus the two muP multipliers, which are linear
and so fold into weights: the embedding table is multiplied by ``input_mult`` and the LM head by
``output_mult / mup_scale_factor`` (both 1 without muP); ``config.json`` records the released-style values
(``use_mup``, ``input_mult``, ``output_mult``, ``mup_scale_factor``) under ``teleflm_mup``, marked as
folded. RoPE needs no permutation: ours already rotates the pairs ``(i, i + head_dim/2)``, the
rotate-half layout of HF's ``LlamaAttention`` (the permutation in HF's ``convert_llama_weights_to_hf.py``
is for Meta's interleaved pairs). Names::

    tok_embeddings.weight                  model.embed_tokens.weight      (x input_mult)
    layers.N.attention_norm.weight         model.layers.N.input_layernorm.weight
    layers.N.attention.wq|wk|wv|wo.weight  model.layers.N.self_attn.q_proj|k_proj|v_proj|o_proj.weight
    layers.N.ffn_norm.weight               model.layers.N.post_attention_layernorm.weight
    layers.N.feed_forward.w1|w3|w2.weight  model.layers.N.mlp.gate_proj|up_proj|down_proj.weight
    norm.weight                            model.norm.weight
    output.weight                          lm_head.weight                 (x output_mult / mup_scale_factor)

``vocab_size`` in ``config.json`` is the embedding rows (the padded vocabulary); the padding rows are
never produced by the tokenizer. The tokenizer goes out as ``tokenizer.json`` unchanged (so token ids
are the ones the model was trained on) with a ``PreTrainedTokenizerFast`` config naming the special
tokens of ``tokenizer/vocab.py``. The weights are read from the training checkpoint (a torch distributed
checkpoint, written at any layout) one output file's tensors at a time, never its optimizer state, into
safetensors files of at most ``--max-shard-mb`` (with ``model.safetensors.index.json`` when there is more
than one), in ``OUTPUT._tmp-*``, renamed into place when complete. ``--check`` then loads the export in
``transformers``' ``LlamaForCausalLM`` and compares its logits with the checkpoint's own model on a few
hundred tokens of the tokenizer's own vocabulary.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import shutil
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

from datapipe.cli import main_of
from datapipe.io import staged_directory
from tokenizer.chat import CHAT_TEMPLATE, IM_END, chat_tokenizer_json
from tokenizer.vocab import BEGIN_OF_TEXT, END_OF_TEXT, PADDING, TOKENIZER_FILE, load_tokenizer
from train.checkpoint import CheckpointError, load_model_tensors
from train.config import ModelConfig, load_model_config
from train.evaluate import (
    EvaluationError,
    check_model_tensors,
    checkpoint_growth,
    checkpoint_model_config,
    find_checkpoint,
    load_model,
)
from train.model import Transformer

log = logging.getLogger("train.export_hf")

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
LAYER_NAMES = {
    "attention_norm.weight": "input_layernorm.weight",
    "attention.wq.weight": "self_attn.q_proj.weight",
    "attention.wk.weight": "self_attn.k_proj.weight",
    "attention.wv.weight": "self_attn.v_proj.weight",
    "attention.wo.weight": "self_attn.o_proj.weight",
    "ffn_norm.weight": "post_attention_layernorm.weight",
    "feed_forward.w1.weight": "mlp.gate_proj.weight",
    "feed_forward.w3.weight": "mlp.up_proj.weight",
    "feed_forward.w2.weight": "mlp.down_proj.weight",
}
TOP_NAMES = {"tok_embeddings.weight": "model.embed_tokens.weight", "norm.weight": "model.norm.weight", "output.weight": "lm_head.weight"}
SINGLE_FILE = "model.safetensors"
INDEX_FILE = "model.safetensors.index.json"


def hf_name(name: str) -> str:
    """The HF Llama name of one of our parameters."""
    if name in TOP_NAMES:
        return TOP_NAMES[name]
    prefix, index, rest = name.split(".", 2)
    if prefix != "layers" or rest not in LAYER_NAMES:
        raise EvaluationError(f"no Hugging Face name for parameter {name!r}")
    return f"model.layers.{index}.{LAYER_NAMES[rest]}"


def hf_config(config: ModelConfig, special: dict[str, int], dtype: str) -> dict:
    """``config.json`` of a ``LlamaForCausalLM`` (keys that transformers 4.4x and 5.x both read)."""
    return {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": config.dim,
        "intermediate_size": config.ffn_dim,
        "num_hidden_layers": config.n_layers,
        "num_attention_heads": config.n_heads,
        "num_key_value_heads": config.kv_heads,
        "head_dim": config.head_dim,
        "hidden_act": "silu",
        "max_position_embeddings": config.max_seq_len,
        "rms_norm_eps": config.norm_eps,
        "rope_theta": config.rope_theta,
        "rope_scaling": None,
        "vocab_size": config.embedding_rows,
        "tie_word_embeddings": False,
        "attention_bias": False,
        "attention_dropout": 0.0,
        "mlp_bias": False,
        "initializer_range": config.std_vector,
        # the released Tele-FLM config.json's muP keys, for the record: the multipliers are already folded
        # into the weights, so a Llama loader must not apply them (and does not read them)
        "teleflm_mup": {"use_mup": config.use_mup, "input_mult": config.input_mult, "output_mult": config.output_mult,
                        "mup_scale_factor": config.width_mult, "folded_into_weights": True},
        "bos_token_id": special[BEGIN_OF_TEXT],
        "eos_token_id": special[END_OF_TEXT],
        "pad_token_id": special[PADDING],
        "torch_dtype": dtype,
        "use_cache": True,
    }


def tokenizer_files(config: ModelConfig, special: dict[str, int], chat: bool = False) -> dict[str, dict]:
    """``tokenizer_config.json``, ``special_tokens_map.json`` and ``generation_config.json``; a chat model
    (``chat``) gets the chat template, control tokens recognised in text (as its training had them) and
    generation that stops at the end of its turn."""
    tokens = {"bos_token": BEGIN_OF_TEXT, "eos_token": END_OF_TEXT, "pad_token": PADDING}
    tokenizer_config = {"tokenizer_class": "PreTrainedTokenizerFast", **tokens, "model_max_length": config.max_seq_len,
                        "clean_up_tokenization_spaces": False,
                        # as in pretraining: "<|endoftext|>" written in a text is text, not the control token
                        "split_special_tokens": True}
    eos = special[END_OF_TEXT]
    if chat:
        tokenizer_config.update(chat_template=CHAT_TEMPLATE, split_special_tokens=False)
        eos = [special[IM_END], special[END_OF_TEXT]]
    return {
        "tokenizer_config.json": tokenizer_config,
        "special_tokens_map.json": tokens,
        "generation_config.json": {"bos_token_id": special[BEGIN_OF_TEXT], "eos_token_id": eos,
                                   "pad_token_id": special[PADDING]},
    }


def is_chat_checkpoint(step_dir: Path) -> bool:
    """Whether a checkpoint is of a fine-tuning run on conversations (``train.sft``)."""
    meta = json.loads((step_dir / "trainer.json").read_text())
    return bool(((meta.get("trainer") or {}).get("config") or {}).get("run", {}).get("sft"))


def plan_shards(shapes: dict[str, tuple[int, ...]], itemsize: int, max_shard_bytes: int) -> list[list[str]]:
    """Consecutive tensors grouped into files of at most ``max_shard_bytes`` (a larger tensor gets its own)."""
    shards: list[list[str]] = [[]]
    size = 0
    for name, shape in shapes.items():
        nbytes = math.prod(shape) * itemsize
        if shards[-1] and size + nbytes > max_shard_bytes:
            shards.append([])
            size = 0
        shards[-1].append(name)
        size += nbytes
    return shards


def write_weights(step_dir: Path, config: ModelConfig, out: Path, dtype: torch.dtype, max_shard_bytes: int) -> int:
    """Stream the checkpoint's weights into safetensors files, one output file's tensors in memory at a
    time (read from the checkpoint as a partial state dict: no optimizer state, no other tensor):
    renamed, with the muP multipliers (``Transformer.input_mult``, ``.logit_scale``) folded in in float32
    before the cast. Returns the number of files."""
    with torch.device("meta"):
        reference = Transformer(config)
    scale = {"tok_embeddings.weight": reference.input_mult, "output.weight": reference.logit_scale}
    shapes = check_model_tensors(step_dir, reference)
    shards = plan_shards(shapes, torch.empty(0, dtype=dtype).element_size(), max_shard_bytes)
    names = [SINGLE_FILE] if len(shards) == 1 else [f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors" for i in range(len(shards))]
    weight_map, total = {}, 0
    for filename, shard in zip(names, shards):
        weights = {n: torch.empty(shapes[n], dtype=torch.float32) for n in shard}
        load_model_tensors(step_dir, weights)
        tensors = {hf_name(n): (w * scale.get(n, 1.0)).to(dtype).contiguous() for n, w in weights.items()}
        save_file(tensors, out / filename, metadata={"format": "pt"})
        weight_map.update(dict.fromkeys(tensors, filename))
        total += sum(t.numel() * t.element_size() for t in tensors.values())
    if len(shards) > 1:
        (out / INDEX_FILE).write_text(json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map}, indent=2) + "\n")
    return len(shards)


def special_token_ids(tok) -> dict[str, int]:
    ids = {t: tok.token_to_id(t) for t in (END_OF_TEXT, BEGIN_OF_TEXT, PADDING)}
    missing = [t for t, i in ids.items() if i is None]
    if missing:
        raise EvaluationError(f"the tokenizer has no {missing}: not one of this project's tokenizers")
    return ids


def export(checkpoint: str | Path, tokenizer: str | Path, output: str | Path, model_config: str | Path | None = None,
           dtype: str = "float32", max_shard_mb: int = 5000) -> Path:
    """Write the HF model directory ``output`` from a checkpoint (or a run's newest verified one)."""
    step_dir = find_checkpoint(checkpoint)
    growth = checkpoint_growth(step_dir)
    if growth is not None and growth[1] < 1.0:
        raise EvaluationError(f"{step_dir} was written during a growth ramp (masks at {growth[1]:.3g}): a Llama has no "
                              "masks; export a checkpoint from after the ramp")
    tok_path = Path(tokenizer)
    tok_file = tok_path / TOKENIZER_FILE if tok_path.is_dir() else tok_path
    try:
        tok, _ = load_tokenizer(tok_file)
    except (FileNotFoundError, ValueError) as exc:
        raise EvaluationError(str(exc)) from None
    vocab_size = tok.get_vocab_size(with_added_tokens=True)
    config = checkpoint_model_config(step_dir, model_config, vocab_size)
    chat = is_chat_checkpoint(step_dir)
    tokenizer_json = json.loads(tok_file.read_text(encoding="utf-8"))
    if chat:
        tokenizer_json = chat_tokenizer_json(tokenizer_json)
    special = special_token_ids(tok) | ({IM_END: tokenizer_json["model"]["vocab"][IM_END]} if chat else {})
    output = Path(output)
    with staged_directory(output) as tmp:
        shards = write_weights(step_dir, config, tmp, DTYPES[dtype], max_shard_mb * 2**20)
        files = {"config.json": hf_config(config, special, dtype), **tokenizer_files(config, special, chat)}
        for name, content in files.items():
            (tmp / name).write_text(json.dumps(content, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        if chat:  # the chat tokens in place of the reserved ones they take (same ids)
            (tmp / TOKENIZER_FILE).write_text(json.dumps(tokenizer_json, ensure_ascii=False), encoding="utf-8")
        else:
            shutil.copyfile(tok_file, tmp / TOKENIZER_FILE)
    log.info("exported %s (%d layers, %d embedding rows, %s, %d weight file(s)) to %s",
             step_dir, config.n_layers, config.embedding_rows, dtype, shards, output)
    return output


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m train.export_hf", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("--checkpoint", required=True, help="a checkpoint step directory, or a run directory (its newest verified checkpoint)")
    p.add_argument("--tokenizer", required=True, help=f"the tokenizer directory (or its {TOKENIZER_FILE})")
    p.add_argument("--output", "-o", required=True, help="the Hugging Face model directory to write (replaced atomically)")
    p.add_argument("--model-config", default=None,
                   help="model config YAML (vocabulary from the tokenizer); default: the one saved in the checkpoint")
    p.add_argument("--dtype", choices=sorted(DTYPES), default="float32", help="weights' dtype (default: %(default)s)")
    p.add_argument("--max-shard-mb", type=int, default=5000, help="largest weight file in MiB (default: %(default)s)")
    p.add_argument("--check", action="store_true", help="load the export in transformers' LlamaForCausalLM and compare "
                                                        "its logits with the checkpoint's model")
    return p


CHECK_TOLERANCE = {"float32": 1e-4, "bfloat16": 0.1}
"""Largest allowed logit difference of ``--check`` (bfloat16: rounding of the weights alone)."""


def check_export(checkpoint: str | Path, output: Path, dtype: str, model_config: str | Path | None = None,
                 tokens: int = 256) -> float:
    """The largest logit difference between ``LlamaForCausalLM`` on the export and the checkpoint's model, on
    ``tokens`` token ids spread over the vocabulary; raises when it is above ``CHECK_TOLERANCE``."""
    import transformers

    step_dir = find_checkpoint(checkpoint)
    tok, _ = load_tokenizer(output / TOKENIZER_FILE)
    config = checkpoint_model_config(step_dir, model_config, tok.get_vocab_size(with_added_tokens=True))
    ours = load_model(step_dir, config, torch.device("cpu")).eval()
    hf = transformers.LlamaForCausalLM.from_pretrained(output, dtype=DTYPES[dtype]).eval()
    ids = (torch.arange(tokens) * 7919 % config.vocab_size).view(1, -1)[:, : min(tokens, config.max_seq_len)]
    with torch.no_grad():
        difference = float((hf(ids).logits.float() - ours(ids).float()).abs().max())
    if difference > CHECK_TOLERANCE[dtype]:
        raise EvaluationError(f"{output}: LlamaForCausalLM's logits differ from the checkpoint's by {difference:.3g} "
                              f"(> {CHECK_TOLERANCE[dtype]})")
    return difference


def run(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    if args.max_shard_mb < 1:
        raise EvaluationError("--max-shard-mb must be positive")
    if args.model_config is not None:
        load_model_config(args.model_config)  # a bad config fails before the checkpoint is read
    output = export(args.checkpoint, args.tokenizer, args.output, args.model_config, args.dtype, args.max_shard_mb)
    print(f"wrote {output}")
    if args.check:
        difference = check_export(args.checkpoint, output, args.dtype, args.model_config)
        print(f"checked: transformers' LlamaForCausalLM loads {output}; its logits are the checkpoint's within {difference:.2g}")


main = main_of(run, EvaluationError, CheckpointError, logs=True)


if __name__ == "__main__":
    sys.exit(main())
