"""The training inputs of the quality classifiers, as documents with a language (lid.176 filling the
gaps): stage outputs (the ingest stage's for positives, selected by source name; the clean or
paragraph-dedup stage's for negatives, selected by domain), and reference files (JSONL, text and
LaTeX; any URI ``datapipe.io`` opens, optionally gzipped)."""

from __future__ import annotations

import gzip
import io as textio
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import regex

from datapipe import io
from datapipe.domains.base import source_of
from datapipe.langid import LanguageIdentifier

from .config import QualityDataError

_TEX_COMMENT = regex.compile(r"(?<!\\)%.*")


@dataclass
class SourceDoc:
    """A document of a training input: ``key`` is its id in a stage output (the id the scorer sees) or
    ``<path>#<block>`` in a file; ``source`` the ingest source of a stage output's document (the url
    up to the first ``:``); ``lang`` None until identified."""

    key: str
    text: str
    lang: str | None = None
    source: str | None = None


def _lines(path: str) -> Iterator[str]:
    """The lines of a text file, streamed and decompressed when it ends in ``.gz``."""
    with io.open_input(path) as raw:
        stream = gzip.GzipFile(fileobj=raw, mode="rb") if path.lower().endswith(".gz") else raw
        with textio.TextIOWrapper(stream, encoding="utf-8") as text:
            for line in text:
                yield line.rstrip("\r\n")


def _blocks(lines: Iterable[str]) -> Iterator[str]:
    """Blank-line separated blocks: one document each in .txt and .tex inputs."""
    current: list[str] = []
    for line in lines:
        if line.strip():
            current.append(line.rstrip())
        elif current:
            yield "\n".join(current)
            current = []
    if current:
        yield "\n".join(current)


def of_sources(names: Iterable[str]):
    """The documents of the ingest sources ``names`` (their urls start ``<source>:``)."""
    import pyarrow.compute as pc

    selected = pc.scalar(False)
    for name in sorted(names):
        selected = selected | pc.starts_with(pc.field("url"), pattern=f"{name}:")
    return selected


def of_domains(domains: Iterable[str]):
    """The documents of ``domains``."""
    import pyarrow.compute as pc

    return pc.field("domain").isin(sorted(domains))


def iter_stage_output(path: str, selected) -> Iterator[SourceDoc]:
    """The ``selected`` documents (:func:`of_sources`, :func:`of_domains`) of a complete stage output
    (``_SUCCESS``; ``_rejects`` ignored); the selection is pushed down to the Parquet reader, so the
    text of other documents is never decoded."""
    import pyarrow.dataset as ds

    if not io.exists(path):
        raise QualityDataError(f"input not found: {path}")
    if not io.exists(io.join(path, "_SUCCESS")):
        raise QualityDataError(f"{path}: not a complete stage output (no _SUCCESS)")
    filesystem, p = io.filesystem(io.resolve(path))
    dataset = ds.dataset(p, format="parquet", filesystem=filesystem)  # skips _rejects, _stats.json, ...
    missing = {"id", "url", "lang", "domain", "text"} - set(dataset.schema.names)
    if missing:
        raise QualityDataError(f"{path}: not a document stage output (no {', '.join(sorted(missing))} column)")
    for batch in dataset.to_batches(columns=["id", "url", "lang", "text"], filter=selected):
        for r in batch.to_pylist():
            yield SourceDoc(r["id"], r["text"] or "", r["lang"], source_of(r["url"] or ""))


def iter_file(path: str, text_field: str = "text") -> Iterator[SourceDoc]:
    """Documents of a reference file, by its kind:

    - ``.jsonl[.gz]``: one JSON object per line, the text in ``text_field``, ``lang`` used when present;
    - ``.txt[.gz]``: blank-line separated blocks, one document each;
    - ``.tex[.gz]``: the same, LaTeX comments removed (the rest of the markup goes in preprocessing).
    """
    name = path.rstrip("/").lower().removesuffix(".gz")
    if not name.endswith((".jsonl", ".txt", ".tex")):
        raise QualityDataError(f"{path}: unsupported reference file (.jsonl, .txt or .tex, optionally .gz)")
    if not io.exists(path):
        raise QualityDataError(f"input not found: {path}")
    if name.endswith(".jsonl"):
        for i, line in enumerate(_lines(path)):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise QualityDataError(f"{path}:{i + 1}: not JSON: {exc}") from None
            text = obj.get(text_field) if isinstance(obj, dict) else None
            if not isinstance(text, str):
                raise QualityDataError(f"{path}:{i + 1}: no string field {text_field!r}")
            yield SourceDoc(f"{path}#{i}", text, obj.get("lang") if isinstance(obj.get("lang"), str) else None)
        return
    for i, block in enumerate(_blocks(_lines(path))):
        text = _TEX_COMMENT.sub("", block) if name.endswith(".tex") else block
        if text.strip():
            yield SourceDoc(f"{path}#{i}", text)


def with_languages(docs: Iterator[SourceDoc], langid: LanguageIdentifier, batch_size: int) -> Iterator[SourceDoc]:
    """Documents with ``lang`` set, lid.176 filling the gaps in batches."""
    pending: list[SourceDoc] = []

    def flush() -> Iterator[SourceDoc]:
        missing = [d for d in pending if not d.lang]
        for d, (lang, _) in zip(missing, langid.predict([d.text for d in missing])):
            d.lang = lang
        yield from pending
        pending.clear()

    for doc in docs:
        pending.append(doc)
        if len(pending) >= batch_size:
            yield from flush()
    yield from flush()
