"""Train the byte-level BPE tokenizer on a domain-weighted sample of stage outputs.

    python -m tokenizer.train --input DIR [DIR ...] --output OUTDIR [--config configs/tokenizer.yaml]
                              [--weights configs/mix.yaml | MIXTURE/_manifest.json]

Design (Hugging Face ``tokenizers``):

- no Unicode normalization: NFKC would turn full-width CJK punctuation, ligatures and compatibility
  characters into other characters, and the tokenizer must give back exactly the bytes it was
  given (``decode(encode(x)) == x`` for every valid UTF-8 string);
- a ``Split`` pre-tokenizer with ``PRETOKENIZER_PATTERN`` (below), then ``ByteLevel`` without a
  prefix space and without its GPT-2 regex: every UTF-8 byte is a symbol, so there is no unknown
  token and any text round-trips through the ``ByteLevel`` decoder;
- the special tokens of ``tokenizer.vocab`` take ids 0, 1, 2, ... in order, then the 256 byte
  symbols, then the merges, up to exactly ``vocab_size`` entries: a sample too small to learn that
  many merges is an error, not a smaller vocabulary.

Output (written as ``OUTDIR._tmp-*``, renamed into place when complete): ``tokenizer.json``,
``tokenizer_config.json`` and ``special_tokens_map.json`` (the directory loads with
``transformers.AutoTokenizer``), ``heldout.jsonl`` (held-out documents per report category, for the
compression report), ``training_report.json`` and ``training_report.md``.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import tokenizers
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

from datapipe.cli import main_of
from datapipe.config import load_config
from datapipe.io import staged_directory

from .config import BYTE_ALPHABET, TokenizerConfig
from .sample import CATEGORIES, SampleError, TrainingSample, load_weights
from .vocab import BEGIN_OF_TEXT, END_OF_TEXT, PADDING, SPECIAL_TOKENS, TOKENIZER_FILE

UNSPACED_SCRIPTS = r"\p{Han}\p{Hiragana}\p{Katakana}\x{30FC}\p{Thai}\p{Lao}\p{Khmer}\p{Myanmar}"
"""Scripts written without spaces between words (U+30FC is the katakana length mark, script Common)."""


def pretokenizer_pattern(max_unspaced_run: int) -> str:
    """The pre-tokenizer regex (Oniguruma syntax), GPT-4's (cl100k) with these changes, in order:

    1. English contractions (``'s``, ``'t``, ...) as their own pieces, as in GPT-2 and GPT-4;
    2. a run of an unspaced script (Chinese, Japanese, Thai, ...) is cut into pieces of at most
       ``max_unspaced_run`` characters, its combining marks kept with their base: without spaces a
       whole clause (or an unpunctuated page) is one pre-token, and the trainer's time per merge
       grows with the length of the pre-tokens it touches (measured: 491 s instead of 12 s on 1M
       unpunctuated Chinese characters); such a piece never takes a Latin letter, so ``中文abc``
       is ``中文`` + ``abc``;
    3. words of the other scripts include their combining marks (``\\p{M}``: Devanagari vowel signs,
       Arabic harakat, decomposed accents), which GPT-4's ``\\p{L}+`` splits off;
    4. every digit alone (``\\p{N}``), as in LLaMA and DeepSeek, instead of GPT-4's runs of up to
       three, whose boundaries depend on where a number starts;
    5. punctuation, symbols and emoji runs (with ZWJ sequences), with the line breaks after them;
    6. line breaks with the whitespace before them; whitespace runs keep their last space for the
       next word (``\\s+(?!\\S)``), so code indentation is a token of its own and `` return`` another.
    """
    u = UNSPACED_SCRIPTS
    return "|".join(
        [
            r"(?i:'s|'t|'re|'ve|'m|'ll|'d)",
            rf"(?:[{u}]\p{{M}}*){{1,{max_unspaced_run}}}",
            rf"[^\r\n\p{{L}}\p{{M}}\p{{N}}]?[\p{{L}}\p{{M}}&&[^{u}]]+",
            r"\p{N}",
            r" ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*",
            r"\s*[\r\n]+",
            r"\s+(?!\S)",
            r"\s+",
        ]
    )


class VocabularyShortError(ValueError):
    """The sample was too small for ``vocab_size``; the message says how much more text is needed."""


def new_tokenizer(config: TokenizerConfig) -> Tokenizer:
    """An untrained tokenizer with this project's pre-tokenizer and decoder."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(pretokenizer_pattern(config.max_unspaced_run)), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    return tok


class _ByteCounter:
    """Passes texts through, counting them and their UTF-8 bytes (for the shortfall message), with a
    progress line on stderr every ``every`` seconds (the trainer's own bars draw on a terminal only)."""

    def __init__(self, texts: Iterable[str], length: int | None = None, every: float = 30.0):
        self.texts = texts
        self.length = length
        self.every = every
        self.docs = 0
        self.bytes = 0

    def __iter__(self) -> Iterator[str]:
        started = last = time.monotonic()
        for text in self.texts:
            self.docs += 1
            self.bytes += len(text.encode("utf-8", "surrogatepass"))
            now = time.monotonic()
            if now - last >= self.every:
                last = now
                of = f" of {self.length:,}" if self.length else ""
                print(f"[tokenizer] read {self.docs:,}{of} documents, {self.bytes / 1e6:,.1f} MB, {now - started:.0f} s", file=sys.stderr, flush=True)
            yield text
        print(f"[tokenizer] read {self.docs:,} documents ({self.bytes / 1e6:,.1f} MB) in {time.monotonic() - started:.0f} s; "
              "counting pairs and merging", file=sys.stderr, flush=True)


def train_tokenizer(texts: Iterable[str], config: TokenizerConfig, length: int | None = None) -> Tokenizer:
    """A byte-level BPE tokenizer of exactly ``config.vocab_size`` entries trained on ``texts``
    (streamed once; ``length``, the number of texts if known, only sizes the progress bar)."""
    tok = new_tokenizer(config)
    trainer = trainers.BpeTrainer(
        vocab_size=config.vocab_size,
        min_frequency=config.min_frequency,
        show_progress=config.show_progress,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        max_token_length=config.max_token_length,
    )
    if length is None and hasattr(texts, "__len__"):
        length = len(texts)
    counted = _ByteCounter(texts, length)
    tok.train_from_iterator(counted, trainer, length=length)
    size = tok.get_vocab_size()
    if size < config.vocab_size:
        base = len(SPECIAL_TOKENS) + BYTE_ALPHABET
        learned, wanted = max(size - base, 1), config.vocab_size - base
        raise VocabularyShortError(
            f"{counted.bytes:,} bytes of text ({counted.docs:,} documents) gave {size:,} of the {config.vocab_size:,} "
            f"vocabulary entries ({learned:,} of {wanted:,} merges with min_frequency {config.min_frequency}): "
            f"about {counted.bytes * wanted / learned:,.0f} bytes at least are needed (more input or a larger "
            "sample_bytes), or a smaller vocab_size"
        )
    return tok


def peak_rss_bytes() -> int:
    """Peak resident memory of this process so far."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def transformers_files() -> dict[str, dict]:
    """``tokenizer_config.json`` and ``special_tokens_map.json`` for ``PreTrainedTokenizerFast``:
    special-token strings in text stay text (``split_special_tokens``), as with ``load_tokenizer``,
    and decoding does not touch spaces."""
    specials = {"bos_token": BEGIN_OF_TEXT, "eos_token": END_OF_TEXT, "pad_token": PADDING}
    return {
        "tokenizer_config.json": {
            "tokenizer_class": "PreTrainedTokenizerFast",
            **specials,
            "clean_up_tokenization_spaces": False,
            "split_special_tokens": True,
        },
        "special_tokens_map.json": specials,
    }


def report_markdown(report: dict) -> str:
    s = report["sample"]
    lines = [
        "# Tokenizer training",
        "",
        f"Vocabulary: {report['vocab_size']:,} entries ({len(SPECIAL_TOKENS)} special tokens, {BYTE_ALPHABET} bytes, "
        f"{report['merges']:,} merges). Sample: {s['docs']:,} documents, {s['bytes']:,} bytes "
        f"(sample_bytes {report['config']['sample_bytes']:,}). Time: {report['seconds']['total']:.1f} s "
        f"(sizes {report['seconds']['sizes']:.1f} s, reading and training {report['seconds']['train']:.1f} s). "
        f"Peak RSS: {report['peak_rss_bytes'] / 2**30:.2f} GiB.",
        "",
        f"Weights: {report['weights']}",
        "",
        "| domain | target share | realised share | documents | bytes | available documents | available bytes |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for d in s["domains"]:
        lines.append(
            f"| {d['domain']} | {d['target_share']:.2%} | {d['realised_share']:.2%} | {d['docs']:,} | {d['bytes']:,} "
            f"| {d['available_docs']:,} | {d['available_bytes']:,} |"
        )
    h = report["heldout"]
    lines += [
        "",
        f"Held out (fraction {h['fraction']}, seed {h['seed']}): {h['documents']:,} documents; written to "
        f"heldout.jsonl, at most about {h['bytes_per_category']:,} bytes per category:",
        "",
        "| category | documents | bytes |",
        "|---|---:|---:|",
    ]
    for cat in CATEGORIES:
        c = h["categories"].get(cat, {"docs": 0, "bytes": 0})
        lines.append(f"| {cat} | {c['docs']:,} | {c['bytes']:,} |")
    lines += ["", "Warnings:" if s["warnings"] else "Warnings: none."] + [f"- {w}" for w in s["warnings"]]
    lines += ["", "Pre-tokenizer (Split, then ByteLevel):", "", "```", report["pretokenizer_pattern"], "```", ""]
    lines += ["Config:", "", "```json", json.dumps(report["config"], indent=2), "```", ""]
    return "\n".join(lines)


def write_output(output: Path, tok: Tokenizer, heldout: list[dict], report: dict) -> None:
    """Write every output file into ``OUTPUT._tmp-*`` and swap it into place."""
    with staged_directory(output) as tmp:
        tok.save(str(tmp / TOKENIZER_FILE))
        for name, content in transformers_files().items():
            (tmp / name).write_text(json.dumps(content, indent=2) + "\n", encoding="utf-8")
        with open(tmp / "heldout.jsonl", "w", encoding="utf-8") as fh:
            for record in heldout:
                fh.write(json.dumps(record, ensure_ascii=False) + "\n")
        (tmp / "training_report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        (tmp / "training_report.md").write_text(report_markdown(report), encoding="utf-8")


def train_from_stages(inputs: list[str], output: str | Path, config: TokenizerConfig, weights_path: str | None) -> dict:
    """Sample the stage outputs, train, write ``output``; returns the training report."""
    started = time.time()
    output = Path(output).absolute()
    sample = TrainingSample(inputs, load_weights(weights_path), config)
    sample.plan()
    planned = time.time()
    expected_docs = round(sum(s.rate * s.available_docs for s in sample.domains.values()))
    tok = train_tokenizer(sample, config, length=expected_docs)
    trained = time.time()
    heldout = sample.heldout.records()
    categories: dict[str, dict] = {}
    for r in heldout:
        c = categories.setdefault(r["category"], {"docs": 0, "bytes": 0})
        c["docs"] += 1
        c["bytes"] += len(r["text"].encode("utf-8", "surrogatepass"))
    report = {
        "output": str(output),
        "inputs": list(inputs),
        "weights": weights_path or "datapipe.mixture.MixConfig defaults (Table 1)",
        "vocab_size": tok.get_vocab_size(),
        "merges": tok.get_vocab_size() - len(SPECIAL_TOKENS) - BYTE_ALPHABET,
        "sample": {"docs": sample.docs, "bytes": sample.bytes, "domains": sample.domain_rows(), "warnings": sample.warnings},
        "heldout": {
            "fraction": config.heldout_fraction,
            "seed": config.heldout_seed,
            "documents": sample.heldout_docs,
            "bytes_per_category": config.heldout_bytes_per_category,
            "categories": categories,
        },
        "seconds": {
            "sizes": round(planned - started, 2),
            "train": round(trained - planned, 2),
            "total": round(time.time() - started, 2),
        },
        "peak_rss_bytes": peak_rss_bytes(),
        "pretokenizer_pattern": pretokenizer_pattern(config.max_unspaced_run),
        "tokenizers_version": tokenizers.__version__,
        "config": config.model_dump(),
    }
    write_output(output, tok, heldout, report)
    return report


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m tokenizer.train",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--input", "-i", required=True, nargs="+", help="stage output directories (Parquet with _SUCCESS)")
    p.add_argument("--output", "-o", required=True, help="output directory (replaced atomically)")
    p.add_argument("--config", "-c", default=None, help="YAML config (configs/tokenizer.yaml; defaults when omitted)")
    p.add_argument(
        "--weights",
        "-w",
        default=None,
        help="domain weights: a mix config (configs/mix.yaml) or a mixture's _manifest.json (default: Table 1)",
    )
    return p


def run(argv: list[str] | None = None) -> dict:
    args = parser().parse_args(argv)
    report = train_from_stages(args.input, args.output, load_config(TokenizerConfig, args.config), args.weights)
    print(
        f"tokenizer: {report['vocab_size']:,} entries from {report['sample']['bytes']:,} bytes in "
        f"{report['seconds']['total']:.1f} s, peak RSS {report['peak_rss_bytes'] / 2**30:.2f} GiB -> {report['output']}"
    )
    return report


main = main_of(run, SampleError, VocabularyShortError)


if __name__ == "__main__":
    raise SystemExit(main())
