"""Rules of the cleaning stage for space-delimited languages, each tested on its own at its threshold.

Each rule is isolated by building a config where every other section (and every other threshold
in the section under test) is switched off, so a test fails only because of the rule it names.
"""

from __future__ import annotations

import string

import pytest

from datapipe.clean import CleanConfig, Cleaner, CleanOutcome, normalize_lang

SECTIONS = ("garbled", "refinedweb", "c4", "gopher_quality", "fineweb", "gopher_repetition", "unspaced")
GQ_RULES = (
    "min_words",
    "max_words",
    "min_mean_word_length",
    "max_mean_word_length",
    "max_symbol_word_ratio",
    "max_bullet_lines_ratio",
    "max_ellipsis_lines_ratio",
    "min_alpha_words_ratio",
    "min_stop_words",
)
REP_RULES = ("max_dup_line_frac", "max_dup_line_char_frac", "max_dup_para_frac", "max_dup_para_char_frac")
FW_RULES = ("min_line_punct_ratio", "max_short_line_ratio", "max_dup_line_char_ratio", "max_newline_word_ratio")

# Original prose (written for these tests): natural text that passes every default rule.
ARTICLE = """Baking bread at home takes patience, but the process is simpler than most people expect.
The dough needs only flour, water, salt and a small amount of yeast to rise properly.
After mixing, let it rest for about an hour so that the gluten can develop on its own.
Shaping the loaf gently keeps the air bubbles that give the crumb its open texture.
A hot oven with some steam helps the crust turn golden and crisp within forty minutes.
Once the bread has cooled on a rack, slice it with a serrated knife and enjoy it with butter.
Many bakers keep notes about hydration, timing and temperature to improve with every batch."""

ARTICLE2 = """The community garden on Elm Street opened last spring with twenty raised beds.
Neighbors of all ages signed up to grow tomatoes, beans, herbs and a few sunflowers.
Volunteers built a shared tool shed and a rain barrel system from donated materials.
Every Saturday morning, a local teacher runs a short workshop about composting and soil health.
Children learn to water the seedlings carefully and to record how tall the plants have grown.
By late summer the harvest was large enough that extra vegetables went to the food bank.
The organizers hope to add a small orchard and a bench for older visitors next year."""


def make(**sections) -> Cleaner:
    """Cleaner with only the given sections enabled (each with the given overrides)."""
    data: dict = {name: {"enabled": False} for name in SECTIONS}
    for name, overrides in sections.items():
        data[name] = {"enabled": True, **overrides}
    return Cleaner(CleanConfig.model_validate(data))


def gopher_only(**rule) -> Cleaner:
    settings = {r: None for r in GQ_RULES}
    settings.update(rule)
    return make(gopher_quality=settings)


def repetition_only(**rule) -> Cleaner:
    settings: dict = {r: None for r in REP_RULES}
    settings.update(top_ngram_max_char_frac={}, dup_ngram_max_char_frac={})
    settings.update(rule)
    return make(gopher_repetition=settings)


def fineweb_only(**rule) -> Cleaner:
    settings = {r: None for r in FW_RULES}
    settings.update(rule)
    return make(fineweb=settings)


def uniq_words(n: int, length: int = 5, start: int = 0) -> list[str]:
    """n distinct lowercase words of exactly ``length`` letters."""
    out = []
    for i in range(start, start + n):
        w, x = "", i
        for _ in range(length):
            w = string.ascii_lowercase[x % 26] + w
            x //= 26
        out.append(w)
    return out


def lines_of(words: list[str], per_line: int = 5, end: str = ".") -> str:
    return "\n".join(" ".join(words[i : i + per_line]) + end for i in range(0, len(words), per_line))


# ---------------------------------------------------------------------------------------------
# API, outcome, routing
# ---------------------------------------------------------------------------------------------


def test_clean_article_is_kept_unchanged_with_defaults():
    out = Cleaner().clean(ARTICLE + "\n" + ARTICLE2, "en")
    assert isinstance(out, CleanOutcome)
    assert out.reason is None and out.kept
    assert out.text == ARTICLE + "\n" + ARTICLE2
    assert (out.lines_removed, out.chars_removed) == (0, 0)


def test_dropped_document_has_one_reason_and_no_text():
    out = Cleaner().clean("Too short to be a document.", "en")
    assert out.text is None
    assert isinstance(out.reason, str) and ":" in out.reason
    assert not out.kept


def test_all_reasons_are_listed():
    cleaner = Cleaner()
    reasons = cleaner.possible_reasons()
    assert len(reasons) == len(set(reasons))
    for r in ("gopher_quality:min_words", "c4:lorem_ipsum", "unspaced:min_script_ratio", "refinedweb:too_much_removed"):
        assert r in reasons


@pytest.mark.parametrize("text", ["", "   \n\t ", None])
def test_empty_input(text):
    out = Cleaner().clean(text, "en")
    assert (out.text, out.reason, out.lines_removed, out.chars_removed) == (None, "empty:input", 0, 0)


@pytest.mark.parametrize(
    "raw, code",
    [("en", "en"), ("__label__zh", "zh"), ("zh-Hans", "zh"), ("ZH_TW", "zh"), ("und", None), ("", None), (None, None)],
)
def test_normalize_lang(raw, code):
    assert normalize_lang(raw) == code


def test_routing_by_language_and_by_script():
    cleaner = Cleaner()
    zh = "这是一个中文句子，用来测试语言路由是否正确。"
    assert cleaner.is_unspaced(zh, "zh") and cleaner.is_unspaced(zh, "ja") and cleaner.is_unspaced(zh, "__label__yue")
    assert not cleaner.is_unspaced(zh, "en")  # the given language wins
    assert cleaner.is_unspaced(zh, None) and cleaner.is_unspaced(zh, "und")  # unknown: decided by script
    assert not cleaner.is_unspaced(ARTICLE, None)


def test_cleaner_and_outcome_pickle():
    """Spark ships the cleaner (or its config) to the workers."""
    import pickle

    cleaner = pickle.loads(pickle.dumps(Cleaner()))
    out = cleaner.clean(ARTICLE, "en")
    assert pickle.loads(pickle.dumps(out)) == out
    with pytest.raises(AttributeError):
        out.text = "changed"  # outcomes are immutable


def test_default_config_is_used_without_argument():
    assert Cleaner().config == CleanConfig()


# ---------------------------------------------------------------------------------------------
# garbled characters
# ---------------------------------------------------------------------------------------------


def test_garbled_characters_are_removed_and_counted():
    cleaner = make(garbled={"max_ratio": 0.01})
    text = ARTICLE.replace("patience", "pati\x00ence").replace("butter", "butter\ue000")
    out = cleaner.clean(text, "en")
    assert out.reason is None
    assert out.text == ARTICLE
    assert out.chars_removed == 2


def test_garbled_ratio_threshold():
    cleaner = make(garbled={"max_ratio": 0.01})
    base = "a" * 99  # 99 + 1 garbled = 1% of non-whitespace characters: kept
    assert cleaner.clean(base + "\ufffd", "en").reason is None
    assert cleaner.clean(base[:-1] + "\ufffd\ufffd", "en").reason == "garbled:max_ratio"  # 2%


def test_carriage_returns_are_line_breaks():
    out = Cleaner().clean(ARTICLE.replace("\n", "\r\n") + "\r" + ARTICLE2, "en")
    assert out.reason is None and out.text == ARTICLE + "\n" + ARTICLE2 and out.chars_removed == 0


def test_all_garbled_document():
    out = make(garbled={"max_ratio": None}).clean("\ufffd\ufffd \x01", "en")
    assert out.reason == "empty:after_corrections"


# ---------------------------------------------------------------------------------------------
# RefinedWeb line-wise corrections
# ---------------------------------------------------------------------------------------------

RW_OFF = dict(
    remove_counter_lines=False,
    remove_uppercase_lines=False,
    remove_numeric_lines=False,
    remove_single_word_lines=False,
    edit_navigation=False,
    max_removed_word_fraction=None,
)


def rw_only(**rule) -> Cleaner:
    settings = dict(RW_OFF)
    settings.update(rule)
    return make(refinedweb=settings)


@pytest.mark.parametrize(
    "line",
    ["12 likes", "3 Comments", "Share 5", "Comments (3)", "1.2K views · 4 replies", "Likes: 1,024", "0 comments"],
)
def test_counter_lines_are_removed(line):
    out = rw_only(remove_counter_lines=True).clean(ARTICLE + "\n" + line, "en")
    assert out.text == ARTICLE
    assert (out.lines_removed, out.chars_removed) == (1, len(line))


@pytest.mark.parametrize("line", ["I like 12 cats and 3 dogs.", "Share your 5 favourite recipes with us."])
def test_sentences_with_numbers_are_not_counters(line):
    assert rw_only(remove_counter_lines=True).clean(line, "en").text == line


@pytest.mark.parametrize(
    "line, kept",
    [
        ("NINE UPPER x", None),  # 9 of 10 cased letters uppercase: exactly 0.9 -> removed
        ("EIGHT UPS xy", "EIGHT UPS xy"),  # 8 of 10 -> kept
        ("BREAKING NEWS FROM THE CITY COUNCIL", None),
        ("The NASA and ESA report was published.", "The NASA and ESA report was published."),
        ("I am here.", "I am here."),  # fewer than 2 uppercase letters is never an uppercase line
    ],
)
def test_uppercase_lines(line, kept):
    out = rw_only(remove_uppercase_lines=True).clean(line + "\n" + ARTICLE, "en")
    expected = ARTICLE if kept is None else kept + "\n" + ARTICLE
    assert out.text == expected


@pytest.mark.parametrize("line", ["12/05/2020 10:30", "— — —", "1 2 3 4 5", "$ 19.99", "***"])
def test_lines_without_letters_are_removed(line):
    out = rw_only(remove_numeric_lines=True).clean(ARTICLE + "\n" + line, "en")
    assert out.text == ARTICLE and out.lines_removed == 1


def test_single_word_lines_are_removed():
    out = rw_only(remove_single_word_lines=True).clean("Introduction\n" + ARTICLE + "\nTags:", "en")
    assert out.text == ARTICLE
    assert out.lines_removed == 2


@pytest.mark.parametrize(
    "line, expected",
    [
        ("Sign in", None),
        ("Skip to main content", None),
        ("Read more »", None),
        ("Next page →", None),
        ("Home > News > Local", "News > Local"),
        ("Great tips for your first sourdough loaf. Read more »", "Great tips for your first sourdough loaf."),
        ("Log in: what do you bake?", "what do you bake?"),
        ("Sign in to comment", None),
        ("3 items in your cart", None),
        ("© 2019 Example Media. All rights reserved.", None),
        ("Follow us on Instagram for more photos", None),
        # long lines (> 10 words) are never edited
        (
            "This is a long sentence with more than ten words in it so read more",
            "This is a long sentence with more than ten words in it so read more",
        ),
        ("I want to read more books this year.", "I want to read more books this year."),
    ],
)
def test_navigation_edits(line, expected):
    out = rw_only(edit_navigation=True).clean(ARTICLE + "\n" + line, "en")
    assert out.text == ARTICLE + ("" if expected is None else "\n" + expected)
    assert out.chars_removed == len(line) - (0 if expected is None else len(expected))
    assert out.lines_removed == (1 if expected is None else 0)


def test_too_much_removed_threshold():
    cleaner = rw_only(remove_single_word_lines=True, max_removed_word_fraction=0.05)
    body = lines_of(uniq_words(95))  # 95 words in 19 lines
    five = "\n".join(["Menu", "Archive", "Contact", "Search", "Topics"])
    out = cleaner.clean(body + "\n" + five, "en")  # 5 of 100 words removed: exactly 5% -> kept
    assert out.reason is None and out.text == body and out.lines_removed == 5
    out = cleaner.clean(body + "\n" + five + "\nAbout", "en")  # 6 of 101 words -> dropped
    assert out.reason == "refinedweb:too_much_removed"
    assert out.lines_removed == 6 and out.chars_removed == len("MenuArchiveContactSearchTopicsAbout")


def test_boilerplate_within_budget_is_cleaned_with_defaults():
    doc = "\n".join(["HOME", "Sign in", ARTICLE, "12 likes", ARTICLE2, "Share 5", "Read more »"])
    out = Cleaner().clean(doc, "en")
    assert out.reason is None
    assert out.text == ARTICLE + "\n" + ARTICLE2
    assert out.lines_removed == 5


# ---------------------------------------------------------------------------------------------
# C4
# ---------------------------------------------------------------------------------------------

C4_LINES = dict(min_num_sentences=None)


def c4(**over) -> Cleaner:
    return make(c4={**C4_LINES, **over})


@pytest.mark.parametrize(
    "line, kept",
    [
        ("This line ends with a period.", True),
        ('He said "this is fine."', True),
        ("Is this a question?", True),
        ("What a surprise!", True),
        ("It was the best of times'", True),
        ("This line has no terminal punctuation", False),
        ("This line trails off...", False),
        ("This line ends with a colon:", False),
    ],
)
def test_c4_terminal_punctuation(line, kept):
    out = c4().clean(ARTICLE + "\n" + line, "en")
    assert out.text == (ARTICLE + "\n" + line if kept else ARTICLE)


def test_c4_terminal_punctuation_can_be_disabled():
    out = c4(filter_no_terminal_punct=False).clean(ARTICLE + "\nNo punctuation here", "en")
    assert out.text.endswith("No punctuation here")


def test_c4_min_words_per_line():
    out = c4().clean(ARTICLE + "\nToo short.\nThree words here.", "en")
    assert out.text == ARTICLE + "\nThree words here."
    assert out.lines_removed == 1


@pytest.mark.parametrize(
    "line",
    [
        "Please enable JavaScript to view the comments.",
        "By using this site you agree to our Terms of Use.",
        "Read our Privacy Policy for details.",
        "This website uses cookies to improve your experience.",
    ],
)
def test_c4_javascript_and_policy_lines(line):
    out = c4().clean(ARTICLE + "\n" + line, "en")
    assert out.text == ARTICLE and out.lines_removed == 1


def test_c4_javascript_and_policy_switches():
    text = ARTICLE + "\nPlease enable JavaScript to view the comments.\nRead our Privacy Policy for details."
    assert c4(filter_javascript=False, filter_policy=False).clean(text, "en").text == text


def test_c4_citations_are_removed():
    out = c4().clean("Paris is the capital of France.[1] It is large.[citation needed]", "en")
    assert out.text == "Paris is the capital of France. It is large."
    assert out.chars_removed == len("[1]") + len("[citation needed]")


def test_c4_too_long_word():
    ok = "a" * 1000 + " is a long word."
    bad = "a" * 1001 + " is a long word."
    assert c4().clean(ARTICLE + "\n" + ok, "en").text == ARTICLE + "\n" + ok
    out = c4().clean(ARTICLE + "\n" + bad, "en")
    assert out.text == ARTICLE and out.lines_removed == 1
    out = c4(too_long_word_action="drop_document").clean(ARTICLE + "\n" + bad, "en")
    assert out.reason == "c4:max_word_length"


def test_c4_lorem_ipsum_drops_the_document():
    out = c4().clean(ARTICLE + "\nLorem ipsum dolor sit amet, consectetur adipiscing elit.", "en")
    assert out.reason == "c4:lorem_ipsum" and out.text is None
    assert c4(filter_lorem_ipsum=False).clean(ARTICLE + "\nLorem ipsum dolor sit amet.", "en").reason is None


def test_c4_curly_bracket_drops_the_document():
    text = ARTICLE + "\nThe config is written as {key: value} in the file."
    assert c4().clean(text, "en").reason == "c4:curly_bracket"
    assert c4(filter_curly_bracket=False).clean(text, "en").reason is None
    # C4 looks at kept lines only: a code line without terminal punctuation is removed first
    assert c4().clean(ARTICLE + "\nfunction f() {", "en").reason is None


def test_c4_min_sentences_threshold():
    cleaner = c4(min_num_sentences=5, min_words_per_line=None)
    five = "One is here. Two is here. Three is here. Four is here. Five is here."
    assert cleaner.clean(five, "en").reason is None
    four = "One is here. Two is here. Three is here. Four is here."
    assert cleaner.clean(four, "en").reason == "c4:min_sentences"


def test_everything_removed_gives_empty_reason():
    out = c4().clean("Menu\nAbout us\nContact", "en")
    assert out.reason == "empty:after_corrections"
    assert out.lines_removed == 3


# ---------------------------------------------------------------------------------------------
# Gopher quality
# ---------------------------------------------------------------------------------------------


def test_gopher_min_and_max_words():
    cleaner = gopher_only(min_words=50, max_words=60)
    assert cleaner.clean(lines_of(uniq_words(49)), "en").reason == "gopher_quality:min_words"
    assert cleaner.clean(lines_of(uniq_words(50)), "en").reason is None
    assert cleaner.clean(lines_of(uniq_words(60)), "en").reason is None
    assert cleaner.clean(lines_of(uniq_words(61)), "en").reason == "gopher_quality:max_words"


def test_gopher_mean_word_length():
    cleaner = gopher_only(min_mean_word_length=3, max_mean_word_length=10)
    assert cleaner.clean(lines_of(uniq_words(50, 3)), "en").reason is None  # mean 3.0
    short = uniq_words(49, 3) + ["ab"]  # mean 2.98
    assert cleaner.clean(lines_of(short), "en").reason == "gopher_quality:min_mean_word_length"
    assert cleaner.clean(lines_of(uniq_words(50, 10)), "en").reason is None  # mean 10.0
    long = uniq_words(49, 10) + ["abcdefghijk"]  # mean 10.02
    assert cleaner.clean(lines_of(long), "en").reason == "gopher_quality:max_mean_word_length"


@pytest.mark.parametrize("symbol, reason", [("#", "hash_word_ratio"), ("…", "ellipsis_word_ratio")])
def test_gopher_symbol_word_ratio(symbol, reason):
    cleaner = gopher_only(max_symbol_word_ratio=0.1)
    words = uniq_words(50)
    ok = lines_of(words) + "\n" + " ".join([symbol] * 5)  # 5 symbols / 50 words = 0.1
    assert cleaner.clean(ok, "en").reason is None
    bad = lines_of(words) + "\n" + " ".join([symbol] * 6)
    assert cleaner.clean(bad, "en").reason == f"gopher_quality:{reason}"


def test_gopher_bullet_lines_ratio():
    cleaner = gopher_only(max_bullet_lines_ratio=0.9)
    items = [" ".join(uniq_words(5, start=5 * i)) for i in range(10)]
    nine = "\n".join(["• " + s for s in items[:9]] + [items[9]])
    assert cleaner.clean(nine, "en").reason is None
    ten = "\n".join("- " + s for s in items)
    assert cleaner.clean(ten, "en").reason == "gopher_quality:bullet_lines_ratio"


def test_gopher_ellipsis_lines_ratio():
    cleaner = gopher_only(max_ellipsis_lines_ratio=0.3)
    items = [" ".join(uniq_words(5, start=5 * i)) for i in range(10)]
    three = "\n".join([s + "..." for s in items[:3]] + [s + "." for s in items[3:]])
    assert cleaner.clean(three, "en").reason is None
    four = "\n".join([s + "…" for s in items[:4]] + [s + "." for s in items[4:]])
    assert cleaner.clean(four, "en").reason == "gopher_quality:ellipsis_lines_ratio"


def test_gopher_alpha_words_ratio():
    cleaner = gopher_only(min_alpha_words_ratio=0.8)
    ok = uniq_words(40) + [str(1000 + i) for i in range(10)]  # 40 of 50 alphabetic: 0.8
    assert cleaner.clean(lines_of(ok), "en").reason is None
    bad = uniq_words(39) + [str(1000 + i) for i in range(11)]
    assert cleaner.clean(lines_of(bad), "en").reason == "gopher_quality:alpha_words_ratio"


def test_gopher_stop_words_per_language():
    cleaner = gopher_only(min_stop_words=2)
    two = lines_of(uniq_words(48) + ["The", "with"])
    one = lines_of(uniq_words(49) + ["of"])
    assert cleaner.clean(two, "en").reason is None
    assert cleaner.clean(one, "en").reason == "gopher_quality:stop_words"
    # no stop-word list for German or for an unknown language: rule skipped
    assert cleaner.clean(one, "de").reason is None
    assert cleaner.clean(one, None).reason is None


def test_gopher_stop_words_for_a_configured_language():
    cfg = {r: None for r in GQ_RULES}
    cfg.update(min_stop_words=2, stop_words={"en": ["the"], "de": ["der", "die", "und"]})
    cleaner = make(gopher_quality=cfg)
    assert cleaner.clean(lines_of(uniq_words(48) + ["Der", "und"]), "de").reason is None
    assert cleaner.clean(lines_of(uniq_words(49) + ["der"]), "de").reason == "gopher_quality:stop_words"


# ---------------------------------------------------------------------------------------------
# FineWeb
# ---------------------------------------------------------------------------------------------


def _numbered_lines(n: int, end_with_punct: int) -> str:
    rows = [" ".join(uniq_words(6, start=6 * i)) for i in range(n)]
    return "\n".join(r + ("." if i < end_with_punct else "") for i, r in enumerate(rows))


def test_fineweb_line_punct_ratio():
    cleaner = fineweb_only(min_line_punct_ratio=0.12)
    assert cleaner.clean(_numbered_lines(25, 3), "en").reason is None  # 3/25 = 0.12
    assert cleaner.clean(_numbered_lines(25, 2), "en").reason == "fineweb:line_punct_ratio"


def test_fineweb_short_line_ratio():
    cleaner = fineweb_only(max_short_line_ratio=0.67, short_line_length=30)
    short = "a" * 30  # <= 30 characters counts as short
    long = "b" * 31
    ok = "\n".join([short] * 67 + [long] * 33)
    bad = "\n".join([short] * 68 + [long] * 32)
    assert cleaner.clean(ok, "en").reason is None
    assert cleaner.clean(bad, "en").reason == "fineweb:short_line_ratio"


def test_fineweb_dup_line_char_ratio():
    cleaner = fineweb_only(max_dup_line_char_ratio=0.1)
    rows = ["".join(uniq_words(1, 10, start=i)) for i in range(10)]  # ten 10-char lines
    ok = rows[:9] + [rows[0]]  # one copy: 10 of 100 characters
    bad = rows[:8] + [rows[0], rows[1]]  # two copies: 20 of 100
    assert cleaner.clean("\n".join(ok), "en").reason is None
    assert cleaner.clean("\n".join(bad), "en").reason == "fineweb:dup_line_char_ratio"


def test_fineweb_newline_word_ratio():
    cleaner = fineweb_only(max_newline_word_ratio=0.3)
    words = uniq_words(10)
    ok = "\n".join([" ".join(words[0:3]), " ".join(words[3:6]), " ".join(words[6:8]), " ".join(words[8:10])])
    assert cleaner.clean(ok, "en").reason is None  # 3 newlines / 10 words
    bad = "\n".join([" ".join(words[0:3]), " ".join(words[3:6]), " ".join(words[6:8]), words[8]])
    assert cleaner.clean(bad, "en").reason == "fineweb:newline_word_ratio"  # 3 / 9


# ---------------------------------------------------------------------------------------------
# Gopher repetition
# ---------------------------------------------------------------------------------------------


def test_dup_line_frac():
    cleaner = repetition_only(max_dup_line_frac=0.3)
    distinct = [" ".join(uniq_words(4, start=4 * i)) for i in range(10)]
    ok = [distinct[0]] * 4 + distinct[1:7]  # 10 lines, 3 copies
    bad = [distinct[0]] * 5 + distinct[1:6]  # 10 lines, 4 copies
    assert cleaner.clean("\n".join(ok), "en").reason is None
    assert cleaner.clean("\n".join(bad), "en").reason == "gopher_repetition:dup_line_frac"


def test_dup_line_char_frac():
    cleaner = repetition_only(max_dup_line_char_frac=0.2)
    rows = ["".join(uniq_words(1, 10, start=i)) for i in range(10)]
    ok = rows[:8] + [rows[0], rows[1]]  # 20 of 100 characters are copies
    bad = rows[:7] + [rows[0], rows[1], rows[2]]
    assert cleaner.clean("\n".join(ok), "en").reason is None
    assert cleaner.clean("\n".join(bad), "en").reason == "gopher_repetition:dup_line_char_frac"


def test_dup_paragraphs_use_blank_lines():
    cleaner = repetition_only(max_dup_para_frac=0.3)
    paras = [" ".join(uniq_words(4, start=4 * i)) + "\nsecond line " + str(i) for i in range(10)]
    ok = [paras[0]] * 4 + paras[1:7]
    bad = [paras[0]] * 5 + paras[1:6]
    assert cleaner.clean("\n\n".join(ok), "en").reason is None
    assert cleaner.clean("\n\n".join(bad), "en").reason == "gopher_repetition:dup_para_frac"
    char_cleaner = repetition_only(max_dup_para_char_frac=0.2)
    assert char_cleaner.clean("\n\n".join(bad), "en").reason == "gopher_repetition:dup_para_char_frac"


def _with_repeated_pair(k: int, total: int) -> str:
    fill = iter(uniq_words(total, 4))
    tokens: list[str] = []
    for _ in range(k):
        tokens += [next(fill), "zzzp", "zzzq"]
    while len(tokens) < total:
        tokens.append(next(fill))
    return " ".join(tokens)


def test_top_2gram_char_frac():
    cleaner = repetition_only(top_ngram_max_char_frac={2: 0.2})
    assert cleaner.clean(_with_repeated_pair(5, 50), "en").reason is None  # 10 of 50 tokens
    assert cleaner.clean(_with_repeated_pair(6, 50), "en").reason == "gopher_repetition:top_2gram_char_frac"


def _with_repeated_5gram(k: int, total: int) -> str:
    gram = ["qqqa", "qqqb", "qqqc", "qqqd", "qqqe"]
    fill = iter(uniq_words(total, 4))
    tokens: list[str] = []
    for _ in range(k):
        tokens += [next(fill)] + gram
    while len(tokens) < total:
        tokens.append(next(fill))
    return " ".join(tokens)


def test_dup_5gram_char_frac():
    cleaner = repetition_only(dup_ngram_max_char_frac={5: 0.15})
    assert cleaner.clean(_with_repeated_5gram(3, 100), "en").reason is None  # 15 of 100 tokens
    assert cleaner.clean(_with_repeated_5gram(4, 100), "en").reason == "gopher_repetition:dup_5gram_char_frac"


def test_dup_ngram_counts_the_first_occurrence_too():
    # Two occurrences of a 5-gram cover 10 of 100 tokens (0.10), not 5 (0.05).
    assert repetition_only(dup_ngram_max_char_frac={5: 0.09}).clean(_with_repeated_5gram(2, 100), "en").reason
    assert not repetition_only(dup_ngram_max_char_frac={5: 0.10}).clean(_with_repeated_5gram(2, 100), "en").reason


def test_ngram_checks_run_in_increasing_n():
    cleaner = repetition_only(top_ngram_max_char_frac={2: 0.0}, dup_ngram_max_char_frac={5: 0.0})
    assert cleaner.clean(_with_repeated_5gram(2, 100), "en").reason == "gopher_repetition:top_2gram_char_frac"


def test_repetition_is_measured_before_corrections_by_default():
    doc = "\n".join([ARTICLE] + ["12 likes"] * 5 + [ARTICLE2])
    rw = dict(max_removed_word_fraction=None)
    raw = make(refinedweb=rw, gopher_repetition={})
    corrected = make(refinedweb=rw, gopher_repetition={"measure_on": "corrected"})
    assert raw.clean(doc, "en").reason is None  # 19 lines, 4 copies: 0.21 <= 0.3
    many = "\n".join([ARTICLE] + ["12 likes"] * 9)  # 16 lines, 8 copies: 0.5
    assert raw.clean(many, "en").reason == "gopher_repetition:dup_line_frac"
    assert corrected.clean(many, "en").reason is None


# ---------------------------------------------------------------------------------------------
# order of the rules
# ---------------------------------------------------------------------------------------------


def test_first_failing_rule_is_reported():
    # fails gopher min_words, stop words, and FineWeb short lines: min_words comes first
    doc = "Apples pears plums.\nCherries grapes figs."
    assert Cleaner(CleanConfig.model_validate({"c4": {"enabled": False}})).clean(doc, "en").reason == (
        "gopher_quality:min_words"
    )
    # C4 runs before Gopher quality: too few sentences wins
    assert Cleaner().clean(doc, "en").reason == "c4:min_sentences"


def test_corrections_are_reported_for_dropped_documents():
    out = Cleaner().clean("Menu\nAbout us\nThis is one sentence only.", "en")
    assert out.reason == "refinedweb:too_much_removed"
    assert out.lines_removed == 1 and out.chars_removed == len("Menu")
