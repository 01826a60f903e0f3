"""The tokenizers our vocabulary is compared with, loaded from local files only.

The compression report must run on a machine without network access, so nothing here names a URL:
every reference is a file under a root given by the config (``../shared/data/tokenizers`` by
default, see its SOURCES.md). Three kinds of file:

- ``tiktoken``: a ``.tiktoken`` rank file (GPT-4's cl100k_base, GPT-4o's o200k_base, Llama 3, Qwen-1)
  plus the pre-tokenization regex of the model it belongs to, which the file does not carry;
- ``sentencepiece``: a SentencePiece ``.model`` (Llama 1/2);
- ``hf``: a Hugging Face ``tokenizer.json`` (GPT-2, and our own tokenizer).

Every counter encodes document text with special-token strings as plain text (a page that contains
``<|endoftext|>`` is counted as the characters it is) and adds no BOS/EOS, so that tokens per byte
measures the vocabulary and nothing else.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal, Protocol

from pydantic import Field, model_validator

from datapipe.config import StrictModel

# Pre-tokenization regexes, copied from each model's own tokenizer code.
CL100K_PATTERN = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
)
"""tiktoken_ext/openai_public.py, cl100k_base."""

O200K_PATTERN = "|".join(
    [
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""\p{N}{1,3}""",
        r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
        r"""\s*[\r\n]+""",
        r"""\s+(?!\S)""",
        r"""\s+""",
    ]
)
"""tiktoken_ext/openai_public.py, o200k_base."""

LLAMA3_PATTERN = r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
"""meta-llama/llama3, llama/tokenizer.py."""

QWEN_PATTERN = r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
"""Qwen-1, tokenization_qwen.py: single digits, unlike Llama 3's runs of up to three."""

PATTERNS = {"cl100k": CL100K_PATTERN, "o200k": O200K_PATTERN, "llama3": LLAMA3_PATTERN, "qwen": QWEN_PATTERN}

PaperRow = Literal["GPT-4", "Llama1/2", "Llama3"]


class ReferenceSpec(StrictModel):
    """One reference tokenizer of the report: where its file is and how to read it."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", description="row name in the report")
    kind: Literal["tiktoken", "sentencepiece", "hf"]
    path: str = Field(description="file, relative to reference_root (or absolute)")
    pattern: Literal["cl100k", "o200k", "llama3", "qwen"] | None = Field(None, description="tiktoken only: the model's pre-tokenization regex")
    sha256: str | None = Field(None, pattern=r"^[0-9a-f]{64}$", description="expected hash of the file; a mismatch skips the row")
    paper_row: PaperRow | None = Field(None, description="the row of the Tele-FLM report's Table 3 this tokenizer is")

    @model_validator(mode="after")
    def _pattern_for_tiktoken(self) -> "ReferenceSpec":
        if (self.kind == "tiktoken") != (self.pattern is not None):
            raise ValueError("pattern is required for kind tiktoken and only allowed there")
        return self


class ReferenceUnavailable(Exception):
    """A reference's file is missing, unreadable or not the expected one; its row is skipped."""


class TokenCounter(Protocol):
    """What the report needs of a tokenizer."""

    name: str
    vocab_size: int

    def encode(self, text: str) -> list[int]: ...

    def count(self, text: str) -> int: ...

    def count_batch(self, texts: list[str]) -> list[int]: ...


class TiktokenCounter:
    def __init__(self, name: str, encoding):
        self.name = name
        self.encoding = encoding
        self.vocab_size = encoding.n_vocab

    def encode(self, text: str) -> list[int]:
        return self.encoding.encode_ordinary(text)

    def count(self, text: str) -> int:
        return len(self.encoding.encode_ordinary(text))

    def count_batch(self, texts: list[str]) -> list[int]:
        return [len(ids) for ids in self.encoding.encode_ordinary_batch(texts, num_threads=os.cpu_count() or 1)]


class SentencePieceCounter:
    def __init__(self, name: str, processor):
        self.name = name
        self.processor = processor
        self.vocab_size = processor.get_piece_size()

    def encode(self, text: str) -> list[int]:
        return self.processor.encode(text)

    def count(self, text: str) -> int:
        return len(self.processor.encode(text))

    def count_batch(self, texts: list[str]) -> list[int]:
        return [len(ids) for ids in self.processor.encode(texts)]

    def decode(self, ids: list[int]) -> str:
        return self.processor.decode(ids)


class HFTokenizerCounter:
    """A ``tokenizer.json`` may carry truncation or padding settings (GPT-2's truncates at 50
    tokens): both are switched off, a count is of the whole text."""

    def __init__(self, name: str, tokenizer):
        tokenizer.encode_special_tokens = True
        tokenizer.no_truncation()
        tokenizer.no_padding()
        self.name = name
        self.tokenizer = tokenizer
        self.vocab_size = tokenizer.get_vocab_size()

    def encode(self, text: str) -> list[int]:
        return self.tokenizer.encode(text, add_special_tokens=False).ids

    def count(self, text: str) -> int:
        return len(self.encode(text))

    def count_batch(self, texts: list[str]) -> list[int]:
        return [len(e.ids) for e in self.tokenizer.encode_batch(texts, add_special_tokens=False)]


@contextmanager
def _tiktoken_cache_disabled() -> Iterator[None]:
    """tiktoken caches every file it reads under the system temp dir, keyed by the path's name, so a
    changed file at the same path would be read stale from there; an empty TIKTOKEN_CACHE_DIR is
    tiktoken's own switch to read the file directly and write nothing."""
    saved = os.environ.get("TIKTOKEN_CACHE_DIR")
    os.environ["TIKTOKEN_CACHE_DIR"] = ""
    try:
        yield
    finally:
        if saved is None:
            del os.environ["TIKTOKEN_CACHE_DIR"]
        else:
            os.environ["TIKTOKEN_CACHE_DIR"] = saved


def load_tiktoken(name: str, path: Path, pattern: str) -> TiktokenCounter:
    import tiktoken
    from tiktoken.load import load_tiktoken_bpe

    with _tiktoken_cache_disabled():
        ranks = load_tiktoken_bpe(str(path))
    return TiktokenCounter(name, tiktoken.Encoding(name, pat_str=pattern, mergeable_ranks=ranks, special_tokens={}))


def load_sentencepiece(name: str, path: Path) -> SentencePieceCounter:
    import sentencepiece

    return SentencePieceCounter(name, sentencepiece.SentencePieceProcessor(model_file=str(path)))


def load_hf(name: str, path: Path) -> HFTokenizerCounter:
    from tokenizers import Tokenizer

    return HFTokenizerCounter(name, Tokenizer.from_file(str(path)))


def load_reference(spec: ReferenceSpec, root: str | Path) -> TokenCounter:
    """The counter of one reference; ``ReferenceUnavailable`` says why it cannot be had."""
    path = Path(root) / spec.path
    if not path.is_file():
        raise ReferenceUnavailable(f"{spec.name}: tokenizer file not found: {path}")
    if spec.sha256 is not None:
        actual = hashlib.sha256(path.read_bytes()).hexdigest()
        if actual != spec.sha256:
            raise ReferenceUnavailable(f"{spec.name}: {path} has sha256 {actual}, expected {spec.sha256}")
    try:
        if spec.kind == "tiktoken":
            return load_tiktoken(spec.name, path, PATTERNS[spec.pattern])
        if spec.kind == "sentencepiece":
            return load_sentencepiece(spec.name, path)
        return load_hf(spec.name, path)
    except Exception as exc:  # a corrupt file of any kind: the row is skipped with the library's reason
        raise ReferenceUnavailable(f"{spec.name}: cannot load {path}: {exc}") from exc


def load_references(specs: list[ReferenceSpec], root: str | Path) -> tuple[list[tuple[ReferenceSpec, TokenCounter]], list[dict]]:
    """The references that load, and ``{"name", "reason"}`` for each one that does not."""
    loaded, skipped = [], []
    for spec in specs:
        try:
            loaded.append((spec, load_reference(spec, root)))
        except ReferenceUnavailable as exc:
            skipped.append({"name": spec.name, "reason": str(exc)})
    return loaded, skipped


def load_ours(path: str | Path, name: str = "ours") -> HFTokenizerCounter:
    """Our trained tokenizer, through the one loader every consumer uses (``tokenizer.vocab``)."""
    from tokenizer.vocab import load_tokenizer

    tok, _ = load_tokenizer(path)
    return HFTokenizerCounter(name, tok)
