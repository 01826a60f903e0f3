"""Section 7: the token shards the trainer reads: per domain and split, shards, documents and tokens."""

from __future__ import annotations

from report.html import count, not_in_run, note, pct, size, table
from report.layout import Run, read_json

TITLE = "Token shards"

MANIFEST_FILE = "manifest.json"
SPLITS = ("train", "valid")


def body(run: Run) -> str:
    manifest = read_json(run.output("shards") / MANIFEST_FILE)
    if manifest is None:
        return not_in_run("the shards' manifest (shards/manifest.json)")
    domains = manifest.get("domains", {})
    rows, totals = [], {s: {"shards": 0, "documents": 0, "tokens": 0, "text_bytes": 0} for s in SPLITS}
    for name, d in domains.items():
        row = [name, pct(d.get("weight")), pct(d.get("mixture_share"))]
        for split in SPLITS:
            part = d.get(split, {})
            row += [count(part.get("shards", 0)), count(part.get("documents", 0)), count(part.get("tokens", 0))]
            for k in totals[split]:
                totals[split][k] += part.get(k, 0)
        rows.append(row)
    rows.append(["total", "", "", *(count(totals[s][k]) for s in SPLITS for k in ("shards", "documents", "tokens"))])
    tok = manifest.get("tokenizer", {})
    heldout = manifest.get("heldout", {})
    source = note(
        f"{manifest.get('format', '?')} shards ({manifest.get('dtype', '?')}), vocabulary {count(tok.get('vocab_size'))}, "
        f"end-of-text id {tok.get('eot_id', '?')}; held-out fraction {heldout.get('fraction', '?')} (seed {heldout.get('seed', '?')}); "
        f"weights from {manifest.get('weights_from', '?')}; {size(totals['train']['text_bytes'])} of train text. "
        "From shards/manifest.json.")
    return source + table(["domain", "weight", "mixture share", "train shards", "train documents", "train tokens", "valid shards",
                           "valid documents", "valid tokens"], rows, numeric=range(1, 9))
