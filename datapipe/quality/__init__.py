"""Quality filtering with fastText classifiers: reference-quality text versus unfiltered web text.

As in GPT-3 (Brown et al. 2020, appendix A) and CCNet/RedPajama's Wikipedia-reference classifiers,
one supervised fastText model per language learns to tell reference text (encyclopedic, book and
academic text: the positives, label ``__label__hq``) from raw web extractions (the negatives,
``__label__lq``). Its probability of the positive class is a document's quality score.

The package is split by who uses it, so that Spark executors import only what scoring needs:

- ``config``: the settings (``configs/quality.yaml``) and the names shared by training and scoring;
- ``features``: the text preparation both apply (``preprocess``, one function, versioned);
- ``sources``: the training inputs (stage outputs, JSONL, text and LaTeX files);
- ``training``: examples, held-out split, fastText training and its report (``jobs/quality_model.py``,
  one process), written atomically as ``MODEL_DIR/model.json``, ``quality.<lang>.bin|.ftz``,
  ``report.{json,md}``;
- ``scoring``: the models loaded once per worker and the keeping rule (``QualityStage``, run by
  ``jobs/quality.py``).
"""
