"""Train the fastText quality classifiers, one per language: reference-quality text versus raw web text.

    python -m jobs.quality_model --positives data/wiki.jsonl out/books --negatives out/extracted \\
        --output models/quality [--config configs/quality.yaml]

Inputs (any mix, local paths or URIs): stage output directories (Parquet documents with ``text`` and
``lang``), ``.jsonl`` (text in ``train.text_field``), ``.txt`` (blank-line separated documents) and
``.tex`` (the same, LaTeX stripped), each optionally gzipped. Documents without a language get one from
lid.176. Writes ``OUTPUT/quality.<lang>.bin|.ftz``, ``model.json``, ``report.json`` and ``report.md``
atomically (``OUTPUT._tmp-*`` published into place).

Plain Python, no Spark: the training sample is bounded by ``train.max_examples_per_class`` and fastText
trains on one machine; reading stays streaming, so an input may be a whole stage output.
"""

from __future__ import annotations

import argparse

from datapipe.cli import main_of
from datapipe.config import load_config
from datapipe.quality.config import REPORT_MD, QualityConfig, QualityDataError
from datapipe.quality.training import render_report, train_quality_models


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="quality_model", description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--positives", "-p", required=True, nargs="+", help="reference-quality inputs (stage outputs, .jsonl, .txt, .tex, optionally .gz)")
    p.add_argument("--negatives", "-n", required=True, nargs="+", help="web inputs, e.g. the extract stage's output")
    p.add_argument("--output", "-o", required=True, help=f"model directory (replaced atomically; {REPORT_MD} summarises it)")
    p.add_argument("--config", "-c", default=None, help="YAML config, section train and preprocess (defaults when omitted)")
    return p


def run(argv: list[str] | None = None) -> dict:
    args = parser().parse_args(argv)
    report = train_quality_models(args.positives, args.negatives, args.output, load_config(QualityConfig, args.config))
    print(render_report(report))
    return report


main = main_of(run, QualityDataError)


if __name__ == "__main__":
    raise SystemExit(main())
