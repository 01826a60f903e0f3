"""Settings of the tokenizer training (``configs/tokenizer.yaml``).

The memory of Hugging Face's BPE trainer grows with the number of *distinct* pre-tokens times
their length; text without spaces (Chinese, Japanese, Thai) hardly repeats its pre-tokens, so it
costs far more than English. Measured with this default config on the real data in ../shared/data
(tokenizers 0.23.3, 80k vocabulary, peak RSS of the whole process, ``training_report.json``):
11.5 MB of Chinese text (modern and classical), 1.23 GiB; the 25.6 MB of mixed real data (45%
Chinese), 1.61 GiB. That is ~100 bytes of RAM per byte of Chinese sample, ~60 per byte of the mix,
~22 per byte of English, so ``sample_bytes`` is the memory bound: the default 128 MB extrapolates
linearly to ~8 GB for such a mix and ~13 GB if it were all Chinese (an overestimate if anything:
pre-tokens repeat more in a larger sample). The Tele-FLM report trained on 12M samples, tens of GB
of text, which this in-memory trainer cannot take on a 24 GiB machine.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from datapipe.config import StrictModel

from .vocab import SPECIAL_TOKENS

BYTE_ALPHABET = 256


class TokenizerConfig(StrictModel):
    """Vocabulary, sample, held-out split and pre-tokenizer of the byte-level BPE tokenizer."""

    vocab_size: int = Field(
        80_000, description="entries in all: special tokens, the 256 byte symbols and the merges"
    )
    min_frequency: int = Field(2, ge=1, description="a pair seen fewer times in the sample is never merged")
    max_token_length: int | None = Field(
        32, ge=1, description="longest token in bytes; None: no limit. Keeps runs such as '=====' out of the vocabulary"
    )
    max_unspaced_run: int = Field(
        8,
        ge=1,
        le=64,
        description="longest pre-token of a script written without spaces (Han, kana, Thai, ...), in characters",
    )
    sample_bytes: int = Field(128_000_000, gt=0, description="UTF-8 bytes of text in the training sample (the memory bound)")
    seed: int = Field(0, description="decides which documents form the sample (a hash of seed and id)")
    heldout_fraction: float = Field(
        0.01, ge=0.0, lt=1.0, description="share of documents held out (datapipe.heldout.is_heldout): never trained on"
    )
    heldout_seed: int = Field(0, description="seed of the held-out rule; must match the shards' and the trainer's")
    heldout_bytes_per_category: int = Field(
        4_000_000, ge=0, description="held-out text written to heldout.jsonl per report category, at most (about)"
    )
    read_batch_rows: int = Field(
        256, gt=0, description="rows per Arrow batch while reading: bounds the text in flight (books are ~1 MB each)"
    )
    show_progress: bool = Field(True, description="progress bars while reading and training")

    @model_validator(mode="after")
    def _room_for_merges(self) -> "TokenizerConfig":
        smallest = len(SPECIAL_TOKENS) + BYTE_ALPHABET + 1
        if self.vocab_size < smallest:
            raise ValueError(
                f"vocab_size {self.vocab_size} leaves no room for merges: the {len(SPECIAL_TOKENS)} special tokens and "
                f"{BYTE_ALPHABET} byte symbols come first (at least {smallest})"
            )
        return self
