"""Unit tests for datapipe.text (shared text utilities)."""

from __future__ import annotations

import random
from collections import Counter

import numpy as np
import pytest

from datapipe import text as T

# ---------------------------------------------------------------------------------------------
# lines, paragraphs, words, sentences
# ---------------------------------------------------------------------------------------------


def test_split_lines_strips_and_drops_blank_lines():
    assert T.split_lines("  a \n\n b\t\n \n c") == ["a", "b", "c"]
    assert T.split_lines("") == []


def test_split_paragraphs_on_blank_lines():
    assert T.split_paragraphs("a\nb\n\n c \n \n\nd") == ["a\nb", "c", "d"]
    assert T.split_paragraphs("one\ntwo") == ["one\ntwo"]


def test_words_keep_inner_joiners_and_drop_punctuation():
    assert T.words("Don't e-mail the U.S. team: 3.14 — ok?!") == [
        "Don't",
        "e-mail",
        "the",
        "U.S",
        "team",
        "3.14",
        "ok",
    ]
    assert T.words("— ... !!! ###") == []
    assert T.count_words("one two, three") == 3


def test_words_are_unicode_aware():
    assert T.words("Привет мир") == ["Привет", "мир"]
    assert T.words("हिन्दी भाषा") == ["हिन्दी", "भाषा"]  # vowel signs (marks) stay inside the word
    assert T.words("Grüße, naïve café") == ["Grüße", "naïve", "café"]


def test_letters_and_case_counts():
    assert T.has_letter("abc") and T.has_letter("12 中") and not T.has_letter("12:30 — 5%")
    assert T.count_uppercase("ABc Ä") == 3
    assert T.count_lowercase("ABc ä") == 2
    assert T.has_lowercase_at_least("ABcd", 2) and not T.has_lowercase_at_least("ABcd", 3)
    assert T.has_lowercase_at_least("ABC", 0)
    assert T.count_words_without_letter(["abc", "123", "3.14", "a1", "_", "x"]) == 3
    assert T.count_words_without_letter([]) == 0


def test_count_sentences():
    assert T.count_sentences("One. Two! Three? Four.") == 4
    assert T.count_sentences("No terminal punctuation") == 1
    assert T.count_sentences('He said "yes." Then left.') == 2
    assert T.count_sentences("Version 3.14 is out.") == 1
    assert T.count_sentences("第一句。第二句！第三句？") == 3
    assert T.count_sentences("") == 0


# ---------------------------------------------------------------------------------------------
# character classes
# ---------------------------------------------------------------------------------------------


def test_cjk_character_classes():
    s = "中文字々 ひらがな カタカナー 한국어 ，。！ abc"
    assert T.count_han(s) == 4  # 中文字 + 々
    assert T.count_kana(s) == 4 + 5  # ひらがな + カタカナー (with the prolonged sound mark)
    assert T.count_hangul(s) == 3
    assert T.count_cjk_punct(s) == 3
    assert T.count_cjk(s) == 4 + 9
    assert T.count_han("𠀀𪚥") == 2  # extension B characters (outside the BMP)


def test_cjk_ratio_over_non_whitespace():
    assert T.cjk_ratio("中文 ab") == pytest.approx(0.5)
    assert T.cjk_ratio("   ") == 0.0
    assert T.count_non_whitespace(" a\tb\nc ") == 3


@pytest.mark.parametrize(
    "ch, garbled",
    [
        ("\ufffd", True),
        ("\x00", True),
        ("\x07", True),
        ("\x1b", True),
        ("\x7f", True),
        ("\x85", True),
        ("\ue000", True),
        ("\U000f0001", True),
        ("\n", False),
        ("\t", False),
        ("a", False),
        ("中", False),
        ("é", False),
        ("😀", False),
    ],
)
def test_is_garbled_char(ch, garbled):
    assert T.is_garbled_char(ch) is garbled


def test_remove_garbled():
    cleaned, n = T.remove_garbled("ok\ufffd te\x00xt\n\tline\ue001")
    assert cleaned == "ok text\n\tline"
    assert n == 3
    assert T.count_garbled("abc") == 0


# ---------------------------------------------------------------------------------------------
# n-grams and repetition statistics
# ---------------------------------------------------------------------------------------------


def test_word_and_char_ngrams():
    assert T.word_ngrams(["a", "b", "c"], 2) == [("a", "b"), ("b", "c")]
    assert T.word_ngrams(["a"], 2) == []
    assert T.char_ngrams("abcd", 3) == ["abc", "bcd"]
    assert T.char_ngrams("ab", 3) == []
    with pytest.raises(ValueError):
        T.char_ngrams("abc", 0)


def test_duplicate_items_counts_copies_after_the_first():
    assert T.duplicate_items(["a", "bb", "a", "bb", "a", "c"]) == (3, 1 + 2 + 1)
    assert T.duplicate_items([]) == (0, 0)


def test_iter_ngram_ids_groups_equal_ngrams():
    ids = T.token_ids(["a", "b", "a", "b", "c"])
    got = {n: (i.tolist(), c.tolist()) for n, i, c in T.iter_ngram_ids(ids, 3)}
    two_ids, two_counts = got[2]
    assert two_ids[0] == two_ids[2] != two_ids[1]  # "a b" twice, "b a" and "b c" once
    assert sorted(two_counts) == [1, 1, 2]
    assert len(got[3][0]) == 3
    assert list(T.iter_ngram_ids(np.array([], dtype=np.int64), 3)) == []


def _brute_force(tokens: list[str], weights: list[int], n: int) -> tuple[float, float]:
    """Reference: (top n-gram char fraction, duplicate n-gram char fraction), overlaps once."""
    total = sum(weights)
    grams = [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]
    counts = Counter(grams)
    if not counts or max(counts.values()) < 2:
        return 0.0, 0.0
    best_count = max(counts.values())
    top_fracs = []
    for g, c in counts.items():
        if c != best_count:
            continue
        cov = set()
        for i, h in enumerate(grams):
            if h == g:
                cov.update(range(i, i + n))
        top_fracs.append(sum(weights[j] for j in cov) / total)
    dup_cov = set()
    for i, g in enumerate(grams):
        if counts[g] > 1:
            dup_cov.update(range(i, i + n))
    return top_fracs, sum(weights[j] for j in dup_cov) / total


def test_ngram_fractions_match_brute_force_on_random_text():
    rng = random.Random(1234)
    for _ in range(200):
        vocab = [rng.choice(["a", "bb", "ccc", "dddd"]) + str(k) for k in range(rng.randint(1, 6))]
        tokens = [rng.choice(vocab) for _ in range(rng.randint(1, 40))]
        weights = [len(t) for t in tokens]
        got = T.ngram_char_fractions(tokens, top_ns=range(1, 6), dup_ns=range(1, 8))
        for n in range(1, 8):
            top_fracs, dup = _brute_force(tokens, weights, n)
            assert got[("dup", n)] == pytest.approx(dup), (tokens, n)
            if n < 6:
                expected_top = top_fracs if top_fracs else [0.0]
                assert any(got[("top", n)] == pytest.approx(t) for t in expected_top), (tokens, n)


def test_character_ngram_fractions():
    got = T.ngram_char_fractions("abcabcxyz", top_ns=[2], dup_ns=[3, 5])
    assert got[("top", 2)] == pytest.approx(4 / 9)  # "ab" twice
    assert got[("dup", 3)] == pytest.approx(6 / 9)  # "abc" twice
    assert got[("dup", 5)] == 0.0


def test_overlapping_occurrences_are_counted_once():
    got = T.ngram_char_fractions(["x"] * 6, top_ns=[2], dup_ns=[5])
    assert got[("dup", 5)] == 1.0  # the 5-gram occurs at 0 and 1; 6 tokens covered, not 10
    assert got[("top", 2)] == 1.0


def test_no_repeats_gives_zero_and_short_text_is_safe():
    got = T.ngram_char_fractions("abcdefg", top_ns=[2, 3], dup_ns=[5, 10])
    assert got == {("top", 2): 0.0, ("top", 3): 0.0, ("dup", 5): 0.0, ("dup", 10): 0.0}
    assert T.ngram_char_fractions([], top_ns=[2], dup_ns=[5]) == {("top", 2): 0.0, ("dup", 5): 0.0}


def test_fractions_are_yielded_in_increasing_n_and_lazily():
    ids = T.token_ids("a b a b a b".split())
    it = T.iter_ngram_char_fractions(ids, np.ones(6, dtype=np.int64), top_ns=[2, 3], dup_ns=[2, 5])
    assert [(k, n) for k, n, _ in it] == [("top", 2), ("dup", 2), ("top", 3), ("dup", 5)]


def test_codepoint_ids_are_code_points():
    assert T.codepoint_ids("a中😀").tolist() == [97, 0x4E2D, 0x1F600]
