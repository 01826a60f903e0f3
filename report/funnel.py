"""Section 1: documents in and out of every stage, why the others were dropped, and a few of them to read."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pyarrow.parquet as pq

from datapipe.stats import funnel_rows
from report.html import count, details, esc, not_in_run, note, pct, size, table
from report.layout import REJECTS_DIR, Run, parquet_files
from report.svg import bar_chart

TITLE = "Funnel: documents through the stages"

EXAMPLES_PER_REASON = 3
EXCERPT_CHARS = 300
REJECT_COLUMNS = ("id", "url", "domain", "lang", "text", "reject_reason", "reject_detail", "source_file", "source_offset")


def reject_examples(stage_dir: Path, per_reason: int = EXAMPLES_PER_REASON) -> dict[str, list[dict]]:
    """The first ``per_reason`` rejected documents of each reason in ``_rejects/``; the text is read only
    from the row groups that hold them, so a stage that dropped millions costs one column scan."""
    found: dict[str, list[dict]] = defaultdict(list)
    for f in parquet_files(stage_dir / REJECTS_DIR):
        pf = pq.ParquetFile(f)
        columns = [c for c in REJECT_COLUMNS if c in pf.schema_arrow.names]
        for group in range(pf.num_row_groups):
            taken: dict[str, int] = defaultdict(int)
            wanted = []
            for i, reason in enumerate(pf.read_row_group(group, columns=["reject_reason"]).column(0).to_pylist()):
                if len(found[reason]) + taken[reason] < per_reason:
                    taken[reason] += 1
                    wanted.append(i)
            if wanted:
                for row in pf.read_row_group(group, columns=columns).take(wanted).to_pylist():
                    found[row["reject_reason"]].append(row)
    return dict(found)


def excerpt(row: dict) -> str:
    """One rejected document: where it came from, the detail of its reason, and the start of its text
    (or, when the stage kept ids only, where to find it)."""
    meta = [row.get("url"), f"id {row.get('id')}", "/".join(x for x in (row.get("domain"), row.get("lang")) if x)]
    if row.get("reject_detail"):
        meta.append(f"detail: {row['reject_detail']}")
    text = row.get("text") or ""
    if text:
        body = esc(text[:EXCERPT_CHARS] + ("…" if len(text) > EXCERPT_CHARS else ""))
    else:
        where = f"{row.get('source_file')}@{row.get('source_offset')}" if row.get("source_offset") is not None else row.get("source_file")
        body = f'<span class="note">text not kept (rejects as ids); source: {esc(where or "unknown")}</span>'
    return f'<div class="reject"><div class="meta">{esc(" · ".join(m for m in meta if m))}</div><div class="excerpt">{body}</div></div>'


def stage_drops(run: Run, row: dict) -> str:
    """A stage's drop reasons with their counts and examples."""
    stage_dir = run.output(row["stage"])
    has_rejects = (stage_dir / REJECTS_DIR).is_dir()
    examples = reject_examples(stage_dir) if has_rejects else {}
    dropped = sum(row["drops"].values())
    parts = [f'<h3 id="drops-{esc(row["stage"])}">{esc(row["stage"])}: {count(dropped)} of {count(row["docs_in"])} dropped '
             f'({pct(dropped / row["docs_in"] if row["docs_in"] else 0, 1)})</h3>']
    if not has_rejects:
        parts.append(note(f"{row['stage']} keeps no _rejects/: no examples of what it dropped."))
    for reason, n in row["drops"].items():
        shown = examples.get(reason, [])
        parts.append(f'<div class="reason"><h4>{esc(reason)} <span class="count">{count(n)}</span></h4>')
        if shown:
            parts.append('<div class="examples">' + "".join(excerpt(r) for r in shown) + "</div>")
        elif has_rejects:
            parts.append(note("no example of this reason in _rejects/"))
        parts.append("</div>")
    return "".join(parts)


def body(run: Run) -> str:
    stats = run.stage_stats()
    if not stats:
        return not_in_run("no stage output with _stats.json under " + str(run.root))
    rows = funnel_rows(stats)
    for r in rows:
        r["wall"] = (run.chain_record(r["stage"]) or {}).get("seconds")
    header = ["stage", "docs in", "docs out", "kept", "bytes in", "bytes out", "stage time (s)", "with submit (s)",
              "dropped", "PII masked"]
    cells = [[r["stage"], count(r["docs_in"]), count(r["docs_out"]), f"{r['kept_pct']:.1f}%", size(r["bytes_in"]), size(r["bytes_out"]),
             f"{r['seconds']:.1f}", "" if r["wall"] is None else f"{r['wall']:.1f}", count(sum(r["drops"].values())),
             ", ".join(f"{k} {v:,}" for k, v in r["masked"].items())] for r in rows]
    chart = bar_chart([r["stage"] for r in rows], {"in": [r["docs_in"] for r in rows], "out": [r["docs_out"] for r in rows]},
                      title="Documents in and out per stage", x_label="documents", width=760)
    drops = "".join(stage_drops(run, r) for r in rows if r["drops"])
    sources = note("Counters from each stage's _stats.json (docs_in, docs_out, drop.<reason>, pii.<type>); time with submit "
                   "from _chain/<stage>.json; examples: the first rows of each reason in the stage's _rejects/ Parquet files, "
                   f"cut to {EXCERPT_CHARS} characters. Extract counts WARC records in, documents out.")
    return (sources + table(header, cells, numeric=range(1, 9)) + chart
            + details("Drop reasons and rejected examples", drops or note("no stage dropped documents"), open_=True))
