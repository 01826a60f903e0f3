"""Supervised fine-tuning (train/sft.py) on a tiny pretrained checkpoint: prompt tokens get no gradient,
packed and unpacked batches give the same loss, the run starts from the pretrained weights and resumes
bit-exactly."""

from __future__ import annotations

import json

import pytest
import torch
import yaml

from datapipe.config import ConfigError
from datapipe.instruct.conversation import Conversation, Message, write_jsonl
from tests.test_evaluate import CORPUS, small_tokenizer
from tokenizer.chat import chat_tokenizer
from train.checkpoint import save_checkpoint
from train.config import MODEL_CONFIG_DIR, load_model_config, load_train_config
from train.model import Transformer
from train.sft import IGNORE, SFTConfig, SFTData, SFTTrainer

TEXTS = [t for texts in CORPUS.values() for t in texts]


def conversations(n: int = 60) -> list[Conversation]:
    """Conversations of varied lengths and turns built from the test corpus's sentences."""
    sentences = [s.strip() for t in TEXTS for s in t.replace("。", ".").split(".") if s.strip()]
    out = []
    for i in range(n):
        pick = [sentences[(i * 7 + k) % len(sentences)] for k in range(1 + i % 4)]
        turns = [Message("user", f"Question {i}: {pick[0]}?"), Message("assistant", ". ".join(pick) + ".")]
        if i % 3 == 0:
            turns = [Message("system", "Answer briefly."), *turns, Message("user", "And then?"), Message("assistant", pick[-1])]
        out.append(Conversation(f"c{i}", tuple(turns), "en", "test"))
    return out


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("sft")
    tokenizer = small_tokenizer(root / "tokenizer", TEXTS, vocab_size=450)
    vocab = chat_tokenizer(tokenizer).get_vocab_size()
    config = load_model_config(MODEL_CONFIG_DIR / "tiny.yaml").with_vocab_size(vocab)
    model = Transformer(config, seed=3)
    save_checkpoint(root / "pretrained" / "checkpoints", 7, [model], [torch.optim.AdamW(model.parameters())],
                    {"config": {"model": config.model_dump()}})
    write_jsonl(conversations(), root / "conversations.jsonl")
    (root / "model.yaml").write_text(yaml.safe_dump(config.model_dump(exclude_unset=True)))
    return {"root": root, "tokenizer": tokenizer, "model": model, "config": config}


def write_config(setup, out, pack: bool = True, **changes) -> str:
    root = setup["root"]
    cfg = {"model": str(MODEL_CONFIG_DIR / "tiny.yaml"), "data": str(root / "conversations.jsonl"), "out": str(out),
           "seq_len": 128, "micro_batch_size": 2, "global_batch_tokens": 512, "max_steps": 6, "seed": 1,
           "optimizer": {"lr_vector": 1e-3, "lr_matrix": 1e-3, "lr_min": 1e-4, "warmup_steps": 2, "decay_steps": 6},
           "log_interval": 1, "eval_interval": None, "checkpoint_interval": 3, "keep_checkpoints": None,
           "sft": {"init": str(root / "pretrained"), "tokenizer": str(setup["tokenizer"]), "valid_conversations": 8,
                   "pack": pack},
           **changes}
    path = out.parent / f"{out.name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


def data(setup, pack: bool) -> SFTData:
    return SFTData(setup["root"] / "conversations.jsonl", chat_tokenizer(setup["tokenizer"]), 128, pack, 8, seed=1)


def batch_loss(model, d: SFTData, packed: bool) -> torch.Tensor:
    inputs, targets = torch.from_numpy(d.inputs), torch.from_numpy(d.targets)
    logits = model(inputs, torch.from_numpy(d.documents)) if packed else model(inputs)
    total = torch.nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=IGNORE, reduction="sum")
    return total / int((targets != IGNORE).sum())


def test_packed_and_unpacked_batches_give_the_same_loss(setup):
    packed, unpacked = data(setup, True), data(setup, False)
    assert len(packed.inputs) < len(unpacked.inputs) == len(packed.train)  # packing put several in a row
    assert packed.trained_tokens == unpacked.trained_tokens
    model = setup["model"].eval()
    with torch.no_grad():
        a, b = batch_loss(model, packed, True), batch_loss(model, unpacked, False)
    assert abs(float(a) - float(b)) < 1e-6


def test_prompt_tokens_get_no_gradient(setup):
    d = data(setup, True)
    model = setup["model"]
    inputs, targets = torch.from_numpy(d.inputs[:4]), torch.from_numpy(d.targets[:4])
    logits = model(inputs, torch.from_numpy(d.documents[:4]))
    logits.retain_grad()
    loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=IGNORE, reduction="sum")
    loss.backward()
    prompt = targets == IGNORE
    assert prompt.any() and (~prompt).any()
    assert float(logits.grad[prompt].abs().max()) == 0.0
    assert float(logits.grad[~prompt].abs().amax(-1).min()) > 0.0


def test_run_starts_from_the_pretrained_weights_and_resumes_bit_exactly(setup, tmp_path):
    first = SFTTrainer(load_train_config(write_config(setup, tmp_path / "a", max_steps=1), kind=SFTConfig), resume="none")
    theirs = setup["model"].state_dict()
    assert all(torch.equal(first.parts[0].state_dict()[k], theirs[k]) for k in theirs)
    straight = SFTTrainer(load_train_config(write_config(setup, tmp_path / "straight"), kind=SFTConfig), resume="none")
    history = straight.run()
    assert history[-1]["loss"] < history[0]["loss"]
    rows = [json.loads(line) for line in (tmp_path / "straight" / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["eval"]["held-out"] > 0
    SFTTrainer(load_train_config(write_config(setup, tmp_path / "resumed", max_steps=3), kind=SFTConfig), resume="none").run()
    resumed = SFTTrainer(load_train_config(write_config(setup, tmp_path / "resumed"), kind=SFTConfig), resume="auto")
    assert resumed.state.step == 3
    resumed.run()
    a, b = straight.parts[0].state_dict(), resumed.parts[0].state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_another_model_than_the_pretrained_is_refused(setup, tmp_path):
    other = tmp_path / "other.yaml"
    other.write_text(yaml.safe_dump({**setup["config"].model_dump(exclude_unset=True), "ffn_dim": 320}))
    with pytest.raises(ConfigError, match="is not the model of"):
        SFTTrainer(load_train_config(write_config(setup, tmp_path / "o", model=str(other)), kind=SFTConfig), resume="none")


def test_exported_chat_model_generates_a_reply_in_transformers(setup, tmp_path):
    """The SFT model exported with the chat template: apply_chat_template's prompt ids are the trainer's, and
    LlamaForCausalLM generates a reply from them (greedy), stopping at most at the end of its turn."""
    import transformers

    from tokenizer.chat import IM_END, encode_conversation
    from train.export_hf import export

    trainer = SFTTrainer(load_train_config(write_config(setup, tmp_path / "run", max_steps=2), kind=SFTConfig), resume="none")
    trainer.run()
    out = export(tmp_path / "run", setup["tokenizer"], tmp_path / "hf")
    tokenizer = transformers.AutoTokenizer.from_pretrained(out)
    model = transformers.LlamaForCausalLM.from_pretrained(out, dtype=torch.float32).eval()
    messages = [{"role": "user", "content": "What is a tokenizer?"}]
    prompt = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=False)
    ids, _ = encode_conversation(chat_tokenizer(setup["tokenizer"]), messages + [{"role": "assistant", "content": "x"}])
    assert ids[: len(prompt)] == prompt
    assert IM_END in tokenizer.get_vocab() and tokenizer.convert_tokens_to_ids(IM_END) in model.generation_config.eos_token_id
    reply = model.generate(torch.tensor([prompt]), max_new_tokens=12, do_sample=False)[0, len(prompt):]
    assert 0 < len(reply) <= 12
    with torch.no_grad():  # the export computes what the trainer's model computes
        ours = trainer.parts[0].eval()(torch.tensor([prompt]))
        theirs = model(torch.tensor([prompt])).logits
    assert float((ours - theirs).abs().max()) < 1e-4


def _sft_worker(rank: int, world: int, port: int, jobs: list[tuple[str, str]], queue) -> None:
    import os

    import torch.distributed as dist

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(world), RANK=str(rank), LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    results = []
    for config, resume in jobs:
        trainer = SFTTrainer(load_train_config(config, kind=SFTConfig), resume=resume)
        history = trainer.run()
        results.append({"losses": [r["loss"] for r in history], "valid": trainer.validate()["held-out"]["loss"]})
    queue.put((rank, results))
    dist.destroy_process_group()


def test_parallel_layouts_follow_one_process(setup, tmp_path):
    """DP 2 and TP 2 (packed rows) and PP 2 (unpacked rows: the same loss) against one process."""
    from tests.test_parallel import launch

    layouts = {"dp2": {"dp": 2}, "tp2": {"tp": 2}, "pp2": {"pp": 2, "microbatches": 2}}
    reference = {}
    for pack in (True, False):
        trainer = SFTTrainer(load_train_config(write_config(setup, tmp_path / f"one_{pack}", pack=pack), kind=SFTConfig),
                             resume="none")
        history = trainer.run()
        reference[pack] = {"losses": [r["loss"] for r in history], "valid": trainer.validate()["held-out"]["loss"]}
    jobs = [(write_config(setup, tmp_path / name, parallel=layout), "none") for name, layout in layouts.items()]
    for (name, layout), result in zip(layouts.items(), launch(2, jobs, _sft_worker)):
        expected = reference[layout.get("pp", 1) == 1]
        torch.testing.assert_close(result[0]["losses"], expected["losses"], rtol=0, atol=1e-5, msg=name)
        assert abs(result[0]["valid"] - expected["valid"]) < 1e-5, name
