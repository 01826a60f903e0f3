"""Gopher-style repetition checks shared by the space-delimited and the CJK pipelines."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from datapipe.text import duplicate_items, iter_ngram_char_fractions


def duplicate_units_reason(
    units: Sequence[str],
    max_frac: float | None,
    max_char_frac: float | None,
    prefix: str,
    unit: str,
) -> str | None:
    """``f"{prefix}:dup_{unit}_frac"`` / ``..._char_frac`` when too many units are repeats.

    A unit repeated k times counts k-1 times (every copy after the first); the character
    fraction is over the characters of all units.
    """
    if not units or (max_frac is None and max_char_frac is None):
        return None
    dup, dup_chars = duplicate_items(units)
    if max_frac is not None and dup / len(units) > max_frac:
        return f"{prefix}:dup_{unit}_frac"
    if max_char_frac is not None:
        total = sum(map(len, units))
        if total and dup_chars / total > max_char_frac:
            return f"{prefix}:dup_{unit}_char_frac"
    return None


def ngram_reason(
    ids: np.ndarray,
    weights: np.ndarray | None,
    top: Mapping[int, float],
    dup: Mapping[int, float],
    prefix: str,
) -> str | None:
    """First n-gram statistic over its threshold, in increasing n (top before dup per n).

    Reasons are ``f"{prefix}:top_{n}gram_char_frac"`` and ``f"{prefix}:dup_{n}gram_char_frac"``.
    """
    if not top and not dup:
        return None
    for kind, n, frac in iter_ngram_char_fractions(ids, weights, top.keys(), dup.keys()):
        limit = top[n] if kind == "top" else dup[n]
        if frac > limit:
            return f"{prefix}:{kind}_{n}gram_char_frac"
    return None
