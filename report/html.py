"""HTML pieces every section is made of: escaped text, tables, notes and collapsible blocks, so that a
section's module says what it shows rather than how it is marked up."""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def code(value: object) -> str:
    return f"<code>{esc(value)}</code>"


def para(text_html: str) -> str:
    return f"<p>{text_html}</p>"


def note(text: str) -> str:
    """A muted remark (where numbers come from, what is absent); ``text`` is plain text."""
    return f'<p class="note">{esc(text)}</p>'


def not_in_run(what: str) -> str:
    """The body of a section whose inputs this run does not have."""
    return f'<p class="missing">Not in this run: {esc(what)}.</p>'


def details(summary: str, body_html: str, *, open_: bool = False) -> str:
    return f"<details{' open' if open_ else ''}><summary>{esc(summary)}</summary>{body_html}</details>"


def pre(text: str) -> str:
    return f"<pre>{esc(text)}</pre>"


def table(header: Sequence[str], rows: Iterable[Sequence[object]], *, numeric: Iterable[int] = ()) -> str:
    """A table of plain values (escaped); the columns in ``numeric`` are right-aligned."""
    right = set(numeric)

    def cell(tag: str, i: int, value: object) -> str:
        return f'<{tag} class="num">{esc(value)}</{tag}>' if i in right else f"<{tag}>{esc(value)}</{tag}>"

    head = "".join(cell("th", i, h) for i, h in enumerate(header))
    body = "".join("<tr>" + "".join(cell("td", i, v) for i, v in enumerate(row)) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def charts(*svgs: str) -> str:
    """Charts side by side, wrapping on narrow screens."""
    return '<div class="charts">' + "".join(svgs) + "</div>"


def count(n: float | None) -> str:
    return "" if n is None else f"{n:,.0f}"


def pct(share: float | None, digits: int = 2) -> str:
    """A share in [0, 1] as a percentage; one too small to show at ``digits`` is "<0.01%", not "0.00%"."""
    if share is None:
        return ""
    smallest = 10.0 ** -digits
    return f"<{smallest:.{digits}f}%" if 0 < 100 * share < smallest else f"{100 * share:.{digits}f}%"


def num(x: float | None, digits: int = 3) -> str:
    return "" if x is None else f"{x:.{digits}f}"


def size(n: float) -> str:
    """Bytes in decimal units."""
    units = ("B", "KB", "MB", "GB", "TB")
    i = 0
    while abs(n) >= 1000 and i < len(units) - 1:
        n, i = n / 1000, i + 1
    return f"{n:.0f} B" if i == 0 else f"{n:.1f} {units[i]}"
