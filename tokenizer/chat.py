"""The chat format: ChatML turns marked by two of the vocabulary's reserved special tokens.

    <|begin_of_text|><|im_start|>system\\n{content}<|im_end|>\\n<|im_start|>user\\n{content}<|im_end|>\\n
    <|im_start|>assistant\\n{content}<|im_end|>\\n ...

``<|im_start|>`` and ``<|im_end|>`` are ``<|reserved_0|>`` and ``<|reserved_1|>`` renamed (``chat_tokenizer``):
their ids do not change, so a pretrained model and its tokenizer take the chat format without a new
embedding row. ``CHAT_TEMPLATE`` is the same format as a Jinja template for ``transformers``'
``apply_chat_template``; ``encode_conversation`` gives the ids the trainer trains on, which are exactly
the ids ``apply_chat_template`` produces (tested), and the loss mask: the assistant turns' content and
their ``<|im_end|>`` (so the model learns to end its turn), nothing of the prompt.

In the chat format the control tokens are recognised anywhere in the text, also inside a message (as
``apply_chat_template`` does); pretraining text keeps treating them as text (``tokenizer.vocab``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from tokenizer.vocab import BEGIN_OF_TEXT, TOKENIZER_FILE

IM_START, IM_END = "<|im_start|>", "<|im_end|>"
RESERVED_FOR_CHAT = {"<|reserved_0|>": IM_START, "<|reserved_1|>": IM_END}
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


def chat_tokenizer_json(data: dict) -> dict:
    """A ``tokenizer.json`` (parsed) with the chat tokens in place of the reserved ones they take."""
    data = json.loads(json.dumps(data))
    found = set()
    for token in data["added_tokens"]:
        if token["content"] in RESERVED_FOR_CHAT:
            found.add(token["content"])
            token["content"] = RESERVED_FOR_CHAT[token["content"]]
    vocab = data["model"]["vocab"]
    for reserved, chat in RESERVED_FOR_CHAT.items():
        if reserved in vocab:
            vocab[chat] = vocab.pop(reserved)
    missing = set(RESERVED_FOR_CHAT) - found
    if missing and not {IM_START, IM_END} <= {t["content"] for t in data["added_tokens"]}:
        raise ValueError(f"the tokenizer has no {sorted(missing)}: not one of this project's tokenizers")
    return data


def chat_tokenizer(path: str | Path):
    """The project's tokenizer (a ``tokenizer.json`` or a directory holding one) in the chat format: chat
    tokens named, control tokens recognised in text, no truncation or padding."""
    from tokenizers import Tokenizer

    path = Path(path)
    if path.is_dir():
        path = path / TOKENIZER_FILE
    tok = Tokenizer.from_str(json.dumps(chat_tokenizer_json(json.loads(path.read_text(encoding="utf-8")))))
    tok.encode_special_tokens = False
    tok.no_truncation()
    tok.no_padding()
    return tok


def render(messages: Sequence[dict], add_generation_prompt: bool = False) -> str:
    """``CHAT_TEMPLATE`` in Python: the text of a conversation (``[{"role", "content"}, ...]``)."""
    text = BEGIN_OF_TEXT + "".join(f"{IM_START}{m['role']}\n{m['content']}{IM_END}\n" for m in messages)
    return text + (f"{IM_START}assistant\n" if add_generation_prompt else "")


def encode_conversation(tok, messages: Sequence[dict]) -> tuple[list[int], list[bool]]:
    """The ids of a conversation in the chat format and, per id, whether the loss is taken on it: the
    tokens of an assistant turn's content and its closing ``<|im_end|>``."""
    text, spans, position = BEGIN_OF_TEXT, [], len(BEGIN_OF_TEXT)
    for m in messages:
        head = f"{IM_START}{m['role']}\n"
        start = position + len(head)
        text += head + m["content"] + IM_END + "\n"
        position = len(text)
        if m["role"] == "assistant":
            spans.append((start, position - 1))  # the content and <|im_end|>, not the newline after it
    encoding = tok.encode(text, add_special_tokens=False)
    trained = [any(s <= begin < e for s, e in spans) for begin, _ in encoding.offsets]
    return encoding.ids, trained
