"""Stage counters and the funnel table over a chain of stages.

Counter conventions, shared by every stage: ``docs_in``/``docs_out`` and ``bytes_in``/``bytes_out``
(UTF-8 bytes of text; for the extract stage, WARC records and payload bytes in), ``drop.<reason>``
for each dropped document or record, ``pii.<type>`` for each span of personal data masked in kept
documents (both shown in the funnel); anything else is informational.
"""

from __future__ import annotations

from datapipe.safety.config import PII_TYPES

DROP_PREFIX = "drop."
MASK_PREFIX = "pii."


def drops(counters: dict) -> dict[str, int]:
    """Drop reasons, most frequent first."""
    d = {k[len(DROP_PREFIX) :]: v for k, v in counters.items() if k.startswith(DROP_PREFIX) and v}
    return dict(sorted(d.items(), key=lambda kv: (-kv[1], kv[0])))


def funnel_rows(stats_chain: list[dict]) -> list[dict]:
    """One row per stage from the stages' ``_stats.json`` contents, upstream first."""
    rows = []
    for st in stats_chain:
        c = st.get("counters", {})
        docs_in, docs_out = c.get("docs_in", 0), c.get("docs_out", 0)
        rows.append(
            {
                "stage": st["stage"],
                "docs_in": docs_in,
                "docs_out": docs_out,
                "kept_pct": round(100.0 * docs_out / docs_in, 1) if docs_in else 0.0,
                "bytes_in": c.get("bytes_in", 0),
                "bytes_out": c.get("bytes_out", 0),
                "seconds": st.get("seconds", 0.0),
                "drops": drops(c),
                "masked": {t: c[MASK_PREFIX + t] for t in PII_TYPES if c.get(MASK_PREFIX + t)},
            }
        )
    return rows


def _fmt_bytes(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000.0
    return str(n)


def render_funnel(rows: list[dict], top_drops: int = 4) -> str:
    """A markdown table: documents and bytes in and out per stage, and the main drop reasons."""
    header = "| stage | docs in | docs out | kept | bytes in | bytes out | time (s) | main drop reasons | PII masked |"
    lines = [header, "|---|---:|---:|---:|---:|---:|---:|---|---|"]
    for r in rows:
        reasons = ", ".join(f"{k} {v}" for k, v in list(r["drops"].items())[:top_drops])
        more = len(r["drops"]) - top_drops
        if more > 0:
            reasons += f", +{more} more"
        lines.append(
            f"| {r['stage']} | {r['docs_in']:,} | {r['docs_out']:,} | {r['kept_pct']:.1f}% | "
            f"{_fmt_bytes(r['bytes_in'])} | {_fmt_bytes(r['bytes_out'])} | {r['seconds']:.1f} | {reasons} | "
            + ", ".join(f"{k} {v:,}" for k, v in r["masked"].items()) + " |"
        )
    return "\n".join(lines)
