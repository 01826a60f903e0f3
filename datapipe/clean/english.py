"""Cleaning rules for space-delimited languages (English and other Latin/Cyrillic/... text).

Pipeline for one document (text already stripped of garbled characters), in this order; the first
failing rule is the reason the document is dropped:

1. RefinedWeb line-wise corrections (Penedo et al. 2023, appendix G.2) on every line: remove
   counter lines ("12 likes"), mainly-uppercase lines, lines without any letter (digits and
   punctuation only), single-word lines; in short lines (<= 10 words) cut navigation/button
   phrases at the start ("Sign in") or end ("Read more ...") of the line, and remove the line
   when it holds a boilerplate phrase anywhere ("items in cart", "All rights reserved").
   If these corrections remove more than 5% of the document's words the document is dropped
   (``refinedweb:too_much_removed``). Only RefinedWeb's corrections count towards the 5%:
   C4's line filter (step 2) routinely removes headings and list items and has no such budget.
2. C4 line filter (Raffel et al. 2020; TFDS ``c4_utils.clean_page`` order): remove lines with
   a word longer than 1000 characters, strip Wikipedia citation marks, remove lines without
   terminal punctuation (or ending in "..."), lines with fewer than 3 words; drop the document
   on "lorem ipsum"; remove lines mentioning "javascript"; drop the document on "{"; remove
   lines with a cookie/terms-of-use phrase (so, as in C4, "lorem ipsum" and "{" only count in
   lines that survive the earlier line rules). Then ``empty:after_corrections`` and at least 5
   sentences (a regex sentence splitter stands in for C4's NLTK punkt).
3. Gopher quality filter (Rae et al. 2021) on the corrected text.
4. FineWeb filters (Penedo et al. 2024) on the corrected text.
5. Gopher repetition filter, by default on the text *before* the line corrections: Gopher and
   RefinedWeb measure repetition on the extracted document (RefinedWeb runs repetition removal
   before its line-wise corrections), and the corrections would otherwise hide the repeated
   boilerplate lines that signal template/spam pages. It runs last only because it is the most
   expensive check; where it is measured is set by ``gopher_repetition.measure_on``.
"""

from __future__ import annotations

import numpy as np
import regex

from datapipe.clean.config import CleanConfig
from datapipe.clean.outcome import CleanOutcome
from datapipe.clean.repetition import duplicate_units_reason, ngram_reason
from datapipe.text import (
    WORD_RE,
    count_sentences,
    count_uppercase,
    count_words_without_letter,
    duplicate_items,
    has_letter,
    has_lowercase_at_least,
    split_paragraphs,
    token_ids,
)

_I = regex.IGNORECASE | regex.VERSION0

# ---- RefinedWeb patterns ---------------------------------------------------------------------
_COUNTER_WORD = (
    r"(?:likes?|shares?|comments?|retweets?|reposts?|reblogs?|views?|followers?|following|"
    r"subscribers?|replies|reply|responses?|votes?|upvotes?|downvotes?|points?|favou?rites?|faves?|"
    r"reactions?|pins?|tweets?|posts?|notes?|claps?|kudos|hits?|reads?|downloads?|answers?|stars?|"
    r"forks?|plays?|listens?|loves?|hearts?|thumbs up)"
)
_NUM = r"\d[\d,.]*\s?[kmb]?\+?"
_COUNTER_ITEM = rf"(?:{_NUM}\s*{_COUNTER_WORD}|{_COUNTER_WORD}\s*[:(\[]?\s*{_NUM}\s*[)\]]?)"
#: a line made only of counters: "12 likes", "Share 5", "Comments (3)", "1.2K views · 4 replies"
COUNTER_LINE_RE = regex.compile(rf"^[\W_]*{_COUNTER_ITEM}(?:[\s|·•,/\-–—]+{_COUNTER_ITEM})*[\W_]*$", _I)

#: navigation/button phrases cut from the start of a short line
NAV_START_RE = regex.compile(
    r"^[\W_]*(?:"
    r"sign (?:in|up|out)(?: (?:to|with) (?:comment|reply|continue|your account|facebook|google))?|"
    r"log ?(?:in|out)(?: to (?:comment|reply|continue|your account))?|login|logout|"
    r"skip to (?:the )?(?:main )?(?:content|navigation|search)|skip navigation|"
    r"jump to (?:navigation|search|content)|toggle navigation|main menu|you are here|"
    r"back to top|go to top"
    r")\b[\W_]*|^[\W_]*home\s*[>»›/|]+\s*",
    _I,
)
#: navigation/button phrases cut from the end of a short line
NAV_END_RE = regex.compile(
    r"[\s|·•\-–—:>»›]*\b(?:"
    r"read more|read the full (?:article|story|post)|read full (?:article|story|post)|continue reading|"
    r"click here|show more|load more|view more|next page|previous page|prev page|next post|previous post|"
    r"next article|previous article|older posts|newer posts|older entries|newer entries|back to top|"
    r"view all|see all|show all"
    r")[\W_]*$",
    _I,
)
#: boilerplate phrases that make a whole short line disposable wherever they appear in it
NAV_ANY_RE = regex.compile(
    r"\b(?:"
    r"items? in (?:your )?(?:shopping )?(?:cart|basket|bag)|add to (?:cart|basket|bag|wish ?list)|"
    r"view (?:your )?(?:cart|basket)|shopping (?:cart|basket)|proceed to checkout|"
    r"all rights reserved|cookie settings|accept (?:all )?cookies|"
    r"share (?:this|on|via) (?:facebook|twitter|linkedin|pinterest|whatsapp|reddit|e-?mail)|"
    r"share this (?:post|article|page|story)|follow us on|tweet this|pin it|"
    r"leave a (?:comment|reply)|post a comment|add a comment|no comments(?: yet)?|"
    r"be the first to (?:comment|review)|you must be logged in|"
    r"(?:log|sign) in to (?:reply|comment|post)|print this (?:page|article|post)|"
    r"e-?mail this (?:page|article|post)|page \d+ of \d+|"
    r"powered by (?:wordpress|blogger|tumblr|squarespace|wix)|"
    r"skip to (?:the )?(?:main )?content|skip navigation|toggle navigation|jump to navigation"
    r")\b",
    _I,
)

# ---- C4 patterns -----------------------------------------------------------------------------
#: Wikipedia citation marks removed by C4: "[1]", "[]", "[edit]", "[citation needed]"
CITATION_RE = regex.compile(r"\[\d*\]|\[edit\]|\[citation needed\]", _I)
_ELLIPSIS = "..."
_BLANK_LINE_RE = regex.compile(r"\n[^\S\n]*\n")


class SpaceDelimitedCleaner:
    """RefinedWeb + C4 + Gopher + FineWeb rules for one space-delimited document."""

    def __init__(self, config: CleanConfig):
        self.cfg = config
        c4 = config.c4
        self._c4_term = tuple(c4.terminal_punctuation)
        self._policy_re = (
            regex.compile("|".join(regex.escape(p) for p in c4.policy_substrings)) if c4.policy_substrings else None
        )
        gq = config.gopher_quality
        self._bullets = tuple(gq.bullets)
        self._stop_words = {lang: frozenset(ws) for lang, ws in gq.stop_words.items()}
        self._fw_stop = tuple(config.fineweb.stop_chars)

    # ------------------------------------------------------------------------------------
    def clean(self, text: str, lang: str | None, chars_removed: int = 0) -> CleanOutcome:
        cfg = self.cfg
        rw = cfg.refinedweb
        rep = cfg.gopher_repetition
        keep_raw = rep.enabled and rep.measure_on == "raw"
        lines_removed = 0

        # ---- 1. RefinedWeb line-wise corrections ------------------------------------------
        raw_lines: list[str] = []
        raw_words: list[str] = []
        lines: list[str] = []
        line_words: list[list[str]] = []
        total_words = removed_words = 0
        for line in text.split("\n"):
            s = line.strip()
            if not s:
                continue
            ws = WORD_RE.findall(s)
            n = len(ws)
            total_words += n
            if keep_raw:
                raw_lines.append(s)
                raw_words.extend(ws)
            if rw.enabled:
                new = self._refinedweb_line(s, n)
                if new is None:
                    lines_removed += 1
                    chars_removed += len(s)
                    removed_words += n
                    continue
                if new is not s:
                    new_ws = WORD_RE.findall(new)
                    removed_words += n - len(new_ws)
                    chars_removed += len(s) - len(new)
                    s, ws = new, new_ws
            lines.append(s)
            line_words.append(ws)

        if (
            rw.enabled
            and rw.max_removed_word_fraction is not None
            and total_words
            and removed_words / total_words > rw.max_removed_word_fraction
        ):
            return CleanOutcome(None, "refinedweb:too_much_removed", lines_removed, chars_removed)

        # ---- 2. C4 line filter ------------------------------------------------------------
        c4 = cfg.c4
        if c4.enabled:
            kept: list[str] = []
            kept_words: list[list[str]] = []
            max_len = c4.max_word_length
            term = self._c4_term
            for s, ws in zip(lines, line_words, strict=True):
                if max_len is not None and len(s) > max_len and any(len(t) > max_len for t in s.split()):
                    if c4.too_long_word_action == "drop_document":
                        return CleanOutcome(None, "c4:max_word_length", lines_removed, chars_removed)
                    lines_removed += 1
                    chars_removed += len(s)
                    continue
                if c4.remove_citations and "[" in s:
                    new = CITATION_RE.sub("", s).strip()
                    if new != s:
                        chars_removed += len(s) - len(new)
                        s, ws = new, WORD_RE.findall(new)
                        if not s:
                            lines_removed += 1
                            continue
                if c4.filter_no_terminal_punct and (not s.endswith(term) or s.endswith(_ELLIPSIS)):
                    lines_removed += 1
                    chars_removed += len(s)
                    continue
                if c4.min_words_per_line is not None and len(ws) < c4.min_words_per_line:
                    lines_removed += 1
                    chars_removed += len(s)
                    continue
                sl = s.lower()
                if c4.filter_lorem_ipsum and "lorem ipsum" in sl:
                    return CleanOutcome(None, "c4:lorem_ipsum", lines_removed, chars_removed)
                if c4.filter_javascript and "javascript" in sl:
                    lines_removed += 1
                    chars_removed += len(s)
                    continue
                if c4.filter_curly_bracket and "{" in s:
                    return CleanOutcome(None, "c4:curly_bracket", lines_removed, chars_removed)
                if c4.filter_policy and self._policy_re is not None and self._policy_re.search(sl):
                    lines_removed += 1
                    chars_removed += len(s)
                    continue
                kept.append(s)
                kept_words.append(ws)
            lines, line_words = kept, kept_words

        if not lines:
            return CleanOutcome(None, "empty:after_corrections", lines_removed, chars_removed)
        out_text = "\n".join(lines)

        def drop(reason: str) -> CleanOutcome:
            return CleanOutcome(None, reason, lines_removed, chars_removed)

        if c4.enabled and c4.min_num_sentences is not None:
            need = c4.min_num_sentences
            found = 0
            for s in lines:
                found += count_sentences(s)
                if found >= need:
                    break
            if found < need:
                return drop("c4:min_sentences")

        words = [w for ws in line_words for w in ws]

        # ---- 3. Gopher quality ------------------------------------------------------------
        reason = self._gopher_quality(out_text, lines, words, lang)
        if reason:
            return drop(reason)

        # ---- 4. FineWeb ---------------------------------------------------------------------
        reason = self._fineweb(out_text, lines, len(words))
        if reason:
            return drop(reason)

        # ---- 5. Gopher repetition ----------------------------------------------------------
        if rep.enabled:
            if keep_raw:
                reason = self._gopher_repetition(text, raw_lines, raw_words)
            else:
                reason = self._gopher_repetition(out_text, lines, words)
            if reason:
                return drop(reason)

        return CleanOutcome(out_text, None, lines_removed, chars_removed)

    # ------------------------------------------------------------------------------------
    def _refinedweb_line(self, s: str, n_words: int) -> str | None:
        """The corrected line, ``s`` itself when unchanged, or None to remove the line."""
        rw = self.cfg.refinedweb
        if rw.remove_numeric_lines and not has_letter(s):
            return None
        short = n_words <= rw.short_line_max_words
        if rw.remove_counter_lines and short and COUNTER_LINE_RE.match(s):
            return None
        if rw.remove_single_word_lines and n_words == 1:
            return None
        if rw.remove_uppercase_lines:
            upper = count_uppercase(s)
            if upper >= rw.uppercase_min_letters:
                # mainly uppercase <=> lower <= upper * (1 - r) / r; stop counting lowercase letters
                # as soon as there are more than that (prose lines stop after one or two)
                r = rw.uppercase_min_ratio
                allowed = upper * (1.0 - r) / r if r > 0 else float("inf")
                if not has_lowercase_at_least(s, int(allowed + 1e-9) + 1):
                    return None
        if rw.edit_navigation and short:
            if NAV_ANY_RE.search(s):
                return None
            new = NAV_END_RE.sub("", NAV_START_RE.sub("", s, count=1), count=1).strip()
            if new != s:
                return new if WORD_RE.search(new) else None
        return s

    def _gopher_quality(self, text: str, lines: list[str], words: list[str], lang: str | None) -> str | None:
        gq = self.cfg.gopher_quality
        if not gq.enabled:
            return None
        n = len(words)
        if gq.min_words is not None and n < gq.min_words:
            return "gopher_quality:min_words"
        if gq.max_words is not None and n > gq.max_words:
            return "gopher_quality:max_words"
        if n:
            mean = sum(map(len, words)) / n
            if gq.min_mean_word_length is not None and mean < gq.min_mean_word_length:
                return "gopher_quality:min_mean_word_length"
            if gq.max_mean_word_length is not None and mean > gq.max_mean_word_length:
                return "gopher_quality:max_mean_word_length"
            if gq.max_symbol_word_ratio is not None:
                if text.count("#") / n > gq.max_symbol_word_ratio:
                    return "gopher_quality:hash_word_ratio"
                if (text.count("...") + text.count("…")) / n > gq.max_symbol_word_ratio:
                    return "gopher_quality:ellipsis_word_ratio"
        if lines:
            if gq.max_bullet_lines_ratio is not None:
                bullets = self._bullets
                if sum(1 for s in lines if s.startswith(bullets)) / len(lines) > gq.max_bullet_lines_ratio:
                    return "gopher_quality:bullet_lines_ratio"
            if gq.max_ellipsis_lines_ratio is not None:
                ell = sum(1 for s in lines if s.endswith(("...", "…")))
                if ell / len(lines) > gq.max_ellipsis_lines_ratio:
                    return "gopher_quality:ellipsis_lines_ratio"
        if n and gq.min_alpha_words_ratio is not None:
            alpha = n - count_words_without_letter(words)
            if alpha / n < gq.min_alpha_words_ratio:
                return "gopher_quality:alpha_words_ratio"
        if gq.min_stop_words is not None and lang is not None:
            stop = self._stop_words.get(lang)
            if stop is not None:
                hits = 0
                need = gq.min_stop_words
                for w in words:
                    if w.lower() in stop:
                        hits += 1
                        if hits >= need:
                            break
                if hits < need:
                    return "gopher_quality:stop_words"
        return None

    def _fineweb(self, text: str, lines: list[str], n_words: int) -> str | None:
        fw = self.cfg.fineweb
        if not fw.enabled or not lines:
            return None
        n = len(lines)
        if fw.min_line_punct_ratio is not None:
            stop = self._fw_stop
            if sum(1 for s in lines if s.endswith(stop)) / n < fw.min_line_punct_ratio:
                return "fineweb:line_punct_ratio"
        if fw.max_short_line_ratio is not None:
            limit = fw.short_line_length
            if sum(1 for s in lines if len(s) <= limit) / n > fw.max_short_line_ratio:
                return "fineweb:short_line_ratio"
        if fw.max_dup_line_char_ratio is not None:
            total = len(text) - text.count("\n")
            if total and duplicate_items(lines)[1] / total > fw.max_dup_line_char_ratio:
                return "fineweb:dup_line_char_ratio"
        if fw.max_newline_word_ratio is not None and n_words:
            if text.count("\n") / n_words > fw.max_newline_word_ratio:
                return "fineweb:newline_word_ratio"
        return None

    def _gopher_repetition(self, text: str, lines: list[str], words: list[str]) -> str | None:
        rep = self.cfg.gopher_repetition
        reason = duplicate_units_reason(
            lines, rep.max_dup_line_frac, rep.max_dup_line_char_frac, "gopher_repetition", "line"
        )
        if reason:
            return reason
        if rep.max_dup_para_frac is not None or rep.max_dup_para_char_frac is not None:
            # Paragraphs are blank-line separated (Gopher). trafilatura separates blocks with a
            # single newline, so without blank lines each line is a paragraph.
            paras = split_paragraphs(text) if _BLANK_LINE_RE.search(text) else lines
            reason = duplicate_units_reason(
                paras, rep.max_dup_para_frac, rep.max_dup_para_char_frac, "gopher_repetition", "para"
            )
            if reason:
                return reason
        if words and (rep.top_ngram_max_char_frac or rep.dup_ngram_max_char_frac):
            ids = token_ids(words)
            weights = np.fromiter(map(len, words), dtype=np.int64, count=len(words))
            return ngram_reason(
                ids, weights, rep.top_ngram_max_char_frac, rep.dup_ngram_max_char_frac, "gopher_repetition"
            )
        return None
