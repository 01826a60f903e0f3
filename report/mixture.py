"""Section 5: the data mixture in tokens: the target share of each domain (Table 1 of the report), the
share planned within the epoch caps, the share realised, and how often each domain is repeated."""

from __future__ import annotations

from report.html import count, esc, not_in_run, note, num, pct, table
from report.layout import Run, read_json
from report.svg import bar_chart

TITLE = "Mixture: target and realised shares"

MANIFEST_FILE = "_manifest.json"


def body(run: Run) -> str:
    manifest = read_json(run.output("mix") / MANIFEST_FILE)
    if manifest is None:
        return not_in_run("the mixture's manifest (mixture/_manifest.json)")
    domains = manifest.get("domains", [])
    rows = [[d["domain"], count(d.get("documents")), count(d.get("tokens")), pct(d.get("target_share")), pct(d.get("planned_share")),
             pct(d.get("realised_share")), num(d.get("max_epochs"), 2), num(d.get("epochs"), 3), "short" if d.get("short") else "",
             count(d.get("tokens_out")), count(d.get("documents_out"))] for d in domains]
    names = [d["domain"] for d in domains]
    chart = bar_chart(names, {k: [100 * (d.get(f"{k}_share") or 0) for d in domains] for k in ("target", "planned", "realised")},
                      title="Share of the mixture's tokens per domain", x_label="% of tokens", value_format=lambda v: f"{v:.2f}%",
                      width=760)
    parts = [note(f"{manifest.get('total_tokens', 0):,} {manifest.get('unit', 'tokens')} planned. "
                  f"Size rule: {manifest.get('size_rule', '?')}. Bytes per token: {manifest.get('bytes_per_token', '?')}. "
                  "From mixture/_manifest.json; 'short': the domain has fewer tokens than its share asks for within its epoch cap."),
             table(["domain", "documents", "tokens available", "target", "planned", "realised", "max epochs", "epochs", "short",
                    "tokens out", "documents out"], rows, numeric=(1, 2, 3, 4, 5, 6, 7, 9, 10)), chart]
    if manifest.get("warnings"):
        parts.append('<ul class="warnings">' + "".join(f"<li>{esc(w)}</li>" for w in manifest["warnings"]) + "</ul>")
    return "".join(parts)
