"""The training inputs of the quality classifiers: stage outputs, JSONL, text and LaTeX files (any URI
``datapipe.io`` opens, optionally gzipped), as documents with a language (lid.176 filling the gaps)."""

from __future__ import annotations

import gzip
import io as textio
import json
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import regex

from datapipe import io
from datapipe.langid import LanguageIdentifier

from .config import QualityDataError

_TEX_COMMENT = regex.compile(r"(?<!\\)%.*")
_TEX_DROP = regex.compile(
    r"\\(?:begin|end|label|ref|eqref|cite|input|include|usepackage|documentclass|newcommand|def)\*?(?:\[[^\]]*\])?(?:\{[^{}]*\})*"
)
_TEX_WITH_ARG = regex.compile(r"\\[A-Za-z]+\*?(?:\[[^\]]*\])?\{([^{}]*)\}")
_TEX_COMMAND = regex.compile(r"\\[A-Za-z]+\*?|\\.")
_TEX_BRACES = regex.compile(r"[{}]")
_SPACES = regex.compile(r"[^\S\n]+")


def strip_latex(tex: str) -> str:
    """LaTeX to readable text, lightly: comments, environments and cross-references go, commands
    with an argument become the argument (``\\emph{x}`` -> ``x``), other commands go; math stays."""
    text = _TEX_COMMENT.sub("", tex)
    text = _TEX_DROP.sub("", text)
    for _ in range(4):  # nested arguments, innermost first
        text, n = _TEX_WITH_ARG.subn(r"\1", text)
        if not n:
            break
    text = _TEX_BRACES.sub("", _TEX_COMMAND.sub("", text))
    return "\n".join(s for s in (_SPACES.sub(" ", line).strip() for line in text.split("\n")) if s)


@dataclass
class SourceDoc:
    """A document of a training input: ``key`` is unique within its input, ``lang`` None until
    identified, ``domain`` None for files (only stage outputs have one)."""

    key: str
    text: str
    lang: str | None = None
    domain: str | None = None


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


def _iter_parquet(path: str) -> Iterator[SourceDoc]:
    import pyarrow.dataset as ds

    if not io.exists(io.join(path, "_SUCCESS")):
        raise QualityDataError(f"{path}: a directory input must be a complete stage output (no _SUCCESS)")
    filesystem, p = io.filesystem(path)
    dataset = ds.dataset(p, format="parquet", filesystem=filesystem)  # skips _rejects, _stats.json, ...
    names = set(dataset.schema.names)
    if "text" not in names:
        raise QualityDataError(f"{path}: no 'text' column")
    columns = [c for c in ("id", "lang", "domain", "text") if c in names]
    row = 0
    for batch in dataset.to_batches(columns=columns):
        for r in batch.to_pylist():
            yield SourceDoc(r.get("id") or str(row), r["text"] or "", r.get("lang"), r.get("domain"))
            row += 1


def iter_source(path: str, text_field: str = "text") -> Iterator[SourceDoc]:
    """Documents of one training input, by its kind:

    - a directory (or URI without a file suffix below): a stage output (Parquet with ``text``,
      optionally ``id``, ``lang`` and ``domain``; ``_SUCCESS`` required, ``_rejects`` ignored);
    - ``.jsonl[.gz]``: one JSON object per line, the text in ``text_field``, ``lang`` used when present;
    - ``.txt[.gz]``: blank-line separated blocks, one document each;
    - ``.tex[.gz]``: blank-line separated blocks with LaTeX markup stripped (:func:`strip_latex`).
    """
    name = path.rstrip("/").lower().removesuffix(".gz")
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
            yield SourceDoc(str(i), text, obj.get("lang") if isinstance(obj.get("lang"), str) else None)
    elif name.endswith(".txt"):
        for i, block in enumerate(_blocks(_lines(path))):
            yield SourceDoc(str(i), block)
    elif name.endswith(".tex"):
        for i, block in enumerate(_blocks(_lines(path))):
            text = strip_latex(block)
            if text:
                yield SourceDoc(str(i), text)
    else:
        if not io.exists(path):
            raise QualityDataError(f"input not found: {path}")
        if not io.is_dir(path):
            raise QualityDataError(f"{path}: unsupported input (a stage output directory, .jsonl, .txt or .tex, optionally .gz)")
        yield from _iter_parquet(path)


def in_domains(docs: Iterator[SourceDoc], domains: set[str], skipped: Counter) -> Iterator[SourceDoc]:
    """Documents without a domain or of one of ``domains``; the others are counted in ``skipped``."""
    for doc in docs:
        if doc.domain is None or doc.domain in domains:
            yield doc
        else:
            skipped[doc.domain] += 1


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
