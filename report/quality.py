"""Section 3: the quality classifier's scores per language, kept and dropped, with the cutoff the stage
kept documents at, so that one sees how far the threshold cuts into the distribution."""

from __future__ import annotations

import math
from collections import defaultdict

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from datapipe.quality.config import SCORE_ANNOTATION
from report.html import charts, count, not_in_run, note, num, table
from report.layout import REJECTS_DIR, Run, parquet_files
from report.svg import histogram

TITLE = "Quality scores"

LOG_SCALE_SPAN = 1e3
"""Scores spread over more than this factor (fastText probabilities often span ten orders of magnitude)
are binned by their logarithm, or every bin but the first would be empty."""
SMALLEST_SCORE = 1e-12


def scores_by_language(run: Run) -> dict[str, dict[str, list[float]]]:
    """lang -> {"kept": scores, "dropped": scores} from the ``quality.score`` annotation of the quality
    stage's documents and rejects."""
    out = run.output("quality")
    found: dict[str, dict[str, list[float]]] = defaultdict(lambda: {"kept": [], "dropped": []})
    for kind, files in (("kept", parquet_files(out)), ("dropped", parquet_files(out / REJECTS_DIR))):
        if not files:
            continue
        t = ds.dataset([str(f) for f in files], format="parquet").to_table(columns=["lang", "annotations"])
        scores = pc.map_lookup(t["annotations"], pa.scalar(SCORE_ANNOTATION), "first")
        for lang, score in zip(t["lang"].to_pylist(), scores.to_pylist()):
            if score is not None:
                found[lang or "unknown"][kind].append(score)
    return dict(found)


def score_histogram(lang: str, scores: dict[str, list[float]], cutoff: float | None) -> str:
    values = scores["kept"] + scores["dropped"]
    low = max(min(values), SMALLEST_SCORE)
    log = max(values) / low > LOG_SCALE_SPAN
    scale = (lambda s: math.log10(max(s, SMALLEST_SCORE))) if log else (lambda s: s)
    markers = [(scale(cutoff), f"keep ≥ {cutoff:.3g}")] if cutoff is not None else []
    return histogram({k: [scale(s) for s in v] for k, v in scores.items()}, title=f"Quality scores: {lang}",
                     x_label="log10(score)" if log else "score", markers=markers, width=520)


def body(run: Run) -> str:
    stats = run.stats("quality")
    if stats is None:
        return not_in_run("the quality stage's output (quality/_stats.json)")
    c = stats.get("counters", {})
    mode = stats.get("config", {}).get("score", {}).get("mode", "")
    languages = stats.get("languages", {})
    scores = scores_by_language(run)
    rows, plots = [], []
    for lang in sorted(set(languages) | set(scores), key=lambda lang: -c.get(f"scored.{lang}", 0)):
        info = languages.get(lang, {})
        filtered, kept = c.get(f"filtered.{lang}"), c.get(f"kept.{lang}")
        status = info.get("status", "scored") + (f": {info['reason']}" if info.get("reason") else "")
        rows.append([lang, status, count(c.get(f"scored.{lang}", 0)), count(filtered), count(kept),
                     num(kept / filtered) if filtered else "", "" if info.get("cutoff") is None else f"{info['cutoff']:.3g}"])
        if lang in scores:
            plots.append(score_histogram(lang, scores[lang], info.get("cutoff")))
    unscored = {k.split(".", 1)[1]: n for k, n in c.items() if k.startswith("unscored.")}
    parts = [note(f"Mode {mode}; domains filtered: {', '.join(stats.get('config', {}).get('score', {}).get('domains', []))}. "
                  "Scores: the quality.score annotation of the documents in quality/ (kept) and quality/_rejects/ "
                  "(dropped); cutoffs and statuses from quality/_stats.json. "
                  + ("Pareto mode keeps by a random draw weighted by score: there is no threshold." if mode == "pareto" else ""))]
    parts.append(table(["language", "status", "scored", "filtered", "kept", "kept fraction", "cutoff"], rows, numeric=(2, 3, 4, 5, 6)))
    if unscored:
        parts.append(note("Kept unscored (no model for the language): "
                          + ", ".join(f"{lang} {n:,}" for lang, n in sorted(unscored.items(), key=lambda x: -x[1]))))
    parts.append(charts(*plots) if plots else note("no document carries a quality score"))
    return "".join(parts)
