"""Heuristic text cleaning (RefinedWeb, C4, Gopher, FineWeb rules; character rules for zh/ja).

Usage (one ``Cleaner`` per worker, reused for every document)::

    from datapipe.clean import Cleaner, load_clean_config

    cleaner = Cleaner(load_clean_config("configs/clean.yaml"))
    out = cleaner.clean(text, lang)      # lang: lid.176 code or None
    if out.reason is None:
        keep(out.text)

``out.reason`` is None for a kept document, else the first failing rule, one of
(``Cleaner.possible_reasons()`` lists them for a given config):

* ``empty:input``, ``empty:after_corrections``, ``garbled:max_ratio``
* ``refinedweb:too_much_removed``
* ``c4:max_word_length`` (only with ``too_long_word_action: drop_document``), ``c4:lorem_ipsum``,
  ``c4:curly_bracket``, ``c4:min_sentences``
* ``gopher_quality:{min_words, max_words, min_mean_word_length, max_mean_word_length,
  hash_word_ratio, ellipsis_word_ratio, bullet_lines_ratio, ellipsis_lines_ratio,
  alpha_words_ratio, stop_words}``
* ``fineweb:{line_punct_ratio, short_line_ratio, dup_line_char_ratio, newline_word_ratio}``
* ``gopher_repetition:{dup_line_frac, dup_line_char_frac, dup_para_frac, dup_para_char_frac,
  top_<n>gram_char_frac, dup_<n>gram_char_frac}``
* ``unspaced:{too_much_removed, min_chars, min_script_ratio, min_mean_line_length, punct_line_ratio,
  dup_line_frac, dup_line_char_frac, top_<n>gram_char_frac, dup_<n>gram_char_frac}``

See ``datapipe/clean/english.py`` and ``datapipe/clean/unspaced.py`` for the rules and their order,
and ``configs/clean.yaml`` for the thresholds and their sources.
"""

from datapipe.clean.cleaner import Cleaner, CleanStage, normalize_lang
from datapipe.clean.config import CleanConfig, ConfigError, load_clean_config
from datapipe.clean.outcome import CleanOutcome

__all__ = ["CleanConfig", "CleanOutcome", "CleanStage", "Cleaner", "ConfigError", "load_clean_config", "normalize_lang"]
