""""Less is more" selection of instruction data: from every available conversation to a small, clean,
diverse set (the Tele-FLM-Chat recipe: about 30k samples, mostly Chinese).

One process, not Spark: the inputs are about 176k conversations and 60 MB (the Alpaca prompts in English
and two Chinese translations); every step below takes seconds, and the near-duplicate and diversity steps
need all of one language's prompts together anyway. The steps, each dropping with a counted reason:

1. ``invalid:*``: not a well-formed conversation (``conversation.validate``: an empty turn, over
   ``max_chars``), or a placeholder for a missing answer (``<nooutput>``, ``N/A``).
2. ``duplicate:exact``: the same prompt and answer (normalised: case, spaces, punctuation) in the same
   language as a conversation seen before (sources in the order given: the bilingual file's English side
   is Alpaca's own text).
3. ``quality:*``: a translation scored below ``min_translation_score`` (``translation_score``), a
   translated answer much shorter than its English original (``truncated``: under ``min_length_ratio`` of
   it, in characters, counting a Chinese character as ``chars_per_han`` Latin ones, for originals of at
   least ``truncation_min_chars``), an answer shorter
   than ``min_answer_chars``.
4. ``duplicate:near``: a prompt whose MinHash shingle set has Jaccard >= ``near_duplicate_threshold`` with a
   better one's (``datapipe.minhash``: the corpus stage's shingling and signatures; candidates by banding,
   confirmed with the exact Jaccard of the shingle sets); the kept one has the higher quality score.
5. ``contaminated:<benchmark>``: a prompt or answer sharing an n-gram with a benchmark test item
   (``datapipe.decontam``, the corpus stage's index and normalisation, ``configs/decontaminate.yaml``).
6. ``duplicate:translation``: one language's copy of a prompt whose other copy is kept (a known bilingual
   pair), chosen so the languages come closest to ``languages``' shares.
7. ``selection:over_target``: what diversity leaves out at the target size. Per language (its share of
   ``target``), prompts are grouped by instruction type (the first word of an English instruction,
   lower-cased; the first two characters of a Chinese one: its verb, e.g. "generate", "解释"), and picked
   round-robin over the types (the most common first), the best-scored first in each, so that no type
   takes more than its turn.

Quality score (ties in 4 and 7): the translation score when there is one (5 best), then the answer's
length up to ``good_answer_chars``, then a seeded random order. The report: counts per reason and per
language and source at each step, and the final composition (languages, sources, instruction types,
lengths), as JSON and markdown.
"""

from __future__ import annotations

import json
import random
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pydantic import Field, PositiveInt, model_validator

from datapipe.config import StrictModel, load_config, load_named_config
from datapipe.decontam import DecontamConfig, Decontaminator, build_index
from datapipe.instruct.conversation import Conversation, ConversationError, validate
from datapipe.minhash import MinHashConfig, MinHasher, band_keys, optimal_bands
from datapipe.text import HAN_CLASS, count_cjk


class SelectConfig(StrictModel):
    """Settings of the selection (``configs/sft_select.yaml``)."""

    target: PositiveInt = Field(30_000, description="conversations to select")
    languages: dict[str, float] = Field(default_factory=lambda: {"zh": 0.7, "en": 0.3},
                                        description="share of the target per language (mostly Chinese, as Tele-FLM-Chat)")
    max_chars: PositiveInt = Field(8_000, description="longest conversation, in characters")
    min_answer_chars: PositiveInt = Field(2, description="shortest answer, in characters")
    min_translation_score: int = Field(4, ge=1, le=5, description="lowest translation score kept (1-5); unscored are kept")
    min_length_ratio: float = Field(0.3, gt=0, lt=1, description="a translated answer under this share of its original's length is truncated")
    truncation_min_chars: PositiveInt = Field(100, description="originals shorter than this are not checked for truncation")
    chars_per_han: float = Field(2.0, gt=0, description="Latin characters one Chinese character counts for in length ratios")
    near_duplicate_threshold: float = Field(0.7, gt=0, lt=1, description="Jaccard of prompt shingle sets for near duplicates")
    good_answer_chars: PositiveInt = Field(400, description="answer length beyond which longer is no better")
    decontaminate: str | None = Field("configs/decontaminate.yaml", description="decontamination config; None: skip")
    seed: int = 0

    @model_validator(mode="after")
    def _shares(self) -> SelectConfig:
        if not self.languages or any(v <= 0 for v in self.languages.values()):
            raise ValueError("languages: give each language a positive share")
        total = sum(self.languages.values())
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"languages: the shares must add up to 1, they add up to {total:g}")
        return self


@dataclass
class Selection:
    """The selected conversations and what happened to every other one."""

    selected: list[Conversation]
    dropped: Counter = field(default_factory=Counter)  # reason -> count
    by_language: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))  # reason -> lang -> count
    examples: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))  # reason -> a few ids
    inputs: Counter = field(default_factory=Counter)  # (lang, source) -> count

    def drop(self, conv: Conversation, reason: str) -> None:
        self.dropped[reason] += 1
        self.by_language[reason][conv.lang] += 1
        if len(self.examples[reason]) < 3:
            self.examples[reason].append(f"{conv.id}: {conv.prompt[:80]!r} -> {conv.answer[:60]!r}")


_PUNCT_SPACE = re.compile(r"[\W_]+", re.UNICODE)
_HAN = re.compile(f"[{HAN_CLASS}]")


def normal_form(text: str) -> str:
    """Case, width, spaces and punctuation folded away: what makes two texts the same for dedup."""
    return _PUNCT_SPACE.sub(" ", unicodedata.normalize("NFKC", text).lower()).strip()


PLACEHOLDERS = {normal_form(t) for t in ("<nooutput>", "<noinput>", "N/A", "<无输出>", "<无输入>")}
"""Answers (or prompts) that stand for a missing one, in ``normal_form``."""


def weighted_length(text: str, chars_per_han: float) -> float:
    han = count_cjk(text)
    return len(text) - han + han * chars_per_han


def instruction_type(conv: Conversation) -> str:
    """The instruction's verb, roughly: its first English word, or its first two Chinese characters."""
    first = conv.prompt.strip().split("\n", 1)[0]
    if conv.lang == "zh":
        han = "".join(_HAN.findall(first))
        return han[:2] or "(other)"
    words = re.findall(r"[A-Za-z']+", first)
    return words[0].lower() if words else "(other)"


class Selector:
    def __init__(self, config: SelectConfig, decontaminator: Decontaminator | None = None):
        self.config = config
        self.decontaminator = decontaminator
        self.rng = random.Random(config.seed)

    def quality(self, conv: Conversation) -> tuple:
        score = conv.meta.get("translation_score")
        return (score if isinstance(score, int | float) else 0, min(len(conv.answer), self.config.good_answer_chars),
                self.rng.random())

    def run(self, conversations: Iterable[Conversation]) -> Selection:
        c = self.config
        sel = Selection([])
        kept: list[Conversation] = []
        seen: set[tuple[str, str]] = set()
        english = {}  # pair -> English answer length, for the truncation check
        for conv in conversations:
            sel.inputs[(conv.lang, conv.source)] += 1
            try:
                validate(conv, c.max_chars)
            except ConversationError as exc:
                sel.drop(conv, "invalid:" + ("too_long" if "more than" in str(exc) else "malformed"))
                continue
            if normal_form(conv.answer) in PLACEHOLDERS or normal_form(conv.prompt) in PLACEHOLDERS:
                sel.drop(conv, "invalid:placeholder")
                continue
            key = (conv.lang, normal_form(conv.prompt) + "\x00" + normal_form(conv.answer))
            if key in seen:
                sel.drop(conv, "duplicate:exact")
                continue
            seen.add(key)
            if conv.lang == "en" and "pair" in conv.meta:
                english[conv.meta["pair"]] = weighted_length(conv.answer, c.chars_per_han)
            kept.append(conv)
        survivors = []
        for conv in kept:
            score = conv.meta.get("translation_score")
            original = english.get(conv.meta.get("pair")) if conv.lang != "en" else None
            if isinstance(score, int | float) and score < c.min_translation_score:
                sel.drop(conv, "quality:translation_score")
            elif original and original >= c.truncation_min_chars and \
                    weighted_length(conv.answer, c.chars_per_han) < c.min_length_ratio * original:
                sel.drop(conv, "quality:truncated")
            elif len(conv.answer.strip()) < c.min_answer_chars:
                sel.drop(conv, "quality:short_answer")
            else:
                survivors.append(conv)
        survivors = self.near_duplicates(survivors, sel)
        if self.decontaminator is not None:
            clean = []
            for conv in survivors:
                result = self.decontaminator.scan(conv.prompt + "\n" + conv.answer)
                if result.matches:
                    sel.drop(conv, "contaminated:" + max(result.matches, key=result.matches.get))
                else:
                    clean.append(conv)
            survivors = clean
        survivors = self.one_language_per_pair(survivors, sel)
        sel.selected = self.diverse(survivors, sel)
        return sel

    def near_duplicates(self, conversations: list[Conversation], sel: Selection) -> list[Conversation]:
        """Per language, the best of each group of prompts at Jaccard >= the threshold."""
        c = self.config
        mh_config = MinHashConfig(threshold=c.near_duplicate_threshold, word_ngram=3, char_ngram=3)
        hasher = MinHasher(mh_config)
        bands, rows = optimal_bands(mh_config.threshold, mh_config.num_perm, 0.05, 0.95)
        order = sorted(range(len(conversations)), key=lambda i: self.quality(conversations[i]), reverse=True)
        ranked = [conversations[i] for i in order]
        dropped = set()
        for lang in sorted({conv.lang for conv in ranked}):
            idx = [i for i, conv in enumerate(ranked) if conv.lang == lang]
            prompts = [normal_form(ranked[i].prompt) for i in idx]
            shingles = [set(hasher.shingles(p, lang)) for p in prompts]
            sigs, has_sig, _ = hasher.signatures(prompts, [lang] * len(prompts))
            keys = band_keys(sigs, bands, rows)
            buckets: dict[tuple[int, int], int] = {}  # (band, key) -> first (best) member, position in idx
            for pos in range(len(idx)):
                if not has_sig[pos]:
                    continue
                for band in range(bands):
                    first = buckets.setdefault((band, int(keys[pos, band])), pos)
                    if first == pos or idx[first] in dropped:
                        continue
                    a, b = shingles[first], shingles[pos]
                    if len(a & b) >= c.near_duplicate_threshold * len(a | b):
                        dropped.add(idx[pos])
                        break
        kept = []
        for i, conv in enumerate(ranked):
            if i in dropped:
                sel.drop(conv, "duplicate:near")
            else:
                kept.append(conv)
        return kept

    def one_language_per_pair(self, conversations: list[Conversation], sel: Selection) -> list[Conversation]:
        """Of a prompt kept in both languages, one copy: the language that is furthest below its share."""
        by_pair = defaultdict(list)
        for conv in conversations:
            if "pair" in conv.meta:
                by_pair[conv.meta["pair"]].append(conv)
        counts = Counter(conv.lang for conv in conversations if "pair" not in conv.meta)
        drop = set()
        for pair in sorted(by_pair):
            copies = by_pair[pair]
            if len(copies) < 2:
                counts[copies[0].lang] += 1
                continue
            total = sum(counts.values()) + 1
            keep = min(copies, key=lambda conv: (counts[conv.lang] + 1) / total / self.config.languages.get(conv.lang, 1e-9))
            counts[keep.lang] += 1
            drop.update(id(conv) for conv in copies if conv is not keep)
        kept = []
        for conv in conversations:
            if id(conv) in drop:
                sel.drop(conv, "duplicate:translation")
            else:
                kept.append(conv)
        return kept

    def diverse(self, conversations: list[Conversation], sel: Selection) -> list[Conversation]:
        """Per language up to its share of the target, round-robin over instruction types, best first."""
        c = self.config
        chosen = []
        for lang in sorted({conv.lang for conv in conversations}):
            quota = round(c.target * c.languages.get(lang, 0.0))
            groups = defaultdict(list)
            for conv in conversations:
                if conv.lang == lang:
                    groups[instruction_type(conv)].append(conv)
            # the most common types first, so that a target smaller than the number of types keeps the main ones
            queues = [sorted(g, key=self.quality, reverse=True)
                      for _, g in sorted(groups.items(), key=lambda item: (-len(item[1]), item[0]))]
            picked, depth = [], 0
            while len(picked) < quota and any(depth < len(q) for q in queues):
                picked += [q[depth] for q in queues if depth < len(q)][: quota - len(picked)]
                depth += 1
            keep = {id(conv) for conv in picked}
            for conv in conversations:
                if conv.lang == lang and id(conv) not in keep:
                    sel.drop(conv, "selection:over_target")
            chosen += picked
        return sorted(chosen, key=lambda conv: conv.id)


def load_decontaminator(path: str | Path, source: str | Path | None = None) -> Decontaminator:
    config = load_named_config(DecontamConfig, path, "decontaminate", source).model_copy(update={"mode": "drop"})
    return Decontaminator(build_index(config), config)


def report(sel: Selection, config: SelectConfig) -> dict:
    selected = sel.selected
    types = Counter((conv.lang, instruction_type(conv)) for conv in selected)
    lengths = np.array([len(conv.prompt) + len(conv.answer) for conv in selected]) if selected else np.zeros(1)
    return {
        "config": config.model_dump(),
        "inputs": {f"{lang} {source}": n for (lang, source), n in sorted(sel.inputs.items())},
        "input_total": sum(sel.inputs.values()),
        "dropped": dict(sorted(sel.dropped.items())),
        "dropped_by_language": {r: dict(sorted(v.items())) for r, v in sorted(sel.by_language.items())},
        "examples": dict(sorted(sel.examples.items())),
        "selected": len(selected),
        "languages": dict(sorted(Counter(conv.lang for conv in selected).items())),
        "sources": dict(sorted(Counter(conv.source for conv in selected).items())),
        "instruction_types": len(types),
        "top_instruction_types": [f"{lang} {t}: {n}" for (lang, t), n in types.most_common(20)],
        "chars": {"median": float(np.median(lengths)), "p90": float(np.percentile(lengths, 90)), "max": int(lengths.max())},
    }


def render_markdown(r: dict) -> str:
    lines = ["# SFT data selection", "", f"{r['input_total']:,} conversations in, {r['selected']:,} selected.", "",
             "| input | conversations |", "|---|---:|", *(f"| {k} | {v:,} |" for k, v in r["inputs"].items()), "",
             "| dropped because | conversations | by language | examples |", "|---|---:|---|---|"]
    for reason, n in r["dropped"].items():
        langs = ", ".join(f"{k} {v:,}" for k, v in r["dropped_by_language"][reason].items())
        example = "<br>".join(e.replace("|", "/") for e in r["examples"].get(reason, [])[:2])
        lines.append(f"| {reason} | {n:,} | {langs} | {example} |")
    lines += ["", "Selected: " + ", ".join(f"{k} {v:,}" for k, v in r["languages"].items())
              + "; sources: " + ", ".join(f"{k} {v:,}" for k, v in r["sources"].items()),
              f"Instruction types: {r['instruction_types']:,}; the most frequent: " + "; ".join(r["top_instruction_types"][:10]),
              f"Characters per conversation: median {r['chars']['median']:,.0f}, p90 {r['chars']['p90']:,.0f}, max {r['chars']['max']:,}"]
    return "\n".join(lines) + "\n"


def write_report(r: dict, out: Path) -> None:
    from datapipe.io import atomic_file

    with atomic_file(out / "report.json", "w") as f:
        f.write(json.dumps(r, indent=1, ensure_ascii=False) + "\n")
    with atomic_file(out / "report.md", "w") as f:
        f.write(render_markdown(r))


# --- the command ------------------------------------------------------------------------------------


def read_inputs(root: str | Path) -> list[Conversation]:
    """Every conversation under ``root`` (a file or a directory): JSONL conversations, bilingual scored
    records (``en_instruction`` ...), or Alpaca records (language by script: Chinese when most letters are
    Han); bilingual files first, so that their English side, which carries the pairing, is the copy kept."""
    from datapipe.instruct.conversation import _load_json, from_alpaca, from_bilingual, read_jsonl

    root = Path(root)
    files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file() and
                                                  p.name.endswith((".json", ".json.gz", ".jsonl")))
    if not files:
        raise FileNotFoundError(f"no instruction files (.json, .json.gz, .jsonl) under {root}")
    bilingual, single = [], []
    for path in files:
        if path.name.endswith(".jsonl"):
            single.append(list(read_jsonl(path)))
            continue
        records = _load_json(path)
        if not isinstance(records, list) or not records or not isinstance(records[0], dict):
            raise ConversationError(f"{path}: expected a JSON list of records")
        if "en_instruction" in records[0]:
            bilingual.append(list(from_bilingual(path)))
        else:
            sample = " ".join(str(r.get("instruction", "")) for r in records[:200])
            lang = "zh" if count_cjk(sample) > 0.3 * len(re.findall(r"\w", sample)) else "en"
            single.append(list(from_alpaca(path, lang)))
    return [conv for group in bilingual + single for conv in group]


def run(argv: list[str] | None = None) -> int:
    import argparse

    from datapipe.instruct.conversation import write_jsonl
    from datapipe.io import staged_directory

    p = argparse.ArgumentParser(prog="python -m datapipe.instruct.select", description=__doc__.split("\n\n")[0].replace('"', ""))
    p.add_argument("--input", required=True, help="instruction files or a directory of them (e.g. ../shared/data/instruct)")
    p.add_argument("--output", required=True, help="directory for conversations.jsonl, report.json and report.md")
    p.add_argument("--config", default="configs/sft_select.yaml", help="selection config (default: %(default)s)")
    p.add_argument("--target", type=int, default=None, help="override the config's target size")
    args = p.parse_args(argv)
    config = load_config(SelectConfig, args.config)
    if args.target is not None:
        config = SelectConfig.model_validate({**config.model_dump(), "target": args.target})
    decontaminator = load_decontaminator(config.decontaminate, args.config) if config.decontaminate else None
    sel = Selector(config, decontaminator).run(read_inputs(args.input))
    r = report(sel, config)
    with staged_directory(args.output) as tmp:
        write_jsonl(sel.selected, tmp / "conversations.jsonl")
        write_report(r, tmp)
    print(render_markdown(r))
    print(f"wrote {args.output}/conversations.jsonl ({r['selected']:,} conversations), report.md, report.json")
    return 0


if __name__ == "__main__":
    from datapipe.cli import main_of

    raise SystemExit(main_of(run, ConversationError, FileNotFoundError, logs=True)())
