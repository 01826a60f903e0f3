"""Section 6: our tokenizer's compression (tokens per UTF-8 byte, lower is better) per category of text
beside the reference tokenizers (GPT-4's, Llama's, Qwen's), as in Table 3 of the Tele-FLM report."""

from __future__ import annotations

from report.html import count, details, esc, not_in_run, note, num, table
from report.layout import Run, read_json
from report.svg import bar_chart

TITLE = "Tokenizer compression"

REPORT_FILE = "compression.json"


def paper_table(paper: dict, categories: list[str]) -> str:
    rows = [[name, r.get("vocab", ""), *(num(v) for v in r.get("rates", [])), num(r.get("weighted_avg"))]
            for name, r in paper.get("rows", {}).items()]
    return details(f"Tele-FLM report, Table 3 ({paper.get('source', '')})",
                   table(["tokenizer", "vocab", *categories, "weighted avg"], rows, numeric=range(1, len(categories) + 3)))


def body(run: Run) -> str:
    report = read_json(run.output("tokenizer_report") / REPORT_FILE)
    if report is None:
        return not_in_run("the tokenizer report (tokenizer_report/compression.json)")
    tokenizers = report.get("tokenizers", [])
    categories = list(report.get("corpus", {})) or sorted({c for t in tokenizers for c in t.get("rates", {})})
    rows = [[t["name"], t.get("paper_row") or "", count(t.get("vocab_size")), *(num(t.get("rates", {}).get(c)) for c in categories),
             num(t.get("weighted_avg"))] for t in tokenizers]
    chart = bar_chart([*categories, "weighted avg"],
                      {t["name"]: [t.get("rates", {}).get(c) or 0 for c in categories] + [t.get("weighted_avg") or 0] for t in tokenizers},
                      title="Tokens per UTF-8 byte (lower is better)", x_label="tokens / byte", value_format=lambda v: f"{v:.3f}",
                      width=760)
    corpus = [[c, count(v.get("documents")), count(v.get("bytes"))] for c, v in report.get("corpus", {}).items()]
    targets = "".join(f"<li><b>{esc(t['status'])}</b>: {esc(t['category'])} vs {esc(t['reference'])}, ratio {t['ratio']:.3f} "
                      f"(at most {t['max_ratio']})</li>" for t in report.get("targets", []))
    parts = [note(f"Tokenizer {report.get('tokenizer', '?')}, evaluated on {report.get('heldout', '?')} and the config's extra "
                  "sources; from tokenizer_report/compression.json."),
             table(["tokenizer", "as in Table 3", "vocab", *categories, "weighted avg"], rows, numeric=range(2, len(categories) + 4)),
             chart]
    if targets:
        parts.append(f'<ul class="targets">{targets}</ul>')
    parts.append(details("Evaluation text per category", table(["category", "documents", "bytes"], corpus, numeric=(1, 2))))
    if report.get("paper_table3"):
        parts.append(paper_table(report["paper_table3"], categories))
    return "".join(parts)
