"""Safety: pages with too many listed bad words are dropped, personal data is masked.

    spark-submit jobs/safety.py --input out/dedup_paragraphs --output out/safety_web [--config configs/safety.yaml]

The bad-word lists (``badwords`` in the config) are read on the driver into word sets per language
(their sizes go to ``_stats.json`` under ``word_lists``), which are broadcast; each task compiles
them once and runs the bad-word filter, then PII masking, per document by its domain and language
(``datapipe.safety.stage.SafetyStage``). Dropped documents go to ``OUT/_rejects`` as
``badwords:<lang>`` with the rate and the most frequent words; masked spans are counted per type
(``pii.email``, ``pii.phone``, ``pii.ip``, ``pii.id_cn``, ``pii.card``).
"""

from __future__ import annotations

from datapipe.safety.blocklists import load_word_lists
from datapipe.safety.config import SafetyConfig
from datapipe.safety.stage import SafetyStage
from jobs.runner import StageJob, broadcast_plan, documents

job = StageJob("safety", __doc__, SafetyConfig,
               documents(broadcast_plan(lambda job, lists: SafetyStage(job.config, lists), "word_lists")),
               prepare=lambda args, config: load_word_lists(config))
run, main = job.run, job.main

if __name__ == "__main__":
    raise SystemExit(main())
