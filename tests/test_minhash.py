"""MinHash near-duplicate detection without Spark: shingling, signatures against datasketch, banding,
verification cut, config; and the planted near-duplicate corpus the Spark tests and the benchmark use.

Near duplicates are made from real documents (Common Crawl text from dolma's test data, Chinese
Wikipedia paragraphs from CMRC 2018 and Sina news from THUCNews) by the edits pages really get:
boilerplate lines added, sentences dropped, numbers changed, a few words (characters) replaced.
"""

from __future__ import annotations

import gzip
import json
import math
import random
import subprocess
import sys
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import pytest
import regex
import yaml
from datasketch import MinHash
from datasketch.lsh import _optimal_param

from datapipe.config import ConfigError, load_config
from datapipe.document import Document
from datapipe.minhash import (
    QUALITY_KEY,
    MinHashConfig,
    MinHasher,
    band_keys,
    candidate_probability,
    detection_curve,
    jaccard,
    normalize,
    optimal_bands,
    shingle_hash32,
    survivor_rank,
    verify_min_matches,
)
from datapipe.text import words
from tests.conftest import ROOT, shared

DEFAULT_YAML = ROOT / "configs" / "dedup_minhash.yaml"
DOLMA = ("web_corpus_samples", "dolma", "tests", "data", "formats", "gz", "CC-MAIN-20190717121559-20190717143559-00140.jsonl.gz")
CMRC = ("chinese_modern", "cmrc2018", "squad-style-data", "cmrc2018_dev.json.gz")
THUCNEWS = ("chinese_modern", "THUCNews_cnews", "data", "cnews", "cnews.val.txt.gz")


# --- real documents ------------------------------------------------------------------------------


@lru_cache(maxsize=None)
def english_texts() -> tuple[str, ...]:
    with gzip.open(shared(*DOLMA), "rt", encoding="utf-8") as f:
        return tuple(json.loads(line)["text"] for line in f)


@lru_cache(maxsize=None)
def chinese_texts() -> tuple[str, ...]:
    """CMRC 2018 Wikipedia paragraphs, then THUCNews articles."""
    with gzip.open(shared(*CMRC), "rt", encoding="utf-8") as f:
        cmrc = [p["context"] for article in json.load(f)["data"] for p in article["paragraphs"]]
    with gzip.open(shared(*THUCNEWS), "rt", encoding="utf-8") as f:
        news = [line.split("\t", 1)[1] for line in f.read().splitlines() if "\t" in line]
    return tuple(cmrc + news)


# --- realistic edits -----------------------------------------------------------------------------

# A sentence runs to its end mark and the whitespace after it, or to the end of its line: the sentences
# of a text concatenate back to the text, so dropping or replacing one leaves the rest intact.
_SENTENCES = {
    "en": regex.compile(r".*?(?:[.!?]+[\"')\]]*\s+|\n|$)", regex.DOTALL),
    "zh": regex.compile(r".*?(?:[。！？]+[”」』）]*\s*|\n|$)", regex.DOTALL),
}
_NUMBER = regex.compile(r"\d+")
_HAN = regex.compile(r"\p{Han}")


@dataclass
class Editor:
    """Edits that turn a page into a near duplicate of itself, in one language ("en" or "zh")."""

    lang: str
    boilerplate: list[str]  # lines a site adds around its content
    vocabulary: list[str]  # replacement words (en) or characters (zh)
    sentence_pool: list[str] = field(default_factory=list)  # foreign sentences for drifting chains

    def sentences(self, text: str) -> list[str]:
        return [m.group() for m in _SENTENCES[self.lang].finditer(text) if m.group()]

    def add_boilerplate(self, text: str, rng: random.Random, lines: int) -> str:
        added = rng.sample(self.boilerplate, lines)
        head = [b for b in added if rng.random() < 0.5]
        tail = [b for b in added if b not in head]
        return "\n".join(head + [text] + tail)

    def drop_sentences(self, text: str, rng: random.Random, count: int) -> str:
        sents = self.sentences(text)
        if len(sents) <= count + 1:
            return text
        for i in sorted(rng.sample(range(len(sents)), count), reverse=True):
            del sents[i]
        return "".join(sents)

    def change_numbers(self, text: str, rng: random.Random) -> str:
        return _NUMBER.sub(lambda m: str(rng.randrange(10 ** len(m.group()))) if rng.random() < 0.7 else m.group(), text)

    def replace_words(self, text: str, rng: random.Random, count: int) -> str:
        pattern = _HAN if self.lang == "zh" else regex.compile(r"\b\p{L}{3,}\b")
        spans = [m.span() for m in pattern.finditer(text)]
        if not spans:
            return text
        for start, end in sorted(rng.sample(spans, min(count, len(spans))), reverse=True):
            text = text[:start] + rng.choice(self.vocabulary) + text[end:]
        return text

    def near_duplicate(self, text: str, rng: random.Random) -> str:
        """One to four of the edits, each at a random strength."""
        size = len(words(text)) if self.lang == "en" else len(_HAN.findall(text))
        edits = [e for e in ("boilerplate", "drop", "numbers", "replace") if rng.random() < 0.55] or [rng.choice(["boilerplate", "drop", "replace"])]
        for edit in edits:
            if edit == "boilerplate":
                text = self.add_boilerplate(text, rng, rng.randint(1, 3))
            elif edit == "drop":
                text = self.drop_sentences(text, rng, rng.randint(1, 2))
            elif edit == "numbers":
                text = self.change_numbers(text, rng)
            else:
                text = self.replace_words(text, rng, rng.randint(1, max(1, size // 60)))
        return text

    def drift(self, text: str, rng: random.Random, hasher: MinHasher, steps: int, step_jaccard: float) -> list[str]:
        """A chain of versions, each replacing further original sentences with foreign ones until its
        Jaccard similarity to the previous version falls to ``step_jaccard``: neighbours are near
        duplicates, the ends are not."""
        sents = self.sentences(text)
        # shortest first, so that each step overshoots its target by little
        order = iter(sorted(rng.sample(range(len(sents)), len(sents)), key=lambda i: len(sents[i])))
        chain = [text]
        for _ in range(steps):
            previous = set(hasher.shingles(chain[-1], self.lang))
            current = chain[-1]
            while jaccard(previous, set(hasher.shingles(current, self.lang))) > step_jaccard:
                i = next(order)
                sents[i] = rng.choice(self.sentence_pool) + sents[i][len(sents[i].rstrip()) :]
                current = "".join(sents)
            chain.append(current)
        return chain


def english_editor(texts: list[str]) -> Editor:
    """Boilerplate: lines repeated across the Common Crawl sample (real navigation and footers)."""
    counts: dict[str, int] = {}
    for t in texts:
        for line in {s.strip() for s in t.split("\n")}:
            counts[line] = counts.get(line, 0) + 1
    boiler = sorted(line for line, n in counts.items() if n >= 3 and 2 <= len(words(line)) <= 12)
    vocab = sorted({w for t in texts for w in words(t) if len(w) >= 4 and w.isalpha()})
    pool = sorted({s.strip() for t in texts for s in Editor("en", [], []).sentences(t) if 8 <= len(words(s)) <= 30})
    return Editor("en", boiler, vocab, pool)


def chinese_editor(texts: list[str]) -> Editor:
    """Boilerplate and foreign sentences: short sentences of documents outside the test set."""
    ed = Editor("zh", [], [])
    sents = sorted({s.strip() for t in texts for s in ed.sentences(t)})
    ed.boilerplate = [s for s in sents if 8 <= len(s) <= 24]
    ed.sentence_pool = [s for s in sents if 20 <= len(s) <= 60]
    ed.vocabulary = sorted({c for t in texts for c in _HAN.findall(t)})
    return ed


# --- the planted corpus --------------------------------------------------------------------------


@dataclass
class PlantedCorpus:
    docs: list[Document]
    group: dict[str, str]  # doc id -> id of the original it was made from
    pairs: list[tuple[str, str, float, str]]  # (original id, variant id, true Jaccard, lang)
    chains: list[list[str]]  # ids of drifting chains, first to last
    hasher: MinHasher

    def text(self, doc_id: str) -> str:
        return next(d.text for d in self.docs if d.id == doc_id)


def _distinct_originals(texts: list[str], lang: str, hasher: MinHasher, count: int, max_jaccard: float = 0.5) -> list[str]:
    """Up to ``count`` texts, none a near duplicate of another (their pairs would be ambiguous truth)."""
    chosen: list[str] = []
    sets: list[set] = []
    for t in texts:
        s = set(hasher.shingles(t, lang))
        if all(jaccard(s, other) < max_jaccard for other in sets):
            chosen.append(t)
            sets.append(s)
            if len(chosen) == count:
                break
    return chosen


def planted_corpus(n_en: int, n_zh: int, seed: int = 7, config: MinHashConfig | None = None) -> PlantedCorpus:
    """Real originals, 0-3 near duplicates of each, one drifting chain per language, quality scores
    (a fifth of the documents without one, as non-web domains; ties on purpose), shuffled."""
    rng = random.Random(seed)
    hasher = MinHasher(config or MinHashConfig())
    docs: list[Document] = []
    group: dict[str, str] = {}
    pairs: list[tuple[str, str, float, str]] = []
    chains: list[list[str]] = []

    en_all = [t for t in english_texts() if len(words(t)) >= 60]
    zh_all = list(chinese_texts())
    rng.shuffle(en_all)
    rng.shuffle(zh_all)
    # editors draw boilerplate, vocabulary and foreign sentences from documents outside the originals
    en_split, zh_split = len(en_all) * 2 // 3, len(zh_all) * 2 // 3
    editors = {"en": english_editor(en_all[en_split:]), "zh": chinese_editor(zh_all[zh_split:])}
    originals = {
        "en": _distinct_originals(en_all[:en_split], "en", hasher, n_en + 1),
        "zh": _distinct_originals(zh_all[:zh_split], "zh", hasher, n_zh + 1),
    }

    def add(doc_id: str, text: str, lang: str, origin: str) -> None:
        score = None if rng.random() < 0.2 else round(rng.random(), 1)
        ann = {} if score is None else {QUALITY_KEY: score}
        docs.append(Document(id=doc_id, text=text, lang=lang, domain="WebText" if score is not None else "Book", annotations=ann))
        group[doc_id] = origin

    for lang, texts in originals.items():
        ed = editors[lang]
        # many sentences make small drift steps
        chained = max((t for t in texts if len(ed.sentences(t)) <= 200), key=lambda t: len(ed.sentences(t)))
        plain = [t for t in texts if t is not chained]
        for i, text in enumerate(plain):
            oid = f"{lang}-{i:04d}-0"
            add(oid, text, lang, oid)
            for k in range(1, rng.choice([0, 1, 1, 2, 2, 3]) + 1):
                vid = f"{lang}-{i:04d}-{k}"
                variant = ed.near_duplicate(text, rng)
                add(vid, variant, lang, oid)
                pairs.append((oid, vid, jaccard(set(hasher.shingles(text, lang)), set(hasher.shingles(variant, lang))), lang))
        cid = f"{lang}-chain"
        chain = [f"{cid}-{k}" for k in range(6)]
        for doc_id, text in zip(chain, ed.drift(chained, rng, hasher, steps=5, step_jaccard=0.86)):
            add(doc_id, text, lang, chain[0])
        chains.append(chain)
    rng.shuffle(docs)
    return PlantedCorpus(docs, group, pairs, chains, hasher)


# --- tests: shingling ----------------------------------------------------------------------------


def test_normalisation_ignores_case_width_and_numbers():
    assert normalize("Posted ３ May 2021, 14:05") == normalize("posted 28 MAY 1999, 9:41")
    h = MinHasher(MinHashConfig())
    assert h.shingles("The FINAL score was 102 to 99, a record.", "en") == h.shingles("the final score was 7 to 3 — a record", "en")


def test_word_shingles_for_space_delimited_text():
    h = MinHasher(MinHashConfig())
    text = next(t for t in english_texts() if len(words(t)) > 100)
    sh = h.shingles(text, "en")
    toks = words(normalize(text))
    assert len(sh) == len(toks) - 4 and all(len(s) == 5 for s in sh)
    assert sh[0] == tuple(toks[:5]) and sh[-1] == tuple(toks[-5:])


def test_character_shingles_for_chinese_and_japanese():
    h = MinHasher(MinHashConfig())
    text = chinese_texts()[0]
    sh = h.shingles(text, "zh")
    chars = [c for c in normalize(text) if regex.match(r"\w", c) and c != "_"]
    assert all(len(s) == 5 and all(len(c) == 1 for c in s) for s in sh)
    assert len(sh) == len(chars) - 4
    assert "，" not in {c for s in sh for c in s} and "。" not in {c for s in sh for c in s}
    # punctuation and whitespace do not matter between CJK characters
    assert h.shingles("今天天气很好，我们去公园散步。", "ja") == h.shingles("今天天气很好 我们去公园散步", "ja")
    # lang decides; unknown lang falls back to the script
    assert h.by_chars(text, "zh") and h.by_chars(text, None) and not h.by_chars(text, "en")
    assert not h.by_chars(english_texts()[0], "und")


def thai_documents() -> list[str]:
    """Thai UDHR articles, a few at a time: real Thai text, written without spaces between words."""
    lines = [line for line in shared("multilingual", "udhr", "txt", "tha.txt").read_text().split("\n") if line.strip()]
    return ["\n".join(lines[i : i + 5]) for i in range(2, len(lines) - 5, 5)]


def _edit_thai(text: str, rng: random.Random) -> str:
    """A near copy: a phrase left out and a few characters changed, as a re-published page would be."""
    chars = list(text)
    cut = rng.randrange(len(chars) - 40)
    del chars[cut : cut + rng.randint(5, 15)]
    for _ in range(2):
        chars[rng.randrange(len(chars))] = rng.choice("กขคงจฉชซ")
    return "".join(chars)


def test_thai_is_shingled_by_longer_character_ngrams_and_its_near_duplicates_are_found():
    """Space-split "words" of Thai are whole phrases, so word 5-grams see almost none of a near copy's
    overlap; character shingles of 5 x CHARS_PER_HAN["th"] characters do, and banding finds them."""
    config = MinHashConfig()
    h = MinHasher(config)
    docs = thai_documents()
    assert h.by_chars(docs[0], "th") and h.by_chars(docs[0], None)
    assert all(len(s) == 15 for s in h.shingles(docs[0], "th"))
    rng = random.Random(11)
    pairs = []
    for doc in docs:
        copy = _edit_thai(doc, rng)
        if jaccard(set(h.shingles(doc, "th")), set(h.shingles(copy, "th"))) >= 0.8:
            pairs.append((doc, copy))
    assert len(pairs) >= 8

    def word_5grams(text: str) -> set:
        toks = words(normalize(text))
        return set(zip(*(toks[i:] for i in range(5))))

    assert all(jaccard(word_5grams(a), word_5grams(c)) < 0.8 for a, c in pairs)  # what word shingles would see
    b, r = optimal_bands(config.threshold, config.num_perm, config.false_positive_weight, config.false_negative_weight)
    k = verify_min_matches(config.threshold, config.num_perm, config.verify_miss_rate)
    texts = [t for pair in pairs for t in pair]
    sigs, _, _ = h.signatures(texts, ["th"] * len(texts))
    keys = band_keys(sigs, b, r)
    found = sum(bool((keys[2 * i] == keys[2 * i + 1]).any()) and int((sigs[2 * i] == sigs[2 * i + 1]).sum()) >= k for i in range(len(pairs)))
    assert found == len(pairs)
    # different articles are no candidates
    others = sum(bool((keys[2 * i] == keys[2 * j]).any()) for i in range(len(pairs)) for j in range(i + 1, len(pairs)))
    assert others == 0


def test_short_and_empty_documents():
    h = MinHasher(MinHashConfig())
    assert h.shingles("Contact us today", "en") == [("contact", "us", "today")]
    assert h.shingles("联系我们", "zh") == [("联", "系", "我", "们")]
    assert h.shingles("— ... !!! ---", "en") == []
    sigs, has_sig, short = h.signatures(["Contact us today", "contact US, today!", "About us", "— !!!", "x " * 10], ["en"] * 5)
    assert has_sig.tolist() == [True, True, True, False, True]
    assert short.tolist() == [True, True, True, False, False]
    assert (sigs[0] == sigs[1]).all()  # exact (normalised) copies of a short text match...
    assert (sigs[0] != sigs[2]).mean() > 0.9  # ...other short texts do not


# --- tests: signatures ---------------------------------------------------------------------------


def _datasketch_signature(shingles, config: MinHashConfig) -> np.ndarray:
    m = MinHash(num_perm=config.num_perm, seed=config.seed, hashfunc=shingle_hash32)
    m.update_batch(shingles)
    return m.hashvalues


@pytest.mark.parametrize("num_perm,seed", [(128, 1), (256, 42)])
def test_signatures_equal_datasketch(num_perm, seed):
    config = MinHashConfig(num_perm=num_perm, seed=seed)
    h = MinHasher(config)
    en = [t for t in english_texts() if t.strip()][:40]
    zh = list(chinese_texts()[:20]) + list(chinese_texts()[-20:])
    texts, langs = en + zh + ["Contact us"], ["en"] * len(en) + ["zh"] * len(zh) + ["en"]
    # a small block size makes documents straddle the blocks of the vectorised minimum
    sigs, has_sig, _ = h.signatures(texts, langs, block_rows=257)
    assert has_sig.all()
    for text, lang, sig in zip(texts, langs, sigs):
        expected = _datasketch_signature(h.shingles(text, lang), config)
        assert expected.dtype == sig.dtype and (expected == sig).all()


def test_vectorised_shingle_hashes_equal_the_reference():
    h = MinHasher(MinHashConfig())
    for text, lang in [(english_texts()[3], "en"), (chinese_texts()[5], "zh")]:
        assert h.shingle_hashes(text, lang).tolist() == [shingle_hash32(s) for s in h.shingles(text, lang)]


def test_signature_agreement_estimates_jaccard():
    """Over real edited pairs, the share of equal positions tracks the exact Jaccard of the shingles."""
    corpus = planted_corpus(40, 20)
    by_id = {d.id: d for d in corpus.docs}
    h = corpus.hasher
    errors = []
    for a, b, j, lang in corpus.pairs:
        sigs, _, _ = h.signatures([by_id[a].text, by_id[b].text], [lang, lang])
        errors.append(float((sigs[0] == sigs[1]).mean()) - j)
    # 128 permutations: standard error sqrt(J(1-J)/128) <= 0.045
    assert abs(np.mean(errors)) < 0.01 and np.std(errors) < 0.045


def test_survivor_rank():
    assert survivor_rank(None) == -1.0 < survivor_rank(0.9) < survivor_rank(0.2) < survivor_rank(float("nan")) == 0.0


# --- tests: bands, detection curve, verification -------------------------------------------------


@pytest.mark.parametrize("num_perm", [64, 128, 256])
@pytest.mark.parametrize("threshold", [0.5, 0.7, 0.8, 0.9])
@pytest.mark.parametrize("weights", [(0.5, 0.5), (0.1, 0.9), (0.8, 0.2)])
def test_bands_equal_datasketch(num_perm, threshold, weights):
    assert optimal_bands(threshold, num_perm, *weights) == _optimal_param(threshold, num_perm, *weights)


def test_default_bands_detect_near_duplicates():
    c = MinHashConfig()
    b, r = optimal_bands(c.threshold, c.num_perm, c.false_positive_weight, c.false_negative_weight)
    assert b * r <= c.num_perm
    curve = detection_curve(b, r)
    assert list(curve) == [f"{x / 100:.2f}" for x in range(50, 101, 5)]
    assert all(p <= q for p, q in zip(list(curve.values()), list(curve.values())[1:]))
    assert curve["0.85"] >= 0.95 and curve["1.00"] == 1.0 and curve["0.50"] <= 0.1
    assert curve["0.80"] == round(1 - (1 - 0.8**r) ** b, 4) == round(float(candidate_probability(0.8, b, r)), 4)


@pytest.mark.parametrize("num_perm,threshold,miss", [(128, 0.8, 0.01), (256, 0.8, 0.01), (128, 0.7, 0.05)])
def test_verification_cut_is_the_binomial_quantile(num_perm, threshold, miss):
    k = verify_min_matches(threshold, num_perm, miss)

    def below(k):  # P(Binomial(num_perm, threshold) < k)
        return sum(math.comb(num_perm, i) * threshold**i * (1 - threshold) ** (num_perm - i) for i in range(k))

    assert below(k) <= miss < below(k + 1)
    # and empirically, on simulated signature agreement at J = threshold
    agree = np.random.default_rng(0).binomial(num_perm, threshold, size=200_000)
    assert abs((agree < k).mean() - below(k)) < 0.003


def test_band_keys_equal_exactly_when_bands_equal():
    h = MinHasher(MinHashConfig())
    texts = [t for t in english_texts() if len(words(t)) > 50][:29] + [next(t for t in english_texts() if len(words(t)) > 500)]
    sigs, _, _ = h.signatures(texts + [texts[0], _change_last_sentence(texts[29])], ["en"] * 32)
    keys = band_keys(sigs, 14, 9)
    assert keys.shape == (32, 14) and keys.dtype == np.int64
    for i in range(32):
        for j in range(i + 1, 32):
            same_band = [(sigs[i, k * 9 : (k + 1) * 9] == sigs[j, k * 9 : (k + 1) * 9]).all() for k in range(14)]
            assert same_band == (keys[i] == keys[j]).tolist()
    assert (keys[0] == keys[30]).all() and (keys[29] == keys[31]).any() and not (keys[29] == keys[31]).all()


def _change_last_sentence(text: str) -> str:
    """The text with its last sentence changed: most bands of a long text stay equal."""
    return text.rsplit(".", 2)[0] + ". An entirely different closing sentence was written here instead."


# --- tests: the planted corpus is a meaningful test set ------------------------------------------


def test_planted_corpus_spans_the_threshold():
    corpus = planted_corpus(100, 100)
    for lang in ("en", "zh"):
        js = [j for _, _, j, la in corpus.pairs if la == lang]
        assert sum(j >= 0.8 for j in js) >= 40, lang  # enough pairs for the recall measure...
        assert sum(0.8 <= j < 0.9 for j in js) >= 10, lang  # ...also near the threshold...
        assert sum(j < 0.8 for j in js) >= 10, lang  # ...and edits that go below it
    for chain in corpus.chains:
        sets = [set(corpus.hasher.shingles(corpus.text(i), "en" if i.startswith("en") else "zh")) for i in chain]
        assert all(0.8 <= jaccard(a, b) <= 0.86 for a, b in zip(sets, sets[1:]))
        assert jaccard(sets[0], sets[-1]) < 0.6


# --- tests: config and command line --------------------------------------------------------------


def test_defaults_equal_the_shipped_yaml():
    loaded = load_config(MinHashConfig, DEFAULT_YAML)
    assert loaded == MinHashConfig()
    raw = yaml.safe_load(DEFAULT_YAML.read_text(encoding="utf-8"))
    assert set(raw) == set(MinHashConfig.model_fields)


def test_bad_config_values(tmp_path):
    for text, key in [("threshold: 1.2\n", "threshold"), ("false_positive_weight: 0.5\n", "must be 1"), ("num_perm: 4\n", "num_perm"), ("char_ngram_languages: ['中文']\n", "char_ngram_languages")]:
        path = tmp_path / "c.yaml"
        path.write_text(text)
        with pytest.raises(ConfigError, match=key):
            load_config(MinHashConfig, path)


def test_cli_help_and_config_errors(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "jobs.dedup_minhash", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "usage:" in proc.stdout and "--config" in proc.stdout
    conf = tmp_path / "bad.yaml"
    conf.write_text("no_such_setting: 1\n")
    proc = subprocess.run(
        [sys.executable, "-m", "jobs.dedup_minhash", "--input", str(tmp_path), "--output", str(tmp_path / "o"), "--config", str(conf)],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2 and "no_such_setting" in proc.stderr and str(conf) in proc.stderr
