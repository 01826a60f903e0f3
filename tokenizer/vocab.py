"""The special tokens of our vocabulary and how every consumer loads the trained tokenizer.

The special tokens come first in the vocabulary (ids 0, 1, 2, then the reserved block), so their
ids do not depend on the training data. Document text is always encoded with
``encode_special_tokens`` on: a web page that literally contains ``<|endoftext|>`` gets that string
as ordinary text, never the control token.
"""

from __future__ import annotations

from pathlib import Path

END_OF_TEXT = "<|endoftext|>"
BEGIN_OF_TEXT = "<|begin_of_text|>"
PADDING = "<|pad|>"
N_RESERVED = 125
"""Reserved for later use (chat roles, FIM, tool calls) without changing the vocabulary size."""

SPECIAL_TOKENS = [END_OF_TEXT, BEGIN_OF_TEXT, PADDING] + [f"<|reserved_{i}|>" for i in range(N_RESERVED)]

TOKENIZER_FILE = "tokenizer.json"


def load_tokenizer(path: str | Path):
    """The trained tokenizer (a ``tokenizer.json`` file, or a directory holding one), set up to encode
    whole documents (special-token strings in the text stay text; no truncation or padding), and the
    end-of-text id."""
    from tokenizers import Tokenizer

    path = Path(path)
    if path.is_dir():
        path = path / TOKENIZER_FILE
    if not path.is_file():
        raise FileNotFoundError(f"tokenizer file not found: {path}")
    tok = Tokenizer.from_file(str(path))
    tok.encode_special_tokens = True
    tok.no_truncation()  # a tokenizer.json may carry a truncation or padding setting (GPT-2's truncates at 50)
    tok.no_padding()
    eot = tok.token_to_id(END_OF_TEXT)
    if eot is None:
        raise ValueError(f"{path} has no {END_OF_TEXT} token: not one of this project's tokenizers")
    return tok, eot
