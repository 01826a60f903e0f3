"""The chat format (tokenizer/chat.py) on a tokenizer trained by this project's tokenizer code: transformers'
apply_chat_template with our Jinja template gives exactly the ids the trainer trains on, and the loss mask
covers the assistant turns (and their end token) only."""

from __future__ import annotations

import json

import pytest
import transformers

from tokenizer.chat import CHAT_TEMPLATE, IM_END, IM_START, chat_tokenizer, chat_tokenizer_json, encode_conversation, render
from tokenizer.train import TokenizerConfig, train_tokenizer
from tokenizer.vocab import BEGIN_OF_TEXT, END_OF_TEXT, PADDING, SPECIAL_TOKENS

TEXTS = ["The quick brown fox jumps over the lazy dog. " * 3, "人工智能是计算机科学的一个分支，研究如何让机器像人一样思考。",
         "def add(a, b):\n    return a + b\n", "Give three tips for staying healthy: eat well, sleep, move.\n"] * 30

CONVERSATIONS = [
    [{"role": "user", "content": "Give three tips for staying healthy."},
     {"role": "assistant", "content": "1. Eat well.\n2. Sleep enough.\n3. Move every day."}],
    [{"role": "system", "content": "你是一个乐于助人的助手。"},
     {"role": "user", "content": "解释什么是人工智能。"},
     {"role": "assistant", "content": "人工智能是计算机科学的一个分支。"},
     {"role": "user", "content": "  def add(a, b):\n    return a + b  "},
     {"role": "assistant", "content": " It adds a and b.\n"}],
]


@pytest.fixture(scope="module")
def tokenizer_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("tok") / "tokenizer.json"
    train_tokenizer(TEXTS, TokenizerConfig(vocab_size=500, show_progress=False)).save(str(path))
    return path


@pytest.fixture(scope="module")
def hf_tokenizer(tokenizer_file, tmp_path_factory):
    out = tmp_path_factory.mktemp("hf")
    (out / "tokenizer.json").write_text(json.dumps(chat_tokenizer_json(json.loads(tokenizer_file.read_text()))))
    return transformers.PreTrainedTokenizerFast(tokenizer_file=str(out / "tokenizer.json"), bos_token=BEGIN_OF_TEXT,
                                                eos_token=END_OF_TEXT, pad_token=PADDING, chat_template=CHAT_TEMPLATE)


def test_chat_tokens_take_the_reserved_ids(tokenizer_file):
    tok = chat_tokenizer(tokenizer_file)
    assert tok.token_to_id(IM_START) == SPECIAL_TOKENS.index("<|reserved_0|>")
    assert tok.token_to_id(IM_END) == SPECIAL_TOKENS.index("<|reserved_1|>")
    assert tok.token_to_id("<|reserved_0|>") is None and tok.get_vocab_size() == json.loads(
        tokenizer_file.read_text())["model"]["vocab"].__len__()


@pytest.mark.parametrize("messages", CONVERSATIONS)
def test_apply_chat_template_gives_the_trainers_ids(messages, tokenizer_file, hf_tokenizer):
    ids, trained = encode_conversation(chat_tokenizer(tokenizer_file), messages)
    assert hf_tokenizer.apply_chat_template(messages, tokenize=False) == render(messages)
    theirs = hf_tokenizer.apply_chat_template(messages, tokenize=True, return_dict=False)
    assert theirs == ids
    # the generation prompt: the same ids up to the last assistant turn, then "<|im_start|>assistant\n"
    prompt = hf_tokenizer.apply_chat_template(messages[:-1], tokenize=True, add_generation_prompt=True, return_dict=False)
    assert ids[: len(prompt)] == prompt
    # the loss mask: exactly the assistant contents and their <|im_end|>
    tok = chat_tokenizer(tokenizer_file)
    pieces, run = [], []
    for i, t in zip(ids, trained):
        if t:
            run.append(i)
        elif run:
            pieces.append(tok.decode(run, skip_special_tokens=False))
            run = []
    assert pieces == [m["content"] + IM_END for m in messages if m["role"] == "assistant"]
