"""The result of cleaning one document."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CleanOutcome:
    """What :meth:`datapipe.clean.Cleaner.clean` decided for one document.

    ``text`` is the cleaned text when the document is kept and ``None`` when it is dropped;
    ``reason`` is ``None`` when kept, else the first failing rule as ``"<stage>:<rule>"``.
    ``lines_removed``/``chars_removed`` count the line-level corrections that were applied
    (removed lines, and characters removed by line removal, in-line edits and garbled-character
    removal) and are filled in for dropped documents too, up to the point where they were dropped.
    """

    text: str | None
    reason: str | None
    lines_removed: int = 0
    chars_removed: int = 0

    @property
    def kept(self) -> bool:
        return self.reason is None
