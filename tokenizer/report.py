"""Compression rate of our tokenizer next to the reference tokenizers, per category of text.

Compression rate is tokens per UTF-8 byte (lower is better), as in Table 3 of the Tele-FLM report
(arXiv:2404.16645): per category (English, Chinese, Classical Chinese, Code, Multilingual, Math) and
as a weighted average. The evaluation text is the tokenizer's held-out documents (``heldout.jsonl``
beside ``tokenizer.json``, never used to train it) plus the extra sources of the config, which must
not be in the tokenizer's training corpus either: a file that the ingest stage reads
(``training_sources``, the pipeline's ``domains.yaml``) is refused.

Each category is capped at ``max_bytes_per_category``, taking documents in an order fixed by a hash
of their ids (so the sample does not depend on file order), each cut to ``max_doc_chars`` at a line
end (so one book does not make a category). Writes, atomically, ``OUTPUT/compression.{md,csv,png,json}``::

    python -m tokenizer.report --tokenizer out/tokenizer --output out/tokenizer/report
"""

from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import io
import json
import logging
import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

from pydantic import Field, model_validator

from datapipe.cli import main_of
from datapipe.config import ConfigError, StrictModel, load_config, require_existing
from datapipe.domains.base import LangCode
from datapipe.domains.config import CONFIGS_DIR, load_domains_config, resolve_root
from datapipe.io import list_files, local_path, staged_directory
from datapipe.plots import png, pyplot

from .reference import ReferenceSpec, TokenCounter, load_ours, load_references

log = logging.getLogger("tokenizer.report")

Category = Literal["English", "Chinese", "Classical Chinese", "Code", "Multilingual", "Math"]
CATEGORIES: tuple[str, ...] = get_args(Category)
OURS = "ours"
DEFAULT_CONFIG = CONFIGS_DIR / "tokenizer_report.yaml"
HELDOUT_FILE = "heldout.jsonl"
OUTPUT_NAMES = ("compression.md", "compression.csv", "compression.png", "compression.json")

TELEFLM_TABLE3 = {
    "source": "Tele-FLM Technical Report, arXiv:2404.16645v1, Table 3 (tokens / UTF-8 bytes; 'Mathematical' is our Math)",
    "rows": {
        "GPT-4": {"vocab": "100k", "rates": [0.221, 0.420, 0.478, 0.267, 0.303, 0.508], "weighted_avg": 0.291},
        "Llama1/2": {"vocab": "32k", "rates": [0.262, 0.515, 0.558, 0.367, 0.314, 0.974], "weighted_avg": 0.356},
        "Llama3": {"vocab": "128k", "rates": [0.220, 0.294, 0.353, 0.267, 0.274, 0.508], "weighted_avg": 0.251},
        "Tele-FLM": {"vocab": "80k", "rates": [0.248, 0.235, 0.307, 0.363, 0.340, 0.965], "weighted_avg": 0.261},
    },
}
"""The report's own figures, rates in CATEGORIES order. It does not state the weights of its average."""


class ReportError(Exception):
    """The report cannot be made (no evaluation text, a missing input); printed without a traceback."""


# --- configuration -------------------------------------------------------------------------------


class EvalSource(StrictModel):
    """Extra evaluation text of one category. It must not be in the tokenizer's training corpus."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    category: Category
    paths: list[str] = Field(min_length=1, description="files, directories or globs under eval_root; .gz read transparently")
    format: Literal["text", "lines", "jsonl"] = Field(description="text: a file is a document; lines: a line is; jsonl: a record is")
    text_fields: list[str] = Field(["text"], min_length=1, description="jsonl: the fields that make the text, in order")
    separator: str = Field("\n", description="jsonl: put between text_fields")
    column: int | None = Field(None, ge=0, description="lines: keep only this tab-separated column (0-based)")
    langs: list[LangCode] | None = Field(None, min_length=1, description="keep only documents lid.176 identifies as one of these")


class Target(StrictModel):
    """Ours must use at most ``max_ratio`` times the tokens per byte of ``reference`` on ``category``."""

    category: Category
    reference: str
    max_ratio: float = Field(gt=0)


class ReportConfig(StrictModel):
    reference_root: str = Field("../../shared/data/tokenizers", description="reference paths are under it; relative: to this file's directory")
    eval_root: str = Field("../../shared/data", description="eval source paths are under it; relative: to this file's directory")
    training_sources: str | None = Field("domains.yaml", description="ingest config whose files may not be eval text; relative: to this file")
    references: list[ReferenceSpec] = Field(min_length=1)
    weights: dict[Category, float] = Field(description="of the weighted average; a category left out weighs 0")
    targets: list[Target] = Field(default_factory=list)
    eval_sources: list[EvalSource] = Field(default_factory=list)
    max_bytes_per_category: int = Field(4 << 20, gt=0)
    max_doc_chars: int = Field(100_000, gt=0)
    batch_size: int = Field(256, gt=0, description="documents per tokenizer call")

    @model_validator(mode="after")
    def _consistent(self) -> "ReportConfig":
        names = [r.name for r in self.references]
        if len(set(names)) != len(names) or OURS in names:
            raise ValueError(f"reference names must be unique and not {OURS!r}: {names}")
        if any(w < 0 for w in self.weights.values()) or abs(sum(self.weights.values()) - 1.0) > 1e-3:
            raise ValueError(f"weights must be >= 0 and sum to 1, got {self.weights}")
        for t in self.targets:
            if t.reference not in names:
                raise ValueError(f"target reference {t.reference!r} is not one of the references {names}")
        sources = [s.name for s in self.eval_sources]
        if len(set(sources)) != len(sources):
            raise ValueError(f"eval source names must be unique: {sources}")
        return self


@dataclass
class Settings:
    config: ReportConfig
    path: Path
    reference_root: Path
    eval_root: Path
    training_sources: Path | None


def load_settings(path: str | Path) -> Settings:
    """The config with its roots resolved against the file's directory (as ``configs/domains.yaml``)."""
    path = Path(path).resolve()
    config = load_config(ReportConfig, path)
    base = path.parent
    training = None if config.training_sources is None else Path(resolve_root(config.training_sources, base))
    if training is not None and config.eval_sources:  # what the eval sources are checked against
        require_existing("training_sources", training, path, "ingest config")
    return Settings(config, path, Path(resolve_root(config.reference_root, base)), Path(resolve_root(config.eval_root, base)), training)


# --- evaluation text -----------------------------------------------------------------------------


@dataclass
class EvalDoc:
    key: str
    origin: str
    category: str
    text: str


def matching_files(root: Path, patterns: Iterable[str]) -> list[Path]:
    """Files matching paths, directories (recursively) or globs under ``root``, by the pipeline's
    listing rule (``datapipe.io``), sorted; a pattern that matches nothing adds nothing."""
    found = set()
    for pattern in patterns:
        try:
            found.update(Path(local_path(e.uri)) for e in list_files([root / pattern]))
        except FileNotFoundError:
            pass
    return sorted(found)


def open_text(path: Path) -> io.TextIOBase:
    """A text file, gzip when it ends in .gz; bytes that are not UTF-8 read as U+FFFD."""
    raw = gzip.open(path, "rb") if path.name.endswith(".gz") else open(path, "rb")
    return io.TextIOWrapper(raw, encoding="utf-8", errors="replace", newline=None)


def read_heldout(path: Path, skipped: Counter) -> Iterator[EvalDoc]:
    """The tokenizer's held-out documents; lines that are not a usable record are counted in ``skipped``."""
    with open_text(path) as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                skipped["heldout.bad_json"] += 1
                continue
            text, category = record.get("text"), record.get("category")
            if category not in CATEGORIES:
                skipped["heldout.unknown_category"] += 1
            elif not isinstance(text, str) or not text.strip():
                skipped["heldout.no_text"] += 1
            else:
                yield EvalDoc(f"heldout:{record.get('id', lineno)}", "heldout", category, text)


def read_source(source: EvalSource, root: Path, skipped: Counter) -> Iterator[EvalDoc]:
    """The documents of one extra evaluation source, in the form its ``format`` says."""
    files = matching_files(root, source.paths)
    if not files:
        skipped[f"{source.name}.no_file"] += 1
    for path in files:
        rel = path.relative_to(root) if path.is_relative_to(root) else path
        with open_text(path) as f:
            if source.format == "text":
                items: Iterable[tuple[str, str | None]] = [(str(rel), f.read())]
            else:
                items = ((f"{rel}#{n}", _line_text(source, line, skipped)) for n, line in enumerate(f, 1) if line.strip())
            for item, text in items:
                if text and text.strip():
                    yield EvalDoc(f"{source.name}:{item}", source.name, source.category, text)


def keep_languages(docs: list[EvalDoc], langs: list[str], identifier, skipped: Counter, source: str) -> list[EvalDoc]:
    """The documents whose language (lid.176, as the pipeline identifies it) is one of ``langs``."""
    predicted = identifier.predict([d.text for d in docs]) if docs else []
    kept = [d for d, (lang, _) in zip(docs, predicted) if lang in langs]
    if len(kept) < len(docs):
        skipped[f"{source}.other_language"] += len(docs) - len(kept)
    return kept


def _line_text(source: EvalSource, line: str, skipped: Counter) -> str | None:
    line = line.rstrip("\n")
    if source.format == "lines":
        if source.column is None:
            return line
        cols = line.split("\t")
        return cols[source.column] if source.column < len(cols) else None
    try:
        record = json.loads(line)
    except json.JSONDecodeError:
        skipped[f"{source.name}.bad_json"] += 1
        return None
    parts = [record[k] for k in source.text_fields if isinstance(record.get(k), str)]
    return source.separator.join(parts) if parts else None


def check_not_training_text(settings: Settings) -> None:
    """Refuse an eval source that lists a file the ingest stage reads into the training data."""
    if settings.training_sources is None or not settings.config.eval_sources:
        return
    domains, root = load_domains_config(settings.training_sources)
    if "://" in root:
        log.warning("training sources under %s cannot be listed here; eval sources not checked against them", root)
        return
    ingested = {f: s.name for s in domains.sources for f in matching_files(Path(root), s.paths)}
    for source in settings.config.eval_sources:
        for f in matching_files(settings.eval_root, source.paths):
            if f in ingested:
                raise ConfigError(
                    f"{settings.path}: eval source {source.name!r} lists {f}, which source {ingested[f]!r} of "
                    f"{settings.training_sources} ingests: evaluation text must not be in the tokenizer's training corpus"
                )


def truncate(text: str, max_chars: int) -> str:
    """``text`` cut to at most ``max_chars``, at the last line end when there is one in the second half."""
    if len(text) <= max_chars:
        return text
    cut = text.rfind("\n", 0, max_chars)
    return text[:cut] if cut >= max_chars // 2 else text[:max_chars]


def select(docs: Iterable[EvalDoc], max_bytes: int, max_chars: int) -> tuple[dict[str, list[str]], dict[str, dict]]:
    """Per category, documents in hash order until ``max_bytes`` is reached, and what was used."""
    by_cat: dict[str, list[EvalDoc]] = {}
    for d in docs:
        by_cat.setdefault(d.category, []).append(d)
    texts: dict[str, list[str]] = {}
    corpus: dict[str, dict] = {}
    for cat in CATEGORIES:
        pool = sorted(by_cat.get(cat, []), key=lambda d: hashlib.blake2b(d.key.encode("utf-8", "surrogatepass"), digest_size=8).digest())
        chosen, n_bytes, origins = [], 0, Counter()
        for d in pool:
            if n_bytes >= max_bytes:
                break
            text = truncate(d.text, max_chars)
            chosen.append(text)
            n_bytes += len(text.encode("utf-8", "surrogatepass"))
            origins[d.origin] += 1
        if chosen:
            texts[cat] = chosen
            corpus[cat] = {"documents": len(chosen), "bytes": n_bytes, "available_documents": len(pool), "sources": dict(sorted(origins.items()))}
    return texts, corpus


# --- measurement ---------------------------------------------------------------------------------


def count_tokens(counter: TokenCounter, texts: dict[str, list[str]], batch_size: int) -> dict[str, int]:
    tokens = {}
    for n, (cat, docs) in enumerate(texts.items(), 1):
        started = time.time()
        tokens[cat] = sum(sum(counter.count_batch(docs[i : i + batch_size])) for i in range(0, len(docs), batch_size))
        log.info("%s: %s (%d of %d), %d documents, %d tokens (%.1f s)", counter.name, cat, n, len(texts), len(docs), tokens[cat],
                 time.time() - started)
    return tokens


def weighted_average(rates: dict[str, float], weights: dict[str, float]) -> tuple[float | None, dict[str, float]]:
    """The average of ``rates`` under ``weights``, renormalised over the categories that have a rate;
    None when none of them has weight. Also returns the weights used."""
    present = {c: w for c, w in weights.items() if c in rates and w > 0}
    total = sum(present.values())
    if total == 0:
        return None, {}
    used = {c: w / total for c, w in present.items()}
    return sum(rates[c] * w for c, w in used.items()), used


def evaluate_targets(targets: list[Target], rates: dict[str, dict[str, float]]) -> list[dict]:
    """Each target with ours, the reference, their ratio and whether it is met (margin > 0 is room left)."""
    results = []
    for t in targets:
        r = {"category": t.category, "reference": t.reference, "max_ratio": t.max_ratio}
        ours, ref = rates.get(OURS, {}).get(t.category), rates.get(t.reference, {}).get(t.category)
        if ours is None or ref is None:
            missing = t.reference if t.reference not in rates else f"{t.category} text"
            results.append({**r, "status": "UNKNOWN", "reason": f"no measurement: {missing} unavailable"})
            continue
        ratio = ours / ref
        results.append({**r, "ours": ours, "reference_rate": ref, "ratio": ratio, "margin": t.max_ratio - ratio,
                        "status": "MET" if ratio <= t.max_ratio else "NOT MET"})
    return results


def paper_reproduction(weights: dict[str, float]) -> dict[str, float]:
    """Our weights applied to the report's per-category figures, to compare with its weighted average."""
    return {name: weighted_average(dict(zip(CATEGORIES, row["rates"])), weights)[0] for name, row in TELEFLM_TABLE3["rows"].items()}


def build_report(ours: TokenCounter, tokenizer_path: str, heldout: Path | None, settings: Settings) -> dict:
    config = settings.config
    check_not_training_text(settings)
    skipped_lines: Counter = Counter()
    docs: list[EvalDoc] = []
    if heldout is not None:
        docs.extend(read_heldout(heldout, skipped_lines))
    identifier = None
    for source in config.eval_sources:
        found = list(read_source(source, settings.eval_root, skipped_lines))
        if source.langs:
            if identifier is None:
                from datapipe.langid import LanguageIdentifier

                identifier = LanguageIdentifier()
            found = keep_languages(found, source.langs, identifier, skipped_lines, source.name)
        docs.extend(found)
    texts, corpus = select(docs, config.max_bytes_per_category, config.max_doc_chars)
    if not texts:
        raise ReportError("no evaluation text: the held-out file and the eval sources gave no document")
    for cat, c in corpus.items():
        log.info("evaluation text %s: %d documents, %d bytes", cat, c["documents"], c["bytes"])

    _, weights_used = weighted_average({c: 1.0 for c in corpus}, config.weights)
    references, skipped = load_references(config.references, settings.reference_root)
    for s in skipped:
        log.warning("reference skipped: %s", s["reason"])
    rows = []
    for spec, counter in [(None, ours)] + references:
        tokens = count_tokens(counter, texts, config.batch_size)
        rates = {c: tokens[c] / corpus[c]["bytes"] for c in tokens}
        avg, _ = weighted_average(rates, config.weights)
        rows.append({
            "name": counter.name, "kind": "hf" if spec is None else spec.kind, "vocab_size": counter.vocab_size,
            "path": tokenizer_path if spec is None else str(settings.reference_root / spec.path),
            "paper_row": "Tele-FLM" if spec is None else spec.paper_row,
            "tokens": tokens, "rates": rates, "weighted_avg": avg,
        })
    rates_by_name = {r["name"]: r["rates"] for r in rows}
    return {
        "tokenizer": tokenizer_path,
        "heldout": str(heldout) if heldout else None,
        "config": str(settings.path),
        "corpus": corpus,
        "skipped_lines": dict(sorted(skipped_lines.items())),
        "weights": config.weights,
        "weights_used": weights_used,
        "missing_categories": [c for c in CATEGORIES if c not in corpus],
        "tokenizers": rows,
        "skipped_references": skipped,
        "targets": evaluate_targets(config.targets, rates_by_name),
        "paper_table3": {**TELEFLM_TABLE3, "weighted_avg_with_our_weights": paper_reproduction(config.weights)},
    }


# --- outputs -------------------------------------------------------------------------------------


def _fmt(v: float | None) -> str:
    return "–" if v is None else f"{v:.3f}"


def target_line(t: dict) -> str:
    head = f"{t['category']} vs {t['reference']} (ratio <= {t['max_ratio']:.2f})"
    if t["status"] == "UNKNOWN":
        return f"{head}: UNKNOWN, {t['reason']}"
    fewer = 1 - t["ratio"]
    change = f"{fewer:.1%} fewer tokens" if fewer >= 0 else f"{-fewer:.1%} more tokens"
    distance = f"margin {t['margin']:.3f}" if t["margin"] >= 0 else f"short by {-t['margin']:.3f}"
    return (f"{head}: {t['status']} ({distance}): ours {t['ours']:.4f} vs {t['reference_rate']:.4f} tokens/byte, "
            f"ratio {t['ratio']:.3f}, {change}")


def corpus_lines(report: dict) -> list[str]:
    lines = ["| category | documents | bytes | sources |", "|---|---:|---:|---|"]
    for cat in CATEGORIES:
        c = report["corpus"].get(cat)
        if c is None:
            lines.append(f"| {cat} | 0 | 0 | none: left out of the weighted average |")
        else:
            sources = ", ".join(f"{k} {v}" for k, v in c["sources"].items())
            lines.append(f"| {cat} | {c['documents']:,} | {c['bytes']:,} | {sources} |")
    return lines


def rate_table(report: dict) -> list[str]:
    lines = ["| tokenizer | vocab | " + " | ".join(CATEGORIES) + " | weighted avg |", "|---|---:|" + "---:|" * (len(CATEGORIES) + 1)]
    for r in report["tokenizers"]:
        cells = [_fmt(r["rates"].get(c)) for c in CATEGORIES]
        lines.append(f"| {r['name']} | {r['vocab_size']:,} | " + " | ".join(cells) + f" | {_fmt(r['weighted_avg'])} |")
    return lines


def render_markdown(report: dict) -> str:
    paper = report["paper_table3"]
    w = report["weights"]
    out = [
        "# Tokenizer compression rate",
        "",
        f"Tokens per UTF-8 byte (lower is better) of `{report['tokenizer']}` and the reference tokenizers.",
        f"Held-out documents: `{report['heldout']}`. Config: `{report['config']}`.",
        "",
        "## Evaluation text",
        "",
        "Held-out documents of the tokenizer plus the config's extra sources; none of it may be in the",
        "tokenizer's training corpus (extra sources that the ingest stage reads are refused).",
        "",
        *corpus_lines(report),
        "",
    ]
    if report["skipped_lines"]:
        out += ["Records skipped: " + ", ".join(f"{k} {v}" for k, v in report["skipped_lines"].items()), ""]
    out += [
        "## Compression rate",
        "",
        *rate_table(report),
        "",
        "Weighted average: " + ", ".join(f"{c} {w.get(c, 0):.4f}" for c in CATEGORIES) + " (config `weights`)"
        + (f"; no text for {', '.join(report['missing_categories'])}, so the other weights are renormalised." if report["missing_categories"] else "."),
        "",
    ]
    if report["skipped_references"]:
        out += ["Skipped references:", "", *[f"- {s['reason']}" for s in report["skipped_references"]], ""]
    if report["targets"]:
        out += ["## Targets", "", *[f"- {target_line(t)}" for t in report["targets"]], ""]
    out += [
        "## Tele-FLM report, Table 3",
        "",
        f"{paper['source']}. The report does not say how its average is weighted; the last column is our",
        "`weights` applied to its per-category figures.",
        "",
        "| tokenizer | vocab | " + " | ".join(CATEGORIES) + " | weighted avg | with our weights |",
        "|---|---:|" + "---:|" * (len(CATEGORIES) + 2),
    ]
    for name, row in paper["rows"].items():
        out.append(f"| {name} | {row['vocab']} | " + " | ".join(f"{v:.3f}" for v in row["rates"])
                   + f" | {row['weighted_avg']:.3f} | {_fmt(paper['weighted_avg_with_our_weights'][name])} |")
    matched = [r for r in report["tokenizers"] if r["paper_row"]]
    if matched:
        out += ["", "Measured here / Table 3 (different evaluation text: only the ordering is comparable):", "",
                "| tokenizer | Table 3 row | " + " | ".join(CATEGORIES) + " | weighted avg |", "|---|---|" + "---:|" * (len(CATEGORIES) + 1)]
        for r in matched:
            row = paper["rows"][r["paper_row"]]
            cells = [f"{_fmt(r['rates'].get(c))} / {v:.3f}" for c, v in zip(CATEGORIES, row["rates"])]
            out.append(f"| {r['name']} | {r['paper_row']} | " + " | ".join(cells) + f" | {_fmt(r['weighted_avg'])} / {row['weighted_avg']:.3f} |")
    return "\n".join(out) + "\n"


def render_csv(report: dict) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["tokenizer", "vocab_size", "category", "documents", "bytes", "tokens", "tokens_per_byte"])
    for r in report["tokenizers"]:
        for cat in CATEGORIES:
            if cat in r["rates"]:
                c = report["corpus"][cat]
                w.writerow([r["name"], r["vocab_size"], cat, c["documents"], c["bytes"], r["tokens"][cat], f"{r['rates'][cat]:.6f}"])
        if r["weighted_avg"] is not None:
            w.writerow([r["name"], r["vocab_size"], "Weighted avg", "", "", "", f"{r['weighted_avg']:.6f}"])
    return buf.getvalue()


def render_png(report: dict) -> bytes:
    """Grouped bars: categories (and the weighted average) on x, one bar per tokenizer."""
    plt = pyplot()

    groups = [c for c in CATEGORIES if c in report["corpus"]] + ["Weighted avg"]
    rows = report["tokenizers"]
    width = 0.8 / len(rows)
    fig, ax = plt.subplots(figsize=(2 + len(groups) * (0.4 + 0.16 * len(rows)), 4.8))
    for i, r in enumerate(rows):
        values = [r["rates"].get(g, 0) if g != "Weighted avg" else (r["weighted_avg"] or 0) for g in groups]
        ax.bar([x + (i - (len(rows) - 1) / 2) * width for x in range(len(groups))], values, width,
               label=r["name"], edgecolor="black" if r["name"] == OURS else None, linewidth=1.2)
    ax.set_xticks(range(len(groups)), groups)
    ax.set_ylabel("tokens per UTF-8 byte (lower is better)")
    ax.set_title("Tokenizer compression rate")
    ax.legend(fontsize=8, ncol=len(rows), loc="upper center", bbox_to_anchor=(0.5, -0.08), frameon=False)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return png(fig)


def write_outputs(report: dict, output: Path) -> None:
    """All four files into ``OUTPUT._tmp-*``, renamed into place once complete."""
    with staged_directory(output) as tmp:
        (tmp / "compression.md").write_text(render_markdown(report), encoding="utf-8")
        (tmp / "compression.csv").write_text(render_csv(report), encoding="utf-8")
        (tmp / "compression.png").write_bytes(render_png(report))
        (tmp / "compression.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def summary(report: dict) -> str:
    lines = ["Evaluation text (documents, bytes) per category:", *corpus_lines(report), "", *rate_table(report)]
    lines += [f"skipped reference: {s['reason']}" for s in report["skipped_references"]]
    lines += ["", "Targets:", *[f"  {target_line(t)}" for t in report["targets"]]] if report["targets"] else []
    return "\n".join(lines)


# --- CLI -----------------------------------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m tokenizer.report", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("--tokenizer", required=True, help="our tokenizer.json, or the directory holding it")
    p.add_argument("--heldout", default=None, help=f"held-out documents (JSONL); default: {HELDOUT_FILE} beside the tokenizer, when present")
    p.add_argument("--config", default=str(DEFAULT_CONFIG), help="report config (YAML; default: %(default)s)")
    p.add_argument("--output", "-o", required=True, help="output directory (replaced atomically)")
    return p


def heldout_path(tokenizer: Path, given: str | None) -> Path | None:
    if given is not None:
        if not Path(given).is_file():
            raise ReportError(f"held-out file not found: {given}")
        return Path(given)
    beside = (tokenizer if tokenizer.is_dir() else tokenizer.parent) / HELDOUT_FILE
    return beside if beside.is_file() else None


def run(argv: list[str] | None = None) -> dict:
    args = parser().parse_args(argv)
    settings = load_settings(args.config)
    tokenizer = Path(args.tokenizer)
    try:
        ours = load_ours(tokenizer, OURS)
    except (FileNotFoundError, ValueError) as exc:
        raise ReportError(str(exc)) from exc
    heldout = heldout_path(tokenizer, args.heldout)
    if heldout is None:
        log.warning("no held-out file: only the config's eval sources are measured")
    report = build_report(ours, str(tokenizer), heldout, settings)
    write_outputs(report, Path(args.output))
    print(summary(report))
    print(f"\nwrote {', '.join(str(Path(args.output) / n) for n in OUTPUT_NAMES)}")
    return report


main = main_of(run, ReportError, logs=True)


if __name__ == "__main__":
    sys.exit(main())
