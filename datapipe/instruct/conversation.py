"""Conversations: the one format of instruction data (JSONL, one conversation per line), and converters.

A conversation is ``{"id", "messages": [{"role", "content"}, ...], "lang", "source", "meta"}``: an optional
system message first, then user and assistant turns alternating, starting with the user and ending with the
assistant (several turns allowed). ``validate`` says what is wrong with one (an empty turn, a role out of
place, too long), naming the conversation and the turn.

Converters: Alpaca's ``{"instruction", "input", "output"}`` (English, and the Chinese translations in the
same layout) become one user turn (the instruction, then the input after a blank line when there is one) and
one assistant turn; the bilingual scored format (``en_*``/``zh_*`` fields and ``metadata.score``, the
translation's 1-5 rating) becomes one conversation per language, paired by ``meta.pair`` (the record's
index: the same prompt in both languages) and carrying the score.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROLES = ("system", "user", "assistant")


class ConversationError(ValueError):
    """A conversation that breaks the format; the message names it and the turn."""


@dataclass(frozen=True)
class Message:
    role: str
    content: str


@dataclass(frozen=True)
class Conversation:
    id: str
    messages: tuple[Message, ...]
    lang: str
    source: str
    meta: dict = field(default_factory=dict, hash=False, compare=False)

    @property
    def prompt(self) -> str:
        """The user turns' text (what selection deduplicates and clusters on)."""
        return "\n".join(m.content for m in self.messages if m.role == "user")

    @property
    def answer(self) -> str:
        return "\n".join(m.content for m in self.messages if m.role == "assistant")

    def to_json(self) -> dict:
        return {"id": self.id, "messages": [{"role": m.role, "content": m.content} for m in self.messages],
                "lang": self.lang, "source": self.source, "meta": self.meta}

    @classmethod
    def from_json(cls, data: dict) -> Conversation:
        if not isinstance(data, dict) or not isinstance(data.get("messages"), list):
            raise ConversationError(f"not a conversation (an object with a messages list): {str(data)[:80]}")
        try:
            messages = tuple(Message(str(m["role"]), m["content"]) for m in data["messages"])
        except (KeyError, TypeError):
            raise ConversationError(f"{data.get('id')}: every message needs a role and a content") from None
        return cls(str(data.get("id", "")), messages, str(data.get("lang", "")), str(data.get("source", "")),
                   dict(data.get("meta") or {}))


def validate(conv: Conversation, max_chars: int | None = None) -> None:
    """Raise ``ConversationError`` unless ``conv`` is a well-formed conversation of at most ``max_chars``."""
    if not conv.id:
        raise ConversationError("a conversation without an id")
    turns = list(conv.messages)
    if turns and turns[0].role == "system":
        turns = turns[1:]
    if not turns:
        raise ConversationError(f"{conv.id}: no user or assistant turn")
    for i, m in enumerate(conv.messages):
        if m.role not in ROLES:
            raise ConversationError(f"{conv.id}: message {i} has role {m.role!r}, not one of {ROLES}")
        if not isinstance(m.content, str) or not m.content.strip():
            raise ConversationError(f"{conv.id}: message {i} ({m.role}) is empty")
    offset = len(conv.messages) - len(turns)
    for i, m in enumerate(turns):
        expected = "user" if i % 2 == 0 else "assistant"
        if m.role != expected:
            raise ConversationError(f"{conv.id}: message {i + offset} is {m.role!r} where {expected!r} belongs "
                                    "(an optional system message, then user and assistant alternating)")
    if turns[-1].role != "assistant":
        raise ConversationError(f"{conv.id}: ends with a user turn (nothing to train on)")
    length = sum(len(m.content) for m in conv.messages)
    if max_chars is not None and length > max_chars:
        raise ConversationError(f"{conv.id}: {length:,} characters, more than {max_chars:,}")


def _load_json(path: Path):
    data = path.read_bytes()
    return json.loads(gzip.decompress(data) if path.name.endswith(".gz") else data)


NO_INPUT = {"<noinput>", "<无输入>", "无输入"}
"""Alpaca's marks of an instruction without input (not text to train on)."""


def user_turn(instruction: str, input_text: str) -> str:
    """The instruction, then its input after a blank line when there is one."""
    instruction, input_text = (instruction or "").strip(), (input_text or "").strip()
    if input_text.lower() in NO_INPUT:
        input_text = ""
    return f"{instruction}\n\n{input_text}" if input_text else instruction


def from_alpaca(path: str | Path, lang: str) -> Iterator[Conversation]:
    """Alpaca-layout records (a JSON list, optionally gzip) as single-turn conversations."""
    path = Path(path)
    for i, r in enumerate(_load_json(path)):
        yield Conversation(f"{path.name}:{i}", (Message("user", user_turn(r.get("instruction"), r.get("input"))),
                                                Message("assistant", (r.get("output") or "").strip())),
                           lang, path.name)


def from_bilingual(path: str | Path) -> Iterator[Conversation]:
    """Bilingual scored records: an English and a Chinese conversation per record, paired, with the score."""
    path = Path(path)
    for i, r in enumerate(_load_json(path)):
        score = (r.get("metadata") or {}).get("score")
        for lang in ("en", "zh"):
            meta = {"pair": f"{path.name}:{i}", "translation_score": score if lang == "zh" else None}
            yield Conversation(f"{path.name}:{i}:{lang}", (
                Message("user", user_turn(r.get(f"{lang}_instruction"), r.get(f"{lang}_input"))),
                Message("assistant", (r.get(f"{lang}_output") or "").strip())), lang, path.name, meta)


def read_jsonl(path: str | Path) -> Iterator[Conversation]:
    """Conversations from a JSONL file (this module's format); a bad line raises, naming the line."""
    path = Path(path)
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                yield Conversation.from_json(json.loads(line))
            except (json.JSONDecodeError, ConversationError) as exc:
                raise ConversationError(f"{path}:{n}: {exc}") from None


def write_jsonl(conversations: Iterable[Conversation], path: str | Path) -> int:
    from datapipe.io import atomic_file

    count = 0
    with atomic_file(str(path), "w") as f:
        for conv in conversations:
            f.write(json.dumps(conv.to_json(), ensure_ascii=False) + "\n")
            count += 1
    return count
