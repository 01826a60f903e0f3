"""A bounded, uniform sample of stage outputs, for the programs that read text in one process: the
tokenizer's training and the quality model's.

Documents are grouped (by domain, or by domain and language); a group of ``B`` bytes is sampled at
rate ``min(1, max_bytes_per_group / B)``: a document is in when its ``sample_draw`` (a hash of seed and
id) is below its group's rate. ``B`` counts the distinct documents outside the held-out split (the
mixture's extra copies and held-out documents are what the tokenizer leaves out of its own sizes);
copies are never sampled; held-out documents are sampled at their group's rate too. ``_sample.json``
records each group's population and rate, so a reader that draws with the same hash at a lower rate
(the tokenizer) takes exactly the documents it would have taken from the whole input. A group smaller
than the bound is kept whole: the sample is then the input itself.
"""

from __future__ import annotations

import json
from typing import Literal

from pydantic import Field

from . import io
from .config import StrictModel

SAMPLE_FILE = "_sample.json"


class SampleConfig(StrictModel):
    """Settings of the sample stage (``configs/sample_tokenizer.yaml``, ``configs/sample_quality.yaml``)."""

    max_bytes_per_group: int = Field(gt=0, description="UTF-8 bytes of distinct, not held-out text a group keeps at most")
    group_by: Literal["domain", "domain_lang"] = Field("domain", description="what a group is")
    seed: int = Field(0, description="seed of the draw; the tokenizer's own seed for its sample")
    heldout_fraction: float = Field(0.01, ge=0.0, lt=1.0, description="the held-out rule (datapipe.heldout), for the group sizes")
    heldout_seed: int = 0


def group_of(domain: str, lang: str | None, group_by: str) -> str:
    return domain if group_by == "domain" else f"{domain}/{lang or 'und'}"


def group_rates(population: dict[str, int], max_bytes: int) -> dict[str, float]:
    """Each group's sampling rate from its bytes of distinct, not held-out text."""
    return {g: min(1.0, max_bytes / b) if b > 0 else 1.0 for g, b in population.items()}


def read_sample_record(output: str) -> dict | None:
    """The ``_sample.json`` of a sample stage output; None for any other output."""
    uri = io.join(io.resolve(output), SAMPLE_FILE)
    return json.loads(io.read_text(uri)) if io.exists(uri) else None
