"""Quality filtering with fastText classifiers: reference text versus the web text to filter.

As in GPT-3 (Brown et al. 2020, appendix A) and CCNet/RedPajama's Wikipedia-reference classifiers,
one supervised fastText model per language learns to tell reference text (the positives, label
``__label__hq``: the ingest sources each language names, e.g. Wikipedia, statutes, news transcripts)
from cleaned web documents (the negatives, ``__label__lq``), with markup stripped from both so that
it cannot learn the format of a source. Its probability of the positive class is a document's
quality score; a DCLM-style pretrained model (``__label__hq``) can stand in for training.

The package is split by who uses it, so that Spark executors import only what scoring needs:

- ``config``: the settings (``configs/quality.yaml``), the names shared by training and scoring, and
  the annotations the stage leaves for later stages (``quality.score``, ``quality.rank``);
- ``features``: the text preparation both apply (``preprocess``: markup stripped, tokens; versioned)
  and the cross-fitting fold of a document;
- ``sources``: the training inputs (stage outputs selected by source or domain; JSONL, text and
  LaTeX files);
- ``training``: examples, cross-fitted fastText models, their held-out report and the decision
  whether a language is filtered (``jobs/quality_model.py``, one process), written atomically as
  ``MODEL_DIR/model.json``, ``quality.<lang>.<fold>.bin|.ftz``, ``report.{json,md}``;
- ``scoring``: the models loaded once per worker, ranks and the keep rule (``QualityStage``, run by
  ``jobs/quality.py``).
"""
