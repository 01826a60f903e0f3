"""Train the fastText quality classifiers, one per language: reference text versus the web text to filter.

    python -m jobs.quality_model --positives out/domains --negatives out/dedup_paragraphs \\
        --output out/quality_model [--config configs/quality.yaml]

Positives: the documents of the ingest sources each language names (``train.languages.<lang>.
positive_sources``; an ingest document's url starts with its source's name) in the ``--positives``
stage outputs, and the language's ``positive_files`` (``.jsonl``, ``.txt``, ``.tex``, optionally
gzipped). Negatives: the ``train.negative_domains`` documents of the ``--negatives`` stage outputs,
the clean or paragraph-dedup stage's, i.e. the documents the quality stage will filter. Each language
gets ``train.folds`` cross-fitted models (the model of a fold never trained on the documents it will
score), or its pretrained model (``train.languages.<lang>.pretrained``, DCLM's ``__label__hq``
convention). A language with too little data or a poor held-out AUC gets no model and is not
filtered. Writes ``OUTPUT/quality.<lang>.<fold>.bin|.ftz``, ``model.json``, ``report.json`` and
``report.md`` atomically (``OUTPUT._tmp-*`` published into place).

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
    p.add_argument("--positives", "-p", nargs="*", default=[], help="stage outputs holding the configured positive sources (the ingest stage's)")
    p.add_argument("--negatives", "-n", required=True, nargs="+", help="stage outputs of web documents to filter (the clean or paragraph-dedup stage's)")
    p.add_argument("--output", "-o", required=True, help=f"model directory (replaced atomically; {REPORT_MD} summarises it)")
    p.add_argument("--config", "-c", default=None, help="YAML config, sections train and preprocess (defaults when omitted)")
    return p


def run(argv: list[str] | None = None) -> dict:
    args = parser().parse_args(argv)
    report = train_quality_models(args.positives, args.negatives, args.output, load_config(QualityConfig, args.config))
    print(render_report(report))
    return report


main = main_of(run, QualityDataError)


if __name__ == "__main__":
    raise SystemExit(main())
