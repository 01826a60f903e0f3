"""The tokenizer's training sample and held-out texts, drawn from stage outputs.

Two streaming passes over the Parquet files, reading only the columns needed (on a sample stage's
output, ``jobs/sample.py``, which Spark drew from the whole input, pass 1 is the sizes it recorded, so
the second pass reads only the sample and takes the same documents as from the whole input):

1. sizes: UTF-8 bytes and documents per domain, counting only distinct (``mix.copy`` absent or 0),
   not held-out documents;
2. draw: each domain gets ``sample_bytes`` times its target share; a domain with less text gets all
   of it and the shortfall goes to the others in proportion to their shares (water-filling). A
   document is taken when a hash of (seed, id) falls below its domain's rate, so the sample does
   not depend on file order, partitioning or the machine.

Held-out documents (``datapipe.heldout.is_heldout``) never enter the sample; the first ones by
their held-out draw, up to a byte cap per report category, are kept for ``heldout.jsonl``.
"""

from __future__ import annotations

import heapq
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
from tqdm import tqdm

from datapipe import io
from datapipe.config import ConfigError, load_config
from datapipe.heldout import heldout_draw, sample_draw
from datapipe.mixture import MixConfig, water_level
from datapipe.sample import read_sample_record

from .config import TokenizerConfig

CATEGORIES = ("English", "Chinese", "Classical Chinese", "Code", "Multilingual", "Math")
"""The domains of the compression report."""

MATH_DOMAINS = ("AcademicPaper", "Profession-Math")


class SampleError(ValueError):
    """The inputs or the weights cannot give a sample; the message says why."""


def report_category(domain: str, lang: str | None) -> str | None:
    """The compression-report category of a document; None when its language is unknown."""
    if domain == "Code":
        return "Code"
    if domain == "ClassicalChinese":
        return "Classical Chinese"
    if domain in MATH_DOMAINS:
        return "Math"
    base = (lang or "").replace("_", "-").split("-")[0].lower()
    if base in ("", "und"):
        return None
    return {"zh": "Chinese", "en": "English"}.get(base, "Multilingual")


def load_weights(path: str | Path | None) -> dict[str, float]:
    """Domain weights: ``share`` per domain of a mix config (``configs/mix.yaml``), ``target_share``
    of a mixture stage's ``_manifest.json``; None gives the mix config's defaults (Table 1)."""
    if path is not None and Path(path).suffix == ".json":
        try:
            manifest = json.loads(Path(path).read_text(encoding="utf-8"))
            weights = {d["domain"]: float(d["target_share"]) for d in manifest["domains"]}
        except FileNotFoundError:
            raise ConfigError(f"weights file not found: {path}") from None
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"{path}: not a mixture manifest (domains[].domain, target_share): {exc}") from None
    else:
        weights = {d: t.share for d, t in load_config(MixConfig, path).domains.items()}
    if not any(w > 0 for w in weights.values()):
        raise ConfigError(f"{path}: no domain has a positive weight")
    return weights


def allocate(available: dict[str, int], weights: dict[str, float], total: int) -> dict[str, float]:
    """Bytes to take per domain: ``total`` split by weight, each domain capped at what it has, the
    shortfall of capped domains spread over the rest in proportion to their weights (the mixture's
    water-filling, ``datapipe.mixture.water_level``)."""
    take = {d: 0.0 for d in available}
    shares = {d: w for d, w in weights.items() if w > 0 and available.get(d, 0) > 0}
    if not shares:
        return take
    caps = {d: float(available[d]) for d in shares}
    level = water_level(shares, caps, min(float(total), sum(caps.values())))
    take.update({d: min(caps[d], shares[d] * level) for d in shares})
    return take


@dataclass
class DomainSample:
    """What one domain had and what the sample took from it."""

    domain: str
    target_share: float
    available_docs: int = 0
    available_bytes: int = 0
    target_bytes: float = 0.0
    docs: int = 0
    bytes: int = 0

    @property
    def rate(self) -> float:
        return min(1.0, self.target_bytes / self.available_bytes) if self.available_bytes else 0.0


@dataclass
class HeldoutSelection:
    """Per category, the held-out documents with the smallest draws until ``cap_bytes`` is reached.

    A max-heap per category drops its largest draw while the rest still reaches the cap, so memory
    stays near the cap and the result is the same in any reading order."""

    cap_bytes: int
    heaps: dict[str, list] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)
    ids: set[str] = field(default_factory=set)

    def offer(self, category: str, draw: float, size: int, record: dict) -> None:
        if self.cap_bytes == 0 or record["id"] in self.ids:
            return
        heap = self.heaps.setdefault(category, [])
        heapq.heappush(heap, (-draw, record["id"], size, record))
        self.ids.add(record["id"])
        self.sizes[category] = self.sizes.get(category, 0) + size
        while self.sizes[category] - heap[0][2] >= self.cap_bytes:
            _, dropped_id, dropped, _ = heapq.heappop(heap)
            self.sizes[category] -= dropped
            self.ids.discard(dropped_id)

    def records(self) -> list[dict]:
        """Every category's documents in draw order, stopping once its cap is reached."""
        out = []
        for category in sorted(self.heaps):
            total = 0
            for _, _, size, record in sorted(self.heaps[category], key=lambda e: (-e[0], e[1])):
                if total >= self.cap_bytes:
                    break
                out.append(record)
                total += size
        return out


def open_inputs(inputs: list[str]) -> ds.Dataset:
    """The documents of complete stage outputs (directories with ``_SUCCESS``; any URI ``datapipe.io`` opens)."""
    missing = [p for p in inputs if not io.exists(io.join(p, "_SUCCESS"))]
    if missing:
        raise SampleError(f"not a complete stage output (no _SUCCESS): {', '.join(missing)}")
    committed = [io.filesystem(io.resolve(p)) for p in inputs]
    return ds.dataset([ds.dataset(path, format="parquet", filesystem=fs) for fs, path in committed])


def _copy_numbers(batch: pa.RecordBatch) -> list:
    return pc.map_lookup(batch.column("annotations"), pa.scalar("mix.copy"), "first").to_pylist()


class TrainingSample:
    """The sample of ``inputs`` for ``weights``: ``plan()`` measures the domains, iterating yields
    the sampled texts (and fills ``domains`` and ``heldout``)."""

    def __init__(self, inputs: list[str], weights: dict[str, float], config: TokenizerConfig):
        self.inputs = inputs
        self.dataset = open_inputs(inputs)
        self.weights = weights
        self.config = config
        self.domains: dict[str, DomainSample] = {}
        self.warnings: list[str] = []
        self.heldout = HeldoutSelection(config.heldout_bytes_per_category)
        self.heldout_docs = 0

    def _batches(self, columns: list[str], desc: str, trainer_shows: bool = False) -> Iterator[pa.RecordBatch]:
        """The record batches, with a progress bar unless the trainer's own bar (shown on a terminal
        only) covers this reading."""
        hidden = not self.config.show_progress or (trainer_shows and sys.stderr.isatty())
        with tqdm(total=self.dataset.count_rows(), desc=desc, unit="doc", disable=hidden) as bar:
            for batch in self.dataset.to_batches(columns=columns, batch_size=self.config.read_batch_rows):
                yield batch
                bar.update(batch.num_rows)

    def _is_heldout(self, doc_id: str) -> tuple[bool, float]:
        c = self.config
        draw = heldout_draw(doc_id, c.heldout_seed)
        return draw < c.heldout_fraction, draw

    def _recorded_sizes(self) -> tuple[dict[str, int], dict[str, int], dict[str, float]] | None:
        """Documents, bytes and sample rate per domain as sample stage outputs recorded them (their whole
        input's, so the draws below give what the whole input would); None for other inputs."""
        records = [read_sample_record(p) for p in self.inputs]
        if not any(records):
            return None
        if not all(records):
            raise SampleError("mix sample stage outputs and other stage outputs in --input: give one kind")
        c = self.config
        docs: dict[str, int] = {}
        sizes: dict[str, int] = {}
        rates: dict[str, float] = {}
        for path, record in zip(self.inputs, records):
            drawn = record["config"]
            expected = {"group_by": "domain", "seed": c.seed, "heldout_fraction": c.heldout_fraction, "heldout_seed": c.heldout_seed}
            wrong = {k: drawn.get(k) for k, v in expected.items() if drawn.get(k) != v}
            if wrong:
                raise SampleError(f"{path}: sampled with {wrong}, the tokenizer needs {({k: expected[k] for k in wrong})}")
            for domain, g in record["groups"].items():
                docs[domain] = docs.get(domain, 0) + g["docs"]
                sizes[domain] = sizes.get(domain, 0) + g["bytes"]
                rates[domain] = min(rates.get(domain, 1.0), g["rate"])
        return docs, sizes, rates

    def plan(self) -> None:
        """Pass 1: sizes per domain (recorded by a sample stage output, or measured), then each domain's
        byte target."""
        recorded = self._recorded_sizes()
        if recorded is None:
            docs, sizes = self._measure()
        else:
            docs, sizes, sampled_at = recorded
        self._allocate(docs, sizes)
        if recorded is not None:
            short = [d for d, s in self.domains.items() if s.rate > sampled_at.get(d, 0.0) * (1 + 1e-9)]
            if short:
                raise SampleError(f"the sample stage output holds too little of {', '.join(short)} for sample_bytes "
                                  f"{self.config.sample_bytes:,}: raise its max_bytes_per_group to at least sample_bytes")

    def _measure(self) -> tuple[dict[str, int], dict[str, int]]:
        docs: dict[str, int] = {}
        sizes: dict[str, int] = {}
        for batch in self._batches(["id", "domain", "text", "annotations"], "sizes"):
            lengths = pc.binary_length(batch.column("text")).to_pylist()
            for doc_id, domain, size, copy in zip(
                batch.column("id").to_pylist(), batch.column("domain").to_pylist(), lengths, _copy_numbers(batch)
            ):
                if copy or self._is_heldout(doc_id)[0]:
                    continue
                docs[domain] = docs.get(domain, 0) + 1
                sizes[domain] = sizes.get(domain, 0) + size
        return docs, sizes

    def _allocate(self, docs: dict[str, int], sizes: dict[str, int]) -> None:
        if not sizes:
            raise SampleError("the inputs hold no document to train on (all held out, copies, or none at all)")
        weighted = {d for d, w in self.weights.items() if w > 0}
        present = weighted & set(sizes)
        if not present:
            raise SampleError(f"no domain with a weight has documents; the inputs have {', '.join(sorted(sizes))}")
        for d in sorted(weighted - present):
            self.warnings.append(f"domain {d} has a weight but no documents; the other weights are renormalised")
        for d in sorted(set(sizes) - weighted):
            self.warnings.append(f"domain {d} has documents but no weight; it is left out of the sample")
        norm = sum(self.weights[d] for d in present)
        take = allocate(sizes, self.weights, self.config.sample_bytes)
        for d in sorted(set(sizes) | present):
            self.domains[d] = DomainSample(
                d, self.weights[d] / norm if d in present else 0.0, docs.get(d, 0), sizes.get(d, 0), take.get(d, 0.0)
            )
        if sum(take.values()) < self.config.sample_bytes:
            self.warnings.append(
                f"the inputs have {sum(take.values()):,.0f} bytes of text for the weighted domains, less than "
                f"sample_bytes {self.config.sample_bytes:,}: the sample is all of it"
            )

    def __iter__(self) -> Iterator[str]:
        """Pass 2: the sampled texts; held-out documents go to the held-out selection instead."""
        if not self.domains:
            self.plan()
        for stats in self.domains.values():
            stats.docs = stats.bytes = 0
        self.heldout = HeldoutSelection(self.config.heldout_bytes_per_category)
        self.heldout_docs = 0
        rates = {d: s.rate for d, s in self.domains.items()}
        seed = self.config.seed
        for batch in self._batches(["id", "domain", "lang", "text", "annotations"], "sample", trainer_shows=True):
            columns = [batch.column(c).to_pylist() for c in ("id", "domain", "lang", "text")]
            sizes = pc.binary_length(batch.column("text")).to_pylist()
            for doc_id, domain, lang, text, size, copy in zip(*columns, sizes, _copy_numbers(batch)):
                if copy:
                    continue
                held, draw = self._is_heldout(doc_id)
                if held:
                    self._hold_out(doc_id, domain, lang, text, size, draw)
                elif sample_draw(doc_id, seed) < rates.get(domain, 0.0):
                    stats = self.domains[domain]
                    stats.docs += 1
                    stats.bytes += size
                    yield text

    def _hold_out(self, doc_id: str, domain: str, lang: str | None, text: str, size: int, draw: float) -> None:
        self.heldout_docs += 1
        category = report_category(domain, lang)
        if category is not None:
            record = {"id": doc_id, "domain": domain, "lang": lang, "category": category, "text": text}
            self.heldout.offer(category, draw, size, record)

    @property
    def docs(self) -> int:
        return sum(s.docs for s in self.domains.values())

    @property
    def bytes(self) -> int:
        return sum(s.bytes for s in self.domains.values())

    def domain_rows(self) -> list[dict]:
        """Per domain: target and realised share, documents and bytes available and taken."""
        total = self.bytes or 1
        return [
            {
                "domain": s.domain,
                "target_share": round(s.target_share, 6),
                "realised_share": round(s.bytes / total, 6),
                "available_docs": s.available_docs,
                "available_bytes": s.available_bytes,
                "target_bytes": round(s.target_bytes),
                "docs": s.docs,
                "bytes": s.bytes,
            }
            for s in self.domains.values()
        ]
