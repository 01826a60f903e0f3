"""Section 8: each training run's curves (loss, gradient norm, learning rate, throughput; growth events
as dotted lines), its held-out bits per byte per domain laid out as Tables 5-6 of the Tele-FLM report
(domains as columns, checkpoints as rows), and the configuration it ran with."""

from __future__ import annotations

import json
from pathlib import Path
from statistics import mean

import yaml

from report.html import charts, count, details, esc, not_in_run, note, num, pre, table
from report.layout import METRICS_FILE, Run, read_json
from report.svg import line_chart

TITLE = "Training"

EVAL_FILE = "bpb.json"
CURVES = (("Training loss", ("loss",)), ("Gradient norm", ("grad_norm",)), ("Learning rate", ("lr", "lr_matrix")),
          ("Throughput (tokens/s)", ("tokens_per_s",)), ("Model FLOPs utilisation", ("mfu",)))
"""Each chart's title and the metrics.jsonl keys it draws (those a run logs)."""


def read_metrics(path: Path) -> tuple[dict[int, dict], dict[int, dict], list[dict]]:
    """Training rows and evaluation rows by step (a resumed run logs a step again: the last row wins), and
    the growth events, from ``metrics.jsonl``; a line cut short by a killed run is skipped."""
    train, evals, growth = {}, {}, []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if "loss" in row:
            train[row["step"]] = row
        if "eval" in row:
            evals[row["step"]] = row["eval"]
        if "growth" in row:
            growth.append({"step": row["step"], **row["growth"]})
    return dict(sorted(train.items())), dict(sorted(evals.items())), growth


def bpb_table(rows: list[tuple[str, dict[str, float], list[str]]], extra: tuple[str, ...] = ()) -> str:
    """Rows (label, bits per byte per domain, extra cells) under one column per domain and an average."""
    domains = sorted({d for _, bpb, _ in rows for d in bpb})
    body = [[label, *(num(bpb.get(d), 4) for d in domains), num(mean(bpb.values()), 4) if bpb else "", *cells]
            for label, bpb, cells in rows]
    return table(["checkpoint", *domains, "Avg.", *extra], body, numeric=range(1, len(domains) + 2 + len(extra)))


def bpb_change(growth: dict) -> float | None:
    """The largest change of a domain's bits per byte across a growth event (0 when it preserved the function)."""
    before, after = growth.get("bpb_before", {}), growth.get("bpb_after", {})
    return max((abs(after[d] - before[d]) for d in before if d in after), default=None)


def latest_config(run_dir: Path) -> dict | None:
    """The run and model config recorded in the newest checkpoint (the run directory keeps no copy of the YAML)."""
    for manifest in sorted(run_dir.glob("checkpoints/step-*/trainer.json"), reverse=True):
        config = (read_json(manifest) or {}).get("trainer", {}).get("config")
        if config:
            return {"checkpoint": manifest.parent.name, **config}
    return None


def run_part(run_dir: Path) -> str:
    train, evals, growth = read_metrics(run_dir / METRICS_FILE)
    parts = [f"<h3>Run {esc(run_dir)}</h3>"]
    if train:
        last = train[max(train)]
        parts.append(note(f"{len(train)} logged steps up to step {max(train):,}, {count(last.get('tokens'))} tokens, last loss "
                          f"{num(last.get('loss'))}, {last.get('skipped_total', 0)} skipped steps; from {run_dir / METRICS_FILE}."))
        events = [(g["step"], f"grow → {Path(str(g.get('to', ''))).stem}") for g in growth]
        curves = []
        for title, keys in CURVES:
            series = {key: [(s, r.get(key)) for s, r in train.items()] for key in keys if any(key in r for r in train.values())}
            curves.append(line_chart(series, title=title, x_label="step", events=events, width=400, height=240))
        parts.append(charts(*curves))
    else:
        parts.append(note("no training step logged yet"))
    if evals:
        parts.append("<h4>Held-out bits per byte during training</h4>")
        parts.append(bpb_table([(f"step {s:,}", bpb, [count(train.get(s, {}).get("tokens"))]) for s, bpb in evals.items()],
                               extra=("tokens",)))
    if growth:
        rows = [[f"{g['step']:,}", g.get("to", ""), count(g.get("parameters")), num(bpb_change(g), 6)] for g in growth]
        parts.append("<h4>Growth events</h4>" + table(["step", "to", "parameters", "max |BPB after - before|"], rows, numeric=(0, 2, 3)))
    config = latest_config(run_dir)
    parts.append(details(f"Run configuration (from {config['checkpoint']})", pre(yaml.safe_dump(config, sort_keys=False)))
                 if config else note("no checkpoint yet: the configuration is not recorded"))
    return "".join(parts)


def eval_part(path: Path) -> str:
    """The checkpoints ``train.evaluate`` measured (``eval/bpb.json``)."""
    report = read_json(path)
    rows = [(c.get("label", c.get("checkpoint", "?")), {d: v["bpb"] for d, v in c.get("domains", {}).items()},
             [num(c.get("weighted_avg"), 4)]) for c in report.get("checkpoints", [])]
    return f"<h3>Held-out evaluation ({esc(path)})</h3>" + note(report.get("definition", "")) + bpb_table(rows, extra=("Weighted avg.",))


def body(run: Run) -> str:
    candidates = [run.root / "eval" / EVAL_FILE, *(d.parent / "eval" / EVAL_FILE for d in run.train_runs)]
    eval_files = sorted({f for f in candidates if f.is_file()})
    if not run.train_runs and not eval_files:
        return not_in_run(f"no training run (a directory with {METRICS_FILE}) under {run.root}, nor any given with --train-run")
    parts = [run_part(d) for d in run.train_runs]
    parts += [eval_part(f) for f in eval_files]
    return "".join(parts)
